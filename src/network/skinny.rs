//! Products of a few rows against a large weight matrix: y = x·Wᵀ and
//! dx = g·W, with W (units × n_in) row-major, read from memory in place. The
//! rows are a small batch of items at a Dense layer, or one map's im2col rows
//! at a convolution.
//!
//! For 8–64 rows and a kernel that does not fit in cache (DeepSEA's 925 ×
//! 50,880), OpenBLAS's sgemm packs the whole kernel on every call and reaches
//! ~28 GFLOP/s at 8 rows and ~60 at 32 on one EPYC core, where the same
//! library does ~90 on square matrices. These FMA kernels read W once per
//! product (once per 32 rows in the forward one, 64 with AVX-512) with no
//! packing, and keep a tile of result vectors in registers. The AVX-512 ones
//! ([`SimdPath::Avx512`]) are the AVX2 ones on 16-float vectors: every output
//! is the same chain of fused multiply-adds in the same order, so both give
//! the same bits. The [`SimdPath::Scalar`] path, and shapes these kernels
//! don't help, use sgemm.
use super::simd::{self, SimdPath};

/// True when this process runs the kernels here (see [`simd::current`]).
pub fn available() -> bool {
    simd::current() != SimdPath::Scalar
}

/// Items per pass of the forward kernel: four vectors of eight (AVX2).
const FWD_ITEMS: usize = 32;
/// Items per pass of the AVX-512 forward kernel: four vectors of sixteen.
const FWD_ITEMS_512: usize = 64;
/// Inputs per packed block of xᵀ in the forward kernel (64 KB at 64 items: in L2).
const FWD_KC: usize = 256;

/// y (b × units) = x (b × n_in) · Wᵀ. `buf` is scratch. Call only if [`available`].
pub fn forward(
    w: &[f32],
    units: usize,
    n_in: usize,
    x: &[f32],
    b: usize,
    y: &mut [f32],
    buf: &mut Vec<f32>,
) {
    forward_on(simd::current(), w, units, n_in, x, b, y, buf)
}

