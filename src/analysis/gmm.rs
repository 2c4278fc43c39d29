//! docs/SPEC.md, method step 6: 1-D Gaussian mixtures with 1, 2 and 3 components, chosen by
//! BIC.
//!
//! Each fit follows scikit-learn's
//! `GaussianMixture(n_components=k, covariance_type='full', tol=1e-3,
//! reg_covar=1e-6, max_iter=100, n_init=1, init_params='kmeans')` on 1-D data:
//!
//! * initial responsibilities are the one-hot labels of a k-means clustering,
//!   from which weights (n_k / n), means and variances (+ reg_covar) are
//!   estimated, with n_k = Σ resp + 10·ε as in scikit-learn;
//! * EM: E-step (mean log-likelihood = "lower bound"), M-step (weights
//!   renormalised to sum 1, variances + reg_covar); stop when the lower bound
//!   changes by less than `tol`, or after `max_iter` iterations;
//! * BIC = −2 log L + p ln n with log L evaluated at the final parameters and
//!   p = 3k − 1 (k means, k variances, k − 1 free weights);
//! * labels are the argmax of the responsibilities at the final parameters
//!   (scikit-learn's `predict`).
//!
//! **Deviation (initialisation).** scikit-learn's KMeans starts from random
//! k-means++ seeds and runs Lloyd's algorithm, i.e. it finds a local optimum
//! that depends on `random_state`. Here the k-means step is the *globally
//! optimal* 1-D k-means (the data are sorted; optimal clusters are then
//! contiguous runs, found exactly by dynamic programming over the split
//! points, ties → the earliest split). It is deterministic and is the
//! clustering that scikit-learn's KMeans finds on well-separated data, so the
//! EM then converges to the same fixed point and the BIC agrees to ~1e-3
//! relative (checked against scikit-learn in `tests/analysis.rs`).
//!
//! **Deviation (too few distinct values).** When k exceeds the number of
//! distinct values (or n < k), scikit-learn either refuses (n < k) or fits a
//! component of weight ~1e-15 on an empty k-means cluster. Here such a fit is
//! not attempted: its BIC is +∞ and it is never chosen. Hence all-equal data
//! (e.g. all-zero IL from T = 1) give k = 1, every channel additive, and no
//! NaN (the single variance is reg_covar).
//!
//! Non-finite inputs are not expected (IL is a variance of finite values);
//! any fit whose log-likelihood is not finite gets BIC = +∞.

// index loops read closest to the formulas here
#![allow(clippy::needless_range_loop)]

use crate::{Error, Result};

/// EM options as given, not yet checked: scikit-learn's defaults from
/// [`GmmParams::new`], changed with the setters, then [`check`](GmmParams::check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmmParams(GmmValidParams);

/// EM options that passed [`GmmParams::check`]; fits and selects mixtures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmmValidParams {
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
}

impl GmmParams {
    /// scikit-learn's `tol` default (on the change of the mean log-likelihood).
    pub const DEFAULT_TOL: f64 = 1e-3;
    /// scikit-learn's `reg_covar` default.
    pub const DEFAULT_REG_COVAR: f64 = 1e-6;
    /// scikit-learn's `max_iter` default.
    pub const DEFAULT_MAX_ITER: usize = 100;
    /// scikit-learn's `n_init` default.
    pub const DEFAULT_N_INIT: usize = 1;

    pub const fn new() -> Self {
        GmmParams(GmmValidParams {
            tol: Self::DEFAULT_TOL,
            reg_covar: Self::DEFAULT_REG_COVAR,
            max_iter: Self::DEFAULT_MAX_ITER,
            n_init: Self::DEFAULT_N_INIT,
        })
    }
    /// EM stops when the mean log-likelihood changes by less than this.
    pub fn tol(mut self, v: f64) -> Self {
        self.0.tol = v;
        self
    }
    /// Added to every variance.
    pub fn reg_covar(mut self, v: f64) -> Self {
        self.0.reg_covar = v;
        self
    }
    /// EM iterations at most.
    pub fn max_iter(mut self, v: usize) -> Self {
        self.0.max_iter = v;
        self
    }
    /// Initialisations per fit.
    pub fn n_init(mut self, v: usize) -> Self {
        self.0.n_init = v;
        self
    }

