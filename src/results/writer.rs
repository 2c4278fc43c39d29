//! Writing a results file: provenance attributes, `/classes`, `/ascent`
//! (written lane by lane and flushed, so a killed run keeps what it finished)
//! and `/analysis` (handed in by the caller at the end, or again by `analyze`).
use super::layout::{self, AttrValue, *};
use super::lock;
use super::reader::{ensemble_from, get_str};
use crate::analysis::{gmm::GmmFloor, Ensemble, RunAnalysis};
use crate::ascent::{ItemResult, ValidAscentParams};
use crate::network::simd::{self, SimdPath};
use crate::network::winograd_tile;
use crate::{Error, Result};
use hdf5::types::VarLenUnicode;
use ndarray::{s, Array2, ArrayView1, ArrayView2};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// The output scored (its name) and, for a head with positions, the reduction ("" otherwise).
    pub output: String,
    pub reduce: String,
    /// The weights file of an architecture-only model ("" otherwise).
    pub weights: String,
    /// `--conv` as given, and what it made of the convolutions after H
    /// (`direct`, or `LAYER:dft=N/L;…`): the two paths differ in the last bits.
    pub conv: String,
    pub conv_paths: String,
    /// The kernels that made the file (`avx512`, `avx2`, `scalar`; see
    /// `network::simd`): `scalar` differs from the other two in the last bits.
    pub simd: String,
    /// `--input-length` (0: the model file's own length).
    pub input_length: usize,
    /// `--gmm-floor`: not part of the identity (it acts only on `/analysis`);
    /// recorded when the file is created, so a resume of a run interrupted
    /// before its analysis knows the floor the run was started with.
    pub gmm_floor: GmmFloor,
}

/// Test-only (docs/running.md, "Long jobs"): rank 0 kills itself with SIGKILL just
/// before its N-th HDF5 write call of finished lanes (a dataset slice, or the
/// flush that ends a lane), so a test can cut a write anywhere.
pub const TEST_KILL_AT_WRITE: &str = "DEEPRESOLVE_TEST_KILL_AT_WRITE";

static WRITE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Count one write call and, at the N-th of [`TEST_KILL_AT_WRITE`], die.
fn write_point() {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let at = *AT.get_or_init(|| {
        std::env::var(TEST_KILL_AT_WRITE)
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let n = WRITE_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if at == Some(n) {
        eprintln!(
            "deepresolve-mpi: {TEST_KILL_AT_WRITE}={n}: killing rank 0 before write call {n}"
        );
        // SAFETY: sends SIGKILL to this process; nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The GMM floor mode a results file records (root attribute `gmm_floor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedFloor {
    /// The mode its `/analysis` was made with.
    Analysed(String),
    /// No `/analysis` yet: the `--gmm-floor` the run was started with.
    Started(String),
}

/// A results file open for writing.
pub struct ResultsWriter {
    file: hdf5::File,
    path: PathBuf,
    k: usize,
    w: usize,
    /// Opened by `--resume`: [`finish`](ResultsWriter::finish) counts it in `resume`.
    resumed: bool,
}

fn h5err(path: &Path) -> impl Fn(hdf5::Error) -> Error + '_ {
    move |e| Error::results(path, e.to_string())
}

use crate::model::h5util::h5_string as var_len_unicode;

fn put_str(loc: &hdf5::Location, name: &str, v: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&var_len_unicode(v)?)
}
fn put_i64(loc: &hdf5::Location, name: &str, v: i64) -> hdf5::Result<()> {
    loc.new_attr::<i64>().create(name)?.write_scalar(&v)
}
fn put_f64(loc: &hdf5::Location, name: &str, v: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&v)
}
fn put_attr(loc: &hdf5::Location, name: &str, v: &AttrValue) -> hdf5::Result<()> {
    match v {
        AttrValue::Str(s) => put_str(loc, name, s),
        AttrValue::Int(i) => put_i64(loc, name, *i),
        AttrValue::Real(x) => put_f64(loc, name, *x),
    }
}

fn put_or_set_str(loc: &hdf5::Location, name: &str, v: &str) -> hdf5::Result<()> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    put_str(loc, name, v)
}

