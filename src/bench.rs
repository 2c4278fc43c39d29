//! `bench`: ascent throughput against the BLAS's own sgemm rate, in one run.
use crate::model::{Activation, FlattenOrder, LayerKind, LayerSpec, ModelSpec, Padding};
use crate::network::simd::{self, SimdPath};
use crate::network::winograd_tile;
use crate::network::{gemm, ConvMode, Network, Scorer};
use crate::Result;
use std::path::PathBuf;
use std::time::Instant;

/// What `bench` measures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// A real model instead of the DeepSEA-shaped random one.
    pub model: Option<PathBuf>,
    /// The random network to time when there is no model.
    pub shape: BenchShape,
    /// Layer for a real model (default: the input of the last convolution's successor).
    pub layer: Option<String>,
    /// Items per batch; one line per value.
    pub batch: Vec<usize>,
    /// Ascent steps measured per batch size.
    pub steps: usize,
    /// Convolution paths timed, one line each per batch size.
    pub conv: Vec<ConvMode>,
    /// Kernel paths timed (empty: this process's), one line each per batch and conv.
    pub simd: Vec<SimdPath>,
    /// Also write the benchmark network as a native model file.
    pub save_model: Option<PathBuf>,
    /// For `model`: the output scored (`None`: the only one, or the last),
    /// its reduction over positions, and the length of a model saved without one.
    pub output: Option<String>,
    pub reduce: Option<crate::network::Reduce>,
    pub input_length: Option<usize>,
    /// After each line, one more round timed layer by layer (`--per-layer`).
    pub per_layer: bool,
}

/// The random networks `bench` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchShape {
    /// DeepSEA from the input of its third convolution ([`deepsea_tail`]).
    Deepsea,
    /// A ChromBPNet tower scored on its counts head ([`chrombpnet_tower`]).
    Chrombpnet,
    /// A long dilated residual tower, Basenji-sized in length ([`long_tower`]).
    LongTower,
}

impl BenchOptions {
    pub const DEFAULT_STEPS: usize = 5;
}

/// Uniform(−a, a) from a fixed LCG: 47 M weights in well under a second.
fn weights(n: usize, fan_in: usize, seed: u64) -> Vec<f32> {
    let a = (3.0 / fan_in as f32).sqrt();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
        })
        .collect()
}

/// DeepSEA from the input of its third convolution: 480 × 60 → conv 960×8 + ReLU
/// → flatten 50,880 → dense 925 + ReLU → dense 919 (→ sigmoid).
pub fn deepsea_tail() -> ModelSpec {
    let conv = LayerKind::Conv1D {
        filters: 960,
        in_channels: 480,
        kernel_size: 8,
        stride: 1,
        dilation: 1,
        padding: Padding::Valid,
        activation: Activation::Relu,
        kernel: weights(960 * 480 * 8, 480 * 8, 1),
        bias: Some(vec![0.01; 960]),
    };
    let d1 = LayerKind::Dense {
        units: 925,
        in_features: 50880,
        activation: Activation::Relu,
        kernel: weights(925 * 50880, 50880, 2),
        bias: Some(vec![0.01; 925]),
    };
    let d2 = LayerKind::Dense {
        units: 919,
        in_features: 925,
        activation: Activation::Linear,
        kernel: weights(919 * 925, 925, 3),
        bias: Some(vec![0.0; 919]),
    };
    let layers = [
        ("conv3", conv),
        (
            "flatten",
            LayerKind::Flatten {
                order: FlattenOrder::ChannelMajor,
            },
        ),
        ("dense1", d1),
        ("dense2", d2),
        ("sigmoid", LayerKind::Activation(Activation::Sigmoid)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (n, kind))| LayerSpec::chained(n, kind, i))
    .collect();
    ModelSpec {
        input_channels: 480,
        input_width: 60,
        layers,
        outputs: vec![],
        unscorable: Vec::new(),
        tensor_names: vec![],
        class_names: None,
        source: "bench: DeepSEA-shaped, seeded random weights".into(),
    }
}

