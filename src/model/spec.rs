//! A framework-neutral description of a CNN as a layer graph: what every
//! loader (native HDF5, Keras 1/2/3) produces and what the network engine is
//! built from. Layers are in topological order and name their input tensors;
//! tensor 0 is the model input and tensor i + 1 the output of layer i, so a
//! chain is the graph where layer i reads tensor i.
//!
//! Conventions every loader must meet so the engine needs no per-framework cases:
//! - Feature maps are K channels × W positions. A flat vector of N values is
//!   K = N channels, W = 1.
//! - Convolutions are cross-correlations (PyTorch / TensorFlow semantics). A
//!   loader for a backend that flips kernels (Theano) flips them on load.
//! - Conv1D kernels are stored `(filters, in_channels, kernel_size)` row-major,
//!   Dense kernels `(units, in_features)` row-major (PyTorch's order).
//! - Flatten says in which order the source framework lays out (K, W) as a vector.
//! - Reshape only relabels the position-major order (index = p * K + k), which
//!   is the order of a channels-last framework; anything that moves values is
//!   a different layer (Flatten) or refused by the loader.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Elu,
    Softplus,
    Softmax,
    /// x·Φ(x), the exact form.
    Gelu,
    /// The tanh approximation (Keras `approximate=True`, PyTorch `approximate="tanh"`).
    GeluTanh,
    /// x·σ(1.702x), Enformer's GELU (CREsted's `gelu_enf`).
    GeluSigmoid,
    /// x·σ(x) (`swish`, `silu`).
    Swish,
    Exponential,
    Selu,
    /// clip(alpha·x + beta, 0, 1): Keras 2 and ONNX use 0.2, 0.5; Keras 3 and PyTorch 1/6, 0.5.
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
}

pub const SELU_ALPHA: f32 = 1.673_263_2;
pub const SELU_SCALE: f32 = 1.050_701;

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
            "gelu" => Activation::Gelu,
            "gelu_tanh" => Activation::GeluTanh,
            "gelu_sigmoid" => Activation::GeluSigmoid,
            "swish" | "silu" => Activation::Swish,
            "exponential" | "exp" => Activation::Exponential,
            "selu" => Activation::Selu,
            "hard_sigmoid" => Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            other => {
                // "hard_sigmoid:ALPHA:BETA", as `name()` writes a non-default one.
                let rest = other.strip_prefix("hard_sigmoid:")?;
                let (a, b) = rest.split_once(':')?;
                Activation::HardSigmoid {
                    alpha: a.parse().ok()?,
                    beta: b.parse().ok()?,
                }
            }
        })
    }
    pub fn name(self) -> String {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu => "elu",
            Activation::Softplus => "softplus",
            Activation::Softmax => "softmax",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::GeluSigmoid => "gelu_sigmoid",
            Activation::Swish => "swish",
            Activation::Exponential => "exponential",
            Activation::Selu => "selu",
            Activation::HardSigmoid { alpha, beta } => {
                return if alpha == 0.2 && beta == 0.5 {
                    "hard_sigmoid".into()
                } else {
                    format!("hard_sigmoid:{alpha}:{beta}")
                }
            }
        }
        .into()
    }

    /// A monotone transform of a model output that S_c leaves out (docs/SPEC.md, method step 1: the
    /// score before the final sigmoid/softmax; softplus and exp heads alike).
    pub fn is_output_transform(self) -> bool {
        matches!(
            self,
            Activation::Linear
                | Activation::Sigmoid
                | Activation::Softmax
                | Activation::Softplus
                | Activation::Exponential
        )
    }
}

/// How several tensors of one shape combine element-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeOp {
    Add,
    /// First minus second (two inputs).
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
    /// First over second (two inputs): ONNX Div of two tensors.
    Divide,
}

