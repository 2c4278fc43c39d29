//! The network engine: batched forward passes over a layer graph, and the
//! backward pass of one class score per item to a chosen tensor H.
//!
//! Feature maps inside the engine are position-major (W × K per item); use
//! [`layout`] to convert from and to the channel-major maps users see.
//!
//! Adding an operation: a file here with its config struct and its
//! forward/backward, a [`Layer`] variant, and its arms in [`Layer::from_spec`],
//! [`Layer::forward`] and [`Layer::backward`] (the one dispatch).
mod activation;
mod affine;
mod attention;
mod avg_pool;
mod bidirectional;
mod concat;
mod conv1d;
pub mod conv1d_spectral;
mod crop_pad;
mod dense;
mod exp;
mod fused_tail;
pub mod gemm;
mod gru;
mod layer_norm;
pub mod layout;
mod lstm;
mod merge;
pub mod needed;
pub mod plan;
mod pointwise;
mod pool;
mod position_mix;
mod rectifier;
mod recurrent_math;
mod residual_block;
pub mod residual_find;
mod scorer;
pub mod simd;
mod skinny;
mod slot_maps;
mod timing;
mod upsample;
mod weight_buf;
mod window_softmax;
mod wino_gemm;
pub mod winograd_tile;

pub(crate) use conv1d::depthwise_taps;
pub use conv1d_spectral::ConvMode;
pub use plan::{Head, Plan, Reduce};
pub use scorer::Scorer;
pub use timing::{LayerTime, StepTimes};

use crate::model::{Activation, FlattenOrder, LayerKind, ModelSpec, OutputSpec};
use crate::{Error, Result};

/// One engine operation. Every variant is a small config struct (or a few
/// fields) with its forward and backward in its own file.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    Conv(conv1d::Conv1d),
    MaxPool(pool::MaxPool),
    GlobalAvg {
        k: usize,
        w: usize,
    },
    /// Channel-major flatten permutes; position-major is the engine's own layout.
    Flatten {
        k: usize,
        w: usize,
        order: FlattenOrder,
    },
    Dense(dense::Dense),
    Act {
        act: Activation,
        /// Values per row, for softmax (across channels).
        channels: usize,
    },
    /// Inference-mode dropout, and any other layer that passes values through
    /// unchanged (a Reshape relabels shape only).
    Dropout,
    /// Inference-mode batch normalisation, and arithmetic with constants:
    /// y = x·scale + shift with each vector repeating over the position-major
    /// map (so 1 value is a scalar, K values one per channel).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    Merge(merge::Merge),
    Concat(concat::Concat),
    Window(crop_pad::Window),
    UpSample(upsample::UpSample),
    AvgPool(avg_pool::AvgPool),
    Relu(rectifier::Relu),
    PRelu(rectifier::PRelu),
    Lstm(lstm::Lstm),
    Gru(gru::Gru),
    LayerNorm(layer_norm::LayerNorm),
    Bidirectional(bidirectional::Bidirectional),
    Pointwise(crate::model::Pointwise),
    Attention(attention::Attention),
    WindowSoftmax(window_softmax::WindowSoftmax),
    PositionMix(position_mix::PositionMix),
}

/// Scratch shared by the layers of one pass (im2col columns, pre-activation
/// gradients, inputs packed for the small-batch kernels).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub cols: Vec<f32>,
    pub dz: Vec<f32>,
    pub pack: Vec<f32>,
}

/// What one layer's forward pass keeps for its backward pass: a max pool's
/// argmax, an attention layer's maps (when they fit its budget).
#[derive(Debug, Default, Clone)]
pub(crate) struct Kept {
    pub arg: Vec<u32>,
    pub maps: Vec<f32>,
}

