//! A kernel-size-3, stride-1 convolution by Winograd F(4,3): four outputs
//! from six products of K × F instead of twelve (the dilated towers of
//! BPNet and ChromBPNet: 64 → 64 channels, dilation 1..128).
//!
//! With interpolation points 0, 1, −1, 2, −2 and ∞, four outputs of a
//! correlation y_i = Σ_j g_j x_{i+j} (i < 4, j < 3) are y = Aᵀ[(G g) ⊙ (Bᵀ x)]
//! over six inputs x. At dilation d a tile is the outputs o, o+d, o+2d,
//! o+3d, reading the inputs (o − pad) + {0, d, …, 5d}. Tiles start at
//! blk·4d + r (r < d), in that order, so each output belongs to one tile;
//! outputs past the map are dropped and inputs outside it read as zero.
//!
//! Per item and per chunk of tiles: the input transform V_ξ (tiles × K) for
//! the six points ξ, six products M_ξ = V_ξ·U_ξ with U_ξ = (G w)_ξ (K × F,
//! made once; the engine's own FMA kernels in [`crate::network::wino_gemm`],
//! OpenBLAS's sgemm on the scalar path), and the output transform Aᵀ M plus
//! the bias (with a residual block's ReLU and skip). The input
//! gradient is a stride-1 convolution of dz by the flipped, transposed kernel
//! (W'_j = W_{2−j}ᵀ, F → K channels, pad 2d − pad, from w_out to w_in
//! positions) and runs the same way; in a residual block the ReLU's
//! gradient is taken as the input transform reads dy. Each item runs alone through calls
//! whose shapes depend on the layer alone, so an item's bits do not depend
//! on its batch-mates. The sums run in another order than im2col's: a layer
//! on this path has other last bits than on the direct one.
use super::super::conv1d_spectral::ConvShape;
use super::super::grow;
use super::super::wino_gemm;
use super::activation;
#[cfg(target_arch = "x86_64")]
#[path = "conv1d_winograd_x512.rs"]
mod x512;
use super::super::needed::Span;
use crate::model::Activation;

/// Bᵀ: row ξ gives V_ξ from the six inputs of a tile.
#[cfg(test)]
const BT: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
/// G: row ξ gives U_ξ from the three taps.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
/// Aᵀ: row i gives output i of a tile from M_0..M_5.
#[cfg(test)]
const AT: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Both channel counts at least this, and at least this many output positions.
const MIN_CHANNELS: usize = 16;
const MIN_OUTPUTS: usize = 16;
/// Bytes of V and M per chunk of tiles: they stay in L2 (1 MB on Zen 4)
/// with the input rows and outputs around them.
const CHUNK_BYTES: usize = 256 << 10;
/// But at least this many tiles: the scalar path's sgemm packs U_ξ (K × F)
/// on every call, so wide layers need rows to pay for it. Measured when
/// every path's products were sgemm: a 768 → 768 tower (Basenji's width)
/// at 21 tiles per chunk ran at 0.46 of the direct path, at 192 at 1.78×
/// it; 256 → 256 went from 1.25× to 1.7× direct.
const MIN_CHUNK_TILES: usize = 192;

/// True for a shape this path takes (stride 1, kernel 3, enough channels
/// and positions for the products to pay for the transforms).
pub(crate) fn takes(s: &ConvShape) -> bool {
    s.stride == 1
        && s.kernel_size == 3
        && s.k_in >= MIN_CHANNELS
        && s.filters >= MIN_CHANNELS
        && s.w_out >= MIN_OUTPUTS
        && s.w_out * POSITIONS_PER_WEIGHTS >= s.k_in * s.filters
}

/// A wide layer over few positions stays direct (one product for the whole
/// batch): per item, Winograd reads all of U_ξ for a handful of tiles.
/// Measured with sgemm products: 768 → 768 over 64 positions ran at
/// 0.93–0.99 of direct, over 256 at 1.6×; so at least k_in·filters / 4096
/// output positions (144 at 768 channels).
const POSITIONS_PER_WEIGHTS: usize = 4096;

/// One direction of the convolution: `cin` → `cout` channels, `w_in` → `w_out` positions.
#[derive(Debug)]
struct Pass {
    cin: usize,
    cout: usize,
    w_in: usize,
    w_out: usize,
    d: usize,
    pad: isize,
    /// U_ξ for ξ = 0..6, each cin × cout.
    u: Vec<f32>,
    /// The outputs computed, [lo, hi): those the score reads (`needed.rs`);
    /// the others are written as zeros.
    lo: usize,
    hi: usize,
    /// Each tile's first output position, in the fixed order.
    bases: Vec<usize>,
    /// Tiles per chunk.
    chunk: usize,
    /// The transforms on AVX-512 vectors (`conv1d_winograd_x512.rs`).
    x512: bool,
}

