//! ONNX models (tests/fixtures/onnx, exported from PyTorch by make_fixtures.py)
//! computed by the network engine agree with PyTorch: the outputs from the
//! model input, the pre-activation logits, the outputs recomputed from each
//! cut tensor H, and dS/dH against autograd. The bad files give one clear error.
use deepresolve_mpi::model::{load_model, ModelSpec};
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

fn reference() -> hdf5::File {
    hdf5::File::open(fixture("reference.h5")).unwrap()
}

fn read(f: &hdf5::File, path: &str) -> (Vec<usize>, Vec<f32>) {
    let ds = f.dataset(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (ds.shape(), ds.read_raw::<f32>().unwrap())
}

fn attr_str(loc: &hdf5::Location, name: &str) -> String {
    let a = loc
        .attr(name)
        .unwrap_or_else(|e| panic!("attr {name}: {e}"));
    if let Ok(s) = a.read_scalar::<hdf5::types::VarLenUnicode>() {
        return s.as_str().to_string();
    }
    a.read_scalar::<hdf5::types::VarLenAscii>()
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|e| panic!("attr {name}: {e}"))
}

fn attr_strs(loc: &hdf5::Location, name: &str) -> Vec<String> {
    let a = loc.attr(name).unwrap();
    if let Ok(v) = a.read_raw::<hdf5::types::VarLenUnicode>() {
        return v.iter().map(|s| s.as_str().to_string()).collect();
    }
    a.read_raw::<hdf5::types::VarLenAscii>()
        .unwrap()
        .iter()
        .map(|s| s.as_str().to_string())
        .collect()
}

fn attr_int(loc: &hdf5::Location, name: &str) -> i64 {
    loc.attr(name).unwrap().read_scalar::<i64>().unwrap()
}

/// |got − want| ≤ tol · max |want| everywhere.
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: got {g}, want {w} (scale {scale})"
        );
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn tensor(spec: &ModelSpec, name: &str) -> usize {
    spec.tensor_names
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no tensor named {name}"))
        .1
}

fn load(file: &str) -> ModelSpec {
    load_model(&fixture(file), None).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Everything reference.h5 holds for one model.
fn check_model(group: &str) {
    let r = reference();
    let g = r.group(group).unwrap();
    let file = attr_str(&g, "onnx_file");
    let spec = load(&file);
    let net = Network::new(&spec).unwrap();
    let (shape, x) = read(&r, &format!("{group}/inputs"));
    let n = shape[0];
    assert_eq!(
        (shape[1], shape[2]),
        (spec.input_channels, spec.input_width)
    );
    assert_eq!(tensor(&spec, &attr_str(&g, "input")), 0);
    let outs = attr_strs(&g, "outputs");
    let names: Vec<&str> = spec.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, outs, "{group}: graph outputs");
    for (oi, out) in outs.iter().enumerate() {
        let t = spec.outputs[oi].tensor;
        let (_, want) = read(&r, &format!("{group}/outputs/{out}"));
        let got = net.forward_prefix(&x, n, t).unwrap();
        assert_close(&format!("{group} output {out}"), &got, &want, 1e-4);
        // The score tensor: the logits before a final sigmoid / softmax.
        let score_t = match g.dataset(&format!("pre/{out}")) {
            Ok(ds) => {
                let pt = tensor(&spec, &attr_str(&ds, "tensor"));
                let got = net.forward_prefix(&x, n, pt).unwrap();
                assert_close(
                    &format!("{group} pre-activation {out}"),
                    &got,
                    &ds.read_raw::<f32>().unwrap(),
                    1e-4,
                );
                pt
            }
            Err(_) => t,
        };
        for key in attr_strs(&g, "h_keys") {
            let hd = g.dataset(&format!("h/{key}")).unwrap();
            let hname = attr_str(&hd, "tensor");
            let ht = tensor(&spec, &hname);
            let h = hd.read_raw::<f32>().unwrap();
            let what = format!("{group} {out} from {hname}");
            // H itself from the input, then the score from H alone.
            assert_close(
                &format!("{what}: H"),
                &net.forward_prefix(&x, n, ht).unwrap(),
                &h,
                1e-4,
            );
            let (_, want) = read(&r, &format!("{group}/from_h/{key}/{out}"));
            let got = net.forward_range(&h, n, ht, score_t).unwrap();
            assert_close(&format!("{what}: forward"), &got, &want, 1e-4);
            // dS/dH against autograd (S summed over the items: per-item gradients).
            let gd = g.dataset(&format!("grad/{key}/{out}")).unwrap();
            let class = attr_int(&gd, "class") as usize;
            let reduce = (attr_str(&gd, "reduce") == "sum").then_some(Reduce::Sum);
            let plan = Plan::at_tensor(&net, ht, &hname, Some(oi), reduce)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut sc = Scorer::with_plan(&net, plan, n);
            let (k, w) = net.tensor_shape(ht);
            let hp = layout::to_position_major(&h, n, k, w);
            let mut s = vec![0.0; n];
            let mut gp = vec![0.0; n * k * w];
            sc.score_grad(&hp, &vec![class; n], &mut s, &mut gp);
            let grad = layout::to_channel_major(&gp, n, k, w);
            let want_g = gd.read_raw::<f32>().unwrap();
            assert!(
                want_g.iter().any(|v| v.abs() > 1e-6),
                "{what}: zero gradient"
            );
            assert_close(&format!("{what}: gradient"), &grad, &want_g, 1e-3);
            // The scores: the logit of the class, or its sum over positions.
            let (sk, sw) = net.tensor_shape(score_t);
            let want_s: Vec<f32> = (0..n)
                .map(|b| {
                    (0..sw)
                        .map(|p| want[(b * sk + class) * sw + p])
                        .sum::<f32>()
                })
                .collect();
            assert_close(&format!("{what}: scores"), &s, &want_s, 1e-4);
        }
    }
}

