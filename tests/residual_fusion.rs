//! Fused residual blocks give the unfused nodes' numbers bit for bit: the
//! ChromBPNet bench tower (conv+ReLU, cropped skip) and a bpnet-lite-style
//! block (linear conv, ReLU node, same padding, uncropped skip), with the
//! convolutions direct (im2col) and on the Winograd path (`--conv auto`).
mod common;
use common::*;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::{ConvMode, Network, Plan, Scorer};

fn bits(
    net: &Network,
    plan: Plan,
    fuse: bool,
    b: usize,
    mode: ConvMode,
) -> (Vec<u32>, Vec<u32>, usize) {
    let mut sc = Scorer::with_conv(net, plan, b, mode).fusing(fuse);
    let wino = sc.winograd_layers().len();
    assert_eq!(
        wino > 0,
        mode != ConvMode::Direct,
        "{mode:?}: {wino} Winograd layers"
    );
    let n = sc.map_len();
    let h: Vec<f32> = (0..b * n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 700.0)
        .collect();
    let classes: Vec<usize> = (0..b).map(|i| i % sc.n_classes()).collect();
    let (mut s, mut g) = (vec![0f32; b], vec![0f32; b * n]);
    sc.score_grad(&h, &classes, &mut s, &mut g);
    let f = sc.fused_blocks();
    (
        s.iter().map(|v| v.to_bits()).collect(),
        g.iter().map(|v| v.to_bits()).collect(),
        f,
    )
}

#[test]
fn the_chrombpnet_tower_fused_equals_unfused() {
    let net = Network::from_spec(deepresolve_mpi::bench::chrombpnet_tower()).unwrap();
    let plan = || Plan::new(&net, 1, Some(1), None).unwrap();
    for mode in [ConvMode::Direct, ConvMode::Auto] {
        let (s0, g0, f0) = bits(&net, plan(), false, 2, mode);
        let (s1, g1, f1) = bits(&net, plan(), true, 2, mode);
        assert_eq!((f0, f1), (0, 8));
        assert_eq!(s0, s1, "{mode:?}");
        assert!(g0 == g1, "{mode:?}: gradients differ");
    }
}

/// Fused blocks share their outputs' buffers with the block two before
/// (`Scorer::share_tower_maps`): the same bits as above, in less memory.
#[test]
fn a_fused_tower_runs_on_two_maps_per_item() {
    let net = Network::from_spec(deepresolve_mpi::bench::chrombpnet_tower()).unwrap();
    let bytes = |fuse: bool, mode: ConvMode| {
        let plan = Plan::new(&net, 1, Some(1), None).unwrap();
        Scorer::with_conv(&net, plan, 2, mode)
            .fusing(fuse)
            .map_bytes()
    };
    for mode in [ConvMode::Direct, ConvMode::Auto] {
        let (unfused, fused) = (bytes(false, mode), bytes(true, mode));
        // Eight blocks' outputs (and their gradients) in two buffers instead
        // of eight, of the 24 slots of the blocks' nodes (conv, crop, add).
        assert!(
            fused * 5 <= unfused * 4,
            "{mode:?}: map bytes fused {fused}, unfused {unfused}"
        );
    }
}

#[test]
fn a_same_padded_block_with_a_relu_node_fused_equals_unfused() {
    relu_node_blocks(16);
}

/// 24 channels: the ReLU's mask of a Winograd block (16 channels a word)
/// has a row's last word filled channel by channel.
#[test]
fn blocks_of_24_channels_fused_equal_unfused() {
    relu_node_blocks(24);
}

fn relu_node_blocks(k: usize) {
    let mut m = Builder::new(3, 16, 300);
    m.conv(k, 3, 1, 1, Padding::Same, Activation::Relu);
    let mut x = m.at;
    for dil in [2, 4, 8] {
        m.from(x)
            .conv(k, 3, 1, dil, Padding::Same, Activation::Linear);
        let c = m.at;
        let r = m.push_from(LayerKind::Activation(Activation::Relu), &[c]);
        x = m.push_from(LayerKind::Merge(MergeOp::Add), &[x, r]);
    }
    m.from(x)
        .push(LayerKind::GlobalAvgPool1D)
        .dense(3, Activation::Linear);
    let net = Network::from_spec(m.spec.clone()).unwrap();
    let plan = || Plan::new(&net, 1, None, None).unwrap();
    for mode in [ConvMode::Direct, ConvMode::Auto] {
        let (s0, g0, _) = bits(&net, plan(), false, 3, mode);
        let (s1, g1, f1) = bits(&net, plan(), true, 3, mode);
        assert_eq!(f1, 3);
        assert_eq!(s0, s1, "{mode:?}");
        assert!(g0 == g1, "{mode:?}: gradients differ");
    }
}
