//! Element-wise activations and their derivatives. Most derivatives are
//! written in terms of the output y = f(z), so a layer with a fused activation
//! only keeps what it produced; GELU and swish are not functions of their
//! output, so they take the input (the engine splits them off a fused layer).
use crate::model::{Activation, SELU_ALPHA, SELU_SCALE};

/// √(2/π), the GELU tanh approximation's constant.
const GELU_C: f64 = 0.797_884_560_802_865_4;
const GELU_K: f64 = 0.044_715;
/// The slope of Enformer's sigmoid GELU, x·σ(1.702x).
const GELU_SIGMOID: f32 = 1.702;

/// Activations whose derivative needs the input, not only the output.
pub fn needs_input(act: Activation) -> bool {
    matches!(
        act,
        Activation::Gelu | Activation::GeluTanh | Activation::GeluSigmoid | Activation::Swish
    )
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))) as f32
}

fn gelu_grad(x: f32) -> f32 {
    let x = x as f64;
    let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (cdf + x * pdf) as f32
}

fn gelu_tanh(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + (GELU_C * (x + GELU_K * x * x * x)).tanh())) as f32
}

fn gelu_tanh_grad(x: f32) -> f32 {
    let x = x as f64;
    let t = (GELU_C * (x + GELU_K * x * x * x)).tanh();
    (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * x * x)) as f32
}

/// Apply in place to rows of `k` values (softmax normalises within a row = across channels).
pub fn forward(act: Activation, y: &mut [f32], k: usize) {
    match act {
        Activation::Linear => {}
        Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
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
        Activation::Gelu => y.iter_mut().for_each(|v| *v = gelu(*v)),
        Activation::GeluTanh => y.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
        Activation::Swish => y.iter_mut().for_each(|v| *v *= sigmoid(*v)),
        Activation::GeluSigmoid => y.iter_mut().for_each(|v| *v *= sigmoid(GELU_SIGMOID * *v)),
        Activation::Exponential => y.iter_mut().for_each(|v| *v = v.exp()),
        Activation::Selu => y.iter_mut().for_each(|v| {
            *v = if *v > 0.0 {
                SELU_SCALE * *v
            } else {
                SELU_SCALE * SELU_ALPHA * v.exp_m1()
            }
        }),
        Activation::HardSigmoid { alpha, beta } => y
            .iter_mut()
            .for_each(|v| *v = (alpha * *v + beta).clamp(0.0, 1.0)),
    }
}

/// dz = dy · f'(z), with f' written in terms of y = f(z). Not for the
/// activations of [`needs_input`].
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
        Activation::Exponential => zip3(y, dy, dz, |y, g| g * y),
        Activation::Selu => zip3(y, dy, dz, |y, g| {
            if y > 0.0 {
                g * SELU_SCALE
            } else {
                g * (y + SELU_SCALE * SELU_ALPHA)
            }
        }),
        Activation::HardSigmoid { alpha, .. } => {
            zip3(
                y,
                dy,
                dz,
                |y, g| {
                    if y > 0.0 && y < 1.0 {
                        g * alpha
                    } else {
                        0.0
                    }
                },
            )
        }
        Activation::Gelu | Activation::GeluTanh | Activation::GeluSigmoid | Activation::Swish => {
            unreachable!("{act:?} is differentiated from its input")
        }
    }
}

/// dz = dy · f'(z) from the input z (and the output, for the others).
pub fn backward_from_input(
    act: Activation,
    z: &[f32],
    y: &[f32],
    dy: &[f32],
    dz: &mut [f32],
    k: usize,
) {
    match act {
        Activation::Gelu => zip3(z, dy, dz, |z, g| g * gelu_grad(z)),
        Activation::GeluTanh => zip3(z, dy, dz, |z, g| g * gelu_tanh_grad(z)),
        Activation::Swish => zip3(z, dy, dz, |z, g| {
            let s = sigmoid(z);
            g * s * (1.0 + z * (1.0 - s))
        }),
        Activation::GeluSigmoid => zip3(z, dy, dz, |z, g| {
            let s = sigmoid(GELU_SIGMOID * z);
            g * s * (1.0 + GELU_SIGMOID * z * (1.0 - s))
        }),
        _ => backward(act, y, dy, dz, k),
    }
}

fn zip3(y: &[f32], dy: &[f32], dz: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for ((z, &yv), &g) in dz.iter_mut().zip(y).zip(dy) {
        *z = f(yv, g);
    }
}
