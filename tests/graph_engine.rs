//! Layer graphs in the engine: every new operation's gradient against finite
//! differences, a residual tower with two heads (scores against the forward
//! pass, gradients per head and reduction), the plan's refusals (a tensor a
//! skip bypasses, a merge layer, an ambiguous output, a missing or needless
//! --reduce), what the plan leaves out, and the native format round trip.
mod common;
use common::*;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use rand::{Rng, SeedableRng};

fn check_plan(
    spec: &ModelSpec,
    layer: usize,
    output: Option<usize>,
    reduce: Option<Reduce>,
    what: &str,
) {
    let net = Network::new(spec).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = Plan::new(&net, layer, output, reduce).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_scorer(Scorer::with_plan(&net, plan, 3), what);
}

fn plan_err(
    spec: &ModelSpec,
    layer: usize,
    output: Option<usize>,
    reduce: Option<Reduce>,
) -> String {
    let net = Network::new(spec).unwrap();
    match Plan::new(&net, layer, output, reduce) {
        Ok(_) => panic!("layer {layer}: the plan was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn residual_tower_gradients_for_both_heads_and_every_reduction() {
    let (spec, n) = tower(1, false);
    for layer in [n.block1, n.crop1, n.block2] {
        for how in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
            check_plan(
                &spec,
                layer,
                Some(0),
                Some(how),
                &format!("profile {how:?} from layer {layer}"),
            );
        }
        check_plan(
            &spec,
            layer,
            Some(1),
            None,
            &format!("counts from layer {layer}"),
        );
    }
    check_plan(&spec, 0, Some(1), None, "counts from the model input");
}

#[test]
fn reduced_scores_equal_the_forward_pass() {
    let (spec, n) = tower(2, false);
    let net = Network::new(&spec).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..2 * 4 * 40)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let h_tensor = spec.layers[n.block2].inputs[0];
    let h = net.forward_prefix(&x, 2, h_tensor).unwrap();
    let (k, w) = net.tensor_shape(h_tensor);
    let hp = layout::to_position_major(&h, 2, k, w);
    let profile = net.forward_prefix(&x, 2, spec.outputs[0].tensor).unwrap();
    let counts = net.forward_prefix(&x, 2, spec.outputs[1].tensor).unwrap();
    let plen = profile.len() / 2 / 2; // 2 items × 2 tracks, channel-major flatten
    for (how, want) in [
        (
            Reduce::Sum,
            (|v: &[f32]| v.iter().sum::<f32>()) as fn(&[f32]) -> f32,
        ),
        (Reduce::Mean, |v: &[f32]| {
            v.iter().sum::<f32>() / v.len() as f32
        }),
        (Reduce::Max, |v: &[f32]| {
            v.iter().cloned().fold(f32::MIN, f32::max)
        }),
    ] {
        let plan = Plan::new(&net, n.block2, Some(0), Some(how)).unwrap();
        assert_eq!(plan.n_classes, 2);
        assert!(
            plan.left_out.iter().any(|s| s.starts_with("flatten")),
            "{:?}",
            plan.left_out
        );
        let mut sc = Scorer::with_plan(&net, plan, 4);
        let (mut s, mut g) = (vec![0.0; 4], vec![0.0; 4 * k * w]);
        let hh: Vec<f32> = [&hp[..], &hp[..]].concat();
        sc.score_grad(&hh, &[0, 1, 1, 0], &mut s, &mut g);
        for (i, (item, c)) in [(0, 0), (1, 1), (0, 1), (1, 0)].iter().enumerate() {
            let track = &profile[(item * 2 + c) * plen..(item * 2 + c + 1) * plen];
            let e = want(track);
            assert!(
                (s[i] - e).abs() <= 1e-4 * e.abs().max(1.0),
                "{how:?} item {item} class {c}: {} vs {e}",
                s[i]
            );
        }
    }
    let plan = Plan::new(&net, n.block2, Some(1), None).unwrap();
    let mut sc = Scorer::with_plan(&net, plan, 2);
    let (mut s, mut g) = (vec![0.0; 2], vec![0.0; 2 * k * w]);
    sc.score_grad(&hp, &[0, 0], &mut s, &mut g);
    for i in 0..2 {
        assert!((s[i] - counts[i]).abs() <= 1e-5 * counts[i].abs().max(1.0));
    }
}

