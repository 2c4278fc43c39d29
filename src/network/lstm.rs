//! LSTM over positions, with backward through time. Per item: the input
//! projections of every step at once, then the steps in order, each a
//! product with the recurrent kernel; backward recomputes the gates (so the
//! forward pass keeps nothing) and runs the steps back.
use super::recurrent_math::{add_rows, emit, output_grad, position, sigmoid, transpose};

#[derive(Debug, Clone)]
pub struct Lstm {
    pub k: usize,
    pub w: usize,
    pub units: usize,
    pub reverse: bool,
    pub return_sequences: bool,
    /// (4U, K) and its transpose (K, 4U).
    kernel: Vec<f32>,
    kernel_t: Vec<f32>,
    /// (4U, U) and its transpose.
    recurrent: Vec<f32>,
    recurrent_t: Vec<f32>,
    bias: Vec<f32>,
}

impl Lstm {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        k: usize,
        w: usize,
        units: usize,
        reverse: bool,
        return_sequences: bool,
        kernel: Vec<f32>,
        recurrent: Vec<f32>,
        bias: Vec<f32>,
    ) -> Lstm {
        let g = 4 * units;
        Lstm {
            k,
            w,
            units,
            reverse,
            return_sequences,
            kernel_t: transpose(&kernel, g, k),
            kernel,
            recurrent_t: transpose(&recurrent, g, units),
            recurrent,
            bias,
        }
    }

    fn out_len(&self) -> usize {
        self.units * if self.return_sequences { self.w } else { 1 }
    }

    /// One item: the activated gates (i, f, g, o) of every position into
    /// `gates` (W × 4U), the cell state into `cells` (W × U), the hidden
    /// state into `hidden` (W × U), all at the position they belong to.
    fn run(&self, x: &[f32], gates: &mut [f32], cells: &mut [f32], hidden: &mut [f32]) {
        let (u, g, k) = (self.units, 4 * self.units, self.k);
        for t in 0..self.w {
            let z = &mut gates[t * g..(t + 1) * g];
            z.copy_from_slice(&self.bias);
            add_rows(&self.kernel_t, &x[t * k..(t + 1) * k], z);
        }
        let mut prev: Option<usize> = None;
        for s in 0..self.w {
            let t = position(s, self.w, self.reverse);
            let z = &mut gates[t * g..(t + 1) * g];
            if let Some(p) = prev {
                add_rows(&self.recurrent_t, &hidden[p * u..(p + 1) * u], z);
            }
            for j in 0..u {
                let i = sigmoid(z[j]);
                let f = sigmoid(z[u + j]);
                let gg = z[2 * u + j].tanh();
                let o = sigmoid(z[3 * u + j]);
                z[j] = i;
                z[u + j] = f;
                z[2 * u + j] = gg;
                z[3 * u + j] = o;
                let c_prev = prev.map_or(0.0, |p| cells[p * u + j]);
                let c = f * c_prev + i * gg;
                cells[t * u + j] = c;
                hidden[t * u + j] = o * c.tanh();
            }
            prev = Some(t);
        }
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, buf: &mut Vec<f32>) {
        let (u, w) = (self.units, self.w);
        let need = w * 6 * u;
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        let (gates, rest) = buf[..need].split_at_mut(4 * w * u);
        let (cells, hidden) = rest.split_at_mut(w * u);
        let (xn, yn) = (self.k * w, self.out_len());
        for b in 0..batch {
            self.run(&x[b * xn..(b + 1) * xn], gates, cells, hidden);
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
        let (u, w, k, g) = (self.units, self.w, self.k, 4 * self.units);
        let need = w * 6 * u + 2 * g + 2 * u;
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        let (gates, rest) = buf[..need].split_at_mut(4 * w * u);
        let (cells, rest) = rest.split_at_mut(w * u);
        let (hidden, rest) = rest.split_at_mut(w * u);
        let (dz, rest) = rest.split_at_mut(g);
        let (dh_next, rest) = rest.split_at_mut(u);
        let (dc_next, _) = rest.split_at_mut(u);
        let (xn, yn) = (k * w, self.out_len());
        for b in 0..batch {
            self.run(&x[b * xn..(b + 1) * xn], gates, cells, hidden);
            let dyb = &dy[b * yn..(b + 1) * yn];
            let dxb = &mut dx[b * xn..(b + 1) * xn];
            dxb.fill(0.0);
            dh_next.fill(0.0);
            dc_next.fill(0.0);
            for s in (0..w).rev() {
                let t = position(s, w, self.reverse);
                let prev = (s > 0).then(|| position(s - 1, w, self.reverse));
                let dh_out = output_grad(dyb, s, t, w, u, self.return_sequences);
                let z = &gates[t * g..(t + 1) * g];
                for j in 0..u {
                    let dh = dh_next[j] + dh_out.get(j).copied().unwrap_or(0.0);
                    let (i, f, gg, o) = (z[j], z[u + j], z[2 * u + j], z[3 * u + j]);
                    let tc = cells[t * u + j].tanh();
                    let dc = dc_next[j] + dh * o * (1.0 - tc * tc);
                    let c_prev = prev.map_or(0.0, |p| cells[p * u + j]);
                    dz[j] = dc * gg * i * (1.0 - i);
                    dz[u + j] = dc * c_prev * f * (1.0 - f);
                    dz[2 * u + j] = dc * i * (1.0 - gg * gg);
                    dz[3 * u + j] = dh * tc * o * (1.0 - o);
                    dc_next[j] = dc * f;
                }
                add_rows(&self.kernel, dz, &mut dxb[t * k..(t + 1) * k]);
                dh_next.fill(0.0);
                add_rows(&self.recurrent, dz, dh_next);
            }
        }
    }

    pub fn flops_per_item(&self) -> f64 {
        2.0 * (self.w * 4 * self.units * (self.k + self.units)) as f64
    }
}
