//! Conv1D as im2col + one sgemm over the whole batch.
//!
//! Maps are stored position-major (W × K per item), so an im2col row for one
//! output position is `kernel_size` contiguous runs of K input values.
use super::conv1d_spectral::{self, ConvMode, ConvShape, SpectralConv};
use super::{activation, gemm, skinny};
use crate::model::{same_pad_left, Activation, Padding};

/// A single map's worth of output positions (up to 64) against a large kernel
/// goes through the small-batch kernel instead of sgemm, which packs the whole
/// kernel for so few rows. DeepSEA's conv 960 × 8 on 480 × 60 at a batch of
/// one (53 rows, 14.7 MB of weights), one EPYC core: 27 → 24 ms per
/// forward+backward step of the DeepSEA tail. At 106 rows and more sgemm wins;
/// the backward product gained nothing at any size.
const SKINNY_MAX_ROWS: usize = 64;
const SKINNY_MIN_WEIGHTS: usize = 1 << 20;

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
        Conv1d {
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
        }
    }

    pub fn cols_len(&self, batch: usize) -> usize {
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
        let (k, row) = (self.k_in, self.kernel_size * self.k_in);
        let cols = &mut cols[..batch * self.w_out * row];
        for b in 0..batch {
            let xb = &x[b * self.w_in * k..(b + 1) * self.w_in * k];
            for o in 0..self.w_out {
                let r = &mut cols[(b * self.w_out + o) * row..][..row];
                for j in 0..self.kernel_size {
                    let dst = &mut r[j * k..(j + 1) * k];
                    match self.src(o, j) {
                        Some(p) => dst.copy_from_slice(&xb[p * k..(p + 1) * k]),
                        None => dst.fill(0.0),
                    }
                }
            }
        }
        let m = batch * self.w_out;
        let y = &mut y[..m * self.filters];
        if m <= SKINNY_MAX_ROWS
            && self.kernel_taps.len() >= SKINNY_MIN_WEIGHTS
            && skinny::available()
        {
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
        gemm::sgemm(
            false,
            true,
            m,
            self.filters,
            row,
            1.0,
            cols,
            row,
            &self.kernel_taps,
            row,
            1.0,
            y,
            self.filters,
        );
        activation::forward(self.act, y, self.filters);
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
        let (k, row) = (self.k_in, self.kernel_size * self.k_in);
        let m = batch * self.w_out;
        let n = m * self.filters;
        activation::backward(self.act, &y[..n], &dy[..n], &mut dz[..n], self.filters);
        let cols = &mut cols[..m * row];
        gemm::sgemm(
            false,
            false,
            m,
            row,
            self.filters,
            1.0,
            &dz[..n],
            self.filters,
            &self.kernel_taps,
            row,
            0.0,
            cols,
            row,
        );
        let dx = &mut dx[..batch * self.w_in * k];
        dx.fill(0.0);
        for b in 0..batch {
            let dxb = &mut dx[b * self.w_in * k..(b + 1) * self.w_in * k];
            for o in 0..self.w_out {
                let r = &cols[(b * self.w_out + o) * row..][..row];
                for j in 0..self.kernel_size {
                    if let Some(p) = self.src(o, j) {
                        for (d, s) in dxb[p * k..(p + 1) * k]
                            .iter_mut()
                            .zip(&r[j * k..(j + 1) * k])
                        {
                            *d += s;
                        }
                    }
                }
            }
        }
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

    /// This convolution on the spectral path, if `mode` takes it there at `batch` items per pass.
    pub fn spectral(&self, mode: ConvMode, batch: usize) -> Option<SpectralConv> {
        let shape = self.shape();
        let choice = conv1d_spectral::choose(mode, &shape, batch)?;
        Some(SpectralConv::new(
            &shape,
            self.pad_left,
            self.act,
            &self.kernel_taps,
            &self.bias,
            choice,
        ))
    }

    pub fn flops_per_item(&self) -> f64 {
        2.0 * (self.w_out * self.filters * self.kernel_size * self.k_in) as f64
    }
}
