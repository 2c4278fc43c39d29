//! The options of docs/SPEC.md, method step 1, that change results, and the learning-rate schedule.
//!
//! [`AscentParams`] is the unchecked set a caller fills in (every default is
//! written once, in [`AscentParams::new`]); [`AscentParams::check`] turns it into
//! [`ValidAscentParams`], the only form the ascent accepts.
use crate::{Error, Result};

/// Ascent options as given, not yet checked. Build with [`AscentParams::new`]
/// (the method's defaults) and the setters, then [`check`](AscentParams::check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AscentParams(ValidAscentParams);

/// Where a restart starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// N(0, 1) noise (the method as published).
    Normal,
    /// U[0, 1) noise, as the authors' code starts.
    Uniform,
}

/// Which map a restart returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The map with the best objective seen.
    Best,
    /// The last iterate, as the authors' code saves it (its score is stored).
    Final,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Normal => "normal",
            Init::Uniform => "uniform",
        }
    }
}

impl Keep {
    pub fn name(self) -> &'static str {
        match self {
            Keep::Best => "best",
            Keep::Final => "final",
        }
    }
}

/// Ascent options that passed [`AscentParams::check`]: λ ≥ 0, lr0 > 0, α ≥ 0 and
/// min_lr ≥ 0 all finite, patience ≥ 1, max_steps ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidAscentParams {
    lambda: f32,
    lr: f32,
    decay_start: usize,
    decay_alpha: f32,
    min_lr: f32,
    patience: usize,
    max_steps: usize,
    seed: u64,
    init: Init,
    keep: Keep,
}

impl AscentParams {
    pub const DEFAULT_LAMBDA: f32 = 1.0;
    pub const DEFAULT_LR: f32 = 0.1;
    pub const DEFAULT_DECAY_START: usize = 500;
    pub const DEFAULT_DECAY_ALPHA: f32 = 0.2;
    pub const DEFAULT_MIN_LR: f32 = 1e-6;
    pub const DEFAULT_PATIENCE: usize = 10;
    pub const DEFAULT_MAX_STEPS: usize = 10000;
    pub const DEFAULT_SEED: u64 = 0;

    /// The method's defaults.
    pub const fn new() -> Self {
        AscentParams(ValidAscentParams {
            lambda: Self::DEFAULT_LAMBDA,
            lr: Self::DEFAULT_LR,
            decay_start: Self::DEFAULT_DECAY_START,
            decay_alpha: Self::DEFAULT_DECAY_ALPHA,
            min_lr: Self::DEFAULT_MIN_LR,
            patience: Self::DEFAULT_PATIENCE,
            max_steps: Self::DEFAULT_MAX_STEPS,
            seed: Self::DEFAULT_SEED,
            init: Init::Normal,
            keep: Keep::Best,
        })
    }

    /// How restarts start.
    pub fn init(mut self, v: Init) -> Self {
        self.0.init = v;
        self
    }
    /// Which map a restart returns.
    pub fn keep(mut self, v: Keep) -> Self {
        self.0.keep = v;
        self
    }

    /// L2 coefficient λ of the objective S_c(H) − λ‖H‖².
    pub fn lambda(mut self, v: f32) -> Self {
        self.0.lambda = v;
        self
    }
    /// Learning rate lr0.
    pub fn lr(mut self, v: f32) -> Self {
        self.0.lr = v;
        self
    }
    /// Updates at lr0 before the decay starts.
    pub fn decay_start(mut self, v: usize) -> Self {
        self.0.decay_start = v;
        self
    }
    /// Exponent α of the decay.
    pub fn decay_alpha(mut self, v: f32) -> Self {
        self.0.decay_alpha = v;
        self
    }
    /// Floor of the decayed learning rate.
    pub fn min_lr(mut self, v: f32) -> Self {
        self.0.min_lr = v;
        self
    }
    /// Evaluations without improvement that stop a restart.
    pub fn patience(mut self, v: usize) -> Self {
        self.0.patience = v;
        self
    }
    /// Updates after which a restart stops unconverged.
    pub fn max_steps(mut self, v: usize) -> Self {
        self.0.max_steps = v;
        self
    }
    /// Seed of the starting maps.
    pub fn seed(mut self, v: u64) -> Self {
        self.0.seed = v;
        self
    }