#[test]
fn beluga_matches_pytorch() {
    check_model("beluga");
}

#[test]
fn bpnet_matches_pytorch() {
    check_model("bpnet");
}

#[test]
fn bpnet_external_data_matches_pytorch() {
    check_model("bpnet_external");
    // The same weights as the model that holds them inside.
    let (a, b) = (load("bpnet.onnx"), load("bpnet_external.onnx"));
    assert_eq!(a.layers, b.layers);
    assert_eq!(a.outputs, b.outputs);
}

#[test]
fn gelu_batchnorm_matches_pytorch() {
    check_model("gelu_bn");
}

#[test]
fn gelu_opset20_matches_pytorch() {
    check_model("gelu_bn_opset20");
}

#[test]
fn misc_ops_match_pytorch() {
    check_model("misc_ops");
}

#[test]
fn misc_ops_folded_match_pytorch() {
    check_model("misc_ops_folded");
    // The pads sub-graph folds to the same model as its folded initializer.
    assert_eq!(
        load("misc_ops.onnx").layers,
        load("misc_ops_folded.onnx").layers
    );
}

fn kinds(spec: &ModelSpec) -> Vec<&'static str> {
    spec.layers.iter().map(|l| l.kind.kind_name()).collect()
}

#[test]
fn layers_names_and_structure() {
    let b = load("beluga.onnx");
    // Unsqueeze, Shape…Reshape are relabels or folded: only the real layers remain.
    assert_eq!(
        kinds(&b),
        [
            "conv1d",
            "activation",
            "conv1d",
            "activation",
            "maxpool1d",
            "conv1d",
            "activation",
            "conv1d",
            "activation",
            "maxpool1d",
            "conv1d",
            "activation",
            "conv1d",
            "activation",
            "flatten",
            "dense",
            "activation",
            "dense",
            "activation"
        ]
    );
    assert_eq!(b.layers[0].name, "/model/model.0/model.0.0/Conv");
    assert_eq!(tensor(&b, "/Unsqueeze_output_0"), 0);
    assert_eq!(tensor(&b, "out"), b.layers.len());
    // The GELU decompositions are one activation each, named by their last node.
    let g = load("gelu_bn.onnx");
    let acts: Vec<_> = g
        .layers
        .iter()
        .filter_map(|l| match l.kind {
            deepresolve_mpi::model::LayerKind::Activation(a) => Some((l.name.as_str(), a)),
            _ => None,
        })
        .collect();
    use deepresolve_mpi::model::Activation as A;
    assert_eq!(
        acts,
        [
            ("/act1/Mul_1", A::Gelu),
            ("/act2/Mul_5", A::GeluTanh),
            ("/act3/Elu", A::Elu),
            ("/act4/Softplus", A::Softplus)
        ]
    );
    // count_include_pad = 1 with zero pads is a plain valid average pool.
    assert!(kinds(&g).contains(&"avgpool1d") && !kinds(&g).contains(&"zeropad1d"));
    assert_eq!(kinds(&load("gelu_bn_opset20.onnx")), kinds(&g));
    // bpnet: "same" convolutions, crops, a mean over positions.
    let p = load("bpnet.onnx");
    assert_eq!(
        kinds(&p).iter().filter(|k| **k == "crop1d").count(),
        2,
        "{:?}",
        kinds(&p)
    );
    assert!(p.source.starts_with("onnx (ir_version 8, opset 17"));
}

