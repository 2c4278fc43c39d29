//! The Keras model config (JSON) → its layers and the tensors each reads.
//!
//! Accepts Sequential configs (Keras 1 and 2.0–2.2: a plain list; later: a dict
//! with `layers`) and Functional configs (`Model` in Keras 1/2, `Functional` in
//! Keras 2.4+/3) of any graph shape. A model used as a layer of another is kept
//! as a nested [`ModelConfig`] (the loader expands it). A layer called more than
//! once (shared) is refused here, by name.
use serde_json::Value;

/// A tensor of the Keras graph: output `tensor` of call `node` of layer `layer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    pub layer: String,
    pub node: usize,
    pub tensor: usize,
}

/// One layer of the config, in model order.
#[derive(Debug, Clone)]
pub struct RawLayer {
    pub class_name: String,
    pub name: String,
    pub config: Value,
    /// The tensors it reads (its one call), in order. Empty for an InputLayer.
    pub inputs: Vec<TensorRef>,
    /// A model used as a layer (ChromBPNet's wrapper around BPNet).
    pub nested: Option<Box<ModelConfig>>,
    /// Keras 3's `registered_name` of a class a package registered
    /// (`crested>MultiheadAttention`); none for Keras' own.
    pub registered: Option<String>,
    /// Its one call as written (`inbound_nodes[0]`), for the keyword
    /// arguments of the call (an attention mask); Null for none.
    pub call: Value,
}

/// A config error: which layer (if any) and what.
#[derive(Debug)]
pub struct ConfigError {
    pub layer: Option<String>,
    pub msg: String,
}

fn err(layer: Option<&str>, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        layer: layer.map(str::to_string),
        msg: msg.into(),
    }
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// "Sequential" or "Functional".
    pub kind: &'static str,
    /// All layers in `model.layers` order, InputLayer included where the config has one.
    pub layers: Vec<RawLayer>,
    /// The model's inputs (for a Sequential without an InputLayer, a name no layer has).
    pub inputs: Vec<TensorRef>,
    /// The model's outputs, in order.
    pub outputs: Vec<TensorRef>,
    /// The config carries Keras 3 serialization marks (`module`, `registered_name`).
    pub keras3_marks: bool,
}

fn raw_layer(v: &Value, i: usize) -> Result<RawLayer, ConfigError> {
    let class_name = v
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            err(
                None,
                format!("layer entry {i} of the config has no class_name"),
            )
        })?
        .to_string();
    let config = v.get("config").cloned().unwrap_or(Value::Null);
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| v.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| format!("layer_{i}"));
    let nested = match class_name.as_str() {
        "Functional" | "Model" | "Sequential" if config.get("layers").is_some() => {
            let inner = parse_model(&class_name, &config).map_err(|e| ConfigError {
                layer: e.layer.or_else(|| Some(name.clone())),
                msg: format!("in the model {name} used as a layer: {}", e.msg),
            })?;
            Some(Box::new(inner))
        }
        _ => None,
    };
    let registered = v
        .get("registered_name")
        .and_then(Value::as_str)
        .filter(|r| r.contains('>'))
        .map(str::to_string);
    let call = v
        .get("inbound_nodes")
        .and_then(Value::as_array)
        .and_then(|n| n.first())
        .cloned()
        .unwrap_or(Value::Null);
    Ok(RawLayer {
        class_name,
        name,
        config,
        inputs: Vec::new(),
        nested,
        registered,
        call,
    })
}

fn as_index(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize)
}

