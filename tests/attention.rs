//! Conv–transformer models (tests/fixtures/attention, made by make_onnx.py):
//! grelu's ConvTransformerModel, attention written with MatMul, and a tiny
//! enformer-pytorch Enformer (its
//! tracks summed over positions: `--reduce sum`) exported to ONNX, with H the
//! conv tower's output. `inspect` marks H valid there and not inside the attention block;
//! our scorer at PyTorch's H maps gives PyTorch's pre-activation scores
//! (rel. err < 1e-4) and autograd's dS_c/dH (1e-3); `run` under
//! `mpirun -n 2` stores /ascent/score equal to the scorer at the stored
//! maps, and the same results as on 1 and 3 ranks, bit for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{Network, Plan, Reduce, Scorer};
use std::path::Path;

/// The conv tower's output: what the transformer reads.
const H: &str = "/embedding/conv_tower/blocks.1/act/layer/Relu_output_0";
const H_ENFORMER: &str = "/m/_trunk/conv_tower/conv_tower.1/conv_tower.1.2/ReduceSum_output_0";
const MODELS: [&str; 2] = ["grelu_convtransformer", "grelu_convtransformer_nonorm"];

/// (reference group, model file, H, whether the tracks are summed over positions).
/// enformer_cl is the same model taking (N, L, 4), as published.
const CASES: [(&str, &str, &str, bool); 5] = [
    (
        "matmul_attention",
        "matmul_attention",
        "/Relu_output_0",
        false,
    ),
    ("grelu_convtransformer", "grelu_convtransformer", H, false),
    (
        "grelu_convtransformer_nonorm",
        "grelu_convtransformer_nonorm",
        H,
        false,
    ),
    ("enformer", "enformer_cf", H_ENFORMER, true),
    ("enformer", "enformer_cl", H_ENFORMER, true),
];

fn model_path(name: &str) -> String {
    fixture(&format!("attention/{name}.onnx"))
}

/// The network and the plan for H at the tower's output.
fn network_at(name: &str, h: &str, sum: bool) -> (Network, Plan) {
    against_reference::network_at(&model_path(name), h, sum.then_some(Reduce::Sum))
}

#[test]
fn scores_and_gradients_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_onnx.h5")).unwrap();
    for (group, name, hname, sum) in CASES {
        let r = Reference::read(&f.group(group).unwrap(), "h", "scores", "grads");
        let (net, plan) = network_at(name, hname, sum);
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), name);
    }
}

#[test]
fn inspect_marks_h_at_the_tower_and_not_inside_attention() {
    let table = Inspect::of(&model_path(MODELS[0]));
    let row = |needle: &str| table.row(needle);
    // H ok at the tower's output (the first LayerNorm's input); not after
    // it, where the residual path bypasses the block.
    let ln = row("blocks.0/norm/layer/LayerNormalization ");
    assert!(ln.contains(" all "), "{ln}");
    assert!(row("mha/to_q/MatMul ").contains(" - "), "{}", row("to_q"));
    let att = row(" attention ");
    assert!(att.contains("2 heads"), "{att}");
    // Inside the block (three inputs) and after it, before the residual Add, no cut.
    assert!(att.contains(" - "), "{att}");
    assert!(
        row("mha/to_out/MatMul ").contains(" - "),
        "{}",
        row("to_out")
    );
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    for (name, h, extra, sum) in [
        (MODELS[0], H, &[][..], false),
        ("enformer_cl", H_ENFORMER, &["--reduce", "sum"][..], true),
    ] {
        rescore_and_match_ranks(&model_path(name), h, extra, sum.then_some(Reduce::Sum));
    }
}

/// The attention and window-softmax layers survive the native format: the
/// Enformer read from ONNX, saved and read back, is the same spec.
#[test]
fn enformer_round_trips_through_the_native_format() {
    let spec = load_model(Path::new(&model_path("enformer_cf")), None).unwrap();
    let kinds: Vec<&str> = spec.layers.iter().map(|l| l.kind.kind_name()).collect();
    assert!(kinds.contains(&"attention") && kinds.contains(&"window_softmax"));
    let d = tmpdir("attention-native");
    let path = d.join("enformer.h5");
    let back = {
        // No child may inherit the open file (and its lock) while it is written.
        let _g = file_guard();
        deepresolve_mpi::model::native::save_native(&spec, &path).unwrap();
        load_model(&path, None).unwrap()
    };
    assert_eq!(back.layers, spec.layers);
    std::fs::remove_dir_all(&d).ok();
}

/// Enformer from its input: the tower (stem, convolution blocks, attention
/// pooling) gives PyTorch's H, and scores and dS_c/dx through the whole
/// model, the pools' window softmax included, match autograd's.
#[test]
fn enformer_from_the_input_matches_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_onnx.h5")).unwrap();
    let g = f.group("enformer").unwrap();
    let x: Vec<f32> = g.dataset("x").unwrap().read_raw().unwrap();
    let tower: Vec<f32> = g.dataset("tower").unwrap().read_raw().unwrap();
    let r = Reference::read(&g, "x", "x_scores", "x_grads");
    for name in ["enformer_cf", "enformer_cl"] {
        let spec = load_model(Path::new(&model_path(name)), None).unwrap();
        let t = against_reference::tensor(&spec, name, H_ENFORMER);
        let net = Network::new(&spec).unwrap();
        let got = net.forward_range(&x, r.n, 0, t).unwrap();
        let worst_t = got
            .iter()
            .zip(&tower)
            .fold(0f32, |a, (p, q)| a.max((p - q).abs() / q.abs().max(1e-2)));
        assert!(worst_t < 1e-4, "{name}: tower rel. err {worst_t}");
        let plan = Plan::at_tensor(&net, 0, "input", None, Some(Reduce::Sum)).unwrap();
        let what = format!("{name} from the input (tower {worst_t:.2e})");
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), &what);
    }
}
