//! The Winograd path's products M = V·U: V (rows × K) and U (K × F) and M
//! (rows × F), all row-major and dense, with K and F small (64 in BPNet and
//! ChromBPNet) and U (16 KB) in L1. OpenBLAS's sgemm packs V and U on
//! every call; these kernels read both in place and keep a register tile of
//! rows × F-wide vectors.
//!
//! Every output element is one vector lane that starts at zero and adds
//! V[r, k]·U[k, f] for k = 0, 1, …, K − 1 in order with a fused
//! multiply-add: the AVX-512 kernel ([`SimdPath::Avx512`]) and the AVX2
//! one ([`SimdPath::Avx2`]) only tile rows and columns differently, so they
//! give the same bits, and a row's bits depend on that row alone.
//! [`SimdPath::Scalar`] keeps OpenBLAS's sgemm (the other family of bits).
use super::gemm;
use super::simd::{self, SimdPath};

/// M (rows × f) = V (rows × k) · U (k × f) on this process's path.
pub(crate) fn product(rows: usize, k: usize, f: usize, v: &[f32], u: &[f32], m: &mut [f32]) {
    product_on(simd::current(), rows, k, f, v, u, m)
}

/// [`product`] on the kernels of `path`.
pub(crate) fn product_on(
    path: SimdPath,
    rows: usize,
    k: usize,
    f: usize,
    v: &[f32],
    u: &[f32],
    m: &mut [f32],
) {
    let (v, u, m) = (&v[..rows * k], &u[..k * f], &mut m[..rows * f]);
    if rows == 0 || f == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match path {
        SimdPath::Avx512 if path.available() => {
            // SAFETY: the CPU has AVX-512F, AVX2 and FMA; the slices above
            // hold every element the kernel reads or writes.
            unsafe { x512::product(rows, k, f, v.as_ptr(), u.as_ptr(), m.as_mut_ptr()) };
            return;
        }
        SimdPath::Avx2 if path.available() => {
            // SAFETY: the CPU has AVX2 and FMA; the slices bound every index.
            unsafe { x256::product(rows, k, f, v.as_ptr(), u.as_ptr(), m.as_mut_ptr()) };
            return;
        }
        _ => {}
    }
    assert!(
        path == SimdPath::Scalar,
        "wino_gemm on {} needs that path's CPU features",
        path.as_str()
    );
    gemm::sgemm(false, false, rows, f, k, 1.0, v, k, u, f, 0.0, m, f);
}

#[cfg(target_arch = "x86_64")]
mod x512 {
    use std::arch::x86_64::*;

    /// Rows per register tile: 6 × 4 accumulators, 4 of U, 1 broadcast.
    const R: usize = 6;

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn product(
        rows: usize,
        k: usize,
        f: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
    ) {
        let mut j = 0;
        while j + 64 <= f {
            columns::<4>(rows, k, f, j, v, u, m, 0xffff);
            j += 64;
        }
        while j + 16 <= f {
            columns::<1>(rows, k, f, j, v, u, m, 0xffff);
            j += 16;
        }
        if j < f {
            columns::<1>(rows, k, f, j, v, u, m, (1u16 << (f - j)) - 1);
        }
    }