/// One residual block of the bench towers: `conv` (a valid dilated
/// convolution) on tensor `at`, the skip cropped by `half` on each side to
/// match, and their sum. Returns the tensor the next block reads.
fn residual_block(
    layers: &mut Vec<LayerSpec>,
    i: usize,
    conv: LayerKind,
    half: usize,
    at: usize,
) -> usize {
    layers.push(LayerSpec::new(format!("dil{i}"), conv, vec![at]));
    let c = layers.len();
    layers.push(LayerSpec::new(
        format!("crop{i}"),
        LayerKind::Crop {
            left: half,
            right: half,
        },
        vec![at],
    ));
    layers.push(LayerSpec::new(
        format!("add{i}"),
        LayerKind::Merge(crate::model::MergeOp::Add),
        vec![c, c + 1],
    ));
    layers.len()
}

/// ChromBPNet/BPNet at its published size: one-hot 4 × 2114 → conv 64×21 +
/// ReLU → 8 residual blocks (conv 64×3, dilation 2…256, + ReLU; the skip
/// cropped to match; Add) → a profile head (conv 1×75 → crop to 1000 →
/// flatten) and a counts head (global average → dense 1). H is the first
/// block's input (layer 1), the score the counts head.
pub fn chrombpnet_tower() -> ModelSpec {
    let f = 64;
    let conv = |cin: usize, k: usize, dil: usize, act: Activation, seed: u64| LayerKind::Conv1D {
        filters: if k == 75 { 1 } else { f },
        in_channels: cin,
        kernel_size: k,
        stride: 1,
        dilation: dil,
        padding: Padding::Valid,
        activation: act,
        kernel: weights(if k == 75 { 1 } else { f } * cin * k, cin * k, seed),
        bias: Some(vec![0.01; if k == 75 { 1 } else { f }]),
    };
    let mut layers = vec![LayerSpec::chained(
        "conv0",
        conv(4, 21, 1, Activation::Relu, 11),
        0,
    )];
    let mut at = 1; // the tensor the next block reads
    for i in 1..=8 {
        let dil = 1 << i;
        let kind = conv(f, 3, dil, Activation::Relu, 11 + i as u64);
        at = residual_block(&mut layers, i, kind, dil, at);
    }
    // 2094 − 2·(2 + … + 256) = 1074 positions; conv 75 → 1000.
    layers.push(LayerSpec::new(
        "profile_conv",
        conv(f, 75, 1, Activation::Linear, 30),
        vec![at],
    ));
    layers.push(LayerSpec::new(
        "profile",
        LayerKind::Flatten {
            order: FlattenOrder::ChannelMajor,
        },
        vec![layers.len()],
    ));
    let profile = layers.len();
    layers.push(LayerSpec::new("gap", LayerKind::GlobalAvgPool1D, vec![at]));
    layers.push(LayerSpec::new(
        "counts",
        LayerKind::Dense {
            units: 1,
            in_features: f,
            activation: Activation::Linear,
            kernel: weights(f, f, 31),
            bias: Some(vec![0.0]),
        },
        vec![layers.len()],
    ));
    let counts = layers.len();
    ModelSpec {
        input_channels: 4,
        input_width: 2114,
        layers,
        outputs: vec![
            crate::model::OutputSpec {
                name: "profile".into(),
                tensor: profile,
            },
            crate::model::OutputSpec {
                name: "counts".into(),
                tensor: counts,
            },
        ],
        unscorable: Vec::new(),
        tensor_names: vec![],
        class_names: None,
        source: "bench: ChromBPNet-shaped, seeded random weights".into(),
    }
}

