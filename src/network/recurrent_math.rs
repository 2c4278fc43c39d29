//! Products shared by the recurrent layers. Every loop sums in a fixed order
//! per item (axpy over rows, never a reordered reduction), so an item's
//! result is the same whatever items share its batch.

/// out += Σ_r x[r] · m[r, ..], with m (x.len() × out.len()) row-major.
#[inline]
pub fn add_rows(m: &[f32], x: &[f32], out: &mut [f32]) {
    let n = out.len();
    for (r, &v) in x.iter().enumerate() {
        if v == 0.0 {
            continue;
        }
        for (o, &w) in out.iter_mut().zip(&m[r * n..(r + 1) * n]) {
            *o += v * w;
        }
    }
}

/// The transpose of an (rows × cols) row-major matrix.
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Time step `s` of `w` visits position `t`.
#[inline]
pub fn position(s: usize, w: usize, reverse: bool) -> usize {
    if reverse {
        w - 1 - s
    } else {
        s
    }
}
