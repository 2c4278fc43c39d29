//! A count head that averages a crop of a dilated tower reads only some of
//! the tower's positions; the Winograd path computes only those (the plan's
//! `needed` spans). The scores and gradients agree with the direct path,
//! which computes whole maps; H's gradient is zero outside its span; and an
//! item's bits do not depend on its batch-mates or on what the buffers held.
mod common;
use common::*;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::conv1d_spectral::describe;
use deepresolve_mpi::network::{ConvMode, Network, Plan, Scorer};

/// bpnet-lite's shape, small: a first convolution (H is its output), four
/// same-padded blocks (linear conv, ReLU node, add) at dilations 2..16,
/// then the count head: a crop of 100 each side, the mean, a Dense.
fn tower() -> Network {
    let mut m = Builder::new(11, 4, 300);
    m.conv(16, 5, 1, 1, Padding::Same, Activation::Relu);
    let mut x = m.at;
    for dil in [2, 4, 8, 16] {
        m.from(x)
            .conv(16, 3, 1, dil, Padding::Same, Activation::Linear);
        let c = m.at;
        let r = m.push_from(LayerKind::Activation(Activation::Relu), &[c]);
        x = m.push_from(LayerKind::Merge(MergeOp::Add), &[x, r]);
    }
    m.from(x)
        .push(LayerKind::Crop {
            left: 100,
            right: 100,
        })
        .push(LayerKind::GlobalAvgPool1D)
        .dense(3, Activation::Linear);
    Network::from_spec(m.spec.clone()).unwrap()
}

fn plan(net: &Network) -> Plan {
    Plan::new(net, 1, None, None).unwrap()
}

fn maps(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 7919 % 1000) as f32 - 300.0) / 900.0)
        .collect()
}

fn score_grad(sc: &mut Scorer, h: &[f32], classes: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let (mut s, mut g) = (vec![0f32; classes.len()], vec![0f32; h.len()]);
    sc.score_grad(h, classes, &mut s, &mut g);
    (s, g)
}

#[test]
fn the_spans_follow_the_taps_back_from_the_crop() {
    let net = tower();
    let p = plan(&net);
    // The last block (dilation 16) makes the crop's 100..200; its taps
    // read 84..216, and each block before widens that by its dilation.
    let h = p.needed[p.h];
    assert_eq!((h.lo, h.hi), (70, 230));
    let d = describe(&net, &p, ConvMode::Auto, 4);
    assert!(d.contains("winograd=6@100-200"), "{d}");
    assert!(d.contains("winograd=6@72-228"), "{d}");
    assert!(
        describe(&net, &p, ConvMode::Direct, 4) == "direct",
        "direct computes whole maps"
    );
}

#[test]
fn pruned_winograd_agrees_with_the_direct_path() {
    let net = tower();
    let p = plan(&net);
    let span = p.needed[p.h];
    let mut direct = Scorer::with_conv(&net, p.clone(), 3, ConvMode::Direct);
    let mut wino = Scorer::with_conv(&net, p, 3, ConvMode::Auto);
    assert_eq!(wino.winograd_layers().len(), 4);
    let n = wino.map_len();
    let k = 16;
    let h = maps(3 * n, 0);
    let classes = [0, 1, 2];
    let (s0, g0) = score_grad(&mut direct, &h, &classes);
    let (s1, g1) = score_grad(&mut wino, &h, &classes);
    for (a, b) in s0.iter().zip(&s1) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "score {a} vs {b}");
    }
    let scale = g0.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (i, (a, b)) in g0.iter().zip(&g1).enumerate() {
        let pos = (i % n) / k;
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "gradient at item {} position {pos}: direct {a}, Winograd {b}",
            i / n
        );
        if pos < span.lo || pos >= span.hi {
            assert_eq!(*b, 0.0, "position {pos} is outside {span:?}");
            assert_eq!(*a, 0.0, "direct: position {pos} is outside {span:?}");
        }
    }
}

#[test]
fn pruned_items_do_not_depend_on_batch_mates_or_old_buffers() {
    let net = tower();
    let mut sc = Scorer::with_conv(&net, plan(&net), 4, ConvMode::Auto);
    let n = sc.map_len();
    let the = maps(n, 5);
    let (s_alone, g_alone) = score_grad(&mut sc, &the, &[1]);
    // Other items through every slot first, so the buffers hold their maps.
    let other = maps(4 * n, 77);
    score_grad(&mut sc, &other, &[2, 0, 1, 2]);
    let mut h = other[..3 * n].to_vec();
    h[2 * n..].copy_from_slice(&the);
    let (s, g) = score_grad(&mut sc, &h, &[0, 2, 1]);
    assert_eq!(s[2].to_bits(), s_alone[0].to_bits());
    let differ = g[2 * n..]
        .iter()
        .zip(&g_alone)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "{differ} of {n} gradient values differ");
}

/// The Winograd transforms on AVX-512 vectors (`conv1d_winograd_x512.rs`)
/// give the portable ones' bits: a run of the bpnet-lite fixture (its
/// residual blocks' ReLU masks, the pruned last block) with the AVX-512 and
/// the AVX2 kernel paths writes the same /ascent datasets.
#[test]
fn avx512_transforms_give_the_portable_bits() {
    use deepresolve_mpi::network::simd::SimdPath;
    if !SimdPath::Avx512.available() {
        eprintln!("skipped: this CPU lacks AVX-512F");
        return;
    }
    let d = tmpdir("x512_stages");
    let m = fixture("onnx/bpnet.onnx");
    let mut got = vec![];
    for path in ["avx512", "avx2"] {
        let out = d.join(format!("{path}.h5"));
        let mut a = run_base(&m, "/rconvs.0/Conv", out.to_str().unwrap());
        a.extend([
            "--restarts",
            "2",
            "--max-steps",
            "25",
            "--seed",
            "3",
            "--quiet",
            "--output",
            "profile",
            "--reduce",
            "sum",
        ]);
        let o = run_bin_env(&a, Some(1), 180, &[("DEEPRESOLVE_SIMD", path)]);
        assert!(o.status.success(), "{path}: {}", stderr_of(&o));
        got.push(
            datasets(&out)
                .into_iter()
                .filter(|(p, _)| p.starts_with("/ascent/"))
                .collect::<Vec<_>>(),
        );
    }
    assert!(!got[0].is_empty());
    assert!(
        got[0] == got[1],
        "the AVX-512 transforms changed the results"
    );
}