impl Layer {
    /// The engine layer for a spec layer with input shapes `ins` and output shape `(ko, wo)`.
    fn from_spec(kind: LayerKind, ins: &[(usize, usize)], (ko, wo): (usize, usize)) -> Layer {
        let (k, w) = ins[0];
        match kind {
            LayerKind::Conv1D {
                filters,
                kernel_size,
                stride,
                dilation,
                padding,
                activation,
                kernel,
                bias,
                ..
            } => Layer::Conv(conv1d::Conv1d::new(
                k,
                w,
                wo,
                filters,
                kernel_size,
                stride,
                dilation,
                padding,
                activation,
                &kernel,
                bias.as_deref(),
            )),
            LayerKind::MaxPool1D {
                pool,
                stride,
                padding,
            } => Layer::MaxPool(pool::MaxPool::new(k, w, wo, pool, stride, padding)),
            LayerKind::GlobalMaxPool1D => Layer::MaxPool(pool::MaxPool::global(k, w)),
            LayerKind::GlobalAvgPool1D => Layer::GlobalAvg { k, w },
            LayerKind::Flatten { order } => Layer::Flatten { k, w, order },
            LayerKind::Dense {
                units,
                activation,
                kernel,
                bias,
                ..
            } => Layer::Dense(dense::Dense::new(k, units, activation, kernel, bias)),
            LayerKind::Activation(act) => Layer::Act { act, channels: ko },
            LayerKind::Dropout | LayerKind::Reshape { .. } => Layer::Dropout,
            LayerKind::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
            } => {
                let scale: Vec<f32> = gamma
                    .iter()
                    .zip(&var)
                    .map(|(g, v)| g / (v + eps).sqrt())
                    .collect();
                let shift = beta
                    .iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((b, m), s)| b - m * s)
                    .collect();
                Layer::Affine { scale, shift }
            }
            LayerKind::Merge(op) => Layer::Merge(merge::Merge { op }),
            LayerKind::Concatenate { axis } => Layer::Concat(concat::Concat {
                axis,
                shapes: ins.to_vec(),
            }),
            LayerKind::Crop { left, .. } => Layer::Window(crop_pad::Window {
                k,
                w_in: w,
                w_out: wo,
                left,
                pad: false,
            }),
            LayerKind::ZeroPad { left, .. } => Layer::Window(crop_pad::Window {
                k,
                w_in: w,
                w_out: wo,
                left,
                pad: true,
            }),
            LayerKind::UpSample { size } => {
                Layer::UpSample(upsample::UpSample { k, w_in: w, size })
            }
            LayerKind::AvgPool1D {
                pool,
                stride,
                padding,
            } => Layer::AvgPool(avg_pool::AvgPool::new(k, w, wo, pool, stride, padding)),
            LayerKind::Relu {
                negative_slope,
                max_value,
                threshold,
            } => Layer::Relu(rectifier::Relu {
                negative_slope,
                max_value,
                threshold,
            }),
            LayerKind::PRelu { alpha } => Layer::PRelu(rectifier::PRelu { alpha }),
            LayerKind::Affine { scale, shift } => Layer::Affine { scale, shift },
            LayerKind::Lstm {
                units,
                reverse,
                return_sequences,
                kernel,
                recurrent,
                bias,
                ..
            } => Layer::Lstm(lstm::Lstm::new(
                k,
                w,
                units,
                reverse,
                return_sequences,
                kernel,
                recurrent,
                bias,
            )),
            LayerKind::Gru {
                units,
                reverse,
                return_sequences,
                reset_after,
                kernel,
                recurrent,
                bias,
                recurrent_bias,
                ..
            } => Layer::Gru(gru::Gru::new(
                k,
                w,
                units,
                reverse,
                return_sequences,
                reset_after,
                kernel,
                recurrent,
                bias,
                recurrent_bias,
            )),
            LayerKind::Bidirectional {
                merge,
                forward,
                backward,
            } => {
                let half = forward
                    .output_shape(ins)
                    .expect("checked by ModelSpec::shapes");
                Layer::Bidirectional(bidirectional::Bidirectional {
                    merge,
                    forward: Box::new(Layer::from_spec(*forward, ins, half)),
                    backward: Box::new(Layer::from_spec(*backward, ins, half)),
                    units: half.0,
                    w_out: half.1,
                })
            }
            LayerKind::LayerNorm { gamma, beta, eps } => {
                Layer::LayerNorm(layer_norm::LayerNorm { gamma, beta, eps })
            }
            LayerKind::Pointwise(op) => Layer::Pointwise(op),
            LayerKind::Attention(s) => Layer::Attention(attention::Attention::new(w, s)),
            LayerKind::WindowSoftmax { size } => {
                Layer::WindowSoftmax(window_softmax::WindowSoftmax { k, w, size })
            }
            LayerKind::PositionMix { to, matrix } => {
                Layer::PositionMix(position_mix::PositionMix {
                    k,
                    w_in: w,
                    w_out: to,
                    matrix,
                })
            }
        }
    }

    /// The activation fused into a convolution or dense layer.
    fn fused_activation(&self) -> Option<Activation> {
        match self {
            Layer::Conv(c) => Some(c.act),
            Layer::Dense(d) => Some(d.act),
            _ => None,
        }
    }

    fn set_fused_activation(&mut self, a: Activation) {
        match self {
            Layer::Conv(c) => c.act = a,
            Layer::Dense(d) => d.act = a,
            _ => unreachable!(),
        }
    }

    /// `xs` holds each input's `batch` maps, `y` exactly `batch` output maps.
    pub fn forward(
        &self,
        xs: &[&[f32]],
        y: &mut [f32],
        batch: usize,
        s: &mut Scratch,
        kept: &mut Kept,
    ) {
        let x = xs[0];
        match self {
            Layer::Conv(c) => {
                grow(&mut s.cols, c.cols_len(batch));
                c.forward(x, y, batch, &mut s.cols, &mut s.pack)
            }
            Layer::MaxPool(p) => {
                let arg = &mut kept.arg;
                if arg.len() < batch * p.w_out * p.k {
                    arg.resize(batch * p.w_out * p.k, 0);
                }
                p.forward(x, y, batch, arg)
            }
            Layer::GlobalAvg { k, w } => pool::global_avg_forward(x, y, batch, *k, *w),
            Layer::Flatten { k, w, order } => {
                let n = batch * k * w;
                match order {
                    FlattenOrder::PositionMajor => y[..n].copy_from_slice(&x[..n]),
                    FlattenOrder::ChannelMajor => layout::channel_major_into(x, y, batch, *k, *w),
                }
            }
            Layer::Dense(d) => d.forward(x, y, batch, &mut s.pack),
            Layer::Act { act, channels } => {
                y.copy_from_slice(&x[..y.len()]);
                activation::forward(*act, y, *channels)
            }
            Layer::Dropout => y.copy_from_slice(&x[..y.len()]),
            Layer::Affine { scale, shift } => affine::forward(scale, shift, x, y),
            Layer::Merge(m) => m.forward(xs, y),
            Layer::Concat(c) => c.forward(xs, y, batch),
            Layer::Window(c) => c.forward(x, y, batch),
            Layer::UpSample(u) => u.forward(x, y, batch),
            Layer::AvgPool(p) => p.forward(x, y, batch),
            Layer::Relu(r) => r.forward(&x[..y.len()], y),
            Layer::PRelu(r) => r.forward(&x[..y.len()], y),
            Layer::Lstm(l) => l.forward(x, y, batch, &mut s.cols),
            Layer::Gru(g) => g.forward(x, y, batch, &mut s.cols),
            Layer::LayerNorm(l) => l.forward(&x[..y.len()], y),
            Layer::Bidirectional(l) => l.forward(x, y, batch, s),
            Layer::Pointwise(op) => pointwise::forward(*op, &x[..y.len()], y),
            Layer::Attention(a) => a.forward(xs, y, batch, &mut kept.maps),
            Layer::WindowSoftmax(l) => l.forward(x, y, batch),
            Layer::PositionMix(l) => l.forward(x, y, batch),
        }
    }

    /// Gradients of the inputs from the gradient of the output. `y` is this
    /// layer's output; every slice holds exactly `batch` maps.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        xs: &[&[f32]],
        y: &[f32],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        batch: usize,
        s: &mut Scratch,
        kept: &Kept,
    ) {
        if let Layer::Merge(m) = self {
            return m.backward(xs, y, dy, dxs);
        }
        if let Layer::Concat(c) = self {
            return c.backward(dy, dxs, batch);
        }
        if let Layer::Attention(a) = self {
            return a.backward(xs, dy, dxs, batch, &kept.maps);
        }
        let dx: &mut [f32] = dxs[0];
        match self {
            Layer::Conv(c) => {
                grow(&mut s.cols, c.cols_len(batch));
                grow(&mut s.dz, batch * c.w_out * c.filters);
                c.backward(y, dy, dx, batch, &mut s.dz, &mut s.cols)
            }
            Layer::MaxPool(p) => p.backward(dy, dx, batch, &kept.arg),
            Layer::GlobalAvg { k, w } => pool::global_avg_backward(dy, dx, batch, *k, *w),
            Layer::Flatten { k, w, order } => {
                let n = batch * k * w;
                match order {
                    FlattenOrder::PositionMajor => dx[..n].copy_from_slice(&dy[..n]),
                    FlattenOrder::ChannelMajor => {
                        layout::position_major_into(dy, dx, batch, *k, *w)
                    }
                }
            }
            Layer::Dense(d) => {
                grow(&mut s.dz, batch * d.units);
                d.backward(y, dy, dx, batch, &mut s.dz)
            }
            Layer::Act { act, channels } => {
                activation::backward_from_input(*act, &xs[0][..y.len()], y, dy, dx, *channels)
            }
            Layer::Dropout => dx.copy_from_slice(dy),
            Layer::Affine { scale, .. } => affine::backward(scale, dy, dx),
            Layer::Window(c) => c.backward(dy, dx, batch),
            Layer::UpSample(u) => u.backward(dy, dx, batch),
            Layer::AvgPool(p) => p.backward(dy, dx, batch),
            Layer::Relu(r) => r.backward(&xs[0][..dy.len()], dy, dx),
            Layer::PRelu(r) => r.backward(&xs[0][..dy.len()], dy, dx),
            Layer::Lstm(l) => l.backward(xs[0], dy, dx, batch, &mut s.cols),
            Layer::Gru(g) => g.backward(xs[0], dy, dx, batch, &mut s.cols),
            Layer::LayerNorm(l) => l.backward(&xs[0][..dy.len()], dy, dx),
            Layer::Bidirectional(l) => l.backward(xs[0], dy, dx, batch, s),
            Layer::Pointwise(op) => pointwise::backward(*op, &xs[0][..dy.len()], dy, dx),
            Layer::WindowSoftmax(l) => l.backward(y, dy, dx, batch),
            Layer::PositionMix(l) => l.backward(dy, dx, batch),
            Layer::Merge(_) | Layer::Concat(_) | Layer::Attention(_) => unreachable!(),
        }
    }

    /// A short name of the operation, for `bench --per-layer`.
    pub fn op_name(&self) -> String {
        let with = |op: &str, act: Activation| match act {
            Activation::Linear => op.to_string(),
            a => format!("{op}+{}", a.name()),
        };
        match self {
            Layer::Conv(c) => with("conv1d", c.act),
            Layer::MaxPool(_) => "max_pool".into(),
            Layer::GlobalAvg { .. } => "global_avg".into(),
            Layer::Flatten { .. } => "flatten".into(),
            Layer::Dense(d) => with("dense", d.act),
            Layer::Act { act, .. } => act.name(),
            Layer::Dropout => "identity".into(),
            Layer::Affine { .. } => "affine".into(),
            Layer::Merge(m) => m.op.name().into(),
            Layer::Concat(_) => "concat".into(),
            Layer::Window(w) => if w.pad { "pad" } else { "crop" }.into(),
            Layer::UpSample(_) => "upsample".into(),
            Layer::AvgPool(_) => "avg_pool".into(),
            Layer::Relu(_) => "relu_layer".into(),
            Layer::PRelu(_) => "prelu".into(),
            Layer::Lstm(_) => "lstm".into(),
            Layer::Gru(_) => "gru".into(),
            Layer::LayerNorm(_) => "layer_norm".into(),
            Layer::Bidirectional(_) => "bidirectional".into(),
            Layer::Pointwise(op) => op.name(),
            Layer::Attention(_) => "attention".into(),
            Layer::WindowSoftmax(_) => "window_softmax".into(),
            Layer::PositionMix(_) => "position_mix".into(),
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        match self {
            Layer::Conv(c) => c.flops_per_item(),
            Layer::Dense(d) => d.flops_per_item(),
            Layer::Lstm(l) => l.flops_per_item(),
            Layer::Gru(g) => g.flops_per_item(),
            Layer::Bidirectional(l) => l.flops_per_item(),
            Layer::Attention(a) => a.flops_per_item(),
            Layer::PositionMix(l) => l.flops_per_item(),
            _ => 0.0,
        }
    }
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// One operation of the engine's graph and the tensors it reads.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub op: Layer,
    /// Engine tensors: 0 is the model input, j + 1 the output of node j.
    pub inputs: Vec<usize>,
    /// The spec layer it comes from.
    pub layer: usize,
}

