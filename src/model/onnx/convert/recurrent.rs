//! ONNX `LSTM` and `GRU`, and the tensors around them. PyTorch exports
//! `nn.LSTM(batch_first=True)` as a Transpose to (seq, batch, features), the
//! LSTM, and Transposes and a Reshape of its output Y, (seq, directions,
//! batch, hidden), back to (batch, seq, directions·hidden); grelu then
//! slices the two directions apart and adds them. Such tensors are kept here
//! as their axes in ONNX order over what the engine holds (a tensor, or a
//! recurrent node not yet placed), so these relabels cost nothing and the
//! layer is placed once its output is read as (N, W, C) or (N, C, W): a
//! `Bidirectional` layer (channels concatenated, or summed) or one
//! direction's `Lstm`/`Gru`. Y_h, (directions, batch, hidden), is the same
//! with the layers returning only their last step (`h_n[-1]` a Gather of
//! one direction). The zero initial states PyTorch builds from
//! Shape → ConstantOfShape are a value of their own, read only as states.
use super::{show, Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{Const, BATCH};
use crate::model::spec::*;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(super) enum Rnn {
    /// ConstantOfShape of a shape that holds the batch size: `value` everywhere.
    Filled {
        value: f64,
    },
    Seq(Seq),
}

#[derive(Debug, Clone)]
pub(super) struct Seq {
    src: Src,
    axes: Vec<Ax>,
}

/// One ONNX axis and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ax {
    Batch,
    Pos(usize),
    /// The engine's channels (for an unplaced node: directions·hidden, or hidden).
    Chan(usize),
    Dir(usize),
    Hidden(usize),
    One,
}