/// Every /ascent dataset gets its file space (and chunk index) when the file
/// is created, so writing a lane writes raw data only and never changes the
/// file's metadata: a kill in the middle of a lane's write cannot leave the
/// file unreadable (tests/write_faults.rs tears every pwrite of a run).
fn early() -> Option<hdf5::plist::dataset_create::AllocTime> {
    Some(hdf5::plist::dataset_create::AllocTime::Early)
}

/// Bytes free to this user in the directory of `path`, where the system says.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct; the path is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st) == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// A number as `--resume` shows it in an error, or `(missing)`.
fn number_or_missing(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("{x}"),
        None => "(missing)".into(),
    }
}

impl ResultsWriter {
    /// A new file with every `/ascent` dataset allocated and `done` all 0.
    /// An existing file is an error unless `overwrite`.
    pub fn create(path: &Path, meta: &RunMeta, overwrite: bool) -> Result<ResultsWriter> {
        if path.exists() && !overwrite {
            return Err(Error::results(
                path,
                "already exists (use --overwrite to replace it or --resume to finish it)",
            ));
        }
        // Renaming over a device or FIFO would replace it (as root, /dev/null).
        super::out_guard::check_output("results file", path, &[])?;
        if path.exists() && lock::held_elsewhere(path) {
            // Creating it would truncate the file before HDF5 sees the lock.
            return Err(Error::FileBusy {
                path: path.to_path_buf(),
            });
        }
        // Every /ascent dataset is allocated now: say so plainly if it cannot fit.
        let need = 4
            * (meta.classes.len() * meta.restarts) as u64
            * (meta.k as u64 * meta.w as u64 + meta.k as u64 + 3);
        if let Some(free) = free_bytes(path) {
            if free < need {
                return Err(Error::results(
                    path,
                    format!(
                        "cannot create: No space left on device (/ascent needs {:.1} MB, {:.1} MB are free)",
                        need as f64 / 1e6,
                        free as f64 / 1e6
                    ),
                ));
            }
        }
        // Built under a temporary name and renamed when complete, so a kill
        // during creation leaves no half-made file at `path` to resume.
        let name = path
            .file_name()
            .map_or("results".into(), |n| n.to_string_lossy());
        let tmp = path.with_file_name(format!(".{name}.creating"));
        let e = h5err(path);
        let file = lock::open_results(path, "cannot create", Duration::ZERO, || {
            hdf5::File::create(&tmp)
        })?;
        let (c, t, k, w) = (meta.classes.len(), meta.restarts, meta.k, meta.w);
        (|| -> hdf5::Result<()> {
            put_str(&file, ATTR_FORMAT, FORMAT)?;
            put_i64(&file, ATTR_FORMAT_VERSION, FORMAT_VERSION)?;
            put_str(&file, ATTR_TOOL_VERSION, env!("CARGO_PKG_VERSION"))?;
            put_str(&file, ATTR_STATUS, STATUS_RUNNING)?;
            for a in layout::provenance(meta, path) {
                put_attr(&file, a.name, &a.value)?;
            }
            file.create_group(CLASSES)?;
            let idx: Vec<i64> = meta.classes.iter().map(|&v| v as i64).collect();
            file.new_dataset_builder()
                .with_data(&idx)
                .create(CLASSES_INDEX)?;
            let names: Vec<VarLenUnicode> = meta
                .class_names
                .iter()
                .map(|s| var_len_unicode(s))
                .collect::<hdf5::Result<_>>()?;
            file.new_dataset_builder()
                .with_data(&names)
                .create(CLASSES_NAMES)?;
            file.create_group(ASCENT)?;
            file.new_dataset::<f32>()
                .shape([c, t, k, w])
                .chunk([1, 1, k, w])
                .alloc_time(early())
                .create(ASCENT_FIM)?;
            file.new_dataset::<f32>()
                .shape([c, t, k])
                .chunk([1, 1, k])
                .alloc_time(early())
                .create(ASCENT_FIV)?;
            file.new_dataset::<f32>()
                .shape([c, t])
                .alloc_time(early())
                .create(ASCENT_SCORE)?;
            file.new_dataset::<i32>()
                .shape([c, t])
                .alloc_time(early())
                .create(ASCENT_STEPS)?;
            file.new_dataset::<u8>()
                .shape([c, t])
                .alloc_time(early())
                .create(ASCENT_CONVERGED)?;
            file.new_dataset::<u8>()
                .shape([c, t])
                .alloc_time(early())
                .create(ASCENT_DONE)?;
            file.flush()?;
            Ok(())
        })()
        .map_err(&e)
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|err| {
                Error::results(
                    path,
                    format!("cannot rename {} to it: {err}", tmp.display()),
                )
            })
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(ResultsWriter {
            file,
            path: path.to_path_buf(),
            k,
            w,
            resumed: false,
        })
    }

    /// Reopen an interrupted run. Every option that changes results must match;
    /// the error names the first that differs. Returns the `done` flags (C·T).
    pub fn resume(path: &Path, meta: &RunMeta) -> Result<(ResultsWriter, Vec<u8>)> {
        if !path.exists() {
            return Err(Error::results(path, "does not exist, nothing to resume"));
        }
        // A killed job's ranks may hold the file for a second more: wait for them.
        let file = lock::open_results(
            path,
            "cannot open for resume",
            lock::RESUME_LOCK_WAIT,
            || hdf5::File::open_rw(path),
        )?;
        if get_str(&file, ATTR_FORMAT).as_deref() != Some(FORMAT) {
            return Err(Error::results(
                path,
                "is not a deepresolve-mpi results file",
            ));
        }
        let num = |n: &str| file.attr(n).and_then(|a| a.read_scalar::<f64>()).ok();
        for a in layout::provenance(meta, path)
            .into_iter()
            .filter(|a| a.identity)
        {
            let (was, now) = match &a.value {
                // A file written before the attribute existed: compare with what that version implied.
                AttrValue::Str(s) if layout::ADDED_LATER.iter().any(|(n, _)| *n == a.name) => {
                    let implied = layout::ADDED_LATER
                        .iter()
                        .find(|(n, _)| *n == a.name)
                        .and_then(|(_, v)| *v);
                    let was = get_str(&file, a.name)
                        .unwrap_or_else(|| implied.map_or_else(|| s.clone(), str::to_string));
                    (was, s.clone())
                }
                AttrValue::Str(s) => (get_str(&file, a.name).unwrap_or_default(), s.clone()),
                AttrValue::Int(i) => (
                    number_or_missing(num(a.name)),
                    number_or_missing(Some(*i as f64)),
                ),
                AttrValue::Real(x) => (number_or_missing(num(a.name)), number_or_missing(Some(*x))),
            };
            if a.name == "simd" {
                // AVX-512 and AVX2 make the same bits: either resumes the other.
                let bits = |s: &str| SimdPath::parse(s).map(SimdPath::bits);
                if bits(&was) != bits(&now) {
                    return Err(Error::results(
                        path,
                        format!(
                            "--resume on other kernels: the file was made on the {was} path, this run is on {now}, and the two give different bits; resume with {}={was} on a CPU that has it",
                            simd::ENV
                        ),
                    ));
                }
                continue;
            }
            if was != now && a.name == "conv_paths" {
                if let Some(m) = winograd_tile_of(&was, &now) {
                    let tile = if now.contains(":winograd=4") { 4 } else { 6 };
                    return Err(Error::results(
                        path,
                        format!(
                            "--resume with another Winograd tile: the file's 3-tap convolutions ran F({m},3) tiles ({was}), this run's run F({tile},3), and the two give different bits; resume with {}={m} in the environment of every rank{}",
                            winograd_tile::ENV,
                            if m == 4 { " (F(4,3) is what releases before F(6,3) ran)" } else { "" }
                        ),
                    ));
                }
                if let Some(layer) = newly_depthwise(&was, &now) {
                    return Err(Error::results(
                        path,
                        format!(
                            "--resume across releases: the file was made by a release that computed the depthwise convolution {layer} as a full one ({was}); this release computes it channel by channel ({now}), with other bits; finish the job with the release that began it, or start a new file"
                        ),
                    ));
                }
                let given = get_str(&file, "conv").unwrap_or_else(|| "direct".into());
                // Every convolution direct (as a BPNet tower under `auto`
                // before the Winograd path came in): `direct` alone makes
                // the file again, whatever --conv it was made with.
                let advice = if was == "direct" && given != "direct" {
                    format!("resume with --conv direct (the file was made with --conv {given}, which computed every convolution directly then and now does not)")
                } else {
                    format!("resume with --conv {given}, as the file was made")
                };
                return Err(Error::results(
                    path,
                    format!(
                        "--resume with a different --conv: the file's convolutions after H were computed as {was}, this run's would be {now}; {advice}"
                    ),
                ));
            }
            if was != now {
                return Err(Error::results(
                    path,
                    format!(
                        "--resume with a different {}: the file has {was}, this run has {now}",
                        a.name.replace('_', "-")
                    ),
                ));
            }
        }
        let e = h5err(path);
        let idx: Vec<i64> = file
            .dataset(CLASSES_INDEX)
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        let want: Vec<i64> = meta.classes.iter().map(|&v| v as i64).collect();
        if idx != want {
            return Err(Error::results(path, format!("--resume with different --classes: the file has {} classes {:?}…, this run selects {} {:?}…",
                idx.len(), &idx[..idx.len().min(5)], want.len(), &want[..want.len().min(5)])));
        }
        let done: Vec<u8> = file
            .dataset(ASCENT_DONE)
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        // Nothing is written here: the file's metadata changes only in
        // `finish`, on a copy (status stays `running` until then, or stays
        // `complete` for a finished file resumed to recompute /analysis).
        Ok((
            ResultsWriter {
                file,
                path: path.to_path_buf(),
                k: meta.k,
                w: meta.w,
                resumed: true,
            },
            done,
        ))
    }

    /// Open a finished (or any) results file to rewrite its `/analysis`.
    pub fn open_for_analysis(path: &Path) -> Result<ResultsWriter> {
        let file = lock::open_results(path, "cannot open for writing", Duration::ZERO, || {
            hdf5::File::open_rw(path)
        })?;
        let (k, w) = match file.dataset(ASCENT_FIM).map(|d| d.shape()) {
            Ok(s) if s.len() == 4 => (s[2], s[3]),
            _ => (0, 0),
        };
        Ok(ResultsWriter {
            file,
            path: path.to_path_buf(),
            k,
            w,
            resumed: false,
        })
    }

    /// Write finished items and flush, so they survive a kill of the job.
    pub fn write_items(&mut self, results: &[ItemResult]) -> Result<()> {
        let e = h5err(&self.path);
        let (k, w) = (self.k, self.w);
        (|| -> hdf5::Result<()> {
            let f = &self.file;
            let (fim, fivd, score, steps, conv, done) = (
                f.dataset(ASCENT_FIM)?,
                f.dataset(ASCENT_FIV)?,
                f.dataset(ASCENT_SCORE)?,
                f.dataset(ASCENT_STEPS)?,
                f.dataset(ASCENT_CONVERGED)?,
                f.dataset(ASCENT_DONE)?,
            );
            for r in results {
                let (ci, ti) = (r.item.class_pos, r.item.restart);
                write_point();
                fim.write_slice(
                    &ArrayView2::from_shape((k, w), &r.fim).unwrap(),
                    s![ci, ti, .., ..],
                )?;
                write_point();
                fivd.write_slice(&ArrayView1::from(&r.fiv), s![ci, ti, ..])?;
                write_point();
                score.write_slice(&[r.score], s![ci, ti..ti + 1])?;
                write_point();
                steps.write_slice(&[r.steps as i32], s![ci, ti..ti + 1])?;
                write_point();
                conv.write_slice(&[r.converged as u8], s![ci, ti..ti + 1])?;
            }
            // done last: a restart is only marked once all its data is in the
            // file. HDF5 writes cached chunks at a flush in any order, so the
            // data is flushed before any done flag is written.
            write_point();
            self.file.flush()?;
            for r in results {
                write_point();
                done.write_slice(
                    &[1u8],
                    s![r.item.class_pos, r.item.restart..r.item.restart + 1],
                )?;
            }
            write_point();
            self.file.flush()
        })()
        .map_err(e)
    }

    /// The GMM floor mode the file's `/analysis` was made with (a file
    /// without the attribute predates it: `absolute`).
    pub fn gmm_floor(&self) -> Result<GmmFloor> {
        let name = super::reader::get_str(&self.file, ATTR_GMM_FLOOR)
            .unwrap_or_else(|| GMM_FLOOR_BEFORE.into());
        GmmFloor::from_name(&name).ok_or_else(|| {
            Error::results(
                &self.path,
                format!(
                    "attribute {ATTR_GMM_FLOOR} is {name:?}, not fiv, relative or absolute; \
                     give `analyze --gmm-floor fiv|relative|absolute`"
                ),
            )
        })
    }

    /// The floor mode the file records: that of its `/analysis` when it has
    /// one (an analysed file without the attribute predates it: `absolute`),
    /// else the `--gmm-floor` the interrupted run was started with (`None`
    /// for a file made before the attribute was written at creation).
    pub fn recorded_gmm_floor(&self) -> Option<RecordedFloor> {
        let stored = get_str(&self.file, ATTR_GMM_FLOOR);
        if self.file.group(ANALYSIS).is_ok() {
            let name = stored.unwrap_or_else(|| GMM_FLOOR_BEFORE.into());
            return Some(RecordedFloor::Analysed(name));
        }
        stored.map(RecordedFloor::Started)
    }

    /// `/classes/names`: empty where the file has none; `Err` with the
    /// reason where they are there but cannot be read (a damaged file). The
    /// names only label log lines, so the caller decides whether to go on.
    pub fn class_names(&self) -> std::result::Result<Vec<String>, String> {
        match self.file.dataset(CLASSES_NAMES) {
            Err(_) => Ok(Vec::new()),
            Ok(d) => crate::model::h5util::read_string_dataset(&d),
        }
    }

    /// The FIVs and scores of `/ascent`, for the analysis; every restart must be done.
    pub fn read_ensemble(&self) -> Result<Ensemble> {
        ensemble_from(&self.file, &self.path)
    }

    /// The end of a run: `/analysis` written, the `resume` count raised for a
    /// resumed run, the file marked complete — all on a copy that replaces the
    /// file by a rename once it is complete. These are the only changes to the
    /// file's metadata after it is created, and a kill in the middle of a
    /// metadata write can leave an HDF5 file unreadable; this way a kill at
    /// any moment leaves the finished `/ascent` as it was, and `--resume`
    /// writes `/analysis` again.
    pub fn finish(self, a: &RunAnalysis) -> Result<()> {
        let ResultsWriter {
            file,
            path,
            k,
            w,
            resumed,
        } = self;
        file.flush().map_err(h5err(&path))?;
        drop(file);
        let name = path
            .file_name()
            .map_or("results".into(), |n| n.to_string_lossy());
        let tmp = path.with_file_name(format!(".{name}.finishing"));
        let io = |what: &str, err: std::io::Error| {
            Error::results(&path, format!("{what} {}: {err}", tmp.display()))
        };
        let r = (|| -> Result<()> {
            std::fs::copy(&path, &tmp).map_err(|e| io("cannot copy to", e))?;
            let file = lock::open_results(&tmp, "cannot open", Duration::ZERO, || {
                hdf5::File::open_rw(&tmp)
            })?;
            if resumed {
                let n = file
                    .attr(ATTR_RESUME)
                    .and_then(|a| a.read_scalar::<i64>())
                    .unwrap_or(0)
                    + 1;
                (|| -> hdf5::Result<()> {
                    if file.attr(ATTR_RESUME).is_ok() {
                        file.delete_attr(ATTR_RESUME)?;
                    }
                    put_i64(&file, ATTR_RESUME, n)
                })()
                .map_err(h5err(&path))?;
            }
            let copy = ResultsWriter {
                file,
                path: path.clone(),
                k,
                w,
                resumed,
            };
            copy.write_analysis(a)?;
            drop(copy);
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("cannot sync", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io("cannot rename", e))
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    /// Replace `/analysis` with `a` and mark the file complete (in place:
    /// `analyze`; a run ends with [`finish`](ResultsWriter::finish)).
    pub fn write_analysis(&self, a: &RunAnalysis) -> Result<()> {
        let (file, path) = (&self.file, &self.path);
        let (c, t, k) = (a.c, a.t, a.k);
        (|| -> hdf5::Result<()> {
            if file.group(ANALYSIS).is_ok() {
                file.unlink(ANALYSIS)?;
            }
            file.create_group(ANALYSIS)?;
            let arr2 = |v: &[f32], r: usize, cc: usize| {
                Array2::from_shape_vec((r, cc), v.to_vec()).unwrap()
            };
            file.new_dataset_builder()
                .with_data(&arr2(&a.weight, c, t))
                .create(ANALYSIS_WEIGHT)?;
            file.new_dataset_builder()
                .with_data(&arr2(&a.il, c, k))
                .create(ANALYSIS_IL)?;
            file.new_dataset_builder()
                .with_data(&Array2::from_shape_vec((c, 3), a.gmm_bic.clone()).unwrap())
                .create(ANALYSIS_GMM_BIC)?;
            file.new_dataset_builder()
                .with_data(&a.gmm_components)
                .create(ANALYSIS_GMM_COMPONENTS)?;
            file.new_dataset_builder()
                .with_data(&Array2::from_shape_vec((c, k), a.nonadditive.clone()).unwrap())
                .create(ANALYSIS_NONADDITIVE)?;
            file.new_dataset_builder()
                .with_data(&arr2(&a.ofiv, c, k))
                .create(ANALYSIS_OFIV)?;
            file.new_dataset_builder()
                .with_data(&Array2::from_shape_vec((c, k), a.rank.clone()).unwrap())
                .create(ANALYSIS_RANK)?;
            file.new_dataset_builder()
                .with_data(&arr2(&a.similarity, c, c))
                .create(ANALYSIS_SIMILARITY)?;
            file.new_dataset_builder()
                .with_data(
                    &Array2::from_shape_vec((c.saturating_sub(1), 4), a.linkage.clone()).unwrap(),
                )
                .create(ANALYSIS_LINKAGE)?;
            file.new_dataset_builder()
                .with_data(&a.cluster_order)
                .create(ANALYSIS_CLUSTER_ORDER)?;
            file.new_dataset_builder()
                .with_data(&arr2(&a.top3_stability, c, k))
                .create(ANALYSIS_TOP3_STABILITY)?;
            for (name, v) in [
                (ANALYSIS_CLASS_SCORE, &a.class_score),
                (ANALYSIS_SCORE_RATIO, &a.score_ratio),
                (ANALYSIS_RESTART_CORRELATION, &a.restart_correlation),
            ] {
                file.new_dataset_builder().with_data(v).create(name)?;
            }
            for (name, v) in [
                (ANALYSIS_NOT_LEARNED, &a.not_learned),
                (ANALYSIS_RESTARTS_COLLAPSED, &a.restarts_collapsed),
            ] {
                file.new_dataset_builder().with_data(v).create(name)?;
            }
            put_or_set_str(file, ATTR_GMM_FLOOR, a.gmm_floor.name())?;
            put_or_set_str(file, ATTR_STATUS, STATUS_COMPLETE)?;
            file.flush()
        })()
        .map_err(|e| Error::results(path, format!("cannot write /analysis: {e}")))
    }
}

/// A layer `now` computes depthwise that `was` (an older release's
/// `conv_paths`) does not list so.
fn newly_depthwise<'a>(was: &str, now: &'a str) -> Option<&'a str> {
    now.split(';')
        .filter_map(|p| p.strip_suffix(":depthwise"))
        .find(|layer| !was.split(';').any(|q| q == format!("{layer}:depthwise")))
}

/// The file's Winograd tile (outputs per tile) where two `conv_paths`
/// differ in that alone.
fn winograd_tile_of(was: &str, now: &str) -> Option<usize> {
    let same = |s: &str| s.replace(":winograd=4", ":winograd=6");
    if !was.contains(":winograd=") || same(was) != same(now) {
        return None;
    }
    Some(if was.contains(":winograd=4") { 4 } else { 6 })
}

#[cfg(test)]
mod tests {
    use super::newly_depthwise;

    #[test]
    fn a_layer_that_became_depthwise_is_named() {
        let now = "a:dft=41/33;b:depthwise;c:winograd=6";
        assert_eq!(
            newly_depthwise("a:dft=41/33;b:dft=41/33;c:winograd=6", now),
            Some("b")
        );
        assert_eq!(newly_depthwise("direct", "b:depthwise"), Some("b"));
        assert_eq!(newly_depthwise(now, now), None);
        assert_eq!(newly_depthwise("a:dft=41/33", "a:winograd=6"), None);
    }
}
