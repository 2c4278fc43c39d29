//! Keras models as their users saved them: `model.save("x.h5")` from Keras 1.2,
//! 2.x and 3.x, and Keras 3 `.keras` archives.
//!
//! Sequential models and Functional models whose graph is a chain load into a
//! [`ModelSpec`]; InputLayer is not a layer (indices count as `model.layers[i]`
//! does for a Sequential). Kernels are converted to the spec's conventions:
//! Conv1D (filters, in, k), Dense (units, in), Theano kernels flipped.
//! 2-D convolutions/poolings over a one-row image map onto the 1-D layers.
mod archive;
mod config;
use crate::model::h5util;
mod layers;
mod v1;
mod weights;

use crate::error::Error;
use crate::model::{FlattenOrder, LayerKind, LayerSpec, ModelSpec, Padding};
use h5util::Tensor;
use layers::{Desc, KernelLayout};
use std::path::Path;
use weights::WeightStore;

/// The backend a Keras 1 model was trained with (Keras 1 files do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keras1Backend {
    /// True convolutions: kernels are flipped on load.
    Theano,
    /// Cross-correlations: kernels are used as stored.
    Tensorflow,
}

struct Source {
    config: String,
    keras_version: Option<String>,
    backend: Option<String>,
    store: WeightStore,
    container: &'static str,
}

/// Load a Keras `.h5` (`model.save`) or `.keras` file.
///
/// `keras1_backend` overrides the backend guessed for Keras 1 files (Theano when
/// any layer uses `dim_ordering: "th"`, TensorFlow otherwise). Keras 2 files
/// saved by the Theano backend (root attribute `backend = "theano"`) are flipped too.
pub fn load_keras(path: &Path, keras1_backend: Option<Keras1Backend>) -> crate::Result<ModelSpec> {
    if !path.exists() {
        return Err(Error::model(path, "no such file"));
    }
    if archive::is_zip(path) {
        let a = archive::open(path).map_err(|m| Error::model(path, m))?;
        let file = hdf5::File::open(&a.weights.0).map_err(|e| {
            Error::model(
                path,
                format!("model.weights.h5 in the archive is not readable HDF5: {e}"),
            )
        })?;
        let src = Source {
            config: a.config.clone(),
            keras_version: a.keras_version.clone(),
            backend: None,
            store: WeightStore::v3(file),
            container: ".keras archive",
        };
        let spec = build(path, &src, keras1_backend);
        drop(src);
        drop(a);
        spec
    } else {
        let file = hdf5::File::open(path).map_err(|e| {
            Error::model(
                path,
                format!("not a Keras .h5/.keras file (cannot open as HDF5: {e})"),
            )
        })?;
        let attr = |n: &str| {
            h5util::string_attr(&file, n)
                .map_err(|m| Error::model(path, format!("attribute {n}: {m}")))
        };
        let config = attr("model_config")?.ok_or_else(|| {
            Error::model(
                path,
                "no model_config attribute: not a file written by Keras model.save (a weights-only file has no architecture)",
            )
        })?;
        let src = Source {
            config,
            keras_version: attr("keras_version")?,
            backend: attr("backend")?,
            store: WeightStore::legacy(&file),
            container: "HDF5",
        };
        build(path, &src, keras1_backend)
    }
}

/// The tensor layout between layers: rank 0 = flat vector, 1 = (W, K) or (K, W),
/// 2 = (1, W, K) or (K, 1, W).
#[derive(Debug, Clone, Copy)]
struct Layout {
    rank: u8,
    channels_first: bool,
}

const V1_ONLY: &[&str] = &["Convolution1D", "Convolution2D", "AtrousConvolution1D"];

fn major_version(src: &Source, cfg: &config::ModelConfig) -> u32 {
    if let Some(v) = &src.keras_version {
        if let Some(m) = v.split('.').next().and_then(|m| m.trim().parse().ok()) {
            return m;
        }
    }
    let v1 = cfg.layers.iter().any(|l| {
        V1_ONLY.contains(&l.class_name.as_str())
            || ["nb_filter", "output_dim", "border_mode"]
                .iter()
                .any(|k| l.config.get(k).is_some())
    });
    if v1 {
        1
    } else {
        2
    }
}

