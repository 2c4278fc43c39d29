//! Keras 1.x layer configs (`nb_filter`, `border_mode`, `dim_ordering`, ...).
//!
//! Keras 1 stores Convolution2D kernels as (nb_filter, stack, nb_row, nb_col) under
//! "th" ordering and (nb_row, nb_col, stack, nb_filter) under "tf"; Convolution1D as
//! (filter_length, 1, input_dim, nb_filter); Dense W as (input_dim, output_dim).
//! The Theano backend computes true convolutions, so its kernels are flipped on
//! load (done by the caller). BatchNormalization's `running_std` holds the variance.
use super::config::RawLayer;
use super::layers::{
    activation, flag, get, int_at, req_int_at, string, Desc, DescResult, KernelLayout, UNSUPPORTED,
};
use crate::model::Padding;
use serde_json::Value;

fn border_mode(l: &RawLayer) -> Result<Padding, String> {
    match string(l, "border_mode").as_deref().unwrap_or("valid") {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        o => Err(format!(
            "border_mode {o:?} is not supported (valid or same)"
        )),
    }
}

/// "th" → channels first. Layers without dim_ordering are channels last.
pub fn channels_first(l: &RawLayer) -> Result<bool, String> {
    match string(l, "dim_ordering").as_deref() {
        None | Some("tf") => Ok(false),
        Some("th") => Ok(true),
        Some(o) => Err(format!("dim_ordering {o:?} is not understood (th or tf)")),
    }
}

pub fn describe(l: &RawLayer) -> DescResult {
    let c = l.class_name.as_str();
    Ok(match c {
        "InputLayer" => Desc::Input,
        "Convolution1D" | "AtrousConvolution1D" => Desc::Conv {
            dims: 1,
            filters: req_int_at(l, "nb_filter", 0)?,
            kh: 1,
            kw: req_int_at(l, "filter_length", 0)?,
            stride: int_at(l, "subsample_length", 0)?.unwrap_or(1),
            dilation: int_at(l, "atrous_rate", 0)?.unwrap_or(1),
            padding: border_mode(l)?,
            channels_first: false,
            activation: activation(l, "activation")?,
            use_bias: flag(l, "bias", true),
            layout: KernelLayout::V1Conv1D,
            groups: 1,
        },
        "Convolution2D" => {
            let cf = channels_first(l)?;
            Desc::Conv {
                dims: 2,
                filters: req_int_at(l, "nb_filter", 0)?,
                kh: req_int_at(l, "nb_row", 0)?,
                kw: req_int_at(l, "nb_col", 0)?,
                stride: int_at(l, "subsample", 1)?.unwrap_or(1),
                dilation: 1,
                padding: border_mode(l)?,
                channels_first: cf,
                activation: activation(l, "activation")?,
                use_bias: flag(l, "bias", true),
                layout: if cf {
                    KernelLayout::V1Th
                } else {
                    KernelLayout::V1Tf
                },
                groups: 1,
            }
        }
        "MaxPooling1D" | "AveragePooling1D" => {
            let pw = int_at(l, "pool_length", 0)?.unwrap_or(2);
            Desc::Pool {
                avg: c.starts_with("Av"),
                dims: 1,
                ph: 1,
                pw,
                stride: int_at(l, "stride", 0)?.unwrap_or(pw),
                padding: border_mode(l)?,
                channels_first: false,
            }
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            let ph = int_at(l, "pool_size", 0)?.unwrap_or(2);
            let pw = int_at(l, "pool_size", 1)?.unwrap_or(2);
            Desc::Pool {
                avg: c.starts_with("Av"),
                dims: 2,
                ph,
                pw,
                stride: int_at(l, "strides", 1)?.unwrap_or(pw),
                padding: border_mode(l)?,
                channels_first: channels_first(l)?,
            }
        }
        "GlobalMaxPooling1D" | "GlobalAveragePooling1D" => Desc::GlobalPool {
            max: c.contains("Max"),
            dims: 1,
            channels_first: false,
            keepdims: false,
        },
        "GlobalMaxPooling2D" | "GlobalAveragePooling2D" => Desc::GlobalPool {
            max: c.contains("Max"),
            dims: 2,
            channels_first: channels_first(l)?,
            keepdims: false,
        },
        // Keras 1 Flatten is a plain reshape of the tensor as laid out.
        "Flatten" => Desc::Flatten {
            channels_first: false,
        },
        "Dense" => Desc::Dense {
            units: req_int_at(l, "output_dim", 0)?,
            activation: activation(l, "activation")?,
            use_bias: flag(l, "bias", true),
        },
        "Activation" => Desc::Act(activation(l, "activation")?),
        "Dropout" | "SpatialDropout1D" | "GaussianNoise" | "GaussianDropout" => Desc::Dropout,
        "LeakyReLU" => Desc::Relu {
            negative_slope: get(l, "alpha").and_then(Value::as_f64).unwrap_or(0.3) as f32,
            max_value: None,
            threshold: 0.0,
        },
        "Lambda" => return Err(super::layers::LAMBDA.to_string()),
        "BatchNormalization" => {
            let mode = get(l, "mode").and_then(Value::as_i64).unwrap_or(0);
            if mode != 0 {
                return Err(format!(
                    "BatchNormalization mode {mode} is not supported (mode 0 only)"
                ));
            }
            Desc::BatchNorm {
                axis: get(l, "axis").and_then(Value::as_i64).unwrap_or(-1),
                eps: get(l, "epsilon").and_then(Value::as_f64).unwrap_or(1e-3) as f32,
                center: true,
                scale: true,
            }
        }
        _ => return Err(UNSUPPORTED.to_string()),
    })
}
