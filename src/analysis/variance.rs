//! Weighted mean and weighted (population) variance over restarts, and the
//! inconsistency level IL (docs/SPEC.md, method step 5).
//!
//! Weights are normalised: μ = Σ w x / Σ w, var = Σ w (x − μ)² / Σ w.
//! If the weights sum to 0 (or are empty of mass), the plain mean / variance
//! is used instead, so the result is never NaN for finite input.

/// Weighted mean Σ w x / Σ w (plain mean if Σ w = 0; 0 for empty input).
pub fn weighted_mean(x: &[f64], w: &[f64]) -> f64 {
    assert_eq!(x.len(), w.len(), "weighted_mean: lengths differ");
    if x.is_empty() {
        return 0.0;
    }
    let sw: f64 = w.iter().sum();
    if sw > 0.0 && sw.is_finite() {
        x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Weighted population variance Σ w (x − μ)² / Σ w with μ the weighted mean
/// (plain population variance if Σ w = 0; 0 for empty input or one value).
pub fn weighted_variance(x: &[f64], w: &[f64]) -> f64 {
    assert_eq!(x.len(), w.len(), "weighted_variance: lengths differ");
    if x.len() < 2 {
        return 0.0;
    }
    let mu = weighted_mean(x, w);
    let sw: f64 = w.iter().sum();
    if sw > 0.0 && sw.is_finite() {
        x.iter()
            .zip(w)
            .map(|(a, b)| b * (a - mu) * (a - mu))
            .sum::<f64>()
            / sw
    } else {
        x.iter().map(|a| (a - mu) * (a - mu)).sum::<f64>() / x.len() as f64
    }
}

/// IL_k = weighted variance over the T restarts of φ_k^t, for a T×K
/// row-major FIV matrix and T weights. Computed in f64. T = 1 gives 0.
pub fn inconsistency_level(fiv: &[f32], t: usize, k: usize, weight: &[f32]) -> Vec<f64> {
    assert_eq!(fiv.len(), t * k, "fiv must be T×K");
    assert_eq!(weight.len(), t, "one weight per restart");
    let w: Vec<f64> = weight.iter().map(|&v| f64::from(v)).collect();
    let mut col = vec![0.0f64; t];
    (0..k)
        .map(|j| {
            for (r, c) in col.iter_mut().enumerate() {
                *c = f64::from(fiv[r * k + j]);
            }
            weighted_variance(&col, &w)
        })
        .collect()
}

/// Mean φ² over every restart and channel of a T×K FIV matrix, in f64 (0 for
/// no values): the size of the maps that IL (a variance of φ) is measured
/// against by the `fiv` GMM floor and the collapsed-restarts check.
pub fn mean_square(fiv: &[f32]) -> f64 {
    if fiv.is_empty() {
        return 0.0;
    }
    fiv.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / fiv.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_variance_by_hand() {
        // weights 1,3 on 0,4: μ = 3, var = (1·9 + 3·1)/4 = 3
        assert_eq!(weighted_mean(&[0.0, 4.0], &[1.0, 3.0]), 3.0);
        assert_eq!(weighted_variance(&[0.0, 4.0], &[1.0, 3.0]), 3.0);
        // scaling the weights changes nothing
        assert_eq!(weighted_variance(&[0.0, 4.0], &[10.0, 30.0]), 3.0);
        // equal weights: population variance of 1,2,3 = 2/3
        let v = weighted_variance(&[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0]);
        assert!((v - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn zero_weight_drops_a_value() {
        assert_eq!(weighted_mean(&[100.0, 1.0, 3.0], &[0.0, 1.0, 1.0]), 2.0);
        assert_eq!(weighted_variance(&[100.0, 1.0, 3.0], &[0.0, 1.0, 1.0]), 1.0);
    }

    #[test]
    fn zero_weight_sum_falls_back_to_plain() {
        assert_eq!(weighted_mean(&[1.0, 3.0], &[0.0, 0.0]), 2.0);
        assert_eq!(weighted_variance(&[1.0, 3.0], &[0.0, 0.0]), 1.0);
    }

    #[test]
    fn il_over_t_by_k() {
        // T = 2, K = 3; channel 0 constant, channel 1 differs by 2, channel 2 all zero
        let fiv = [1.0f32, -1.0, 0.0, 1.0, 1.0, 0.0];
        let il = inconsistency_level(&fiv, 2, 3, &[1.0, 1.0]);
        assert_eq!(il, vec![0.0, 1.0, 0.0]);
        // weight 3:1 → μ = -0.5, var = (3·0.25 + 1·2.25)/4 = 0.75
        let il = inconsistency_level(&fiv, 2, 3, &[3.0, 1.0]);
        assert_eq!(il, vec![0.0, 0.75, 0.0]);
    }

    #[test]
    fn mean_square_over_restarts_and_channels() {
        assert_eq!(mean_square(&[1.0, -2.0, 0.0, 3.0]), 3.5);
        assert_eq!(mean_square(&[]), 0.0);
    }

    #[test]
    fn single_restart_gives_zero_il() {
        let il = inconsistency_level(&[3.0, -7.0, 0.5], 1, 3, &[2.0]);
        assert_eq!(il, vec![0.0, 0.0, 0.0]);
    }
}
