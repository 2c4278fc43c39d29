//! Rank 0: check every model of the job and open its results file before any
//! rank starts, deal lanes on request (running lanes itself between
//! requests), write every finished lane to its model's file, and analyse and
//! close each file as soon as its model's last lane is in.
use super::engine::Dealer;
use super::{idle_fraction, item_steps, message, Lanes, Work};
use crate::analysis::{analyze_run, RunAnalysis};
use crate::ascent::{run_lanes, ItemResult, LaneFeed, Next};
use crate::job::{prepare_all, Job, RunConfig};
use crate::network::Scorer;
use crate::progress::Progress;
use crate::results::{lock, RecordedFloor, ResultsWriter};
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rank 0's start: the models checked, their files created or reopened, the lanes still to run.
pub(super) struct Prepared {
    jobs: Vec<Job>,
    files: Vec<ResultsWriter>,
    /// Global indices of the lanes with unfinished restarts, in model order.
    pending: Vec<usize>,
    /// Per model, per item: 1 once its data are in the file.
    done: Vec<Vec<u8>>,
}

pub(super) fn setup(args: &RunConfig) -> Result<Prepared> {
    // A model or results directory on a file system without locks: go on
    // without HDF5's locking (HDF5 would fail the open, or say something else).
    // Both before HDF5 opens any file: it reads HDF5_USE_FILE_LOCKING once.
    let out_dir = match &args.out_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                Error::Input(format!("--out-dir {}: cannot create: {e}", d.display()))
            })?;
            d.as_path()
        }
        None => {
            lock::probe(&args.model, true);
            match args.out.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            }
        }
    };
    lock::probe(out_dir, true);
    let jobs = prepare_all(args)?;
    check_outputs(args, &jobs)?;
    let lanes = Lanes::new(&jobs);
    let (mut files, mut done, mut pending) = (Vec::new(), Vec::new(), Vec::new());
    for (j, job) in jobs.iter().enumerate() {
        // A multi-model --resume also starts the files that were never made.
        let (file, d) = if args.resume && (args.models.is_none() || job.out.exists()) {
            let (f, d) = ResultsWriter::resume(&job.out, &job.meta)?;
            // The floor is not part of the run's identity: it acts only in
            // the analysis rank 0 makes once the ascent is complete, so the
            // same /ascent is analysed with this run's floor, which `finish`
            // records. Said even with --quiet: it changes /analysis.
            let now = args.gmm_floor.name();
            let said = match f.recorded_gmm_floor() {
                Some(RecordedFloor::Analysed(was)) if was != now => Some(format!(
                    "its /analysis was made with --gmm-floor {was}; it is made again with {now}"
                )),
                Some(RecordedFloor::Started(was)) if was != now => Some(format!(
                    "the run was started with --gmm-floor {was}; its /analysis is made with {now}"
                )),
                _ => None,
            };
            if let Some(said) = said {
                crate::say!(
                    "deepresolve-mpi: {}: --resume with --gmm-floor {now}: {said} (the floor changes only the analysis, not the ascent)",
                    job.out.display()
                );
            }
            (f, d)
        } else {
            let f = ResultsWriter::create(&job.out, &job.meta, args.overwrite)?;
            (f, vec![0; job.items.len()])
        };
        let t = job.meta.restarts;
        for (l, r) in job.lanes.iter().enumerate() {
            if job.items[r.clone()].iter().any(|it| d[it.index(t)] == 0) {
                pending.push(lanes.global(j, l));
            }
        }
        files.push(file);
        done.push(d);
    }
    Ok(Prepared {
        jobs,
        files,
        pending,
        done,
    })
}

/// No results file may be a device, a FIFO or any input of the job (every
/// model, weights and class-names file of every model, the --models list).
fn check_outputs(args: &RunConfig, jobs: &[Job]) -> Result<()> {
    let mut inputs: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(l) = &args.models {
        inputs.push(("--models", l.clone()));
    }
    for j in jobs {
        inputs.push(("--model", PathBuf::from(&j.meta.model)));
        for (flag, p) in [
            ("--weights", &j.meta.weights),
            ("--class-names", &j.meta.class_names_file),
        ] {
            if !p.is_empty() {
                inputs.push((flag, PathBuf::from(p)));
            }
        }
    }
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(f, p)| (*f, p.as_path())).collect();
    let flag = if args.models.is_some() {
        "--out-dir"
    } else {
        "--out"
    };
    for j in jobs {
        crate::results::out_guard::check_output(flag, &j.out, &inputs)?;
    }
    Ok(())
}

