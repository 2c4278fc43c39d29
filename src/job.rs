//! From `run` options to a checked job: the model loaded, the layer and the
//! classes resolved, the options validated, the work cut into lanes.
use crate::ascent::{items, lane_ranges, AscentParams, Item};
use crate::classes::{class_names, parse_classes};
use crate::cli::{Backend, ReduceArg, RunArgs};
use crate::model::{load_model, Keras1Backend, ModelSpec};
use crate::network::{Network, Plan, Reduce};
use crate::results::RunMeta;
use crate::{Error, Result};

pub struct Job {
    pub net: Network,
    pub layer: usize,
    /// What S_c is: H, the head, the transforms left out.
    pub plan: Plan,
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
    let (layer, h_tensor) = find_h(&spec, &a.layer, &a.model)?;
    let output = match &a.output {
        None => None,
        Some(o) => Some(find_output(&spec, o)?),
    };
    let reduce = a.reduce.map(|r| match r {
        ReduceArg::Sum => Reduce::Sum,
        ReduceArg::Mean => Reduce::Mean,
        ReduceArg::Max => Reduce::Max,
    });
    let output_name = output.map(|o| spec.output_list()[o].name.clone());
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
    let n_out = plan.n_classes;
    let (k, w) = match h_tensor {
        None => net.input_shape(layer),
        Some(t) => net.tensor_shape(t),
    };
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
        output: output_name,
        reduce: reduce.map_or(String::new(), |r| r.name().to_string()),
    };
    let items = items(&meta.classes, meta.restarts);
    let lanes = lane_ranges(items.len(), lane);
    Ok(Job {
        net,
        layer,
        plan,
        meta,
        items,
        lanes,
    })
}

/// `--layer` as a layer name or index (H = that layer's input), or a tensor
/// name the model file gives (H = that tensor; the layer returned is its
/// first reader, for the results file's layer_index).
fn find_h(spec: &ModelSpec, key: &str, model: &std::path::Path) -> Result<(usize, Option<usize>)> {
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
