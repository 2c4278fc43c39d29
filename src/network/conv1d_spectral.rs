//! Conv1D (stride 1) through the real DFT: less arithmetic than im2col for
//! wide kernels over short maps.
//!
//! The output positions are cut into blocks of `l` (overlap-save); a block's
//! input segment of `n = l + span − 1` positions has a real DFT of `n` values
//! (bin 0, the pairs (Re, Im) of bins 1..(n−1)/2, and bin n/2 when n is even).
//! Per bin the convolution is one complex product of every item's input
//! coefficients (K) with the kernel's spectrum (F × K), done as three real
//! products (Gauss: (a+ib)(c+id) from ac, bd and (a+b)(c+d)); the two real
//! bins need one. DeepSEA's third convolution (480 → 960 channels, kernel 8,
//! 60 → 53 positions) is one block with n = 60: 89 products of F × K against
//! 424 for the direct form, 4.3× fewer multiply-adds with the transforms.
//!
//! The transforms are small matrices (D: n × n forward, E: l × n inverse)
//! applied per item, and the per-bin products go through the small-batch
//! kernels, which sum every output in a fixed order: an item's result does
//! not depend on which items share its batch or on its slot.
use super::conv1d::{winograd_takes, WinogradConv, WinogradScratch};
use super::grow;
use super::weight_buf::WeightBuf;
use super::{activation, gemm, skinny};
use crate::model::Activation;
use std::f64::consts::PI;

/// The largest DFT length considered: D and E stay small and the per-item
/// transforms cheap next to the products.
const MAX_N: usize = 512;
/// The transforms are small, thin products that run well below the
/// products' rate: their multiply-adds count this many times in the cost.
const TRANSFORM_WEIGHT: f64 = 2.0;
/// `auto` takes the spectral path where its cost is at most this share of
/// the direct one: the per-bin products run at ~0.85 of sgemm's rate, and
/// the adds and copies around them are not counted.
const AUTO_MAX_COST_RATIO: f64 = 0.6;
/// `auto` refuses spectra larger than this many times the kernel.
const AUTO_MAX_SPECTRA_RATIO: f64 = 16.0;

/// How a convolution after H is computed (`--conv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvMode {
    /// im2col + GEMM for every convolution.
    Direct,
    /// The spectral path for every stride-1 convolution (Winograd for
    /// those of kernel 3 with 16 channels or more, see [`path`]).
    Fast,
    /// The spectral path where the cost model says it pays (Winograd as
    /// under `Fast`).
    Auto,
}

impl ConvMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConvMode::Direct => "direct",
            ConvMode::Fast => "fast",
            ConvMode::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<ConvMode> {
        match s {
            "direct" => Some(ConvMode::Direct),
            "fast" => Some(ConvMode::Fast),
            "auto" => Some(ConvMode::Auto),
            _ => None,
        }
    }
}

/// The shape of a convolution, as the cost model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub k_in: usize,
    pub filters: usize,
    pub w_in: usize,
    pub w_out: usize,
    pub kernel_size: usize,
    pub dilation: usize,
    pub stride: usize,
}

impl ConvShape {
    fn span(&self) -> usize {
        self.dilation * (self.kernel_size - 1) + 1
    }

    /// Multiply-adds per item of the direct form, one way.
    pub fn direct_macs(&self) -> f64 {
        (self.w_out * self.kernel_size * self.k_in * self.filters) as f64
    }
}

/// A block length for the spectral path and what it costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralChoice {
    /// DFT length.
    pub n: usize,
    /// Output positions per block.
    pub l: usize,
    /// Weighted multiply-adds per item, one way (see [`TRANSFORM_WEIGHT`]).
    pub macs: f64,
    /// Floats of the kernel's spectra.
    pub spectra: usize,
}

fn products(n: usize) -> usize {
    let real = 1 + usize::from(n.is_multiple_of(2));
    real + 3 * ((n - 1) / 2)
}

