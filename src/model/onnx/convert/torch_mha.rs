//! PyTorch's own `nn.MultiheadAttention` (inside `nn.TransformerEncoderLayer`
//! or alone), as torch's TorchScript and dynamo exporters write it, read
//! into 1×1 convolutions for Q, K and V, one [`LayerKind::Attention`] and a
//! 1×1 convolution for the output projection.
//!
//! Both exporters write the packed in-projection as one MatMul by a
//! (C, 3C) constant (`in_proj_weight`ᵀ) plus `in_proj_bias`, then split
//! Q, K and V apart and into heads with Reshape / Transpose / Squeeze /
//! Gather chains that fold the batch into other axes ((W, N·h, d), (W·N, C)),
//! which no per-item engine map can hold; the 1/√d scale sits on Q, on Q and
//! K as d^(-1/4) each, or is computed from a Shape. So the block is found on
//! the graph's structure alone (the in-projection before a Softmax and the
//! (C, C) out-projection after it), and then checked by value: its nodes are
//! evaluated on a probe input of two items and compared with standard
//! multi-head attention with the weights read from the two projections, for
//! each head count that divides C. Only an exact match (rel. 1e-3 of the
//! output's scale; a wrong head count, split order, scale or layout is off
//! by far more) is read; anything else, attention masks and
//! `key_padding_mask` included, is refused naming the block.
//!
//! The biases go into the projections' convolutions, so the key bias is
//! exact (it adds q·b_k to a whole row of logits, which softmax cancels, but
//! not in the gradient's rounding, so it is kept rather than dropped).
use super::{Cv, Value, R};
use crate::model::onnx::attrs::Attrs;
use crate::model::onnx::fold;
use crate::model::onnx::proto::NodeProto;
use crate::model::onnx::tensor::{numel, Const};
use crate::model::spec::*;
use std::collections::{HashMap, HashSet};

/// An attention block as found on the graph's structure.
#[derive(Debug)]
pub(super) struct Block {
    /// The block's data input (N, W, C) or (W, N, C).
    x: String,
    in_proj: usize,
    softmax: usize,
    out_proj: usize,
    /// After the out-projection: its bias Add, then relabels, in order.
    chain: Vec<usize>,
    /// Every node the block's output depends on that the input does not, in
    /// graph order: what the probe evaluates.
    nodes: Vec<usize>,
    /// The node whose output is the block's last candidate output.
    pub(super) emit: usize,
    /// Nodes the converter skips: those of `nodes` read only inside the block.
    pub(super) skip: HashSet<usize>,
}

/// Ops that only move values, followed after the out-projection.
const RELABEL: &[&str] = &[
    "Reshape",
    "Transpose",
    "Identity",
    "Squeeze",
    "Unsqueeze",
    "Dropout",
];

/// At most this many nodes between the in-projection and the Softmax, or
/// the Softmax and the out-projection, are searched.
const REACH: usize = 400;

struct G<'a> {
    nodes: &'a [NodeProto],
    producer: HashMap<&'a str, usize>,
    consumers: HashMap<&'a str, Vec<usize>>,
    outputs: HashSet<&'a str>,
}

impl<'a> G<'a> {
    fn new(nodes: &'a [NodeProto], outputs: &[&'a str]) -> Self {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (j, n) in nodes.iter().enumerate() {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), j);
            }
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                consumers.entry(i.as_str()).or_default().push(j);
            }
        }
        G {
            nodes,
            producer,
            consumers,
            outputs: outputs.iter().copied().collect(),
        }
    }

    /// The one node reading `v`'s values (TorchScript also reads its Shape
    /// for the next Reshape's target).
    fn only_consumer(&self, v: &str) -> Option<usize> {
        if self.outputs.contains(v) {
            return None;
        }
        let readers: Vec<usize> = self
            .consumers
            .get(v)?
            .iter()
            .copied()
            .filter(|&j| self.nodes[j].op_type != "Shape")
            .collect();
        match readers[..] {
            [j] => Some(j),
            _ => None,
        }
    }

    /// Every node `v` depends on (through any input).
    fn ancestors(&self, v: &str) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut stack: Vec<usize> = self.producer.get(v).copied().into_iter().collect();
        while let Some(j) = stack.pop() {
            if seen.insert(j) {
                stack.extend(
                    self.nodes[j]
                        .input
                        .iter()
                        .filter_map(|i| self.producer.get(i.as_str()).copied()),
                );
            }
        }
        seen
    }
}

