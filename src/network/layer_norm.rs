//! Layer normalisation over the channels of each position (Keras
//! `LayerNormalization(axis=-1)` on channels-last maps, ONNX
//! `LayerNormalization` over the channel axis). The variance is the biased one.

#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

/// Mean and 1/√(var + eps) of one position's channels; sums in f64 so a
/// large mean does not cancel the variance.
fn stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
}

impl LayerNorm {
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let k = self.gamma.len();
        for (xr, yr) in x.chunks(k).zip(y.chunks_mut(k)) {
            let (m, inv) = stats(xr, self.eps);
            for c in 0..k {
                yr[c] = (xr[c] - m) * inv * self.gamma[c] + self.beta[c];
            }
        }
    }

    pub fn backward(&self, x: &[f32], dy: &[f32], dx: &mut [f32]) {
        let k = self.gamma.len();
        for ((xr, gr), dr) in x.chunks(k).zip(dy.chunks(k)).zip(dx.chunks_mut(k)) {
            let (m, inv) = stats(xr, self.eps);
            // dx = inv·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·gamma.
            let (mut sg, mut sgx) = (0.0f64, 0.0f64);
            for c in 0..k {
                let g = (gr[c] * self.gamma[c]) as f64;
                sg += g;
                sgx += g * ((xr[c] - m) * inv) as f64;
            }
            let (mg, mgx) = ((sg / k as f64) as f32, (sgx / k as f64) as f32);
            for c in 0..k {
                let xh = (xr[c] - m) * inv;
                dr[c] = inv * (gr[c] * self.gamma[c] - mg - xh * mgx);
            }
        }
    }
}
