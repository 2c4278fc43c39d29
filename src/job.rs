//! From `run` options to a checked job: the model loaded, the layer and the
//! classes resolved, the options validated, the work cut into lanes.
use crate::ascent::{items, lane_ranges, AscentParams, Item, ValidAscentParams};
use crate::classes::{class_names, dense_index, select};
use crate::model::{load_model_sized, Keras1Backend, ModelSpec};
use crate::network::{ConvMode, Network, Plan, Reduce};
use crate::results::RunMeta;
use crate::{limits, Error, Result};
use std::path::{Path, PathBuf};

/// The options of `run` as the library takes them: plain values, no command
/// line. The binary builds one from its parsed arguments; a test or another
/// program can build one directly.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Keras HDF5, Keras 3 archive, ONNX, native model file, or a Keras JSON architecture.
    pub model: PathBuf,
    /// The weights of an architecture-only `model` (Keras `to_json()` + `save_weights`).
    pub weights: Option<PathBuf>,
    /// Many models in one job: a list file (or a directory of model files);
    /// `model`, `weights` and `out` are then unused and each model's results
    /// go to `out_dir`.
    pub models: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    /// H is the input of this layer: its name, or its 0-based index (or a
    /// tensor name the model file gives: H is then that tensor).
    pub layer: String,
    /// The output whose units are the classes, by name or index (`None`: the only one).
    pub output: Option<String>,
    /// For an output with positions: how a track's positions make one score.
    pub reduce: Option<Reduce>,
    /// Results file (HDF5).
    pub out: PathBuf,
    /// `all`, or output indices such as `0,3,7-9`.
    pub classes: String,
    /// Restarts per class.
    pub restarts: usize,
    /// The ascent options that change results (checked by [`prepare`]).
    pub params: AscentParams,
    /// One class name per line, in output order.
    pub class_names: Option<PathBuf>,
    /// No progress output.
    pub quiet: bool,
    /// Finish an interrupted run in the same file.
    pub resume: bool,
    /// Replace an existing results file.
    pub overwrite: bool,
    /// Which backend trained a Keras 1 file (`None`: from the file).
    pub keras1_backend: Option<Keras1Backend>,
    /// Items advanced together per GEMM (per rank).
    pub batch: usize,
    /// Items per lane (`None`: 2 × batch).
    pub lane: Option<usize>,
    /// How the convolutions after H are computed.
    pub conv: ConvMode,
    /// Seconds between progress lines when the log is not a terminal.
    pub progress_every: f64,
    /// The GMM's covariance floor: tied to the maps (`fiv`) or to the IL values (`relative`), or scikit-learn's absolute one.
    pub gmm_floor: crate::analysis::gmm::GmmFloor,
    /// The input length of a model saved without one (`None`: the file's).
    pub input_length: Option<usize>,
}

impl RunConfig {
    pub const DEFAULT_CLASSES: &'static str = "all";
    pub const DEFAULT_RESTARTS: usize = 10;
    pub const DEFAULT_BATCH: usize = 32;
    pub const DEFAULT_PROGRESS_EVERY: f64 = 30.0;

    /// A run of `model` at `layer` into `out` with every other option at its default.
    pub fn new(
        model: impl Into<PathBuf>,
        layer: impl Into<String>,
        out: impl Into<PathBuf>,
    ) -> Self {
        RunConfig {
            model: model.into(),
            weights: None,
            models: None,
            out_dir: None,
            layer: layer.into(),
            output: None,
            reduce: None,
            out: out.into(),
            classes: Self::DEFAULT_CLASSES.into(),
            restarts: Self::DEFAULT_RESTARTS,
            params: AscentParams::new(),
            class_names: None,
            quiet: false,
            resume: false,
            overwrite: false,
            keras1_backend: None,
            batch: Self::DEFAULT_BATCH,
            lane: None,
            conv: ConvMode::Auto,
            progress_every: Self::DEFAULT_PROGRESS_EVERY,
            gmm_floor: Default::default(),
            input_length: None,
        }
    }
}

pub struct Job {
    /// The model's name in a multi-model job (its file stem, or the list's second column).
    pub name: String,
    /// Its results file.
    pub out: PathBuf,
    pub net: Network,
    pub layer: usize,
    /// What S_c is: H, the head, the transforms left out.
    pub plan: Plan,
    pub meta: RunMeta,
    pub items: Vec<Item>,
    pub lanes: Vec<std::ops::Range<usize>>,
    /// Lines rank 0 says before the run: an output chosen while another
    /// could not be scored.
    pub notes: Vec<String>,
}