/// A float of weights streamed from memory costs about this many
/// multiply-adds of time (one EPYC core: ~45 G multiply-adds/s against
/// ~4 G floats/s). The small-batch kernels read a matrix once per
/// [`ROWS_PER_READ`] rows, so at a batch of one the spectra (11× the kernel
/// for DeepSEA's conv) cost more to read than the products they save:
/// `bench` there measured 27 item-steps/s spectral against 40 direct, and
/// 184 against 87 at a batch of 32.
const MACS_PER_FLOAT_READ: f64 = 12.0;
/// Rows per read of a weight matrix in the small-batch kernels.
const ROWS_PER_READ: usize = 32;

/// Cost per item, one way, of the direct form at `batch` items per pass.
pub fn direct_cost(s: &ConvShape, batch: usize) -> f64 {
    let kernel = (s.kernel_size * s.k_in * s.filters) as f64;
    s.direct_macs() + MACS_PER_FLOAT_READ * kernel * reads_per_item(batch, s.w_out)
}

/// Reads of a weight matrix per item when each item brings `rows` rows.
fn reads_per_item(batch: usize, rows: usize) -> f64 {
    let batch = batch.max(1);
    (batch * rows).div_ceil(ROWS_PER_READ) as f64 / batch as f64
}

/// The cheapest block length at `batch` items per pass, or None for a
/// convolution the path cannot do.
pub fn best_blocks(s: &ConvShape, batch: usize) -> Option<SpectralChoice> {
    if s.stride != 1 || s.w_out == 0 {
        return None;
    }
    let span = s.span();
    let (k, f) = (s.k_in as f64, s.filters as f64);
    let mut best: Option<SpectralChoice> = None;
    for l in 1..=s.w_out {
        let n = l + span - 1;
        if n > MAX_N {
            break;
        }
        let blocks = s.w_out.div_ceil(l);
        let per_block = products(n) as f64 * k * f
            + TRANSFORM_WEIGHT * ((n * n) as f64 * k + (l * n) as f64 * f);
        let spectra = products(n) * s.k_in * s.filters;
        let macs = blocks as f64 * per_block
            + MACS_PER_FLOAT_READ * spectra as f64 * reads_per_item(batch, blocks);
        if best.is_none_or(|b| macs < b.macs) {
            best = Some(SpectralChoice {
                n,
                l,
                macs,
                spectra,
            });
        }
    }
    best
}

/// What `mode` does with a convolution at `batch` items per pass: Some(choice)
/// for the spectral path. None for a convolution that Winograd takes
/// (kernel 3: see [`path`]), which the DFT does not pay for.
pub fn choose(mode: ConvMode, s: &ConvShape, batch: usize) -> Option<SpectralChoice> {
    if winograd_takes(s) {
        return None;
    }
    let c = best_blocks(s, batch)?;
    match mode {
        ConvMode::Direct => None,
        ConvMode::Fast => Some(c),
        ConvMode::Auto => {
            let kernel = (s.kernel_size * s.k_in * s.filters) as f64;
            (c.macs <= AUTO_MAX_COST_RATIO * direct_cost(s, batch)
                && c.spectra as f64 <= AUTO_MAX_SPECTRA_RATIO * kernel)
                .then_some(c)
        }
    }
}

/// A convolution's path other than im2col.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConvPath {
    /// The real DFT, overlap-save blocks.
    Dft(SpectralChoice),
    /// Winograd F(6,3) (F(4,3) under `DEEPRESOLVE_WINOGRAD=4`): stride 1,
    /// kernel 3, at least 16 channels in and out and 16 output positions,
    /// under `fast` and `auto` alike.
    Winograd,
}

/// Where `mode` computes a convolution at `batch` items per pass: None for
/// im2col (or tap by tap).
pub fn path(mode: ConvMode, s: &ConvShape, batch: usize) -> Option<ConvPath> {
    if mode != ConvMode::Direct && winograd_takes(s) {
        return Some(ConvPath::Winograd);
    }
    choose(mode, s, batch).map(ConvPath::Dft)
}