#[test]
fn plan_refuses_non_cuts_merges_ambiguous_outputs_and_wrong_reduce() {
    let (spec, n) = tower(3, true);
    let inner = n.inner.unwrap();
    let e = plan_err(&spec, inner, Some(1), None);
    assert!(
        e.contains("not a cut") && e.contains(&spec.layers[n.add1].name),
        "{e}"
    );
    assert!(
        e.contains(&format!("the output of {}", spec.layers[n.crop1].name)),
        "{e}"
    );
    let e = plan_err(&spec, n.add1, Some(1), None);
    assert!(
        e.contains("merges 2 tensors") && e.contains(&spec.layers[n.block2].name),
        "{e}"
    );
    let e = plan_err(&spec, n.block1, None, None);
    assert!(
        e.contains("--output") && e.contains("profile") && e.contains("counts"),
        "{e}"
    );
    let e = plan_err(&spec, n.block1, Some(0), None);
    assert!(e.contains("--reduce sum|mean|max"), "{e}");
    let e = plan_err(&spec, n.block1, Some(1), Some(Reduce::Sum));
    assert!(
        e.contains("--reduce applies to heads with positions"),
        "{e}"
    );
    let e = plan_err(&spec, n.block1, Some(5), None);
    assert!(e.contains("--output 5"), "{e}");
    // H on the profile head's own branch does not lead to the counts head.
    let profile_conv = spec.layers.len() - 5;
    let e = plan_err(&spec, profile_conv + 1, Some(1), None);
    assert!(e.contains("does not depend on H"), "{e}");
    let net = Network::new(&spec).unwrap();
    let x = vec![0.1f32; 4 * 40];
    let t = spec.layers[profile_conv + 1].inputs[0];
    let h = net.forward_prefix(&x, 1, t).unwrap();
    assert!(net.forward_range(&h, 1, t, spec.outputs[1].tensor).is_err());
}

#[test]
fn batched_equals_one_by_one_on_a_graph() {
    let (spec, n) = tower(4, false);
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, n.block1, Some(0), Some(Reduce::Max)).unwrap();
    let mut big = Scorer::with_plan(&net, plan.clone(), 7);
    let mut one = Scorer::with_plan(&net, plan.clone(), 1);
    // Sub-batches of one item (as for long sequences) give the same.
    let mut split = Scorer::with_plan(&net, plan, 7);
    split.set_sub_batch_budget(1);
    let m = big.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let h: Vec<f32> = (0..7 * m)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes: Vec<usize> = (0..7).map(|i| i % 2).collect();
    let (mut s, mut g) = (vec![0.0; 7], vec![0.0; 7 * m]);
    big.score_grad(&h, &classes, &mut s, &mut g);
    let (mut s3, mut g3) = (vec![0.0; 7], vec![0.0; 7 * m]);
    split.score_grad(&h, &classes, &mut s3, &mut g3);
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-2);
    assert!(
        s.iter().zip(&s3).all(|(a, b)| close(*a, *b)),
        "{s:?} vs {s3:?}"
    );
    assert!(g.iter().zip(&g3).all(|(a, b)| close(*a, *b)));
    for i in 0..7 {
        let (mut s1, mut g1) = (vec![0.0], vec![0.0; m]);
        one.score_grad(&h[i * m..(i + 1) * m], &classes[i..i + 1], &mut s1, &mut g1);
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-2);
        assert!(close(s1[0], s[i]));
        assert!(
            g1.iter()
                .zip(&g[i * m..(i + 1) * m])
                .all(|(a, b)| close(*a, *b)),
            "item {i}"
        );
    }
}

/// Three branches of the input (4 × 13): conv tanh, conv linear, conv relu,
/// each 5 channels; `join` combines some of them, then flatten → dense.
fn branches(seed: u64, join: impl FnOnce(&mut Builder, [TensorId; 3])) -> ModelSpec {
    let mut b = Builder::new(seed, 4, 13);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Tanh);
    let a = b.at;
    b.from(0)
        .conv(5, 1, 1, 1, Padding::Same, Activation::Linear);
    let c = b.at;
    b.from(0).conv(5, 2, 1, 1, Padding::Same, Activation::Relu);
    let d = b.at;
    join(&mut b, [a, c, d]);
    b.flatten(FlattenOrder::ChannelMajor)
        .dense(3, Activation::Linear);
    b.build()
}