/// The blocks of `nodes`; `dims` gives a constant's shape (`None`: not a constant).
pub(super) fn find(
    nodes: &[NodeProto],
    outputs: &[&str],
    dims: impl Fn(&str) -> Option<Vec<usize>>,
) -> Vec<Block> {
    let g = G::new(nodes, outputs);
    let mut found: Vec<Block> = Vec::new();
    let weight = |n: &NodeProto| -> Option<Vec<usize>> {
        let op = n.op_type.as_str();
        if (op != "MatMul" && op != "Gemm") || n.input.len() < 2 || dims(&n.input[0]).is_some() {
            return None;
        }
        dims(&n.input[1]).filter(|d| d.len() == 2)
    };
    for (s, n) in nodes.iter().enumerate() {
        if n.op_type != "Softmax" || found.iter().any(|b| b.nodes.contains(&s)) {
            continue;
        }
        // Up: the nearest MatMul by a (C, 3C) constant.
        let mut up: Vec<usize> = g
            .ancestors(n.input.first().map_or("", String::as_str))
            .into_iter()
            .collect();
        up.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&in_proj) = up.iter().take(REACH).find(|&&j| {
            nodes[j].op_type == "MatMul"
                && weight(&nodes[j]).is_some_and(|d| d[1] == 3 * d[0] && d[0] > 0)
        }) else {
            continue;
        };
        let c = weight(&nodes[in_proj]).map_or(0, |d| d[0]);
        // Down: the first MatMul or Gemm by a (C, C) constant.
        let mut down = Vec::new();
        let mut stack = vec![s];
        let mut seen = HashSet::new();
        while let Some(j) = stack.pop() {
            if !seen.insert(j) || seen.len() > REACH {
                continue;
            }
            if j != s && weight(&nodes[j]).is_some_and(|d| d == [c, c]) {
                down.push(j);
                continue;
            }
            for o in &nodes[j].output {
                stack.extend(g.consumers.get(o.as_str()).into_iter().flatten());
            }
        }
        let Some(&out_proj) = down.iter().min() else {
            continue;
        };
        let mut chain = Vec::new();
        let mut cur = nodes[out_proj].output.first().map_or("", String::as_str);
        while let Some(k) = g.only_consumer(cur) {
            let m = &nodes[k];
            let bias = m.op_type == "Add"
                && chain.is_empty()
                && m.input
                    .iter()
                    .any(|i| dims(i).is_some_and(|d| numel(&d) == c));
            if !bias && !RELABEL.contains(&m.op_type.as_str()) {
                break;
            }
            chain.push(k);
            cur = m.output.first().map_or("", String::as_str);
        }
        let x = nodes[in_proj].input[0].clone();
        let before = g.ancestors(&x);
        let emit = chain.last().copied().unwrap_or(out_proj);
        let mut block = HashSet::new();
        let mut stack = vec![emit];
        while let Some(j) = stack.pop() {
            if before.contains(&j) || !block.insert(j) {
                continue;
            }
            for i in nodes[j].input.iter().filter(|i| **i != x) {
                stack.extend(g.producer.get(i.as_str()).copied());
            }
        }
        if !block.contains(&in_proj) || !block.contains(&s) {
            continue;
        }
        let mut list: Vec<usize> = block.iter().copied().collect();
        list.sort_unstable();
        let skip = list
            .iter()
            .copied()
            .filter(|&j| {
                j == emit
                    || nodes[j].output.iter().all(|o| {
                        !g.outputs.contains(o.as_str())
                            && g.consumers
                                .get(o.as_str())
                                .is_none_or(|cs| cs.iter().all(|k| block.contains(k)))
                    })
            })
            .collect();
        found.push(Block {
            x,
            in_proj,
            softmax: s,
            out_proj,
            chain,
            nodes: list,
            emit,
            skip,
        });
    }
    found
}