/// The slowest case users bring: a long dilated residual tower. One-hot
/// 4 × 32,768 → conv 32×21 + ReLU → 6 residual blocks (conv 32×k, k = 11, 21,
/// 41, 11, 21, 41, dilation 1…32, + ReLU; the skip cropped to match; Add) →
/// global average → dense 1. The blocks leave 30,858 positions; one ascent
/// step of one item is ~26 GFLOP, so time it at small batches and one step.
/// H is the first block's input (layer 1).
pub fn long_tower() -> ModelSpec {
    let f = 32;
    let conv = |cin: usize, k: usize, dil: usize, seed: u64| LayerKind::Conv1D {
        filters: f,
        in_channels: cin,
        kernel_size: k,
        stride: 1,
        dilation: dil,
        padding: Padding::Valid,
        activation: Activation::Relu,
        kernel: weights(f * cin * k, cin * k, seed),
        bias: Some(vec![0.01; f]),
    };
    let mut layers = vec![LayerSpec::chained("conv0", conv(4, 21, 1, 41), 0)];
    let mut at = 1;
    for (i, k) in [11usize, 21, 41, 11, 21, 41].into_iter().enumerate() {
        let dil = 1 << i;
        at = residual_block(
            &mut layers,
            i,
            conv(f, k, dil, 42 + i as u64),
            dil * (k - 1) / 2,
            at,
        );
    }
    layers.push(LayerSpec::new("gap", LayerKind::GlobalAvgPool1D, vec![at]));
    layers.push(LayerSpec::new(
        "counts",
        LayerKind::Dense {
            units: 1,
            in_features: f,
            activation: Activation::Linear,
            kernel: weights(f, f, 49),
            bias: Some(vec![0.0]),
        },
        vec![layers.len()],
    ));
    let counts = layers.len();
    ModelSpec {
        input_channels: 4,
        input_width: 32_768,
        layers,
        outputs: vec![crate::model::OutputSpec {
            name: "counts".into(),
            tensor: counts,
        }],
        unscorable: Vec::new(),
        tensor_names: vec![],
        class_names: None,
        source: "bench: long dilated residual tower, seeded random weights".into(),
    }
}

/// Single-core sgemm rate on 2048² matrices, measured in rounds between the
/// step rounds: a shared machine's speed drifts by ~20% within a minute, so
/// the rate each figure is divided by is measured in the same window.
pub struct SgemmProbe {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    best: f64,
}

impl SgemmProbe {
    const N: usize = 2048;

    pub fn new() -> SgemmProbe {
        let n = Self::N;
        let mut p = SgemmProbe {
            a: weights(n * n, n, 4),
            b: weights(n * n, n, 5),
            c: vec![0f32; n * n],
            best: 0.0,
        };
        p.round(); // warm-up
        p.best = 0.0;
        p
    }

    /// One product; keeps the best rate seen since the last `take`.
    pub fn round(&mut self) {
        let n = Self::N;
        let t = Instant::now();
        gemm::sgemm(
            false,
            false,
            n,
            n,
            n,
            1.0,
            &self.a,
            n,
            &self.b,
            n,
            0.0,
            &mut self.c,
            n,
        );
        let r = 2.0 * (n * n * n) as f64 / t.elapsed().as_secs_f64() / 1e9;
        self.best = self.best.max(r);
    }

    pub fn take(&mut self) -> f64 {
        std::mem::take(&mut self.best)
    }

    /// Resident bytes of the probe's matrices, MB (not the ascent's).
    pub fn matrices_mb(&self) -> f64 {
        ((self.a.len() + self.b.len() + self.c.len()) * 4) as f64 / (1024.0 * 1024.0)
    }
}

impl Default for SgemmProbe {
    fn default() -> Self {
        Self::new()
    }
}

pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// H when `--layer` is not given: the first block's input for the towers,
/// and for a model file the input of the layer after the last convolution
/// (the paper's usual choice).
fn default_layer(spec: &ModelSpec, args: &BenchOptions) -> usize {
    if args.model.is_none() {
        return if args.shape == BenchShape::Deepsea {
            0
        } else {
            1
        };
    }
    spec.layers
        .iter()
        .rposition(|l| matches!(l.kind, LayerKind::Conv1D { .. }))
        .map_or(0, |i| i + 1)
}

/// Step rounds (and sgemm rounds) per batch size; the best of each is kept.
const ROUNDS: usize = 5;

