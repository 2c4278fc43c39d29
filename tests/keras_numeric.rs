//! Keras models computed by the network engine agree with Keras itself
//! (tests/fixtures/keras/reference.h5, made by make_fixtures.py) and, for the
//! Keras 1 Theano models, with a true convolution computed in numpy
//! (keras1_flip_reference.h5).
use deepresolve_mpi::model::keras::load_keras;
use deepresolve_mpi::network::Network;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras")
        .join(name)
}

fn read(f: &hdf5::File, path: &str) -> (Vec<usize>, Vec<f32>) {
    let ds = f.dataset(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (ds.shape(), ds.read_raw::<f32>().unwrap())
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * w.abs().max(scale);
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (tol {tol})"
        );
    }
}

fn check_model(model: &str, group: &str) {
    let spec = load_keras(&fixture(model), None).unwrap_or_else(|e| panic!("{e}"));
    let net = Network::new(&spec).unwrap();
    let r = hdf5::File::open(fixture("reference.h5")).unwrap();
    let (shape, x) = read(&r, &format!("{group}/inputs"));
    let n = shape[0];
    assert_eq!(
        (shape[1], shape[2]),
        (spec.input_channels, spec.input_width)
    );
    let outs = r
        .group(&format!("{group}/layer_outputs"))
        .unwrap()
        .member_names()
        .unwrap();
    assert_eq!(
        outs.len(),
        spec.layers.len(),
        "{model}: one reference output per layer"
    );
    for name in outs {
        let i: usize = name.parse().unwrap();
        let (_, want) = read(&r, &format!("{group}/layer_outputs/{name}"));
        let got = net.forward_prefix(&x, n, i + 1).unwrap();
        assert_close(
            &format!("{model} layer {i} ({})", spec.layers[i].name),
            &got,
            &want,
        );
    }
    // The score: the last Dense before its sigmoid (separate Activation layer, or inside the Dense).
    let (_, want) = read(&r, &format!("{group}/logits"));
    let last_dense = spec
        .layers
        .iter()
        .rposition(|l| l.kind.kind_name() == "dense")
        .unwrap();
    let mut pre = spec.clone();
    pre.layers.truncate(last_dense + 1);
    if let deepresolve_mpi::model::LayerKind::Dense { activation, .. } =
        &mut pre.layers[last_dense].kind
    {
        *activation = deepresolve_mpi::model::Activation::Linear;
    }
    let got = Network::new(&pre)
        .unwrap()
        .forward_prefix(&x, n, last_dense + 1)
        .unwrap();
    assert_close(&format!("{model} logits"), &got, &want);
}

#[test]
fn seq_sigmoid_h5_matches_keras() {
    check_model("seq_sigmoid.h5", "seq_sigmoid");
}

#[test]
fn seq_sigmoid_archive_matches_keras() {
    check_model("seq_sigmoid.keras", "seq_sigmoid");
}

#[test]
fn multi_out_h5_matches_keras() {
    check_model("multi_out.h5", "multi_out");
}

#[test]
fn multi_out_archive_matches_keras() {
    check_model("multi_out.keras", "multi_out");
}

/// Layer 0 of the Keras 1 Theano model computes the true (flipped) convolution.
#[test]
fn keras1_theano_convolution_matches_numpy() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("shared/fixtures/keras1-deepresolve-422tf/wgEncodeAwgTfbsSydhGm12878Ctcfsc15914c20UniPk/16_G_bestmodel_weights.h5");
    if !model.is_file() {
        println!("skipping: ../shared absent");
        return;
    }
    let spec = load_keras(&model, None).unwrap();
    let net = Network::new(&spec).unwrap();
    let r = hdf5::File::open(fixture("keras1_flip_reference.h5")).unwrap();
    let (shape, x) = read(&r, "input");
    assert_eq!(shape, [4, 101]);
    let (_, conv) = read(&r, "conv_output");
    assert_close("conv output", &net.forward_prefix(&x, 1, 1).unwrap(), &conv);
    let (_, dense_in) = read(&r, "dense_input");
    assert_close(
        "input of layer 3",
        &net.forward_prefix(&x, 1, 3).unwrap(),
        &dense_in,
    );
    let (_, logit) = read(&r, "logit");
    assert_close("logit", &net.forward_prefix(&x, 1, 6).unwrap(), &logit);
    // The reference is sensitive to the flip: unflipped kernels do not reproduce it.
    let unflipped = load_keras(
        &model,
        Some(deepresolve_mpi::model::keras::Keras1Backend::Tensorflow),
    )
    .unwrap();
    let out = Network::new(&unflipped)
        .unwrap()
        .forward_prefix(&x, 1, 1)
        .unwrap();
    let diff = out
        .iter()
        .zip(&conv)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff > 1e-2,
        "unflipped kernels should differ from the Theano reference (max diff {diff})"
    );
}
