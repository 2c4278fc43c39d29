//! Keras Functional graphs (merges, several outputs, a nested model) load and
//! compute what Keras computes: forward outputs, forward from a cut, and the
//! gradient of the score against jax. Fixtures and reference values:
//! tests/fixtures/graphs/make_fixtures.py (Keras 3, jax backend); the Keras 1
//! DeepResolve models under ../shared/fixtures/keras1-deepresolve-422tf/.
use deepresolve_mpi::model::keras::{load_keras, load_keras_json};
use deepresolve_mpi::model::{
    load_model, load_model_with_weights, Activation, LayerKind, ModelSpec,
};
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/graphs")
        .join(name)
}

fn reference() -> hdf5::File {
    hdf5::File::open(fixture("reference.h5")).unwrap()
}

fn read(f: &hdf5::File, path: &str) -> (Vec<usize>, Vec<f32>) {
    let ds = f.dataset(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (ds.shape(), ds.read_raw::<f32>().unwrap())
}

fn strings(loc: &hdf5::Location, name: &str) -> Vec<String> {
    deepresolve_mpi::model::h5util::strings_attr(loc, name)
        .unwrap()
        .unwrap_or_else(|| panic!("attribute {name}"))
}

fn int(loc: &hdf5::Location, name: &str) -> usize {
    loc.attr(name).unwrap().read_scalar::<i64>().unwrap() as usize
}

fn members(f: &hdf5::File, path: &str) -> Vec<String> {
    f.group(path).unwrap().member_names().unwrap()
}

/// |got − want| ≤ tol · max |want| everywhere.
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let (i, err) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold((0, 0f32), |a, (i, e)| if e > a.1 { (i, e) } else { a });
    assert!(
        err <= tol * scale && got.iter().all(|v| v.is_finite()),
        "{what}: max error {err} at {i} (got {}, want {}), max |want| {scale}, tolerance {tol} relative",
        got[i],
        want[i]
    );
}

/// The spec with the final activation of every output layer removed, as the
/// reference's `pre/` values are computed (the layer re-made with 'linear').
fn pre_activation(spec: &ModelSpec) -> ModelSpec {
    let mut pre = spec.clone();
    for o in spec.output_list() {
        if o.tensor == 0 {
            continue;
        }
        match &mut pre.layers[o.tensor - 1].kind {
            LayerKind::Dense { activation, .. } | LayerKind::Conv1D { activation, .. } => {
                *activation = Activation::Linear
            }
            LayerKind::Activation(a) => *a = Activation::Linear,
            _ => {}
        }
    }
    pre
}

fn output_names(spec: &ModelSpec) -> Vec<String> {
    spec.output_list().into_iter().map(|o| o.name).collect()
}

