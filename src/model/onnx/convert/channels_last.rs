//! Channels-last data, (N, W, C): what PyTorch exports for an `nn.Linear`
//! applied at every position (`x.transpose(1, 2)` then MatMul + Add) and for
//! an MLP on a map flattened into a row, (N, 1, C·W). The engine keeps such a
//! tensor as (C, W); a MatMul on its last axis is then a 1×1 convolution
//! (a Dense layer when W = 1), and a bias a per-channel shift.
use super::{show, Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{broadcast_index, broadcast_shape, BATCH};
use crate::model::spec::*;

/// Ops that act on each value alone, so on any layout.
pub(super) const POINTWISE: &[&str] = &[
    "Identity",
    "Cast",
    "Dropout",
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Exp",
    "Log",
    "Sqrt",
    "Abs",
    "Reciprocal",
    "Neg",
    "HardSigmoid",
    "Clip",
    "Gelu",
];

/// Why an op other than those below cannot read a channels-last tensor.
pub(super) fn refusal(name: &str, w: usize, c: usize) -> String {
    format!(
        "reads {name}, a channels-last (N, {w}, {c}) tensor (a Transpose of (N, C, W), or a map flattened into a row); it is read by MatMul on its last axis, Add/Sub/Mul/Div of a constant, pointwise ops, LayerNormalization over its last axis, a Slice or Gather of positions (axis 1), a Transpose back to (N, C, W), a Flatten or Reshape to (N, W·C) and (for one row) a Squeeze to (N, F); export with the linear layer applied to (N, C, W) as a 1×1 Conv1d, or score another output with --output"
    )
}

/// Whether every path from the graph input `name` starts with a Transpose
/// to (N, C, L) (perm [0, 2, 1]), after Cast or Identity nodes: then a
/// channels-last (N, L, C) input is read as such.
pub(super) fn transposed_first(g: &crate::model::onnx::proto::GraphProto, name: &str) -> bool {
    let mut front = vec![name.to_string()];
    let mut seen = 0;
    while let Some(v) = front.pop() {
        let readers: Vec<&NodeProto> = g.node.iter().filter(|n| n.input.contains(&v)).collect();
        if readers.is_empty() || g.output.iter().any(|o| o.name == v) {
            return false;
        }
        for n in readers {
            seen += 1;
            if seen > 16 {
                return false;
            }
            match n.op_type.as_str() {
                "Cast" | "Identity" => front.extend(n.output.first().cloned()),
                "Transpose" if Attrs::of(n).ints("perm").as_deref() == Some(&[0, 2, 1][..]) => {}
                _ => return false,
            }
        }
    }
    true
}

impl Cv<'_> {
    pub(super) fn set_last(&mut self, name: &str, t: TensorId) -> R<()> {
        let (c, w) = self.shapes[t];
        if !name.is_empty() {
            self.tensor_names.push((name.to_string(), t));
            self.values
                .insert(name.to_string(), Value::Last { t, w, c });
        }
        Ok(())
    }

    fn last_in(&self, n: &NodeProto, i: usize) -> Option<(TensorId, usize, usize)> {
        match n.input.get(i).and_then(|s| self.values.get(s)) {
            Some(Value::Last { t, w, c }) => Some((*t, *w, *c)),
            _ => None,
        }
    }

    /// A node one of whose inputs is channels-last.
    pub(super) fn channels_last(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let op = n.op_type.as_str();
        let out = Self::out_name(n).to_string();
        let Some((t, w, c)) = self.last_in(n, 0) else {
            if let Some((_, w, c)) = self.last_in(n, 1) {
                if matches!(op, "Add" | "Sub" | "Mul" | "Div") {
                    return self.last_arith(n, label, 1);
                }
                return Err(refusal(&n.input[1], w, c));
            }
            return Err("reads a channels-last tensor where it is not supported".into());
        };
        if POINTWISE.contains(&op) {
            // The engine tensor is the same under its (N, C, W) name: convert the
            // op as on that, and name its output channels-last again.
            let name = n.input[0].clone();
            let saved = self.values.insert(
                name.clone(),
                Value::Map {
                    t,
                    dims: vec![c, w],
                },
            );
            let r = self.node(n, label);
            if let Some(v) = saved {
                self.values.insert(name, v);
            }
            r?;
            if let Some(Value::Map { t, .. }) = self.values.get(&out).cloned() {
                let (c, w) = self.shapes[t];
                self.values.insert(out, Value::Last { t, w, c });
            }
            return Ok(());
        }
        match op {
            "MatMul" => self.last_matmul(n, label, t, w, c),
            "LayerNormalization" => self.layer_norm(n, label),
            "Slice" | "Gather" => self.last_positions(n, label, t, w, c),
            "Shape" => {
                let v = vec![self.batch_fixed.unwrap_or(BATCH), w as i64, c as i64];
                let k = fold::shape_slice(&Attrs::of(n), v);
                self.values.insert(out, Value::Const(k));
                Ok(())
            }
            "Add" | "Sub" | "Mul" | "Div" => self.last_arith(n, label, 0),
            // x.mean(1) over positions (a transformer's pooled head).
            "ReduceMean" | "ReduceMax" => {
                let axes = fold::axes_of(n, &self.const_refs(n), 1)?.unwrap_or_default();
                let keep = Attrs::of(n).int("keepdims", 1) != 0;
                if axes.len() != 1 || norm_axis(axes[0], 3)? != 1 || keep {
                    return Err(refusal(&n.input[0], w, c));
                }
                let kind = if op == "ReduceMax" {
                    LayerKind::GlobalMaxPool1D
                } else {
                    LayerKind::GlobalAvgPool1D
                };
                let p = self.add(label, kind, vec![t])?;
                self.set_map(&out, p, vec![c])
            }
            "Transpose" => {
                let perm: Vec<usize> = match Attrs::of(n).ints("perm") {
                    Some(p) => p.iter().map(|&a| norm_axis(a, 3)).collect::<R<_>>()?,
                    None => vec![2, 1, 0],
                };
                if perm != [0, 2, 1] {
                    return Err(format!(
                        "perm {perm:?} of a channels-last {}; only [0, 2, 1], back to (N, C, W), is supported",
                        show(&[w, c])
                    ));
                }
                self.set_map(&out, t, vec![c, w])
            }
            "Reshape" | "Flatten" | "Squeeze" => {
                let to = match op {
                    "Reshape" => {
                        let target = self.const_in(n, 1)?.to_i64()?;
                        let allowzero = Attrs::of(n).int("allowzero", 0) != 0;
                        self.batch_reshape(&[w, c], &target, allowzero)?
                    }
                    "Flatten" if Attrs::of(n).int("axis", 1) == 1 => vec![w * c],
                    "Squeeze" if w == 1 => vec![c],
                    _ => return Err(refusal(&n.input[0], w, c)),
                };
                if to == [w, c] {
                    self.set_last(&out, t)
                } else if w == 1 && super::canonical(&to) == Some((c, 1)) {
                    // One row: its values are already in the engine's order.
                    self.set_map(&out, t, to)
                } else if to == [w * c] {
                    // (N, W, C) flattened: position-major, the engine's own order.
                    let kind = LayerKind::Flatten {
                        order: FlattenOrder::PositionMajor,
                    };
                    let f = self.add(label, kind, vec![t])?;
                    self.set_map(&out, f, to)
                } else {
                    Err(format!(
                        "turns the channels-last {} into {}, which moves values between channels and positions; export the model applying its linear layers to (N, C, W) as 1×1 convolutions, or score another output with --output",
                        show(&[w, c]),
                        show(&to)
                    ))
                }
            }
            _ => Err(refusal(&n.input[0], w, c)),
        }
    }

    /// A Slice or Gather of positions (PyTorch's `y[:, -1]` after an LSTM): a crop.
    fn last_positions(
        &mut self,
        n: &NodeProto,
        label: &str,
        x: TensorId,
        w: usize,
        c: usize,
    ) -> R<()> {
        let only_positions = || {
            format!(
                "{} of the channels-last {} along other axes than positions (1) is not supported",
                n.op_type,
                show(&[w, c])
            )
        };
        let (keep, squeeze) = if n.op_type == "Gather" {
            if norm_axis(Attrs::of(n).int("axis", 0), 3)? != 1 {
                return Err(only_positions());
            }
            let idx = self.const_in(n, 1)?;
            let [i] = idx.to_i64()?[..] else {
                return Err("a Gather of several positions is not supported".into());
            };
            let p = if i < 0 { i + w as i64 } else { i };
            if !(0..w as i64).contains(&p) {
                return Err(format!("index {i} is outside {w} positions"));
            }
            (vec![p as usize], idx.dims.is_empty())
        } else {
            let (starts, ends, axes, steps) = fold::slice_params(n, &self.const_refs(n))?;
            let mut keep: Vec<usize> = (0..w).collect();
            for j in 0..axes.len() {
                let ax = norm_axis(axes[j], 3)?;
                if ax == 0 {
                    if starts[j] == 0 && steps[j] == 1 && ends[j] >= i32::MAX as i64 {
                        continue;
                    }
                    return Err("slices the batch axis".into());
                }
                let d = [0, w, c][ax];
                let k = fold::slice_range(d, starts[j], ends[j], steps[j])?;
                if ax == 1 && steps[j] == 1 {
                    keep = k;
                } else if k.len() != d || steps[j] < 0 {
                    return Err(only_positions());
                }
            }
            (keep, false)
        };
        let (Some(&first), Some(&last)) = (keep.first(), keep.last()) else {
            return Err("the slice keeps no positions".into());
        };
        let out = Self::out_name(n).to_string();
        let t = if keep.len() == w {
            x
        } else {
            let crop = LayerKind::Crop {
                left: first,
                right: w - 1 - last,
            };
            self.add(label, crop, vec![x])?
        };
        if squeeze {
            self.set_map(&out, t, vec![c])
        } else {
            self.set_last(&out, t)
        }
    }

    /// `x @ B` on the last axis: a Dense layer for one row, else a 1×1 convolution.
    fn last_matmul(
        &mut self,
        n: &NodeProto,
        label: &str,
        x: TensorId,
        w: usize,
        c: usize,
    ) -> R<()> {
        let b = self.const_in(n, 1)?;
        let [kin, units] = b.dims[..] else {
            return Err(format!(
                "the weight has shape {:?}; a matrix (in, out) is expected",
                b.dims
            ));
        };
        if kin != c {
            return Err(format!(
                "the weight reads {kin} features, the last axis of {} has {c}",
                show(&[w, c])
            ));
        }
        let bv = b.to_f32();
        // (units, in), row-major: both the Dense and the (filters, in, 1) kernel.
        let kernel: Vec<f32> = (0..units)
            .flat_map(|u| (0..c).map(move |i| (u, i)))
            .map(|(u, i)| bv[i * units + u])
            .collect();
        let kind = if w == 1 {
            LayerKind::Dense {
                units,
                in_features: c,
                activation: Activation::Linear,
                kernel,
                bias: None,
            }
        } else {
            LayerKind::Conv1D {
                filters: units,
                in_channels: c,
                kernel_size: 1,
                stride: 1,
                dilation: 1,
                padding: Padding::Valid,
                activation: Activation::Linear,
                kernel,
                bias: None,
            }
        };
        let t = self.add(label, kind, vec![x])?;
        self.set_last(Self::out_name(n), t)
    }

    /// A channels-last tensor (input `xi`) with a constant or with another of
    /// its shape.
    fn last_arith(&mut self, n: &NodeProto, label: &str, xi: usize) -> R<()> {
        let op = n.op_type.as_str();
        let (x, w, c) = self.last_in(n, xi).ok_or("no channels-last input")?;
        if n.input.len() != 2 {
            return Err(format!("{} inputs, 2 expected", n.input.len()));
        }
        if let Some((y, wy, cy)) = self.last_in(n, 1 - xi) {
            if (wy, cy) != (w, c) {
                return Err(format!(
                    "{op} of channels-last tensors of shapes {} and {}",
                    show(&[w, c]),
                    show(&[wy, cy])
                ));
            }
            let m = match op {
                "Add" => MergeOp::Add,
                "Sub" => MergeOp::Subtract,
                "Mul" => MergeOp::Multiply,
                _ => MergeOp::Divide,
            };
            let t = self.add(label, LayerKind::Merge(m), vec![x, y])?;
            return self.set_last(Self::out_name(n), t);
        }
        let k = self.const_in(n, 1 - xi)?;
        let full = [1, w, c];
        if k.dims.len() > full.len() || broadcast_shape(&full, &k.dims)? != full {
            return Err(format!(
                "a constant of shape {:?} does not broadcast onto the channels-last {} without enlarging it",
                k.dims,
                show(&[w, c])
            ));
        }
        let kv = k.to_f32();
        // Row-major over (1, W, C) is the engine's position-major order.
        let mut v: Vec<f32> = broadcast_index(&full, &k.dims)
            .iter()
            .map(|&i| kv[i])
            .collect();
        if (1..w).all(|p| v[p * c..(p + 1) * c] == v[..c]) {
            v.truncate(c);
        }
        if v.iter().all(|a| *a == v[0]) {
            v.truncate(1);
        }
        let (scale, shift) = match (op, xi) {
            ("Add", _) => (vec![1.0], v),
            ("Sub", 0) => (vec![1.0], v.iter().map(|a| -a).collect()),
            ("Sub", _) => (vec![-1.0], v),
            ("Mul", _) => (v, vec![0.0]),
            ("Div", 0) => (v.iter().map(|a| 1.0 / a).collect(), vec![0.0]),
            _ => {
                return Err(
                    "a constant divided by a tensor computed from the input is not supported"
                        .into(),
                )
            }
        };
        let t = self.add(label, LayerKind::Affine { scale, shift }, vec![x])?;
        self.set_last(Self::out_name(n), t)
    }
}
