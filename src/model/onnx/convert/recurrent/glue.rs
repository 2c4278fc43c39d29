//! The relabels of recurrent tensors (Transpose, Reshape, Squeeze,
//! Unsqueeze), the picks of one direction (Slice, Gather) and the sum of
//! both, followed on their axes; and the placing of an LSTM/GRU node's
//! layers once its output is read as (N, W, C) or (N, C, W).
use super::super::{Cv, Value, R};
use super::{describe, size, Ax, Dirs, Rnn, Seq, Src};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{Const, BATCH};
use crate::model::spec::*;
use std::rc::Rc;

impl Cv<'_> {
    /// Store `s` under `name`: as a plain value when its src is a tensor in
    /// a layout the other ops read.
    pub(super) fn set_seq(&mut self, name: &str, s: Seq) -> R<()> {
        if name.is_empty() {
            return Ok(());
        }
        if let Src::Tensor(t) = s.src {
            if let Some(v) = self.plain(t, &s.axes) {
                let v = v?;
                self.tensor_names.push((name.to_string(), t));
                self.values.insert(name.to_string(), v);
                return Ok(());
            }
        }
        self.values
            .insert(name.to_string(), Value::Rnn(Rnn::Seq(s)));
        Ok(())
    }

    /// The tensor `t` laid out as `axes`, as (N, W, C) or (N, C, W) when it is one.
    fn plain(&self, t: TensorId, axes: &[Ax]) -> Option<R<Value>> {
        let (c, w) = self.shapes[t];
        if axes.first() != Some(&Ax::Batch) || axes[1..].contains(&Ax::Batch) {
            return None;
        }
        let big: Vec<Ax> = axes[1..]
            .iter()
            .copied()
            .filter(|&a| size(a, 0) != 1)
            .collect();
        if axes[1..] == [Ax::Pos(w), Ax::Chan(c)] {
            return Some(Ok(Value::Last { t, w, c }));
        }
        let chan_first = match big[..] {
            [Ax::Chan(_), Ax::Pos(_)] | [Ax::Chan(_)] | [] => true,
            [Ax::Pos(_)] => c == 1,
            _ => false,
        };
        if !chan_first {
            return None;
        }
        let dims: Vec<usize> = axes[1..].iter().map(|&a| size(a, 0) as usize).collect();
        if super::super::canonical(&dims) != Some((c, w)) {
            return None;
        }
        Some(Ok(Value::Map { t, dims }))
    }

    /// A recurrent tensor as a plain value: the node placed, its axes (N, W, C)
    /// or (N, C, W). `None` when the axes are not one of those.
    pub(super) fn settle(&mut self, s: &Seq) -> Option<R<Value>> {
        let (t, axes) = match self.place(s) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        self.plain(t, &axes)
    }

    /// The engine tensor of `s` and its axes over it; an unplaced node is
    /// placed (once per choice of directions).
    pub(super) fn place(&mut self, s: &Seq) -> R<(TensorId, Vec<Ax>)> {
        let (node, dirs) = match &s.src {
            Src::Tensor(t) => return Ok((*t, s.axes.clone())),
            Src::Node { node, dirs } => (node.clone(), *dirs),
        };
        if s.axes.iter().any(|a| matches!(a, Ax::Dir(d) if *d > 1)) {
            return Err(format!(
                "reads a recurrent output laid out {}; the directions axis must be merged with the hidden one (a Reshape to directions·hidden) or sliced",
                describe(&s.axes)
            ));
        }
        let axes = s
            .axes
            .iter()
            .map(|&a| match a {
                Ax::Dir(_) => Ax::One,
                Ax::Hidden(u) => Ax::Chan(u),
                a => a,
            })
            .collect();
        let cached = node
            .placed
            .borrow()
            .iter()
            .find(|(d, _)| *d == dirs)
            .map(|(_, t)| *t);
        if let Some(t) = cached {
            return Ok((t, axes));
        }
        let (name, kind) = match dirs {
            Dirs::One(k) => {
                let kind = node.layers.get(k).cloned().ok_or("no such direction")?;
                let name = if node.layers.len() == 1 {
                    node.label.clone()
                } else {
                    format!("{}:{}", node.label, ["forward", "reverse"][k.min(1)])
                };
                (name, kind)
            }
            Dirs::Concat | Dirs::Sum => {
                let [f, b] = &node.layers[..] else {
                    return Err("both directions of a one-direction node".into());
                };
                let merge = if dirs == Dirs::Concat {
                    BiMerge::Concat
                } else {
                    BiMerge::Sum
                };
                let kind = LayerKind::Bidirectional {
                    merge,
                    forward: Box::new(f.clone()),
                    backward: Box::new(b.clone()),
                };
                (node.label.clone(), kind)
            }
        };
        let t = self.add(&name, kind, vec![node.x])?;
        node.placed.borrow_mut().push((dirs, t));
        Ok((t, axes))
    }

    /// The relabels and direction picks on a recurrent tensor; `None`: not
    /// one of them (the tensor is then read as a plain value).
    pub(super) fn glue(&mut self, n: &NodeProto, s: Seq) -> Option<R<Seq>> {
        let op = n.op_type.as_str();
        let at = Attrs::of(n);
        let batch = self.batch_fixed.unwrap_or(BATCH);
        let rank = s.axes.len();
        let with = |axes: Vec<Ax>| {
            Some(Ok(Seq {
                src: s.src.clone(),
                axes,
            }))
        };
        match op {
            "Identity" => with(s.axes.clone()),
            "Dropout" => match self.only_first_output(n) {
                Ok(()) => with(s.axes.clone()),
                Err(e) => Some(Err(e)),
            },
            "Transpose" => {
                let perm: Vec<usize> = match at.ints("perm") {
                    Some(p) => match p.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>() {
                        Ok(p) => p,
                        Err(e) => return Some(Err(e)),
                    },
                    None => (0..rank).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..rank).collect::<Vec<_>>() {
                    return Some(Err(format!("perm {perm:?} is not a permutation")));
                }
                with(perm.iter().map(|&p| s.axes[p]).collect())
            }
            "Squeeze" | "Unsqueeze" => {
                let axes = match fold::axes_of(n, &self.const_refs(n), 1) {
                    Ok(a) => a,
                    Err(e) => return Some(Err(e)),
                };
                if op == "Squeeze" {
                    let axes: Vec<usize> = match axes {
                        Some(a) => match a.iter().map(|&x| norm_axis(x, rank)).collect::<R<_>>() {
                            Ok(a) => a,
                            Err(e) => return Some(Err(e)),
                        },
                        None => (0..rank)
                            .filter(|&i| s.axes[i] != Ax::Batch && size(s.axes[i], 0) == 1)
                            .collect(),
                    };
                    if let Some(&a) = axes
                        .iter()
                        .find(|&&a| !matches!(s.axes[a], Ax::One | Ax::Dir(1)))
                    {
                        return Some(Err(format!(
                            "squeezes axis {a} of {}; only an axis of size 1 (one direction) can go",
                            describe(&s.axes)
                        )));
                    }
                    let keep = (0..rank).filter(|i| !axes.contains(i));
                    with(keep.map(|i| s.axes[i]).collect())
                } else {
                    let Some(axes) = axes else {
                        return Some(Err("no axes".into()));
                    };
                    let out_rank = rank + axes.len();
                    let ax: Vec<usize> = match axes
                        .iter()
                        .map(|&a| norm_axis(a, out_rank))
                        .collect::<R<_>>()
                    {
                        Ok(a) => a,
                        Err(e) => return Some(Err(e)),
                    };
                    let mut it = s.axes.iter();
                    let mut out = Vec::new();
                    for i in 0..out_rank {
                        if ax.contains(&i) {
                            out.push(Ax::One);
                        } else if let Some(&a) = it.next() {
                            out.push(a);
                        } else {
                            return Some(Err("axes repeat".into()));
                        }
                    }
                    with(out)
                }
            }
            "Reshape" => {
                let target = match self.const_in(n, 1).and_then(Const::to_i64) {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                let allowzero = at.int("allowzero", 0) != 0;
                Some(reshape(&s.axes, &target, allowzero, batch).map(|axes| Seq {
                    src: s.src.clone(),
                    axes,
                }))
            }
            "Slice" => {
                let Src::Node { node, dirs } = &s.src else {
                    return None;
                };
                let (starts, ends, axs, steps) = fold::slice_params(n, &self.const_refs(n)).ok()?;
                let mut out = s.clone();
                for j in 0..axs.len() {
                    let a = norm_axis(axs[j], rank).ok()?;
                    if s.axes[a] == Ax::Batch {
                        return None;
                    }
                    let d = size(s.axes[a], batch) as usize;
                    let keep = fold::slice_range(d, starts[j], ends[j], steps[j]).ok()?;
                    if keep.len() == d && steps[j] > 0 {
                        continue;
                    }
                    if *dirs != Dirs::Concat || steps[j] != 1 {
                        return None;
                    }
                    let (u, first) = (node.units(), *keep.first()?);
                    // Direction k alone: [k·u, (k+1)·u) of the channels, or [k, k+1) of the directions.
                    let k = match s.axes[a] {
                        Ax::Chan(c) if c == 2 * u && first % u == 0 && keep.len() == u => {
                            out.axes[a] = Ax::Chan(u);
                            first / u
                        }
                        Ax::Dir(2) if keep.len() == 1 => {
                            out.axes[a] = Ax::Dir(1);
                            first
                        }
                        _ => return None,
                    };
                    out.src = Src::Node {
                        node: node.clone(),
                        dirs: Dirs::One(k),
                    };
                }
                Some(Ok(out))
            }
            "Gather" => {
                // One direction of Y_h (PyTorch's h_n[-1]): an index on the directions axis.
                let Src::Node { node, dirs } = &s.src else {
                    return None;
                };
                let a = norm_axis(at.int("axis", 0), rank).ok()?;
                let idx = self.const_in(n, 1).ok()?;
                let [k] = idx.to_i64().ok()?[..] else {
                    return None;
                };
                let Ax::Dir(d) = s.axes[a] else {
                    return None;
                };
                let k = usize::try_from(if k < 0 { k + d as i64 } else { k })
                    .ok()
                    .filter(|&k| k < d)?;
                let dirs = match dirs {
                    Dirs::Concat => Dirs::One(k),
                    d => *d,
                };
                let mut axes = s.axes.clone();
                if idx.dims.is_empty() {
                    axes.remove(a);
                } else {
                    axes[a] = Ax::Dir(1);
                }
                Some(Ok(Seq {
                    src: Src::Node {
                        node: node.clone(),
                        dirs,
                    },
                    axes,
                }))
            }
            "Add" => {
                // The two directions of one node summed (grelu's GRU tower).
                let Some(Rnn::Seq(o)) = self.rnn_in(n, 1) else {
                    return None;
                };
                match (&s.src, &o.src) {
                    (
                        Src::Node {
                            node: a,
                            dirs: Dirs::One(i),
                        },
                        Src::Node {
                            node: b,
                            dirs: Dirs::One(j),
                        },
                    ) if Rc::ptr_eq(a, b) && i != j && s.axes == o.axes => Some(Ok(Seq {
                        src: Src::Node {
                            node: a.clone(),
                            dirs: Dirs::Sum,
                        },
                        axes: s.axes.clone(),
                    })),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The axes after a Reshape to `target`: axes kept, size-1 axes dropped or
/// added, and directions · hidden merged into channels (ONNX Y's order is the
/// engine's concatenation); anything else would move data.
fn reshape(axes: &[Ax], target: &[i64], allowzero: bool, batch: i64) -> R<Vec<Ax>> {
    let src: Vec<i64> = axes.iter().map(|&a| size(a, batch)).collect();
    let mut t: Vec<i64> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &v) in target.iter().enumerate() {
        match v {
            0 if !allowzero => t.push(*src.get(i).ok_or("no dimension to copy")?),
            -1 if infer.is_none() => {
                infer = Some(i);
                t.push(1);
            }
            v if v >= 0 || v == BATCH => t.push(v),
            _ => return Err(format!("Reshape target {target:?} is not a shape")),
        }
    }
    let known = |v: &[i64]| -> i64 { v.iter().filter(|&&x| x != BATCH).product() };
    if let Some(i) = infer {
        let (s, r) = (known(&src), known(&t));
        let src_b = src.contains(&BATCH);
        let t_b = t.contains(&BATCH);
        t[i] = if src_b && !t_b && s == r {
            BATCH
        } else if r != 0 && s % r == 0 && src_b == t_b {
            s / r
        } else {
            return Err(format!("cannot reshape {} to {target:?}", describe(axes)));
        };
    }
    let refuse = || {
        format!(
            "a Reshape of a recurrent tensor {} to {target:?} would move values; only merging directions and hidden, and adding or dropping axes of size 1, are read",
            describe(axes)
        )
    };
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ones = |mut j: usize| {
        while j < axes.len() && axes[j] != Ax::Batch && size(axes[j], batch) == 1 {
            j += 1;
        }
        j
    };
    for &v in &t {
        let j = skip_ones(i);
        if axes.get(j) == Some(&Ax::Batch) && v == batch {
            out.push(Ax::Batch);
            i = j + 1;
            continue;
        }
        if v == 1 {
            out.push(Ax::One);
            continue;
        }
        i = j;
        match (axes.get(i), axes.get(i + 1)) {
            (Some(&a), _) if size(a, batch) == v && a != Ax::Batch => {
                out.push(a);
                i += 1;
            }
            (Some(&Ax::Dir(d)), Some(&Ax::Hidden(u))) if (d * u) as i64 == v => {
                out.push(Ax::Chan(d * u));
                i += 2;
            }
            _ => return Err(refuse()),
        }
    }
    if skip_ones(i) != axes.len() {
        return Err(refuse());
    }
    Ok(out)
}
