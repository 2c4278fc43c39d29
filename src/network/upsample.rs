//! UpSampling1D: every position repeated `size` times.

#[derive(Debug, Clone)]
pub struct UpSample {
    pub k: usize,
    pub w_in: usize,
    pub size: usize,
}

impl UpSample {
    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let k = self.k;
        for b in 0..batch {
            for p in 0..self.w_in {
                let src = &x[(b * self.w_in + p) * k..(b * self.w_in + p + 1) * k];
                for r in 0..self.size {
                    let o = ((b * self.w_in + p) * self.size + r) * k;
                    y[o..o + k].copy_from_slice(src);
                }
            }
        }
    }

    pub fn backward(&self, dy: &[f32], dx: &mut [f32], batch: usize) {
        let k = self.k;
        for b in 0..batch {
            for p in 0..self.w_in {
                let d = &mut dx[(b * self.w_in + p) * k..(b * self.w_in + p + 1) * k];
                d.fill(0.0);
                for r in 0..self.size {
                    let o = ((b * self.w_in + p) * self.size + r) * k;
                    d.iter_mut().zip(&dy[o..o + k]).for_each(|(a, g)| *a += g);
                }
            }
        }
    }
}
