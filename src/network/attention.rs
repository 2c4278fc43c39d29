//! The core of multi-head self-attention on position-major maps: from the
//! projected Q (W × h·dk), K (W × h·dk) and V (W × h·dv) of one item to
//! O (W × h·dv), head by head:
//!
//!   logits = (Q·q_scale + q_bias)·Kᵀ·k_scale  [+ (Q·rel.q_scale + rel.q_bias)·Pᵀ picked by rel.index]
//!   O      = softmax_j(logits)·V
//!
//! The relative positional term (Enformer, grelu) is a product with constant
//! positional keys P (m × dk per head) whose column for the pair (i, j) is
//! `rel.index[i·W + j]` (−1 for a pair the model gives 0), read from the
//! positional logits of query i, or of query `rel.rows[i·W + j]` where the
//! model's shift mixes rows (borzoi-pytorch's at lengths other than 4096);
//! the exporter's "relative shift" is folded into that index when the model
//! is read.
//!
//! Forward keeps every head's W × W attention map of the batch for backward
//! while they fit [`KEEP_MAX_FLOATS`] (batch · heads · W² floats per layer);
//! beyond that backward recomputes each map (one more QKᵀ, positional
//! product and softmax), so a pass then holds one map of W² floats (and the
//! positional logits, W × m) whatever the batch and the heads. Kept or
//! recomputed, a map is the same computation, so the bits are the same.
//! Each item runs alone through products whose shapes do not depend on the
//! batch, so an item's result does not depend on its batch-mates.
use super::gemm;
use crate::model::AttentionSpec;

/// The most floats of attention maps one layer keeps from forward for
/// backward (64 MiB): Enformer-sized maps at W = 128 (4 heads) fit a batch of
/// 256; at W = 1536 (8 heads) not one item does, and backward recomputes.
pub const KEEP_MAX_FLOATS: usize = 1 << 24;

/// The layer and the length it runs at.
#[derive(Debug, Clone)]
pub struct Attention {
    pub w: usize,
    pub s: AttentionSpec,
    /// Where every query reads its own positional logits at consecutive
    /// columns for consecutive keys (the usual relative shift: Enformer,
    /// grelu), the first column per query, so the gather is a slice add.
    starts: Option<Vec<usize>>,
}

/// Per-head work space, reused across items and heads.
#[derive(Default)]
struct Work {
    qa: Vec<f32>,
    qr: Vec<f32>,
    att: Vec<f32>,
    pos: Vec<f32>,
    da: Vec<f32>,
    dq: Vec<f32>,
}

