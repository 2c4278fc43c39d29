//! CREsted's `MultiheadAttention` (Baskerville's, after Enformer and Borzoi;
//! a registered Keras 3 class, `crested>MultiheadAttention`) onto the
//! engine's layers: the Q, K and V projections become 1×1 convolutions, the
//! attention core the engine's `attention` layer, and the output projection
//! a 1×1 convolution that stands for the Keras layer.
//!
//! Its relative positional term is (Q·s + r_r_bias)·R_kᵀ with R_k the
//! projection of fixed positional features of the distances −(T−1)..T−1
//! (`positions.rs`), shifted so that query i and key j read distance
//! j − i: a constant, computed here at the map's length T. With
//! `absolute_positions` the features are of positions −⌊T/2⌋..⌈T/2⌉ − 1 and
//! key j reads row j, unshifted.
use super::config::RawLayer;
use super::layers::{flag, get, string};
use super::positions::{position_features, Functions};
use crate::model::h5util::Tensor;
use crate::model::{Activation, AttentionSpec, LayerKind, LayerSpec, Padding, RelPos, TensorId};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct MhaDesc {
    heads: usize,
    key_size: usize,
    value_size: usize,
    scaling: bool,
    functions: Functions,
    symmetric: bool,
    absolute_positions: bool,
    /// Positional features (0: no positional term).
    features: usize,
}

fn size(l: &RawLayer, key: &str) -> Result<usize, String> {
    match get(l, key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&v| v > 0)
            .map(|v| v as usize)
            .ok_or_else(|| format!("{key} = {n} is not a positive integer")),
        Some(v) => Err(format!("{key} = {v} is not a positive integer")),
        None => Err(format!("the config has no {key}")),
    }
}

pub fn describe_mha(l: &RawLayer) -> Result<MhaDesc, String> {
    let functions = match string(l, "relative_position_functions").as_deref() {
        Some("enformer") => Functions::Enformer,
        Some("borzoi") | None => Functions::Borzoi,
        Some(o) => {
            return Err(format!(
                "relative_position_functions {o:?} is not supported (enformer or borzoi)"
            ))
        }
    };
    let value_size = size(l, "value_size")?;
    let symmetric = flag(l, "relative_position_symmetric", false);
    let features = match get(l, "num_position_features") {
        None | Some(Value::Null) => {
            // As the layer: value_size rounded down to whole sets of basis functions.
            let per = 2 * functions.count();
            value_size / per * per
        }
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("num_position_features = {n} is not a whole number"))?
            as usize,
        Some(v) => return Err(format!("num_position_features = {v} is not a whole number")),
    };
    let sets = functions.count() * if symmetric { 1 } else { 2 };
    if !features.is_multiple_of(sets) {
        return Err(format!(
            "num_position_features = {features} is not a multiple of the {sets} sets of basis functions"
        ));
    }
    Ok(MhaDesc {
        heads: size(l, "heads")?,
        key_size: size(l, "key_size")?,
        value_size,
        scaling: flag(l, "scaling", true),
        functions,
        symmetric,
        absolute_positions: flag(l, "absolute_positions", false),
        features,
    })
}

/// Keras' Dense kernel (in × out, row-major) as a 1×1 convolution.
pub(super) fn pointwise(
    k: &Tensor,
    inc: usize,
    filters: usize,
    bias: Option<Vec<f32>>,
    what: &str,
) -> Result<LayerKind, String> {
    if k.shape != [inc, filters] {
        return Err(format!(
            "the {what} kernel has shape {:?}, expected ({inc}, {filters})",
            k.shape
        ));
    }
    let mut kernel = vec![0f32; filters * inc];
    for i in 0..inc {
        for o in 0..filters {
            kernel[o * inc + i] = k.data[i * filters + o];
        }
    }
    Ok(LayerKind::Conv1D {
        filters,
        in_channels: inc,
        kernel_size: 1,
        stride: 1,
        dilation: 1,
        padding: Padding::Valid,
        activation: Activation::Linear,
        kernel,
        bias,
    })
}

