//! The `channels` results file (HDF5), written lane by lane and flushed so a
//! killed job keeps what it finished. K channels, I inits, A letters, R
//! window positions, N records:
//!
//! | path | type, shape | what |
//! | --- | --- | --- |
//! | `/` attrs | `format` = "deepresolve-mpi channels", `format_version` = 1, `tool_version`, `status`, and the options (see [`Attr`]) | provenance |
//! | `/sequences/names` | strings (N) | record names |
//! | `/sequences/shift` | int64 (N) | record position of the model input's position 0 (`--fit center`) |
//! | `/channels/record` | int64 (K, I) | record (0-based, file order) of each initial window |
//! | `/channels/offset` | int64 (K, I) | its first position in the record (0-based) |
//! | `/channels/position` | int64 (K, I) | the position of H whose receptive field it is |
//! | `/channels/init_activation` | float32 (K, I) | the channel's activation on it |
//! | `/channels/activation` | float32 (K, I) | the activation at the optimised window |
//! | `/channels/window` | float32 (K, I, A, R) | the optimised window |
//! | `/channels/pwm` | float32 (K, I, R, A) | its PWM (rows: positions) |
//! | `/channels/steps` | int32 (K, I) | ascent steps |
//! | `/channels/converged` | uint8 (K, I) | 1 if stopped by patience |
//! | `/channels/done` | uint8 (K, I) | 1 once written (for `--resume`) |
//! | `/channels/best_init` | int32 (K) | the init with the highest activation (written at the end) |
//! | `/channels/max_activation` | float32 (K) | the channel's largest activation on any window of the sequences (written at the end) |
//! | `/channels/dead` | uint8 (K) | 1 if its activation is the same on every window: no motif (written at the end) |
use crate::{Error, Result};
use hdf5::types::VarLenUnicode;
use ndarray::{s, ArrayView2};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "deepresolve-mpi channels";
pub const FORMAT_VERSION: i64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Real(f64),
}

/// A root attribute; `identity` ones must match for `--resume`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub value: Value,
    pub identity: bool,
}

/// Where each item's initial window came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitWindow {
    pub record: usize,
    pub offset: i64,
    pub position: usize,
    pub activation: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub k: usize,
    pub inits: usize,
    pub a: usize,
    pub r: usize,
}

/// One finished item as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub index: usize,
    pub window: Vec<f32>,
    pub pwm: Vec<f32>,
    pub activation: f32,
    pub steps: u32,
    pub converged: bool,
}

pub struct ChannelsFile {
    file: hdf5::File,
    path: PathBuf,
    shape: Shape,
}

fn h5(path: &Path) -> impl Fn(hdf5::Error) -> Error + '_ {
    move |e| Error::results(path, e.to_string())
}

use crate::model::h5util::h5_string as vstr;

fn put(loc: &hdf5::Location, a: &Attr) -> hdf5::Result<()> {
    match &a.value {
        Value::Str(s) => loc
            .new_attr::<VarLenUnicode>()
            .create(a.name)?
            .write_scalar(&vstr(s)?),
        Value::Int(i) => loc.new_attr::<i64>().create(a.name)?.write_scalar(i),
        Value::Real(x) => loc.new_attr::<f64>().create(a.name)?.write_scalar(x),
    }
}

fn read(loc: &hdf5::Location, a: &Attr) -> Option<Value> {
    let at = loc.attr(a.name).ok()?;
    Some(match a.value {
        // Through h5util: the global heap checked, bad UTF-8 decoded, never trusted.
        Value::Str(_) => Value::Str(
            crate::model::h5util::read_strings(&at)
                .ok()?
                .into_iter()
                .next()?,
        ),
        Value::Int(_) => Value::Int(at.read_scalar::<i64>().ok()?),
        Value::Real(_) => Value::Real(at.read_scalar::<f64>().ok()?),
    })
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(missing)".into(),
        Some(Value::Str(s)) => format!("{s:?}"),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Real(x)) => x.to_string(),
    }
}