#[test]
fn merges_and_concatenations() {
    for op in [
        MergeOp::Add,
        MergeOp::Subtract,
        MergeOp::Multiply,
        MergeOp::Average,
        MergeOp::Maximum,
        MergeOp::Minimum,
    ] {
        let spec = branches(10, |b, [a, c, d]| {
            let ins: Vec<TensorId> = if op == MergeOp::Subtract {
                vec![a, c]
            } else {
                vec![a, c, d]
            };
            b.push_from(LayerKind::Merge(op), &ins);
        });
        check_plan(&spec, 0, None, None, &format!("merge {op:?}"));
    }
    for op in [MergeOp::Add, MergeOp::Multiply] {
        // One tensor read twice by the same node: both gradients must add up.
        let spec = branches(11, |b, [a, _, _]| {
            b.push_from(LayerKind::Merge(op), &[a, a]);
        });
        check_plan(
            &spec,
            0,
            None,
            None,
            &format!("merge {op:?} of a tensor with itself"),
        );
    }
    for axis in [ConcatAxis::Channels, ConcatAxis::Positions] {
        let spec = branches(12, |b, [a, c, d]| {
            b.push_from(LayerKind::Concatenate { axis }, &[d, a, c]);
        });
        check_plan(&spec, 0, None, None, &format!("concatenate {axis:?}"));
    }
}

#[test]
fn position_ops_rectifiers_affine_and_reshape() {
    let mut kinds = vec![
        LayerKind::Crop { left: 2, right: 3 },
        LayerKind::ZeroPad { left: 2, right: 1 },
        LayerKind::UpSample { size: 3 },
        LayerKind::AvgPool1D {
            pool: 3,
            stride: 2,
            padding: Padding::Valid,
        },
        LayerKind::AvgPool1D {
            pool: 2,
            stride: 2,
            padding: Padding::Same,
        },
        LayerKind::AvgPool1D {
            pool: 4,
            stride: 1,
            padding: Padding::Same,
        },
        // Sei's B-spline transformation: 13 positions onto 4, any matrix.
        LayerKind::PositionMix {
            to: 4,
            matrix: (0..13 * 4)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
                .collect(),
        },
    ];
    for (s, m, t) in [
        (0.0, None, 0.0),
        (0.2, None, 0.0),
        (0.1, Some(0.6), 0.3),
        (0.0, Some(0.5), 0.0),
        (0.3, None, -0.4),
    ] {
        kinds.push(LayerKind::Relu {
            negative_slope: s,
            max_value: m,
            threshold: t,
        });
    }
    for (i, kind) in kinds.into_iter().enumerate() {
        let mut b = Builder::new(20 + i as u64, 4, 13);
        b.conv(5, 3, 1, 1, Padding::Same, Activation::Linear)
            .push(kind.clone())
            .flatten(FlattenOrder::ChannelMajor)
            .dense(3, Activation::Linear);
        check_plan(&b.build(), 0, None, None, &format!("{kind:?}"));
    }
    for per_position in [false, true] {
        let mut b = Builder::new(30, 4, 11);
        b.conv(5, 3, 1, 1, Padding::Same, Activation::Linear);
        let n = if per_position { 5 * 11 } else { 5 };
        let alpha = b.rand(n, 0.5);
        b.push(LayerKind::PRelu { alpha });
        let scale = b.rand(n, 1.0);
        let shift = b.rand(1, 1.0);
        b.push(LayerKind::Affine { scale, shift })
            .flatten(FlattenOrder::PositionMajor)
            .dense(3, Activation::Linear);
        check_plan(
            &b.build(),
            0,
            None,
            None,
            &format!("prelu + affine, per position {per_position}"),
        );
    }
    // Global pooling then a relabel of 6 channels × 1 as 1 channel × 6
    // positions, which a convolution then slides over.
    let mut b = Builder::new(31, 4, 9);
    b.conv(6, 3, 1, 1, Padding::Same, Activation::Relu)
        .push(LayerKind::GlobalAvgPool1D)
        .push(LayerKind::Reshape {
            channels: 1,
            width: 6,
        })
        .conv(3, 2, 1, 1, Padding::Valid, Activation::Tanh)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(2, Activation::Linear);
    check_plan(&b.build(), 0, None, None, "reshape relabel");
}

