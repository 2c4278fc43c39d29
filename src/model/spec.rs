//! A framework-neutral description of a sequential CNN: what every loader
//! (native HDF5, Keras 1/2/3) produces and what the network engine is built from.
//!
//! Conventions every loader must meet so the engine needs no per-framework cases:
//! - Feature maps are K channels × W positions. A flat vector of N values is
//!   K = N channels, W = 1.
//! - Convolutions are cross-correlations (PyTorch / TensorFlow semantics). A
//!   loader for a backend that flips kernels (Theano) flips them on load.
//! - Conv1D kernels are stored `(filters, in_channels, kernel_size)` row-major,
//!   Dense kernels `(units, in_features)` row-major (PyTorch's order).
//! - Flatten says in which order the source framework lays out (K, W) as a vector.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Elu,
    Softplus,
    Softmax,
}

impl Activation {
    pub fn parse(s: &str) -> Option<Activation> {
        Some(match s.to_ascii_lowercase().as_str() {
            "linear" | "none" | "identity" | "" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "elu" => Activation::Elu,
            "softplus" => Activation::Softplus,
            "softmax" => Activation::Softmax,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu => "elu",
            Activation::Softplus => "softplus",
            Activation::Softmax => "softmax",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlattenOrder {
    /// index = k * W + p (PyTorch, Keras channels-first / Theano "th").
    ChannelMajor,
    /// index = p * K + k (Keras channels-last).
    PositionMajor,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    Conv1D {
        filters: usize,
        in_channels: usize,
        kernel_size: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
        activation: Activation,
        /// (filters, in_channels, kernel_size), row-major.
        kernel: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    MaxPool1D {
        pool: usize,
        stride: usize,
        padding: Padding,
    },
    GlobalMaxPool1D,
    GlobalAvgPool1D,
    Flatten {
        order: FlattenOrder,
    },
    Dense {
        units: usize,
        in_features: usize,
        activation: Activation,
        /// (units, in_features), row-major.
        kernel: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    Activation(Activation),
    Dropout,
    BatchNorm {
        gamma: Vec<f32>,
        beta: Vec<f32>,
        mean: Vec<f32>,
        var: Vec<f32>,
        eps: f32,
    },
}

impl LayerKind {
    /// Short name shown by `inspect` and used in the native file's `kind` attribute.
    pub fn kind_name(&self) -> &'static str {
        match self {
            LayerKind::Conv1D { .. } => "conv1d",
            LayerKind::MaxPool1D { .. } => "maxpool1d",
            LayerKind::GlobalMaxPool1D => "global_maxpool1d",
            LayerKind::GlobalAvgPool1D => "global_avgpool1d",
            LayerKind::Flatten { .. } => "flatten",
            LayerKind::Dense { .. } => "dense",
            LayerKind::Activation(_) => "activation",
            LayerKind::Dropout => "dropout",
            LayerKind::BatchNorm { .. } => "batchnorm",
        }
    }

    /// The name of the first weight array holding a NaN or infinity, if any.
    pub fn non_finite_weight(&self) -> Option<&'static str> {
        let bad = |v: &[f32]| v.iter().any(|x| !x.is_finite());
        match self {
            LayerKind::Conv1D { kernel, bias, .. } | LayerKind::Dense { kernel, bias, .. } => {
                if bad(kernel) {
                    Some("kernel")
                } else if bias.as_deref().is_some_and(bad) {
                    Some("bias")
                } else {
                    None
                }
            }
            LayerKind::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                ..
            } => [
                ("gamma", gamma),
                ("beta", beta),
                ("moving mean", mean),
                ("moving variance", var),
            ]
            .into_iter()
            .find(|(_, v)| bad(v))
            .map(|(n, _)| n),
            _ => None,
        }
    }

    pub fn param_count(&self) -> usize {
        match self {
            LayerKind::Conv1D { kernel, bias, .. } | LayerKind::Dense { kernel, bias, .. } => {
                kernel.len() + bias.as_ref().map_or(0, |b| b.len())
            }
            LayerKind::BatchNorm { gamma, .. } => 4 * gamma.len(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// The layer's name in the source framework (Keras layer name, or "layer_<i>").
    pub name: String,
    pub kind: LayerKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Input shape of the model, channels × positions (one-hot DNA: 4 × L).
    pub input_channels: usize,
    pub input_width: usize,
    /// Layers in the order the framework counts them (`model.layers[i]` in Keras).
    pub layers: Vec<LayerSpec>,
    /// Output class names when the file carries them.
    pub class_names: Option<Vec<String>>,
    /// What the file was ("native", "keras 1.2.0 (theano kernels)", ...), for provenance.
    pub source: String,
}

fn out_len(w: usize, window: usize, stride: usize, padding: Padding) -> Option<usize> {
    match padding {
        Padding::Valid => (w >= window).then(|| (w - window) / stride + 1),
        Padding::Same => Some(w.div_ceil(stride)),
    }
}

/// Left padding for "same" (TensorFlow's rule: the extra element goes right).
pub fn same_pad_left(w: usize, window: usize, stride: usize) -> usize {
    let out = w.div_ceil(stride);
    let total = ((out - 1) * stride + window).saturating_sub(w);
    total / 2
}

impl LayerKind {
    /// Output shape (channels, positions) for an input shape, or why it does not fit.
    pub fn output_shape(&self, (k, w): (usize, usize)) -> Result<(usize, usize), String> {
        match self {
            LayerKind::Conv1D {
                filters,
                in_channels,
                kernel_size,
                stride,
                dilation,
                padding,
                kernel,
                bias,
                ..
            } => {
                if *in_channels != k {
                    return Err(format!("expects {in_channels} input channels, gets {k}"));
                }
                if kernel.len() != filters * in_channels * kernel_size {
                    return Err(format!(
                        "kernel has {} values, expected {filters}×{in_channels}×{kernel_size}",
                        kernel.len()
                    ));
                }
                if let Some(b) = bias {
                    if b.len() != *filters {
                        return Err(format!("bias has {} values, expected {filters}", b.len()));
                    }
                }
                if *stride == 0 || *dilation == 0 || *kernel_size == 0 {
                    return Err("stride, dilation and kernel size must be positive".into());
                }
                let span = dilation * (kernel_size - 1) + 1;
                let wo = out_len(w, span, *stride, *padding).ok_or_else(|| {
                    format!("kernel span {span} is wider than the input ({w} positions)")
                })?;
                Ok((*filters, wo))
            }
            LayerKind::MaxPool1D {
                pool,
                stride,
                padding,
            } => {
                if *pool == 0 || *stride == 0 {
                    return Err("pool size and stride must be positive".into());
                }
                let wo = out_len(w, *pool, *stride, *padding).ok_or_else(|| {
                    format!("pool {pool} is wider than the input ({w} positions)")
                })?;
                Ok((k, wo))
            }
            LayerKind::GlobalMaxPool1D | LayerKind::GlobalAvgPool1D => Ok((k, 1)),
            LayerKind::Flatten { .. } => Ok((k * w, 1)),
            LayerKind::Dense {
                units,
                in_features,
                kernel,
                bias,
                ..
            } => {
                if w != 1 {
                    return Err(format!(
                        "a dense layer needs a flat input, gets {k} channels × {w} positions (add a Flatten)"
                    ));
                }
                if *in_features != k {
                    return Err(format!("expects {in_features} inputs, gets {k}"));
                }
                if kernel.len() != units * in_features {
                    return Err(format!(
                        "kernel has {} values, expected {units}×{in_features}",
                        kernel.len()
                    ));
                }
                if let Some(b) = bias {
                    if b.len() != *units {
                        return Err(format!("bias has {} values, expected {units}", b.len()));
                    }
                }
                Ok((*units, 1))
            }
            LayerKind::Activation(_) | LayerKind::Dropout => Ok((k, w)),
            LayerKind::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                ..
            } => {
                for (n, v) in [
                    ("gamma", gamma),
                    ("beta", beta),
                    ("mean", mean),
                    ("variance", var),
                ] {
                    if v.len() != k {
                        return Err(format!(
                            "{n} has {} values, the input has {k} channels",
                            v.len()
                        ));
                    }
                }
                Ok((k, w))
            }
        }
    }
}

impl ModelSpec {
    /// Input shape of every layer plus the model's output shape at the end
    /// (`shapes[i]` is the input of layer i, `shapes[len]` the output).
    pub fn shapes(&self) -> Result<Vec<(usize, usize)>, (usize, String)> {
        let mut s = vec![(self.input_channels, self.input_width)];
        for (i, l) in self.layers.iter().enumerate() {
            let next = l
                .kind
                .output_shape(*s.last().unwrap())
                .map_err(|e| (i, e))?;
            s.push(next);
        }
        Ok(s)
    }

    /// Find a layer by Keras name or 0-based index.
    pub fn find_layer(&self, key: &str) -> Option<usize> {
        if let Some(i) = self.layers.iter().position(|l| l.name == key) {
            return Some(i);
        }
        key.parse::<usize>().ok().filter(|&i| i < self.layers.len())
    }
}
