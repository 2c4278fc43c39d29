//! Dense layer on flat inputs: one sgemm for the whole batch.
use super::{activation, gemm};
use crate::model::Activation;

#[derive(Debug, Clone)]
pub struct Dense {
    pub n_in: usize,
    pub units: usize,
    pub act: Activation,
    /// (units, n_in) row-major, as in the spec.
    pub kernel: Vec<f32>,
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
            kernel,
            bias: bias.unwrap_or_else(|| vec![0.0; units]),
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let y = &mut y[..batch * self.units];
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
