//! `report RESULTS.h5 --out report.html [--channels-file CH.h5 [--match DB]]
//! [--labels Y.h5]`: one self-contained HTML page of a finished run — its
//! settings, a sortable, paged table of the classes (top channels with their
//! logos and motif names, non-additive channels), the class similarity with
//! its clusters, and each class's figure — for sharing as one file: no
//! network fetch, every figure inline.
pub mod logo_svg;
pub mod page;

use crate::channels::notes::ChannelNotes;
use crate::clusters::{Clusters, Cut};
use crate::results::FinishedRun;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What `report` reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    pub results: PathBuf,
    pub out: PathBuf,
    /// A finished `channels` file of the same layer: logos and motif names.
    pub channels_file: Option<PathBuf>,
    /// A MEME database: each channel's best match (needs `channels_file`).
    pub match_db: Option<PathBuf>,
    /// Training labels (examples × classes): each cluster's mean label correlation.
    pub labels: Option<PathBuf>,
    pub labels_dataset: Option<String>,
    /// The cut of the similarity tree into clusters (`--cut H` / `--k N`).
    pub cut: Option<f64>,
    pub k: Option<usize>,
    /// Highest and lowest channels per class in the table.
    pub top: usize,
    /// Classes whose figure the page carries (the first N; `None`: all).
    pub figures: Option<usize>,
}

impl ReportOptions {
    pub const DEFAULT_TOP: usize = 3;
    /// Class figures carried by default: as many as `plot` draws by default.
    pub const DEFAULT_FIGURES: usize = crate::plot::DEFAULT_MAX_CLASSES;

    pub fn new(results: PathBuf, out: PathBuf) -> ReportOptions {
        ReportOptions {
            results,
            out,
            channels_file: None,
            match_db: None,
            labels: None,
            labels_dataset: None,
            cut: None,
            k: None,
            top: Self::DEFAULT_TOP,
            figures: Some(Self::DEFAULT_FIGURES),
        }
    }
}

/// Everything a page shows, read and checked.
pub struct Inputs {
    pub run: FinishedRun,
    /// The results file's root attributes, as text, in name order.
    pub settings: Vec<(String, String)>,
    pub notes: Option<ChannelNotes>,
    pub clusters: Clusters,
    /// Mean label correlation of a pair of class positions (with `--labels`).
    pub label_corr: Option<Box<dyn Fn(usize, usize) -> f64>>,
}

pub fn report(o: &ReportOptions) -> Result<()> {
    if o.top == 0 {
        return Err(Error::Input("--top must be at least 1".into()));
    }
    if o.match_db.is_some() && o.channels_file.is_none() {
        return Err(Error::Input(
            "--match DB names the motifs of a channels file: give --channels-file CH.h5 too".into(),
        ));
    }
    refuse_over_inputs(o)?;
    let cut = Cut::from_options(o.cut, o.k)?;
    let mut run = FinishedRun::read(&o.results)?;
    // The same check as `plot`'s: the page's figures and numbers leave bad values out.
    crate::results::bad_values::warn_and_mask(&mut run, "the report");
    let db = match &o.match_db {
        Some(p) => Some(crate::tomtom::read_meme(p)?),
        None => None,
    };
    let notes = match &o.channels_file {
        Some(p) => {
            let n = ChannelNotes::read(p, db.as_deref())?;
            n.check_fits(&run)?;
            Some(n)
        }
        None => None,
    };
    let label_corr: Option<Box<dyn Fn(usize, usize) -> f64>> = match &o.labels {
        Some(p) => {
            let l = crate::clusters::label_correlations(&run, p, o.labels_dataset.as_deref())?;
            Some(Box::new(move |i, j| l.get(i, j)))
        }
        None => None,
    };
    let inputs = Inputs {
        settings: settings(&o.results)?,
        clusters: Clusters::of(&run, cut),
        run,
        notes,
        label_corr,
    };
    let html = page::page(&inputs, o)?;
    write_atomically(&o.out, html.as_bytes())?;
    eprintln!(
        "deepresolve-mpi: wrote the report of {} classes ({} KiB) to {}",
        inputs.run.c,
        html.len() / 1024,
        o.out.display()
    );
    Ok(())
}

/// The root attributes of a results file, as text.
fn settings(path: &Path) -> Result<Vec<(String, String)>> {
    use crate::model::h5util::{float_attr, int_array_attr, int_attr, str_attr};
    let f =
        hdf5::File::open(path).map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
    let mut names = f.attr_names().unwrap_or_default();
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| {
            let is_float = f
                .attr(&n)
                .and_then(|a| a.dtype())
                .and_then(|t| t.to_descriptor())
                .is_ok_and(|t| matches!(t, hdf5::types::TypeDescriptor::Float(_)));
            // Settings as given: a float's shortest exact form (0.1, 0.000001).
            let v = str_attr(&f, &n)
                .or_else(|| {
                    is_float
                        .then(|| float_attr(&f, &n).map(|v| v.to_string()))
                        .flatten()
                })
                .or_else(|| int_attr(&f, &n).map(|v| v.to_string()))
                .or_else(|| {
                    int_array_attr(&f, &n)
                        .map(|v| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
                })
                .unwrap_or_else(|| "(not shown)".into());
            (n, v)
        })
        .collect())
}

/// `--out` must not be one of the files the report reads.
fn refuse_over_inputs(o: &ReportOptions) -> Result<()> {
    let Ok(out) = std::fs::canonicalize(&o.out) else {
        return Ok(());
    };
    let inputs = [
        Some(&o.results),
        o.channels_file.as_ref(),
        o.match_db.as_ref(),
        o.labels.as_ref(),
    ];
    for p in inputs.into_iter().flatten() {
        if std::fs::canonicalize(p).is_ok_and(|p| p == out) {
            return Err(Error::Input(format!(
                "--out {} is an input of the report: choose another file, such as report.html",
                o.out.display()
            )));
        }
    }
    // A hard link to an input, a FIFO or a device (renamed over, it is gone).
    crate::results::out_guard::check_optional(
        "--out",
        Some(&o.out),
        &[
            ("the results file", Some(&o.results)),
            ("--channels-file", o.channels_file.as_deref()),
            ("--match", o.match_db.as_deref()),
            ("--labels", o.labels.as_deref()),
        ],
    )
}

/// Write `bytes` to a temporary file beside `out`, then rename it over `out`,
/// so a reader never sees half a page and a failure leaves no partial file.
pub fn write_atomically(out: &Path, bytes: &[u8]) -> Result<()> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::Input(format!("--out {} is not a file name", out.display())))?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let fail = |e: std::io::Error| Error::Input(format!("cannot write {}: {e}", out.display()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}