/// [`forward`] on the kernels of `path` (not [`SimdPath::Scalar`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_on(
    path: SimdPath,
    w: &[f32],
    units: usize,
    n_in: usize,
    x: &[f32],
    b: usize,
    y: &mut [f32],
    buf: &mut Vec<f32>,
) {
    assert!(
        path != SimdPath::Scalar && path.available(),
        "skinny::forward on {} needs that path's CPU features",
        path.as_str()
    );
    assert!(w.len() >= units * n_in && x.len() >= b * n_in && y.len() >= b * units);
    let wide = path == SimdPath::Avx512;
    let items = if wide { FWD_ITEMS_512 } else { FWD_ITEMS };
    let mut i0 = 0;
    while i0 < b {
        let bc = items.min(b - i0);
        // Up to 8 items fill one AVX2 vector; a 16-float one would be half padding.
        let lanes = if wide && bc > 8 { 16 } else { 8 };
        let bv = bc.div_ceil(lanes);
        let bpad = lanes * bv;
        let need = FWD_KC * bpad + units * bpad;
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        let (xt, yt) = buf.split_at_mut(FWD_KC * bpad);
        let yt = &mut yt[..units * bpad];
        yt.fill(0.0);
        let xs = &x[i0 * n_in..(i0 + bc) * n_in];
        let mut k0 = 0;
        while k0 < n_in {
            let kc = FWD_KC.min(n_in - k0);
            // xᵀ block, padded with zero items to whole vectors.
            for kk in 0..kc {
                let row = &mut xt[kk * bpad..(kk + 1) * bpad];
                for (i, v) in row.iter_mut().enumerate() {
                    *v = if i < bc { xs[i * n_in + k0 + kk] } else { 0.0 };
                }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: path.available() checked the CPU features (AVX-512F
            // for 16 lanes, AVX2+FMA always); the asserts above bound every index.
            unsafe {
                match (lanes, bv) {
                    (8, 1) => x86::fwd_block::<10, 1>(w, units, n_in, k0, kc, xt, yt),
                    (8, 2) => x86::fwd_block::<5, 2>(w, units, n_in, k0, kc, xt, yt),
                    (8, 3) => x86::fwd_block::<3, 3>(w, units, n_in, k0, kc, xt, yt),
                    (8, _) => x86::fwd_block::<2, 4>(w, units, n_in, k0, kc, xt, yt),
                    (_, 1) => x512::fwd_block::<16, 1>(w, units, n_in, k0, kc, xt, yt),
                    (_, 2) => x512::fwd_block::<12, 2>(w, units, n_in, k0, kc, xt, yt),
                    (_, 3) => x512::fwd_block::<8, 3>(w, units, n_in, k0, kc, xt, yt),
                    _ => x512::fwd_block::<6, 4>(w, units, n_in, k0, kc, xt, yt),
                }
            }
            k0 += kc;
        }
        for i in 0..bc {
            let yi = &mut y[(i0 + i) * units..(i0 + i + 1) * units];
            for (u, v) in yi.iter_mut().enumerate() {
                *v = yt[u * bpad + i];
            }
        }
        i0 += bc;
    }
}

/// dx (b × n_in) = g (b × units) · W. Call only if [`available`].
pub fn backward(w: &[f32], units: usize, n_in: usize, g: &[f32], b: usize, dx: &mut [f32]) {
    backward_on(simd::current(), w, units, n_in, g, b, dx)
}

/// [`backward`] on the kernels of `path` (not [`SimdPath::Scalar`]).
pub(crate) fn backward_on(
    path: SimdPath,
    w: &[f32],
    units: usize,
    n_in: usize,
    g: &[f32],
    b: usize,
    dx: &mut [f32],
) {
    assert!(
        path != SimdPath::Scalar && path.available(),
        "skinny::backward on {} needs that path's CPU features",
        path.as_str()
    );
    assert!(w.len() >= units * n_in && g.len() >= b * units && dx.len() >= b * n_in);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: path.available() checked the CPU features; the asserts above bound every index.
    unsafe {
        let k0 = if path == SimdPath::Avx512 {
            x512::bwd(w, units, n_in, g, b, dx)
        } else {
            x86::bwd(w, units, n_in, g, b, dx)
        };
        bwd_tail(w, units, n_in, g, b, dx, k0);
    }
}

/// dx[·, k0..] for the last n_in % 16 inputs, which the vector tiles leave:
/// one plain sum per output, in the same order on every path.
fn bwd_tail(w: &[f32], units: usize, n_in: usize, g: &[f32], b: usize, dx: &mut [f32], k0: usize) {
    for i in 0..b {
        for k in k0..n_in {
            let mut s = 0.0f32;
            for u in 0..units {
                s += g[i * units + u] * w[u * n_in + k];
            }
            dx[i * n_in + k] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// yt (units × 8·BV) += W[:, k0..k0+kc] · xt, UT units × BV vectors of items at a time.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fwd_block<const UT: usize, const BV: usize>(
        w: &[f32],
        units: usize,
        n_in: usize,
        k0: usize,
        kc: usize,
        xt: &[f32],
        yt: &mut [f32],
    ) {
        let bpad = 8 * BV;
        let mut u0 = 0;
        while u0 + UT <= units {
            fwd_tile::<UT, BV>(w, n_in, u0, k0, kc, xt, yt);
            u0 += UT;
        }
        while u0 < units {
            fwd_tile::<1, BV>(w, n_in, u0, k0, kc, xt, yt);
            u0 += 1;
        }
        debug_assert!(yt.len() >= units * bpad);
    }

    #[inline(always)]
    unsafe fn fwd_tile<const UT: usize, const BV: usize>(
        w: &[f32],
        n_in: usize,
        u0: usize,
        k0: usize,
        kc: usize,
        xt: &[f32],
        yt: &mut [f32],
    ) {
        let bpad = 8 * BV;
        let yp = yt.as_mut_ptr().add(u0 * bpad);
        let mut acc = [[_mm256_setzero_ps(); BV]; UT];
        for (t, a) in acc.iter_mut().enumerate() {
            for (j, v) in a.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(yp.add(t * bpad + 8 * j));
            }
        }
        let wp = w.as_ptr().add(u0 * n_in + k0);
        // The next tile's rows, fetched a tile ahead: each row is a separate
        // stream and a tile reads only `kc` floats of it.
        let next = wp.wrapping_add(UT * n_in);
        let xp = xt.as_ptr();
        let mut kk = 0;
        while kk + 16 <= kc {
            for t in 0..UT {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(t * n_in + kk) as *const i8);
            }
            for d in 0..16 {
                fwd_step::<UT, BV>(wp, n_in, xp, kk + d, &mut acc);
            }
            kk += 16;
        }
        while kk < kc {
            fwd_step::<UT, BV>(wp, n_in, xp, kk, &mut acc);
            kk += 1;
        }
        for (t, a) in acc.iter().enumerate() {
            for (j, v) in a.iter().enumerate() {
                _mm256_storeu_ps(yp.add(t * bpad + 8 * j), *v);
            }
        }
    }

    /// acc[t] += W[u0+t, k] · xt[k, ·] for one input k (a closure here would
    /// lose the target features and call every intrinsic).
    #[inline(always)]
    unsafe fn fwd_step<const UT: usize, const BV: usize>(
        wp: *const f32,
        n_in: usize,
        xp: *const f32,
        kk: usize,
        acc: &mut [[__m256; BV]; UT],
    ) {
        let mut xv = [_mm256_setzero_ps(); BV];
        for (j, v) in xv.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(xp.add(kk * 8 * BV + 8 * j));
        }
        for (t, a) in acc.iter_mut().enumerate() {
            let wb = _mm256_broadcast_ss(&*wp.add(t * n_in + kk));
            for (j, v) in a.iter_mut().enumerate() {
                *v = _mm256_fmadd_ps(wb, xv[j], *v);
            }
        }
    }

    /// Inputs per tile of the backward kernel: two vectors, one cache line.
    const BWD_KT: usize = 16;
    /// Items per tile of the backward kernel: 6 × 2 accumulators, 2 of W, 1 broadcast.
    const BWD_BT: usize = 6;

    /// dx[·, ..k] for the inputs in whole tiles of 16; returns k.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bwd(
        w: &[f32],
        units: usize,
        n_in: usize,
        g: &[f32],
        b: usize,
        dx: &mut [f32],
    ) -> usize {
        let mut k0 = 0;
        while k0 + BWD_KT <= n_in {
            let mut u0 = 0;
            while u0 < units {
                let u1 = (u0 + BWD_UB).min(units);
                let t = Tile {
                    units,
                    n_in,
                    k0,
                    u0,
                    u1,
                };
                // Tiles of 6 items; a remainder of 1–3 is merged with one
                // full tile and split in two (8 = 4 + 4, not 6 + 2): a tile of
                // fewer than 4 items has fewer than 8 independent accumulators
                // and waits on the FMA latency.
                let r = b % BWD_BT;
                let full = if r > 0 && r < 4 && b > BWD_BT {
                    b / BWD_BT - 1
                } else {
                    b / BWD_BT
                };
                let mut i0 = 0;
                for _ in 0..full {
                    bwd_tile::<BWD_BT>(w, g, dx, &t, i0);
                    i0 += BWD_BT;
                }
                while i0 < b {
                    let left = b - i0;
                    let n = if left > 5 { left - left / 2 } else { left };
                    match n {
                        5 => bwd_tile::<5>(w, g, dx, &t, i0),
                        4 => bwd_tile::<4>(w, g, dx, &t, i0),
                        3 => bwd_tile::<3>(w, g, dx, &t, i0),
                        2 => bwd_tile::<2>(w, g, dx, &t, i0),
                        _ => bwd_tile::<1>(w, g, dx, &t, i0),
                    }
                    i0 += n;
                }
                u0 = u1;
            }
            k0 += BWD_KT;
        }
        k0
    }

    /// Rows of W per pass of the backward kernel: their 16-float pieces (16 KB)
    /// stay in L1 while every item tile uses them.
    const BWD_UB: usize = 256;

    struct Tile {
        units: usize,
        n_in: usize,
        k0: usize,
        u0: usize,
        u1: usize,
    }

    /// dx[i0..i0+BT, k0..k0+16] (+)= Σ_{u0 ≤ u < u1} g[i, u] · W[u, k0..k0+16],
    /// summing over u in order whatever the blocking. The first item tile
    /// prefetches the next-but-one k-tile of its rows: W is walked down its
    /// columns here, which the hardware prefetcher cannot follow.
    #[inline(always)]
    unsafe fn bwd_tile<const BT: usize>(w: &[f32], g: &[f32], dx: &mut [f32], t: &Tile, i0: usize) {
        let Tile {
            units,
            n_in,
            k0,
            u0,
            u1,
        } = *t;
        let mut acc = [[_mm256_setzero_ps(); 2]; BT];
        if u0 > 0 {
            for (i, a) in acc.iter_mut().enumerate() {
                let d = dx.as_ptr().add((i0 + i) * n_in + k0);
                a[0] = _mm256_loadu_ps(d);
                a[1] = _mm256_loadu_ps(d.add(8));
            }
        }
        let wp = w.as_ptr().add(k0);
        let gp = g.as_ptr().add(i0 * units);
        let ahead = if i0 == 0 && k0 + 3 * BWD_KT <= n_in {
            2 * BWD_KT
        } else {
            0
        };
        for u in u0..u1 {
            let wr = wp.add(u * n_in);
            if ahead > 0 {
                _mm_prefetch::<_MM_HINT_T1>(wr.add(ahead) as *const i8);
            }
            let w0 = _mm256_loadu_ps(wr);
            let w1 = _mm256_loadu_ps(wr.add(8));
            for (i, a) in acc.iter_mut().enumerate() {
                let gb = _mm256_broadcast_ss(&*gp.add(i * units + u));
                a[0] = _mm256_fmadd_ps(gb, w0, a[0]);
                a[1] = _mm256_fmadd_ps(gb, w1, a[1]);
            }
        }
        for (i, a) in acc.iter().enumerate() {
            let d = dx.as_mut_ptr().add((i0 + i) * n_in + k0);
            _mm256_storeu_ps(d, a[0]);
            _mm256_storeu_ps(d.add(8), a[1]);
        }
    }
}

