//! A convolution with few filters and a wide kernel (a profile head: 2
//! filters × 75 taps × 64 channels), tap by tap instead of by im2col.
//!
//! im2col copies every input value once per tap (75 × the map) to feed a
//! product of only `filters` columns, so the step was memory traffic: the
//! BPNet profile head took 43% of a step at 7.5 GFLOP/s. Here one product
//! per item, Z = X·Tᵀ (W_in × taps·filters, T the kernel with row j·F + f
//! = tap j of filter f), does every multiply at sgemm speed, and the output
//! sums the taps' columns at their shifts: y[o, f] = b[f] + Σ_j Z[o·s +
//! j·d − pad, j·F + f], j in order. Backward places dz at the same shifts in
//! dZ and takes dX = dZ·T. Each item runs alone through products whose
//! shapes do not depend on the batch, so an item's bits do not depend on its
//! batch-mates. The sums run in another order than im2col's, so a layer
//! that takes this path has other last bits than before it existed.
use super::{activation, gemm, Conv1d};

/// Filters at most this share of the input channels, and at least this many
/// taps: then Z (taps·filters columns) is no wider than a quarter of an
/// im2col row (taps·channels).
const MAX_FILTERS_PER_CHANNEL: usize = 4;
const MIN_TAPS: usize = 8;

/// The kernel as T (taps·filters × channels), when the shape takes this path.
pub(super) fn taps_kernel(c: &Conv1d) -> Option<Vec<f32>> {
    if c.filters * MAX_FILTERS_PER_CHANNEL > c.k_in || c.kernel_size < MIN_TAPS {
        return None;
    }
    let (f, ks, k) = (c.filters, c.kernel_size, c.k_in);
    let mut t = vec![0.0; ks * f * k];
    for ff in 0..f {
        for j in 0..ks {
            let src = &c.kernel_taps[ff * ks * k + j * k..][..k];
            t[(j * f + ff) * k..][..k].copy_from_slice(src);
        }
    }
    Some(t)
}

impl Conv1d {
    /// Floats of Z (or dZ) for one item.
    pub(super) fn taps_len(&self) -> usize {
        self.w_in * self.kernel_size * self.filters
    }

    pub(super) fn taps_forward(
        &self,
        t: &[f32],
        x: &[f32],
        y: &mut [f32],
        batch: usize,
        z: &mut [f32],
    ) {
        let (k, f, n) = (self.k_in, self.filters, self.kernel_size * self.filters);
        let z = &mut z[..self.taps_len()];
        for b in 0..batch {
            let xb = &x[b * self.w_in * k..][..self.w_in * k];
            gemm::sgemm(false, true, self.w_in, n, k, 1.0, xb, k, t, k, 0.0, z, n);
            let yb = &mut y[b * self.w_out * f..][..self.w_out * f];
            for (o, yr) in yb.chunks_exact_mut(f).enumerate() {
                yr.copy_from_slice(&self.bias);
                for j in 0..self.kernel_size {
                    if let Some(p) = self.src(o, j) {
                        let zr = &z[p * n + j * f..][..f];
                        yr.iter_mut().zip(zr).for_each(|(v, s)| *v += s);
                    }
                }
            }
        }
        activation::forward(self.act, &mut y[..batch * self.w_out * f], f);
    }

    /// `dz` already holds the pre-activation gradient (batch × w_out × filters).
    pub(super) fn taps_backward(
        &self,
        t: &[f32],
        dz: &[f32],
        dx: &mut [f32],
        batch: usize,
        dzz: &mut [f32],
    ) {
        let (k, f, n) = (self.k_in, self.filters, self.kernel_size * self.filters);
        let dzz = &mut dzz[..self.taps_len()];
        for b in 0..batch {
            dzz.fill(0.0);
            let db = &dz[b * self.w_out * f..][..self.w_out * f];
            for (o, dr) in db.chunks_exact(f).enumerate() {
                for j in 0..self.kernel_size {
                    if let Some(p) = self.src(o, j) {
                        dzz[p * n + j * f..][..f].copy_from_slice(dr);
                    }
                }
            }
            let dxb = &mut dx[b * self.w_in * k..][..self.w_in * k];
            gemm::sgemm(
                false, false, self.w_in, k, n, 1.0, dzz, n, t, k, 0.0, dxb, k,
            );
        }
    }
}