impl Pass {
    /// `tap(j, c, f)`: the weight of tap j from input channel c to output
    /// channel f; outputs `span` computed.
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        w_in: usize,
        w_out: usize,
        d: usize,
        pad: isize,
        span: Span,
        tap: impl Fn(usize, usize, usize) -> f32,
    ) -> Pass {
        let mut u = vec![0f32; 6 * cin * cout];
        for (xi, g) in G.iter().enumerate() {
            for c in 0..cin {
                for f in 0..cout {
                    let v: f64 = (0..3).map(|j| g[j] * tap(j, c, f) as f64).sum();
                    u[(xi * cin + c) * cout + f] = v as f32;
                }
            }
        }
        // The tiles start at the span's first output, so a span shorter
        // than the map takes fewer tiles than the map's tiles that meet it
        // (at dilation 256 those would be nearly all of them).
        let (lo, hi) = (span.lo.min(w_out), span.hi.min(w_out));
        let mut bases = Vec::new();
        for blk in (lo..hi).step_by(4 * d) {
            for r in 0..d {
                if blk + r < hi {
                    bases.push(blk + r);
                }
            }
        }
        let chunk =
            (CHUNK_BYTES / (6 * (cin + cout) * std::mem::size_of::<f32>())).max(MIN_CHUNK_TILES);
        Pass {
            cin,
            cout,
            w_in,
            w_out,
            d,
            pad,
            lo,
            hi: hi.max(lo),
            u,
            bases,
            chunk,
            x512: x512_takes(cin, cout),
        }
    }

    /// The input rows of the tile at `base` (None: outside the map, read as zeros).
    #[inline(always)]
    fn input_rows(&self, base: usize) -> [Option<usize>; 6] {
        let row = |k: usize| {
            let q = (base + k * self.d) as isize - self.pad;
            (q >= 0 && (q as usize) < self.w_in).then_some(q as usize)
        };
        [row(0), row(1), row(2), row(3), row(4), row(5)]
    }

    /// How many of the tile's four outputs are in the span.
    #[inline(always)]
    fn output_rows(&self, base: usize) -> usize {
        (0..4).take_while(|&i| base + i * self.d < self.hi).count()
    }

    /// Fetch the lines the epilogue will touch for the tile
    /// `PREFETCH_TILES` after tile t.
    #[inline(always)]
    fn prefetch_ahead(&self, bases: &[usize], t: usize, epi: &Epilogue, y: &[f32]) {
        if let Some(&ahead) = bases.get(t + PREFETCH_TILES) {
            for i in 0..self.output_rows(ahead) {
                epi.prefetch(ahead + i * self.d, self.cout, y);
            }
        }
    }

    /// y (w_out × cout) of one item's x (w_in × cin), and what `epi` does
    /// with each output row.
    fn run(
        &self,
        x: &[f32],
        gate: Option<&[u16]>,
        y: &mut [f32],
        mut epi: Epilogue,
        s: &mut WinogradScratch,
    ) {
        let (ci, co) = (self.cin, self.cout);
        let chunk = self.chunk.min(self.bases.len()).max(1);
        grow(&mut s.v, 6 * chunk * ci);
        grow(&mut s.m, 6 * chunk * co);
        grow(&mut s.zero, ci.max(co));
        if s.zero_mask.len() < mask_words(ci) {
            s.zero_mask.resize(mask_words(ci), 0);
        }
        let (v, m, zero) = (&mut s.v, &mut s.m, &s.zero[..]);
        let zero_mask = &s.zero_mask[..mask_words(ci)];
        let x = &x[..self.w_in * ci];
        let gate = gate.map(|g| &g[..self.w_in * mask_words(ci)]);
        let y = &mut y[..self.w_out * co];
        let bias = match &epi {
            Epilogue::Plain(b) => b.unwrap_or(&zero[..co]),
            Epilogue::Residual { bias, .. } => *bias,
            Epilogue::Skip { .. } => &zero[..co],
        };
        for bases in self.bases.chunks(chunk) {
            let rows = bases.len();
            if self.x512 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `x512_takes` checked the CPU and the channels; the
                // slices are as this function cut them.
                unsafe {
                    x512::input_stage(self, x, gate, bases, v, chunk)
                };
            } else {
                input_stage(self, x, gate, bases, v, chunk, zero, zero_mask);
            }
            for xi in 0..6 {
                wino_gemm::product(
                    rows,
                    ci,
                    co,
                    &v[xi * chunk * ci..][..rows * ci],
                    &self.u[xi * ci * co..][..ci * co],
                    &mut m[xi * chunk * co..][..rows * co],
                );
            }
            if self.x512 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as for the input stage.
                unsafe {
                    x512::output_stage(self, bases, m, chunk, y, &mut epi, bias)
                };
            } else {
                output_stage(self, bases, m, chunk, y, &mut epi, bias);
            }
        }
        // Outside the span, zeros: the same bits whatever the buffer held
        // (a batch-mate's map, an earlier step's).
        y[..self.lo * co].fill(0.0);
        y[self.hi * co..].fill(0.0);
        if let Epilogue::Residual { mask, .. } = epi {
            if !mask.is_empty() {
                let mw = mask_words(co);
                mask[..self.lo * mw].fill(0);
                mask[self.hi * mw..self.w_out * mw].fill(0);
            }
        }
    }
}