    /// tol and reg_covar finite and ≥ 0, max_iter ≥ 1, n_init = 1 (the
    /// initialisation is the deterministic optimal k-means, so another start
    /// would repeat the same fit).
    pub fn check(&self) -> Result<GmmValidParams> {
        let p = &self.0;
        for (name, v) in [("tol", p.tol), ("reg_covar", p.reg_covar)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::Input(format!(
                    "GMM {name} {v} must be a finite non-negative number"
                )));
            }
        }
        if p.max_iter == 0 {
            return Err(Error::Input("GMM max_iter must be at least 1".into()));
        }
        if p.n_init != 1 {
            return Err(Error::Input(format!(
                "GMM n_init {} must be 1: the k-means initialisation is deterministic",
                p.n_init
            )));
        }
        Ok(*p)
    }
}

impl Default for GmmParams {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for GmmValidParams {
    /// scikit-learn's defaults, which are valid.
    fn default() -> Self {
        GmmParams::new().0
    }
}

/// One fitted mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmFit {
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub variances: Vec<f64>,
    /// Σ_i log p(x_i) at the final parameters.
    pub log_likelihood: f64,
    pub bic: f64,
    /// Component of each point (argmax responsibility at the final parameters).
    pub labels: Vec<usize>,
    /// EM iterations run.
    pub n_iter: usize,
    /// True if the lower bound changed by less than `tol` within `max_iter`.
    pub converged: bool,
}

/// The model chosen among k = 1, 2, 3.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmChoice {
    /// BIC for 1, 2, 3 components (+∞ where the fit is not possible).
    pub bic: [f64; 3],
    /// Chosen number of components (lowest BIC; ties → fewer components).
    pub components: usize,
    /// Component of each value under the chosen model.
    pub labels: Vec<usize>,
    /// Component means of the chosen model.
    pub means: Vec<f64>,
}

impl GmmChoice {
    /// The component with the lowest mean (first such on ties).
    pub fn lowest_component(&self) -> usize {
        let mut best = 0;
        for (c, &m) in self.means.iter().enumerate() {
            if m < self.means[best] {
                best = c;
            }
        }
        best
    }

    /// true for values outside the lowest-mean component (non-additive).
    pub fn nonadditive(&self) -> Vec<bool> {
        let low = self.lowest_component();
        self.labels.iter().map(|&l| l != low).collect()
    }
}

fn distinct_count(x: &[f64]) -> usize {
    let mut s: Vec<f64> = x.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.dedup();
    s.len()
}

