//! Recurrent models as their frameworks save them (tests/fixtures/recurrent,
//! made by make_keras.py and make_onnx.py): our scorer at the framework's H
//! maps gives the framework's pre-activation scores (rel. err < 1e-4) and
//! its autodiff gradients dS_c/dH (1e-3); and each model `run`s under
//! `mpirun -n 2`, its stored /ascent/score equal to the scorer at the
//! stored maps.
mod common;
use common::*;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{layout, Network, Plan, Scorer};

struct Reference {
    /// Position-major H maps, N × W × K.
    h: Vec<f32>,
    n: usize,
    /// N × classes.
    scores: Vec<f32>,
    /// classes × N × W × K, position-major.
    grads: Vec<f32>,
    classes: usize,
    layer: String,
}

fn reference(file: &str, group: &str) -> Reference {
    let f = hdf5::File::open(fixture(&format!("recurrent/{file}"))).unwrap();
    let g = f.group(group).unwrap();
    let hd = g.dataset("h").unwrap();
    let shape = hd.shape();
    let mut h: Vec<f32> = hd.read_raw().unwrap();
    let scores: Vec<f32> = g.dataset("scores").unwrap().read_raw().unwrap();
    let mut grads: Vec<f32> = g.dataset("grads").unwrap().read_raw().unwrap();
    let n = shape[0];
    let classes = scores.len() / n;
    let channel_major = g
        .attr("channel_major")
        .ok()
        .and_then(|a| a.read_scalar::<i64>().ok())
        == Some(1);
    if channel_major {
        // PyTorch's (N, C, W): the engine takes position-major maps.
        let (k, w) = (shape[1], shape[2]);
        h = layout::to_position_major(&h, n, k, w);
        grads = layout::to_position_major(&grads, n * classes, k, w);
    }
    let layer = g
        .attr("layer")
        .unwrap()
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .unwrap()
        .to_string();
    Reference {
        h,
        n,
        scores,
        grads,
        classes,
        layer,
    }
}

fn compare(model: &str, file: &str, group: &str) {
    let r = reference(file, group);
    let spec = load_model(
        std::path::Path::new(&fixture(&format!("recurrent/{model}"))),
        None,
    )
    .unwrap_or_else(|e| panic!("{model}: {e}"));
    let layer = spec
        .find_layer(&r.layer)
        .unwrap_or_else(|| panic!("{model}: no layer {}", r.layer));
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, layer, None, None).unwrap();
    let mut sc = Scorer::with_plan(&net, plan, r.n);
    let m = sc.map_len();
    assert_eq!(m * r.n, r.h.len(), "{model}: H size");
    let mut worst_s = 0f32;
    let mut worst_g = 0f32;
    for c in 0..r.classes {
        let classes = vec![c; r.n];
        let (mut s, mut g) = (vec![0.0; r.n], vec![0.0; r.n * m]);
        sc.score_grad(&r.h, &classes, &mut s, &mut g);
        for i in 0..r.n {
            let want = r.scores[i * r.classes + c];
            let err = (s[i] - want).abs() / want.abs().max(1e-2);
            worst_s = worst_s.max(err);
            let gw = &r.grads[(c * r.n + i) * m..(c * r.n + i + 1) * m];
            let gmax = gw.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!(gmax > 1e-6, "{model}: reference gradient is zero");
            for (a, b) in g[i * m..(i + 1) * m].iter().zip(gw) {
                worst_g = worst_g.max((a - b).abs() / gmax);
            }
        }
    }
    eprintln!("{model}: worst score rel. err {worst_s:.2e}, gradient {worst_g:.2e}");
    assert!(worst_s < 1e-4, "{model}: score rel. err {worst_s}");
    assert!(worst_g < 1e-3, "{model}: gradient rel. err {worst_g}");
}

#[test]
fn keras_danq_bidirectional_lstm_matches_jax() {
    compare("danq_keras.h5", "reference_keras.h5", "danq");
}

