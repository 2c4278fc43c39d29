//! dS_c/dH against central finite differences, for every layer kind alone and in stacks.
//!
//! Tolerances: the engine is f32. With step h = 3e-3 on scores of size ~1,
//! rounding in the difference quotient is ~1e-7/3e-3 ≈ 3e-5 and the
//! truncation error of a central difference is O(h²·f''') ~ 1e-5 for smooth
//! activations, so |fd − g| ≤ tol = 2e-3·max(1, |g|) is loose enough for
//! noise and tight enough to catch a wrong sign, factor, transpose or index.
//! Piecewise-linear layers (ReLU, max pooling) make the central difference
//! exact unless a kink lies within ±h, and then it is off by at most half the
//! slope jump, which the one-sided differences show. A coordinate whose
//! one-sided differences disagree by more than 2·tol is skipped (an error
//! left after that is a real one) and counted: at most a fifth may be
//! skipped, so a gradient routed to the wrong place still fails.
mod common;
use common::*;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::{layout, Network, Scorer};
use rand::{Rng, SeedableRng};

fn check(spec: &ModelSpec, from: usize, what: &str) {
    let net = Network::new(spec).unwrap_or_else(|e| panic!("{what}: {e}"));
    let sc = Scorer::new(&net, from, 3).unwrap();
    check_scorer(sc, what);
}

const ACTS: [Activation; 7] = [
    Activation::Linear,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Elu,
    Activation::Softplus,
    Activation::Softmax,
];

#[test]
fn conv1d_every_padding_stride_dilation_activation() {
    for (i, act) in ACTS.iter().enumerate() {
        for pad in [Padding::Valid, Padding::Same] {
            for (stride, dil) in [(1, 1), (2, 1), (1, 2), (3, 2)] {
                let mut b = Builder::new(i as u64, 5, 19);
                b.conv(6, 4, stride, dil, pad, *act)
                    .flatten(FlattenOrder::ChannelMajor)
                    .dense(3, Activation::Linear);
                check(
                    &b.build(),
                    0,
                    &format!("conv {act:?} {pad:?} stride {stride} dilation {dil}"),
                );
            }
        }
    }
}

#[test]
fn maxpool_and_global_pools() {
    for pad in [Padding::Valid, Padding::Same] {
        for (pool, stride) in [(2, 2), (3, 1), (4, 3)] {
            let mut b = Builder::new(3, 4, 17);
            b.pool(pool, stride, pad)
                .flatten(FlattenOrder::PositionMajor)
                .dense(2, Activation::Linear);
            check(&b.build(), 0, &format!("maxpool {pool}/{stride} {pad:?}"));
        }
    }
    for kind in [LayerKind::GlobalMaxPool1D, LayerKind::GlobalAvgPool1D] {
        let mut b = Builder::new(4, 6, 9);
        b.push(kind.clone())
            .flatten(FlattenOrder::ChannelMajor)
            .dense(3, Activation::Linear);
        check(&b.build(), 0, &format!("{kind:?}"));
    }
}

#[test]
fn dense_activations_batchnorm_dropout_flatten_orders() {
    for (i, act) in ACTS.iter().enumerate() {
        let mut b = Builder::new(10 + i as u64, 7, 1);
        b.dense(9, *act)
            .push(LayerKind::Dropout)
            .dense(4, Activation::Linear);
        check(&b.build(), 0, &format!("dense {act:?}"));
        let mut b = Builder::new(20 + i as u64, 5, 4);
        b.act(*act)
            .flatten(FlattenOrder::ChannelMajor)
            .dense(3, Activation::Linear);
        check(&b.build(), 0, &format!("activation layer {act:?}"));
    }
    for order in [FlattenOrder::ChannelMajor, FlattenOrder::PositionMajor] {
        let mut b = Builder::new(30, 3, 5);
        b.batchnorm()
            .flatten(order)
            .batchnorm()
            .dense(2, Activation::Linear);
        check(&b.build(), 0, &format!("batchnorm + flatten {order:?}"));
    }
}