/// A layout of the probe's (and the block's) input and output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// (N, W, C).
    BatchFirst,
    /// (W, N, C).
    TimeMajor,
}

/// Deterministic values in [−1, 1) (no RNG crate in the converter's path).
fn probe_values(n: usize) -> Vec<f32> {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Softmax, Gemm, Mod and Split, which the constant evaluator leaves out
/// (they never act on constants elsewhere); the rest is `fold`'s.
fn eval(n: &NodeProto, ins: &[Option<&Const>], dir: &std::path::Path, opset: i64) -> R<Vec<Const>> {
    let at = Attrs::of(n);
    let input = |i: usize| -> R<&Const> {
        ins.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format!("input {i} is missing"))
    };
    match n.op_type.as_str() {
        "Dropout" => Ok(vec![input(0)?.clone()]),
        "Softmax" => {
            let x = input(0)?;
            let rank = x.dims.len();
            let axis = fold::norm_axis(at.int("axis", if opset >= 13 { -1 } else { 1 }), rank)?;
            if axis + 1 != rank && opset >= 13 {
                return Err(format!("softmax over axis {axis} of {rank}"));
            }
            // Before opset 13 the axes from `axis` on are flattened into one.
            let inner: usize = x.dims[axis..].iter().product();
            let mut v = x.to_f32();
            for row in v.chunks_mut(inner.max(1)) {
                let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut s = 0.0;
                for a in row.iter_mut() {
                    *a = (*a - mx).exp();
                    s += *a;
                }
                row.iter_mut().for_each(|a| *a /= s);
            }
            Ok(vec![Const::floats(x.dims.clone(), v)])
        }
        "Gemm" => {
            let (a, b) = (input(0)?, input(1)?);
            let (ta, tb) = (at.int("transA", 0) != 0, at.int("transB", 0) != 0);
            let (alpha, beta) = (at.float("alpha", 1.0), at.float("beta", 1.0));
            let [ar, ac] = a.dims[..] else {
                return Err("Gemm of a tensor that is not a matrix".into());
            };
            let [br, bc] = b.dims[..] else {
                return Err("Gemm by a tensor that is not a matrix".into());
            };
            let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
            let (k2, nn) = if tb { (bc, br) } else { (br, bc) };
            if k != k2 {
                return Err(format!("Gemm of {:?} and {:?}", a.dims, b.dims));
            }
            let (av, bv) = (a.to_f32(), b.to_f32());
            let mut out = vec![0.0f32; m * nn];
            for i in 0..m {
                for j in 0..nn {
                    let mut s = 0.0;
                    for p in 0..k {
                        let x = if ta { av[p * ac + i] } else { av[i * ac + p] };
                        let y = if tb { bv[j * bc + p] } else { bv[p * bc + j] };
                        s += x * y;
                    }
                    out[i * nn + j] = alpha * s;
                }
            }
            if let Some(c) = ins.get(2).copied().flatten() {
                let full = [m, nn];
                let idx = crate::model::onnx::tensor::broadcast_index(&full, &c.dims);
                if crate::model::onnx::tensor::broadcast_shape(&full, &c.dims)? != full {
                    return Err("Gemm's C does not broadcast".into());
                }
                let cv = c.to_f32();
                out.iter_mut()
                    .zip(idx)
                    .for_each(|(o, i)| *o += beta * cv[i]);
            }
            Ok(vec![Const::floats(vec![m, nn], out)])
        }
        "Mod" => {
            let (a, b) = (input(0)?.to_i64()?, input(1)?.to_i64()?);
            let (da, db) = (&input(0)?.dims, &input(1)?.dims);
            let out = crate::model::onnx::tensor::broadcast_shape(da, db)?;
            let (ia, ib) = (
                crate::model::onnx::tensor::broadcast_index(&out, da),
                crate::model::onnx::tensor::broadcast_index(&out, db),
            );
            let v = ia
                .iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    if b[j] == 0 {
                        Err("Mod by zero".to_string())
                    } else {
                        Ok(a[i].rem_euclid(b[j]))
                    }
                })
                .collect::<R<Vec<i64>>>()?;
            Ok(vec![Const::ints(out, v)])
        }
        _ => fold::fold(n, ins, dir),
    }
}