/// One log line on how the first model's steps are computed.
fn describe_engine(sc: &Scorer) {
    for (name, n, l, bytes) in sc.spectral_layers() {
        crate::say!(
            "deepresolve-mpi: {name} runs through the real DFT (length {n}, {l} outputs per block; {:.0} MB of kernel spectra per rank)",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let wino = sc.winograd_layers();
    if !wino.is_empty() {
        crate::say!(
            "deepresolve-mpi: {} run{} by {}",
            wino.join(", "),
            if wino.len() == 1 { "s" } else { "" },
            crate::network::winograd_tile::current().name()
        );
    }
    if sc.batch_invariant() {
        crate::say!("deepresolve-mpi: batches refill from the next lane as items stop (each item's arithmetic is independent of its batch-mates)");
    } else {
        crate::say!("deepresolve-mpi: each lane's batch drains before the next starts (a product on the path depends on which items share a batch)");
    }
}

/// The dealer and the results it gathers, shared by rank 0's own lane feed
/// and the serving it does between its steps.
struct Dealing<'j, 'w> {
    dealer: Dealer<'w>,
    sink: ResultsSink<'j>,
}

impl Dealing<'_, '_> {
    /// Answer every waiting rank; lanes they finished go into their files.
    fn serve(&mut self) -> Result<()> {
        let Dealing { dealer, sink } = self;
        dealer.serve(&mut |g, data| sink.put(g, &message::decode(data)?))
    }

    /// Serve until every other rank has stopped and handed in its lanes.
    fn finish(&mut self) -> Result<()> {
        let Dealing { dealer, sink } = self;
        dealer.finish(&mut |g, data| sink.put(g, &message::decode(data)?))
    }
}

/// Rank 0's own lanes: the next pending lane of the model its scorer is for.
struct RootFeed<'a, 'j, 'w> {
    state: &'a RefCell<Dealing<'j, 'w>>,
    lanes: &'a Lanes,
    jobs: &'a [Job],
    model: usize,
}

impl LaneFeed for RootFeed<'_, '_, '_> {
    fn next(&mut self, _wait: bool) -> Result<Next> {
        let mut st = self.state.borrow_mut();
        let Some(g) = st.dealer.peek() else {
            return Ok(Next::End);
        };
        let (j, l) = self.lanes.local(g);
        if j != self.model {
            return Ok(Next::End);
        }
        st.dealer.take();
        let job = &self.jobs[j];
        Ok(Next::Lane(g, job.items[job.lanes[l].clone()].to_vec()))
    }

    fn done(&mut self, lane: usize, results: Vec<ItemResult>) -> Result<()> {
        self.state.borrow_mut().sink.put(lane, &results)
    }
}

/// Test-only (docs/running.md, "Long jobs"): rank 0 kills itself with SIGKILL right
/// after writing this many lanes, as a queue's time limit would.
pub const TEST_ABORT_AFTER_LANES: &str = "DEEPRESOLVE_TEST_ABORT_AFTER_LANES";

/// Rank 0's side of the gather: finished lanes into their files, each file
/// analysed and closed when its model is complete, and progress.
struct ResultsSink<'j> {
    jobs: &'j [Job],
    lanes: &'j Lanes,
    /// `None` once the model is complete and its file closed.
    files: Vec<Option<ResultsWriter>>,
    done: Vec<Vec<u8>>,
    /// Lanes still to come per model.
    left: Vec<usize>,
    gmm_floor: crate::analysis::gmm::GmmFloor,
    quiet: bool,
    progress: Progress,
    lanes_written: usize,
    abort_after_lanes: Option<usize>,
    /// Announce each finished model (multi-model jobs).
    say_models: bool,
    last_analysis: Option<RunAnalysis>,
}

