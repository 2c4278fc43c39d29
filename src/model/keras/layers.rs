//! A Keras layer config (any version) → a normalized description, before weights.
use super::config::RawLayer;
use super::recurrent::{describe_bidirectional, describe_recurrent, RecurrentDesc};
use crate::model::{Activation, BiMerge, MergeOp, Padding};
use serde_json::Value;

/// How a convolution kernel is stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLayout {
    /// Keras 2/3 Conv1D: (k, in, filters).
    K2Conv1D,
    /// Keras 2/3 Conv2D: (kh, kw, in, filters), whatever the data format.
    K2Conv2D,
    /// Keras 1 Convolution2D, "th": (filters, in, kh, kw).
    V1Th,
    /// Keras 1 Convolution2D, "tf": (kh, kw, in, filters).
    V1Tf,
    /// Keras 1 Convolution1D: (k, 1, in, filters).
    V1Conv1D,
}

#[derive(Debug, Clone)]
pub enum Desc {
    Input,
    /// A layer we cannot read, and why: the outputs that need it cannot be
    /// scored, the others still can.
    Refused(String),
    Conv {
        dims: u8,
        filters: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
        channels_first: bool,
        activation: Activation,
        use_bias: bool,
        layout: KernelLayout,
        /// Input-channel groups (1: a full convolution; the input channels: depthwise).
        groups: usize,
    },
    Pool {
        /// Average pooling (else max).
        avg: bool,
        dims: u8,
        ph: usize,
        pw: usize,
        stride: usize,
        padding: Padding,
        channels_first: bool,
    },
    GlobalPool {
        max: bool,
        dims: u8,
        channels_first: bool,
        /// The output keeps its positions axis (of length 1).
        keepdims: bool,
    },
    /// `channels_first`: Keras 2/3 Flatten(data_format="channels_first") moves the
    /// channel axis last before flattening.
    Flatten {
        channels_first: bool,
    },
    Dense {
        units: usize,
        activation: Activation,
        use_bias: bool,
    },
    Act(Activation),
    Dropout,
    BatchNorm {
        axis: i64,
        eps: f32,
        center: bool,
        scale: bool,
    },
    Merge(MergeOp),
    /// CREsted's MultiheadAttention (`attention.rs`).
    Mha(super::attention::MhaDesc),
    /// Keras' MultiHeadAttention as self-attention (`multi_head_attention.rs`).
    KerasMha(super::multi_head_attention::KerasMhaDesc),
    /// CREsted's AttentionPool1D over windows of `pool` (`attention_pool.rs`).
    AttentionPool {
        pool: usize,
    },
    /// SeparableConv1D: a depthwise then a pointwise convolution, read as
    /// the one convolution they compose to.
    SeparableConv {
        filters: usize,
        kw: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
        depth_multiplier: usize,
        activation: Activation,
        use_bias: bool,
    },
    /// Keras 3's arithmetic op with a number (`x * 2.0`, `1.0 - x`): y =
    /// scale·x + shift.
    Scalar {
        scale: f32,
        shift: f32,
    },
    /// A Keras 3 reduction op in a functional graph (`keras.ops.mean(x, axis=1)`
    /// serialises as a `Mean` layer): a global pooling where the axis is the positions.
    Reduce {
        max: bool,
        /// `Sum`: the mean times the positions (the layer loop adds the scaling).
        sum: bool,
        axis: Vec<i64>,
        keepdims: bool,
    },
    /// Keras' axis (counting the batch axis; negative from the end).
    Concat {
        axis: i64,
    },
    Crop {
        left: usize,
        right: usize,
        channels_first: bool,
    },
    ZeroPad {
        left: usize,
        right: usize,
        channels_first: bool,
    },
    UpSample {
        size: usize,
        channels_first: bool,
    },
    Relu {
        negative_slope: f32,
        max_value: Option<f32>,
        threshold: f32,
    },
    PRelu,
    /// Keras' target shape without the batch axis (-1 = inferred).
    Reshape {
        target: Vec<i64>,
    },
    /// Keras' permutation of the non-batch axes (1-based).
    Permute {
        dims: Vec<usize>,
    },
    Recurrent(RecurrentDesc),
    Bidirectional {
        merge: BiMerge,
        forward: RecurrentDesc,
        backward: RecurrentDesc,
    },
    LayerNorm {
        /// Keras' axes (counting the batch axis; negative from the end).
        axis: Vec<i64>,
        eps: f32,
        center: bool,
        scale: bool,
    },
}

pub type DescResult = Result<Desc, String>;