/// Standard multi-head attention of `x` (items × W × C, position-major),
/// `heads` heads: softmax(Q·Kᵀ/√d)·V, then the out-projection.
fn reference(p: &Proj, x: &[f32], items: usize, w: usize, heads: usize) -> Vec<f32> {
    let c = p.c;
    let d = c / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let lin = |wt: &[f32], b: &[f32], row: &[f32], o: usize| -> f32 {
        b[o] + (0..c).map(|i| wt[o * c + i] * row[i]).sum::<f32>()
    };
    let mut y = vec![0.0; items * w * c];
    let (mut q, mut k, mut v, mut o) = (
        vec![0.0; w * c],
        vec![0.0; w * c],
        vec![0.0; w * c],
        vec![0.0; w * c],
    );
    let mut row = vec![0.0; w];
    for it in 0..items {
        let xs = &x[it * w * c..(it + 1) * w * c];
        for i in 0..w {
            let r = &xs[i * c..(i + 1) * c];
            for u in 0..c {
                q[i * c + u] = lin(&p.w_in[..c * c], &p.b_in[..c], r, u);
                k[i * c + u] = lin(&p.w_in[c * c..2 * c * c], &p.b_in[c..2 * c], r, u);
                v[i * c + u] = lin(&p.w_in[2 * c * c..], &p.b_in[2 * c..], r, u);
            }
        }
        for h in 0..heads {
            for i in 0..w {
                for j in 0..w {
                    row[j] = scale
                        * (0..d)
                            .map(|e| q[i * c + h * d + e] * k[j * c + h * d + e])
                            .sum::<f32>();
                }
                let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f32 = row
                    .iter_mut()
                    .map(|a| {
                        *a = (*a - mx).exp();
                        *a
                    })
                    .sum();
                for e in 0..d {
                    o[i * c + h * d + e] =
                        (0..w).map(|j| row[j] * v[j * c + h * d + e]).sum::<f32>() / s;
                }
            }
        }
        for i in 0..w {
            let r = &o[i * c..(i + 1) * c];
            for u in 0..c {
                y[(it * w + i) * c + u] = lin(&p.w_out, &p.b_out, r, u);
            }
        }
    }
    y
}

/// The two projections, kernels (out, in) row-major.
struct Proj {
    c: usize,
    /// (3C, C): Q, K, V.
    w_in: Vec<f32>,
    b_in: Vec<f32>,
    w_out: Vec<f32>,
    b_out: Vec<f32>,
}

/// `v` (items × W × C in `layout`) as items × W × C, position-major.
fn batch_first(v: &[f32], layout: Layout, items: usize, w: usize, c: usize) -> Vec<f32> {
    match layout {
        Layout::BatchFirst => v.to_vec(),
        Layout::TimeMajor => {
            let mut out = vec![0.0; v.len()];
            for p in 0..w {
                for it in 0..items {
                    out[(it * w + p) * c..(it * w + p + 1) * c]
                        .copy_from_slice(&v[(p * items + it) * c..(p * items + it + 1) * c]);
                }
            }
            out
        }
    }
}

