//! Keras' own `MultiHeadAttention` as self-attention over a sequence
//! (`mha(x, x)`): its query, key and value projections (kernels
//! (C, heads, dim), biases (heads, dim)) become 1×1 convolutions with their
//! biases, softmax((Q/√key_dim)·Kᵀ)·V the engine's attention layer, and the
//! output projection (heads, value_dim, C') a 1×1 convolution that stands
//! for the Keras layer. No positional term: Keras adds none.
use super::attention::pointwise;
use super::config::RawLayer;
use super::layers::{flag, get};
use crate::model::h5util::Tensor;
use crate::model::{AttentionSpec, LayerKind, LayerSpec, TensorId};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct KerasMhaDesc {
    heads: usize,
    key_dim: usize,
    value_dim: usize,
    use_bias: bool,
    /// Output channels when `output_shape` sets them (else the input's).
    out_dim: Option<usize>,
}

fn positive(v: Option<&Value>, key: &str) -> Result<Option<usize>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&x| x > 0)
            .map(|x| Some(x as usize))
            .ok_or_else(|| format!("{key} = {n} is not a positive integer")),
        Some(Value::Array(a)) if a.len() == 1 => positive(a.first(), key),
        Some(v) => Err(format!(
            "{key} = {v} is not supported (one positive integer)"
        )),
    }
}

/// A keyword argument of the call that masks attention.
fn masked(call: &Value) -> Option<&'static str> {
    let mut stack = vec![call];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if m.get("use_causal_mask").and_then(Value::as_bool) == Some(true) {
                    return Some("use_causal_mask=True");
                }
                if m.get("attention_mask").is_some_and(|x| !x.is_null()) {
                    return Some("an attention_mask");
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    None
}

pub fn describe_keras_mha(l: &RawLayer) -> Result<KerasMhaDesc, String> {
    if let Some(m) = masked(&l.call) {
        return Err(format!(
            "attention called with {m} is not supported (full self-attention only)"
        ));
    }
    if flag(l, "use_gate", false) {
        return Err("use_gate=True is not supported".into());
    }
    if get(l, "sliding_window").is_some_and(|v| !v.is_null()) {
        return Err("sliding_window is not supported".into());
    }
    match get(l, "attention_axes") {
        None | Some(Value::Null) => {}
        Some(v) if positive(Some(v), "attention_axes")? == Some(1) => {}
        Some(v) => {
            return Err(format!(
                "attention_axes = {v} is not supported (the positions, axis 1)"
            ))
        }
    }
    let heads = positive(get(l, "num_heads"), "num_heads")?.ok_or("the config has no num_heads")?;
    let key_dim = positive(get(l, "key_dim"), "key_dim")?.ok_or("the config has no key_dim")?;
    Ok(KerasMhaDesc {
        heads,
        key_dim,
        value_dim: positive(get(l, "value_dim"), "value_dim")?.unwrap_or(key_dim),
        use_bias: flag(l, "use_bias", true),
        out_dim: positive(get(l, "output_shape"), "output_shape")?,
    })
}

