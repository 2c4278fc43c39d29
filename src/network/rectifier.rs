//! The parameterised rectifiers: Keras ReLU / LeakyReLU layers and PReLU.
//! Their derivatives are taken from the input, which the graph keeps.

/// Keras `relu(x, negative_slope, max_value, threshold)`, term for term.
#[derive(Debug, Clone)]
pub struct Relu {
    pub negative_slope: f32,
    pub max_value: Option<f32>,
    pub threshold: f32,
}

impl Relu {
    fn value(&self, x: f32) -> f32 {
        let mut v = if self.threshold != 0.0 {
            if x > self.threshold {
                x
            } else {
                0.0
            }
        } else {
            x.max(0.0)
        };
        if let Some(m) = self.max_value {
            v = v.clamp(0.0, m);
        }
        if self.negative_slope != 0.0 {
            v -= self.negative_slope * (self.threshold - x).max(0.0);
        }
        v
    }

    fn slope(&self, x: f32) -> f32 {
        let through = if self.threshold != 0.0 {
            x > self.threshold
        } else {
            x > 0.0
        };
        let clipped = self.max_value.is_some_and(|m| x >= m || x < 0.0);
        let mut d = if through && !clipped { 1.0 } else { 0.0 };
        if x < self.threshold {
            d += self.negative_slope;
        }
        d
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = self.value(v));
    }

    pub fn backward(&self, x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((d, &v), &g) in dx.iter_mut().zip(x).zip(dy) {
            *d = g * self.slope(v);
        }
    }
}

/// max(x, 0) + alpha·min(x, 0); alpha repeats every `alpha.len()` values of
/// the position-major map (one per channel, or one per position and channel).
#[derive(Debug, Clone)]
pub struct PRelu {
    pub alpha: Vec<f32>,
}

impl PRelu {
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let n = self.alpha.len();
        for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
            *o = if v > 0.0 { v } else { self.alpha[i % n] * v };
        }
    }

    pub fn backward(&self, x: &[f32], dy: &[f32], dx: &mut [f32]) {
        let n = self.alpha.len();
        for (i, ((d, &v), &g)) in dx.iter_mut().zip(x).zip(dy).enumerate() {
            *d = if v > 0.0 { g } else { self.alpha[i % n] * g };
        }
    }
}