impl ChannelsFile {
    pub fn create(
        path: &Path,
        attrs: &[Attr],
        shape: &Shape,
        names: &[String],
        shifts: &[i64],
        inits: &[InitWindow],
        overwrite: bool,
    ) -> Result<ChannelsFile> {
        if path.exists() && !overwrite {
            return Err(Error::results(
                path,
                "already exists (use --overwrite to replace it or --resume to finish it)",
            ));
        }
        let file = hdf5::File::create(path)
            .map_err(|e| Error::results(path, format!("cannot create: {e}")))?;
        let Shape { k, inits: ni, a, r } = *shape;
        (|| -> hdf5::Result<()> {
            for a in [
                Attr {
                    name: "format",
                    value: Value::Str(FORMAT.into()),
                    identity: false,
                },
                Attr {
                    name: "format_version",
                    value: Value::Int(FORMAT_VERSION),
                    identity: false,
                },
                Attr {
                    name: "tool_version",
                    value: Value::Str(env!("CARGO_PKG_VERSION").into()),
                    identity: false,
                },
                Attr {
                    name: "status",
                    value: Value::Str("running".into()),
                    identity: false,
                },
            ]
            .iter()
            .chain(attrs)
            {
                put(&file, a)?;
            }
            file.create_group("sequences")?;
            let n: Vec<VarLenUnicode> =
                names.iter().map(|s| vstr(s)).collect::<hdf5::Result<_>>()?;
            file.new_dataset_builder()
                .with_data(&n)
                .create("sequences/names")?;
            file.new_dataset_builder()
                .with_data(shifts)
                .create("sequences/shift")?;
            file.create_group("channels")?;
            let grid = |f: &dyn Fn(&InitWindow) -> i64| {
                ndarray::Array2::from_shape_vec((k, ni), inits.iter().map(f).collect()).unwrap()
            };
            file.new_dataset_builder()
                .with_data(&grid(&|w| w.record as i64))
                .create("channels/record")?;
            file.new_dataset_builder()
                .with_data(&grid(&|w| w.offset))
                .create("channels/offset")?;
            file.new_dataset_builder()
                .with_data(&grid(&|w| w.position as i64))
                .create("channels/position")?;
            let act = ndarray::Array2::from_shape_vec(
                (k, ni),
                inits.iter().map(|w| w.activation).collect(),
            )
            .unwrap();
            file.new_dataset_builder()
                .with_data(&act)
                .create("channels/init_activation")?;
            file.new_dataset::<f32>()
                .shape([k, ni])
                .create("channels/activation")?;
            file.new_dataset::<f32>()
                .shape([k, ni, a, r])
                .chunk([1, 1, a, r])
                .create("channels/window")?;
            file.new_dataset::<f32>()
                .shape([k, ni, r, a])
                .chunk([1, 1, r, a])
                .create("channels/pwm")?;
            file.new_dataset::<i32>()
                .shape([k, ni])
                .create("channels/steps")?;
            file.new_dataset::<u8>()
                .shape([k, ni])
                .create("channels/converged")?;
            file.new_dataset::<u8>()
                .shape([k, ni])
                .create("channels/done")?;
            file.flush()
        })()
        .map_err(h5(path))?;
        Ok(ChannelsFile {
            file,
            path: path.to_path_buf(),
            shape: shape.clone(),
        })
    }

