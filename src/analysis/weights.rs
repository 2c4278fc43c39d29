//! docs/SPEC.md, method step 4: restart weights.
//!
//! w_t = s_t; if any s_t < 0, w_t = s_t − min_t s_t (so the worst restart
//! weighs 0). If every weight is 0 (e.g. all scores 0, or all scores equal
//! and negative), every weight is 1.
//!
//! All scores positive and equal give equal non-zero weights (w_t = s_t);
//! since the weights are normalised wherever they are used, that is the same
//! as equal weights. Non-finite scores (NaN, ±inf, from a diverged ascent)
//! get weight 0 and take no part in the shift; if no usable weight remains,
//! every weight is 1. Arithmetic is in f64, the result is stored as f32.

/// Restart weights from the restart scores s_t (docs/SPEC.md, method step 4).
pub fn restart_weights(score: &[f32]) -> Vec<f32> {
    let finite = |s: f32| s.is_finite();
    let min = score
        .iter()
        .copied()
        .filter(|&s| finite(s))
        .map(f64::from)
        .fold(f64::INFINITY, f64::min);
    let shift = if min < 0.0 { min } else { 0.0 };
    let mut w: Vec<f32> = score
        .iter()
        .map(|&s| {
            if finite(s) {
                let v = (f64::from(s) - shift) as f32;
                if v.is_finite() && v > 0.0 {
                    v
                } else {
                    0.0
                }
            } else {
                0.0
            }
        })
        .collect();
    if w.iter().all(|&x| x == 0.0) {
        w.iter_mut().for_each(|x| *x = 1.0);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_scores_are_the_weights() {
        assert_eq!(restart_weights(&[1.0, 2.5, 0.5]), vec![1.0, 2.5, 0.5]);
    }

    #[test]
    fn a_negative_score_shifts_by_the_minimum() {
        assert_eq!(restart_weights(&[-1.0, 2.0, 0.0]), vec![0.0, 3.0, 1.0]);
        assert_eq!(restart_weights(&[-3.0, -1.0]), vec![0.0, 2.0]);
    }

    #[test]
    fn zero_score_without_negatives_weighs_zero() {
        assert_eq!(restart_weights(&[0.0, 2.0]), vec![0.0, 2.0]);
    }

    #[test]
    fn all_zero_weights_become_equal() {
        assert_eq!(restart_weights(&[0.0, 0.0, 0.0]), vec![1.0, 1.0, 1.0]);
        // all equal and negative: every shifted weight is 0
        assert_eq!(restart_weights(&[-2.0, -2.0]), vec![1.0, 1.0]);
        // a single restart with a negative score
        assert_eq!(restart_weights(&[-5.0]), vec![1.0]);
    }

    #[test]
    fn equal_positive_scores_give_equal_nonzero_weights() {
        assert_eq!(restart_weights(&[4.0, 4.0, 4.0]), vec![4.0, 4.0, 4.0]);
    }

    #[test]
    fn non_finite_scores_weigh_zero() {
        assert_eq!(restart_weights(&[f32::NAN, -1.0, 1.0]), vec![0.0, 0.0, 2.0]);
        assert_eq!(restart_weights(&[f32::NAN, f32::INFINITY]), vec![1.0, 1.0]);
    }

    #[test]
    fn empty_input() {
        assert!(restart_weights(&[]).is_empty());
    }
}
