//! Products of a few rows against a large weight matrix: y = x·Wᵀ and
//! dx = g·W, with W (units × n_in) row-major, read from memory in place. The
//! rows are a small batch of items at a Dense layer, or one map's im2col rows
//! at a convolution.
//!
//! For 8–64 rows and a kernel that does not fit in cache (DeepSEA's 925 ×
//! 50,880), OpenBLAS's sgemm packs the whole kernel on every call and reaches
//! ~28 GFLOP/s at 8 rows and ~60 at 32 on one EPYC core, where the same
//! library does ~90 on square matrices. These AVX2/FMA kernels read W once per
//! product (once per 32 rows in the forward one) with no packing, and keep a
//! tile of 8–12 result vectors in registers. CPUs without AVX2/FMA, and shapes
//! these kernels don't help, use sgemm.

/// True when this CPU can run the kernels here.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Items per pass of the forward kernel: four vectors of eight.
const FWD_ITEMS: usize = 32;
/// Inputs per packed block of xᵀ in the forward kernel (64 KB at 32 items: in L2).
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
    assert!(available(), "skinny::forward needs AVX2 and FMA");
    assert!(w.len() >= units * n_in && x.len() >= b * n_in && y.len() >= b * units);
    let mut i0 = 0;
    while i0 < b {
        let bc = FWD_ITEMS.min(b - i0);
        let bv = bc.div_ceil(8);
        let bpad = 8 * bv;
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
            // SAFETY: available() checked AVX2+FMA; the asserts above bound every index.
            unsafe {
                match bv {
                    1 => x86::fwd_block::<10, 1>(w, units, n_in, k0, kc, xt, yt),
                    2 => x86::fwd_block::<5, 2>(w, units, n_in, k0, kc, xt, yt),
                    3 => x86::fwd_block::<3, 3>(w, units, n_in, k0, kc, xt, yt),
                    _ => x86::fwd_block::<2, 4>(w, units, n_in, k0, kc, xt, yt),
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
    assert!(available(), "skinny::backward needs AVX2 and FMA");
    assert!(w.len() >= units * n_in && g.len() >= b * units && dx.len() >= b * n_in);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: available() checked AVX2+FMA; the asserts above bound every index.
    unsafe {
        x86::bwd(w, units, n_in, g, b, dx)
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

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bwd(w: &[f32], units: usize, n_in: usize, g: &[f32], b: usize, dx: &mut [f32]) {
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
        // The last n_in % 16 inputs.
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

    #[test]
    fn match_a_plain_product_for_every_tile_and_edge() {
        if !available() {
            eprintln!("skipped: this CPU lacks AVX2/FMA, the kernels are not used");
            return;
        }
        let mut buf = Vec::new();
        for &(units, n_in) in &[(1, 1), (7, 23), (13, 25), (37, 1100), (5, 48)] {
            for b in [1, 2, 3, 4, 5, 8, 9, 16, 17, 24, 31, 32, 33, 70] {
                let w = data(units * n_in, 1 + units as u32);
                let x = data(b * n_in, 7 + b as u32);
                let mut y = vec![f32::NAN; b * units];
                forward(&w, units, n_in, &x, b, &mut y, &mut buf);
                let want = reference(&w, units, n_in, &x, b);
                for (a, e) in y.iter().zip(&want) {
                    assert!(
                        (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "forward {units}×{n_in} b={b}: {a} vs {e}"
                    );
                }
                // dx = g·W is the forward product with Wᵀ.
                let g = data(b * units, 11 + b as u32);
                let mut wt = vec![0.0; units * n_in];
                for u in 0..units {
                    for k in 0..n_in {
                        wt[k * units + u] = w[u * n_in + k];
                    }
                }
                let mut dx = vec![f32::NAN; b * n_in];
                backward(&w, units, n_in, &g, b, &mut dx);
                let want = reference(&wt, n_in, units, &g, b);
                for (a, e) in dx.iter().zip(&want) {
                    assert!(
                        (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "backward {units}×{n_in} b={b}: {a} vs {e}"
                    );
                }
            }
        }
    }
}
