//! A kernel-size-3, stride-1 convolution by Winograd F(m,3): m outputs from
//! m + 2 products of K × F instead of 3m (the dilated towers of BPNet and
//! ChromBPNet: 64 → 64 channels, dilation 1..256). m = 6 (F(6,3)) unless
//! `DEEPRESOLVE_WINOGRAD=4` asks for F(4,3) ([`Tile`]).
//!
//! With interpolation points 0, ±1, ±2 (and ±1/2 for F(6,3)) and ∞, m
//! outputs of a correlation y_i = Σ_j g_j x_{i+j} (i < m, j < 3) are
//! y = Aᵀ[(G g) ⊙ (Bᵀ x)] over m + 2 inputs x. At dilation d a tile is the
//! outputs o, o+d, …, o+(m−1)d, reading the inputs (o − pad) + {0, d, …,
//! (m+1)d}. Tiles start at blk·md + r (r < d), in that order, so each
//! output belongs to one tile; outputs past the map are dropped and inputs
//! outside it read as zero.
//!
//! Per item and per chunk of tiles: the input transform V_ξ (tiles × K) for
//! the m + 2 points ξ, as many products M_ξ = V_ξ·U_ξ with U_ξ = (G w)_ξ
//! (K × F, made once; the engine's own FMA kernels in
//! [`crate::network::wino_gemm`], OpenBLAS's sgemm on the scalar path), and
//! the output transform Aᵀ M plus the bias (with a residual block's ReLU
//! and skip). The input gradient is a stride-1 convolution of dz by the
//! flipped, transposed kernel (W'_j = W_{2−j}ᵀ, F → K channels, pad
//! 2d − pad, from w_out to w_in positions) and runs the same way; in a
//! residual block the ReLU's gradient is taken as the input transform reads
//! dy. Each item runs alone through calls whose shapes depend on the layer
//! alone, so an item's bits do not depend on its batch-mates. The sums run
//! in another order than im2col's: a layer on this path has other last bits
//! than on the direct one (and F(6,3) others than F(4,3)).
use super::super::conv1d_spectral::ConvShape;
use super::super::grow;
use super::super::wino_gemm;
use super::activation;
#[cfg(target_arch = "x86_64")]
#[path = "conv1d_winograd_x256.rs"]
mod x256;
#[cfg(target_arch = "x86_64")]
#[path = "conv1d_winograd_x512.rs"]
mod x512;
use super::super::needed::Span;
pub use super::super::winograd_tile::Tile;
use crate::model::Activation;

/// G: row ξ gives U_ξ from the three taps.
fn g_of(tile: Tile) -> &'static [[f64; 3]] {
    match tile {
        Tile::F4 => &G4,
        Tile::F6 => &G6,
    }
}

/// The most points of any tile.
const MAX_POINTS: usize = 8;

