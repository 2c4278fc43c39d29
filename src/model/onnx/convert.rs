//! An ONNX graph → the spec's layer graph.
use super::attrs::Attrs;
use super::fold::{self, norm_axis, FOLDABLE};
use super::patterns::{self, Fusion};
use super::proto::{
    tensor_shape_proto::dimension::Value as Dim, type_proto, GraphProto, ModelProto, NodeProto,
    TensorProto,
};
use super::tensor::{self, broadcast_index, broadcast_shape, numel, Const, BATCH};
use crate::model::spec::*;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub fn decode_model(bytes: &[u8]) -> std::result::Result<ModelProto, prost::DecodeError> {
    use prost::Message;
    ModelProto::decode(bytes)
}

/// Ops on data tensors (besides the foldable ones that relabel a layout).
/// Erf only inside the GELU patterns.
const DATA_OPS: &[&str] = &[
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    "GlobalAveragePool",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "Gemm",
    "MatMul",
    "Sum",
    "Mean",
    "Pad",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Elu",
    "Selu",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Exp",
    "Log",
    "If",
    "Softmax",
    "Gelu",
    "HardSigmoid",
    "Clip",
    "BatchNormalization",
    "LayerNormalization",
    "LSTM",
    "GRU",
    "Dropout",
    "Erf",
    "Einsum",
    "Resize",
    "Upsample",
];

/// Ops of the evaluator that also map a data tensor (the others, on data,
/// are refused).
const FOLDABLE_ON_DATA: &[&str] = &[
    "Identity",
    "Cast",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Reshape",
    "Flatten",
    "Slice",
    "Transpose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Sqrt",
    "Reciprocal",
    "Pow",
    "Abs",
    "Min",
    "Max",
];

/// Every op a data tensor may pass through, sorted: docs/models.md's list
/// ("ONNX models") is tested against it.
pub fn ops_on_data() -> Vec<&'static str> {
    let mut v: Vec<&str> = DATA_OPS.iter().chain(FOLDABLE_ON_DATA).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every op the reader knows, on data or on constants only.
#[cfg(test)]
pub fn known_ops() -> Vec<&'static str> {
    let mut v: Vec<&str> = DATA_OPS.iter().chain(FOLDABLE).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[derive(Debug, Clone)]
enum Value {
    Const(Const),
    /// A tensor of the spec graph; `dims` is its ONNX shape after the batch axis.
    Map {
        t: TensorId,
        dims: Vec<usize>,
    },
    /// Made by a node we cannot convert (or from one): the heads that need it
    /// cannot be scored, the others still can.
    Refused(Rc<Refusal>),
    /// A data tensor whose last ONNX axis holds the channels, (N, W, C): a
    /// Transpose of (N, C, W), or (N, 1, C·W) flattened into a row. The engine
    /// holds it as (C, W); see `channels_last.rs` for the ops that read it.
    Last {
        t: TensorId,
        w: usize,
        c: usize,
    },
    /// A recurrent layer's input or output in its own layout, or a zero
    /// state made from the batch size; see `recurrent.rs`.
    Rnn(recurrent::Rnn),
    /// A per-head tensor inside an attention block; see `attention.rs`.
    Sym(Rc<attention::Sym>),
}

/// Why a value cannot be computed: the node that stopped it and the reason.
#[derive(Debug)]
struct Refusal {
    layer: String,
    msg: String,
}

/// The ways out a refused op leaves the user, appended to its message.
pub const WAY_OUT: &str = "the supported ops are listed in docs/models.md (\"ONNX models\"); score another output with --output, or export the model without this op";

/// The engine shape (K, W) of a data tensor of ONNX shape (N, ..dims):
/// (N, F), (N, C, W) and (N, C, 1, W); a scalar per item is one channel.
fn canonical(dims: &[usize]) -> Option<(usize, usize)> {
    match *dims {
        [] => Some((1, 1)),
        [f] => Some((f, 1)),
        [c, w] => Some((c, w)),
        [c, 1, w] => Some((c, w)),
        _ => None,
    }
}

fn show(dims: &[usize]) -> String {
    let mut s = String::from("(N");
    for d in dims {
        s += &format!(", {d}");
    }
    s + ")"
}

/// The ONNX axis (batch = 0) of positions, when the tensor has one.
fn position_axis(dims: &[usize]) -> Option<usize> {
    match dims.len() {
        2 | 3 => Some(dims.len()),
        _ => None,
    }
}

fn same_pads(w: usize, span: usize, stride: usize) -> (usize, usize) {
    let out = w.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + span).saturating_sub(w);
    (total / 2, total - total / 2)
}

mod attention;
mod attention_pool;
mod channels_last;
mod layer_norm;
mod recurrent;
mod resize;
mod strided_shift;
mod time_major;
mod torch_mha;
use crate::model::grouped_conv::grouped_to_full;

/// See [`Cv::constants_ahead`].
#[derive(Default)]
struct Ahead {
    /// Every constant's dims.
    dims: HashMap<String, Vec<usize>>,
    /// The values of those of at most [`AHEAD_SMALL`] elements.
    small: HashMap<String, Const>,
}

/// The largest constant [`Cv::constants_ahead`] keeps the values of.
const AHEAD_SMALL: usize = 4096;

struct Cv<'a> {
    path: &'a Path,
    dir: PathBuf,
    opset: i64,
    values: HashMap<String, Value>,
    layers: Vec<LayerSpec>,
    shapes: Vec<(usize, usize)>,
    tensor_names: Vec<(String, TensorId)>,
    names: HashSet<String>,
    used: HashSet<String>,
    /// How many node inputs and graph outputs read each value.
    reads: HashMap<String, usize>,
    batch_fixed: Option<i64>,
    /// `--input-length`: the length of an input exported with a dynamic one.
    input_length: Option<usize>,
}

type R<T> = std::result::Result<T, String>;

pub fn load(path: &Path, input_length: Option<usize>) -> Result<ModelSpec> {
    let bytes = std::fs::read(path).map_err(|e| Error::model(path, format!("cannot read: {e}")))?;
    let mut model = decode_model(&bytes).map_err(|e| {
        Error::model(
            path,
            format!("not an ONNX model (the file does not decode as an ONNX ModelProto: {e})"),
        )
    })?;
    drop(bytes);
    // Each initializer's bytes are dropped once decoded: a model's weights
    // are then in memory once, not also as the protobuf's bytes.
    let initializers = model
        .graph
        .as_mut()
        .map(|g| std::mem::take(&mut g.initializer))
        .unwrap_or_default();
    let graph = model
        .graph
        .as_ref()
        .filter(|g| !g.node.is_empty() || !g.output.is_empty())
        .ok_or_else(|| Error::model(path, "not an ONNX model (it has no graph)"))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| Error::model(path, "the ONNX model imports no default-domain opset"))?;
    if opset < 7 {
        return Err(Error::model(
            path,
            format!("ONNX opset {opset} is too old (7 or newer is read; exporters write 13–21)"),
        ));
    }
    let mut cv = Cv {
        path,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        opset,
        values: HashMap::new(),
        layers: Vec::new(),
        shapes: Vec::new(),
        tensor_names: Vec::new(),
        names: HashSet::new(),
        used: HashSet::new(),
        reads: HashMap::new(),
        batch_fixed: None,
        input_length,
    };
    cv.check_graph(graph)?;
    // The input first: a channels-last input is the first thing to say.
    let (c, w) = cv.inputs(graph, initializers)?;
    cv.run(graph)?;
    for o in &graph.output {
        cv.settle_output(&o.name);
    }
    let mut outputs = Vec::new();
    let mut unscorable = Vec::new();
    let mut first_refusal = None;
    for o in &graph.output {
        match cv.values.get(&o.name) {
            Some(Value::Map { t, .. } | Value::Last { t, .. }) => outputs.push(OutputSpec {
                name: o.name.clone(),
                tensor: *t,
            }),
            Some(Value::Refused(r)) => {
                unscorable.push(UnscorableOutput {
                    name: o.name.clone(),
                    reason: format!("layer {}: {}", r.layer, r.msg),
                });
                first_refusal.get_or_insert_with(|| r.clone());
            }
            Some(Value::Const(_)) => {
                return Err(Error::model(
                    path,
                    format!("graph output {} does not depend on the model input", o.name),
                ))
            }
            Some(Value::Rnn(r)) => unscorable.push(UnscorableOutput {
                name: o.name.clone(),
                reason: recurrent::refusal(&o.name, r),
            }),
            Some(Value::Sym(_)) => {
                return Err(Error::model(
                    path,
                    format!("graph output {} is a per-head tensor inside an attention block; score an output after the heads are merged", o.name),
                ))
            }
            None => {
                return Err(Error::model(
                    path,
                    format!("graph output {} is made by no node", o.name),
                ))
            }
        }
    }
    if outputs.is_empty() {
        if let Some(r) = first_refusal {
            return Err(Error::layer(path, r.layer.clone(), r.msg.clone()));
        }
    }
    let producer = [
        model.producer_name.as_str(),
        model.producer_version.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    Ok(ModelSpec {
        input_channels: c,
        input_width: w,
        layers: cv.layers,
        outputs,
        unscorable,
        tensor_names: cv.tensor_names,
        class_names: None,
        source: format!(
            "onnx (ir_version {}, opset {opset}{})",
            model.ir_version,
            if producer.is_empty() {
                String::new()
            } else {
                format!(", {producer}")
            }
        ),
    })
}

