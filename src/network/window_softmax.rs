//! Softmax over windows of `size` consecutive positions, per channel: the
//! weights of Enformer's attention pooling (its logits reshaped to
//! (N, C, W/size, size) and softmaxed over the last axis).
#[derive(Debug, Clone)]
pub struct WindowSoftmax {
    pub k: usize,
    pub w: usize,
    pub size: usize,
}

impl WindowSoftmax {
    /// Calls `f(item offset, window start)` for every window of every item.
    fn windows(&self, batch: usize, mut f: impl FnMut(usize)) {
        for b in 0..batch {
            for p in (0..self.w).step_by(self.size) {
                f(b * self.w * self.k + p * self.k);
            }
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let (k, n) = (self.k, self.size);
        self.windows(batch, |o| {
            for c in 0..k {
                let at = |t: usize| o + t * k + c;
                let mx = (0..n).map(|t| x[at(t)]).fold(f32::NEG_INFINITY, f32::max);
                let mut s = 0.0f32;
                for t in 0..n {
                    let e = (x[at(t)] - mx).exp();
                    y[at(t)] = e;
                    s += e;
                }
                for t in 0..n {
                    y[at(t)] /= s;
                }
            }
        });
    }

    /// dx = y ⊙ (dy − Σ_window dy·y).
    pub fn backward(&self, y: &[f32], dy: &[f32], dx: &mut [f32], batch: usize) {
        let (k, n) = (self.k, self.size);
        self.windows(batch, |o| {
            for c in 0..k {
                let at = |t: usize| o + t * k + c;
                let s: f32 = (0..n).map(|t| dy[at(t)] * y[at(t)]).sum();
                for t in 0..n {
                    dx[at(t)] = y[at(t)] * (dy[at(t)] - s);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences_and_windows_sum_to_one() {
        let l = WindowSoftmax {
            k: 3,
            w: 6,
            size: 2,
        };
        let batch = 2;
        let n = batch * l.k * l.w;
        let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.4).collect();
        let t: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.3).collect();
        let f = |x: &[f32]| -> f64 {
            let mut y = vec![0.0; n];
            l.forward(x, &mut y, batch);
            y.iter().zip(&t).map(|(a, b)| (a * b) as f64).sum()
        };
        let mut y = vec![0.0; n];
        l.forward(&x, &mut y, batch);
        // Positions 2p and 2p + 1 of a channel share a window.
        for b in 0..batch {
            for p in 0..3 {
                for c in 0..3 {
                    let i = (b * 6 + 2 * p) * 3 + c;
                    assert!((y[i] + y[i + 3] - 1.0).abs() < 1e-6);
                }
            }
        }
        let mut dx = vec![0.0; n];
        l.backward(&y, &t, &mut dx, batch);
        let mut xp = x.clone();
        for i in 0..n {
            let eps = 1e-2;
            xp[i] = x[i] + eps;
            let up = f(&xp);
            xp[i] = x[i] - eps;
            let down = f(&xp);
            xp[i] = x[i];
            let num = (up - down) / (2.0 * eps as f64);
            assert!((num - dx[i] as f64).abs() < 1e-3, "{i}: {num} vs {}", dx[i]);
        }
    }
}
