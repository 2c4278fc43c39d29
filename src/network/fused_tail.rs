//! The last hidden Dense and the head's chosen unit at small batches, reading
//! the hidden kernel from memory once per step.
//!
//! At a batch of 1–4 the DeepSEA tail's step is the 188 MB hidden kernel read
//! from memory: forward needs x·Wᵀ, backward g·W. Each unit's gradient g_r
//! depends only on its own pre-activation, so one pass over the rows can do
//! both: a row's dot product gives z_r, the activation and the head weight
//! give g_r, and the same row, still in L1/L2, adds g_r·W_r to dx. On the
//! vector paths this is done a row at a time by the kernels below (row, x and
//! dx of one item stay in a 1 MB L2); on the scalar path, blocks of rows go
//! through OpenBLAS's sgemv.
//!
//! Bits: an item's dot products have 64 partial sums, lane l taking inputs
//! l, l+64, …, each a chain of fused multiply-adds in input order, then added
//! in one fixed tree; its dx is a chain of fused multiply-adds in row order.
//! AVX2 (eight 8-float vectors) and AVX-512 (four 16-float vectors) run the
//! same chains, so they give the same bits, and nothing in an item's
//! arithmetic reads its batch-mates.
use super::activation;
use super::dense::Dense;
use super::gemm;
use super::simd::{self, SimdPath};
use crate::model::Activation;

/// Scorers for batches up to this size take the fused path, by capacity
/// rather than the batch of the moment, so an item's arithmetic never depends
/// on how many items share its batch. Measured with `bench` on the DeepSEA
/// tail (AMD EPYC, one thread, best of 3, the sgemv blocks): 38 vs 14
/// item-steps/s at a batch of 1, 44 vs 27 at 2, 52 vs 45 at 4; at 8 the two
/// paths tie, above it sgemm wins.
pub const FUSE_MAX_BATCH: usize = 4;
/// Rows of the hidden kernel per sgemv block (scalar path): small enough to
/// stay in cache between the block's forward and backward use.
const FUSE_ROWS: usize = 64;
/// Partial sums per dot product (see the module's note on bits).
const LANES: usize = 64;

/// Scores and dS/dx through `hidden`, activation `act` (its own, or a
/// separate activation node's after a linear `hidden`, as ONNX writes
/// Gemm + Relu) and unit `classes[i]` of `head`, for the `classes.len()`
/// items of `x` (each `hidden.n_in` long). `buf` is scratch.
#[allow(clippy::too_many_arguments)]
pub fn fused_tail(
    hidden: &Dense,
    act: Activation,
    head: &Dense,
    x: &[f32],
    classes: &[usize],
    scores: &mut [f32],
    dx: &mut [f32],
    buf: &mut Vec<f32>,
) {
    let n_in = hidden.n_in;
    assert!(x.len() >= classes.len() * n_in && dx.len() >= classes.len() * n_in);
    for (i, &c) in classes.iter().enumerate() {
        scores[i] = head.bias[c];
    }
    dx[..classes.len() * n_in].fill(0.0);
    match simd::current() {
        SimdPath::Scalar => sgemv_blocks(hidden, act, head, x, classes, scores, dx, buf),
        path => by_rows(path, hidden, act, head, x, classes, scores, dx),
    }
}

/// Activation and dS/dz of one unit whose pre-activation is `z` and head weight `w`.
fn unit(act: Activation, z: f32, w: f32) -> (f32, f32) {
    let mut a = [z];
    activation::forward(act, &mut a, 1);
    let mut g = [0.0f32];
    activation::backward_from_input(act, &[z], &a, &[w], &mut g, 1);
    (a[0], g[0])
}

#[allow(clippy::too_many_arguments)]
fn by_rows(
    path: SimdPath,
    hidden: &Dense,
    act: Activation,
    head: &Dense,
    x: &[f32],
    classes: &[usize],
    scores: &mut [f32],
    dx: &mut [f32],
) {
    let n_in = hidden.n_in;
    for r in 0..hidden.units {
        let row = &hidden.kernel[r * n_in..(r + 1) * n_in];
        for (i, &c) in classes.iter().enumerate() {
            let z = dot(path, row, &x[i * n_in..(i + 1) * n_in]) + hidden.bias[r];
            let (a, g) = unit(act, z, head.kernel[c * head.n_in + r]);
            scores[i] += a * head.kernel[c * head.n_in + r];
            // A dead unit adds nothing but a signed zero; skipping it halves a ReLU layer's work.
            if g != 0.0 {
                axpy(path, g, row, &mut dx[i * n_in..(i + 1) * n_in]);
            }
        }
    }
}