/// The projections and the attention core, pushed onto `out` (the first
/// carries `name`); returns the output projection, the tensor it reads and
/// that tensor's shape. `input` holds k channels × w positions.
pub fn keras_mha_layers(
    d: &KerasMhaDesc,
    ws: Option<Vec<Tensor>>,
    name: &str,
    input: TensorId,
    (k, w): (usize, usize),
    out: &mut Vec<LayerSpec>,
) -> Result<(LayerKind, TensorId, (usize, usize)), String> {
    let (h, dk, dv) = (d.heads, d.key_dim, d.value_dim);
    let co = d.out_dim.unwrap_or(k);
    let ws = ws.unwrap_or_default();
    let per = if d.use_bias { 2 } else { 1 };
    if ws.len() != 4 * per {
        return Err(format!(
            "expected {} weight arrays (the query, key, value and output {}), the file has {}",
            4 * per,
            if d.use_bias {
                "kernels and biases"
            } else {
                "kernels"
            },
            ws.len()
        ));
    }
    // A (C, heads, dim) kernel is a Dense (C, heads·dim) one in Keras' order.
    let proj = |i: usize, inc: usize, outc: usize, shape: &[usize], what: &str| {
        let kt = &ws[i * per];
        if kt.shape != shape {
            return Err(format!(
                "the {what} kernel has shape {:?}, expected {shape:?}",
                kt.shape
            ));
        }
        let flat = Tensor {
            shape: vec![inc, outc],
            data: kt.data.clone(),
        };
        let bias = if d.use_bias {
            let b = &ws[i * per + 1];
            if b.data.len() != outc {
                return Err(format!(
                    "the {what} bias has shape {:?}, expected {outc} values",
                    b.shape
                ));
            }
            Some(b.data.clone())
        } else {
            None
        };
        pointwise(&flat, inc, outc, bias, what)
    };
    let q_kind = proj(0, k, h * dk, &[k, h, dk], "query")?;
    let k_kind = proj(1, k, h * dk, &[k, h, dk], "key")?;
    let v_kind = proj(2, k, h * dv, &[k, h, dv], "value")?;
    let o_kind = proj(3, h * dv, co, &[h, dv, co], "output")?;
    let first = out.len();
    let mut push = |suffix: &str, kind: LayerKind, inputs: Vec<TensorId>| {
        out.push(LayerSpec {
            name: if out.len() == first {
                name.to_string()
            } else {
                format!("{name}/{suffix}")
            },
            kind,
            inputs,
        });
        out.len()
    };
    let q = push("query", q_kind, vec![input]);
    let kt = push("key", k_kind, vec![input]);
    let v = push("value", v_kind, vec![input]);
    let spec = AttentionSpec {
        heads: h,
        dk,
        dv,
        q_scale: (dk as f32).powf(-0.5),
        q_bias: vec![0.0; h * dk],
        k_scale: 1.0,
        rel: None,
    };
    let att = push("attention", LayerKind::Attention(spec), vec![q, kt, v]);
    Ok((o_kind, att, (h * dv, w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(config: Value, call: Value) -> RawLayer {
        RawLayer {
            class_name: "MultiHeadAttention".into(),
            name: "mha".into(),
            config,
            inputs: vec![],
            nested: None,
            registered: None,
            call,
        }
    }

    /// Masks in the call (Keras 3's kwargs, Keras 2's node lists) and
    /// options that change the attention are refused by name.
    #[test]
    fn masked_or_gated_attention_is_refused() {
        let cfg = json!({"name": "mha", "num_heads": 2, "key_dim": 4});
        let d = describe_keras_mha(&layer(cfg.clone(), Value::Null)).unwrap();
        assert_eq!(
            (d.heads, d.key_dim, d.value_dim, d.out_dim),
            (2, 4, 4, None)
        );
        for (call, what) in [
            (
                json!({"args": [], "kwargs": {"use_causal_mask": true}}),
                "use_causal_mask",
            ),
            (
                json!([["x", 0, 0, {"attention_mask": ["m", 0, 0]}]]),
                "attention_mask",
            ),
        ] {
            let e = describe_keras_mha(&layer(cfg.clone(), call)).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
        let call =
            json!({"args": [], "kwargs": {"use_causal_mask": false, "attention_mask": null}});
        assert!(describe_keras_mha(&layer(cfg, call)).is_ok());
        for (extra, what) in [
            (json!({"use_gate": true}), "use_gate"),
            (json!({"sliding_window": 8}), "sliding_window"),
            (json!({"attention_axes": [2]}), "attention_axes"),
        ] {
            let mut c = json!({"name": "mha", "num_heads": 2, "key_dim": 4});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let e = describe_keras_mha(&layer(c, Value::Null)).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
    }
}
