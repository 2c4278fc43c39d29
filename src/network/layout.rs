//! Conversions between the outside world's channel-major maps (K × W, as in
//! the results file and PyTorch) and the engine's position-major ones (W × K).
//! A channel-major Flatten is the same permutation.

/// (batch, K, W) channel-major → (batch, W, K) position-major, into `y`.
pub fn position_major_into(x: &[f32], y: &mut [f32], batch: usize, k: usize, w: usize) {
    for b in 0..batch {
        for c in 0..k {
            for p in 0..w {
                y[(b * w + p) * k + c] = x[(b * k + c) * w + p];
            }
        }
    }
}

/// (batch, W, K) position-major → (batch, K, W) channel-major, into `y`.
pub fn channel_major_into(x: &[f32], y: &mut [f32], batch: usize, k: usize, w: usize) {
    for b in 0..batch {
        for p in 0..w {
            for c in 0..k {
                y[(b * k + c) * w + p] = x[(b * w + p) * k + c];
            }
        }
    }
}

/// (batch, K, W) channel-major → (batch, W, K) position-major.
pub fn to_position_major(x: &[f32], batch: usize, k: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0.0; batch * k * w];
    position_major_into(x, &mut y, batch, k, w);
    y
}

/// (batch, W, K) position-major → (batch, K, W) channel-major.
pub fn to_channel_major(x: &[f32], batch: usize, k: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0.0; batch * k * w];
    channel_major_into(x, &mut y, batch, k, w);
    y
}
