//! Small graphs written here node by node: the mappings the PyTorch fixtures
//! do not reach (explicit pads, count_include_pad with pads, MatMul,
//! ReduceSum, constants on the left) and the refusals.
use super::proto::*;
use crate::model::spec::{LayerKind, ModelSpec};
use crate::network::Network;
use prost::Message;

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 2,
        i,
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    ins: &[&str],
    outs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn init(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn init_i64(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value as D, Dimension};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => D::DimValue(*v),
                                None => D::DimParam("N".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model with input "x" of (N, c, w) and output "y", written to a file and loaded.
fn load(
    tag: &str,
    c: i64,
    w: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
) -> crate::Result<ModelSpec> {
    load_outs(tag, c, w, nodes, inits, &["y"])
}

/// As [`load`], with the graph outputs `outs`.
fn load_outs(
    tag: &str,
    c: i64,
    w: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    outs: &[&str],
) -> crate::Result<ModelSpec> {
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![value("x", &[None, Some(c), Some(w)])],
            output: outs.iter().map(|o| value(o, &[])).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("deepresolve-onnx-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.onnx"));
    std::fs::write(&path, m.encode_to_vec()).unwrap();
    super::load_onnx(&path)
}

fn run(spec: &ModelSpec, x: &[f32]) -> Vec<f32> {
    let net = Network::new(spec).unwrap();
    let t = spec.outputs[0].tensor;
    net.forward_prefix(x, 1, t).unwrap()
}

fn kinds(spec: &ModelSpec) -> Vec<&'static str> {
    spec.layers.iter().map(|l| l.kind.kind_name()).collect()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn average_pool_count_include_pad() {
    let pool = |cip| {
        vec![node(
            "AveragePool",
            "p",
            &["x"],
            &["y"],
            vec![
                ints("kernel_shape", &[3]),
                ints("pads", &[1, 1]),
                int("count_include_pad", cip),
            ],
        )]
    };
    let x = [1.0, 2.0, 3.0, 4.0];
    // count_include_pad = 1: the pad zeros count (a zero pad, then a valid pool).
    let s = load("avg1", 1, 4, pool(1), vec![]).unwrap();
    assert_eq!(kinds(&s), ["zeropad1d", "avgpool1d"]);
    assert_eq!(s.layers[1].name, "p:pool");
    close(&run(&s, &x), &[1.0, 2.0, 3.0, 7.0 / 3.0]);
    // count_include_pad = 0 with "same" pads: only the positions inside count.
    let s = load("avg0", 1, 4, pool(0), vec![]).unwrap();
    assert_eq!(kinds(&s), ["avgpool1d"]);
    close(&run(&s, &x), &[1.5, 2.0, 3.0, 3.5]);
}

#[test]
fn asymmetric_conv_pads_and_constants() {
    // y = 2 − conv(x) with pads (2, 0): a causal convolution.
    let nodes = vec![
        node(
            "Conv",
            "c",
            &["x", "w"],
            &["h"],
            vec![ints("kernel_shape", &[3]), ints("pads", &[2, 0])],
        ),
        node("Sub", "s", &["two", "h"], &["y"], vec![]),
    ];
    let inits = vec![
        init("w", &[1, 1, 3], &[1.0, 10.0, 100.0]),
        init("two", &[], &[2.0]),
    ];
    let s = load("causal", 1, 3, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["zeropad1d", "conv1d", "affine"]);
    assert_eq!(s.layers[1].name, "c:conv");
    // conv at p: x[p−2] + 10 x[p−1] + 100 x[p].
    let conv = [100.0, 10.0 + 200.0, 1.0 + 20.0 + 300.0];
    close(&run(&s, &[1.0, 2.0, 3.0]), &conv.map(|v| 2.0 - v));
}

#[test]
fn reduce_sum_and_matmul() {
    // y = ReduceSum(x, axis 2, keepdims 0) @ W: (N, 2) @ (2, 3).
    let nodes = vec![
        node(
            "ReduceSum",
            "r",
            &["x", "axes"],
            &["s"],
            vec![int("keepdims", 0)],
        ),
        node("MatMul", "m", &["s", "w"], &["y"], vec![]),
    ];
    let inits = vec![
        init_i64("axes", &[-1]),
        init("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ];
    let s = load("sum_matmul", 2, 3, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["global_avgpool1d", "affine", "dense"]);
    // channel sums 6 and 15 (x channel-major [1 2 3; 4 5 6]).
    let sums = [6.0, 15.0];
    let want: Vec<f32> = (0..3)
        .map(|u| sums[0] * [1.0, 2.0, 3.0][u] + sums[1] * [4.0, 5.0, 6.0][u])
        .collect();
    close(&run(&s, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), &want);
}

#[test]
fn a_weight_two_nodes_read_stays_for_the_second() {
    // A single-reader weight is moved into its layer; a tied one must not be.
    let nodes = vec![
        node(
            "ReduceSum",
            "r",
            &["x", "axes"],
            &["s"],
            vec![int("keepdims", 0)],
        ),
        node("MatMul", "m1", &["s", "w"], &["t"], vec![]),
        node("MatMul", "m2", &["t", "w"], &["y"], vec![]),
    ];
    let inits = vec![
        init_i64("axes", &[-1]),
        init("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]),
    ];
    let s = load("tied", 2, 3, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["global_avgpool1d", "affine", "dense", "dense"]);
    // sums [6, 15] @ W = [51, 72], @ W again = [267, 390].
    close(&run(&s, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), &[267.0, 390.0]);
}

#[test]
fn refusals_name_the_node_and_the_opset() {
    let err = |tag: &str, nodes: Vec<NodeProto>, inits: Vec<TensorProto>| {
        let e = load(tag, 4, 8, nodes, inits).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{tag}.onnx")) && !e.contains('\n'),
            "{e}"
        );
        e
    };
    let e = err(
        "group",
        vec![node(
            "Conv",
            "g",
            &["x", "w"],
            &["y"],
            vec![int("group", 2)],
        )],
        vec![init("w", &[4, 3, 3], &[0.0; 36])],
    );
    assert!(
        e.contains("layer g: Conv (opset 17): the kernel reads 3 channels in each of 2 groups"),
        "{e}"
    );
    let e = err(
        "transpose",
        vec![node(
            "Transpose",
            "t",
            &["x"],
            &["y"],
            vec![ints("perm", &[1, 0, 2])],
        )],
        vec![],
    );
    assert!(
        e.contains("layer t: Transpose (opset 17)") && e.contains("moves data"),
        "{e}"
    );
    // (N, C, W) → (N, W, C) is read (for a linear layer at every position),
    // but an op that is not pointwise on it is refused with the way out.
    let e = err(
        "channels_last",
        vec![
            node(
                "Transpose",
                "t",
                &["x"],
                &["xt"],
                vec![ints("perm", &[0, 2, 1])],
            ),
            node("Softmax", "s", &["xt"], &["y"], vec![]),
        ],
        vec![],
    );
    assert!(
        e.contains("layer s: Softmax (opset 17)")
            && e.contains("channels-last (N, 8, 4)")
            && e.contains("--output"),
        "{e}"
    );
    let e = err(
        "reshape",
        vec![node("Reshape", "r", &["x", "shape"], &["y"], vec![])],
        vec![init_i64("shape", &[0, 8, 4])],
    );
    assert!(
        e.contains("layer r: Reshape") && e.contains("moves values"),
        "{e}"
    );
    let e = err(
        "topk",
        vec![node("TopK", "", &["x", "k"], &["y", "i"], vec![])],
        vec![init_i64("k", &[2])],
    );
    assert!(
        e.contains("layer TopK_0: op type TopK (opset 17) is not supported")
            && e.contains("--output"),
        "{e}"
    );
    let e = err(
        "erf",
        vec![node("Erf", "e", &["x"], &["y"], vec![])],
        vec![],
    );
    assert!(e.contains("exact GELU"), "{e}");
    let e = load(
        "channels_last",
        100,
        4,
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("input x") && e.contains("channels-last"), "{e}");
    // A mean over an axis of size 1 keeps the values: no layer.
    let s = load(
        "unit_mean",
        4,
        8,
        vec![
            node("Unsqueeze", "u", &["x", "two"], &["x4"], vec![]),
            node("ReduceMean", "m", &["x4"], &["y"], vec![ints("axes", &[2])]),
        ],
        vec![init_i64("two", &[2])],
    )
    .unwrap();
    assert!(s.layers.is_empty(), "{:?}", kinds(&s));
    let s = load(
        "flatten_ok",
        4,
        8,
        vec![node("Reshape", "r", &["x", "shape"], &["y"], vec![])],
        vec![init_i64("shape", &[-1, 32])],
    )
    .unwrap();
    assert!(matches!(s.layers[0].kind, LayerKind::Flatten { .. }));
}

#[test]
fn an_unsupported_op_on_another_head_leaves_this_head_loadable() {
    // "y" needs only the Relu; "z" needs an op we do not read.
    let nodes = || {
        vec![
            node("Relu", "r", &["x"], &["y"], vec![]),
            node("Hardmax", "e", &["y"], &["e1"], vec![]),
            node("Sigmoid", "s", &["e1"], &["z"], vec![]),
        ]
    };
    let s = load_outs("two_heads", 4, 8, nodes(), vec![], &["y", "z"]).unwrap();
    assert_eq!(s.outputs.len(), 1);
    assert_eq!(s.outputs[0].name, "y");
    assert_eq!(s.unscorable.len(), 1);
    let u = &s.unscorable[0];
    assert_eq!(u.name, "z");
    // The refusal reaches the head through the Sigmoid, naming the node it started at.
    assert!(
        u.reason
            .contains("layer e: op type Hardmax (opset 17) is not supported")
            && u.reason.contains("--output")
            && u.reason.contains("docs/models.md"),
        "{}",
        u.reason
    );
    // With no head left, the first refusal is the error.
    let e = load_outs("one_head", 4, 8, nodes(), vec![], &["z"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer e: op type Hardmax (opset 17) is not supported")
            && e.contains("--output"),
        "{e}"
    );
    // A channels-last input is said before any op refusal.
    let e = load_outs("cl_first", 100, 4, nodes(), vec![], &["z"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("channels-last") && !e.contains("Hardmax"), "{e}");
}

#[test]
fn the_ops_on_data_are_the_ones_the_dispatch_maps() {
    // One node on the input: an op outside the list gets the generic refusal
    // (unknown, or not on data); an op in it is mapped or refused for a reason
    // of its own (a missing input, an attribute, a pattern).
    let on_data = super::convert::ops_on_data();
    for op in super::convert::known_ops() {
        let e = match load(
            &format!("op_{op}"),
            4,
            8,
            vec![node(op, "n", &["x"], &["y"], vec![])],
            vec![],
        ) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        let generic = e.contains(&format!("op type {op} (opset 17) is not supported"))
            || e.contains("on a tensor computed from the model input is not supported");
        assert_eq!(generic, !on_data.contains(&op), "{op}: {e}");
    }
}

#[test]
fn layer_normalization_over_channels() {
    // nn.LayerNorm(C) at every position: Transpose → LayerNormalization(-1) → Transpose back.
    let nodes = vec![
        node(
            "Transpose",
            "t",
            &["x"],
            &["xt"],
            vec![ints("perm", &[0, 2, 1])],
        ),
        node(
            "LayerNormalization",
            "ln",
            &["xt", "g", "b"],
            &["yt"],
            vec![],
        ),
        node(
            "Transpose",
            "t2",
            &["yt"],
            &["y"],
            vec![ints("perm", &[0, 2, 1])],
        ),
    ];
    let inits = vec![init("g", &[2], &[2.0, 0.5]), init("b", &[2], &[1.0, -1.0])];
    let s = load("layernorm", 2, 3, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["layernorm"]);
    assert_eq!(s.layers[0].name, "ln");
    // x channel-major [1 2 3; 5 2 0]: per position (a, b) → ((a−b)/2, (b−a)/2)/√(σ² + eps).
    let x = [1.0, 2.0, 3.0, 5.0, 2.0, 0.0];
    let mut want = [0.0f32; 6];
    for p in 0..3 {
        let (a, b) = (x[p], x[3 + p]);
        let inv = 1.0 / (((a - b) / 2.0f32).powi(2) + 1e-5).sqrt();
        want[p] = (a - b) / 2.0 * inv * 2.0 + 1.0;
        want[3 + p] = (b - a) / 2.0 * inv * 0.5 - 1.0;
    }
    close(&run(&s, &x), &want);
    // Over (C, W) of (N, C, W) it would mix positions: refused, saying what is read.
    let e = load(
        "layernorm_cw",
        2,
        3,
        vec![node(
            "LayerNormalization",
            "ln",
            &["x", "g"],
            &["y"],
            vec![int("axis", 1)],
        )],
        vec![init("g", &[2, 3], &[1.0; 6])],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("layer ln: LayerNormalization (opset 17)")
            && e.contains("only normalisation over the channels"),
        "{e}"
    );
}

#[test]
fn recurrent_settings_the_engine_lacks_are_refused_by_name() {
    // x (N, 4, 8) → (8, N, 4) → LSTM (hidden 2) → Y (8, 1, N, 2) → (N, 2, 8).
    let u = 2;
    let lstm = |attrs: Vec<AttributeProto>, ins: &[&str]| {
        vec![
            node(
                "Transpose",
                "t",
                &["x"],
                &["xt"],
                vec![ints("perm", &[2, 0, 1])],
            ),
            node("LSTM", "l", ins, &["ly"], attrs),
            node("Squeeze", "s", &["ly", "one"], &["ys"], vec![]),
            node(
                "Transpose",
                "t2",
                &["ys"],
                &["y"],
                vec![ints("perm", &[1, 2, 0])],
            ),
        ]
    };
    let inits = || {
        vec![
            init("w", &[1, 4 * u, 4], &[0.1; 32]),
            init("r", &[1, 4 * u, u], &[0.1; 16]),
            init("h0", &[1, 1, u], &[0.5, 0.0]),
            init_i64("one", &[1]),
        ]
    };
    let ok = load("lstm_ok", 4, 8, lstm(vec![], &["xt", "w", "r"]), inits()).unwrap();
    assert_eq!(kinds(&ok), ["lstm"]);
    let relu = AttributeProto {
        name: "activations".into(),
        r#type: 8,
        strings: ["Sigmoid", "Tanh", "Relu"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        ..Default::default()
    };
    let err = |tag: &str, nodes, must: &[&str]| {
        let e = load(tag, 4, 8, nodes, inits()).unwrap_err().to_string();
        for m in must {
            assert!(e.contains(m), "{tag}: no {m:?} in {e}");
        }
    };
    err(
        "lstm_relu",
        lstm(vec![relu], &["xt", "w", "r"]),
        &["layer l: LSTM (opset 17): activations", "relu", "default"],
    );
    let clip = AttributeProto {
        name: "clip".into(),
        r#type: 1,
        f: 3.0,
        ..Default::default()
    };
    err(
        "lstm_clip",
        lstm(vec![clip], &["xt", "w", "r"]),
        &["layer l: LSTM", "clip"],
    );
    err(
        "lstm_h0",
        lstm(vec![], &["xt", "w", "r", "", "", "h0"]),
        &[
            "layer l: LSTM",
            "initial_h (h0) is not zero",
            "zero initial states",
        ],
    );
    // Y read time-major by an op other than the relabels.
    let mut nodes = lstm(vec![], &["xt", "w", "r"]);
    nodes.truncate(2);
    nodes.push(node("Relu", "relu", &["ly"], &["y"], vec![]));
    err(
        "lstm_time_major",
        nodes,
        &[
            "layer relu: Relu",
            "(8 positions, 1 directions, N, 2 hidden)",
            "batch-first",
        ],
    );
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 3,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Resize (nearest, integer factor along positions) becomes the upsampling
/// layer whichever of the repeating coordinate modes the exporter chose; the
/// modes that do not repeat, other axes and fractional factors are refused.
#[test]
fn resize_repeats_positions_or_is_refused() {
    let resize = |attrs: Vec<AttributeProto>, scales: &[f32]| {
        (
            vec![node("Resize", "r", &["x", "", "scales"], &["y"], attrs)],
            vec![init("scales", &[scales.len() as i64], scales)],
        )
    };
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    for attrs in [
        vec![
            string("mode", "nearest"),
            string("coordinate_transformation_mode", "asymmetric"),
            string("nearest_mode", "floor"),
        ],
        // The defaults: half_pixel, round_prefer_floor.
        vec![string("mode", "nearest")],
    ] {
        let (nodes, inits) = resize(attrs, &[1.0, 1.0, 3.0]);
        let s = load("resize", 2, 3, nodes, inits).unwrap();
        assert_eq!(kinds(&s), ["upsample1d"]);
        let want = [
            1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 5., 5., 5., 6., 6., 6.,
        ];
        close(&run(&s, &x), &want);
    }
    // By sizes instead of scales.
    let nodes = vec![node(
        "Resize",
        "r",
        &["x", "", "", "sizes"],
        &["y"],
        vec![string("mode", "nearest")],
    )];
    let s = load(
        "resize_sizes",
        2,
        3,
        nodes,
        vec![init_i64("sizes", &[1, 2, 6])],
    )
    .unwrap();
    close(
        &run(&s, &x),
        &[1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6.],
    );
    let refused = |tag: &str, attrs: Vec<AttributeProto>, scales: &[f32], what: &str| {
        let (nodes, inits) = resize(attrs, scales);
        let e = load(tag, 2, 3, nodes, inits).unwrap_err().to_string();
        assert!(
            e.contains("layer r: Resize (opset 17)") && e.contains(what),
            "{e}"
        );
    };
    // The older Upsample: scales as an input (opset 9) or an attribute (7, 8).
    let floats = |name: &str, v: &[f32]| AttributeProto {
        name: name.into(),
        r#type: 6,
        floats: v.to_vec(),
        ..Default::default()
    };
    for (ins, attrs) in [
        (&["x", "scales"][..], vec![]),
        (&["x"][..], vec![floats("scales", &[1.0, 1.0, 2.0])]),
    ] {
        let nodes = vec![node("Upsample", "u", ins, &["y"], attrs)];
        let inits = vec![init("scales", &[3], &[1.0, 1.0, 2.0])];
        let s = load("upsample", 2, 3, nodes, inits).unwrap();
        assert_eq!(kinds(&s), ["upsample1d"]);
        close(
            &run(&s, &x),
            &[1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6.],
        );
    }
    refused(
        "resize_huge",
        vec![string("mode", "nearest")],
        &[1.0, 1.0, 1e12],
        "at most 67108864 positions",
    );
    refused(
        "resize_linear",
        vec![string("mode", "linear")],
        &[1.0, 1.0, 2.0],
        "only nearest-neighbour",
    );
    refused(
        "resize_round",
        vec![
            string("coordinate_transformation_mode", "asymmetric"),
            string("nearest_mode", "round_prefer_floor"),
        ],
        &[1.0, 1.0, 3.0],
        "does not repeat each position 3 times",
    );
    refused(
        "resize_frac",
        vec![],
        &[1.0, 1.0, 1.5],
        "only an integer upsampling factor",
    );
    refused(
        "resize_chan",
        vec![],
        &[1.0, 2.0, 2.0],
        "only resizing the positions",
    );
}

/// A depthwise convolution (group = channels) gives each channel its own
/// kernel, as the zero-widened full kernel computes it.
#[test]
fn grouped_convolution_keeps_the_groups_apart() {
    let nodes = vec![node(
        "Conv",
        "d",
        &["x", "w"],
        &["y"],
        vec![int("group", 2), ints("kernel_shape", &[2])],
    )];
    // Channel 0: x[p] + 10 x[p+1]; channel 1: 100 x[p] − x[p+1].
    let inits = vec![init("w", &[2, 1, 2], &[1.0, 10.0, 100.0, -1.0])];
    let s = load("depthwise", 2, 3, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["conv1d"]);
    close(
        &run(&s, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        &[21.0, 32.0, 395.0, 494.0],
    );
}

#[test]
fn constants_written_as_identity_of_an_initializer_are_constants_to_the_patterns() {
    // The exact GELU with √2, 1 and 0.5 each an Identity of an initializer,
    // as TorchScript writes a value the model holds twice (found on the
    // graph's structure before the walk, which folds the Identities).
    let nodes = vec![
        node("Identity", "i0", &["r2_0"], &["r2"], vec![]),
        node("Identity", "i1", &["one_0"], &["one"], vec![]),
        node("Identity", "i2", &["half_0"], &["half_1"], vec![]),
        node("Identity", "i3", &["half_1"], &["half"], vec![]),
        node("Div", "d", &["x", "r2"], &["a"], vec![]),
        node("Erf", "e", &["a"], &["b"], vec![]),
        node("Add", "p", &["b", "one"], &["c"], vec![]),
        node("Mul", "m", &["x", "c"], &["e2"], vec![]),
        node("Mul", "h", &["e2", "half"], &["y"], vec![]),
    ];
    let inits = vec![
        init("r2_0", &[], &[std::f32::consts::SQRT_2]),
        init("one_0", &[], &[1.0]),
        init("half_0", &[], &[0.5]),
    ];
    let s = load("gelu_identity", 1, 4, nodes, inits).unwrap();
    assert_eq!(kinds(&s), ["activation"]);
    let got = run(&s, &[-1.0, 0.0, 1.0, 2.0]);
    close(&got, &[-0.158_655_3, 0.0, 0.841_344_7, 1.954_499_7]);
}