/// The relative positional term of [`AttentionSpec`]: logits gain
/// (Q·q_scale + q_bias)·P[column]ᵀ with constant positional keys P per head.
#[derive(Debug, Clone, PartialEq)]
pub struct RelPos {
    pub q_scale: f32,
    /// heads·dk.
    pub q_bias: Vec<f32>,
    /// (heads, m, dk), row-major.
    pub keys: Vec<f32>,
    pub m: usize,
    /// W × W: the column of P for the query–key pair (i, j); −1 adds nothing.
    pub index: Vec<i32>,
    /// W × W: the query whose positional logits the pair (i, j) reads, where
    /// that is not i (borzoi-pytorch's shift at a length other than the 4096
    /// of its table folds rows into each other); none: query i.
    pub rows: Option<Vec<i32>>,
}

/// Multi-head self-attention on projected Q, K (W × heads·dk) and V
/// (W × heads·dv): per head softmax_j((Q·q_scale + q_bias)·Kᵀ·k_scale [+ rel])·V.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionSpec {
    pub heads: usize,
    pub dk: usize,
    pub dv: usize,
    pub q_scale: f32,
    /// heads·dk.
    pub q_bias: Vec<f32>,
    pub k_scale: f32,
    pub rel: Option<RelPos>,
}

impl AttentionSpec {
    fn shape(&self, inputs: &[(usize, usize)]) -> Result<(usize, usize), String> {
        let [(kq, w), (kk, wk), (kv, wv)] = inputs[..] else {
            return Err(format!(
                "an attention layer reads Q, K and V, this one is given {} tensors",
                inputs.len()
            ));
        };
        // Sizes come from files: products saturate rather than wrap.
        let (hk, hv) = (
            self.heads.saturating_mul(self.dk),
            self.heads.saturating_mul(self.dv),
        );
        if self.heads == 0 || self.dk == 0 || self.dv == 0 {
            return Err("an attention layer needs at least one head of at least one value".into());
        }
        let scales = [
            self.q_scale,
            self.k_scale,
            self.rel.as_ref().map_or(1.0, |r| r.q_scale),
        ];
        if scales.iter().any(|s| !s.is_finite()) {
            return Err(format!(
                "the query and key scales {scales:?} are not all finite"
            ));
        }
        if (kq, kk, kv) != (hk, hk, hv) || wk != w || wv != w {
            return Err(format!(
                "Q, K and V of {kq} × {w}, {kk} × {wk} and {kv} × {wv} do not fit {} heads of {} key and {} value channels",
                self.heads, self.dk, self.dv
            ));
        }
        if self.q_bias.len() != hk {
            return Err(format!(
                "the query bias has {} values, expected {hk}",
                self.q_bias.len()
            ));
        }
        if let Some(r) = &self.rel {
            if r.q_bias.len() != hk || r.keys.len() != hk.saturating_mul(r.m) {
                return Err("the positional bias or keys do not fit the heads".into());
            }
            if r.index.len() != w.saturating_mul(w)
                || r.index.iter().any(|&c| c < -1 || c as i64 >= r.m as i64)
            {
                return Err(format!(
                    "the positional index is not {w} × {w} columns below {}",
                    r.m
                ));
            }
            if let Some(rows) = &r.rows {
                if rows.len() != w.saturating_mul(w)
                    || rows.iter().any(|&q| q < 0 || q as i64 >= w as i64)
                {
                    return Err(format!(
                        "the positional rows are not {w} × {w} queries below {w}"
                    ));
                }
            }
        }
        Ok((hv, w))
    }

    fn weights(&self) -> Vec<(&'static str, &[f32])> {
        let mut v = vec![("query bias", &self.q_bias[..])];
        if let Some(r) = &self.rel {
            v.push(("positional query bias", &r.q_bias[..]));
            v.push(("positional keys", &r.keys[..]));
        }
        v
    }
}

/// The element-wise functions of [`LayerKind::Pointwise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pointwise {
    Log,
    Sqrt,
    Abs,
    Reciprocal,
    /// x^p for a constant p.
    Pow(f32),
    /// min(max(x, min), max); a missing bound is no bound.
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
}

