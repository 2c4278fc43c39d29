//! The binary's edge: MPI start-up, argument parsing, errors to exit codes.
mod cli;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use deepresolve_mpi::analysis::{analyze_run, RunAnalysis};
use deepresolve_mpi::results::ResultsWriter;
use deepresolve_mpi::{bench, diff, distributed, inspect, motifs, plot};
use mpi::traits::*;

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("deepresolve-mpi: error: MPI could not be initialised");
        std::process::exit(1);
    };
    let world = universe.world();
    let rank = world.rank();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors and --help are the same on every rank: say them once.
            if rank == 0 {
                let _ = e.print();
            }
            drop(universe);
            std::process::exit(e.exit_code());
        }
    };
    let outcome: anyhow::Result<()> = match &cli.command {
        Command::Run(args) => {
            distributed::run(&world, &args.to_config()).map_err(anyhow::Error::from)
        }
        // The single-process commands run on rank 0; other ranks have nothing to do.
        _ if rank != 0 => Ok(()),
        Command::Analyze { results: path } => reanalyze(path)
            .map(|a| {
                eprintln!(
                    "deepresolve-mpi: /analysis of {} rewritten ({} classes)",
                    path.display(),
                    a.c
                )
            })
            .map_err(anyhow::Error::from),
        Command::Inspect {
            model,
            keras1_backend,
        } => inspect::inspect(model, cli::keras1(*keras1_backend)).map_err(anyhow::Error::from),
        Command::Bench(args) => bench::bench(&args.to_options()).context("bench"),
        Command::Plot(args) => plot::plot(&args.to_options()).map_err(anyhow::Error::from),
        Command::Motifs(args) => motifs::motifs(&args.to_options()).map_err(anyhow::Error::from),
        Command::Diff(args) => diff::diff(&args.to_options()).map_err(anyhow::Error::from),
    };
    if let Err(e) = outcome {
        if matches!(cli.command, Command::Run(_)) {
            distributed::fail(&world, &format!("{e:#}"));
        }
        // A single-process command failed on rank 0: say it once, and every
        // rank (told below) exits 1 without an MPI abort.
        eprintln!("deepresolve-mpi: error: {e:#}");
        single_process_outcome(&world, false);
    }
    if !matches!(cli.command, Command::Run(_)) {
        single_process_outcome(&world, true);
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

/// `analyze`: read the ensemble of `/ascent`, analyse it, rewrite `/analysis`.
fn reanalyze(path: &std::path::Path) -> deepresolve_mpi::Result<RunAnalysis> {
    let file = ResultsWriter::open_for_analysis(path)?;
    let analysis = analyze_run(&file.read_ensemble()?);
    file.write_analysis(&analysis)?;
    Ok(analysis)
}
