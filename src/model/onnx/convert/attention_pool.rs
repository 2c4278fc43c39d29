//! Enformer's attention pooling as exported: a Reshape of (N, C, W) to
//! (N, C, W/p, p), a 1×1 Conv2d giving logits, Softmax over the last axis,
//! the product with the reshaped input and a ReduceSum over the last axis.
//! The (W/p, p) view is followed as a symbolic value ([`Sym::Pool`]) over an
//! engine map of C × W, so each op becomes an ordinary layer: the 1×1
//! convolution, a softmax over windows of p positions, a product, and a sum
//! over each window (an average pool times p).
use super::attention::Sym;
use super::{Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::spec::*;
use std::rc::Rc;

/// An engine map (c × n·p) viewed as (c, n, p).
#[derive(Debug, Clone)]
pub(super) struct Pool {
    t: TensorId,
    c: usize,
    n: usize,
    p: usize,
}

impl Pool {
    pub(super) fn dims(&self) -> Vec<usize> {
        vec![self.c, self.n, self.p]
    }
}

impl Cv<'_> {
    fn pool_in(&self, n: &NodeProto, i: usize) -> Option<Pool> {
        match n.input.get(i).and_then(|s| self.values.get(s)) {
            Some(Value::Sym(s)) => match s.as_ref() {
                Sym::Pool(p) => Some(p.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn set_pool(&mut self, n: &NodeProto, p: Pool) -> R<()> {
        self.values.insert(
            Self::out_name(n).to_string(),
            Value::Sym(Rc::new(Sym::Pool(p))),
        );
        Ok(())
    }

    /// A Reshape of (N, C, W) into windows (N, C, W/p, p), p and W/p > 1.
    pub(super) fn pool_reshape(&mut self, n: &NodeProto) -> Option<R<()>> {
        let Some(Value::Map { t, dims }) = n.input.first().and_then(|s| self.values.get(s)) else {
            return None;
        };
        let (t, dims) = (*t, dims.clone());
        let target = self.const_in(n, 1).and_then(|k| k.to_i64()).ok()?;
        if dims.len() != 2 || target.len() != 4 {
            return None;
        }
        let allowzero = Attrs::of(n).int("allowzero", 0) != 0;
        let to = self.batch_reshape(&dims, &target, allowzero).ok()?;
        if to[0] != dims[0] || to[1] < 2 || to[2] < 2 {
            return None;
        }
        let p = Pool {
            t,
            c: to[0],
            n: to[1],
            p: to[2],
        };
        Some(self.set_pool(n, p))
    }

    pub(super) fn on_pool(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let op = n.op_type.as_str();
        let Some(x) = self.pool_in(n, 0) else {
            return Err(format!(
                "{op} with a pooling window view as its second input"
            ));
        };
        match op {
            "Conv" => {
                let w = self.const_in(n, 1)?.clone();
                let at = Attrs::of(n);
                let ones = |name: &str| at.ints(name).is_none_or(|v| v.iter().all(|&a| a == 1));
                let no_pad = at.ints("pads").is_none_or(|v| v.iter().all(|&a| a == 0));
                if w.dims.len() != 4
                    || w.dims[1] != x.c
                    || w.dims[2..] != [1, 1]
                    || at.int("group", 1) != 1
                    || !ones("strides")
                    || !ones("dilations")
                    || !no_pad
                {
                    return Err(format!(
                        "a Conv of weight {:?} on pooling windows; a 1×1 convolution over channels is read",
                        w.dims
                    ));
                }
                let filters = w.dims[0];
                let bias = self.opt_const(n, 2)?.map(|b| b.to_f32());
                let kind = LayerKind::Conv1D {
                    filters,
                    in_channels: x.c,
                    kernel_size: 1,
                    stride: 1,
                    dilation: 1,
                    padding: Padding::Valid,
                    activation: Activation::Linear,
                    kernel: w.to_f32(),
                    bias,
                };
                let t = self.add(label, kind, vec![x.t])?;
                self.set_pool(n, Pool { t, c: filters, ..x })
            }
            "Softmax" => {
                if norm_axis(Attrs::of(n).int("axis", -1), 4)? != 3 {
                    return Err("a Softmax of pooling windows over another axis than the window".into());
                }
                let t = self.add(label, LayerKind::WindowSoftmax { size: x.p }, vec![x.t])?;
                self.set_pool(n, Pool { t, ..x })
            }
            "Mul" => {
                let y = self
                    .pool_in(n, 1)
                    .ok_or("Mul of pooling windows by something else")?;
                if y.dims() != x.dims() {
                    return Err("Mul of pooling windows of different shapes".into());
                }
                let t = self.add(label, LayerKind::Merge(MergeOp::Multiply), vec![x.t, y.t])?;
                self.set_pool(n, Pool { t, ..x })
            }
            "ReduceSum" => {
                let axes = fold::axes_of(n, &self.const_refs(n), 1)?.unwrap_or_default();
                let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, 4)).collect::<R<_>>()?;
                if axes != [3] || Attrs::of(n).int("keepdims", 1) != 0 {
                    return Err("a ReduceSum of pooling windows other than over the window (keepdims 0)".into());
                }
                let pool = LayerKind::AvgPool1D {
                    pool: x.p,
                    stride: x.p,
                    padding: Padding::Valid,
                };
                let a = self.add(label, pool, vec![x.t])?;
                let sum = LayerKind::Affine {
                    scale: vec![x.p as f32],
                    shift: vec![0.0],
                };
                let t = self.add(&format!("{label}/sum"), sum, vec![a])?;
                self.set_map(Self::out_name(n), t, vec![x.c, x.n])
            }
            _ => Err(format!(
                "{op} of a pooling window view (N, C, W/p, p); read are a 1×1 Conv, Softmax, Mul and ReduceSum over the window"
            )),
        }
    }
}
