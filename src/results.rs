//! The results file of SPEC.md: provenance attributes, `/classes`, `/ascent`
//! (written lane by lane and flushed, so a killed run keeps what it finished)
//! and `/analysis` (written at the end, or again by `analyze`).
use crate::analysis::RunAnalysis;
use crate::ascent::{ItemResult, ValidAscentParams};
use crate::{Error, Result};
use hdf5::types::VarLenUnicode;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "deepresolve-mpi";
pub const FORMAT_VERSION: i64 = 1;

/// Everything that identifies a run; resuming demands the same values.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    pub model: String,
    pub layer: String,
    pub layer_index: usize,
    pub classes_arg: String,
    pub classes: Vec<usize>,
    pub class_names: Vec<String>,
    pub class_names_file: String,
    pub restarts: usize,
    pub params: ValidAscentParams,
    pub k: usize,
    pub w: usize,
    /// Items per batch and per lane: they fix which items share a batch, so
    /// they change results in the last bits and are part of the identity.
    pub batch: usize,
    pub lane: usize,
    pub keras1_backend: String,
    /// Recorded for provenance only.
    pub quiet: bool,
    pub overwrite: bool,
}

/// What `/ascent` holds, read back for analysis.
pub struct Ascent {
    pub c: usize,
    pub t: usize,
    pub k: usize,
    pub fiv: Array2<f32>,   // (C·T, K)
    pub score: Array1<f32>, // (C·T)
}

pub struct ResultsFile {
    file: hdf5::File,
    path: PathBuf,
    k: usize,
    w: usize,
}

fn h5err(path: &Path) -> impl Fn(hdf5::Error) -> Error + '_ {
    move |e| Error::results(path, e.to_string())
}

fn vstr(s: &str) -> VarLenUnicode {
    s.parse().expect("VarLenUnicode from str cannot fail")
}

fn put_str(loc: &hdf5::Location, name: &str, v: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&vstr(v))
}
fn put_i64(loc: &hdf5::Location, name: &str, v: i64) -> hdf5::Result<()> {
    loc.new_attr::<i64>().create(name)?.write_scalar(&v)
}
fn put_f64(loc: &hdf5::Location, name: &str, v: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&v)
}

/// An f32 option as the f64 a user typed (0.1, not 0.10000000149).
fn short(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}

fn get_str(loc: &hdf5::Location, name: &str) -> Option<String> {
    crate::model::h5util::str_attr(loc, name)
}