/// Globally optimal 1-D k-means (minimum within-cluster sum of squares).
/// Returns a label in 0..k per point, clusters numbered by increasing value.
/// Requires 1 ≤ k ≤ n. Ties between equally good partitions → earliest split
/// points in sorted order (sorting is stable, so fully deterministic).
pub fn kmeans_1d(x: &[f64], k: usize) -> Vec<usize> {
    let n = x.len();
    assert!(k >= 1 && k <= n, "kmeans_1d needs 1 <= k <= n");
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    // centre the data before the prefix sums (less cancellation)
    let mean = x.iter().sum::<f64>() / n as f64;
    let v: Vec<f64> = idx.iter().map(|&i| x[i] - mean).collect();
    let mut s1 = vec![0.0; n + 1];
    let mut s2 = vec![0.0; n + 1];
    for i in 0..n {
        s1[i + 1] = s1[i] + v[i];
        s2[i + 1] = s2[i] + v[i] * v[i];
    }
    // within-cluster sum of squares of sorted points i..j (exclusive)
    let cost = |i: usize, j: usize| -> f64 {
        let m = (j - i) as f64;
        let a = s1[j] - s1[i];
        (s2[j] - s2[i] - a * a / m).max(0.0)
    };
    // d[m][j]: best cost of the first j sorted points in m+1 clusters;
    // arg[m][j]: start of the last cluster.
    let mut d = vec![vec![f64::INFINITY; n + 1]; k];
    let mut arg = vec![vec![0usize; n + 1]; k];
    for j in 1..=n {
        d[0][j] = cost(0, j);
    }
    for m in 1..k {
        // j ranges over m+1..=n; the last cluster starts at i in m..j
        #[allow(clippy::too_many_arguments)]
        fn solve(
            prev: &[f64],
            cur: &mut [f64],
            arg: &mut [usize],
            cost: &dyn Fn(usize, usize) -> f64,
            jlo: usize,
            jhi: usize,
            ilo: usize,
            ihi: usize,
        ) {
            if jlo > jhi {
                return;
            }
            let j = (jlo + jhi) / 2;
            let mut best = f64::INFINITY;
            let mut bi = ilo;
            for i in ilo..=ihi.min(j - 1) {
                let c = prev[i] + cost(i, j);
                if c < best {
                    best = c;
                    bi = i;
                }
            }
            cur[j] = best;
            arg[j] = bi;
            if j > jlo {
                solve(prev, cur, arg, cost, jlo, j - 1, ilo, bi);
            }
            solve(prev, cur, arg, cost, j + 1, jhi, bi, ihi);
        }
        let (before, after) = d.split_at_mut(m);
        solve(
            &before[m - 1],
            &mut after[0],
            &mut arg[m],
            &cost,
            m + 1,
            n,
            m,
            n - 1,
        );
    }
    // backtrack
    let mut labels = vec![0usize; n];
    let mut j = n;
    for m in (0..k).rev() {
        let i = if m == 0 { 0 } else { arg[m][j] };
        for &p in &idx[i..j] {
            labels[p] = m;
        }
        j = i;
    }
    labels
}

struct Params {
    w: Vec<f64>,
    mu: Vec<f64>,
    var: Vec<f64>,
}

fn m_step(x: &[f64], resp: &[f64], k: usize, normalise_by_sum: bool, reg_covar: f64) -> Params {
    let n = x.len();
    let eps10 = 10.0 * f64::EPSILON;
    let mut nk = vec![0.0; k];
    let mut sx = vec![0.0; k];
    for i in 0..n {
        for c in 0..k {
            nk[c] += resp[i * k + c];
            sx[c] += resp[i * k + c] * x[i];
        }
    }
    for c in 0..k {
        nk[c] += eps10;
    }
    let mu: Vec<f64> = (0..k).map(|c| sx[c] / nk[c]).collect();
    let mut var = vec![0.0; k];
    for i in 0..n {
        for c in 0..k {
            let d = x[i] - mu[c];
            var[c] += resp[i * k + c] * d * d;
        }
    }
    for c in 0..k {
        var[c] = var[c] / nk[c] + reg_covar;
    }
    let total: f64 = if normalise_by_sum {
        nk.iter().sum()
    } else {
        n as f64
    };
    let w = nk.iter().map(|v| v / total).collect();
    Params { w, mu, var }
}

/// E-step: fills `log_resp` (n×k) and returns Σ_i log p(x_i).
fn e_step(x: &[f64], p: &Params, log_resp: &mut [f64]) -> f64 {
    let k = p.w.len();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let prec: Vec<f64> = p.var.iter().map(|v| 1.0 / v.sqrt()).collect();
    let logw: Vec<f64> = p.w.iter().map(|w| w.ln()).collect();
    let mut total = 0.0;
    for (i, &xi) in x.iter().enumerate() {
        let row = &mut log_resp[i * k..(i + 1) * k];
        let mut mx = f64::NEG_INFINITY;
        for c in 0..k {
            let y = (xi - p.mu[c]) * prec[c];
            row[c] = -0.5 * (ln2pi + y * y) + prec[c].ln() + logw[c];
            mx = mx.max(row[c]);
        }
        let lse = if mx.is_finite() {
            mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln()
        } else {
            mx
        };
        for v in row.iter_mut() {
            *v -= lse;
        }
        total += lse;
    }
    total
}