/// The convolutions of `plan` (engine nodes after H) that `mode` puts on
/// the spectral path: (engine node, layer name, choice).
pub fn spectral_nodes(
    net: &super::Network,
    plan: &super::Plan,
    mode: ConvMode,
    batch: usize,
) -> Vec<(usize, String, SpectralChoice)> {
    fast_nodes(net, plan, mode, batch)
        .into_iter()
        .filter_map(|(j, name, p)| match p {
            ConvPath::Dft(c) => Some((j, name, c)),
            ConvPath::Winograd => None,
        })
        .collect()
}

/// The convolutions of `plan` (engine nodes after H) that `mode` puts on
/// the DFT or Winograd path: (engine node, layer name, path).
pub fn fast_nodes(
    net: &super::Network,
    plan: &super::Plan,
    mode: ConvMode,
    batch: usize,
) -> Vec<(usize, String, ConvPath)> {
    plan.nodes
        .iter()
        .filter_map(|&j| match &net.nodes[j].op {
            // A depthwise convolution runs on its own path under every mode.
            super::Layer::Conv(c) if c.is_depthwise() => None,
            super::Layer::Conv(c) => {
                let p = path(mode, &c.shape(), batch)?;
                Some((j, net.layer_name(net.nodes[j].layer).to_string(), p))
            }
            _ => None,
        })
        .collect()
}

/// The names of the depthwise convolutions of `plan` (engine nodes after
/// H), which run channel by channel under every mode.
pub fn depthwise_layers(net: &super::Network, plan: &super::Plan) -> Vec<String> {
    plan.nodes
        .iter()
        .filter(|&&j| matches!(&net.nodes[j].op, super::Layer::Conv(c) if c.is_depthwise()))
        .map(|&j| net.layer_name(net.nodes[j].layer).to_string())
        .collect()
}

/// How a run's convolutions after H are computed, as the results file
/// records it: `direct`, or `LAYER:dft=N/L` for each spectral one,
/// `LAYER:winograd=M` for each Winograd F(M,3) one (M = 6, or 4 under
/// `DEEPRESOLVE_WINOGRAD=4`), with `@A-B` where it computes only outputs
/// A..B (its tiles start at A), and `LAYER:depthwise` for each depthwise
/// one, in plan order.
pub fn describe(net: &super::Network, plan: &super::Plan, mode: ConvMode, batch: usize) -> String {
    let v: Vec<String> = plan
        .nodes
        .iter()
        .filter_map(|&j| {
            let super::Layer::Conv(c) = &net.nodes[j].op else {
                return None;
            };
            let name = net.layer_name(net.nodes[j].layer);
            if c.is_depthwise() {
                return Some(format!("{name}:depthwise"));
            }
            Some(match path(mode, &c.shape(), batch)? {
                ConvPath::Dft(c) => format!("{name}:dft={}/{}", c.n, c.l),
                ConvPath::Winograd => {
                    let s = plan.needed[j + 1];
                    let m = super::winograd_tile::current().outs();
                    if s.is_all(net.engine_shape(j + 1).1) {
                        format!("{name}:winograd={m}")
                    } else {
                        format!("{name}:winograd={m}@{}-{}", s.lo, s.hi)
                    }
                }
            })
        })
        .collect();
    if v.is_empty() {
        "direct".into()
    } else {
        v.join(";")
    }
}

/// A convolution after H on a path of its own (see [`path`]).
#[derive(Debug)]
pub enum FastConv {
    Dft(SpectralConv),
    Winograd(WinogradConv),
}

/// Buffers of either path, kept between calls.
#[derive(Debug, Default)]
pub struct FastScratch {
    pub spectral: SpectralScratch,
    pub winograd: WinogradScratch,
}

