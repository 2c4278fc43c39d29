//! Element-wise activations and their derivatives, computed from the output
//! so a layer only has to keep what it produced.
use crate::model::Activation;

/// Apply in place to rows of `k` values (softmax normalises within a row = across channels).
pub fn forward(act: Activation, y: &mut [f32], k: usize) {
    match act {
        Activation::Linear => {}
        Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Sigmoid => y.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Elu => y.iter_mut().for_each(|v| {
            if *v <= 0.0 {
                *v = v.exp_m1()
            }
        }),
        // ln(1 + e^z) without overflow for large z.
        Activation::Softplus => y
            .iter_mut()
            .for_each(|v| *v = v.max(0.0) + (-v.abs()).exp().ln_1p()),
        Activation::Softmax => {
            for row in y.chunks_mut(k) {
                let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let mut s = 0.0;
                for v in row.iter_mut() {
                    *v = (*v - m).exp();
                    s += *v;
                }
                row.iter_mut().for_each(|v| *v /= s);
            }
        }
    }
}

/// dz = dy · f'(z), with f' written in terms of y = f(z). `dz` may alias nothing.
pub fn backward(act: Activation, y: &[f32], dy: &[f32], dz: &mut [f32], k: usize) {
    match act {
        Activation::Linear => dz.copy_from_slice(dy),
        Activation::Relu => zip3(y, dy, dz, |y, g| if y > 0.0 { g } else { 0.0 }),
        Activation::Sigmoid => zip3(y, dy, dz, |y, g| g * y * (1.0 - y)),
        Activation::Tanh => zip3(y, dy, dz, |y, g| g * (1.0 - y * y)),
        Activation::Elu => zip3(y, dy, dz, |y, g| if y > 0.0 { g } else { g * (y + 1.0) }),
        Activation::Softplus => zip3(y, dy, dz, |y, g| g * (-(-y).exp_m1())),
        Activation::Softmax => {
            for ((yr, gr), zr) in y.chunks(k).zip(dy.chunks(k)).zip(dz.chunks_mut(k)) {
                let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
                for ((z, &yv), &g) in zr.iter_mut().zip(yr).zip(gr) {
                    *z = yv * (g - dot);
                }
            }
        }
    }
}

fn zip3(y: &[f32], dy: &[f32], dz: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for ((z, &yv), &g) in dz.iter_mut().zip(y).zip(dy) {
        *z = f(yv, g);
    }
}
