//! A small evaluator for the constant parts of a graph: the int64 shape
//! arithmetic exporters write (Shape → Gather → Unsqueeze → Concat feeding a
//! Reshape; Pad's pads built with ConstantOfShape, Slice, Transpose, Cast) and
//! float constants (Constant nodes, arithmetic on them).
use super::attrs::Attrs;
use super::proto::NodeProto;
use super::tensor::{
    broadcast_index, broadcast_shape, from_proto, numel, strides, Const, Data, BATCH,
};
use std::path::Path;

/// Ops the evaluator knows; on data tensors most are not allowed.
pub const FOLDABLE: &[&str] = &[
    "Constant",
    "Identity",
    "Cast",
    "Shape",
    "Size",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Reshape",
    "Flatten",
    "Slice",
    "Transpose",
    "ConstantOfShape",
    "Range",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Sqrt",
    "Reciprocal",
    "Pow",
    "Floor",
    "Ceil",
    "Abs",
    "Equal",
    "Where",
    "Expand",
    "Min",
    "Max",
    "Greater",
    "Less",
    "Sign",
    "Exp",
    "Log",
    "MatMul",
    "Gemm",
];

pub fn norm_axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} is outside a tensor of rank {rank}"))
    }
}

/// The elements `[start, end)` by `step` of an axis of length `d`, as ONNX Slice clamps them.
pub fn slice_range(d: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>, String> {
    if step == 0 {
        return Err("Slice step 0".into());
    }
    let d = d as i64;
    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (fix(start).clamp(0, d), fix(end).clamp(0, d));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (s, e) = (fix(start).clamp(0, d - 1), fix(end).clamp(-1, d - 1));
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

/// Resolve a Reshape target (0 = copy the input's dimension unless
/// `allowzero`, −1 = infer) for an input of `dims`.
pub fn reshape_dims(dims: &[usize], target: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total = numel(dims);
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => {
                out.push(*dims.get(i).ok_or_else(|| {
                    format!("Reshape target {target:?}: no dimension {i} to copy")
                })?)
            }
            t if t >= 0 => out.push(t as usize),
            _ => return Err(format!("Reshape target {target:?} is not a shape")),
        }
    }
    if let Some(i) = infer {
        let rest = numel(&out);
        if rest == 0 || !total.is_multiple_of(rest) {
            return Err(format!("cannot reshape {dims:?} to {target:?}"));
        }
        out[i] = total / rest;
    }
    if numel(&out) != total {
        return Err(format!("cannot reshape {dims:?} to {target:?}"));
    }
    Ok(out)
}

/// Index map of a transpose: for each output element, the input's flat index.
pub fn transpose_index(dims: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let out: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let s = strides(dims);
    let mut idx = Vec::with_capacity(numel(dims));
    let mut pos = vec![0usize; out.len()];
    for _ in 0..numel(&out) {
        idx.push(perm.iter().zip(&pos).map(|(&p, &i)| i * s[p]).sum());
        for ax in (0..out.len()).rev() {
            pos[ax] += 1;
            if pos[ax] < out[ax] {
                break;
            }
            pos[ax] = 0;
        }
    }
    (out, idx)
}

fn unsqueeze_dims(dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let rank = dims.len() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, rank))
        .collect::<Result<_, _>>()?;
    ax.sort_unstable();
    let mut out = Vec::with_capacity(rank);
    let mut it = dims.iter();
    for i in 0..rank {
        if ax.binary_search(&i).is_ok() {
            out.push(1);
        } else {
            out.push(*it.next().ok_or("Unsqueeze axes repeat")?);
        }
    }
    Ok(out)
}

fn squeeze_dims(dims: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    match axes {
        None => Ok(dims.iter().copied().filter(|&d| d != 1).collect()),
        Some(axes) => {
            let ax: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, dims.len()))
                .collect::<Result<_, _>>()?;
            for &a in &ax {
                if dims[a] != 1 {
                    return Err(format!(
                        "Squeeze of axis {a}, which has {} elements",
                        dims[a]
                    ));
                }
            }
            Ok(dims
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
    }
}

/// Axes given as the attribute (older opsets) or as input `i` (newer ones).
pub fn axes_of(
    node: &NodeProto,
    ins: &[Option<&Const>],
    i: usize,
) -> Result<Option<Vec<i64>>, String> {
    if let Some(a) = Attrs::of(node).ints("axes") {
        return Ok(Some(a));
    }
    match ins.get(i).copied().flatten() {
        Some(c) => c.to_i64().map(Some),
        None => Ok(None),
    }
}

