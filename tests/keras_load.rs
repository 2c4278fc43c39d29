//! Keras files load as their users saved them: structure, kernels, refusals.
//! Fixtures: tests/fixtures/keras/make_fixtures.py (Keras 3) and the Keras 1.2
//! DeepResolve models under ../shared/fixtures/keras1-deepresolve-422tf/.
use deepresolve_mpi::model::keras::{load_keras, Keras1Backend};
use deepresolve_mpi::model::{Activation, FlattenOrder, LayerKind, ModelSpec, Padding};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras")
        .join(name)
}

fn keras1_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("shared/fixtures/keras1-deepresolve-422tf");
    d.is_dir().then_some(d)
}

fn keras1_models() -> Option<Vec<PathBuf>> {
    let d = keras1_dir()?;
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path().join("16_G_bestmodel_weights.h5");
            p.is_file().then_some(p)
        })
        .collect();
    v.sort();
    Some(v)
}

fn kinds(spec: &ModelSpec) -> Vec<&'static str> {
    spec.layers.iter().map(|l| l.kind.kind_name()).collect()
}

fn names(spec: &ModelSpec) -> Vec<&str> {
    spec.layers.iter().map(|l| l.name.as_str()).collect()
}

/// (units, in_features, activation) of a Dense layer.
fn dense(kind: &LayerKind) -> (usize, usize, Activation) {
    match kind {
        LayerKind::Dense {
            units,
            in_features,
            activation,
            ..
        } => (*units, *in_features, *activation),
        k => panic!("{k:?}"),
    }
}

