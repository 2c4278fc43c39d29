//! The Winograd transforms on AVX-512 vectors, for channel counts that are
//! whole vectors (BPNet's and ChromBPNet's 64). The same operations in the
//! same order as the portable bodies, so the same bits; what differs is the
//! ReLU's mask: one compare into a mask register, stored as the row's word,
//! and applied in backward by masked loads. Compiled from the portable
//! bodies, the mask's bits went lane by lane through shuffles, and the
//! transforms spilled their rows to the stack: the two stages took 38% of
//! a BPNet step against the products' 60%.
use super::{Epilogue, Pass, Sink, Tile, ADD, PLAIN, RELU_ADD, SKIP};
use std::arch::x86_64::*;

/// Floats per vector, channels per mask word.
const V: usize = 16;

/// True where this path takes a pass: whole vectors in and out.
pub(super) fn takes(cin: usize, cout: usize) -> bool {
    cin.is_multiple_of(V)
        && cout.is_multiple_of(V)
        && std::arch::is_x86_feature_detected!("avx512f")
}

/// As `input_stage_body`: V (a block of `chunk` rows × cin per point) of
/// the tiles at `bases`, x gated by the mask where there is one.
///
/// # Safety
/// The CPU has AVX-512F; `p.cin` is a multiple of 16; x holds `p.w_in`
/// rows, `gate` (if any) `p.w_in · cin / 16` words, v a block of `chunk`
/// rows per point; `zero` at least cin zeros, `zero_mask` cin / 16 zero words.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn input_stage(
    p: &Pass,
    x: &[f32],
    gate: Option<&[u16]>,
    bases: &[usize],
    v: &mut [f32],
    chunk: usize,
    zero: &[f32],
    zero_mask: &[u16],
) {
    p.check_input(x, gate, bases, v, chunk, zero, zero_mask);
    let (z, zm) = (zero.as_ptr(), zero_mask.as_ptr());
    match (p.tile, gate) {
        (Tile::F4, None) => input_tiles::<false, false>(p, x, &[], bases, v, chunk, z, zm),
        (Tile::F4, Some(g)) => input_tiles::<false, true>(p, x, g, bases, v, chunk, z, zm),
        (Tile::F6, None) => input_tiles::<true, false>(p, x, &[], bases, v, chunk, z, zm),
        (Tile::F6, Some(g)) => input_tiles::<true, true>(p, x, g, bases, v, chunk, z, zm),
    }
}

