//! Max and average pooling along positions. Max pooling remembers its argmax
//! so the backward pass routes the gradient to the winning position.
use crate::model::{same_pad_left, Padding};

#[derive(Debug, Clone)]
pub struct MaxPool {
    pub k: usize,
    pub w_in: usize,
    pub w_out: usize,
    pool: usize,
    stride: usize,
    pad_left: usize,
}

impl MaxPool {
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
        MaxPool {
            k,
            w_in,
            w_out,
            pool,
            stride,
            pad_left,
        }
    }

    /// A global max pool is a pool as wide as the map.
    pub fn global(k: usize, w_in: usize) -> Self {
        MaxPool {
            k,
            w_in,
            w_out: 1,
            pool: w_in,
            stride: 1,
            pad_left: 0,
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, arg: &mut [u32]) {
        let k = self.k;
        for b in 0..batch {
            let xb = &x[b * self.w_in * k..(b + 1) * self.w_in * k];
            for o in 0..self.w_out {
                let start = (o * self.stride) as isize - self.pad_left as isize;
                let lo = start.max(0) as usize;
                let hi = ((start + self.pool as isize) as usize).min(self.w_in);
                let out = (b * self.w_out + o) * k;
                for c in 0..k {
                    // First maximum wins, as in TensorFlow and PyTorch.
                    let (mut best, mut at) = (xb[lo * k + c], lo);
                    for p in lo + 1..hi {
                        let v = xb[p * k + c];
                        if v > best {
                            best = v;
                            at = p;
                        }
                    }
                    y[out + c] = best;
                    arg[out + c] = at as u32;
                }
            }
        }
    }

    pub fn backward(&self, dy: &[f32], dx: &mut [f32], batch: usize, arg: &[u32]) {
        let k = self.k;
        dx[..batch * self.w_in * k].fill(0.0);
        for b in 0..batch {
            for o in 0..self.w_out {
                let out = (b * self.w_out + o) * k;
                for c in 0..k {
                    dx[(b * self.w_in + arg[out + c] as usize) * k + c] += dy[out + c];
                }
            }
        }
    }
}

pub fn global_avg_forward(x: &[f32], y: &mut [f32], batch: usize, k: usize, w: usize) {
    for b in 0..batch {
        let yb = &mut y[b * k..(b + 1) * k];
        yb.fill(0.0);
        for p in 0..w {
            for (d, s) in yb.iter_mut().zip(&x[(b * w + p) * k..(b * w + p + 1) * k]) {
                *d += s;
            }
        }
        yb.iter_mut().for_each(|v| *v /= w as f32);
    }
}

pub fn global_avg_backward(dy: &[f32], dx: &mut [f32], batch: usize, k: usize, w: usize) {
    for b in 0..batch {
        for p in 0..w {
            for c in 0..k {
                dx[(b * w + p) * k + c] = dy[b * k + c] / w as f32;
            }
        }
    }
}
