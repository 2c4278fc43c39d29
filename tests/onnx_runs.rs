//! `run` on ONNX models exported from PyTorch: each finishes, and the scores
//! it reports equal the model's (pre-activation) output at the maps it
//! returns; bad ONNX files end every rank with one error.
mod common;
use common::*;
use deepresolve_mpi::model::{load_model, Activation, LayerKind};
use deepresolve_mpi::network::Network;

/// (model, --layer, extra options, reduce over positions)
const RUNS: [(&str, &str, &[&str], bool); 4] = [
    ("beluga.onnx", "/model/model.3/model.3.0/Conv", &[], false),
    (
        "bpnet.onnx",
        "/rconvs.2/Conv",
        &["--output", "counts"],
        false,
    ),
    (
        "bpnet.onnx",
        "/Add_1_output_0",
        &["--output", "profile", "--reduce", "sum"],
        true,
    ),
    ("gelu_bn.onnx", "/fc1/Gemm", &[], false),
];

#[test]
fn onnx_runs_report_the_models_scores_at_their_maps() {
    let d = tmpdir("onnx-runs");
    for (i, (model, layer, extra, reduce)) in RUNS.iter().enumerate() {
        let m = fixture(&format!("onnx/{model}"));
        let out = d.join(format!("r{i}.h5"));
        let mut a = run_base(&m, layer, out.to_str().unwrap());
        a.extend([
            "--restarts",
            "3",
            "--max-steps",
            "200",
            "--quiet",
            "--classes",
            "0,1",
        ]);
        a.extend(extra.iter());
        if *model == "bpnet.onnx" && extra.contains(&"counts") {
            a.retain(|s| *s != "--classes" && *s != "0,1");
        }
        let o = run_bin(&a, Some(2), 120);
        assert!(o.status.success(), "{model} {layer}: {}", stderr_of(&o));
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
        let spec = load_model(std::path::Path::new(&m), None).unwrap();
        let h = match spec.layers.iter().position(|l| l.name == *layer) {
            Some(j) => spec.layers[j].inputs[0],
            None => {
                spec.tensor_names
                    .iter()
                    .find(|(n, _)| n == layer)
                    .unwrap()
                    .1
            }
        };
        let oname = extra
            .iter()
            .skip_while(|s| **s != "--output")
            .nth(1)
            .copied();
        let outs = spec.output_list();
        let mut t = outs
            .iter()
            .find(|o| Some(o.name.as_str()) == oname)
            .unwrap_or(&outs[0])
            .tensor;
        if let LayerKind::Activation(Activation::Sigmoid) = spec.layers[t - 1].kind {
            t = spec.layers[t - 1].inputs[0];
        }
        let net = Network::new(&spec).unwrap();
        let items = shape[0] * shape[1];
        let y = net.forward_range(&fim, items, h, t).unwrap();
        let (k, w) = net.tensor_shape(t);
        for it in 0..items {
            let c = classes[it / shape[1]] as usize;
            let row = &y[(it * k + c) * w..(it * k + c + 1) * w];
            let want: f32 = if *reduce { row.iter().sum() } else { row[0] };
            assert!(
                (score[it] - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{model} {layer}, item {it}: reported {} vs model {want}",
                score[it]
            );
        }
        let steps = f
            .dataset("ascent/steps")
            .unwrap()
            .read_raw::<i32>()
            .unwrap();
        assert!(steps.iter().any(|&s| s > 0), "{model}: no steps taken");
    }
}

#[test]
fn bad_onnx_files_end_every_rank_with_one_error() {
    let d = tmpdir("onnx-bad");
    let out = d.join("r.h5");
    for (file, names) in [
        (
            "bad/truncated.onnx",
            vec!["truncated.onnx", "not an ONNX model"],
        ),
        ("bad/not_onnx.onnx", vec!["not_onnx.onnx"]),
        (
            "bad/unsupported_op.onnx",
            vec!["GRU", "opset 17", "batch axis"],
        ),
        (
            "bad/missing_external.onnx",
            vec!["missing_external.onnx.data"],
        ),
    ] {
        let m = fixture(&format!("onnx/{file}"));
        let mut a = run_base(&m, "0", out.to_str().unwrap());
        a.push("--quiet");
        expect_error(&a, &names);
        assert!(!out.exists(), "{file}: a results file was left");
    }
}