/// The tensors referenced anywhere inside `v`, in order: Keras 3 writes
/// `{"keras_history": [name, node, tensor]}`, Keras 1/2 write
/// `[name, node, tensor, {kwargs}]` lists.
fn collect_refs(v: &Value, out: &mut Vec<TensorRef>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(h)) = m.get("keras_history") {
                if let (Some(Value::String(s)), Some(n), Some(t)) = (
                    h.first(),
                    h.get(1).and_then(as_index),
                    h.get(2).and_then(as_index),
                ) {
                    out.push(TensorRef {
                        layer: s.clone(),
                        node: n,
                        tensor: t,
                    });
                    return;
                }
            }
            // Keras 3: positional arguments before keyword arguments.
            if let Some(a) = m.get("args") {
                collect_refs(a, out);
            }
            for (k, x) in m {
                if k != "args" {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => {
            if a.len() >= 3 && a[0].is_string() && a[1].is_number() && a[2].is_number() {
                out.push(TensorRef {
                    layer: a[0].as_str().unwrap().to_string(),
                    node: as_index(&a[1]).unwrap_or(0),
                    tensor: as_index(&a[2]).unwrap_or(0),
                });
                return;
            }
            for x in a {
                collect_refs(x, out);
            }
        }
        _ => {}
    }
}

fn endpoints(v: Option<&Value>) -> Vec<TensorRef> {
    let mut out = Vec::new();
    if let Some(v) = v {
        collect_refs(v, &mut out);
        if out.is_empty() {
            if let Some(s) = v.as_str() {
                out.push(TensorRef {
                    layer: s.to_string(),
                    node: 0,
                    tensor: 0,
                });
            }
        }
    }
    out
}

fn has_keras3_marks(v: &Value) -> bool {
    v.get("module").is_some() || v.get("registered_name").is_some()
}

pub fn parse(text: &str) -> Result<ModelConfig, ConfigError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| err(None, format!("the model config is not valid JSON: {e}")))?;
    let class = root
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| err(None, "the model config has no class_name"))?;
    let config = root.get("config").unwrap_or(&Value::Null);
    let mut m = parse_model(class, config)?;
    m.keras3_marks |= has_keras3_marks(&root);
    Ok(m)
}

fn parse_model(class: &str, config: &Value) -> Result<ModelConfig, ConfigError> {
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match class {
        "Sequential" => {
            let list = match config {
                Value::Array(a) => a,
                Value::Object(m) => m
                    .get("layers")
                    .and_then(Value::as_array)
                    .ok_or_else(|| err(None, "the Sequential config has no layer list"))?,
                _ => return Err(err(None, "the Sequential config has no layer list")),
            };
            let mut layers = list
                .iter()
                .enumerate()
                .map(|(i, v)| raw_layer(v, i))
                .collect::<Result<Vec<_>, _>>()?;
            let keras3_marks = list.iter().any(has_keras3_marks);
            // A chain: each layer reads the one before it.
            let input = match layers.first() {
                Some(l) if l.class_name == "InputLayer" => l.name.clone(),
                _ => format!("{name}\u{0}input"),
            };
            let mut prev = input.clone();
            for l in layers.iter_mut() {
                if l.class_name == "InputLayer" && l.name == input {
                    continue;
                }
                l.inputs = vec![TensorRef {
                    layer: prev.clone(),
                    node: 0,
                    tensor: 0,
                }];
                prev = l.name.clone();
            }
            let at = |layer: String| TensorRef {
                layer,
                node: 0,
                tensor: 0,
            };
            Ok(ModelConfig {
                kind: "Sequential",
                layers,
                inputs: vec![at(input)],
                outputs: vec![at(prev)],
                keras3_marks,
            })
        }
        "Model" | "Functional" => parse_functional(config),
        other => Err(err(
            None,
            format!(
                "model class {other:?} is not supported (only Sequential and Functional/Model)"
            ),
        )),
    }
}

