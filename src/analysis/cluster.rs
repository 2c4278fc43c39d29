//! Average-linkage hierarchical clustering of the classes on the distance
//! 1 − A, in SciPy's layout, and the dendrogram leaf order.
//!
//! The linkage comes from `kodama::linkage(.., Method::Average)`, which, like
//! SciPy's `linkage(y, 'average')`, runs the nearest-neighbour-chain algorithm,
//! sorts the merges stably by distance and relabels them with a union-find:
//! original observations are 0..C, the cluster made at step i is C + i, and
//! each row holds (smaller id, larger id, distance, size). So the
//! (C−1)×4 rows are SciPy's `Z` as they stand.
//!
//! The distance is d_ij = 1 − A_ij computed in f64 from the upper triangle
//! (i < j) of A, as `squareform(1 − A, checks=False)` takes it; the diagonal
//! is ignored. A non-finite A_ij (not produced by `similarity`) is treated as
//! A_ij = 0, i.e. d = 1 (SciPy would refuse such input).
//!
//! The leaf order is `scipy.cluster.hierarchy.leaves_list(Z)` (the same as
//! `dendrogram(Z)['leaves']` with default options): a pre-order walk from the
//! root, visiting Z[i, 0] before Z[i, 1].

/// SciPy-layout average linkage of d = 1 − A (A is C×C row-major, f64).
/// Returns (C−1)·4 values; empty for C ≤ 1.
pub fn average_linkage(sim: &[f64], c: usize) -> Vec<f64> {
    assert_eq!(sim.len(), c * c, "similarity must be C×C");
    if c <= 1 {
        return Vec::new();
    }
    let mut condensed = Vec::with_capacity(c * (c - 1) / 2);
    for i in 0..c {
        for j in i + 1..c {
            let a = sim[i * c + j];
            condensed.push(if a.is_finite() { 1.0 - a } else { 1.0 });
        }
    }
    let dend = kodama::linkage(&mut condensed, c, kodama::Method::Average);
    let mut z = Vec::with_capacity((c - 1) * 4);
    for s in dend.steps() {
        let (a, b) = if s.cluster1 < s.cluster2 {
            (s.cluster1, s.cluster2)
        } else {
            (s.cluster2, s.cluster1)
        };
        z.extend_from_slice(&[a as f64, b as f64, s.dissimilarity, s.size as f64]);
    }
    z
}

/// Leaf order of a SciPy-layout linkage over `c` observations
/// (`leaves_list`). C = 1 (empty linkage) gives [0]; C = 0 gives [].
pub fn leaves_list(z: &[f64], c: usize) -> Vec<usize> {
    if c == 0 {
        return Vec::new();
    }
    if c == 1 {
        return vec![0];
    }
    assert_eq!(z.len(), (c - 1) * 4, "linkage must be (C−1)×4");
    let mut order = Vec::with_capacity(c);
    let mut stack = vec![2 * c - 2];
    while let Some(id) = stack.pop() {
        if id < c {
            order.push(id);
        } else {
            let row = &z[(id - c) * 4..(id - c) * 4 + 4];
            // push right first so that left is visited first
            stack.push(row[1] as usize);
            stack.push(row[0] as usize);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_from_dist(d: &[&[f64]]) -> Vec<f64> {
        d.iter().flat_map(|r| r.iter().map(|v| 1.0 - v)).collect()
    }

    #[test]
    fn three_points_by_hand() {
        // d01 = 0.2, d02 = 0.9, d12 = 0.5 → merge (0,1) at 0.2, then 2 with 3
        // at (0.9 + 0.5)/2 = 0.7
        let s = sim_from_dist(&[&[0.0, 0.2, 0.9], &[0.2, 0.0, 0.5], &[0.9, 0.5, 0.0]]);
        let z = average_linkage(&s, 3);
        let want = [0.0, 1.0, 0.2, 2.0, 2.0, 3.0, 0.7, 3.0];
        for (g, w) in z.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{z:?}");
        }
        assert_eq!(leaves_list(&z, 3), vec![2, 0, 1]);
    }

    #[test]
    fn later_clusters_are_numbered_from_c() {
        // two pairs (0,3) and (1,2), then the pairs join: ids 4, 5 → 6
        let d: &[&[f64]] = &[
            &[0.0, 0.8, 0.9, 0.1],
            &[0.8, 0.0, 0.2, 0.7],
            &[0.9, 0.2, 0.0, 0.6],
            &[0.1, 0.7, 0.6, 0.0],
        ];
        let z = average_linkage(&sim_from_dist(d), 4);
        assert_eq!(&z[0..2], &[0.0, 3.0]);
        assert_eq!(&z[4..6], &[1.0, 2.0]);
        assert_eq!(&z[8..10], &[4.0, 5.0]);
        assert_eq!(z[11], 4.0);
        assert!((z[10] - 0.75).abs() < 1e-12);
        assert_eq!(leaves_list(&z, 4), vec![0, 3, 1, 2]);
    }

    #[test]
    fn trivial_sizes() {
        assert!(average_linkage(&[1.0], 1).is_empty());
        assert_eq!(leaves_list(&[], 1), vec![0]);
        assert!(leaves_list(&[], 0).is_empty());
        let z = average_linkage(&[1.0, 0.25, 0.25, 1.0], 2);
        assert_eq!(z, vec![0.0, 1.0, 0.75, 2.0]);
        assert_eq!(leaves_list(&z, 2), vec![0, 1]);
    }
}
