//! Multi-head self-attention as exporters write it, read into one
//! [`LayerKind::Attention`] (see `network/attention.rs`).
//!
//! The engine holds a W × C map per item; the per-head tensors of an
//! attention block — Q split into heads (N, h, W, d), the logits and the
//! attention map (N, h, W, W), the positional logits (N, h, W, m) and their
//! "relative shift" — have no such map. They are followed here as symbolic
//! values ([`Sym`]) from the Reshape that splits a projection into heads to
//! the product with V, where the whole block becomes one layer reading the
//! three projections (1×1 convolutions of a channels-last tensor, made by
//! `channels_last.rs`):
//! - `Heads`: a projection viewed as (W, h, d) in some axis order, with an
//!   affine map q·scale + bias(h, d) (the 1/√d scaling and the content and
//!   positional biases);
//! - `Logits`: content logits of two `Heads` (Einsum `bhid,bhjd->bhij` or
//!   MatMul with K transposed), plus at most one positional term;
//! - `Rel`: queries times constant positional keys (h, m, d), then any chain
//!   of Slice / Concat with zeros / Reshape / Transpose: those only move
//!   values, so they are applied to a tensor of indices into the product
//!   (the constant evaluator does the work), and the result is one column of
//!   the positional logits per query–key pair;
//! - `Attn`: Softmax of logits over the last axis; its product with a
//!   `Heads` V emits the layer, whose output is again `Heads` until a
//!   Transpose/Reshape merges the heads back into channels.
use super::{show, Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold::{self, norm_axis};
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{broadcast_index, broadcast_shape, numel, Const, Data, BATCH};
use crate::model::spec::*;
use std::rc::Rc;

pub(super) const W: usize = 0;
pub(super) const H: usize = 1;
pub(super) const D: usize = 2;

#[derive(Debug, Clone)]
pub(super) struct Heads {
    pub(super) t: TensorId,
    /// Positions, heads, values per head.
    pub(super) size: [usize; 3],
    /// The role (W, H or D) of each ONNX axis after the batch.
    pub(super) axes: [usize; 3],
    scale: f32,
    /// h·d, or none.
    bias: Option<Vec<f32>>,
}

impl Heads {
    pub(super) fn dims(&self) -> Vec<usize> {
        self.axes.iter().map(|&r| self.size[r]).collect()
    }
    fn letter(&self, l: &[char], role: usize) -> char {
        let p = self.axes.iter().position(|&r| r == role).unwrap_or(0);
        l[1 + p]
    }
    fn plain(&self) -> bool {
        self.scale == 1.0 && self.bias.is_none()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Rel {
    pub(super) q: Heads,
    /// (h, m, d).
    pub(super) keys: Vec<f32>,
    pub(super) m: usize,
    pub(super) dims: Vec<usize>,
    /// Per element: its flat index in the (h, W, m) product, −1 for zero;
    /// none while the elements are the product itself in its own order
    /// (h·W·m indices would be 2 GB at Borzoi's size; see `strided_shift.rs`).
    pub(super) idx: Option<Vec<i64>>,
    /// The batch axis is flattened into the first axis (at batch 1: one
    /// item's values); only a Gather back to (N, ...) reads it.
    pub(super) flat: bool,
}

impl Rel {
    /// The product index of every element, made when an op moves them.
    pub(super) fn indices(&self) -> Vec<i64> {
        match &self.idx {
            Some(v) => v.clone(),
            None => (0..numel(&self.dims) as i64).collect(),
        }
    }
}

/// The positional term of logits: the queries it multiplies, the keys
/// (h, m, d), m, the column per (i, j) and, where not i, the query row.
#[derive(Debug, Clone)]
pub(super) struct RelTerm {
    q: Heads,
    keys: Vec<f32>,
    m: usize,
    index: Vec<i32>,
    rows: Option<Vec<i32>>,
}

#[derive(Debug, Clone)]
pub(super) struct Logits {
    q: Heads,
    k: Heads,
    rel: Option<RelTerm>,
}

#[derive(Debug, Clone)]
pub(super) enum Sym {
    Heads(Heads),
    Rel(Rel),
    Logits(Logits),
    Attn(Logits),
    /// Windows of positions (Enformer's attention pooling).
    Pool(super::attention_pool::Pool),
    /// Heads with size-1 axes inserted (see `strided_shift.rs`).
    Units(super::strided_shift::Units),
}

impl Sym {
    fn dims(&self) -> Vec<usize> {
        match self {
            Sym::Heads(h) => h.dims(),
            Sym::Rel(r) => r.dims.clone(),
            Sym::Logits(l) | Sym::Attn(l) => vec![l.q.size[H], l.q.size[W], l.k.size[W]],
            Sym::Pool(p) => p.dims(),
            Sym::Units(u) => u.dims.clone(),
        }
    }
}

fn equation(n: &NodeProto) -> R<(Vec<Vec<char>>, Vec<char>)> {
    let eq: String = Attrs::of(n)
        .string("equation", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (lhs, out) = eq
        .split_once("->")
        .ok_or_else(|| format!("equation {eq:?} has no explicit output"))?;
    Ok((
        lhs.split(',').map(|t| t.chars().collect()).collect(),
        out.chars().collect(),
    ))
}

impl Cv<'_> {
    pub(super) fn sym(&self, n: &NodeProto, i: usize) -> Option<Rc<Sym>> {
        match n.input.get(i).and_then(|s| self.values.get(s)) {
            Some(Value::Sym(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub(super) fn set_sym(&mut self, n: &NodeProto, s: Sym) -> R<()> {
        self.values
            .insert(Self::out_name(n).to_string(), Value::Sym(Rc::new(s)));
        Ok(())
    }

    /// The nodes this file reads: any node on a symbolic value, a Reshape
    /// that splits a channels-last tensor into heads, and a ConstantOfShape
    /// of a shape with the batch size (the zeros a relative shift pads with).
    pub(super) fn attention(&mut self, n: &NodeProto, label: &str) -> Option<R<()>> {
        if let Some(r) = self.strided_shift(n) {
            return Some(r);
        }
        let op = n.op_type.as_str();
        let pool =
            (0..n.input.len()).any(|i| matches!(self.sym(n, i).as_deref(), Some(Sym::Pool(_))));
        if pool && op != "Shape" {
            return Some(self.on_pool(n, label));
        }
        if (0..n.input.len()).any(|i| self.sym(n, i).is_some()) {
            return Some(self.on_sym(n, label));
        }
        if op == "Reshape" {
            if let Some(r) = self.pool_reshape(n) {
                return Some(r);
            }
            if let Some(Value::Last { t, w, c }) = n.input.first().and_then(|s| self.values.get(s))
            {
                let (t, w, c) = (*t, *w, *c);
                let to = match self.const_in(n, 1).and_then(|k| k.to_i64()) {
                    Ok(target) if target.len() == 4 => target,
                    _ => return None,
                };
                let allowzero = Attrs::of(n).int("allowzero", 0) != 0;
                return Some(self.batch_reshape(&[w, c], &to, allowzero).and_then(|d| {
                    if d[0] != w || d[1] * d[2] != c {
                        return Err(format!(
                            "turns the channels-last {} into {}; only a split of the channels into heads, (N, W, h, d), is read",
                            show(&[w, c]),
                            show(&d)
                        ));
                    }
                    self.set_sym(
                        n,
                        Sym::Heads(Heads {
                            t,
                            size: [w, d[1], d[2]],
                            axes: [W, H, D],
                            scale: 1.0,
                            bias: None,
                        }),
                    )
                }));
            }
        }
        if op == "Einsum" {
            return Some(Err(
                "Einsum is read inside an attention block only: on queries, keys and values split into heads (a Reshape of a channels-last projection to (N, W, h, d))"
                    .into(),
            ));
        }
        if op == "ConstantOfShape" {
            if let Ok(shape) = self.const_in(n, 0).and_then(|k| k.to_i64()) {
                if shape.first() == Some(&BATCH) {
                    let mut one = shape.clone();
                    one[0] = 1;
                    let count = one.iter().try_fold(1i64, |a, &d| a.checked_mul(d.max(0)));
                    if count.is_none_or(|c| c > 1 << 26) {
                        return Some(Err(format!("ConstantOfShape of {one:?} is too large")));
                    }
                    let k = Const::ints(vec![one.len()], one);
                    return Some(fold::fold(n, &[Some(&k)], &self.dir).map(|mut v| {
                        if let Some(c) = v.pop() {
                            self.values
                                .insert(Self::out_name(n).to_string(), Value::Const(c));
                        }
                    }));
                }
            }
        }
        None
    }

    fn on_sym(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let op = n.op_type.as_str();
        let a = self.sym(n, 0);
        match (op, a.as_deref()) {
            ("Shape", Some(s)) => {
                let mut v = vec![self.batch_fixed.unwrap_or(BATCH)];
                v.extend(s.dims().iter().map(|&d| d as i64));
                let k = fold::shape_slice(&Attrs::of(n), v);
                self.values
                    .insert(Self::out_name(n).to_string(), Value::Const(k));
                Ok(())
            }
            ("Identity" | "Dropout", Some(s)) => {
                let s = s.clone();
                self.set_sym(n, s)
            }
            ("Transpose", Some(Sym::Heads(h))) => {
                let perm = self.perm(n, 4)?;
                let mut out = h.clone();
                for i in 0..3 {
                    out.axes[i] = h.axes[perm[i + 1] - 1];
                }
                self.set_sym(n, Sym::Heads(out))
            }
            ("Reshape", Some(Sym::Heads(h))) => self.merge_heads(n, h),
            ("Mul" | "Div" | "Add" | "Sub", _) if self.heads_in(n).is_some() => self.heads_affine(n),
            ("Mul" | "Div", Some(Sym::Logits(l))) => {
                let l = l.clone();
                self.scale_logits(n, l)
            }
            ("Einsum" | "MatMul", _) => self.product(n, label),
            ("Add", _) => self.add_rel(n),
            ("Softmax", Some(Sym::Logits(l))) => {
                let axis = Attrs::of(n).int("axis", -1);
                if norm_axis(axis, 4)? != 3 {
                    return Err(format!(
                        "softmax over axis {axis} of attention logits; over the keys (the last axis) is read"
                    ));
                }
                let l = l.clone();
                self.set_sym(n, Sym::Attn(l))
            }
            ("Slice" | "Concat" | "Reshape" | "Transpose" | "Squeeze" | "Unsqueeze", _) => {
                self.move_rel(n)
            }
            _ => Err(format!(
                "reads a per-head attention tensor ({}), which only the ops of an attention block read: Reshape/Transpose of heads, scaling and biases, Einsum or MatMul of queries, keys and values, a relative shift (Slice, Concat, Reshape) of positional logits, and Softmax over the keys",
                n.input
                    .iter()
                    .find(|i| matches!(self.values.get(*i), Some(Value::Sym(_))))
                    .map_or("", String::as_str)
            )),
        }
    }

    pub(super) fn perm(&self, n: &NodeProto, rank: usize) -> R<Vec<usize>> {
        let perm: Vec<usize> = match Attrs::of(n).ints("perm") {
            Some(p) => p.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?,
            None => (0..rank).rev().collect(),
        };
        if perm.len() != rank || perm[0] != 0 {
            return Err(format!(
                "perm {perm:?} moves the batch axis of a per-head tensor"
            ));
        }
        Ok(perm)
    }

    /// Heads merged back into channels: (N, W, h·d) is channels-last again,
    /// (N, h·d, W) an ordinary map.
    fn merge_heads(&mut self, n: &NodeProto, h: &Heads) -> R<()> {
        let target = self.const_in(n, 1)?.to_i64()?;
        let allowzero = Attrs::of(n).int("allowzero", 0) != 0;
        let to = self.batch_reshape(&h.dims(), &target, allowzero)?;
        let (w, c) = (h.size[W], h.size[H] * h.size[D]);
        if !h.plain() {
            return Err("merges heads that carry a scale or bias".into());
        }
        let out = Self::out_name(n).to_string();
        match (h.axes, to.as_slice()) {
            ([W, H, D], [a, b]) if (*a, *b) == (w, c) => self.set_last(&out, h.t),
            ([H, D, W], [a, b]) if (*a, *b) == (c, w) => self.set_map(&out, h.t, vec![c, w]),
            _ => Err(format!(
                "reshapes per-head values {} into {}; merging the heads into channels, (N, W, h·d) or (N, h·d, W), is read",
                show(&h.dims()),
                show(&to)
            )),
        }
    }

    /// The per-head input of a binary op, and which input it is.
    fn heads_in(&self, n: &NodeProto) -> Option<(Heads, usize)> {
        (0..2).find_map(|i| match self.sym(n, i).as_deref() {
            Some(Sym::Heads(h)) => Some((h.clone(), i)),
            _ => None,
        })
    }

    /// Queries scaled by a number, or given a bias per head and channel.
    fn heads_affine(&mut self, n: &NodeProto) -> R<()> {
        let op = n.op_type.as_str();
        let (mut h, xi) = self.heads_in(n).ok_or("no per-head input")?;
        if n.input.len() != 2 || (xi == 1 && op != "Mul" && op != "Add") {
            return Err(format!("{op} of a constant by per-head values"));
        }
        let k = self.const_in(n, 1 - xi)?.clone();
        let dims = h.dims();
        let mut full = vec![1];
        full.extend(&dims);
        if k.dims.len() > full.len() || broadcast_shape(&full, &k.dims)? != full {
            return Err(format!(
                "a constant of shape {:?} does not broadcast onto the per-head {}",
                k.dims,
                show(&dims)
            ));
        }
        let kv = k.to_f32();
        let at = broadcast_index(&full, &k.dims);
        // Per (h, d), checking that nothing varies over positions.
        let (nh, nd) = (h.size[H], h.size[D]);
        let mut per = vec![f32::NAN; nh * nd];
        let strides = [dims[1] * dims[2], dims[2], 1];
        for (flat, &src) in at.iter().enumerate() {
            let mut pos = [0usize; 3];
            for (i, ax) in h.axes.iter().enumerate() {
                pos[*ax] = flat / strides[i] % dims[i];
            }
            let slot = &mut per[pos[H] * nd + pos[D]];
            if slot.is_nan() {
                *slot = kv[src];
            } else if *slot != kv[src] {
                return Err("a constant that varies over positions, on per-head values".into());
            }
        }
        let one = per.iter().all(|v| *v == per[0]);
        match op {
            "Mul" | "Div" if one => {
                let s = if op == "Mul" { per[0] } else { 1.0 / per[0] };
                h.scale *= s;
                if let Some(b) = &mut h.bias {
                    b.iter_mut().for_each(|v| *v *= s);
                }
            }
            "Add" | "Sub" => {
                let sign = if op == "Add" { 1.0 } else { -1.0 };
                let b = h.bias.get_or_insert_with(|| vec![0.0; nh * nd]);
                b.iter_mut().zip(&per).for_each(|(v, p)| *v += sign * p);
            }
            _ => {
                return Err(format!(
                    "{op} of per-head values by a constant that is not one number"
                ))
            }
        }
        self.set_sym(n, Sym::Heads(h))
    }

    /// Logits times or over one number (q·kᵀ/√d written after the product).
    fn scale_logits(&mut self, n: &NodeProto, mut l: Logits) -> R<()> {
        let s = self
            .const_in(n, 1)?
            .scalar()
            .ok_or("attention logits scaled by a constant that is not one number")?;
        let s = if n.op_type == "Div" { 1.0 / s } else { s };
        l.k.scale *= s;
        if let Some(RelTerm { q: rq, .. }) = &mut l.rel {
            rq.scale *= s;
            if let Some(b) = &mut rq.bias {
                b.iter_mut().for_each(|v| *v *= s);
            }
        }
        self.set_sym(n, Sym::Logits(l))
    }

    /// Einsum or MatMul: content logits, positional logits, or the product
    /// of the attention map with V (which emits the layer).
    fn product(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let (ins, out) = if n.op_type == "Einsum" {
            equation(n)?
        } else {
            let b: Vec<char> = if self.sym(n, 1).is_some() {
                "bpkj".chars().collect()
            } else {
                "pkj".chars().collect()
            };
            (vec!["bpik".chars().collect(), b], "bpij".chars().collect())
        };
        let (Some(a), [la, lb]) = (self.sym(n, 0), &ins[..]) else {
            return Err("a product of two tensors whose first is per-head is read".into());
        };
        let bad = || {
            format!(
                "the product {} of per-head tensors is not one of an attention block (queries·keys, queries·positional keys, attention·values)",
                ins.iter()
                    .map(|t| t.iter().collect::<String>())
                    .collect::<Vec<_>>()
                    .join(",")
                    + "->"
                    + &out.iter().collect::<String>()
            )
        };
        if la.len() != 4 || out.len() != 4 || out[0] != la[0] {
            return Err(bad());
        }
        match (a.as_ref(), self.sym(n, 1).as_deref()) {
            (Sym::Heads(q), Some(Sym::Heads(k))) => {
                let ok = lb.len() == 4
                    && lb[0] == la[0]
                    && q.letter(la, H) == k.letter(lb, H)
                    && q.letter(la, D) == k.letter(lb, D)
                    && out[1..] == [q.letter(la, H), q.letter(la, W), k.letter(lb, W)]
                    && q.letter(la, W) != k.letter(lb, W)
                    && q.size == k.size;
                if !ok {
                    return Err(bad());
                }
                let l = Logits {
                    q: q.clone(),
                    k: k.clone(),
                    rel: None,
                };
                self.set_sym(n, Sym::Logits(l))
            }
            (Sym::Heads(q), None) => {
                let keys = self.const_in(n, 1)?.clone();
                let (hl, dl) = (q.letter(la, H), q.letter(la, D));
                let ml = out[3];
                let pos = |c: char| lb.iter().position(|&x| x == c);
                let (Some(ph), Some(pm), Some(pd)) = (pos(hl), pos(ml), pos(dl)) else {
                    return Err(bad());
                };
                if lb.len() != 3
                    || keys.dims.len() != 3
                    || out[1..3] != [hl, q.letter(la, W)]
                    || keys.dims[ph] != q.size[H]
                    || keys.dims[pd] != q.size[D]
                {
                    return Err(bad());
                }
                let m = keys.dims[pm];
                let (nh, nd) = (q.size[H], q.size[D]);
                let kv = keys.to_f32();
                let st = [keys.dims[1] * keys.dims[2], keys.dims[2], 1];
                let mut v = Vec::with_capacity(nh * m * nd);
                for hh in 0..nh {
                    for mm in 0..m {
                        for dd in 0..nd {
                            v.push(kv[hh * st[ph] + mm * st[pm] + dd * st[pd]]);
                        }
                    }
                }
                let dims = vec![nh, q.size[W], m];
                let rel = Rel {
                    q: q.clone(),
                    keys: v,
                    m,
                    idx: None,
                    dims,
                    flat: false,
                };
                self.set_sym(n, Sym::Rel(rel))
            }
            (Sym::Attn(l), Some(Sym::Heads(v))) => {
                let (hl, il, jl) = (la[1], la[2], la[3]);
                let ok = lb.len() == 4
                    && lb[0] == la[0]
                    && v.letter(lb, H) == hl
                    && v.letter(lb, W) == jl
                    && v.size[W] == l.k.size[W]
                    && v.size[H] == l.q.size[H];
                if !ok {
                    return Err(bad());
                }
                let dl = v.letter(lb, D);
                let mut axes = [W; 3];
                for (i, c) in out[1..].iter().enumerate() {
                    axes[i] = match *c {
                        c if c == hl => H,
                        c if c == il => W,
                        c if c == dl => D,
                        _ => return Err(bad()),
                    };
                }
                let mut sorted = axes;
                sorted.sort_unstable();
                if !ok || sorted != [W, H, D] {
                    return Err(bad());
                }
                let t = self.emit(label, l, v)?;
                let out = Heads {
                    t,
                    size: [v.size[W], v.size[H], v.size[D]],
                    axes,
                    scale: 1.0,
                    bias: None,
                };
                self.set_sym(n, Sym::Heads(out))
            }
            _ => Err(bad()),
        }
    }

    fn emit(&mut self, label: &str, l: &Logits, v: &Heads) -> R<TensorId> {
        let (q, k) = (&l.q, &l.k);
        if k.bias.is_some() || !v.plain() {
            return Err("keys with a bias, or values with a scale or bias, are not read".into());
        }
        let zeros = || vec![0.0; q.size[H] * q.size[D]];
        let rel = match &l.rel {
            Some(r) => {
                if r.q.t != q.t {
                    return Err("positional logits of other queries than the content logits".into());
                }
                Some(RelPos {
                    q_scale: r.q.scale,
                    q_bias: r.q.bias.clone().unwrap_or_else(zeros),
                    keys: r.keys.clone(),
                    m: r.m,
                    index: r.index.clone(),
                    rows: r.rows.clone(),
                })
            }
            None => None,
        };
        let spec = AttentionSpec {
            heads: q.size[H],
            dk: q.size[D],
            dv: v.size[D],
            q_scale: q.scale,
            q_bias: q.bias.clone().unwrap_or_else(zeros),
            k_scale: k.scale,
            rel,
        };
        self.add(label, LayerKind::Attention(spec), vec![q.t, k.t, v.t])
    }

    /// Content logits plus positional logits that, after the shift, hold one
    /// column per (query, key) pair of the same head and query.
    fn add_rel(&mut self, n: &NodeProto) -> R<()> {
        let (x, y) = (self.sym(n, 0), self.sym(n, 1));
        let ((Some(Sym::Logits(l)), Some(Sym::Rel(r))) | (Some(Sym::Rel(r)), Some(Sym::Logits(l)))) =
            (x.as_deref(), y.as_deref())
        else {
            return Err("Add of per-head tensors other than content and positional logits".into());
        };
        let (nh, w) = (l.q.size[H], l.q.size[W]);
        if l.rel.is_some() || r.flat || r.dims != [nh, w, l.k.size[W]] || l.k.size[W] != w {
            return Err(format!(
                "adds positional logits {} to attention logits {}",
                show(&r.dims),
                show(&[nh, w, l.k.size[W]])
            ));
        }
        let m = r.m;
        let idx = r.indices();
        let mut index = vec![-2i32; w * w];
        let mut rows = vec![0i32; w * w];
        for hh in 0..nh {
            for i in 0..w {
                for j in 0..w {
                    let v = idx[(hh * w + i) * w + j];
                    let (c, q) = if v < 0 {
                        (-1, i as i32)
                    } else {
                        let v = v as usize;
                        if v / (w * m) != hh {
                            return Err("the shifted positional logits mix heads".into());
                        }
                        ((v % m) as i32, ((v / m) % w) as i32)
                    };
                    let slot = &mut index[i * w + j];
                    if *slot != -2 && (*slot != c || rows[i * w + j] != q) {
                        return Err("the positional shift differs between heads".into());
                    }
                    *slot = c;
                    rows[i * w + j] = q;
                }
            }
        }
        // Query i reading its own row is the usual shift; borzoi-pytorch's
        // strided one at a length other than its table's reads other rows.
        let own = rows
            .chunks(w)
            .enumerate()
            .all(|(i, r)| r.iter().all(|&q| q as usize == i));
        let mut l = l.clone();
        l.rel = Some(RelTerm {
            q: r.q.clone(),
            keys: r.keys.clone(),
            m,
            index,
            rows: (!own).then_some(rows),
        });
        self.set_sym(n, Sym::Logits(l))
    }

    /// An op that only moves values, on positional logits: applied to their
    /// index tensor (batch 1; constant zeros become −1).
    fn move_rel(&mut self, n: &NodeProto) -> R<()> {
        let mut base = None;
        let mut ins: Vec<Option<Const>> = Vec::with_capacity(n.input.len());
        for (i, name) in n.input.iter().enumerate() {
            if name.is_empty() {
                ins.push(None);
                continue;
            }
            match self.values.get(name) {
                Some(Value::Sym(s)) => match s.as_ref() {
                    Sym::Rel(r) if !r.flat => {
                        let mut dims = vec![1];
                        dims.extend(&r.dims);
                        base.get_or_insert_with(|| r.clone());
                        ins.push(Some(Const::ints(dims, r.indices())));
                    }
                    _ => return Err(format!(
                        "{} of attention logits or heads; the attention forms read are listed in docs/models.md (\"ONNX models\", multi-head self-attention); score an output before the attention with --output",
                        n.op_type
                    )),
                },
                Some(Value::Const(k)) => {
                    let k = match (&k.data, n.op_type.as_str(), i) {
                        (_, "Concat", _) => {
                            if k.to_f32().iter().any(|v| *v != 0.0) {
                                return Err(
                                    "joins positional logits with non-zero constants".into()
                                );
                            }
                            Const::ints(k.dims.clone(), vec![-1; k.len()])
                        }
                        (Data::I(v), "Reshape", 1) => Const::ints(
                            k.dims.clone(),
                            v.iter().map(|&d| if d == BATCH { 1 } else { d }).collect(),
                        ),
                        _ => k.clone(),
                    };
                    ins.push(Some(k));
                }
                _ => {
                    return Err(format!(
                        "{} of positional logits with a data tensor",
                        n.op_type
                    ))
                }
            }
        }
        let base = base.ok_or("no positional logits among the inputs")?;
        let refs: Vec<Option<&Const>> = ins.iter().map(Option::as_ref).collect();
        let out = fold::fold(n, &refs, &self.dir)?
            .into_iter()
            .next()
            .ok_or("no output")?;
        if out.dims.first() != Some(&1) {
            return Err("moves values across the batch axis".into());
        }
        let idx = out.to_i64()?;
        let rel = Rel {
            dims: out.dims[1..].to_vec(),
            idx: Some(idx),
            ..base
        };
        self.set_sym(n, Sym::Rel(rel))
    }
}
