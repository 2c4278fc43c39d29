//! Conversions between the outside world's channel-major maps (K × W, as in
//! the results file and PyTorch) and the engine's position-major ones (W × K).

/// (batch, K, W) channel-major → (batch, W, K) position-major.
pub fn to_position_major(x: &[f32], batch: usize, k: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0.0; batch * k * w];
    for b in 0..batch {
        for c in 0..k {
            for p in 0..w {
                y[(b * w + p) * k + c] = x[(b * k + c) * w + p];
            }
        }
    }
    y
}

/// (batch, W, K) position-major → (batch, K, W) channel-major.
pub fn to_channel_major(x: &[f32], batch: usize, k: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0.0; batch * k * w];
    for b in 0..batch {
        for c in 0..k {
            for p in 0..w {
                y[(b * k + c) * w + p] = x[(b * w + p) * k + c];
            }
        }
    }
    y
}
