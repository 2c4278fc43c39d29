//! Nearest-neighbour `Resize` (and the older `Upsample`) that repeats every
//! position an integer number of times: Borzoi's U-net (`nn.Upsample(scale_factor=2)`)
//! exports one. It becomes the engine's upsampling layer, so only the modes
//! whose index map is exactly "output i reads input i / s" are taken; that
//! map is computed from the ONNX formulas for the actual length and compared,
//! rather than trusted from the attribute names.
use super::{show, Cv, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::proto::NodeProto;
use crate::model::spec::*;

/// The most output positions a Resize may make (as many values as the
/// positional features' folding allows).
const MAX_POSITIONS: usize = 1 << 26;

/// The input index that output `i` reads, by the ONNX nearest-mode formulas
/// (1-D, scale `s`, lengths `w_in` → `w_out`); `None` for a mode we do not know.
fn nearest_source(
    i: usize,
    s: f64,
    w_in: usize,
    w_out: usize,
    ctm: &str,
    nm: &str,
) -> Option<usize> {
    let x = i as f64;
    let orig = match ctm {
        "asymmetric" => x / s,
        "half_pixel" => (x + 0.5) / s - 0.5,
        "pytorch_half_pixel" if w_out > 1 => (x + 0.5) / s - 0.5,
        "pytorch_half_pixel" => 0.0,
        "align_corners" if w_out > 1 => x * (w_in as f64 - 1.0) / (w_out as f64 - 1.0),
        "align_corners" => 0.0,
        _ => return None,
    };
    let r = match nm {
        "floor" => orig.floor(),
        "ceil" => orig.ceil(),
        "round_prefer_floor" => {
            if orig.fract().abs() == 0.5 {
                orig.floor()
            } else {
                orig.round()
            }
        }
        "round_prefer_ceil" => {
            if orig.fract().abs() == 0.5 {
                orig.ceil()
            } else {
                orig.round()
            }
        }
        _ => return None,
    };
    Some(r.clamp(0.0, w_in as f64 - 1.0) as usize)
}

impl Cv<'_> {
    pub(super) fn resize(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let (x, dims) = self.map_in(n, 0)?;
        let upsample_op = n.op_type == "Upsample";
        let mode = at.string("mode", "nearest");
        if mode != "nearest" {
            return Err(format!(
                "mode {mode:?}; only nearest-neighbour resizing (repeating positions) is supported"
            ));
        }
        if at.get("axes").is_some() {
            return Err("the axes attribute is not supported; resize all axes with scales".into());
        }
        // Upsample and Resize before opset 11: (X, scales); later: (X, roi, scales, sizes).
        let (ctm, nm) = if upsample_op || self.opset < 11 {
            ("asymmetric".to_string(), "floor".to_string())
        } else {
            (
                at.string("coordinate_transformation_mode", "half_pixel"),
                at.string("nearest_mode", "round_prefer_floor"),
            )
        };
        let rank = dims.len() + 1;
        let w_in = self.shapes[x].1;
        let scales_at = if upsample_op || self.opset < 11 { 1 } else { 2 };
        // Upsample before opset 9 holds its scales as an attribute.
        let scales: Option<Vec<f32>> = match at.floats("scales") {
            Some(v) if upsample_op => Some(v),
            _ => self
                .opt_const(n, scales_at)?
                .filter(|c| c.len() > 0)
                .map(|c| c.to_f32()),
        };
        let sizes = if scales_at == 2 {
            self.opt_const(n, 3)?.filter(|c| c.len() > 0)
        } else {
            None
        };
        let out_dims: Vec<f64> = match (&scales, sizes) {
            (Some(s), None) if s.len() == rank => {
                let mut v = vec![1.0];
                for (d, f) in dims.iter().zip(&s[1..]) {
                    v.push((*d as f64 * *f as f64).floor());
                }
                if s[0] != 1.0 {
                    return Err(format!("scales {s:?} resize the batch axis"));
                }
                v
            }
            (None, Some(z)) if z.len() == rank => {
                let z = z.to_i64()?;
                std::iter::once(1.0)
                    .chain(z[1..].iter().map(|&v| v as f64))
                    .collect()
            }
            _ => {
                return Err(format!(
                    "neither scales nor sizes give one value per axis of {}",
                    show(&dims)
                ))
            }
        };
        // Every axis but the positions keeps its size.
        let pos = dims.len();
        let fixed = dims
            .iter()
            .enumerate()
            .all(|(a, &d)| a + 1 == pos || out_dims[a + 1] == d as f64);
        if dims.len() < 2 || !fixed {
            return Err(format!(
                "resizes {} to {:?}; only resizing the positions (the last axis) of (N, C, W) or (N, C, 1, W) is supported",
                show(&dims),
                &out_dims[1..]
            ));
        }
        // Bounded before the per-position check below walks every output
        // position: a damaged scale (1e12) would otherwise run for hours.
        if !(out_dims[pos] <= MAX_POSITIONS as f64) {
            return Err(format!(
                "resizes {w_in} positions to {}; at most {MAX_POSITIONS} positions are supported (check the node's scales or sizes)",
                out_dims[pos]
            ));
        }
        let w_out = out_dims[pos] as usize;
        if w_out == 0 || !w_out.is_multiple_of(w_in) {
            return Err(format!(
                "resizes {w_in} positions to {w_out}; only an integer upsampling factor is supported"
            ));
        }
        let size = w_out / w_in;
        let s = match scales {
            Some(s) => s[pos] as f64,
            None => size as f64,
        };
        let repeats =
            (0..w_out).all(|i| nearest_source(i, s, w_in, w_out, &ctm, &nm) == Some(i / size));
        if !repeats {
            return Err(format!(
                "coordinate_transformation_mode {ctm:?} with nearest_mode {nm:?} at scale {s} does not repeat each position {size} times; only resizes that do are supported"
            ));
        }
        let mut out = dims.clone();
        out[pos - 1] = w_out;
        if size == 1 {
            return self.alias(n, 0);
        }
        self.layer_out(n, label, LayerKind::UpSample { size }, vec![x], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_modes_that_repeat() {
        let rep = |ctm: &str, nm: &str, s: usize| {
            (0..5 * s).all(|i| nearest_source(i, s as f64, 5, 5 * s, ctm, nm) == Some(i / s))
        };
        for s in [2, 3, 4] {
            assert!(rep("asymmetric", "floor", s));
            assert!(rep("half_pixel", "round_prefer_floor", s));
            assert!(rep("half_pixel", "round_prefer_ceil", s));
            assert!(rep("pytorch_half_pixel", "round_prefer_floor", s));
            assert!(!rep("asymmetric", "ceil", s));
        }
        // align_corners happens to repeat at some lengths (5 → 10), not others.
        assert!(!rep("align_corners", "round_prefer_floor", 3));
        assert!(!rep("asymmetric", "round_prefer_floor", 3));
        assert!(!rep("tf_crop_and_resize", "floor", 2));
    }
}
