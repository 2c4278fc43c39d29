//! The filters of a model's first convolution as motifs: which layers' channels
//! they are, and each filter's position weight matrix. Used by `motifs` (MEME
//! files) and `plot` (logos), so it depends on neither.
use crate::model::{LayerKind, ModelSpec};

/// The first-layer convolution whose filters are the channels of the input of
/// layer `layer`: (filters, in_channels, kernel_size, dilation, kernel), or why not.
pub fn first_layer_filters(
    spec: &ModelSpec,
    layer: usize,
) -> std::result::Result<(usize, usize, usize, usize, &[f32]), String> {
    let not = |why: String| {
        Err(format!("the channels of the input of layer {layer} are not first-layer filters ({why}), so they cannot be written as motifs"))
    };
    if layer == 0 || layer > spec.layers.len() {
        return not(format!(
            "layer {layer} is the model input or past its last layer"
        ));
    }
    let LayerKind::Conv1D {
        filters,
        in_channels,
        kernel_size,
        dilation,
        kernel,
        ..
    } = &spec.layers[0].kind
    else {
        return not(format!(
            "layer 0 ({}) is a {}, not a Conv1D",
            spec.layers[0].name,
            spec.layers[0].kind.kind_name()
        ));
    };
    if spec.input_channels != 4 || *in_channels != 4 {
        return not(format!(
            "the model input has {} channels, not the 4 of one-hot DNA",
            spec.input_channels
        ));
    }
    let mut shape = (spec.input_channels, spec.input_width);
    shape = spec.layers[0]
        .kind
        .output_shape(&[shape])
        .map_err(|e| format!("layer 0 ({}): {e}", spec.layers[0].name))?;
    for (i, l) in spec.layers.iter().enumerate().take(layer).skip(1) {
        if l.inputs != [i] {
            return not(format!(
                "layer {i} ({}) does not read the layer before it (the path from the filters to H is not a chain)",
                l.name
            ));
        }
        let ok = match &l.kind {
            LayerKind::Relu { .. }
            | LayerKind::PRelu { .. }
            | LayerKind::Crop { .. }
            | LayerKind::ZeroPad { .. }
            | LayerKind::AvgPool1D { .. }
            | LayerKind::UpSample { .. }
            | LayerKind::PositionMix { .. } => true,
            LayerKind::Activation(_)
            | LayerKind::Dropout
            | LayerKind::BatchNorm { .. }
            | LayerKind::MaxPool1D { .. }
            | LayerKind::GlobalMaxPool1D
            | LayerKind::GlobalAvgPool1D => true,
            // Flatten keeps the channels apart only when there is one position.
            LayerKind::Flatten { .. } => shape.1 == 1,
            _ => false,
        };
        if !ok {
            let what = match &l.kind {
                LayerKind::Flatten { .. } => format!(
                    "layer {i} ({}) flattens {} channels × {} positions",
                    l.name, shape.0, shape.1
                ),
                k => format!(
                    "layer {i} ({}) is a {} that mixes channels",
                    l.name,
                    k.kind_name()
                ),
            };
            return not(what);
        }
        shape = l
            .kind
            .output_shape(&[shape])
            .map_err(|e| format!("layer {i} ({}): {e}", l.name))?;
    }
    Ok((
        *filters,
        *in_channels,
        *kernel_size,
        *dilation,
        kernel.as_slice(),
    ))
}

/// Position weight matrix of filter `f`: (width, 4) rows of A, C, G, T
/// probabilities. Negative weights are clipped to 0 and each column is
/// normalised to sum 1; an all-zero column is uniform. With dilation d the
/// matrix spans d·(kernel_size − 1) + 1 positions, the gaps uniform.
pub fn pwm(
    kernel: &[f32],
    in_channels: usize,
    kernel_size: usize,
    dilation: usize,
    f: usize,
) -> Vec<[f64; 4]> {
    let span = dilation * (kernel_size - 1) + 1;
    let mut m = vec![[0.25f64; 4]; span];
    for j in 0..kernel_size {
        let mut col = [0f64; 4];
        for (a, v) in col.iter_mut().enumerate() {
            *v = (kernel[(f * in_channels + a) * kernel_size + j] as f64).max(0.0);
        }
        let s: f64 = col.iter().sum();
        m[j * dilation] = if s > 0.0 {
            col.map(|v| v / s)
        } else {
            [0.25; 4]
        };
    }
    m
}