pub const UNSUPPORTED: &str = "this layer class is not supported (supported: Conv1D/Conv2D over one row, MaxPooling1D/2D, AveragePooling1D/2D, GlobalMax/AveragePooling1D/2D, Flatten, Dense, Activation, ReLU, LeakyReLU, PReLU, Softmax, Dropout, BatchNormalization, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Cropping1D, ZeroPadding1D, UpSampling1D, Reshape, Permute, LSTM, GRU, Bidirectional, TimeDistributed around Dense or an activation, LayerNormalization, MultiHeadAttention (self-attention), SeparableConv1D, InputLayer, the ops mean, max and sum over positions and arithmetic with a number; a model used as a layer)";

pub const LAMBDA: &str = "a Lambda layer runs Python code that the file does not hold in a form that can be loaded; rewrite it with standard Keras layers";

pub fn get<'a>(l: &'a RawLayer, key: &str) -> Option<&'a Value> {
    l.config.get(key).filter(|v| !v.is_null())
}

/// An integer, or the `i`-th entry of a list of integers.
pub fn int_at(l: &RawLayer, key: &str, i: usize) -> Result<Option<usize>, String> {
    let Some(v) = get(l, key) else {
        return Ok(None);
    };
    let x = match v {
        Value::Array(a) => a.get(i).and_then(Value::as_u64),
        other => other.as_u64(),
    };
    x.map(|x| Some(x as usize))
        .ok_or_else(|| format!("{key} = {v} is not a positive integer (list)"))
}

pub fn req_int_at(l: &RawLayer, key: &str, i: usize) -> Result<usize, String> {
    int_at(l, key, i)?.ok_or_else(|| format!("the config has no {key}"))
}

pub fn string(l: &RawLayer, key: &str) -> Option<String> {
    get(l, key).and_then(Value::as_str).map(str::to_string)
}

pub fn flag(l: &RawLayer, key: &str, default: bool) -> bool {
    get(l, key).and_then(Value::as_bool).unwrap_or(default)
}

pub fn activation(l: &RawLayer, key: &str) -> Result<Activation, String> {
    let name = match get(l, key) {
        None => "linear".to_string(),
        Some(Value::String(s)) => s.clone(),
        // Keras 3 may serialize a function as {"module": ..., "class_name": "function", "config": "relu"}.
        Some(Value::Object(m)) => match (m.get("config"), m.get("class_name")) {
            (Some(Value::String(s)), _) => s.clone(),
            (_, Some(Value::String(s))) => s.clone(),
            _ => {
                return Err(format!(
                    "activation {} is not understood",
                    Value::Object(m.clone())
                ))
            }
        },
        Some(v) => return Err(format!("activation {v} is not understood")),
    };
    // Functions a package registered with Keras, saved as "package>name":
    // CREsted's two GELUs (keras.activations.gelu(x, approximate=True), and
    // Enformer's x·σ(1.702x)).
    match name.as_str() {
        "crested>gelu_approx" => return Ok(Activation::GeluTanh),
        "crested>gelu_enf" => return Ok(Activation::GeluSigmoid),
        _ => {}
    }
    Activation::parse(&name).ok_or_else(|| format!("activation {name:?} is not supported"))
}

pub fn padding(l: &RawLayer, key: &str) -> Result<Padding, String> {
    let p = match get(l, key) {
        None | Some(Value::Null) => "valid".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("{key} {other} is not a string (valid or same)")),
    };
    match p.as_str() {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        other => Err(format!(
            "padding {other:?} is not supported (valid or same)"
        )),
    }
}

fn channels_first(l: &RawLayer) -> Result<bool, String> {
    match string(l, "data_format").as_deref() {
        None | Some("channels_last") => Ok(false),
        Some("channels_first") => Ok(true),
        Some(o) => Err(format!("data_format {o:?} is not understood")),
    }
}

/// An integer or a pair `(left, right)` (Cropping1D, ZeroPadding1D).
fn pair(l: &RawLayer, key: &str, default: usize) -> Result<(usize, usize), String> {
    match get(l, key) {
        None => Ok((default, default)),
        Some(Value::Array(a)) if a.len() == 2 => {
            Ok((req_int_at(l, key, 0)?, req_int_at(l, key, 1)?))
        }
        Some(Value::Array(a)) if a.len() == 1 => {
            let x = req_int_at(l, key, 0)?;
            Ok((x, x))
        }
        Some(v) => {
            let x = v
                .as_u64()
                .ok_or_else(|| format!("{key} = {v} is not an integer or a pair of integers"))?
                as usize;
            Ok((x, x))
        }
    }
}

