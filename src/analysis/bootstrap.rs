//! How far to believe a class's OFIV ranking (issue 27): a bootstrap over its
//! restarts. Each of [`RESAMPLES`] resamples draws T restarts with
//! replacement, recomputes the restart weights (step 4) and the OFIV (step 7,
//! with the class's non-additive channels as the full ensemble found them:
//! the GMM is not refitted), and ranks the channels; the result is, per
//! channel, the fraction of resamples in which it is among the top
//! [`TOP`]. A top channel at 0.98 is solid; one at 0.4 is a coin toss.
//!
//! The draws come from a fixed generator seeded by the class's position in
//! the file alone, so the numbers are the same for any rank count and any
//! rerun of `analyze`.
use super::{ofiv, weights};

/// Bootstrap resamples per class.
pub const RESAMPLES: usize = 200;
/// The ranking depth whose stability is measured.
pub const TOP: usize = 3;

/// SplitMix64: tiny, fixed, and the same on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n ≥ 1; the modulo bias is < n / 2⁶⁴).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Per channel (K), the fraction of resamples in which it ranks in the top
/// [`TOP`] by OFIV. `fiv` is T×K, `score` T values, `nonadditive` K flags;
/// `class_pos` seeds the draws.
pub fn top_stability(
    fiv: &[f32],
    t: usize,
    k: usize,
    score: &[f32],
    nonadditive: &[bool],
    class_pos: usize,
) -> Vec<f32> {
    let mut hits = vec![0u32; k];
    if t == 0 || k == 0 {
        return vec![0.0; k];
    }
    let mut rng = SplitMix(0xDEE9_5E50_1FE0_0000 ^ (class_pos as u64).wrapping_mul(0x1000_0001));
    let mut f = vec![0f32; t * k];
    let mut s = vec![0f32; t];
    for _ in 0..RESAMPLES {
        for ti in 0..t {
            let pick = rng.below(t);
            f[ti * k..(ti + 1) * k].copy_from_slice(&fiv[pick * k..(pick + 1) * k]);
            s[ti] = score[pick];
        }
        let w = weights::restart_weights(&s);
        let o: Vec<f32> = ofiv::ofiv(&f, t, k, &w, nonadditive)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        for &ch in ofiv::rank(&o).iter().take(TOP) {
            hits[ch] += 1;
        }
    }
    hits.iter().map(|&h| h as f32 / RESAMPLES as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_leader_is_stable_and_a_tie_is_not() {
        // T = 6, K = 5: channel 0 is always far ahead; channels 1–4 trade
        // places at random; the top 3 always holds channel 0.
        let (t, k) = (6, 5);
        let mut fiv = vec![];
        for ti in 0..t {
            fiv.push(10.0f32);
            for ch in 1..k {
                fiv.push(((ti * 7 + ch * 3) % 5) as f32);
            }
        }
        let score = vec![1.0f32; t];
        let na = vec![false; k];
        let st = top_stability(&fiv, t, k, &score, &na, 0);
        assert_eq!(st[0], 1.0);
        assert!(st[1..].iter().all(|&v| v < 1.0), "{st:?}");
        let total: f32 = st.iter().sum();
        assert!((total - TOP as f32).abs() < 1e-4, "{st:?}");
        // deterministic; another class position draws differently
        assert_eq!(st, top_stability(&fiv, t, k, &score, &na, 0));
        assert_ne!(st, top_stability(&fiv, t, k, &score, &na, 1));
    }
}
