//! From `run` options to a checked job: the model loaded, the layer and the
//! classes resolved, the options validated, the work cut into lanes.
use crate::ascent::{items, lane_ranges, AscentParams, Item, ValidAscentParams};
use crate::classes::{class_names, parse_classes};
use crate::model::{load_model, Keras1Backend};
use crate::network::{Network, Scorer};
use crate::results::RunMeta;
use crate::{Error, Result};
use std::path::PathBuf;

/// The options of `run` as the library takes them: plain values, no command
/// line. The binary builds one from its parsed arguments; a test or another
/// program can build one directly.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Keras HDF5, Keras 3 archive or native model file.
    pub model: PathBuf,
    /// H is the input of this layer: its name, or its 0-based index.
    pub layer: String,
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
    /// Seconds between progress lines when the log is not a terminal.
    pub progress_every: f64,
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
            layer: layer.into(),
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
            progress_every: Self::DEFAULT_PROGRESS_EVERY,
        }
    }
}

pub struct Job {
    pub net: Network,
    pub layer: usize,
    pub meta: RunMeta,
    pub items: Vec<Item>,
    pub lanes: Vec<std::ops::Range<usize>>,
}

/// The ascent options checked, then the run's own counts (restarts, batch).
fn check_params(a: &RunConfig) -> Result<ValidAscentParams> {
    let params = a.params.check()?;
    for (name, v) in [("restarts", a.restarts), ("batch", a.batch)] {
        if v == 0 {
            return Err(Error::Input(format!("--{name} must be at least 1")));
        }
    }
    Ok(params)
}

pub fn prepare(a: &RunConfig) -> Result<Job> {
    let params = check_params(a)?;
    let lane = a.lane.unwrap_or(2 * a.batch);
    if lane == 0 {
        return Err(Error::Input("--lane must be at least 1".into()));
    }
    let spec = load_model(&a.model, a.keras1_backend)?;
    let model_class_names = spec.class_names.clone();
    let layer = spec.find_layer(&a.layer).ok_or_else(|| {
        let names: Vec<String> = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{i}:{}", l.name))
            .collect();
        Error::Input(format!(
            "--layer {:?} is neither a layer name nor an index of {} (layers: {})",
            a.layer,
            a.model.display(),
            names.join(", ")
        ))
    })?;
    let layer_name = spec.layers[layer].name.clone();
    let net = Network::from_spec(spec)?;
    let scorer = Scorer::new(&net, layer, 1)?;
    let n_out = scorer.n_classes();
    let (k, w) = net.input_shape(layer);
    let classes = parse_classes(&a.classes, n_out)?;
    let all_names = class_names(
        a.class_names.as_deref(),
        model_class_names.as_deref(),
        n_out,
    )?;
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
    };
    let items = items(&meta.classes, meta.restarts);
    let lanes = lane_ranges(items.len(), lane);
    Ok(Job {
        net,
        layer,
        meta,
        items,
        lanes,
    })
}