impl Cv<'_> {
    /// The block `b` of `nodes`, emitted at its last node (`label`'s).
    pub(super) fn torch_mha(&mut self, nodes: &[NodeProto], b: &Block) -> R<()> {
        let way_out = "PyTorch's nn.MultiheadAttention is read without attention masks (attn_mask, key_padding_mask, is_causal), with kdim = vdim = embed_dim and bias on or off; score an output before the attention with --output";
        let (t, w, c, layout) = match self.values.get(&b.x) {
            Some(Value::Last { t, w, c }) => (*t, *w, *c, Layout::BatchFirst),
            Some(Value::Refused(r)) => {
                return Err(format!("reads {}, refused at {}: {}", b.x, r.layer, r.msg))
            }
            _ => match self.time_major_in(&b.x) {
                Some((t, w, c)) => (t, w, c, Layout::TimeMajor),
                None => {
                    return Err(format!(
                        "the attention block reads {}, which is not a (N, W, C) or (W, N, C) tensor of channels per position; {way_out}",
                        b.x
                    ))
                }
            },
        };
        let items = if w == 2 { 3 } else { 2 };
        let xs = probe_values(items * w * c);
        let xdims = match layout {
            Layout::BatchFirst => vec![items, w, c],
            Layout::TimeMajor => vec![w, items, c],
        };
        let mut env: HashMap<String, Const> = HashMap::new();
        env.insert(b.x.clone(), Const::floats(xdims, xs.clone()));
        for &j in &b.nodes {
            let n = &nodes[j];
            let ins: Vec<Option<Const>> = n
                .input
                .iter()
                .map(|i| {
                    if i.is_empty() {
                        return Ok(None);
                    }
                    if let Some(k) = env.get(i) {
                        return Ok(Some(k.clone()));
                    }
                    match self.values.get(i) {
                        Some(Value::Const(k)) => Ok(Some(k.clone())),
                        _ => Err(format!(
                            "the attention block (node {}) reads {i}, a tensor computed from the model input other than the block's input {}; {way_out}",
                            Self::label(n, j),
                            b.x
                        )),
                    }
                })
                .collect::<R<_>>()?;
            let refs: Vec<Option<&Const>> = ins.iter().map(Option::as_ref).collect();
            let outs = eval(n, &refs, &self.dir, self.opset).map_err(|e| {
                format!(
                    "checking the attention block at its node {} ({}): {e}; {way_out}",
                    Self::label(n, j),
                    n.op_type
                )
            })?;
            for (o, k) in n.output.iter().zip(outs) {
                env.insert(o.clone(), k);
            }
        }
        let konst = |name: &str| -> Option<&Const> {
            env.get(name).or(match self.values.get(name) {
                Some(Value::Const(k)) => Some(k),
                _ => None,
            })
        };
        let p = self.projections(nodes, b, c, &konst)?;
        // The block's output: the last tensor after the out-projection that
        // is standard attention of the probe, in either layout.
        let mut cands: Vec<usize> = vec![b.out_proj];
        cands.extend(&b.chain);
        let mut heads_tried = Vec::new();
        let mut found = None;
        'heads: for h in (1..=c).filter(|h| c % h == 0) {
            heads_tried.push(h);
            let want = reference(&p, &batch_first(&xs, layout, items, w, c), items, w, h);
            let scale = want.iter().fold(1f32, |a, v| a.max(v.abs()));
            for (ci, &j) in cands.iter().enumerate().rev() {
                let Some(got) = nodes[j].output.first().and_then(|o| env.get(o)) else {
                    continue;
                };
                let lay = match got.dims[..] {
                    [a, bb, cc] if (a, bb, cc) == (items, w, c) => Layout::BatchFirst,
                    [a, bb, cc] if (a, bb, cc) == (w, items, c) => Layout::TimeMajor,
                    _ => continue,
                };
                let g = batch_first(&got.to_f32(), lay, items, w, c);
                let err = g
                    .iter()
                    .zip(&want)
                    .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
                if err <= 1e-3 * scale {
                    found = Some((h, ci, lay));
                    break 'heads;
                }
            }
        }
        let Some((heads, ci, lay)) = found else {
            return Err(format!(
                "the attention block from {} (Softmax {}) is not standard multi-head attention of its in- and out-projections for any head count ({heads_tried:?}) on a probe input; {way_out}",
                Self::label(&nodes[b.in_proj], b.in_proj),
                Self::label(&nodes[b.softmax], b.softmax),
            ));
        };
        let conv = |kernel: &[f32], bias: &[f32]| LayerKind::Conv1D {
            filters: c,
            in_channels: c,
            kernel_size: 1,
            stride: 1,
            dilation: 1,
            padding: Padding::Valid,
            activation: Activation::Linear,
            kernel: kernel.to_vec(),
            bias: Some(bias.to_vec()),
        };
        let base = Self::label(&nodes[b.in_proj], b.in_proj);
        let mut qkv = Vec::new();
        for (i, part) in ["q", "k", "v"].iter().enumerate() {
            let kind = conv(
                &p.w_in[i * c * c..(i + 1) * c * c],
                &p.b_in[i * c..(i + 1) * c],
            );
            qkv.push(self.add(&format!("{base}:{part}"), kind, vec![t])?);
        }
        let d = c / heads;
        let spec = AttentionSpec {
            heads,
            dk: d,
            dv: d,
            q_scale: 1.0 / (d as f32).sqrt(),
            q_bias: vec![0.0; c],
            k_scale: 1.0,
            rel: None,
        };
        let att = self.add(
            &Self::label(&nodes[b.softmax], b.softmax),
            LayerKind::Attention(spec),
            qkv,
        )?;
        let o = self.add(
            &Self::label(&nodes[b.out_proj], b.out_proj),
            conv(&p.w_out, &p.b_out),
            vec![att],
        )?;
        let y_node = cands[ci];
        let y = nodes[y_node].output.first().map_or("", String::as_str);
        match lay {
            Layout::BatchFirst => self.set_last(y, o)?,
            Layout::TimeMajor => self.set_time_major(y, o)?,
        }
        // The relabels after the output (a flatten, say) as ordinary nodes.
        for &j in &cands[ci + 1..] {
            self.node(&nodes[j], &Self::label(&nodes[j], j))?;
        }
        Ok(())
    }

    /// The in- and out-projections' weights and biases (zeros when absent).
    fn projections<'k>(
        &self,
        nodes: &[NodeProto],
        b: &Block,
        c: usize,
        konst: &dyn Fn(&str) -> Option<&'k Const>,
    ) -> R<Proj> {
        let need = |name: &str, what: &str| {
            konst(name).ok_or_else(|| format!("the {what} {name} is not a constant"))
        };
        let wi = need(&nodes[b.in_proj].input[1], "in-projection weight")?.to_f32();
        // (C, 3C) as stored for x·W; the kernel is its transpose.
        let w_in: Vec<f32> = (0..3 * c)
            .flat_map(|o| (0..c).map(move |i| (o, i)))
            .map(|(o, i)| wi[i * 3 * c + o])
            .collect();
        let in_out = nodes[b.in_proj].output.first().map_or("", String::as_str);
        let mut b_in = vec![0.0; 3 * c];
        for &j in &b.nodes {
            let n = &nodes[j];
            if n.op_type == "Add" && n.input.iter().any(|i| i == in_out) {
                if let Some(k) = n
                    .input
                    .iter()
                    .filter(|i| *i != in_out)
                    .find_map(|i| konst(i))
                {
                    if k.len() == 3 * c {
                        b_in = k.to_f32();
                    }
                }
            }
        }
        let op = &nodes[b.out_proj];
        let wo = need(&op.input[1], "out-projection weight")?.to_f32();
        let at = Attrs::of(op);
        let gemm = op.op_type == "Gemm";
        let trans = gemm && at.int("transB", 0) != 0;
        let alpha = if gemm { at.float("alpha", 1.0) } else { 1.0 };
        let w_out: Vec<f32> = (0..c)
            .flat_map(|o| (0..c).map(move |i| (o, i)))
            .map(|(o, i)| alpha * if trans { wo[o * c + i] } else { wo[i * c + o] })
            .collect();
        let mut b_out = vec![0.0; c];
        if gemm {
            if let Some(k) = op
                .input
                .get(2)
                .filter(|s| !s.is_empty())
                .and_then(|s| konst(s))
            {
                let beta = at.float("beta", 1.0);
                let v = k.to_f32();
                match v.len() {
                    1 => b_out.iter_mut().for_each(|a| *a += beta * v[0]),
                    n if n == c => b_out.iter_mut().zip(&v).for_each(|(a, x)| *a += beta * x),
                    _ => {
                        return Err(format!(
                            "the out-projection's bias has {} values for {c} channels",
                            v.len()
                        ))
                    }
                }
            }
        }
        if let Some(&j) = b.chain.first() {
            let n = &nodes[j];
            if n.op_type == "Add" {
                if let Some(k) = n
                    .input
                    .iter()
                    .find_map(|i| konst(i).filter(|k| k.len() == c))
                {
                    b_out.iter_mut().zip(k.to_f32()).for_each(|(a, x)| *a += x);
                }
            }
        }
        Ok(Proj {
            c,
            w_in,
            b_in,
            w_out,
            b_out,
        })
    }
}
