//! The MPI edge. Rank 0 validates the job, deals lanes on request (and runs
//! lanes itself between requests), receives every finished lane, writes it to
//! the results file, and computes the analysis. Other ranks ask for a lane,
//! run it, send it back with their next request. Everything else in the crate
//! is plain functions that know nothing of MPI.
use crate::analysis::analyze_run;
use crate::ascent::{run_lane, Item, ItemResult};
use crate::job::{prepare, Job, RunConfig};
use crate::network::Scorer;
use crate::progress::Progress;
use crate::results::ResultsWriter;
use crate::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::{Duration, Instant};

const TAG_REQUEST: i32 = 1;
const TAG_LANE: i32 = 2;
const STOP: i64 = -1;

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

fn encode(results: &[ItemResult]) -> Vec<u8> {
    let mut b = Vec::new();
    for r in results {
        for v in [
            r.item.class_pos as u32,
            r.item.class as u32,
            r.item.restart as u32,
            r.steps,
            r.converged as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&r.score.to_le_bytes());
        for map in [&r.fim, &r.fiv] {
            b.extend_from_slice(&(map.len() as u32).to_le_bytes());
            for v in map {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    b
}

fn decode(b: &[u8]) -> Vec<ItemResult> {
    let mut out = Vec::new();
    let mut i = 0;
    let u32_at = |i: &mut usize| {
        let v = u32::from_le_bytes(b[*i..*i + 4].try_into().unwrap());
        *i += 4;
        v
    };
    while i < b.len() {
        let (class_pos, class, restart, steps, conv) = (
            u32_at(&mut i),
            u32_at(&mut i),
            u32_at(&mut i),
            u32_at(&mut i),
            u32_at(&mut i),
        );
        let score = f32::from_bits(u32_at(&mut i));
        let n = u32_at(&mut i) as usize;
        let fim = (0..n).map(|_| f32::from_bits(u32_at(&mut i))).collect();
        let n = u32_at(&mut i) as usize;
        let fiv = (0..n).map(|_| f32::from_bits(u32_at(&mut i))).collect();
        out.push(ItemResult {
            item: Item {
                class_pos: class_pos as usize,
                class: class as usize,
                restart: restart as usize,
            },
            fim,
            fiv,
            score,
            steps,
            converged: conv != 0,
        });
    }
    out
}

/// Item-steps of finished items: every step is one forward+backward pass, plus the first evaluation.
fn passes(results: &[ItemResult]) -> u64 {
    results.iter().map(|r| r.steps as u64 + 1).sum()
}

/// Wait for a message with `tag` from any rank without spinning a core.
fn poll_message(world: &SimpleCommunicator, tag: i32) -> Option<(Vec<u8>, i32)> {
    let (msg, status) = world.any_process().immediate_matched_probe_with_tag(tag)?;
    let mut data = vec![0u8; status.count(u8::equivalent_datatype()) as usize];
    msg.matched_receive_into(&mut data[..]);
    Some((data, status.source_rank()))
}

pub fn run(world: &SimpleCommunicator, args: &RunConfig) -> Result<()> {
    let rank = world.rank();
    let size = world.size() as usize;
    // Rank 0 checks everything before any rank starts; the others wait for its word.
    let mut ok: u8 = 0;
    let mut prepared: Option<(Job, ResultsWriter, Vec<usize>, Vec<u8>)> = None;
    if rank == 0 {
        match setup_root(args) {
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
    let t0 = Instant::now();
    let mut busy = 0.0f64;
    if rank == 0 {
        let (job, file, pending, done) = prepared.unwrap();
        let done_before = done.iter().filter(|&&d| d != 0).count();
        let progress = Progress::new(
            job.items.len(),
            done_before,
            args.quiet,
            args.progress_every,
        );
        let mut store = Store {
            file,
            done,
            restarts: job.meta.restarts,
            progress,
        };
        if !args.quiet {
            if args.resume {
                eprintln!(
                    "deepresolve-mpi: resuming {}: {done_before} of {} restarts already done",
                    args.out.display(),
                    job.items.len()
                );
            }
            eprintln!(
                "deepresolve-mpi: {} classes × {} restarts on layer {} ({}), H = {} channels × {} positions; {} lanes to run on {} rank{}",
                job.meta.classes.len(),
                job.meta.restarts,
                job.layer,
                job.meta.layer,
                job.meta.k,
                job.meta.w,
                pending.len(),
                size,
                if size == 1 { "" } else { "s" }
            );
            if size > 1 && pending.len() < 2 * size {
                eprintln!(
                    "deepresolve-mpi: note: {} lanes for {size} ranks, so some ranks will idle; a smaller --lane (now {}) spreads the work wider",
                    pending.len(),
                    job.meta.lane
                );
            }
        }
        let mut next = 0usize;
        let mut stopped = 0usize;
        let mut first_error: Option<crate::Error> = None;
        // Serve requests from the other ranks: store what they finished, deal the next lane.
        let serve = |store: &mut Store, next: &mut usize, stopped: &mut usize| -> Result<()> {
            while let Some((data, src)) = poll_message(world, TAG_REQUEST) {
                store.put(&decode(&data))?;
                let lane: i64 = if *next < pending.len() {
                    *next += 1;
                    pending[*next - 1] as i64
                } else {
                    *stopped += 1;
                    STOP
                };
                world.process_at_rank(src).send_with_tag(&lane, TAG_LANE);
            }
            Ok(())
        };
        let mut scorer = Scorer::new(&job.net, job.layer, args.batch)?;
        loop {
            serve(&mut store, &mut next, &mut stopped)?;
            if next >= pending.len() {
                break;
            }
            next += 1;
            let lane = &job.items[job.lanes[pending[next - 1]].clone()];
            let start = Instant::now();
            let mut on_step = |_m: usize| serve(&mut store, &mut next, &mut stopped);
            let res = run_lane(
                &mut scorer,
                lane,
                &job.meta.params,
                (job.meta.k, job.meta.w),
                &mut on_step,
            );
            busy += start.elapsed().as_secs_f64();
            match res {
                Ok(res) => store.put(&res)?,
                Err(e) => {
                    first_error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        while stopped < size - 1 {
            serve(&mut store, &mut next, &mut stopped)?;
            std::thread::sleep(Duration::from_micros(300));
        }
        let idle = idle_fraction(world, busy, t0.elapsed().as_secs_f64());
        let analysis = analyze_run(&store.file.read_ensemble()?);
        store.file.write_analysis(&analysis)?;
        let summary = store.progress.finish(idle);
        if !args.quiet {
            eprintln!("{summary}");
            eprintln!(
                "deepresolve-mpi: results in {} ({} classes, GMM components {:?}{})",
                args.out.display(),
                analysis.c,
                &analysis.gmm_components[..analysis.c.min(8)],
                if analysis.c > 8 { ", …" } else { "" }
            );
        }
        Ok(())
    } else {
        let job = prepare(args)?;
        let mut scorer = Scorer::new(&job.net, job.layer, args.batch)?;
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
            let lane = &job.items[job.lanes[lane as usize].clone()];
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
}

/// 1 − (time spent running lanes, summed over ranks) / (ranks × wall time).
fn idle_fraction(world: &SimpleCommunicator, busy: f64, wall: f64) -> Option<f64> {
    let root = world.process_at_rank(0);
    if world.rank() == 0 {
        let mut all = vec![0f64; world.size() as usize];
        root.gather_into_root(&busy, &mut all[..]);
        let total: f64 = all.iter().sum();
        Some((1.0 - total / (world.size() as f64 * wall.max(1e-9))).clamp(0.0, 1.0))
    } else {
        root.gather_into(&busy);
        None
    }
}

/// Rank 0's start: the job checked, the file created or reopened, the lanes still to run.
/// Rank 0's side of the gather: finished lanes into the file, and progress.
struct Store {
    file: ResultsWriter,
    done: Vec<u8>,
    restarts: usize,
    progress: Progress,
}

impl Store {
    fn put(&mut self, res: &[ItemResult]) -> Result<()> {
        if res.is_empty() {
            return Ok(());
        }
        self.file.write_items(res)?;
        let mut new = 0;
        for r in res {
            let d = &mut self.done[r.item.index(self.restarts)];
            new += (*d == 0) as usize;
            *d = 1;
        }
        self.progress.add(new, passes(res));
        Ok(())
    }
}

fn setup_root(args: &RunConfig) -> Result<(Job, ResultsWriter, Vec<usize>, Vec<u8>)> {
    let job = prepare(args)?;
    let (file, pending, done) = if args.resume {
        let (file, done) = ResultsWriter::resume(&args.out, &job.meta)?;
        let t = job.meta.restarts;
        let pending: Vec<usize> = job
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                job.items[(*r).clone()]
                    .iter()
                    .any(|it| done[it.index(t)] == 0)
            })
            .map(|(j, _)| j)
            .collect();
        (file, pending, done)
    } else {
        let file = ResultsWriter::create(&args.out, &job.meta, args.overwrite)?;
        (
            file,
            (0..job.lanes.len()).collect(),
            vec![0; job.items.len()],
        )
    };
    Ok((job, file, pending, done))
}