fn build(
    path: &Path,
    src: &Source,
    keras1_backend: Option<Keras1Backend>,
) -> crate::Result<ModelSpec> {
    let cfg = config::parse(&src.config).map_err(|e| match e.layer {
        Some(l) => Error::layer(path, l, e.msg),
        None => Error::model(path, e.msg),
    })?;
    let major = major_version(src, &cfg);
    let theano = if major == 1 {
        match keras1_backend {
            Some(b) => b == Keras1Backend::Theano,
            None => cfg
                .layers
                .iter()
                .any(|l| l.config.get("dim_ordering").and_then(|v| v.as_str()) == Some("th")),
        }
    } else {
        src.backend.as_deref() == Some("theano")
    };

    let mut descs = Vec::new();
    for l in &cfg.layers {
        let d = if major == 1 {
            v1::describe(l)
        } else {
            layers::describe(l)
        };
        descs.push(
            d.map_err(|m| Error::layer(path, &l.name, format!("{} layer: {m}", l.class_name)))?,
        );
    }

    // `.keras` group keys: snake-cased class names with a counter, over the layers the
    // model tracks (a Sequential does not track its InputLayer, a Functional does).
    let mut used = std::collections::HashMap::<String, usize>::new();
    let mut keys = Vec::new();
    for (l, d) in cfg.layers.iter().zip(&descs) {
        if matches!(d, Desc::Input) && cfg.kind == "Sequential" {
            keys.push(String::new());
            continue;
        }
        let base = weights::snake_case(&l.class_name);
        let key = match used.get_mut(&base) {
            Some(n) => {
                *n += 1;
                format!("{base}_{n}")
            }
            None => {
                used.insert(base.clone(), 0);
                base
            }
        };
        keys.push(key);
    }

    // Input shape and layout.
    let first = cfg
        .layers
        .first()
        .ok_or_else(|| Error::model(path, "the model has no layers"))?;
    let shape = layers::declared_input_shape(first).ok_or_else(|| {
        Error::layer(
            path,
            &first.name,
            "the config does not declare the model's input shape (batch_input_shape / batch_shape)",
        )
    })?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|d| d.ok_or(()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            Error::layer(
                path,
                &first.name,
                format!(
                    "the input shape {shape:?} has an unspecified length; a fixed length is needed"
                ),
            )
        })?;
    let cf = descs
        .iter()
        .find_map(|d| match d {
            Desc::Conv { channels_first, .. }
            | Desc::Pool { channels_first, .. }
            | Desc::GlobalPool { channels_first, .. } => Some(*channels_first),
            _ => None,
        })
        .unwrap_or(false);
    let bad_input = |m: String| Error::layer(path, &first.name, m);
    let (input_channels, input_width, mut layout) = match shape.as_slice() {
        [n] => (
            *n,
            1,
            Layout {
                rank: 0,
                channels_first: cf,
            },
        ),
        [a, b] => {
            if cf {
                (
                    *a,
                    *b,
                    Layout {
                        rank: 1,
                        channels_first: true,
                    },
                )
            } else {
                (
                    *b,
                    *a,
                    Layout {
                        rank: 1,
                        channels_first: false,
                    },
                )
            }
        }
        [a, b, c] => {
            if cf {
                if *b != 1 {
                    return Err(bad_input(format!("input shape {shape:?} (channels first): only one-row images (K, 1, L) are supported")));
                }
                (
                    *a,
                    *c,
                    Layout {
                        rank: 2,
                        channels_first: true,
                    },
                )
            } else {
                if *a != 1 {
                    return Err(bad_input(format!("input shape {shape:?} (channels last): only one-row images (1, L, K) are supported")));
                }
                (
                    *c,
                    *b,
                    Layout {
                        rank: 2,
                        channels_first: false,
                    },
                )
            }
        }
        _ => {
            return Err(bad_input(format!(
                "input shape {shape:?} is not supported (a sequence L × K)"
            )))
        }
    };

    let mut out = Vec::new();
    for ((l, d), key) in cfg.layers.iter().zip(&descs).zip(&keys) {
        if matches!(d, Desc::Input) {
            continue;
        }
        let lerr = |m: String| Error::layer(path, &l.name, format!("{} layer: {m}", l.class_name));
        let ws = src.store.layer(&l.name, key).map_err(lerr)?;
        let kind = convert(d, ws, &mut layout, theano).map_err(lerr)?;
        let i = out.len();
        out.push(LayerSpec::chained(l.name.clone(), kind, i));
    }

    let version = src
        .keras_version
        .clone()
        .unwrap_or_else(|| format!("{major}.x"));
    let spec = ModelSpec {
        input_channels,
        input_width,
        layers: out,
        outputs: vec![],
        tensor_names: vec![],
        class_names: None,
        source: format!(
            "keras {version} {} ({}){}",
            src.container,
            cfg.kind,
            if theano {
                ", theano kernels flipped on load"
            } else {
                ""
            }
        ),
    };
    spec.shapes()
        .map_err(|(i, m)| Error::layer(path, &spec.layers[i].name, m))?;
    Ok(spec)
}

