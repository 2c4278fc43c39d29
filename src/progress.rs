//! Progress on rank 0: a bar on a terminal, timestamped lines in a batch log.
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    total: usize,
    done: usize,
    /// Items already done when this process started (`--resume`): not work
    /// of this process, so not in its rate or ETA.
    restored: usize,
    item_steps: u64,
    start: Instant,
    last: Instant,
    every: Duration,
    tty: bool,
    quiet: bool,
}

fn hms(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "{:02}:{:02}:{:02}Z",
        (now / 3600) % 24,
        (now / 60) % 60,
        now % 60
    )
}

/// Seconds left at the pace of the items computed since this process
/// started (`restored` were already done then); None before the first.
pub fn eta_s(total: usize, restored: usize, done: usize, elapsed_s: f64) -> Option<f64> {
    let new = done.saturating_sub(restored);
    if new == 0 {
        return None;
    }
    Some(elapsed_s * total.saturating_sub(done) as f64 / new as f64)
}

impl Progress {
    pub fn new(total: usize, already_done: usize, quiet: bool, every_s: f64) -> Self {
        let now = Instant::now();
        Progress {
            total,
            done: already_done,
            restored: already_done,
            item_steps: 0,
            start: now,
            last: now,
            // Checked by the caller; a library caller's NaN or infinity means "never".
            every: Duration::try_from_secs_f64(every_s.max(0.1)).unwrap_or(Duration::MAX),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Record finished items and item-steps (one forward+backward pass of one item).
    pub fn add(&mut self, items: usize, item_steps: u64) {
        self.done += items;
        self.item_steps += item_steps;
        let due = if self.tty {
            Duration::from_millis(200)
        } else {
            self.every
        };
        if !self.quiet && self.last.elapsed() >= due {
            self.last = Instant::now();
            self.print();
        }
    }

    /// A line of its own between progress lines (a bar on a terminal is ended first).
    pub fn note(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        crate::say!("deepresolve-mpi: {} {msg}", stamp());
    }

    pub fn item_steps(&self) -> u64 {
        self.item_steps
    }

    fn rate(&self) -> f64 {
        self.item_steps as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    fn print(&self) {
        let el = self.start.elapsed().as_secs_f64();
        let frac = self.done as f64 / self.total.max(1) as f64;
        let eta = match eta_s(self.total, self.restored, self.done, el) {
            Some(s) => hms(s),
            None => "?".into(),
        };
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 30;
            let fill = (frac * width as f64) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {}/{} items  {:.1} item-steps/s  ETA {}   ",
                "#".repeat(fill),
                "-".repeat(width - fill),
                self.done,
                self.total,
                self.rate(),
                eta
            );
        } else {
            let _ = writeln!(
                err,
                "[{}] progress: {}/{} items ({:.1}%), {:.1} item-steps/s, elapsed {}, ETA {}",
                stamp(),
                self.done,
                self.total,
                100.0 * frac,
                self.rate(),
                hms(el),
                eta
            );
        }
    }

    /// The closing line: total item-steps, wall time, rate.
    /// The summary line; `ranks` is (idle fraction of rank time, share of
    /// batch slots that computed a live item), where known.
    pub fn finish(&self, ranks: Option<(f64, f64)>) -> String {
        if !self.quiet {
            // The 100% line, so even a short run's log shows its progress format.
            self.print();
            if self.tty {
                crate::say!();
            }
        }
        let wall = self.start.elapsed().as_secs_f64();
        if self.done == self.restored {
            return format!(
                "done: {} items, all already in the file: nothing computed",
                self.done
            );
        }
        let restored = if self.restored > 0 {
            format!(" ({} already in the file)", self.restored)
        } else {
            String::new()
        };
        let idle = ranks
            .map(|(f, used)| {
                format!(
                    ", idle {:.1}%, batch slots used {:.1}%",
                    100.0 * f,
                    100.0 * used
                )
            })
            .unwrap_or_default();
        format!(
            "done: {} items{restored}, {} item-steps in {:.2} s = {:.1} item-steps/s{}",
            self.done,
            self.item_steps,
            wall,
            self.item_steps as f64 / wall.max(1e-9),
            idle
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn eta_counts_only_items_computed_since_the_resume() {
        // The case: 60.8% done at 5 s, but most of it restored.
        // 100 items, 50 restored, 11 computed in 5 s: 39 left at 2.2 items/s.
        let eta = eta_s(100, 50, 61, 5.0).unwrap();
        assert!((eta - 5.0 * 39.0 / 11.0).abs() < 1e-9, "{eta}");
        // A fresh run: the plain proportion.
        assert_eq!(eta_s(100, 0, 25, 10.0), Some(30.0));
        // Nothing computed yet (or everything restored): unknown.
        assert_eq!(eta_s(100, 50, 50, 3.0), None);
        assert_eq!(eta_s(10, 10, 10, 0.1), None);
        assert_eq!(eta_s(10, 2, 10, 4.0), Some(0.0));
    }

    #[test]
    fn a_resume_with_nothing_left_says_so() {
        let p = Progress::new(10, 10, true, 30.0);
        assert_eq!(
            p.finish(Some((1.0, 0.0))),
            "done: 10 items, all already in the file: nothing computed"
        );
        let mut p = Progress::new(10, 8, true, 30.0);
        p.add(2, 40);
        let s = p.finish(None);
        assert!(
            s.starts_with("done: 10 items (8 already in the file), 40 item-steps in "),
            "{s}"
        );
    }
}
