//! Dense layer on flat inputs: one sgemm for the whole batch.
use super::weight_buf::WeightBuf;
use super::{activation, gemm, skinny};
use crate::model::Activation;

/// `bench` on the DeepSEA tail (one EPYC core): at 64 items 0.90 of the sgemm
/// rate against 0.87 through sgemm; past 64 the forward product reads the
/// kernel once per 32 items and sgemm's packing is spread over enough rows.
const SKINNY_MAX_BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct Dense {
    pub n_in: usize,
    pub units: usize,
    pub act: Activation,
    /// (units, n_in) row-major, as in the spec.
    pub kernel: WeightBuf,
    pub bias: Vec<f32>,
}

impl Dense {
    pub fn new(
        n_in: usize,
        units: usize,
        act: Activation,
        kernel: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> Self {
        Dense {
            n_in,
            units,
            act,
            kernel: WeightBuf::from_vec(kernel),
            bias: bias.unwrap_or_else(|| vec![0.0; units]),
        }
    }

    /// Up to 64 items per pass take the [`skinny`] products, which read a
    /// kernel too large for cache once per 32 items and sum every output in
    /// a fixed order (so an item's result does not depend on its
    /// batch-mates); larger batches are one sgemm.
    pub(crate) fn skinny(&self, batch: usize) -> bool {
        batch <= SKINNY_MAX_BATCH && skinny::available()
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, buf: &mut Vec<f32>) {
        let y = &mut y[..batch * self.units];
        if self.skinny(batch) {
            skinny::forward(&self.kernel, self.units, self.n_in, x, batch, y, buf);
            for r in y.chunks_mut(self.units) {
                for (v, b) in r.iter_mut().zip(&self.bias) {
                    *v += b;
                }
            }
            activation::forward(self.act, y, self.units);
            return;
        }
        for r in y.chunks_mut(self.units) {
            r.copy_from_slice(&self.bias);
        }
        gemm::sgemm(
            false,
            true,
            batch,
            self.units,
            self.n_in,
            1.0,
            x,
            self.n_in,
            &self.kernel,
            self.n_in,
            1.0,
            y,
            self.units,
        );
        activation::forward(self.act, y, self.units);
    }

    pub fn backward(&self, y: &[f32], dy: &[f32], dx: &mut [f32], batch: usize, dz: &mut [f32]) {
        let n = batch * self.units;
        activation::backward(self.act, &y[..n], &dy[..n], &mut dz[..n], self.units);
        if self.skinny(batch) {
            skinny::backward(&self.kernel, self.units, self.n_in, &dz[..n], batch, dx);
            return;
        }
        gemm::sgemm(
            false,
            false,
            batch,
            self.n_in,
            self.units,
            1.0,
            &dz[..n],
            self.units,
            &self.kernel,
            self.n_in,
            0.0,
            dx,
            self.n_in,
        );
    }

    /// One output unit's pre-activation for one item, and its gradient (the kernel row).
    pub fn unit(&self, x: &[f32], c: usize) -> (f32, &[f32]) {
        let w = &self.kernel[c * self.n_in..(c + 1) * self.n_in];
        (gemm::sdot(x, w) + self.bias[c], w)
    }

    pub fn flops_per_item(&self) -> f64 {
        2.0 * (self.units * self.n_in) as f64
    }
}