/// [`GmmValidParams::fit`] with scikit-learn's defaults.
pub fn fit(x: &[f64], k: usize) -> Option<GmmFit> {
    GmmValidParams::default().fit(x, k)
}

impl GmmValidParams {
    pub fn tol(&self) -> f64 {
        self.tol
    }
    pub fn reg_covar(&self) -> f64 {
        self.reg_covar
    }
    pub fn max_iter(&self) -> usize {
        self.max_iter
    }
    pub fn n_init(&self) -> usize {
        self.n_init
    }

    /// Fit a k-component 1-D mixture as described in the module docs. `None`
    /// when k = 0, or k exceeds the number of distinct values.
    pub fn fit(&self, x: &[f64], k: usize) -> Option<GmmFit> {
        let n = x.len();
        if k == 0 || n == 0 || k > distinct_count(x) {
            return None;
        }
        let init = kmeans_1d(x, k);
        let mut resp = vec![0.0; n * k];
        for (i, &l) in init.iter().enumerate() {
            resp[i * k + l] = 1.0;
        }
        let mut p = m_step(x, &resp, k, false, self.reg_covar);
        let mut log_resp = vec![0.0; n * k];
        let mut lower = f64::NEG_INFINITY;
        let mut converged = false;
        let mut n_iter = 0;
        for it in 1..=self.max_iter {
            n_iter = it;
            let prev = lower;
            let ll = e_step(x, &p, &mut log_resp);
            for (r, l) in resp.iter_mut().zip(&log_resp) {
                *r = l.exp();
            }
            p = m_step(x, &resp, k, true, self.reg_covar);
            lower = ll / n as f64;
            if (lower - prev).abs() < self.tol {
                converged = true;
                break;
            }
        }
        let ll = e_step(x, &p, &mut log_resp);
        let labels = (0..n)
            .map(|i| {
                let row = &log_resp[i * k..(i + 1) * k];
                let mut b = 0;
                for c in 1..k {
                    if row[c] > row[b] {
                        b = c;
                    }
                }
                b
            })
            .collect();
        let n_params = (3 * k - 1) as f64;
        let bic = -2.0 * ll + n_params * (n as f64).ln();
        let bic = if bic.is_finite() { bic } else { f64::INFINITY };
        Some(GmmFit {
            weights: p.w,
            means: p.mu,
            variances: p.var,
            log_likelihood: ll,
            bic,
            labels,
            n_iter,
            converged,
        })
    }

    /// Fit k = 1, 2, 3 and keep the lowest BIC (ties → fewer components).
    /// Empty input: k = 1, BIC all +∞, no labels.
    pub fn select(&self, x: &[f64]) -> GmmChoice {
        let fits: Vec<Option<GmmFit>> = (1..=3).map(|k| self.fit(x, k)).collect();
        let bic = [0, 1, 2].map(|i| fits[i].as_ref().map_or(f64::INFINITY, |f| f.bic));
        let best = choose(&bic) - 1;
        match &fits[best] {
            Some(f) => GmmChoice {
                bic,
                components: best + 1,
                labels: f.labels.clone(),
                means: f.means.clone(),
            },
            None => GmmChoice {
                bic,
                components: 1,
                labels: vec![0; x.len()],
                means: vec![0.0],
            },
        }
    }
}