impl ResultsFile {
    /// A new file with every `/ascent` dataset allocated and `done` all 0.
    /// An existing file is an error unless `overwrite`.
    pub fn create(path: &Path, meta: &RunMeta, overwrite: bool) -> Result<ResultsFile> {
        if path.exists() && !overwrite {
            return Err(Error::results(
                path,
                "already exists (use --overwrite to replace it or --resume to finish it)",
            ));
        }
        let e = h5err(path);
        let file = hdf5::File::create(path)
            .map_err(|err| Error::results(path, format!("cannot create: {err}")))?;
        let (c, t, k, w) = (meta.classes.len(), meta.restarts, meta.k, meta.w);
        (|| -> hdf5::Result<()> {
            put_str(&file, "format", FORMAT)?;
            put_i64(&file, "format_version", FORMAT_VERSION)?;
            put_str(&file, "tool_version", env!("CARGO_PKG_VERSION"))?;
            put_str(&file, "status", "running")?;
            put_str(&file, "model", &meta.model)?;
            put_str(&file, "layer", &meta.layer)?;
            put_i64(&file, "layer_index", meta.layer_index as i64)?;
            put_str(&file, "out", &path.display().to_string())?;
            put_str(&file, "classes", &meta.classes_arg)?;
            put_i64(&file, "restarts", t as i64)?;
            let p = &meta.params;
            put_f64(&file, "lambda", short(p.lambda()))?;
            put_f64(&file, "lr", short(p.lr()))?;
            put_i64(&file, "decay_start", p.decay_start() as i64)?;
            put_f64(&file, "decay_alpha", short(p.decay_alpha()))?;
            put_f64(&file, "min_lr", short(p.min_lr()))?;
            put_i64(&file, "patience", p.patience() as i64)?;
            put_i64(&file, "max_steps", p.max_steps() as i64)?;
            put_i64(&file, "seed", p.seed() as i64)?;
            put_str(&file, "class_names", &meta.class_names_file)?;
            put_i64(&file, "quiet", meta.quiet as i64)?;
            put_i64(&file, "resume", 0)?;
            put_i64(&file, "overwrite", meta.overwrite as i64)?;
            put_i64(&file, "batch", meta.batch as i64)?;
            put_i64(&file, "lane", meta.lane as i64)?;
            put_str(&file, "keras1_backend", &meta.keras1_backend)?;
            put_i64(&file, "channels", k as i64)?;
            put_i64(&file, "positions", w as i64)?;
            let g = file.create_group("classes")?;
            let idx: Vec<i64> = meta.classes.iter().map(|&v| v as i64).collect();
            g.new_dataset_builder().with_data(&idx).create("index")?;
            let names: Vec<VarLenUnicode> = meta.class_names.iter().map(|s| vstr(s)).collect();
            g.new_dataset_builder().with_data(&names).create("names")?;
            let a = file.create_group("ascent")?;
            a.new_dataset::<f32>()
                .shape([c, t, k, w])
                .chunk([1, 1, k, w])
                .create("fim")?;
            a.new_dataset::<f32>()
                .shape([c, t, k])
                .chunk([1, 1, k])
                .create("fiv")?;
            a.new_dataset::<f32>().shape([c, t]).create("score")?;
            a.new_dataset::<i32>().shape([c, t]).create("steps")?;
            a.new_dataset::<u8>().shape([c, t]).create("converged")?;
            a.new_dataset::<u8>().shape([c, t]).create("done")?;
            file.flush()?;
            Ok(())
        })()
        .map_err(&e)?;
        Ok(ResultsFile {
            file,
            path: path.to_path_buf(),
            k,
            w,
        })
    }

    /// Reopen an interrupted run. Every option that changes results must match;
    /// the error names the first that differs. Returns the `done` flags (C·T).
    pub fn resume(path: &Path, meta: &RunMeta) -> Result<(ResultsFile, Vec<u8>)> {
        if !path.exists() {
            return Err(Error::results(path, "does not exist, nothing to resume"));
        }
        let file = hdf5::File::open_rw(path)
            .map_err(|e| Error::results(path, format!("cannot open for resume: {e}")))?;
        if get_str(&file, "format").as_deref() != Some(FORMAT) {
            return Err(Error::results(
                path,
                "is not a deepresolve-mpi results file",
            ));
        }
        let num = |n: &str| file.attr(n).and_then(|a| a.read_scalar::<f64>()).ok();
        let p = &meta.params;
        let checks: Vec<(&str, String, String)> = vec![
            (
                "model",
                get_str(&file, "model").unwrap_or_default(),
                meta.model.clone(),
            ),
            (
                "layer",
                get_str(&file, "layer").unwrap_or_default(),
                meta.layer.clone(),
            ),
            (
                "layer_index",
                fmt(num("layer_index")),
                fmt(Some(meta.layer_index as f64)),
            ),
            (
                "restarts",
                fmt(num("restarts")),
                fmt(Some(meta.restarts as f64)),
            ),
            ("lambda", fmt(num("lambda")), fmt(Some(short(p.lambda())))),
            ("lr", fmt(num("lr")), fmt(Some(short(p.lr())))),
            (
                "decay_start",
                fmt(num("decay_start")),
                fmt(Some(p.decay_start() as f64)),
            ),
            (
                "decay_alpha",
                fmt(num("decay_alpha")),
                fmt(Some(short(p.decay_alpha()))),
            ),
            ("min_lr", fmt(num("min_lr")), fmt(Some(short(p.min_lr())))),
            (
                "patience",
                fmt(num("patience")),
                fmt(Some(p.patience() as f64)),
            ),
            (
                "max_steps",
                fmt(num("max_steps")),
                fmt(Some(p.max_steps() as f64)),
            ),
            ("seed", fmt(num("seed")), fmt(Some(p.seed() as f64))),
            ("batch", fmt(num("batch")), fmt(Some(meta.batch as f64))),
            ("lane", fmt(num("lane")), fmt(Some(meta.lane as f64))),
        ];
        for (name, was, now) in checks {
            if was != now {
                return Err(Error::results(
                    path,
                    format!(
                        "--resume with a different {}: the file has {was}, this run has {now}",
                        name.replace('_', "-")
                    ),
                ));
            }
        }
        let e = h5err(path);
        let idx: Vec<i64> = file
            .dataset("classes/index")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        let want: Vec<i64> = meta.classes.iter().map(|&v| v as i64).collect();
        if idx != want {
            return Err(Error::results(path, format!("--resume with different --classes: the file has {} classes {:?}…, this run selects {} {:?}…",
                idx.len(), &idx[..idx.len().min(5)], want.len(), &want[..want.len().min(5)])));
        }
        let done: Vec<u8> = file
            .dataset("ascent/done")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        put_or_set_str(&file, "status", "running").map_err(&e)?;
        if let Ok(a) = file.attr("resume") {
            // How many times this file was resumed.
            let n = a.read_scalar::<i64>().unwrap_or(0) + 1;
            drop(a);
            file.delete_attr("resume").map_err(&e)?;
            put_i64(&file, "resume", n).map_err(&e)?;
        }
        Ok((
            ResultsFile {
                file,
                path: path.to_path_buf(),
                k: meta.k,
                w: meta.w,
            },
            done,
        ))
    }

