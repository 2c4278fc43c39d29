//! borzoi-pytorch's relative shift as torch's dynamo exporter writes it.
//!
//! The package computes each head's positional logits with
//! `torch.vmap(einsum(q, rel_k).flatten().as_strided(...))`, which dynamo
//! writes as:
//! - an Unsqueeze of the queries (N, h, W, d) to (N, h, W, d, 1) and a Reshape
//!   to (N, h, W, d) (batch axis dynamic) or to (1, h, 1, W, d) (batch 1):
//!   size-1 axes only, followed here as [`Units`];
//! - a MatMul with the constant positional keys, (h, d, 8191) or
//!   (h, 1, d, 8191): the positional logits, a `Rel` (see `attention.rs`)
//!   whose elements are the (h, W, m) product in its own order;
//! - a Reshape and a Transpose of size-1 axes, then a Reshape to one axis,
//!   which flattens the batch axis in with the rest;
//! - a Gather on that axis at indices built from the batch size,
//!   Range(0, N)·(h·W·m) plus the offsets of head, query and key.
//!
//! The indices are evaluated at batch 1 (the Range gives [0]), as all shape
//! arithmetic is: item b's indices are item 0's plus b's offset, so the
//! Gather reads within one item and its result is one item's shifted logits,
//! a `Rel` that `attention.rs` adds to the content logits. At 4096 positions
//! (the package's table) that is the usual shift; at other lengths the
//! strides fold rows into each other, which `RelPos::rows` reproduces.
//!
//! Until the Gather nothing moves values, so the product's indices are not
//! made: h·W·m of them would be 2 GB per layer at Borzoi's size.
use super::attention::{Heads, Rel, Sym, D, H, W};
use super::{Cv, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{numel, Const, BATCH};

/// Heads viewed with size-1 axes inserted.
#[derive(Debug, Clone)]
pub(in crate::model::onnx::convert) struct Units {
    pub(in crate::model::onnx::convert) h: Heads,
    /// The ONNX dims after the batch: the heads' own, in their order, with
    /// size-1 axes among them.
    pub(in crate::model::onnx::convert) dims: Vec<usize>,
}

fn non_unit(d: &[usize]) -> Vec<usize> {
    d.iter().copied().filter(|&x| x != 1).collect()
}

const WAY_OUT: &str = "the forms read are listed in docs/models.md (\"ONNX models\", borzoi-pytorch); score an output before the attention with --output";

impl Cv<'_> {
    /// The nodes of the pattern; `None` leaves a node to `attention.rs`.
    pub(super) fn strided_shift(&mut self, n: &NodeProto) -> Option<R<()>> {
        let op = n.op_type.as_str();
        if op == "Range" {
            return self.range_to_batch(n);
        }
        let a = self.sym(n, 0)?;
        match (op, a.as_ref()) {
            ("Unsqueeze" | "Squeeze" | "Reshape", Sym::Heads(h)) => {
                let dims = match self.moved_dims(n, &h.dims()) {
                    Ok(d) if non_unit(&d) == non_unit(&h.dims()) => d,
                    // A Reshape that merges the heads is attention.rs's.
                    _ if op == "Reshape" => return None,
                    Ok(d) => {
                        return Some(Err(format!(
                            "{op} of per-head queries {:?} to {d:?} does more than insert or remove size-1 axes",
                            h.dims()
                        )))
                    }
                    Err(e) => return Some(Err(e)),
                };
                Some(self.set_units(n, h.clone(), dims))
            }
            ("Unsqueeze" | "Squeeze" | "Reshape", Sym::Units(u)) => Some(
                self.moved_dims(n, &u.dims).and_then(|d| {
                    if non_unit(&d) != non_unit(&u.dims) {
                        return Err(format!(
                            "{op} of per-head queries {:?} to {d:?} does more than insert or remove size-1 axes; {WAY_OUT}",
                            u.dims
                        ));
                    }
                    self.set_units(n, u.h.clone(), d)
                }),
            ),
            ("MatMul", Sym::Units(u)) => Some(self.units_product(n, u)),
            (_, Sym::Units(u)) => Some(Err(format!(
                "{op} of per-head queries viewed as {:?}; only Reshape, Unsqueeze and Squeeze of size-1 axes and the MatMul with constant positional keys are read; {WAY_OUT}",
                u.dims
            ))),
            ("Gather", Sym::Rel(r)) if r.flat => Some(self.gather_flat(n, r)),
            (_, Sym::Rel(r)) if r.flat && op != "Reshape" => Some(Err(format!(
                "{op} of positional logits flattened across the batch; only a Gather back to (N, ...) is read there; {WAY_OUT}"
            ))),
            ("Reshape" | "Squeeze" | "Unsqueeze" | "Transpose", Sym::Rel(r)) if r.idx.is_none() => {
                self.move_in_order(n, r)
            }
            _ => None,
        }
    }

    fn set_units(&mut self, n: &NodeProto, h: Heads, dims: Vec<usize>) -> R<()> {
        if dims == h.dims() {
            self.set_sym(n, Sym::Heads(h))
        } else {
            self.set_sym(n, Sym::Units(Units { h, dims }))
        }
    }

    /// Range(s, N, d) with N the batch size: at batch 1, as the rest of the
    /// shape arithmetic is evaluated (it counts the items a flattened
    /// tensor holds; see the module comment).
    fn range_to_batch(&mut self, n: &NodeProto) -> Option<R<()>> {
        let ins: Vec<Option<&Const>> = (0..3)
            .map(|i| self.opt_const(n, i).ok().flatten())
            .collect();
        let [Some(s), Some(l), Some(d)] = ins[..] else {
            return None;
        };
        let is_batch = |k: &Const| !k.is_float() && k.to_i64().is_ok_and(|v| v == [BATCH]);
        if is_batch(s) || is_batch(d) {
            return Some(Err(
                "Range that starts or steps by the batch size; only a Range up to it (the items of a batch) is read".into(),
            ));
        }
        if !is_batch(l) {
            return None;
        }
        let one = Const::ints(vec![], vec![1]);
        Some(
            fold::fold(n, &[Some(s), Some(&one), Some(d)], &self.dir).map(|mut v| {
                if let Some(c) = v.pop() {
                    self.values
                        .insert(Self::out_name(n).to_string(), super::Value::Const(c));
                }
            }),
        )
    }

    /// The dims after the batch of a Reshape, Unsqueeze, Squeeze or Transpose
    /// of a tensor of `dims` (after the batch), keeping the batch axis first.
    fn moved_dims(&self, n: &NodeProto, dims: &[usize]) -> R<Vec<usize>> {
        let mut full = vec![1];
        full.extend(dims);
        let at = Attrs::of(n);
        match n.op_type.as_str() {
            "Reshape" => {
                let target = self.const_in(n, 1)?.to_i64()?;
                self.batch_reshape(dims, &target, at.int("allowzero", 0) != 0)
            }
            "Transpose" => {
                let perm = self.perm(n, full.len())?;
                Ok(perm[1..].iter().map(|&p| full[p]).collect())
            }
            op => {
                let axes = match at.ints("axes") {
                    Some(a) => Some(a),
                    None => self.opt_const(n, 1)?.map(Const::to_i64).transpose()?,
                };
                if op == "Unsqueeze" {
                    let axes = axes.ok_or("Unsqueeze without axes")?;
                    let rank = full.len() + axes.len();
                    let mut put: Vec<usize> =
                        axes.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?;
                    put.sort_unstable();
                    put.dedup();
                    if put.len() != axes.len() || put.first() == Some(&0) {
                        return Err(format!("Unsqueeze at axes {axes:?} moves the batch axis"));
                    }
                    let mut src = full[1..].iter();
                    Ok((1..rank)
                        .map(|i| {
                            if put.contains(&i) {
                                1
                            } else {
                                *src.next().unwrap_or(&1)
                            }
                        })
                        .collect())
                } else {
                    let Some(axes) = axes else {
                        return Err("Squeeze without axes of a per-head tensor (it would drop the batch axis at batch 1)".into());
                    };
                    let drop: Vec<usize> = axes
                        .iter()
                        .map(|&a| norm_axis(a, full.len()))
                        .collect::<R<_>>()?;
                    if drop.iter().any(|&a| a == 0 || full[a] != 1) {
                        return Err(format!("Squeeze of axes {axes:?} that are not of size 1"));
                    }
                    Ok((1..full.len())
                        .filter(|a| !drop.contains(a))
                        .map(|a| full[a])
                        .collect())
                }
            }
        }
    }

    /// Queries with size-1 axes (…, W, d) times constant keys (…, d, m):
    /// the positional logits, per head a W × m product.
    fn units_product(&mut self, n: &NodeProto, u: &Units) -> R<()> {
        let keys = self.const_in(n, 1)?.clone();
        let mut fa = vec![1];
        fa.extend(&u.dims);
        let (ra, rb) = (fa.len(), keys.dims.len());
        // The role of each axis of the queries' view: the heads' non-unit
        // axes, in order; size-1 axes have none.
        let heads_dims = u.h.dims();
        let mut roles_iter = (0..3).filter(|&i| heads_dims[i] != 1).map(|i| u.h.axes[i]);
        let roles: Vec<Option<usize>> = fa
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i > 0 && d != 1 {
                    roles_iter.next()
                } else {
                    None
                }
            })
            .collect();
        let bad = |why: &str| {
            format!(
                "MatMul of per-head queries viewed as {:?} with a constant of shape {:?}: {why}; queries (…, W, d) times positional keys (…, d, m) are read; {WAY_OUT}",
                u.dims, keys.dims
            )
        };
        if rb < 2 || rb > ra || roles[ra - 2] != Some(W) || roles[ra - 1] != Some(D) {
            return Err(bad("not queries (…, W, d) times a matrix per head"));
        }
        let (nh, w, dk) = (u.h.size[H], u.h.size[W], u.h.size[D]);
        let m = keys.dims[rb - 1];
        if keys.dims[rb - 2] != dk {
            return Err(bad("the keys' second-last axis is not the queries' d"));
        }
        // Leading axes, right-aligned: the keys may vary along the heads'
        // axis only.
        let lead_b = &keys.dims[..rb - 2];
        let off = (ra - 2) - lead_b.len();
        let mut head_stride = 0;
        let mut stride = 1;
        for k in (0..lead_b.len()).rev() {
            let (db, role) = (lead_b[k], roles[off + k]);
            match (db, role) {
                (1, _) => {}
                (d, Some(H)) if d == nh => head_stride = stride,
                _ => return Err(bad("the keys vary along an axis other than the heads")),
            }
            stride *= db;
        }
        let kv = keys.to_f32();
        let mut v = Vec::with_capacity(nh * m * dk);
        for hh in 0..nh {
            let base = hh * head_stride * dk * m;
            for mm in 0..m {
                for dd in 0..dk {
                    v.push(kv[base + dd * m + mm]);
                }
            }
        }
        let mut dims = u.dims[..u.dims.len() - 2].to_vec();
        dims.extend([w, m]);
        let rel = Rel {
            q: u.h.clone(),
            keys: v,
            m,
            dims,
            idx: None,
            flat: false,
        };
        self.set_sym(n, Sym::Rel(rel))
    }

    /// A move of the product that keeps its order (a Reshape, Squeeze,
    /// Unsqueeze, or a Transpose of size-1 axes): only the dims change.
    /// Other moves are left to attention.rs, which makes the indices.
    fn move_in_order(&mut self, n: &NodeProto, r: &Rel) -> Option<R<()>> {
        let op = n.op_type.as_str();
        if op == "Reshape" {
            let target = match self.const_in(n, 1).and_then(Const::to_i64) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            let len = numel(&r.dims);
            if let [t] = target[..] {
                // One axis: the batch flattened in with the rest.
                if t != -1 && t != BATCH && t != len as i64 {
                    return Some(Err(format!(
                        "flattens positional logits of {} values per item to {t}",
                        len
                    )));
                }
                let rel = Rel {
                    dims: vec![len],
                    flat: true,
                    ..r.clone()
                };
                return Some(self.set_sym(n, Sym::Rel(rel)));
            }
        }
        if r.flat {
            return Some(Err(format!(
                "{op} of positional logits flattened across the batch; only a Gather back to (N, ...) is read there; {WAY_OUT}"
            )));
        }
        if op == "Transpose" {
            let mut full = vec![1];
            full.extend(&r.dims);
            let perm = match self.perm(n, full.len()) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            let moved: Vec<usize> = perm.iter().copied().filter(|&p| full[p] != 1).collect();
            if moved.windows(2).any(|w| w[0] > w[1]) {
                return None;
            }
        }
        Some(self.moved_dims(n, &r.dims).and_then(|dims| {
            let rel = Rel { dims, ..r.clone() };
            self.set_sym(n, Sym::Rel(rel))
        }))
    }

    /// The Gather that reads the flattened positional logits back into
    /// (N, ...): at batch 1 its indices must lie within the one item.
    fn gather_flat(&mut self, n: &NodeProto, r: &Rel) -> R<()> {
        let axis = Attrs::of(n).int("axis", 0);
        if axis != 0 && axis != -1 {
            return Err(format!(
                "Gather on axis {axis} of positional logits flattened to one axis"
            ));
        }
        let ind = self.const_in(n, 1)?;
        let len = r.dims[0] as i64;
        if ind.dims.first() != Some(&1) {
            return Err(format!(
                "Gather of flattened positional logits at indices of shape {:?}, which do not start with the batch axis; {WAY_OUT}",
                ind.dims
            ));
        }
        let src = r.idx.as_deref();
        let idx = ind
            .to_i64()?
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + len } else { i };
                if !(0..len).contains(&j) {
                    return Err(format!(
                        "Gather index {i} is outside the {len} positional logits of one item (at batch 1); the indices must not depend on other items"
                    ));
                }
                Ok(src.map_or(j, |s| s[j as usize]))
            })
            .collect::<R<Vec<i64>>>()?;
        let rel = Rel {
            dims: ind.dims[1..].to_vec(),
            idx: Some(idx),
            flat: false,
            ..r.clone()
        };
        self.set_sym(n, Sym::Rel(rel))
    }
}