/// A model ready to run: its operations in topological order and the shape
/// of every tensor. A spec layer is one node, or two where a fused activation
/// must be differentiated from its input or left out of a head (GELU after a
/// convolution, a convolution's softplus track head).
#[derive(Debug, Clone)]
pub struct Network {
    pub(crate) nodes: Vec<Node>,
    /// (K, W) of every engine tensor.
    shapes: Vec<(usize, usize)>,
    names: Vec<String>,
    /// Spec tensor id → engine tensor id.
    tensor_of: Vec<usize>,
    /// The spec's outputs, by spec tensor id.
    outputs: Vec<OutputSpec>,
    /// Each spec layer's input tensors (spec ids).
    layer_inputs: Vec<Vec<usize>>,
}

impl Network {
    pub fn new(spec: &ModelSpec) -> Result<Network> {
        Self::from_spec(spec.clone())
    }

    /// Build from a spec it consumes, so a large model's weights are held once.
    pub fn from_spec(spec: ModelSpec) -> Result<Network> {
        let shapes = spec.shapes().map_err(|(i, msg)| {
            Error::layer(spec.source.clone(), spec.layers[i].name.clone(), msg)
        })?;
        let outputs = spec.output_list();
        let names = spec.layers.iter().map(|l| l.name.clone()).collect();
        let layer_inputs = spec.layers.iter().map(|l| l.inputs.clone()).collect();
        let mut nodes: Vec<Node> = Vec::with_capacity(spec.layers.len());
        let mut eshapes = vec![shapes[0]];
        let mut tensor_of = vec![0usize];
        for (i, l) in spec.layers.into_iter().enumerate() {
            let ins: Vec<(usize, usize)> = l.inputs.iter().map(|&t| shapes[t]).collect();
            let inputs: Vec<usize> = l.inputs.iter().map(|&t| tensor_of[t]).collect();
            let mut op = Layer::from_spec(l.kind, &ins, shapes[i + 1]);
            let split = op.fused_activation().filter(|&a| {
                activation::needs_input(a)
                    || (matches!(op, Layer::Conv(_))
                        && a != Activation::Linear
                        && a.is_output_transform())
            });
            if split.is_some() {
                op.set_fused_activation(Activation::Linear);
            }
            nodes.push(Node {
                op,
                inputs,
                layer: i,
            });
            eshapes.push(shapes[i + 1]);
            if let Some(act) = split {
                nodes.push(Node {
                    op: Layer::Act {
                        act,
                        channels: shapes[i + 1].0,
                    },
                    inputs: vec![nodes.len()],
                    layer: i,
                });
                eshapes.push(shapes[i + 1]);
            }
            tensor_of.push(nodes.len());
        }
        Ok(Network {
            nodes,
            shapes: eshapes,
            names,
            tensor_of,
            outputs,
            layer_inputs,
        })
    }