fn float(l: &RawLayer, key: &str) -> Option<f32> {
    get(l, key).and_then(Value::as_f64).map(|x| x as f32)
}

fn int_list(l: &RawLayer, key: &str) -> Result<Vec<i64>, String> {
    match get(l, key) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_i64().ok_or_else(|| {
                    format!(
                        "{key} = {} is not a list of integers",
                        Value::Array(a.clone())
                    )
                })
            })
            .collect(),
        Some(v) => Err(format!("{key} = {v} is not a list of integers")),
        None => Err(format!("the config has no {key}")),
    }
}

/// An activation by Keras version: Keras 3's `hard_sigmoid` is relu6(x + 3) / 6.
fn act(l: &RawLayer, key: &str, keras3: bool) -> Result<Activation, String> {
    let a = activation(l, key)?;
    Ok(match a {
        Activation::HardSigmoid { .. } if keras3 => Activation::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        },
        a => a,
    })
}

/// The name of an activation as written (string, or Keras 3's function dict).
fn activation_name(l: &RawLayer, key: &str) -> Option<String> {
    match get(l, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("config").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// CREsted's registered class `name`: `.keras` archives write the class
/// name with `registered_name` "crested>NAME", legacy `.h5` files the
/// registered name as the class name.
fn crested(l: &RawLayer, name: &str) -> bool {
    let full = format!("crested>{name}");
    l.class_name == full || (l.class_name == name && l.registered.as_deref() == Some(&full))
}

/// Keras 2.x / 3.x layer classes.
pub fn describe(l: &RawLayer, keras3: bool) -> DescResult {
    let c = l.class_name.as_str();
    Ok(match c {
        "InputLayer" => Desc::Input,
        "Conv1D" | "Convolution1D" | "Conv2D" | "Convolution2D" => {
            let dims = if c.contains("1D") { 1 } else { 2 };
            let groups = int_at(l, "groups", 0)?.unwrap_or(1);
            let (kh, kw, stride, dilation) = if dims == 1 {
                (
                    1,
                    req_int_at(l, "kernel_size", 0)?,
                    int_at(l, "strides", 0)?.unwrap_or(1),
                    int_at(l, "dilation_rate", 0)?.unwrap_or(1),
                )
            } else {
                (
                    req_int_at(l, "kernel_size", 0)?,
                    req_int_at(l, "kernel_size", 1)?,
                    int_at(l, "strides", 1)?.unwrap_or(1),
                    int_at(l, "dilation_rate", 1)?.unwrap_or(1),
                )
            };
            Desc::Conv {
                dims,
                filters: req_int_at(l, "filters", 0)?,
                kh,
                kw,
                stride,
                dilation,
                padding: padding(l, "padding")?,
                channels_first: channels_first(l)?,
                activation: act(l, "activation", keras3)?,
                use_bias: flag(l, "use_bias", true),
                layout: if dims == 1 {
                    KernelLayout::K2Conv1D
                } else {
                    KernelLayout::K2Conv2D
                },
                groups,
            }
        }
        "MaxPooling1D" | "MaxPool1D" | "MaxPooling2D" | "MaxPool2D" | "AveragePooling1D"
        | "AvgPool1D" | "AveragePooling2D" | "AvgPool2D" => {
            let dims = if c.contains("1D") { 1 } else { 2 };
            let (ph, pw) = if dims == 1 {
                (1, int_at(l, "pool_size", 0)?.unwrap_or(2))
            } else {
                (
                    int_at(l, "pool_size", 0)?.unwrap_or(2),
                    int_at(l, "pool_size", 1)?.unwrap_or(2),
                )
            };
            let stride = int_at(l, "strides", if dims == 1 { 0 } else { 1 })?.unwrap_or(pw);
            Desc::Pool {
                avg: c.starts_with("Av"),
                dims,
                ph,
                pw,
                stride,
                padding: padding(l, "padding")?,
                channels_first: channels_first(l)?,
            }
        }
        "GlobalMaxPooling1D"
        | "GlobalMaxPool1D"
        | "GlobalAveragePooling1D"
        | "GlobalAvgPool1D"
        | "GlobalMaxPooling2D"
        | "GlobalMaxPool2D"
        | "GlobalAveragePooling2D"
        | "GlobalAvgPool2D" => Desc::GlobalPool {
            max: c.contains("Max"),
            dims: if c.contains("1D") { 1 } else { 2 },
            channels_first: channels_first(l)?,
            keepdims: flag(l, "keepdims", false),
        },
        "Flatten" => Desc::Flatten {
            channels_first: channels_first(l)?,
        },
        "Dense" => Desc::Dense {
            units: req_int_at(l, "units", 0)?,
            activation: act(l, "activation", keras3)?,
            use_bias: flag(l, "use_bias", true),
        },
        "Activation" => match activation_name(l, "activation").as_deref() {
            Some("relu6") => Desc::Relu {
                negative_slope: 0.0,
                max_value: Some(6.0),
                threshold: 0.0,
            },
            Some("leaky_relu") => Desc::Relu {
                negative_slope: 0.2,
                max_value: None,
                threshold: 0.0,
            },
            _ => Desc::Act(act(l, "activation", keras3)?),
        },
        "ReLU" => {
            let negative_slope = float(l, "negative_slope").unwrap_or(0.0);
            let max_value = float(l, "max_value");
            let threshold = float(l, "threshold").unwrap_or(0.0);
            if max_value.is_none() && negative_slope == 0.0 && threshold == 0.0 {
                Desc::Act(Activation::Relu)
            } else {
                Desc::Relu {
                    negative_slope,
                    max_value,
                    threshold,
                }
            }
        }
        "LeakyReLU" => Desc::Relu {
            negative_slope: float(l, "negative_slope")
                .or_else(|| float(l, "alpha"))
                .unwrap_or(0.3),
            max_value: None,
            threshold: 0.0,
        },
        "PReLU" => Desc::PRelu,
        "ELU" => {
            let a = float(l, "alpha").unwrap_or(1.0);
            if a != 1.0 {
                return Err(format!(
                    "ELU with alpha {a} is not supported (alpha 1 only)"
                ));
            }
            Desc::Act(Activation::Elu)
        }
        "Softmax" => Desc::Act(Activation::Softmax),
        "Dropout"
        | "SpatialDropout1D"
        | "SpatialDropout2D"
        | "GaussianNoise"
        | "GaussianDropout"
        | "AlphaDropout"
        | "ActivityRegularization" => Desc::Dropout,
        "BatchNormalization" => {
            let axis = match get(l, "axis") {
                None => -1,
                Some(Value::Array(a)) if a.len() == 1 => {
                    a[0].as_i64().ok_or("axis is not an integer")?
                }
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| format!("batch normalization over axis {v} is not supported"))?,
            };
            Desc::BatchNorm {
                axis,
                eps: get(l, "epsilon").and_then(Value::as_f64).unwrap_or(1e-3) as f32,
                center: flag(l, "center", true),
                scale: flag(l, "scale", true),
            }
        }
        _ if crested(l, "MultiheadAttention") => Desc::Mha(super::attention::describe_mha(l)?),
        "MultiHeadAttention" => Desc::KerasMha(super::multi_head_attention::describe_keras_mha(l)?),
        _ if crested(l, "AttentionPool1D") => Desc::AttentionPool {
            pool: super::attention_pool::describe_pool(l)?,
        },
        "SeparableConv1D" | "SeparableConvolution1D" => {
            if channels_first(l)? {
                return Err("channels_first is not supported".into());
            }
            Desc::SeparableConv {
                filters: req_int_at(l, "filters", 0)?,
                kw: req_int_at(l, "kernel_size", 0)?,
                stride: int_at(l, "strides", 0)?.unwrap_or(1),
                dilation: int_at(l, "dilation_rate", 0)?.unwrap_or(1),
                padding: padding(l, "padding")?,
                depth_multiplier: int_at(l, "depth_multiplier", 0)?.unwrap_or(1),
                activation: act(l, "activation", keras3)?,
                use_bias: flag(l, "use_bias", true),
            }
        }
        "Add" | "Subtract" | "Multiply" | "Divide" | "TrueDivide" if l.inputs.len() == 1 => {
            scalar_op(c, &l.call)?
        }
        "Mean" | "Max" | "Sum" => Desc::Reduce {
            max: c == "Max",
            sum: c == "Sum",
            axis: match get(l, "axis") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_i64().ok_or("axis is not an integer"))
                    .collect::<Result<_, _>>()?,
                Some(v) => vec![v.as_i64().ok_or("axis is not an integer")?],
            },
            keepdims: flag(l, "keepdims", false),
        },
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" => {
            Desc::Merge(MergeOp::parse(&c.to_ascii_lowercase()).expect("merge class"))
        }
        "Concatenate" => Desc::Concat {
            axis: get(l, "axis").and_then(Value::as_i64).unwrap_or(-1),
        },
        "Cropping1D" => {
            let (left, right) = pair(l, "cropping", 1)?;
            Desc::Crop {
                left,
                right,
                channels_first: channels_first(l)?,
            }
        }
        "ZeroPadding1D" => {
            let (left, right) = pair(l, "padding", 1)?;
            Desc::ZeroPad {
                left,
                right,
                channels_first: channels_first(l)?,
            }
        }
        "UpSampling1D" => Desc::UpSample {
            size: int_at(l, "size", 0)?.unwrap_or(2),
            channels_first: channels_first(l)?,
        },
        "Reshape" => Desc::Reshape {
            target: int_list(l, "target_shape")?,
        },
        "Permute" => Desc::Permute {
            dims: int_list(l, "dims")?
                .into_iter()
                .map(|d| usize::try_from(d).map_err(|_| format!("Permute dims has {d}")))
                .collect::<Result<_, _>>()?,
        },
        "LSTM" | "GRU" | "CuDNNLSTM" | "CuDNNGRU" => Desc::Recurrent(describe_recurrent(l)?),
        "Bidirectional" => {
            let (merge, forward, backward) = describe_bidirectional(l)?;
            Desc::Bidirectional {
                merge,
                forward,
                backward,
            }
        }
        "TimeDistributed" => {
            // Over a (positions, channels) sequence Keras maps the inner layer
            // over the positions: a Dense is then the Dense on the sequence
            // (a 1×1 convolution), an elementwise layer is itself. The weights
            // are the wrapper's (`weights.rs` finds them in its inner group).
            let inner = super::recurrent::inner(
                get(l, "layer").ok_or("the config has no layer")?,
                "layer",
            )?;
            match describe(&inner, keras3)? {
                d @ (Desc::Dense { .. }
                | Desc::Act(_)
                | Desc::Relu { .. }
                | Desc::Dropout) => d,
                _ => {
                    return Err(format!(
                        "TimeDistributed around a {} layer is not supported (around Dense, Activation, ReLU, LeakyReLU or Dropout)",
                        inner.class_name
                    ))
                }
            }
        }
        "LayerNormalization" => {
            if flag(l, "rms_scaling", false) {
                return Err("rms_scaling=True is not supported".into());
            }
            Desc::LayerNorm {
                axis: match get(l, "axis") {
                    None => vec![-1],
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_i64().ok_or("axis is not an integer"))
                        .collect::<Result<_, _>>()?,
                    Some(v) => vec![v.as_i64().ok_or("axis is not an integer")?],
                },
                eps: get(l, "epsilon").and_then(Value::as_f64).unwrap_or(1e-3) as f32,
                center: flag(l, "center", true),
                scale: flag(l, "scale", true),
            }
        }
        "Lambda" => return Err(LAMBDA.to_string()),
        _ => return Err(UNSUPPORTED.to_string()),
    })
}

