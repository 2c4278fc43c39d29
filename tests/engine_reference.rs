//! Our forward pass and gradient against PyTorch's own numbers, on a model
//! exported by jobs/export_pytorch.py (tests/fixtures/pytorch/make_fixture.py).
mod common;
use common::fixture;
use deepresolve_mpi::model::load_model;
use deepresolve_mpi::network::{layout, Network, Scorer};

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "{what}[{i}]: ours {x}, PyTorch {y} (scale {scale})"
        );
    }
}

#[test]
fn pytorch_fixture_layer_outputs_logits_and_gradient() {
    let spec = load_model(fixture("pytorch/model.h5").as_ref(), None).unwrap();
    assert_eq!(
        spec.class_names.as_deref(),
        Some(&["classA".to_string(), "classB".into(), "classC".into()][..])
    );
    let net = Network::new(&spec).unwrap();
    let r = hdf5::File::open(fixture("pytorch/reference.h5")).unwrap();
    let inputs: Vec<f32> = r.dataset("inputs").unwrap().read_raw().unwrap();
    let n = r.dataset("inputs").unwrap().shape()[0];
    for i in 0..spec.layers.len() {
        let want: Vec<f32> = r
            .dataset(&format!("layer_outputs/{i:04}"))
            .unwrap()
            .read_raw()
            .unwrap();
        let got = net.forward_prefix(&inputs, n, i + 1).unwrap();
        close(&got, &want, &format!("layer {i} ({})", spec.layers[i].name));
    }
    // Scores from the Flatten input are PyTorch's pre-sigmoid logits, gradients its autograd.
    let logits: Vec<f32> = r.dataset("logits").unwrap().read_raw().unwrap();
    let want_grad: Vec<f32> = r.dataset("grad").unwrap().read_raw().unwrap();
    let gl = r.attr("grad_layer").unwrap().read_scalar::<i64>().unwrap() as usize;
    let gc = r.attr("grad_class").unwrap().read_scalar::<i64>().unwrap() as usize;
    let h = net.forward_prefix(&inputs, n, gl).unwrap();
    let (k, w) = net.input_shape(gl);
    let mut sc = Scorer::new(&net, gl, n).unwrap();
    for c in 0..3 {
        let (mut s, mut g) = (vec![0.0; n], vec![0.0; n * k * w]);
        sc.score_grad(
            &layout::to_position_major(&h, n, k, w),
            &vec![c; n],
            &mut s,
            &mut g,
        );
        let want: Vec<f32> = (0..n).map(|i| logits[i * 3 + c]).collect();
        close(&s, &want, &format!("logit of class {c}"));
        if c == gc {
            close(&layout::to_channel_major(&g, n, k, w), &want_grad, "dS/dH");
        }
    }
}