/// `.keras` archives keep a recurrent layer's weights in nested groups
/// (`cell`, `forward_layer`, `backward_layer`, a TimeDistributed's `layer`);
/// CREsted's DeepTopic-LSTM layout with its TimeDistributed(Dense), saved by
/// both Keras 3 writers (make_keras_archives.py).
#[test]
fn keras_archives_with_recurrent_and_time_distributed_layers_match_jax() {
    compare("deeptopic.keras", "reference_archives.h5", "deeptopic");
    compare("deeptopic_keras.h5", "reference_archives.h5", "deeptopic");
    compare("gru_lstm.keras", "reference_archives.h5", "gru_lstm");
}

#[test]
fn keras_gru_bidirectional_layer_norm_matches_jax() {
    compare("gru_keras.h5", "reference_keras.h5", "gru");
}

/// `run` under `mpirun -n 2`; /ascent/score must be our scorer's score at
/// the stored maps /ascent/fim (channel-major, C × T × K × W).
fn run_and_rescore(model: &str, layer: &str) {
    let d = tmpdir(&format!("recurrent-run-{}", model.replace('.', "_")));
    let path = fixture(&format!("recurrent/{model}"));
    let out = d.join("r.h5");
    let a = [
        "run",
        "--model",
        &path,
        "--layer",
        layer,
        "--out",
        out.to_str().unwrap(),
        "--restarts",
        "2",
        "--max-steps",
        "30",
        "--batch",
        "2",
        "--quiet",
    ];
    let o = run_bin(&a, Some(2), 180);
    assert!(o.status.success(), "{model}: {}", stderr_of(&o));
    let f = hdf5::File::open(&out).unwrap();
    let fim = f.dataset("ascent/fim").unwrap();
    let shape = fim.shape();
    let fim = fim.read_raw::<f32>().unwrap();
    let score = f
        .dataset("ascent/score")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    let (c_n, t_n, k, w) = (shape[0], shape[1], shape[2], shape[3]);
    let items = c_n * t_n;
    let spec = load_model(std::path::Path::new(&path), None).unwrap();
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, spec.find_layer(layer).unwrap(), None, None).unwrap();
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let h = layout::to_position_major(&fim, items, k, w);
    for i in 0..items {
        let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
        sc.score_grad(&h[i * k * w..(i + 1) * k * w], &[i / t_n], &mut s, &mut g);
        assert!(
            (score[i] - s[0]).abs() <= 1e-4 * s[0].abs().max(1e-2),
            "{model} item {i}: stored {} vs scorer {}",
            score[i],
            s[0]
        );
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn keras_recurrent_models_run_under_mpirun() {
    run_and_rescore("danq_keras.h5", "bilstm");
    run_and_rescore("gru_keras.h5", "gru_a");
    run_and_rescore("lstm_keras.h5", "lstm_a");
    run_and_rescore("deeptopic.keras", "td_dense");
}

/// Gates other than the sigmoid (Keras 2.2's hard_sigmoid default) are
/// refused with one error naming the layer and the setting, alone and under
/// `mpirun -n 2`.
#[test]
fn unsupported_gate_activation_is_refused_by_name() {
    let m = fixture("recurrent/refused_hard_sigmoid.h5");
    let d = tmpdir("recurrent-refused");
    let out = d.join("r.h5");
    expect_error(
        &run_base(&m, "hard_lstm", out.to_str().unwrap()),
        &["hard_lstm", "recurrent_activation", "hard_sigmoid"],
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn keras_lstm_go_backwards_and_averaged_gru_match_jax() {
    compare("lstm_keras.h5", "reference_keras.h5", "lstm");
}

#[test]
fn onnx_danq_bidirectional_lstm_matches_pytorch() {
    compare("danq.onnx", "reference_onnx.h5", "danq");
}

#[test]
fn onnx_grelu_convgru_summed_directions_and_layer_norm_match_pytorch() {
    compare("grelu_convgru.onnx", "reference_onnx.h5", "grelu_convgru");
}

#[test]
fn onnx_recurrent_models_run_under_mpirun() {
    run_and_rescore("danq.onnx", "/lstm/LSTM");
    run_and_rescore("grelu_convgru.onnx", "/embedding/gru_tower/gru/GRU");
}

/// `inspect` shows the recurrent nodes as the engine's layers: one
/// bidirectional layer each (concatenated for DanQ, summed for grelu).
#[test]
fn inspect_lists_the_onnx_recurrent_layers() {
    for (model, lines) in [
        (
            "danq.onnx",
            &[
                "/lstm/LSTM",
                "bidirectional",
                "lstm 5 units, forward, every position, concat",
            ][..],
        ),
        (
            "grelu_convgru.onnx",
            &[
                "/embedding/gru_tower/gru/GRU",
                "gru 8 units, forward, every position, sum",
                "/embedding/gru_tower/ffn/dense1/norm/layer/LayerNormalization",
                "layernorm",
            ][..],
        ),
    ] {
        let o = run_bin(
            &["inspect", &fixture(&format!("recurrent/{model}"))],
            None,
            60,
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{model}: {}", stderr_of(&o));
        for l in lines {
            assert!(out.contains(l), "{model}: no {l:?} in\n{out}");
        }
    }
}

/// Layouts PyTorch does not write (make_onnx_ops.py, node by node): a reverse
/// LSTM with layout 1, a GRU with linear_before_reset 0 read time-major, the
/// two directions of an LSTM sliced on Y's directions axis and added; and the
/// last states: a bidirectional GRU's Y_h gathered per direction, an LSTM's Y
/// at its last position beside a crop. Our forward pass gives the ONNX
/// reference evaluator's outputs.
#[test]
fn onnx_recurrent_layouts_match_the_onnx_reference() {
    let f = hdf5::File::open(fixture("recurrent/onnx_ops_reference.h5")).unwrap();
    for (model, kinds) in [
        ("lstm_reverse_layout1", &["lstm"][..]),
        ("gru_forward_reset_before", &["gru"][..]),
        ("lstm_bidirectional_dir_slices", &["bidirectional"][..]),
        ("gru_bidirectional_last_states", &["gru"][..]),
        (
            "lstm_last_position_and_crop",
            &["bidirectional", "crop1d"][..],
        ),
    ] {
        let g = f.group(model).unwrap();
        let x: Vec<f32> = g.dataset("x").unwrap().read_raw().unwrap();
        let want: Vec<f32> = g.dataset("out").unwrap().read_raw().unwrap();
        let n = g.dataset("x").unwrap().shape()[0];
        let path = fixture(&format!("recurrent/{model}.onnx"));
        let spec = load_model(std::path::Path::new(&path), None)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        for k in kinds {
            assert!(
                spec.layers.iter().any(|l| l.kind.kind_name() == *k),
                "{model}: no {k} layer"
            );
        }
        let net = Network::new(&spec).unwrap();
        let got = net.forward_prefix(&x, n, spec.outputs[0].tensor).unwrap();
        assert_eq!(got.len(), want.len(), "{model}");
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-5 * scale.max(1.0),
                "{model}: {got:?} vs {want:?}"
            );
        }
    }
}

/// A Keras recurrent or LayerNormalization layer whose weights cannot be
/// read (a dataset gone from the file) fails naming the layer and the weight.
#[test]
fn keras_recurrent_weights_that_cannot_be_read_name_the_layer() {
    let d = tmpdir("recurrent-missing-weight");
    for (model, weight, must) in [
        (
            "danq_keras.h5",
            "model_weights/bilstm/bilstm/backward_lstm/lstm_cell/kernel",
            &["layer bilstm", "backward_lstm/lstm_cell/kernel", "missing"][..],
        ),
        (
            "gru_keras.h5",
            "model_weights/gru_a/gru_a/gru_cell/bias",
            &["layer gru_a", "gru_cell/bias", "missing"][..],
        ),
        (
            "gru_keras.h5",
            "model_weights/ln/ln/gamma",
            &["layer ln", "gamma", "missing"][..],
        ),
    ] {
        let m = d.join(model);
        std::fs::copy(fixture(&format!("recurrent/{model}")), &m).unwrap();
        {
            let f = common::open_rw_waiting(&m);
            f.unlink(weight).unwrap();
        }
        let e = load_model(&m, None).unwrap_err().to_string();
        for s in must {
            assert!(e.contains(s), "{weight}: no {s:?} in {e}");
        }
    }
    std::fs::remove_dir_all(&d).ok();
}