impl Pointwise {
    /// The native file's `op` attribute: `log`, `sqrt`, `abs`, `reciprocal`,
    /// `pow:P`, `clip:MIN:MAX` (an empty bound is none).
    pub fn name(self) -> String {
        let b = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
        match self {
            Pointwise::Log => "log".into(),
            Pointwise::Sqrt => "sqrt".into(),
            Pointwise::Abs => "abs".into(),
            Pointwise::Reciprocal => "reciprocal".into(),
            Pointwise::Pow(p) => format!("pow:{p}"),
            Pointwise::Clip { min, max } => format!("clip:{}:{}", b(min), b(max)),
        }
    }

    pub fn parse(s: &str) -> Option<Pointwise> {
        let num = |v: &str| v.parse::<f32>().ok().filter(|v| v.is_finite());
        let bound = |v: &str| {
            if v.is_empty() {
                Some(None)
            } else {
                num(v).map(Some)
            }
        };
        let parts: Vec<&str> = s.split(':').collect();
        Some(match parts[..] {
            ["log"] => Pointwise::Log,
            ["sqrt"] => Pointwise::Sqrt,
            ["abs"] => Pointwise::Abs,
            ["reciprocal"] => Pointwise::Reciprocal,
            ["pow", p] => Pointwise::Pow(num(p)?),
            ["clip", lo, hi] => Pointwise::Clip {
                min: bound(lo)?,
                max: bound(hi)?,
            },
            _ => return None,
        })
    }
}

impl MergeOp {
    pub fn name(self) -> &'static str {
        match self {
            MergeOp::Add => "add",
            MergeOp::Subtract => "subtract",
            MergeOp::Multiply => "multiply",
            MergeOp::Average => "average",
            MergeOp::Maximum => "maximum",
            MergeOp::Minimum => "minimum",
            MergeOp::Divide => "divide",
        }
    }
    pub fn parse(s: &str) -> Option<MergeOp> {
        Some(match s {
            "add" => MergeOp::Add,
            "subtract" => MergeOp::Subtract,
            "multiply" => MergeOp::Multiply,
            "average" => MergeOp::Average,
            "maximum" => MergeOp::Maximum,
            "minimum" => MergeOp::Minimum,
            "divide" => MergeOp::Divide,
            _ => return None,
        })
    }
}

/// How a bidirectional layer joins its two directions (Keras `merge_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiMerge {
    /// Channels: the forward direction's units, then the backward's.
    Concat,
    Sum,
    Average,
    Multiply,
}

impl BiMerge {
    pub fn name(self) -> &'static str {
        match self {
            BiMerge::Concat => "concat",
            BiMerge::Sum => "sum",
            BiMerge::Average => "ave",
            BiMerge::Multiply => "mul",
        }
    }
    pub fn parse(s: &str) -> Option<BiMerge> {
        Some(match s {
            "concat" => BiMerge::Concat,
            "sum" => BiMerge::Sum,
            "ave" => BiMerge::Average,
            "mul" => BiMerge::Multiply,
            _ => return None,
        })
    }
}

