//! Element-wise merges of tensors of one shape (Keras Add, Subtract, Multiply,
//! Average, Maximum, Minimum; ONNX Add, Sub, Mul, Div, Max, Min).
use crate::model::MergeOp;

#[derive(Debug, Clone)]
pub struct Merge {
    pub op: MergeOp,
}

impl Merge {
    pub fn forward(&self, xs: &[&[f32]], y: &mut [f32]) {
        let n = y.len();
        y.copy_from_slice(&xs[0][..n]);
        for x in &xs[1..] {
            let x = &x[..n];
            match self.op {
                MergeOp::Add | MergeOp::Average => y.iter_mut().zip(x).for_each(|(a, b)| *a += b),
                MergeOp::Subtract => y.iter_mut().zip(x).for_each(|(a, b)| *a -= b),
                MergeOp::Multiply => y.iter_mut().zip(x).for_each(|(a, b)| *a *= b),
                MergeOp::Maximum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.max(*b)),
                MergeOp::Minimum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.min(*b)),
                MergeOp::Divide => y.iter_mut().zip(x).for_each(|(a, b)| *a /= b),
            }
        }
        if self.op == MergeOp::Average {
            let inv = 1.0 / xs.len() as f32;
            y.iter_mut().for_each(|v| *v *= inv);
        }
    }

    /// A maximum or minimum sends the gradient to the first input that holds it.
    pub fn backward(&self, xs: &[&[f32]], y: &[f32], dy: &[f32], dxs: &mut [&mut [f32]]) {
        let n = dy.len();
        match self.op {
            MergeOp::Add => dxs.iter_mut().for_each(|d| d[..n].copy_from_slice(dy)),
            MergeOp::Subtract => {
                dxs[0][..n].copy_from_slice(dy);
                dxs[1][..n].iter_mut().zip(dy).for_each(|(d, g)| *d = -g);
            }
            MergeOp::Average => {
                let inv = 1.0 / xs.len() as f32;
                for d in dxs.iter_mut() {
                    d[..n].iter_mut().zip(dy).for_each(|(d, g)| *d = g * inv);
                }
            }
            // Two inputs (gates, Swish-like products): each gets dy times the
            // other, the general loop's product in its order, vectorised.
            MergeOp::Multiply if xs.len() == 2 => {
                let (a, b) = (&xs[0][..n], &xs[1][..n]);
                dxs[0][..n]
                    .iter_mut()
                    .zip(dy.iter().zip(b))
                    .for_each(|(d, (g, x))| *d = g * x);
                dxs[1][..n]
                    .iter_mut()
                    .zip(dy.iter().zip(a))
                    .for_each(|(d, (g, x))| *d = g * x);
            }
            MergeOp::Multiply => {
                for (j, d) in dxs.iter_mut().enumerate() {
                    for i in 0..n {
                        let mut p = dy[i];
                        for (m, x) in xs.iter().enumerate() {
                            if m != j {
                                p *= x[i];
                            }
                        }
                        d[i] = p;
                    }
                }
            }
            // y = a / b: dy/da = 1/b, dy/db = −y/b.
            MergeOp::Divide => {
                let b = &xs[1][..n];
                for i in 0..n {
                    dxs[0][i] = dy[i] / b[i];
                    dxs[1][i] = -dy[i] * y[i] / b[i];
                }
            }
            MergeOp::Maximum | MergeOp::Minimum => {
                dxs.iter_mut().for_each(|d| d[..n].fill(0.0));
                for i in 0..n {
                    let j = xs.iter().position(|x| x[i] == y[i]).unwrap_or(0);
                    dxs[j][i] = dy[i];
                }
            }
        }
    }
}