/// The AVX-512 transforms, where the kernel path is AVX-512 (forcing AVX2
/// with `DEEPRESOLVE_SIMD` keeps the portable ones) and the channels are
/// whole vectors.
fn x512_takes(cin: usize, cout: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::super::simd::current() == super::super::simd::SimdPath::Avx512
            && x512::takes(cin, cout)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (cin, cout);
        false
    }
}

/// `$name` runs `$body` compiled for the widest vectors this CPU has. The
/// bodies only add and multiply (no fused multiply-adds), so every path
/// gives the same bits.
macro_rules! widest {
    ($name:ident, $body:ident, ($($p:ident: $t:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($p: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f,avx2")]
                unsafe fn wide($($p: $t),*) {
                    $body($($p),*)
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($p: $t),*) {
                    $body($($p),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { wide($($p),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($p),*) };
                }
            }
            $body($($p),*)
        }
    };
}

widest!(input_stage, input_stage_body, (p: &Pass, x: &[f32], gate: Option<&[u16]>, bases: &[usize], v: &mut [f32], chunk: usize, zero: &[f32], zero_mask: &[u16]));
widest!(output_stage, output_stage_body, (p: &Pass, bases: &[usize], m: &[f32], chunk: usize, y: &mut [f32], epi: &mut Epilogue, bias: &[f32]));

/// V (six blocks of `chunk` rows × cin) of the tiles at `bases`; with a
/// `gate` (a ReLU's mask, [`mask_words`] per row of x), x where the gate's
/// bit is set, else 0.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_stage_body(
    p: &Pass,
    x: &[f32],
    gate: Option<&[u16]>,
    bases: &[usize],
    v: &mut [f32],
    chunk: usize,
    zero: &[f32],
    zero_mask: &[u16],
) {
    let ci = p.cin;
    let zero = &zero[..ci];
    let mw = mask_words(ci);
    let mut vb = v[..6 * chunk * ci].chunks_exact_mut(chunk * ci);
    let mut vb: [&mut [f32]; 6] = std::array::from_fn(|_| vb.next().unwrap());
    for (t, &base) in bases.iter().enumerate() {
        let rows = p.input_rows(base);
        let ins = tile_rows(x, zero, rows.map(|q| q.map(|q| q * ci)));
        let gate = gate.map(|g| tile_rows(g, zero_mask, rows.map(|q| q.map(|q| q * mw))));
        let [v0, v1, v2, v3, v4, v5] = &mut vb;
        let at = t * ci;
        input_transform(
            ins,
            gate,
            [
                &mut v0[at..at + ci],
                &mut v1[at..at + ci],
                &mut v2[at..at + ci],
                &mut v3[at..at + ci],
                &mut v4[at..at + ci],
                &mut v5[at..at + ci],
            ],
        );
    }
}

/// The six input rows of a tile (zeros outside the map) at these offsets.
#[inline(always)]
fn tile_rows<'a, T>(x: &'a [T], zero: &'a [T], offs: [Option<usize>; 6]) -> [&'a [T]; 6] {
    let n = zero.len();
    let row = |o: Option<usize>| match o {
        Some(o) => &x[o..o + n],
        None => zero,
    };
    [
        row(offs[0]),
        row(offs[1]),
        row(offs[2]),
        row(offs[3]),
        row(offs[4]),
        row(offs[5]),
    ]
}

/// The output rows of the tiles at `bases` from M (six blocks of `chunk`
/// rows × cout), through `epi`.
///
/// Sixteen channels at a time through arrays of the stack: with slices
/// LLVM could not rule out that y overlaps M and ran a scalar copy of the
/// loop behind a run-time check (a sixth of this stage's time).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_stage_body(
    p: &Pass,
    bases: &[usize],
    m: &[f32],
    chunk: usize,
    y: &mut [f32],
    epi: &mut Epilogue,
    bias: &[f32],
) {
    let (co, d) = (p.cout, p.d);
    let mb: [&[f32]; 6] = std::array::from_fn(|xi| &m[xi * chunk * co..][..chunk * co]);
    let bias = &bias[..co];
    for (t, &base) in bases.iter().enumerate() {
        let at = t * co;
        // Spelled out: `array::from_fn` here was a call per tile whose
        // stores the vector loads after it waited on.
        let ms: [&[f32]; 6] = [
            &mb[0][at..at + co],
            &mb[1][at..at + co],
            &mb[2][at..at + co],
            &mb[3][at..at + co],
            &mb[4][at..at + co],
            &mb[5][at..at + co],
        ];
        let rows = p.output_rows(base);
        p.prefetch_ahead(bases, t, epi, y);
        let mut c = 0;
        while c + LANES <= co {
            let vals = output_lanes::<LANES>(ms, bias, c);
            for (i, v) in vals.iter().enumerate().take(rows) {
                epi.apply(base + i * d, c, co, v, y);
            }
            c += LANES;
        }
        while c < co {
            let vals = output_lanes::<1>(ms, bias, c);
            for (i, v) in vals.iter().enumerate().take(rows) {
                epi.apply(base + i * d, c, co, v, y);
            }
            c += 1;
        }
    }
}

