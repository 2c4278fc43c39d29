//! The analysis half of DeepResolve (docs/SPEC.md, method steps 4–8) as plain functions:
//! no MPI, no HDF5, no failure modes.
//!
//! * [`weights`] — step 4, restart weights;
//! * [`variance`] — weighted mean/variance, step 5 (IL);
//! * [`gmm`] — step 6, 1-D Gaussian mixtures chosen by BIC;
//! * [`ofiv`] — step 7, OFIV and the channel ranking;
//! * [`similarity`] — step 8, class similarity and difference;
//! * [`cluster`] — average linkage of 1 − A and the dendrogram leaf order.

pub mod bootstrap;
pub mod cluster;
pub mod diagnostics;
pub mod gmm;
pub mod ofiv;
pub mod similarity;
pub mod variance;
pub mod weights;

/// Everything `/analysis` holds for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassAnalysis {
    /// (T) restart weights, step 4.
    pub weight: Vec<f32>,
    /// (K) inconsistency level, computed in f64.
    pub il: Vec<f32>,
    /// BIC for 1, 2, 3 components (+∞ where a fit is impossible).
    pub gmm_bic: [f64; 3],
    pub gmm_components: i32,
    /// (K) 1 for non-additive channels.
    pub nonadditive: Vec<u8>,
    /// (K) overall feature importance vector.
    pub ofiv: Vec<f32>,
    /// (K) channel indices by OFIV, highest first.
    pub rank: Vec<i32>,
}

/// Steps 4–7 for one class: `fiv` is T×K row-major, `score` has T values.
/// The GMM is fitted on the f64 IL values (before rounding to f32).
pub fn analyze_class(
    fiv: &[f32],
    t: usize,
    k: usize,
    score: &[f32],
    floor: gmm::GmmFloor,
) -> ClassAnalysis {
    assert_eq!(fiv.len(), t * k, "fiv must be T×K");
    assert_eq!(score.len(), t, "one score per restart");
    let weight = weights::restart_weights(score);
    let il = variance::inconsistency_level(fiv, t, k, &weight);
    let choice = gmm::select_floor(&il, floor, variance::mean_square(fiv));
    let na = choice.nonadditive();
    let ofiv: Vec<f32> = ofiv::ofiv(fiv, t, k, &weight, &na)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let rank = ofiv::rank(&ofiv).into_iter().map(|i| i as i32).collect();
    ClassAnalysis {
        weight,
        il: il.iter().map(|&v| v as f32).collect(),
        gmm_bic: choice.bic,
        gmm_components: choice.components as i32,
        nonadditive: na.iter().map(|&b| b as u8).collect(),
        ofiv,
        rank,
    }
}

/// Class similarity A (C×C row-major) from the C×K OFIV matrix.
pub fn similarity(ofiv: &[f32], c: usize, k: usize) -> Vec<f32> {
    similarity::similarity_matrix(ofiv, c, k)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// Average linkage of 1 − A in SciPy's layout ((C−1)·4 values) and the
/// classes in dendrogram leaf order. The f32 similarities are widened to f64
/// before 1 − A.
pub fn linkage(sim: &[f32], c: usize) -> (Vec<f64>, Vec<i32>) {
    let a: Vec<f64> = sim.iter().map(|&v| f64::from(v)).collect();
    let z = cluster::average_linkage(&a, c);
    let order = cluster::leaves_list(&z, c)
        .into_iter()
        .map(|i| i as i32)
        .collect();
    (z, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_class_end_to_end() {
        // T = 3 restarts, K = 6 channels. Channels 0..3 agree across restarts
        // (IL ≈ 0), channels 3..6 vary a lot (large IL) → 2 components.
        // Channel 3 flips sign; restart 0 has the worst (negative) score.
        let t = 3;
        let k = 6;
        #[rustfmt::skip]
        let fiv = [
            1.0f32, 0.5, -0.2,  -9.0,  8.0, -6.0,
            1.0,    0.5, -0.2,  10.0, -1.0, -2.0,
            1.0,    0.5, -0.2,  -5.0,  9.0, -14.0,
        ];
        let score = [-1.0f32, 1.0, 3.0]; // → weights 0, 2, 4
        let a = analyze_class(&fiv, t, k, &score, gmm::GmmFloor::Absolute);
        assert_eq!(a.weight, vec![0.0, 2.0, 4.0]);
        assert_eq!(&a.il[..3], &[0.0, 0.0, 0.0]);
        // channel 3: values 10, −5 with weights 2, 4 → μ = 0, var = 50
        assert!((a.il[3] - 50.0).abs() < 1e-5);
        // channel 5: −2, −14 → μ = −10, var = (2·64 + 4·16)/6 = 32
        assert!((a.il[5] - 32.0).abs() < 1e-5);
        // (sklearn picks 3 here too: a lone IL value gets variance reg_covar)
        assert!(a.gmm_components >= 2, "{:?} {:?}", a.gmm_bic, a.il);
        assert_eq!(a.nonadditive, vec![0, 0, 0, 1, 1, 1]);
        // ch3 flips: positive 10 only → 10 (the weighted mean would be 0);
        // ch4 flips: positives 8 (w 0), 9 (w 4) → 9; ch5 one sign → −10
        let want = [1.0, 0.5, -0.2, 10.0, 9.0, -10.0];
        for (g, w) in a.ofiv.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{:?}", a.ofiv);
        }
        assert_eq!(a.rank, vec![3, 4, 0, 1, 2, 5]);
    }

    #[test]
    fn single_restart_is_all_additive() {
        let a = analyze_class(&[1.0, -2.0, 0.0], 1, 3, &[-4.0], gmm::GmmFloor::Relative);
        assert_eq!(a.weight, vec![1.0]);
        assert_eq!(a.il, vec![0.0, 0.0, 0.0]);
        assert_eq!(a.gmm_components, 1);
        assert!(a.gmm_bic[0].is_finite());
        assert_eq!(a.nonadditive, vec![0, 0, 0]);
        assert_eq!(a.ofiv, vec![1.0, -2.0, 0.0]);
        assert_eq!(a.rank, vec![0, 2, 1]);
    }

    #[test]
    fn similarity_and_linkage_wrappers() {
        // classes 0 and 2 identical, class 1 all negative (constant after clamp)
        let o = [1.0f32, 2.0, 3.0, -1.0, -1.0, -2.0, 1.0, 2.0, 3.0];
        let s = similarity(&o, 3, 3);
        assert_eq!(s[1], 0.0);
        assert!((s[2] - 1.0).abs() < 1e-6);
        let (z, order) = linkage(&s, 3);
        assert_eq!(z.len(), 8);
        assert_eq!(&z[0..2], &[0.0, 2.0]);
        assert_eq!(order, vec![1, 0, 2]);
        let (z, order) = linkage(&[1.0], 1);
        assert!(z.is_empty());
        assert_eq!(order, vec![0]);
    }
}

mod run;
pub use run::{analyze_run, Ensemble, RunAnalysis};
