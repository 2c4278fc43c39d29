//! The binary's edge: MPI start-up, argument parsing, errors to exit codes.
mod cli;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use deepresolve_mpi::analysis::{analyze_run, gmm::GmmFloor, RunAnalysis};
use deepresolve_mpi::results::ResultsWriter;
use deepresolve_mpi::{bench, clusters, diff, distributed, inspect, motifs, plot};
use mpi::traits::*;

/// This process's rank as the launcher tells it (mpirun, srun), before any
/// MPI start-up: only `run` starts MPI, so the single-process commands start
/// in milliseconds (MPI start-up alone is ~0.4 s), and under a launcher only
/// rank 0 runs them.
use distributed::panic_hook::launcher_rank;

/// Test-only: `DEEPRESOLVE_TEST_PANIC_RANK=N` makes rank N panic once MPI is
/// up (or at start for a single-process command), so the tests can check
/// that a panic on any rank ends the whole job. Not a user option.
fn test_panic(rank: i32) {
    if std::env::var("DEEPRESOLVE_TEST_PANIC_RANK")
        .ok()
        .and_then(|v| v.parse().ok())
        == Some(rank)
    {
        panic!("deliberate test panic (DEEPRESOLVE_TEST_PANIC_RANK={rank})");
    }
}

fn main() {
    distributed::panic_hook::install();
    distributed::signals::ignore_file_size_limit();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors and --help are the same on every rank: say them once.
            if launcher_rank() == 0 {
                let _ = e.print();
            }
            std::process::exit(e.exit_code());
        }
    };
    // The kernels and the Winograd tile are chosen once, before any work: a
    // bad DEEPRESOLVE_SIMD or DEEPRESOLVE_WINOGRAD is the same on every
    // rank, so rank 0 says it and every rank exits.
    if let Err(e) = deepresolve_mpi::network::simd::init() {
        usage_error(launcher_rank(), &e);
    }
    if let Err(e) = deepresolve_mpi::network::winograd_tile::init() {
        usage_error(launcher_rank(), &e);
    }
    if matches!(
        cli.command,
        Command::Run(_) | Command::Calibrate(_) | Command::Channels(_)
    ) {
        let Some(universe) = mpi::initialize() else {
            deepresolve_mpi::say!("deepresolve-mpi: error: MPI could not be initialised");
            std::process::exit(1);
        };
        let world = universe.world();
        let rank = world.rank();
        test_panic(rank);
        if let Err(e) = distributed::engine::same_winograd_tile(&world) {
            usage_error(rank, &e);
        }
        let outcome: anyhow::Result<()> = match &cli.command {
            Command::Run(args) => {
                distributed::run(&world, &args.to_config()).map_err(anyhow::Error::from)
            }
            Command::Calibrate(args) => match args.to_options() {
                Ok(o) => deepresolve_mpi::calibrate::calibrate(&world, &o)
                    .map(|_| ())
                    .map_err(anyhow::Error::from),
                Err(e) => usage_error(rank, &e),
            },
            Command::Channels(args) => match args.to_options() {
                Ok(o) => {
                    deepresolve_mpi::channels::channels(&world, &o).map_err(anyhow::Error::from)
                }
                Err(e) => usage_error(rank, &e),
            },
            _ => unreachable!(),
        };
        if let Err(e) = outcome {
            distributed::fail(&world, &format!("{e:#}"));
        }
        return;
    }
    // The single-process commands run on rank 0. Alone they start no MPI;
    // under a launcher with several ranks, rank 0 tells the others how it
    // went, so a failure ends every rank with exit 1 (and no MPI abort).
    let universe = if launcher_size() > 1 {
        mpi::initialize()
    } else {
        None
    };
    let world = universe.as_ref().map(|u| u.world());
    test_panic(launcher_rank());
    if launcher_rank() != 0 {
        if let Some(w) = &world {
            single_process_outcome(w, true);
        }
        return;
    }
    let outcome: anyhow::Result<()> = match &cli.command {
        Command::Run(_) | Command::Calibrate(_) | Command::Channels(_) => unreachable!(),
        Command::Analyze {
            results: path,
            gmm_floor,
        } => reanalyze(path, gmm_floor.map(|g| g.mode()))
            .map(|a| {
                deepresolve_mpi::say!(
                    "deepresolve-mpi: /analysis of {} rewritten ({} classes)",
                    path.display(),
                    a.c
                )
            })
            .map_err(anyhow::Error::from),
        Command::Inspect {
            model,
            weights,
            keras1_backend,
            input_length,
        } => inspect::inspect(
            model,
            weights.as_deref(),
            cli::keras1(*keras1_backend),
            *input_length,
        )
        .map_err(anyhow::Error::from),
        Command::Bench(args) => bench::bench(&args.to_options()).context("bench"),
        Command::Plot(args) => plot::plot(&args.to_options()).map_err(anyhow::Error::from),
        Command::Motifs(args) => motifs::motifs(&args.to_options()).map_err(anyhow::Error::from),
        Command::Diff(args) => diff::diff(&args.to_options()).map_err(anyhow::Error::from),
        Command::Match(args) => {
            deepresolve_mpi::tomtom::run(&args.options()).map_err(anyhow::Error::from)
        }
        Command::Clusters(args) => {
            clusters::clusters(&args.to_options()).map_err(anyhow::Error::from)
        }
        Command::Report(args) => match args.to_options() {
            Ok(o) => deepresolve_mpi::report::report(&o).map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::anyhow!(e)),
        },
    };
    if let Err(e) = &outcome {
        deepresolve_mpi::say!("deepresolve-mpi: error: {e:#}");
    }
    if let Some(w) = &world {
        single_process_outcome(w, outcome.is_ok());
    }
    if outcome.is_err() {
        std::process::exit(1);
    }
}

