//! Concatenation of position-major maps along channels or positions.
use crate::model::ConcatAxis;

#[derive(Debug, Clone)]
pub struct Concat {
    pub axis: ConcatAxis,
    /// (K, W) of each input.
    pub shapes: Vec<(usize, usize)>,
}

impl Concat {
    fn out_shape(&self) -> (usize, usize) {
        match self.axis {
            ConcatAxis::Channels => (self.shapes.iter().map(|s| s.0).sum(), self.shapes[0].1),
            ConcatAxis::Positions => (self.shapes[0].0, self.shapes.iter().map(|s| s.1).sum()),
        }
    }

    /// Calls `f(input j, its range in one item's input, range in one item's output)`
    /// for every contiguous run, so forward and backward share one walk.
    fn runs(&self, mut f: impl FnMut(usize, std::ops::Range<usize>, std::ops::Range<usize>)) {
        let (ko, _) = self.out_shape();
        match self.axis {
            ConcatAxis::Channels => {
                let w = self.shapes[0].1;
                for p in 0..w {
                    let mut off = 0;
                    for (j, &(k, _)) in self.shapes.iter().enumerate() {
                        f(j, p * k..(p + 1) * k, p * ko + off..p * ko + off + k);
                        off += k;
                    }
                }
            }
            ConcatAxis::Positions => {
                let mut off = 0;
                for (j, &(k, w)) in self.shapes.iter().enumerate() {
                    f(j, 0..w * k, off..off + w * k);
                    off += w * k;
                }
            }
        }
    }

    pub fn forward(&self, xs: &[&[f32]], y: &mut [f32], batch: usize) {
        let (ko, wo) = self.out_shape();
        for b in 0..batch {
            let yb = &mut y[b * ko * wo..(b + 1) * ko * wo];
            self.runs(|j, src, dst| {
                let n = self.shapes[j].0 * self.shapes[j].1;
                yb[dst].copy_from_slice(&xs[j][b * n..(b + 1) * n][src]);
            });
        }
    }

    pub fn backward(&self, dy: &[f32], dxs: &mut [&mut [f32]], batch: usize) {
        let (ko, wo) = self.out_shape();
        for b in 0..batch {
            let gb = &dy[b * ko * wo..(b + 1) * ko * wo];
            self.runs(|j, src, dst| {
                let n = self.shapes[j].0 * self.shapes[j].1;
                dxs[j][b * n..(b + 1) * n][src].copy_from_slice(&gb[dst]);
            });
        }
    }
}
