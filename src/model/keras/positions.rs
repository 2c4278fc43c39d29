//! The fixed positional features of Enformer's and Borzoi's relative
//! attention as CREsted writes them (`get_position_features_func`): per
//! distance p, basis functions of |p| — exponentials with half-lives from
//! 2³ to the length, central masks, gamma densities (Enformer's three), or
//! Borzoi's central masks alone — and, unless symmetric, the same times
//! sign(p).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Functions {
    /// Exponential, central mask (widths 2ᵏ − 1), gamma.
    Enformer,
    /// Central mask with widths growing to the length.
    Borzoi,
}

impl Functions {
    /// Sets of basis functions.
    pub fn count(self) -> usize {
        match self {
            Functions::Enformer => 3,
            Functions::Borzoi => 1,
        }
    }
}

/// `n` values from `a` to `b`, ends included (numpy's and Keras' linspace).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

fn exponential(p: f64, nb: usize, len: usize) -> Vec<f64> {
    let max_range = (len as f64).ln() / 2f64.ln();
    linspace(3.0, max_range, nb)
        .into_iter()
        .map(|e| (-(2f64.ln()) / 2f64.powf(e) * p.abs()).exp())
        .collect()
}

fn central_mask(p: f64, nb: usize, rate: f64) -> Vec<f64> {
    (1..=nb)
        .map(|k| f64::from(u8::from(rate.powi(k as i32) - 1.0 > p.abs())))
        .collect()
}

/// Gamma densities at |p| (means from len/nb to len, sd len/(2nb)) plus
/// 1e-8, each divided by its largest value over `all` the distances.
fn gamma(all: &[f64], nb: usize, len: usize) -> Vec<Vec<f64>> {
    let t = len as f64;
    let sd = t / (2.0 * nb as f64);
    let means = linspace(t / nb as f64, t, nb);
    let pdf = |x: f64, mean: f64| {
        let conc = (mean / sd).powi(2);
        let rate = mean / (sd * sd);
        let log_unnormalized = if x == 0.0 {
            // (conc − 1)·ln 0 with conc > 1 (it is at least 4 here).
            f64::NEG_INFINITY
        } else {
            (conc - 1.0) * x.ln() - rate * x
        };
        (log_unnormalized - (libm::lgamma(conc) - conc * rate.ln())).exp() + 1e-8
    };
    let rows: Vec<Vec<f64>> = all
        .iter()
        .map(|p| means.iter().map(|&m| pdf(p.abs(), m)).collect())
        .collect();
    let max: Vec<f64> = (0..nb)
        .map(|b| rows.iter().fold(0f64, |a, r| a.max(r[b])))
        .collect();
    rows.into_iter()
        .map(|r| r.iter().zip(&max).map(|(v, m)| v / m).collect())
        .collect()
}

/// Row-major (positions × features) features of `positions` for a
/// transformer input of `len` positions.
pub fn position_features(
    f: Functions,
    positions: &[f64],
    features: usize,
    len: usize,
    symmetric: bool,
) -> Vec<f64> {
    let sets = f.count() * if symmetric { 1 } else { 2 };
    let nb = features / sets;
    let gammas = match f {
        Functions::Enformer => gamma(positions, nb, len),
        Functions::Borzoi => vec![],
    };
    let borzoi_rate = ((len as f64 + 1.0).ln() / nb as f64).exp();
    let mut out = Vec::with_capacity(positions.len() * features);
    for (i, &p) in positions.iter().enumerate() {
        let mut row = match f {
            Functions::Enformer => {
                let mut r = exponential(p, nb, len);
                r.extend(central_mask(p, nb, 2.0));
                r.extend(&gammas[i]);
                r
            }
            Functions::Borzoi => central_mask(p, nb, borzoi_rate),
        };
        if !symmetric {
            let sign = if p > 0.0 {
                1.0
            } else if p < 0.0 {
                -1.0
            } else {
                0.0
            };
            let signed: Vec<f64> = row.iter().map(|v| sign * v).collect();
            row.extend(signed);
        }
        out.extend(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The features' shape at T = 6, 12 features, distances −5..5 (their
    /// values against CREsted's are checked through the attention models in
    /// tests/crested_models.rs).
    #[test]
    fn features_at_a_few_distances() {
        let p: Vec<f64> = (-5..6).map(f64::from).collect();
        let e = position_features(Functions::Enformer, &p, 12, 6, false);
        assert_eq!(e.len(), 11 * 12);
        let row = |r: usize| &e[r * 12..(r + 1) * 12];
        // Distance 0: exponentials 1, masks 1, gammas ~0 (1e-8 / max), signed half 0.
        let z = row(5);
        assert_eq!(&z[..2], &[1.0, 1.0]);
        assert_eq!(&z[2..4], &[1.0, 1.0]);
        assert!(z[4] < 1e-6 && z[5] < 1e-6, "{z:?}");
        assert!(z[6..].iter().all(|&v| v == 0.0));
        // Distance −2: the asymmetric half is minus the symmetric one.
        let m2 = row(3);
        for i in 0..6 {
            assert_eq!(m2[6 + i], -m2[i]);
        }
        // Central masks at |p| = 2: widths 1 and 3.
        assert_eq!(&m2[2..4], &[0.0, 1.0]);
        // Each gamma basis peaks at 1 over the distances.
        for b in 4..6 {
            let max = (0..11).map(|r| row(r)[b]).fold(0f64, f64::max);
            assert!((max - 1.0).abs() < 1e-12);
        }
    }
}
