//! An ONNX LSTM or GRU node: its settings checked, its weights in the
//! engine's gate order, its outputs Y and Y_h recurrent tensors over the
//! layers not yet placed.
use super::super::{show, Cv, Value, R};
use super::{describe, Ax, Dirs, Node, Rnn, Seq, Src};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::proto::NodeProto;
use crate::model::spec::*;
use std::cell::RefCell;
use std::rc::Rc;

impl Cv<'_> {
    /// An ONNX LSTM or GRU node: its Y a recurrent tensor, its layers placed
    /// when that is read.
    pub(super) fn rnn_node(&mut self, n: &NodeProto, label: &str) -> R<()> {
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
