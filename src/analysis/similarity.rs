//! docs/SPEC.md, method step 8: class similarity and class difference.
//!
//! A_ij = Pearson correlation of max(OFIV_i, 0) and max(OFIV_j, 0), in f64.
//! The diagonal is exactly 1. Off the diagonal, a constant vector (zero
//! variance after clamping, e.g. an OFIV with no positive entry) gives 0,
//! not NaN; so does any other non-finite result (non-finite OFIV). Values are
//! clamped to [−1, 1].

/// Pearson correlation of max(a, 0) and max(b, 0); 0 if either is constant.
pub fn positive_correlation(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len();
    if n == 0 {
        return 0.0;
    }
    let pa: Vec<f64> = a.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
    let pb: Vec<f64> = b.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
    let ma = pa.iter().sum::<f64>() / n as f64;
    let mb = pb.iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (pa[i] - ma, pb[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    let r = sab / (saa.sqrt() * sbb.sqrt());
    if r.is_finite() {
        r.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// C×C similarity matrix (row-major, f64) from a C×K row-major OFIV matrix.
pub fn similarity_matrix(ofiv: &[f32], c: usize, k: usize) -> Vec<f64> {
    assert_eq!(ofiv.len(), c * k, "ofiv must be C×K");
    let rows: Vec<Vec<f64>> = (0..c)
        .map(|i| {
            ofiv[i * k..(i + 1) * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        })
        .collect();
    let mut a = vec![0.0; c * c];
    for i in 0..c {
        a[i * c + i] = 1.0;
        for j in i + 1..c {
            let r = positive_correlation(&rows[i], &rows[j]);
            a[i * c + j] = r;
            a[j * c + i] = r;
        }
    }
    a
}

/// Class difference D = OFIV_i − OFIV_j, channel by channel.
pub fn class_difference(ofiv_i: &[f32], ofiv_j: &[f32]) -> Vec<f32> {
    assert_eq!(ofiv_i.len(), ofiv_j.len());
    ofiv_i.iter().zip(ofiv_j).map(|(a, b)| a - b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_correlation() {
        // max(.,0): [1,2,3] and [2,4,6] → 1; [1,2,3] and [3,2,1] → −1
        assert!((positive_correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-15);
        assert!((positive_correlation(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-15);
        // negatives clamp to 0: [-5, 0, 2] → [0,0,2]; [0,1,0]: r = -0.5
        let r = positive_correlation(&[-5.0, 0.0, 2.0], &[0.0, 1.0, 0.0]);
        assert!((r + 0.5).abs() < 1e-15, "{r}");
        // clamping matters: raw correlation of these would be −1
        let r = positive_correlation(&[-1.0, 0.0, 1.0], &[1.0, 0.0, -1.0]);
        assert!((r + 0.5).abs() < 1e-15, "{r}");
    }

    #[test]
    fn constant_vector_gives_zero_not_nan() {
        assert_eq!(
            positive_correlation(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            0.0
        );
        // all negative → all zero after clamping
        assert_eq!(
            positive_correlation(&[-1.0, -2.0, -3.0], &[1.0, 2.0, 3.0]),
            0.0
        );
        let a = similarity_matrix(&[-1.0, -2.0, -3.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0], 3, 3);
        assert_eq!(a, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn identical_vectors_give_one_and_matrix_is_symmetric() {
        let o = [0.5f32, -1.0, 2.0, 0.5, -1.0, 2.0, 3.0, 1.0, 0.0];
        let a = similarity_matrix(&o, 3, 3);
        assert!((a[1] - 1.0).abs() < 1e-12);
        for i in 0..3 {
            assert_eq!(a[i * 3 + i], 1.0);
            for j in 0..3 {
                assert_eq!(a[i * 3 + j], a[j * 3 + i]);
                assert!(a[i * 3 + j].is_finite());
            }
        }
    }

    #[test]
    fn non_finite_ofiv_gives_zero() {
        assert_eq!(
            positive_correlation(&[f64::INFINITY, 1.0, 0.0], &[1.0, 2.0, 3.0]),
            0.0
        );
    }

    #[test]
    fn difference() {
        assert_eq!(class_difference(&[1.0, 2.0], &[0.5, 3.0]), vec![0.5, -1.0]);
    }
}
