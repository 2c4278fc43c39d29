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
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{layout, Network, Plan, Scorer};
use std::path::Path;

const NAME: &str = "grelu_borzoi";
const H: &str = "/embedding/conv_tower/blocks.2/conv/Conv_output_0";

fn model_path() -> String {
    fixture(&format!("attention/{NAME}.onnx"))
}

fn network_at(h: &str) -> (Network, Plan) {
    let spec = load_model(Path::new(&model_path()), None).unwrap();
    let t = spec
        .tensor_names
        .iter()
        .find(|(n, _)| n == h)
        .map(|&(_, t)| t)
        .unwrap_or_else(|| panic!("no tensor {h}"));
    let net = Network::new(&spec).unwrap();
    let plan = Plan::at_tensor(&net, t, h, None, None).unwrap();
    (net, plan)
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
        let hd = g.dataset("h").or_else(|_| g.dataset("x")).unwrap();
        let shape = hd.shape();
        let (n, k, w) = (shape[0], shape[1], shape[2]);
        let h = layout::to_position_major(&hd.read_raw::<f32>().unwrap(), n, k, w);
        let scores: Vec<f32> = g.dataset("scores").unwrap().read_raw().unwrap();
        let classes = scores.len() / n;
        let grads: Vec<f32> = g.dataset("grads").unwrap().read_raw().unwrap();
        let grads = layout::to_position_major(&grads, n * classes, k, w);
        let (net, plan) = network_at(hname);
        let mut sc = Scorer::with_plan(&net, plan, n);
        let m = sc.map_len();
        assert_eq!(m, k * w, "{group}: H size");
        let (mut worst_s, mut worst_g) = (0f32, 0f32);
        for c in 0..classes {
            let (mut s, mut gr) = (vec![0.0; n], vec![0.0; n * m]);
            sc.score_grad(&h, &vec![c; n], &mut s, &mut gr);
            for i in 0..n {
                let want = scores[i * classes + c];
                worst_s = worst_s.max((s[i] - want).abs() / want.abs().max(1e-2));
                let gw = &grads[(c * n + i) * m..(c * n + i + 1) * m];
                let gmax = gw.iter().fold(0f32, |a, v| a.max(v.abs()));
                assert!(gmax > 1e-6, "{group}: reference gradient is zero");
                for (a, b) in gr[i * m..(i + 1) * m].iter().zip(gw) {
                    worst_g = worst_g.max((a - b).abs() / gmax);
                }
            }
        }
        eprintln!("{group}: worst score rel. err {worst_s:.2e}, gradient {worst_g:.2e}");
        assert!(worst_s < 1e-4, "{group}: score rel. err {worst_s}");
        assert!(worst_g < 1e-3, "{group}: gradient rel. err {worst_g}");
    }
}

#[test]
fn inspect_marks_h_before_the_skips_and_not_after_the_pool() {
    let o = run_bin(&["inspect", &model_path()], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle} in\n{text}"))
            .to_string()
    };
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

/// `run` under `mpirun -n RANKS` with H the third block's pre-pool output;
/// its stored datasets.
fn run(ranks: usize) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let d = tmpdir(&format!("attention-borzoi-n{ranks}"));
    let out = d.join("r.h5");
    let path = model_path();
    let a = [
        "run",
        "--model",
        &path,
        "--layer",
        H,
        "--out",
        out.to_str().unwrap(),
        "--restarts",
        "3",
        "--max-steps",
        "20",
        "--batch",
        "2",
        "--quiet",
    ];
    let o = run_bin(&a, Some(ranks), 180);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let f = hdf5::File::open(&out).unwrap();
    let fim = f.dataset("ascent/fim").unwrap();
    let shape = fim.shape();
    let fim = fim.read_raw::<f32>().unwrap();
    let score = f
        .dataset("ascent/score")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    std::fs::remove_dir_all(&d).ok();
    (fim, score, shape)
}

#[test]
fn runs_under_mpirun_rescore_and_match_one_and_three_ranks() {
    let (fim, score, shape) = run(2);
    let (c_n, t_n, k, w) = (shape[0], shape[1], shape[2], shape[3]);
    assert_eq!((k, w), (32, 32), "H shape");
    let items = c_n * t_n;
    let (net, plan) = network_at(H);
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let h = layout::to_position_major(&fim, items, k, w);
    for i in 0..items {
        let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
        sc.score_grad(&h[i * k * w..(i + 1) * k * w], &[i / t_n], &mut s, &mut g);
        assert!(
            (score[i] - s[0]).abs() <= 1e-4 * s[0].abs().max(1e-2),
            "item {i}: stored {} vs scorer {}",
            score[i],
            s[0]
        );
    }
    for ranks in [1, 3] {
        let (f, s, _) = run(ranks);
        assert!(f == fim && s == score, "{ranks} and 2 ranks differ");
    }
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