/// The AVX2 kernels on 16-float vectors. Each output is the same chain of
/// fused multiply-adds as there (over k in order in the forward one, over u
/// in order in the backward one), so the bits are the same; only the tiles
/// are larger: 32 registers hold 24 accumulators.
#[cfg(target_arch = "x86_64")]
mod x512 {
    use std::arch::x86_64::*;

    /// yt (units × 16·BV) += W[:, k0..k0+kc] · xt, UT units × BV vectors of items at a time.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn fwd_block<const UT: usize, const BV: usize>(
        w: &[f32],
        units: usize,
        n_in: usize,
        k0: usize,
        kc: usize,
        xt: &[f32],
        yt: &mut [f32],
    ) {
        let bpad = 16 * BV;
        debug_assert!(yt.len() >= units * bpad && xt.len() >= kc * bpad);
        let mut u0 = 0;
        while u0 + UT <= units {
            fwd_tile::<UT, BV>(w, n_in, u0, k0, kc, xt, yt);
            u0 += UT;
        }
        while u0 < units {
            fwd_tile::<1, BV>(w, n_in, u0, k0, kc, xt, yt);
            u0 += 1;
        }
    }

    #[inline(always)]
    unsafe fn fwd_tile<const UT: usize, const BV: usize>(
        w: &[f32],
        n_in: usize,
        u0: usize,
        k0: usize,
        kc: usize,
        xt: &[f32],
        yt: &mut [f32],
    ) {
        let bpad = 16 * BV;
        let yp = yt.as_mut_ptr().add(u0 * bpad);
        let mut acc = [[_mm512_setzero_ps(); BV]; UT];
        for (t, a) in acc.iter_mut().enumerate() {
            for (j, v) in a.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(yp.add(t * bpad + 16 * j));
            }
        }
        let wp = w.as_ptr().add(u0 * n_in + k0);
        let next = wp.wrapping_add(UT * n_in);
        let xp = xt.as_ptr();
        let mut kk = 0;
        while kk + 16 <= kc {
            for t in 0..UT {
                _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(t * n_in + kk) as *const i8);
            }
            for d in 0..16 {
                fwd_step::<UT, BV>(wp, n_in, xp, kk + d, &mut acc);
            }
            kk += 16;
        }
        while kk < kc {
            fwd_step::<UT, BV>(wp, n_in, xp, kk, &mut acc);
            kk += 1;
        }
        for (t, a) in acc.iter().enumerate() {
            for (j, v) in a.iter().enumerate() {
                _mm512_storeu_ps(yp.add(t * bpad + 16 * j), *v);
            }
        }
    }

    #[inline(always)]
    unsafe fn fwd_step<const UT: usize, const BV: usize>(
        wp: *const f32,
        n_in: usize,
        xp: *const f32,
        kk: usize,
        acc: &mut [[__m512; BV]; UT],
    ) {
        let mut xv = [_mm512_setzero_ps(); BV];
        for (j, v) in xv.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(xp.add(kk * 16 * BV + 16 * j));
        }
        for (t, a) in acc.iter_mut().enumerate() {
            let wb = _mm512_set1_ps(*wp.add(t * n_in + kk));
            for (j, v) in a.iter_mut().enumerate() {
                *v = _mm512_fmadd_ps(wb, xv[j], *v);
            }
        }
    }

    /// Items per tile of the backward kernel: 12 × 2 accumulators, 2 of W, 1 broadcast.
    const BWD_BT: usize = 12;
    /// Rows of W per pass: their 32-float pieces (16 KB) stay in L1.
    const BWD_UB: usize = 128;

    /// dx[·, ..k] for the inputs in whole tiles of 16 (two vectors per tile
    /// while 32 are left, then one); returns k.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn bwd(
        w: &[f32],
        units: usize,
        n_in: usize,
        g: &[f32],
        b: usize,
        dx: &mut [f32],
    ) -> usize {
        let mut k0 = 0;
        while k0 + 32 <= n_in {
            bwd_columns::<2>(w, units, n_in, g, b, dx, k0);
            k0 += 32;
        }
        if k0 + 16 <= n_in {
            bwd_columns::<1>(w, units, n_in, g, b, dx, k0);
            k0 += 16;
        }
        k0
    }

    struct Tile {
        units: usize,
        n_in: usize,
        k0: usize,
        u0: usize,
        u1: usize,
    }

    /// dx[·, k0..k0+16·V], every item, summing over u in blocks of [`BWD_UB`].
    #[inline(always)]
    unsafe fn bwd_columns<const V: usize>(
        w: &[f32],
        units: usize,
        n_in: usize,
        g: &[f32],
        b: usize,
        dx: &mut [f32],
        k0: usize,
    ) {
        let mut u0 = 0;
        while u0 < units {
            let u1 = (u0 + BWD_UB).min(units);
            let t = Tile {
                units,
                n_in,
                k0,
                u0,
                u1,
            };
            // Tiles of 12 items; a remainder under 6 is merged with one full
            // tile and split in two, so no tile waits on the FMA latency.
            let r = b % BWD_BT;
            let full = if r > 0 && r < 6 && b > BWD_BT {
                b / BWD_BT - 1
            } else {
                b / BWD_BT
            };
            let mut i0 = 0;
            for _ in 0..full {
                bwd_tile::<BWD_BT, V>(w, g, dx, &t, i0);
                i0 += BWD_BT;
            }
            while i0 < b {
                let left = b - i0;
                let n = if left > 11 { left - left / 2 } else { left };
                match n {
                    11 => bwd_tile::<11, V>(w, g, dx, &t, i0),
                    10 => bwd_tile::<10, V>(w, g, dx, &t, i0),
                    9 => bwd_tile::<9, V>(w, g, dx, &t, i0),
                    8 => bwd_tile::<8, V>(w, g, dx, &t, i0),
                    7 => bwd_tile::<7, V>(w, g, dx, &t, i0),
                    6 => bwd_tile::<6, V>(w, g, dx, &t, i0),
                    5 => bwd_tile::<5, V>(w, g, dx, &t, i0),
                    4 => bwd_tile::<4, V>(w, g, dx, &t, i0),
                    3 => bwd_tile::<3, V>(w, g, dx, &t, i0),
                    2 => bwd_tile::<2, V>(w, g, dx, &t, i0),
                    _ => bwd_tile::<1, V>(w, g, dx, &t, i0),
                }
                i0 += n;
            }
            u0 = u1;
        }
    }

    /// dx[i0..i0+BT, k0..k0+16·V] (+)= Σ_{u0 ≤ u < u1} g[i, u] · W[u, k0..],
    /// over u in order; the first item tile prefetches its rows' next piece.
    #[inline(always)]
    unsafe fn bwd_tile<const BT: usize, const V: usize>(
        w: &[f32],
        g: &[f32],
        dx: &mut [f32],
        t: &Tile,
        i0: usize,
    ) {
        let Tile {
            units,
            n_in,
            k0,
            u0,
            u1,
        } = *t;
        let mut acc = [[_mm512_setzero_ps(); V]; BT];
        if u0 > 0 {
            for (i, a) in acc.iter_mut().enumerate() {
                let d = dx.as_ptr().add((i0 + i) * n_in + k0);
                for (j, v) in a.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(d.add(16 * j));
                }
            }
        }
        let wp = w.as_ptr().add(k0);
        let gp = g.as_ptr().add(i0 * units);
        let ahead = if i0 == 0 && k0 + 3 * 16 * V <= n_in {
            2 * 16 * V
        } else {
            0
        };
        for u in u0..u1 {
            let wr = wp.add(u * n_in);
            if ahead > 0 {
                _mm_prefetch::<_MM_HINT_T1>(wr.add(ahead) as *const i8);
                if V == 2 {
                    _mm_prefetch::<_MM_HINT_T1>(wr.add(ahead + 16) as *const i8);
                }
            }
            let mut wv = [_mm512_setzero_ps(); V];
            for (j, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(wr.add(16 * j));
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let gb = _mm512_set1_ps(*gp.add(i * units + u));
                for (j, v) in a.iter_mut().enumerate() {
                    *v = _mm512_fmadd_ps(gb, wv[j], *v);
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            let d = dx.as_mut_ptr().add((i0 + i) * n_in + k0);
            for (j, v) in a.iter().enumerate() {
                _mm512_storeu_ps(d.add(16 * j), *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(w: &[f32], units: usize, n_in: usize, x: &[f32], b: usize) -> Vec<f32> {
        let mut y = vec![0.0; b * units];
        for i in 0..b {
            for u in 0..units {
                y[i * units + u] = (0..n_in)
                    .map(|k| x[i * n_in + k] as f64 * w[u * n_in + k] as f64)
                    .sum::<f64>() as f32;
            }
        }
        y
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn paths() -> Vec<SimdPath> {
        [SimdPath::Avx2, SimdPath::Avx512]
            .into_iter()
            .filter(|p| p.available())
            .collect()
    }

    #[test]
    fn match_a_plain_product_for_every_tile_and_edge() {
        let paths = paths();
        if paths.is_empty() {
            eprintln!("skipped: this CPU lacks AVX2/FMA, the kernels are not used");
            return;
        }
        if paths.len() == 1 {
            eprintln!("this CPU lacks AVX-512F: only the AVX2 kernels are checked");
        }
        let mut buf = Vec::new();
        for &(units, n_in) in &[
            (1, 1),
            (7, 23),
            (13, 25),
            (37, 1100),
            (5, 48),
            (17, 40),
            (29, 63),
        ] {
            for b in [
                1, 2, 3, 4, 5, 8, 9, 12, 13, 16, 17, 24, 25, 31, 32, 33, 40, 48, 49, 64, 65, 70,
                130,
            ] {
                let w = data(units * n_in, 1 + units as u32);
                let x = data(b * n_in, 7 + b as u32);
                let g = data(b * units, 11 + b as u32);
                // dx = g·W is the forward product with Wᵀ.
                let mut wt = vec![0.0; units * n_in];
                for u in 0..units {
                    for k in 0..n_in {
                        wt[k * units + u] = w[u * n_in + k];
                    }
                }
                let want_y = reference(&w, units, n_in, &x, b);
                let want_dx = reference(&wt, n_in, units, &g, b);
                let mut got = Vec::new();
                for &p in &paths {
                    let mut y = vec![f32::NAN; b * units];
                    forward_on(p, &w, units, n_in, &x, b, &mut y, &mut buf);
                    for (a, e) in y.iter().zip(&want_y) {
                        assert!(
                            (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                            "{} forward {units}×{n_in} b={b}: {a} vs {e}",
                            p.as_str()
                        );
                    }
                    let mut dx = vec![f32::NAN; b * n_in];
                    backward_on(p, &w, units, n_in, &g, b, &mut dx);
                    for (a, e) in dx.iter().zip(&want_dx) {
                        assert!(
                            (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                            "{} backward {units}×{n_in} b={b}: {a} vs {e}",
                            p.as_str()
                        );
                    }
                    // An item's bits do not depend on its batch-mates: item
                    // b−1 alone gives what it gave in the batch.
                    let last = b - 1;
                    let mut y1 = vec![f32::NAN; units];
                    forward_on(p, &w, units, n_in, &x[last * n_in..], 1, &mut y1, &mut buf);
                    assert_eq!(
                        bits(&y1),
                        bits(&y[last * units..]),
                        "{} forward {units}×{n_in}: item {last} of {b} alone",
                        p.as_str()
                    );
                    let mut d1 = vec![f32::NAN; n_in];
                    backward_on(p, &w, units, n_in, &g[last * units..], 1, &mut d1);
                    assert_eq!(
                        bits(&d1),
                        bits(&dx[last * n_in..]),
                        "{} backward {units}×{n_in}: item {last} of {b} alone",
                        p.as_str()
                    );
                    got.push((bits(&y), bits(&dx)));
                }
                // Same sums in the same order: AVX-512 gives AVX2's bits.
                for (p, g) in paths.iter().zip(&got).skip(1) {
                    assert!(
                        g == &got[0],
                        "{} and {} differ at {units}×{n_in} b={b}",
                        p.as_str(),
                        paths[0].as_str()
                    );
                }
            }
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }
}