/// [`input_stage`] for F(6,3) where SIX, else F(4,3), x gated where GATE.
/// A row outside the map is read from `zero` (under the mask words of
/// `zero_mask`), so every load is the same instruction: no branch per row.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn input_tiles<const SIX: bool, const GATE: bool>(
    p: &Pass,
    x: &[f32],
    gate: &[u16],
    bases: &[usize],
    v: &mut [f32],
    chunk: usize,
    zero: *const f32,
    zero_mask: *const u16,
) {
    let ci = p.cin;
    let words = ci / V;
    let (xp, gp, vp) = (x.as_ptr(), gate.as_ptr(), v.as_mut_ptr());
    let k = |c: f32| _mm512_set1_ps(c);
    for (t, &base) in bases.iter().enumerate() {
        let rows = p.input_rows(base);
        let row = rows.map(|q| q.map_or(zero, |q| xp.add(q * ci)));
        let word = rows.map(|q| {
            if GATE {
                q.map_or(zero_mask, |q| gp.add(q * words))
            } else {
                zero_mask
            }
        });
        for w in 0..words {
            let c = w * V;
            let load = |r: usize| {
                if GATE {
                    _mm512_maskz_loadu_ps(*word[r].add(w), row[r].add(c))
                } else {
                    _mm512_loadu_ps(row[r].add(c))
                }
            };
            let store =
                |xi: usize, r: __m512| _mm512_storeu_ps(vp.add((xi * chunk + t) * ci + c), r);
            let (a0, a1, a2) = (load(0), load(1), load(2));
            let (a3, a4, a5) = (load(3), load(4), load(5));
            if SIX {
                // Points ±p come in pairs: t + u at ξ, t − u at ξ + 1.
                let pair = |xi: usize, t: __m512, u: __m512| {
                    store(xi, _mm512_add_ps(t, u));
                    store(xi + 1, _mm512_sub_ps(t, u));
                };
                let (a6, a7) = (load(6), load(7));
                let d04 = _mm512_sub_ps(a4, a2);
                store(
                    0,
                    _mm512_add_ps(_mm512_sub_ps(a0, a6), _mm512_mul_ps(k(5.25), d04)),
                );
                let d35 = _mm512_sub_ps(a3, a5);
                store(
                    7,
                    _mm512_add_ps(_mm512_sub_ps(a7, a1), _mm512_mul_ps(k(5.25), d35)),
                );
                let t1 = _mm512_sub_ps(_mm512_add_ps(a2, a6), _mm512_mul_ps(k(4.25), a4));
                let t2 = _mm512_sub_ps(_mm512_add_ps(a1, a5), _mm512_mul_ps(k(4.25), a3));
                pair(1, t1, t2);
                let t3 = _mm512_sub_ps(
                    _mm512_add_ps(_mm512_mul_ps(k(0.25), a2), a6),
                    _mm512_mul_ps(k(1.25), a4),
                );
                let t4 = _mm512_add_ps(
                    _mm512_sub_ps(_mm512_mul_ps(k(0.5), a1), _mm512_mul_ps(k(2.5), a3)),
                    _mm512_mul_ps(k(2.0), a5),
                );
                pair(3, t3, t4);
                let t5 = _mm512_sub_ps(
                    _mm512_add_ps(_mm512_mul_ps(k(4.0), a2), a6),
                    _mm512_mul_ps(k(5.0), a4),
                );
                let t6 = _mm512_add_ps(
                    _mm512_sub_ps(_mm512_mul_ps(k(2.0), a1), _mm512_mul_ps(k(2.5), a3)),
                    _mm512_mul_ps(k(0.5), a5),
                );
                pair(5, t5, t6);
            } else {
                let (four, five, two) = (k(4.0), k(5.0), k(2.0));
                let r0 = _mm512_sub_ps(_mm512_mul_ps(four, a0), _mm512_mul_ps(five, a2));
                store(0, _mm512_add_ps(r0, a4));
                let r1 = _mm512_mul_ps(four, _mm512_add_ps(a1, a2));
                store(1, _mm512_sub_ps(_mm512_add_ps(a3, a4), r1));
                let r2 = _mm512_mul_ps(four, _mm512_sub_ps(a1, a2));
                store(2, _mm512_add_ps(r2, _mm512_sub_ps(a4, a3)));
                let r3 = _mm512_mul_ps(two, _mm512_sub_ps(a3, a1));
                store(3, _mm512_add_ps(r3, _mm512_sub_ps(a4, a2)));
                let r4 = _mm512_mul_ps(two, _mm512_sub_ps(a1, a3));
                store(4, _mm512_add_ps(r4, _mm512_sub_ps(a4, a2)));
                let r5 = _mm512_sub_ps(_mm512_mul_ps(four, a1), _mm512_mul_ps(five, a3));
                store(5, _mm512_add_ps(r5, a5));
            }
        }
    }
}

/// As `output_stage_body`: the output rows of the tiles at `bases` from M,
/// through `epi`.
///
/// # Safety
/// The CPU has AVX-512F; `p.cout` is a multiple of 16; m holds a block of
/// `chunk` rows per point, y `p.w_out` rows, bias `cout` values; `epi`'s
/// slices as `Pass::run` hands them over (skip and dy rows for every
/// position it reads, a mask row for each output where there is a ReLU).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn output_stage(
    p: &Pass,
    bases: &[usize],
    m: &[f32],
    chunk: usize,
    y: &mut [f32],
    epi: &mut Epilogue,
    bias: &[f32],
) {
    // The epilogue's kind a constant of the loop, its slices pointers: the
    // loop held them on the stack and tested the kind every row.
    let (kind, sink) = p.sink_of(bases, m, chunk, y, epi, bias);
    macro_rules! go {
        ($six:literal) => {
            match kind {
                PLAIN => output_tiles::<$six, PLAIN>(p, bases, m, chunk, y, bias, sink),
                RELU_ADD => output_tiles::<$six, RELU_ADD>(p, bases, m, chunk, y, bias, sink),
                ADD => output_tiles::<$six, ADD>(p, bases, m, chunk, y, bias, sink),
                _ => output_tiles::<$six, SKIP>(p, bases, m, chunk, y, bias, sink),
            }
        };
    }
    match p.tile {
        Tile::F4 => go!(false),
        Tile::F6 => go!(true),
    }
}

