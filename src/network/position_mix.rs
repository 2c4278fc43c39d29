//! A linear map over positions shared by every channel (Sei's B-spline
//! transformation): on the position-major map X (W × C) of one item,
//! Y (K × C) = Bᵀ·X with B (W × K), and dX = B·dY. Each item is one sgemm of
//! its own with the same shapes whatever its batch-mates, so an item's bits
//! do not depend on them.
use super::gemm;

#[derive(Debug, Clone)]
pub struct PositionMix {
    /// Channels.
    pub k: usize,
    /// Input positions W.
    pub w_in: usize,
    /// Output positions K.
    pub w_out: usize,
    /// B, (W, K) row-major.
    pub matrix: Vec<f32>,
}

impl PositionMix {
    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let (k, wi, wo) = (self.k, self.w_in, self.w_out);
        for b in 0..batch {
            gemm::sgemm(
                true,
                false,
                wo,
                k,
                wi,
                1.0,
                &self.matrix,
                wo,
                &x[b * wi * k..][..wi * k],
                k,
                0.0,
                &mut y[b * wo * k..][..wo * k],
                k,
            );
        }
    }

    pub fn backward(&self, dy: &[f32], dx: &mut [f32], batch: usize) {
        let (k, wi, wo) = (self.k, self.w_in, self.w_out);
        for b in 0..batch {
            gemm::sgemm(
                false,
                false,
                wi,
                k,
                wo,
                1.0,
                &self.matrix,
                wo,
                &dy[b * wo * k..][..wo * k],
                k,
                0.0,
                &mut dx[b * wi * k..][..wi * k],
                k,
            );
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        2.0 * (self.k * self.w_in * self.w_out) as f64
    }
}
