//! borzoi-pytorch 0.4.2's transformer layer (tests/fixtures/attention, made
//! by make_borzoi_pytorch.py, dynamo export): its strided relative shift
//! (Unsqueeze, MatMul with the 8191 positional keys, a flatten across the
//! batch and a Gather) is read into the attention layer. Our scorer at
//! PyTorch's H maps (the stem's output) and at the one-hot input gives
//! PyTorch's scores (rel. err < 1e-4) and autograd's dS_c/dH (1e-3); the
//! gradient agrees with finite differences; `inspect` marks H; `run` under
//! `mpirun -n 2` rescores and matches 1 and 3 ranks bit for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::network::Scorer;

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

#[test]
fn gradient_matches_finite_differences() {
    let (net, plan) = against_reference::network_at(&model_path(), H, None);
    check_scorer(Scorer::with_plan(&net, plan, 3), "borzoi_pytorch");
}

#[test]
fn inspect_marks_h_at_the_stem() {
    let table = Inspect::of(&model_path());
    assert!(table.row("node_einsum_1 ").contains("attention"), "{}", table.text);
    assert!(table.row("node_layer_norm ").contains(" all "), "{}", table.text);
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    let shape = rescore_and_match_ranks(&model_path(), H, &[], None);
    assert_eq!((shape[2], shape[3]), (16, 128), "H shape");
}