    /// Reopen an interrupted job: every identity attribute and the initial
    /// windows must match; returns the `done` flags (K·I).
    pub fn resume(
        path: &Path,
        attrs: &[Attr],
        shape: &Shape,
        inits: &[InitWindow],
    ) -> Result<(ChannelsFile, Vec<u8>)> {
        if !path.exists() {
            return Err(Error::results(path, "does not exist, nothing to resume"));
        }
        // A killed job's orphaned ranks may hold the lock for a second: wait for it.
        let file = crate::results::lock::open_results(
            path,
            "cannot open for resume",
            std::time::Duration::from_secs(5),
            || hdf5::File::open_rw(path),
        )?;
        let fmt = Attr {
            name: "format",
            value: Value::Str(FORMAT.into()),
            identity: true,
        };
        if read(&file, &fmt) != Some(fmt.value.clone()) {
            return Err(Error::results(
                path,
                "is not a deepresolve-mpi channels file",
            ));
        }
        for a in attrs.iter().filter(|a| a.identity) {
            let was = read(&file, a);
            if was.as_ref() != Some(&a.value) {
                return Err(Error::results(
                    path,
                    format!(
                        "--resume with a different {}: the file has {}, this job has {}",
                        a.name.replace('_', "-"),
                        show(&was),
                        show(&Some(a.value.clone()))
                    ),
                ));
            }
        }
        let e = h5(path);
        let rec: Vec<i64> = file
            .dataset("channels/record")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        let off: Vec<i64> = file
            .dataset("channels/offset")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        if rec.len() != inits.len()
            || inits
                .iter()
                .zip(rec.iter().zip(&off))
                .any(|(w, (&r, &o))| w.record as i64 != r || w.offset != o)
        {
            return Err(Error::results(
                path,
                "--resume: the initial windows differ from those in the file (another FASTA or model?)",
            ));
        }
        let done: Vec<u8> = file
            .dataset("channels/done")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        Ok((
            ChannelsFile {
                file,
                path: path.to_path_buf(),
                shape: shape.clone(),
            },
            done,
        ))
    }

    pub fn write(&self, items: &[Stored]) -> Result<()> {
        let Shape {
            inits: ni, a, r, ..
        } = self.shape;
        (|| -> hdf5::Result<()> {
            let f = &self.file;
            let (win, pwm, act, steps, conv, done) = (
                f.dataset("channels/window")?,
                f.dataset("channels/pwm")?,
                f.dataset("channels/activation")?,
                f.dataset("channels/steps")?,
                f.dataset("channels/converged")?,
                f.dataset("channels/done")?,
            );
            for it in items {
                let (k, i) = (it.index / ni, it.index % ni);
                win.write_slice(
                    &ArrayView2::from_shape((a, r), &it.window).unwrap(),
                    s![k, i, .., ..],
                )?;
                pwm.write_slice(
                    &ArrayView2::from_shape((r, a), &it.pwm).unwrap(),
                    s![k, i, .., ..],
                )?;
                act.write_slice(&[it.activation], s![k, i..i + 1])?;
                steps.write_slice(&[it.steps as i32], s![k, i..i + 1])?;
                conv.write_slice(&[it.converged as u8], s![k, i..i + 1])?;
            }
            // done last: an item is marked only once all its data are in the file.
            for it in items {
                let (k, i) = (it.index / ni, it.index % ni);
                done.write_slice(&[1u8], s![k, i..i + 1])?;
            }
            f.flush()
        })()
        .map_err(h5(&self.path))
    }

    /// Every item's final activation (K·I) and PWM (K·I·R·A).
    pub fn read_results(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let e = h5(&self.path);
        let act = self
            .file
            .dataset("channels/activation")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        let pwm = self
            .file
            .dataset("channels/pwm")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        Ok((act, pwm))
    }

    /// The end: `best_init`, `max_activation`, `dead` and `status` = "complete".
    pub fn finish(&self, best: &[i32], activity: &super::Activity) -> Result<()> {
        (|| -> hdf5::Result<()> {
            for name in [
                "channels/best_init",
                "channels/max_activation",
                "channels/dead",
            ] {
                if self.file.link_exists(name) {
                    self.file.unlink(name)?;
                }
            }
            self.file
                .new_dataset_builder()
                .with_data(best)
                .create("channels/best_init")?;
            self.file
                .new_dataset_builder()
                .with_data(&activity.max)
                .create("channels/max_activation")?;
            let dead: Vec<u8> = activity.dead.iter().map(|&d| d as u8).collect();
            self.file
                .new_dataset_builder()
                .with_data(&dead)
                .create("channels/dead")?;
            if self.file.attr("status").is_ok() {
                self.file.delete_attr("status")?;
            }
            self.file
                .new_attr::<VarLenUnicode>()
                .create("status")?
                .write_scalar(&vstr("complete")?)?;
            self.file.flush()
        })()
        .map_err(h5(&self.path))
    }
}