/// The layers before the output projection, pushed onto `out` after the
/// layer reading `input` (k channels × w positions): Q, K, V and the
/// attention core. Returns the output projection, the tensor it reads and
/// that tensor's shape.
pub fn mha_layers(
    d: &MhaDesc,
    ws: Option<Vec<Tensor>>,
    name: &str,
    input: TensorId,
    (k, w): (usize, usize),
    out: &mut Vec<LayerSpec>,
) -> Result<(LayerKind, TensorId, (usize, usize)), String> {
    let (h, dk, dv) = (d.heads, d.key_size, d.value_size);
    let want = if d.features > 0 { 8 } else { 7 };
    let ws = ws.unwrap_or_default();
    if ws.len() != want {
        return Err(format!(
            "expected {want} weight arrays (r_w_bias, r_r_bias, the q, k and v kernels, the output kernel and bias{}), the file has {}",
            if want == 8 { ", the positional key kernel" } else { "" },
            ws.len()
        ));
    }
    let bias_of = |t: &Tensor, what: &str| -> Result<Vec<f32>, String> {
        if t.shape != [1, h, 1, dk] {
            return Err(format!(
                "{what} has shape {:?}, expected (1, {h}, 1, {dk})",
                t.shape
            ));
        }
        Ok(t.data.clone())
    };
    let (r_w, r_r) = (bias_of(&ws[0], "r_w_bias")?, bias_of(&ws[1], "r_r_bias")?);
    let first = out.len();
    // The first layer carries the Keras layer's name: `--layer NAME` cuts at
    // the Keras layer's input.
    let mut push = |suffix: &str, kind: LayerKind, inputs: Vec<TensorId>| {
        out.push(LayerSpec {
            name: if out.len() == first {
                name.to_string()
            } else {
                format!("{name}/{suffix}")
            },
            kind,
            inputs,
        });
        out.len()
    };
    let q = push("q", pointwise(&ws[2], k, h * dk, None, "q")?, vec![input]);
    let kt = push("k", pointwise(&ws[3], k, h * dk, None, "k")?, vec![input]);
    let v = push("v", pointwise(&ws[4], k, h * dv, None, "v")?, vec![input]);
    let scale = if d.scaling {
        (dk as f32).powf(-0.5)
    } else {
        1.0
    };
    let rel = if d.features > 0 {
        Some(relative(d, &ws[7], &r_r, scale, w)?)
    } else {
        None
    };
    let spec = AttentionSpec {
        heads: h,
        dk,
        dv,
        q_scale: scale,
        q_bias: r_w,
        k_scale: 1.0,
        rel,
    };
    let att = push("attention", LayerKind::Attention(spec), vec![q, kt, v]);
    if ws[6].shape != [h * dv] {
        return Err(format!(
            "the output bias has shape {:?}, expected ({})",
            ws[6].shape,
            h * dv
        ));
    }
    let proj = pointwise(&ws[5], h * dv, h * dv, Some(ws[6].data.clone()), "output")?;
    Ok((proj, att, (h * dv, w)))
}

/// The positional term at length w: keys R_k (heads, m, dk) and the column
/// each (query, key) pair reads.
fn relative(d: &MhaDesc, rk: &Tensor, r_r: &[f32], scale: f32, w: usize) -> Result<RelPos, String> {
    let (h, dk, nf) = (d.heads, d.key_size, d.features);
    if rk.shape != [nf, h * dk] {
        return Err(format!(
            "the positional key kernel has shape {:?}, expected ({nf}, {})",
            rk.shape,
            h * dk
        ));
    }
    let t = w as i64;
    let positions: Vec<f64> = if d.absolute_positions {
        (-t.div_euclid(2)..t - t.div_euclid(2))
            .map(|p| p as f64)
            .collect()
    } else {
        (-(t - 1)..t).map(|p| p as f64).collect()
    };
    let m = positions.len();
    let feats = position_features(d.functions, &positions, nf, w, d.symmetric);
    // R_k[h][row][e] = Σ_c feats[row][c] · kernel[c][h·dk + e], summed in f64.
    let mut keys = vec![0f32; h * m * dk];
    for row in 0..m {
        for col in 0..h * dk {
            let s: f64 = (0..nf)
                .map(|c| feats[row * nf + c] * f64::from(rk.data[c * h * dk + col]))
                .sum();
            keys[((col / dk) * m + row) * dk + col % dk] = s as f32;
        }
    }
    let mut index = vec![0i32; w * w];
    for i in 0..w {
        for j in 0..w {
            // Relative: the distance j − i sits at row (T − 1) + j − i.
            index[i * w + j] = if d.absolute_positions {
                j as i32
            } else {
                (w - 1 + j - i) as i32
            };
        }
    }
    Ok(RelPos {
        q_scale: scale,
        q_bias: r_r.to_vec(),
        keys,
        m,
        index,
        rows: None,
    })
}