fn expect_weights(ws: Option<Vec<Tensor>>, n: usize, what: &str) -> Result<Vec<Tensor>, String> {
    let ws =
        ws.ok_or_else(|| format!("the file has no weights for this layer (expected {what})"))?;
    if ws.len() != n {
        return Err(format!(
            "expected {n} weight arrays ({what}), the file has {}",
            ws.len()
        ));
    }
    Ok(ws)
}

fn shape_err(what: &str, got: &[usize], want: &str) -> String {
    format!("{what} has shape {got:?}, expected {want}")
}

/// The bias (weight array 1) of a layer with `n` outputs, if it has one.
fn bias(ws: &[Tensor], use_bias: bool, n: usize) -> Result<Option<Vec<f32>>, String> {
    if !use_bias {
        return Ok(None);
    }
    if ws[1].shape != [n] {
        return Err(shape_err("the bias", &ws[1].shape, &format!("({n},)")));
    }
    Ok(Some(ws[1].data.clone()))
}

fn convert(
    d: &Desc,
    ws: Option<Vec<Tensor>>,
    layout: &mut Layout,
    theano: bool,
) -> Result<LayerKind, String> {
    let no_weights = |ws: &Option<Vec<Tensor>>| -> Result<(), String> {
        match ws {
            Some(w) if !w.is_empty() => {
                Err(format!("expected no weights, the file has {}", w.len()))
            }
            _ => Ok(()),
        }
    };
    let check_layout = |dims: u8, cf: bool, layout: &Layout| -> Result<(), String> {
        if layout.rank != dims {
            return Err(if layout.rank == 0 {
                "applied to a flat vector; expected a sequence".to_string()
            } else {
                format!("a {dims}-D layer applied to a {}-D tensor", layout.rank)
            });
        }
        if cf != layout.channels_first {
            return Err(format!(
                "data format {} differs from the tensor's layout ({})",
                if cf {
                    "channels_first"
                } else {
                    "channels_last"
                },
                if layout.channels_first {
                    "channels_first"
                } else {
                    "channels_last"
                }
            ));
        }
        Ok(())
    };
    Ok(match *d {
        Desc::Input => unreachable!(),
        Desc::Conv {
            dims,
            filters,
            kh,
            kw,
            stride,
            dilation,
            padding,
            channels_first,
            activation,
            use_bias,
            layout: kl,
        } => {
            check_layout(dims, channels_first, layout)?;
            if kh != 1 {
                return Err(format!(
                    "kernel height {kh}: only one-row kernels over one-row inputs are supported"
                ));
            }
            if theano && padding == Padding::Same && (kw % 2 == 0 || stride != 1) {
                return Err(format!(
                    "Theano 'same' padding with kernel width {kw} and stride {stride} is not supported (odd width, stride 1 only)"
                ));
            }
            let ws = expect_weights(
                ws,
                1 + use_bias as usize,
                if use_bias { "kernel, bias" } else { "kernel" },
            )?;
            let k = &ws[0];
            let s = k.shape.as_slice();
            // (in_channels, index of (o, i, j) in the stored array)
            let (inc, strides): (usize, [usize; 3]) = match (kl, s) {
                (KernelLayout::K2Conv1D, [w, i, f]) if *w == kw && *f == filters => {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::K2Conv2D | KernelLayout::V1Tf, [1, w, i, f])
                    if *w == kw && *f == filters =>
                {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::V1Conv1D, [w, 1, i, f]) if *w == kw && *f == filters => {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::V1Th, [f, i, 1, w]) if *w == kw && *f == filters => {
                    (*i, [i * w, *w, 1])
                }
                _ => {
                    let want = match kl {
                        KernelLayout::K2Conv1D => format!("({kw}, in, {filters})"),
                        KernelLayout::K2Conv2D | KernelLayout::V1Tf => {
                            format!("(1, {kw}, in, {filters})")
                        }
                        KernelLayout::V1Conv1D => format!("({kw}, 1, in, {filters})"),
                        KernelLayout::V1Th => format!("({filters}, in, 1, {kw})"),
                    };
                    return Err(shape_err("the kernel", s, &want));
                }
            };
            let mut kernel = vec![0f32; filters * inc * kw];
            for o in 0..filters {
                for i in 0..inc {
                    for j in 0..kw {
                        let js = if theano { kw - 1 - j } else { j };
                        kernel[(o * inc + i) * kw + j] =
                            k.data[o * strides[0] + i * strides[1] + js * strides[2]];
                    }
                }
            }
            let bias = bias(&ws, use_bias, filters)?;
            LayerKind::Conv1D {
                filters,
                in_channels: inc,
                kernel_size: kw,
                stride,
                dilation,
                padding,
                activation,
                kernel,
                bias,
            }
        }
        Desc::Pool {
            dims,
            ph,
            pw,
            stride,
            padding,
            channels_first,
        } => {
            check_layout(dims, channels_first, layout)?;
            no_weights(&ws)?;
            if ph != 1 {
                return Err(format!(
                    "pool height {ph}: only one-row pooling over one-row inputs is supported"
                ));
            }
            if theano && padding == Padding::Same && pw > 1 {
                return Err("Theano 'same' pooling is not supported".into());
            }
            LayerKind::MaxPool1D {
                pool: pw,
                stride,
                padding,
            }
        }
        Desc::GlobalPool {
            max,
            dims,
            channels_first,
        } => {
            check_layout(dims, channels_first, layout)?;
            no_weights(&ws)?;
            layout.rank = 0;
            if max {
                LayerKind::GlobalMaxPool1D
            } else {
                LayerKind::GlobalAvgPool1D
            }
        }
        Desc::Flatten {
            channels_first: moves_channels_last,
        } => {
            no_weights(&ws)?;
            let order = match layout.rank {
                0 => FlattenOrder::ChannelMajor,
                1 => {
                    if layout.channels_first != moves_channels_last {
                        FlattenOrder::ChannelMajor
                    } else {
                        FlattenOrder::PositionMajor
                    }
                }
                _ => {
                    if !moves_channels_last && layout.channels_first {
                        FlattenOrder::ChannelMajor
                    } else {
                        FlattenOrder::PositionMajor
                    }
                }
            };
            layout.rank = 0;
            LayerKind::Flatten { order }
        }
        Desc::Dense {
            units,
            activation,
            use_bias,
        } => {
            if layout.rank != 0 {
                return Err("a Dense layer applied to a sequence (not flattened or pooled) is not supported".into());
            }
            let ws = expect_weights(
                ws,
                1 + use_bias as usize,
                if use_bias { "kernel, bias" } else { "kernel" },
            )?;
            let k = &ws[0];
            let [inf, u] = k.shape[..] else {
                return Err(shape_err("the kernel", &k.shape, &format!("(in, {units})")));
            };
            if u != units {
                return Err(shape_err("the kernel", &k.shape, &format!("(in, {units})")));
            }
            let mut kernel = vec![0f32; units * inf];
            for i in 0..inf {
                for o in 0..units {
                    kernel[o * inf + i] = k.data[i * units + o];
                }
            }
            let bias = bias(&ws, use_bias, units)?;
            LayerKind::Dense {
                units,
                in_features: inf,
                activation,
                kernel,
                bias,
            }
        }
        Desc::Act(a) => {
            no_weights(&ws)?;
            LayerKind::Activation(a)
        }
        Desc::Dropout => {
            no_weights(&ws)?;
            LayerKind::Dropout
        }
        Desc::BatchNorm {
            axis,
            eps,
            center,
            scale,
        } => {
            let ndim = layout.rank as i64 + 2; // with the batch axis
            let ax = if axis < 0 { ndim + axis } else { axis };
            let channel_axis = if layout.rank == 0 || layout.channels_first {
                1
            } else {
                ndim - 1
            };
            if ax != channel_axis {
                return Err(format!(
                    "normalization over axis {axis} is not over the channels (axis {channel_axis})"
                ));
            }
            let n = 2 + center as usize + scale as usize;
            let ws = expect_weights(
                ws,
                n,
                "gamma, beta, moving mean, moving variance (gamma/beta only when scale/center)",
            )?;
            let k = ws[ws.len() - 1].data.len();
            for w in &ws {
                if w.data.len() != k || w.shape.len() != 1 {
                    return Err(format!(
                        "batch-norm weights have shapes {:?}, expected all ({k},)",
                        ws.iter().map(|w| &w.shape).collect::<Vec<_>>()
                    ));
                }
            }
            let mut it = ws.into_iter();
            let gamma = if scale {
                it.next().unwrap().data
            } else {
                vec![1.0; k]
            };
            let beta = if center {
                it.next().unwrap().data
            } else {
                vec![0.0; k]
            };
            let mean = it.next().unwrap().data;
            let var = it.next().unwrap().data;
            LayerKind::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
            }
        }
    })
}
