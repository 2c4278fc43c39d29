//! Values of a results file that no run writes — NaN or infinite numbers, a
//! negative restart weight or inconsistency level, a similarity outside
//! [−1, 1] — found before `plot`, `report`, `clusters`, `diff` and `motifs`
//! use anything. Such a file was edited by hand or damaged: each dataset with
//! bad values gets one warning line with their count, and the values become
//! NaN, which every reader leaves out (no circle, no bar, the heatmap's grey
//! cell, no row of `diff`, no motif), so nothing is shown as if it were a real
//! number. A `channels` file's motifs ([`mask_bad_motifs`]) are checked the
//! same way: a probability outside [0, 1] becomes 0 (no letter), a bad
//! activation NaN.
use crate::channels::file::BestMotifs;
use crate::results::layout::{
    ANALYSIS_IL, ANALYSIS_LINKAGE, ANALYSIS_OFIV, ANALYSIS_SIMILARITY, ANALYSIS_WEIGHT, ASCENT_FIV,
    ASCENT_SCORE,
};
use crate::results::FinishedRun;

/// Similarities are clamped to [−1, 1] when written; this much over is
/// float32 rounding, not damage.
const SIMILARITY_SLACK: f32 = 1e-5;

/// One dataset's bad values.
#[derive(Debug, Clone, PartialEq)]
pub struct BadValues {
    /// The dataset's path in the file, such as `/analysis/ofiv`.
    pub dataset: String,
    pub bad: usize,
    pub total: usize,
    /// What its values must be, for the warning.
    pub rule: &'static str,
}

impl BadValues {
    /// The warning line; `left_out_of` says what the values are left out of
    /// ("the figures", "the table", …).
    pub fn warning(&self, file: &std::path::Path, left_out_of: &str) -> String {
        format!(
            "deepresolve-mpi: warning: {} of {}: {} of {} values are not {} (damaged or edited file?); they are left out of {left_out_of}",
            self.dataset,
            file.display(),
            self.bad,
            self.total,
            self.rule
        )
    }
}

fn finite(v: f64) -> bool {
    v.is_finite()
}
fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}
fn probability(v: f64) -> bool {
    v.is_finite() && (0.0..=1.0).contains(&v)
}
fn correlation(v: f64) -> bool {
    v.is_finite() && v.abs() <= 1.0 + SIMILARITY_SLACK as f64
}

/// Set every value failing `ok` to NaN; returns how many there were.
fn mask<T: Copy + Into<f64>>(vals: &mut [T], ok: fn(f64) -> bool, nan: T) -> usize {
    let mut n = 0;
    for v in vals.iter_mut() {
        if !ok((*v).into()) {
            *v = nan;
            n += 1;
        }
    }
    n
}

/// Mask the bad values of `r` to NaN and say which datasets had them.
pub fn mask_bad(r: &mut FinishedRun) -> Vec<BadValues> {
    const FINITE: &str = "finite numbers";
    const NON_NEGATIVE: &str = "finite and at least 0";
    const CORRELATION: &str = "finite and within [-1, 1]";
    let mut found = Vec::new();
    let mut note = |name: &str, bad: usize, total: usize, rule| {
        if bad > 0 {
            found.push(BadValues {
                dataset: format!("/{name}"),
                bad,
                total,
                rule,
            });
        }
    };
    let nan = f32::NAN;
    note(
        ASCENT_FIV,
        mask(&mut r.fiv, finite, nan),
        r.fiv.len(),
        FINITE,
    );
    note(
        ASCENT_SCORE,
        mask(&mut r.score, finite, nan),
        r.score.len(),
        FINITE,
    );
    note(
        ANALYSIS_WEIGHT,
        mask(&mut r.weight, non_negative, nan),
        r.weight.len(),
        NON_NEGATIVE,
    );
    note(
        ANALYSIS_IL,
        mask(&mut r.il, non_negative, nan),
        r.il.len(),
        NON_NEGATIVE,
    );
    note(
        ANALYSIS_OFIV,
        mask(&mut r.ofiv, finite, nan),
        r.ofiv.len(),
        FINITE,
    );
    note(
        ANALYSIS_SIMILARITY,
        mask(&mut r.similarity, correlation, nan),
        r.similarity.len(),
        CORRELATION,
    );
    // Only the merge heights (column 2) are drawn; a bad one is left out of
    // the dendrogram's scale.
    let heights = r.linkage.len() / 4;
    let bad_heights = (0..heights)
        .filter(|&m| {
            let h = &mut r.linkage[m * 4 + 2];
            let bad = !non_negative(*h);
            if bad {
                *h = f64::NAN;
            }
            bad
        })
        .count();
    note(
        ANALYSIS_LINKAGE,
        bad_heights,
        heights,
        "merge heights finite and at least 0",
    );
    found
}

/// [`mask_bad`], with one warning line on stderr per dataset.
pub fn warn_and_mask(r: &mut FinishedRun, left_out_of: &str) {
    for b in mask_bad(r) {
        eprintln!("{}", b.warning(&r.path, left_out_of));
    }
}

/// [`mask_bad`], warning only of `datasets` (layout names such as
/// `analysis/ofiv`): those the command uses.
pub fn warn_and_mask_of(r: &mut FinishedRun, datasets: &[&str], left_out_of: &str) {
    for b in mask_bad(r) {
        if datasets.iter().any(|d| b.dataset == format!("/{d}")) {
            eprintln!("{}", b.warning(&r.path, left_out_of));
        }
    }
}

/// The bad values of a `channels` file's best motifs: a PWM probability
/// outside [0, 1] becomes 0 (that letter is left out of the logo and the
/// motif), a non-finite activation NaN (sorted last, shown as "–").
pub fn mask_bad_motifs(b: &mut BestMotifs) -> Vec<BadValues> {
    let mut found = Vec::new();
    let total: usize = b.pwms.iter().flatten().map(Vec::len).sum();
    let bad: usize = b
        .pwms
        .iter_mut()
        .flatten()
        .map(|row| mask(row, probability, 0.0))
        .sum();
    if bad > 0 {
        found.push(BadValues {
            dataset: "/channels/pwm (each channel's best init)".into(),
            bad,
            total,
            rule: "probabilities within [0, 1]",
        });
    }
    let bad = mask(&mut b.activation, finite, f32::NAN);
    if bad > 0 {
        found.push(BadValues {
            dataset: "/channels/activation (each channel's best init)".into(),
            bad,
            total: b.activation.len(),
            rule: "finite numbers",
        });
    }
    found
}

/// [`mask_bad_motifs`], with one warning line on stderr per dataset.
pub fn warn_and_mask_motifs(b: &mut BestMotifs, left_out_of: &str) {
    for w in mask_bad_motifs(b) {
        eprintln!("{}", w.warning(&b.path, left_out_of));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_counts_and_replaces_only_failing_values() {
        let mut v = [1.0f32, f32::NAN, -2.0, f32::INFINITY];
        assert_eq!(mask(&mut v, non_negative, f32::NAN), 3);
        assert_eq!(v[0], 1.0);
        assert!(v[1..].iter().all(|x| x.is_nan()));
        let mut s = [1.0f32 + 1e-6, -1.0, 1.5];
        assert_eq!(mask(&mut s, correlation, f32::NAN), 1);
        assert!(s[2].is_nan());
        let mut p = [0.0f32, 1.0, 0.5, 1.5, -0.1, f32::NAN];
        assert_eq!(mask(&mut p, probability, 0.0), 3);
        assert_eq!(p, [0.0, 1.0, 0.5, 0.0, 0.0, 0.0]);
    }
}
