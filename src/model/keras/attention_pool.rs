//! CREsted's `AttentionPool1D` (Enformer's softmax pooling, from FastISM; a
//! registered Keras 3 class): per window of p positions, logits x·w (a 1×1
//! convolution), a softmax over the window, and the window's sum of x
//! weighted by it. It becomes the engine's 1×1 convolution, window softmax,
//! product and average pool, and a scaling by p that stands for the Keras
//! layer — the layers the ONNX reader makes of the exported form.
use super::config::RawLayer;
use super::layers::{flag, get};
use crate::model::h5util::Tensor;
use crate::model::{Activation, LayerKind, LayerSpec, MergeOp, Padding, TensorId};

pub fn describe_pool(l: &RawLayer) -> Result<usize, String> {
    if !flag(l, "per_channel", true) {
        return Err("per_channel=False (one weight for all channels) is not supported".into());
    }
    match get(l, "pool_size").and_then(|v| v.as_u64()) {
        Some(p) if p > 0 => Ok(p as usize),
        _ => Err("pool_size is not a positive integer".into()),
    }
}

/// The layers before the final scaling, pushed onto `out` after the layer
/// reading `input` (k channels × w positions). Returns the scaling, the
/// tensor it reads and that tensor's shape.
pub fn pool_layers(
    p: usize,
    ws: Option<Vec<Tensor>>,
    name: &str,
    input: TensorId,
    (k, w): (usize, usize),
    out: &mut Vec<LayerSpec>,
) -> Result<(LayerKind, TensorId, (usize, usize)), String> {
    let ws = ws.unwrap_or_default();
    let [wt] = &ws[..] else {
        return Err(format!(
            "expected 1 weight array (att_pool_weight), the file has {}",
            ws.len()
        ));
    };
    if wt.shape != [k, k] {
        return Err(format!(
            "att_pool_weight has shape {:?}, expected ({k}, {k})",
            wt.shape
        ));
    }
    if w % p != 0 {
        return Err(format!(
            "{w} positions do not split into windows of {p} (Keras' reshape needs whole windows)"
        ));
    }
    let mut kernel = vec![0f32; k * k];
    for i in 0..k {
        for o in 0..k {
            kernel[o * k + i] = wt.data[i * k + o];
        }
    }
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
    let logits = LayerKind::Conv1D {
        filters: k,
        in_channels: k,
        kernel_size: 1,
        stride: 1,
        dilation: 1,
        padding: Padding::Valid,
        activation: Activation::Linear,
        kernel,
        bias: None,
    };
    let l = push("logits", logits, vec![input]);
    let s = push("softmax", LayerKind::WindowSoftmax { size: p }, vec![l]);
    let m = push(
        "product",
        LayerKind::Merge(MergeOp::Multiply),
        vec![input, s],
    );
    let avg = LayerKind::AvgPool1D {
        pool: p,
        stride: p,
        padding: Padding::Valid,
    };
    let a = push("mean", avg, vec![m]);
    let sum = LayerKind::Affine {
        scale: vec![p as f32],
        shift: vec![0.0],
    };
    Ok((sum, a, (k, w / p)))
}
