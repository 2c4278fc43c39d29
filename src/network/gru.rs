//! GRU over positions, with backward through time (the same scheme as
//! [`super::lstm`]: forward keeps nothing, backward recomputes the gates).
use super::recurrent_math::{add_rows, emit, output_grad, position, sigmoid, transpose};

#[derive(Debug, Clone)]
pub struct Gru {
    pub k: usize,
    pub w: usize,
    pub units: usize,
    pub reverse: bool,
    pub return_sequences: bool,
    pub reset_after: bool,
    /// (3U, K) and its transpose.
    kernel: Vec<f32>,
    kernel_t: Vec<f32>,
    /// (3U, U) and its transpose.
    recurrent: Vec<f32>,
    recurrent_t: Vec<f32>,
    bias: Vec<f32>,
    recurrent_bias: Vec<f32>,
}

/// Per position: z, r, ĥ and the recurrent product of the ĥ gate (R_h h₋₁ + b_Rh, or
/// R_h (r·h₋₁) + b_Rh before the reset), 4U values.
const SLOTS: usize = 4;

impl Gru {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        k: usize,
        w: usize,
        units: usize,
        reverse: bool,
        return_sequences: bool,
        reset_after: bool,
        kernel: Vec<f32>,
        recurrent: Vec<f32>,
        bias: Vec<f32>,
        recurrent_bias: Vec<f32>,
    ) -> Gru {
        let g = 3 * units;
        Gru {
            k,
            w,
            units,
            reverse,
            return_sequences,
            reset_after,
            kernel_t: transpose(&kernel, g, k),
            kernel,
            recurrent_t: transpose(&recurrent, g, units),
            recurrent,
            bias,
            recurrent_bias,
        }
    }

    fn out_len(&self) -> usize {
        self.units * if self.return_sequences { self.w } else { 1 }
    }

    /// One item: per position the slots above into `gates` (W × 4U) and the
    /// hidden state into `hidden` (W × U); `tmp` holds 4U.
    fn run(&self, x: &[f32], gates: &mut [f32], hidden: &mut [f32], tmp: &mut [f32]) {
        let (u, k) = (self.units, self.k);
        let sg = SLOTS * u;
        for t in 0..self.w {
            let z = &mut gates[t * sg..t * sg + 3 * u];
            z.copy_from_slice(&self.bias);
            add_rows(&self.kernel_t, &x[t * k..(t + 1) * k], z);
        }
        let mut h_prev = vec![0.0f32; u];
        for s in 0..self.w {
            let t = position(s, self.w, self.reverse);
            if s > 0 {
                let p = position(s - 1, self.w, self.reverse);
                h_prev.copy_from_slice(&hidden[p * u..(p + 1) * u]);
            }
            // rh = R h₋₁ + b_R for all three gates (the ĥ third used only after the reset).
            let rh = &mut tmp[..3 * u];
            rh.copy_from_slice(&self.recurrent_bias);
            add_rows(&self.recurrent_t, &h_prev, rh);
            let gt = &mut gates[t * sg..(t + 1) * sg];
            for j in 0..u {
                gt[j] = sigmoid(gt[j] + rh[j]);
                gt[u + j] = sigmoid(gt[u + j] + rh[u + j]);
            }
            if self.reset_after {
                gt[3 * u..].copy_from_slice(&rh[2 * u..]);
            } else {
                let (head, tail) = tmp.split_at_mut(3 * u);
                let rhp = &mut head[..u];
                for j in 0..u {
                    rhp[j] = gt[u + j] * h_prev[j];
                }
                let a = &mut tail[..u];
                a.copy_from_slice(&self.recurrent_bias[2 * u..]);
                // R_h (r·h₋₁): rows of Rᵀ restricted to the ĥ columns.
                for (c, &v) in rhp.iter().enumerate() {
                    let row = &self.recurrent_t[c * 3 * u + 2 * u..(c + 1) * 3 * u];
                    for (o, &wv) in a.iter_mut().zip(row) {
                        *o += v * wv;
                    }
                }
                gt[3 * u..].copy_from_slice(a);
            }
            for j in 0..u {
                let (z, r) = (gt[j], gt[u + j]);
                let pre = if self.reset_after {
                    gt[2 * u + j] + r * gt[3 * u + j]
                } else {
                    gt[2 * u + j] + gt[3 * u + j]
                };
                let n = pre.tanh();
                gt[2 * u + j] = n;
                hidden[t * u + j] = (1.0 - z) * n + z * h_prev[j];
            }
        }
    }

    fn buffers(&self, buf: &mut Vec<f32>, extra: usize) -> usize {
        let need = self.w * (SLOTS + 1) * self.units + 4 * self.units + extra;
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        need
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, buf: &mut Vec<f32>) {
        let (u, w) = (self.units, self.w);
        let need = self.buffers(buf, 0);
        let (gates, rest) = buf[..need].split_at_mut(w * SLOTS * u);
        let (hidden, tmp) = rest.split_at_mut(w * u);
        let (xn, yn) = (self.k * w, self.out_len());
        for b in 0..batch {
            self.run(&x[b * xn..(b + 1) * xn], gates, hidden, tmp);
            emit(
                hidden,
                &mut y[b * yn..(b + 1) * yn],
                u,
                self.return_sequences,
                self.reverse,
            );
        }
    }

    pub fn backward(
        &self,
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        batch: usize,
        buf: &mut Vec<f32>,
    ) {
        let (u, w, k) = (self.units, self.w, self.k);
        let sg = SLOTS * u;
        let need = self.buffers(buf, 3 * u + 2 * u);
        let (gates, rest) = buf[..need].split_at_mut(w * sg);
        let (hidden, rest) = rest.split_at_mut(w * u);
        let (tmp, rest) = rest.split_at_mut(4 * u);
        let (da, rest) = rest.split_at_mut(3 * u);
        let (dh_next, drh) = rest.split_at_mut(u);
        let zero = vec![0.0f32; u];
        let (xn, yn) = (k * w, self.out_len());
        for b in 0..batch {
            self.run(&x[b * xn..(b + 1) * xn], gates, hidden, tmp);
            let dyb = &dy[b * yn..(b + 1) * yn];
            let dxb = &mut dx[b * xn..(b + 1) * xn];
            dxb.fill(0.0);
            dh_next.fill(0.0);
            for s in (0..w).rev() {
                let t = position(s, w, self.reverse);
                let prev = (s > 0).then(|| position(s - 1, w, self.reverse));
                let h_prev: &[f32] = match prev {
                    Some(p) => &hidden[p * u..(p + 1) * u],
                    None => &zero,
                };
                let dh_out = output_grad(dyb, s, t, w, u, self.return_sequences);
                let gt = &gates[t * sg..(t + 1) * sg];
                // da: gradients of the three gates' pre-activations (input side);
                // drh[..u]: of the ĥ gate's recurrent term.
                for j in 0..u {
                    let dh = dh_next[j] + dh_out.get(j).copied().unwrap_or(0.0);
                    let (z, r, n, rh) = (gt[j], gt[u + j], gt[2 * u + j], gt[3 * u + j]);
                    let dn = dh * (1.0 - z) * (1.0 - n * n);
                    da[j] = dh * (h_prev[j] - n) * z * (1.0 - z);
                    da[2 * u + j] = dn;
                    if self.reset_after {
                        da[u + j] = dn * rh * r * (1.0 - r);
                        drh[j] = dn * r;
                    } else {
                        drh[j] = dn;
                    }
                    dh_next[j] = dh * z;
                }
                if !self.reset_after {
                    // d(r·h₋₁) = R_hᵀ dn, then through r and h₋₁.
                    let drhp = &mut tmp[..u];
                    drhp.fill(0.0);
                    add_rows(&self.recurrent[2 * u * u..], &drh[..u], drhp);
                    for j in 0..u {
                        let r = gt[u + j];
                        da[u + j] = drhp[j] * h_prev[j] * r * (1.0 - r);
                        dh_next[j] += drhp[j] * r;
                    }
                }
                add_rows(&self.kernel, da, &mut dxb[t * k..(t + 1) * k]);
                add_rows(&self.recurrent, &da[..2 * u], dh_next);
                if self.reset_after {
                    add_rows(&self.recurrent[2 * u * u..], &drh[..u], dh_next);
                }
            }
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        2.0 * (self.w * 3 * self.units * (self.k + self.units)) as f64
    }
}
