//! Models as their upstream packages ship them (tests/fixtures/shipped,
//! made by make_fixtures.py): bpnet-lite's and chrombpnet-pytorch's
//! ChromBPNet, exported by torch.onnx.export at opset 17. Our scorer at the
//! framework's fixed maps H gives the framework's outputs (1e-4) and
//! autograd's dS/dH (1e-3); `run` under 2 ranks reports scores equal to the
//! model's at the maps it returns.
mod common;
use common::*;
use deepresolve_mpi::model::{load_model, load_model_sized, ModelSpec};
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use std::path::Path;

fn shipped(rel: &str) -> String {
    fixture(&format!("shipped/{rel}"))
}

fn read(g: &hdf5::Group, path: &str) -> (Vec<usize>, Vec<f32>) {
    let ds = g.dataset(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (ds.shape(), ds.read_raw::<f32>().unwrap())
}

fn attr_str(loc: &hdf5::Location, name: &str) -> String {
    let a = loc.attr(name).unwrap();
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

fn output_index(spec: &ModelSpec, name: &str) -> usize {
    spec.outputs
        .iter()
        .position(|o| o.name == name)
        .unwrap_or_else(|| panic!("no output {name}"))
}

/// (reference group, outputs)
const MODELS: [(&str, &[&str]); 2] = [
    ("chrombpnet_bpnetlite", &["profile", "counts"]),
    ("chrombpnet_pytorch", &["profile", "counts"]),
];

#[test]
fn shipped_models_score_as_the_framework_at_fixed_maps() {
    let r = hdf5::File::open(shipped("reference.h5")).unwrap();
    for (group, outs) in MODELS {
        let g = r.group(group).unwrap();
        let file = attr_str(&g, "onnx_file");
        let spec =
            load_model(Path::new(&shipped(&file)), None).unwrap_or_else(|e| panic!("{group}: {e}"));
        assert!(spec.unscorable.is_empty(), "{group}: {:?}", spec.unscorable);
        let net = Network::new(&spec).unwrap();
        let (hs, h) = read(&g, "h");
        let n = hs[0];
        let (k, w) = (hs[1], hs[2]);
        for out in outs {
            let what = format!("{group} {out}");
            let oi = output_index(&spec, out);
            let (_, want) = read(&g, &format!("out/{out}"));
            let got = net.forward_prefix(&h, n, spec.outputs[oi].tensor).unwrap();
            assert_close(&format!("{what}: output"), &got, &want, 1e-4);
            let gd = g.dataset(&format!("grad/{out}")).unwrap();
            let reduce = (attr_str(&gd, "reduce") == "sum").then_some(Reduce::Sum);
            let plan = Plan::at_tensor(&net, 0, "input", Some(oi), reduce)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut sc = Scorer::with_plan(&net, plan, n);
            let hp = layout::to_position_major(&h, n, k, w);
            let mut s = vec![0.0; n];
            let mut gp = vec![0.0; n * k * w];
            sc.score_grad(&hp, &vec![0; n], &mut s, &mut gp);
            let per = want.len() / n;
            let want_s: Vec<f32> = want.chunks(per).map(|c| c.iter().sum()).collect();
            assert_close(&format!("{what}: score"), &s, &want_s, 1e-4);
            let want_g = gd.read_raw::<f32>().unwrap();
            assert!(
                want_g.iter().any(|v| v.abs() > 1e-6),
                "{what}: zero gradient"
            );
            let grad = layout::to_channel_major(&gp, n, k, w);
            assert_close(&format!("{what}: gradient"), &grad, &want_g, 1e-3);
        }
    }
}

#[test]
fn models_saved_without_a_length_load_with_input_length() {
    // Keras 3, Input(shape=(None, 4)): refused without a length, with the way out.
    let m = shipped("keras_length_none.h5");
    let e = load_model(Path::new(&m), None).unwrap_err().to_string();
    assert!(
        e.contains("unspecified length") && e.contains("--input-length"),
        "{e}"
    );
    let r = hdf5::File::open(shipped("reference_keras.h5")).unwrap();
    let g = r.group("keras_length_none").unwrap();
    let spec = load_model_sized(Path::new(&m), None, None, Some(50)).unwrap();
    assert_eq!((spec.input_channels, spec.input_width), (4, 50));
    let net = Network::new(&spec).unwrap();
    let (hs, h) = read(&g, "h");
    let (n, k, w) = (hs[0], hs[1], hs[2]);
    let (_, want) = read(&g, "out");
    let got = net
        .forward_prefix(&h, n, spec.output_list()[0].tensor)
        .unwrap();
    assert_close("keras length None: output", &got, &want, 1e-4);
    let (_, grads) = read(&g, "grad");
    for c in 0..3 {
        let plan = Plan::at_tensor(&net, 0, "input", None, None).unwrap();
        let mut sc = Scorer::with_plan(&net, plan, n);
        let hp = layout::to_position_major(&h, n, k, w);
        let mut s = vec![0.0; n];
        let mut gp = vec![0.0; n * k * w];
        sc.score_grad(&hp, &vec![c; n], &mut s, &mut gp);
        let want_s: Vec<f32> = (0..n).map(|b| want[b * 3 + c]).collect();
        assert_close(&format!("keras class {c}: score"), &s, &want_s, 1e-4);
        let grad = layout::to_channel_major(&gp, n, k, w);
        let want_g = &grads[c * n * k * w..(c + 1) * n * k * w];
        assert_close(&format!("keras class {c}: gradient"), &grad, want_g, 1e-3);
    }
    // ONNX exported with a dynamic length: the same model as the fixed export.
    let d = shipped("chrombpnet_bpnetlite_dynamic.onnx");
    let e = load_model(Path::new(&d), None).unwrap_err().to_string();
    assert!(
        e.contains("dynamic length") && e.contains("--input-length"),
        "{e}"
    );
    let fixed = load_model(Path::new(&shipped("chrombpnet_bpnetlite.onnx")), None).unwrap();
    let dynamic = load_model_sized(Path::new(&d), None, None, Some(120)).unwrap();
    assert_eq!(dynamic.layers, fixed.layers);
    assert_eq!(dynamic.outputs, fixed.outputs);
    let e = load_model_sized(
        Path::new(&shipped("chrombpnet_bpnetlite.onnx")),
        None,
        None,
        Some(100),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("fixed at 120"), "{e}");
}

/// (model, --layer, --output, extra options)
const RUNS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "keras_length_none.h5",
        "conv1",
        "logits",
        &["--input-length", "50", "--classes", "0,2"],
    ),
    (
        "chrombpnet_bpnetlite.onnx",
        "input",
        "profile",
        &["--reduce", "sum"],
    ),
    ("chrombpnet_bpnetlite.onnx", "input", "counts", &[]),
    (
        "chrombpnet_pytorch.onnx",
        "input",
        "profile",
        &["--reduce", "sum"],
    ),
    ("chrombpnet_pytorch.onnx", "input", "counts", &[]),
];

#[test]
fn shipped_models_run_and_report_their_scores() {
    let d = tmpdir("shipped-runs");
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
            "100",
            "--quiet",
        ]);
        a.extend(extra.iter());
        let o = run_bin(&a, Some(2), 120);
        assert!(o.status.success(), "{model} {output}: {}", stderr_of(&o));
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
        let t = spec.output_list()[spec
            .output_list()
            .iter()
            .position(|o| o.name == *output)
            .unwrap()]
        .tensor;
        let net = Network::new(&spec).unwrap();
        let items = shape[0] * shape[1];
        let y = net.forward_range(&fim, items, 0, t).unwrap();
        let (k, w) = net.tensor_shape(t);
        // A squeezed profile is one flat track: its score sums every value.
        let (k, w) = if k * w == y.len() / items && extra.contains(&"--reduce") && k > 1 {
            (1, k * w)
        } else {
            (k, w)
        };
        for it in 0..items {
            let c = classes[it / shape[1]] as usize;
            let want: f32 = y[(it * k + c) * w..(it * k + c + 1) * w].iter().sum();
            assert!(
                (score[it] - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{model} {output}, item {it}: reported {} vs model {want}",
                score[it]
            );
        }
    }
}