/// The ascent options checked, then the run's own counts (restarts, batch).
fn check_params(a: &RunConfig) -> Result<ValidAscentParams> {
    let params = a.params.check()?;
    limits::count("restarts", a.restarts, limits::MAX_RESTARTS)?;
    limits::count("batch", a.batch, limits::MAX_BATCH)?;
    limits::progress_every(a.progress_every)?;
    Ok(params)
}

pub fn prepare(a: &RunConfig) -> Result<Job> {
    let params = check_params(a)?;
    let lane = limits::lane(a.lane, a.batch)?;
    let spec = load_model_sized(
        &a.model,
        a.weights.as_deref(),
        a.keras1_backend,
        a.input_length,
    )?;
    let model_class_names = spec.class_names.clone();
    let (layer, h_tensor) = find_h(&spec, &a.layer, &a.model)?;
    let output = match &a.output {
        None => None,
        Some(o) => Some(find_output(&spec, o)?),
    };
    let reduce = a.reduce;
    let output_name = output.map(|o| spec.output_list()[o].name.clone());
    let unscorable = spec.unscorable.clone();
    let net = Network::from_spec(spec)?;
    let plan = match h_tensor {
        None => Plan::new(&net, layer, output, reduce)?,
        Some(t) => Plan::at_tensor(&net, t, &a.layer, output, reduce)?,
    };
    let layer_name = match h_tensor {
        None => net.layer_name(layer).to_string(),
        Some(_) => a.layer.clone(),
    };
    let output_name = output_name.unwrap_or_else(|| net.outputs()[plan.output].name.clone());
    // Without --output the only scorable head is taken: say which, and what was skipped.
    let notes = if a.output.is_none() {
        unscorable
            .iter()
            .map(|u| {
                format!(
                    "scoring output {output_name} (no --output given); output {} cannot be scored: {}",
                    u.name, u.reason
                )
            })
            .collect()
    } else {
        vec![]
    };
    let n_out = plan.n_classes;
    let (k, w) = match h_tensor {
        None => net.input_shape(layer),
        Some(t) => net.tensor_shape(t),
    };
    let all_names = class_names(
        a.class_names.as_deref(),
        model_class_names.as_deref(),
        n_out,
    )?;
    let classes = select(
        &a.classes,
        &dense_index(n_out),
        &all_names,
        Some(n_out as i64 - 1),
        "the model",
    )?;
    limits::items(classes.len(), a.restarts)?;
    let meta = RunMeta {
        model: a.model.display().to_string(),
        layer: layer_name,
        layer_index: layer,
        classes_arg: a.classes.clone(),
        class_names: classes.iter().map(|&c| all_names[c].clone()).collect(),
        classes,
        class_names_file: a
            .class_names
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        restarts: a.restarts,
        params,
        k,
        w,
        batch: a.batch,
        lane,
        keras1_backend: a
            .keras1_backend
            .map_or("auto".into(), |b| format!("{b:?}").to_lowercase()),
        quiet: a.quiet,
        overwrite: a.overwrite,
        output: output_name,
        reduce: reduce.map_or(String::new(), |r| r.name().to_string()),
        weights: a
            .weights
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        conv: a.conv.as_str().into(),
        conv_paths: crate::network::conv1d_spectral::describe(&net, &plan, a.conv, a.batch),
        simd: crate::network::simd::current().as_str().into(),
        input_length: a.input_length.unwrap_or(0),
        gmm_floor: a.gmm_floor,
    };
    let items = items(&meta.classes, meta.restarts);
    let lanes = lane_ranges(items.len(), lane);
    Ok(Job {
        name: a
            .model
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        out: a.out.clone(),
        net,
        layer,
        plan,
        meta,
        items,
        lanes,
        notes,
    })
}

/// `--layer` as a layer name or index (H = that layer's input), or a tensor
/// name the model file gives (H = that tensor; the layer returned is its
/// first reader, for the results file's layer_index).
pub(crate) fn find_h(
    spec: &ModelSpec,
    key: &str,
    model: &std::path::Path,
) -> Result<(usize, Option<usize>)> {
    if let Some(i) = spec.find_layer(key) {
        return Ok((i, None));
    }
    if let Some(&(_, t)) = spec.tensor_names.iter().find(|(n, _)| n == key) {
        let reader = spec.layers.iter().position(|l| l.inputs.contains(&t));
        return match reader {
            Some(i) => Ok((i, Some(t))),
            None => Err(Error::Input(format!(
                "--layer {key:?}: tensor {key} of {} is read by no layer (an output cannot be H)",
                model.display()
            ))),
        };
    }
    let names: Vec<String> = spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i}:{}", l.name))
        .collect();
    Err(Error::Input(format!(
        "--layer {:?} is neither a layer name nor an index of {} (layers: {}{})",
        key,
        model.display(),
        names.join(", "),
        if spec.tensor_names.is_empty() {
            ""
        } else {
            "; tensor names: see `inspect`"
        }
    )))
}