#[test]
fn a_wrong_weight_order_would_be_caught() {
    // Mutation check: flipping one Conv's kernels or dropping a bias changes
    // the outputs far beyond the tolerance, so the tests above would fail.
    let r = reference();
    let (shape, x) = read(&r, "bpnet/inputs");
    let (_, want) = read(&r, "bpnet/outputs/profile");
    let spec = load("bpnet.onnx");
    let t = spec.outputs[0].tensor;
    let good = Network::new(&spec)
        .unwrap()
        .forward_prefix(&x, shape[0], t)
        .unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_diff(&good, &want) <= 1e-4 * scale);
    use deepresolve_mpi::model::LayerKind;
    let mut flipped = spec.clone();
    let mut no_bias = spec.clone();
    if let LayerKind::Conv1D {
        kernel,
        kernel_size,
        ..
    } = &mut flipped.layers[0].kind
    {
        for row in kernel.chunks_mut(*kernel_size) {
            row.reverse();
        }
    }
    if let LayerKind::Conv1D { bias, .. } = &mut no_bias.layers[0].kind {
        *bias = None;
    }
    for (what, s) in [("flipped kernel", flipped), ("dropped bias", no_bias)] {
        let bad = Network::new(&s)
            .unwrap()
            .forward_prefix(&x, shape[0], t)
            .unwrap();
        assert!(
            max_diff(&bad, &want) > 1e-2 * scale,
            "{what}: the reference would not notice"
        );
    }
}

fn load_err(file: &str) -> String {
    match load_model(&fixture(file), None) {
        Ok(_) => panic!("{file} loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{file}: one line: {msg}");
            assert!(
                msg.contains(Path::new(file).file_name().unwrap().to_str().unwrap()),
                "{file}: the message names the file: {msg}"
            );
            msg
        }
    }
}

#[test]
fn bad_files_give_one_clear_error() {
    let m = load_err("bad/truncated.onnx");
    assert!(m.contains("not an ONNX model"), "{m}");
    let m = load_err("bad/not_onnx.onnx");
    assert!(m.contains("not an ONNX model"), "{m}");
    let m = load_err("bad/unsupported_op.onnx");
    assert!(
        m.contains("layer gru: GRU (opset 17): its output out, laid out (1 directions, N, 3 hidden), is a graph output without the batch axis first")
            && m.contains("--output"),
        "{m}"
    );
    let m = load_err("bad/missing_external.onnx");
    assert!(
        m.contains("missing_external.onnx.data") && m.contains("conv.weight"),
        "{m}"
    );
}

#[test]
fn docs_list_exactly_the_ops_the_reader_maps() {
    let readme =
        std::fs::read_to_string(format!("{}/docs/models.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let section = &readme[readme.find("### ONNX models").expect("ONNX section")..];
    let start = section.find("- Ops on data").expect("the ops bullet");
    let bullet = &section[start..];
    let bullet = &bullet[..bullet.find(". Within them").expect("end of the list")];
    let mut listed: Vec<&str> = bullet.split('`').skip(1).step_by(2).collect();
    listed.retain(|s| *s != "tests/onnx.rs");
    listed.sort_unstable();
    assert_eq!(listed, deepresolve_mpi::model::onnx::ops_on_data());
}