impl FastConv {
    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, s: &mut FastScratch) {
        match self {
            FastConv::Dft(c) => c.forward(x, y, batch, &mut s.spectral),
            FastConv::Winograd(c) => c.forward(x, y, batch, &mut s.winograd),
        }
    }

    /// dx = ∂/∂x of Σ dy·y; `dz` is scratch for the pre-activation gradient.
    pub fn backward(
        &self,
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        dz: &mut [f32],
        s: &mut FastScratch,
    ) {
        match self {
            FastConv::Dft(c) => c.backward(y, dy, dx, batch, dz, &mut s.spectral),
            FastConv::Winograd(c) => c.backward(y, dy, dx, batch, dz, &mut s.winograd),
        }
    }

    /// The DFT form, if this is one.
    pub fn dft(&self) -> Option<&SpectralConv> {
        match self {
            FastConv::Dft(c) => Some(c),
            FastConv::Winograd(_) => None,
        }
    }
}

/// One bin's place in the packed spectrum and in the weights.
#[derive(Debug, Clone, Copy)]
enum Bin {
    /// Bin 0 or n/2: a real coefficient, one F × K matrix.
    Real { row: usize, w: usize },
    /// Rows of Re and Im; three matrices at `w`: Re, Im, Re + Im.
    Complex { re: usize, im: usize, w: usize },
}

#[derive(Debug)]
pub struct SpectralConv {
    k: usize,
    f: usize,
    w_in: usize,
    w_out: usize,
    pad_left: usize,
    pub act: Activation,
    bias: Vec<f32>,
    n: usize,
    l: usize,
    blocks: usize,
    /// n × n: packed spectrum row r from segment position s.
    d: Vec<f32>,
    /// l × n: output position within a block from packed spectrum row r.
    e: Vec<f32>,
    bins: Vec<Bin>,
    /// Every bin's F × K matrices, in bin order.
    spectra: WeightBuf,
    own_kernels: bool,
}

/// Buffers of one pass, kept between calls.
#[derive(Debug, Default)]
pub struct SpectralScratch {
    a: Vec<f32>,
    b: Vec<f32>,
    t: Vec<f32>,
    u: Vec<f32>,
    pack: Vec<f32>,
}

impl SpectralConv {
    /// The spectral form of a convolution given as in [`super::conv1d::Conv1d`]:
    /// `kernel_taps` (filters, kernel_size·k_in) with column j·k_in + c.
    pub fn new(
        shape: &ConvShape,
        pad_left: usize,
        act: Activation,
        kernel_taps: &[f32],
        bias: &[f32],
        choice: SpectralChoice,
    ) -> SpectralConv {
        let (k, f, ks) = (shape.k_in, shape.filters, shape.kernel_size);
        let (n, l) = (choice.n, choice.l);
        // Packed rows and the angle of each: row r is Re or Im of bin `freq[r]`.
        let mut bins = Vec::new();
        let mut freq = vec![0usize; n];
        let mut is_im = vec![false; n];
        let mut w = 0;
        bins.push(Bin::Real { row: 0, w });
        w += f * k;
        for q in 1..=(n - 1) / 2 {
            let (re, im) = (2 * q - 1, 2 * q);
            freq[re] = q;
            freq[im] = q;
            is_im[im] = true;
            bins.push(Bin::Complex { re, im, w });
            w += 3 * f * k;
        }
        if n.is_multiple_of(2) {
            freq[n - 1] = n / 2;
            bins.push(Bin::Real { row: n - 1, w });
            w += f * k;
        }
        let angle = |q: usize, p: usize| 2.0 * PI * ((q * p) % n) as f64 / n as f64;
        let mut d = vec![0f32; n * n];
        for r in 0..n {
            for s in 0..n {
                let a = angle(freq[r], s);
                d[r * n + s] = if is_im[r] { -a.sin() } else { a.cos() } as f32;
            }
        }
        let mut e = vec![0f32; l * n];
        for o in 0..l {
            for r in 0..n {
                let q = freq[r];
                let c = if q == 0 || 2 * q == n { 1.0 } else { 2.0 } / n as f64;
                let a = angle(q, o);
                e[o * n + r] = (if is_im[r] { -a.sin() } else { a.cos() } * c) as f32;
            }
        }
        // The kernel's spectrum, conjugated for a correlation: Σ_j w_j e^{+iθ}.
        let mut spec = vec![0f32; w];
        for bin in &bins {
            let q = match *bin {
                Bin::Real { row, .. } => freq[row],
                Bin::Complex { re, .. } => freq[re],
            };
            let (cos, sin): (Vec<f32>, Vec<f32>) = (0..ks)
                .map(|j| {
                    let a = angle(q, j * shape.dilation);
                    (a.cos() as f32, a.sin() as f32)
                })
                .unzip();
            match *bin {
                Bin::Real { w, .. } => {
                    for u in 0..f {
                        let dst = &mut spec[w + u * k..w + (u + 1) * k];
                        for j in 0..ks {
                            let src = &kernel_taps[u * ks * k + j * k..][..k];
                            dst.iter_mut().zip(src).for_each(|(o, v)| *o += v * cos[j]);
                        }
                    }
                }
                Bin::Complex { w, .. } => {
                    let (re, rest) = spec[w..w + 3 * f * k].split_at_mut(f * k);
                    let (im, sum) = rest.split_at_mut(f * k);
                    for u in 0..f {
                        let (re, im) = (&mut re[u * k..(u + 1) * k], &mut im[u * k..(u + 1) * k]);
                        for j in 0..ks {
                            let src = &kernel_taps[u * ks * k + j * k..][..k];
                            for ((r, i), v) in re.iter_mut().zip(im.iter_mut()).zip(src) {
                                *r += v * cos[j];
                                *i += v * sin[j];
                            }
                        }
                    }
                    for ((s, r), i) in sum.iter_mut().zip(re.iter()).zip(im.iter()) {
                        *s = r + i;
                    }
                }
            }
        }
        SpectralConv {
            k,
            f,
            w_in: shape.w_in,
            w_out: shape.w_out,
            pad_left,
            act,
            bias: bias.to_vec(),
            n,
            l,
            blocks: shape.w_out.div_ceil(l),
            d,
            e,
            bins,
            spectra: WeightBuf::from_vec(spec),
            own_kernels: skinny::available(),
        }
    }

