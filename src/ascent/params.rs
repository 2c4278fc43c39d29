//! The options of SPEC step 1 that change results, and the learning-rate schedule.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AscentParams {
    pub lambda: f32,
    pub lr: f32,
    pub decay_start: usize,
    pub decay_alpha: f32,
    pub min_lr: f32,
    pub patience: usize,
    pub max_steps: usize,
    pub seed: u64,
}

impl Default for AscentParams {
    fn default() -> Self {
        AscentParams {
            lambda: 1.0,
            lr: 0.1,
            decay_start: 500,
            decay_alpha: 0.2,
            min_lr: 1e-6,
            patience: 10,
            max_steps: 10000,
            seed: 0,
        }
    }
}

impl AscentParams {
    /// Learning rate of update number `step` (1-based): lr0 for the first
    /// `decay_start` updates, then max(lr0 · (step − decay_start)^(−α), min_lr).
    pub fn lr_at(&self, step: usize) -> f32 {
        if step <= self.decay_start {
            self.lr
        } else {
            let t = (step - self.decay_start) as f64;
            ((self.lr as f64) * t.powf(-(self.decay_alpha as f64))).max(self.min_lr as f64) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn schedule_is_flat_then_decays_to_the_floor() {
        let p = AscentParams {
            lr: 0.1,
            decay_start: 5,
            decay_alpha: 0.5,
            min_lr: 0.02,
            ..Default::default()
        };
        assert_eq!(p.lr_at(1), 0.1);
        assert_eq!(p.lr_at(5), 0.1);
        assert_eq!(p.lr_at(6), 0.1); // (6-5)^-0.5 = 1
        assert!((p.lr_at(9) - 0.05).abs() < 1e-7); // 4^-0.5
        assert_eq!(p.lr_at(10_000), 0.02);
    }
}