fn binary(op: &str, a: &Const, b: &Const) -> Result<Const, String> {
    let out = broadcast_shape(&a.dims, &b.dims)?;
    let ia = broadcast_index(&out, &a.dims);
    let ib = broadcast_index(&out, &b.dims);
    let data = match (&a.data, &b.data) {
        (Data::I(x), Data::I(y)) => {
            let f = |p: i64, q: i64| -> Result<i64, String> {
                if p == BATCH || q == BATCH {
                    return Err("arithmetic on the batch size".into());
                }
                Ok(match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    "Mul" => p.wrapping_mul(q),
                    "Div" if q != 0 => p / q,
                    "Div" => return Err("integer division by zero".into()),
                    "Pow" => p.pow(q.clamp(0, 63) as u32),
                    "Min" => p.min(q),
                    "Max" => p.max(q),
                    "Equal" => (p == q) as i64,
                    _ => unreachable!(),
                })
            };
            Data::I(
                ia.iter()
                    .zip(&ib)
                    .map(|(&i, &j)| f(x[i], y[j]))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let (x, y) = (a.to_f32(), b.to_f32());
            let f = |p: f32, q: f32| match op {
                "Add" => p + q,
                "Sub" => p - q,
                "Mul" => p * q,
                "Div" => p / q,
                "Pow" => p.powf(q),
                "Min" => p.min(q),
                "Max" => p.max(q),
                "Equal" => (p == q) as i64 as f32,
                _ => unreachable!(),
            };
            let v = ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect();
            if op == "Equal" {
                return Ok(Const::ints(
                    out,
                    ia.iter()
                        .zip(&ib)
                        .map(|(&i, &j)| (x[i] == y[j]) as i64)
                        .collect(),
                ));
            }
            Data::F(v)
        }
    };
    Ok(Const { dims: out, data })
}

