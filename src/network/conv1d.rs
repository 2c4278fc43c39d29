//! Conv1D as im2col + one sgemm over the whole batch.
//!
//! Maps are stored position-major (W × K per item), so an im2col row for one
//! output position is `kernel_size` contiguous runs of K input values.
use super::conv1d_spectral::{self, ConvMode, ConvPath, ConvShape, FastConv, SpectralConv};
use super::{activation, gemm, skinny};
use crate::model::{same_pad_left, Activation, Padding};

#[path = "conv1d_depthwise.rs"]
mod depthwise;
pub(crate) use depthwise::depthwise_taps;
#[path = "conv1d_taps.rs"]
mod taps;
#[path = "conv1d_winograd.rs"]
mod winograd;
pub(crate) use winograd::takes as winograd_takes;
pub use winograd::{WinogradConv, WinogradScratch};

/// A single map's worth of output positions (up to 64) against a large kernel
/// goes through the small-batch kernel instead of sgemm, which packs the whole
/// kernel for so few rows. DeepSEA's conv 960 × 8 on 480 × 60 at a batch of
/// one (53 rows, 14.7 MB of weights), one EPYC core: 27 → 24 ms per
/// forward+backward step of the DeepSEA tail. At 106 rows and more sgemm wins;
/// the backward product gained nothing at any size.
const SKINNY_MAX_ROWS: usize = 64;
const SKINNY_MIN_WEIGHTS: usize = 1 << 20;
/// Bytes of im2col rows per block (see `Conv1d::block_rows`): half of a
/// 1 MB L2.
const IM2COL_BLOCK_BYTES: usize = 512 << 10;

#[derive(Debug, Clone)]
pub struct Conv1d {
    pub k_in: usize,
    pub w_in: usize,
    pub filters: usize,
    pub w_out: usize,
    kernel_size: usize,
    stride: usize,
    dilation: usize,
    pad_left: usize,
    pub act: Activation,
    /// (filters, kernel_size·k_in) with column j·k_in + c = tap j, channel c.
    kernel_taps: Vec<f32>,
    bias: Vec<f32>,
    /// The kernel tap-major, where few filters meet a wide kernel (see `taps`).
    by_taps: Option<Vec<f32>>,
    /// The diagonal tap-major, where each filter reads its own channel alone
    /// (see `depthwise`).
    depthwise: Option<Vec<f32>>,
}

