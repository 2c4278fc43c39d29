//! The binary's edge: MPI start-up, argument parsing, errors to exit codes.
use anyhow::Context;
use clap::Parser;
use deepresolve_mpi::cli::{Cli, Command};
use deepresolve_mpi::{bench, diff, distributed, inspect, job, motifs, plot, results};
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
        Command::Run(args) => distributed::run(&world, args).map_err(anyhow::Error::from),
        // The single-process commands run on rank 0; other ranks have nothing to do.
        _ if rank != 0 => Ok(()),
        Command::Analyze { results: path } => results::reanalyze(path)
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
        } => inspect::inspect(model, job::keras1(*keras1_backend)).map_err(anyhow::Error::from),
        Command::Bench(args) => bench::bench(args).context("bench"),
        Command::Plot(args) => plot::plot(args).map_err(anyhow::Error::from),
        Command::Motifs(args) => motifs::motifs(args).map_err(anyhow::Error::from),
        Command::Diff(args) => diff::diff(args).map_err(anyhow::Error::from),
        Command::Match(args) => {
            deepresolve_mpi::tomtom::run(&args.options()).map_err(anyhow::Error::from)
        }
    };
    if let Err(e) = outcome {
        distributed::fail(&world, &format!("{e:#}"));
    }
}