/// Channels per block of the transforms: one AVX-512 vector, two AVX2 ones.
const LANES: usize = 16;

/// `W` floats of `s` from `c` on, as an array.
#[inline(always)]
fn lanes<const W: usize>(s: &[f32], c: usize) -> [f32; W] {
    s[c..c + W].try_into().unwrap()
}

/// Rows i < 4 of b + Aᵀ M for channels c..c + W.
#[inline(always)]
fn output_lanes<const W: usize>(m: [&[f32]; 6], b: &[f32], c: usize) -> [[f32; W]; 4] {
    let (m0, m1, m2) = (
        lanes::<W>(m[0], c),
        lanes::<W>(m[1], c),
        lanes::<W>(m[2], c),
    );
    let (m3, m4, m5) = (
        lanes::<W>(m[3], c),
        lanes::<W>(m[4], c),
        lanes::<W>(m[5], c),
    );
    let b = lanes::<W>(b, c);
    let mut y = [[0f32; W]; 4];
    for l in 0..W {
        let (s12, d12) = (m1[l] + m2[l], m1[l] - m2[l]);
        let (s34, d34) = (m3[l] + m4[l], m3[l] - m4[l]);
        y[0][l] = b[l] + ((m0[l] + s12) + s34);
        y[1][l] = b[l] + (d12 + 2.0 * d34);
        y[2][l] = b[l] + (s12 + 4.0 * s34);
        y[3][l] = b[l] + ((d12 + 8.0 * d34) + m5[l]);
    }
    y
}

/// What a pass does with an output row v (bias and Aᵀ M) at position o.
enum Epilogue<'a> {
    /// y[o] = v, with this bias (none: zero).
    Plain(Option<&'a [f32]>),
    /// A residual block's forward: y[o] = a + skip[o + left] with a =
    /// ReLU(v) (or v); where `relu`, the bits of a > 0 into `mask`
    /// ([`mask_words`] per row), all the block's backward needs of a.
    Residual {
        bias: &'a [f32],
        relu: bool,
        skip: &'a [f32],
        left: usize,
        mask: &'a mut [u16],
    },
    /// A residual block's input gradient: y[p] = v + dy[p − left] where the
    /// skip's crop has p, else v + 0 (as the unfused graph adds the conv's
    /// share to the crop's zero-filled gradient).
    Skip {
        dy: &'a [f32],
        left: usize,
        n: usize,
    },
}

/// Tiles ahead whose output rows (and the rows their epilogue reads) are
/// fetched into the cache before they are written.
const PREFETCH_TILES: usize = 8;

/// Ask for the cache lines of `s[at..at + n]`, to be written (`WRITE`) or read.
#[inline(always)]
fn prefetch<const WRITE: bool>(s: &[f32], at: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0, _MM_HINT_T0};
        let row = &s[at..at + n];
        for c in (0..n).step_by(16) {
            let p = row[c..].as_ptr() as *const i8;
            // SAFETY: SSE is part of x86_64's baseline, and a prefetch
            // reads nothing (the address is inside `s` anyway).
            unsafe {
                if WRITE {
                    _mm_prefetch::<_MM_HINT_ET0>(p);
                } else {
                    _mm_prefetch::<_MM_HINT_T0>(p);
                }
            }
        }
    }
}