const NEW_ACTS: [Activation; 8] = [
    Activation::Gelu,
    Activation::GeluTanh,
    Activation::GeluSigmoid,
    Activation::Swish,
    Activation::Exponential,
    Activation::Selu,
    Activation::HardSigmoid {
        alpha: 0.2,
        beta: 0.5,
    },
    Activation::HardSigmoid {
        alpha: 1.0 / 6.0,
        beta: 0.5,
    },
];

#[test]
fn new_activations_as_layers_and_inside_conv_and_dense() {
    // One place at a time: stacked exponentials curve too much for the step.
    for (i, act) in NEW_ACTS.iter().enumerate() {
        for place in 0..3 {
            let a = |p| if p == place { *act } else { Activation::Linear };
            let mut b = Builder::new(40 + i as u64, 4, 9);
            b.conv(5, 3, 1, 1, Padding::Same, a(0))
                .act(a(1))
                .flatten(FlattenOrder::ChannelMajor)
                .dense(6, a(2))
                .dense(2, Activation::Linear);
            check_plan(
                &b.build(),
                0,
                None,
                None,
                &format!("{act:?} at place {place}"),
            );
        }
    }
}

#[test]
fn activation_values() {
    // Reference values from Python's math.erf / math.tanh / math.exp with the
    // Keras and PyTorch definitions, at x = ±1.3.
    let cases: [(Activation, f32, f32); 10] = [
        (Activation::Gelu, 1.3, 1.174_159_4),
        (Activation::Gelu, -1.3, -0.125_840_6),
        (Activation::GeluTanh, 1.3, 1.173_929),
        (Activation::GeluSigmoid, 1.3, 1.171_787_9),
        (Activation::GeluSigmoid, -1.3, -0.128_212_1),
        (Activation::Swish, 1.3, 1.021_585_5),
        (Activation::Selu, -1.3, -1.278_961_4),
        (Activation::Selu, 1.3, 1.365_911_3),
        (
            Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            1.3,
            0.76,
        ),
        (Activation::Exponential, 1.3, 3.669_296_7),
    ];
    for (act, x, want) in cases {
        let mut b = Builder::new(1, 1, 1);
        b.act(act);
        let y = Network::new(&b.build())
            .unwrap()
            .forward_prefix(&[x], 1, 1)
            .unwrap()[0];
        assert!((y - want).abs() < 2e-6, "{act:?}({x}) = {y}, want {want}");
    }
}

#[test]
fn track_head_leaves_out_the_softplus_of_its_convolution() {
    let mut b = Builder::new(50, 4, 16);
    b.conv(6, 3, 1, 1, Padding::Valid, Activation::Relu).conv(
        3,
        1,
        1,
        1,
        Padding::Valid,
        Activation::Softplus,
    );
    let spec = b.build();
    for how in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
        check_plan(
            &spec,
            1,
            None,
            Some(how),
            &format!("softplus track head {how:?}"),
        );
    }
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, 1, None, Some(Reduce::Sum)).unwrap();
    assert_eq!(plan.left_out, vec!["softplus of l1".to_string()]);
    // The score is the sum of the pre-softplus track: compare with the same model without it.
    let mut lin = spec.clone();
    if let LayerKind::Conv1D { activation, .. } = &mut lin.layers[1].kind {
        *activation = Activation::Linear;
    }
    let x: Vec<f32> = (0..4 * 16)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let h = net.forward_prefix(&x, 1, 1).unwrap();
    let (k, w) = net.tensor_shape(1);
    let want = Network::new(&lin)
        .unwrap()
        .forward_prefix(&x, 1, 2)
        .unwrap();
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
    sc.score_grad(
        &layout::to_position_major(&h, 1, k, w),
        &[2],
        &mut s,
        &mut g,
    );
    let e: f32 = want[2 * 14..3 * 14].iter().sum();
    assert!(
        (s[0] - e).abs() < 1e-4 * e.abs().max(1.0),
        "{} vs {e}",
        s[0]
    );
}

