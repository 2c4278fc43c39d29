//! A rank other than 0: ask rank 0 for a lane (handing in the last one
//! finished), run it, repeat until told to stop.
use super::idle_fraction;
use super::message::{decode_lane_index, encode, STOP, TAG_LANE, TAG_REQUEST};
use crate::ascent::{run_lane, ItemResult};
use crate::job::{prepare, RunConfig};
use crate::network::Scorer;
use crate::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::{Duration, Instant};

pub(super) fn run_worker(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    let t0 = Instant::now();
    let mut busy = 0.0f64;
    let job = prepare(args)?;
    let mut scorer = Scorer::with_plan(&job.net, job.plan.clone(), args.batch);
    let mut results: Vec<ItemResult> = Vec::new();
    loop {
        world
            .process_at_rank(0)
            .send_with_tag(&encode(&results)[..], TAG_REQUEST);
        let lane: i64 = loop {
            if let Some((msg, _)) = world
                .process_at_rank(0)
                .immediate_matched_probe_with_tag(TAG_LANE)
            {
                break msg.matched_receive::<i64>().0;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        if lane == STOP {
            break;
        }
        let lane = &job.items[job.lanes[decode_lane_index(lane, job.lanes.len())?].clone()];
        let start = Instant::now();
        results = run_lane(
            &mut scorer,
            lane,
            &job.meta.params,
            (job.meta.k, job.meta.w),
            &mut |_| Ok(()),
        )?;
        busy += start.elapsed().as_secs_f64();
    }
    idle_fraction(world, busy, t0.elapsed().as_secs_f64());
    Ok(())
}
