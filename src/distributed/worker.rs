//! A rank other than 0: ask rank 0 for lanes, one ahead of need, run them
//! through one batch, hand each in when done, until told to stop.
use super::engine::{self, check_signal, Answer, Asker};
use super::{idle_fraction, message, Lanes, Work};
use crate::ascent::{run_lanes, ItemResult, LaneFeed, Next};
use crate::job::{prepare_all, Job, RunConfig};
use crate::network::Scorer;
use crate::results::lock;
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use std::time::Instant;

pub(super) fn run_worker(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    work(world, args).map_err(|e| engine::hand_signal_to_root(world, e))
}

fn work(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    let t0 = Instant::now();
    let mut work = Work::default();
    // Rank 0 has said it if the model's file system has no locks.
    if args.models.is_none() {
        lock::probe(&args.model, false);
    }
    let jobs = prepare_all(args)?;
    let lanes = Lanes::new(&jobs);
    let mut scorer: Option<(usize, Scorer)> = None;
    let mut feed = WorkerFeed {
        asker: Asker::new(world, lanes.total()),
        lanes: &lanes,
        jobs: &jobs,
        model: usize::MAX,
    };
    while let Answer::Unit(g) = feed.asker.wait()? {
        let j = lanes.local(g).0;
        let job = &jobs[j];
        if scorer.as_ref().is_none_or(|(sj, _)| *sj != j) {
            scorer = Some((
                j,
                Scorer::with_conv(&job.net, job.plan.clone(), args.batch, args.conv),
            ));
        }
        feed.model = j;
        let sc = &mut scorer.as_mut().unwrap().1;
        let cap = sc.capacity();
        let start = Instant::now();
        run_lanes(
            sc,
            &mut feed,
            &job.meta.params,
            (job.meta.k, job.meta.w),
            &mut |m| {
                work.step(m, cap);
                check_signal(world)
            },
        )
        .map_err(|e| match e {
            e @ Error::NonFinite { .. } => e.in_model(&job.name, jobs.len() > 1),
            e => e,
        })?;
        work.busy += start.elapsed().as_secs_f64();
    }
    idle_fraction(world, work, t0.elapsed().as_secs_f64());
    Ok(())
}

/// This rank's lanes, asked of rank 0 one ahead: the request for the next
/// lane goes out while the current one still runs.
struct WorkerFeed<'a> {
    asker: Asker<'a>,
    lanes: &'a Lanes,
    jobs: &'a [Job],
    /// The model whose scorer runs now: a lane of another ends the stream.
    model: usize,
}

impl LaneFeed for WorkerFeed<'_> {
    fn next(&mut self, wait: bool) -> Result<Next> {
        let answer = if wait {
            self.asker.wait()?
        } else {
            match self.asker.peek()? {
                Some(a) => a,
                None => return Ok(Next::NotYet),
            }
        };
        let Answer::Unit(g) = answer else {
            return Ok(Next::End);
        };
        let (j, l) = self.lanes.local(g);
        if j != self.model {
            return Ok(Next::End);
        }
        self.asker.take();
        let job = &self.jobs[j];
        Ok(Next::Lane(g, job.items[job.lanes[l].clone()].to_vec()))
    }

    fn done(&mut self, lane: usize, results: Vec<ItemResult>) -> Result<()> {
        self.asker.hand_in(lane, &message::encode(&results));
        Ok(())
    }
}
