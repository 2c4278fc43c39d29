//! From `run` options to a checked job: the model loaded, the layer and the
//! classes resolved, the options validated, the work cut into lanes.
use crate::ascent::{items, lane_ranges, AscentParams, Item};
use crate::classes::{class_names, parse_classes};
use crate::cli::{Backend, RunArgs};
use crate::model::{load_model, Keras1Backend};
use crate::network::{Network, Scorer};
use crate::results::RunMeta;
use crate::{Error, Result};

pub struct Job {
    pub net: Network,
    pub layer: usize,
    pub meta: RunMeta,
    pub items: Vec<Item>,
    pub lanes: Vec<std::ops::Range<usize>>,
}

pub fn keras1(b: Option<Backend>) -> Option<Keras1Backend> {
    b.map(|b| match b {
        Backend::Theano => Keras1Backend::Theano,
        Backend::Tensorflow => Keras1Backend::Tensorflow,
    })
}

fn check_params(a: &RunArgs) -> Result<AscentParams> {
    let pos = |name: &str, v: f32, allow_zero: bool| {
        if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
            Err(Error::Input(format!(
                "--{name} {v} must be a finite {} number",
                if allow_zero {
                    "non-negative"
                } else {
                    "positive"
                }
            )))
        } else {
            Ok(())
        }
    };
    pos("lambda", a.lambda, true)?;
    pos("lr", a.lr, false)?;
    pos("decay-alpha", a.decay_alpha, true)?;
    pos("min-lr", a.min_lr, true)?;
    for (name, v) in [
        ("restarts", a.restarts),
        ("patience", a.patience),
        ("batch", a.batch),
    ] {
        if v == 0 {
            return Err(Error::Input(format!("--{name} must be at least 1")));
        }
    }
    Ok(AscentParams {
        lambda: a.lambda,
        lr: a.lr,
        decay_start: a.decay_start,
        decay_alpha: a.decay_alpha,
        min_lr: a.min_lr,
        patience: a.patience,
        max_steps: a.max_steps,
        seed: a.seed,
    })
}

pub fn prepare(a: &RunArgs) -> Result<Job> {
    let params = check_params(a)?;
    let lane = a.lane.unwrap_or(2 * a.batch);
    if lane == 0 {
        return Err(Error::Input("--lane must be at least 1".into()));
    }
    let spec = load_model(&a.model, keras1(a.keras1_backend))?;
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
