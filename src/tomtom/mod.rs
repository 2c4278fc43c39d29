//! `match`: TOMTOM (Gupta et al. 2007) inside the program — every query motif
//! against every database motif, all offsets, both strands, with TOMTOM's
//! complete scores and dynamic-programming p-values.
//!
//! One concern per file: [`meme`] reads and writes MEME minimal format,
//! [`column`] scores one query column against one target column, [`null`] is the
//! per-query null distribution and its p-values, [`qvalue`] is Benjamini–Hochberg,
//! [`consensus`] the one-letter consensus, [`matcher`] the search itself and
//! [`report`] the TOMTOM-style table. Nothing here knows about the command line:
//! the `match` command fills a [`MatchOptions`].
pub mod column;
pub mod consensus;
pub mod matcher;
pub mod meme;
pub mod null;
pub mod qvalue;
pub mod report;

pub use column::ColumnScore;
pub use matcher::{best_per_query, tomtom, Match};
pub use meme::{parse_meme, read_meme, write_meme, Motif};

use crate::{Error, Result};
use std::path::PathBuf;

/// Everything `match` needs, as plain values.
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// Query motifs (MEME format).
    pub motifs: PathBuf,
    /// Database motifs (MEME format).
    pub db: PathBuf,
    /// Table destination; standard output when `None`.
    pub out: Option<PathBuf>,
    /// Keep pairs with p-value below this (1 or more keeps every pair).
    pub thresh: f64,
    pub dist: ColumnScore,
}

/// The `match` command: read both files, match, write the table.
pub fn run(opts: &MatchOptions) -> Result<()> {
    if opts.thresh.is_nan() || opts.thresh <= 0.0 {
        return Err(Error::Input(format!(
            "--thresh must be a p-value above 0 (got {})",
            opts.thresh
        )));
    }
    crate::results::out_guard::check_optional(
        "--out",
        opts.out.as_deref(),
        &[("--motifs", Some(&opts.motifs)), ("--db", Some(&opts.db))],
    )?;
    let queries = read_meme(&opts.motifs)?;
    let targets = read_meme(&opts.db)?;
    let t0 = std::time::Instant::now();
    let all = tomtom(&queries, &targets, opts.dist);
    let kept: Vec<&Match> = all.iter().filter(|m| keep(m.p, opts.thresh)).collect();
    let text = report::tsv(&kept, &queries, &targets);
    match &opts.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))?,
        None => {
            use std::io::Write;
            let mut so = std::io::stdout().lock();
            so.write_all(text.as_bytes())
                .and_then(|_| so.flush())
                .map_err(|e| Error::Input(format!("cannot write the table to stdout: {e}")))?;
        }
    }
    eprintln!(
        "deepresolve-mpi: matched {} queries × {} targets ({}) in {:.2} s; {} pairs with p < {}{}",
        queries.len(),
        targets.len(),
        opts.dist.name(),
        t0.elapsed().as_secs_f64(),
        kept.len(),
        opts.thresh,
        opts.out
            .as_ref()
            .map(|p| format!(", written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `--thresh X` keeps p < X; X ≥ 1 keeps every pair (p can be exactly 1).
pub fn keep(p: f64, thresh: f64) -> bool {
    thresh >= 1.0 || p < thresh
}
