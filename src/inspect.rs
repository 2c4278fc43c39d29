//! `inspect MODEL`: what a user needs to pick `--layer`.
use crate::model::{load_model, Keras1Backend, LayerKind};
use crate::Result;
use std::path::Path;

pub fn describe(model: &Path, backend: Option<Keras1Backend>) -> Result<String> {
    let spec = load_model(model, backend)?;
    let shapes = spec.shapes().expect("load_model validates shapes");
    let mut s = format!(
        "model {} ({}), input {} channels × {} positions\n",
        model.display(),
        spec.source,
        spec.input_channels,
        spec.input_width
    );
    s += &format!(
        "{:>5}  {:<28} {:<17} {:>18}  {:>10}  {}\n",
        "index", "name", "kind", "output (K × W)", "params", "details"
    );
    for (i, l) in spec.layers.iter().enumerate() {
        let (k, w) = shapes[i + 1];
        let details = match &l.kind {
            LayerKind::Conv1D { filters, kernel_size, stride, dilation, padding, activation, .. } => format!(
                "{filters} filters × {kernel_size}, stride {stride}, dilation {dilation}, {padding:?}, {}",
                activation.name()
            ),
            LayerKind::MaxPool1D { pool, stride, padding } => format!("pool {pool}, stride {stride}, {padding:?}"),
            LayerKind::Flatten { order } => format!("{order:?}"),
            LayerKind::Dense { units, activation, .. } => format!("{units} units, {}", activation.name()),
            LayerKind::Activation(a) => a.name().to_string(),
            _ => String::new(),
        };
        s += &format!(
            "{:>5}  {:<28} {:<17} {:>18}  {:>10}  {}\n",
            i,
            l.name,
            l.kind.kind_name(),
            format!("{k} × {w}"),
            l.kind.param_count(),
            details
        );
    }
    s += "H for `run --layer X` is the input of layer X, i.e. the output of the layer above it.\n";
    Ok(s)
}

pub fn inspect(model: &Path, backend: Option<Keras1Backend>) -> Result<()> {
    print!("{}", describe(model, backend)?);
    Ok(())
}