/// Rank 0 tells the other ranks whether its single-process command succeeded;
/// on failure every rank exits 1.
fn single_process_outcome(world: &mpi::topology::SimpleCommunicator, ok: bool) {
    let mut flag = ok as u8;
    if world.size() > 1 {
        world.process_at_rank(0).broadcast_into(&mut flag);
    }
    if flag == 0 {
        std::process::exit(1);
    }
}

/// How many ranks the launcher started (1 without one).
fn launcher_size() -> i32 {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMIX_SIZE",
        "PMI_SIZE",
        "SLURM_NTASKS",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse().ok())
    .unwrap_or(1)
}

/// An option that every rank finds wrong: said once, by rank 0; every rank exits.
fn usage_error(rank: i32, e: &dyn std::fmt::Display) -> ! {
    if rank == 0 {
        deepresolve_mpi::say!("deepresolve-mpi: error: {e}");
    }
    std::process::exit(1)
}

/// `analyze`: read the ensemble of `/ascent`, analyse it, rewrite `/analysis`
/// on a copy that replaces the file by a rename (as a run ends), so a write
/// error part-way (a full quota) leaves the file as it was. Without
/// `--gmm-floor` the file keeps the mode it was analysed with.
fn reanalyze(
    path: &std::path::Path,
    floor: Option<GmmFloor>,
) -> deepresolve_mpi::Result<RunAnalysis> {
    let file = ResultsWriter::open_for_analysis(path)?;
    let floor = match floor {
        Some(f) => f,
        None => file.gmm_floor()?,
    };
    let analysis = analyze_run(&file.read_ensemble()?, floor);
    // The names only label the lines below: a damaged /classes/names is
    // said, and the analysis (which does not read them) goes on.
    let names = file.class_names().unwrap_or_else(|why| {
        deepresolve_mpi::say!(
            "deepresolve-mpi: warning: /classes/names of {} cannot be read ({why}); the lines below name classes by index, and the analysis does not use the names",
            path.display()
        );
        Vec::new()
    });
    for line in deepresolve_mpi::analysis::diagnostics::describe(&analysis.checks(), &names) {
        deepresolve_mpi::say!("deepresolve-mpi: {line}");
    }
    file.finish(&analysis)?;
    Ok(analysis)
}
