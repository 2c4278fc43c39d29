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
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
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

fn tensor(spec: &deepresolve_mpi::model::ModelSpec, name: &str, h: &str) -> usize {
    spec.tensor_names
        .iter()
        .find(|(n, _)| n == h)
        .map(|&(_, t)| t)
        .unwrap_or_else(|| panic!("{name}: no tensor {h}"))
}

fn network_at(name: &str, h: &str, sum: bool) -> (Network, Plan) {
    let spec =
        load_model(Path::new(&model_path(name)), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let t = tensor(&spec, name, h);
    let net = Network::new(&spec).unwrap();
    let plan = Plan::at_tensor(&net, t, h, None, sum.then_some(Reduce::Sum)).unwrap();
    (net, plan)
}

/// Worst relative errors of scores and dS_c/dH (per item, relative to its
/// largest reference gradient) over every class.
fn compare(
    sc: &mut Scorer,
    h: &[f32],
    n: usize,
    scores: &[f32],
    grads: &[f32],
    name: &str,
) -> (f32, f32) {
    let m = sc.map_len();
    let classes = scores.len() / n;
    let (mut worst_s, mut worst_g) = (0f32, 0f32);
    for c in 0..classes {
        let (mut s, mut gr) = (vec![0.0; n], vec![0.0; n * m]);
        sc.score_grad(h, &vec![c; n], &mut s, &mut gr);
        for i in 0..n {
            let want = scores[i * classes + c];
            worst_s = worst_s.max((s[i] - want).abs() / want.abs().max(1e-2));
            let gw = &grads[(c * n + i) * m..(c * n + i + 1) * m];
            let gmax = gw.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!(gmax > 1e-6, "{name}: reference gradient is zero");
            for (a, b) in gr[i * m..(i + 1) * m].iter().zip(gw) {
                worst_g = worst_g.max((a - b).abs() / gmax);
            }
        }
    }
    (worst_s, worst_g)
}

#[test]
fn scores_and_gradients_at_the_tower_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_grelu_enformer.h5")).unwrap();
    for (group, name, hname, sum) in CASES {
        let g = f.group(group).unwrap();
        let hd = g.dataset("h").unwrap();
        let (n, k, w) = (hd.shape()[0], hd.shape()[1], hd.shape()[2]);
        let h = layout::to_position_major(&hd.read_raw::<f32>().unwrap(), n, k, w);
        let scores: Vec<f32> = g.dataset("scores").unwrap().read_raw().unwrap();
        let classes = scores.len() / n;
        assert_eq!(classes, 2);
        let grads: Vec<f32> = g.dataset("grads").unwrap().read_raw().unwrap();
        let grads = layout::to_position_major(&grads, n * classes, k, w);
        let (net, plan) = network_at(name, hname, sum);
        let mut sc = Scorer::with_plan(&net, plan, n);
        assert_eq!(sc.map_len(), k * w, "{name}: H size");
        let (ws, wg) = compare(&mut sc, &h, n, &scores, &grads, name);
        eprintln!("{name}: worst score rel. err {ws:.2e}, gradient {wg:.2e}");
        assert!(ws < 1e-4, "{name}: score rel. err {ws}");
        assert!(wg < 1e-3, "{name}: gradient rel. err {wg}");
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
        let xd = g.dataset("x").unwrap();
        let (n, k, w) = (xd.shape()[0], xd.shape()[1], xd.shape()[2]);
        let x: Vec<f32> = xd.read_raw().unwrap();
        let tower: Vec<f32> = g.dataset("tower").unwrap().read_raw().unwrap();
        let scores: Vec<f32> = g.dataset("x_scores").unwrap().read_raw().unwrap();
        let classes = scores.len() / n;
        let grads: Vec<f32> = g.dataset("x_grads").unwrap().read_raw().unwrap();
        let grads = layout::to_position_major(&grads, n * classes, k, w);
        let spec = load_model(Path::new(&model_path(name)), None).unwrap();
        let t = tensor(&spec, name, hname);
        let net = Network::new(&spec).unwrap();
        let got = net.forward_range(&x, n, 0, t).unwrap();
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
        let mut sc = Scorer::with_plan(&net, plan, n);
        let xp = layout::to_position_major(&x, n, k, w);
        let (ws, wg) = compare(&mut sc, &xp, n, &scores, &grads, name);
        eprintln!("{name} from the input: tower {worst_t:.2e}, score {ws:.2e}, gradient {wg:.2e}");
        assert!(ws < 1e-4, "{name}: score rel. err {ws}");
        assert!(wg < 1e-3, "{name}: gradient rel. err {wg}");
    }
}

#[test]
fn inspect_marks_h_at_the_tower_and_not_inside_attention() {
    let o = run_bin(&["inspect", &model_path("grelu_enformer")], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle} in\n{text}"))
            .to_string()
    };
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

/// `run` under `mpirun -n RANKS` with H the tower's output; its stored
/// datasets.
fn run(name: &str, h: &str, sum: bool, ranks: usize) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let d = tmpdir(&format!("attention-{name}-n{ranks}"));
    let out = d.join("r.h5");
    let path = model_path(name);
    let mut a = vec![
        "run",
        "--model",
        &path,
        "--layer",
        h,
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
    if sum {
        a.extend(["--reduce", "sum"]);
    }
    let o = run_bin(&a, Some(ranks), 180);
    assert!(o.status.success(), "{name}: {}", stderr_of(&o));
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
    for (_, name, hname, sum) in [CASES[0], CASES[2]] {
        run_and_rescore(name, hname, sum);
    }
}

fn run_and_rescore(name: &str, hname: &str, sum: bool) {
    let (fim, score, shape) = run(name, hname, sum, 2);
    let (c_n, t_n, k, w) = (shape[0], shape[1], shape[2], shape[3]);
    assert_eq!((c_n, k, w), (2, 48, 8), "{name}: stored shape {shape:?}");
    let items = c_n * t_n;
    let (net, plan) = network_at(name, hname, sum);
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let h = layout::to_position_major(&fim, items, k, w);
    for i in 0..items {
        let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
        sc.score_grad(&h[i * k * w..(i + 1) * k * w], &[i / t_n], &mut s, &mut g);
        assert!(
            (score[i] - s[0]).abs() <= 1e-4 * s[0].abs().max(1e-2),
            "{name} item {i}: stored {} vs scorer {}",
            score[i],
            s[0]
        );
    }
    for ranks in [1, 3] {
        let (f, s, _) = run(name, hname, sum, ranks);
        assert!(f == fim && s == score, "{name}: {ranks} and 2 ranks differ");
    }
}

/// The track model: gReLU's crop (ConstantPad1d with a negative width, a Pad
/// with negative pads) is a crop of positions, and the score leaves out the
/// head's softplus.
#[test]
fn inspect_reads_the_track_head() {
    let o = run_bin(&["inspect", &model_path("grelu_enformer_tracks")], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle} in\n{text}"))
            .to_string()
    };
    let crop = row("/embedding/crop/layer/Pad ");
    assert!(crop.contains("crop1d") && crop.contains("96 × 6"), "{crop}");
    assert_eq!(text.matches(" attention ").count(), 2, "{text}");
    let out = row("  0: out ");
    assert!(
        out.contains("needs --reduce") && out.contains("leaves out the softplus"),
        "{out}"
    );
}