impl<'a> Cv<'a> {
    fn label(n: &NodeProto, j: usize) -> String {
        if n.name.is_empty() {
            format!("{}_{j}", n.op_type)
        } else {
            n.name.clone()
        }
    }

    fn check_graph(&self, g: &GraphProto) -> Result<()> {
        if !g.sparse_initializer.is_empty() {
            return Err(Error::model(
                self.path,
                "sparse initializers are not supported",
            ));
        }
        Ok(())
    }

    /// Whether we know a node's op at all, and if not, why not (with the way out).
    fn known_op(&self, n: &NodeProto) -> R<()> {
        let default = n.domain.is_empty() || n.domain == "ai.onnx";
        let op = n.op_type.as_str();
        if !default {
            return Err(format!(
                "op type {op} of domain {} is not supported; {WAY_OUT}",
                n.domain
            ));
        }
        if !DATA_OPS.contains(&op) && !FOLDABLE.contains(&op) {
            return Err(format!(
                "op type {op} (opset {}) is not supported; {WAY_OUT}",
                self.opset
            ));
        }
        Ok(())
    }

    /// Initializers, and the one data input: (N, C, L) or (N, C, 1, L).
    fn inputs(&mut self, g: &GraphProto, initializers: Vec<TensorProto>) -> Result<(usize, usize)> {
        for t in initializers {
            let c = tensor::from_proto(&t, &self.dir)
                .map_err(|e| Error::model(self.path, format!("initializer {}: {e}", t.name)))?;
            self.values.insert(t.name, Value::Const(c));
        }
        let inputs: Vec<_> = g
            .input
            .iter()
            .filter(|v| !self.values.contains_key(&v.name))
            .collect();
        let [input] = inputs[..] else {
            let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
            return Err(Error::model(
                self.path,
                format!(
                    "the model has {} inputs ({}); one is supported, the sequences as (N, C, L)",
                    names.len(),
                    names.join(", ")
                ),
            ));
        };
        let bad = |msg: String| Error::model(self.path, format!("input {}: {msg}", input.name));
        let Some(type_proto::Value::TensorType(tt)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(bad("not a tensor".into()));
        };
        if tt.elem_type != 1 {
            return Err(bad(format!(
                "{} values; float32 is supported",
                tensor::type_name(tt.elem_type)
            )));
        }
        let dims: Vec<Option<Dim>> = tt
            .shape
            .as_ref()
            .map(|s| s.dim.iter().map(|d| d.value.clone()).collect())
            .ok_or_else(|| bad("no shape; export with a fixed input shape (N, C, L)".into()))?;
        let fixed = |d: &Option<Dim>| match d {
            Some(Dim::DimValue(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        };
        let shown: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Some(Dim::DimValue(v)) => v.to_string(),
                Some(Dim::DimParam(p)) => p.clone(),
                None => "?".into(),
            })
            .collect();
        let (c, w, spec_dims) = match dims.len() {
            3 => (fixed(&dims[1]), fixed(&dims[2]), None),
            4 if fixed(&dims[2]) == Some(1) => (fixed(&dims[1]), fixed(&dims[3]), Some(())),
            _ => (None, None, None),
        };
        let w = match (w, self.input_length) {
            (Some(w), Some(l)) if w != l && c.is_some() => {
                return Err(bad(format!(
                    "its length is fixed at {w}; --input-length {l} does not apply"
                )))
            }
            (None, Some(l)) if c.is_some() => Some(l),
            (None, None) if c.is_some() => {
                return Err(bad(format!(
                    "shape ({}) has a dynamic length; give one with --input-length N",
                    shown.join(", ")
                )))
            }
            _ => w,
        };
        let (Some(c), Some(w)) = (c, w) else {
            return Err(bad(format!(
                "shape ({}) is not (N, C, L) or (N, C, 1, L) with a fixed C and L (export with dynamic axes for the batch only)",
                shown.join(", ")
            )));
        };
        if c > w && spec_dims.is_none() && channels_last::transposed_first(g, &input.name) {
            // (N, L, C) read by a Transpose to (N, C, L) (Enformer as published).
            self.batch_fixed = fixed(&dims[0]).map(|v| v as i64);
            self.shapes.push((w, c));
            self.values
                .insert(input.name.clone(), Value::Last { t: 0, w: c, c: w });
            self.tensor_names.push((input.name.clone(), 0));
            return Ok((w, c));
        }
        if c > w {
            return Err(bad(format!(
                "shape ({}) looks channels-last (N, L, C): more channels than positions, and its first op is not a Transpose to (N, C, L); export the model with PyTorch's (N, C, L) layout",
                shown.join(", ")
            )));
        }
        self.batch_fixed = fixed(&dims[0]).map(|v| v as i64);
        let dims = if spec_dims.is_some() {
            vec![c, 1, w]
        } else {
            vec![c, w]
        };
        self.shapes.push((c, w));
        self.values
            .insert(input.name.clone(), Value::Map { t: 0, dims });
        self.tensor_names.push((input.name.clone(), 0));
        Ok((c, w))
    }

    fn run(&mut self, g: &GraphProto) -> Result<()> {
        for n in &g.node {
            self.used.extend(n.input.iter().cloned());
        }
        self.used.extend(g.output.iter().map(|o| o.name.clone()));
        let names = g.node.iter().flat_map(|n| &n.input);
        for name in names.chain(g.output.iter().map(|o| &o.name)) {
            *self.reads.entry(name.clone()).or_default() += 1;
        }
        let ahead = self.constants_ahead(g);
        let outs: Vec<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
        // GELU patterns, found on the graph's structure and its scalar constants.
        let fusions: Vec<Fusion> =
            patterns::find(&g.node, &outs, |name| match self.values.get(name) {
                Some(Value::Const(c)) => c.scalar(),
                Some(_) => None,
                None => ahead.small.get(name).and_then(Const::scalar),
            });
        let mut emit_at = HashMap::new();
        let mut skip = HashSet::new();
        for (i, f) in fusions.iter().enumerate() {
            emit_at.insert(*f.nodes.last().unwrap(), i);
            skip.extend(f.nodes.iter().copied());
        }
        let blocks = torch_mha::find(&g.node, &outs, |name| match self.values.get(name) {
            Some(Value::Const(c)) => Some(c.dims.clone()),
            Some(_) => None,
            None => ahead.dims.get(name).cloned(),
        });
        let mha_at: HashMap<usize, &torch_mha::Block> =
            blocks.iter().map(|b| (b.emit, b)).collect();
        for (j, n) in g.node.iter().enumerate() {
            let label = Self::label(n, j);
            // PyTorch's nn.MultiheadAttention: the whole block at its last node.
            if let Some(b) = mha_at.get(&j) {
                if let Err(msg) = self.torch_mha(&g.node, b) {
                    let r = Rc::new(Refusal {
                        layer: label.clone(),
                        msg,
                    });
                    for o in n.output.iter().filter(|o| !o.is_empty()) {
                        self.values.insert(o.clone(), Value::Refused(r.clone()));
                    }
                }
                continue;
            }
            if blocks.iter().any(|b| b.skip.contains(&j)) {
                continue;
            }
            // A node that reads a refused value is refused for the same reason;
            // nothing is an error until a head that needs it is asked for.
            let upstream = n.input.iter().find_map(|i| match self.values.get(i) {
                Some(Value::Refused(r)) => Some(r.clone()),
                _ => None,
            });
            // An op we do not know is the reason to give even after a refused
            // relabel feeding it (the Transpose before a GRU, say).
            let res = if let Err(msg) = self.known_op(n) {
                Err(Rc::new(Refusal {
                    layer: label.clone(),
                    msg,
                }))
            } else if let Some(r) = upstream {
                Err(r)
            } else {
                let res = if let Some(&i) = emit_at.get(&j) {
                    self.fused(&fusions[i], &label)
                } else if skip.contains(&j) {
                    continue;
                } else {
                    self.node(n, &label)
                };
                res.map_err(|msg| {
                    Rc::new(Refusal {
                        layer: label.clone(),
                        msg: format!("{} (opset {}): {msg}", n.op_type, self.opset),
                    })
                })
            };
            if let Err(r) = res {
                for o in n.output.iter().filter(|o| !o.is_empty()) {
                    self.values.insert(o.clone(), Value::Refused(r.clone()));
                }
            }
        }
        Ok(())
    }

