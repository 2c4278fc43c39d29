//! The Keras model config (JSON) → the ordered chain of layers it describes.
//!
//! Accepts Sequential configs (Keras 1 and 2.0–2.2: a plain list; later: a dict
//! with `layers`) and Functional configs (`Model` in Keras 1/2, `Functional` in
//! Keras 2.4+/3) whose graph is a chain. Anything that branches or merges is refused.
use serde_json::Value;
use std::collections::HashMap;

/// One layer of the config, in model order.
#[derive(Debug, Clone)]
pub struct RawLayer {
    pub class_name: String,
    pub name: String,
    pub config: Value,
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
    Ok(RawLayer {
        class_name,
        name,
        config,
    })
}

/// Names of the layers whose tensors appear anywhere inside `v` (an inbound node):
/// Keras 3 writes `{"keras_history": [name, node, tensor]}`, Keras 1/2 write
/// `[name, node, tensor, {kwargs}]` lists.
fn collect_history(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(h)) = m.get("keras_history") {
                if let Some(Value::String(s)) = h.first() {
                    out.push(s.clone());
                    return;
                }
            }
            for x in m.values() {
                collect_history(x, out);
            }
        }
        Value::Array(a) => {
            if a.len() >= 3 && a[0].is_string() && a[1].is_number() && a[2].is_number() {
                out.push(a[0].as_str().unwrap().to_string());
                return;
            }
            for x in a {
                collect_history(x, out);
            }
        }
        _ => {}
    }
}

fn endpoint_names(v: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = v {
        collect_history(v, &mut out);
        if out.is_empty() {
            // Keras 3 may write a single endpoint as ["name", 0, 0] (handled) or a bare name.
            if let Some(s) = v.as_str() {
                out.push(s.to_string());
            }
        }
    }
    out
}

pub fn parse(text: &str) -> Result<ModelConfig, ConfigError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| err(None, format!("the model config is not valid JSON: {e}")))?;
    let class = root
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| err(None, "the model config has no class_name"))?;
    let config = root.get("config").unwrap_or(&Value::Null);
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
            let layers = list.iter().enumerate().map(|(i, v)| raw_layer(v, i)).collect::<Result<Vec<_>, _>>()?;
            Ok(ModelConfig { kind: "Sequential", layers })
        }
        "Model" | "Functional" => parse_functional(config).map(|layers| ModelConfig { kind: "Functional", layers }),
        other => Err(err(
            None,
            format!("model class {other:?} is not supported (only Sequential and Functional/Model chains)"),
        )),
    }
}

fn parse_functional(config: &Value) -> Result<Vec<RawLayer>, ConfigError> {
    let list = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| err(None, "the Functional config has no layer list"))?;
    let mut layers = Vec::new();
    let mut inputs: Vec<Vec<String>> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let l = raw_layer(v, i)?;
        let nodes = v
            .get("inbound_nodes")
            .cloned()
            .unwrap_or(Value::Array(vec![]));
        let node_count = nodes.as_array().map_or(0, Vec::len);
        if node_count > 1 {
            return Err(err(
                Some(&l.name),
                format!("layer is shared ({node_count} calls); only chains of layers called once are supported"),
            ));
        }
        let mut ins = Vec::new();
        collect_history(&nodes, &mut ins);
        inputs.push(ins);
        layers.push(l);
    }
    let inputs_of_model = endpoint_names(config.get("input_layers"));
    let outputs_of_model = endpoint_names(config.get("output_layers"));
    if inputs_of_model.len() > 1 {
        return Err(err(
            Some(&inputs_of_model[1]),
            format!(
                "the model has {} inputs; only one is supported",
                inputs_of_model.len()
            ),
        ));
    }
    if outputs_of_model.len() > 1 {
        return Err(err(
            Some(&outputs_of_model[1]),
            format!(
                "the model has {} outputs; only one is supported",
                outputs_of_model.len()
            ),
        ));
    }
    // Consumers of every layer: a layer that feeds two others is where the graph branches.
    let mut consumers: HashMap<&str, Vec<&str>> = HashMap::new();
    for (l, ins) in layers.iter().zip(&inputs) {
        for i in ins {
            consumers
                .entry(i.as_str())
                .or_default()
                .push(l.name.as_str());
        }
    }
    for l in &layers {
        if let Some(c) = consumers.get(l.name.as_str()) {
            if c.len() > 1 {
                let merge = layers
                    .iter()
                    .zip(&inputs)
                    .find(|(_, ins)| ins.len() > 1)
                    .map(|(m, _)| {
                        format!(
                            "; the branches merge at layer {} ({})",
                            m.name, m.class_name
                        )
                    })
                    .unwrap_or_default();
                return Err(err(
                    Some(&l.name),
                    format!(
                        "the model graph branches at layer {} (its output feeds {}){merge}; only chains are supported",
                        l.name,
                        c.join(", ")
                    ),
                ));
            }
        }
    }
    for (idx, (l, ins)) in layers.iter().zip(&inputs).enumerate() {
        if ins.len() > 1 {
            return Err(err(
                Some(&l.name),
                format!(
                    "layer {} ({}) merges {} inputs ({}); only chains are supported",
                    l.name,
                    l.class_name,
                    ins.len(),
                    ins.join(", ")
                ),
            ));
        }
        if idx == 0 {
            if !ins.is_empty() {
                return Err(err(
                    Some(&l.name),
                    "the first layer of the config has an input; expected the InputLayer",
                ));
            }
        } else if ins.first().map(String::as_str) != Some(layers[idx - 1].name.as_str()) {
            return Err(err(
                Some(&l.name),
                format!(
                    "layer {} takes its input from {} rather than from the layer before it ({}); only chains are supported",
                    l.name,
                    ins.first().map_or("nothing", String::as_str),
                    layers[idx - 1].name
                ),
            ));
        }
    }
    if let (Some(out), Some(last)) = (outputs_of_model.first(), layers.last()) {
        if *out != last.name {
            return Err(err(
                Some(out),
                format!(
                    "the model output is layer {out}, not the last layer {}",
                    last.name
                ),
            ));
        }
    }
    Ok(layers)
}
