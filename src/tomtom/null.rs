//! The null distribution of one query's complete scores and its p-values, as
//! TOMTOM computes them (Gupta et al. 2007) and memelite implements them.
//!
//! 1. Each query column is scored against every column of the database, both
//!    strands; those scores, less their median, are the column's null.
//! 2. Scores are discretised: one integer scale for the whole query,
//!    `floor(100 / (max − floor(min)))` steps per unit, where max and min are
//!    taken over all median-centred scores of the query (TOMTOM's 100 bins).
//! 3. A *complete* score sums, over every query column, its centred integer
//!    score against the aligned target column, and 0 (the median) where the
//!    column hangs over the end of the target. The null of an alignment that
//!    covers query columns a..=b is then the convolution of those columns'
//!    discrete nulls (dynamic programming over the score distribution).
//! 4. A target of width w can be placed at nq + w − 1 offsets (overlap ≥ 1).
//!    The p-value of the best offset's score S is P(max over offsets ≥ S),
//!    the offsets taken as independent: 1 − Π_o P(X_o < S). This is the
//!    correction for the number of offsets.
//!
//! Tails are summed from the top, and the product is taken in logs, so small
//! p-values keep their precision instead of rounding to 0 near 1e-16.
use super::column::ColumnScore;

/// TOMTOM's number of score bins per query.
pub const SCORE_BINS: f64 = 100.0;

/// The null of one span of query columns: `sf[k]` = P(X ≥ lo + k).
struct Span {
    lo: i64,
    sf: Vec<f64>,
}

impl Span {
    #[inline]
    fn sf(&self, s: i64) -> f64 {
        if s <= self.lo {
            return 1.0;
        }
        self.sf.get((s - self.lo) as usize).copied().unwrap_or(0.0)
    }
}

pub struct QueryNull {
    pub nq: usize,
    /// Steps per unit of column score.
    pub scale: f64,
    /// Centred integer score of query column i against database column j, at `j * nq + i`.
    pub v: Vec<i32>,
    /// Null of the span a..=b at `a * nq + b` (a ≤ b).
    spans: Vec<Span>,
}

fn median(x: &mut [f64]) -> f64 {
    let n = x.len();
    let h = n / 2;
    let (lower, m, _) = x.select_nth_unstable_by(h, |a, b| a.total_cmp(b));
    let m = *m;
    if n % 2 == 1 {
        m
    } else {
        let l = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (l + m)
    }
}

impl QueryNull {
    /// `query` and `db` are columns prepared by [`ColumnScore::prepare`]; `db`
    /// holds every column of every database motif on both strands.
    pub fn new(query: &[[f64; 4]], db: &[[f64; 4]], dist: ColumnScore) -> Self {
        let nq = query.len();
        let n = db.len();
        let mut raw = vec![0f64; nq * n];
        let mut med = vec![0f64; nq];
        let mut scratch = vec![0f64; n];
        let (mut z_min, mut z_max) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, q) in query.iter().enumerate() {
            let row = &mut raw[i * n..(i + 1) * n];
            for (r, c) in row.iter_mut().zip(db) {
                *r = dist.score(q, c);
            }
            scratch.copy_from_slice(row);
            let m = median(&mut scratch);
            med[i] = m;
            for &r in row.iter() {
                z_min = z_min.min(r - m);
                z_max = z_max.max(r - m);
            }
        }
        let range = z_max - z_min.floor();
        let scale = if range > 0.0 {
            (SCORE_BINS / range).floor().max(1.0)
        } else {
            1.0
        };
        let mut v = vec![0i32; nq * n];
        let mut pmfs: Vec<(i64, Vec<f64>)> = Vec::with_capacity(nq);
        for i in 0..nq {
            let row = &raw[i * n..(i + 1) * n];
            let (mut lo, mut hi) = (i32::MAX, i32::MIN);
            for (j, &r) in row.iter().enumerate() {
                let s = ((r - med[i]) * scale + 0.5).floor() as i32;
                v[j * nq + i] = s;
                lo = lo.min(s);
                hi = hi.max(s);
            }
            let mut pmf = vec![0f64; (hi - lo + 1) as usize];
            for j in 0..n {
                pmf[(v[j * nq + i] - lo) as usize] += 1.0;
            }
            pmf.iter_mut().for_each(|p| *p /= n as f64);
            pmfs.push((lo as i64, pmf));
        }
        let mut spans: Vec<Span> = (0..nq * nq).map(|_| Span { lo: 0, sf: vec![] }).collect();
        let mut cur: Vec<f64> = Vec::new();
        let mut next: Vec<f64> = Vec::new();
        for a in 0..nq {
            cur.clear();
            cur.extend_from_slice(&pmfs[a].1);
            let mut lo = pmfs[a].0;
            spans[a * nq + a] = Span {
                lo,
                sf: survival(&cur),
            };
            for b in a + 1..nq {
                let (flo, f) = &pmfs[b];
                convolve(&cur, f, &mut next);
                std::mem::swap(&mut cur, &mut next);
                lo += flo;
                spans[a * nq + b] = Span {
                    lo,
                    sf: survival(&cur),
                };
            }
        }
        QueryNull {
            nq,
            scale,
            v,
            spans,
        }
    }

    /// P-value of a best complete score `s` against a target of width `nt`:
    /// P(the best of all nq + nt − 1 offsets scores ≥ s).
    pub fn p_value(&self, nt: usize, s: i64) -> f64 {
        let nq = self.nq as i64;
        let nt = nt as i64;
        let mut log_cdf = 0f64;
        for o in -(nq - 1)..nt {
            let a = (-o).max(0);
            let b = nq.min(nt - o) - 1;
            let sf = self.spans[(a * nq + b) as usize].sf(s);
            if sf >= 1.0 {
                return 1.0;
            }
            if sf > 0.0 {
                log_cdf += (-sf).ln_1p();
            }
        }
        -log_cdf.exp_m1()
    }
}

/// out = p ∗ f (full discrete convolution).
fn convolve(p: &[f64], f: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.resize(p.len() + f.len() - 1, 0.0);
    for (k, &a) in p.iter().enumerate() {
        if a == 0.0 {
            continue;
        }
        for (o, &b) in out[k..k + f.len()].iter_mut().zip(f) {
            *o += a * b;
        }
    }
}

/// sf[k] = Σ_{j ≥ k} pmf[j], summed from the top so that small tails are exact.
fn survival(pmf: &[f64]) -> Vec<f64> {
    let mut sf = vec![0f64; pmf.len()];
    let mut acc = 0f64;
    for k in (0..pmf.len()).rev() {
        acc += pmf[k];
        sf[k] = acc;
    }
    sf
}
