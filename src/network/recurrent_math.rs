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

/// A recurrent layer's output from its hidden states (W × units, by
/// position): every position, or only the state of the last step taken.
pub fn emit(hidden: &[f32], y: &mut [f32], units: usize, return_sequences: bool, reverse: bool) {
    if return_sequences {
        y.copy_from_slice(hidden);
    } else {
        let w = hidden.len() / units;
        let t = position(w - 1, w, reverse);
        y.copy_from_slice(&hidden[t * units..(t + 1) * units]);
    }
}

/// The part of the output gradient `dy` that reaches step `s` (at position
/// `t`) directly: its own position's, the whole of `dy` at the last step of a
/// layer that returns one state, else none.
pub fn output_grad(
    dy: &[f32],
    s: usize,
    t: usize,
    w: usize,
    units: usize,
    return_sequences: bool,
) -> &[f32] {
    if return_sequences {
        &dy[t * units..(t + 1) * units]
    } else if s == w - 1 {
        dy
    } else {
        &[]
    }
}
