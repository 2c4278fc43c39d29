//! A rank other than 0: ask rank 0 for lanes, one ahead of need, run them
//! through one batch, hand each in when done, until told to stop.
use super::message::{encode_finished, STOP, TAG_DONE, TAG_LANE, TAG_REQUEST, TAG_SIGNAL};
use super::{check_signal, idle_fraction, signals, Lanes, Work};
use crate::ascent::{run_lanes, ItemResult, LaneFeed, Next};
use crate::job::{prepare_all, Job, RunConfig};
use crate::network::Scorer;
use crate::results::lock;
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::{Duration, Instant};

pub(super) fn run_worker(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    match work(world, args) {
        Err(e @ Error::Interrupted { .. }) => Err(hand_signal_to_root(world, e)),
        r => r,
    }
}

/// A stop signal caught here: tell rank 0, which says it once and ends every
/// rank; should rank 0 not do so within 3 s, this rank says it and ends the job.
fn hand_signal_to_root(world: &SimpleCommunicator, e: Error) -> Error {
    let sig = signals::caught().unwrap_or(0);
    world
        .process_at_rank(0)
        .send_with_tag(&sig.to_le_bytes()[..], TAG_SIGNAL);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    e
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
        world,
        lanes: &lanes,
        jobs: &jobs,
        model: usize::MAX,
        asked: false,
        answer: None,
    };
    loop {
        let g = feed.wait_answer()?;
        if g == STOP {
            break;
        }
        let j = lanes.local(lanes.check_i64(g)?).0;
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
    world: &'a SimpleCommunicator,
    lanes: &'a Lanes,
    jobs: &'a [Job],
    /// The model whose scorer runs now: a lane of another ends the stream.
    model: usize,
    /// A request is out and its answer not yet read.
    asked: bool,
    /// Rank 0's answer not yet used: a lane, or [`STOP`].
    answer: Option<i64>,
}

impl WorkerFeed<'_> {
    fn ask(&mut self) {
        if !self.asked && self.answer.is_none() {
            self.world
                .process_at_rank(0)
                .send_with_tag(&encode_finished(None, &[])[..], TAG_REQUEST);
            self.asked = true;
        }
    }

    fn poll(&mut self) {
        if !self.asked {
            return;
        }
        if let Some((msg, _)) = self
            .world
            .process_at_rank(0)
            .immediate_matched_probe_with_tag(TAG_LANE)
        {
            self.answer = Some(msg.matched_receive::<i64>().0);
            self.asked = false;
        }
    }

    /// Rank 0's next answer, asking for it if need be.
    fn wait_answer(&mut self) -> Result<i64> {
        self.ask();
        loop {
            self.poll();
            if let Some(a) = self.answer {
                return Ok(a);
            }
            check_signal(self.world)?;
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl LaneFeed for WorkerFeed<'_> {
    fn next(&mut self, wait: bool) -> Result<Next> {
        self.ask();
        self.poll();
        let g = match (self.answer, wait) {
            (Some(a), _) => a,
            (None, false) => return Ok(Next::NotYet),
            (None, true) => self.wait_answer()?,
        };
        if g == STOP {
            return Ok(Next::End);
        }
        let (j, l) = self.lanes.local(self.lanes.check_i64(g)?);
        if j != self.model {
            return Ok(Next::End);
        }
        self.answer = None;
        let job = &self.jobs[j];
        Ok(Next::Lane(
            g as usize,
            job.items[job.lanes[l].clone()].to_vec(),
        ))
    }

    fn done(&mut self, lane: usize, results: Vec<ItemResult>) -> Result<()> {
        self.world
            .process_at_rank(0)
            .send_with_tag(&encode_finished(Some(lane), &results)[..], TAG_DONE);
        Ok(())
    }
}
