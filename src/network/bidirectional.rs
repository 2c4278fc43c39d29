//! A recurrent layer in both directions, joined by concatenation of channels,
//! sum, mean or product. Each direction is its own [`Layer`] (LSTM or GRU);
//! backward splits the output gradient between them and adds their input
//! gradients.
use super::{Kept, Layer, Scratch};
use crate::model::BiMerge;

#[derive(Debug, Clone)]
pub struct Bidirectional {
    pub merge: BiMerge,
    pub forward: Box<Layer>,
    pub backward: Box<Layer>,
    /// Units of one direction and output positions.
    pub units: usize,
    pub w_out: usize,
}

impl Bidirectional {
    fn half(&self, batch: usize) -> usize {
        batch * self.units * self.w_out
    }

    fn both(&self, x: &[f32], batch: usize, s: &mut Scratch) -> (Vec<f32>, Vec<f32>) {
        let n = self.half(batch);
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        let mut kept = Kept::default();
        self.forward.forward(&[x], &mut a, batch, s, &mut kept);
        self.backward.forward(&[x], &mut b, batch, s, &mut kept);
        (a, b)
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, s: &mut Scratch) {
        let (a, b) = self.both(x, batch, s);
        let u = self.units;
        match self.merge {
            BiMerge::Concat => {
                for ((yr, ar), br) in y.chunks_mut(2 * u).zip(a.chunks(u)).zip(b.chunks(u)) {
                    yr[..u].copy_from_slice(ar);
                    yr[u..].copy_from_slice(br);
                }
            }
            BiMerge::Sum => {
                for ((o, p), q) in y.iter_mut().zip(&a).zip(&b) {
                    *o = p + q;
                }
            }
            BiMerge::Average => {
                for ((o, p), q) in y.iter_mut().zip(&a).zip(&b) {
                    *o = (p + q) * 0.5;
                }
            }
            BiMerge::Multiply => {
                for ((o, p), q) in y.iter_mut().zip(&a).zip(&b) {
                    *o = p * q;
                }
            }
        }
    }

    pub fn backward(&self, x: &[f32], dy: &[f32], dx: &mut [f32], batch: usize, s: &mut Scratch) {
        let n = self.half(batch);
        let u = self.units;
        let (mut da, mut db) = (vec![0.0; n], vec![0.0; n]);
        match self.merge {
            BiMerge::Concat => {
                for ((g, a), b) in dy.chunks(2 * u).zip(da.chunks_mut(u)).zip(db.chunks_mut(u)) {
                    a.copy_from_slice(&g[..u]);
                    b.copy_from_slice(&g[u..]);
                }
            }
            BiMerge::Sum => {
                da.copy_from_slice(&dy[..n]);
                db.copy_from_slice(&dy[..n]);
            }
            BiMerge::Average => {
                for ((a, b), g) in da.iter_mut().zip(db.iter_mut()).zip(dy) {
                    *a = g * 0.5;
                    *b = g * 0.5;
                }
            }
            BiMerge::Multiply => {
                let (ya, yb) = self.both(x, batch, s);
                for i in 0..n {
                    da[i] = dy[i] * yb[i];
                    db[i] = dy[i] * ya[i];
                }
            }
        }
        let mut dxb = vec![0.0; dx.len()];
        // The recurrent layers' backward reads only the input (they recompute their states).
        self.forward.backward(
            &[x],
            &[],
            &da,
            &mut [&mut dx[..]],
            batch,
            s,
            &Kept::default(),
        );
        self.backward.backward(
            &[x],
            &[],
            &db,
            &mut [&mut dxb[..]],
            batch,
            s,
            &Kept::default(),
        );
        for (o, v) in dx.iter_mut().zip(&dxb) {
            *o += v;
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        self.forward.flops_per_item() + self.backward.flops_per_item()
    }
}