    /// Number of layers of the model (spec layers, not engine nodes).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Shape (K, W) of the (first) input of layer `i`; `i == len()` gives the
    /// first output's shape.
    pub fn input_shape(&self, i: usize) -> (usize, usize) {
        if i == self.len() {
            return self.tensor_shape(self.outputs[0].tensor);
        }
        self.tensor_shape(self.layer_inputs[i][0])
    }

    /// Shape (K, W) of a spec tensor (0 = model input, i + 1 = output of layer i).
    pub fn tensor_shape(&self, t: usize) -> (usize, usize) {
        self.shapes[self.tensor_of[t]]
    }

    pub fn layer_name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The input tensors (spec ids) of layer `i`.
    pub fn layer_inputs(&self, i: usize) -> &[usize] {
        &self.layer_inputs[i]
    }

    /// The model's outputs (spec tensor ids).
    pub fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    /// Engine nodes whose output reaches engine tensor `to` and that depend
    /// on engine tensor `from`, in order; or the first node that reads a
    /// tensor bypassing `from` (then `from` is not a cut for `to`).
    pub(crate) fn between(&self, from: usize, to: usize) -> std::result::Result<Vec<usize>, usize> {
        let n = self.nodes.len();
        let below = self.descendants(from);
        // Ancestors of `to`.
        let mut above = vec![false; n + 1];
        above[to] = true;
        for j in (0..n).rev() {
            if above[j + 1] && j + 1 != from {
                for &t in &self.nodes[j].inputs {
                    above[t] = true;
                }
            }
        }
        let mut out = Vec::new();
        for (j, node) in self.nodes.iter().enumerate() {
            if !(above[j + 1] && below[j + 1]) || j + 1 == from {
                continue;
            }
            if node
                .inputs
                .iter()
                .any(|&t| t != from && !(below[t] && above[t]))
            {
                return Err(j);
            }
            out.push(j);
        }
        Ok(out)
    }

