//! Cropping1D and ZeroPadding1D: a window of positions moved into a map of
//! another length. Both are the same copy, in opposite directions.

/// `w_in` positions of which `[left, left + w_out)` are kept (crop), or
/// `w_in` positions placed at `[left, left + w_in)` of `w_out` zeros (pad).
#[derive(Debug, Clone)]
pub struct Window {
    pub k: usize,
    pub w_in: usize,
    pub w_out: usize,
    pub left: usize,
    /// True for padding (the output is the larger map).
    pub pad: bool,
}

impl Window {
    /// Copies the shared positions from `small`/`large` maps of every item.
    fn copy(&self, from: &[f32], to: &mut [f32], batch: usize, into_large: bool) {
        let (small, large) = if self.pad {
            (self.w_in, self.w_out)
        } else {
            (self.w_out, self.w_in)
        };
        let k = self.k;
        for b in 0..batch {
            let s = b * small * k..(b + 1) * small * k;
            let l0 = (b * large + self.left) * k;
            let l = l0..l0 + small * k;
            if into_large {
                to[l].copy_from_slice(&from[s]);
            } else {
                to[s].copy_from_slice(&from[l]);
            }
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize) {
        if self.pad {
            y[..batch * self.w_out * self.k].fill(0.0);
        }
        self.copy(x, y, batch, self.pad);
    }

    pub fn backward(&self, dy: &[f32], dx: &mut [f32], batch: usize) {
        if !self.pad {
            dx[..batch * self.w_in * self.k].fill(0.0);
        }
        self.copy(dy, dx, batch, !self.pad);
    }
}
