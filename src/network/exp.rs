//! exp for the attention softmax, written so the compiler vectorises it.
//!
//! libm's `expf` is a call per element and was a third of an attention
//! layer's time at Enformer's shapes (W² exponentials per head). This is
//! Cephes' single-precision exp: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a
//! degree-6 polynomial for eʳ and 2ⁿ built from its bits; within 2 ulp of
//! the true value over the clamped range. Only plain multiplies, adds and
//! selects, no fused multiply-add: every CPU path and any vector width give
//! the same bits, so results stay the same on every rank and batch.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2²³: adding it rounds to the nearest integer (ties to even).
const ROUND: f32 = 12_582_912.0;
/// eˣ beyond these is clamped: 2ⁿ stays a normal float.
const HI: f32 = 88.3;
const LO: f32 = -87.3;

/// eˣ; NaN stays NaN, x ≤ −87.3 gives e^−87.3 (1.2e−38), x ≥ 88.3 e^88.3.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = if x > HI { HI } else { x };
    let x = if x < LO { LO } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let e = p * (r * r) + r + 1.0;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    e * f32::from_bits((k.wrapping_add(127) << 23) as u32)
}

/// v ← e^(v − m) for every element.
pub fn exp_shifted(v: &mut [f32], m: f32) {
    for a in v.iter_mut() {
        *a = exp(*a - m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    /// Within 2 ulp of f64's exp over the range softmax uses and beyond.
    #[test]
    fn agrees_with_f64_exp() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
            x += 0.000_37;
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(f32::NEG_INFINITY) < 1.3e-38 && exp(f32::NEG_INFINITY) > 0.0);
        assert!(exp(1e9).is_finite());
    }

    /// The slice form (what the softmax calls, vectorised by the compiler)
    /// against f64's exp of the shifted values: within 2 ulp, and the clamps.
    #[test]
    fn slice_form_agrees_with_f64_exp() {
        let v: Vec<f32> = (0..4001).map(|i| (i as f32 * 0.731).sin() * 80.0).collect();
        let mut s = v.clone();
        exp_shifted(&mut s, 3.5);
        for (a, b) in v.iter().zip(&s) {
            let want = ((*a - 3.5) as f64).exp() as f32;
            assert!(ulps(*b, want) <= 2, "e^({a} - 3.5): {b} vs {want}");
        }
        let mut edge = vec![f32::NAN, f32::NEG_INFINITY, 1e9];
        exp_shifted(&mut edge, 0.0);
        assert!(edge[0].is_nan() && edge[1] > 0.0 && edge[1] < 1.3e-38 && edge[2].is_finite());
    }
}