/// Everything reference.h5 holds for `group` against the model in `file`.
fn check_against_reference(file: &str, group: &str) {
    let spec = load_keras(&fixture(file), None).unwrap_or_else(|e| panic!("{file}: {e}"));
    let r = reference();
    let g = r.group(group).unwrap();
    let outs = strings(&g, "outputs");
    assert_eq!(output_names(&spec), outs, "{file}: output names");
    let net = Network::new(&spec).unwrap();
    let pre_spec = pre_activation(&spec);
    let pre = Network::new(&pre_spec).unwrap();
    let (shape, x) = read(&r, &format!("{group}/inputs"));
    let n = shape[0];
    assert_eq!(
        (shape[1], shape[2]),
        (spec.input_channels, spec.input_width)
    );
    let list = spec.output_list();
    for (o, name) in list.iter().zip(&outs) {
        let (_, want) = read(&r, &format!("{group}/outputs/{name}"));
        let got = net.forward_prefix(&x, n, o.tensor).unwrap();
        assert_close(&format!("{file} output {name}"), &got, &want, 1e-4);
        let (_, want) = read(&r, &format!("{group}/pre/{name}"));
        let got = pre.forward_prefix(&x, n, o.tensor).unwrap();
        assert_close(&format!("{file} pre-activation {name}"), &got, &want, 1e-4);
    }
    if r.link_exists(&format!("{group}/h")) {
        for layer in members(&r, &format!("{group}/h")) {
            check_cut(&spec, &net, &pre, &r, group, &layer, file, &outs);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_cut(
    spec: &ModelSpec,
    net: &Network,
    pre: &Network,
    r: &hdf5::File,
    group: &str,
    layer: &str,
    file: &str,
    outs: &[String],
) {
    let base = format!("{group}/h/{layer}");
    let ds = r.dataset(&base).unwrap();
    let index = int(&ds, "index");
    let producer = int(&ds, "producer_index");
    assert_eq!(spec.layers[index].name, layer, "{file}: index of {layer}");
    assert_eq!(
        spec.layers[index].inputs,
        [producer + 1],
        "{file}: input of {layer}"
    );
    let t = producer + 1;
    let (shape, h) = read(r, &base);
    let n = shape[0];
    let (_, x) = read(r, &format!("{group}/inputs"));
    assert_close(
        &format!("{file} tensor at the input of {layer}"),
        &net.forward_prefix(&x, n, t).unwrap(),
        &h,
        1e-4,
    );
    let (k, w) = net.tensor_shape(t);
    assert_eq!((shape[1], shape[2]), (k, w), "{file}: shape at {layer}");
    let list = spec.output_list();
    for (oi, (o, name)) in list.iter().zip(outs).enumerate() {
        let (_, want) = read(r, &format!("{group}/from_h/{layer}/{name}"));
        let got = pre.forward_range(&h, n, t, o.tensor).unwrap();
        assert_close(
            &format!("{file} {name} from the input of {layer}"),
            &got,
            &want,
            1e-4,
        );
        let gpath = format!("{group}/grad/{layer}/{name}");
        let gg = r.group(&gpath).unwrap();
        let class = int(&gg, "class");
        for red in gg.member_names().unwrap() {
            let reduce = if red == "none" {
                None
            } else {
                Some(Reduce::parse(&red).unwrap())
            };
            let plan = Plan::at_tensor(net, t, layer, Some(oi), reduce)
                .unwrap_or_else(|e| panic!("{file} plan at {layer} for {name}/{red}: {e}"));
            let mut sc = Scorer::with_plan(net, plan, n);
            let hp = layout::to_position_major(&h, n, k, w);
            let mut scores = vec![0.0; n];
            let mut grad = vec![0.0; n * k * w];
            sc.score_grad(&hp, &vec![class; n], &mut scores, &mut grad);
            let got = layout::to_channel_major(&grad, n, k, w);
            let (_, want) = read(r, &format!("{gpath}/{red}"));
            assert_close(
                &format!("{file} dS/dH at {layer}, output {name}, class {class}, {red}"),
                &got,
                &want,
                1e-3,
            );
        }
    }
}

#[test]
fn chrombpnet_h5_matches_keras() {
    check_against_reference("chrombpnet.h5", "chrombpnet");
}

#[test]
fn chrombpnet_archive_matches_keras() {
    check_against_reference("chrombpnet.keras", "chrombpnet");
}

#[test]
fn deepstarr_h5_matches_keras() {
    check_against_reference("deepstarr.h5", "deepstarr");
}

#[test]
fn basenji_h5_matches_keras() {
    check_against_reference("basenji.h5", "basenji");
}

#[test]
fn basenji_archive_matches_keras() {
    check_against_reference("basenji.keras", "basenji");
}

#[test]
fn ops_h5_matches_keras() {
    check_against_reference("ops.h5", "ops");
}

#[test]
fn ops_archive_matches_keras() {
    check_against_reference("ops.keras", "ops");
}

/// The .h5 and .keras copies of each model give the same spec.
#[test]
fn h5_and_archive_agree() {
    for stem in ["chrombpnet", "basenji", "ops"] {
        let a = load_keras(&fixture(&format!("{stem}.h5")), None).unwrap();
        let b = load_keras(&fixture(&format!("{stem}.keras")), None).unwrap();
        assert_eq!(a.layers, b.layers, "{stem}");
        assert_eq!(a.outputs, b.outputs, "{stem}");
    }
}

#[test]
fn chrombpnet_graph_structure() {
    let spec = load_keras(&fixture("chrombpnet.h5"), None).unwrap();
    let l = int(&reference().group("chrombpnet").unwrap(), "L");
    assert_eq!((spec.input_channels, spec.input_width), (4, l));
    let names: Vec<&str> = spec.layers.iter().map(|l| l.name.as_str()).collect();
    let add = names.iter().position(|&n| n == "bpnet_1add").unwrap();
    let conv = names.iter().position(|&n| n == "bpnet_1conv").unwrap();
    let crop = names.iter().position(|&n| n == "bpnet_1crop").unwrap();
    assert_eq!(spec.layers[add].inputs, [conv + 1, crop + 1]);
    assert_eq!(spec.layers[add].kind.kind_name(), "merge");
    assert_eq!(
        spec.layers[crop].kind,
        LayerKind::Crop { left: 1, right: 1 }
    );
    assert_eq!(output_names(&spec), ["profile", "counts"]);
}

/// ChromBPNet wrapped in an outer model: the inner model is expanded in place,
/// its weights read from the inner model's group, and computes the same outputs.
#[test]
fn chrombpnet_wrapped_is_expanded() {
    let wrapped = load_keras(&fixture("chrombpnet_wrapped.h5"), None).unwrap();
    let plain = load_keras(&fixture("chrombpnet.h5"), None).unwrap();
    assert_eq!(wrapped.layers, plain.layers);
    assert_eq!(wrapped.outputs, plain.outputs);
    let r = reference();
    let outs = strings(&r.group("chrombpnet_wrapped").unwrap(), "outputs");
    assert_eq!(output_names(&wrapped), outs);
    let net = Network::new(&wrapped).unwrap();
    let pre = Network::new(&pre_activation(&wrapped)).unwrap();
    let (shape, x) = read(&r, "chrombpnet_wrapped/inputs");
    for (o, name) in wrapped.output_list().iter().zip(&outs) {
        let (_, want) = read(&r, &format!("chrombpnet_wrapped/outputs/{name}"));
        assert_close(
            &format!("wrapped {name}"),
            &net.forward_prefix(&x, shape[0], o.tensor).unwrap(),
            &want,
            1e-4,
        );
        let (_, want) = read(&r, &format!("chrombpnet_wrapped/pre/{name}"));
        assert_close(
            &format!("wrapped pre {name}"),
            &pre.forward_prefix(&x, shape[0], o.tensor).unwrap(),
            &want,
            1e-4,
        );
    }
}

/// `to_json()` + `save_weights` (Keras 3 `.weights.h5` and the legacy h5 weights
/// format) give the spec `model.save` does.
#[test]
fn deepstarr_json_and_weights_equal_h5() {
    let full = load_keras(&fixture("deepstarr.h5"), None).unwrap();
    for w in ["deepstarr.weights.h5", "deepstarr_legacy_weights.h5"] {
        let spec = load_keras_json(&fixture("deepstarr.json"), &fixture(w), None)
            .unwrap_or_else(|e| panic!("{w}: {e}"));
        assert_eq!(spec.layers, full.layers, "{w}");
        assert_eq!(spec.outputs, full.outputs, "{w}");
        assert_eq!(
            (spec.input_channels, spec.input_width),
            (full.input_channels, full.input_width)
        );
        let via =
            load_model_with_weights(&fixture("deepstarr.json"), Some(&fixture(w)), None).unwrap();
        assert_eq!(via.layers, full.layers, "{w} via load_model_with_weights");
    }
    let e = load_model(&fixture("deepstarr.json"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("deepstarr.json") && e.contains("weights"), "{e}");
    let same = load_model_with_weights(&fixture("deepstarr.h5"), None, None).unwrap();
    assert_eq!(same, load_model(&fixture("deepstarr.h5"), None).unwrap());
    assert_eq!(output_names(&full), ["Dense_Dev", "Dense_Hk"]);
}

#[test]
fn json_weights_errors_name_the_file() {
    let e = load_keras_json(&fixture("deepstarr.json"), &fixture("no_such.h5"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no_such.h5"), "{e}");
    let e = load_keras_json(&fixture("deepstarr.json"), &fixture("ops.h5"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ops.h5") && e.contains("Conv1D_1st"), "{e}");
}

fn expect_error(name: &str) -> String {
    let p = fixture(name);
    let e = load_keras(&p, None).expect_err(name).to_string();
    assert!(
        e.contains(name),
        "{name}: message does not name the file: {e}"
    );
    e
}

#[test]
fn lambda_layer_is_refused_by_name() {
    let e = expect_error("lambda_model.h5");
    assert!(e.contains("times_two") && e.contains("Lambda"), "{e}");
}

#[test]
fn multi_input_model_is_refused_by_name() {
    let e = expect_error("multi_input.h5");
    assert!(e.contains("seq_b") && e.contains("InputLayer"), "{e}");
    assert!(e.contains("2 inputs"), "{e}");
}

fn keras1_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("shared/fixtures/keras1-deepresolve-422tf");
    d.is_dir().then_some(d)
}

/// The DeepResolve authors' `16_G_best_archit.json` + `16_G_bestmodel_weights.h5`:
/// loads, has the published layers, equals the spec of the weights file's own
/// `model_config`, and runs a finite forward pass.
#[test]
fn keras1_json_and_weights() {
    let Some(dir) = keras1_dir() else {
        println!("skipping: ../shared/fixtures/keras1-deepresolve-422tf absent");
        return;
    };
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let d = e.unwrap().path();
        let (arch, weights) = (
            d.join("16_G_best_archit.json"),
            d.join("16_G_bestmodel_weights.h5"),
        );
        if !arch.is_file() || !weights.is_file() {
            continue;
        }
        n += 1;
        let spec = load_model_with_weights(&arch, Some(&weights), None)
            .unwrap_or_else(|e| panic!("{}: {e}", arch.display()));
        let kinds: Vec<&str> = spec.layers.iter().map(|l| l.kind.kind_name()).collect();
        assert_eq!(
            kinds,
            [
                "conv1d",
                "maxpool1d",
                "flatten",
                "dense",
                "dropout",
                "dense",
                "activation"
            ]
        );
        assert_eq!((spec.input_channels, spec.input_width), (4, 101));
        assert!(spec.source.contains("theano"), "{}", spec.source);
        let saved = load_keras(&weights, None).unwrap();
        assert_eq!(spec.layers, saved.layers, "{}", arch.display());
        let net = Network::new(&spec).unwrap();
        let x: Vec<f32> = (0..4 * 101)
            .map(|i| ((i % 101) % 4 == i / 101) as u8 as f32)
            .collect();
        let y = net.forward_prefix(&x, 1, spec.layers.len()).unwrap();
        assert_eq!(y.len(), 1);
        assert!(y[0].is_finite() && (0.0..=1.0).contains(&y[0]), "{y:?}");
    }
    assert!(n > 0, "no model in {}", dir.display());
}

/// Which spec tensors depend on tensor `t` (itself included).
fn descendants(spec: &ModelSpec, t: usize) -> Vec<bool> {
    let mut d = vec![false; spec.layers.len() + 1];
    d[t] = true;
    for (i, l) in spec.layers.iter().enumerate() {
        if l.inputs.iter().any(|&x| d[x]) {
            d[i + 1] = true;
        }
    }
    d
}

/// The reference's non-cuts (tensors that a branch bypasses on the way to an
/// output): refused as H for an output they lead to, unless the bypassed output is one H does not
/// lead to at all (ChromBPNet's profile head seen from the counts head).
#[test]
fn non_cuts_are_refused() {
    let r = reference();
    for (file, group) in [
        ("chrombpnet.h5", "chrombpnet"),
        ("basenji.h5", "basenji"),
        ("ops.h5", "ops"),
    ] {
        let spec = load_keras(&fixture(file), None).unwrap();
        let net = Network::new(&spec).unwrap();
        let g = r.group(group).unwrap();
        let non_cuts = strings(&g, "non_cuts");
        let bypass = strings(&g, "non_cut_bypass");
        assert_eq!(bypass.len(), non_cuts.len());
        assert!(!non_cuts.is_empty(), "{group}");
        let outs = spec.output_list();
        for (layer, by) in non_cuts.iter().zip(&bypass) {
            let i = spec.find_layer(layer).unwrap();
            let t = spec.layers[i].inputs[0];
            let below = descendants(&spec, t);
            if outs.iter().any(|o| !below[o.tensor]) {
                continue;
            }
            let errors: Vec<String> = (0..outs.len())
                .filter_map(|o| {
                    let reduce = (net.tensor_shape(outs[o].tensor).1 > 1).then_some(Reduce::Sum);
                    Plan::at_tensor(&net, t, layer, Some(o), reduce)
                        .err()
                        .map(|e| e.to_string())
                })
                .collect();
            assert!(
                errors.iter().any(|e| e.contains("not a cut")),
                "{file}: the input of {layer} is bypassed at {by}, yet: {errors:?}"
            );
        }
    }
}