fn fit(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

impl Attention {
    pub fn new(w: usize, s: AttentionSpec) -> Attention {
        let starts = s.rel.as_ref().and_then(|r| {
            if r.rows.is_some() {
                return None;
            }
            (0..w)
                .map(|i| {
                    let cols = &r.index[i * w..(i + 1) * w];
                    let c0 = cols[0];
                    let run = c0 >= 0
                        && cols.iter().enumerate().all(|(j, &c)| c == c0 + j as i32)
                        && c0 as usize + w <= r.m;
                    run.then_some(c0 as usize)
                })
                .collect()
        });
        Attention { w, s, starts }
    }

    /// Q·scale + bias for head `h` of one item, into a dense W × dk matrix.
    fn affine_q(&self, q: &[f32], h: usize, scale: f32, bias: &[f32], out: &mut [f32]) {
        let (dk, hd) = (self.s.dk, self.s.heads * self.s.dk);
        let b = &bias[h * dk..(h + 1) * dk];
        for i in 0..self.w {
            let row = &q[i * hd + h * dk..i * hd + (h + 1) * dk];
            for c in 0..dk {
                out[i * dk + c] = row[c] * scale + b[c];
            }
        }
    }

    /// The attention map of head `h` (W × W, rows summing to 1) into `wk.att`,
    /// leaving the affine queries in `wk.qa` / `wk.qr`.
    fn attention_map(&self, q: &[f32], k: &[f32], h: usize, wk: &mut Work) {
        let (w, dk) = (self.w, self.s.dk);
        let qa = fit(&mut wk.qa, w * dk);
        self.affine_q(q, h, self.s.q_scale, &self.s.q_bias, qa);
        let (off, ld) = (h * dk, self.s.heads * dk);
        let att = fit(&mut wk.att, w * w);
        gemm::sgemm(
            false,
            true,
            w,
            w,
            dk,
            self.s.k_scale,
            qa,
            dk,
            &k[off..],
            ld,
            0.0,
            att,
            w,
        );
        if let Some(r) = &self.s.rel {
            let qr = fit(&mut wk.qr, w * dk);
            self.affine_q(q, h, r.q_scale, &r.q_bias, qr);
            let pos = fit(&mut wk.pos, w * r.m);
            let keys = &r.keys[h * r.m * dk..(h + 1) * r.m * dk];
            gemm::sgemm(
                false, true, w, r.m, dk, 1.0, qr, dk, keys, dk, 0.0, pos, r.m,
            );
            for i in 0..w {
                let cols = &r.index[i * w..(i + 1) * w];
                let row = &mut att[i * w..(i + 1) * w];
                if let Some(st) = &self.starts {
                    let prow = &pos[i * r.m + st[i]..i * r.m + st[i] + w];
                    row.iter_mut().zip(prow).for_each(|(a, p)| *a += p);
                    continue;
                }
                match &r.rows {
                    None => {
                        let prow = &pos[i * r.m..(i + 1) * r.m];
                        for (a, &c) in row.iter_mut().zip(cols) {
                            if c >= 0 {
                                *a += prow[c as usize];
                            }
                        }
                    }
                    Some(rows) => {
                        for ((a, &c), &q) in row.iter_mut().zip(cols).zip(&rows[i * w..(i + 1) * w])
                        {
                            if c >= 0 {
                                *a += pos[q as usize * r.m + c as usize];
                            }
                        }
                    }
                }
            }
        }
        for row in att.chunks_mut(w) {
            let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            super::exp::exp_shifted(row, mx);
            let s: f32 = row.iter().sum();
            let inv = 1.0 / s;
            row.iter_mut().for_each(|a| *a *= inv);
        }
    }

    /// Floats of the maps a batch keeps, or 0 when they would not fit.
    fn kept_len(&self, batch: usize) -> usize {
        let n = batch * self.s.heads * self.w * self.w;
        if n <= KEEP_MAX_FLOATS {
            n
        } else {
            0
        }
    }

    /// `xs` = [Q, K, V], each `batch` maps; `y` gets `batch` maps of W × heads·dv;
    /// `keep` the maps for backward (or nothing, past the budget).
    pub fn forward(&self, xs: &[&[f32]], y: &mut [f32], batch: usize, keep: &mut Vec<f32>) {
        let (w, hk, hv) = (self.w, self.s.heads * self.s.dk, self.s.heads * self.s.dv);
        let mut wk = Work::default();
        let kept = self.kept_len(batch);
        keep.resize(kept, 0.0);
        for b in 0..batch {
            let q = &xs[0][b * w * hk..(b + 1) * w * hk];
            let k = &xs[1][b * w * hk..(b + 1) * w * hk];
            let v = &xs[2][b * w * hv..(b + 1) * w * hv];
            let yb = &mut y[b * w * hv..(b + 1) * w * hv];
            for h in 0..self.s.heads {
                self.attention_map(q, k, h, &mut wk);
                let off = h * self.s.dv;
                gemm::sgemm(
                    false,
                    false,
                    w,
                    self.s.dv,
                    w,
                    1.0,
                    &wk.att[..w * w],
                    w,
                    &v[off..],
                    hv,
                    0.0,
                    &mut yb[off..],
                    hv,
                );
                if kept > 0 {
                    let at = (b * self.s.heads + h) * w * w;
                    keep[at..at + w * w].copy_from_slice(&wk.att[..w * w]);
                }
            }
        }
    }

    /// Gradients of Q, K and V (`dxs`, in that order) from that of the output;
    /// `kept` is what forward kept of these inputs.
    pub fn backward(
        &self,
        xs: &[&[f32]],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        batch: usize,
        kept: &[f32],
    ) {
        let (w, dk, dv) = (self.w, self.s.dk, self.s.dv);
        let (hk, hv) = (self.s.heads * dk, self.s.heads * dv);
        let mut wk = Work::default();
        for b in 0..batch {
            let q = &xs[0][b * w * hk..(b + 1) * w * hk];
            let k = &xs[1][b * w * hk..(b + 1) * w * hk];
            let v = &xs[2][b * w * hv..(b + 1) * w * hv];
            let g = &dy[b * w * hv..(b + 1) * w * hv];
            for h in 0..self.s.heads {
                let att: &[f32] = if kept.len() == self.kept_len(batch) && !kept.is_empty() {
                    let qa = fit(&mut wk.qa, w * dk);
                    self.affine_q(q, h, self.s.q_scale, &self.s.q_bias, qa);
                    let at = (b * self.s.heads + h) * w * w;
                    &kept[at..at + w * w]
                } else {
                    self.attention_map(q, k, h, &mut wk);
                    &wk.att[..w * w]
                };
                let (ko, vo) = (h * dk, h * dv);
                // dV = Aᵀ·dO, dA = dO·Vᵀ.
                gemm::sgemm(
                    true,
                    false,
                    w,
                    dv,
                    w,
                    1.0,
                    att,
                    w,
                    &g[vo..],
                    hv,
                    0.0,
                    &mut dxs[2][b * w * hv + vo..],
                    hv,
                );
                let da = fit(&mut wk.da, w * w);
                gemm::sgemm(
                    false,
                    true,
                    w,
                    w,
                    dv,
                    1.0,
                    &g[vo..],
                    hv,
                    &v[vo..],
                    hv,
                    0.0,
                    da,
                    w,
                );
                // Through the softmax: dL = A ⊙ (dA − Σ_j dA·A).
                for (dr, ar) in da.chunks_mut(w).zip(att.chunks(w)) {
                    let s: f32 = dr.iter().zip(ar).map(|(d, a)| d * a).sum();
                    dr.iter_mut().zip(ar).for_each(|(d, a)| *d = a * (*d - s));
                }
                let dl = &wk.da[..w * w];
                // dK = k_scale · dLᵀ·Qa; dQa = k_scale · dL·K.
                gemm::sgemm(
                    true,
                    false,
                    w,
                    dk,
                    w,
                    self.s.k_scale,
                    dl,
                    w,
                    &wk.qa[..w * dk],
                    dk,
                    0.0,
                    &mut dxs[1][b * w * hk + ko..],
                    hk,
                );
                let dq = fit(&mut wk.dq, w * dk);
                gemm::sgemm(
                    false,
                    false,
                    w,
                    dk,
                    w,
                    self.s.k_scale * self.s.q_scale,
                    dl,
                    w,
                    &k[ko..],
                    hk,
                    0.0,
                    dq,
                    dk,
                );
                if let Some(r) = &self.s.rel {
                    // The positional logits' gradient gathered back to its m
                    // columns, then through the constant keys.
                    let dpos = fit(&mut wk.pos, w * r.m);
                    dpos.fill(0.0);
                    for i in 0..w {
                        let dli = &dl[i * w..(i + 1) * w];
                        if let Some(st) = &self.starts {
                            let drow = &mut dpos[i * r.m + st[i]..i * r.m + st[i] + w];
                            drow.iter_mut().zip(dli).for_each(|(p, d)| *p += d);
                            continue;
                        }
                        let cols = &r.index[i * w..(i + 1) * w];
                        for (j, (&d, &c)) in dli.iter().zip(cols).enumerate() {
                            if c >= 0 {
                                let q = r.rows.as_ref().map_or(i, |rows| rows[i * w + j] as usize);
                                dpos[q * r.m + c as usize] += d;
                            }
                        }
                    }
                    let keys = &r.keys[h * r.m * dk..(h + 1) * r.m * dk];
                    gemm::sgemm(
                        false, false, w, dk, r.m, r.q_scale, dpos, r.m, keys, dk, 1.0, dq, dk,
                    );
                }
                let dqx = &mut dxs[0][b * w * hk..(b + 1) * w * hk];
                for i in 0..w {
                    dqx[i * hk + ko..i * hk + ko + dk].copy_from_slice(&dq[i * dk..(i + 1) * dk]);
                }
            }
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        let (w, h) = (self.w as f64, self.s.heads as f64);
        let m = self.s.rel.as_ref().map_or(0.0, |r| r.m as f64);
        2.0 * h * w * (w * (self.s.dk + self.s.dv) as f64 + m * self.s.dk as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    /// A relative term whose pairs read other queries' rows, as
    /// borzoi-pytorch's strided shift does at a short length.
    fn mixed_rows() -> Attention {
        let mut a = layer(true);
        let w = a.w as i32;
        if let Some(r) = &mut a.s.rel {
            r.rows = Some((0..w * w).map(|p| (p * 5 + 3) % w).collect());
        }
        a
    }

    fn layer(rel: bool) -> Attention {
        let (w, heads, dk, dv, m) = (7, 2, 3, 4, 13);
        let mut r = rng(5);
        let index = (0..w * w)
            .map(|p| {
                let (i, j) = (p / w, p % w);
                // A relative shift with one pair left out, as exports pad.
                if i == 0 && j == w - 1 {
                    -1
                } else {
                    (j + w - 1 - i) as i32
                }
            })
            .collect();
        let s = AttentionSpec {
            heads,
            dk,
            dv,
            q_scale: 0.7,
            q_bias: (0..heads * dk).map(|_| r()).collect(),
            k_scale: 1.3,
            rel: rel.then(|| crate::model::RelPos {
                q_scale: 0.7,
                q_bias: (0..heads * dk).map(|_| r()).collect(),
                keys: (0..heads * m * dk).map(|_| r()).collect(),
                m,
                index,
                rows: None,
            }),
        };
        Attention::new(w, s)
    }

    /// Σ y·t for a fixed t: its gradient against Q, K and V by finite differences.
    fn check(a: &Attention) {
        let batch = 2;
        let (w, hk, hv) = (a.w, a.s.heads * a.s.dk, a.s.heads * a.s.dv);
        let mut r = rng(9);
        let mut ins: Vec<Vec<f32>> = [hk, hk, hv]
            .iter()
            .map(|&c| (0..batch * w * c).map(|_| r() * 1.5).collect())
            .collect();
        let t: Vec<f32> = (0..batch * w * hv).map(|_| r()).collect();
        let f = |ins: &[Vec<f32>]| -> f64 {
            let xs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
            let mut y = vec![0.0; batch * w * hv];
            a.forward(&xs, &mut y, batch, &mut Vec::new());
            y.iter().zip(&t).map(|(a, b)| (a * b) as f64).sum()
        };
        let mut d: Vec<Vec<f32>> = ins.iter().map(|v| vec![0.0; v.len()]).collect();
        {
            let xs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
            let mut dxs: Vec<&mut [f32]> = d.iter_mut().map(Vec::as_mut_slice).collect();
            a.backward(&xs, &t, &mut dxs, batch, &[]);
        }
        let eps = 1e-2;
        for which in 0..3 {
            for i in (0..ins[which].len()).step_by(5) {
                let v = ins[which][i];
                ins[which][i] = v + eps;
                let up = f(&ins);
                ins[which][i] = v - eps;
                let down = f(&ins);
                ins[which][i] = v;
                let num = (up - down) / (2.0 * eps as f64);
                let got = d[which][i] as f64;
                assert!(
                    (num - got).abs() <= 2e-3 * (1.0 + num.abs()),
                    "input {which} value {i}: finite difference {num}, backward {got}"
                );
            }
        }
    }

    /// Backward from the maps forward kept gives the bits of backward that
    /// recomputes them, and forward keeps nothing past the budget.
    #[test]
    fn kept_maps_give_the_recomputed_bits() {
        for a in [layer(false), layer(true), mixed_rows()] {
            let batch = 3;
            let (w, hk, hv) = (a.w, a.s.heads * a.s.dk, a.s.heads * a.s.dv);
            let mut r = rng(11);
            let ins: Vec<Vec<f32>> = [hk, hk, hv]
                .iter()
                .map(|&c| (0..batch * w * c).map(|_| r() * 1.5).collect())
                .collect();
            let xs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
            let t: Vec<f32> = (0..batch * w * hv).map(|_| r()).collect();
            let mut keep = vec![];
            a.forward(&xs, &mut vec![0.0; batch * w * hv], batch, &mut keep);
            assert_eq!(keep.len(), batch * a.s.heads * w * w);
            let grads = |kept: &[f32]| {
                let mut d: Vec<Vec<f32>> = ins.iter().map(|v| vec![0.0; v.len()]).collect();
                let mut dxs: Vec<&mut [f32]> = d.iter_mut().map(Vec::as_mut_slice).collect();
                a.backward(&xs, &t, &mut dxs, batch, kept);
                d
            };
            let bits =
                |d: Vec<Vec<f32>>| -> Vec<u32> { d.concat().iter().map(|v| v.to_bits()).collect() };
            assert_eq!(bits(grads(&keep)), bits(grads(&[])));
        }
        let mut big = layer(false);
        big.w = 1 << 12;
        assert_eq!(big.kept_len(2), 0);
    }

    /// The usual relative shift (every pair read, consecutive columns) takes
    /// the slice path; it gives the index path's bits, forward and backward.
    #[test]
    fn consecutive_columns_give_the_index_paths_bits() {
        let mut fast = layer(true);
        let (w, hk, hv) = (fast.w, fast.s.heads * fast.s.dk, fast.s.heads * fast.s.dv);
        if let Some(r) = &mut fast.s.rel {
            r.index = (0..w * w).map(|p| (p % w + w - 1 - p / w) as i32).collect();
        }
        fast = Attention::new(w, fast.s);
        assert!(fast.starts.is_some());
        let slow = Attention {
            starts: None,
            ..fast.clone()
        };
        check(&fast);
        let mut r = rng(4);
        let ins: Vec<Vec<f32>> = [hk, hk, hv]
            .iter()
            .map(|&c| (0..2 * w * c).map(|_| r()).collect())
            .collect();
        let xs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
        let run = |a: &Attention| {
            let mut y = vec![0.0; 2 * w * hv];
            a.forward(&xs, &mut y, 2, &mut Vec::new());
            let mut d: Vec<Vec<f32>> = ins.iter().map(|v| vec![0.0; v.len()]).collect();
            let mut dxs: Vec<&mut [f32]> = d.iter_mut().map(Vec::as_mut_slice).collect();
            a.backward(&xs, &y, &mut dxs, 2, &[]);
            [y, d.concat()]
                .concat()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&fast), run(&slow));
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(&layer(false));
        check(&layer(true));
        check(&mixed_rows());
    }

    #[test]
    fn rows_of_the_map_sum_to_one_and_an_item_is_alone() {
        let a = layer(true);
        let (w, hk, hv) = (a.w, a.s.heads * a.s.dk, a.s.heads * a.s.dv);
        let mut r = rng(3);
        let ins: Vec<Vec<f32>> = [hk, hk, hv]
            .iter()
            .map(|&c| (0..3 * w * c).map(|_| r()).collect())
            .collect();
        let xs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
        let mut y = vec![0.0; 3 * w * hv];
        a.forward(&xs, &mut y, 3, &mut Vec::new());
        // Item 1 alone gives the same bits.
        let one: Vec<&[f32]> = [(hk, 0), (hk, 1), (hv, 2)]
            .iter()
            .map(|&(c, i)| &ins[i][w * c..2 * w * c])
            .collect();
        let mut y1 = vec![0.0; w * hv];
        a.forward(&one, &mut y1, 1, &mut Vec::new());
        assert_eq!(y1, y[w * hv..2 * w * hv]);
        // V of ones: every output is 1.
        let ones = vec![1.0; w * hv];
        let mut yo = vec![0.0; w * hv];
        a.forward(&[one[0], one[1], &ones], &mut yo, 1, &mut Vec::new());
        assert!(yo.iter().all(|v| (v - 1.0).abs() < 1e-5), "{yo:?}");
    }
}