impl Epilogue<'_> {
    /// Fetch the lines that [`Self::apply`] will touch for output row o.
    #[inline(always)]
    fn prefetch(&self, o: usize, n: usize, y: &[f32]) {
        prefetch::<true>(y, o * n, n);
        match self {
            Epilogue::Plain(_) => {}
            Epilogue::Residual { skip, left, .. } => {
                prefetch::<false>(skip, (o + *left) * n, n);
            }
            Epilogue::Skip { dy, left, n: w } => {
                if o >= *left && o - *left < *w {
                    prefetch::<false>(dy, (o - *left) * n, n);
                }
            }
        }
    }

    /// Channels c..c + W of output row o (rows of n channels in `y`) from
    /// v. Each result is made in full on the stack and stored as a whole:
    /// stores into two slices element by element were kept in order, one
    /// lane at a time (LLVM could not rule out that they overlap).
    #[inline(always)]
    fn apply<const W: usize>(&mut self, o: usize, c: usize, n: usize, v: &[f32; W], y: &mut [f32]) {
        let at = o * n + c;
        match self {
            Epilogue::Plain(_) => y[at..at + W].copy_from_slice(v),
            Epilogue::Residual {
                relu,
                skip,
                left,
                mask,
                ..
            } => {
                let sk = lanes::<W>(skip, (o + *left) * n + c);
                let mut s = [0f32; W];
                if *relu {
                    let mut bits = 0u16;
                    for l in 0..W {
                        // Not `max`: its sign of a zero is unspecified.
                        let a = if v[l] > 0.0 { v[l] } else { 0.0 };
                        s[l] = a + sk[l];
                        bits |= u16::from(a > 0.0) << l;
                    }
                    // A row's word for channels c - c % 16.. : the first
                    // of them sets it, the rest (W = 1 past the last whole
                    // block) add their bits.
                    let (word, bit) = (&mut mask[o * mask_words(n) + c / LANES], c % LANES);
                    if bit == 0 {
                        *word = bits;
                    } else {
                        *word |= bits << bit;
                    }
                } else {
                    for l in 0..W {
                        s[l] = v[l] + sk[l];
                    }
                }
                y[at..at + W].copy_from_slice(&s);
            }
            Epilogue::Skip { dy, left, n: w } => {
                let g = if o >= *left && o - *left < *w {
                    lanes::<W>(dy, (o - *left) * n + c)
                } else {
                    [0f32; W]
                };
                let mut r = [0f32; W];
                for l in 0..W {
                    r[l] = g[l] + v[l];
                }
                y[at..at + W].copy_from_slice(&r);
            }
        }
    }
}

/// V_ξ = (Bᵀ x)_ξ, sixteen channels at a time (see [`output_stage_body`]).
#[inline(always)]
fn input_transform(x: [&[f32]; 6], gate: Option<[&[u16]; 6]>, v: [&mut [f32]; 6]) {
    let n = v[0].len();
    let mut c = 0;
    let [v0, v1, v2, v3, v4, v5] = v;
    let mut v = [v0, v1, v2, v3, v4, v5];
    match gate {
        None => {
            while c + LANES <= n {
                input_lanes::<LANES, false>(x, [&[]; 6], &mut v, c);
                c += LANES;
            }
            while c < n {
                input_lanes::<1, false>(x, [&[]; 6], &mut v, c);
                c += 1;
            }
        }
        Some(g) => {
            while c + LANES <= n {
                input_lanes::<LANES, true>(x, g, &mut v, c);
                c += LANES;
            }
            while c < n {
                input_lanes::<1, true>(x, g, &mut v, c);
                c += 1;
            }
        }
    }
}

/// x gated by the mask g (as [`activation::backward`] of a ReLU: a > 0 ?
/// x : 0, with g's bit for channel c set where a > 0) where GATE.
#[inline(always)]
fn gated<const W: usize, const GATE: bool>(x: &[f32], g: &[u16], c: usize) -> [f32; W] {
    let mut v = lanes::<W>(x, c);
    if GATE {
        let bits = g[c / LANES] >> (c % LANES);
        for l in 0..W {
            v[l] = if bits & (1 << l) != 0 { v[l] } else { 0.0 };
        }
    }
    v
}

#[inline(always)]
fn input_lanes<const W: usize, const GATE: bool>(
    x: [&[f32]; 6],
    g: [&[u16]; 6],
    v: &mut [&mut [f32]; 6],
    c: usize,
) {
    let x0 = gated::<W, GATE>(x[0], g[0], c);
    let x1 = gated::<W, GATE>(x[1], g[1], c);
    let x2 = gated::<W, GATE>(x[2], g[2], c);
    let x3 = gated::<W, GATE>(x[3], g[3], c);
    let x4 = gated::<W, GATE>(x[4], g[4], c);
    let x5 = gated::<W, GATE>(x[5], g[5], c);
    let mut r = [[0f32; W]; 6];
    for l in 0..W {
        let (a0, a1, a2, a3, a4, a5) = (x0[l], x1[l], x2[l], x3[l], x4[l], x5[l]);
        r[0][l] = (4.0 * a0 - 5.0 * a2) + a4;
        r[1][l] = (a3 + a4) - 4.0 * (a1 + a2);
        r[2][l] = 4.0 * (a1 - a2) + (a4 - a3);
        r[3][l] = 2.0 * (a3 - a1) + (a4 - a2);
        r[4][l] = 2.0 * (a1 - a3) + (a4 - a2);
        r[5][l] = (4.0 * a1 - 5.0 * a3) + a5;
    }
    for q in 0..6 {
        let dst: &mut [f32; W] = (&mut v[q][c..c + W]).try_into().unwrap();
        *dst = r[q];
    }
}

/// The tile's outputs y_i = b + (Aᵀ M)_i, for the rows inside the map.
#[cfg(test)]
fn output_transform(m: [&[f32]; 6], mut y: [Option<&mut [f32]>; 4], b: &[f32]) {
    for c in 0..b.len() {
        let vals = output_lanes::<1>(m, b, c);
        for (yi, v) in y.iter_mut().zip(vals) {
            if let Some(yi) = yi {
                yi[c] = v[0];
            }
        }
    }
}