/// The axis a concatenation joins along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcatAxis {
    Channels,
    Positions,
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
    /// Element-wise combination of two or more tensors of one shape.
    Merge(MergeOp),
    Concatenate {
        axis: ConcatAxis,
    },
    /// Drop `left` positions at the start and `right` at the end.
    Crop {
        left: usize,
        right: usize,
    },
    /// Add `left` and `right` zero positions.
    ZeroPad {
        left: usize,
        right: usize,
    },
    /// Repeat every position `size` times.
    UpSample {
        size: usize,
    },
    /// Mean over each window; "same" windows count only the positions inside
    /// the input (TensorFlow's and ONNX's default).
    AvgPool1D {
        pool: usize,
        stride: usize,
        padding: Padding,
    },
    /// Keras ReLU / LeakyReLU layers: x for threshold ≤ x < max_value,
    /// max_value above, negative_slope·(x − threshold) below the threshold.
    Relu {
        negative_slope: f32,
        max_value: Option<f32>,
        threshold: f32,
    },
    /// max(x, 0) + alpha·min(x, 0), alpha per channel (K values) or per
    /// position and channel (W·K values, position-major).
    PRelu {
        alpha: Vec<f32>,
    },
    /// y = x·scale + shift, the vectors repeating over the position-major map:
    /// one value (a scalar), one per channel, or one per position and channel.
    /// What a framework's arithmetic with constants becomes (ONNX Mul, Add, Div, Sub).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// Element-wise math on one tensor (ONNX Log, Sqrt, Abs, Pow with a
    /// constant exponent, Clip with any bounds, Reciprocal).
    Pointwise(Pointwise),
    /// The same values as `channels` × `width` (position-major order kept).
    Reshape {
        channels: usize,
        width: usize,
    },
    /// An LSTM over positions (time steps) with features on channels; tanh
    /// cell and output, sigmoid gates. Gates in the order i, f, g, o (Keras's
    /// and PyTorch's; ONNX's i, o, f, c is reordered on load).
    Lstm {
        units: usize,
        in_channels: usize,
        /// Run from the last position to the first; outputs stay at their positions.
        reverse: bool,
        /// Every step's output (units × W), or the last step's alone (units × 1).
        return_sequences: bool,
        /// (4·units, in_channels), row-major.
        kernel: Vec<f32>,
        /// (4·units, units), row-major.
        recurrent: Vec<f32>,
        /// 4·units: the input and recurrent biases summed.
        bias: Vec<f32>,
    },
    /// A GRU over positions; gates in the order z, r, h (Keras's and ONNX's;
    /// PyTorch's r, z, n is reordered by its ONNX export). h = (1 − z)·ĥ + z·h₋₁.
    Gru {
        units: usize,
        in_channels: usize,
        reverse: bool,
        return_sequences: bool,
        /// ĥ = tanh(W x + b + r·(R h₋₁ + b_R)) (Keras `reset_after`, ONNX
        /// `linear_before_reset` 1, PyTorch) rather than tanh(W x + b + R (r·h₋₁) + b_R).
        reset_after: bool,
        /// (3·units, in_channels), row-major.
        kernel: Vec<f32>,
        /// (3·units, units), row-major.
        recurrent: Vec<f32>,
        /// 3·units each.
        bias: Vec<f32>,
        recurrent_bias: Vec<f32>,
    },
    /// A recurrent layer run in both directions over one input (Keras
    /// `Bidirectional`, ONNX `direction="bidirectional"`): `forward` and
    /// `backward` are `Lstm` or `Gru` layers of one configuration, the second
    /// with `reverse`; their outputs are joined by `merge`.
    Bidirectional {
        merge: BiMerge,
        forward: Box<LayerKind>,
        backward: Box<LayerKind>,
    },
    /// Normalisation over the channels of each position: (x − mean)/√(var + eps)·gamma + beta.
    LayerNorm {
        gamma: Vec<f32>,
        beta: Vec<f32>,
        eps: f32,
    },
    /// Multi-head self-attention of three tensors (Q, K, V); see [`AttentionSpec`].
    Attention(AttentionSpec),
    /// Softmax over windows of `size` consecutive positions, per channel
    /// (the weights of Enformer's attention pooling).
    WindowSoftmax {
        size: usize,
    },
    /// A linear map over positions, the same for every channel: y[j, c] =
    /// Σ_l matrix[l, j]·x[l, c]. Sei's B-spline transformation
    /// (`torch.matmul(x, B)` of an (N, C, W) map by a constant (W, K)).
    PositionMix {
        /// Output positions K.
        to: usize,
        /// (W, K), row-major.
        matrix: Vec<f32>,
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
            LayerKind::Merge(_) => "merge",
            LayerKind::Concatenate { .. } => "concatenate",
            LayerKind::Crop { .. } => "crop1d",
            LayerKind::ZeroPad { .. } => "zeropad1d",
            LayerKind::UpSample { .. } => "upsample1d",
            LayerKind::AvgPool1D { .. } => "avgpool1d",
            LayerKind::Relu { .. } => "relu",
            LayerKind::PRelu { .. } => "prelu",
            LayerKind::Reshape { .. } => "reshape",
            LayerKind::Affine { .. } => "affine",
            LayerKind::Lstm { .. } => "lstm",
            LayerKind::Gru { .. } => "gru",
            LayerKind::LayerNorm { .. } => "layernorm",
            LayerKind::Bidirectional { .. } => "bidirectional",
            LayerKind::Pointwise(_) => "pointwise",
            LayerKind::Attention(_) => "attention",
            LayerKind::WindowSoftmax { .. } => "window_softmax",
            LayerKind::PositionMix { .. } => "position_mix",
        }
    }

    /// Layers that combine several tensors; every other kind reads one.
    pub fn is_merge(&self) -> bool {
        matches!(
            self,
            LayerKind::Merge(_) | LayerKind::Concatenate { .. } | LayerKind::Attention(_)
        )
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
            LayerKind::PRelu { alpha } => bad(alpha).then_some("alpha"),
            LayerKind::Lstm {
                kernel,
                recurrent,
                bias,
                ..
            } => [
                ("kernel", kernel),
                ("recurrent kernel", recurrent),
                ("bias", bias),
            ]
            .into_iter()
            .find(|(_, v)| bad(v))
            .map(|(n, _)| n),
            LayerKind::Gru {
                kernel,
                recurrent,
                bias,
                recurrent_bias,
                ..
            } => [
                ("kernel", kernel),
                ("recurrent kernel", recurrent),
                ("bias", bias),
                ("recurrent bias", recurrent_bias),
            ]
            .into_iter()
            .find(|(_, v)| bad(v))
            .map(|(n, _)| n),
            LayerKind::LayerNorm { gamma, beta, .. } => [("gamma", gamma), ("beta", beta)]
                .into_iter()
                .find(|(_, v)| bad(v))
                .map(|(n, _)| n),
            LayerKind::Bidirectional {
                forward, backward, ..
            } => forward
                .non_finite_weight()
                .or_else(|| backward.non_finite_weight()),
            LayerKind::Attention(a) => a
                .weights()
                .into_iter()
                .find(|(_, v)| bad(v))
                .map(|(n, _)| n),
            LayerKind::PositionMix { matrix, .. } => bad(matrix).then_some("matrix"),
            LayerKind::Affine { scale, shift } => {
                if bad(scale) {
                    Some("scale")
                } else if bad(shift) {
                    Some("shift")
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    pub fn param_count(&self) -> usize {
        match self {
            LayerKind::Conv1D { kernel, bias, .. } | LayerKind::Dense { kernel, bias, .. } => {
                kernel.len() + bias.as_ref().map_or(0, |b| b.len())
            }
            LayerKind::BatchNorm { gamma, .. } => 4 * gamma.len(),
            LayerKind::PRelu { alpha } => alpha.len(),
            LayerKind::Affine { scale, shift } => scale.len() + shift.len(),
            LayerKind::Lstm {
                kernel,
                recurrent,
                bias,
                ..
            } => kernel.len() + recurrent.len() + bias.len(),
            LayerKind::Gru {
                kernel,
                recurrent,
                bias,
                recurrent_bias,
                ..
            } => kernel.len() + recurrent.len() + bias.len() + recurrent_bias.len(),
            LayerKind::LayerNorm { gamma, beta, .. } => gamma.len() + beta.len(),
            LayerKind::PositionMix { matrix, .. } => matrix.len(),
            LayerKind::Attention(a) => a.weights().iter().map(|(_, v)| v.len()).sum(),
            LayerKind::Bidirectional {
                forward, backward, ..
            } => forward.param_count() + backward.param_count(),
            _ => 0,
        }
    }
}

/// A tensor of the graph: 0 is the model input, i + 1 the output of layer i.
pub type TensorId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// The layer's name in the source framework (Keras layer name, or "layer_<i>").
    pub name: String,
    pub kind: LayerKind,
    /// The tensors it reads, in order; each comes before the layer.
    pub inputs: Vec<TensorId>,
}

impl LayerSpec {
    pub fn new(name: impl Into<String>, kind: LayerKind, inputs: Vec<TensorId>) -> LayerSpec {
        LayerSpec {
            name: name.into(),
            kind,
            inputs,
        }
    }

    /// Layer `i` of a chain: it reads the output of layer i − 1 (the model input for i = 0).
    pub fn chained(name: impl Into<String>, kind: LayerKind, i: usize) -> LayerSpec {
        LayerSpec {
            name: name.into(),
            kind,
            inputs: vec![i],
        }
    }
}

/// A model output ("head"): the tensor and the name the framework gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub name: String,
    pub tensor: TensorId,
}