pub fn bench(args: &BenchOptions) -> Result<()> {
    let paths = if args.simd.is_empty() {
        vec![simd::current()]
    } else {
        args.simd.clone()
    };
    for &p in &paths {
        simd::check(p.as_str(), "--simd")?;
    }
    let spec = match (&args.model, args.shape) {
        (Some(p), _) => crate::model::load_model_sized(p, None, None, args.input_length)?,
        (None, BenchShape::Deepsea) => deepsea_tail(),
        (None, BenchShape::Chrombpnet) => chrombpnet_tower(),
        (None, BenchShape::LongTower) => long_tower(),
    };
    // A model with several outputs is scored on its last one (the counts head).
    let outs = spec.output_list();
    let output = match &args.output {
        Some(o) => Some(
            outs.iter()
                .position(|x| &x.name == o)
                .or_else(|| o.parse().ok().filter(|&i| i < outs.len()))
                .ok_or_else(|| {
                    crate::Error::Input(format!("--output {o:?} is not an output of the model"))
                })?,
        ),
        None => (outs.len() > 1).then(|| outs.len() - 1),
    };
    if let Some(path) = &args.save_model {
        crate::model::native::save_native(&spec, path)?;
        println!("# wrote the benchmark network to {}", path.display());
    }
    let (source, names) = (
        spec.source.clone(),
        spec.layers
            .iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>(),
    );
    // `--layer` reads as in `run`: a layer (H = its input) or, for a model
    // file that names its tensors (ONNX), a tensor (H = that tensor).
    let (layer, h_tensor) = match (&args.layer, &args.model) {
        (Some(l), Some(p)) => crate::job::find_h(&spec, l, p)?,
        (Some(l), None) => (
            spec.find_layer(l)
                .ok_or_else(|| crate::Error::Input(format!("--layer {l:?} not in the model")))?,
            None,
        ),
        (None, _) => (default_layer(&spec, args), None),
    };
    let net = Network::from_spec(spec)?;
    let make_plan = || match (h_tensor, &args.layer) {
        (Some(t), Some(l)) => crate::network::Plan::at_tensor(&net, t, l, output, args.reduce),
        _ => crate::network::Plan::new(&net, layer, output, args.reduce),
    };
    let h_label = match (h_tensor, &args.layer) {
        (Some(_), Some(l)) => l.clone(),
        _ => format!("layer {layer} ({})", names[layer]),
    };
    println!(
        "# {source}; {h_label}, H = {:?}",
        match h_tensor {
            Some(t) => net.tensor_shape(t),
            None => net.input_shape(layer),
        }
    );
    println!(
        "# per line: best of {ROUNDS} rounds of {} steps, and best of {ROUNDS} sgemm 2048³ rounds interleaved with them (OPENBLAS_NUM_THREADS={}); peak_rss_mb leaves out the sgemm matrices",
        args.steps,
        std::env::var("OPENBLAS_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    {
        let plan = make_plan()?;
        let depthwise = crate::network::conv1d_spectral::depthwise_layers(&net, &plan);
        if !depthwise.is_empty() {
            println!("# depthwise, channel by channel: {}", depthwise.join(", "));
        }
        for &b in &args.batch {
            use crate::network::conv1d_spectral::ConvPath;
            let auto =
                crate::network::conv1d_spectral::fast_nodes(&net, &plan, ConvMode::Auto, b.max(1));
            if auto.is_empty() {
                let other = if depthwise.is_empty() { "" } else { " other" };
                println!("# --conv auto at batch {b}: every{other} convolution after H direct");
            }
            let wino: Vec<&str> = auto
                .iter()
                .filter(|(_, _, p)| *p == ConvPath::Winograd)
                .map(|(_, name, _)| name.as_str())
                .collect();
            if !wino.is_empty() {
                println!(
                    "# --conv auto and fast at batch {b}: {} by {} ({}={})",
                    wino.join(", "),
                    winograd_tile::current().name(),
                    winograd_tile::ENV,
                    std::env::var(winograd_tile::ENV).unwrap_or_else(|_| "unset".into())
                );
            }
            for (_, name, p) in &auto {
                let ConvPath::Dft(c) = p else { continue };
                println!(
                    "# --conv auto at batch {b}: {name} through the real DFT, length {}, {} outputs per block, spectra {:.0} MB",
                    c.n,
                    c.l,
                    (c.spectra * 4) as f64 / (1024.0 * 1024.0)
                );
            }
        }
    }
    println!(
        "# kernels: {} (this CPU's fastest: {}; {}={})",
        paths
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        SimdPath::best().as_str(),
        simd::ENV,
        std::env::var(simd::ENV).unwrap_or_else(|_| "unset".into())
    );
    let mut probe = SgemmProbe::new();
    for &b in &args.batch {
        // The paths back to back per batch and conv, so one line of each is
        // measured under the same load.
        for (&conv, &path) in args
            .conv
            .iter()
            .flat_map(|c| paths.iter().map(move |p| (c, p)))
        {
            simd::force(path)?;
            let plan = make_plan()?;
            let mut sc = Scorer::with_conv(&net, plan, b.max(1), conv);
            let n = sc.map_len();
            let classes: Vec<usize> = (0..b).map(|i| i % sc.n_classes()).collect();
            let mut h = weights(b * n, 1, 7 + b as u64);
            let mut g = vec![0f32; b * n];
            let mut s = vec![0f32; b];
            sc.score_grad(&h, &classes, &mut s, &mut g); // warm-up: buffers, caches
            let el = (0..ROUNDS)
                .map(|_| {
                    probe.round();
                    let t = Instant::now();
                    for _ in 0..args.steps {
                        sc.score_grad(&h, &classes, &mut s, &mut g);
                        for (v, d) in h.iter_mut().zip(&g) {
                            *v += 0.01 * (d - 2.0 * *v);
                        }
                    }
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            let peak = probe.take();
            let layers = if args.per_layer {
                // A round of its own, so the clock reads stay out of the figures above.
                sc.time_layers(true);
                for _ in 0..args.steps {
                    sc.score_grad(&h, &classes, &mut s, &mut g);
                }
                let t = sc.step_times();
                sc.time_layers(false);
                t
            } else {
                None
            };
            let rate = (b * args.steps) as f64 / el;
            let gflops = rate * sc.flops_per_item() / 1e9;
            println!(
            "conv={} batch={b} item_steps_per_s={rate:.2} gflops={gflops:.2} sgemm_gflops={peak:.2} efficiency={:.3} peak_rss_mb={:.0} simd={}",
            conv.as_str(),
            gflops / peak,
            peak_rss_mb() - probe.matrices_mb(),
            path.as_str()
        );
            if let Some(t) = layers {
                print_layers(&t, b * args.steps);
            }
        }
    }
    Ok(())
}

/// The per-layer table under a `bench` line: seconds per item-step forward
/// and backward, and each row's share of the timed calls (the rows, the
/// head and the scorer's own bookkeeping add up to 1).
fn print_layers(t: &crate::network::StepTimes, item_steps: usize) {
    let per = |s: f64| s / item_steps.max(1) as f64;
    let total = t.total_s.max(f64::MIN_POSITIVE);
    println!(
        "# per layer: one more round, seconds per item-step; share of the round's {:.4} s",
        t.total_s
    );
    let rows = t
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.op.as_str(), l.forward_s, l.backward_s))
        .chain([
            ("(head)", "head", t.head_s, 0.0),
            ("(other)", "scorer", t.other_s(), 0.0),
        ]);
    for (name, op, f, b) in rows {
        println!(
            "layer={name} op={op} forward_s={:.4e} backward_s={:.4e} share={:.4}",
            per(f),
            per(b),
            (f + b) / total
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ChromBPNet tower item runs alone in its sub-batch, so its scorer is
    /// batch-invariant on the direct path and `run` refills its lanes.
    #[test]
    fn chrombpnet_tower_items_run_alone() {
        let net = Network::from_spec(chrombpnet_tower()).expect("the bench tower builds");
        let plan = crate::network::Plan::new(&net, 1, Some(1), None).expect("a plan");
        let sc = Scorer::with_conv(&net, plan, 8, ConvMode::Direct);
        assert!(sc.batch_invariant());
    }

    /// The long tower is the size its docs give: the blocks' crops leave
    /// 30,858 positions, and H is the first block's input.
    #[test]
    fn long_tower_has_its_documented_shape() {
        let net = Network::from_spec(long_tower()).expect("the bench tower builds");
        assert_eq!(net.input_shape(1), (32, 32_748));
        assert_eq!(net.tensor_shape(19), (32, 30_858));
    }
}