/// Buffers of one pass (V, M and a row of zeros), kept between calls.
#[derive(Debug, Default)]
pub struct WinogradScratch {
    v: Vec<f32>,
    m: Vec<f32>,
    zero: Vec<f32>,
    zero_mask: Vec<u16>,
}

/// Words of a ReLU mask per row of n channels: bit c % 16 of word c / 16
/// for channel c.
pub(crate) fn mask_words(n: usize) -> usize {
    n.div_ceil(LANES)
}

/// A convolution on the Winograd path: forward and the input gradient.
#[derive(Debug)]
pub struct WinogradConv {
    k: usize,
    f: usize,
    w_in: usize,
    w_out: usize,
    pub act: Activation,
    bias: Vec<f32>,
    fwd: Pass,
    bwd: Pass,
}

impl WinogradConv {
    /// The Winograd form of a convolution given as in [`super::Conv1d`]:
    /// `kernel_taps` (filters, 3·k_in) with column j·k_in + c. Forward
    /// computes the outputs in `outs`, backward the input gradient at
    /// `ins` (the positions the score reads; the rest are zeros).
    pub fn new(
        shape: &ConvShape,
        pad_left: usize,
        act: Activation,
        kernel_taps: &[f32],
        bias: &[f32],
        (outs, ins): (Span, Span),
    ) -> WinogradConv {
        assert!(shape.stride == 1 && shape.kernel_size == 3);
        let (k, f, d) = (shape.k_in, shape.filters, shape.dilation);
        let w = |j: usize, c: usize, u: usize| kernel_taps[u * 3 * k + j * k + c];
        let pad = pad_left as isize;
        WinogradConv {
            k,
            f,
            w_in: shape.w_in,
            w_out: shape.w_out,
            act,
            bias: bias.to_vec(),
            fwd: Pass::new(k, f, shape.w_in, shape.w_out, d, pad, outs, w),
            // dx[p, c] = Σ_j' W_{2−j'}[f, c] dz[p − (2d − pad) + j'd, f].
            bwd: Pass::new(
                f,
                k,
                shape.w_out,
                shape.w_in,
                d,
                2 * d as isize - pad,
                ins,
                |j, u, c| w(2 - j, c, u),
            ),
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, s: &mut WinogradScratch) {
        let (nx, ny) = (self.w_in * self.k, self.w_out * self.f);
        for b in 0..batch {
            self.fwd.run(
                &x[b * nx..][..nx],
                None,
                &mut y[b * ny..][..ny],
                Epilogue::Plain(Some(&self.bias)),
                s,
            );
        }
        activation::forward(self.act, &mut y[..batch * ny], self.f);
    }

    /// dx = ∂/∂x of Σ dy·y; `dz` is scratch for the pre-activation gradient.
    pub fn backward(
        &self,
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        dz: &mut [f32],
        s: &mut WinogradScratch,
    ) {
        let (nx, ny) = (self.w_in * self.k, self.w_out * self.f);
        let len = batch * ny;
        activation::backward(self.act, &y[..len], &dy[..len], &mut dz[..len], self.f);
        for b in 0..batch {
            self.bwd.run(
                &dz[b * ny..][..ny],
                None,
                &mut dx[b * nx..][..nx],
                Epilogue::Plain(None),
                s,
            );
        }
    }

    /// A residual block's forward for one item (`filters == k_in`): `out`
    /// = act + x from position `left` on, as the unfused nodes make it, bit
    /// for bit, with act the convolution after a ReLU where `relu`; then
    /// `mask` ([`Self::mask_len`] words) gets act > 0, all that backward
    /// needs of act (untouched without the ReLU).
    pub(crate) fn residual_forward(
        &self,
        x: &[f32],
        mask: &mut [u16],
        out: &mut [f32],
        relu: bool,
        left: usize,
        s: &mut WinogradScratch,
    ) {
        debug_assert_eq!(self.k, self.f);
        let mask = if relu {
            &mut mask[..self.mask_len()]
        } else {
            &mut []
        };
        let epi = Epilogue::Residual {
            bias: &self.bias,
            relu,
            skip: x,
            left,
            mask,
        };
        self.fwd.run(x, None, out, epi, s);
    }

    /// Words of one item's ReLU mask in a residual block.
    pub(crate) fn mask_len(&self) -> usize {
        self.w_out * mask_words(self.f)
    }

    /// A residual block's input gradient for one item: dx = the
    /// convolution's share from dy (masked by `mask`, as
    /// [`Self::residual_forward`] left it, where `relu`) plus dy at the
    /// skip's positions, as the unfused nodes sum it.
    pub(crate) fn residual_backward(
        &self,
        mask: &[u16],
        dy: &[f32],
        dx: &mut [f32],
        relu: bool,
        left: usize,
        s: &mut WinogradScratch,
    ) {
        let ny = self.w_out * self.f;
        // The ReLU's gradient (dy where act > 0, else 0) is taken as the
        // input transform reads dy: the same values, without a pass of their own.
        let gate = relu.then(|| &mask[..self.mask_len()]);
        let epi = Epilogue::Skip {
            dy,
            left,
            n: self.w_out,
        };
        self.bwd.run(&dy[..ny], gate, dx, epi, s);
    }

    pub(crate) fn w_in(&self) -> usize {
        self.w_in
    }

    pub(crate) fn w_out(&self) -> usize {
        self.w_out
    }

    /// Multiply-adds per item, one way, of the products alone.
    pub fn product_macs(&self) -> f64 {
        (6 * self.fwd.bases.len() * self.k * self.f) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{same_pad_left, Padding};

    /// Aᵀ[(G g) ⊙ (Bᵀ x)] is the correlation of 6 inputs with 3 taps, in float64.
    #[test]
    fn the_matrices_give_the_correlation() {
        let val = |i: usize| ((i * 7919 % 1000) as f64 - 500.0) / 313.0;
        for trial in 0..20 {
            let x: Vec<f64> = (0..6).map(|i| val(trial * 11 + i)).collect();
            let g: Vec<f64> = (0..3).map(|i| val(trial * 17 + i + 100)).collect();
            let u: Vec<f64> = G
                .iter()
                .map(|r| (0..3).map(|j| r[j] * g[j]).sum())
                .collect();
            let v: Vec<f64> = BT
                .iter()
                .map(|r| (0..6).map(|s| r[s] * x[s]).sum())
                .collect();
            for (i, a) in AT.iter().enumerate() {
                let got: f64 = (0..6).map(|xi| a[xi] * u[xi] * v[xi]).sum();
                let want: f64 = (0..3).map(|j| g[j] * x[i + j]).sum();
                assert!(
                    (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "{i}: {got} vs {want}"
                );
            }
        }
        // The hand-written transforms are Bᵀ and Aᵀ.
        for s in 0..6 {
            let mut unit = [[0f32; 1]; 6];
            unit[s][0] = 1.0;
            let mut v = [[0f32; 1]; 6];
            {
                let [v0, v1, v2, v3, v4, v5] = &mut v;
                input_transform(
                    unit.each_ref().map(|r| &r[..]),
                    None,
                    [v0, v1, v2, v3, v4, v5],
                );
            }
            for xi in 0..6 {
                assert_eq!(v[xi][0] as f64, BT[xi][s], "Bᵀ[{xi}][{s}]");
            }
        }
        for xi in 0..6 {
            let mut unit = [[0f32; 1]; 6];
            unit[xi][0] = 1.0;
            let mut y = [[0f32; 1]; 4];
            {
                let [y0, y1, y2, y3] = &mut y;
                output_transform(
                    unit.each_ref().map(|r| &r[..]),
                    [Some(y0), Some(y1), Some(y2), Some(y3)],
                    &[0.0],
                );
            }
            for i in 0..4 {
                assert_eq!(y[i][0] as f64, AT[i][xi], "Aᵀ[{i}][{xi}]");
            }
        }
    }

    fn check(k: usize, f: usize, w: usize, dil: usize, padding: Padding) {
        let span = 2 * dil + 1;
        let (wo, pad) = match padding {
            Padding::Valid => (w - span + 1, 0),
            Padding::Same => (w, same_pad_left(w, span, 1)),
        };
        let val = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 997.0;
        // Kernel index (f, c, j) as Keras/ONNX give it, and as Conv1d keeps it.
        let kernel: Vec<f32> = (0..f * k * 3).map(|i| val(i) * 0.1).collect();
        let mut taps = vec![0f32; f * 3 * k];
        for u in 0..f {
            for c in 0..k {
                for j in 0..3 {
                    taps[u * 3 * k + j * k + c] = kernel[(u * k + c) * 3 + j];
                }
            }
        }
        let bias: Vec<f32> = (0..f).map(|i| 0.01 * i as f32 - 0.02).collect();
        let shape = ConvShape {
            k_in: k,
            filters: f,
            w_in: w,
            w_out: wo,
            kernel_size: 3,
            dilation: dil,
            stride: 1,
        };
        assert!(takes(&shape));
        let all = (Span::all(shape.w_out), Span::all(shape.w_in));
        let conv = WinogradConv::new(&shape, pad, Activation::Linear, &taps, &bias, all);
        let pad = pad as isize;
        let direct = |x: &[f32], dy: &[f32]| {
            let (mut y, mut dx) = (vec![0f64; wo * f], vec![0f64; w * k]);
            for o in 0..wo {
                for j in 0..3 {
                    let p = (o + j * dil) as isize - pad;
                    if p < 0 || p >= w as isize {
                        continue;
                    }
                    let p = p as usize;
                    for u in 0..f {
                        for c in 0..k {
                            let wt = kernel[(u * k + c) * 3 + j] as f64;
                            y[o * f + u] += wt * x[p * k + c] as f64;
                            dx[p * k + c] += wt * dy[o * f + u] as f64;
                        }
                    }
                }
                for u in 0..f {
                    y[o * f + u] += bias[u] as f64;
                }
            }
            (y, dx)
        };
        let run = |batch: usize, x: &[f32], dy: &[f32]| {
            let mut s = WinogradScratch::default();
            let mut y = vec![f32::NAN; batch * wo * f];
            conv.forward(x, &mut y, batch, &mut s);
            let (mut dx, mut dz) = (vec![f32::NAN; batch * w * k], vec![0.0; batch * wo * f]);
            conv.backward(&y, dy, &mut dx, batch, &mut dz, &mut s);
            (y, dx)
        };
        let what = format!("k {k} f {f} w {w} dilation {dil} {padding:?}");
        let close = |got: &[f32], want: &[f64], part: &str| {
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (g, r)) in got.iter().zip(want).enumerate() {
                assert!(
                    (*g as f64 - r).abs() <= 1e-5 * scale,
                    "{what} {part}[{i}]: {g} vs {r} (max {scale})"
                );
            }
        };
        let x: Vec<f32> = (0..3 * w * k).map(|i| val(i + 5)).collect();
        let dy: Vec<f32> = (0..3 * wo * f).map(|i| val(i + 11)).collect();
        let (y3, dx3) = run(3, &x, &dy);
        for b in 0..3 {
            let (xb, dyb) = (&x[b * w * k..][..w * k], &dy[b * wo * f..][..wo * f]);
            let (y_ref, dx_ref) = direct(xb, dyb);
            let (y1, dx1) = run(1, xb, dyb);
            close(&y1, &y_ref, "forward");
            close(&dx1, &dx_ref, "input gradient");
            // Alone and in a batch of three: the same bits.
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&y1),
                bits(&y3[b * wo * f..][..wo * f]),
                "{what} forward in a batch"
            );
            assert_eq!(
                bits(&dx1),
                bits(&dx3[b * w * k..][..w * k]),
                "{what} gradient in a batch"
            );
        }
    }

