//! Time-major (W, N, C) tensors between attention blocks: PyTorch's
//! `nn.TransformerEncoderLayer(batch_first=False)` (and
//! `nn.MultiheadAttention` without `batch_first`) keeps the sequence first,
//! and its residual adds, LayerNorms and feed-forward MatMuls act on that
//! layout. Each of them acts on every position's channels alone, so it is
//! converted exactly as on the channels-last (N, W, C) tensor of the same
//! engine map, and its output is time-major again. The Transposes in and out
//! of this layout are `recurrent.rs`'s (an LSTM reads the same layout).
use super::channels_last::POINTWISE;
use super::{Cv, Value, R};
use crate::model::onnx::proto::NodeProto;

/// Ops that act on each position's channels alone (besides the pointwise ones).
const PER_POSITION: &[&str] = &["MatMul", "Add", "Sub", "Mul", "Div", "LayerNormalization"];

impl Cv<'_> {
    /// A per-position op whose data inputs are all time-major (`None`: not
    /// one, left to the other readers, which refuse it with their reasons).
    pub(super) fn per_position_time_major(&mut self, n: &NodeProto, label: &str) -> Option<R<()>> {
        let op = n.op_type.as_str();
        if !PER_POSITION.contains(&op) && !POINTWISE.contains(&op) {
            return None;
        }
        let mut tm = Vec::new();
        for name in n.input.iter().filter(|s| !s.is_empty()) {
            match (self.time_major_in(name), self.values.get(name)) {
                (Some(x), _) => tm.push((name.clone(), x)),
                (None, Some(Value::Const(_))) => {}
                _ => return None,
            }
        }
        let &(_, (_, w0, c0)) = tm.first()?;
        if tm.iter().any(|(_, (_, w, c))| (*w, *c) != (w0, c0)) {
            return None;
        }
        Some(self.time_major_op(n, label, &tm))
    }

    fn time_major_op(
        &mut self,
        n: &NodeProto,
        label: &str,
        tm: &[(String, (usize, usize, usize))],
    ) -> R<()> {
        let c = tm[0].1 .2;
        if matches!(n.op_type.as_str(), "Add" | "Sub" | "Mul" | "Div") {
            // A constant must be per channel: over (N, W, C) and (W, N, C)
            // alike, a constant along the first axes would mean other things.
            for name in &n.input {
                if let Some(Value::Const(k)) = self.values.get(name) {
                    let per_channel = k.dims.iter().rev().skip(1).all(|&d| d == 1)
                        && (k.len() == 1 || k.len() == c);
                    if !per_channel {
                        return Err(format!(
                            "{} of a time-major (W, N, C) tensor and a constant of shape {:?}; constants per channel (C,) or one number are read",
                            n.op_type, k.dims
                        ));
                    }
                }
            }
        }
        // Convert the op on the channels-last view of the same engine map.
        let mut saved = Vec::new();
        for (name, (t, w, c)) in tm {
            let old = self.values.insert(
                name.clone(),
                Value::Last {
                    t: *t,
                    w: *w,
                    c: *c,
                },
            );
            saved.push((name.clone(), old));
        }
        let r = self.channels_last(n, label);
        for (name, old) in saved {
            if let Some(v) = old {
                self.values.insert(name, v);
            }
        }
        r?;
        let out = Self::out_name(n).to_string();
        match self.values.get(&out) {
            Some(Value::Last { t, .. }) => {
                let t = *t;
                self.set_time_major(&out, t)
            }
            _ => Err("a per-position op on a time-major tensor made another layout".into()),
        }
    }
}
