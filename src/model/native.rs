//! The project's own HDF5 model layout, for models from any framework
//! (`jobs/export_pytorch.py` writes it; docs/models.md documents it).
//!
//! Root attributes `format` = "deepresolve-mpi-model", `format_version` = 1,
//! `input_shape` = [K, W]; optional dataset `class_names`; one group per layer
//! `/layers/0000`, `/layers/0001`, … with attributes `kind`, `name` and the
//! kind's hyperparameters, and the weights as float32 datasets.
//!
//! Graphs: a layer's optional int64 attribute `inputs` lists the tensors it
//! reads (0 = the model input, i + 1 = the output of layer i); without it the
//! layer reads the one before it, so older files are chains. Optional root
//! attributes `outputs` (tensor ids) and `output_names` name the heads; without
//! them the last layer is the one output.
use super::h5util::{float_attr, int_array_attr, int_attr, read_string_dataset, str_attr};
use super::spec::*;
use crate::{Error, Result};
use std::path::Path;

pub const FORMAT: &str = "deepresolve-mpi-model";

pub fn is_native(file: &hdf5::File) -> bool {
    str_attr(file, "format").as_deref() == Some(FORMAT)
}

pub fn load_native(path: &Path, file: &hdf5::File) -> Result<ModelSpec> {
    let version = int_attr(file, "format_version").unwrap_or(0);
    if version != 1 {
        return Err(Error::model(
            path,
            format!("native format_version {version} is not supported (expected 1)"),
        ));
    }
    let shape = int_array_attr(file, "input_shape")
        .filter(|s| s.len() == 2 && s.iter().all(|&v| v > 0))
        .ok_or_else(|| Error::model(path, "attribute input_shape must be [channels, positions]"))?;
    let group = file
        .group("layers")
        .map_err(|_| Error::model(path, "no /layers group"))?;
    let mut names = group
        .member_names()
        .map_err(|e| Error::model(path, e.to_string()))?;
    names.sort();
    let mut layers = Vec::with_capacity(names.len());
    for (i, gname) in names.iter().enumerate() {
        if gname.parse::<usize>().ok() != Some(i) {
            return Err(Error::model(path, format!("layer groups must be numbered 0000, 0001, …; found /layers/{gname} at position {i}")));
        }
        let g = group
            .group(gname)
            .map_err(|e| Error::model(path, e.to_string()))?;
        let name = str_attr(&g, "name").unwrap_or_else(|| format!("layer_{i}"));
        let kind = read_layer(&g)
            .map_err(|msg| Error::layer(path, format!("{name} (/layers/{gname})"), msg))?;
        let inputs = match int_array_attr(&g, "inputs") {
            None => vec![i],
            Some(v) => v
                .iter()
                .map(|&t| usize::try_from(t).ok().filter(|&t| t <= i))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::layer(
                        path,
                        format!("{name} (/layers/{gname})"),
                        format!("inputs {v:?} must be tensors before the layer (0 = model input, j + 1 = output of layer j ≤ {i})"),
                    )
                })?,
        };
        layers.push(LayerSpec { name, kind, inputs });
    }
    let outputs = match int_array_attr(file, "outputs") {
        None => vec![],
        Some(ids) => {
            let names = super::h5util::strings_attr(file, "output_names")
                .map_err(|m| Error::model(path, format!("attribute output_names: {m}")))?
                .unwrap_or_default();
            ids.iter()
                .enumerate()
                .map(|(j, &t)| {
                    let t = usize::try_from(t)
                        .ok()
                        .filter(|&t| t <= layers.len())
                        .ok_or_else(|| {
                            Error::model(
                                path,
                                format!("outputs[{j}] = {t} is not a tensor of the model"),
                            )
                        })?;
                    Ok(OutputSpec {
                        name: names.get(j).cloned().unwrap_or_else(|| {
                            if t == 0 {
                                "input".into()
                            } else {
                                layers[t - 1].name.clone()
                            }
                        }),
                        tensor: t,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    let class_names = match file.dataset("class_names") {
        Ok(ds) => Some(read_string_dataset(&ds).map_err(|e| {
            Error::model(path, format!("class_names cannot be read as strings: {e}"))
        })?),
        Err(_) => None,
    };
    let spec = ModelSpec {
        input_channels: shape[0] as usize,
        input_width: shape[1] as usize,
        layers,
        outputs,
        unscorable: Vec::new(),
        tensor_names: vec![],
        class_names,
        source: path.display().to_string(),
    };
    Ok(spec)
}

/// An integer attribute: missing → None; stored as a float or a string is an
/// error (HDF5 would convert 1.5 to 1 without a word).
fn strict_int(g: &hdf5::Group, name: &str) -> std::result::Result<Option<i64>, String> {
    use hdf5::types::TypeDescriptor;
    let Ok(a) = g.attr(name) else {
        return Ok(None);
    };
    match a.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) => a
            .read_scalar::<i64>()
            .map(Some)
            .map_err(|e| format!("attribute {name}: {e}")),
        Ok(d) => Err(format!("attribute {name} must be an integer, found {d}")),
        Err(e) => Err(format!("attribute {name}: {e}")),
    }
}

/// A string attribute: missing → None; any other type is an error.
fn strict_str(g: &hdf5::Group, name: &str) -> std::result::Result<Option<String>, String> {
    super::h5util::string_attr(g, name).map_err(|e| format!("attribute {name}: {e}"))
}

fn req_int(g: &hdf5::Group, name: &str) -> std::result::Result<usize, String> {
    match strict_int(g, name)? {
        Some(v) if v > 0 => Ok(v as usize),
        Some(v) => Err(format!("attribute {name} = {v} must be positive")),
        None => Err(format!("missing integer attribute {name}")),
    }
}

fn opt_int(g: &hdf5::Group, name: &str, default: usize) -> std::result::Result<usize, String> {
    if g.attr(name).is_ok() {
        req_int(g, name)
    } else {
        Ok(default)
    }
}

fn padding(g: &hdf5::Group) -> std::result::Result<Padding, String> {
    match strict_str(g, "padding")?.as_deref() {
        None | Some("valid") => Ok(Padding::Valid),
        Some("same") => Ok(Padding::Same),
        Some(p) => Err(format!("padding {p:?} is not valid or same")),
    }
}

fn activation(g: &hdf5::Group) -> std::result::Result<Activation, String> {
    let a = strict_str(g, "activation")?.unwrap_or_else(|| "linear".into());
    Activation::parse(&a).ok_or_else(|| format!("unknown activation {a:?}"))
}

/// A float32 dataset with its shape checked.
fn weights(g: &hdf5::Group, name: &str, shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
    let ds = g
        .dataset(name)
        .map_err(|_| format!("missing weight dataset {name}"))?;
    if ds.shape() != shape {
        return Err(format!(
            "weight {name} has shape {:?}, expected {:?}",
            ds.shape(),
            shape
        ));
    }
    super::h5util::read_checked::<f32>(&ds).map_err(|e| format!("cannot read weight {name}: {e}"))
}

/// An LSTM or GRU whose datasets and flags carry `prefix` (the backward
/// direction of a bidirectional layer: `backward_`).
fn read_recurrent(
    g: &hdf5::Group,
    kind: &str,
    prefix: &str,
) -> std::result::Result<LayerKind, String> {
    let gates = if kind == "lstm" { 4 } else { 3 };
    let units = req_int(g, "units")?;
    let name = |n: &str| format!("{prefix}{n}");
    let ds = g
        .dataset(&name("kernel"))
        .map_err(|_| format!("missing weight dataset {}", name("kernel")))?;
    let s = ds.shape();
    if s.len() != 2 || s[0] != gates * units {
        return Err(format!(
            "{} has shape {s:?}, expected ({}, in_channels)",
            name("kernel"),
            gates * units
        ));
    }
    let in_channels = s[1];
    let reverse = flag(g, &name("reverse"), !prefix.is_empty());
    let return_sequences = flag(g, "return_sequences", true);
    let kernel = weights(g, &name("kernel"), &[gates * units, in_channels])?;
    let recurrent = weights(g, &name("recurrent_kernel"), &[gates * units, units])?;
    let bias = weights(g, &name("bias"), &[gates * units])?;
    Ok(if gates == 4 {
        LayerKind::Lstm {
            units,
            in_channels,
            reverse,
            return_sequences,
            kernel,
            recurrent,
            bias,
        }
    } else {
        LayerKind::Gru {
            units,
            in_channels,
            reverse,
            return_sequences,
            reset_after: flag(g, "reset_after", true),
            kernel,
            recurrent,
            bias,
            recurrent_bias: weights(g, &name("recurrent_bias"), &[gates * units])?,
        }
    })
}

/// The inverse of [`read_recurrent`]; a bidirectional layer's two calls
/// share the attributes they have in common.
fn write_recurrent(g: &hdf5::Group, prefix: &str, kind: &LayerKind) -> hdf5::Result<()> {
    let int = |n: &str, v: usize| -> hdf5::Result<()> {
        if g.attr(n).is_ok() {
            return Ok(());
        }
        g.new_attr::<i64>().create(n)?.write_scalar(&(v as i64))
    };
    let arr = |n: &str, v: &[f32], shape: &[usize]| -> hdf5::Result<()> {
        g.new_dataset::<f32>()
            .shape(shape)
            .create(format!("{prefix}{n}").as_str())?
            .write_raw(v)
    };
    let (gates, units, in_channels, reverse, seq, kernel, recurrent, bias) = match kind {
        LayerKind::Lstm {
            units,
            in_channels,
            reverse,
            return_sequences,
            kernel,
            recurrent,
            bias,
        } => (
            4,
            *units,
            *in_channels,
            *reverse,
            *return_sequences,
            kernel,
            recurrent,
            bias,
        ),
        LayerKind::Gru {
            units,
            in_channels,
            reverse,
            return_sequences,
            reset_after,
            kernel,
            recurrent,
            bias,
            recurrent_bias,
        } => {
            int("reset_after", *reset_after as usize)?;
            arr("recurrent_bias", recurrent_bias, &[3 * units])?;
            (
                3,
                *units,
                *in_channels,
                *reverse,
                *return_sequences,
                kernel,
                recurrent,
                bias,
            )
        }
        _ => unreachable!("only recurrent layers"),
    };
    int("units", units)?;
    int("return_sequences", seq as usize)?;
    int(&format!("{prefix}reverse"), reverse as usize)?;
    arr("kernel", kernel, &[gates * units, in_channels])?;
    arr("recurrent_kernel", recurrent, &[gates * units, units])?;
    arr("bias", bias, &[gates * units])
}

/// An attention layer: its sizes, scales and biases; with `rel_m`, the
/// positional keys and the W × W index (float32, exact below 2^24; −1 = none),
/// and optionally the W × W rows (`rel_rows`: the query each pair reads).
fn read_attention(g: &hdf5::Group) -> std::result::Result<LayerKind, String> {
    let (heads, dk, dv) = (req_int(g, "heads")?, req_int(g, "dk")?, req_int(g, "dv")?);
    let rel = match strict_int(g, "rel_m")? {
        None => None,
        Some(m) => {
            let m = usize::try_from(m).map_err(|_| "attribute rel_m must not be negative")?;
            let ds = g
                .dataset("rel_index")
                .map_err(|_| "missing dataset rel_index")?;
            let shape = ds.shape();
            let index = weights(g, "rel_index", &shape)?
                .iter()
                .map(|&v| {
                    (v.fract() == 0.0 && (-1.0..16_777_216.0).contains(&v))
                        .then_some(v as i32)
                        .ok_or_else(|| format!("rel_index holds {v}, not a column or -1"))
                })
                .collect::<std::result::Result<_, _>>()?;
            let rows = match g.dataset("rel_rows") {
                Err(_) => None,
                Ok(ds) => Some(
                    weights(g, "rel_rows", &ds.shape())?
                        .iter()
                        .map(|&v| {
                            (v.fract() == 0.0 && (0.0..16_777_216.0).contains(&v))
                                .then_some(v as i32)
                                .ok_or_else(|| format!("rel_rows holds {v}, not a query"))
                        })
                        .collect::<std::result::Result<_, _>>()?,
                ),
            };
            Some(RelPos {
                q_scale: float_or(g, "rel_q_scale", 1.0),
                q_bias: weights(g, "rel_q_bias", &[heads * dk])?,
                keys: weights(g, "rel_keys", &[heads, m, dk])?,
                m,
                index,
                rows,
            })
        }
    };
    Ok(LayerKind::Attention(AttentionSpec {
        heads,
        dk,
        dv,
        q_scale: float_or(g, "q_scale", 1.0),
        q_bias: weights(g, "q_bias", &[heads * dk])?,
        k_scale: float_or(g, "k_scale", 1.0),
        rel,
    }))
}

/// An int64 flag attribute (0 or 1).
fn flag(g: &hdf5::Group, name: &str, default: bool) -> bool {
    int_attr(g, name).map_or(default, |v| v != 0)
}

fn float_or(g: &hdf5::Group, name: &str, default: f32) -> f32 {
    float_attr(g, name).map_or(default, |v| v as f32)
}

fn nonneg_int(g: &hdf5::Group, name: &str) -> std::result::Result<usize, String> {
    match strict_int(g, name)? {
        Some(v) if v >= 0 => Ok(v as usize),
        Some(v) => Err(format!("attribute {name} = {v} must not be negative")),
        None => Ok(0),
    }
}

fn read_layer(g: &hdf5::Group) -> std::result::Result<LayerKind, String> {
    let kind = str_attr(g, "kind").ok_or("missing attribute kind")?;
    Ok(match kind.as_str() {
        "merge" => {
            let op = str_attr(g, "op").unwrap_or_default();
            LayerKind::Merge(MergeOp::parse(&op).ok_or_else(|| format!("unknown merge op {op:?}"))?)
        }
        "concatenate" => LayerKind::Concatenate {
            axis: match str_attr(g, "axis").as_deref() {
                Some("channels") => ConcatAxis::Channels,
                Some("positions") => ConcatAxis::Positions,
                a => {
                    return Err(format!(
                        "concatenate axis {a:?} is not channels or positions"
                    ))
                }
            },
        },
        "crop1d" => LayerKind::Crop {
            left: nonneg_int(g, "left")?,
            right: nonneg_int(g, "right")?,
        },
        "zeropad1d" => LayerKind::ZeroPad {
            left: nonneg_int(g, "left")?,
            right: nonneg_int(g, "right")?,
        },
        "upsample1d" => LayerKind::UpSample {
            size: req_int(g, "size")?,
        },
        "avgpool1d" => {
            let pool = req_int(g, "pool_size")?;
            LayerKind::AvgPool1D {
                pool,
                stride: opt_int(g, "stride", pool)?,
                padding: padding(g)?,
            }
        }
        "relu" => LayerKind::Relu {
            negative_slope: float_or(g, "negative_slope", 0.0),
            max_value: float_attr(g, "max_value").map(|v| v as f32),
            threshold: float_or(g, "threshold", 0.0),
        },
        "prelu" => {
            let ds = g
                .dataset("alpha")
                .map_err(|_| "missing weight dataset alpha")?;
            let n = ds.size();
            LayerKind::PRelu {
                alpha: weights(g, "alpha", &ds.shape()).map(|a| a.into_iter().take(n).collect())?,
            }
        }
        "affine" => {
            let len = |n: &str| {
                g.dataset(n)
                    .map(|d| d.size())
                    .map_err(|_| format!("missing weight dataset {n}"))
            };
            let (ns, nb) = (len("scale")?, len("shift")?);
            LayerKind::Affine {
                scale: weights(g, "scale", &[ns])?,
                shift: weights(g, "shift", &[nb])?,
            }
        }
        "lstm" | "gru" => read_recurrent(g, &kind, "")?,
        "bidirectional" => {
            let cell = str_attr(g, "cell").unwrap_or_default();
            if cell != "lstm" && cell != "gru" {
                return Err(format!("bidirectional cell {cell:?} is not lstm or gru"));
            }
            let merge = str_attr(g, "merge").unwrap_or_default();
            LayerKind::Bidirectional {
                merge: BiMerge::parse(&merge)
                    .ok_or_else(|| format!("unknown merge mode {merge:?}"))?,
                forward: Box::new(read_recurrent(g, &cell, "")?),
                backward: Box::new(read_recurrent(g, &cell, "backward_")?),
            }
        }
        "layernorm" => {
            let n = g
                .dataset("gamma")
                .map(|d| d.size())
                .map_err(|_| "missing weight dataset gamma")?;
            LayerKind::LayerNorm {
                gamma: weights(g, "gamma", &[n])?,
                beta: weights(g, "beta", &[n])?,
                eps: float_or(g, "epsilon", 1e-3),
            }
        }
        "attention" => read_attention(g)?,
        "window_softmax" => LayerKind::WindowSoftmax {
            size: req_int(g, "size")?,
        },
        "position_mix" => {
            let shape = g
                .dataset("matrix")
                .map(|d| d.shape())
                .map_err(|_| "missing weight dataset matrix")?;
            let [w, to] = shape[..] else {
                return Err(format!(
                    "weight matrix has shape {shape:?}, expected (positions, outputs)"
                ));
            };
            LayerKind::PositionMix {
                to,
                matrix: weights(g, "matrix", &[w, to])?,
            }
        }
        "pointwise" => {
            let op = str_attr(g, "op").unwrap_or_default();
            LayerKind::Pointwise(
                Pointwise::parse(&op).ok_or_else(|| format!("unknown pointwise op {op:?}"))?,
            )
        }
        "reshape" => LayerKind::Reshape {
            channels: req_int(g, "channels")?,
            width: req_int(g, "width")?,
        },
        "conv1d" => {
            let filters = req_int(g, "filters")?;
            let kernel_size = req_int(g, "kernel_size")?;
            let ds = g
                .dataset("kernel")
                .map_err(|_| "missing weight dataset kernel")?;
            let s = ds.shape();
            if s.len() != 3 || s[0] != filters || s[2] != kernel_size {
                return Err(format!(
                    "kernel has shape {s:?}, expected ({filters}, in_channels, {kernel_size})"
                ));
            }
            let in_channels = s[1];
            LayerKind::Conv1D {
                filters,
                in_channels,
                kernel_size,
                stride: opt_int(g, "stride", 1)?,
                dilation: opt_int(g, "dilation", 1)?,
                padding: padding(g)?,
                activation: activation(g)?,
                kernel: weights(g, "kernel", &[filters, in_channels, kernel_size])?,
                bias: g
                    .dataset("bias")
                    .is_ok()
                    .then(|| weights(g, "bias", &[filters]))
                    .transpose()?,
            }
        }
        "maxpool1d" => {
            let pool = req_int(g, "pool_size")?;
            LayerKind::MaxPool1D {
                pool,
                stride: opt_int(g, "stride", pool)?,
                padding: padding(g)?,
            }
        }
        "global_maxpool1d" => LayerKind::GlobalMaxPool1D,
        "global_avgpool1d" => LayerKind::GlobalAvgPool1D,
        "flatten" => LayerKind::Flatten {
            order: match str_attr(g, "order").as_deref() {
                Some("channel_major") => FlattenOrder::ChannelMajor,
                Some("position_major") => FlattenOrder::PositionMajor,
                o => {
                    return Err(format!(
                        "flatten order {o:?} is not channel_major or position_major"
                    ))
                }
            },
        },
        "dense" => {
            let units = req_int(g, "units")?;
            let ds = g
                .dataset("kernel")
                .map_err(|_| "missing weight dataset kernel")?;
            let s = ds.shape();
            if s.len() != 2 || s[0] != units {
                return Err(format!(
                    "kernel has shape {s:?}, expected ({units}, in_features)"
                ));
            }
            let in_features = s[1];
            LayerKind::Dense {
                units,
                in_features,
                activation: activation(g)?,
                kernel: weights(g, "kernel", &[units, in_features])?,
                bias: g
                    .dataset("bias")
                    .is_ok()
                    .then(|| weights(g, "bias", &[units]))
                    .transpose()?,
            }
        }
        "activation" => LayerKind::Activation(activation(g)?),
        "dropout" => LayerKind::Dropout,
        "batchnorm" => {
            let ds = g
                .dataset("gamma")
                .map_err(|_| "missing weight dataset gamma")?;
            let n = ds.size();
            LayerKind::BatchNorm {
                gamma: weights(g, "gamma", &[n])?,
                beta: weights(g, "beta", &[n])?,
                mean: weights(g, "running_mean", &[n])?,
                var: weights(g, "running_var", &[n])?,
                eps: float_attr(g, "epsilon").unwrap_or(1e-5) as f32,
            }
        }
        other => return Err(format!("unknown layer kind {other:?}")),
    })
}

/// Write a spec in the native layout (the inverse of [`load_native`]).
pub fn save_native(spec: &ModelSpec, path: &Path) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    let e = |err: hdf5::Error| Error::model(path, format!("cannot write: {err}"));
    let f = hdf5::File::create(path).map_err(e)?;
    let s = |g: &hdf5::Location, n: &str, v: &str| -> hdf5::Result<()> {
        g.new_attr::<VarLenUnicode>()
            .create(n)?
            .write_scalar(&super::h5util::h5_string(v)?)
    };
    let i = |g: &hdf5::Location, n: &str, v: usize| -> hdf5::Result<()> {
        g.new_attr::<i64>().create(n)?.write_scalar(&(v as i64))
    };
    let fl = |g: &hdf5::Location, n: &str, v: f32| -> hdf5::Result<()> {
        g.new_attr::<f64>().create(n)?.write_scalar(&(v as f64))
    };
    let ints = |g: &hdf5::Location, n: &str, v: &[usize]| -> hdf5::Result<()> {
        let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
        g.new_attr::<i64>().shape(v.len()).create(n)?.write_raw(&v)
    };
    let arr = |g: &hdf5::Group, n: &str, v: &[f32], shape: &[usize]| -> hdf5::Result<()> {
        g.new_dataset::<f32>().shape(shape).create(n)?.write_raw(v)
    };
    let pad = |p: Padding| if p == Padding::Same { "same" } else { "valid" };
    (|| -> hdf5::Result<()> {
        s(&f, "format", FORMAT)?;
        i(&f, "format_version", 1)?;
        f.new_attr::<i64>()
            .shape(2)
            .create("input_shape")?
            .write_raw(&[spec.input_channels as i64, spec.input_width as i64])?;
        if let Some(names) = &spec.class_names {
            let v: Vec<VarLenUnicode> = names
                .iter()
                .map(|n| super::h5util::h5_string(n))
                .collect::<hdf5::Result<_>>()?;
            f.new_dataset_builder()
                .with_data(&v)
                .create("class_names")?;
        }
        if !spec.outputs.is_empty() {
            let ids: Vec<usize> = spec.outputs.iter().map(|o| o.tensor).collect();
            ints(&f, "outputs", &ids)?;
            let names: Vec<VarLenUnicode> = spec
                .outputs
                .iter()
                .map(|o| super::h5util::h5_string(&o.name))
                .collect::<hdf5::Result<_>>()?;
            f.new_attr::<VarLenUnicode>()
                .shape(names.len())
                .create("output_names")?
                .write_raw(&names)?;
        }
        let layers = f.create_group("layers")?;
        for (idx, l) in spec.layers.iter().enumerate() {
            let g = layers.create_group(&format!("{idx:04}"))?;
            s(&g, "kind", l.kind.kind_name())?;
            s(&g, "name", &l.name)?;
            if l.inputs != [idx] {
                ints(&g, "inputs", &l.inputs)?;
            }
            match &l.kind {
                LayerKind::Conv1D {
                    filters,
                    in_channels,
                    kernel_size,
                    stride,
                    dilation,
                    padding,
                    activation,
                    kernel,
                    bias,
                } => {
                    i(&g, "filters", *filters)?;
                    i(&g, "kernel_size", *kernel_size)?;
                    i(&g, "stride", *stride)?;
                    i(&g, "dilation", *dilation)?;
                    s(&g, "padding", pad(*padding))?;
                    s(&g, "activation", &activation.name())?;
                    arr(
                        &g,
                        "kernel",
                        kernel,
                        &[*filters, *in_channels, *kernel_size],
                    )?;
                    if let Some(b) = bias {
                        arr(&g, "bias", b, &[*filters])?;
                    }
                }
                LayerKind::MaxPool1D {
                    pool,
                    stride,
                    padding,
                } => {
                    i(&g, "pool_size", *pool)?;
                    i(&g, "stride", *stride)?;
                    s(&g, "padding", pad(*padding))?;
                }
                LayerKind::Flatten { order } => s(
                    &g,
                    "order",
                    if *order == FlattenOrder::ChannelMajor {
                        "channel_major"
                    } else {
                        "position_major"
                    },
                )?,
                LayerKind::Dense {
                    units,
                    in_features,
                    activation,
                    kernel,
                    bias,
                } => {
                    i(&g, "units", *units)?;
                    s(&g, "activation", &activation.name())?;
                    arr(&g, "kernel", kernel, &[*units, *in_features])?;
                    if let Some(b) = bias {
                        arr(&g, "bias", b, &[*units])?;
                    }
                }
                LayerKind::Activation(a) => s(&g, "activation", &a.name())?,
                LayerKind::Merge(op) => s(&g, "op", op.name())?,
                LayerKind::Pointwise(op) => s(&g, "op", &op.name())?,
                LayerKind::Concatenate { axis } => s(
                    &g,
                    "axis",
                    if *axis == ConcatAxis::Channels {
                        "channels"
                    } else {
                        "positions"
                    },
                )?,
                LayerKind::Crop { left, right } | LayerKind::ZeroPad { left, right } => {
                    i(&g, "left", *left)?;
                    i(&g, "right", *right)?;
                }
                LayerKind::UpSample { size } | LayerKind::WindowSoftmax { size } => {
                    i(&g, "size", *size)?
                }
                LayerKind::AvgPool1D {
                    pool,
                    stride,
                    padding,
                } => {
                    i(&g, "pool_size", *pool)?;
                    i(&g, "stride", *stride)?;
                    s(&g, "padding", pad(*padding))?;
                }
                LayerKind::Relu {
                    negative_slope,
                    max_value,
                    threshold,
                } => {
                    fl(&g, "negative_slope", *negative_slope)?;
                    fl(&g, "threshold", *threshold)?;
                    if let Some(m) = max_value {
                        fl(&g, "max_value", *m)?;
                    }
                }
                LayerKind::PRelu { alpha } => arr(&g, "alpha", alpha, &[alpha.len()])?,
                LayerKind::PositionMix { to, matrix } => {
                    arr(&g, "matrix", matrix, &[matrix.len() / (*to).max(1), *to])?
                }
                LayerKind::Affine { scale, shift } => {
                    arr(&g, "scale", scale, &[scale.len()])?;
                    arr(&g, "shift", shift, &[shift.len()])?;
                }
                LayerKind::Reshape { channels, width } => {
                    i(&g, "channels", *channels)?;
                    i(&g, "width", *width)?;
                }
                LayerKind::BatchNorm {
                    gamma,
                    beta,
                    mean,
                    var,
                    eps,
                } => {
                    g.new_attr::<f64>()
                        .create("epsilon")?
                        .write_scalar(&(*eps as f64))?;
                    for (n, v) in [
                        ("gamma", gamma),
                        ("beta", beta),
                        ("running_mean", mean),
                        ("running_var", var),
                    ] {
                        arr(&g, n, v, &[v.len()])?;
                    }
                }
                LayerKind::Lstm { .. } | LayerKind::Gru { .. } => write_recurrent(&g, "", &l.kind)?,
                LayerKind::Bidirectional {
                    merge,
                    forward,
                    backward,
                } => {
                    s(&g, "merge", merge.name())?;
                    s(&g, "cell", forward.kind_name())?;
                    write_recurrent(&g, "", forward)?;
                    write_recurrent(&g, "backward_", backward)?;
                }
                LayerKind::LayerNorm { gamma, beta, eps } => {
                    g.new_attr::<f64>()
                        .create("epsilon")?
                        .write_scalar(&(*eps as f64))?;
                    arr(&g, "gamma", gamma, &[gamma.len()])?;
                    arr(&g, "beta", beta, &[beta.len()])?;
                }
                LayerKind::Attention(a) => {
                    i(&g, "heads", a.heads)?;
                    i(&g, "dk", a.dk)?;
                    i(&g, "dv", a.dv)?;
                    fl(&g, "q_scale", a.q_scale)?;
                    fl(&g, "k_scale", a.k_scale)?;
                    arr(&g, "q_bias", &a.q_bias, &[a.q_bias.len()])?;
                    if let Some(r) = &a.rel {
                        i(&g, "rel_m", r.m)?;
                        fl(&g, "rel_q_scale", r.q_scale)?;
                        arr(&g, "rel_q_bias", &r.q_bias, &[r.q_bias.len()])?;
                        arr(&g, "rel_keys", &r.keys, &[a.heads, r.m, a.dk])?;
                        let w = (r.index.len() as f64).sqrt() as usize;
                        let idx: Vec<f32> = r.index.iter().map(|&c| c as f32).collect();
                        arr(&g, "rel_index", &idx, &[w, r.index.len() / w.max(1)])?;
                        if let Some(rows) = &r.rows {
                            let rows: Vec<f32> = rows.iter().map(|&q| q as f32).collect();
                            arr(&g, "rel_rows", &rows, &[w, rows.len() / w.max(1)])?;
                        }
                    }
                }
                LayerKind::GlobalMaxPool1D | LayerKind::GlobalAvgPool1D | LayerKind::Dropout => {}
            }
        }
        f.flush()
    })()
    .map_err(e)
}