    /// Columns j..j + 16·NV (the last vector's lanes under `mask`) of every row.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn columns<const NV: usize>(
        rows: usize,
        k: usize,
        f: usize,
        j: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
        mask: u16,
    ) {
        let mut r = 0;
        while r + R <= rows {
            tile::<R, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask);
            r += R;
        }
        match rows - r {
            0 => {}
            1 => tile::<1, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask),
            2 => tile::<2, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask),
            3 => tile::<3, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask),
            4 => tile::<4, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask),
            _ => tile::<5, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask),
        }
    }

    #[inline(always)]
    unsafe fn tile<const RT: usize, const NV: usize>(
        k: usize,
        f: usize,
        j: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
        mask: u16,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; RT];
        let up = u.add(j);
        for kk in 0..k {
            let mut b = [_mm512_setzero_ps(); NV];
            for (q, bq) in b.iter_mut().enumerate() {
                *bq = if q + 1 == NV {
                    _mm512_maskz_loadu_ps(mask, up.add(kk * f + 16 * q))
                } else {
                    _mm512_loadu_ps(up.add(kk * f + 16 * q))
                };
            }
            for (t, a) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*v.add(t * k + kk));
                for (q, aq) in a.iter_mut().enumerate() {
                    *aq = _mm512_fmadd_ps(x, b[q], *aq);
                }
            }
        }
        for (t, a) in acc.iter().enumerate() {
            for (q, aq) in a.iter().enumerate() {
                let p = m.add(t * f + j + 16 * q);
                if q + 1 == NV {
                    _mm512_mask_storeu_ps(p, mask, *aq);
                } else {
                    _mm512_storeu_ps(p, *aq);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x256 {
    use std::arch::x86_64::*;

    /// Rows per register tile: 6 × 2 accumulators, 2 of U, 1 broadcast.
    const R: usize = 6;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn product(
        rows: usize,
        k: usize,
        f: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
    ) {
        let all = _mm256_set1_epi32(-1);
        let mut j = 0;
        while j + 16 <= f {
            columns::<2>(rows, k, f, j, v, u, m, all);
            j += 16;
        }
        while j + 8 <= f {
            columns::<1>(rows, k, f, j, v, u, m, all);
            j += 8;
        }
        if j < f {
            let n = (f - j) as i32;
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
            columns::<1>(rows, k, f, j, v, u, m, mask);
        }
    }

    /// Columns j..j + 8·NV (the last vector's lanes under `mask`) of every row.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn columns<const NV: usize>(
        rows: usize,
        k: usize,
        f: usize,
        j: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
        mask: __m256i,
    ) {
        let full = _mm256_movemask_ps(_mm256_castsi256_ps(mask)) == 0xff;
        let mut r = 0;
        while r + R <= rows {
            tile::<R, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full);
            r += R;
        }
        match rows - r {
            0 => {}
            1 => tile::<1, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full),
            2 => tile::<2, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full),
            3 => tile::<3, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full),
            4 => tile::<4, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full),
            _ => tile::<5, NV>(k, f, j, v.add(r * k), u, m.add(r * f), mask, full),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn tile<const RT: usize, const NV: usize>(
        k: usize,
        f: usize,
        j: usize,
        v: *const f32,
        u: *const f32,
        m: *mut f32,
        mask: __m256i,
        full: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); NV]; RT];
        let up = u.add(j);
        for kk in 0..k {
            let mut b = [_mm256_setzero_ps(); NV];
            for (q, bq) in b.iter_mut().enumerate() {
                *bq = if q + 1 == NV && !full {
                    _mm256_maskload_ps(up.add(kk * f + 8 * q), mask)
                } else {
                    _mm256_loadu_ps(up.add(kk * f + 8 * q))
                };
            }
            for (t, a) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*v.add(t * k + kk));
                for (q, aq) in a.iter_mut().enumerate() {
                    *aq = _mm256_fmadd_ps(x, b[q], *aq);
                }
            }
        }
        for (t, a) in acc.iter().enumerate() {
            for (q, aq) in a.iter().enumerate() {
                let p = m.add(t * f + j + 8 * q);
                if q + 1 == NV && !full {
                    _mm256_maskstore_ps(p, mask, *aq);
                } else {
                    _mm256_storeu_ps(p, *aq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed) * 7919 % 1000) as f32 - 500.0) / 313.0)
            .collect()
    }

    fn paths() -> Vec<SimdPath> {
        [SimdPath::Avx512, SimdPath::Avx2]
            .into_iter()
            .filter(|p| p.available())
            .collect()
    }

    /// Each path against a float64 product, and the two vector paths give
    /// the same bits, for F a multiple of 64, of 8 only, and of neither.
    #[test]
    fn match_a_float64_product_with_the_same_bits_on_both_paths() {
        for f in [64, 24, 17] {
            for k in [16, 64] {
                for rows in [1, 5, 529] {
                    let (v, u) = (data(rows * k, 3), data(k * f, 11));
                    let want: Vec<f64> = (0..rows * f)
                        .map(|i| {
                            let (r, c) = (i / f, i % f);
                            (0..k)
                                .map(|q| v[r * k + q] as f64 * u[q * f + c] as f64)
                                .sum()
                        })
                        .collect();
                    let mut bits: Option<Vec<u32>> = None;
                    for p in paths().into_iter().chain([SimdPath::Scalar]) {
                        // One float past the end, to see that it is left alone.
                        let mut m = vec![f32::NAN; rows * f + 1];
                        product_on(p, rows, k, f, &v, &u, &mut m);
                        assert!(m[rows * f].is_nan(), "{p:?} wrote past the end");
                        for (i, (g, w)) in m.iter().zip(&want).enumerate() {
                            let abs: f64 = (0..k)
                                .map(|q| (v[i / f * k + q] as f64 * u[q * f + i % f] as f64).abs())
                                .sum();
                            assert!(
                                (*g as f64 - w).abs() <= 1e-5 * abs.max(1e-30),
                                "{p:?} f {f} k {k} rows {rows} [{i}]: {g} vs {w}"
                            );
                        }
                        if p == SimdPath::Scalar {
                            continue;
                        }
                        let b: Vec<u32> = m[..rows * f].iter().map(|x| x.to_bits()).collect();
                        match &bits {
                            None => bits = Some(b),
                            Some(b0) => {
                                assert!(*b0 == b, "f {f} k {k} rows {rows}: {p:?} bits differ")
                            }
                        }
                    }
                }
            }
        }
    }

    /// A row's bits do not depend on the rows around it.
    #[test]
    fn a_row_alone_gives_its_bits_in_a_block() {
        let (k, f, rows) = (64, 40, 13);
        let (v, u) = (data(rows * k, 5), data(k * f, 7));
        for p in paths() {
            let mut all = vec![0f32; rows * f];
            product_on(p, rows, k, f, &v, &u, &mut all);
            for r in 0..rows {
                let mut one = vec![0f32; f];
                product_on(p, 1, k, f, &v[r * k..][..k], &u, &mut one);
                let a: Vec<u32> = all[r * f..][..f].iter().map(|x| x.to_bits()).collect();
                let b: Vec<u32> = one.iter().map(|x| x.to_bits()).collect();
                assert_eq!(a, b, "{p:?} row {r}");
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    #[test]
    #[ignore]
    fn speed() {
        for rows in [85usize, 529] {
            let (k, f) = (64, 64);
            let v: Vec<f32> = (0..6 * rows * k).map(|i| (i % 17) as f32 * 0.1).collect();
            let u: Vec<f32> = (0..6 * k * f).map(|i| (i % 13) as f32 * 0.1).collect();
            let mut m = vec![0f32; 6 * rows * f];
            for p in [SimdPath::Avx512, SimdPath::Avx2, SimdPath::Scalar] {
                let reps = 2000;
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    for xi in 0..6 {
                        product_on(
                            p,
                            rows,
                            k,
                            f,
                            &v[xi * rows * k..],
                            &u[xi * k * f..],
                            &mut m[xi * rows * f..],
                        );
                    }
                }
                let s = t.elapsed().as_secs_f64();
                println!(
                    "rows {rows} {p:?}: {:.1} GFLOP/s",
                    2.0 * (reps * 6 * rows * k * f) as f64 / s / 1e9
                );
            }
        }
    }
}
