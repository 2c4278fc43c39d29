//! Benjamini–Hochberg q-values.

/// q-value of each p-value: min over p_j ≥ p_i of p_j · n / rank_j, at most 1.
/// Equal p-values get equal q-values, and q is monotone in p.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![1.0; n];
    let mut running = 1.0f64;
    // From the largest p down; ties share the q of the last (highest-ranked) one.
    let mut r = n;
    while r > 0 {
        let mut s = r;
        while s > 1 && p[order[s - 2]] == p[order[r - 1]] {
            s -= 1;
        }
        let v = (p[order[r - 1]] * n as f64 / r as f64).min(running);
        running = v;
        for &i in &order[s - 1..r] {
            q[i] = v;
        }
        r = s - 1;
    }
    q
}