impl Conv1d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        k_in: usize,
        w_in: usize,
        w_out: usize,
        filters: usize,
        kernel_size: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
        act: Activation,
        kernel: &[f32],
        bias: Option<&[f32]>,
    ) -> Self {
        let mut kernel_taps = vec![0.0; filters * kernel_size * k_in];
        for f in 0..filters {
            for c in 0..k_in {
                for j in 0..kernel_size {
                    kernel_taps[f * kernel_size * k_in + j * k_in + c] =
                        kernel[(f * k_in + c) * kernel_size + j];
                }
            }
        }
        let span = dilation * (kernel_size - 1) + 1;
        let pad_left = match padding {
            Padding::Valid => 0,
            Padding::Same => same_pad_left(w_in, span, stride),
        };
        let mut c = Conv1d {
            k_in,
            w_in,
            filters,
            w_out,
            kernel_size,
            stride,
            dilation,
            pad_left,
            act,
            kernel_taps,
            bias: bias.map_or_else(|| vec![0.0; filters], |b| b.to_vec()),
            by_taps: None,
            depthwise: None,
        };
        c.depthwise = depthwise_taps(filters, k_in, kernel_size, kernel);
        if c.depthwise.is_none() {
            c.by_taps = taps::taps_kernel(&c);
        }
        c
    }

    /// True when this convolution runs tap by tap (few filters, wide kernel),
    /// each item alone.
    pub(super) fn by_taps(&self) -> bool {
        self.by_taps.is_some()
    }

    /// True when each filter reads its own channel alone, so this runs
    /// channel by channel, each item alone.
    pub(super) fn is_depthwise(&self) -> bool {
        self.depthwise.is_some()
    }

    /// Values of one im2col row.
    pub(super) fn row_len(&self) -> usize {
        self.kernel_size * self.k_in
    }

    pub fn cols_len(&self, batch: usize) -> usize {
        if self.depthwise.is_some() {
            return 0;
        }
        if self.by_taps.is_some() {
            return self.taps_len();
        }
        batch * self.w_out * self.kernel_size * self.k_in
    }

    /// Input position of tap j at output position o, if inside the map.
    #[inline]
    fn src(&self, o: usize, j: usize) -> Option<usize> {
        let p = (o * self.stride + j * self.dilation) as isize - self.pad_left as isize;
        (p >= 0 && (p as usize) < self.w_in).then_some(p as usize)
    }

    pub fn forward(
        &self,
        x: &[f32],
        y: &mut [f32],
        batch: usize,
        cols: &mut [f32],
        pack: &mut Vec<f32>,
    ) {
        if let Some(t) = &self.depthwise {
            self.depthwise_forward(t, x, y, batch);
            activation::forward(
                self.act,
                &mut y[..batch * self.w_out * self.filters],
                self.filters,
            );
            return;
        }
        if let Some(t) = &self.by_taps {
            return self.taps_forward(t, x, y, batch, cols);
        }
        let row = self.kernel_size * self.k_in;
        let m = batch * self.w_out;
        let y = &mut y[..m * self.filters];
        if self.takes_skinny(m) {
            self.im2col(x, &mut cols[..m * row], 0..m);
            skinny::forward(&self.kernel_taps, self.filters, row, cols, m, y, pack);
            for r in y.chunks_mut(self.filters) {
                for (v, b) in r.iter_mut().zip(&self.bias) {
                    *v += b;
                }
            }
            activation::forward(self.act, y, self.filters);
            return;
        }
        for r in y.chunks_mut(self.filters) {
            r.copy_from_slice(&self.bias);
        }
        let block = self.block_rows(m);
        for r0 in (0..m).step_by(block) {
            let r1 = (r0 + block).min(m);
            self.forward_rows(
                x,
                &mut y[r0 * self.filters..r1 * self.filters],
                cols,
                r0..r1,
            );
        }
        activation::forward(self.act, y, self.filters);
    }

    /// y[rows] += im2col(x)[rows] · kernelᵀ, before bias-free activation:
    /// `y` holds the rows' bias on entry. Shared with the fused residual
    /// block, so both make the same sgemm calls on the same blocks.
    pub(super) fn forward_rows(
        &self,
        x: &[f32],
        y: &mut [f32],
        cols: &mut [f32],
        rows: std::ops::Range<usize>,
    ) {
        let row = self.kernel_size * self.k_in;
        let c = &mut cols[..rows.len() * row];
        gemm::sgemm(
            false,
            true,
            rows.len(),
            self.filters,
            row,
            1.0,
            {
                self.im2col(x, c, rows.clone());
                c
            },
            row,
            &self.kernel_taps,
            row,
            1.0,
            y,
            self.filters,
        );
    }

    /// The bias, one value per filter.
    pub(super) fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// Where the input gradient of position `p` is complete once the output
    /// rows before `o_end` (of one item) have been added: every p below the
    /// returned position (a tap reaches back at most `pad_left`).
    pub(super) fn done_below(&self, o_end: usize) -> usize {
        if o_end >= self.w_out {
            return self.w_in;
        }
        (o_end * self.stride)
            .saturating_sub(self.pad_left)
            .min(self.w_in)
    }

    /// The im2col rows `rows` (output positions numbered across the batch) into `cols`.
    fn im2col(&self, x: &[f32], cols: &mut [f32], rows: std::ops::Range<usize>) {
        let (k, row) = (self.k_in, self.kernel_size * self.k_in);
        for (i, r) in rows.enumerate() {
            let (b, o) = (r / self.w_out, r % self.w_out);
            let xb = &x[b * self.w_in * k..(b + 1) * self.w_in * k];
            let dst_row = &mut cols[i * row..][..row];
            for j in 0..self.kernel_size {
                let dst = &mut dst_row[j * k..(j + 1) * k];
                match self.src(o, j) {
                    Some(p) => dst.copy_from_slice(&xb[p * k..(p + 1) * k]),
                    None => dst.fill(0.0),
                }
            }
        }
    }

    /// Output rows per im2col block. A wide kernel with few filters (a
    /// profile head: 2 filters × 75 taps × 64 channels) makes an im2col
    /// matrix of tens of MB per item for a product of a few MFLOP, so the
    /// step was the matrix going to memory and back; in blocks it stays in
    /// cache. Only where the kernel is small: sgemm packs it on every call.
    /// The blocks depend on the shapes and the batch alone, so results stay
    /// independent of the rank count, and an item that runs alone in its
    /// sub-batch (`Scorer::batch_invariant`) meets the same blocks whatever
    /// its batch. With OpenBLAS's Haswell kernels a row's sum does not depend
    /// on the block (tests/bitwise_unchanged.rs pins them); its AVX-512
    /// kernels sum edge rows in another order, so there the last bits of
    /// such a convolution's output moved when blocking came in.
    pub(super) fn block_rows(&self, m: usize) -> usize {
        let row_bytes = self.kernel_size * self.k_in * std::mem::size_of::<f32>();
        if self.kernel_taps.len() * std::mem::size_of::<f32>() > IM2COL_BLOCK_BYTES / 4 {
            return m.max(1);
        }
        (IM2COL_BLOCK_BYTES / row_bytes).max(1)
    }

    /// dx = ∂/∂x of Σ dy·y. `dz` and `cols` are scratch.
    pub fn backward(
        &self,
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        dz: &mut [f32],
        cols: &mut [f32],
    ) {
        let k = self.k_in;
        let m = batch * self.w_out;
        let n = m * self.filters;
        activation::backward(self.act, &y[..n], &dy[..n], &mut dz[..n], self.filters);
        if let Some(t) = &self.depthwise {
            return self.depthwise_backward(t, &dz[..n], dx, batch);
        }
        if let Some(t) = &self.by_taps {
            return self.taps_backward(t, &dz[..n], dx, batch, cols);
        }
        let dx = &mut dx[..batch * self.w_in * k];
        dx.fill(0.0);
        let block = self.block_rows(m);
        for r0 in (0..m).step_by(block) {
            let r1 = (r0 + block).min(m);
            self.backward_rows(&dz[r0 * self.filters..r1 * self.filters], dx, cols, r0..r1);
        }
    }

    /// dx += the rows' share of ∂/∂x, from their pre-activation gradient
    /// `dz` (rows × filters). `dx` is the whole batch's input gradient.
    pub(super) fn backward_rows(
        &self,
        dz: &[f32],
        dx: &mut [f32],
        cols: &mut [f32],
        rows: std::ops::Range<usize>,
    ) {
        let (k, row) = (self.k_in, self.kernel_size * self.k_in);
        let c = &mut cols[..rows.len() * row];
        gemm::sgemm(
            false,
            false,
            rows.len(),
            row,
            self.filters,
            1.0,
            dz,
            self.filters,
            &self.kernel_taps,
            row,
            0.0,
            c,
            row,
        );
        // The rows in order, so each dx sums its taps in the same order whatever the blocks.
        for (i, r) in rows.enumerate() {
            let (b, o) = (r / self.w_out, r % self.w_out);
            let dxb = &mut dx[b * self.w_in * k..(b + 1) * self.w_in * k];
            let cr = &c[i * row..][..row];
            for j in 0..self.kernel_size {
                if let Some(p) = self.src(o, j) {
                    for (d, s) in dxb[p * k..(p + 1) * k]
                        .iter_mut()
                        .zip(&cr[j * k..(j + 1) * k])
                    {
                        *d += s;
                    }
                }
            }
        }
    }

    /// True when a forward pass of `rows` rows goes through the small-batch
    /// kernel rather than the blocked sgemm (see `forward`).
    pub(super) fn takes_skinny(&self, rows: usize) -> bool {
        rows <= SKINNY_MAX_ROWS
            && self.by_taps.is_none()
            && self.depthwise.is_none()
            && self.kernel_taps.len() >= SKINNY_MIN_WEIGHTS
            && skinny::available()
    }

    /// The kernel is small enough that no batch ever takes the small-batch kernel.
    pub(super) fn never_skinny(&self) -> bool {
        self.kernel_taps.len() < SKINNY_MIN_WEIGHTS
    }

    pub(super) fn stride(&self) -> usize {
        self.stride
    }

    pub fn shape(&self) -> ConvShape {
        ConvShape {
            k_in: self.k_in,
            filters: self.filters,
            w_in: self.w_in,
            w_out: self.w_out,
            kernel_size: self.kernel_size,
            dilation: self.dilation,
            stride: self.stride,
        }
    }

    /// This convolution on the DFT or Winograd path, if `mode` takes it
    /// there at `batch` items per pass; the Winograd path computes only the
    /// outputs and input gradients in `spans` (`needed.rs`).
    pub fn fast_path(
        &self,
        mode: ConvMode,
        batch: usize,
        spans: (super::needed::Span, super::needed::Span),
    ) -> Option<FastConv> {
        if self.depthwise.is_some() {
            // Its own path does the multiplies it needs; the others, the full product's.
            return None;
        }
        let shape = self.shape();
        // Tap by tap needs a wide kernel, Winograd a kernel of 3: never both.
        debug_assert!(!(self.by_taps() && winograd_takes(&shape)));
        Some(match conv1d_spectral::path(mode, &shape, batch)? {
            ConvPath::Dft(choice) => FastConv::Dft(SpectralConv::new(
                &shape,
                self.pad_left,
                self.act,
                &self.kernel_taps,
                &self.bias,
                choice,
            )),
            ConvPath::Winograd => FastConv::Winograd(WinogradConv::new(
                &shape,
                self.pad_left,
                self.act,
                &self.kernel_taps,
                &self.bias,
                spans,
                super::winograd_tile::current(),
            )),
        })
    }

    /// The input positions outputs [lo, hi) read (lo < hi), clipped to the map.
    pub fn reads(&self, lo: usize, hi: usize) -> super::needed::Span {
        let first = (lo * self.stride) as isize - self.pad_left as isize;
        let last = ((hi - 1) * self.stride + (self.kernel_size - 1) * self.dilation) as isize
            - self.pad_left as isize;
        let clip = |p: isize| p.clamp(0, self.w_in as isize) as usize;
        super::needed::Span {
            lo: clip(first),
            hi: clip(last + 1),
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        let reads = if self.depthwise.is_some() {
            1
        } else {
            self.k_in
        };
        2.0 * (self.w_out * self.filters * self.kernel_size * reads) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile-head shape (2 filters × 75 taps × 64 channels, same
    /// padding) runs tap by tap; 5 filters on 16 channels run in im2col blocks of
    /// 27 rows, and an item's rows fall on other block edges inside a batch
    /// of three than alone. Forward and input gradient match a float64
    /// direct sum either way, alone and in a batch; stride 2 and dilation 3
    /// by taps too.
    #[test]
    fn taps_and_im2col_blocks_give_the_direct_sums() {
        direct_sums(64, 2, 1, 1, true);
        direct_sums(16, 5, 1, 1, false);
        direct_sums(64, 3, 2, 3, true);
    }

    fn direct_sums(k: usize, f: usize, stride: usize, dil: usize, by_taps: bool) {
        let (w, ks) = (300, 75 / dil);
        let span = dil * (ks - 1) + 1;
        let pad = same_pad_left(w, span, stride);
        let wo = w.div_ceil(stride);
        let val = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 997.0;
        let kernel: Vec<f32> = (0..f * k * ks).map(|i| val(i) * 0.1).collect();
        let bias: Vec<f32> = (0..f).map(|i| 0.01 * i as f32 - 0.02).collect();
        let conv = Conv1d::new(
            k,
            w,
            wo,
            f,
            ks,
            stride,
            dil,
            Padding::Same,
            Activation::Linear,
            &kernel,
            Some(&bias),
        );
        assert_eq!(conv.by_taps(), by_taps);
        assert_eq!(conv.pad_left, pad);
        assert!(
            by_taps || conv.block_rows(3 * wo) < wo,
            "the test needs several blocks per item"
        );
        let pad = pad as isize;
        let w_out = wo;
        // Float64 references; kernel index (f, c, j) as Keras/ONNX give it.
        let direct = |x: &[f32], dy: &[f32]| {
            let (mut y, mut dx) = (vec![0f64; w_out * f], vec![0f64; w * k]);
            for o in 0..w_out {
                for j in 0..ks {
                    let p = (o * stride + j * dil) as isize - pad;
                    if p < 0 || p >= w as isize {
                        continue;
                    }
                    let p = p as usize;
                    for ff in 0..f {
                        for c in 0..k {
                            let wt = kernel[(ff * k + c) * ks + j] as f64;
                            y[o * f + ff] += wt * x[p * k + c] as f64;
                            dx[p * k + c] += wt * dy[o * f + ff] as f64;
                        }
                    }
                }
                for ff in 0..f {
                    y[o * f + ff] += bias[ff] as f64;
                }
            }
            (y, dx)
        };
        let run = |batch: usize, x: &[f32], dy: &[f32]| {
            let mut y = vec![0.0; batch * w_out * f];
            let mut cols = vec![0.0; conv.cols_len(batch)];
            conv.forward(x, &mut y, batch, &mut cols, &mut Vec::new());
            let (mut dx, mut dz) = (vec![0.0; batch * w * k], vec![0.0; batch * w_out * f]);
            conv.backward(&y, dy, &mut dx, batch, &mut dz, &mut cols);
            (y, dx)
        };
        let close = |got: &[f32], want: &[f64], what: &str| {
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (g, r)) in got.iter().zip(want).enumerate() {
                assert!(
                    (*g as f64 - r).abs() <= 1e-5 * scale,
                    "{what}[{i}]: {g} vs {r}"
                );
            }
        };
        let x: Vec<f32> = (0..3 * w * k).map(|i| val(i + 5)).collect();
        let dy: Vec<f32> = (0..3 * w_out * f).map(|i| val(i + 11)).collect();
        let (y3, dx3) = run(3, &x, &dy);
        for b in 0..3 {
            let (xb, dyb) = (&x[b * w * k..][..w * k], &dy[b * w_out * f..][..w_out * f]);
            let (y_ref, dx_ref) = direct(xb, dyb);
            let (y1, dx1) = run(1, xb, dyb);
            close(&y1, &y_ref, "forward alone");
            close(&dx1, &dx_ref, "backward alone");
            close(
                &y3[b * w_out * f..][..w_out * f],
                &y_ref,
                "forward in a batch",
            );
            close(&dx3[b * w * k..][..w * k], &dx_ref, "backward in a batch");
        }
    }
}
