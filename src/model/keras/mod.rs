//! Keras models as their users saved them: `model.save("x.h5")` from Keras 1.2,
//! 2.x and 3.x, Keras 3 `.keras` archives, and `to_json()` architectures with
//! their `save_weights` files.
//!
//! Sequential and Functional models of any graph shape load into a
//! [`ModelSpec`]; InputLayer is not a layer (indices count as `model.layers[i]`
//! without it). A model used as a layer of another is expanded in place (its
//! layers keep their names, prefixed with the inner model's name where that
//! would repeat a name). Kernels are converted to the spec's conventions:
//! Conv1D (filters, in, k), Dense (units, in), Theano kernels flipped.
//! 2-D convolutions/poolings over a one-row image map onto the 1-D layers.
//! Refused by name: shared layers (called more than once), models with several
//! inputs, Lambda layers and any layer class not listed in [`layers`].
mod archive;
mod attention;
mod attention_pool;
mod config;
mod joined_heads;
use crate::model::h5util;
mod layers;
mod multi_head_attention;
mod positions;
mod recurrent;
mod v1;
mod weights;

use crate::error::Error;
use crate::model::grouped_conv::grouped_to_full;
use crate::model::{
    ConcatAxis, FlattenOrder, LayerKind, LayerSpec, ModelSpec, OutputSpec, Padding,
    UnscorableOutput,
};
use config::{ModelConfig, RawLayer, TensorRef};
use h5util::Tensor;
use layers::{Desc, KernelLayout};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use weights::WeightStore;

/// The backend a Keras 1 model was trained with (Keras 1 files do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keras1Backend {
    /// True convolutions: kernels are flipped on load.
    Theano,
    /// Cross-correlations: kernels are used as stored.
    Tensorflow,
}

struct Source {
    config: String,
    keras_version: Option<String>,
    backend: Option<String>,
    store: WeightStore,
    container: &'static str,
    /// Where the weights are when they are not in the model file (`save_weights`).
    weights_path: Option<PathBuf>,
}

/// Load a Keras `.h5` (`model.save`) or `.keras` file.
///
/// `keras1_backend` overrides the backend guessed for Keras 1 files (Theano when
/// any layer uses `dim_ordering: "th"`, TensorFlow otherwise). Keras 2 files
/// saved by the Theano backend (root attribute `backend = "theano"`) are flipped too.
pub fn load_keras(path: &Path, keras1_backend: Option<Keras1Backend>) -> crate::Result<ModelSpec> {
    load_keras_sized(path, keras1_backend, None)
}

/// As [`load_keras`]; `input_length` fills an unspecified input length
/// (`Input(shape=(None, 4))`).
pub fn load_keras_sized(
    path: &Path,
    keras1_backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> crate::Result<ModelSpec> {
    if !path.exists() {
        return Err(Error::model(path, "no such file"));
    }
    if archive::is_zip(path) {
        let a = archive::open(path).map_err(|m| Error::model(path, m))?;
        let file = hdf5::File::open(&a.weights.0).map_err(|e| {
            Error::model(
                path,
                format!("model.weights.h5 in the archive is not readable HDF5: {e}"),
            )
        })?;
        let src = Source {
            config: a.config.clone(),
            keras_version: a.keras_version.clone(),
            backend: None,
            store: WeightStore::v3(file),
            container: ".keras archive",
            weights_path: None,
        };
        let spec = build(path, &src, keras1_backend, input_length);
        drop(src);
        drop(a);
        spec
    } else {
        let file = hdf5::File::open(path).map_err(|e| {
            Error::model(
                path,
                format!("not a Keras .h5/.keras file (cannot open as HDF5: {e})"),
            )
        })?;
        let attr = |n: &str| {
            h5util::string_attr(&file, n)
                .map_err(|m| Error::model(path, format!("attribute {n}: {m}")))
        };
        let config = attr("model_config")?.ok_or_else(|| {
            Error::model(
                path,
                "no model_config attribute: not a file written by Keras model.save (a weights-only file has no architecture; give it with the architecture JSON)",
            )
        })?;
        let src = Source {
            config,
            keras_version: attr("keras_version")?,
            backend: attr("backend")?,
            store: WeightStore::legacy(&file).map_err(|m| Error::model(path, m))?,
            container: "HDF5",
            weights_path: None,
        };
        build(path, &src, keras1_backend, input_length)
    }
}

/// Load a Keras architecture written by `model.to_json()` (Keras 1.2, 2.x, 3.x)
/// with the weights written by `model.save_weights` (or `model.save`): Keras 1/2
/// and legacy-format HDF5 (layer groups with `weight_names`, at the root or under
/// `model_weights`) or Keras 3 `.weights.h5` (`layers/<key>/vars/<i>`).
pub fn load_keras_json(
    arch: &Path,
    weights: &Path,
    keras1_backend: Option<Keras1Backend>,
) -> crate::Result<ModelSpec> {
    load_keras_json_sized(arch, weights, keras1_backend, None)
}

/// As [`load_keras_json`]; `input_length` fills an unspecified input length.
pub fn load_keras_json_sized(
    arch: &Path,
    weights: &Path,
    keras1_backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> crate::Result<ModelSpec> {
    // --weights is given only with a JSON architecture; say so when the model is something else.
    let with_weights = |what: String| {
        format!("{what}; --weights {} goes with a Keras `model.to_json()` file as --model (a whole-model file needs no --weights)", weights.display())
    };
    let text = std::fs::read_to_string(arch).map_err(|e| {
        Error::model(
            arch,
            with_weights(format!("cannot read the architecture JSON: {e}")),
        )
    })?;
    let root: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::model(
            arch,
            with_weights(format!("the architecture is not valid JSON: {e}")),
        )
    })?;
    let json_str = |k: &str| root.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if !weights.exists() {
        return Err(Error::model(weights, "no such file"));
    }
    let file = hdf5::File::open(weights).map_err(|e| {
        Error::model(
            weights,
            format!("not a Keras weights file (cannot open as HDF5: {e})"),
        )
    })?;
    let attr = |n: &str| h5util::string_attr(&file, n).ok().flatten();
    let keras_version = json_str("keras_version").or_else(|| attr("keras_version"));
    let backend = json_str("backend").or_else(|| attr("backend"));
    let (store, container) = if WeightStore::is_v3_file(&file) {
        (WeightStore::v3(file), "JSON + .weights.h5")
    } else {
        (
            WeightStore::legacy(&file).map_err(|m| Error::model(weights, m))?,
            "JSON + HDF5 weights",
        )
    };
    let src = Source {
        config: text,
        keras_version,
        backend,
        store,
        container,
        weights_path: Some(weights.to_path_buf()),
    };
    build(arch, &src, keras1_backend, input_length)
}

/// The tensor layout between layers: rank 0 = flat vector, 1 = (W, K) or (K, W),
/// 2 = (1, W, K) or (K, 1, W).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    rank: u8,
    channels_first: bool,
}

impl Layout {
    fn same(&self, o: &Layout) -> bool {
        self.rank == o.rank && (self.rank == 0 || self.channels_first == o.channels_first)
    }

