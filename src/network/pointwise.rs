//! Element-wise math on activations (ONNX Log, Sqrt, Abs, Reciprocal, Pow
//! with a constant exponent, Clip with any bounds). Derivatives are taken
//! from the input, which the graph keeps; at a kink (Abs at 0, a Clip bound)
//! they follow PyTorch's autograd, so gradients match the framework's.
use crate::model::Pointwise;

fn value(op: Pointwise, x: f32) -> f32 {
    match op {
        Pointwise::Log => x.ln(),
        Pointwise::Sqrt => x.sqrt(),
        Pointwise::Abs => x.abs(),
        Pointwise::Reciprocal => 1.0 / x,
        Pointwise::Pow(p) => x.powf(p),
        Pointwise::Clip { min, max } => {
            let v = min.map_or(x, |m| x.max(m));
            max.map_or(v, |m| v.min(m))
        }
    }
}

fn slope(op: Pointwise, x: f32) -> f32 {
    match op {
        Pointwise::Log => 1.0 / x,
        Pointwise::Sqrt => 0.5 / x.sqrt(),
        // sign(0) = 0, as torch.abs's gradient.
        Pointwise::Abs => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Pointwise::Reciprocal => -1.0 / (x * x),
        Pointwise::Pow(p) => p * x.powf(p - 1.0),
        // Inside the bounds, the bounds included (torch.clamp).
        Pointwise::Clip { min, max } => {
            let inside = min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m);
            if inside {
                1.0
            } else {
                0.0
            }
        }
    }
}

pub fn forward(op: Pointwise, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(o, &v)| *o = value(op, v));
}

pub fn backward(op: Pointwise, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((d, &v), &g) in dx.iter_mut().zip(x).zip(dy) {
        *d = g * slope(op, v);
    }
}