/// F(4,3)'s Bᵀ: row ξ gives V_ξ from the six inputs of a tile.
#[cfg(test)]
const BT4: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
/// F(4,3)'s G.
const G4: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
/// F(4,3)'s Aᵀ: row i gives output i of a tile from M_0..M_5.
#[cfg(test)]
const AT4: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];
/// F(6,3)'s Bᵀ (points 0, 1, −1, 2, −2, 1/2, −1/2, ∞).
#[cfg(test)]
const BT6: [[f64; 8]; 8] = [
    [1.0, 0.0, -5.25, 0.0, 5.25, 0.0, -1.0, 0.0],
    [0.0, 1.0, 1.0, -4.25, -4.25, 1.0, 1.0, 0.0],
    [0.0, -1.0, 1.0, 4.25, -4.25, -1.0, 1.0, 0.0],
    [0.0, 0.5, 0.25, -2.5, -1.25, 2.0, 1.0, 0.0],
    [0.0, -0.5, 0.25, 2.5, -1.25, -2.0, 1.0, 0.0],
    [0.0, 2.0, 4.0, -2.5, -5.0, 0.5, 1.0, 0.0],
    [0.0, -2.0, 4.0, 2.5, -5.0, -0.5, 1.0, 0.0],
    [0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0],
];
/// F(6,3)'s G.
const G6: [[f64; 3]; 8] = [
    [1.0, 0.0, 0.0],
    [-2.0 / 9.0, -2.0 / 9.0, -2.0 / 9.0],
    [-2.0 / 9.0, 2.0 / 9.0, -2.0 / 9.0],
    [1.0 / 90.0, 1.0 / 45.0, 2.0 / 45.0],
    [1.0 / 90.0, -1.0 / 45.0, 2.0 / 45.0],
    [32.0 / 45.0, 16.0 / 45.0, 8.0 / 45.0],
    [32.0 / 45.0, -16.0 / 45.0, 8.0 / 45.0],
    [0.0, 0.0, 1.0],
];
/// F(6,3)'s Aᵀ.
#[cfg(test)]
const AT6: [[f64; 8]; 6] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 0.0],
    [0.0, 1.0, 1.0, 16.0, 16.0, 0.0625, 0.0625, 0.0],
    [0.0, 1.0, -1.0, 32.0, -32.0, 0.03125, -0.03125, 1.0],
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
/// On the AVX2 stages, where all of U takes at most `SMALL_U_BYTES` (64 →
/// 64 channels: 128 KB; it stays in L2 between chunks), V and M take
/// `SMALL_CHUNK_BYTES` (32 tiles at 64 channels). Measured on an AMD EPYC
/// core without AVX-512 (512 KB of L2), whole steps, best of eight
/// alternating runs: the ChromBPNet-shaped tower 140 item-steps/s at 32
/// tiles against 116–118 at 64–192 (its dilations 16–256 gained 15–20%),
/// bpnet-lite's BPNet the same (130–131) at 32, 96 and 192.
const SMALL_U_BYTES: usize = 256 << 10;
/// The same on the AVX-512 stages: 24 tiles at 64 channels. Since a tower's
/// blocks share their maps (`Scorer::share_tower_maps`), the maps stay in L2
/// and a chunk of 192 tiles (786 KB of V and M) pushes them out. Zen 4
/// (1 MB of L2), best of three alternating runs of `bench --conv fast
/// --batch 8`, chunks of 192 / 32 / 24 / 16 tiles: the ChromBPNet-shaped
/// tower 187 / 218 / 225 / 217 item-steps/s, bpnet-lite's BPNet (counts)
/// 216 / 222 / 223 / 220.
const SMALL_CHUNK_BYTES_X512: usize = 96 << 10;
const SMALL_CHUNK_BYTES: usize = 128 << 10;
const SMALL_MIN_TILES: usize = 12;

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

/// Tiles per chunk of a pass with n points, cin → cout channels, on `stages`.
fn chunk_tiles(n: usize, cin: usize, cout: usize, stages: Stages) -> usize {
    let f32s = std::mem::size_of::<f32>();
    let per_tile = n * (cin + cout) * f32s;
    let small_u = n * cin * cout * f32s <= SMALL_U_BYTES;
    match stages {
        Stages::Avx2 if small_u => (SMALL_CHUNK_BYTES / per_tile).max(SMALL_MIN_TILES),
        Stages::Avx512 if small_u => (SMALL_CHUNK_BYTES_X512 / per_tile).max(SMALL_MIN_TILES),
        _ => (CHUNK_BYTES / per_tile).max(MIN_CHUNK_TILES),
    }
}

/// One direction of the convolution: `cin` → `cout` channels, `w_in` → `w_out` positions.
#[derive(Debug)]
struct Pass {
    tile: Tile,
    cin: usize,
    cout: usize,
    w_in: usize,
    w_out: usize,
    d: usize,
    pad: isize,
    /// U_ξ for each of the tile's points ξ, each cin × cout.
    u: Vec<f32>,
    /// The outputs computed, [lo, hi): those the score reads (`needed.rs`);
    /// the others are written as zeros.
    lo: usize,
    hi: usize,
    /// Each tile's first output position, in the fixed order.
    bases: Vec<usize>,
    /// Tiles per chunk.
    chunk: usize,
    /// Which code runs the transforms.
    stages: Stages,
}

/// The transforms' code: the portable bodies (compiled for the widest
/// vectors the CPU has), or hand-written ones on AVX2 or AVX-512 vectors
/// (`conv1d_winograd_x256.rs`, `conv1d_winograd_x512.rs`); all give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stages {
    Portable,
    Avx2,
    Avx512,
}

