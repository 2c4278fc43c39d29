//! Per-class heads joined by a Concatenate (CREsted's "decoupled" models:
//! one `Dense(1, activation=softplus)` per class on the same pooled vector,
//! then `Concatenate()`) read as the one Dense layer they are. S_c is taken
//! before a head's output activation; with the heads apart, the score would
//! be the concatenation of their activated outputs. Every unit of the joined
//! layer is its head's unit (same weights, same activation), so the model's
//! outputs do not change; the heads stay in the spec (nothing reads them),
//! so layer indices do too.
use crate::model::{ConcatAxis, LayerKind, LayerSpec, OutputSpec, TensorId};

/// Joins, in place, every channel Concatenate whose inputs are all Dense
/// layers reading one tensor with one activation, and that nothing else
/// (no other layer, no output) reads.
pub fn join_dense_heads(layers: &mut [LayerSpec], outputs: &[OutputSpec]) {
    for c in 0..layers.len() {
        let LayerKind::Concatenate {
            axis: ConcatAxis::Channels,
        } = layers[c].kind
        else {
            continue;
        };
        let heads: Vec<TensorId> = layers[c].inputs.clone();
        if heads.len() < 2 || heads.contains(&0) {
            continue;
        }
        let first = &layers[heads[0] - 1];
        let LayerKind::Dense {
            in_features,
            activation,
            ..
        } = first.kind
        else {
            continue;
        };
        let source = first.inputs.clone();
        let all_dense = heads.iter().all(|&t| {
            let l = &layers[t - 1];
            l.inputs == source
                && matches!(
                    l.kind,
                    LayerKind::Dense { in_features: f, activation: a, .. } if f == in_features && a == activation
                )
        });
        let read_elsewhere = |t: TensorId| {
            outputs.iter().any(|o| o.tensor == t)
                || layers
                    .iter()
                    .enumerate()
                    .any(|(i, l)| i != c && l.inputs.contains(&t))
        };
        if !all_dense || heads.iter().any(|&t| read_elsewhere(t)) {
            continue;
        }
        let (mut units, mut kernel, mut bias) = (0, Vec::new(), Vec::new());
        let mut any_bias = false;
        for &t in &heads {
            if let LayerKind::Dense {
                units: u,
                kernel: k,
                bias: b,
                ..
            } = &layers[t - 1].kind
            {
                units += u;
                kernel.extend_from_slice(k);
                any_bias |= b.is_some();
                bias.extend(b.clone().unwrap_or_else(|| vec![0.0; *u]));
            }
        }
        layers[c].kind = LayerKind::Dense {
            units,
            in_features,
            activation,
            kernel,
            bias: any_bias.then_some(bias),
        };
        layers[c].inputs = source;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;

    fn dense(name: &str, input: TensorId, w: f32, act: Activation) -> LayerSpec {
        LayerSpec {
            name: name.into(),
            kind: LayerKind::Dense {
                units: 1,
                in_features: 2,
                activation: act,
                kernel: vec![w, -w],
                bias: Some(vec![w]),
            },
            inputs: vec![input],
        }
    }

    fn concat(inputs: Vec<TensorId>) -> LayerSpec {
        LayerSpec {
            name: "cat".into(),
            kind: LayerKind::Concatenate {
                axis: ConcatAxis::Channels,
            },
            inputs,
        }
    }

    #[test]
    fn dense_heads_on_one_tensor_join_and_others_stay() {
        let sp = Activation::Softplus;
        let mut l = vec![
            dense("a", 0, 1.0, sp),
            dense("b", 0, 2.0, sp),
            concat(vec![1, 2]),
        ];
        join_dense_heads(&mut l, &[]);
        match &l[2].kind {
            LayerKind::Dense {
                units: 2,
                kernel,
                bias: Some(b),
                activation: Activation::Softplus,
                ..
            } => {
                assert_eq!(kernel, &[1.0, -1.0, 2.0, -2.0]);
                assert_eq!(b, &[1.0, 2.0]);
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(l[2].inputs, vec![0]);
        // Different activations, a head that is also an output, or a head
        // another layer reads: left as they are.
        let mut l = vec![
            dense("a", 0, 1.0, sp),
            dense("b", 0, 2.0, Activation::Sigmoid),
            concat(vec![1, 2]),
        ];
        join_dense_heads(&mut l, &[]);
        assert!(matches!(l[2].kind, LayerKind::Concatenate { .. }));
        let mut l = vec![
            dense("a", 0, 1.0, sp),
            dense("b", 0, 2.0, sp),
            concat(vec![1, 2]),
        ];
        let out = OutputSpec {
            name: "a".into(),
            tensor: 1,
        };
        join_dense_heads(&mut l, &[out]);
        assert!(matches!(l[2].kind, LayerKind::Concatenate { .. }));
        let mut l = vec![
            dense("a", 0, 1.0, sp),
            dense("b", 0, 2.0, sp),
            concat(vec![1, 2]),
            dense("c", 1, 1.0, sp),
        ];
        join_dense_heads(&mut l, &[]);
        assert!(matches!(l[2].kind, LayerKind::Concatenate { .. }));
    }
}
