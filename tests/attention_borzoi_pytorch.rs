//! borzoi-pytorch 0.4.2's transformer layer (tests/fixtures/attention, made
//! by make_borzoi_pytorch.py, dynamo export): its strided relative shift
//! (Unsqueeze, MatMul with the 8191 positional keys, a flatten across the
//! batch and a Gather) is read into the attention layer. Our scorer at
//! PyTorch's H maps (the stem's output) and at the one-hot input gives
//! PyTorch's scores (rel. err < 1e-4) and autograd's dS_c/dH (1e-3); the
//! gradient agrees with finite differences (the feed-forward ReLU made a
//! softplus, see below); `inspect` marks H; `run` under
//! `mpirun -n 2` rescores and matches 1 and 3 ranks bit for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::model::{load_model, Activation, LayerKind};
use deepresolve_mpi::network::{Network, Plan, Scorer};
use std::path::Path;

const H: &str = "max_pool1d";

fn model_path() -> String {
    fixture("attention/borzoi_pytorch.onnx")
}

#[test]
fn scores_and_gradients_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_borzoi_pytorch.h5")).unwrap();
    for (group, h) in [("borzoi_pytorch", H), ("borzoi_pytorch_input", "input")] {
        let g = f.group(group).unwrap();
        let maps = if g.dataset("h").is_ok() { "h" } else { "x" };
        let r = Reference::read(&g, maps, "scores", "grads");
        let (net, plan) = against_reference::network_at(&model_path(), h, None);
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), group);
    }
}

/// Finite differences on the fixture's network with its one ReLU (the
/// feed-forward block's, 128 positions × 32 units) made a softplus. With the
/// ReLU, each coordinate of H moves all 4096 of its inputs (through attention
/// and LayerNorm), so within the step there are kinks on both sides of the
/// point whose slope jumps cancel in the one-sided differences: check_scorer
/// cannot tell them from curvature, and the central difference misses
/// autograd's gradient by up to 2 % at step 3e-3 (it converges to it as the
/// step shrinks). The smooth network keeps every op the gradient of this
/// model goes through — the attention with its strided-shift rows, the
/// LayerNorms, the residuals — and is checked at the project's tolerance; the
/// ReLU itself is checked against PyTorch above and in tests/gradients.rs.
#[test]
fn gradient_matches_finite_differences() {
    let mut spec = load_model(Path::new(&model_path()), None).unwrap();
    let mut relus = 0;
    for l in spec.layers.iter_mut() {
        if let LayerKind::Activation(a)
        | LayerKind::Dense { activation: a, .. }
        | LayerKind::Conv1D { activation: a, .. } = &mut l.kind
        {
            if matches!(a, Activation::Relu) {
                *a = Activation::Softplus;
                relus += 1;
            }
        }
    }
    assert_eq!(relus, 1, "the fixture's feed-forward ReLU");
    let t = against_reference::tensor(&spec, "borzoi_pytorch", H);
    let net = Network::new(&spec).unwrap();
    let plan = Plan::at_tensor(&net, t, H, None, None).unwrap();
    check_scorer(
        Scorer::with_plan(&net, plan, 3),
        "borzoi_pytorch (softplus)",
    );
}

#[test]
fn inspect_marks_h_at_the_stem() {
    let table = Inspect::of(&model_path());
    assert!(
        table.row("node_einsum_1 ").contains("attention"),
        "{}",
        table.text
    );
    assert!(
        table.row("node_layer_norm ").contains(" all "),
        "{}",
        table.text
    );
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    // In-process rescoring beside the other tests' scorers (see common::BLAS_ONE_THREAD).
    let shape = rescore_and_match_ranks(&model_path(), H, &[], None);
    assert_eq!((shape[2], shape[3]), (16, 128), "H shape");
}
