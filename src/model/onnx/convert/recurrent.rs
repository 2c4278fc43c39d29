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
use super::{Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold;
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::BATCH;
use crate::model::spec::*;
use std::cell::RefCell;
use std::rc::Rc;

mod glue;
mod node;

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
    /// The engine tensor, positions and channels of `name` when it is a
    /// plain time-major (W, N, C) tensor (a Transpose of (N, C, W), say).
    pub(super) fn time_major_in(&self, name: &str) -> Option<(TensorId, usize, usize)> {
        match self.values.get(name) {
            Some(Value::Rnn(Rnn::Seq(Seq {
                src: Src::Tensor(t),
                axes,
            }))) => match axes[..] {
                [Ax::Pos(w), Ax::Batch, Ax::Chan(c)] if self.shapes[*t] == (c, w) => {
                    Some((*t, w, c))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Store engine tensor `t` under `name` as time-major (W, N, C).
    pub(super) fn set_time_major(&mut self, name: &str, t: TensorId) -> R<()> {
        let (c, w) = self.shapes[t];
        let s = Seq {
            src: Src::Tensor(t),
            axes: vec![Ax::Pos(w), Ax::Batch, Ax::Chan(c)],
        };
        if !name.is_empty() {
            self.tensor_names.push((name.to_string(), t));
        }
        self.set_seq(name, s)
    }

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
}

impl Node {
    fn units(&self) -> usize {
        match self.layers.first() {
            Some(LayerKind::Lstm { units, .. } | LayerKind::Gru { units, .. }) => *units,
            _ => 0,
        }
    }
}