/// Whether `path` is a `channels` results file (its root `format` attribute);
/// false for anything else, including files that cannot be opened.
pub fn is_channels_file(path: &Path) -> bool {
    hdf5::File::open(path)
        .ok()
        .and_then(|f| crate::model::h5util::str_attr(&f, "format"))
        .is_some_and(|s| s == FORMAT)
}

/// A finished `channels` file as `plot` reads it: each channel's best init
/// (`/channels/best_init`), its PWM and its activation.
#[derive(Debug, Clone, PartialEq)]
pub struct BestMotifs {
    pub path: PathBuf,
    pub model: String,
    pub layer: String,
    /// The letters of the PWM columns, in column order (upper case).
    pub alphabet: String,
    /// Window positions (the receptive field).
    pub r: usize,
    /// Per channel (K): its best init's PWM, R rows of A probabilities.
    pub pwms: Vec<Vec<Vec<f32>>>,
    /// Per channel: the activation of its best init's optimised window.
    pub activation: Vec<f32>,
}

impl BestMotifs {
    pub fn k(&self) -> usize {
        self.pwms.len()
    }

    pub fn read(path: &Path) -> Result<BestMotifs> {
        use crate::model::h5util::str_attr;
        let file = hdf5::File::open(path)
            .map_err(|e| Error::results(path, format!("cannot open: {e}")))?;
        if str_attr(&file, "format").as_deref() != Some(FORMAT) {
            return Err(Error::results(
                path,
                "is not a deepresolve-mpi channels file",
            ));
        }
        let status = str_attr(&file, "status").unwrap_or_default();
        if status != "complete" || !file.link_exists("channels/best_init") {
            return Err(Error::results(
                path,
                format!("the channels job is not finished (status {status:?}): finish it with `channels … --resume` first"),
            ));
        }
        let e = h5(path);
        let pwm = file.dataset("channels/pwm").map_err(&e)?;
        let shape = pwm.shape();
        if shape.len() != 4 {
            return Err(Error::results(
                path,
                format!("/channels/pwm has shape {shape:?}, expected (K, I, R, A)"),
            ));
        }
        let (k, ni, r, a) = (shape[0], shape[1], shape[2], shape[3]);
        let v: Vec<f32> = pwm.read_raw().map_err(&e)?;
        let act: Vec<f32> = file
            .dataset("channels/activation")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        let best: Vec<i32> = file
            .dataset("channels/best_init")
            .and_then(|d| d.read_raw())
            .map_err(&e)?;
        if best.len() != k || act.len() != k * ni || best.iter().any(|&b| b < 0 || b as usize >= ni)
        {
            return Err(Error::results(
                path,
                "/channels/best_init or /channels/activation does not fit /channels/pwm",
            ));
        }
        let alphabet = str_attr(&file, "alphabet")
            .unwrap_or_else(|| crate::sequences::Alphabet::DEFAULT.into())
            .to_ascii_uppercase();
        if alphabet.chars().count() != a {
            return Err(Error::results(
                path,
                format!("alphabet {alphabet:?} does not have the {a} letters of /channels/pwm"),
            ));
        }
        let pwms = (0..k)
            .map(|kk| {
                let at = (kk * ni + best[kk] as usize) * r * a;
                v[at..at + r * a].chunks(a).map(<[f32]>::to_vec).collect()
            })
            .collect();
        let activation = (0..k).map(|kk| act[kk * ni + best[kk] as usize]).collect();
        Ok(BestMotifs {
            path: path.to_path_buf(),
            model: str_attr(&file, "model").unwrap_or_default(),
            layer: str_attr(&file, "layer").unwrap_or_default(),
            alphabet,
            r,
            pwms,
            activation,
        })
    }
}