    fn describe(&self) -> &'static str {
        match (self.rank, self.channels_first) {
            (0, _) => "flat",
            (1, false) => "(positions, channels)",
            (1, true) => "(channels, positions)",
            (_, false) => "(1, positions, channels)",
            (_, true) => "(channels, 1, positions)",
        }
    }

    /// The tensor's Keras dimensions (without the batch axis) for K channels × W
    /// positions, and which of them are the positions and the channels.
    fn keras_dims(&self, k: usize, w: usize) -> (Vec<usize>, Option<usize>, usize) {
        match (self.rank, self.channels_first) {
            (0, _) => (vec![k], None, 0),
            (1, false) => (vec![w, k], Some(0), 1),
            (1, true) => (vec![k, w], Some(1), 0),
            (_, false) => (vec![1, w, k], Some(1), 2),
            (_, true) => (vec![k, 1, w], Some(2), 0),
        }
    }

    /// Whether Keras' row-major order of the tensor is the spec's position-major one.
    fn row_major_is_position_major(&self, k: usize, w: usize) -> bool {
        !(self.rank > 0 && self.channels_first && k > 1 && w > 1)
    }
}

const V1_ONLY: &[&str] = &["Convolution1D", "Convolution2D", "AtrousConvolution1D"];

fn all_layers<'a>(cfg: &'a ModelConfig, out: &mut Vec<&'a RawLayer>) {
    for l in &cfg.layers {
        out.push(l);
        if let Some(n) = &l.nested {
            all_layers(n, out);
        }
    }
}

fn major_version(src: &Source, cfg: &ModelConfig, layers: &[&RawLayer]) -> u32 {
    if let Some(v) = &src.keras_version {
        if let Some(m) = v.split('.').next().and_then(|m| m.trim().parse().ok()) {
            return m;
        }
    }
    let v1 = layers.iter().any(|l| {
        V1_ONLY.contains(&l.class_name.as_str())
            || ["nb_filter", "output_dim", "border_mode"]
                .iter()
                .any(|k| l.config.get(k).is_some())
    });
    let v3 = cfg.keras3_marks
        || matches!(src.store, WeightStore::V3 { .. })
        || layers.iter().any(|l| {
            l.config.get("batch_shape").is_some()
                || l.config.get("dtype").is_some_and(|d| d.is_object())
        });
    if v1 {
        1
    } else if v3 {
        3
    } else {
        2
    }
}

/// A layer of the expanded graph, before weights.
struct Flat<'a> {
    raw: &'a RawLayer,
    /// Its name in the spec (unique).
    name: String,
    /// The models used as layers that hold it.
    scope: Vec<(String, String)>,
    /// Its `.keras` key within its model.
    key: String,
    inputs: Vec<usize>,
    desc: Desc,
}

struct Expand<'a, 'p> {
    path: &'p Path,
    keras3: bool,
    v1: bool,
    flat: Vec<Flat<'a>>,
    names: HashSet<String>,
}

/// `.keras` group keys: snake-cased class names with a counter, over the layers the
/// model tracks (a Sequential does not track its InputLayer, a Functional does).
fn v3_keys(cfg: &ModelConfig) -> Vec<String> {
    let mut used = HashMap::<String, usize>::new();
    cfg.layers
        .iter()
        .map(|l| {
            if l.class_name == "InputLayer" && cfg.kind == "Sequential" {
                return String::new();
            }
            let base = weights::snake_case(&l.class_name);
            match used.get_mut(&base) {
                Some(n) => {
                    *n += 1;
                    format!("{base}_{n}")
                }
                None => {
                    used.insert(base.clone(), 0);
                    base
                }
            }
        })
        .collect()
}

fn resolve(local: &HashMap<String, Vec<usize>>, refs: &[TensorRef]) -> Result<Vec<usize>, String> {
    refs.iter()
        .map(|r| {
            let ts = local.get(&r.layer).ok_or_else(|| {
                format!(
                    "reads the output of {}, which the config does not define before it (layers must be listed in topological order)",
                    r.layer
                )
            })?;
            ts.get(r.tensor).copied().ok_or_else(|| {
                format!(
                    "reads output {} of {}, which has {}",
                    r.tensor,
                    r.layer,
                    ts.len()
                )
            })
        })
        .collect()
}

impl<'a> Expand<'a, '_> {
    /// Append the layers of `cfg` (whose input layers read the tensors `bound`)
    /// and return the tensors of its outputs.
    fn model(
        &mut self,
        cfg: &'a ModelConfig,
        scope: &[(String, String)],
        mut local: HashMap<String, Vec<usize>>,
    ) -> crate::Result<Vec<usize>> {
        let path = self.path;
        for (l, key) in cfg.layers.iter().zip(v3_keys(cfg)) {
            let lerr =
                |m: String| Error::layer(path, &l.name, format!("{} layer: {m}", l.class_name));
            if let Some(inner) = &l.nested {
                let ins = resolve(&local, &l.inputs).map_err(lerr)?;
                if inner.inputs.len() != 1 {
                    return Err(lerr(format!(
                        "the model used as a layer has {} inputs; only one is supported",
                        inner.inputs.len()
                    )));
                }
                if ins.len() != 1 {
                    return Err(lerr(format!(
                        "the model used as a layer is called on {} tensors; it takes one",
                        ins.len()
                    )));
                }
                let mut bound = HashMap::new();
                bound.insert(inner.inputs[0].layer.clone(), ins);
                let mut sc = scope.to_vec();
                sc.push((l.name.clone(), key));
                let outs = self.model(inner, &sc, bound)?;
                local.insert(l.name.clone(), outs);
                continue;
            }
            let desc = if self.v1 {
                v1::describe(l)
            } else {
                layers::describe(l, self.keras3)
            }
            .unwrap_or_else(Desc::Refused);
            if matches!(desc, Desc::Input) {
                if !local.contains_key(&l.name) {
                    return Err(lerr(
                        "an input layer that is not the model's input (only models with one input are supported)"
                            .into(),
                    ));
                }
                continue;
            }
            if l.inputs.is_empty() {
                return Err(lerr("the config gives the layer no input tensor".into()));
            }
            let inputs = resolve(&local, &l.inputs).map_err(lerr)?;
            let name = if self.names.contains(&l.name) && !scope.is_empty() {
                let mut n: Vec<&str> = scope.iter().map(|(s, _)| s.as_str()).collect();
                n.push(&l.name);
                n.join("/")
            } else {
                l.name.clone()
            };
            if !self.names.insert(name.clone()) {
                return Err(lerr(format!("a second layer named {name}")));
            }
            self.flat.push(Flat {
                raw: l,
                name,
                scope: scope.to_vec(),
                key,
                inputs,
                desc,
            });
            local.insert(l.name.clone(), vec![self.flat.len()]);
        }
        resolve(&local, &cfg.outputs).map_err(|m| {
            let o = cfg
                .outputs
                .iter()
                .map(|r| r.layer.as_str())
                .collect::<Vec<_>>();
            Error::model(path, format!("the model outputs ({}): {m}", o.join(", ")))
        })
    }
}

