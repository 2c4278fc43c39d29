//! docs/SPEC.md, method step 7: overall feature importance vector, and the channel ranking.
//!
//! For an additive channel, and for a non-additive channel whose φ_k^t do not
//! take both signs: OFIV_k = weighted mean of φ_k^t over restarts.
//! For a non-additive channel with both a strictly positive and a strictly
//! negative φ_k^t (zeros do not count as a sign): the weighted mean of the
//! strictly positive φ_k^t only, with their weights renormalised; if those
//! weights sum to 0, the plain mean of the positive values.
//! (`variance::weighted_mean` also falls back to the plain mean when all
//! weights are 0.)

use super::variance::weighted_mean;

/// OFIV of one channel from its per-restart values φ^t and weights w_t.
pub fn channel_ofiv(phi: &[f64], w: &[f64], nonadditive: bool) -> f64 {
    let flips = phi.iter().any(|&v| v > 0.0) && phi.iter().any(|&v| v < 0.0);
    if nonadditive && flips {
        let (pos, pw): (Vec<f64>, Vec<f64>) = phi
            .iter()
            .zip(w)
            .filter(|(&v, _)| v > 0.0)
            .map(|(&v, &x)| (v, x))
            .unzip();
        weighted_mean(&pos, &pw)
    } else {
        weighted_mean(phi, w)
    }
}

/// OFIV for a T×K row-major FIV matrix, T weights and K non-additive flags.
pub fn ofiv(fiv: &[f32], t: usize, k: usize, weight: &[f32], nonadditive: &[bool]) -> Vec<f64> {
    assert_eq!(fiv.len(), t * k, "fiv must be T×K");
    assert_eq!(weight.len(), t, "one weight per restart");
    assert_eq!(nonadditive.len(), k, "one flag per channel");
    let w: Vec<f64> = weight.iter().map(|&v| f64::from(v)).collect();
    let mut col = vec![0.0f64; t];
    (0..k)
        .map(|j| {
            for (r, c) in col.iter_mut().enumerate() {
                *c = f64::from(fiv[r * k + j]);
            }
            channel_ofiv(&col, &w, nonadditive[j])
        })
        .collect()
}

/// Channel indices by OFIV, highest first; ties keep the lower index first
/// (stable). NaN sorts last.
pub fn rank(ofiv: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ofiv.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (ofiv[a], ofiv[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            // descending; -0.0 and 0.0 compare equal
            _ => y.partial_cmp(&x).unwrap(),
        }
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additive_is_weighted_mean_even_with_sign_flip() {
        let v = channel_ofiv(&[2.0, -4.0], &[3.0, 1.0], false);
        assert_eq!(v, 0.5); // (6 - 4) / 4
    }

    #[test]
    fn nonadditive_one_sign_is_weighted_mean() {
        assert_eq!(channel_ofiv(&[-2.0, -4.0], &[3.0, 1.0], true), -2.5);
        // zeros are no sign: 0 and -4 do not flip
        assert_eq!(channel_ofiv(&[0.0, -4.0], &[1.0, 1.0], true), -2.0);
        assert_eq!(channel_ofiv(&[0.0, 4.0], &[1.0, 3.0], true), 3.0);
    }

    #[test]
    fn nonadditive_flip_keeps_positive_only_renormalised() {
        // positives 2 (w 1) and 6 (w 3): (2 + 18) / 4 = 5; the -10 is dropped
        assert_eq!(
            channel_ofiv(&[2.0, -10.0, 6.0, 0.0], &[1.0, 5.0, 3.0, 7.0], true),
            5.0
        );
    }

    #[test]
    fn nonadditive_flip_with_zero_positive_weights_is_plain_mean() {
        assert_eq!(
            channel_ofiv(&[2.0, -10.0, 6.0], &[0.0, 5.0, 0.0], true),
            4.0
        );
    }

    #[test]
    fn matrix_form_by_hand() {
        // T = 2, K = 3, weights 1 and 3
        let fiv = [1.0f32, 2.0, 0.0, -1.0, 4.0, 0.0];
        let o = ofiv(&fiv, 2, 3, &[1.0, 3.0], &[true, true, false]);
        // ch0 flips & non-additive → 1; ch1 one sign → (2+12)/4; ch2 all zero → 0
        assert_eq!(o, vec![1.0, 3.5, 0.0]);
        let o = ofiv(&fiv, 2, 3, &[1.0, 3.0], &[false, false, false]);
        assert_eq!(o[0], -0.5);
    }

    #[test]
    fn rank_descending_stable() {
        assert_eq!(rank(&[0.5, 2.0, -1.0, 2.0, 0.5]), vec![1, 3, 0, 4, 2]);
        assert_eq!(rank(&[f32::NAN, 1.0, -0.0, 0.0]), vec![1, 2, 3, 0]);
        assert!(rank(&[]).is_empty());
    }
}
