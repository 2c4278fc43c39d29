//! A residual block of a dilated tower computed in row blocks: for each
//! block of output rows, the convolution's im2col rows and sgemm, the ReLU
//! and the sum with the (cropped) skip, while the rows are in cache; and
//! backward, the ReLU's mask, the sgemm and the scatter into the input's
//! gradient, with the skip's gradient added to each input position once
//! the convolution's share of it is complete. Unfused, each of those is a
//! pass over whole maps (a ChromBPNet item: 0.5 MB each, ~16% of its step).
//!
//! Same numbers as the unfused nodes, bit for bit: the same sgemm calls on
//! the same row blocks (`Conv1d::block_rows`), the same elementwise
//! operations, and each input gradient summed as the unfused graph sums it
//! (the convolution's taps in row order, then the skip's term: a + b = b + a).
use super::conv1d::{Conv1d, WinogradConv, WinogradScratch};
use super::grow;

pub(crate) struct Residual<'a> {
    pub conv: &'a Conv1d,
    /// A ReLU between the convolution and the sum (fused into it or a node of its own).
    pub relu: bool,
    /// The skip's first position (its crop's left offset; 0 without a crop).
    pub left: usize,
}

impl Residual<'_> {
    /// `forward` with the convolution on the Winograd path: each item alone,
    /// the ReLU and the skip's sum in the output transform, the same bits as
    /// the unfused nodes on that path. `act` (room for `batch` maps) gets
    /// no maps but the ReLU's mask, all that `backward_winograd` reads of it
    /// (act > 0, a bit per value: 1/32 of the bytes).
    pub fn forward_winograd(
        &self,
        w: &WinogradConv,
        x: &[f32],
        act: &mut [f32],
        out: &mut [f32],
        batch: usize,
        s: &mut WinogradScratch,
    ) {
        let (nx, ny) = (w.w_in() * self.conv.k_in, w.w_out() * self.conv.filters);
        let (mask, nm) = (as_words_mut(act), w.mask_len());
        for b in 0..batch {
            w.residual_forward(
                &x[b * nx..][..nx],
                &mut mask[b * nm..][..nm],
                &mut out[b * ny..][..ny],
                self.relu,
                self.left,
                s,
            );
        }
    }

    /// `backward` with the convolution on the Winograd path: the skip's
    /// term added in the output transform of the input gradient; `act` as
    /// `forward_winograd` left it (the ReLU's mask).
    pub fn backward_winograd(
        &self,
        w: &WinogradConv,
        act: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        s: &mut WinogradScratch,
    ) {
        let (nx, ny) = (w.w_in() * self.conv.k_in, w.w_out() * self.conv.filters);
        let (mask, nm) = (as_words(act), w.mask_len());
        for b in 0..batch {
            w.residual_backward(
                &mask[b * nm..][..nm],
                &dy[b * ny..][..ny],
                &mut dx[b * nx..][..nx],
                self.relu,
                self.left,
                s,
            );
        }
    }

    /// `act`: the convolution's output after the ReLU (kept for backward);
    /// `out`: the block's output. Each holds `batch` maps.
    pub fn forward(
        &self,
        x: &[f32],
        act: &mut [f32],
        out: &mut [f32],
        batch: usize,
        cols: &mut Vec<f32>,
    ) {
        let c = self.conv;
        let (f, w_in, w_out) = (c.filters, c.w_in, c.w_out);
        let m = batch * w_out;
        let block = c.block_rows(m).min(m.max(1));
        grow(cols, block * c.row_len());
        for r0 in (0..m).step_by(block) {
            let r1 = (r0 + block).min(m);
            let y = &mut act[r0 * f..r1 * f];
            for row in y.chunks_mut(f) {
                row.copy_from_slice(c.bias());
            }
            c.forward_rows(x, y, cols, r0..r1);
            if self.relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            for (i, r) in (r0..r1).enumerate() {
                let (b, o) = (r / w_out, r % w_out);
                let skip = &x[(b * w_in + o + self.left) * f..][..f];
                let dst = &mut out[r * f..][..f];
                for ((d, a), s) in dst.iter_mut().zip(&y[i * f..][..f]).zip(skip) {
                    *d = a + s;
                }
            }
        }
    }

    /// dx (the block input's whole gradient) from `dy`, the gradient of the
    /// block's output; `act` as `forward` left it.
    pub fn backward(
        &self,
        act: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        dz: &mut Vec<f32>,
        cols: &mut Vec<f32>,
    ) {
        let c = self.conv;
        let (f, w_in, w_out) = (c.filters, c.w_in, c.w_out);
        let m = batch * w_out;
        let block = c.block_rows(m).min(m.max(1));
        grow(cols, block * c.row_len());
        grow(dz, block * f);
        dx[..batch * w_in * f].fill(0.0);
        // The skip's cursor: the item, and its first position not yet added.
        let (mut item, mut next) = (0, 0);
        for r0 in (0..m).step_by(block) {
            let r1 = (r0 + block).min(m);
            let (g, a) = (&dy[r0 * f..r1 * f], &act[r0 * f..r1 * f]);
            let z = &mut dz[..(r1 - r0) * f];
            if self.relu {
                for ((z, &g), &a) in z.iter_mut().zip(g).zip(a) {
                    *z = if a > 0.0 { g } else { 0.0 };
                }
            } else {
                z.copy_from_slice(g);
            }
            c.backward_rows(z, dx, cols, r0..r1);
            // Each input position whose taps are all in: add the skip's term.
            while item < batch && item * w_out < r1 {
                let o_end = (r1 - item * w_out).min(w_out);
                let done = c.done_below(o_end);
                let (lo, hi) = (next.max(self.left), done.min(self.left + w_out));
                for p in lo..hi.max(lo) {
                    let src = &dy[(item * w_out + p - self.left) * f..][..f];
                    for (d, s) in dx[(item * w_in + p) * f..][..f].iter_mut().zip(src) {
                        *d += s;
                    }
                }
                next = next.max(done);
                if o_end < w_out {
                    break;
                }
                (item, next) = (item + 1, 0);
            }
        }
    }
}

/// The words of a map's buffer, to hold a Winograd block's ReLU mask.
fn as_words_mut(v: &mut [f32]) -> &mut [u16] {
    // SAFETY: u16 has no invalid bit patterns and an alignment that divides
    // f32's; the words cover the same bytes, borrowed as v is.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u16>(), 2 * v.len()) }
}

fn as_words(v: &[f32]) -> &[u16] {
    // SAFETY: as in `as_words_mut`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u16>(), 2 * v.len()) }
}