    /// The options checked; the error names the first bad one as its
    /// command-line option.
    pub fn check(&self) -> Result<ValidAscentParams> {
        let p = &self.0;
        let pos = |name: &str, v: f32, allow_zero: bool| {
            if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
                Err(Error::Input(format!(
                    "--{name} {v} must be a finite {} number",
                    if allow_zero {
                        "non-negative"
                    } else {
                        "positive"
                    }
                )))
            } else {
                Ok(())
            }
        };
        pos("lambda", p.lambda, true)?;
        pos("lr", p.lr, false)?;
        pos("decay-alpha", p.decay_alpha, true)?;
        pos("min-lr", p.min_lr, true)?;
        if p.patience == 0 {
            return Err(Error::Input("--patience must be at least 1".into()));
        }
        if p.max_steps == 0 {
            // Zero updates would return the random starting maps as results.
            return Err(Error::Input(
                "--max-steps must be at least 1 (0 would return the random starting maps)".into(),
            ));
        }
        Ok(*p)
    }
}

impl Default for AscentParams {
    fn default() -> Self {
        Self::new()
    }
}

impl ValidAscentParams {
    pub fn lambda(&self) -> f32 {
        self.lambda
    }
    pub fn lr(&self) -> f32 {
        self.lr
    }
    pub fn decay_start(&self) -> usize {
        self.decay_start
    }
    pub fn decay_alpha(&self) -> f32 {
        self.decay_alpha
    }
    pub fn min_lr(&self) -> f32 {
        self.min_lr
    }
    pub fn patience(&self) -> usize {
        self.patience
    }
    pub fn max_steps(&self) -> usize {
        self.max_steps
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn init(&self) -> Init {
        self.init
    }
    pub fn keep(&self) -> Keep {
        self.keep
    }

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

impl Default for ValidAscentParams {
    /// The method's defaults, which are valid.
    fn default() -> Self {
        AscentParams::new().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn schedule_is_flat_then_decays_to_the_floor() {
        let p = AscentParams::new()
            .lr(0.1)
            .decay_start(5)
            .decay_alpha(0.5)
            .min_lr(0.02)
            .check()
            .unwrap();
        assert_eq!(p.lr_at(1), 0.1);
        assert_eq!(p.lr_at(5), 0.1);
        assert_eq!(p.lr_at(6), 0.1); // (6-5)^-0.5 = 1
        assert!((p.lr_at(9) - 0.05).abs() < 1e-7); // 4^-0.5
        assert_eq!(p.lr_at(10_000), 0.02);
    }

    #[test]
    fn check_names_the_first_bad_option() {
        assert!(AscentParams::new().check().is_ok());
        let msg = |p: AscentParams| p.check().unwrap_err().to_string();
        assert_eq!(
            msg(AscentParams::new().lambda(f32::NAN)),
            "--lambda NaN must be a finite non-negative number"
        );
        assert_eq!(
            msg(AscentParams::new().lr(0.0)),
            "--lr 0 must be a finite positive number"
        );
        assert_eq!(
            msg(AscentParams::new().decay_alpha(-1.0)),
            "--decay-alpha -1 must be a finite non-negative number"
        );
        assert_eq!(
            msg(AscentParams::new().min_lr(f32::INFINITY)),
            "--min-lr inf must be a finite non-negative number"
        );
        assert_eq!(
            msg(AscentParams::new().patience(0)),
            "--patience must be at least 1"
        );
        assert!(msg(AscentParams::new().max_steps(0)).starts_with("--max-steps must be at least 1"));
    }
}