    /// Forward and input gradient against a float64 direct sum: dilations 1,
    /// 2, 5 and 64, same and valid padding, widths that are not multiples
    /// of 4d, K 16 → F 24 and 64 → 64; an item alone and in a batch of
    /// three give the same bits.
    #[test]
    fn forward_and_gradient_give_the_direct_sums() {
        for (k, f) in [(16, 24), (64, 64)] {
            for (w, dil) in [(37, 1), (103, 2), (211, 5), (601, 64)] {
                for padding in [Padding::Same, Padding::Valid] {
                    check(k, f, w, dil, padding);
                }
            }
        }
        // More tiles than a chunk holds.
        check(16, 16, 2003, 3, Padding::Valid);
        // A wide layer: chunks of MIN_CHUNK_TILES, past the L2 bound.
        let p = Pass::new(256, 200, 1000, 1000, 2, 2, Span::all(1000), |_, _, _| 0.0);
        assert!(p.chunk == MIN_CHUNK_TILES && p.bases.len() > p.chunk);
        check(256, 200, 1000, 2, Padding::Same);
    }

    /// Which shapes take the path: a tower's 3-tap convolutions; not
    /// another kernel size or stride, too few channels or positions, or a
    /// wide layer over few positions (where one direct product for the
    /// batch is as fast).
    #[test]
    fn takes_towers_not_wide_layers_over_few_positions() {
        let s = |k_in, filters, w_out, kernel_size, stride| ConvShape {
            k_in,
            filters,
            w_in: w_out * stride,
            w_out,
            kernel_size,
            dilation: 4,
            stride,
        };
        assert!(takes(&s(64, 64, 2114, 3, 1)));
        assert!(takes(&s(768, 768, 256, 3, 1)));
        assert!(takes(&s(16, 16, 16, 3, 1)));
        assert!(!takes(&s(768, 768, 64, 3, 1)));
        assert!(!takes(&s(64, 64, 2114, 5, 1)));
        assert!(!takes(&s(64, 64, 2114, 3, 2)));
        assert!(!takes(&s(8, 64, 2114, 3, 1)));
        assert!(!takes(&s(64, 64, 15, 3, 1)));
    }

    /// The tiles cover every output once, for any width and dilation.
    #[test]
    fn tiles_cover_every_output_once() {
        for d in [1, 2, 3, 7, 64, 128] {
            for w_out in [1, 4, 5, 4 * d - 1, 4 * d, 4 * d + 1, 1000] {
                let p = Pass::new(1, 1, w_out, w_out, d, 0, Span::all(w_out), |_, _, _| 0.0);
                let mut seen = vec![0; w_out];
                for &b in &p.bases {
                    for i in 0..4 {
                        if b + i * d < w_out {
                            seen[b + i * d] += 1;
                        }
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "d {d} w_out {w_out}");
            }
        }
    }
}
