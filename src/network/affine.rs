//! y = x·scale + shift with each vector repeating over the flat map (one
//! value: a scalar; K values: one per channel of a position-major map).
//!
//! The loops run over whole repeats so they vectorise; a per-element `i % k`
//! kept them scalar and made a bias add cost as much as a small convolution.
//! Each element still gets one multiply and one add in the same order, so
//! the bits are those of the plain loop.

pub fn forward(scale: &[f32], shift: &[f32], x: &[f32], y: &mut [f32]) {
    let (ks, kb) = (scale.len(), shift.len());
    let x = &x[..y.len()];
    if ks == kb && y.len().is_multiple_of(ks) {
        for (yc, xc) in y.chunks_exact_mut(ks).zip(x.chunks_exact(ks)) {
            for (((o, v), a), b) in yc.iter_mut().zip(xc).zip(scale).zip(shift) {
                *o = v * a + b;
            }
        }
    } else if ks == 1 && y.len().is_multiple_of(kb) {
        let a = scale[0];
        for (yc, xc) in y.chunks_exact_mut(kb).zip(x.chunks_exact(kb)) {
            for ((o, v), b) in yc.iter_mut().zip(xc).zip(shift) {
                *o = v * a + b;
            }
        }
    } else if kb == 1 && y.len().is_multiple_of(ks) {
        let b = shift[0];
        for (yc, xc) in y.chunks_exact_mut(ks).zip(x.chunks_exact(ks)) {
            for ((o, v), a) in yc.iter_mut().zip(xc).zip(scale) {
                *o = v * a + b;
            }
        }
    } else {
        for (i, (o, v)) in y.iter_mut().zip(x).enumerate() {
            *o = v * scale[i % ks] + shift[i % kb];
        }
    }
}

/// dx = dy·scale.
pub fn backward(scale: &[f32], dy: &[f32], dx: &mut [f32]) {
    let k = scale.len();
    let dx = &mut dx[..dy.len()];
    if dy.len().is_multiple_of(k) {
        for (dc, gc) in dx.chunks_exact_mut(k).zip(dy.chunks_exact(k)) {
            for ((o, g), a) in dc.iter_mut().zip(gc).zip(scale) {
                *o = g * a;
            }
        }
    } else {
        for (i, (o, g)) in dx.iter_mut().zip(dy).enumerate() {
            *o = g * scale[i % k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(scale: &[f32], shift: &[f32], x: &[f32]) -> Vec<f32> {
        let (ks, kb) = (scale.len(), shift.len());
        x.iter()
            .enumerate()
            .map(|(i, v)| v * scale[i % ks] + shift[i % kb])
            .collect()
    }

    /// Every shape of scale and shift gives the plain loop's bits.
    #[test]
    fn every_shape_gives_the_plain_loops_bits() {
        let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin() * 3.1).collect();
        let v = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|i| 0.3 + s * i as f32).collect() };
        for (ks, kb) in [
            (1, 1),
            (4, 4),
            (1, 6),
            (6, 1),
            (4, 6),
            (5, 1),
            (1, 5),
            (24, 24),
        ] {
            let (a, b) = (v(ks, 0.71), v(kb, -1.3));
            let mut y = vec![0.0; x.len()];
            forward(&a, &b, &x, &mut y);
            let want = plain(&a, &b, &x);
            assert_eq!(
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "scale {ks}, shift {kb}"
            );
            let mut dx = vec![0.0; x.len()];
            backward(&a, &x, &mut dx);
            let want: Vec<f32> = x.iter().enumerate().map(|(i, g)| g * a[i % ks]).collect();
            assert_eq!(dx, want, "scale {ks}");
        }
    }
}