/// [`output_stage`] for F(6,3) where SIX, else F(4,3), its epilogue KIND.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn output_tiles<const SIX: bool, const KIND: u8>(
    p: &Pass,
    bases: &[usize],
    m: &[f32],
    chunk: usize,
    y: &mut [f32],
    bias: &[f32],
    sink: Sink,
) {
    let (co, d) = (p.cout, p.d);
    let words = co / V;
    let (mp, yp, bp) = (m.as_ptr(), y.as_mut_ptr(), bias.as_ptr());
    let zero = _mm512_setzero_ps();
    let k = |c: f32| _mm512_set1_ps(c);
    for (t, &base) in bases.iter().enumerate() {
        // No prefetch of the rows ahead (the other stages have one): a
        // tower's maps are in L2 here (`Scorer::share_tower_maps`), and on
        // Zen 4 the prefetches cost 1.5–2.5% of a BPNet or ChromBPNet step.
        let rows = p.output_rows(base);
        for w in 0..words {
            let c = w * V;
            let ld = |xi: usize| _mm512_loadu_ps(mp.add((xi * chunk + t) * co + c));
            let (m0, m1, m2) = (ld(0), ld(1), ld(2));
            let (m3, m4, m5) = (ld(3), ld(4), ld(5));
            let b = _mm512_loadu_ps(bp.add(c));
            let (s12, d12) = (_mm512_add_ps(m1, m2), _mm512_sub_ps(m1, m2));
            let (s34, d34) = (_mm512_add_ps(m3, m4), _mm512_sub_ps(m3, m4));
            let mut vals = [zero; 6];
            if SIX {
                let (m6, m7) = (ld(6), ld(7));
                let (s56, d56) = (_mm512_add_ps(m5, m6), _mm512_sub_ps(m5, m6));
                // (p + a·q) + h·r, as the portable body's rows.
                let row = |p: __m512, a: f32, q: __m512, h: f32, r: __m512| {
                    let pq = _mm512_add_ps(p, _mm512_mul_ps(k(a), q));
                    _mm512_add_ps(pq, _mm512_mul_ps(k(h), r))
                };
                let s = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
                vals[0] = _mm512_add_ps(b, _mm512_add_ps(s, s56));
                vals[1] = _mm512_add_ps(b, row(d12, 2.0, d34, 0.5, d56));
                vals[2] = _mm512_add_ps(b, row(s12, 4.0, s34, 0.25, s56));
                vals[3] = _mm512_add_ps(b, row(d12, 8.0, d34, 0.125, d56));
                vals[4] = _mm512_add_ps(b, row(s12, 16.0, s34, 0.0625, s56));
                let r5 = row(d12, 32.0, d34, 0.03125, d56);
                vals[5] = _mm512_add_ps(b, _mm512_add_ps(r5, m7));
            } else {
                vals[0] = _mm512_add_ps(b, _mm512_add_ps(_mm512_add_ps(m0, s12), s34));
                vals[1] = _mm512_add_ps(b, _mm512_add_ps(d12, _mm512_mul_ps(k(2.0), d34)));
                vals[2] = _mm512_add_ps(b, _mm512_add_ps(s12, _mm512_mul_ps(k(4.0), s34)));
                let r3 = _mm512_add_ps(d12, _mm512_mul_ps(k(8.0), d34));
                vals[3] = _mm512_add_ps(b, _mm512_add_ps(r3, m5));
            }
            for (i, &v) in vals.iter().enumerate().take(rows) {
                let o = base + i * d;
                let at = yp.add(o * co + c);
                match KIND {
                    PLAIN => _mm512_storeu_ps(at, v),
                    RELU_ADD | ADD => {
                        let sk = _mm512_loadu_ps(sink.src.add((o + sink.left) * co + c));
                        let s = if KIND == RELU_ADD {
                            // a = v where v > 0, else +0: the portable
                            // body's select, and its bits are the mask.
                            let k = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, zero);
                            *sink.mask.add(o * words + w) = k;
                            _mm512_add_ps(_mm512_maskz_mov_ps(k, v), sk)
                        } else {
                            _mm512_add_ps(v, sk)
                        };
                        _mm512_storeu_ps(at, s);
                    }
                    _ => {
                        let g = if o >= sink.left && o - sink.left < sink.n {
                            _mm512_loadu_ps(sink.src.add((o - sink.left) * co + c))
                        } else {
                            zero
                        };
                        _mm512_storeu_ps(at, _mm512_add_ps(g, v));
                    }
                }
            }
        }
    }
}
