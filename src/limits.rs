//! Bounds on the counts and durations an option sets, checked before anything
//! is allocated from them: a huge `--batch` or `--restarts` is refused with
//! the option's name instead of aborting in the allocator.
use crate::{Error, Result};

/// Items advanced together per GEMM: far above any useful batch (the bench
/// saturates near 64), far below what would overflow a buffer size.
pub const MAX_BATCH: usize = 1 << 16;
/// Items per lane.
pub const MAX_LANE: usize = 1 << 24;
/// Restarts (or starting points) per class or channel.
pub const MAX_RESTARTS: usize = 1 << 20;
/// (class, restart) items of one job.
pub const MAX_ITEMS: usize = 1 << 30;
/// Seconds between progress lines: a year.
pub const MAX_PROGRESS_EVERY: f64 = 365.0 * 86400.0;

/// `--NAME v`, 1 ≤ v ≤ max.
pub fn count(name: &str, v: usize, max: usize) -> Result<usize> {
    if v == 0 {
        return Err(Error::Input(format!("--{name} must be at least 1")));
    }
    if v > max {
        return Err(Error::Input(format!(
            "--{name} {v} is more than the largest allowed, {max}"
        )));
    }
    Ok(v)
}

/// Items per lane: `--lane`, or 2 × `--batch` (the batch already checked).
pub fn lane(lane: Option<usize>, batch: usize) -> Result<usize> {
    match lane {
        Some(l) => count("lane", l, MAX_LANE),
        None => Ok((2 * batch).min(MAX_LANE)),
    }
}

/// classes × restarts, bounded.
pub fn items(classes: usize, restarts: usize) -> Result<usize> {
    match classes.checked_mul(restarts) {
        Some(n) if n <= MAX_ITEMS => Ok(n),
        _ => Err(Error::Input(format!(
            "{classes} classes × --restarts {restarts} is more than {MAX_ITEMS} items"
        ))),
    }
}

/// `--progress-every`: finite, ≥ 0, at most a year.
pub fn progress_every(v: f64) -> Result<f64> {
    if !(v.is_finite() && (0.0..=MAX_PROGRESS_EVERY).contains(&v)) {
        return Err(Error::Input(format!(
            "--progress-every {v} must be a number of seconds from 0 to {MAX_PROGRESS_EVERY}"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(count("batch", 0, MAX_BATCH).is_err());
        assert!(count("batch", 1 << 32, MAX_BATCH)
            .unwrap_err()
            .to_string()
            .contains("--batch 4294967296"));
        assert_eq!(count("batch", 32, MAX_BATCH).unwrap(), 32);
        assert_eq!(lane(None, 32).unwrap(), 64);
        assert!(lane(Some(0), 32).is_err());
        assert!(items(usize::MAX, 2).is_err());
        assert!(items(3, MAX_RESTARTS).is_ok());
        for bad in [f64::INFINITY, f64::NAN, 1e20, -1.0] {
            assert!(progress_every(bad).is_err(), "{bad}");
        }
        assert_eq!(progress_every(30.0).unwrap(), 30.0);
    }
}