fn parse_functional(config: &Value) -> Result<ModelConfig, ConfigError> {
    let list = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| err(None, "the Functional config has no layer list"))?;
    let mut layers = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let mut l = raw_layer(v, i)?;
        let nodes = v
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if nodes.len() > 1 {
            return Err(err(
                Some(&l.name),
                format!(
                    "layer {} ({}) is shared: the model calls it {} times; only layers called once are supported",
                    l.name,
                    l.class_name,
                    nodes.len()
                ),
            ));
        }
        if let Some(n) = nodes.first() {
            collect_refs(n, &mut l.inputs);
        }
        layers.push(l);
    }
    let keras3_marks = list.iter().any(has_keras3_marks);
    Ok(ModelConfig {
        kind: "Functional",
        layers,
        inputs: endpoints(config.get("input_layers")),
        outputs: endpoints(config.get("output_layers")),
        keras3_marks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(layer: &str, tensor: usize) -> TensorRef {
        TensorRef {
            layer: layer.into(),
            node: 0,
            tensor,
        }
    }

    /// Keras 2's `inbound_nodes`: a list of calls, each a list of [name, node, tensor, kwargs].
    #[test]
    fn keras2_functional_graph() {
        let text = r#"{"class_name": "Model", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_input_shape": [null, 10, 4]}, "inbound_nodes": []},
            {"class_name": "Conv1D", "name": "a", "config": {"name": "a"}, "inbound_nodes": [[["in", 0, 0, {}]]]},
            {"class_name": "Conv1D", "name": "b", "config": {"name": "b"}, "inbound_nodes": [[["in", 0, 0, {}]]]},
            {"class_name": "Add", "name": "add", "config": {"name": "add"}, "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]}
          ],
          "input_layers": [["in", 0, 0]],
          "output_layers": [["add", 0, 0], ["b", 0, 0]]}}"#;
        let m = parse(text).unwrap();
        assert_eq!(m.kind, "Functional");
        assert!(!m.keras3_marks);
        assert_eq!(m.inputs, [r("in", 0)]);
        assert_eq!(m.outputs, [r("add", 0), r("b", 0)]);
        assert_eq!(m.layers[3].inputs, [r("a", 0), r("b", 0)]);
        assert!(m.layers[0].inputs.is_empty());
    }

    /// Keras 3: {"args": [...], "kwargs": {...}} with `keras_history`; a single
    /// endpoint written as one [name, node, tensor].
    #[test]
    fn keras3_functional_graph() {
        let t = |n: &str, i: usize| {
            format!(
                r#"{{"class_name": "__keras_tensor__", "config": {{"shape": [null, 10, 4], "keras_history": ["{n}", 0, {i}]}}}}"#
            )
        };
        let text = format!(
            r#"{{"module": "keras", "class_name": "Functional", "config": {{"name": "m", "layers": [
            {{"class_name": "InputLayer", "name": "in", "config": {{"name": "in", "batch_shape": [null, 10, 4]}}, "inbound_nodes": []}},
            {{"class_name": "Concatenate", "name": "cat", "config": {{"name": "cat", "axis": -1}}, "inbound_nodes": [{{"args": [[{}, {}]], "kwargs": {{"mask": null}}}}]}}
          ],
          "input_layers": ["in", 0, 0],
          "output_layers": ["cat", 0, 0]}}}}"#,
            t("in", 0),
            t("in", 0)
        );
        let m = parse(&text).unwrap();
        assert!(m.keras3_marks);
        assert_eq!(m.inputs, [r("in", 0)]);
        assert_eq!(m.outputs, [r("cat", 0)]);
        assert_eq!(m.layers[1].inputs, [r("in", 0), r("in", 0)]);
    }

    #[test]
    fn shared_layer_is_refused_by_name() {
        let text = r#"{"class_name": "Functional", "config": {"layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"name": "d"}, "inbound_nodes": [[["in", 0, 0, {}]], [["in", 0, 0, {}]]]}
          ], "input_layers": [["in", 0, 0]], "output_layers": [["d", 1, 0]]}}"#;
        let e = parse(text).unwrap_err();
        assert_eq!(e.layer.as_deref(), Some("d"));
        assert!(
            e.msg.contains("shared") && e.msg.contains("Dense"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn sequential_is_a_chain() {
        let text = r#"{"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "a", "batch_input_shape": [null, 3]}},
            {"class_name": "Dense", "config": {"name": "b"}}]}}"#;
        let m = parse(text).unwrap();
        assert_eq!(m.layers[1].inputs, [r("a", 0)]);
        assert_eq!(m.inputs, m.layers[0].inputs);
        assert_eq!(m.outputs, [r("b", 0)]);
    }
}