    /// What the graph computes from constants alone, ahead of the walk, for
    /// the searches on the graph's structure that run before it (GELU
    /// patterns, PyTorch attention blocks): Constant nodes and the foldable
    /// ops on constants. An initializer is not the only place a weight
    /// lives: TorchScript writes equal weights once and the others as an
    /// Identity of the first (the layers of an nn.TransformerEncoder, deep
    /// copies of one layer, are equal when it is exported untrained).
    fn constants_ahead(&self, g: &GraphProto) -> Ahead {
        let mut a = Ahead::default();
        for n in &g.node {
            let op = n.op_type.as_str();
            if !FOLDABLE.contains(&op) {
                continue;
            }
            let konst = |i: &str| -> Option<Option<&Const>> {
                if i.is_empty() {
                    return Some(None);
                }
                match self.values.get(i) {
                    Some(Value::Const(c)) => Some(Some(c)),
                    Some(_) => None,
                    None => a.small.get(i).map(Some),
                }
            };
            // Identity of a large constant: its dims, not a copy.
            if op == "Identity" {
                let Some(x) = n.input.first().filter(|i| !i.is_empty()) else {
                    continue;
                };
                let dims = match self.values.get(x) {
                    Some(Value::Const(c)) => Some(c.dims.clone()),
                    Some(_) => None,
                    None => a.dims.get(x).cloned(),
                };
                let small = konst(x)
                    .flatten()
                    .filter(|c| c.len() <= AHEAD_SMALL)
                    .cloned();
                if let (Some(d), Some(o)) = (dims, n.output.first()) {
                    a.dims.insert(o.clone(), d);
                    if let Some(c) = small {
                        a.small.insert(o.clone(), c);
                    }
                }
                continue;
            }
            let Some(ins) = n.input.iter().map(|i| konst(i)).collect::<Option<Vec<_>>>() else {
                continue;
            };
            let Ok(outs) = fold::fold(n, &ins, &self.dir) else {
                continue;
            };
            for (o, c) in n.output.iter().zip(outs) {
                a.dims.insert(o.clone(), c.dims.clone());
                if c.len() <= AHEAD_SMALL {
                    a.small.insert(o.clone(), c);
                }
            }
        }
        a
    }

    fn fused(&mut self, f: &Fusion, label: &str) -> R<()> {
        let kind = LayerKind::Activation(f.act);
        // Channels-last and time-major tensors keep their layout (a
        // transformer's feed-forward GELU).
        if let Some(Value::Last { t, .. }) = self.values.get(&f.x) {
            let t = self.add(label, kind, vec![*t])?;
            return self.set_last(&f.out, t);
        }
        if let Some((t, _, _)) = self.time_major_in(&f.x) {
            let t = self.add(label, kind, vec![t])?;
            return self.set_time_major(&f.out, t);
        }
        let (x, dims) = self.map_named(&f.x)?;
        let t = self.add(label, kind, vec![x])?;
        self.set_map(&f.out, t, dims)
    }

    // ---- values ----

    fn map_named(&self, name: &str) -> R<(TensorId, Vec<usize>)> {
        match self.values.get(name) {
            Some(Value::Map { t, dims }) => Ok((*t, dims.clone())),
            Some(Value::Const(_)) => Err(format!(
                "{name} is a constant where a data tensor is expected"
            )),
            Some(Value::Refused(r)) => Err(format!("reads {name}, refused at {}", r.layer)),
            Some(Value::Last { w, c, .. }) => Err(channels_last::refusal(name, *w, *c)),
            Some(Value::Rnn(r)) => Err(recurrent::refusal(name, r)),
            Some(Value::Sym(_)) => Err(format!(
                "reads {name}, a per-head tensor inside an attention block"
            )),
            None => Err(format!(
                "reads {name}, which no earlier node or initializer makes"
            )),
        }
    }

    fn is_map(&self, n: &NodeProto, i: usize) -> bool {
        matches!(
            n.input.get(i).and_then(|s| self.values.get(s)),
            Some(Value::Map { .. })
        )
    }

    fn map_in(&self, n: &NodeProto, i: usize) -> R<(TensorId, Vec<usize>)> {
        let name = n
            .input
            .get(i)
            .ok_or_else(|| format!("input {i} is missing"))?;
        self.map_named(name)
    }