#[test]
fn terminal_sigmoid_and_softmax_are_left_out() {
    for act in [Activation::Sigmoid, Activation::Softmax] {
        // inside the last Dense and as a separate layer: both give the pre-activation score
        let mut b = Builder::new(40, 6, 1);
        b.dense(4, act);
        let inside = b.build();
        let mut lin = inside.clone();
        if let LayerKind::Dense { activation, .. } = &mut lin.layers[0].kind {
            *activation = Activation::Linear;
        }
        let mut sep = lin.clone();
        let i = sep.layers.len();
        sep.layers
            .push(LayerSpec::chained("out", LayerKind::Activation(act), i));
        let h: Vec<f32> = (0..6).map(|i| i as f32 * 0.3 - 0.7).collect();
        let score = |spec: &ModelSpec, c: usize| {
            let net = Network::new(spec).unwrap();
            let mut sc = Scorer::new(&net, 0, 1).unwrap();
            let (mut s, mut g) = (vec![0.0], vec![0.0; 6]);
            sc.score_grad(&h, &[c], &mut s, &mut g);
            s[0]
        };
        let full = Network::new(&lin)
            .unwrap()
            .forward_prefix(&h, 1, 1)
            .unwrap();
        for c in 0..4 {
            // sdot (one row) and sgemm (all rows) may sum in different orders
            assert!((score(&inside, c) - full[c]).abs() <= 1e-6 * full[c].abs().max(1.0));
            assert!((score(&sep, c) - full[c]).abs() <= 1e-6 * full[c].abs().max(1.0));
        }
        check(&sep, 0, &format!("separate terminal {act:?}"));
    }
}

#[test]
fn deepsea_like_stack_from_every_layer() {
    let spec = deepsea_like(5);
    for from in 0..spec.layers.len() - 2 {
        check(
            &spec,
            from,
            &format!("deepsea-like stack from layer {from}"),
        );
    }
}