fn build(
    path: &Path,
    src: &Source,
    keras1_backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> crate::Result<ModelSpec> {
    let cfg = config::parse(&src.config).map_err(|e| match e.layer {
        Some(l) => Error::layer(path, l, e.msg),
        None => Error::model(path, e.msg),
    })?;
    let mut every = Vec::new();
    all_layers(&cfg, &mut every);
    let major = major_version(src, &cfg, &every);
    let theano = if major == 1 {
        match keras1_backend {
            Some(b) => b == Keras1Backend::Theano,
            None => every
                .iter()
                .any(|l| l.config.get("dim_ordering").and_then(|v| v.as_str()) == Some("th")),
        }
    } else {
        src.backend.as_deref() == Some("theano")
    };

    // One input.
    let input = match cfg.inputs.as_slice() {
        [] => return Err(Error::model(path, "the model config names no input layer")),
        [i] => i,
        [_, second, ..] => {
            let names: Vec<&str> = cfg.inputs.iter().map(|r| r.layer.as_str()).collect();
            let class = cfg
                .layers
                .iter()
                .find(|l| l.name == second.layer)
                .map_or("InputLayer", |l| l.class_name.as_str());
            return Err(Error::layer(
                path,
                &second.layer,
                format!(
                    "{class} layer: the model has {} inputs ({}); only models with one input are supported",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let mut ex = Expand {
        path,
        keras3: major >= 3,
        v1: major == 1,
        flat: Vec::new(),
        names: HashSet::new(),
    };
    let mut bound = HashMap::new();
    bound.insert(input.layer.clone(), vec![0]);
    let outs = ex.model(&cfg, &[], bound)?;
    let flat = ex.flat;

    // Input shape and layout.
    let first = cfg
        .layers
        .iter()
        .find(|l| l.name == input.layer)
        .or(cfg.layers.first())
        .ok_or_else(|| Error::model(path, "the model has no layers"))?;
    let shape = layers::declared_input_shape(first).ok_or_else(|| {
        Error::layer(
            path,
            &first.name,
            "the config does not declare the model's input shape (batch_input_shape / batch_shape)",
        )
    })?;
    // Channels are always declared; a missing dimension is the length.
    let shape: Vec<usize> = shape
        .iter()
        .map(|d| d.or(input_length).ok_or(()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            Error::layer(
                path,
                &first.name,
                format!(
                    "the input shape {shape:?} has an unspecified length; give one with --input-length N"
                ),
            )
        })?;
    let cf = flat
        .iter()
        .find_map(|f| match f.desc {
            Desc::Conv { channels_first, .. }
            | Desc::Pool { channels_first, .. }
            | Desc::GlobalPool { channels_first, .. } => Some(channels_first),
            _ => None,
        })
        .unwrap_or(false);
    let bad_input = |m: String| Error::layer(path, &first.name, m);
    let lay = |rank, channels_first| Layout {
        rank,
        channels_first,
    };
    let (input_channels, input_width, layout) = match shape.as_slice() {
        [n] => (*n, 1, lay(0, cf)),
        [a, b] => {
            if cf {
                (*a, *b, lay(1, true))
            } else {
                (*b, *a, lay(1, false))
            }
        }
        [a, b, c] => {
            if cf {
                if *b != 1 {
                    return Err(bad_input(format!("input shape {shape:?} (channels first): only one-row images (K, 1, L) are supported")));
                }
                (*a, *c, lay(2, true))
            } else {
                if *a != 1 {
                    return Err(bad_input(format!("input shape {shape:?} (channels last): only one-row images (1, L, K) are supported")));
                }
                (*c, *b, lay(2, false))
            }
        }
        _ => {
            return Err(bad_input(format!(
                "input shape {shape:?} is not supported (a sequence L × K)"
            )))
        }
    };

    let mut layouts = vec![layout];
    let mut shapes = vec![(input_channels, input_width)];
    let mut out = Vec::new();
    // Per Keras tensor: its spec tensor, or the first layer (by index) that
    // stopped it and its error.
    let mut tensors: Vec<std::result::Result<usize, Stop>> = vec![Ok(0)];
    for (fi, f) in flat.iter().enumerate() {
        let l = f.raw;
        let lerr = |m: String| Error::layer(path, &f.name, format!("{} layer: {m}", l.class_name));
        let refused = f
            .inputs
            .iter()
            .filter_map(|&t| tensors[t].as_ref().err())
            .min_by_key(|r| r.at)
            .cloned();
        let refused = refused.or_else(|| match &f.desc {
            Desc::Refused(m) => Some(Stop::new(fi, lerr(m.clone()))),
            _ => None,
        });
        if let Some(r) = refused {
            tensors.push(Err(r));
            layouts.push(layout);
            shapes.push((0, 0));
            continue;
        }
        let ws =
            src.store
                .layer(&f.scope, &l.name, &f.key)
                .map_err(|m| match &src.weights_path {
                    Some(w) => Error::layer(w, &f.name, format!("{} layer: {m}", l.class_name)),
                    None => lerr(m.clone()),
                })?;
        let mut ins: Vec<(Layout, (usize, usize))> =
            f.inputs.iter().map(|&t| (layouts[t], shapes[t])).collect();
        let mut spec_inputs: Vec<usize> = f
            .inputs
            .iter()
            .map(|&t| *tensors[t].as_ref().unwrap_or(&0))
            .collect();
        if let Desc::Merge(_) = f.desc {
            broadcast_vectors(&f.name, &mut ins, &mut spec_inputs, &mut out);
        }
        let no_entry = ws.is_none();
        let before = out.len();
        let converted = match &f.desc {
            Desc::Mha(_) | Desc::KerasMha(_) | Desc::AttentionPool { .. } => {
                let (lo, shape) = ins[0];
                let expanded = if lo.rank != 1 || lo.channels_first {
                    Err(format!(
                        "this layer needs a (positions, channels) sequence, gets a {} tensor",
                        lo.describe()
                    ))
                } else if f.inputs.iter().any(|&t| t != f.inputs[0]) {
                    Err("cross-attention (query, key and value from different tensors) is not supported; self-attention is".into())
                } else if let Desc::KerasMha(d) = &f.desc {
                    multi_head_attention::keras_mha_layers(
                        d,
                        ws,
                        &f.name,
                        spec_inputs[0],
                        shape,
                        &mut out,
                    )
                } else if let Desc::Mha(d) = &f.desc {
                    attention::mha_layers(d, ws, &f.name, spec_inputs[0], shape, &mut out)
                } else if let Desc::AttentionPool { pool } = f.desc {
                    attention_pool::pool_layers(pool, ws, &f.name, spec_inputs[0], shape, &mut out)
                } else {
                    unreachable!()
                };
                // The layer's last step reads the layers pushed before it.
                expanded.map(|(kind, t, s)| {
                    spec_inputs = vec![t];
                    ins = vec![(lo, s)];
                    (kind, lo)
                })
            }
            Desc::Reduce {
                sum: true,
                ref axis,
                keepdims,
                ..
            } => {
                // The mean over the positions, carrying the name, then × W.
                let mean = Desc::Reduce {
                    max: false,
                    sum: false,
                    axis: axis.clone(),
                    keepdims: *keepdims,
                };
                let (k, w) = ins[0].1;
                convert(&mean, ws, &ins, theano).map(|(kind, lo)| {
                    out.push(LayerSpec {
                        name: f.name.clone(),
                        kind,
                        inputs: spec_inputs.clone(),
                    });
                    spec_inputs = vec![out.len()];
                    ins = vec![(lo, (k, 1))];
                    let scale = LayerKind::Affine {
                        scale: vec![w as f32],
                        shift: vec![0.0],
                    };
                    (scale, lo)
                })
            }
            _ => convert(&f.desc, ws, &ins, theano),
        };
        if converted.is_err() {
            out.truncate(before);
        }
        let converted = converted.map_err(|m| {
            // With a separate weights file, what is wrong with the weights is in that file.
            match &src.weights_path {
                Some(w) if no_entry || m.contains("weight") || m.contains("has shape") => {
                    Error::layer(w, &f.name, format!("{} layer: {m}", l.class_name))
                }
                _ => lerr(m),
            }
        });
        let (kind, lo) = match converted {
            Ok(c) => c,
            Err(e) => {
                tensors.push(Err(Stop::new(fi, e)));
                layouts.push(layout);
                shapes.push((0, 0));
                continue;
            }
        };
        let in_shapes: Vec<(usize, usize)> = ins.iter().map(|x| x.1).collect();
        let shape = kind.output_shape(&in_shapes).map_err(lerr)?;
        let name = match f.desc {
            // Expanded into several layers, the first of which has its name.
            Desc::Mha(_)
            | Desc::KerasMha(_)
            | Desc::AttentionPool { .. }
            | Desc::Reduce { sum: true, .. } => format!("{}/output", f.name),
            _ => f.name.clone(),
        };
        out.push(LayerSpec {
            name,
            kind,
            inputs: spec_inputs,
        });
        tensors.push(Ok(out.len()));
        layouts.push(lo);
        shapes.push(shape);
    }

    let mut unscorable = Vec::new();
    let mut scorable = Vec::new();
    for &t in &outs {
        let name = if t == 0 {
            "input".to_string()
        } else {
            flat[t - 1].name.clone()
        };
        match &tensors[t] {
            Ok(st) => scorable.push(OutputSpec { name, tensor: *st }),
            Err(r) => unscorable.push((name, r.clone())),
        }
    }
    if scorable.is_empty() {
        if let Some((_, stop)) = unscorable.iter().min_by_key(|u| u.1.at) {
            let (file, layer, msg) = &*stop.error;
            return Err(Error::layer(file, layer, msg));
        }
    }
    let unscorable = unscorable
        .into_iter()
        .map(|(name, stop)| UnscorableOutput {
            name,
            reason: format!("layer {}: {}", stop.error.1, stop.error.2),
        })
        .collect();
    let outputs = if outs.len() == 1 && scorable[0].tensor == out.len() {
        vec![]
    } else {
        scorable
    };
    joined_heads::join_dense_heads(&mut out, &outputs);
    let version = src
        .keras_version
        .clone()
        .unwrap_or_else(|| format!("{major}.x"));
    let spec = ModelSpec {
        input_channels,
        input_width,
        layers: out,
        outputs,
        unscorable,
        tensor_names: vec![],
        class_names: None,
        source: format!(
            "keras {version} {} ({}){}",
            src.container,
            cfg.kind,
            if theano {
                ", theano kernels flipped on load"
            } else {
                ""
            }
        ),
    };
    if spec.layers.is_empty() {
        return Err(Error::model(path, "the model has no layers"));
    }
    spec.shapes()
        .map_err(|(i, m)| Error::layer(path, &spec.layers[i].name, m))?;
    Ok(spec)
}

/// Where a Keras tensor was stopped: the index of the layer that could not be
/// read, and its error (file, layer, message).
#[derive(Clone)]
struct Stop {
    at: usize,
    error: std::rc::Rc<(PathBuf, String, String)>,
}

impl Stop {
    fn new(at: usize, e: Error) -> Stop {
        let error = match e {
            Error::Layer { path, layer, msg } => (path, layer, msg),
            other => (PathBuf::new(), String::new(), other.to_string()),
        };
        Stop {
            at,
            error: std::rc::Rc::new(error),
        }
    }
}

fn expect_weights(ws: Option<Vec<Tensor>>, n: usize, what: &str) -> Result<Vec<Tensor>, String> {
    let ws =
        ws.ok_or_else(|| format!("the file has no weights for this layer (expected {what})"))?;
    if ws.len() != n {
        return Err(format!(
            "expected {n} weight arrays ({what}), the file has {}",
            ws.len()
        ));
    }
    Ok(ws)
}

fn shape_err(what: &str, got: &[usize], want: &str) -> String {
    format!("{what} has shape {got:?}, expected {want}")
}

/// The bias (weight array 1) of a layer with `n` outputs, if it has one.
fn bias(ws: &[Tensor], use_bias: bool, n: usize) -> Result<Option<Vec<f32>>, String> {
    if !use_bias {
        return Ok(None);
    }
    if ws[1].shape != [n] {
        return Err(shape_err("the bias", &ws[1].shape, &format!("({n},)")));
    }
    Ok(Some(ws[1].data.clone()))
}

/// A merge of sequences with a per-channel vector (a squeeze-and-excitation
/// gate: `Multiply([x, s])` of (W, K) by (K)) broadcasts the vector over the
/// positions, as Keras does: each such input gets a layer repeating it W
/// times (`upsample1d`, whose gradient sums over the positions) and then
/// reads as a sequence of the others' layout.
fn broadcast_vectors(
    name: &str,
    ins: &mut [(Layout, (usize, usize))],
    spec_inputs: &mut [usize],
    out: &mut Vec<LayerSpec>,
) {
    let Some(&(seq, (_, w))) = ins.iter().find(|(lo, (_, w))| lo.rank > 0 && *w > 1) else {
        return;
    };
    for (i, (lo, (_, vw))) in ins.iter_mut().enumerate() {
        if lo.rank == 0 && *vw == 1 {
            out.push(LayerSpec {
                name: format!("{name}/broadcast{i}"),
                kind: LayerKind::UpSample { size: w },
                inputs: vec![spec_inputs[i]],
            });
            spec_inputs[i] = out.len();
            *lo = seq;
            *vw = w;
        }
    }
}

/// A layer description and its weights → the spec layer and its output's layout,
/// for inputs of these layouts and shapes (K, W).
fn convert(
    d: &Desc,
    ws: Option<Vec<Tensor>>,
    ins: &[(Layout, (usize, usize))],
    theano: bool,
) -> Result<(LayerKind, Layout), String> {
    let (mut lo, (k, w)) = ins[0];
    let kind = convert_one(d, ws, &mut lo, ins, (k, w), theano)?;
    Ok((kind, lo))
}

/// The spec's Reshape for Keras target shape `target` (no batch axis, no -1)
/// of a tensor of layout `lo` and shape (K, W); `lo` becomes the output's.
fn reshape_to(target: &[usize], lo: &mut Layout, k: usize, w: usize) -> Result<LayerKind, String> {
    let cf = lo.channels_first;
    let (rank, kk, ww) = match *target {
        [n] => (0, n, 1),
        [a, b] => {
            if cf {
                (1, a, b)
            } else {
                (1, b, a)
            }
        }
        [a, b, c] if cf && b == 1 => (2, a, c),
        [a, b, c] if !cf && a == 1 => (2, c, b),
        _ => {
            return Err(format!(
                "target shape {target:?} is not a sequence (positions, channels), a one-row image or a flat vector"
            ))
        }
    };
    let out = Layout {
        rank,
        channels_first: lo.channels_first,
    };
    if kk * ww != k * w {
        return Err(format!("cannot reshape {} values to {target:?}", k * w));
    }
    if !lo.row_major_is_position_major(k, w) || !out.row_major_is_position_major(kk, ww) {
        return Err(format!(
            "reshaping channels-first data {} to {target:?} moves values (only relabellings, where a unit axis keeps the order, are supported)",
            lo.describe()
        ));
    }
    *lo = out;
    Ok(LayerKind::Reshape {
        channels: kk,
        width: ww,
    })
}

fn convert_one(
    d: &Desc,
    ws: Option<Vec<Tensor>>,
    layout: &mut Layout,
    ins: &[(Layout, (usize, usize))],
    (k, w): (usize, usize),
    theano: bool,
) -> Result<LayerKind, String> {
    let no_weights = |ws: &Option<Vec<Tensor>>| -> Result<(), String> {
        match ws {
            Some(w) if !w.is_empty() => {
                Err(format!("expected no weights, the file has {}", w.len()))
            }
            _ => Ok(()),
        }
    };
    let check_layout = |dims: u8, cf: bool, layout: &Layout| -> Result<(), String> {
        if layout.rank != dims {
            return Err(if layout.rank == 0 {
                "applied to a flat vector; expected a sequence".to_string()
            } else {
                format!("a {dims}-D layer applied to a {}-D tensor", layout.rank)
            });
        }
        if cf != layout.channels_first {
            return Err(format!(
                "data format {} differs from the tensor's layout ({})",
                if cf {
                    "channels_first"
                } else {
                    "channels_last"
                },
                if layout.channels_first {
                    "channels_first"
                } else {
                    "channels_last"
                }
            ));
        }
        Ok(())
    };
    let same_layouts = || -> Result<(), String> {
        if let Some((o, _)) = ins.iter().find(|(o, _)| !o.same(layout)) {
            return Err(format!(
                "merges tensors of different layouts ({} and {})",
                layout.describe(),
                o.describe()
            ));
        }
        Ok(())
    };
    let seq_1d = |cf: bool, layout: &Layout| -> Result<(), String> {
        if layout.rank != 1 {
            return Err(format!(
                "a 1-D layer applied to a {} tensor",
                layout.describe()
            ));
        }
        if cf != layout.channels_first {
            return Err(format!(
                "data format {} differs from the tensor's layout {}",
                if cf {
                    "channels_first"
                } else {
                    "channels_last"
                },
                layout.describe()
            ));
        }
        Ok(())
    };
    match d {
        Desc::Refused(m) => return Err(m.clone()),
        Desc::Reshape { target } => {
            no_weights(&ws)?;
            let total = (k * w) as i64;
            let known: i64 = target.iter().filter(|&&t| t != -1).product();
            let unknown = target.iter().filter(|&&t| t == -1).count();
            if target.iter().any(|&t| t == 0 || t < -1) || unknown > 1 {
                return Err(format!("target shape {target:?} is not understood"));
            }
            let t: Vec<usize> = target
                .iter()
                .map(|&t| {
                    if t == -1 {
                        (total / known.max(1)) as usize
                    } else {
                        t as usize
                    }
                })
                .collect();
            return reshape_to(&t, layout, k, w);
        }
        Desc::Permute { dims } => {
            no_weights(&ws)?;
            let (kd, _, _) = layout.keras_dims(k, w);
            let mut sorted = dims.clone();
            sorted.sort_unstable();
            if sorted != (1..=kd.len()).collect::<Vec<_>>() {
                return Err(format!(
                    "dims {dims:?} is not a permutation of the tensor's {} axes {kd:?}",
                    kd.len()
                ));
            }
            // A relabelling when the axes longer than 1 keep their order.
            let big: Vec<usize> = dims.iter().copied().filter(|&d| kd[d - 1] > 1).collect();
            if big.windows(2).any(|p| p[0] > p[1]) {
                return Err(format!(
                    "permuting axes {dims:?} of a {} tensor {kd:?} moves values (only permutations of unit axes, which relabel, are supported)",
                    layout.describe()
                ));
            }
            let t: Vec<usize> = dims.iter().map(|&d| kd[d - 1]).collect();
            return reshape_to(&t, layout, k, w);
        }
        _ => {}
    }
    Ok(match *d {
        Desc::Input | Desc::Reshape { .. } | Desc::Permute { .. } | Desc::Refused(_) => {
            unreachable!()
        }
        Desc::Merge(op) => {
            no_weights(&ws)?;
            same_layouts()?;
            LayerKind::Merge(op)
        }
        Desc::Scalar { scale, shift } => {
            no_weights(&ws)?;
            LayerKind::Affine {
                scale: vec![scale],
                shift: vec![shift],
            }
        }
        Desc::Concat { axis } => {
            no_weights(&ws)?;
            same_layouts()?;
            let ndim = layout.rank as i64 + 2;
            let ax = if axis < 0 { ndim + axis } else { axis };
            let (_, pos, ch) = layout.keras_dims(k, w);
            let axis = if ax == ch as i64 + 1 {
                ConcatAxis::Channels
            } else if pos.is_some_and(|p| ax == p as i64 + 1) {
                ConcatAxis::Positions
            } else {
                return Err(format!(
                    "concatenation over axis {axis} of {} tensors is over neither the channels nor the positions",
                    layout.describe()
                ));
            };
            LayerKind::Concatenate { axis }
        }
        Desc::Crop {
            left,
            right,
            channels_first,
        } => {
            no_weights(&ws)?;
            seq_1d(channels_first, layout)?;
            LayerKind::Crop { left, right }
        }
        Desc::ZeroPad {
            left,
            right,
            channels_first,
        } => {
            no_weights(&ws)?;
            seq_1d(channels_first, layout)?;
            LayerKind::ZeroPad { left, right }
        }
        Desc::UpSample {
            size,
            channels_first,
        } => {
            no_weights(&ws)?;
            seq_1d(channels_first, layout)?;
            LayerKind::UpSample { size }
        }
        Desc::Relu {
            negative_slope,
            max_value,
            threshold,
        } => {
            no_weights(&ws)?;
            LayerKind::Relu {
                negative_slope,
                max_value,
                threshold,
            }
        }
        Desc::PRelu => {
            let ws = expect_weights(ws, 1, "alpha")?;
            let a = &ws[0];
            let (kd, pos, ch) = layout.keras_dims(k, w);
            if a.shape.len() != kd.len() || a.shape.iter().zip(&kd).any(|(&s, &d)| s != 1 && s != d)
            {
                return Err(shape_err(
                    "alpha",
                    &a.shape,
                    &format!("{kd:?} or that with shared axes of length 1"),
                ));
            }
            let mut strides = vec![1usize; a.shape.len()];
            for i in (0..a.shape.len().saturating_sub(1)).rev() {
                strides[i] = strides[i + 1] * a.shape[i + 1];
            }
            let at = |axis: usize, x: usize| {
                if a.shape[axis] == 1 {
                    0
                } else {
                    x * strides[axis]
                }
            };
            let per_channel = a.shape.iter().enumerate().all(|(i, &s)| i == ch || s == 1);
            let alpha = if per_channel {
                (0..k).map(|c| a.data[at(ch, c)]).collect()
            } else {
                let mut v = Vec::with_capacity(k * w);
                for p in 0..w {
                    for c in 0..k {
                        v.push(a.data[at(ch, c) + pos.map_or(0, |pa| at(pa, p))]);
                    }
                }
                v
            };
            LayerKind::PRelu { alpha }
        }
        Desc::Conv {
            dims,
            filters,
            kh,
            kw,
            stride,
            dilation,
            padding,
            channels_first,
            activation,
            use_bias,
            layout: kl,
            groups,
        } => {
            check_layout(dims, channels_first, layout)?;
            if groups == 0 || !filters.is_multiple_of(groups) {
                return Err(format!(
                    "groups = {groups} does not divide the {filters} filters"
                ));
            }
            if kh != 1 {
                return Err(format!(
                    "kernel height {kh}: only one-row kernels over one-row inputs are supported"
                ));
            }
            if theano && padding == Padding::Same && (kw % 2 == 0 || stride != 1) {
                return Err(format!(
                    "Theano 'same' padding with kernel width {kw} and stride {stride} is not supported (odd width, stride 1 only)"
                ));
            }
            let ws = expect_weights(
                ws,
                1 + use_bias as usize,
                if use_bias { "kernel, bias" } else { "kernel" },
            )?;
            let k = &ws[0];
            let s = k.shape.as_slice();
            // (in_channels, index of (o, i, j) in the stored array)
            let (inc, strides): (usize, [usize; 3]) = match (kl, s) {
                (KernelLayout::K2Conv1D, [w, i, f]) if *w == kw && *f == filters => {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::K2Conv2D | KernelLayout::V1Tf, [1, w, i, f])
                    if *w == kw && *f == filters =>
                {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::V1Conv1D, [w, 1, i, f]) if *w == kw && *f == filters => {
                    (*i, [1, *f, i * f])
                }
                (KernelLayout::V1Th, [f, i, 1, w]) if *w == kw && *f == filters => {
                    (*i, [i * w, *w, 1])
                }
                _ => {
                    let want = match kl {
                        KernelLayout::K2Conv1D => format!("({kw}, in, {filters})"),
                        KernelLayout::K2Conv2D | KernelLayout::V1Tf => {
                            format!("(1, {kw}, in, {filters})")
                        }
                        KernelLayout::V1Conv1D => format!("({kw}, 1, in, {filters})"),
                        KernelLayout::V1Th => format!("({filters}, in, 1, {kw})"),
                    };
                    return Err(shape_err("the kernel", s, &want));
                }
            };
            let mut kernel = vec![0f32; filters * inc * kw];
            for o in 0..filters {
                for i in 0..inc {
                    for j in 0..kw {
                        let js = if theano { kw - 1 - j } else { j };
                        kernel[(o * inc + i) * kw + j] =
                            k.data[o * strides[0] + i * strides[1] + js * strides[2]];
                    }
                }
            }
            let bias = bias(&ws, use_bias, filters)?;
            // Keras stores a grouped kernel with each group's input channels.
            let kernel = grouped_to_full(&kernel, filters, inc, kw, groups);
            let inc = inc * groups;
            LayerKind::Conv1D {
                filters,
                in_channels: inc,
                kernel_size: kw,
                stride,
                dilation,
                padding,
                activation,
                kernel,
                bias,
            }
        }
        Desc::Pool {
            avg,
            dims,
            ph,
            pw,
            stride,
            padding,
            channels_first,
        } => {
            check_layout(dims, channels_first, layout)?;
            no_weights(&ws)?;
            if ph != 1 {
                return Err(format!(
                    "pool height {ph}: only one-row pooling over one-row inputs is supported"
                ));
            }
            if theano && padding == Padding::Same && pw > 1 {
                return Err("Theano 'same' pooling is not supported".into());
            }
            if avg {
                LayerKind::AvgPool1D {
                    pool: pw,
                    stride,
                    padding,
                }
            } else {
                LayerKind::MaxPool1D {
                    pool: pw,
                    stride,
                    padding,
                }
            }
        }
        Desc::Mha(_) | Desc::KerasMha(_) | Desc::AttentionPool { .. } => {
            return Err("attention is read by the layer loop".into())
        }
        Desc::SeparableConv {
            filters,
            kw,
            stride,
            dilation,
            padding,
            depth_multiplier: mult,
            activation,
            use_bias,
        } => {
            if layout.rank != 1 || layout.channels_first {
                return Err(format!(
                    "a separable convolution needs a (positions, channels) sequence, gets a {} tensor",
                    layout.describe()
                ));
            }
            let ws = expect_weights(
                ws,
                2 + use_bias as usize,
                if use_bias {
                    "depthwise kernel, pointwise kernel, bias"
                } else {
                    "depthwise kernel, pointwise kernel"
                },
            )?;
            let (dw, pw) = (&ws[0], &ws[1]);
            if dw.shape != [kw, k, mult] {
                return Err(shape_err(
                    "the depthwise kernel",
                    &dw.shape,
                    &format!("({kw}, {k}, {mult})"),
                ));
            }
            if pw.shape != [1, k * mult, filters] {
                return Err(shape_err(
                    "the pointwise kernel",
                    &pw.shape,
                    &format!("(1, {}, {filters})", k * mult),
                ));
            }
            // Both are linear: filter o at tap j of channel c weighs
            // Σ_m pointwise[c·mult + m, o] · depthwise[j, c, m].
            let mut kernel = vec![0f32; filters * k * kw];
            for o in 0..filters {
                for c in 0..k {
                    for j in 0..kw {
                        let s: f64 = (0..mult)
                            .map(|m| {
                                f64::from(pw.data[(c * mult + m) * filters + o])
                                    * f64::from(dw.data[(j * k + c) * mult + m])
                            })
                            .sum();
                        kernel[(o * k + c) * kw + j] = s as f32;
                    }
                }
            }
            LayerKind::Conv1D {
                filters,
                in_channels: k,
                kernel_size: kw,
                stride,
                dilation,
                padding,
                activation,
                kernel,
                bias: bias(&ws[1..], use_bias, filters)?,
            }
        }
        Desc::Reduce { sum: true, .. } => return Err("a sum is read by the layer loop".into()),
        Desc::Reduce {
            max,
            ref axis,
            keepdims,
            ..
        } => {
            no_weights(&ws)?;
            let (_, pos, _) = layout.keras_dims(k, w);
            let ndim = layout.rank as i64 + 2;
            let axes: Vec<i64> = axis
                .iter()
                .map(|&a| if a < 0 { ndim + a } else { a })
                .collect();
            let what = if max { "max" } else { "mean" };
            if axes.len() != 1 || pos.is_none_or(|p| axes[0] != p as i64 + 1) {
                return Err(format!(
                    "a {what} over axis {axis:?} of a {} tensor is not over its positions alone; only a {what} over the positions (a global pooling) is supported",
                    layout.describe()
                ));
            }
            if !keepdims {
                layout.rank = 0;
            }
            if max {
                LayerKind::GlobalMaxPool1D
            } else {
                LayerKind::GlobalAvgPool1D
            }
        }
        Desc::GlobalPool {
            max,
            dims,
            channels_first,
            keepdims,
        } => {
            check_layout(dims, channels_first, layout)?;
            no_weights(&ws)?;
            if !keepdims {
                layout.rank = 0;
            }
            if max {
                LayerKind::GlobalMaxPool1D
            } else {
                LayerKind::GlobalAvgPool1D
            }
        }
        Desc::Flatten {
            channels_first: moves_channels_last,
        } => {
            no_weights(&ws)?;
            let order = match layout.rank {
                0 => FlattenOrder::ChannelMajor,
                1 => {
                    if layout.channels_first != moves_channels_last {
                        FlattenOrder::ChannelMajor
                    } else {
                        FlattenOrder::PositionMajor
                    }
                }
                _ => {
                    if !moves_channels_last && layout.channels_first {
                        FlattenOrder::ChannelMajor
                    } else {
                        FlattenOrder::PositionMajor
                    }
                }
            };
            layout.rank = 0;
            LayerKind::Flatten { order }
        }
        Desc::Dense {
            units,
            activation,
            use_bias,
        } => {
            // On a sequence, Keras applies the kernel to the last axis at every
            // position: a 1×1 convolution when that axis is the channels.
            if layout.rank != 0 && layout.channels_first {
                return Err(format!(
                    "a Dense layer on a {} tensor mixes positions (it reads the last axis); only Dense on channels-last sequences or flat vectors is supported; permute to (positions, channels) first",
                    layout.describe()
                ));
            }
            let ws = expect_weights(
                ws,
                1 + use_bias as usize,
                if use_bias { "kernel, bias" } else { "kernel" },
            )?;
            let k = &ws[0];
            let [inf, u] = k.shape[..] else {
                return Err(shape_err("the kernel", &k.shape, &format!("(in, {units})")));
            };
            if u != units {
                return Err(shape_err("the kernel", &k.shape, &format!("(in, {units})")));
            }
            let mut kernel = vec![0f32; units * inf];
            for i in 0..inf {
                for o in 0..units {
                    kernel[o * inf + i] = k.data[i * units + o];
                }
            }
            let bias = bias(&ws, use_bias, units)?;
            if layout.rank != 0 {
                let channels = ins[0].1 .0;
                if inf != channels {
                    return Err(shape_err(
                        "the kernel",
                        &ws[0].shape,
                        &format!("({channels}, {units}) for {channels} channels"),
                    ));
                }
                return Ok(LayerKind::Conv1D {
                    filters: units,
                    in_channels: inf,
                    kernel_size: 1,
                    stride: 1,
                    dilation: 1,
                    padding: Padding::Valid,
                    activation,
                    kernel,
                    bias,
                });
            }
            LayerKind::Dense {
                units,
                in_features: inf,
                activation,
                kernel,
                bias,
            }
        }
        Desc::Act(a) => {
            no_weights(&ws)?;
            LayerKind::Activation(a)
        }
        Desc::Dropout => {
            no_weights(&ws)?;
            LayerKind::Dropout
        }
        Desc::Recurrent(ref r) => {
            if layout.rank != 1 || layout.channels_first {
                return Err(format!(
                    "a recurrent layer needs a (positions, channels) sequence, gets a {} tensor",
                    layout.describe()
                ));
            }
            if r.go_backwards && r.return_sequences {
                return Err("go_backwards=True with return_sequences=True (outputs in reversed order) is not supported; use Bidirectional".into());
            }
            let n = recurrent::weights_per_direction(r);
            let ws = expect_weights(ws, n, "kernel, recurrent kernel, bias")?;
            let kind = recurrent::recurrent_kind(r, &ws, k, r.go_backwards)?;
            if !r.return_sequences {
                layout.rank = 0;
            }
            kind
        }
        Desc::Bidirectional {
            merge,
            ref forward,
            ref backward,
        } => {
            if layout.rank != 1 || layout.channels_first {
                return Err(format!(
                    "a recurrent layer needs a (positions, channels) sequence, gets a {} tensor",
                    layout.describe()
                ));
            }
            let (nf, nb) = (
                recurrent::weights_per_direction(forward),
                recurrent::weights_per_direction(backward),
            );
            let ws = expect_weights(
                ws,
                nf + nb,
                "kernel, recurrent kernel, bias of each direction",
            )?;
            let f = recurrent::recurrent_kind(forward, &ws[..nf], k, false)?;
            let b = recurrent::recurrent_kind(backward, &ws[nf..], k, true)?;
            if !forward.return_sequences {
                layout.rank = 0;
            }
            LayerKind::Bidirectional {
                merge,
                forward: Box::new(f),
                backward: Box::new(b),
            }
        }
        Desc::LayerNorm {
            ref axis,
            eps,
            center,
            scale,
        } => {
            let ndim = layout.rank as i64 + 2;
            let channel_axis = if layout.rank == 0 || layout.channels_first {
                1
            } else {
                ndim - 1
            };
            let axes: Vec<i64> = axis
                .iter()
                .map(|&a| if a < 0 { ndim + a } else { a })
                .collect();
            if axes != [channel_axis] {
                return Err(format!(
                    "normalization over axes {axis:?} of a {} tensor is not over the channels alone",
                    layout.describe()
                ));
            }
            let n = center as usize + scale as usize;
            let ws = if n == 0 {
                no_weights(&ws)?;
                vec![]
            } else {
                expect_weights(ws, n, "gamma, beta (each only when scale/center)")?
            };
            if let Some(t) = ws.iter().find(|t| t.shape != [k]) {
                return Err(shape_err(
                    "a LayerNormalization weight",
                    &t.shape,
                    &format!("({k},)"),
                ));
            }
            let mut it = ws.into_iter();
            let gamma = if scale {
                it.next().expect("counted").data
            } else {
                vec![1.0; k]
            };
            let beta = if center {
                it.next().expect("counted").data
            } else {
                vec![0.0; k]
            };
            LayerKind::LayerNorm { gamma, beta, eps }
        }
        Desc::BatchNorm {
            axis,
            eps,
            center,
            scale,
        } => {
            let ndim = layout.rank as i64 + 2; // with the batch axis
            let ax = if axis < 0 { ndim + axis } else { axis };
            let channel_axis = if layout.rank == 0 || layout.channels_first {
                1
            } else {
                ndim - 1
            };
            if ax != channel_axis {
                return Err(format!(
                    "normalization over axis {axis} is not over the channels (axis {channel_axis})"
                ));
            }
            let n = 2 + center as usize + scale as usize;
            let ws = expect_weights(
                ws,
                n,
                "gamma, beta, moving mean, moving variance (gamma/beta only when scale/center)",
            )?;
            let k = ws[ws.len() - 1].data.len();
            for w in &ws {
                if w.data.len() != k || w.shape.len() != 1 {
                    return Err(format!(
                        "batch-norm weights have shapes {:?}, expected all ({k},)",
                        ws.iter().map(|w| &w.shape).collect::<Vec<_>>()
                    ));
                }
            }
            let mut it = ws.into_iter();
            let gamma = if scale {
                it.next().unwrap().data
            } else {
                vec![1.0; k]
            };
            let beta = if center {
                it.next().unwrap().data
            } else {
                vec![0.0; k]
            };
            let mean = it.next().unwrap().data;
            let var = it.next().unwrap().data;
            LayerKind::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, MergeOp};

    const CL: Layout = Layout {
        rank: 1,
        channels_first: false,
    };
    const CF: Layout = Layout {
        rank: 1,
        channels_first: true,
    };
    const FLAT: Layout = Layout {
        rank: 0,
        channels_first: false,
    };

    fn conv(
        d: Desc,
        ins: &[(Layout, (usize, usize))],
        ws: Option<Vec<Tensor>>,
    ) -> Result<(LayerKind, Layout), String> {
        convert(&d, ws, ins, false)
    }

    /// Keras 3's `Mean`/`Max` ops are global poolings over the positions
    /// only; over the channels they are refused.
    #[test]
    fn reduce_ops_pool_over_positions_only() {
        let red = |axis: Vec<i64>, keepdims, lo| {
            conv(
                Desc::Reduce {
                    max: false,
                    sum: false,
                    axis,
                    keepdims,
                },
                &[(lo, (4, 10))],
                None,
            )
        };
        let (k, lo) = red(vec![1], false, CL).unwrap();
        assert!(matches!(k, LayerKind::GlobalAvgPool1D) && lo.rank == 0);
        let (_, lo) = red(vec![-2], true, CL).unwrap();
        assert_eq!(lo.rank, 1);
        let (k, _) = red(vec![2], false, CF).unwrap();
        assert!(matches!(k, LayerKind::GlobalAvgPool1D));
        for (axis, lo) in [
            (vec![-1], CL),
            (vec![1], CF),
            (vec![1, 2], CL),
            (vec![], CL),
        ] {
            let e = red(axis.clone(), false, lo).unwrap_err();
            assert!(e.contains("positions"), "{axis:?}: {e}");
        }
    }

    fn op(class: &str, args: serde_json::Value) -> Result<Desc, String> {
        let l = config::RawLayer {
            class_name: class.into(),
            name: "op".into(),
            config: serde_json::json!({"name": "op"}),
            inputs: vec![config::TensorRef {
                layer: "x".into(),
                node: 0,
                tensor: 0,
            }],
            nested: None,
            registered: None,
            call: serde_json::json!({"args": args, "kwargs": {}}),
        };
        layers::describe(&l, true)
    }

    /// Keras 3's arithmetic ops on a tensor and a number are y = a·x + b, the
    /// number on either side; a number divided by a tensor, two numbers or
    /// a division by zero are refused by name.
    #[test]
    fn arithmetic_ops_with_a_number_are_affine() {
        let t = serde_json::json!({"class_name": "__keras_tensor__", "config": {}});
        let affine = |class: &str, args| match op(class, args).unwrap() {
            Desc::Scalar { scale, shift } => (scale, shift),
            d => panic!("{d:?}"),
        };
        assert_eq!(affine("Multiply", serde_json::json!([t, 2.0])), (2.0, 0.0));
        assert_eq!(affine("Subtract", serde_json::json!([1.0, t])), (-1.0, 1.0));
        assert_eq!(affine("Subtract", serde_json::json!([t, 1.0])), (1.0, -1.0));
        assert_eq!(
            affine("TrueDivide", serde_json::json!([t, 4.0])),
            (0.25, 0.0)
        );
        assert_eq!(affine("Add", serde_json::json!([0.5, t])), (1.0, 0.5));
        for (class, args, what) in [
            (
                "TrueDivide",
                serde_json::json!([2.0, t]),
                "divided by a tensor",
            ),
            ("Divide", serde_json::json!([t, 0.0]), "by zero"),
            ("Add", serde_json::json!([1.0, 2.0]), "one number"),
            ("Multiply", serde_json::json!([t]), "two are read"),
        ] {
            let e = op(class, args).unwrap_err();
            assert!(e.contains(what), "{class}: {e}");
        }
    }

    fn time_distributed(inner: serde_json::Value) -> Result<Desc, String> {
        let l = config::RawLayer {
            class_name: "TimeDistributed".into(),
            name: "td".into(),
            config: serde_json::json!({"name": "td", "layer": inner}),
            inputs: vec![],
            nested: None,
            registered: None,
            call: serde_json::Value::Null,
        };
        layers::describe(&l, true)
    }

    /// TimeDistributed is its inner layer where that acts per position, and
    /// refused by the inner class otherwise.
    #[test]
    fn time_distributed_unwraps_per_position_layers_only() {
        let dense = serde_json::json!({"class_name": "Dense",
            "config": {"name": "d", "units": 6, "activation": "relu"}});
        match time_distributed(dense).unwrap() {
            Desc::Dense {
                units: 6,
                activation: Activation::Relu,
                use_bias: true,
            } => {}
            d => panic!("{d:?}"),
        }
        let act = serde_json::json!({"class_name": "Activation",
            "config": {"name": "a", "activation": "tanh"}});
        assert!(matches!(
            time_distributed(act).unwrap(),
            Desc::Act(Activation::Tanh)
        ));
        let conv = serde_json::json!({"class_name": "Conv1D",
            "config": {"name": "c", "filters": 2, "kernel_size": 3}});
        let e = time_distributed(conv).unwrap_err();
        assert!(e.contains("TimeDistributed") && e.contains("Conv1D"), "{e}");
        let e = time_distributed(serde_json::json!({"config": {}})).unwrap_err();
        assert!(e.contains("class_name"), "{e}");
    }

    #[test]
    fn concatenate_axes_follow_the_layout() {
        let cat = |axis, lo| conv(Desc::Concat { axis }, &[(lo, (4, 10)), (lo, (4, 10))], None);
        let axis = |r: Result<(LayerKind, Layout), String>| match r.unwrap().0 {
            LayerKind::Concatenate { axis } => axis,
            k => panic!("{k:?}"),
        };
        assert_eq!(axis(cat(-1, CL)), ConcatAxis::Channels);
        assert_eq!(axis(cat(2, CL)), ConcatAxis::Channels);
        assert_eq!(axis(cat(1, CL)), ConcatAxis::Positions);
        assert_eq!(axis(cat(1, CF)), ConcatAxis::Channels);
        assert_eq!(axis(cat(-1, CF)), ConcatAxis::Positions);
        assert_eq!(axis(cat(-1, FLAT)), ConcatAxis::Channels);
        assert!(cat(0, CL).is_err());
        // Different layouts do not merge.
        let e = conv(
            Desc::Merge(MergeOp::Add),
            &[(CL, (4, 4)), (CF, (4, 4))],
            None,
        )
        .unwrap_err();
        assert!(e.contains("layouts"), "{e}");
    }

    #[test]
    fn reshape_only_relabels() {
        let rs = |target: Vec<i64>, lo, s| conv(Desc::Reshape { target }, &[(lo, s)], None);
        // Flat 8 → (1, 8): one position, 8 channels.
        let (k, lo) = rs(vec![1, 8], FLAT, (8, 1)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 8,
                width: 1
            }
        );
        assert_eq!(lo, CL);
        // (W=10, K=4) → (-1,) flat: 40 channels.
        let (k, lo) = rs(vec![-1], CL, (4, 10)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 40,
                width: 1
            }
        );
        assert_eq!(lo.rank, 0);
        // (10, 4) → (20, 2) channels-last: a relabel of the position-major order.
        let (k, _) = rs(vec![20, 2], CL, (4, 10)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 2,
                width: 20
            }
        );
        // (1, W, K) images.
        let (k, lo) = rs(vec![1, 10, 4], CL, (4, 10)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 4,
                width: 10
            }
        );
        assert_eq!(lo.rank, 2);
        // Channels-first data with both axes longer than 1 would move values.
        assert!(rs(vec![-1], CF, (4, 10))
            .unwrap_err()
            .contains("moves values"));
        assert!(rs(vec![4, 1, 10], CF, (4, 1)).is_err());
        let (k, _) = rs(vec![-1], CF, (4, 1)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 4,
                width: 1
            }
        );
    }

    #[test]
    fn permute_only_of_unit_axes() {
        let p = |dims: Vec<usize>, s| conv(Desc::Permute { dims }, &[(CL, s)], None);
        // (W=1, K=8) → (8, 1): 1 channel × 8 positions, the same order.
        let (k, _) = p(vec![2, 1], (8, 1)).unwrap();
        assert_eq!(
            k,
            LayerKind::Reshape {
                channels: 1,
                width: 8
            }
        );
        assert!(p(vec![2, 1], (4, 10)).unwrap_err().contains("moves values"));
        assert!(p(vec![1, 1], (4, 10)).is_err());
    }

    #[test]
    fn prelu_alpha_per_channel_or_position_major() {
        let t = |shape: Vec<usize>, data: Vec<f32>| Some(vec![Tensor { shape, data }]);
        // shared_axes [1] on (W, K): alpha (1, K).
        let (k, _) = conv(Desc::PRelu, &[(CL, (2, 3))], t(vec![1, 2], vec![0.1, 0.2])).unwrap();
        assert_eq!(
            k,
            LayerKind::PRelu {
                alpha: vec![0.1, 0.2]
            }
        );
        // No shared axes on channels-first (K=2, W=3): alpha (K, W) → position-major.
        let a = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (k, _) = conv(Desc::PRelu, &[(CF, (2, 3))], t(vec![2, 3], a)).unwrap();
        assert_eq!(
            k,
            LayerKind::PRelu {
                alpha: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
            }
        );
        // Shared over channels (W, 1): repeated per channel.
        let (k, _) = conv(
            Desc::PRelu,
            &[(CL, (2, 3))],
            t(vec![3, 1], vec![1.0, 2.0, 3.0]),
        )
        .unwrap();
        assert_eq!(
            k,
            LayerKind::PRelu {
                alpha: vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
            }
        );
        assert!(conv(Desc::PRelu, &[(CL, (2, 3))], t(vec![2, 2], vec![0.0; 4])).is_err());
    }
}
