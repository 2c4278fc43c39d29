//! `inspect MODEL`: what a user needs to pick `--layer`, `--output` and `--reduce`.
use crate::model::{load_model_with_weights, Keras1Backend, LayerKind, ModelSpec};
use crate::network::conv1d_spectral::{self, ConvPath, ConvShape};
use crate::network::{ConvMode, Network, Plan, Reduce};
use crate::Result;
use std::path::Path;

fn details(kind: &LayerKind) -> String {
    match kind {
        LayerKind::Conv1D {
            filters,
            kernel_size,
            stride,
            dilation,
            padding,
            activation,
            ..
        } => format!(
            "{filters} filters × {kernel_size}, stride {stride}, dilation {dilation}, {padding:?}, {}",
            activation.name()
        ),
        LayerKind::MaxPool1D {
            pool,
            stride,
            padding,
        }
        | LayerKind::AvgPool1D {
            pool,
            stride,
            padding,
        } => format!("pool {pool}, stride {stride}, {padding:?}"),
        LayerKind::Flatten { order } => format!("{order:?}"),
        LayerKind::Dense {
            units, activation, ..
        } => format!("{units} units, {}", activation.name()),
        LayerKind::Activation(a) => a.name(),
        LayerKind::Merge(op) => op.name().to_string(),
        LayerKind::Pointwise(op) => op.name(),
        LayerKind::Concatenate { axis } => format!("along {axis:?}"),
        LayerKind::Crop { left, right } | LayerKind::ZeroPad { left, right } => {
            format!("{left} left, {right} right")
        }
        LayerKind::UpSample { size } => format!("× {size}"),
        LayerKind::PositionMix { to, .. } => format!("linear over positions, to {to}"),
        LayerKind::Relu {
            negative_slope,
            max_value,
            threshold,
        } => format!("slope {negative_slope}, max {max_value:?}, threshold {threshold}"),
        LayerKind::Lstm {
            units,
            reverse,
            return_sequences,
            ..
        }
        | LayerKind::Gru {
            units,
            reverse,
            return_sequences,
            ..
        } => format!(
            "{units} units, {}, {}",
            if *reverse { "reverse" } else { "forward" },
            if *return_sequences {
                "every position"
            } else {
                "last step"
            }
        ),
        LayerKind::Bidirectional { merge, forward, .. } => {
            format!("{} {}, {}", forward.kind_name(), details(forward), merge.name())
        }
        LayerKind::Attention(a) => format!(
            "{} heads × {} key / {} value channels{}",
            a.heads,
            a.dk,
            a.dv,
            a.rel
                .as_ref()
                .map_or(String::new(), |r| format!(", relative positions ({} columns)", r.m))
        ),
        _ => String::new(),
    }
}

/// For which outputs the input of each layer is a valid H: "all", "-" (a
/// merge layer, or no output), or the output names.
/// How `--conv auto` computes a convolution after H at the default batch.
fn conv_path(kind: &LayerKind, (k_in, w_in): (usize, usize), w_out: usize) -> String {
    let LayerKind::Conv1D {
        filters,
        kernel_size,
        stride,
        dilation,
        ref kernel,
        ..
    } = *kind
    else {
        return String::new();
    };
    let batch = crate::job::RunConfig::DEFAULT_BATCH;
    if crate::network::depthwise_taps(filters, k_in, kernel_size, kernel).is_some() {
        return format!("; after H at --batch {batch}: depthwise");
    }
    let shape = ConvShape {
        k_in,
        filters,
        w_in,
        w_out,
        kernel_size,
        dilation,
        stride,
    };
    match conv1d_spectral::path(ConvMode::Auto, &shape, batch) {
        Some(ConvPath::Dft(c)) => format!(
            "; after H at --batch {batch}: DFT of {} ({} outputs per block)",
            c.n, c.l
        ),
        Some(ConvPath::Winograd) => format!(
            "; after H at --batch {batch}: {}",
            crate::network::winograd_tile::current().name()
        ),
        None => format!("; after H at --batch {batch}: direct"),
    }
}

fn cut_column(net: &Network, layer: usize) -> String {
    if net.layer_inputs(layer).len() != 1 {
        return "-".into();
    }
    let outs = net.outputs();
    let ok: Vec<&str> = (0..outs.len())
        .filter(|&o| {
            Plan::new(net, layer, Some(o), Some(Reduce::Sum))
                .or_else(|_| Plan::new(net, layer, Some(o), None))
                .is_ok()
        })
        .map(|o| outs[o].name.as_str())
        .collect();
    if ok.is_empty() {
        "-".into()
    } else if ok.len() == outs.len() {
        "all".into()
    } else {
        ok.join(",")
    }
}