    /// Write finished items and flush, so they survive a kill of the job.
    pub fn write_items(&mut self, results: &[ItemResult]) -> Result<()> {
        let e = h5err(&self.path);
        let (k, w) = (self.k, self.w);
        (|| -> hdf5::Result<()> {
            let a = self.file.group("ascent")?;
            let (fim, fivd, score, steps, conv, done) = (
                a.dataset("fim")?,
                a.dataset("fiv")?,
                a.dataset("score")?,
                a.dataset("steps")?,
                a.dataset("converged")?,
                a.dataset("done")?,
            );
            for r in results {
                let (ci, ti) = (r.item.class_pos, r.item.restart);
                fim.write_slice(
                    &ArrayView2::from_shape((k, w), &r.fim).unwrap(),
                    s![ci, ti, .., ..],
                )?;
                fivd.write_slice(&ArrayView1::from(&r.fiv), s![ci, ti, ..])?;
                score.write_slice(&[r.score], s![ci, ti..ti + 1])?;
                steps.write_slice(&[r.steps as i32], s![ci, ti..ti + 1])?;
                conv.write_slice(&[r.converged as u8], s![ci, ti..ti + 1])?;
            }
            // done last: a restart is only marked once all its data is in the file.
            for r in results {
                done.write_slice(
                    &[1u8],
                    s![r.item.class_pos, r.item.restart..r.item.restart + 1],
                )?;
            }
            self.file.flush()
        })()
        .map_err(e)
    }

    /// Every restart is in: compute `/analysis` from `/ascent` and mark the file complete.
    pub fn finish(&self) -> Result<RunAnalysis> {
        let asc = read_ascent_from(&self.file, &self.path)?;
        let a = crate::analysis::analyze_run(&asc);
        write_analysis(&self.file, &self.path, &a)?;
        Ok(a)
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x}"),
        None => "(missing)".into(),
    }
}

fn put_or_set_str(loc: &hdf5::Location, name: &str, v: &str) -> hdf5::Result<()> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    put_str(loc, name, v)
}

