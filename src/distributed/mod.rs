//! The MPI edge. [`engine`] is the one work engine of `run`, `calibrate` and
//! `channels`: units of work dealt on request, stop signals, the one line
//! that ends a stopped job. `run` plays it by role: rank 0 ([`root`])
//! validates the job, deals lanes (running lanes itself between requests),
//! writes every finished lane to the results file, and computes the
//! analysis; other ranks ([`worker`]) ask for lanes one ahead, run them and
//! hand them in; [`message`] is a finished lane's bytes. Everything else in
//! the crate is plain functions that know nothing of MPI.
pub mod bytes;
pub mod engine;
mod message;
pub mod panic_hook;
mod root;
pub mod signals;
mod worker;

/// The ranks of a job, as the commands pass them to the engine.
pub use mpi::topology::SimpleCommunicator as World;

use crate::ascent::ItemResult;
use crate::job::RunConfig;
use crate::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// Print an error as this rank's own and end every rank with a non-zero exit.
pub fn fail(world: &SimpleCommunicator, e: &dyn std::fmt::Display) -> ! {
    let rank = world.rank();
    if world.size() > 1 {
        crate::say!("deepresolve-mpi: error (rank {rank}): {e}");
    } else {
        crate::say!("deepresolve-mpi: error: {e}");
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
    let res = match engine::agree(world, || root::setup(args)) {
        Some(p) => root::run_root(world, args, p),
        None => worker::run_worker(world, args),
    };
    engine::end_if_interrupted(world, res, || {
        format!(
            "the restarts finished so far are in {}; run the same command with --resume to finish the run",
            args.out.display()
        )
    })
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
    pub(crate) fn total(&self) -> usize {
        *self.offsets.last().unwrap()
    }
}

/// Item-steps of finished items: every step is one forward+backward pass, plus the first evaluation.
fn item_steps(results: &[ItemResult]) -> u64 {
    results.iter().map(|r| r.steps as u64 + 1).sum()
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