impl ResultsSink<'_> {
    fn put(&mut self, lane: usize, res: &[ItemResult]) -> Result<()> {
        let (j, _) = self.lanes.local(lane);
        if !res.is_empty() {
            let file = self.files[j].as_mut().ok_or_else(|| {
                Error::Message(format!("lane {lane} arrived for a model already complete"))
            })?;
            file.write_items(res)?;
            let restarts = self.jobs[j].meta.restarts;
            let mut new = 0;
            for r in res {
                let d = &mut self.done[j][r.item.index(restarts)];
                new += (*d == 0) as usize;
                *d = 1;
            }
            self.progress.add(new, item_steps(res));
        }
        self.left[j] -= 1;
        if self.left[j] == 0 {
            self.finish(j)?;
        }
        self.lanes_written += 1;
        if self.abort_after_lanes == Some(self.lanes_written) {
            crate::say!(
                "deepresolve-mpi: {TEST_ABORT_AFTER_LANES}={}: killing rank 0 after {} lanes",
                self.lanes_written,
                self.lanes_written
            );
            // SAFETY: sends SIGKILL to this process; nothing runs after it.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        Ok(())
    }

    /// A model's last lane is in: analyse, write `/analysis`, close the file.
    fn finish(&mut self, j: usize) -> Result<()> {
        let Some(file) = self.files[j].take() else {
            return Ok(());
        };
        let analysis = analyze_run(&file.read_ensemble()?, self.gmm_floor);
        file.finish(&analysis)?;
        if !self.quiet {
            let names = &self.jobs[j].meta.class_names;
            for line in crate::analysis::diagnostics::describe(&analysis.checks(), names) {
                self.progress
                    .note(&format!("{}: {line}", self.jobs[j].name));
            }
        }
        if self.say_models {
            self.progress.note(&format!(
                "model {} done: {}",
                self.jobs[j].name,
                self.jobs[j].out.display()
            ));
        }
        self.last_analysis = Some(analysis);
        Ok(())
    }
}

