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
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
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
    let spec =
        load_model(Path::new(&model_path(name)), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let t = spec
        .tensor_names
        .iter()
        .find(|(n, _)| n == h)
        .map(|&(_, t)| t)
        .unwrap_or_else(|| panic!("{name}: no tensor {h}"));
    let net = Network::new(&spec).unwrap();
    let plan = Plan::at_tensor(&net, t, h, None, sum.then_some(Reduce::Sum)).unwrap();
    (net, plan)
}

#[test]
fn scores_and_gradients_match_pytorch() {
    let f = hdf5::File::open(fixture("attention/reference_onnx.h5")).unwrap();
    for (group, name, hname, sum) in CASES {
        let g = f.group(group).unwrap();
        let hd = g.dataset("h").unwrap();
        let shape = hd.shape();
        let (n, k, w) = (shape[0], shape[1], shape[2]);
        let h = layout::to_position_major(&hd.read_raw::<f32>().unwrap(), n, k, w);
        let scores: Vec<f32> = g.dataset("scores").unwrap().read_raw().unwrap();
        let classes = scores.len() / n;
        let grads: Vec<f32> = g.dataset("grads").unwrap().read_raw().unwrap();
        let grads = layout::to_position_major(&grads, n * classes, k, w);
        let (net, plan) = network_at(name, hname, sum);
        let mut sc = Scorer::with_plan(&net, plan, n);
        let m = sc.map_len();
        assert_eq!(m, k * w, "{name}: H size");
        let (mut worst_s, mut worst_g) = (0f32, 0f32);
        for c in 0..classes {
            let (mut s, mut gr) = (vec![0.0; n], vec![0.0; n * m]);
            sc.score_grad(&h, &vec![c; n], &mut s, &mut gr);
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
        eprintln!("{name}: worst score rel. err {worst_s:.2e}, gradient {worst_g:.2e}");
        assert!(worst_s < 1e-4, "{name}: score rel. err {worst_s}");
        assert!(worst_g < 1e-3, "{name}: gradient rel. err {worst_g}");
    }
}

#[test]
fn inspect_marks_h_at_the_tower_and_not_inside_attention() {
    let o = run_bin(&["inspect", &model_path(MODELS[0])], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle} in\n{text}"))
            .to_string()
    };
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

/// `run` under `mpirun -n RANKS` with H the tower's output; its stored
/// datasets.
fn run(name: &str, h: &str, extra: &[&str], ranks: usize) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
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
    a.extend(extra);
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
    for (name, h, extra, sum) in [
        (MODELS[0], H, &[][..], false),
        ("enformer_cl", H_ENFORMER, &["--reduce", "sum"][..], true),
    ] {
        run_and_rescore(name, h, extra, sum);
    }
}

fn run_and_rescore(name: &str, hname: &str, extra: &[&str], sum: bool) {
    let (fim, score, shape) = run(name, hname, extra, 2);
    let (c_n, t_n, k, w) = (shape[0], shape[1], shape[2], shape[3]);
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
        let (f, s, _) = run(name, hname, extra, ranks);
        assert!(f == fim && s == score, "{name}: {ranks} and 2 ranks differ");
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
    let xd = g.dataset("x").unwrap();
    let (n, k, w) = (xd.shape()[0], xd.shape()[1], xd.shape()[2]);
    let x: Vec<f32> = xd.read_raw().unwrap();
    let tower: Vec<f32> = g.dataset("tower").unwrap().read_raw().unwrap();
    let scores: Vec<f32> = g.dataset("x_scores").unwrap().read_raw().unwrap();
    let classes = scores.len() / n;
    let grads: Vec<f32> = g.dataset("x_grads").unwrap().read_raw().unwrap();
    let grads = layout::to_position_major(&grads, n * classes, k, w);
    for name in ["enformer_cf", "enformer_cl"] {
        let spec = load_model(Path::new(&model_path(name)), None).unwrap();
        let t = spec
            .tensor_names
            .iter()
            .find(|(s, _)| s == H_ENFORMER)
            .map(|&(_, t)| t)
            .unwrap();
        let net = Network::new(&spec).unwrap();
        let got = net.forward_range(&x, n, 0, t).unwrap();
        let worst_t = got
            .iter()
            .zip(&tower)
            .fold(0f32, |a, (p, q)| a.max((p - q).abs() / q.abs().max(1e-2)));
        assert!(worst_t < 1e-4, "{name}: tower rel. err {worst_t}");
        let plan = Plan::at_tensor(&net, 0, "input", None, Some(Reduce::Sum)).unwrap();
        let mut sc = Scorer::with_plan(&net, plan, n);
        let xp = layout::to_position_major(&x, n, k, w);
        let m = k * w;
        let (mut worst_s, mut worst_g) = (0f32, 0f32);
        for c in 0..classes {
            let (mut s, mut gr) = (vec![0.0; n], vec![0.0; n * m]);
            sc.score_grad(&xp, &vec![c; n], &mut s, &mut gr);
            for i in 0..n {
                let want = scores[i * classes + c];
                worst_s = worst_s.max((s[i] - want).abs() / want.abs().max(1e-2));
                let gw = &grads[(c * n + i) * m..(c * n + i + 1) * m];
                let gmax = gw.iter().fold(0f32, |a, v| a.max(v.abs()));
                for (a, b) in gr[i * m..(i + 1) * m].iter().zip(gw) {
                    worst_g = worst_g.max((a - b).abs() / gmax);
                }
            }
        }
        eprintln!("{name} from the input: tower {worst_t:.2e}, score {worst_s:.2e}, gradient {worst_g:.2e}");
        assert!(worst_s < 1e-4, "{name}: score rel. err {worst_s}");
        assert!(worst_g < 1e-3, "{name}: gradient rel. err {worst_g}");
    }
}