/// Evaluate `node` on constant inputs (`None` for an omitted optional input).
pub fn fold(
    node: &NodeProto,
    ins: &[Option<&Const>],
    model_dir: &Path,
) -> Result<Vec<Const>, String> {
    let at = Attrs::of(node);
    let input = |i: usize| -> Result<&Const, String> {
        ins.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is missing"))
    };
    let one = |c: Const| Ok(vec![c]);
    match node.op_type.as_str() {
        "Constant" => {
            if let Some(t) = at.tensor("value") {
                return one(from_proto(t, model_dir)?);
            }
            if at.has("value_float") {
                return one(Const::floats(vec![], vec![at.float("value_float", 0.0)]));
            }
            if let Some(v) = at.floats("value_floats") {
                return one(Const::floats(vec![v.len()], v));
            }
            if at.has("value_int") {
                return one(Const::ints(vec![], vec![at.int("value_int", 0)]));
            }
            if let Some(v) = at.ints("value_ints") {
                return one(Const::ints(vec![v.len()], v));
            }
            Err("a Constant without a numeric value (sparse and string constants are not supported)".into())
        }
        "Identity" => one(input(0)?.clone()),
        "Cast" => {
            let x = input(0)?;
            let to = at.int("to", 1);
            // FLOAT, FLOAT16, DOUBLE, BFLOAT16 → float; the integer and bool types → int64.
            Ok(vec![match to {
                1 | 10 | 11 | 16 => Const::floats(x.dims.clone(), x.to_f32()),
                2..=7 | 9 | 12 | 13 => match &x.data {
                    Data::I(v) => Const::ints(x.dims.clone(), v.clone()),
                    Data::F(v) => Const::ints(
                        x.dims.clone(),
                        v.iter()
                            .map(|&f| if to == 9 { (f != 0.0) as i64 } else { f as i64 })
                            .collect(),
                    ),
                },
                _ => {
                    return Err(format!(
                        "Cast to {} is not supported",
                        super::tensor::type_name(to as i32)
                    ))
                }
            }])
        }
        "Shape" => {
            let x = input(0)?;
            let v: Vec<i64> = x.dims.iter().map(|&d| d as i64).collect();
            one(shape_slice(&at, v))
        }
        "Size" => one(Const::ints(vec![], vec![input(0)?.len() as i64])),
        "Gather" => {
            let (x, idx) = (input(0)?, input(1)?);
            if x.dims.is_empty() {
                return Err("Gather from a scalar".into());
            }
            let axis = norm_axis(at.int("axis", 0), x.dims.len())?;
            let d = x.dims[axis];
            let ids: Vec<usize> = idx
                .to_i64()?
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + d as i64 } else { i };
                    usize::try_from(j)
                        .ok()
                        .filter(|&j| j < d)
                        .ok_or_else(|| format!("Gather index {i} outside 0..{d}"))
                })
                .collect::<Result<_, _>>()?;
            let outer: usize = x.dims[..axis].iter().product();
            let inner: usize = x.dims[axis + 1..].iter().product();
            let mut flat = Vec::with_capacity(outer * ids.len() * inner);
            for o in 0..outer {
                for &i in &ids {
                    for n in 0..inner {
                        flat.push((o * d + i) * inner + n);
                    }
                }
            }
            let mut dims = x.dims[..axis].to_vec();
            dims.extend(&idx.dims);
            dims.extend(&x.dims[axis + 1..]);
            one(x.pick(dims, &flat))
        }
        "Unsqueeze" => {
            let x = input(0)?;
            let axes = axes_of(node, ins, 1)?.ok_or("Unsqueeze without axes")?;
            let mut c = x.clone();
            c.dims = unsqueeze_dims(&x.dims, &axes)?;
            one(c)
        }
        "Squeeze" => {
            let x = input(0)?;
            let axes = axes_of(node, ins, 1)?;
            let mut c = x.clone();
            c.dims = squeeze_dims(&x.dims, axes.as_deref())?;
            one(c)
        }
        "Concat" => {
            let xs: Vec<&Const> = ins.iter().filter_map(|c| *c).collect();
            let first = xs.first().ok_or("Concat of nothing")?;
            let rank = first.dims.len();
            let axis = norm_axis(at.int("axis", 0), rank.max(1))?;
            let float = xs.iter().any(|c| c.is_float());
            let outer: usize = first.dims[..axis.min(rank)].iter().product();
            let mut fv = Vec::new();
            let mut iv = Vec::new();
            let mut along = 0;
            for c in &xs {
                if c.dims.len() != rank {
                    return Err("Concat of tensors of different ranks".into());
                }
                along += c.dims.get(axis).copied().unwrap_or(1);
            }
            for o in 0..outer {
                for c in &xs {
                    let chunk = c.len() / outer.max(1);
                    let r = o * chunk..(o + 1) * chunk;
                    if float {
                        fv.extend_from_slice(&c.to_f32()[r]);
                    } else if let Data::I(v) = &c.data {
                        iv.extend_from_slice(&v[r]);
                    }
                }
            }
            let mut dims = first.dims.clone();
            if rank > 0 {
                dims[axis] = along;
            }
            one(if float {
                Const::floats(dims, fv)
            } else {
                Const::ints(dims, iv)
            })
        }
        "Reshape" => {
            let (x, t) = (input(0)?, input(1)?);
            let t = t.to_i64()?;
            let mut c = x.clone();
            c.dims = reshape_dims(&x.dims, &t, at.int("allowzero", 0) != 0)?;
            one(c)
        }
        "Flatten" => {
            let x = input(0)?;
            let axis = norm_axis(at.int("axis", 1), x.dims.len() + 1)?;
            let mut c = x.clone();
            c.dims = vec![numel(&x.dims[..axis]), numel(&x.dims[axis..])];
            one(c)
        }
        "Slice" => {
            let x = input(0)?;
            let (starts, ends, axes, steps) = slice_params(node, ins)?;
            let mut keep: Vec<Vec<usize>> = x.dims.iter().map(|&d| (0..d).collect()).collect();
            for (j, &a) in axes.iter().enumerate() {
                let ax = norm_axis(a, x.dims.len())?;
                keep[ax] = slice_range(x.dims[ax], starts[j], ends[j], steps[j])?;
            }
            let dims: Vec<usize> = keep.iter().map(|k| k.len()).collect();
            let s = strides(&x.dims);
            let mut flat = vec![0usize];
            for (ax, k) in keep.iter().enumerate() {
                let st = s[ax];
                flat = flat
                    .iter()
                    .flat_map(|&b| k.iter().map(move |&i| b + i * st))
                    .collect();
            }
            one(x.pick(dims, &flat))
        }
        "Transpose" => {
            let x = input(0)?;
            let perm: Vec<usize> = match at.ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&a| norm_axis(a, x.dims.len()))
                    .collect::<Result<_, _>>()?,
                None => (0..x.dims.len()).rev().collect(),
            };
            let (dims, idx) = transpose_index(&x.dims, &perm);
            one(x.pick(dims, &idx))
        }
        "ConstantOfShape" => {
            let dims: Vec<usize> = input(0)?
                .to_i64()?
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| format!("ConstantOfShape dimension {d}")))
                .collect::<Result<_, _>>()?;
            let n = numel(&dims);
            let v = match at.tensor("value") {
                Some(t) => from_proto(t, model_dir)?,
                None => Const::floats(vec![1], vec![0.0]),
            };
            one(match v.data {
                Data::F(f) => Const::floats(dims, vec![*f.first().unwrap_or(&0.0); n]),
                Data::I(i) => Const::ints(dims, vec![*i.first().unwrap_or(&0); n]),
            })
        }
        "Range" => {
            let (s, l, d) = (input(0)?, input(1)?, input(2)?);
            if s.is_float() || l.is_float() || d.is_float() {
                let (s, l, d) = (
                    s.scalar().unwrap_or(0.0),
                    l.scalar().unwrap_or(0.0),
                    d.scalar().unwrap_or(1.0),
                );
                let n = ((l - s) / d).ceil().max(0.0) as usize;
                one(Const::floats(
                    vec![n],
                    (0..n).map(|i| s + i as f32 * d).collect(),
                ))
            } else {
                let (s, l, d) = (s.to_i64()?[0], l.to_i64()?[0], d.to_i64()?[0]);
                if d == 0 {
                    return Err("Range delta 0".into());
                }
                let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
                one(Const::ints(
                    vec![n],
                    (0..n as i64).map(|i| s + i * d).collect(),
                ))
            }
        }
        op @ ("Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Min" | "Max") => {
            let xs: Vec<&Const> = ins.iter().filter_map(|c| *c).collect();
            let mut acc = xs.first().ok_or("no inputs")?.to_owned().clone();
            for x in &xs[1..] {
                acc = binary(op, &acc, x)?;
            }
            one(acc)
        }
        "Where" => {
            let (c, x, y) = (input(0)?, input(1)?, input(2)?);
            let out = broadcast_shape(&broadcast_shape(&c.dims, &x.dims)?, &y.dims)?;
            let (ic, ix, iy) = (
                broadcast_index(&out, &c.dims),
                broadcast_index(&out, &x.dims),
                broadcast_index(&out, &y.dims),
            );
            let cv = c.to_f32();
            let pick_c = |n: usize| cv[ic[n]] != 0.0;
            one(match (&x.data, &y.data) {
                (Data::I(a), Data::I(b)) => Const::ints(
                    out.clone(),
                    (0..ic.len())
                        .map(|n| if pick_c(n) { a[ix[n]] } else { b[iy[n]] })
                        .collect(),
                ),
                _ => {
                    let (a, b) = (x.to_f32(), y.to_f32());
                    Const::floats(
                        out.clone(),
                        (0..ic.len())
                            .map(|n| if pick_c(n) { a[ix[n]] } else { b[iy[n]] })
                            .collect(),
                    )
                }
            })
        }
        "Expand" => {
            let (x, s) = (input(0)?, input(1)?);
            let target: Vec<usize> = s.to_i64()?.iter().map(|&d| d.max(0) as usize).collect();
            let out = broadcast_shape(&x.dims, &target)?;
            let idx = broadcast_index(&out, &x.dims);
            one(x.pick(out, &idx))
        }
        op @ ("Neg" | "Sqrt" | "Reciprocal" | "Floor" | "Ceil" | "Abs") => {
            let x = input(0)?;
            match (&x.data, op) {
                (Data::I(v), "Neg") => {
                    one(Const::ints(x.dims.clone(), v.iter().map(|&a| -a).collect()))
                }
                (Data::I(v), "Abs") => one(Const::ints(
                    x.dims.clone(),
                    v.iter().map(|&a| a.abs()).collect(),
                )),
                (Data::I(_), "Floor" | "Ceil") => one(x.clone()),
                _ => {
                    let f = |a: f32| match op {
                        "Neg" => -a,
                        "Sqrt" => a.sqrt(),
                        "Reciprocal" => 1.0 / a,
                        "Floor" => a.floor(),
                        "Ceil" => a.ceil(),
                        _ => a.abs(),
                    };
                    one(Const::floats(
                        x.dims.clone(),
                        x.to_f32().into_iter().map(f).collect(),
                    ))
                }
            }
        }
        op @ ("Greater" | "Less" | "Sign" | "Exp" | "Log" | "MatMul") => {
            let xs: Vec<&Const> = ins.iter().filter_map(|c| *c).collect();
            one(super::fold_position::fold(op, &xs)?)
        }
        "Gemm" => {
            // A product of two initializers (borzoi-pytorch's positional
            // keys: positions · to_rel_kᵀ), evaluated once.
            let (a, b) = (input(0)?, input(1)?);
            let (ta, tb) = (at.int("transA", 0) != 0, at.int("transB", 0) != 0);
            let (alpha, beta) = (at.float("alpha", 1.0), at.float("beta", 1.0));
            let (&[ar, ac], &[br, bc]) = (&a.dims[..], &b.dims[..]) else {
                return Err("Gemm of tensors that are not matrices".into());
            };
            let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
            let (k2, nn) = if tb { (bc, br) } else { (br, bc) };
            if k != k2 {
                return Err(format!("Gemm of {:?} and {:?}", a.dims, b.dims));
            }
            let (av, bv) = (a.to_f32(), b.to_f32());
            let mut out = vec![0f32; m * nn];
            for i in 0..m {
                for j in 0..nn {
                    let mut acc = 0f64;
                    for t in 0..k {
                        let x = if ta { av[t * ac + i] } else { av[i * ac + t] };
                        let y = if tb { bv[j * bc + t] } else { bv[t * bc + j] };
                        acc += x as f64 * y as f64;
                    }
                    out[i * nn + j] = alpha * acc as f32;
                }
            }
            if let Some(c) = ins.get(2).copied().flatten() {
                let cv = c.to_f32();
                let at_c = broadcast_index(&[m, nn], &c.dims);
                out.iter_mut()
                    .zip(&at_c)
                    .for_each(|(o, &p)| *o += beta * cv[p]);
            }
            one(Const::floats(vec![m, nn], out))
        }
        other => Err(format!("{other} cannot be evaluated on constants")),
    }
}

