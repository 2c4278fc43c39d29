//! Linear layers read as issue 23 asks (tests/fixtures/shipped, made by
//! make_dense_fixtures.py and make_keras_dense_fixtures.py): grelu's
//! ConvMLPModel (Reshape to (N, 1, C·W) + MatMul), a PyTorch nn.Linear at
//! every position (Transpose + MatMul + Add), a Keras 3 Basenji-style model
//! with Dense track heads saved with length None, and two-head Keras and ONNX
//! models whose other head cannot be read; and a Sei-shaped model (its
//! B-spline transformation is a MatMul over positions, make_sei_fixtures.py)
//! from both exporters, and a LegNet-shaped one (depthwise convolutions,
//! squeeze-and-excitation gates: a map times a per-channel vector,
//! make_legnet_fixtures.py). Our scores at the framework's fixed
//! maps equal its pre-activation outputs (1e-4) and dS/dH its autograd / jax
//! gradients (1e-3); each `run`s under 2 ranks with stored scores equal to
//! ours at the stored maps.
mod common;
use common::*;
use deepresolve_mpi::model::{load_model_sized, Activation, LayerKind, ModelSpec};
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use std::path::Path;

fn shipped(rel: &str) -> String {
    fixture(&format!("shipped/{rel}"))
}

fn read(g: &hdf5::Group, path: &str) -> (Vec<usize>, Vec<f32>) {
    let ds = g.dataset(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (ds.shape(), ds.read_raw::<f32>().unwrap())
}

fn attr_str(g: &hdf5::Group, name: &str) -> String {
    let a = g.attr(name).unwrap();
    a.read_scalar::<hdf5::types::VarLenUnicode>()
        .map(|s| s.to_string())
        .or_else(|_| {
            a.read_scalar::<hdf5::types::VarLenAscii>()
                .map(|s| s.to_string())
        })
        .unwrap_or_else(|e| panic!("attribute {name}: {e}"))
}

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-3);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * scale,
            "{what}: [{i}] ours {g} vs framework {w} (scale {scale})"
        );
    }
}

/// (reference file, group, input length for --input-length, output name)
const MODELS: [(&str, &str, Option<usize>, Option<&str>); 8] = [
    ("reference_dense.h5", "convmlp_grelu", None, None),
    ("reference_sei.h5", "sei_torchscript", None, None),
    ("reference_sei.h5", "sei_dynamo", None, None),
    ("reference_legnet.h5", "legnet_torchscript", None, None),
    ("reference_legnet.h5", "legnet_dynamo", None, None),
    ("reference_dense.h5", "linear_head", None, None),
    ("reference_keras_dense.h5", "basenji_dense", Some(64), None),
    (
        "reference_keras_dense.h5",
        "keras_two_heads",
        None,
        Some("tracks"),
    ),
];

fn load(g: &hdf5::Group, length: Option<usize>) -> (String, ModelSpec) {
    let file = if g.attr("onnx_file").is_ok() {
        attr_str(g, "onnx_file")
    } else {
        attr_str(g, "file")
    };
    let m = shipped(&file);
    let spec = load_model_sized(Path::new(&m), None, None, length)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    (file, spec)
}

/// The spec without the output's softplus (Basenji's), which S_c leaves out:
/// the frameworks' references are pre-activation.
fn pre_activation(mut spec: ModelSpec, t: usize) -> ModelSpec {
    if let LayerKind::Conv1D { activation, .. } = &mut spec.layers[t - 1].kind {
        if *activation == Activation::Softplus {
            *activation = Activation::Linear;
        }
    }
    spec
}

fn output_tensor(spec: &ModelSpec, name: Option<&str>) -> (Option<usize>, usize) {
    let outs = spec.output_list();
    let i = name.map(|n| outs.iter().position(|o| o.name == n).unwrap());
    (i, outs[i.unwrap_or(0)].tensor)
}

fn spec_h(model: &str, layer: &str, length: Option<usize>) -> usize {
    let spec = load_model_sized(Path::new(model), None, None, length).unwrap();
    spec.layers
        .iter()
        .find(|l| l.name == layer)
        .map_or(0, |l| l.inputs[0])
}

/// The tensor before a final Sigmoid node (Sei's), which S_c leaves out:
/// the references are pre-activation.
fn before_sigmoid(spec: &ModelSpec, t: usize) -> usize {
    match &spec.layers[t - 1] {
        l if l.kind == LayerKind::Activation(Activation::Sigmoid) => l.inputs[0],
        _ => t,
    }
}