    /// DFT length and outputs per block.
    pub fn blocks(&self) -> (usize, usize) {
        (self.n, self.l)
    }

    pub fn spectra_bytes(&self) -> usize {
        self.spectra.len() * std::mem::size_of::<f32>()
    }

    /// Block t's input segment: its first input position (may be negative)
    /// and the range of segment positions inside the map.
    fn segment(&self, t: usize) -> (isize, usize, usize) {
        let s0 = (t * self.l) as isize - self.pad_left as isize;
        let lo = (-s0).max(0) as usize;
        let hi = (self.w_in as isize - s0).clamp(0, self.n as isize) as usize;
        (s0, lo.min(hi), hi)
    }

    fn outputs(&self, t: usize) -> usize {
        self.l.min(self.w_out - t * self.l)
    }

    /// y (rows × F) = x (rows × K) · W_binᵀ.
    fn product(&self, w: usize, x: &[f32], rows: usize, y: &mut [f32], pack: &mut Vec<f32>) {
        let (k, f) = (self.k, self.f);
        let m = &self.spectra[w..w + f * k];
        if self.own_kernels {
            skinny::forward(m, f, k, x, rows, y, pack);
        } else {
            gemm::sgemm(false, true, rows, f, k, 1.0, x, k, m, k, 0.0, y, f);
        }
    }