/// Keras 3's arithmetic op on one tensor and one number, from the call's
/// positional arguments (`{"args": [tensor, 2.0]}` for `x * 2.0`).
fn scalar_op(class: &str, call: &Value) -> DescResult {
    let args = call
        .get("args")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a {class} of one tensor whose other argument is not recorded"))?;
    let [a, b] = &args[..] else {
        return Err(format!(
            "a {class} of {} arguments; two are read",
            args.len()
        ));
    };
    let (c, tensor_first) = match (a.as_f64(), b.as_f64()) {
        (None, Some(c)) => (c, true),
        (Some(c), None) => (c, false),
        _ => {
            return Err(format!(
                "a {class} of the arguments {a} and {b}; one tensor and one number are read"
            ))
        }
    };
    let c = c as f32;
    let (scale, shift) = match (class, tensor_first) {
        ("Add", _) => (1.0, c),
        ("Subtract", true) => (1.0, -c),
        ("Subtract", false) => (-1.0, c),
        ("Multiply", _) => (c, 0.0),
        (_, true) if c != 0.0 => (1.0 / c, 0.0),
        (_, true) => return Err(format!("a {class} by zero")),
        _ => {
            return Err(format!(
                "a number divided by a tensor ({class}) is not supported"
            ))
        }
    };
    Ok(Desc::Scalar { scale, shift })
}

/// The input shape (without the batch axis) a layer config declares, if any.
pub fn declared_input_shape(l: &RawLayer) -> Option<Vec<Option<usize>>> {
    for key in ["batch_input_shape", "batch_shape"] {
        if let Some(Value::Array(a)) = get(l, key) {
            return Some(
                a.iter()
                    .skip(1)
                    .map(|v| v.as_u64().map(|x| x as usize))
                    .collect(),
            );
        }
    }
    if let Some(Value::Array(a)) = l.config.get("input_shape") {
        return Some(a.iter().map(|v| v.as_u64().map(|x| x as usize)).collect());
    }
    None
}
