//! A depthwise convolution — each filter reads its own channel alone:
//! PyTorch's `groups` = channels (LegNet's blocks, Borzoi's separable
//! convolutions), Keras's `groups` and SeparableConv1D's first half. The
//! loaders read a grouped convolution as a full one whose kernel is zero
//! between the groups (exact, `model/grouped_conv.rs`); run that way, a
//! 512-channel depthwise layer of 9 taps does 512 times the multiplies it
//! needs. A kernel that is zero off its diagonal runs here instead:
//! y[o, c] = (Σ_j x[o·s + j·d − pad, c] · k[j, c], j in order) + b[c],
//! vectorised over channels; backward scatters dz · k[j] to the same
//! positions, outputs in order, taps in order. Each item is computed on its
//! own values alone, so its bits do not depend on its batch-mates; the sums
//! skip the zero terms, so such a layer's last bits differ from the full
//! product's.
use super::Conv1d;

/// The kernel (filters × channels × taps, as the model file has it) as taps ×
/// channels, when it is depthwise: as many filters as channels (more than
/// one), filter f reading channel f alone.
pub(crate) fn depthwise_taps(
    filters: usize,
    k_in: usize,
    ks: usize,
    kernel: &[f32],
) -> Option<Vec<f32>> {
    if filters != k_in || k_in < 2 || kernel.len() != filters * k_in * ks {
        return None;
    }
    let mut t = vec![0.0; ks * k_in];
    for (f, row) in kernel.chunks_exact(k_in * ks).enumerate() {
        for (ch, taps) in row.chunks_exact(ks).enumerate() {
            for (j, &w) in taps.iter().enumerate() {
                if ch == f {
                    t[j * k_in + ch] = w;
                } else if w != 0.0 {
                    return None;
                }
            }
        }
    }
    Some(t)
}

impl Conv1d {
    /// y (before the activation) of each item from x.
    pub(super) fn depthwise_forward(&self, t: &[f32], x: &[f32], y: &mut [f32], batch: usize) {
        let k = self.k_in;
        for b in 0..batch {
            let xb = &x[b * self.w_in * k..][..self.w_in * k];
            let yb = &mut y[b * self.w_out * k..][..self.w_out * k];
            for (o, yr) in yb.chunks_exact_mut(k).enumerate() {
                yr.fill(0.0);
                for j in 0..self.kernel_size {
                    if let Some(p) = self.src(o, j) {
                        let (xr, tr) = (&xb[p * k..][..k], &t[j * k..][..k]);
                        for ((v, a), w) in yr.iter_mut().zip(xr).zip(tr) {
                            *v += a * w;
                        }
                    }
                }
                for (v, bias) in yr.iter_mut().zip(&self.bias) {
                    *v += bias;
                }
            }
        }
    }

    /// dx of each item from dz, the gradient before the activation.
    pub(super) fn depthwise_backward(&self, t: &[f32], dz: &[f32], dx: &mut [f32], batch: usize) {
        let k = self.k_in;
        let dx = &mut dx[..batch * self.w_in * k];
        dx.fill(0.0);
        for b in 0..batch {
            let db = &dz[b * self.w_out * k..][..self.w_out * k];
            let xb = &mut dx[b * self.w_in * k..][..self.w_in * k];
            for (o, dr) in db.chunks_exact(k).enumerate() {
                for j in 0..self.kernel_size {
                    if let Some(p) = self.src(o, j) {
                        let (xr, tr) = (&mut xb[p * k..][..k], &t[j * k..][..k]);
                        for ((v, g), w) in xr.iter_mut().zip(dr).zip(tr) {
                            *v += g * w;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Conv1d;
    use crate::model::{Activation, Padding};

    /// A depthwise kernel (as the loaders widen it) takes this path and
    /// gives a float64 direct sum's values, forward and backward, at a
    /// stride and dilation; one weight off the diagonal keeps it full.
    #[test]
    fn depthwise_sums_match_the_full_convolution() {
        let (k, ks, w_in, stride, dil) = (5, 3, 17, 2, 2);
        let mut kernel = vec![0f32; k * k * ks];
        for f in 0..k {
            for j in 0..ks {
                kernel[(f * k + f) * ks + j] = ((f * 7 + j * 3) % 11) as f32 / 5.0 - 1.0;
            }
        }
        let bias: Vec<f32> = (0..k).map(|f| f as f32 / 10.0).collect();
        let span = dil * (ks - 1) + 1;
        let pad = crate::model::same_pad_left(w_in, span, stride);
        let w_out = w_in.div_ceil(stride);
        let conv = |kern: &[f32]| {
            Conv1d::new(
                k,
                w_in,
                w_out,
                k,
                ks,
                stride,
                dil,
                Padding::Same,
                Activation::Linear,
                kern,
                Some(&bias),
            )
        };
        let c = conv(&kernel);
        assert!(c.depthwise.is_some(), "a diagonal kernel is depthwise");
        let batch = 2;
        let x: Vec<f32> = (0..batch * w_in * k)
            .map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let mut y = vec![0f32; batch * w_out * k];
        let mut cols = vec![0f32; c.cols_len(batch)];
        c.forward(&x, &mut y, batch, &mut cols, &mut Vec::new());
        let dy: Vec<f32> = (0..batch * w_out * k)
            .map(|i| ((i * 13) % 7) as f32 / 3.0 - 1.0)
            .collect();
        let mut dx = vec![0f32; batch * w_in * k];
        let mut dz = vec![0f32; batch * w_out * k];
        c.backward(&y, &dy, &mut dx, batch, &mut dz, &mut cols);
        let mut want_dx = vec![0f64; batch * w_in * k];
        for b in 0..batch {
            for o in 0..w_out {
                for f in 0..k {
                    let mut s = bias[f] as f64;
                    for j in 0..ks {
                        let p = (o * stride + j * dil) as isize - pad as isize;
                        if p >= 0 && (p as usize) < w_in {
                            let w = kernel[(f * k + f) * ks + j] as f64;
                            s += x[(b * w_in + p as usize) * k + f] as f64 * w;
                            want_dx[(b * w_in + p as usize) * k + f] +=
                                dy[(b * w_out + o) * k + f] as f64 * w;
                        }
                    }
                    let got = y[(b * w_out + o) * k + f] as f64;
                    assert!((got - s).abs() < 1e-5, "y[{b},{o},{f}] {got} vs {s}");
                }
            }
        }
        for (i, (&g, &w)) in dx.iter().zip(&want_dx).enumerate() {
            assert!((g as f64 - w).abs() < 1e-5, "dx[{i}] {g} vs {w}");
        }
        kernel[(k + 2) * ks] = 0.5; // filter 1 reading channel 2
        assert!(conv(&kernel).depthwise.is_none(), "an off-diagonal weight");
    }
}