/// Σ w·x in 64 lanes, then a fixed tree.
fn dot(path: SimdPath, w: &[f32], x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let full = w.len() / LANES * LANES;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the path's features were checked when it was chosen (simd::current);
    // both slices hold at least `full` floats.
    unsafe {
        match path {
            SimdPath::Avx512 => x512::dot_lanes(&w[..full], &x[..full], &mut lanes),
            SimdPath::Avx2 => x86::dot_lanes(&w[..full], &x[..full], &mut lanes),
            SimdPath::Scalar => scalar_lanes(&w[..full], &x[..full], &mut lanes),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = path;
        scalar_lanes(&w[..full], &x[..full], &mut lanes);
    }
    for (k, (&a, &b)) in w[full..].iter().zip(&x[full..]).enumerate() {
        lanes[k] = a.mul_add(b, lanes[k]);
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// The vector kernels' chains, one lane at a time (tests, and other architectures).
fn scalar_lanes(w: &[f32], x: &[f32], lanes: &mut [f32; LANES]) {
    for (wc, xc) in w.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        for l in 0..LANES {
            lanes[l] = wc[l].mul_add(xc[l], lanes[l]);
        }
    }
}

/// dx += g·w, one fused multiply-add per element.
fn axpy(path: SimdPath, g: f32, w: &[f32], dx: &mut [f32]) {
    let n = w.len().min(dx.len());
    #[cfg(target_arch = "x86_64")]
    let done = {
        // SAFETY: as in `dot`; the kernels stay below n.
        unsafe {
            match path {
                SimdPath::Avx512 => x512::axpy(g, &w[..n], &mut dx[..n]),
                SimdPath::Avx2 => x86::axpy(g, &w[..n], &mut dx[..n]),
                SimdPath::Scalar => 0,
            }
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = {
        let _ = path;
        0
    };
    for (d, &v) in dx[done..n].iter_mut().zip(&w[done..n]) {
        *d = g.mul_add(v, *d);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Lanes 8k..8k+8 in vector k; `w.len()` is a multiple of 64.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_lanes(w: &[f32], x: &[f32], lanes: &mut [f32; LANES]) {
        let mut acc = [_mm256_setzero_ps(); 8];
        for k in 0..8 {
            acc[k] = _mm256_loadu_ps(lanes.as_ptr().add(8 * k));
        }
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut j = 0;
        while j < w.len() {
            for k in 0..8 {
                let a = _mm256_loadu_ps(wp.add(j + 8 * k));
                let b = _mm256_loadu_ps(xp.add(j + 8 * k));
                acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
            }
            j += LANES;
        }
        for k in 0..8 {
            _mm256_storeu_ps(lanes.as_mut_ptr().add(8 * k), acc[k]);
        }
    }

    /// dx[..n8] += g·w[..n8] for the largest n8 ≤ n that is a multiple of 8; returns n8.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(g: f32, w: &[f32], dx: &mut [f32]) -> usize {
        let n8 = w.len() / 8 * 8;
        let gv = _mm256_set1_ps(g);
        let (wp, dp) = (w.as_ptr(), dx.as_mut_ptr());
        let mut j = 0;
        while j < n8 {
            let d = _mm256_fmadd_ps(gv, _mm256_loadu_ps(wp.add(j)), _mm256_loadu_ps(dp.add(j)));
            _mm256_storeu_ps(dp.add(j), d);
            j += 8;
        }
        n8
    }
}

#[cfg(target_arch = "x86_64")]
mod x512 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Lanes 16k..16k+16 in vector k; `w.len()` is a multiple of 64.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot_lanes(w: &[f32], x: &[f32], lanes: &mut [f32; LANES]) {
        let mut acc = [_mm512_setzero_ps(); 4];
        for k in 0..4 {
            acc[k] = _mm512_loadu_ps(lanes.as_ptr().add(16 * k));
        }
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut j = 0;
        while j < w.len() {
            for k in 0..4 {
                let a = _mm512_loadu_ps(wp.add(j + 16 * k));
                let b = _mm512_loadu_ps(xp.add(j + 16 * k));
                acc[k] = _mm512_fmadd_ps(a, b, acc[k]);
            }
            j += LANES;
        }
        for k in 0..4 {
            _mm512_storeu_ps(lanes.as_mut_ptr().add(16 * k), acc[k]);
        }
    }

    /// dx[..n16] += g·w[..n16] for the largest n16 ≤ n that is a multiple of 16; returns n16.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn axpy(g: f32, w: &[f32], dx: &mut [f32]) -> usize {
        let n16 = w.len() / 16 * 16;
        let gv = _mm512_set1_ps(g);
        let (wp, dp) = (w.as_ptr(), dx.as_mut_ptr());
        let mut j = 0;
        while j < n16 {
            let d = _mm512_fmadd_ps(gv, _mm512_loadu_ps(wp.add(j)), _mm512_loadu_ps(dp.add(j)));
            _mm512_storeu_ps(dp.add(j), d);
            j += 16;
        }
        n16
    }
}

/// The scalar path: blocks of rows through sgemv, each block's forward and
/// backward while it is in cache.
#[allow(clippy::too_many_arguments)]
fn sgemv_blocks(
    hidden: &Dense,
    act: Activation,
    head: &Dense,
    x: &[f32],
    classes: &[usize],
    scores: &mut [f32],
    dx: &mut [f32],
    buf: &mut Vec<f32>,
) {
    let b = classes.len();
    let (n_in, units) = (hidden.n_in, hidden.units);
    if buf.len() < 4 * b * FUSE_ROWS {
        buf.resize(4 * b * FUSE_ROWS, 0.0);
    }
    let (z, rest) = buf.split_at_mut(b * FUSE_ROWS);
    let (y, rest) = rest.split_at_mut(b * FUSE_ROWS);
    let (head_row, g) = rest.split_at_mut(b * FUSE_ROWS);
    let mut r0 = 0;
    while r0 < units {
        let r = FUSE_ROWS.min(units - r0);
        let block = &hidden.kernel[r0 * n_in..(r0 + r) * n_in];
        let (z, y) = (&mut z[..b * r], &mut y[..b * r]);
        let (head_row, g) = (&mut head_row[..b * r], &mut g[..b * r]);
        for i in 0..b {
            let (xi, zi) = (&x[i * n_in..(i + 1) * n_in], &mut z[i * r..(i + 1) * r]);
            gemm::sgemv(false, r, n_in, 1.0, block, n_in, xi, 0.0, zi);
        }
        for (i, &c) in classes.iter().enumerate() {
            let zi = &mut z[i * r..(i + 1) * r];
            for (v, bias) in zi.iter_mut().zip(&hidden.bias[r0..r0 + r]) {
                *v += bias;
            }
            head_row[i * r..(i + 1) * r]
                .copy_from_slice(&head.kernel[c * head.n_in + r0..c * head.n_in + r0 + r]);
        }
        y.copy_from_slice(z);
        activation::forward(act, y, r);
        for i in 0..b {
            scores[i] += y[i * r..(i + 1) * r]
                .iter()
                .zip(&head_row[i * r..(i + 1) * r])
                .map(|(a, w)| a * w)
                .sum::<f32>();
        }
        activation::backward_from_input(act, z, y, head_row, g, r);
        for i in 0..b {
            let (gi, di) = (&g[i * r..(i + 1) * r], &mut dx[i * n_in..(i + 1) * n_in]);
            gemm::sgemv(true, r, n_in, 1.0, block, n_in, gi, 1.0, di);
        }
        r0 += r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn vector_paths_give_the_scalar_chains_bits() {
        for n in [1, 63, 64, 65, 200, 1000] {
            let (w, x) = (data(n, 1), data(n, 2));
            let want = dot(SimdPath::Scalar, &w, &x);
            let exact: f64 = w.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(
                (want as f64 - exact).abs() < 1e-4,
                "n {n}: {want} vs {exact}"
            );
            for path in [SimdPath::Avx2, SimdPath::Avx512] {
                if !path.available() {
                    eprintln!("skipping {}: not on this CPU", path.as_str());
                    continue;
                }
                assert_eq!(
                    dot(path, &w, &x).to_bits(),
                    want.to_bits(),
                    "{path:?} dot, n {n}"
                );
                let (mut d1, mut d2) = (data(n, 3), data(n, 3));
                axpy(path, 0.37, &w, &mut d1);
                for (d, &v) in d2.iter_mut().zip(&w) {
                    *d = 0.37f32.mul_add(v, *d);
                }
                assert_eq!(d1, d2, "{path:?} axpy, n {n}");
            }
        }
    }
}
