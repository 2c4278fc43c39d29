//! The Winograd transforms on AVX-512 vectors, for channel counts that are
//! whole vectors (BPNet's and ChromBPNet's 64). The same operations in the
//! same order as the portable bodies, so the same bits; what differs is the
//! ReLU's mask: one compare into a mask register, stored as the row's word,
//! and applied in backward by masked loads. Compiled from the portable
//! bodies, the mask's bits went lane by lane through shuffles, and the
//! transforms spilled their rows to the stack: the two stages took 38% of
//! a BPNet step against the products' 60%.
use super::{Epilogue, Pass};
use std::arch::x86_64::*;

/// Floats per vector, channels per mask word.
const V: usize = 16;

/// True where this path takes a pass: whole vectors in and out.
pub(super) fn takes(cin: usize, cout: usize) -> bool {
    cin % V == 0 && cout % V == 0 && std::arch::is_x86_feature_detected!("avx512f")
}

/// As `input_stage_body`: V (six blocks of `chunk` rows × cin) of the
/// tiles at `bases`, x gated by the mask where there is one.
///
/// # Safety
/// The CPU has AVX-512F; `p.cin` is a multiple of 16; x holds `p.w_in`
/// rows, `gate` (if any) `p.w_in · cin / 16` words, v `6 · chunk` rows.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn input_stage(
    p: &Pass,
    x: &[f32],
    gate: Option<&[u16]>,
    bases: &[usize],
    v: &mut [f32],
    chunk: usize,
) {
    let ci = p.cin;
    let words = ci / V;
    assert!(x.len() >= p.w_in * ci && v.len() >= 6 * chunk * ci && bases.len() <= chunk);
    if let Some(g) = gate {
        assert!(g.len() >= p.w_in * words);
    }
    let (xp, vp) = (x.as_ptr(), v.as_mut_ptr());
    let zero = _mm512_setzero_ps();
    let (four, five, two) = (
        _mm512_set1_ps(4.0),
        _mm512_set1_ps(5.0),
        _mm512_set1_ps(2.0),
    );
    for (t, &base) in bases.iter().enumerate() {
        let rows = p.input_rows(base);
        for w in 0..words {
            let c = w * V;
            let load = |q: Option<usize>| match q {
                None => zero,
                Some(q) => {
                    let at = xp.add(q * ci + c);
                    match gate {
                        None => _mm512_loadu_ps(at),
                        Some(g) => _mm512_maskz_loadu_ps(*g.get_unchecked(q * words + w), at),
                    }
                }
            };
            let (a0, a1, a2) = (load(rows[0]), load(rows[1]), load(rows[2]));
            let (a3, a4, a5) = (load(rows[3]), load(rows[4]), load(rows[5]));
            let r = [
                _mm512_add_ps(
                    _mm512_sub_ps(_mm512_mul_ps(four, a0), _mm512_mul_ps(five, a2)),
                    a4,
                ),
                _mm512_sub_ps(
                    _mm512_add_ps(a3, a4),
                    _mm512_mul_ps(four, _mm512_add_ps(a1, a2)),
                ),
                _mm512_add_ps(
                    _mm512_mul_ps(four, _mm512_sub_ps(a1, a2)),
                    _mm512_sub_ps(a4, a3),
                ),
                _mm512_add_ps(
                    _mm512_mul_ps(two, _mm512_sub_ps(a3, a1)),
                    _mm512_sub_ps(a4, a2),
                ),
                _mm512_add_ps(
                    _mm512_mul_ps(two, _mm512_sub_ps(a1, a3)),
                    _mm512_sub_ps(a4, a2),
                ),
                _mm512_add_ps(
                    _mm512_sub_ps(_mm512_mul_ps(four, a1), _mm512_mul_ps(five, a3)),
                    a5,
                ),
            ];
            for (xi, r) in r.into_iter().enumerate() {
                _mm512_storeu_ps(vp.add((xi * chunk + t) * ci + c), r);
            }
        }
    }
}

/// As `output_stage_body`: the output rows of the tiles at `bases` from M,
/// through `epi`.
///
/// # Safety
/// The CPU has AVX-512F; `p.cout` is a multiple of 16; m holds `6 · chunk`
/// rows, y `p.w_out`, bias `cout` values; `epi`'s slices as `Pass::run`
/// hands them over (skip and dy rows for every position it reads).
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
    let (co, d) = (p.cout, p.d);
    let words = co / V;
    assert!(m.len() >= 6 * chunk * co && y.len() >= p.w_out * co && bias.len() >= co);
    assert!(bases.len() <= chunk && p.hi <= p.w_out);
    match epi {
        Epilogue::Plain(_) => {}
        Epilogue::Residual {
            skip, left, mask, ..
        } => assert!(
            skip.len() >= (p.hi + *left) * co && (mask.is_empty() || mask.len() >= p.hi * words)
        ),
        Epilogue::Skip { dy, n, .. } => assert!(dy.len() >= *n * co),
    }
    let (mp, yp, bp) = (m.as_ptr(), y.as_mut_ptr(), bias.as_ptr());
    let zero = _mm512_setzero_ps();
    let (two, four, eight) = (
        _mm512_set1_ps(2.0),
        _mm512_set1_ps(4.0),
        _mm512_set1_ps(8.0),
    );
    for (t, &base) in bases.iter().enumerate() {
        let rows = p.output_rows(base);
        p.prefetch_ahead(bases, t, epi, y);
        for w in 0..words {
            let c = w * V;
            let ld = |xi: usize| _mm512_loadu_ps(mp.add((xi * chunk + t) * co + c));
            let (m0, m1, m2) = (ld(0), ld(1), ld(2));
            let (m3, m4, m5) = (ld(3), ld(4), ld(5));
            let b = _mm512_loadu_ps(bp.add(c));
            let (s12, d12) = (_mm512_add_ps(m1, m2), _mm512_sub_ps(m1, m2));
            let (s34, d34) = (_mm512_add_ps(m3, m4), _mm512_sub_ps(m3, m4));
            let vals = [
                _mm512_add_ps(b, _mm512_add_ps(_mm512_add_ps(m0, s12), s34)),
                _mm512_add_ps(b, _mm512_add_ps(d12, _mm512_mul_ps(two, d34))),
                _mm512_add_ps(b, _mm512_add_ps(s12, _mm512_mul_ps(four, s34))),
                _mm512_add_ps(
                    b,
                    _mm512_add_ps(_mm512_add_ps(d12, _mm512_mul_ps(eight, d34)), m5),
                ),
            ];
            for (i, &v) in vals.iter().enumerate().take(rows) {
                let o = base + i * d;
                let at = yp.add(o * co + c);
                match epi {
                    Epilogue::Plain(_) => _mm512_storeu_ps(at, v),
                    Epilogue::Residual {
                        relu,
                        skip,
                        left,
                        mask,
                        ..
                    } => {
                        let sk = _mm512_loadu_ps(skip.as_ptr().add((o + *left) * co + c));
                        let s = if *relu {
                            // a = v where v > 0, else +0: the portable
                            // body's select, and its bits are the mask.
                            let k = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, zero);
                            *mask.get_unchecked_mut(o * words + w) = k;
                            _mm512_add_ps(_mm512_maskz_mov_ps(k, v), sk)
                        } else {
                            _mm512_add_ps(v, sk)
                        };
                        _mm512_storeu_ps(at, s);
                    }
                    Epilogue::Skip { dy, left, n } => {
                        let g = if o >= *left && o - *left < *n {
                            _mm512_loadu_ps(dy.as_ptr().add((o - *left) * co + c))
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