    /// dx (rows × K) = g (rows × F) · W_bin.
    fn product_t(&self, w: usize, g: &[f32], rows: usize, dx: &mut [f32]) {
        let (k, f) = (self.k, self.f);
        let m = &self.spectra[w..w + f * k];
        if self.own_kernels {
            skinny::backward(m, f, k, g, rows, dx);
        } else {
            gemm::sgemm(false, false, rows, k, f, 1.0, g, f, m, k, 0.0, dx, k);
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, s: &mut SpectralScratch) {
        let (k, f, n) = (self.k, self.f, self.n);
        let m = batch * self.blocks;
        grow(&mut s.a, n * m * k);
        grow(&mut s.b, n * m * f);
        grow(&mut s.t, m * k.max(f));
        grow(&mut s.u, m * f);
        let (xs, ys) = (&mut s.a[..n * m * k], &mut s.b[..n * m * f]);
        // Spectra of every item's segments: row r of item i, block t at (r, i·T + t).
        for i in 0..batch {
            for t in 0..self.blocks {
                let (s0, lo, hi) = self.segment(t);
                let at = (i * self.blocks + t) * k;
                if hi == lo {
                    for r in 0..n {
                        xs[r * m * k + at..][..k].fill(0.0);
                    }
                    continue;
                }
                let src = (i * self.w_in) as isize + s0 + lo as isize;
                gemm::sgemm(
                    false,
                    false,
                    n,
                    k,
                    hi - lo,
                    1.0,
                    &self.d[lo..],
                    n,
                    &x[src as usize * k..],
                    k,
                    0.0,
                    &mut xs[at..],
                    m * k,
                );
            }
        }
        for bin in &self.bins {
            match *bin {
                Bin::Real { row, w } => {
                    let xr = &xs[row * m * k..][..m * k];
                    let yr = &mut ys[row * m * f..][..m * f];
                    self.product(w, xr, m, yr, &mut s.pack);
                }
                Bin::Complex { re, im, w } => {
                    let (xr, xi) = (&xs[re * m * k..][..m * k], &xs[im * m * k..][..m * k]);
                    let sum = &mut s.t[..m * k];
                    sum.iter_mut()
                        .zip(xr.iter().zip(xi))
                        .for_each(|(o, (a, b))| *o = a + b);
                    let (lo, hi) = ys.split_at_mut(im * m * f);
                    let (yr, yi) = (&mut lo[re * m * f..][..m * f], &mut hi[..m * f]);
                    let t2 = &mut s.u[..m * f];
                    self.product(w, xr, m, yr, &mut s.pack);
                    self.product(w + f * k, xi, m, t2, &mut s.pack);
                    self.product(w + 2 * f * k, sum, m, yi, &mut s.pack);
                    for ((r, i), b) in yr.iter_mut().zip(yi.iter_mut()).zip(t2.iter()) {
                        *i -= *r + b;
                        *r -= b;
                    }
                }
            }
        }
        let y = &mut y[..batch * self.w_out * f];
        for i in 0..batch {
            for t in 0..self.blocks {
                let at = (i * self.blocks + t) * f;
                gemm::sgemm(
                    false,
                    false,
                    self.outputs(t),
                    f,
                    n,
                    1.0,
                    &self.e,
                    n,
                    &ys[at..],
                    m * f,
                    0.0,
                    &mut y[(i * self.w_out + t * self.l) * f..],
                    f,
                );
            }
        }
        for r in y.chunks_mut(f) {
            r.iter_mut().zip(&self.bias).for_each(|(v, b)| *v += b);
        }
        activation::forward(self.act, y, f);
    }

    /// dx = ∂/∂x of Σ dy·y; `dz` is scratch for the pre-activation gradient.
    pub fn backward(
        &self,
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        dz: &mut [f32],
        s: &mut SpectralScratch,
    ) {
        let (k, f, n) = (self.k, self.f, self.n);
        let m = batch * self.blocks;
        let len = batch * self.w_out * f;
        activation::backward(self.act, &y[..len], &dy[..len], &mut dz[..len], f);
        grow(&mut s.a, n * m * k);
        grow(&mut s.b, n * m * f);
        grow(&mut s.t, m * k.max(f));
        grow(&mut s.u, m * k);
        let (dxs, gs) = (&mut s.a[..n * m * k], &mut s.b[..n * m * f]);
        for i in 0..batch {
            for t in 0..self.blocks {
                let at = (i * self.blocks + t) * f;
                gemm::sgemm(
                    true,
                    false,
                    n,
                    f,
                    self.outputs(t),
                    1.0,
                    &self.e,
                    n,
                    &dz[(i * self.w_out + t * self.l) * f..],
                    f,
                    0.0,
                    &mut gs[at..],
                    m * f,
                );
            }
        }
        // The adjoint of each bin's product: the conjugate spectrum.
        for bin in &self.bins {
            match *bin {
                Bin::Real { row, w } => {
                    let g = &gs[row * m * f..][..m * f];
                    self.product_t(w, g, m, &mut dxs[row * m * k..][..m * k]);
                }
                Bin::Complex { re, im, w } => {
                    let (gr, gi) = (&gs[re * m * f..][..m * f], &gs[im * m * f..][..m * f]);
                    let diff = &mut s.t[..m * f];
                    diff.iter_mut()
                        .zip(gr.iter().zip(gi))
                        .for_each(|(o, (a, b))| *o = a - b);
                    let (lo, hi) = dxs.split_at_mut(im * m * k);
                    let (xr, xi) = (&mut lo[re * m * k..][..m * k], &mut hi[..m * k]);
                    let t2 = &mut s.u[..m * k];
                    self.product_t(w, gr, m, xr);
                    self.product_t(w + f * k, gi, m, t2);
                    self.product_t(w + 2 * f * k, diff, m, xi);
                    for ((r, i), b) in xr.iter_mut().zip(xi.iter_mut()).zip(t2.iter()) {
                        *i = *r - b - *i;
                        *r += b;
                    }
                }
            }
        }
        let dx = &mut dx[..batch * self.w_in * k];
        dx.fill(0.0);
        for i in 0..batch {
            for t in 0..self.blocks {
                let (s0, lo, hi) = self.segment(t);
                if hi == lo {
                    continue;
                }
                let dst = (i * self.w_in) as isize + s0 + lo as isize;
                gemm::sgemm(
                    true,
                    false,
                    hi - lo,
                    k,
                    n,
                    1.0,
                    &self.d[lo..],
                    n,
                    &dxs[(i * self.blocks + t) * k..],
                    m * k,
                    1.0,
                    &mut dx[dst as usize * k..],
                    k,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{same_pad_left, Padding};
    use crate::network::conv1d::Conv1d;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// (filters, k_in, kernel_size) → (filters, kernel_size·k_in) taps, as Conv1d keeps them.
    fn taps(kernel: &[f32], f: usize, k: usize, ks: usize) -> Vec<f32> {
        let mut t = vec![0.0; f * ks * k];
        for u in 0..f {
            for c in 0..k {
                for j in 0..ks {
                    t[u * ks * k + j * k + c] = kernel[(u * k + c) * ks + j];
                }
            }
        }
        t
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}: [{i}] {x} vs {y} (scale {scale})"
            );
        }
    }

    /// Every block length, kernel size, dilation and padding against the direct form.
    #[test]
    fn equals_the_direct_convolution_forward_and_backward() {
        let cases = [
            // k, f, w_in, ks, dilation, padding, batch
            (3, 5, 17, 1, 1, Padding::Valid, 2),
            (4, 7, 23, 5, 1, Padding::Valid, 3),
            (5, 6, 31, 8, 2, Padding::Same, 2),
            (7, 4, 40, 25, 1, Padding::Same, 1),
            (6, 9, 19, 4, 3, Padding::Valid, 3),
            (2, 3, 12, 3, 1, Padding::Same, 4),
        ];
        for (ci, &(k, f, w_in, ks, dil, padding, batch)) in cases.iter().enumerate() {
            let span = dil * (ks - 1) + 1;
            let (w_out, pad_left) = match padding {
                Padding::Valid => (w_in - span + 1, 0),
                Padding::Same => (w_in, same_pad_left(w_in, span, 1)),
            };
            let kernel = data(f * k * ks, ci as u64 + 1);
            let bias = data(f, ci as u64 + 50);
            let direct = Conv1d::new(
                k,
                w_in,
                w_out,
                f,
                ks,
                1,
                dil,
                padding,
                Activation::Relu,
                &kernel,
                Some(&bias),
            );
            let shape = direct.shape();
            let x = data(batch * w_in * k, ci as u64 + 100);
            let dy = data(batch * w_out * f, ci as u64 + 200);
            let mut want = vec![0.0; batch * w_out * f];
            let (mut cols, mut pack) = (vec![0.0; direct.cols_len(batch)], Vec::new());
            direct.forward(&x, &mut want, batch, &mut cols, &mut pack);
            let mut want_dx = vec![0.0; batch * w_in * k];
            let mut dz = vec![0.0; batch * w_out * f];
            direct.backward(&want, &dy, &mut want_dx, batch, &mut dz, &mut cols);
            for l in [1, 2, 3, w_out.div_ceil(2), w_out] {
                let n = l + span - 1;
                let choice = SpectralChoice {
                    n,
                    l,
                    macs: 0.0,
                    spectra: 0,
                };
                let sc = SpectralConv::new(
                    &shape,
                    pad_left,
                    Activation::Relu,
                    &taps(&kernel, f, k, ks),
                    &bias,
                    choice,
                );
                let mut s = SpectralScratch::default();
                let mut y = vec![f32::NAN; batch * w_out * f];
                sc.forward(&x, &mut y, batch, &mut s);
                let what = format!(
                    "case {ci} (k {k}, f {f}, w {w_in}, ks {ks}, d {dil}, {padding:?}) l {l}"
                );
                close(&y, &want, 2e-5, &format!("{what} forward"));
                let mut dx = vec![f32::NAN; batch * w_in * k];
                // The direct output: the same ReLU mask for both backward passes.
                sc.backward(&want, &dy, &mut dx, batch, &mut dz, &mut s);
                close(&dx, &want_dx, 2e-5, &format!("{what} backward"));
            }
        }
    }

    /// DeepSEA's third convolution takes one block of 60; stride 2 cannot go.
    #[test]
    fn the_cost_model_takes_deepseas_wide_kernel_and_leaves_small_ones() {
        let deepsea = ConvShape {
            k_in: 480,
            filters: 960,
            w_in: 60,
            w_out: 53,
            kernel_size: 8,
            dilation: 1,
            stride: 1,
        };
        let c = choose(ConvMode::Auto, &deepsea, 32).expect("spectral");
        assert_eq!((c.n, c.l), (60, 53));
        assert!(c.macs < 0.4 * direct_cost(&deepsea, 32), "{c:?}");
        // At a batch of one, reading the spectra costs more than it saves.
        assert_eq!(choose(ConvMode::Auto, &deepsea, 1), None);
        assert!(choose(ConvMode::Auto, &deepsea, 8).is_some());
        // A ChromBPNet tower conv: 64 → 64, kernel 3, dilation 8 over 2,000.
        let tower = ConvShape {
            k_in: 64,
            filters: 64,
            w_in: 2000,
            w_out: 1984,
            kernel_size: 3,
            dilation: 8,
            stride: 1,
        };
        assert_eq!(choose(ConvMode::Auto, &tower, 32), None);
        // Kernel 3 with 64 channels: Winograd F(4,3) under fast and auto, never the DFT.
        assert_eq!(choose(ConvMode::Fast, &tower, 32), None);
        for mode in [ConvMode::Fast, ConvMode::Auto] {
            assert_eq!(path(mode, &tower, 1), Some(ConvPath::Winograd));
        }
        assert_eq!(path(ConvMode::Direct, &tower, 32), None);
        // Too few channels or positions for Winograd: the DFT under fast, as before.
        for small in [
            ConvShape { k_in: 8, ..tower },
            ConvShape {
                filters: 15,
                ..tower
            },
            ConvShape {
                w_in: 31,
                w_out: 15,
                ..tower
            },
        ] {
            assert!(
                matches!(path(ConvMode::Fast, &small, 32), Some(ConvPath::Dft(_))),
                "{small:?}"
            );
        }
        let strided = ConvShape {
            stride: 2,
            ..deepsea
        };
        assert_eq!(choose(ConvMode::Fast, &strided, 32), None);
        assert_eq!(choose(ConvMode::Direct, &deepsea, 32), None);
    }
}