/// The component count (1-based) with the lowest BIC; ties → fewer
/// components; NaN never wins.
pub fn choose(bic: &[f64; 3]) -> usize {
    let mut best = 0;
    for i in 1..3 {
        if bic[i] < bic[best] || (bic[best].is_nan() && !bic[i].is_nan()) {
            best = i;
        }
    }
    best + 1
}

/// [`GmmValidParams::select`] with scikit-learn's defaults.
pub fn select(x: &[f64]) -> GmmChoice {
    GmmValidParams::default().select(x)
}

/// How the covariance floor (`reg_covar`) relates to the IL values.
///
/// IL is a variance of FIVs, whose scale is ~1/λ, so IL scales as ~1/λ²; an
/// absolute floor of 1e-6 swamps the spread of small IL values (large λ) and
/// merges every channel into one component, while it is negligible for large
/// ones. The two scale-free modes fit the mixture to IL divided by a scale
/// that moves with the maps, so the call is the same for maps and s·maps
/// (IL and s²·IL) whatever s:
///
/// * `Fiv` (the default) divides by the mean φ² of the class's FIVs over
///   restarts and channels, with the floor [`FIV_REG_COVAR`]: channels whose
///   IL differ by less than ~1.4% of the maps' mean square fall in one
///   component. A class whose restarts agree closely next to the size of its
///   FIVs is then additive, however its few IL values spread among
///   themselves — on 16 channels a floor tied to the IL's own range fits
///   that noise.
/// * `Relative` divides by max |IL| (floor 1e-6, a standard deviation of 0.1%
///   of the largest IL): scale-free too, but a class whose IL are all at
///   noise level still gets a fine-grained mixture.
/// * `Absolute` is scikit-learn's behaviour on the raw IL, as the authors'
///   code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GmmFloor {
    Relative,
    Absolute,
    #[default]
    Fiv,
}

/// `reg_covar` of the `fiv` mode, on IL / mean φ². Chosen on measurements
/// (docs/results.md, "The GMM's floor"): from 5e-5 to 5e-4 the synthetic
/// findings and the λ × T test hold, and the authors' 422 models get nearly
/// the component counts of their own absolute floor; 2e-4 sits inside.
pub const FIV_REG_COVAR: f64 = 2e-4;

impl GmmFloor {
    /// The name stored in the results file (root attribute `gmm_floor`).
    pub fn name(self) -> &'static str {
        match self {
            GmmFloor::Relative => "relative",
            GmmFloor::Absolute => "absolute",
            GmmFloor::Fiv => "fiv",
        }
    }
    /// The mode a stored name means; `None` for a name this version does not know.
    pub fn from_name(s: &str) -> Option<GmmFloor> {
        match s {
            "relative" => Some(GmmFloor::Relative),
            "absolute" => Some(GmmFloor::Absolute),
            "fiv" => Some(GmmFloor::Fiv),
            _ => None,
        }
    }
    /// The floor the mode adds to every variance, on its own scale.
    pub fn reg_covar(self) -> f64 {
        match self {
            GmmFloor::Relative | GmmFloor::Absolute => GmmParams::DEFAULT_REG_COVAR,
            GmmFloor::Fiv => FIV_REG_COVAR,
        }
    }
    /// What the IL are divided by before the fit: 1, max |IL| or
    /// `fiv_mean_square` (the mean φ² of the maps they come from). A scale
    /// that is zero or not finite (all-zero maps) leaves the IL as they are.
    pub fn scale(self, il: &[f64], fiv_mean_square: f64) -> f64 {
        let s = match self {
            GmmFloor::Absolute => 1.0,
            GmmFloor::Relative => il.iter().fold(0.0f64, |m, v| m.max(v.abs())),
            GmmFloor::Fiv => fiv_mean_square,
        };
        if s > 0.0 && s.is_finite() {
            s
        } else {
            1.0
        }
    }
}

