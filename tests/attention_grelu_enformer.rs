//! gReLU's EnformerModel (tests/fixtures/attention, made by
//! make_grelu_enformer.py), exported by the TorchScript exporter
//! (grelu_enformer) and by dynamo (grelu_enformer_dynamo, opset 18), and a
//! track model (grelu_enformer_tracks: two transformer layers, a crop,
//! tracks over positions behind a softplus, scored with `--reduce sum`),
//! with H the conv tower's output (after the last attention pool). `inspect` marks H
//! valid there and not inside the attention block; our scorer at PyTorch's H
//! maps gives PyTorch's pre-activation scores (rel. err < 1e-4) and
//! autograd's dS_c/dH (1e-3), and from the input through the whole model;
//! `run` under `mpirun -n 2` stores /ascent/score equal to the scorer at the
//! stored maps, and the same results as on 1 and 3 ranks, bit for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{Network, Plan, Reduce, Scorer};
use std::path::Path;

/// The conv tower's output, as each exporter names it.
const H: &str = "/embedding/conv_tower/blocks.2/blocks.2.1/pool/layer/ReduceSum_output_0";
const H_DYNAMO: &str = "sum_3";
/// (reference group, model file, H, whether the tracks are summed over positions).
const CASES: [(&str, &str, &str, bool); 3] = [
    ("grelu_enformer", "grelu_enformer", H, false),
    ("grelu_enformer", "grelu_enformer_dynamo", H_DYNAMO, false),
    ("grelu_enformer_tracks", "grelu_enformer_tracks", H, true),
];

fn model_path(name: &str) -> String {
    fixture(&format!("attention/{name}.onnx"))
}

fn network_at(name: &str, h: &str, sum: bool) -> (Network, Plan) {
    against_reference::network_at(&model_path(name), h, sum.then_some(Reduce::Sum))
}

#[test]
fn scores_and_gradients_at_the_tower_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_grelu_enformer.h5")).unwrap();
    for (group, name, hname, sum) in CASES {
        let r = Reference::read(&f.group(group).unwrap(), "h", "scores", "grads");
        assert_eq!(r.classes(), 2);
        let (net, plan) = network_at(name, hname, sum);
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), name);
    }
}

/// From the input: the tower (stem, gReLU's convolution blocks, attention
/// pooling) gives PyTorch's H, and scores and dS_c/dx through the whole
/// model match autograd's.
#[test]
fn from_the_input_matches_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_grelu_enformer.h5")).unwrap();
    for (group, name, hname, sum) in CASES {
        let g = f.group(group).unwrap();
        let x: Vec<f32> = g.dataset("x").unwrap().read_raw().unwrap();
        let tower: Vec<f32> = g.dataset("tower").unwrap().read_raw().unwrap();
        let r = Reference::read(&g, "x", "x_scores", "x_grads");
        let spec = load_model(Path::new(&model_path(name)), None).unwrap();
        let t = against_reference::tensor(&spec, name, hname);
        let net = Network::new(&spec).unwrap();
        let got = net.forward_range(&x, r.n, 0, t).unwrap();
        assert_eq!(got.len(), tower.len(), "{name}: tower size");
        // Relative to the largest value: the tower reaches ~130, so entries
        // near zero carry its rounding.
        let tmax = tower.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst_t = got
            .iter()
            .zip(&tower)
            .fold(0f32, |a, (p, q)| a.max((p - q).abs() / tmax));
        assert!(worst_t < 1e-4, "{name}: tower rel. err {worst_t}");
        let plan = Plan::at_tensor(&net, 0, "input", None, sum.then_some(Reduce::Sum)).unwrap();
        let what = format!("{name} from the input (tower {worst_t:.2e})");
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), &what);
    }
}

#[test]
fn inspect_marks_h_at_the_tower_and_not_inside_attention() {
    let table = Inspect::of(&model_path("grelu_enformer"));
    let row = |needle: &str| table.row(needle);
    // The tower's output (the first LayerNorm's input) is a cut …
    let ln = row("blocks.0/norm/layer/LayerNormalization ");
    assert!(ln.contains(" all "), "{ln}");
    // … and so is the output of each attention pool.
    let pool = row("blocks.2/blocks.2.1/pool/layer/ReduceSum/sum ");
    assert!(pool.contains(" all "), "{pool}");
    let att = row(" attention ");
    assert!(att.contains("2 heads"), "{att}");
    // Inside the block and after it, before the residual Add, no cut; nor
    // inside a pool's window softmax.
    assert!(att.contains(" - "), "{att}");
    for inside in [
        "mha/to_q/MatMul ",
        "mha/to_out/MatMul ",
        "blocks.2/blocks.2.1/pool/layer/Softmax ",
    ] {
        assert!(row(inside).contains(" - "), "{}", row(inside));
    }
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    for (_, name, hname, sum) in [CASES[0], CASES[2]] {
        let extra: &[&str] = if sum { &["--reduce", "sum"] } else { &[] };
        let reduce = sum.then_some(Reduce::Sum);
        let shape = rescore_and_match_ranks(&model_path(name), hname, extra, reduce);
        assert_eq!(
            (shape[0], shape[2], shape[3]),
            (2, 48, 8),
            "{name}: stored shape {shape:?}"
        );
    }
}

/// The track model: gReLU's crop (ConstantPad1d with a negative width, a Pad
/// with negative pads) is a crop of positions, and the score leaves out the
/// head's softplus.
#[test]
fn inspect_reads_the_track_head() {
    let table = Inspect::of(&model_path("grelu_enformer_tracks"));
    let row = |needle: &str| table.row(needle);
    let text = &table.text;
    let crop = row("/embedding/crop/layer/Pad ");
    assert!(crop.contains("crop1d") && crop.contains("96 × 6"), "{crop}");
    assert_eq!(text.matches(" attention ").count(), 2, "{text}");
    let out = row("  0: out ");
    assert!(
        out.contains("needs --reduce") && out.contains("leaves out the softplus"),
        "{out}"
    );
}
