//! ONNX `LayerNormalization` (opset 17): normalisation over the axes from
//! `axis` to the last. The engine normalises the channels of each position,
//! so the normalised axes must hold the channels and nothing else of size
//! above 1: the last axis of a channels-last (N, W, C) tensor (PyTorch's
//! `nn.LayerNorm(C)` after `x.transpose(1, 2)`), or the features of (N, F).
use super::{show, Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::norm_axis;
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::Const;
use crate::model::spec::*;

impl Cv<'_> {
    pub(super) fn layer_norm(&mut self, n: &NodeProto, label: &str) -> R<()> {
        self.only_first_output(n)?;
        let at = Attrs::of(n);
        let name = n.input.first().map_or("", String::as_str);
        // The ONNX shape after the batch axis, the index of the channel axis
        // in it, and how to name the output.
        let (t, dims, chan, last) = match self.values.get(name) {
            Some(Value::Last { t, w, c }) => (*t, vec![*w, *c], 1, true),
            Some(Value::Map { t, dims }) => (*t, dims.clone(), 0, false),
            _ => {
                let (t, dims) = self.map_in(n, 0)?;
                (t, dims, 0, false)
            }
        };
        let rank = dims.len() + 1;
        let axis = norm_axis(at.int("axis", -1), rank)?;
        if axis == 0 {
            return Err("axis 0 normalises over the batch axis".into());
        }
        let k = self.shapes[t].0;
        // Axes of `dims` (batch left out) that are normalised and larger than 1.
        let big: Vec<usize> = (axis - 1..dims.len()).filter(|&i| dims[i] > 1).collect();
        if big.iter().any(|&i| i != chan) || axis - 1 > chan {
            return Err(format!(
                "axis {axis} of {} normalises {}; only normalisation over the channels of each position is supported (nn.LayerNorm(C) on a channels-last (N, W, C) tensor, or on (N, F))",
                show(&dims),
                if big.is_empty() {
                    "nothing".to_string()
                } else {
                    format!(
                        "axes {}",
                        big.iter()
                            .map(|i| (i + 1).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        }
        let per_channel = |c: Option<&Const>, what: &str, default: f32| -> R<Vec<f32>> {
            let Some(c) = c else {
                return Ok(vec![default; k]);
            };
            let v = c.to_f32();
            if c.dims.iter().filter(|&&d| d > 1).count() > 1 || !(v.len() == k || v.len() == 1) {
                return Err(format!(
                    "{what} has shape {:?}; one value per channel ({k}) is supported",
                    c.dims
                ));
            }
            Ok(if v.len() == 1 { vec![v[0]; k] } else { v })
        };
        let gamma = per_channel(Some(self.const_in(n, 1)?), "the scale", 1.0)?;
        let beta = per_channel(self.opt_const(n, 2)?, "the bias", 0.0)?;
        let kind = LayerKind::LayerNorm {
            gamma,
            beta,
            eps: at.float("epsilon", 1e-5),
        };
        let y = self.add(label, kind, vec![t])?;
        if last {
            self.set_last(Self::out_name(n), y)
        } else {
            self.set_map(Self::out_name(n), y, dims)
        }
    }
}