impl GmmValidParams {
    /// [`select`](GmmValidParams::select) on x / s, with the BICs and means
    /// reported on the scale of x (BIC + 2 n ln s, means · s), so they stay
    /// comparable with a fit on x itself. s = 1 is `select(x)`.
    pub fn select_scaled(&self, x: &[f64], s: f64) -> GmmChoice {
        if s == 1.0 {
            return self.select(x);
        }
        let y: Vec<f64> = x.iter().map(|v| v / s).collect();
        let mut c = self.select(&y);
        let shift = 2.0 * x.len() as f64 * s.ln();
        for b in c.bic.iter_mut() {
            *b += shift;
        }
        for m in c.means.iter_mut() {
            *m *= s;
        }
        c
    }
}

/// The non-additivity call of one class under a floor mode: the mixture is
/// fitted to IL / [`GmmFloor::scale`] with the mode's floor
/// ([`GmmFloor::reg_covar`]) and scikit-learn's other defaults.
/// `fiv_mean_square` is the mean φ² of the class's FIVs over restarts and
/// channels ([`crate::analysis::variance::mean_square`]); only `Fiv` uses it.
pub fn select_floor(il: &[f64], floor: GmmFloor, fiv_mean_square: f64) -> GmmChoice {
    GmmValidParams {
        reg_covar: floor.reg_covar(),
        ..GmmValidParams::default()
    }
    .select_scaled(il, floor.scale(il, fiv_mean_square))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmeans_1d_finds_optimal_contiguous_clusters() {
        let x = [10.0, 0.0, 0.1, 10.2, 5.0, 5.1];
        assert_eq!(kmeans_1d(&x, 3), vec![2, 0, 0, 2, 1, 1]);
        assert_eq!(kmeans_1d(&x, 1), vec![0; 6]);
        // k = 2: {0, 0.1, 5, 5.1} | {10, 10.2} has SSE 25.02, less than
        // {0, 0.1} | {5, 5.1, 10, 10.2} (25.525)
        assert_eq!(kmeans_1d(&x, 2), vec![1, 0, 0, 1, 0, 0]);
        // k = n: every point alone
        let l = kmeans_1d(&[3.0, 1.0, 2.0], 3);
        assert_eq!(l, vec![2, 0, 1]);
    }

    #[test]
    fn kmeans_1d_matches_brute_force() {
        // pseudo-random data, compare the DP's cost with exhaustive search
        let mut s = 12345u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..20 {
            let n = 12;
            let mut x: Vec<f64> = (0..n).map(|_| rnd() * 10.0).collect();
            x.sort_by(|a, b| a.total_cmp(b));
            let sse = |v: &[f64]| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                v.iter().map(|a| (a - m) * (a - m)).sum::<f64>()
            };
            let mut brute = f64::INFINITY;
            for i in 1..n {
                for j in i + 1..n {
                    brute = brute.min(sse(&x[..i]) + sse(&x[i..j]) + sse(&x[j..]));
                }
            }
            let l = kmeans_1d(&x, 3);
            let got: f64 = (0..3)
                .map(|c| {
                    let v: Vec<f64> = (0..n).filter(|&i| l[i] == c).map(|i| x[i]).collect();
                    sse(&v)
                })
                .sum();
            assert!((got - brute).abs() < 1e-9, "{got} vs {brute}");
        }
    }

    #[test]
    fn params_default_to_sklearn_and_check_refuses_bad_values() {
        let p = GmmParams::new().check().unwrap();
        assert_eq!(
            (p.tol(), p.reg_covar(), p.max_iter(), p.n_init()),
            (1e-3, 1e-6, 100, 1)
        );
        assert!(GmmParams::new().tol(f64::NAN).check().is_err());
        assert!(GmmParams::new().reg_covar(-1.0).check().is_err());
        assert!(GmmParams::new().max_iter(0).check().is_err());
        assert!(GmmParams::new().n_init(2).check().is_err());
        let x = [0.0, 0.1, 5.0, 5.2, 9.9];
        assert_eq!(select(&x), p.select(&x));
    }

    #[test]
    fn one_component_is_closed_form() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let f = fit(&x, 1).unwrap();
        let var = 1.25 + GmmParams::DEFAULT_REG_COVAR;
        let ll: f64 = x
            .iter()
            .map(|v| {
                -0.5 * (2.0 * std::f64::consts::PI * var).ln() - (v - 2.5f64).powi(2) / (2.0 * var)
            })
            .sum();
        assert!((f.means[0] - 2.5).abs() < 1e-12);
        assert!((f.variances[0] - var).abs() < 1e-12);
        assert!((f.log_likelihood - ll).abs() < 1e-9);
        assert!((f.bic - (-2.0 * ll + 2.0 * 4f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn separated_groups_choose_two() {
        let x: Vec<f64> = (0..20)
            .map(|i| {
                if i < 10 {
                    0.01 * i as f64
                } else {
                    5.0 + 0.01 * i as f64
                }
            })
            .collect();
        let c = select(&x);
        assert_eq!(c.components, 2);
        assert!(c.bic[1] < c.bic[0]);
        let na = c.nonadditive();
        assert!(na[..10].iter().all(|&b| !b));
        assert!(na[10..].iter().all(|&b| b));
    }

    #[test]
    fn degenerate_data_give_one_additive_component() {
        for x in [vec![0.0; 7], vec![2.5; 4], vec![1.0]] {
            let c = select(&x);
            assert_eq!(c.components, 1);
            assert!(c.bic[0].is_finite(), "{:?}", c.bic);
            assert_eq!(c.bic[1], f64::INFINITY);
            assert_eq!(c.bic[2], f64::INFINITY);
            assert!(c.means.iter().all(|m| m.is_finite()));
            assert!(c.nonadditive().iter().all(|&b| !b));
        }
    }

    #[test]
    fn two_distinct_values_never_fit_three() {
        let x = [0.0, 0.0, 0.0, 1.0, 1.0];
        let c = select(&x);
        assert_eq!(c.bic[2], f64::INFINITY);
        assert!(c.bic[1].is_finite());
    }

    #[test]
    fn ties_prefer_fewer_components() {
        assert_eq!(choose(&[1.0, 1.0, 1.0]), 1);
        assert_eq!(choose(&[2.0, 1.0, 1.0]), 2);
        assert_eq!(choose(&[2.0, 3.0, 1.0]), 3);
        assert_eq!(choose(&[f64::INFINITY, f64::INFINITY, f64::INFINITY]), 1);
        assert_eq!(choose(&[f64::NAN, 5.0, f64::INFINITY]), 2);
    }

    #[test]
    fn relative_floor_is_scale_free_and_absolute_is_sklearn() {
        // a bulk of small IL values and three far larger ones, at the scale
        // of a large λ: the absolute floor (variance 1e-6) is wider than the
        // whole spread, so one component wins; relative to the IL it is not
        let base: Vec<f64> = (0..29)
            .map(|i| 1.0 + 0.3 * ((i * 7 % 11) as f64 / 11.0))
            .chain([60.0, 75.0, 90.0])
            .collect();
        let small: Vec<f64> = base.iter().map(|v| v * 1e-5).collect();
        assert_eq!(
            select_floor(&small, GmmFloor::Absolute, 1.0),
            select(&small)
        );
        assert_eq!(select(&small).components, 1);
        let want = select_floor(&base, GmmFloor::Relative, 1.0);
        assert!(want.components >= 2, "{:?}", want.bic);
        for s in [1e-6, 1e-3, 0.37, 1.0, 12.0, 1e4] {
            let x: Vec<f64> = base.iter().map(|v| v * s).collect();
            let c = select_floor(&x, GmmFloor::Relative, 1.0);
            assert_eq!(c.components, want.components, "scale {s}");
            assert_eq!(c.nonadditive(), want.nonadditive(), "scale {s}");
        }
        // BIC reported on the data's own scale: + 2 n ln s
        let x: Vec<f64> = base.iter().map(|v| v * 10.0).collect();
        let c = select_floor(&x, GmmFloor::Relative, 1.0);
        let y: Vec<f64> = x.iter().map(|v| v / 900.0).collect();
        let d = select(&y);
        let shift = 2.0 * 32.0 * 900f64.ln();
        assert!((c.bic[0] - d.bic[0] - shift).abs() < 1e-9);
        assert_eq!(GmmFloor::from_name("relative"), Some(GmmFloor::Relative));
        assert_eq!(
            GmmFloor::from_name(GmmFloor::Absolute.name()),
            Some(GmmFloor::Absolute)
        );
        assert_eq!(GmmFloor::from_name("x"), None);
        // all zero: fitted as given, one additive component
        assert_eq!(
            select_floor(&[0.0; 5], GmmFloor::Relative, 0.0).components,
            1
        );
    }

    #[test]
    fn fiv_floor_is_scale_free_and_tied_to_the_maps() {
        // 16 channels: a bulk of IL values spread over 0.1–0.4% of the maps'
        // mean square and one channel at 30% of it: only that one stands
        // out of the floor.
        let base: Vec<f64> = (0..15)
            .map(|i| 1e-3 + 3e-3 * ((i * 7 % 15) as f64 / 15.0))
            .chain([0.3])
            .collect();
        let phi2 = 1.0;
        let want = select_floor(&base, GmmFloor::Fiv, phi2);
        assert_eq!(want.components, 2, "{:?}", want.bic);
        let mut na = vec![false; 15];
        na.push(true);
        assert_eq!(want.nonadditive(), na);
        // maps × s: IL × s², mean φ² × s²; the call does not move
        for s in [1e-4, 0.03, 0.5, 3.0, 250.0] {
            let x: Vec<f64> = base.iter().map(|v| v * s * s).collect();
            let c = select_floor(&x, GmmFloor::Fiv, phi2 * s * s);
            assert_eq!(c.components, want.components, "scale {s}");
            assert_eq!(c.nonadditive(), want.nonadditive(), "scale {s}");
            // BIC and means on the IL's own scale
            let d = GmmValidParams {
                reg_covar: FIV_REG_COVAR,
                ..GmmValidParams::default()
            }
            .select(&base);
            let shift = 2.0 * 16.0 * (s * s).ln();
            assert!((c.bic[1] - d.bic[1] - shift).abs() < 1e-6, "scale {s}");
            assert!((c.means[0] / (s * s) - d.means[0]).abs() < 1e-12);
        }
        // the same IL from maps twenty times larger (√400): every IL is
        // within the floor of the others, one additive component
        let big = select_floor(&base, GmmFloor::Fiv, 400.0);
        assert_eq!(big.components, 1, "{:?}", big.bic);
        assert!(big.nonadditive().iter().all(|&b| !b));
        // the relative floor sees only the IL: the far channel stays
        // non-additive whatever the size of the maps
        let rel = select_floor(&base, GmmFloor::Relative, 400.0);
        assert_eq!(rel.nonadditive(), na, "{:?}", rel.bic);
        // all-zero maps: no scale, fitted as given, one additive component
        let z = select_floor(&[0.0; 16], GmmFloor::Fiv, 0.0);
        assert_eq!(z.components, 1);
        assert!(z.bic[0].is_finite());
        assert_eq!(GmmFloor::from_name("fiv"), Some(GmmFloor::Fiv));
        assert_eq!(GmmFloor::Fiv.name(), "fiv");
        assert_eq!(GmmFloor::default(), GmmFloor::Fiv);
    }

    #[test]
    fn empty_input_does_not_panic() {
        let c = select(&[]);
        assert_eq!(c.components, 1);
        assert!(c.labels.is_empty());
    }
}
