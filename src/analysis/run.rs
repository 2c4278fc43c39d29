//! Steps 4–8 for a whole run: every class, then similarity and clustering.
use super::{analyze_class, gmm::GmmFloor, linkage, similarity};
use ndarray::{Array1, Array2};

/// The analysis input: the FIV and score of every restart of every class.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    pub c: usize,
    pub t: usize,
    pub k: usize,
    /// (C·T, K), class-major.
    pub fiv: Array2<f32>,
    /// (C·T)
    pub score: Array1<f32>,
}

/// `/analysis` of a run, row-major arrays as the results file lays them out.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAnalysis {
    pub c: usize,
    pub t: usize,
    pub k: usize,
    /// The GMM's covariance floor mode (root attribute `gmm_floor`).
    pub gmm_floor: GmmFloor,
    pub weight: Vec<f32>,
    pub il: Vec<f32>,
    pub gmm_bic: Vec<f64>,
    pub gmm_components: Vec<i32>,
    pub nonadditive: Vec<u8>,
    pub ofiv: Vec<f32>,
    pub rank: Vec<i32>,
    pub similarity: Vec<f32>,
    pub linkage: Vec<f64>,
    pub cluster_order: Vec<i32>,
    /// (C) per-class checks ([`super::diagnostics`]).
    pub class_score: Vec<f32>,
    pub score_ratio: Vec<f32>,
    pub restart_correlation: Vec<f32>,
    pub not_learned: Vec<u8>,
    pub restarts_collapsed: Vec<u8>,
    /// (C, K) fraction of bootstrap resamples of the restarts in which each
    /// channel ranks in the top 3 ([`super::bootstrap`]).
    pub top3_stability: Vec<f32>,
}

impl RunAnalysis {
    /// The per-class checks again, for the log.
    pub fn checks(&self) -> Vec<super::diagnostics::ClassCheck> {
        (0..self.c)
            .map(|ci| super::diagnostics::ClassCheck {
                score: self.class_score[ci],
                score_ratio: self.score_ratio[ci],
                restart_correlation: self.restart_correlation[ci],
                not_learned: self.not_learned[ci] == 1,
                collapsed: self.restarts_collapsed[ci] == 1,
            })
            .collect()
    }
}

pub fn analyze_run(a: &Ensemble, gmm_floor: GmmFloor) -> RunAnalysis {
    let (c, t, k) = (a.c, a.t, a.k);
    let mut r = RunAnalysis {
        c,
        t,
        k,
        gmm_floor,
        weight: Vec::with_capacity(c * t),
        il: Vec::with_capacity(c * k),
        gmm_bic: Vec::with_capacity(c * 3),
        gmm_components: Vec::with_capacity(c),
        nonadditive: Vec::with_capacity(c * k),
        ofiv: Vec::with_capacity(c * k),
        rank: Vec::with_capacity(c * k),
        similarity: vec![],
        linkage: vec![],
        cluster_order: vec![],
        class_score: vec![],
        score_ratio: vec![],
        restart_correlation: vec![],
        not_learned: vec![],
        restarts_collapsed: vec![],
        top3_stability: Vec::with_capacity(c * k),
    };
    let fiv = a.fiv.as_slice().expect("contiguous fiv");
    let score = a.score.as_slice().expect("contiguous score");
    for ci in 0..c {
        let ca = analyze_class(
            &fiv[ci * t * k..(ci + 1) * t * k],
            t,
            k,
            &score[ci * t..(ci + 1) * t],
            gmm_floor,
        );
        r.weight.extend(ca.weight);
        r.il.extend(ca.il);
        r.gmm_bic.extend(ca.gmm_bic);
        r.gmm_components.push(ca.gmm_components);
        let na: Vec<bool> = ca.nonadditive.iter().map(|&v| v == 1).collect();
        r.top3_stability.extend(super::bootstrap::top_stability(
            &fiv[ci * t * k..(ci + 1) * t * k],
            t,
            k,
            &score[ci * t..(ci + 1) * t],
            &na,
            ci,
        ));
        r.nonadditive.extend(ca.nonadditive);
        r.ofiv.extend(ca.ofiv);
        r.rank.extend(ca.rank);
    }
    r.similarity = similarity(&r.ofiv, c, k);
    let (z, order) = linkage(&r.similarity, c);
    r.linkage = z;
    r.cluster_order = order;
    for ch in super::diagnostics::check_classes(fiv, score, &r.il, c, t, k) {
        r.class_score.push(ch.score);
        r.score_ratio.push(ch.score_ratio);
        r.restart_correlation.push(ch.restart_correlation);
        r.not_learned.push(ch.not_learned as u8);
        r.restarts_collapsed.push(ch.collapsed as u8);
    }
    r
}