#[derive(Debug, Clone)]
enum Src {
    /// An engine tensor, (channels, positions).
    Tensor(TensorId),
    Node {
        node: Rc<Node>,
        dirs: Dirs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dirs {
    /// Direction k of the node alone.
    One(usize),
    /// Both, channels concatenated (ONNX Y's own order).
    Concat,
    /// Both, summed.
    Sum,
}

#[derive(Debug)]
struct Node {
    label: String,
    /// The op and opset, for messages.
    op: String,
    x: TensorId,
    /// One `Lstm` or `Gru` per direction, in ONNX's order (forward first).
    layers: Vec<LayerKind>,
    placed: RefCell<Vec<(Dirs, TensorId)>>,
}

const GLUE: &[&str] = &[
    "Identity",
    "Dropout",
    "Transpose",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Gather",
    "Add",
];

fn size(a: Ax, batch: i64) -> i64 {
    match a {
        Ax::Batch => batch,
        Ax::Pos(n) | Ax::Chan(n) | Ax::Dir(n) | Ax::Hidden(n) => n as i64,
        Ax::One => 1,
    }
}

fn describe(axes: &[Ax]) -> String {
    let v: Vec<String> = axes
        .iter()
        .map(|a| match a {
            Ax::Batch => "N".into(),
            Ax::Pos(n) => format!("{n} positions"),
            Ax::Chan(n) => format!("{n} channels"),
            Ax::Dir(n) => format!("{n} directions"),
            Ax::Hidden(n) => format!("{n} hidden"),
            Ax::One => "1".into(),
        })
        .collect();
    format!("({})", v.join(", "))
}

/// Why a tensor of these axes cannot be read by an op other than the glue.
pub(super) fn refusal(name: &str, r: &Rnn) -> String {
    match r {
        Rnn::Filled { .. } => format!(
            "reads {name}, a tensor of the batch's size made by ConstantOfShape; it is read only as an LSTM/GRU initial state (zeros) or sequence_lens"
        ),
        Rnn::Seq(s) => format!(
            "reads {name}, a {} tensor (a recurrent layer's input or output); it is read by LSTM/GRU, Transpose, Reshape, Squeeze and Unsqueeze to (N, W, C) or (N, C, W), and a Slice or Gather of one direction; export the model transposing the recurrent output to batch-first (N, W, C), or score another output with --output",
            describe(&s.axes)
        ),
    }
}

impl Cv<'_> {
    fn rnn_in(&self, n: &NodeProto, i: usize) -> Option<&Rnn> {
        match n.input.get(i).and_then(|s| self.values.get(s)) {
            Some(Value::Rnn(r)) => Some(r),
            _ => None,
        }
    }

    /// The nodes this file converts (`None`: not one of them).
    pub(super) fn recurrent(&mut self, n: &NodeProto, label: &str) -> Option<R<()>> {
        let op = n.op_type.as_str();
        if op == "LSTM" || op == "GRU" {
            return Some(self.rnn_node(n, label));
        }
        if op == "ConstantOfShape" {
            let shape = self.opt_const(n, 0).ok().flatten()?.to_i64().ok()?;
            if !shape.contains(&BATCH) {
                return None;
            }
            let value = match Attrs::of(n).tensor("value") {
                Some(t) => match crate::model::onnx::tensor::from_proto(t, &self.dir) {
                    Ok(c) => c.to_f32().first().copied().unwrap_or(0.0) as f64,
                    Err(e) => return Some(Err(e)),
                },
                None => 0.0,
            };
            let r = Rnn::Filled { value };
            self.values
                .insert(Self::out_name(n).to_string(), Value::Rnn(r));
            return Some(Ok(()));
        }
        if let Some(s) = self.time_major(n) {
            return Some(self.set_seq(Self::out_name(n), s));
        }
        let any = (0..n.input.len()).any(|i| self.rnn_in(n, i).is_some());
        if !any {
            return None;
        }
        if let Some(Rnn::Seq(s)) = self.rnn_in(n, 0) {
            let s = s.clone();
            if op == "Shape" {
                let batch = self.batch_fixed.unwrap_or(BATCH);
                let v = s.axes.iter().map(|&a| size(a, batch)).collect();
                let k = fold::shape_slice(&Attrs::of(n), v);
                self.values
                    .insert(Self::out_name(n).to_string(), Value::Const(k));
                return Some(Ok(()));
            }
            if GLUE.contains(&op) {
                match self.glue(n, s) {
                    Some(Ok(s)) => return Some(self.set_seq(Self::out_name(n), s)),
                    Some(Err(e)) => return Some(Err(e)),
                    None => {}
                }
            }
        }
        // Any other op: the recurrent tensors it reads as (N, W, C) or (N, C, W).
        for i in 0..n.input.len() {
            let Some(r) = self.rnn_in(n, i).cloned() else {
                continue;
            };
            let Rnn::Seq(s) = &r else {
                return Some(Err(refusal(&n.input[i], &r)));
            };
            match self.settle(s) {
                Some(v) => {
                    let v = match v {
                        Ok(v) => v,
                        Err(e) => return Some(Err(e)),
                    };
                    if let Value::Map { t, .. } | Value::Last { t, .. } = v {
                        self.tensor_names.push((n.input[i].clone(), t));
                    }
                    self.values.insert(n.input[i].clone(), v);
                }
                None => return Some(Err(refusal(&n.input[i], &r))),
            }
        }
        Some(self.node(n, label))
    }

    /// A Transpose of (N, C, W) or (N, W, C) to time-major (W, N, C), an LSTM's input.
    fn time_major(&self, n: &NodeProto) -> Option<Seq> {
        if n.op_type != "Transpose" {
            return None;
        }
        let perm = Attrs::of(n).ints("perm")?;
        let (t, axes) = match self.values.get(n.input.first()?)? {
            Value::Map { t, dims } if dims.len() == 2 && perm == [2, 0, 1] => {
                (*t, vec![Ax::Pos(dims[1]), Ax::Batch, Ax::Chan(dims[0])])
            }
            Value::Last { t, w, c } if perm == [1, 0, 2] => {
                (*t, vec![Ax::Pos(*w), Ax::Batch, Ax::Chan(*c)])
            }
            _ => return None,
        };
        Some(Seq {
            src: Src::Tensor(t),
            axes,
        })
    }

    /// A graph output that is still a recurrent tensor, as a value the
    /// outputs can take (a refusal when it is time-major, say).
    pub(super) fn settle_output(&mut self, name: &str) {
        let Some(Value::Rnn(r)) = self.values.get(name).cloned() else {
            return;
        };
        let v = match &r {
            Rnn::Seq(s) => self.settle(s),
            Rnn::Filled { .. } => None,
        };
        let (layer, op) = match &r {
            Rnn::Seq(Seq {
                src: Src::Node { node, .. },
                ..
            }) => (node.label.clone(), format!("{}: ", node.op)),
            _ => (name.to_string(), String::new()),
        };
        let refused = |msg| Value::Refused(Rc::new(super::Refusal { layer, msg }));
        let v = match (v, &r) {
            (Some(Ok(v)), _) => v,
            (Some(Err(msg)), _) => refused(msg),
            (None, Rnn::Seq(s)) => refused(format!(
                "{op}its output {name}, laid out {}, is a graph output without the batch axis first; outputs (N, F), (N, C, W) and (N, W, C) are scored: export the model returning it batch-first (h_n.transpose(0, 1).flatten(1), say), or score another output with --output",
                describe(&s.axes)
            )),
            (None, _) => refused(refusal(name, &r)),
        };
        self.values.insert(name.to_string(), v);
    }

    /// Store `s` under `name`: as a plain value when its src is a tensor in
    /// a layout the other ops read.
    fn set_seq(&mut self, name: &str, s: Seq) -> R<()> {
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
        if super::canonical(&dims) != Some((c, w)) {
            return None;
        }
        Some(Ok(Value::Map { t, dims }))
    }

    /// A recurrent tensor as a plain value: the node placed, its axes (N, W, C)
    /// or (N, C, W). `None` when the axes are not one of those.
    fn settle(&mut self, s: &Seq) -> Option<R<Value>> {
        let (t, axes) = match self.place(s) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        self.plain(t, &axes)
    }

    /// The engine tensor of `s` and its axes over it; an unplaced node is
    /// placed (once per choice of directions).
    fn place(&mut self, s: &Seq) -> R<(TensorId, Vec<Ax>)> {
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
    fn glue(&mut self, n: &NodeProto, s: Seq) -> Option<R<Seq>> {
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

    /// An ONNX LSTM or GRU node: its Y a recurrent tensor, its layers placed
    /// when that is read.
    fn rnn_node(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let lstm = n.op_type == "LSTM";
        let at = Attrs::of(n);
        let gates = if lstm { 4 } else { 3 };
        if let Some(o) = n
            .output
            .get(2)
            .filter(|o| !o.is_empty() && self.used.contains(*o))
        {
            return Err(format!(
                "its output {o} (Y_c, the last cell state) is read; only Y and Y_h, the hidden states, are supported; export the model reading those, or score another output with --output"
            ));
        }
        let direction = at.string("direction", "forward");
        let reverse: &[bool] = match direction.as_str() {
            "forward" => &[false],
            "reverse" => &[true],
            "bidirectional" => &[false, true],
            other => return Err(format!("direction {other:?} is not known")),
        };
        let nd = reverse.len();
        let defaults: &[&str] = if lstm {
            &["sigmoid", "tanh", "tanh"]
        } else {
            &["sigmoid", "tanh"]
        };
        if let Some(acts) = at.get("activations") {
            let got: Vec<String> = acts
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).to_lowercase())
                .collect();
            let want: Vec<&str> = defaults
                .iter()
                .cycle()
                .take(defaults.len() * nd)
                .copied()
                .collect();
            if got != want {
                return Err(format!(
                    "activations {got:?}; only the default ({}) is supported: export the recurrent layer with its default gate and cell activations",
                    defaults.join(", ")
                ));
            }
        }
        if at.has("clip") {
            return Err("clip is set; cell clipping is not supported (export without it)".into());
        }
        if lstm && at.int("input_forget", 0) != 0 {
            return Err(
                "input_forget = 1 (coupled input and forget gates) is not supported".into(),
            );
        }
        let layout = at.int("layout", 0);
        if layout != 0 && layout != 1 {
            return Err(format!("layout {layout} is not known"));
        }
        let wt = self.const_in(n, 1)?.clone();
        let rt = self.const_in(n, 2)?.clone();
        let [d0, g4, k] = wt.dims[..] else {
            return Err(format!(
                "W has shape {:?}, (directions, {gates}·hidden, input) expected",
                wt.dims
            ));
        };
        let u = g4 / gates;
        let hidden = at.int("hidden_size", u as i64);
        if d0 != nd || g4 != gates * u || hidden != u as i64 {
            return Err(format!(
                "W has shape {:?} for {nd} direction(s) of hidden_size {hidden}",
                wt.dims
            ));
        }
        if rt.dims != [nd, gates * u, u] {
            return Err(format!(
                "R has shape {:?}, ({nd}, {}, {u}) expected",
                rt.dims,
                gates * u
            ));
        }
        let b = match self.opt_const(n, 3)? {
            Some(b) if b.dims != [nd, 2 * gates * u] => {
                return Err(format!(
                    "B has shape {:?}, ({nd}, {}) expected",
                    b.dims,
                    2 * gates * u
                ))
            }
            Some(b) => b.to_f32(),
            None => vec![0.0; nd * 2 * gates * u],
        };
        // X, the sequence: (seq, batch, input) for layout 0, (batch, seq, input) for 1.
        let (x, axes) = match n.input.first().and_then(|s| self.values.get(s)).cloned() {
            Some(Value::Last { t, w, c }) => (t, vec![Ax::Batch, Ax::Pos(w), Ax::Chan(c)]),
            Some(Value::Map { t, dims }) if dims.len() == 2 => {
                (t, vec![Ax::Batch, Ax::Chan(dims[0]), Ax::Pos(dims[1])])
            }
            Some(Value::Rnn(Rnn::Seq(s))) => self.place(&s)?,
            _ => {
                let (_, dims) = self.map_in(n, 0)?;
                return Err(format!(
                    "X is {}; a sequence (seq, N, features) is expected",
                    show(&dims)
                ));
            }
        };
        let (kc, w) = self.shapes[x];
        let want = if layout == 0 {
            [Ax::Pos(w), Ax::Batch, Ax::Chan(kc)]
        } else {
            [Ax::Batch, Ax::Pos(w), Ax::Chan(kc)]
        };
        if axes != want {
            return Err(format!(
                "X is laid out {}, layout {layout} reads {}; export the recurrent layer on a (N, C, L) map transposed to (N, L, C) (batch_first) or to (L, N, C)",
                describe(&axes),
                describe(&want)
            ));
        }
        if kc != k {
            return Err(format!("W reads {k} features, X has {kc}"));
        }
        self.zero_state(n, 4, "sequence_lens", Some(w as f64))?;
        self.zero_state(n, 5, "initial_h", None)?;
        if lstm {
            self.zero_state(n, 6, "initial_c", None)?;
            if let Some(p) = self.opt_const(n, 7)? {
                if p.to_f32().iter().any(|&v| v != 0.0) {
                    return Err(
                        "peephole weights P are not zero; peepholes are not supported".into(),
                    );
                }
            }
        }
        let (wv, rv) = (wt.to_f32(), rt.to_f32());
        let g = gates * u;
        // ONNX gate blocks, in the engine's order: LSTM i, o, f, c → i, f, c, o; GRU z, r, h as is.
        let order: &[usize] = if lstm { &[0, 2, 3, 1] } else { &[0, 1, 2] };
        let pick = |v: &[f32], cols: usize| -> Vec<f32> {
            order
                .iter()
                .flat_map(|&blk| v[blk * u * cols..(blk + 1) * u * cols].iter().copied())
                .collect()
        };
        let mut layers = Vec::new();
        for (d, &rev) in reverse.iter().enumerate() {
            let kernel = pick(&wv[d * g * k..(d + 1) * g * k], k);
            let recurrent = pick(&rv[d * g * u..(d + 1) * g * u], u);
            let bw = pick(&b[d * 2 * g..d * 2 * g + g], 1);
            let br = pick(&b[d * 2 * g + g..(d + 1) * 2 * g], 1);
            layers.push(if lstm {
                LayerKind::Lstm {
                    units: u,
                    in_channels: k,
                    reverse: rev,
                    return_sequences: true,
                    kernel,
                    recurrent,
                    bias: bw.iter().zip(&br).map(|(a, b)| a + b).collect(),
                }
            } else {
                LayerKind::Gru {
                    units: u,
                    in_channels: k,
                    reverse: rev,
                    return_sequences: true,
                    reset_after: at.int("linear_before_reset", 0) != 0,
                    kernel,
                    recurrent,
                    bias: bw,
                    recurrent_bias: br,
                }
            });
        }
        // Shapes checked now, so a bad weight is this node's error.
        for l in &layers {
            l.output_shape(&[(k, w)])?;
        }
        // Y_h: the same layers keeping only the state of their last step.
        let last: Vec<LayerKind> = layers
            .iter()
            .cloned()
            .map(|mut l| {
                if let LayerKind::Lstm {
                    return_sequences, ..
                }
                | LayerKind::Gru {
                    return_sequences, ..
                } = &mut l
                {
                    *return_sequences = false;
                }
                l
            })
            .collect();
        let dirs = if nd == 2 { Dirs::Concat } else { Dirs::One(0) };
        let (y, y_h) = if layout == 0 {
            (
                vec![Ax::Pos(w), Ax::Dir(nd), Ax::Batch, Ax::Hidden(u)],
                vec![Ax::Dir(nd), Ax::Batch, Ax::Hidden(u)],
            )
        } else {
            (
                vec![Ax::Batch, Ax::Pos(w), Ax::Dir(nd), Ax::Hidden(u)],
                vec![Ax::Batch, Ax::Dir(nd), Ax::Hidden(u)],
            )
        };
        for (i, (layers, axes)) in [(layers, y), (last, y_h)].into_iter().enumerate() {
            let Some(out) = n.output.get(i) else {
                continue;
            };
            let node = Rc::new(Node {
                label: label.to_string(),
                op: format!("{} (opset {})", n.op_type, self.opset),
                x,
                layers,
                placed: RefCell::new(Vec::new()),
            });
            let s = Seq {
                src: Src::Node { node, dirs },
                axes,
            };
            self.set_seq(out, s)?;
        }
        Ok(())
    }

    /// An initial state (or sequence_lens): absent, or `value` everywhere
    /// (zeros for a state, the full length for sequence_lens).
    fn zero_state(&self, n: &NodeProto, i: usize, what: &str, full: Option<f64>) -> R<()> {
        let want = full.unwrap_or(0.0);
        let name = match n.input.get(i).map(String::as_str) {
            None | Some("") => return Ok(()),
            Some(s) => s,
        };
        let ok = match self.values.get(name) {
            Some(Value::Rnn(Rnn::Filled { value, .. })) => *value == want,
            Some(Value::Const(c)) => c.to_f32().iter().all(|&v| v as f64 == want),
            _ => false,
        };
        if ok {
            return Ok(());
        }
        Err(match full {
            Some(w) => format!(
                "{what} ({name}) is not the full length {w} for every item; only unpadded sequences are supported (export without sequence_lens)"
            ),
            None => format!(
                "{what} ({name}) is not zero; only zero initial states are supported (export without passing a state)"
            ),
        })
    }
}

impl Node {
    fn units(&self) -> usize {
        match self.layers.first() {
            Some(LayerKind::Lstm { units, .. } | LayerKind::Gru { units, .. }) => *units,
            _ => 0,
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