#[test]
fn per_position_and_flattened_linear_heads_score_as_the_framework() {
    for (refs, group, length, output) in MODELS {
        let r = hdf5::File::open(shipped(refs)).unwrap();
        let g = r.group(group).unwrap();
        let (file, spec) = load(&g, length);
        let (oi, t) = output_tensor(&spec, output);
        let t = before_sigmoid(&spec, t);
        let net = Network::new(&pre_activation(spec, t)).unwrap();
        let (hs, h) = read(&g, "h");
        let (n, k, w) = (hs[0], hs[1], hs[2]);
        let (os, want) = read(&g, "out");
        let (classes, positions) = (os[1], os[2]);
        let got = net.forward_prefix(&h, n, t).unwrap();
        assert_close(&format!("{file}: output"), &got, &want, 1e-4);
        let (_, grads) = read(&g, "grad");
        let reduce = (positions > 1).then_some(Reduce::Sum);
        for c in 0..classes {
            let what = format!("{file} class {c}");
            let plan = Plan::at_tensor(&net, 0, "input", oi, reduce)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut sc = Scorer::with_plan(&net, plan, n);
            let hp = layout::to_position_major(&h, n, k, w);
            let mut s = vec![0.0; n];
            let mut gp = vec![0.0; n * k * w];
            sc.score_grad(&hp, &vec![c; n], &mut s, &mut gp);
            let want_s: Vec<f32> = (0..n)
                .map(|b| {
                    let at = (b * classes + c) * positions;
                    want[at..at + positions].iter().sum()
                })
                .collect();
            assert_close(&format!("{what}: score"), &s, &want_s, 1e-4);
            let want_g = &grads[c * n * k * w..(c + 1) * n * k * w];
            assert!(
                want_g.iter().any(|v| v.abs() > 1e-6),
                "{what}: zero gradient"
            );
            let grad = layout::to_channel_major(&gp, n, k, w);
            assert_close(&format!("{what}: gradient"), &grad, want_g, 1e-3);
        }
    }
}

#[test]
fn linear_layers_become_dense_or_one_by_one_convolutions() {
    let kinds = |file: &str, length| -> Vec<String> {
        let s = load_model_sized(Path::new(&shipped(file)), None, None, length).unwrap();
        s.layers
            .iter()
            .map(|l| match &l.kind {
                LayerKind::Conv1D {
                    kernel_size: 1,
                    filters,
                    ..
                } => format!("conv1x1:{filters}"),
                LayerKind::Dense { units, .. } => format!("dense:{units}"),
                LayerKind::Flatten { order } => format!("flatten:{order:?}"),
                k => k.kind_name().to_string(),
            })
            .collect()
    };
    // grelu's MLP head: a channel-major flatten, then Dense layers.
    let mlp = kinds("convmlp_grelu.onnx", None);
    let at = mlp
        .iter()
        .position(|k| k == "flatten:ChannelMajor")
        .unwrap();
    assert_eq!(mlp[at + 1], "dense:8", "{mlp:?}");
    assert!(mlp.contains(&"dense:3".to_string()), "{mlp:?}");
    let lin = kinds("linear_head.onnx", None);
    assert!(lin.contains(&"conv1x1:6".to_string()), "{lin:?}");
    assert!(lin.contains(&"conv1x1:3".to_string()), "{lin:?}");
    // Sei's B-spline transformation: a map over positions, then the
    // channel-major flatten of its (N, C, 16) output.
    for file in ["sei_torchscript.onnx", "sei_dynamo.onnx"] {
        let sei = kinds(file, None);
        let at = sei.iter().position(|k| k == "position_mix").unwrap();
        assert_eq!(sei[at + 1], "flatten:ChannelMajor", "{file}: {sei:?}");
    }
    let b = kinds("basenji_dense.keras", Some(64));
    assert_eq!(b[b.len() - 2..], ["conv1x1:6", "conv1x1:3"], "{b:?}");
}

/// (model, --layer, --output, extra options)
const RUNS: [(&str, &str, &str, &[&str]); 5] = [
    ("convmlp_grelu.onnx", "input", "out", &["--classes", "0,2"]),
    (
        "sei_torchscript.onnx",
        "/dconv.1/dconv.1.1/Conv",
        "out",
        &["--classes", "1,3"],
    ),
    ("linear_head.onnx", "input", "out", &["--reduce", "sum"]),
    (
        "basenji_dense.keras",
        "stem",
        "tracks",
        &[
            "--input-length",
            "64",
            "--reduce",
            "sum",
            "--classes",
            "1,2",
        ],
    ),
    (
        "keras_two_heads.keras",
        "conv",
        "tracks",
        &["--reduce", "sum"],
    ),
];

