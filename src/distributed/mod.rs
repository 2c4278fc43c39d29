//! The MPI edge, split by role. Rank 0 ([`root`]) validates the job, deals
//! lanes on request (and runs lanes itself between requests), receives every
//! finished lane, writes it to the results file, and computes the analysis.
//! Other ranks ([`worker`]) ask for a lane, run it, send it back with their
//! next request; [`message`] is what travels between them. Everything else
//! in the crate is plain functions that know nothing of MPI.
mod message;
pub mod panic_hook;
mod root;
pub mod signals;
mod worker;

use crate::ascent::ItemResult;
use crate::job::RunConfig;
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// Print an error as this rank's own and end every rank with a non-zero exit.
pub fn fail(world: &SimpleCommunicator, e: &dyn std::fmt::Display) -> ! {
    let rank = world.rank();
    if world.size() > 1 {
        eprintln!("deepresolve-mpi: error (rank {rank}): {e}");
    } else {
        eprintln!("deepresolve-mpi: error: {e}");
    }
    use std::io::Write;
    let _ = std::io::stderr().flush();
    if world.size() == 1 {
        std::process::exit(1);
    }
    world.abort(1)
}

/// `run` on every rank: rank 0 checks everything before any rank starts (the
/// others wait for its word), then each rank plays its role.
pub fn run(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    signals::install();
    let rank = world.rank();
    let mut ok: u8 = 0;
    let mut prepared = None;
    if rank == 0 {
        match root::setup(args) {
            Ok(p) => {
                ok = 1;
                prepared = Some(p);
            }
            Err(e) => {
                eprintln!("deepresolve-mpi: error: {e}");
            }
        }
    }
    world.process_at_rank(0).broadcast_into(&mut ok);
    if ok == 0 {
        std::process::exit(1);
    }
    let res = match prepared {
        Some(p) => root::run_root(world, args, p),
        None => worker::run_worker(world, args),
    };
    if let Err(Error::Interrupted { signal, rank }) = &res {
        if panic_hook::another_rank_panicked(world) {
            panic_hook::wait_for_abort();
        }
        // Not an error of the run: one line that says what to do, then every rank ends.
        eprintln!(
            "deepresolve-mpi: stopped by {signal} on rank {rank}: the restarts finished so far are in {}; run the same command with --resume to finish the run",
            args.out.display()
        );
        use std::io::Write;
        let _ = std::io::stderr().flush();
        if world.size() == 1 {
            std::process::exit(1);
        }
        world.abort(1)
    }
    res
}

/// `Err(Interrupted)` if this rank has caught a stop signal.
fn check_signal(world: &SimpleCommunicator) -> Result<()> {
    match signals::caught() {
        None => Ok(()),
        Some(s) => Err(Error::Interrupted {
            signal: signals::name(s),
            rank: world.rank(),
        }),
    }
}

/// The lanes of every model of a job, numbered globally in model order
/// (what travels between ranks is the global number).
pub(crate) struct Lanes {
    /// First global lane of each model, and the total at the end.
    offsets: Vec<usize>,
}

impl Lanes {
    pub(crate) fn new(jobs: &[crate::job::Job]) -> Lanes {
        let mut offsets = vec![0];
        for j in jobs {
            offsets.push(offsets.last().unwrap() + j.lanes.len());
        }
        Lanes { offsets }
    }
    pub(crate) fn global(&self, model: usize, lane: usize) -> usize {
        self.offsets[model] + lane
    }
    /// (model, lane within it) of a global lane.
    pub(crate) fn local(&self, g: usize) -> (usize, usize) {
        let j = self.offsets.partition_point(|&o| o <= g) - 1;
        (j, g - self.offsets[j])
    }
    fn total(&self) -> usize {
        *self.offsets.last().unwrap()
    }
    pub(crate) fn check(&self, g: usize) -> Result<usize> {
        self.check_i64(g as i64)
    }
    pub(crate) fn check_i64(&self, g: i64) -> Result<usize> {
        message::decode_lane_index(g, self.total())
    }
}

/// Item-steps of finished items: every step is one forward+backward pass, plus the first evaluation.
fn item_steps(results: &[ItemResult]) -> u64 {
    results.iter().map(|r| r.steps as u64 + 1).sum()
}

/// Wait for a message with `tag` from any rank without spinning a core.
fn poll_message(world: &SimpleCommunicator, tag: i32) -> Option<(Vec<u8>, i32)> {
    let (msg, status) = world.any_process().immediate_matched_probe_with_tag(tag)?;
    let mut data = vec![0u8; status.count(u8::equivalent_datatype()) as usize];
    msg.matched_receive_into(&mut data[..]);
    Some((data, status.source_rank()))
}

/// What a rank did: seconds running lanes, and batch slots used and offered
/// over its steps (a step of m items in a batch of capacity B uses m of B).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Work {
    pub busy: f64,
    pub used: f64,
    pub offered: f64,
}

impl Work {
    pub(crate) fn step(&mut self, m: usize, capacity: usize) {
        self.used += m as f64;
        self.offered += capacity as f64;
    }
}

/// On rank 0: 1 − (time spent running lanes, summed over ranks) / (ranks ×
/// wall time), and the share of batch slots that computed a live item.
fn idle_fraction(world: &SimpleCommunicator, work: Work, wall: f64) -> Option<(f64, f64)> {
    let root = world.process_at_rank(0);
    let mine = [work.busy, work.used, work.offered];
    if world.rank() == 0 {
        let mut all = vec![0f64; 3 * world.size() as usize];
        root.gather_into_root(&mine[..], &mut all[..]);
        let sum = |i: usize| all.iter().skip(i).step_by(3).sum::<f64>();
        let idle = (1.0 - sum(0) / (world.size() as f64 * wall.max(1e-9))).clamp(0.0, 1.0);
        Some((idle, sum(1) / sum(2).max(1.0)))
    } else {
        root.gather_into(&mine[..]);
        None
    }
}
