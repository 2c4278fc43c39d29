//! A rank other than 0: ask rank 0 for a lane (handing in the last one
//! finished), run it, repeat until told to stop.
use super::message::{encode_finished, STOP, TAG_LANE, TAG_REQUEST, TAG_SIGNAL};
use super::{check_signal, idle_fraction, signals, Lanes};
use crate::ascent::{run_lane, ItemResult};
use crate::job::{prepare_all, RunConfig};
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
    let mut busy = 0.0f64;
    // Rank 0 has said it if the model's file system has no locks.
    if args.models.is_none() {
        lock::probe(&args.model, false);
    }
    let jobs = prepare_all(args)?;
    let lanes = Lanes::new(&jobs);
    let mut scorer: Option<(usize, Scorer)> = None;
    let mut finished: Option<usize> = None;
    let mut results: Vec<ItemResult> = Vec::new();
    loop {
        world
            .process_at_rank(0)
            .send_with_tag(&encode_finished(finished, &results)[..], TAG_REQUEST);
        let lane: i64 = loop {
            if let Some((msg, _)) = world
                .process_at_rank(0)
                .immediate_matched_probe_with_tag(TAG_LANE)
            {
                break msg.matched_receive::<i64>().0;
            }
            check_signal(world)?;
            std::thread::sleep(Duration::from_micros(200));
        };
        if lane == STOP {
            break;
        }
        let g = lanes.check_i64(lane)?;
        let (j, l) = lanes.local(g);
        let job = &jobs[j];
        if scorer.as_ref().is_none_or(|(sj, _)| *sj != j) {
            scorer = Some((j, Scorer::with_plan(&job.net, job.plan.clone(), args.batch)));
        }
        let sc = &mut scorer.as_mut().unwrap().1;
        let start = Instant::now();
        results = run_lane(
            sc,
            &job.items[job.lanes[l].clone()],
            &job.meta.params,
            (job.meta.k, job.meta.w),
            &mut |_| check_signal(world),
        )?;
        finished = Some(g);
        busy += start.elapsed().as_secs_f64();
    }
    idle_fraction(world, busy, t0.elapsed().as_secs_f64());
    Ok(())
}