#[test]
fn plan_names_what_it_leaves_out_and_fuses_only_a_private_hidden_dense() {
    let mut b = Builder::new(60, 12, 1);
    b.dense(8, Activation::Relu)
        .push(LayerKind::Dropout)
        .dense(3, Activation::Sigmoid);
    let spec = b.build();
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    assert_eq!(plan.left_out, vec!["sigmoid of l2".to_string()]);
    assert_eq!(plan.fused_from, Some(0));
    assert_eq!(plan.n_classes, 3);
    // The hidden Dense's output also feeds a second branch: no fusing.
    let mut b = Builder::new(61, 12, 1);
    b.dense(8, Activation::Relu);
    let hid = b.at;
    b.dense(3, Activation::Linear);
    let head = b.at;
    b.push_from(LayerKind::Merge(MergeOp::Add), &[hid, hid]);
    let side = b.at;
    b.from(side).dense(3, Activation::Linear);
    let side2 = b.at;
    b.push_from(LayerKind::Merge(MergeOp::Add), &[head, side2]);
    let spec = b.build();
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    assert_eq!(plan.fused_from, None);
    check_plan(&spec, 0, None, None, "shared hidden dense");
    // ONNX's Gemm + Relu: a linear Dense and a separate activation node fuse
    // as one Dense with its activation (finite differences through the fused path).
    for act in [Activation::Relu, Activation::Tanh] {
        let mut b = Builder::new(62, 12, 1);
        b.dense(8, Activation::Linear)
            .push(LayerKind::Activation(act))
            .push(LayerKind::Dropout)
            .dense(3, Activation::Linear);
        let spec = b.build();
        let net = Network::new(&spec).unwrap();
        let plan = Plan::new(&net, 0, None, None).unwrap();
        assert_eq!(plan.fused_from, Some(0), "{act:?}");
        check_plan(&spec, 0, None, None, &format!("dense + separate {act:?}"));
        // The fused path (capacity 3) against the unfused one (capacity 8).
        let h: Vec<f32> = (0..2 * 12)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let run = |cap: usize| {
            let plan = Plan::new(&net, 0, None, None).unwrap();
            let mut sc = Scorer::with_plan(&net, plan, cap);
            let (mut s, mut g) = (vec![0.0; 2], vec![0.0; 2 * 12]);
            sc.score_grad(&h, &[0, 2], &mut s, &mut g);
            (s, g)
        };
        let ((s3, g3), (s8, g8)) = (run(3), run(8));
        for (a, b) in s3.iter().chain(&g3).zip(s8.iter().chain(&g8)) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{act:?}: fused {a} vs {b}"
            );
        }
    }
    // The activation's input read by another node too: no fusing.
    let mut b = Builder::new(63, 12, 1);
    b.dense(8, Activation::Linear);
    let z = b.at;
    b.push(LayerKind::Activation(Activation::Relu));
    let a = b.at;
    b.push_from(LayerKind::Merge(MergeOp::Add), &[z, a]);
    b.push(LayerKind::Activation(Activation::Relu))
        .dense(3, Activation::Linear);
    let spec = b.build();
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    assert_eq!(plan.fused_from, None);
    check_plan(&spec, 0, None, None, "activation node after a merge");
}

#[test]
fn native_format_keeps_inputs_and_outputs() {
    let (spec, _) = tower(7, true);
    let dir = std::env::temp_dir().join(format!("drmpi-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tower.h5");
    {
        // No child may inherit the file's descriptor (and lock) while it is written.
        let _g = file_guard();
        deepresolve_mpi::model::native::save_native(&spec, &path).unwrap();
    }
    let back = load_model(&path, None).unwrap();
    assert_eq!(back.layers, spec.layers);
    assert_eq!(back.outputs, spec.outputs);
    std::fs::remove_dir_all(&dir).ok();
}

/// A positive map (4 × 11 → 5 channels, values in 0.5–1.5) then `kind`.
fn positive_then(seed: u64, kind: LayerKind) -> ModelSpec {
    let mut b = Builder::new(seed, 4, 11);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Sigmoid)
        .push(LayerKind::Affine {
            scale: vec![1.0],
            shift: vec![0.5],
        })
        .push(kind)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(3, Activation::Linear);
    b.build()
}

