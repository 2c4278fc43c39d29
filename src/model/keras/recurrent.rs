//! Keras LSTM, GRU, Bidirectional and LayerNormalization: config → description,
//! description + weights → spec layer.
use super::config::RawLayer;
use super::layers::{activation, flag, get, string};
use crate::model::h5util::Tensor;
use crate::model::{Activation, BiMerge, LayerKind};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Gru,
}

/// One direction of a recurrent layer, as configured.
#[derive(Debug, Clone)]
pub struct RecurrentDesc {
    pub cell: Cell,
    pub units: usize,
    pub return_sequences: bool,
    pub go_backwards: bool,
    pub reset_after: bool,
    pub use_bias: bool,
}

impl RecurrentDesc {
    fn gates(&self) -> usize {
        match self.cell {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The config of an `LSTM` or `GRU` layer. Keras 2 and 3 write every key
/// read here; a missing `reset_after` is Keras 2.2's GRU, which had none (false).
pub fn describe_recurrent(l: &RawLayer) -> Result<RecurrentDesc, String> {
    let cell = match l.class_name.as_str() {
        "LSTM" | "CuDNNLSTM" => Cell::Lstm,
        "GRU" | "CuDNNGRU" => Cell::Gru,
        c => {
            return Err(format!(
                "a {c} inside Bidirectional is not supported (LSTM or GRU)"
            ))
        }
    };
    let units = get(l, "units")
        .or_else(|| get(l, "output_dim"))
        .and_then(Value::as_u64)
        .filter(|&u| u > 0)
        .ok_or("the config has no positive units")? as usize;
    for (key, want) in [
        ("activation", Activation::Tanh),
        ("recurrent_activation", Activation::Sigmoid),
    ] {
        let default = if key == "activation" {
            "tanh"
        } else {
            "sigmoid"
        };
        let a = if get(l, key).is_some() {
            activation(l, key)?
        } else {
            Activation::parse(default).expect("known")
        };
        if a != want {
            return Err(format!(
                "{key} {} is not supported (only tanh activations with sigmoid gates, the defaults)",
                a.name()
            ));
        }
    }
    for key in ["stateful", "return_state"] {
        if flag(l, key, false) {
            return Err(format!("{key}=True is not supported"));
        }
    }
    if get(l, "time_major").and_then(Value::as_bool) == Some(true) {
        return Err("time_major=True is not supported".into());
    }
    Ok(RecurrentDesc {
        cell,
        units,
        return_sequences: flag(l, "return_sequences", false),
        go_backwards: flag(l, "go_backwards", false),
        reset_after: flag(l, "reset_after", false),
        use_bias: flag(l, "use_bias", true),
    })
}

/// The inner layer of a wrapper's config (a {class_name, config} dict):
/// `Bidirectional`'s, `TimeDistributed`'s.
pub(super) fn inner(v: &Value, what: &str) -> Result<RawLayer, String> {
    let class_name = v
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the {what} has no class_name"))?;
    let config = v
        .get("config")
        .cloned()
        .ok_or_else(|| format!("the {what} has no config"))?;
    Ok(RawLayer {
        class_name: class_name.to_string(),
        name: config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(what)
            .to_string(),
        config,
        inputs: vec![],
        nested: None,
        registered: None,
        call: Value::Null,
    })
}

pub fn describe_bidirectional(
    l: &RawLayer,
) -> Result<(BiMerge, RecurrentDesc, RecurrentDesc), String> {
    let mode = string(l, "merge_mode").unwrap_or_else(|| "concat".into());
    let merge = BiMerge::parse(&mode)
        .ok_or_else(|| format!("merge_mode {mode:?} is not supported (concat, sum, ave or mul)"))?;
    let f = describe_recurrent(&inner(
        get(l, "layer").ok_or("the config has no layer")?,
        "layer",
    )?)?;
    let b = match get(l, "backward_layer") {
        Some(v) => describe_recurrent(&inner(v, "backward layer")?)?,
        None => RecurrentDesc {
            go_backwards: !f.go_backwards,
            ..f.clone()
        },
    };
    if f.go_backwards || !b.go_backwards || f.cell != b.cell || f.units != b.units {
        return Err(
            "the two directions differ in cell, units or direction; only a layer and its reverse copy are supported"
                .into(),
        );
    }
    if f.return_sequences != b.return_sequences || f.reset_after != b.reset_after {
        return Err("the two directions differ in return_sequences or reset_after".into());
    }
    Ok((merge, f, b))
}

/// (rows, cols) Keras array → (cols, rows) row-major, the spec's (gates·U, in) order.
fn transposed(t: &Tensor, rows: usize, cols: usize, what: &str) -> Result<Vec<f32>, String> {
    if t.shape != [rows, cols] {
        return Err(format!(
            "the {what} has shape {:?}, expected ({rows}, {cols})",
            t.shape
        ));
    }
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = t.data[r * cols + c];
        }
    }
    Ok(out)
}

/// One direction from its weight arrays (kernel, recurrent kernel[, bias]).
pub fn recurrent_kind(
    d: &RecurrentDesc,
    ws: &[Tensor],
    k: usize,
    reverse: bool,
) -> Result<LayerKind, String> {
    let (u, g) = (d.units, d.gates() * d.units);
    let kernel = transposed(&ws[0], k, g, "kernel")?;
    let recurrent = transposed(&ws[1], u, g, "recurrent kernel")?;
    let (bias, recurrent_bias) = if !d.use_bias {
        (vec![0.0; g], vec![0.0; g])
    } else {
        let b = &ws[2];
        match (d.cell, d.reset_after, b.shape.as_slice()) {
            (Cell::Gru, true, [2, n]) if *n == g => (b.data[..g].to_vec(), b.data[g..].to_vec()),
            (_, _, [n]) if *n == g => (b.data.clone(), vec![0.0; g]),
            _ => {
                return Err(format!(
                    "the bias has shape {:?}, expected ({g},){}",
                    b.shape,
                    if d.cell == Cell::Gru && d.reset_after {
                        format!(" or (2, {g})")
                    } else {
                        String::new()
                    }
                ))
            }
        }
    };
    Ok(match d.cell {
        Cell::Lstm => LayerKind::Lstm {
            units: u,
            in_channels: k,
            reverse,
            return_sequences: d.return_sequences,
            kernel,
            recurrent,
            bias: bias
                .iter()
                .zip(&recurrent_bias)
                .map(|(a, b)| a + b)
                .collect(),
        },
        Cell::Gru => LayerKind::Gru {
            units: u,
            in_channels: k,
            reverse,
            return_sequences: d.return_sequences,
            reset_after: d.reset_after,
            kernel,
            recurrent,
            bias,
            recurrent_bias,
        },
    })
}

/// Weight arrays per direction.
pub fn weights_per_direction(d: &RecurrentDesc) -> usize {
    2 + d.use_bias as usize
}