fn check_seq_sigmoid(spec: &ModelSpec) {
    assert_eq!((spec.input_channels, spec.input_width), (4, 50));
    assert_eq!(
        names(spec),
        [
            "conv_a",
            "pool_a",
            "conv_b",
            "bn_b",
            "relu_b",
            "flat",
            "dense_a",
            "drop",
            "dense_out",
            "sigmoid_out"
        ]
    );
    assert_eq!(
        kinds(spec),
        [
            "conv1d",
            "maxpool1d",
            "conv1d",
            "batchnorm",
            "activation",
            "flatten",
            "dense",
            "dropout",
            "dense",
            "activation"
        ]
    );
    let shapes = spec.shapes().unwrap();
    assert_eq!(
        shapes,
        [
            (4, 50),
            (6, 46),
            (6, 23),
            (5, 23),
            (5, 23),
            (5, 23),
            (115, 1),
            (8, 1),
            (8, 1),
            (2, 1),
            (2, 1)
        ]
    );
    match &spec.layers[0].kind {
        LayerKind::Conv1D {
            filters,
            in_channels,
            kernel_size,
            stride,
            dilation,
            padding,
            activation,
            bias,
            ..
        } => {
            assert_eq!(
                (*filters, *in_channels, *kernel_size, *stride, *dilation),
                (6, 4, 5, 1, 1)
            );
            assert_eq!((*padding, *activation), (Padding::Valid, Activation::Relu));
            assert_eq!(bias.as_ref().unwrap().len(), 6);
        }
        k => panic!("{k:?}"),
    }
    match &spec.layers[1].kind {
        LayerKind::MaxPool1D {
            pool,
            stride,
            padding,
        } => assert_eq!((*pool, *stride, *padding), (2, 2, Padding::Valid)),
        k => panic!("{k:?}"),
    }
    match &spec.layers[2].kind {
        LayerKind::Conv1D {
            kernel_size,
            dilation,
            padding,
            activation,
            ..
        } => {
            assert_eq!(
                (*kernel_size, *dilation, *padding, *activation),
                (3, 2, Padding::Same, Activation::Linear)
            )
        }
        k => panic!("{k:?}"),
    }
    match &spec.layers[3].kind {
        LayerKind::BatchNorm {
            gamma,
            mean,
            var,
            eps,
            ..
        } => {
            assert_eq!(gamma.len(), 5);
            assert!(
                mean.iter().any(|&m| m != 0.0),
                "moving mean should be non-trivial"
            );
            assert!(var.iter().any(|&v| v != 1.0));
            assert!((eps - 1e-3).abs() < 1e-9);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(spec.layers[4].kind, LayerKind::Activation(Activation::Relu));
    assert_eq!(
        spec.layers[5].kind,
        LayerKind::Flatten {
            order: FlattenOrder::PositionMajor
        }
    );
    assert_eq!(dense(&spec.layers[6].kind), (8, 115, Activation::Relu));
    let (units, _, activation) = dense(&spec.layers[8].kind);
    assert_eq!((units, activation), (2, Activation::Linear));
    assert_eq!(
        spec.layers[9].kind,
        LayerKind::Activation(Activation::Sigmoid)
    );
    assert_eq!(spec.find_layer("flat"), Some(5));
    assert_eq!(spec.class_names, None);
}

fn check_multi_out(spec: &ModelSpec) {
    assert_eq!((spec.input_channels, spec.input_width), (4, 40));
    assert_eq!(names(spec), ["conv", "gmax", "dense_sig"]);
    assert_eq!(kinds(spec), ["conv1d", "global_maxpool1d", "dense"]);
    assert_eq!(spec.shapes().unwrap(), [(4, 40), (4, 17), (4, 1), (5, 1)]);
    match &spec.layers[0].kind {
        LayerKind::Conv1D {
            filters,
            kernel_size,
            stride,
            activation,
            ..
        } => {
            assert_eq!(
                (*filters, *kernel_size, *stride, *activation),
                (4, 7, 2, Activation::Relu)
            )
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(dense(&spec.layers[2].kind), (5, 4, Activation::Sigmoid));
}

/// STEM.h5 and STEM.keras both pass CHECK, with the same layers.
fn check_h5_and_archive(stem: &str, check: fn(&ModelSpec)) {
    let h5 = load_keras(&fixture(&format!("{stem}.h5")), None).unwrap();
    check(&h5);
    let ar = load_keras(&fixture(&format!("{stem}.keras")), None).unwrap();
    check(&ar);
    // Same weights whichever way the model was saved.
    assert_eq!(h5.layers, ar.layers);
}

#[test]
fn keras3_sequential_h5_and_archive() {
    check_h5_and_archive("seq_sigmoid", check_seq_sigmoid);
}

#[test]
fn keras3_functional_chain_h5_and_archive() {
    check_h5_and_archive("multi_out", check_multi_out);
}

/// Kernels are transposed from Keras' (k, in, filters) / (in, units) to the spec's order.
#[test]
fn keras3_kernels_transposed() {
    let spec = load_keras(&fixture("seq_sigmoid.h5"), None).unwrap();
    let f = hdf5::File::open(fixture("seq_sigmoid.h5")).unwrap();
    let raw = f
        .dataset("model_weights/conv_a/seq_sigmoid/conv_a/kernel")
        .unwrap();
    assert_eq!(raw.shape(), [5, 4, 6]);
    let raw: Vec<f32> = raw.read_raw().unwrap();
    let LayerKind::Conv1D { kernel, .. } = &spec.layers[0].kind else {
        panic!()
    };
    for o in 0..6 {
        for i in 0..4 {
            for j in 0..5 {
                assert_eq!(kernel[(o * 4 + i) * 5 + j], raw[(j * 4 + i) * 6 + o]);
            }
        }
    }
    let raw: Vec<f32> = f
        .dataset("model_weights/dense_a/seq_sigmoid/dense_a/kernel")
        .unwrap()
        .read_raw()
        .unwrap();
    let LayerKind::Dense { kernel, .. } = &spec.layers[6].kind else {
        panic!()
    };
    for o in 0..8 {
        for i in 0..115 {
            assert_eq!(kernel[o * 115 + i], raw[i * 8 + o]);
        }
    }
}

#[test]
fn keras1_deepresolve_models() {
    let Some(models) = keras1_models() else {
        println!("skipping: ../shared absent");
        return;
    };
    assert!(!models.is_empty());
    for p in &models {
        let spec = load_keras(p, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (spec.input_channels, spec.input_width),
            (4, 101),
            "{}",
            p.display()
        );
        assert_eq!(
            kinds(&spec),
            [
                "conv1d",
                "maxpool1d",
                "flatten",
                "dense",
                "dropout",
                "dense",
                "activation"
            ],
            "{}",
            p.display()
        );
        match &spec.layers[0].kind {
            LayerKind::Conv1D {
                filters,
                in_channels,
                kernel_size,
                stride,
                padding,
                activation,
                ..
            } => {
                assert_eq!(
                    (*filters, *in_channels, *kernel_size, *stride),
                    (16, 4, 25, 1)
                );
                assert_eq!((*padding, *activation), (Padding::Same, Activation::Relu));
            }
            k => panic!("{k:?}"),
        }
        match &spec.layers[1].kind {
            LayerKind::MaxPool1D { pool, .. } => assert_eq!(*pool, 101),
            k => panic!("{k:?}"),
        }
        assert_eq!(
            spec.layers[2].kind,
            LayerKind::Flatten {
                order: FlattenOrder::ChannelMajor
            }
        );
        assert_eq!(dense(&spec.layers[3].kind), (32, 16, Activation::Relu));
        let (units, _, activation) = dense(&spec.layers[5].kind);
        assert_eq!((units, activation), (1, Activation::Linear));
        assert_eq!(
            spec.layers[6].kind,
            LayerKind::Activation(Activation::Sigmoid)
        );
        let shapes = spec.shapes().unwrap();
        assert_eq!(
            shapes[3],
            (16, 1),
            "input of layer 3 (the paper's DeepResolve layer)"
        );
        assert!(spec.layers[3].name.starts_with("dense_"));
        assert!(spec.source.contains("theano"), "{}", spec.source);
    }
}

/// Theano computed true convolutions: the loaded kernel is the file's reversed along the width.
#[test]
fn keras1_theano_kernels_flipped() {
    let Some(models) = keras1_models() else {
        println!("skipping: ../shared absent");
        return;
    };
    let p = &models[0];
    let f = hdf5::File::open(p).unwrap();
    let conv = f
        .group("model_weights")
        .unwrap()
        .member_names()
        .unwrap()
        .into_iter()
        .find(|n| n.starts_with("convolution2d"))
        .unwrap();
    let ds = f
        .dataset(&format!("model_weights/{conv}/{conv}_W"))
        .unwrap();
    assert_eq!(ds.shape(), [16, 4, 1, 25]);
    let raw: Vec<f32> = ds.read_raw().unwrap();
    let flipped = load_keras(p, None).unwrap();
    let forced_th = load_keras(p, Some(Keras1Backend::Theano)).unwrap();
    let as_tf = load_keras(p, Some(Keras1Backend::Tensorflow)).unwrap();
    assert_eq!(flipped.layers, forced_th.layers);
    let kernel = |s: &ModelSpec| match &s.layers[0].kind {
        LayerKind::Conv1D { kernel, .. } => kernel.clone(),
        k => panic!("{k:?}"),
    };
    let (kf, kt) = (kernel(&flipped), kernel(&as_tf));
    for o in [0usize, 7, 15] {
        for i in 0..4 {
            for j in 0..25 {
                let file = raw[(o * 4 + i) * 25 + j];
                assert_eq!(
                    kf[(o * 4 + i) * 25 + j],
                    raw[(o * 4 + i) * 25 + (24 - j)],
                    "filter {o} channel {i} tap {j}"
                );
                assert_eq!(kt[(o * 4 + i) * 25 + j], file);
            }
        }
    }
    assert!(!as_tf.source.contains("theano"));
}

fn expect_error(name: &str, layer: Option<&str>) -> String {
    let p = fixture(name);
    let e = load_keras(&p, None).expect_err(name).to_string();
    assert!(
        e.contains(p.file_name().unwrap().to_str().unwrap()),
        "{name}: message does not name the file: {e}"
    );
    if let Some(l) = layer {
        assert!(
            e.contains(l),
            "{name}: message does not name layer {l}: {e}"
        );
    }
    e
}

#[test]
fn bad_unsupported_layer() {
    let e = expect_error("bad/unsupported_layer.h5", Some("rnn"));
    assert!(e.contains("SimpleRNN"), "{e}");
}

#[test]
fn bad_missing_weight() {
    let e = expect_error("bad/missing_weight.h5", Some("dense_a"));
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn bad_malformed_config() {
    let e = expect_error("bad/malformed_config.h5", None);
    assert!(e.contains("JSON"), "{e}");
}

/// Branching graphs were refused before layer graphs were supported; this one
/// (two convolution branches merged by Add) now loads as a graph.
#[test]
fn branching_graph_loads() {
    let spec = load_keras(&fixture("bad/branching.h5"), None).unwrap();
    assert_eq!(
        names(&spec),
        ["branch_a", "branch_b", "merge", "gmax", "out"]
    );
    assert_eq!(
        kinds(&spec),
        ["conv1d", "conv1d", "merge", "global_maxpool1d", "dense"]
    );
    let inputs: Vec<&[usize]> = spec.layers.iter().map(|l| l.inputs.as_slice()).collect();
    assert_eq!(inputs, [&[0][..], &[0], &[1, 2], &[3], &[4]]);
}

#[test]
fn missing_and_non_model_files() {
    let p = fixture("no_such_model.h5");
    let e = load_keras(&p, None).unwrap_err().to_string();
    assert!(e.contains("no_such_model.h5"), "{e}");
    let p = fixture("reference.h5");
    let e = load_keras(&p, None).unwrap_err().to_string();
    assert!(
        e.contains("reference.h5") && e.contains("model_config"),
        "{e}"
    );
}

/// Archives whose `vars` groups are not named (older Keras 3): weights are found
/// by the generated keys (`conv1d`, `conv1d_1`, ...; a Functional's InputLayer counts).
#[test]
fn keras3_archive_without_vars_names() {
    let named = load_keras(&fixture("seq_sigmoid.keras"), None).unwrap();
    let unnamed = load_keras(&fixture("seq_sigmoid_unnamed.keras"), None).unwrap();
    assert_eq!(named.layers, unnamed.layers);
    let named = load_keras(&fixture("multi_out.keras"), None).unwrap();
    let unnamed = load_keras(&fixture("multi_out_unnamed.keras"), None).unwrap();
    assert_eq!(named.layers, unnamed.layers);
}
