//! gReLU's Borzoi (tests/fixtures/attention, made by make_borzoi.py): conv
//! tower, transformer and the U-net, whose nearest-neighbour Resize adds to
//! 1×1 convolutions of two earlier tower stages and feeds a depthwise
//! convolution. H is the third conv block's pre-pool output, the deepest cut
//! before the transformer (the U-net reads it too). `inspect` marks H valid
//! there and not at the pooled map after it; our scorer at PyTorch's H maps
//! (there, at the stem's output, and at the one-hot input) gives PyTorch's
//! pre-activation scores (rel. err < 1e-4) and autograd's dS_c/dH (1e-3); `run` under `mpirun -n 2` stores /ascent/score equal to the
//! scorer at the stored maps, and the same results as on 1 and 3 ranks, bit
//! for bit.
mod common;
use common::against_reference::{self, rescore_and_match_ranks, Inspect, Reference};
use common::*;
use deepresolve_mpi::network::{Network, Plan, Scorer};

const NAME: &str = "grelu_borzoi";
const H: &str = "/embedding/conv_tower/blocks.2/conv/Conv_output_0";

fn model_path() -> String {
    fixture(&format!("attention/{NAME}.onnx"))
}

fn network_at(h: &str) -> (Network, Plan) {
    against_reference::network_at(&model_path(), h, None)
}

/// (reference group, H): the deepest cut before the transformer, the stem's
/// output (the whole tower after it), and the model input.
const CASES: [(&str, &str); 3] = [
    ("grelu_borzoi", H),
    (
        "grelu_borzoi_stem",
        "/embedding/conv_tower/blocks.0/pool/layer/MaxPool_output_0",
    ),
    ("grelu_borzoi_input", "input"),
];

#[test]
fn scores_and_gradients_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_borzoi.h5")).unwrap();
    for (group, hname) in CASES {
        let g = f.group(group).unwrap();
        let maps = if g.dataset("h").is_ok() { "h" } else { "x" };
        let r = Reference::read(&g, maps, "scores", "grads");
        let (net, plan) = network_at(hname);
        r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), group);
    }
}

#[test]
fn inspect_marks_h_before_the_skips_and_not_after_the_pool() {
    let table = Inspect::of(&model_path());
    let row = |needle: &str| table.row(needle);
    // H = the pool's input (the pre-pool map the U-net reads): a cut.
    let pool = row("conv_tower/blocks.2/pool/layer/MaxPool ");
    assert!(pool.contains(" all "), "{pool}");
    // The pooled map: the U-net's skip bypasses it.
    let after = row("conv_tower/blocks.3/norm/layer/BatchNormalization ");
    assert!(after.contains(" - "), "{after}");
    assert!(row("mha/to_q/MatMul ").contains(" - "));
    let up = row("unet_tower/blocks.0/upsample/Resize ");
    assert!(up.contains("upsample1d") && up.contains("× 2"), "{up}");
    // The depthwise convolution, read as a full 32 → 32 one.
    let dw = row("unet_tower/blocks.0/sconv/depthwise/Conv ");
    assert!(dw.contains("32 filters × 3"), "{dw}");
    // After the last skip's Add, everything is a cut again.
    let last = row("unet_tower/blocks.1/sconv/depthwise/Conv ");
    assert!(last.contains(" all "), "{last}");
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    let shape = rescore_and_match_ranks(&model_path(), H, &[], None);
    assert_eq!((shape[2], shape[3]), (32, 32), "H shape");
}

/// Through the U-net (the upsampling added to a skip, the depthwise
/// convolution) the gradient agrees with central finite differences, at both
/// cuts.
#[test]
fn gradient_matches_finite_differences() {
    for (group, h) in &CASES[..2] {
        let (net, plan) = network_at(h);
        check_scorer(Scorer::with_plan(&net, plan, 3), group);
    }
}

/// `run` at the tower's pooled output, which the U-net's skip bypasses,
/// is refused naming the skip and the way out.
#[test]
fn run_after_the_skip_is_refused() {
    let d = tmpdir("attention-borzoi-refused");
    let out = d.join("r.h5");
    let path = model_path();
    let o = run_bin(
        &[
            "run",
            "--model",
            &path,
            "--layer",
            "/embedding/conv_tower/blocks.2/pool/layer/MaxPool_output_0",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        None,
        60,
    );
    let e = stderr_of(&o);
    assert!(!o.status.success(), "ran at a bypassed H");
    assert!(
        e.contains("H is not a cut")
            && e.contains("unet_tower/blocks.1/Add")
            && e.contains("skip connection"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).ok();
}