/// What the job is, said once before the work starts.
fn announce(args: &RunConfig, jobs: &[Job], pending: usize, done_before: usize, size: usize) {
    let total: usize = jobs.iter().map(|j| j.items.len()).sum();
    let job = &jobs[0];
    if args.resume {
        crate::say!(
            "deepresolve-mpi: resuming {}: {done_before} of {total} restarts already done",
            if jobs.len() == 1 {
                job.out.display().to_string()
            } else {
                format!(
                    "{} models in {}",
                    jobs.len(),
                    args.out_dir
                        .as_deref()
                        .unwrap_or(job.out.as_ref())
                        .display()
                )
            }
        );
    }
    if jobs.len() == 1 {
        crate::say!(
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
    } else {
        crate::say!(
            "deepresolve-mpi: {} models, {total} restarts in all ({} × {} restarts for the first, {}, on layer {}); {} lanes to run on {} rank{}",
            jobs.len(),
            job.meta.classes.len(),
            job.meta.restarts,
            job.name,
            job.meta.layer,
            pending,
            size,
            if size == 1 { "" } else { "s" }
        );
    }
    let mut said = Vec::new();
    for job in jobs {
        if job.plan.left_out.is_empty() || said.contains(&job.plan.left_out) {
            continue;
        }
        said.push(job.plan.left_out.clone());
        crate::say!(
            "deepresolve-mpi: S_c is output {}{} before the {}{}",
            job.meta.output,
            if job.meta.reduce.is_empty() {
                String::new()
            } else {
                format!(" ({} over positions)", job.meta.reduce)
            },
            job.plan.left_out.join(", "),
            if jobs.len() > 1 {
                format!(" (model {} and others like it)", job.name)
            } else {
                String::new()
            }
        );
    }
    if size > 1 && pending < 2 * size {
        crate::say!(
            "deepresolve-mpi: note: {} lanes for {size} ranks, so some ranks will idle; a smaller --lane (now {}) spreads the work wider",
            pending,
            job.meta.lane
        );
    }
}

/// The last lines: the run's totals and where the results are.
fn conclude(args: &RunConfig, jobs: &[Job], summary: &str, analysis: Option<&RunAnalysis>) {
    crate::say!("{summary}");
    match (jobs.len(), analysis) {
        (1, Some(analysis)) => crate::say!(
            "deepresolve-mpi: results in {} ({} classes, GMM components {:?}{})",
            jobs[0].out.display(),
            analysis.c,
            &analysis.gmm_components[..analysis.c.min(8)],
            if analysis.c > 8 { ", …" } else { "" }
        ),
        _ => crate::say!(
            "deepresolve-mpi: results of {} models in {}",
            jobs.len(),
            args.out_dir
                .as_deref()
                .unwrap_or(jobs[0].out.as_ref())
                .display()
        ),
    }
}

pub(super) fn run_root(
    world: &SimpleCommunicator,
    args: &RunConfig,
    prepared: Prepared,
) -> Result<()> {
    let t0 = Instant::now();
    let mut work = Work::default();
    let size = world.size() as usize;
    let Prepared {
        jobs,
        files,
        pending,
        done,
    } = prepared;
    let lanes = Lanes::new(&jobs);
    let done_before = done.iter().flatten().filter(|&&d| d != 0).count();
    let total: usize = jobs.iter().map(|j| j.items.len()).sum();
    let progress = Progress::new(total, done_before, args.quiet, args.progress_every);
    let mut left = vec![0usize; jobs.len()];
    for &g in &pending {
        left[lanes.local(g).0] += 1;
    }
    let mut sink = ResultsSink {
        jobs: &jobs,
        lanes: &lanes,
        files: files.into_iter().map(Some).collect(),
        done,
        left,
        progress,
        lanes_written: 0,
        abort_after_lanes: std::env::var(TEST_ABORT_AFTER_LANES)
            .ok()
            .and_then(|v| v.parse().ok()),
        say_models: jobs.len() > 1 && !args.quiet,
        last_analysis: None,
        gmm_floor: args.gmm_floor,
        quiet: args.quiet,
    };
    // Said even with --quiet: which head is scored is part of the result.
    for note in jobs.iter().flat_map(|j| &j.notes) {
        crate::say!("deepresolve-mpi: {note}");
    }
    if !args.quiet {
        announce(args, &jobs, pending.len(), done_before, size);
    }
    // Models resumed with nothing left to run are analysed again at once.
    for j in 0..jobs.len() {
        if sink.left[j] == 0 {
            sink.finish(j)?;
        }
    }
    let n_lanes = lanes.total();
    let state = RefCell::new(Dealing {
        dealer: Dealer::new(world, pending, n_lanes),
        sink,
    });
    // One scorer at a time: lanes come in model order, so it changes once per model.
    let mut scorer: Option<(usize, Scorer)> = None;
    loop {
        state.borrow_mut().serve()?;
        let Some(g) = state.borrow().dealer.peek() else {
            break;
        };
        let j = lanes.local(g).0;
        let job = &jobs[j];
        if scorer.as_ref().is_none_or(|(sj, _)| *sj != j) {
            let sc = Scorer::with_conv(&job.net, job.plan.clone(), args.batch, args.conv);
            if !args.quiet && j == 0 {
                describe_engine(&sc);
            }
            scorer = Some((j, sc));
        }
        let sc = &mut scorer.as_mut().unwrap().1;
        let start = Instant::now();
        let mut feed = RootFeed {
            state: &state,
            lanes: &lanes,
            jobs: &jobs,
            model: j,
        };
        let cap = sc.capacity();
        let mut on_step = |m: usize| {
            work.step(m, cap);
            state.borrow_mut().serve()
        };
        let res = run_lanes(
            sc,
            &mut feed,
            &job.meta.params,
            (job.meta.k, job.meta.w),
            &mut on_step,
        );
        work.busy += start.elapsed().as_secs_f64();
        res.map_err(|e| match e {
            e @ Error::NonFinite { .. } => e.in_model(&job.name, jobs.len() > 1),
            e => e,
        })?;
    }
    // Every other rank told to stop, and every lane dealt to them back.
    state.borrow_mut().finish()?;
    let sink = state.into_inner().sink;
    let idle = idle_fraction(world, work, t0.elapsed().as_secs_f64());
    let summary = sink.progress.finish(idle);
    if !args.quiet {
        conclude(args, &jobs, &summary, sink.last_analysis.as_ref());
    }
    Ok(())
}
