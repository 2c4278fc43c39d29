//! Recurrent layers (LSTM, GRU) and LayerNormalization in the engine:
//! gradients through time against finite differences for both directions,
//! both output forms and both GRU reset placements, a bidirectional layer
//! as the loaders build it (two layers and a merge), batch invariance, and
//! the native format round trip. The framework comparisons are in
//! tests/recurrent_models.rs.
mod common;
use common::*;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::{Network, Plan, Scorer};
use rand::{Rng, SeedableRng};

fn lstm(b: &mut Builder, units: usize, reverse: bool, return_sequences: bool) -> LayerKind {
    let k = b.shape.0;
    LayerKind::Lstm {
        units,
        in_channels: k,
        reverse,
        return_sequences,
        kernel: b.rand(4 * units * k, 0.7),
        recurrent: b.rand(4 * units * units, 0.7),
        bias: b.rand(4 * units, 0.5),
    }
}

fn gru(
    b: &mut Builder,
    units: usize,
    reverse: bool,
    return_sequences: bool,
    reset_after: bool,
) -> LayerKind {
    let k = b.shape.0;
    LayerKind::Gru {
        units,
        in_channels: k,
        reverse,
        return_sequences,
        reset_after,
        kernel: b.rand(3 * units * k, 0.7),
        recurrent: b.rand(3 * units * units, 0.7),
        bias: b.rand(3 * units, 0.5),
        recurrent_bias: b.rand(3 * units, 0.5),
    }
}

fn layer_norm(b: &mut Builder) -> LayerKind {
    let k = b.shape.0;
    LayerKind::LayerNorm {
        gamma: b.rand(k, 1.5),
        beta: b.rand(k, 0.5),
        eps: 1e-3,
    }
}

/// conv (H) → `rec` → (flatten if a sequence) → dense of 3 classes.
fn after_conv(seed: u64, make: impl FnOnce(&mut Builder) -> LayerKind) -> ModelSpec {
    let mut b = Builder::new(seed, 4, 9);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Linear);
    let kind = make(&mut b);
    b.push(kind);
    if b.shape.1 > 1 {
        b.flatten(FlattenOrder::PositionMajor);
    }
    b.dense(3, Activation::Linear);
    b.build()
}

fn check(spec: &ModelSpec, what: &str) {
    let net = Network::new(spec).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = Plan::new(&net, 1, None, None).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_scorer(Scorer::with_plan(&net, plan, 3), what);
}

#[test]
fn lstm_gradients_through_time() {
    for reverse in [false, true] {
        for seq in [true, false] {
            let spec = after_conv(1, |b| lstm(b, 4, reverse, seq));
            check(&spec, &format!("lstm reverse {reverse} sequences {seq}"));
        }
    }
}

#[test]
fn gru_gradients_through_time() {
    for reset_after in [true, false] {
        for reverse in [false, true] {
            for seq in [true, false] {
                let spec = after_conv(2, |b| gru(b, 4, reverse, seq, reset_after));
                check(
                    &spec,
                    &format!("gru reset_after {reset_after} reverse {reverse} sequences {seq}"),
                );
            }
        }
    }
}

#[test]
fn layer_norm_gradients() {
    let spec = after_conv(3, layer_norm);
    check(&spec, "layer norm");
}

/// Bidirectional LSTMs and GRUs with every merge mode, then a GRU over the
/// result and a LayerNorm (grelu's ConvGRU order).
#[test]
fn bidirectional_stack_gradients() {
    let merges = [
        BiMerge::Concat,
        BiMerge::Sum,
        BiMerge::Average,
        BiMerge::Multiply,
    ];
    for (i, merge) in merges.into_iter().enumerate() {
        for cell in ["lstm", "gru"] {
            let mut b = Builder::new(10 + i as u64, 4, 8);
            b.conv(5, 3, 1, 1, Padding::Same, Activation::Relu);
            let pair = |b: &mut Builder, reverse| {
                if cell == "lstm" {
                    lstm(b, 3, reverse, true)
                } else {
                    gru(b, 3, reverse, true, i % 2 == 0)
                }
            };
            let forward = Box::new(pair(&mut b, false));
            let backward = Box::new(pair(&mut b, true));
            b.push(LayerKind::Bidirectional {
                merge,
                forward,
                backward,
            });
            let g = gru(&mut b, 4, false, true, true);
            b.push(g);
            let ln = layer_norm(&mut b);
            b.push(ln)
                .flatten(FlattenOrder::PositionMajor)
                .dense(3, Activation::Linear);
            check(&b.build(), &format!("bidirectional {cell} {merge:?}"));
        }
    }
}