/// Read `/ascent` for analysis; every restart must be done.
pub fn read_ascent(path: &Path) -> Result<Ascent> {
    let file =
        hdf5::File::open(path).map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
    read_ascent_from(&file, path)
}

fn read_ascent_from(file: &hdf5::File, path: &Path) -> Result<Ascent> {
    let e = h5err(path);
    let fivd = file
        .dataset("ascent/fiv")
        .map_err(|_| Error::results(path, "no /ascent/fiv: not a deepresolve-mpi results file"))?;
    let shape = fivd.shape();
    if shape.len() != 3 {
        return Err(Error::results(
            path,
            format!("/ascent/fiv has shape {shape:?}, expected (C, T, K)"),
        ));
    }
    let (c, t, k) = (shape[0], shape[1], shape[2]);
    let fiv = Array2::from_shape_vec((c * t, k), fivd.read_raw::<f32>().map_err(&e)?).unwrap();
    let score = Array1::from(
        file.dataset("ascent/score")
            .and_then(|d| d.read_raw::<f32>())
            .map_err(&e)?,
    );
    let done: Vec<u8> = file
        .dataset("ascent/done")
        .and_then(|d| d.read_raw())
        .map_err(&e)?;
    let missing = done.iter().filter(|&&d| d == 0).count();
    if missing > 0 {
        return Err(Error::results(
            path,
            format!(
                "{missing} of {} restarts are not done; finish the run with --resume first",
                c * t
            ),
        ));
    }
    Ok(Ascent {
        c,
        t,
        k,
        fiv,
        score,
    })
}

/// `analyze`: recompute `/analysis` from `/ascent` alone.
pub fn reanalyze(path: &Path) -> Result<RunAnalysis> {
    let file = hdf5::File::open_rw(path)
        .map_err(|e| Error::results(path, format!("cannot open for writing: {e}")))?;
    let asc = read_ascent_from(&file, path)?;
    let a = crate::analysis::analyze_run(&asc);
    write_analysis(&file, path, &a)?;
    Ok(a)
}

fn write_analysis(file: &hdf5::File, path: &Path, a: &RunAnalysis) -> Result<()> {
    let (c, t, k) = (a.c, a.t, a.k);
    (|| -> hdf5::Result<()> {
        if file.group("analysis").is_ok() {
            file.unlink("analysis")?;
        }
        let g = file.create_group("analysis")?;
        let arr2 =
            |v: &[f32], r: usize, cc: usize| Array2::from_shape_vec((r, cc), v.to_vec()).unwrap();
        g.new_dataset_builder()
            .with_data(&arr2(&a.weight, c, t))
            .create("weight")?;
        g.new_dataset_builder()
            .with_data(&arr2(&a.il, c, k))
            .create("il")?;
        g.new_dataset_builder()
            .with_data(&Array2::from_shape_vec((c, 3), a.gmm_bic.clone()).unwrap())
            .create("gmm_bic")?;
        g.new_dataset_builder()
            .with_data(&a.gmm_components)
            .create("gmm_components")?;
        g.new_dataset_builder()
            .with_data(&Array2::from_shape_vec((c, k), a.nonadditive.clone()).unwrap())
            .create("nonadditive")?;
        g.new_dataset_builder()
            .with_data(&arr2(&a.ofiv, c, k))
            .create("ofiv")?;
        g.new_dataset_builder()
            .with_data(&Array2::from_shape_vec((c, k), a.rank.clone()).unwrap())
            .create("rank")?;
        g.new_dataset_builder()
            .with_data(&arr2(&a.similarity, c, c))
            .create("similarity")?;
        g.new_dataset_builder()
            .with_data(
                &Array2::from_shape_vec((c.saturating_sub(1), 4), a.linkage.clone()).unwrap(),
            )
            .create("linkage")?;
        g.new_dataset_builder()
            .with_data(&a.cluster_order)
            .create("cluster_order")?;
        put_or_set_str(file, "status", "complete")?;
        file.flush()
    })()
    .map_err(|e| Error::results(path, format!("cannot write /analysis: {e}")))
}