/// A head of the file that cannot be scored, and why (node, op, way out).
#[derive(Debug, Clone, PartialEq)]
pub struct UnscorableOutput {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Input shape of the model, channels × positions (one-hot DNA: 4 × L).
    pub input_channels: usize,
    pub input_width: usize,
    /// Layers in the order the framework counts them (`model.layers[i]` in Keras),
    /// which must be a topological order.
    pub layers: Vec<LayerSpec>,
    /// The model's outputs; empty means the last layer's output alone.
    pub outputs: Vec<OutputSpec>,
    /// Outputs of the file that cannot be scored (an op on their path is not
    /// supported), with why; the other outputs load without them.
    pub unscorable: Vec<UnscorableOutput>,
    /// Further names of tensors (ONNX value names), which `--layer` also takes:
    /// H is then that tensor itself.
    pub tensor_names: Vec<(String, TensorId)>,
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

/// Shape checks shared by the recurrent layers: `gates` blocks of `units` rows.
fn recurrent_shape(
    gates: usize,
    units: usize,
    in_channels: usize,
    (k, w): (usize, usize),
    return_sequences: bool,
    mats: &[(&str, &Vec<f32>, usize)],
    vecs: &[(&str, &Vec<f32>)],
) -> Result<(usize, usize), String> {
    if units == 0 {
        return Err("a recurrent layer needs at least one unit".into());
    }
    if in_channels != k {
        return Err(format!("expects {in_channels} input channels, gets {k}"));
    }
    for (n, v, cols) in mats {
        if v.len() != gates * units * cols {
            return Err(format!(
                "{n} has {} values, expected {}×{cols}",
                v.len(),
                gates * units
            ));
        }
    }
    for (n, v) in vecs {
        if v.len() != gates * units {
            return Err(format!(
                "{n} has {} values, expected {}",
                v.len(),
                gates * units
            ));
        }
    }
    Ok((units, if return_sequences { w } else { 1 }))
}

/// Left padding for "same" (TensorFlow's rule: the extra element goes right).
pub fn same_pad_left(w: usize, window: usize, stride: usize) -> usize {
    let out = w.div_ceil(stride);
    let total = ((out - 1) * stride + window).saturating_sub(w);
    total / 2
}

impl LayerKind {
    /// Output shape (channels, positions) for the shapes of its inputs, or why they do not fit.
    pub fn output_shape(&self, inputs: &[(usize, usize)]) -> Result<(usize, usize), String> {
        if let LayerKind::Attention(a) = self {
            return a.shape(inputs);
        }
        if self.is_merge() {
            return self.merge_shape(inputs);
        }
        let [(k, w)] = inputs[..] else {
            return Err(format!(
                "a {} layer reads one tensor, this one is given {}",
                self.kind_name(),
                inputs.len()
            ));
        };
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
            LayerKind::Activation(_) | LayerKind::Dropout | LayerKind::Pointwise(_) => Ok((k, w)),
            LayerKind::PositionMix { to, matrix } => {
                if *to == 0 || matrix.len() != w * to {
                    return Err(format!(
                        "the position matrix has {} values; expected {w} input positions × {to} outputs",
                        matrix.len()
                    ));
                }
                Ok((k, *to))
            }
            LayerKind::WindowSoftmax { size } => {
                if *size == 0 || w % size != 0 {
                    return Err(format!("{w} positions do not split into windows of {size}"));
                }
                Ok((k, w))
            }
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
            LayerKind::Merge(_) | LayerKind::Concatenate { .. } | LayerKind::Attention(_) => {
                unreachable!()
            }
            LayerKind::Crop { left, right } => {
                if left + right >= w {
                    return Err(format!(
                        "cropping {left} + {right} positions leaves nothing of {w}"
                    ));
                }
                Ok((k, w - left - right))
            }
            LayerKind::ZeroPad { left, right } => Ok((k, w + left + right)),
            LayerKind::UpSample { size } => {
                if *size == 0 {
                    return Err("the upsampling size must be positive".into());
                }
                Ok((k, w * size))
            }
            LayerKind::AvgPool1D {
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
            LayerKind::Relu { max_value, .. } => {
                if max_value.is_some_and(|m| !(m >= 0.0)) {
                    return Err(format!("max_value {max_value:?} must be non-negative"));
                }
                Ok((k, w))
            }
            LayerKind::PRelu { alpha } => {
                if alpha.len() != k && alpha.len() != k * w {
                    return Err(format!(
                        "alpha has {} values; expected one per channel ({k}) or per position and channel ({})",
                        alpha.len(),
                        k * w
                    ));
                }
                Ok((k, w))
            }
            LayerKind::Affine { scale, shift } => {
                for (n, v) in [("scale", scale), ("shift", shift)] {
                    if ![1, k, k * w].contains(&v.len()) {
                        return Err(format!(
                            "{n} has {} values; expected 1, one per channel ({k}) or one per position and channel ({})",
                            v.len(),
                            k * w
                        ));
                    }
                }
                Ok((k, w))
            }
            LayerKind::Reshape { channels, width } => {
                if channels * width != k * w {
                    return Err(format!(
                        "cannot reshape {k} channels × {w} positions to {channels} × {width}"
                    ));
                }
                Ok((*channels, *width))
            }
            LayerKind::Lstm {
                units,
                in_channels,
                return_sequences,
                kernel,
                recurrent,
                bias,
                ..
            } => recurrent_shape(
                4,
                *units,
                *in_channels,
                (k, w),
                *return_sequences,
                &[
                    ("kernel", kernel, k),
                    ("recurrent kernel", recurrent, *units),
                ],
                &[("bias", bias)],
            ),
            LayerKind::Gru {
                units,
                in_channels,
                return_sequences,
                kernel,
                recurrent,
                bias,
                recurrent_bias,
                ..
            } => recurrent_shape(
                3,
                *units,
                *in_channels,
                (k, w),
                *return_sequences,
                &[
                    ("kernel", kernel, k),
                    ("recurrent kernel", recurrent, *units),
                ],
                &[("bias", bias), ("recurrent bias", recurrent_bias)],
            ),
            LayerKind::Bidirectional {
                merge,
                forward,
                backward,
            } => {
                let config = |l: &LayerKind| match l {
                    LayerKind::Lstm {
                        units,
                        reverse,
                        return_sequences,
                        ..
                    } => Some((0, *units, *reverse, *return_sequences, false)),
                    LayerKind::Gru {
                        units,
                        reverse,
                        return_sequences,
                        reset_after,
                        ..
                    } => Some((1, *units, *reverse, *return_sequences, *reset_after)),
                    _ => None,
                };
                match (config(forward), config(backward)) {
                    (Some((cf, uf, false, sf, rf)), Some((cb, ub, true, sb, rb)))
                        if (cf, uf, sf, rf) == (cb, ub, sb, rb) => {}
                    _ => {
                        return Err(
                            "a bidirectional layer needs a forward and a reverse LSTM or GRU of one configuration"
                                .into(),
                        )
                    }
                }
                let (u, wo) = forward.output_shape(&[(k, w)])?;
                backward.output_shape(&[(k, w)])?;
                Ok((if *merge == BiMerge::Concat { 2 * u } else { u }, wo))
            }
            LayerKind::LayerNorm { gamma, beta, .. } => {
                for (n, v) in [("gamma", gamma), ("beta", beta)] {
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

    fn merge_shape(&self, inputs: &[(usize, usize)]) -> Result<(usize, usize), String> {
        let want = match self {
            LayerKind::Merge(MergeOp::Subtract | MergeOp::Divide) => "2",
            _ => "2 or more",
        };
        if inputs.len() < 2 || (want == "2" && inputs.len() != 2) {
            return Err(format!(
                "a {} layer merges {want} tensors, this one is given {}",
                self.kind_name(),
                inputs.len()
            ));
        }
        let (k0, w0) = inputs[0];
        let show = || {
            inputs
                .iter()
                .map(|(k, w)| format!("{k} × {w}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            LayerKind::Merge(_) => {
                if inputs.iter().any(|&s| s != (k0, w0)) {
                    return Err(format!(
                        "merges tensors of different shapes ({}, channels × positions)",
                        show()
                    ));
                }
                Ok((k0, w0))
            }
            LayerKind::Concatenate {
                axis: ConcatAxis::Channels,
            } => {
                if inputs.iter().any(|&(_, w)| w != w0) {
                    return Err(format!(
                        "joins channels of tensors with different lengths ({})",
                        show()
                    ));
                }
                Ok((inputs.iter().map(|s| s.0).sum(), w0))
            }
            LayerKind::Concatenate {
                axis: ConcatAxis::Positions,
            } => {
                if inputs.iter().any(|&(k, _)| k != k0) {
                    return Err(format!(
                        "joins positions of tensors with different channel counts ({})",
                        show()
                    ));
                }
                Ok((k0, inputs.iter().map(|s| s.1).sum()))
            }
            _ => unreachable!(),
        }
    }
}

impl ModelSpec {
    /// The shape of every tensor: `shapes[0]` is the model input, `shapes[i + 1]`
    /// the output of layer i (for a chain, `shapes[i]` is the input of layer i
    /// and `shapes[len]` the output). Also checks that every layer reads only
    /// tensors before it and that the outputs exist.
    pub fn shapes(&self) -> Result<Vec<(usize, usize)>, (usize, String)> {
        let mut s = vec![(self.input_channels, self.input_width)];
        for (i, l) in self.layers.iter().enumerate() {
            if l.inputs.is_empty() {
                return Err((i, "the layer reads no tensor".into()));
            }
            if let Some(&t) = l.inputs.iter().find(|&&t| t > i) {
                return Err((
                    i,
                    format!(
                        "reads tensor {t}, which is not computed before it (layers must be in topological order)"
                    ),
                ));
            }
            let ins: Vec<(usize, usize)> = l.inputs.iter().map(|&t| s[t]).collect();
            let next = l.kind.output_shape(&ins).map_err(|e| (i, e))?;
            s.push(next);
        }
        if let Some(o) = self.outputs.iter().find(|o| o.tensor > self.layers.len()) {
            return Err((
                self.layers.len().saturating_sub(1),
                format!(
                    "output {} names tensor {}, which does not exist",
                    o.name, o.tensor
                ),
            ));
        }
        Ok(s)
    }

    /// The model's outputs, with the chain default (the last layer) filled in.
    pub fn output_list(&self) -> Vec<OutputSpec> {
        if !self.outputs.is_empty() {
            return self.outputs.clone();
        }
        match self.layers.last() {
            Some(l) => vec![OutputSpec {
                name: l.name.clone(),
                tensor: self.layers.len(),
            }],
            None => vec![OutputSpec {
                name: "input".into(),
                tensor: 0,
            }],
        }
    }

    /// The name of a tensor: the layer that makes it, or "input".
    pub fn tensor_name(&self, t: TensorId) -> &str {
        if t == 0 {
            "input"
        } else {
            &self.layers[t - 1].name
        }
    }

    /// Find a layer by Keras name or 0-based index.
    pub fn find_layer(&self, key: &str) -> Option<usize> {
        if let Some(i) = self.layers.iter().position(|l| l.name == key) {
            return Some(i);
        }
        key.parse::<usize>().ok().filter(|&i| i < self.layers.len())
    }
}