#[test]
fn pointwise_math_on_activations() {
    // On a positive map: the functions defined there only.
    for op in [
        Pointwise::Log,
        Pointwise::Sqrt,
        Pointwise::Reciprocal,
        Pointwise::Pow(2.5),
        Pointwise::Pow(-1.5),
    ] {
        let spec = positive_then(60, LayerKind::Pointwise(op));
        check_plan(&spec, 0, None, None, &format!("{op:?}"));
    }
    // On a signed map, with kinks inside its range.
    for op in [
        Pointwise::Abs,
        Pointwise::Pow(3.0),
        Pointwise::Clip {
            min: Some(-0.3),
            max: Some(0.4),
        },
        Pointwise::Clip {
            min: None,
            max: Some(0.2),
        },
        Pointwise::Clip {
            min: Some(-0.2),
            max: None,
        },
    ] {
        let mut b = Builder::new(61, 4, 11);
        b.conv(5, 3, 1, 1, Padding::Same, Activation::Linear)
            .push(LayerKind::Pointwise(op))
            .flatten(FlattenOrder::ChannelMajor)
            .dense(3, Activation::Linear);
        check_plan(&b.build(), 0, None, None, &format!("{op:?}"));
    }
    // Division of two activations: a signed numerator over a positive denominator.
    let mut b = Builder::new(62, 4, 11);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Tanh);
    let num = b.at;
    b.from(0)
        .conv(5, 2, 1, 1, Padding::Same, Activation::Sigmoid)
        .push(LayerKind::Affine {
            scale: vec![1.0],
            shift: vec![0.5],
        });
    let den = b.at;
    b.push_from(LayerKind::Merge(MergeOp::Divide), &[num, den]);
    b.flatten(FlattenOrder::ChannelMajor)
        .dense(3, Activation::Linear);
    check_plan(&b.build(), 0, None, None, "divide");
    // ChromBPNet's counts: log(exp(a) + exp(b)) of two dense heads.
    let mut b = Builder::new(63, 4, 11);
    b.conv(5, 3, 1, 1, Padding::Same, Activation::Relu)
        .push(LayerKind::GlobalAvgPool1D);
    let pooled = b.at;
    b.dense(1, Activation::Exponential);
    let e1 = b.at;
    b.from(pooled)
        .dense(1, Activation::Linear)
        .act(Activation::Exponential);
    let e2 = b.at;
    b.push_from(LayerKind::Merge(MergeOp::Add), &[e1, e2]);
    b.push(LayerKind::Pointwise(Pointwise::Log));
    check_plan(&b.build(), 0, None, None, "log(exp + exp)");
}

#[test]
fn pointwise_values() {
    let x = [0.25f32, 1.0, 4.0];
    let run = |op: Pointwise, x: &[f32]| -> Vec<f32> {
        let mut b = Builder::new(64, 1, x.len());
        b.push(LayerKind::Pointwise(op));
        let spec = b.build();
        let net = Network::new(&spec).unwrap();
        net.forward_prefix(x, 1, 1).unwrap()
    };
    assert_eq!(run(Pointwise::Log, &x), x.map(f32::ln).to_vec());
    assert_eq!(run(Pointwise::Sqrt, &x), vec![0.5, 1.0, 2.0]);
    assert_eq!(run(Pointwise::Reciprocal, &x), vec![4.0, 1.0, 0.25]);
    assert_eq!(run(Pointwise::Pow(1.5), &x), vec![0.125, 1.0, 8.0]);
    assert_eq!(run(Pointwise::Abs, &[-2.0, 0.0, 3.0]), vec![2.0, 0.0, 3.0]);
    let clip = Pointwise::Clip {
        min: Some(0.5),
        max: Some(2.0),
    };
    assert_eq!(run(clip, &x), vec![0.5, 1.0, 2.0]);
    for op in [Pointwise::Log, Pointwise::Pow(-0.5), clip] {
        assert_eq!(Pointwise::parse(&op.name()), Some(op), "{}", op.name());
    }
}
