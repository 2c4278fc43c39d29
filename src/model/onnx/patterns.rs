//! Subgraphs that are one activation: GELU as exporters decompose it.
//! - exact: 0.5 · x · (1 + erf(x / √2)) — Div(√2) (or Mul(1/√2)) → Erf → Add(1)
//!   → Mul(x) → Mul(0.5), the multiplications in any order;
//! - tanh: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) — torch writes
//!   x³ as Mul(x, Mul(x, x)), others as Pow(x, 3).
//!
//! Each intermediate value must feed only the next node of the pattern (and
//! not be a graph output), so dropping it changes nothing else.
use super::proto::NodeProto;
use crate::model::spec::Activation;
use std::collections::{HashMap, HashSet};

pub struct Fusion {
    /// Node indices, in graph order; the activation is emitted at the last.
    pub nodes: Vec<usize>,
    pub x: String,
    pub out: String,
    pub act: Activation,
}

struct Graph<'a, F: Fn(&str) -> Option<f32>> {
    nodes: &'a [NodeProto],
    producer: HashMap<&'a str, usize>,
    consumers: HashMap<&'a str, Vec<usize>>,
    outputs: HashSet<&'a str>,
    scalar: F,
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * b.abs()
}

impl<'a, F: Fn(&str) -> Option<f32>> Graph<'a, F> {
    fn node(&self, j: usize) -> &'a NodeProto {
        &self.nodes[j]
    }
    fn out(&self, j: usize) -> &'a str {
        self.nodes[j].output.first().map_or("", String::as_str)
    }
    fn producer_of(&self, v: &str) -> Option<usize> {
        self.producer.get(v).copied()
    }
    /// The one node reading `v`, when `v` is not also a graph output.
    fn only_consumer(&self, v: &str) -> Option<usize> {
        if self.outputs.contains(v) {
            return None;
        }
        match self.consumers.get(v).map(Vec::as_slice) {
            Some([j]) => Some(*j),
            _ => None,
        }
    }
    fn is(&self, j: usize, op: &str) -> Option<(&'a str, &'a str)> {
        let n = self.node(j);
        (n.op_type == op && n.domain.is_empty() && n.input.len() == 2 && n.output.len() == 1)
            .then(|| (n.input[0].as_str(), n.input[1].as_str()))
    }
    /// Node `j` is `op` of some value and the scalar constant `c`: that value.
    fn with_scalar(&self, j: usize, op: &str, c: f32) -> Option<&'a str> {
        let (p, q) = self.is(j, op)?;
        if (self.scalar)(q).is_some_and(|v| close(v, c)) {
            return Some(p);
        }
        if op != "Div" && op != "Sub" && (self.scalar)(p).is_some_and(|v| close(v, c)) {
            return Some(q);
        }
        None
    }
    fn half(&self, j: usize) -> Option<&'a str> {
        self.with_scalar(j, "Mul", 0.5)
            .or_else(|| self.with_scalar(j, "Div", 2.0))
    }
    /// The other input of a two-input `op` node that reads `v`.
    fn other(&self, j: usize, op: &str, v: &str) -> Option<&'a str> {
        let (p, q) = self.is(j, op)?;
        if p == v {
            Some(q)
        } else if q == v {
            Some(p)
        } else {
            None
        }
    }
    /// From `a` = Add(1, erf(..)) or Add(1, tanh(..)): the multiplications by
    /// x and 0.5 that finish GELU, in any order. Their nodes and the output.
    fn tail(&self, x: &str, a: usize) -> Option<(Vec<usize>, &'a str)> {
        let a_out = self.out(a);
        let m1 = self.only_consumer(a_out)?;
        let other = self.other(m1, "Mul", a_out)?;
        if other == x {
            // (x · a) · 0.5
            let m2 = self.only_consumer(self.out(m1))?;
            (self.half(m2)? == self.out(m1)).then(|| (vec![m1, m2], self.out(m2)))
        } else if (self.scalar)(other).is_some_and(|v| close(v, 0.5)) {
            // (a · 0.5) · x
            let m2 = self.only_consumer(self.out(m1))?;
            (self.other(m2, "Mul", self.out(m1))? == x).then(|| (vec![m1, m2], self.out(m2)))
        } else {
            // (x · 0.5) · a
            let h = self.producer_of(other)?;
            (self.half(h)? == x && self.only_consumer(other)? == m1)
                .then(|| (vec![h, m1], self.out(m1)))
        }
    }

    fn exact(&self, e: usize) -> Option<Fusion> {
        let n = self.node(e);
        if n.op_type != "Erf" || n.input.len() != 1 {
            return None;
        }
        let d = self.producer_of(&n.input[0])?;
        if self.only_consumer(self.out(d))? != e {
            return None;
        }
        let x = self
            .with_scalar(d, "Div", std::f32::consts::SQRT_2)
            .or_else(|| self.with_scalar(d, "Mul", std::f32::consts::FRAC_1_SQRT_2))?;
        let a = self.only_consumer(self.out(e))?;
        if self.with_scalar(a, "Add", 1.0)? != self.out(e) {
            return None;
        }
        let (rest, out) = self.tail(x, a)?;
        let mut nodes = vec![d, e, a];
        nodes.extend(rest);
        Some(self.fusion(nodes, x, out, Activation::Gelu))
    }

    fn tanh(&self, t: usize) -> Option<Fusion> {
        let n = self.node(t);
        if n.op_type != "Tanh" || n.input.len() != 1 {
            return None;
        }
        let m3 = self.producer_of(&n.input[0])?;
        if self.only_consumer(self.out(m3))? != t {
            return None;
        }
        let a0_out = self.with_scalar(m3, "Mul", (2.0 / std::f32::consts::PI).sqrt())?;
        let a0 = self.producer_of(a0_out)?;
        if self.only_consumer(a0_out)? != m3 {
            return None;
        }
        let (p, q) = self.is(a0, "Add")?;
        for (x, m2_out) in [(p, q), (q, p)] {
            let Some(m2) = self.producer_of(m2_out) else {
                continue;
            };
            if self.only_consumer(m2_out) != Some(a0) {
                continue;
            }
            let Some(cube_out) = self.with_scalar(m2, "Mul", 0.044715) else {
                continue;
            };
            let Some(cube) = self.cube(x, cube_out, m2) else {
                continue;
            };
            let a1 = self.only_consumer(self.out(t))?;
            if self.with_scalar(a1, "Add", 1.0)? != self.out(t) {
                return None;
            }
            let (rest, out) = self.tail(x, a1)?;
            let mut nodes = cube;
            nodes.extend([m2, a0, m3, t, a1]);
            nodes.extend(rest);
            return Some(self.fusion(nodes, x, out, Activation::GeluTanh));
        }
        None
    }

    /// The nodes computing x³ into `v`, read only by node `user`.
    fn cube(&self, x: &str, v: &str, user: usize) -> Option<Vec<usize>> {
        let c = self.producer_of(v)?;
        if self.only_consumer(v)? != user {
            return None;
        }
        if let Some((b, e)) = self.is(c, "Pow") {
            return (b == x && (self.scalar)(e).is_some_and(|v| close(v, 3.0))).then(|| vec![c]);
        }
        let sq = self.other(c, "Mul", x)?;
        let s = self.producer_of(sq)?;
        let (u, w) = self.is(s, "Mul")?;
        (u == x && w == x && self.only_consumer(sq)? == c).then(|| vec![s, c])
    }

    fn fusion(&self, mut nodes: Vec<usize>, x: &str, out: &str, act: Activation) -> Fusion {
        nodes.sort_unstable();
        Fusion {
            nodes,
            x: x.to_string(),
            out: out.to_string(),
            act,
        }
    }
}

/// Every GELU decomposition in the graph. `scalar` gives the value of a
/// one-element constant (initializer or Constant node output) by name.
pub fn find(
    nodes: &[NodeProto],
    graph_outputs: &[&str],
    scalar: impl Fn(&str) -> Option<f32>,
) -> Vec<Fusion> {
    let mut producer = HashMap::new();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, n) in nodes.iter().enumerate() {
        for o in &n.output {
            producer.insert(o.as_str(), j);
        }
        for i in &n.input {
            let c = consumers.entry(i.as_str()).or_default();
            if c.last() != Some(&j) {
                c.push(j);
            }
        }
    }
    let g = Graph {
        nodes,
        producer,
        consumers,
        outputs: graph_outputs.iter().copied().collect(),
        scalar,
    };
    let mut out: Vec<Fusion> = Vec::new();
    let mut taken = HashSet::new();
    for j in 0..nodes.len() {
        if let Some(f) = g.exact(j).or_else(|| g.tanh(j)) {
            if f.nodes.iter().all(|n| !taken.contains(n)) {
                taken.extend(f.nodes.iter().copied());
                out.push(f);
            }
        }
    }
    out
}