/// `--output` as an output name or index.
fn find_output(spec: &ModelSpec, key: &str) -> Result<usize> {
    let outs = spec.output_list();
    if let Some(i) = outs.iter().position(|o| o.name == key) {
        return Ok(i);
    }
    if let Some(i) = key.parse::<usize>().ok().filter(|&i| i < outs.len()) {
        return Ok(i);
    }
    if let Some(u) = spec.unscorable.iter().find(|u| u.name == key) {
        let others: Vec<&str> = outs.iter().map(|o| o.name.as_str()).collect();
        return Err(Error::Input(format!(
            "--output {key}: this output cannot be scored ({}); outputs that can: {}",
            u.reason,
            others.join(", ")
        )));
    }
    let list: Vec<String> = outs
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{i}: {}", o.name))
        .collect();
    Err(Error::Input(format!(
        "--output {key:?} is not an output of the model (outputs: {})",
        list.join(", ")
    )))
}

/// One model of a multi-model job.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub model: PathBuf,
    pub weights: Option<PathBuf>,
    /// Names its results file, `<out-dir>/<name>.h5`.
    pub name: String,
}

const MODEL_EXTENSIONS: [&str; 4] = ["h5", "hdf5", "keras", "onnx"];

/// The models of `--models`: a directory (every `.h5`, `.hdf5`, `.keras` and
/// `.onnx` file in it, by name), or a text file with one model per line:
/// `MODEL [NAME [WEIGHTS]]`, whitespace-separated (`-` for NAME keeps the
/// file stem; WEIGHTS for a Keras JSON architecture); `#` starts a comment.
/// Names must be unique: they name the results files.
pub fn model_list(list: &Path) -> Result<Vec<ModelEntry>> {
    let bad = |m: String| Error::Input(format!("--models {}: {m}", list.display()));
    let stem = |p: &Path| {
        p.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    };
    let mut out = Vec::new();
    if list.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(list)
            .map_err(|e| bad(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        MODEL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    })
            })
            .collect();
        files.sort();
        for f in files {
            out.push(ModelEntry {
                name: stem(&f),
                model: f,
                weights: None,
            });
        }
    } else {
        let text = std::fs::read_to_string(list).map_err(|e| bad(format!("cannot read: {e}")))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 3 {
                return Err(bad(format!(
                    "line {}: {} columns; expected MODEL [NAME [WEIGHTS]]",
                    n + 1,
                    cols.len()
                )));
            }
            let model = PathBuf::from(cols[0]);
            out.push(ModelEntry {
                name: match cols.get(1) {
                    Some(&"-") | None => stem(&model),
                    Some(s) => s.to_string(),
                },
                weights: cols.get(2).map(PathBuf::from),
                model,
            });
        }
    }
    if out.is_empty() {
        return Err(bad("no models".into()));
    }
    let mut seen = std::collections::HashMap::new();
    for e in &out {
        if e.name.is_empty() || e.name.contains('/') {
            return Err(bad(format!(
                "model {} has no usable name {:?}",
                e.model.display(),
                e.name
            )));
        }
        if let Some(first) = seen.insert(e.name.clone(), e.model.clone()) {
            return Err(bad(format!(
                "{} and {} would both write {}.h5: give them names in the list's second column",
                first.display(),
                e.model.display(),
                e.name
            )));
        }
    }
    Ok(out)
}

/// Every model of the job checked before any work starts: one model
/// (`--model`), or each of `--models` with the same options, writing
/// `<out-dir>/<name>.h5`.
pub fn prepare_all(a: &RunConfig) -> Result<Vec<Job>> {
    let Some(list) = &a.models else {
        return Ok(vec![prepare(a)?]);
    };
    let dir = a
        .out_dir
        .as_ref()
        .ok_or_else(|| Error::Input("--models needs --out-dir".into()))?;
    let mut jobs = Vec::new();
    for e in model_list(list)? {
        let mut one = a.clone();
        one.models = None;
        one.model = e.model.clone();
        one.weights = e.weights.clone();
        one.out = dir.join(format!("{}.h5", e.name));
        let mut job = prepare(&one)?;
        job.name = e.name;
        jobs.push(job);
    }
    Ok(jobs)
}
