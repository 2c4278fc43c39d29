//! The network engine: batched forward passes, and the backward pass of one
//! class score per item to the input of a chosen layer.
//!
//! Feature maps inside the engine are position-major (W × K per item); use
//! [`layout`] to convert from and to the channel-major maps users see.
mod activation;
mod conv1d;
mod dense;
pub mod gemm;
pub mod layout;
mod pool;
mod scorer;
mod skinny;
mod weight_buf;

pub use scorer::Scorer;

use crate::model::{Activation, FlattenOrder, LayerKind, ModelSpec};
use crate::{Error, Result};

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
    Act(Activation, usize),
    Identity,
    Scale {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
}

/// Scratch shared by the layers of one pass (im2col columns, pre-activation
/// gradients, inputs packed for the small-batch kernels).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub cols: Vec<f32>,
    pub dz: Vec<f32>,
    pub pack: Vec<f32>,
}

impl Layer {
    fn from_spec(kind: LayerKind, (k, w): (usize, usize), (ko, wo): (usize, usize)) -> Layer {
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
            LayerKind::Activation(a) => Layer::Act(a, ko),
            LayerKind::Dropout => Layer::Identity,
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
                Layer::Scale { scale, shift }
            }
        }
    }

    /// `x` and `y` hold exactly `batch` maps each.
    pub fn forward(
        &self,
        x: &[f32],
        y: &mut [f32],
        batch: usize,
        s: &mut Scratch,
        arg: &mut Vec<u32>,
    ) {
        match self {
            Layer::Conv(c) => {
                grow(&mut s.cols, c.cols_len(batch));
                c.forward(x, y, batch, &mut s.cols, &mut s.pack)
            }
            Layer::MaxPool(p) => {
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
            Layer::Act(a, k) => {
                y.copy_from_slice(x);
                activation::forward(*a, y, *k)
            }
            Layer::Identity => y.copy_from_slice(x),
            Layer::Scale { scale, shift } => {
                let k = scale.len();
                for (i, (o, v)) in y.iter_mut().zip(x).enumerate() {
                    *o = v * scale[i % k] + shift[i % k];
                }
            }
        }
    }

    /// Gradient of the input from the gradient of the output. `y` is this layer's
    /// output; `y`, `dy` and `dx` hold exactly `batch` maps each.
    pub fn backward(
        &self,
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        s: &mut Scratch,
        arg: &[u32],
    ) {
        match self {
            Layer::Conv(c) => {
                grow(&mut s.cols, c.cols_len(batch));
                grow(&mut s.dz, batch * c.w_out * c.filters);
                c.backward(y, dy, dx, batch, &mut s.dz, &mut s.cols)
            }
            Layer::MaxPool(p) => p.backward(dy, dx, batch, arg),
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
            Layer::Act(a, k) => activation::backward(*a, y, dy, dx, *k),
            Layer::Identity => dx.copy_from_slice(dy),
            Layer::Scale { scale, .. } => {
                let k = scale.len();
                for (i, (o, g)) in dx.iter_mut().zip(dy).enumerate() {
                    *o = g * scale[i % k];
                }
            }
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        match self {
            Layer::Conv(c) => c.flops_per_item(),
            Layer::Dense(d) => d.flops_per_item(),
            _ => 0.0,
        }
    }
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// A model ready to run: its layers and the shape entering each of them.
#[derive(Debug, Clone)]
pub struct Network {
    pub(crate) layers: Vec<Layer>,
    /// `shapes[i]` = (K, W) entering layer i; `shapes[len]` = the output.
    shapes: Vec<(usize, usize)>,
    names: Vec<String>,
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
        let names = spec.layers.iter().map(|l| l.name.clone()).collect();
        let layers = spec
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| Layer::from_spec(l.kind, shapes[i], shapes[i + 1]))
            .collect();
        Ok(Network {
            layers,
            shapes,
            names,
        })
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Shape (K, W) of the input of layer `i` (`i == len()` gives the output).
    pub fn input_shape(&self, i: usize) -> (usize, usize) {
        self.shapes[i]
    }

    pub fn layer_name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Run layers `from..upto` on `batch` maps given channel-major (B × K × W)
    /// and return the result channel-major. `from = 0` starts at the model input.
    pub fn forward_range(
        &self,
        input: &[f32],
        batch: usize,
        from: usize,
        upto: usize,
    ) -> Result<Vec<f32>> {
        if from > upto || upto > self.layers.len() {
            return Err(Error::Shape(format!(
                "layer range {from}..{upto} outside the model's {} layers",
                self.layers.len()
            )));
        }
        let (k, w) = self.shapes[from];
        if input.len() != batch * k * w {
            return Err(Error::Shape(format!(
                "input has {} values, expected {batch} × {k} × {w}",
                input.len()
            )));
        }
        let mut x = layout::to_position_major(input, batch, k, w);
        let mut scratch = Scratch::default();
        for i in from..upto {
            let (ko, wo) = self.shapes[i + 1];
            let mut y = vec![0.0; batch * ko * wo];
            let mut arg = Vec::new();
            self.layers[i].forward(&x, &mut y, batch, &mut scratch, &mut arg);
            x = y;
        }
        let (k, w) = self.shapes[upto];
        Ok(layout::to_channel_major(&x, batch, k, w))
    }

    /// Output of layer `upto - 1` from the model input (all of it for `upto = len()`).
    pub fn forward_prefix(&self, input: &[f32], batch: usize, upto: usize) -> Result<Vec<f32>> {
        self.forward_range(input, batch, 0, upto)
    }
}