/// A bidirectional layer equals its two directions run as separate layers
/// and joined by a concatenation (an independent path through the engine).
#[test]
fn bidirectional_equals_two_layers_and_a_concatenation() {
    let mut b = Builder::new(40, 4, 9);
    let f = lstm(&mut b, 3, false, false);
    let r = lstm(&mut b, 3, true, false);
    let mut one = b.spec.clone();
    one.layers.push(LayerSpec::new(
        "bi",
        LayerKind::Bidirectional {
            merge: BiMerge::Concat,
            forward: Box::new(f.clone()),
            backward: Box::new(r.clone()),
        },
        vec![0],
    ));
    let mut two = b.spec.clone();
    two.layers.push(LayerSpec::new("f", f, vec![0]));
    two.layers.push(LayerSpec::new("r", r, vec![0]));
    two.layers.push(LayerSpec::new(
        "cat",
        LayerKind::Concatenate {
            axis: ConcatAxis::Channels,
        },
        vec![1, 2],
    ));
    let x: Vec<f32> = b.rand(2 * 4 * 9, 1.0);
    let a = Network::new(&one)
        .unwrap()
        .forward_prefix(&x, 2, 1)
        .unwrap();
    let c = Network::new(&two)
        .unwrap()
        .forward_prefix(&x, 2, 3)
        .unwrap();
    assert_eq!(a, c);
}

/// An item's score and gradient are bitwise the same alone and among others
/// at any slot: each item's recurrence runs on its own, in a fixed order.
#[test]
fn recurrent_scores_do_not_depend_on_batch_mates() {
    let mut b = Builder::new(20, 4, 10);
    b.conv(6, 3, 1, 1, Padding::Same, Activation::Relu);
    let l = lstm(&mut b, 5, true, true);
    b.push(l);
    let g = gru(&mut b, 4, false, false, false);
    b.push(g);
    b.dense(3, Activation::Linear);
    let spec = b.build();
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, 1, None, None).unwrap();
    let mut big = Scorer::with_plan(&net, plan.clone(), 6);
    let mut one = Scorer::with_plan(&net, plan, 1);
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // With the small-batch kernels for the Dense head, nothing on the path depends on batch-mates.
        assert!(
            big.batch_invariant(),
            "a recurrent path keeps batch invariance"
        );
    }
    let m = big.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let h: Vec<f32> = (0..6 * m)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes = [0, 1, 2, 0, 1, 2];
    let (mut s, mut gr) = (vec![0.0; 6], vec![0.0; 6 * m]);
    big.score_grad(&h, &classes, &mut s, &mut gr);
    for i in 0..6 {
        let (mut s1, mut g1) = (vec![0.0], vec![0.0; m]);
        one.score_grad(&h[i * m..(i + 1) * m], &classes[i..i + 1], &mut s1, &mut g1);
        assert_eq!(s1[0].to_bits(), s[i].to_bits(), "item {i} score");
        assert!(
            g1.iter()
                .zip(&gr[i * m..(i + 1) * m])
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "item {i} gradient"
        );
    }
}

#[test]
fn native_format_keeps_recurrent_layers() {
    let mut b = Builder::new(30, 4, 7);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Relu);
    let l = lstm(&mut b, 3, true, true);
    b.push(l);
    let forward = Box::new(gru(&mut b, 2, false, true, false));
    let backward = Box::new(gru(&mut b, 2, true, true, false));
    b.push(LayerKind::Bidirectional {
        merge: BiMerge::Average,
        forward,
        backward,
    });
    let g = gru(&mut b, 2, false, false, false);
    b.push(g);
    let ln = layer_norm(&mut b);
    b.push(ln).dense(2, Activation::Linear);
    let spec = b.build();
    let dir = tmpdir("recurrent-native");
    let path = dir.join("rec.h5");
    {
        let _g = file_guard();
        deepresolve_mpi::model::native::save_native(&spec, &path).unwrap();
    }
    let back = load_model(&path, None).unwrap();
    assert_eq!(back.layers, spec.layers);
    std::fs::remove_dir_all(&dir).ok();
}