/// Shape's optional `start` / `end` attributes (opset 15).
pub fn shape_slice(at: &Attrs, v: Vec<i64>) -> Const {
    let r = v.len() as i64;
    let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
    let s = clamp(at.int("start", 0));
    let e = clamp(at.int("end", r));
    let v = if s < e { v[s..e].to_vec() } else { vec![] };
    Const::ints(vec![v.len()], v)
}

/// starts, ends, axes, steps.
pub type SliceParams = (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>);

/// Slice's starts, ends, axes, steps: inputs from opset 10 on, attributes before.
pub fn slice_params(node: &NodeProto, ins: &[Option<&Const>]) -> Result<SliceParams, String> {
    let at = Attrs::of(node);
    let get = |i: usize, name: &str| -> Result<Option<Vec<i64>>, String> {
        if let Some(v) = at.ints(name) {
            return Ok(Some(v));
        }
        ins.get(i)
            .copied()
            .flatten()
            .map(|c| c.to_i64())
            .transpose()
    };
    let starts = get(1, "starts")?.ok_or("Slice without starts")?;
    let ends = get(2, "ends")?.ok_or("Slice without ends")?;
    let axes = get(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = get(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("Slice starts, ends, axes and steps differ in length".into());
    }
    Ok((starts, ends, axes, steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_like_onnx() {
        assert_eq!(slice_range(10, 8, -8, 1).unwrap(), Vec::<usize>::new());
        assert_eq!(slice_range(200, 20, -20, 1).unwrap().len(), 160);
        assert_eq!(
            slice_range(4, -1, i64::MIN + 1, -1).unwrap(),
            vec![3, 2, 1, 0]
        );
        assert_eq!(slice_range(4, 1, i64::MAX, 1).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn reshapes_and_transposes() {
        assert_eq!(reshape_dims(&[3, 2], &[-1], false).unwrap(), vec![6]);
        assert_eq!(reshape_dims(&[3, 2], &[0, -1], false).unwrap(), vec![3, 2]);
        assert!(reshape_dims(&[3, 2], &[4, -1], false).is_err());
        let (d, idx) = transpose_index(&[2, 3], &[1, 0]);
        assert_eq!(d, vec![3, 2]);
        assert_eq!(idx, vec![0, 3, 1, 4, 2, 5]);
    }
}