    fn opt_const(&self, n: &NodeProto, i: usize) -> R<Option<&Const>> {
        match n.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => match self.values.get(name) {
                Some(Value::Const(c)) => Ok(Some(c)),
                Some(Value::Map { .. } | Value::Last { .. } | Value::Rnn(_) | Value::Sym(_)) => Err(format!(
                    "input {i} ({name}) must be a constant (an initializer); here it is computed from the model input"
                )),
                Some(Value::Refused(r)) => Err(format!("reads {name}, refused at {}", r.layer)),
                None => Err(format!("reads {name}, which no earlier node or initializer makes")),
            },
        }
    }

    fn const_in(&self, n: &NodeProto, i: usize) -> R<&Const> {
        self.opt_const(n, i)?
            .ok_or_else(|| format!("input {i} is missing"))
    }

    /// Constant input i as float32 values, moved out of the graph's values
    /// when this node is the only reader (a linear layer's weight: a 2 GB
    /// kernel is then never held twice), else copied.
    fn take_floats(&mut self, n: &NodeProto, i: usize) -> R<Vec<f32>> {
        self.const_in(n, i)?;
        let name = &n.input[i];
        if self.reads.get(name) == Some(&1) {
            if let Some(Value::Const(c)) = self.values.remove(name) {
                return Ok(match c.data {
                    tensor::Data::F(v) => v,
                    tensor::Data::I(v) => v.iter().map(|&x| x as f32).collect(),
                });
            }
        }
        Ok(self.const_in(n, i)?.to_f32())
    }

    /// The constant inputs, `None` for data tensors and omitted ones.
    fn const_refs(&self, n: &NodeProto) -> Vec<Option<&Const>> {
        n.input
            .iter()
            .map(|i| match self.values.get(i) {
                Some(Value::Const(c)) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn add(&mut self, name: &str, kind: LayerKind, inputs: Vec<TensorId>) -> R<TensorId> {
        let ins: Vec<(usize, usize)> = inputs.iter().map(|&t| self.shapes[t]).collect();
        let shape = kind.output_shape(&ins)?;
        let name = self.unique(name);
        self.layers.push(LayerSpec { name, kind, inputs });
        self.shapes.push(shape);
        Ok(self.layers.len())
    }

    fn set_map(&mut self, name: &str, t: TensorId, dims: Vec<usize>) -> R<()> {
        if canonical(&dims) != Some(self.shapes[t]) {
            return Err(format!(
                "its output {} does not fit a (N, F), (N, C, W) or (N, C, 1, W) tensor of {} channels × {} positions",
                show(&dims),
                self.shapes[t].0,
                self.shapes[t].1
            ));
        }
        if !name.is_empty() {
            self.tensor_names.push((name.to_string(), t));
            self.values.insert(name.to_string(), Value::Map { t, dims });
        }
        Ok(())
    }

    fn out_name(n: &NodeProto) -> &str {
        n.output.first().map_or("", String::as_str)
    }

    /// One output: a spec layer of `kind` on `inputs`.
    fn layer_out(
        &mut self,
        n: &NodeProto,
        label: &str,
        kind: LayerKind,
        inputs: Vec<TensorId>,
        dims: Vec<usize>,
    ) -> R<()> {
        let t = self.add(label, kind, inputs)?;
        self.set_map(Self::out_name(n), t, dims)
    }

    fn only_first_output(&self, n: &NodeProto) -> R<()> {
        if let Some(o) = n
            .output
            .iter()
            .skip(1)
            .find(|o| !o.is_empty() && self.used.contains(*o))
        {
            return Err(format!(
                "its second output {o} is used; only the first is supported"
            ));
        }
        Ok(())
    }

    // ---- nodes ----

    fn node(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let op = n.op_type.as_str();
        if op == "If" {
            return self.inline_if(n, label);
        }
        // Attention first: its ConstantOfShape of (N, ...) folds to a
        // batch-1 constant, which an LSTM/GRU also reads as a zero state.
        if let Some(r) = self.attention(n, label) {
            return r;
        }
        if let Some(r) = self.per_position_time_major(n, label) {
            return r;
        }
        if let Some(r) = self.recurrent(n, label) {
            return r;
        }
        if n.input
            .iter()
            .any(|i| matches!(self.values.get(i), Some(Value::Last { .. })))
        {
            return self.channels_last(n, label);
        }
        let any_map = (0..n.input.len()).any(|i| self.is_map(n, i));
        if !any_map {
            for (i, name) in n.input.iter().enumerate() {
                if !name.is_empty() && !self.values.contains_key(name) {
                    return Err(format!(
                        "reads {name} (input {i}), which no earlier node or initializer makes"
                    ));
                }
            }
            if !FOLDABLE.contains(&op) {
                return Err(
                    "all its inputs are constants, and this op is not evaluated on constants"
                        .into(),
                );
            }
            let outs = fold::fold(n, &self.const_refs(n), &self.dir)?;
            for (name, c) in n.output.iter().zip(outs) {
                self.values.insert(name.clone(), Value::Const(c));
            }
            return Ok(());
        }
        let at = Attrs::of(n);
        let act = |a: Activation| LayerKind::Activation(a);
        match op {
            "Identity" => self.alias(n, 0),
            "Cast" => {
                if at.int("to", 1) != 1 {
                    return Err(format!(
                        "casts the data to {}; only float32 data is supported",
                        tensor::type_name(at.int("to", 1) as i32)
                    ));
                }
                self.alias(n, 0)
            }
            "Shape" => {
                let (_, dims) = self.map_in(n, 0)?;
                let mut v = vec![self.batch_fixed.unwrap_or(BATCH)];
                v.extend(dims.iter().map(|&d| d as i64));
                let c = fold::shape_slice(&at, v);
                self.values
                    .insert(Self::out_name(n).to_string(), Value::Const(c));
                Ok(())
            }
            "Relu" => self.unary(n, label, act(Activation::Relu)),
            "Sigmoid" => self.unary(n, label, act(Activation::Sigmoid)),
            "Tanh" => self.unary(n, label, act(Activation::Tanh)),
            "Softplus" => self.unary(n, label, act(Activation::Softplus)),
            "Exp" => self.unary(n, label, act(Activation::Exponential)),
            "Log" => self.unary(n, label, LayerKind::Pointwise(Pointwise::Log)),
            "Sqrt" => self.unary(n, label, LayerKind::Pointwise(Pointwise::Sqrt)),
            "Abs" => self.unary(n, label, LayerKind::Pointwise(Pointwise::Abs)),
            "Reciprocal" => self.unary(n, label, LayerKind::Pointwise(Pointwise::Reciprocal)),
            "Neg" => self.unary(
                n,
                label,
                LayerKind::Affine {
                    scale: vec![-1.0],
                    shift: vec![0.0],
                },
            ),
            "Elu" => {
                let alpha = at.float("alpha", 1.0);
                if alpha != 1.0 {
                    return Err(format!("alpha {alpha}; only alpha = 1 is supported"));
                }
                self.unary(n, label, act(Activation::Elu))
            }
            "Selu" => {
                let (a, g) = (at.float("alpha", SELU_ALPHA), at.float("gamma", SELU_SCALE));
                if (a - SELU_ALPHA).abs() > 1e-6 || (g - SELU_SCALE).abs() > 1e-6 {
                    return Err(format!(
                        "alpha {a}, gamma {g}; only the standard SELU ({SELU_ALPHA}, {SELU_SCALE}) is supported"
                    ));
                }
                self.unary(n, label, act(Activation::Selu))
            }
            "Gelu" => match at.string("approximate", "none").as_str() {
                "none" => self.unary(n, label, act(Activation::Gelu)),
                "tanh" => self.unary(n, label, act(Activation::GeluTanh)),
                other => Err(format!("approximate = {other:?} is not supported")),
            },
            "HardSigmoid" => {
                let (alpha, beta) = (at.float("alpha", 0.2), at.float("beta", 0.5));
                self.unary(n, label, act(Activation::HardSigmoid { alpha, beta }))
            }
            "LeakyRelu" => self.unary(
                n,
                label,
                LayerKind::Relu {
                    negative_slope: at.float("alpha", 0.01),
                    max_value: None,
                    threshold: 0.0,
                },
            ),
            "Clip" => {
                let (lo, hi) = if self.opset >= 11 {
                    (
                        self.opt_const(n, 1)?.and_then(Const::scalar),
                        self.opt_const(n, 2)?.and_then(Const::scalar),
                    )
                } else {
                    (at.get("min").map(|a| a.f), at.get("max").map(|a| a.f))
                };
                if lo != Some(0.0) {
                    // Any other bounds: a clamp, differentiated as torch.clamp.
                    let bound = |v: Option<f32>, inf: f32| v.filter(|&v| v != inf);
                    let (min, max) = (bound(lo, f32::NEG_INFINITY), bound(hi, f32::INFINITY));
                    return self.unary(
                        n,
                        label,
                        LayerKind::Pointwise(Pointwise::Clip { min, max }),
                    );
                }
                self.unary(
                    n,
                    label,
                    LayerKind::Relu {
                        negative_slope: 0.0,
                        max_value: hi.filter(|h| h.is_finite()),
                        threshold: 0.0,
                    },
                )
            }
            "Softmax" => {
                let (_, dims) = self.map_in(n, 0)?;
                let rank = dims.len() + 1;
                let default = if self.opset >= 13 { -1 } else { 1 };
                let axis = norm_axis(at.int("axis", default), rank)?;
                let w = canonical(&dims).map_or(0, |s| s.1);
                // Over channels: axis 1 (and, before opset 13, only when nothing follows it).
                let ok = axis == 1 && (self.opset >= 13 || w == 1)
                    || (axis == rank - 1 && dims.len() == 1);
                if !ok {
                    return Err(format!(
                        "softmax over axis {axis} of {}; only over channels (axis 1) is supported",
                        show(&dims)
                    ));
                }
                self.unary(n, label, act(Activation::Softmax))
            }
            "Dropout" => {
                self.only_first_output(n)?;
                self.unary(n, label, LayerKind::Dropout)
            }
            "Erf" => Err(
                "Erf is supported only as part of the exact GELU, 0.5 · x · (1 + erf(x / √2))"
                    .into(),
            ),
            "Pow" => {
                let e = self.const_in(n, 1)?.scalar();
                match e {
                    Some(1.0) => self.alias(n, 0),
                    Some(2.0) => {
                        let (x, dims) = self.map_in(n, 0)?;
                        self.layer_out(
                            n,
                            label,
                            LayerKind::Merge(MergeOp::Multiply),
                            vec![x, x],
                            dims,
                        )
                    }
                    Some(p) if p.is_finite() => {
                        self.unary(n, label, LayerKind::Pointwise(Pointwise::Pow(p)))
                    }
                    _ => Err(format!(
                        "exponent {e:?}; Pow is supported with one finite constant exponent"
                    )),
                }
            }
            "PRelu" => {
                let (x, dims) = self.map_in(n, 0)?;
                let mut alpha = self.const_over_map(self.const_in(n, 1)?, &dims, x)?;
                if alpha.len() == 1 {
                    alpha = vec![alpha[0]; self.shapes[x].0];
                }
                self.layer_out(n, label, LayerKind::PRelu { alpha }, vec![x], dims)
            }
            "BatchNormalization" => {
                self.only_first_output(n)?;
                if at.int("training_mode", 0) != 0 {
                    return Err(
                        "training_mode = 1 is not supported (export the model in eval mode)".into(),
                    );
                }
                let (x, dims) = self.map_in(n, 0)?;
                let k = self.shapes[x].0;
                let mut v = Vec::new();
                for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")] {
                    let c = self.const_in(n, i)?;
                    if c.len() != k {
                        return Err(format!("{what} has {} values for {k} channels", c.len()));
                    }
                    v.push(c.to_f32());
                }
                let [gamma, beta, mean, var] = <[Vec<f32>; 4]>::try_from(v).unwrap();
                let kind = LayerKind::BatchNorm {
                    gamma,
                    beta,
                    mean,
                    var,
                    eps: at.float("epsilon", 1e-5),
                };
                self.layer_out(n, label, kind, vec![x], dims)
            }
            "Add" | "Sub" | "Mul" | "Div" => self.arith(n, label),
            "Sum" | "Mean" | "Max" | "Min" => {
                let mut ts = Vec::new();
                let mut dims0 = None;
                for i in 0..n.input.len() {
                    let (t, dims) = self.map_in(n, i).map_err(|_| {
                        format!("{op} of a data tensor and a constant is not supported")
                    })?;
                    if dims0.as_ref().is_some_and(|d| *d != dims) {
                        return Err(format!("{op} of tensors of different shapes"));
                    }
                    dims0 = Some(dims);
                    ts.push(t);
                }
                let dims = dims0.unwrap();
                if ts.len() == 1 {
                    return self.alias(n, 0);
                }
                let m = match op {
                    "Sum" => MergeOp::Add,
                    "Mean" => MergeOp::Average,
                    "Max" => MergeOp::Maximum,
                    _ => MergeOp::Minimum,
                };
                self.layer_out(n, label, LayerKind::Merge(m), ts, dims)
            }
            "Conv" => self.conv(n, label),
            "LayerNormalization" => self.layer_norm(n, label),
            "MaxPool" | "AveragePool" => self.pool(n, label),
            "GlobalMaxPool" | "GlobalAveragePool" => {
                let (x, dims) = self.map_in(n, 0)?;
                if dims.len() < 2 {
                    return Err(format!(
                        "a global pool over {}, which has no positions",
                        show(&dims)
                    ));
                }
                let mut out = dims.clone();
                out.iter_mut().skip(1).for_each(|d| *d = 1);
                let kind = if op == "GlobalMaxPool" {
                    LayerKind::GlobalMaxPool1D
                } else {
                    LayerKind::GlobalAvgPool1D
                };
                self.layer_out(n, label, kind, vec![x], out)
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" => self.reduce(n, label),
            "Gemm" | "MatMul" => self.dense(n, label),
            "Concat" => self.concat(n, label),
            "Slice" => self.slice(n, label),
            "Pad" => self.pad(n, label),
            "Resize" | "Upsample" => self.resize(n, label),
            "Flatten" => {
                let (_, dims) = self.map_in(n, 0)?;
                let axis = norm_axis(at.int("axis", 1), dims.len() + 2)?;
                if axis != 1 {
                    return Err(format!(
                        "axis {axis} of {}; only Flatten(axis = 1), which keeps the batch axis, is supported",
                        show(&dims)
                    ));
                }
                self.relabel(n, label, vec![numel(&dims)])
            }
            "Reshape" => {
                let (_, dims) = self.map_in(n, 0)?;
                let target = self.const_in(n, 1)?.to_i64()?;
                let to = self.batch_reshape(&dims, &target, at.int("allowzero", 0) != 0)?;
                self.relabel(n, label, to)
            }
            "Squeeze" => {
                let (_, dims) = self.map_in(n, 0)?;
                let axes = fold::axes_of(n, &self.const_refs(n), 1)?;
                let rank = dims.len() + 1;
                let axes: Vec<usize> = match axes {
                    Some(a) => a.iter().map(|&x| norm_axis(x, rank)).collect::<R<_>>()?,
                    None => (1..rank).filter(|&a| dims[a - 1] == 1).collect(),
                };
                if axes.contains(&0) {
                    return Err("squeezes the batch axis".into());
                }
                if let Some(&a) = axes.iter().find(|&&a| dims[a - 1] != 1) {
                    return Err(format!(
                        "squeezes axis {a} of {}, which is not 1",
                        show(&dims)
                    ));
                }
                let to = dims
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(&(i + 1)))
                    .map(|(_, &d)| d)
                    .collect();
                self.relabel(n, label, to)
            }
            "Unsqueeze" => {
                let (_, dims) = self.map_in(n, 0)?;
                let axes = fold::axes_of(n, &self.const_refs(n), 1)?.ok_or("no axes")?;
                let rank = dims.len() + 1 + axes.len();
                let mut ax: Vec<usize> =
                    axes.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?;
                ax.sort_unstable();
                if ax.first() == Some(&0) {
                    return Err("inserts an axis before the batch axis".into());
                }
                let mut it = dims.iter();
                let to = (1..rank)
                    .map(|i| {
                        if ax.contains(&i) {
                            Ok(1)
                        } else {
                            it.next().copied().ok_or_else(|| "axes repeat".to_string())
                        }
                    })
                    .collect::<R<Vec<usize>>>()?;
                self.relabel(n, label, to)
            }
            "Transpose" => {
                let (_, dims) = self.map_in(n, 0)?;
                let mut full = vec![usize::MAX];
                full.extend(&dims);
                let perm: Vec<usize> = match at.ints("perm") {
                    Some(p) => p
                        .iter()
                        .map(|&a| norm_axis(a, full.len()))
                        .collect::<R<_>>()?,
                    None => (0..full.len()).rev().collect(),
                };
                let moved: Vec<usize> = perm.iter().copied().filter(|&a| full[a] != 1).collect();
                if perm == [0, 2, 1] && moved.windows(2).any(|p| p[0] > p[1]) {
                    // (N, C, W) → (N, W, C), for a linear layer at every position.
                    let (t, _) = self.map_in(n, 0)?;
                    return self.set_last(Self::out_name(n), t);
                }
                if perm.first() != Some(&0) || moved.windows(2).any(|p| p[0] > p[1]) {
                    return Err(format!(
                        "perm {perm:?} of {} moves data (only transposes that move axes of size 1 are supported)",
                        show(&dims)
                    ));
                }
                let to = perm[1..].iter().map(|&a| full[a]).collect();
                self.relabel(n, label, to)
            }
            "Gather" => Err(format!(
                "a Gather of {} data; Gather is read on the positions of a channels-last (N, W, C) tensor (y[:, -1]) and on the directions of an LSTM/GRU's Y_h (h_n[-1]); export with a Slice of positions, or score another output with --output",
                show(&self.map_in(n, 0)?.1)
            )),
            "ConstantOfShape" | "Range" | "Constant" | "Size" | "Equal" | "Where" | "Expand"
            | "Floor" | "Ceil" | "Greater" | "Less" | "Sign" => Err(format!(
                "{op} on a tensor computed from the model input is not supported"
            )),
            other => Err(format!("op type {other} is not supported")),
        }
    }

    /// An If whose condition is a constant (torch's `squeeze(dim)` exports
    /// one on a shape test): the chosen branch's nodes, as if inline.
    fn inline_if(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let cond = self
            .const_in(n, 0)?
            .scalar()
            .ok_or("its condition is not one value")?;
        let branch = if cond != 0.0 {
            "then_branch"
        } else {
            "else_branch"
        };
        let g = Attrs::of(n)
            .get(branch)
            .and_then(|a| a.g.as_ref())
            .ok_or_else(|| format!("it has no {branch}"))?;
        for (j, m) in g.node.iter().enumerate() {
            self.known_op(m)?;
            self.node(m, &format!("{label}/{}", Self::label(m, j)))?;
        }
        for (o, go) in n.output.iter().zip(&g.output) {
            match self.values.get(&go.name).cloned() {
                Some(Value::Map { t, dims }) => self.set_map(o, t, dims)?,
                Some(v) => {
                    self.values.insert(o.clone(), v);
                }
                None => return Err(format!("{branch} makes no {}", go.name)),
            }
        }
        Ok(())
    }

    fn alias(&mut self, n: &NodeProto, i: usize) -> R<()> {
        let (t, dims) = self.map_in(n, i)?;
        self.set_map(Self::out_name(n), t, dims)
    }

    fn unary(&mut self, n: &NodeProto, label: &str, kind: LayerKind) -> R<()> {
        let (x, dims) = self.map_in(n, 0)?;
        self.layer_out(n, label, kind, vec![x], dims)
    }

    /// The same values under other dims: no layer when the engine map is the
    /// same, a channel-major Flatten or a Reshape when it is a relabel, else refused.
    fn relabel(&mut self, n: &NodeProto, label: &str, to: Vec<usize>) -> R<()> {
        let (t, from) = self.map_in(n, 0)?;
        if numel(&to) != numel(&from) {
            return Err(format!("cannot relabel {} as {}", show(&from), show(&to)));
        }
        let (ka, wa) = self.shapes[t];
        let Some((kb, wb)) = canonical(&to) else {
            return Err(format!(
                "makes a {} tensor; only (N, F), (N, C, W) and (N, C, 1, W) are supported",
                show(&to)
            ));
        };
        if (ka, wa) == (kb, wb) {
            return self.set_map(Self::out_name(n), t, to);
        }
        if (kb, wb) == (1, ka * wa) && ka > 1 && wa > 1 && to.len() == 2 {
            // (N, C, W) → (N, 1, C·W): flattened into a row for a MatMul on its
            // last axis (grelu's MLP head), PyTorch's order.
            let kind = LayerKind::Flatten {
                order: FlattenOrder::ChannelMajor,
            };
            let t = self.add(label, kind, vec![t])?;
            return self.set_last(Self::out_name(n), t);
        }
        let kind = if wb == 1 {
            // (N, C, W) → (N, C·W): PyTorch's order.
            LayerKind::Flatten {
                order: FlattenOrder::ChannelMajor,
            }
        } else if kb == 1 && (wa == 1 || ka == 1) {
            LayerKind::Reshape {
                channels: kb,
                width: wb,
            }
        } else {
            return Err(format!(
                "turns {} into {}, which moves values between channels and positions; the reshapes read are relabels that keep the order, a flatten to (N, C·W) or to (N, 1, C·W) before a MatMul (an MLP head); export with x.flatten(1) before the linear layers, or score another output with --output",
                show(&from),
                show(&to)
            ));
        };
        self.layer_out(n, label, kind, vec![t], to)
    }

    /// A Reshape target for a data tensor: the batch axis must stay first.
    fn batch_reshape(&self, dims: &[usize], target: &[i64], allowzero: bool) -> R<Vec<usize>> {
        let Some((&first, rest)) = target.split_first() else {
            return Err("Reshape to a scalar".into());
        };
        let infer_batch = first == -1 && !rest.contains(&-1);
        let keeps = first == BATCH
            || (first == 0 && !allowzero)
            || Some(first) == self.batch_fixed
            || infer_batch;
        if !keeps || rest.contains(&BATCH) {
            let shown: Vec<String> = target
                .iter()
                .map(|&v| {
                    if v == BATCH {
                        "N".into()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            return Err(format!(
                "reshape of {} to ({}) does not keep the batch axis first",
                show(dims),
                shown.join(", ")
            ));
        }
        let r: Vec<i64> = rest
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if t == 0 && !allowzero {
                    dims.get(i)
                        .map(|&d| d as i64)
                        .ok_or_else(|| format!("Reshape target {target:?}: no dimension to copy"))
                } else {
                    Ok(t)
                }
            })
            .collect::<R<_>>()?;
        let out = fold::reshape_dims(dims, &r, true)?;
        Ok(out)
    }

    /// A constant broadcast over a data tensor of ONNX `dims` (engine tensor
    /// `t`), as the spec wants it: 1 value, K values, or K·W position-major.
    fn const_over_map(&self, c: &Const, dims: &[usize], t: TensorId) -> R<Vec<f32>> {
        let (k, w) = self.shapes[t];
        let mut full = vec![1usize];
        full.extend(dims);
        if c.dims.len() > full.len() || broadcast_shape(&full, &c.dims)? != full {
            return Err(format!(
                "a constant of shape {:?} does not broadcast onto {} without enlarging it",
                c.dims,
                show(dims)
            ));
        }
        let v = c.to_f32();
        let idx = broadcast_index(&full, &c.dims);
        if idx.iter().all(|&i| i == idx[0]) {
            return Ok(vec![v[idx[0]]]);
        }
        // Row-major over (1, ..dims) is channel-major: index ch·W + p.
        let mut pm = vec![0.0; k * w];
        for ch in 0..k {
            for p in 0..w {
                pm[p * k + ch] = v[idx[ch * w + p]];
            }
        }
        if (1..w).all(|p| pm[p * k..(p + 1) * k] == pm[..k]) {
            pm.truncate(k);
        }
        Ok(pm)
    }

    fn arith(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let op = n.op_type.as_str();
        if n.input.len() != 2 {
            return Err(format!("{} inputs, 2 expected", n.input.len()));
        }
        let (m0, m1) = (self.is_map(n, 0), self.is_map(n, 1));
        if m0 && m1 {
            let (mut a, mut da) = self.map_in(n, 0)?;
            let (mut b, mut db) = self.map_in(n, 1)?;
            // A per-channel vector (N, C, 1) against a map (N, C, W): a
            // squeeze-and-excitation gate (LegNet's `x * y.view(b, c, 1)`).
            // Broadcast it by repeating its one position W times.
            if let Some(w) = broadcast_positions(&da, &db) {
                b = self.add(
                    &format!("{label}/broadcast"),
                    LayerKind::UpSample { size: w },
                    vec![b],
                )?;
                db = da.clone();
            } else if let Some(w) = broadcast_positions(&db, &da) {
                a = self.add(
                    &format!("{label}/broadcast"),
                    LayerKind::UpSample { size: w },
                    vec![a],
                )?;
                da = db.clone();
            }
            if da != db {
                return Err(format!(
                    "{op} of tensors of shapes {} and {}; only same-shaped tensors combine",
                    show(&da),
                    show(&db)
                ));
            }
            let m = match op {
                "Add" => MergeOp::Add,
                "Sub" => MergeOp::Subtract,
                "Mul" => MergeOp::Multiply,
                _ => MergeOp::Divide,
            };
            return self.layer_out(n, label, LayerKind::Merge(m), vec![a, b], da);
        }
        let (xi, ci) = if m0 { (0, 1) } else { (1, 0) };
        let (x, dims) = self.map_in(n, xi)?;
        let v = self.const_over_map(self.const_in(n, ci)?, &dims, x)?;
        let (scale, shift) = match (op, xi) {
            ("Add", _) => (vec![1.0], v),
            ("Sub", 0) => (vec![1.0], v.iter().map(|a| -a).collect()),
            ("Sub", _) => (vec![-1.0], v),
            ("Mul", _) => (v, vec![0.0]),
            ("Div", 0) => (v.iter().map(|a| 1.0 / a).collect(), vec![0.0]),
            _ => {
                return Err(
                    "a constant divided by a tensor computed from the input is not supported"
                        .into(),
                )
            }
        };
        self.layer_out(n, label, LayerKind::Affine { scale, shift }, vec![x], dims)
    }

    /// A 1-D attribute, or the second entry of a 2-D one (whose first must be `h`).
    fn spatial(at: &Attrs, name: &str, two_d: bool, h: Option<i64>, default: i64) -> R<i64> {
        match at.ints(name) {
            None => Ok(default),
            Some(v) if !two_d && v.len() == 1 => Ok(v[0]),
            Some(v) if two_d && v.len() == 2 && h.is_none_or(|h| v[0] == h) => Ok(v[1]),
            Some(v) => Err(format!(
                "{name} {v:?} do not fit a {} operation along positions only",
                if two_d { "2-D (1 × k)" } else { "1-D" }
            )),
        }
    }

    /// (left, right) padding of a window of `span` by `stride` over `w` positions.
    fn pads(at: &Attrs, two_d: bool, w: usize, span: usize, stride: usize) -> R<(usize, usize)> {
        match at.string("auto_pad", "NOTSET").as_str() {
            "NOTSET" | "" => match at.ints("pads") {
                None => Ok((0, 0)),
                Some(p) => {
                    let bad = || format!("pads {p:?} pad more than the positions axis");
                    let (l, r) = match (two_d, p.as_slice()) {
                        (false, [l, r]) => (*l, *r),
                        (true, [0, l, 0, r]) => (*l, *r),
                        _ => return Err(bad()),
                    };
                    if l < 0 || r < 0 {
                        return Err(format!("negative pads {p:?}"));
                    }
                    Ok((l as usize, r as usize))
                }
            },
            "VALID" => Ok((0, 0)),
            "SAME_UPPER" => Ok(same_pads(w, span, stride)),
            "SAME_LOWER" => {
                let (l, r) = same_pads(w, span, stride);
                Ok((r, l))
            }
            other => Err(format!("auto_pad {other:?} is not known")),
        }
    }

    /// The spec padding for explicit pads: none, TensorFlow's "same", or neither.
    fn padding_of(w: usize, span: usize, stride: usize, (l, r): (usize, usize)) -> Option<Padding> {
        if (l, r) == (0, 0) {
            Some(Padding::Valid)
        } else if same_pads(w, span, stride) == (l, r) {
            Some(Padding::Same)
        } else {
            None
        }
    }

    fn conv(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let (x, dims) = self.map_in(n, 0)?;
        let wt = self.const_in(n, 1)?;
        let group = at.int("group", 1);
        if group < 1 {
            return Err(format!("group = {group}; it must be positive"));
        }
        let two_d = match (dims.len(), wt.dims.len()) {
            (2, 3) => false,
            (3, 4) if dims[1] == 1 && wt.dims[2] == 1 => true,
            _ => {
                return Err(format!(
                    "a kernel {:?} over {}; 1-D convolutions over (N, C, W) and 2-D ones with 1 × k kernels over (N, C, 1, W) are supported",
                    wt.dims,
                    show(&dims)
                ))
            }
        };
        let (f, cin_g, k) = (wt.dims[0], wt.dims[1], *wt.dims.last().unwrap());
        let group = group as usize;
        let cin = cin_g * group;
        if cin != dims[0] || !f.is_multiple_of(group) {
            return Err(format!(
                "the kernel reads {cin_g} channels in each of {group} groups ({f} filters), the input has {}",
                dims[0]
            ));
        }
        let kernel = grouped_to_full(&wt.to_f32(), f, cin_g, k, group);
        let ks = Self::spatial(&at, "kernel_shape", two_d, Some(1), k as i64)?;
        if ks != k as i64 {
            return Err(format!("kernel_shape {ks} but the kernel is {k} wide"));
        }
        let stride = Self::spatial(&at, "strides", two_d, Some(1), 1)?;
        let dilation = Self::spatial(&at, "dilations", two_d, None, 1)?;
        if stride < 1 || dilation < 1 {
            return Err("strides and dilations must be positive".into());
        }
        let (stride, dilation) = (stride as usize, dilation as usize);
        let w = self.shapes[x].1;
        let span = dilation * (k - 1) + 1;
        let pads = Self::pads(&at, two_d, w, span, stride)?;
        let bias = match self.opt_const(n, 2)? {
            Some(b) if b.len() != f => {
                return Err(format!("bias has {} values for {f} filters", b.len()))
            }
            b => b.map(Const::to_f32),
        };
        let kind = |padding| LayerKind::Conv1D {
            filters: f,
            in_channels: cin,
            kernel_size: k,
            stride,
            dilation,
            padding,
            activation: Activation::Linear,
            kernel: kernel.clone(),
            bias: bias.clone(),
        };
        let (kind, t) = match Self::padding_of(w, span, stride, pads) {
            Some(p) => (kind(p), x),
            None => {
                let kd = kind(Padding::Valid);
                let p = self.add(
                    label,
                    LayerKind::ZeroPad {
                        left: pads.0,
                        right: pads.1,
                    },
                    vec![x],
                )?;
                (kd, p)
            }
        };
        let name = if t == x {
            label.to_string()
        } else {
            format!("{label}:conv")
        };
        let out = self.add(&name, kind, vec![t])?;
        let wo = self.shapes[out].1;
        let dims = if two_d { vec![f, 1, wo] } else { vec![f, wo] };
        self.set_map(Self::out_name(n), out, dims)
    }

    fn pool(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let max = n.op_type == "MaxPool";
        self.only_first_output(n)?;
        let (x, dims) = self.map_in(n, 0)?;
        let two_d = match dims.len() {
            2 => false,
            3 if dims[1] == 1 => true,
            _ => return Err(format!("pooling over {} is not supported", show(&dims))),
        };
        let pool = Self::spatial(&at, "kernel_shape", two_d, Some(1), 0)?;
        let stride = Self::spatial(&at, "strides", two_d, Some(1), 1)?;
        if Self::spatial(&at, "dilations", two_d, Some(1), 1)? != 1 {
            return Err("dilated pooling is not supported".into());
        }
        if pool < 1 || stride < 1 {
            return Err("kernel_shape and strides must be positive".into());
        }
        let (pool, stride) = (pool as usize, stride as usize);
        let w = self.shapes[x].1;
        let (l, r) = Self::pads(&at, two_d, w, pool, stride)?;
        if at.int("ceil_mode", 0) != 0 {
            let span = (w + l + r).saturating_sub(pool);
            if span % stride != 0 {
                return Err(
                    "ceil_mode = 1 makes a partial last window, which is not supported".into(),
                );
            }
        }
        let padding = Self::padding_of(w, pool, stride, (l, r));
        let include_pad = !max && at.int("count_include_pad", 0) != 0;
        let mk = |padding| {
            if max {
                LayerKind::MaxPool1D {
                    pool,
                    stride,
                    padding,
                }
            } else {
                LayerKind::AvgPool1D {
                    pool,
                    stride,
                    padding,
                }
            }
        };
        let (kind, t) = match padding {
            Some(Padding::Valid) => (mk(Padding::Valid), x),
            Some(Padding::Same) if !include_pad => (mk(Padding::Same), x),
            // count_include_pad = 1: the zeros count, exactly a zero pad and a valid pool.
            _ if include_pad => {
                let p = self.add(label, LayerKind::ZeroPad { left: l, right: r }, vec![x])?;
                (mk(Padding::Valid), p)
            }
            _ => {
                return Err(format!(
                    "pads ({l}, {r}) are neither none nor TensorFlow's \"same\" rule, which is all {} supports",
                    if max { "max pooling" } else { "average pooling with count_include_pad = 0" }
                ))
            }
        };
        let name = if t == x {
            label.to_string()
        } else {
            format!("{label}:pool")
        };
        let out = self.add(&name, kind, vec![t])?;
        let wo = self.shapes[out].1;
        let c = dims[0];
        let dims = if two_d { vec![c, 1, wo] } else { vec![c, wo] };
        self.set_map(Self::out_name(n), out, dims)
    }

    fn reduce(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let op = n.op_type.as_str();
        let (x, dims) = self.map_in(n, 0)?;
        let rank = dims.len() + 1;
        let axes = fold::axes_of(n, &self.const_refs(n), 1)?.filter(|a| !a.is_empty());
        let Some(axes) = axes else {
            return Err("reduces over all axes, the batch included".into());
        };
        let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?;
        let pos = position_axis(&dims);
        if let Some(&a) = axes
            .iter()
            .find(|&&a| Some(a) != pos && (a < 2 || dims[a - 1] != 1))
        {
            return Err(format!(
                "reduces axis {a} of {}; only the positions axis can be reduced",
                show(&dims)
            ));
        }
        let keep = at.int("keepdims", 1) != 0;
        let out: Vec<usize> = dims
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                if axes.contains(&(i + 1)) {
                    keep.then_some(1)
                } else {
                    Some(d)
                }
            })
            .collect();
        if pos.is_none_or(|p| !axes.contains(&p)) {
            // Only axes of size 1: the values stay as they are.
            return self.relabel(n, label, out);
        }
        let w = self.shapes[x].1;
        let kind = if op == "ReduceMax" {
            LayerKind::GlobalMaxPool1D
        } else {
            LayerKind::GlobalAvgPool1D
        };
        if op == "ReduceSum" {
            let t = self.add(label, kind, vec![x])?;
            let scale = LayerKind::Affine {
                scale: vec![w as f32],
                shift: vec![0.0],
            };
            let s = self.add(&format!("{label}:scale"), scale, vec![t])?;
            return self.set_map(Self::out_name(n), s, out);
        }
        self.layer_out(n, label, kind, vec![x], out)
    }

    fn dense(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let gemm = n.op_type == "Gemm";
        if !self.is_map(n, 0) {
            return Err(format!(
                "{} of a constant and the data; only data × constant is supported",
                n.op_type
            ));
        }
        let (x, dims) = self.map_in(n, 0)?;
        if let (false, [c, w]) = (gemm, &dims[..]) {
            return self.position_mix(n, label, x, *c, *w);
        }
        let [inf] = dims[..] else {
            return Err(format!(
                "{} of a {} tensor; only (N, features) inputs are supported (a Flatten first)",
                n.op_type,
                show(&dims)
            ));
        };
        if gemm && at.int("transA", 0) != 0 {
            return Err("transA = 1 would put the batch axis among the features".into());
        }
        let b = self.const_in(n, 1)?;
        if b.dims.len() != 2 {
            return Err(format!(
                "the weight has shape {:?}, a matrix expected",
                b.dims
            ));
        }
        let trans_b = gemm && at.int("transB", 0) != 0;
        let (units, kin) = if trans_b {
            (b.dims[0], b.dims[1])
        } else {
            (b.dims[1], b.dims[0])
        };
        if kin != inf {
            return Err(format!(
                "the weight reads {kin} features, the input has {inf}"
            ));
        }
        let alpha = if gemm { at.float("alpha", 1.0) } else { 1.0 };
        let mut kernel = self.take_floats(n, 1)?;
        if !trans_b {
            kernel = tensor::transposed(&kernel, kin, units);
        }
        if alpha != 1.0 {
            kernel.iter_mut().for_each(|v| *v *= alpha);
        }
        let beta = at.float("beta", 1.0);
        let bias = match (gemm, self.opt_const(n, 2)?) {
            (true, Some(c)) if beta != 0.0 => {
                let full = [1, units];
                if c.dims.len() > 2 || broadcast_shape(&full, &c.dims)? != full {
                    return Err(format!(
                        "C of shape {:?} does not broadcast to (N, {units})",
                        c.dims
                    ));
                }
                let cv = c.to_f32();
                Some(
                    broadcast_index(&full, &c.dims)
                        .iter()
                        .map(|&i| cv[i] * beta)
                        .collect(),
                )
            }
            _ => None,
        };
        let kind = LayerKind::Dense {
            units,
            in_features: inf,
            activation: Activation::Linear,
            kernel,
            bias,
        };
        self.layer_out(n, label, kind, vec![x], vec![units])
    }

    /// MatMul of an (N, C, W) map by a constant (W, K): a linear map over
    /// positions shared by the channels (Sei's B-spline transformation).
    fn position_mix(
        &mut self,
        n: &NodeProto,
        label: &str,
        x: TensorId,
        c: usize,
        w: usize,
    ) -> R<()> {
        let b = self.const_in(n, 1)?;
        let [bw, to] = b.dims[..] else {
            return Err(format!(
                "MatMul of a (N, {c}, {w}) map by a constant of shape {:?}; a (W, K) matrix over the positions is read",
                b.dims
            ));
        };
        if bw != w || to == 0 {
            return Err(format!(
                "MatMul of a (N, {c}, {w}) map by a ({bw}, {to}) constant; a matrix over the positions has {w} rows"
            ));
        }
        let kind = LayerKind::PositionMix {
            to,
            matrix: self.take_floats(n, 1)?,
        };
        self.layer_out(n, label, kind, vec![x], vec![c, to])
    }

    fn concat(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let mut ts = Vec::new();
        let mut all = Vec::new();
        for i in 0..n.input.len() {
            let (t, d) = self.map_in(n, i).map_err(|_| {
                "Concat of a data tensor and a constant is not supported".to_string()
            })?;
            ts.push(t);
            all.push(d);
        }
        let dims = all[0].clone();
        let rank = dims.len() + 1;
        let axis = norm_axis(at.int("axis", 1), rank)?;
        if all.iter().any(|d| d.len() != dims.len()) {
            return Err("Concat of tensors of different ranks".into());
        }
        let along = if axis == 1 {
            ConcatAxis::Channels
        } else if Some(axis) == position_axis(&dims) {
            ConcatAxis::Positions
        } else {
            return Err(format!(
                "Concat along axis {axis} of {}; only along channels (1) or positions is supported",
                show(&dims)
            ));
        };
        let mut out = dims.clone();
        out[axis - 1] = all.iter().map(|d| d[axis - 1]).sum();
        if ts.len() == 1 {
            return self.alias(n, 0);
        }
        self.layer_out(n, label, LayerKind::Concatenate { axis: along }, ts, out)
    }

    fn slice(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let (x, dims) = self.map_in(n, 0)?;
        let (starts, ends, axes, steps) = fold::slice_params(n, &self.const_refs(n))?;
        let rank = dims.len() + 1;
        let mut out = dims.clone();
        let (mut left, mut right) = (0, 0);
        for j in 0..axes.len() {
            let ax = norm_axis(axes[j], rank)?;
            if ax == 0 {
                if starts[j] == 0 && steps[j] == 1 && ends[j] >= i32::MAX as i64 {
                    continue;
                }
                return Err("slices the batch axis".into());
            }
            let d = dims[ax - 1];
            let keep = fold::slice_range(d, starts[j], ends[j], steps[j])?;
            if keep.len() == d && steps[j] > 0 {
                continue;
            }
            if Some(ax) != position_axis(&dims) || steps[j] != 1 {
                return Err(format!(
                    "slices axis {ax} of {} (step {}); only crops along positions are supported",
                    show(&dims),
                    steps[j]
                ));
            }
            if keep.is_empty() {
                return Err("the slice keeps no positions".into());
            }
            left = keep[0];
            right = d - 1 - keep[keep.len() - 1];
            out[ax - 1] = keep.len();
        }
        if left + right == 0 {
            return self.alias(n, 0);
        }
        self.layer_out(n, label, LayerKind::Crop { left, right }, vec![x], out)
    }

    fn pad(&mut self, n: &NodeProto, label: &str) -> R<()> {
        let at = Attrs::of(n);
        let mode = at.string("mode", "constant");
        if mode != "constant" {
            return Err(format!(
                "mode {mode:?}; only constant (zero) padding is supported"
            ));
        }
        let (x, dims) = self.map_in(n, 0)?;
        let rank = dims.len() + 1;
        let (pads, value) = if self.opset >= 11 {
            let p = self.const_in(n, 1)?.to_i64()?;
            let v = self
                .opt_const(n, 2)?
                .map(|c| c.scalar().unwrap_or(f32::NAN));
            (p, v.unwrap_or(0.0))
        } else {
            (at.ints("pads").ok_or("no pads")?, at.float("value", 0.0))
        };
        if value != 0.0 {
            return Err(format!("pads with {value}; only zero padding is supported"));
        }
        let axes: Vec<usize> = match self.opt_const(n, 3)? {
            Some(a) => a
                .to_i64()?
                .iter()
                .map(|&v| norm_axis(v, rank))
                .collect::<R<_>>()?,
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
        }
        let (mut l, mut r) = (0i64, 0i64);
        for (j, &ax) in axes.iter().enumerate() {
            let (b, e) = (pads[j], pads[j + axes.len()]);
            if (b, e) == (0, 0) {
                continue;
            }
            if Some(ax) != position_axis(&dims) {
                return Err(format!(
                    "pads axis {ax} of {}; only padding along positions is supported",
                    show(&dims)
                ));
            }
            (l, r) = (b, e);
        }
        let d = dims.len();
        let kind = if l >= 0 && r >= 0 {
            if l + r == 0 {
                return self.alias(n, 0);
            }
            LayerKind::ZeroPad {
                left: l as usize,
                right: r as usize,
            }
        } else if l <= 0 && r <= 0 {
            LayerKind::Crop {
                left: (-l) as usize,
                right: (-r) as usize,
            }
        } else {
            return Err(format!("pads ({l}, {r}) both pad and crop"));
        };
        let mut out = dims.clone();
        out[d - 1] = (out[d - 1] as i64 + l + r).max(0) as usize;
        self.layer_out(n, label, kind, vec![x], out)
    }
}

/// W where `map` is (C, W) (or (C, 1, W); dims without the batch axis)
/// with W > 1 and `vector` the same but for one position: the vector
/// broadcasts over the map's positions.
fn broadcast_positions(map: &[usize], vector: &[usize]) -> Option<usize> {
    let r = map.len();
    let w = *map.last()?;
    (r >= 2 && vector.len() == r && w > 1 && vector[r - 1] == 1 && map[..r - 1] == vector[..r - 1])
        .then_some(w)
}
