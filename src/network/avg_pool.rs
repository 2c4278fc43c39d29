//! AveragePooling1D. A "same" window at the edge averages only the positions
//! inside the map (TensorFlow's rule, and ONNX's default count_include_pad = 0).
use crate::model::{same_pad_left, Padding};

#[derive(Debug, Clone)]
pub struct AvgPool {
    pub k: usize,
    pub w_in: usize,
    pub w_out: usize,
    pool: usize,
    stride: usize,
    pad_left: usize,
}

impl AvgPool {
    pub fn new(
        k: usize,
        w_in: usize,
        w_out: usize,
        pool: usize,
        stride: usize,
        padding: Padding,
    ) -> Self {
        let pad_left = match padding {
            Padding::Valid => 0,
            Padding::Same => same_pad_left(w_in, pool, stride),
        };
        AvgPool {
            k,
            w_in,
            w_out,
            pool,
            stride,
            pad_left,
        }
    }

    fn window(&self, o: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - self.pad_left as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.pool as isize).max(0) as usize).min(self.w_in);
        (lo, hi)
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        let k = self.k;
        for b in 0..batch {
            for o in 0..self.w_out {
                let (lo, hi) = self.window(o);
                let out = &mut y[(b * self.w_out + o) * k..(b * self.w_out + o + 1) * k];
                out.fill(0.0);
                for p in lo..hi {
                    let xs = &x[(b * self.w_in + p) * k..(b * self.w_in + p + 1) * k];
                    out.iter_mut().zip(xs).for_each(|(a, v)| *a += v);
                }
                let inv = 1.0 / (hi - lo).max(1) as f32;
                out.iter_mut().for_each(|v| *v *= inv);
            }
        }
    }

    pub fn backward(&self, dy: &[f32], dx: &mut [f32], batch: usize) {
        let k = self.k;
        dx[..batch * self.w_in * k].fill(0.0);
        for b in 0..batch {
            for o in 0..self.w_out {
                let (lo, hi) = self.window(o);
                let inv = 1.0 / (hi - lo).max(1) as f32;
                let g = &dy[(b * self.w_out + o) * k..(b * self.w_out + o + 1) * k];
                for p in lo..hi {
                    let d = &mut dx[(b * self.w_in + p) * k..(b * self.w_in + p + 1) * k];
                    d.iter_mut().zip(g).for_each(|(a, v)| *a += v * inv);
                }
            }
        }
    }
}