impl Stages {
    /// The hand-written stages of the kernel path (`DEEPRESOLVE_SIMD` or
    /// the CPU) where they take these channels, else the portable ones.
    fn of(cin: usize, cout: usize) -> Stages {
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::simd::{current, SimdPath};
            match current() {
                SimdPath::Avx512 if x512::takes(cin, cout) => return Stages::Avx512,
                // Channels in whole AVX2 vectors but not AVX-512 ones (24,
                // 40, …) take the AVX2 stages on either path.
                SimdPath::Avx512 | SimdPath::Avx2 if x256::takes(cin, cout) => return Stages::Avx2,
                _ => {}
            }
        }
        let _ = (cin, cout);
        Stages::Portable
    }
}

impl Pass {
    /// `tap(j, c, f)`: the weight of tap j from input channel c to output
    /// channel f; outputs `span` computed.
    #[allow(clippy::too_many_arguments)]
    fn new(
        tile: Tile,
        cin: usize,
        cout: usize,
        w_in: usize,
        w_out: usize,
        d: usize,
        pad: isize,
        span: Span,
        tap: impl Fn(usize, usize, usize) -> f32,
    ) -> Pass {
        let n = tile.points();
        let mut u = vec![0f32; n * cin * cout];
        for (xi, g) in g_of(tile).iter().enumerate() {
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
        for blk in (lo..hi).step_by(tile.outs() * d) {
            for r in 0..d {
                if blk + r < hi {
                    bases.push(blk + r);
                }
            }
        }
        let stages = Stages::of(cin, cout);
        let chunk = chunk_tiles(n, cin, cout, stages);
        Pass {
            tile,
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
            stages,
        }
    }

    /// The input rows of the tile at `base` (None: outside the map, read
    /// as zeros; and past the tile's points).
    #[inline(always)]
    fn input_rows(&self, base: usize) -> [Option<usize>; MAX_POINTS] {
        let n = self.tile.points();
        let row = |k: usize| {
            let q = (base + k * self.d) as isize - self.pad;
            (k < n && q >= 0 && (q as usize) < self.w_in).then_some(q as usize)
        };
        [
            row(0),
            row(1),
            row(2),
            row(3),
            row(4),
            row(5),
            row(6),
            row(7),
        ]
    }

    /// How many of the tile's outputs are in the span.
    #[inline(always)]
    fn output_rows(&self, base: usize) -> usize {
        (0..self.tile.outs())
            .take_while(|&i| base + i * self.d < self.hi)
            .count()
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
        let (ci, co, n) = (self.cin, self.cout, self.tile.points());
        let chunk = self.chunk.min(self.bases.len()).max(1);
        grow(&mut s.v, n * chunk * ci);
        grow(&mut s.m, n * chunk * co);
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
            match self.stages {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Stages::of` checked the CPU and the channels; the
                // slices are as this function cut them.
                Stages::Avx512 => unsafe {
                    x512::input_stage(self, x, gate, bases, v, chunk, zero, zero_mask)
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as for AVX-512.
                Stages::Avx2 => unsafe {
                    x256::input_stage(self, x, gate, bases, v, chunk, zero, zero_mask)
                },
                _ => input_stage(self, x, gate, bases, v, chunk, zero, zero_mask),
            }
            for xi in 0..n {
                wino_gemm::product(
                    rows,
                    ci,
                    co,
                    &v[xi * chunk * ci..][..rows * ci],
                    &self.u[xi * ci * co..][..ci * co],
                    &mut m[xi * chunk * co..][..rows * co],
                );
            }
            match self.stages {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as for the input stage.
                Stages::Avx512 => unsafe {
                    x512::output_stage(self, bases, m, chunk, y, &mut epi, bias)
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as for the input stage.
                Stages::Avx2 => unsafe {
                    x256::output_stage(self, bases, m, chunk, y, &mut epi, bias)
                },
                _ => output_stage(self, bases, m, chunk, y, &mut epi, bias),
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

/// The epilogue's kinds, as the hand-written output stages take them (a
/// constant of their loops): y = v; y = ReLU(v) + skip, with the mask; y =
/// v + skip; y = v + dy where the skip's crop has the position.
const PLAIN: u8 = 0;
const RELU_ADD: u8 = 1;
const ADD: u8 = 2;
const SKIP: u8 = 3;

/// What a hand-written output stage's epilogue reads and writes besides y,
/// as pointers: the skip (or dy) from `left` on, over `n` positions (SKIP),
/// and the ReLU's mask (RELU_ADD).
#[derive(Clone, Copy)]
struct Sink {
    src: *const f32,
    left: usize,
    mask: *mut u16,
    n: usize,
}

impl Default for Sink {
    fn default() -> Sink {
        Sink {
            src: std::ptr::null(),
            left: 0,
            mask: std::ptr::null_mut(),
            n: 0,
        }
    }
}

impl Pass {
    /// Checks, for a hand-written input stage over the tiles at `bases`,
    /// that every slice holds what the stage reads or writes through its
    /// pointers: x's rows, the gate's words, V's block of `chunk` rows per
    /// point, a row of zeros and a row of zero words.
    #[allow(clippy::too_many_arguments)]
    fn check_input(
        &self,
        x: &[f32],
        gate: Option<&[u16]>,
        bases: &[usize],
        v: &[f32],
        chunk: usize,
        zero: &[f32],
        zero_mask: &[u16],
    ) {
        let (ci, words) = (self.cin, mask_words(self.cin));
        assert!(
            x.len() >= self.w_in * ci
                && v.len() >= self.tile.points() * chunk * ci
                && bases.len() <= chunk
        );
        assert!(zero.len() >= ci && zero_mask.len() >= words);
        if let Some(g) = gate {
            assert!(g.len() >= self.w_in * words);
        }
    }

    /// `epi`'s kind and its slices as a [`Sink`], for a hand-written output
    /// stage over the tiles at `bases`, after checking that every slice holds
    /// what the stage touches through its pointers (M's block of `chunk`
    /// rows per point, y's rows, the bias, the skip or dy rows it reads, a
    /// mask row for each output where there is a ReLU).
    #[allow(clippy::too_many_arguments)]
    fn sink_of(
        &self,
        bases: &[usize],
        m: &[f32],
        chunk: usize,
        y: &[f32],
        epi: &mut Epilogue,
        bias: &[f32],
    ) -> (u8, Sink) {
        let co = self.cout;
        let words = mask_words(co);
        assert!(
            m.len() >= self.tile.points() * chunk * co
                && y.len() >= self.w_out * co
                && bias.len() >= co
        );
        assert!(bases.len() <= chunk && self.hi <= self.w_out);
        match epi {
            Epilogue::Plain(_) => (PLAIN, Sink::default()),
            Epilogue::Residual {
                relu,
                skip,
                left,
                mask,
                ..
            } => {
                // The mask is written through a pointer: with a ReLU it
                // must hold every row of the span.
                assert!(
                    skip.len() >= (self.hi + *left) * co
                        && (!*relu || mask.len() >= self.hi * words)
                );
                let kind = if *relu { RELU_ADD } else { ADD };
                let sink = Sink {
                    src: skip.as_ptr(),
                    left: *left,
                    mask: mask.as_mut_ptr(),
                    n: 0,
                };
                (kind, sink)
            }
            Epilogue::Skip { dy, left, n } => {
                assert!(dy.len() >= *n * co);
                let sink = Sink {
                    src: dy.as_ptr(),
                    left: *left,
                    mask: std::ptr::null_mut(),
                    n: *n,
                };
                (SKIP, sink)
            }
        }
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

/// V (a block of `chunk` rows × cin per point) of the tiles at `bases`;
/// with a `gate` (a ReLU's mask, [`mask_words`] per row of x), x where the
/// gate's bit is set, else 0.
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
    match (p.tile, gate.is_some()) {
        (Tile::F4, false) => {
            input_tiles::<false, false>(p, x, gate, bases, v, chunk, zero, zero_mask)
        }
        (Tile::F4, true) => {
            input_tiles::<false, true>(p, x, gate, bases, v, chunk, zero, zero_mask)
        }
        (Tile::F6, false) => {
            input_tiles::<true, false>(p, x, gate, bases, v, chunk, zero, zero_mask)
        }
        (Tile::F6, true) => input_tiles::<true, true>(p, x, gate, bases, v, chunk, zero, zero_mask),
    }
}

/// [`input_stage_body`] for F(6,3) where SIX, else F(4,3), gated where GATE.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_tiles<const SIX: bool, const GATE: bool>(
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
    let stride = chunk * ci;
    let v = &mut v[..p.tile.points() * stride];
    let no_gate = [&zero_mask[..0]; MAX_POINTS];
    for (t, &base) in bases.iter().enumerate() {
        let rows = p.input_rows(base);
        let ins = tile_rows(x, zero, rows.map(|q| q.map(|q| q * ci)));
        let g = match gate {
            Some(g) if GATE => tile_rows(g, zero_mask, rows.map(|q| q.map(|q| q * mw))),
            _ => no_gate,
        };
        let at = t * ci;
        let mut c = 0;
        while c + LANES <= ci {
            input_lanes::<LANES, SIX, GATE>(ins, g, v, stride, at, c);
            c += LANES;
        }
        while c < ci {
            input_lanes::<1, SIX, GATE>(ins, g, v, stride, at, c);
            c += 1;
        }
    }
}

/// The input rows of a tile (zeros outside the map) at these offsets.
#[inline(always)]
fn tile_rows<'a, T>(
    x: &'a [T],
    zero: &'a [T],
    offs: [Option<usize>; MAX_POINTS],
) -> [&'a [T]; MAX_POINTS] {
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
        row(offs[6]),
        row(offs[7]),
    ]
}

/// The output rows of the tiles at `bases` from M (a block of `chunk`
/// rows × cout per point), through `epi`.
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
    match p.tile {
        Tile::F4 => output_tiles::<false>(p, bases, m, chunk, y, epi, bias),
        Tile::F6 => output_tiles::<true>(p, bases, m, chunk, y, epi, bias),
    }
}

/// `b[at..at + n]`, or b where it is empty (a point the tile lacks).
#[inline(always)]
fn part(b: &[f32], at: usize, n: usize) -> &[f32] {
    if b.is_empty() {
        b
    } else {
        &b[at..at + n]
    }
}

/// [`output_stage_body`] for F(6,3) where SIX, else F(4,3).
///
/// Sixteen channels at a time through arrays of the stack: with slices
/// LLVM could not rule out that y overlaps M and ran a scalar copy of the
/// loop behind a run-time check (a sixth of this stage's time).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_tiles<const SIX: bool>(
    p: &Pass,
    bases: &[usize],
    m: &[f32],
    chunk: usize,
    y: &mut [f32],
    epi: &mut Epilogue,
    bias: &[f32],
) {
    let (co, d, n) = (p.cout, p.d, p.tile.points());
    let block = |xi: usize| {
        if xi < n {
            &m[xi * chunk * co..][..chunk * co]
        } else {
            &m[..0]
        }
    };
    let mb: [&[f32]; MAX_POINTS] = [
        block(0),
        block(1),
        block(2),
        block(3),
        block(4),
        block(5),
        block(6),
        block(7),
    ];
    let bias = &bias[..co];
    for (t, &base) in bases.iter().enumerate() {
        let at = t * co;
        // Spelled out: `array::from_fn` here was a call per tile whose
        // stores the vector loads after it waited on.
        let ms: [&[f32]; MAX_POINTS] = [
            part(mb[0], at, co),
            part(mb[1], at, co),
            part(mb[2], at, co),
            part(mb[3], at, co),
            part(mb[4], at, co),
            part(mb[5], at, co),
            part(mb[6], at, co),
            part(mb[7], at, co),
        ];
        let rows = p.output_rows(base);
        p.prefetch_ahead(bases, t, epi, y);
        let mut c = 0;
        while c + LANES <= co {
            let vals = output_lanes::<LANES, SIX>(ms, bias, c);
            for (i, v) in vals.iter().enumerate().take(rows) {
                epi.apply(base + i * d, c, co, v, y);
            }
            c += LANES;
        }
        while c < co {
            let vals = output_lanes::<1, SIX>(ms, bias, c);
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

/// Rows i < 6 (F(6,3), SIX) or i < 4 (F(4,3); rows 4 and 5 unused) of
/// b + Aᵀ M for channels c..c + W.
#[inline(always)]
fn output_lanes<const W: usize, const SIX: bool>(
    m: [&[f32]; MAX_POINTS],
    b: &[f32],
    c: usize,
) -> [[f32; W]; 6] {
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
    let mut y = [[0f32; W]; 6];
    if SIX {
        let (m6, m7) = (lanes::<W>(m[6], c), lanes::<W>(m[7], c));
        for l in 0..W {
            let (s12, d12) = (m1[l] + m2[l], m1[l] - m2[l]);
            let (s34, d34) = (m3[l] + m4[l], m3[l] - m4[l]);
            let (s56, d56) = (m5[l] + m6[l], m5[l] - m6[l]);
            y[0][l] = b[l] + (((m0[l] + s12) + s34) + s56);
            y[1][l] = b[l] + ((d12 + 2.0 * d34) + 0.5 * d56);
            y[2][l] = b[l] + ((s12 + 4.0 * s34) + 0.25 * s56);
            y[3][l] = b[l] + ((d12 + 8.0 * d34) + 0.125 * d56);
            y[4][l] = b[l] + ((s12 + 16.0 * s34) + 0.0625 * s56);
            y[5][l] = b[l] + (((d12 + 32.0 * d34) + 0.03125 * d56) + m7[l]);
        }
    } else {
        for l in 0..W {
            let (s12, d12) = (m1[l] + m2[l], m1[l] - m2[l]);
            let (s34, d34) = (m3[l] + m4[l], m3[l] - m4[l]);
            y[0][l] = b[l] + ((m0[l] + s12) + s34);
            y[1][l] = b[l] + (d12 + 2.0 * d34);
            y[2][l] = b[l] + (s12 + 4.0 * s34);
            y[3][l] = b[l] + ((d12 + 8.0 * d34) + m5[l]);
        }
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

/// V_ξ = (Bᵀ x)_ξ for channels c..c + W of the tile whose rows start at
/// `at` in each point's block of v (`stride` apart): F(6,3) where SIX,
/// else F(4,3).
#[inline(always)]
fn input_lanes<const W: usize, const SIX: bool, const GATE: bool>(
    x: [&[f32]; MAX_POINTS],
    g: [&[u16]; MAX_POINTS],
    v: &mut [f32],
    stride: usize,
    at: usize,
    c: usize,
) {
    let x0 = gated::<W, GATE>(x[0], g[0], c);
    let x1 = gated::<W, GATE>(x[1], g[1], c);
    let x2 = gated::<W, GATE>(x[2], g[2], c);
    let x3 = gated::<W, GATE>(x[3], g[3], c);
    let x4 = gated::<W, GATE>(x[4], g[4], c);
    let x5 = gated::<W, GATE>(x[5], g[5], c);
    let mut r = [[0f32; W]; MAX_POINTS];
    let n = if SIX {
        let x6 = gated::<W, GATE>(x[6], g[6], c);
        let x7 = gated::<W, GATE>(x[7], g[7], c);
        for l in 0..W {
            let (a0, a1, a2, a3) = (x0[l], x1[l], x2[l], x3[l]);
            let (a4, a5, a6, a7) = (x4[l], x5[l], x6[l], x7[l]);
            r[0][l] = (a0 - a6) + 5.25 * (a4 - a2);
            r[7][l] = (a7 - a1) + 5.25 * (a3 - a5);
            let (t1, t2) = ((a2 + a6) - 4.25 * a4, (a1 + a5) - 4.25 * a3);
            r[1][l] = t1 + t2;
            r[2][l] = t1 - t2;
            let t3 = (0.25 * a2 + a6) - 1.25 * a4;
            let t4 = (0.5 * a1 - 2.5 * a3) + 2.0 * a5;
            r[3][l] = t3 + t4;
            r[4][l] = t3 - t4;
            let t5 = (4.0 * a2 + a6) - 5.0 * a4;
            let t6 = (2.0 * a1 - 2.5 * a3) + 0.5 * a5;
            r[5][l] = t5 + t6;
            r[6][l] = t5 - t6;
        }
        8
    } else {
        for l in 0..W {
            let (a0, a1, a2, a3, a4, a5) = (x0[l], x1[l], x2[l], x3[l], x4[l], x5[l]);
            r[0][l] = (4.0 * a0 - 5.0 * a2) + a4;
            r[1][l] = (a3 + a4) - 4.0 * (a1 + a2);
            r[2][l] = 4.0 * (a1 - a2) + (a4 - a3);
            r[3][l] = 2.0 * (a3 - a1) + (a4 - a2);
            r[4][l] = 2.0 * (a1 - a3) + (a4 - a2);
            r[5][l] = (4.0 * a1 - 5.0 * a3) + a5;
        }
        6
    };
    for (q, r) in r.iter().enumerate().take(n) {
        let dst: &mut [f32; W] = (&mut v[q * stride + at + c..][..W]).try_into().unwrap();
        *dst = *r;
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
        tile: Tile,
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
            fwd: Pass::new(tile, k, f, shape.w_in, shape.w_out, d, pad, outs, w),
            // dx[p, c] = Σ_j' W_{2−j'}[f, c] dz[p − (2d − pad) + j'd, f].
            bwd: Pass::new(
                tile,
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
        (self.fwd.tile.points() * self.fwd.bases.len() * self.k * self.f) as f64
    }

    /// The tile both directions run.
    pub fn tile(&self) -> Tile {
        self.fwd.tile
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{same_pad_left, Padding};

    /// Aᵀ[(G g) ⊙ (Bᵀ x)] is the correlation of m + 2 inputs with 3 taps,
    /// in float64, for both tiles.
    #[test]
    fn the_matrices_give_the_correlation() {
        let bt4: Vec<&[f64]> = BT4.iter().map(|r| &r[..]).collect();
        let at4: Vec<&[f64]> = AT4.iter().map(|r| &r[..]).collect();
        let bt6: Vec<&[f64]> = BT6.iter().map(|r| &r[..]).collect();
        let at6: Vec<&[f64]> = AT6.iter().map(|r| &r[..]).collect();
        for (tile, bt, at) in [(Tile::F4, &bt4, &at4), (Tile::F6, &bt6, &at6)] {
            let n = tile.points();
            let val = |i: usize| ((i * 7919 % 1000) as f64 - 500.0) / 313.0;
            for trial in 0..20 {
                let x: Vec<f64> = (0..n).map(|i| val(trial * 11 + i)).collect();
                let g: Vec<f64> = (0..3).map(|i| val(trial * 17 + i + 100)).collect();
                let u: Vec<f64> = g_of(tile)
                    .iter()
                    .map(|r| (0..3).map(|j| r[j] * g[j]).sum())
                    .collect();
                let v: Vec<f64> = bt
                    .iter()
                    .map(|r| (0..n).map(|s| r[s] * x[s]).sum())
                    .collect();
                for (i, a) in at.iter().enumerate() {
                    let got: f64 = (0..n).map(|xi| a[xi] * u[xi] * v[xi]).sum();
                    let want: f64 = (0..3).map(|j| g[j] * x[i + j]).sum();
                    assert!(
                        (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                        "{tile:?} {i}: {got} vs {want}"
                    );
                }
            }
        }
        // The hand-written transforms are Bᵀ and Aᵀ.
        transforms_are::<false>(&bt4, &at4);
        transforms_are::<true>(&bt6, &at6);
    }

    fn transforms_are<const SIX: bool>(bt: &[&[f64]], at: &[&[f64]]) {
        let n = bt.len();
        for s in 0..n {
            let mut unit = [[0f32; 1]; MAX_POINTS];
            unit[s][0] = 1.0;
            let mut v = vec![f32::NAN; n];
            input_lanes::<1, SIX, false>(
                unit.each_ref().map(|r| &r[..]),
                [&[]; MAX_POINTS],
                &mut v,
                1,
                0,
                0,
            );
            for xi in 0..n {
                assert_eq!(v[xi] as f64, bt[xi][s], "SIX {SIX} Bᵀ[{xi}][{s}]");
            }
        }
        for xi in 0..n {
            let mut unit = [[0f32; 1]; MAX_POINTS];
            unit[xi][0] = 1.0;
            let y = output_lanes::<1, SIX>(unit.each_ref().map(|r| &r[..]), &[0.0], 0);
            for (i, a) in at.iter().enumerate() {
                assert_eq!(y[i][0] as f64, a[xi], "SIX {SIX} Aᵀ[{i}][{xi}]");
            }
        }
    }

    fn check(tile: Tile, k: usize, f: usize, w: usize, dil: usize, padding: Padding) {
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
        let conv = WinogradConv::new(&shape, pad, Activation::Linear, &taps, &bias, all, tile);
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
        let what = format!("{tile:?} k {k} f {f} w {w} dilation {dil} {padding:?}");
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
        for tile in [Tile::F4, Tile::F6] {
            for (k, f) in [(16, 24), (64, 64)] {
                for (w, dil) in [(37, 1), (103, 2), (211, 5), (601, 64)] {
                    for padding in [Padding::Same, Padding::Valid] {
                        check(tile, k, f, w, dil, padding);
                    }
                }
            }
            // More tiles than a chunk holds.
            check(tile, 16, 16, 2003, 3, Padding::Valid);
            // A wide layer: chunks of MIN_CHUNK_TILES, past the L2 bound.
            let p = Pass::new(
                tile,
                256,
                200,
                1500,
                1500,
                2,
                2,
                Span::all(1500),
                |_, _, _| 0.0,
            );
            assert!(p.chunk == MIN_CHUNK_TILES && p.bases.len() > p.chunk);
            check(tile, 256, 200, 1500, 2, Padding::Same);
        }
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
        for tile in [Tile::F4, Tile::F6] {
            let m = tile.outs();
            for d in [1, 2, 3, 7, 64, 128] {
                for w_out in [1, 4, 5, m * d - 1, m * d, m * d + 1, 1000] {
                    let p = Pass::new(
                        tile,
                        1,
                        1,
                        w_out,
                        w_out,
                        d,
                        0,
                        Span::all(w_out),
                        |_, _, _| 0.0,
                    );
                    let mut seen = vec![0; w_out];
                    for &b in &p.bases {
                        for i in 0..p.output_rows(b) {
                            seen[b + i * d] += 1;
                        }
                    }
                    assert!(seen.iter().all(|&n| n == 1), "{tile:?} d {d} w_out {w_out}");
                }
            }
        }
    }

    /// The hand-written stages (AVX2, and AVX-512 where the CPU has it)
    /// give the portable ones' bits for every epilogue (plain with and
    /// without bias, a residual block with and without its ReLU and its
    /// mask, the skip of the input gradient with and without a gate) and
    /// both tiles, on a span that starts inside the map; for AVX2 also with
    /// channels that end in half a mask word (24).
    #[test]
    fn hand_written_stages_give_the_portable_bits_for_every_epilogue() {
        #[cfg(target_arch = "x86_64")]
        for (stages, c) in [
            (Stages::Avx2, 32usize),
            (Stages::Avx2, 24),
            (Stages::Avx512, 32),
        ] {
            let has = match stages {
                Stages::Avx512 => x512::takes(c, c),
                _ => x256::takes(c, c),
            };
            if !has {
                eprintln!("skipped {stages:?}: this CPU lacks its features");
                continue;
            }
            let val = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 997.0;
            let (w, d) = (300usize, 3usize);
            let mw = mask_words(c);
            let x: Vec<f32> = (0..w * c).map(|i| val(i + 3)).collect();
            let bias: Vec<f32> = (0..c).map(|i| val(i + 77) * 0.1).collect();
            let gate: Vec<u16> = (0..w * mw).map(|i| (i * 40503 % 65536) as u16).collect();
            for tile in [Tile::F4, Tile::F6] {
                let pass = |s: Stages| {
                    let mut p = Pass::new(
                        tile,
                        c,
                        c,
                        w,
                        w,
                        d,
                        d as isize,
                        Span { lo: 17, hi: 281 },
                        |j, a, b| val(j * 1000 + a * 37 + b) * 0.2,
                    );
                    p.stages = s;
                    p
                };
                // Chunks of 7 tiles against one of all ~45: the bits do not
                // depend on the chunk either.
                let (mut wide, mut portable) = (pass(stages), pass(Stages::Portable));
                wide.chunk = 7;
                portable.chunk = 192;
                for kind in 0..6 {
                    let run = |p: &Pass| {
                        let mut s = WinogradScratch::default();
                        let mut y = vec![f32::NAN; w * c];
                        let mut mask = vec![0xabcdu16; w * mw];
                        let epi = match kind {
                            0 => Epilogue::Plain(None),
                            1 => Epilogue::Plain(Some(&bias)),
                            2 | 3 => Epilogue::Residual {
                                bias: &bias,
                                relu: kind == 2,
                                skip: &x,
                                left: 0,
                                mask: &mut mask,
                            },
                            _ => Epilogue::Skip {
                                dy: &x,
                                left: 5,
                                n: w - 10,
                            },
                        };
                        let g = (kind == 5).then_some(&gate[..]);
                        p.run(&x, g, &mut y, epi, &mut s);
                        let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                        (bits, mask)
                    };
                    assert!(
                        run(&wide) == run(&portable),
                        "{stages:?} {c} channels {tile:?} epilogue {kind}"
                    );
                }
            }
        }
    }
}