    /// Run from spec tensor `from` (given channel-major, B × K × W) to spec
    /// tensor `upto` and return it channel-major. For a chain, tensor i is the
    /// input of layer i; `from = 0` starts at the model input. `from` must be a
    /// cut: every path from the model input to `upto` passes through it.
    pub fn forward_range(
        &self,
        input: &[f32],
        batch: usize,
        from: usize,
        upto: usize,
    ) -> Result<Vec<f32>> {
        if from > upto || upto > self.len() {
            return Err(Error::Shape(format!(
                "tensor range {from}..{upto} outside the model's {} layers",
                self.len()
            )));
        }
        let (ef, eu) = (self.tensor_of[from], self.tensor_of[upto]);
        let (k, w) = self.shapes[ef];
        if input.len() != batch * k * w {
            return Err(Error::Shape(format!(
                "input has {} values, expected {batch} × {k} × {w}",
                input.len()
            )));
        }
        if !self.descendants(ef)[eu] {
            return Err(Error::Input(format!(
                "tensor {upto} does not depend on tensor {from}: no path leads from one to the other"
            )));
        }
        let order = self.between(ef, eu).map_err(|j| {
            Error::Input(format!(
                "the input of {} does not lead to {} alone: layer {} reads a tensor that bypasses it",
                self.names.get(from).map_or("the output", String::as_str),
                if upto == 0 { "input" } else { &self.names[upto - 1] },
                self.names[self.nodes[j].layer]
            ))
        })?;
        let mut vals: Vec<Option<Vec<f32>>> = vec![None; self.nodes.len() + 1];
        vals[ef] = Some(layout::to_position_major(input, batch, k, w));
        let mut scratch = Scratch::default();
        for j in order {
            let node = &self.nodes[j];
            let (ko, wo) = self.shapes[j + 1];
            let mut y = vec![0.0; batch * ko * wo];
            let xs: Vec<&[f32]> = node
                .inputs
                .iter()
                .map(|&t| vals[t].as_deref().expect("inputs come first"))
                .collect();
            node.op
                .forward(&xs, &mut y, batch, &mut scratch, &mut Kept::default());
            vals[j + 1] = Some(y);
        }
        let (k, w) = self.shapes[eu];
        Ok(layout::to_channel_major(
            vals[eu].as_deref().expect("computed"),
            batch,
            k,
            w,
        ))
    }

    /// Spec tensor `upto` from the model input (for a chain: the output of
    /// layer `upto - 1`, all of it for `upto = len()`).
    pub fn forward_prefix(&self, input: &[f32], batch: usize, upto: usize) -> Result<Vec<f32>> {
        self.forward_range(input, batch, 0, upto)
    }

    /// Which engine tensors depend on engine tensor `from` (itself included).
    pub(crate) fn descendants(&self, from: usize) -> Vec<bool> {
        let mut below = vec![false; self.nodes.len() + 1];
        below[from] = true;
        for (j, node) in self.nodes.iter().enumerate() {
            if j + 1 > from && node.inputs.iter().any(|&t| below[t]) {
                below[j + 1] = true;
            }
        }
        below
    }

    pub(crate) fn engine_tensor(&self, spec_tensor: usize) -> usize {
        self.tensor_of[spec_tensor]
    }

    pub(crate) fn engine_shape(&self, t: usize) -> (usize, usize) {
        self.shapes[t]
    }
}