#[test]
fn linear_head_models_run_and_report_their_scores() {
    let d = tmpdir("dense-runs");
    for (i, (model, layer, output, extra)) in RUNS.iter().enumerate() {
        let m = shipped(model);
        let out = d.join(format!("r{i}.h5"));
        let mut a = run_base(&m, layer, out.to_str().unwrap());
        a.extend([
            "--output",
            output,
            "--restarts",
            "3",
            "--max-steps",
            "60",
            "--quiet",
        ]);
        a.extend(extra.iter());
        let o = run_bin(&a, Some(2), 120);
        assert!(o.status.success(), "{model}: {}", stderr_of(&o));
        let f = hdf5::File::open(&out).unwrap();
        let ds = f.dataset("ascent/fim").unwrap();
        let shape = ds.shape();
        let fim = ds.read_raw::<f32>().unwrap();
        let score = f
            .dataset("ascent/score")
            .unwrap()
            .read_raw::<f32>()
            .unwrap();
        let classes = f
            .dataset("classes/index")
            .unwrap()
            .read_raw::<i64>()
            .unwrap();
        let length = extra
            .iter()
            .skip_while(|s| **s != "--input-length")
            .nth(1)
            .map(|v| v.parse().unwrap());
        let spec = load_model_sized(Path::new(&m), None, None, length).unwrap();
        let (_, t) = output_tensor(&spec, Some(output));
        let t = before_sigmoid(&spec, t);
        let net = Network::new(&pre_activation(spec, t)).unwrap();
        let items = shape[0] * shape[1];
        // H: the model input, or the input of the layer named.
        let h = spec_h(&m, layer, length);
        let y = net.forward_range(&fim, items, h, t).unwrap();
        let (k, w) = net.tensor_shape(t);
        assert!(y.iter().all(|v| v.is_finite()), "{model}");
        for it in 0..items {
            let c = classes[it / shape[1]] as usize;
            let want: f32 = y[(it * k + c) * w..(it * k + c + 1) * w].iter().sum();
            assert!(
                (score[it] - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{model}, item {it}: reported {} vs model {want}",
                score[it]
            );
        }
    }
}

#[test]
fn a_head_we_cannot_read_is_pruned_and_run_says_which_head_it_scores() {
    for (model, other, why) in [
        ("keras_two_heads.keras", "other", "UnitNormalization"),
        ("onnx_two_heads.onnx", "other", "CumSum"),
    ] {
        let m = shipped(model);
        let spec = load_model_sized(Path::new(&m), None, None, None)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let names: Vec<String> = spec.output_list().iter().map(|o| o.name.clone()).collect();
        assert_eq!(names, ["tracks"], "{model}");
        assert_eq!(spec.unscorable.len(), 1, "{model}");
        assert_eq!(spec.unscorable[0].name, other);
        assert!(
            spec.unscorable[0].reason.contains(why),
            "{model}: {:?}",
            spec.unscorable
        );
        let o = run_bin(&["inspect", &m], None, 60);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{model}: {}", stderr_of(&o));
        assert!(
            text.lines()
                .any(|l| l.contains(other) && l.contains("cannot be scored") && l.contains(why)),
            "{model}: {text}"
        );
        // Without --output the scorable head is taken, and said to be, with the skipped one.
        let d = tmpdir(&format!("prune-{other}-{}", model.len()));
        let out = d.join("r.h5");
        let layer = if model.ends_with(".onnx") {
            "input"
        } else {
            "conv"
        };
        let mut a = run_base(&m, layer, out.to_str().unwrap());
        a.extend([
            "--reduce",
            "sum",
            "--restarts",
            "2",
            "--max-steps",
            "10",
            "--quiet",
        ]);
        let o = run_bin(&a, Some(2), 120);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{model}: {err}");
        let said: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("scoring output tracks"))
            .collect();
        assert_eq!(said.len(), 1, "{model}: said once, by rank 0: {err}");
        assert!(
            said[0].contains(&format!("output {other} cannot be scored")) && said[0].contains(why),
            "{model}: {err}"
        );
        // With --output nothing more is said.
        a.extend(["--output", "tracks", "--overwrite"]);
        let o = run_bin(&a, Some(2), 120);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{model}: {err}");
        assert!(!err.contains("cannot be scored"), "{model}: {err}");
    }
}

#[test]
fn a_position_map_keeps_its_matrix_in_the_native_format() {
    let spec = load_model_sized(Path::new(&shipped("sei_dynamo.onnx")), None, None, None).unwrap();
    let d = tmpdir("sei-native");
    let path = d.join("sei.h5");
    // No child may start while the file is open for writing: it would
    // inherit the descriptor and its lock (see `file_guard`).
    let back = {
        let _g = file_guard();
        deepresolve_mpi::model::native::save_native(&spec, &path).unwrap();
        load_model_sized(&path, None, None, None).unwrap()
    };
    assert!(back.layers.iter().any(
        |l| matches!(&l.kind, LayerKind::PositionMix { to: 16, matrix } if matrix.len() == 64 * 16)
    ));
    assert_eq!(back.layers, spec.layers);
}