#[test]
fn batched_equals_one_by_one() {
    // OpenBLAS picks different kernels for different row counts (seen here on
    // AMD EPYC: row 0 of A·B changes in the last bit with M), so a batch agrees
    // with single items to rounding, not bit for bit. Bitwise reproducibility
    // across rank counts comes from fixed lanes instead (see ascent::work_items).
    let spec = deepsea_like(9);
    let net = Network::new(&spec).unwrap();
    for from in [0, 2, 4, 7] {
        let mut big = Scorer::new(&net, from, 17).unwrap();
        let mut one = Scorer::new(&net, from, 1).unwrap();
        let n = big.map_len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let h: Vec<f32> = (0..17 * n)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let classes: Vec<usize> = (0..17).map(|i| (i * 3) % 5).collect();
        let (mut s, mut g) = (vec![0.0; 17], vec![0.0; 17 * n]);
        big.score_grad(&h, &classes, &mut s, &mut g);
        for i in 0..17 {
            let (mut s1, mut g1) = (vec![0.0], vec![0.0; n]);
            one.score_grad(&h[i * n..(i + 1) * n], &classes[i..i + 1], &mut s1, &mut g1);
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-2);
            assert!(
                close(s1[0], s[i]),
                "layer {from}, item {i}: score {} vs {}",
                s1[0],
                s[i]
            );
            for (j, (a, b)) in g1.iter().zip(&g[i * n..(i + 1) * n]).enumerate() {
                assert!(
                    close(*a, *b),
                    "layer {from}, item {i}, coordinate {j}: gradient {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn layout_round_trip_and_forward_range_agree_with_scorer() {
    let spec = deepsea_like(2);
    let net = Network::new(&spec).unwrap();
    let (k, w) = net.input_shape(0);
    let x: Vec<f32> = (0..2 * k * w)
        .map(|i| ((i * 37) % 11) as f32 / 11.0)
        .collect();
    assert_eq!(
        layout::to_channel_major(&layout::to_position_major(&x, 2, k, w), 2, k, w),
        x
    );
    // the score from layer 2's input equals the full forward pass's last Dense output
    let mid = net.forward_prefix(&x, 2, 2).unwrap();
    let logits = net.forward_prefix(&x, 2, spec.layers.len() - 1).unwrap();
    let (k2, w2) = net.input_shape(2);
    let mut sc = Scorer::new(&net, 2, 2).unwrap();
    let (mut s, mut g) = (vec![0.0; 2], vec![0.0; 2 * k2 * w2]);
    sc.score_grad(
        &layout::to_position_major(&mid, 2, k2, w2),
        &[1, 3],
        &mut s,
        &mut g,
    );
    assert!((s[0] - logits[1]).abs() <= 1e-5 * logits[1].abs().max(1.0));
    assert!((s[1] - logits[5 + 3]).abs() <= 1e-5 * logits[8].abs().max(1.0));
}

/// Scores and gradients of the first `small` items at a batch of `small`
/// against the same items inside a batch of 70 (which takes sgemm throughout).
fn small_batch_agrees_with_sgemm(spec: &ModelSpec, small: usize, seed: u64) {
    let net = Network::new(spec).unwrap();
    let mut big = Scorer::new(&net, 0, 70).unwrap();
    let mut few = Scorer::new(&net, 0, small).unwrap();
    let n = big.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let h: Vec<f32> = (0..70 * n)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes: Vec<usize> = (0..70).map(|i| i % big.n_classes()).collect();
    let (mut s, mut g) = (vec![0.0; 70], vec![0.0; 70 * n]);
    big.score_grad(&h, &classes, &mut s, &mut g);
    let (mut s_few, mut g_few) = (vec![0.0; small], vec![0.0; small * n]);
    few.score_grad(&h[..small * n], &classes[..small], &mut s_few, &mut g_few);
    let gmax = g[..small * n].iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(
        gmax > 1e-3,
        "gradient is all zero — the test would prove nothing"
    );
    for i in 0..small {
        assert!(
            (s[i] - s_few[i]).abs() <= 1e-4 * s[i].abs().max(1.0),
            "item {i}: score {} (batch 70) vs {} (batch {small})",
            s[i],
            s_few[i]
        );
    }
    for (j, (a, b)) in g[..small * n].iter().zip(&g_few).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * gmax,
            "coordinate {j}: gradient {a} (batch 70) vs {b} (batch {small})"
        );
    }
}

/// A Dense kernel of 4096 × 1100 (4.5 M weights) is past the size where the
/// engine leaves OpenBLAS for its own small-batch kernels (batch ≤ 64 on
/// AVX2/FMA CPUs): finite differences at a batch of 3, and a batch of 9 (the
/// small-batch kernels) against a batch of 70 (sgemm).
#[test]
fn large_dense_small_batch_kernels() {
    let mut b = Builder::new(3, 64, 64);
    b.flatten(FlattenOrder::ChannelMajor)
        .dense(1100, Activation::Relu)
        .dense(8, Activation::Relu)
        .dense(5, Activation::Linear);
    let spec = b.build();
    check(&spec, 0, "large dense");
    small_batch_agrees_with_sgemm(&spec, 9, 5);
}

/// A convolution with 512 filters × 8 taps over 256 channels (1 M weights):
/// up to 64 output rows per batch it takes the small-batch kernel instead of
/// sgemm. Finite differences at a batch of 3 (39 rows), and a batch of 3
/// against a batch of 70 (910 rows, sgemm).
#[test]
fn large_conv_small_batch_kernel() {
    let mut b = Builder::new(4, 256, 20);
    b.conv(512, 8, 1, 1, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(5, Activation::Linear);
    let spec = b.build();
    check(&spec, 0, "large conv");
    small_batch_agrees_with_sgemm(&spec, 3, 8);
    // Dilated (span 15, 6 output positions) on the same path.
    let mut b = Builder::new(5, 256, 20);
    b.conv(512, 8, 1, 2, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(5, Activation::Linear);
    let spec = b.build();
    check(&spec, 0, "large dilated conv");
    small_batch_agrees_with_sgemm(&spec, 3, 8);
}

/// tests/common sets OpenBLAS to one thread before `main` (threaded sgemm in
/// two test threads at once can deadlock); `cargo test` without
/// `OPENBLAS_NUM_THREADS=1` must still get one thread.
#[test]
fn test_processes_run_blas_on_one_thread() {
    extern "C" {
        fn openblas_get_num_threads() -> std::ffi::c_int;
    }
    // SAFETY: a plain getter.
    assert_eq!(unsafe { openblas_get_num_threads() }, 1);
}
