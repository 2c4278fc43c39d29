//! PyTorch's own nn.TransformerEncoderLayer / nn.MultiheadAttention after a
//! conv tower (tests/fixtures/attention, made by make_mha.py): batch_first
//! True and False, norm_first True and False, ReLU and GELU feed-forward,
//! one and two layers, exported by the TorchScript exporter (mha_ts_*) and
//! by dynamo (mha_dy_*), with random biases (the key bias included). Stacked
//! layers have weights of their own (so a mix-up of the layers shows), but
//! for mha_ts_sf_post_relu_shared, whose layers share their weight matrices
//! (TorchScript writes the second's as Identities of the first's). At
//! PyTorch's H maps (the tower's MaxPool output) our scorer gives PyTorch's
//! scores (rel. err < 1e-4) and autograd's dS_c/dH (1e-3); the gradient
//! agrees with finite differences; `inspect` marks H at the tower and not
//! inside the block; `run` under `mpirun -n 2` stores /ascent/score equal
//! to the scorer at the stored maps, and the same results as on 1 and 3
//! ranks, bit for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::network::{Network, Plan, Scorer};

/// (model file = reference group, H as its exporter names it).
const CASES: [(&str, &str); 7] = [
    ("mha_dy_bf_pre_gelu", H_DYNAMO),
    ("mha_dy_sf_post_relu", H_DYNAMO),
    ("mha_ts_bf_post_relu", H_TS),
    ("mha_ts_sf_post_gelu", H_TS),
    ("mha_ts_sf_pre_relu", H_TS),
    // Two stacked layers, each with weights of its own.
    ("mha_ts_bf_pre_gelu", H_TS),
    // Two stacked layers sharing their weight matrices: TorchScript writes
    // the second layer's as Identities of the first's.
    ("mha_ts_sf_post_relu_shared", H_TS),
];
const H_TS: &str = "/pool/MaxPool_output_0";
const H_DYNAMO: &str = "max_pool1d";

fn model_path(name: &str) -> String {
    fixture(&format!("attention/{name}.onnx"))
}

fn network_at(name: &str, h: &str) -> (Network, Plan) {
    against_reference::network_at(&model_path(name), h, None)
}

#[test]
fn scores_and_gradients_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_mha.h5")).unwrap();
    for (name, h) in CASES {
        let g = f.group(name).unwrap();
        let stored: String = g
            .attr("h_name")
            .unwrap()
            .read_scalar::<hdf5::types::VarLenUnicode>()
            .unwrap()
            .to_string();
        assert_eq!(stored, h, "{name}: H's name");
        let r = Reference::read(&g, "h", "scores", "grads");
        assert_eq!(r.classes(), 3);
        let (net, plan) = network_at(name, h);
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), name);
    }
}

/// One fused attention layer per encoder layer, nothing of the exporter's
/// head-splitting left over.
#[test]
fn each_encoder_layer_is_one_attention_layer() {
    for (name, layers) in [
        ("mha_dy_bf_pre_gelu", 2),
        ("mha_dy_sf_post_relu", 1),
        ("mha_ts_bf_pre_gelu", 2),
        ("mha_ts_sf_post_relu_shared", 2),
    ] {
        let spec =
            deepresolve_mpi::model::load_model(std::path::Path::new(&model_path(name)), None)
                .unwrap();
        let att: Vec<_> = spec
            .layers
            .iter()
            .filter(|l| l.kind.kind_name() == "attention")
            .collect();
        assert_eq!(att.len(), layers, "{name}");
        assert!(spec.unscorable.is_empty(), "{name}: {:?}", spec.unscorable);
    }
}

/// The Q, K and V projections (the 1×1 convolutions the loader makes of
/// each packed in-projection) of every attention layer, in layer order.
fn in_projections(name: &str) -> Vec<Vec<f32>> {
    let spec =
        deepresolve_mpi::model::load_model(std::path::Path::new(&model_path(name)), None).unwrap();
    let mut per_layer = Vec::new();
    for part in [":q", ":k", ":v"] {
        let ws: Vec<_> = spec
            .layers
            .iter()
            .filter(|l| l.name.ends_with(part))
            .map(|l| match &l.kind {
                deepresolve_mpi::model::LayerKind::Conv1D { kernel, .. } => kernel.clone(),
                k => panic!("{name}: {} is a {}", l.name, k.kind_name()),
            })
            .collect();
        per_layer.resize(ws.len(), Vec::new());
        for (all, w) in per_layer.iter_mut().zip(ws) {
            all.extend(w);
        }
    }
    per_layer
}

/// The two layers of a stack load with weights of their own where the
/// fixture gave them their own (the reference would not see a swap of equal
/// layers), and with the same where they share them.
#[test]
fn stacked_layers_load_distinct_or_shared_weights() {
    for (name, shared) in [
        ("mha_ts_bf_pre_gelu", false),
        ("mha_dy_bf_pre_gelu", false),
        ("mha_ts_sf_post_relu_shared", true),
    ] {
        let w = in_projections(name);
        assert_eq!(w.len(), 2, "{name}: attention layers");
        assert_eq!(w[0].len(), 3 * 32 * 32, "{name}");
        let diff = w[0]
            .iter()
            .zip(&w[1])
            .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
        if shared {
            assert_eq!(diff, 0.0, "{name}: the layers share their in-projection");
        } else {
            assert!(
                diff > 0.1,
                "{name}: the layers' in-projections differ by {diff}"
            );
        }
    }
}

#[test]
fn gradient_matches_finite_differences() {
    for (name, h) in [CASES[0], CASES[1]] {
        let (net, plan) = network_at(name, h);
        check_scorer(Scorer::with_plan(&net, plan, 3), name);
    }
}

#[test]
fn inspect_marks_h_at_the_tower_and_not_inside_attention() {
    let table = Inspect::of(&model_path("mha_ts_sf_post_gelu"));
    let pool = table.row("/pool/MaxPool ");
    assert!(pool.contains(" all "), "{pool}");
    let att = table.row(" attention ");
    assert!(att.contains("4 heads"), "{att}");
    assert!(att.contains(" - "), "{att}");
    // Q's input is the tower's output itself, so H is valid there too.
    let q = table.row("self_attn/MatMul:q ");
    assert!(q.contains(" all "), "{q}");
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    let shape = rescore_and_match_ranks(&model_path("mha_ts_sf_post_gelu"), H_TS, &[], None);
    assert_eq!((shape[2], shape[3]), (32, 30), "H shape");
}

/// Keras' own MultiHeadAttention as self-attention (make_keras_mha.py):
/// with biases, saved by both Keras 3 writers, and without biases with
/// output_shape set; scores and dS/dH against jax.
#[test]
fn keras_multi_head_attention_matches_jax() {
    let r = fixture("attention/reference_keras_mha.h5");
    for (file, group) in [
        ("keras_mha.keras", "keras_mha"),
        ("keras_mha.h5", "keras_mha"),
        ("keras_mha_nobias.keras", "keras_mha_nobias"),
    ] {
        against_reference::compare_with_reference(
            &fixture(&format!("attention/{file}")),
            &r,
            group,
        );
    }
}