pub fn describe(
    model: &Path,
    weights: Option<&Path>,
    backend: Option<Keras1Backend>,
) -> Result<String> {
    describe_spec(model, load_model_with_weights(model, weights, backend)?)
}

pub fn describe_spec(model: &Path, spec: ModelSpec) -> Result<String> {
    let shapes = spec.shapes().expect("load_model validates shapes");
    let mut s = format!(
        "model {} ({}), input {} channels × {} positions\n",
        model.display(),
        spec.source,
        spec.input_channels,
        spec.input_width
    );
    let graph = spec.layers.iter().enumerate().any(|(i, l)| l.inputs != [i]);
    s += &format!(
        "{:>5}  {:<28} {:<17} {:>18}  {:>10}  {:<6} {}{}\n",
        "index",
        "name",
        "kind",
        "output (K × W)",
        "params",
        "H ok",
        if graph { "inputs; " } else { "" },
        "details"
    );
    let aliases = spec.tensor_names.clone();
    let unscorable = spec.unscorable.clone();
    // What the table shows of each layer, not its weights (the network
    // takes those: a copy would double a 3 GB model's memory).
    let layers: Vec<(String, &str, usize, String, Vec<usize>)> = spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let about =
                details(&l.kind) + &conv_path(&l.kind, shapes[l.inputs[0]], shapes[i + 1].1);
            let (kind, params) = (l.kind.kind_name(), l.kind.param_count());
            (l.name.clone(), kind, params, about, l.inputs.clone())
        })
        .collect();
    let tensor_name = |t: usize| -> String {
        if t == 0 {
            "input".into()
        } else {
            layers[t - 1].0.clone()
        }
    };
    let net = Network::from_spec(spec)?;
    for (i, (name, kind, params, about, inputs)) in layers.iter().enumerate() {
        let (k, w) = shapes[i + 1];
        let ins = if graph {
            let v: Vec<String> = inputs.iter().map(|&t| tensor_name(t)).collect();
            format!("← {}; ", v.join(", "))
        } else {
            String::new()
        };
        s += &format!(
            "{:>5}  {:<28} {:<17} {:>18}  {:>10}  {:<6} {}{}\n",
            i,
            name,
            kind,
            format!("{k} × {w}"),
            params,
            cut_column(&net, i),
            ins,
            about
        );
    }
    s += "outputs (--output NAME|INDEX):\n";
    for (o, out) in net.outputs().iter().enumerate() {
        let (k, w) = net.tensor_shape(out.tensor);
        // The score of this head from the model input: what it leaves out and whether it needs --reduce.
        let plan = Plan::new(&net, 0, Some(o), None);
        let what = match &plan {
            Ok(p) if p.left_out.is_empty() => format!(
                "{} class{}",
                p.n_classes,
                if p.n_classes == 1 { "" } else { "es" }
            ),
            Ok(p) => format!(
                "{} classes; S_c leaves out the {}",
                p.n_classes,
                p.left_out.join(", ")
            ),
            Err(_) => match Plan::new(&net, 0, Some(o), Some(Reduce::Sum)) {
                Ok(p) => format!(
                    "{} tracks with positions: needs --reduce sum|mean|max{}",
                    p.n_classes,
                    if p.left_out.is_empty() {
                        String::new()
                    } else {
                        format!("; S_c leaves out the {}", p.left_out.join(", "))
                    }
                ),
                Err(e) => e.to_string(),
            },
        };
        s += &format!("  {o}: {} ({k} × {w}) — {what}\n", out.name);
    }
    for u in &unscorable {
        s += &format!("  -: {} — cannot be scored: {}\n", u.name, u.reason);
    }
    if !aliases.is_empty() {
        s += "tensor names (--layer NAME takes them too; H is then that tensor):\n";
        for (name, t) in &aliases {
            let (k, w) = shapes[*t];
            s += &format!("  {name}: {} ({k} × {w})\n", tensor_name(*t));
        }
    }
    s += "H for `run --layer X` is the input of layer X, i.e. the output of the layer above it. \
          \"H ok\" names the outputs for which it is a cut (every path from the model input to the \
          output passes through it); merge layers have no single input.\n";
    Ok(s)
}

pub fn inspect(
    model: &Path,
    weights: Option<&Path>,
    backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> Result<()> {
    let spec = crate::model::load_model_sized(model, weights, backend, input_length)?;
    print!("{}", describe_spec(model, spec)?);
    Ok(())
}
