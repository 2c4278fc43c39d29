//! Rank 0: check the job and open the results file before any rank starts,
//! deal lanes on request (running lanes itself between requests), write every
//! finished lane, and at the end analyse the ensemble and write `/analysis`.
use super::message::{decode, STOP, TAG_LANE, TAG_REQUEST, TAG_SIGNAL};
use super::{check_signal, idle_fraction, item_steps, poll_message, signals};
use crate::analysis::{analyze_run, RunAnalysis};
use crate::ascent::{run_lane, ItemResult};
use crate::job::{prepare, Job, RunConfig};
use crate::network::Scorer;
use crate::progress::Progress;
use crate::results::{lock, ResultsWriter};
use crate::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::{Duration, Instant};

/// Rank 0's start: the job checked, the file created or reopened, the lanes still to run.
pub(super) struct Prepared {
    job: Job,
    file: ResultsWriter,
    /// Indices of the lanes with unfinished restarts.
    pending: Vec<usize>,
    /// Per item: 1 once its data are in the file.
    done: Vec<u8>,
}

pub(super) fn setup(args: &RunConfig) -> Result<Prepared> {
    // A model or results directory on a file system without locks: go on
    // without HDF5's locking (HDF5 would fail the open, or say something else).
    lock::probe(&args.model, true);
    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    lock::probe(dir, true);
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
    Ok(Prepared {
        job,
        file,
        pending,
        done,
    })
}

/// Test-only (README, "Long jobs"): rank 0 kills itself with SIGKILL right
/// after writing this many lanes, as a queue's time limit would.
pub const TEST_ABORT_AFTER_LANES: &str = "DEEPRESOLVE_TEST_ABORT_AFTER_LANES";

/// Rank 0's side of the gather: finished lanes into the file, and progress.
struct ResultsSink {
    file: ResultsWriter,
    done: Vec<u8>,
    restarts: usize,
    progress: Progress,
    lanes_written: usize,
    abort_after_lanes: Option<usize>,
}

impl ResultsSink {
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
        self.progress.add(new, item_steps(res));
        self.lanes_written += 1;
        if self.abort_after_lanes == Some(self.lanes_written) {
            eprintln!(
                "deepresolve-mpi: {TEST_ABORT_AFTER_LANES}={}: killing rank 0 after {} lanes",
                self.lanes_written, self.lanes_written
            );
            // SAFETY: sends SIGKILL to this process; nothing runs after it.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        Ok(())
    }
}

/// What the job is, said once before the work starts.
fn announce(args: &RunConfig, job: &Job, pending: usize, done_before: usize, size: usize) {
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
        pending,
        size,
        if size == 1 { "" } else { "s" }
    );
    if !job.plan.left_out.is_empty() {
        eprintln!(
            "deepresolve-mpi: S_c is output {}{} before the {}",
            job.meta.output,
            if job.meta.reduce.is_empty() {
                String::new()
            } else {
                format!(" ({} over positions)", job.meta.reduce)
            },
            job.plan.left_out.join(", ")
        );
    }
    if size > 1 && pending < 2 * size {
        eprintln!(
            "deepresolve-mpi: note: {} lanes for {size} ranks, so some ranks will idle; a smaller --lane (now {}) spreads the work wider",
            pending,
            job.meta.lane
        );
    }
}

/// The last lines: the run's totals and where the results are.
fn conclude(args: &RunConfig, summary: &str, analysis: &RunAnalysis) {
    eprintln!("{summary}");
    eprintln!(
        "deepresolve-mpi: results in {} ({} classes, GMM components {:?}{})",
        args.out.display(),
        analysis.c,
        &analysis.gmm_components[..analysis.c.min(8)],
        if analysis.c > 8 { ", …" } else { "" }
    );
}

pub(super) fn run_root(
    world: &SimpleCommunicator,
    args: &RunConfig,
    prepared: Prepared,
) -> Result<()> {
    let t0 = Instant::now();
    let mut busy = 0.0f64;
    let size = world.size() as usize;
    let Prepared {
        job,
        file,
        pending,
        done,
    } = prepared;
    let done_before = done.iter().filter(|&&d| d != 0).count();
    let progress = Progress::new(
        job.items.len(),
        done_before,
        args.quiet,
        args.progress_every,
    );
    let mut sink = ResultsSink {
        file,
        done,
        restarts: job.meta.restarts,
        progress,
        lanes_written: 0,
        abort_after_lanes: std::env::var(TEST_ABORT_AFTER_LANES)
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    if !args.quiet {
        announce(args, &job, pending.len(), done_before, size);
    }
    let mut next = 0usize;
    let mut stopped = 0usize;
    let mut first_error: Option<crate::Error> = None;
    // Serve requests from the other ranks: store what they finished, deal the next lane.
    let serve = |sink: &mut ResultsSink, next: &mut usize, stopped: &mut usize| -> Result<()> {
        // A stop signal here or on another rank ends the run between writes.
        check_signal(world)?;
        if let Some((data, src)) = poll_message(world, TAG_SIGNAL) {
            let sig = data
                .get(..4)
                .map_or(0, |b| i32::from_le_bytes(b.try_into().unwrap()));
            return Err(crate::Error::Interrupted {
                signal: signals::name(sig),
                rank: src,
            });
        }
        while let Some((data, src)) = poll_message(world, TAG_REQUEST) {
            sink.put(&decode(&data)?)?;
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
    let mut scorer = Scorer::with_plan(&job.net, job.plan.clone(), args.batch);
    loop {
        serve(&mut sink, &mut next, &mut stopped)?;
        if next >= pending.len() {
            break;
        }
        next += 1;
        let lane = &job.items[job.lanes[pending[next - 1]].clone()];
        let start = Instant::now();
        let mut on_step = |_m: usize| serve(&mut sink, &mut next, &mut stopped);
        let res = run_lane(
            &mut scorer,
            lane,
            &job.meta.params,
            (job.meta.k, job.meta.w),
            &mut on_step,
        );
        busy += start.elapsed().as_secs_f64();
        match res {
            Ok(res) => sink.put(&res)?,
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
        serve(&mut sink, &mut next, &mut stopped)?;
        std::thread::sleep(Duration::from_micros(300));
    }
    let idle = idle_fraction(world, busy, t0.elapsed().as_secs_f64());
    let analysis = analyze_run(&sink.file.read_ensemble()?);
    sink.file.finish(&analysis)?;
    let summary = sink.progress.finish(idle);
    if !args.quiet {
        conclude(args, &summary, &analysis);
    }
    Ok(())
}
