//! The spectral convolution path (`--conv fast`) against finite differences
//! and against the direct path, and the batch invariance that lets a rank
//! refill its batch from the next lane.
mod common;
use common::*;
use deepresolve_mpi::ascent::{run_lane, AscentParams, Item};
use deepresolve_mpi::model::native::save_native;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::simd::{self, SimdPath};
use deepresolve_mpi::network::{ConvMode, Network, Plan, Reduce, Scorer};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Kernel sizes 1–25, dilations, odd map sizes, both paddings, several convs
/// after H: the gradient through the spectral path against finite differences.
#[test]
fn spectral_gradients_match_finite_differences() {
    let cases = [
        // k, w, filters, kernel, dilation, padding
        (3, 17, 5, 1, 1, Padding::Valid),
        (4, 23, 6, 5, 1, Padding::Same),
        (5, 31, 4, 8, 2, Padding::Valid),
        (3, 41, 3, 25, 1, Padding::Same),
        (6, 29, 7, 4, 3, Padding::Same),
        (2, 13, 3, 13, 1, Padding::Valid),
    ];
    for (i, &(k, w, f, ks, dil, pad)) in cases.iter().enumerate() {
        let mut b = Builder::new(40 + i as u64, k, w);
        b.conv(f, ks, 1, dil, pad, Activation::Relu)
            .conv(4, 3, 1, 1, Padding::Same, Activation::Elu)
            .flatten(FlattenOrder::ChannelMajor)
            .dense(3, Activation::Linear);
        let net = Network::new(&b.build()).unwrap();
        let plan = Plan::new(&net, 0, None, None).unwrap();
        let sc = Scorer::with_conv(&net, plan, 3, ConvMode::Fast);
        assert_eq!(
            sc.spectral_layers().len(),
            2,
            "case {i}: both convolutions should take the spectral path"
        );
        check_scorer(
            sc,
            &format!("spectral conv k {k} w {w} f {f} kernel {ks} dilation {dil} {pad:?}"),
        );
    }
}

/// (score, gradient) of 5 random maps through `sc`.
fn evaluate(sc: &mut Scorer, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let n = sc.map_len();
    let b = 5.min(sc.capacity());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let h: Vec<f32> = (0..b * n)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes: Vec<usize> = (0..b).map(|i| (3 * i) % sc.n_classes()).collect();
    let (mut s, mut g) = (vec![0.0; b], vec![0.0; b * n]);
    sc.score_grad(&h, &classes, &mut s, &mut g);
    (s, g)
}

/// A plan at H = input of layer `layer`, for whichever output and reduction fit.
fn some_plan(net: &Network, layer: usize) -> Option<Plan> {
    for out in 0..net.outputs().len() {
        for reduce in [None, Some(Reduce::Sum)] {
            if let Ok(p) = Plan::new(net, layer, Some(out), reduce) {
                return Some(p);
            }
        }
    }
    None
}

/// Every model fixture with a stride-1 convolution: from the input of each
/// such convolution, scores within 1e-5 and gradients within 1e-4 (relative
/// to the largest) of the direct path.
#[test]
fn spectral_equals_direct_on_every_conv_fixture() {
    let fixtures = [
        "graphs/chrombpnet.h5",
        "graphs/basenji.h5",
        "graphs/deepstarr.h5",
        "graphs/ops.h5",
        "onnx/beluga.onnx",
        "onnx/bpnet.onnx",
        "onnx/gelu_bn.onnx",
        "onnx/misc_ops.onnx",
        "pytorch/model.h5",
    ];
    let mut compared = 0;
    for fx in fixtures {
        let spec = load_model(Path::new(&fixture(fx)), None).unwrap();
        let convs: Vec<usize> = spec
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.kind, LayerKind::Conv1D { stride: 1, .. }))
            .map(|(i, _)| i)
            .collect();
        let net = Network::from_spec(spec).unwrap();
        for layer in convs {
            let Some(plan) = some_plan(&net, layer) else {
                continue;
            };
            let mut direct = Scorer::with_conv(&net, plan.clone(), 5, ConvMode::Direct);
            let mut fast = Scorer::with_conv(&net, plan, 5, ConvMode::Fast);
            assert!(
                !fast.spectral_layers().is_empty() || !fast.winograd_layers().is_empty(),
                "{fx} layer {layer}"
            );
            let (sd, gd) = evaluate(&mut direct, layer as u64);
            let (sf, gf) = evaluate(&mut fast, layer as u64);
            for (a, b) in sf.iter().zip(&sd) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{fx} from layer {layer}: score {a} spectral vs {b} direct"
                );
            }
            let gmax = gd.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                gmax > 0.0,
                "{fx} layer {layer}: zero gradient proves nothing"
            );
            for (i, (a, b)) in gf.iter().zip(&gd).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * gmax,
                    "{fx} from layer {layer}: gradient [{i}] {a} spectral vs {b} direct (max {gmax})"
                );
            }
            compared += 1;
        }
    }
    assert!(
        compared >= 8,
        "only {compared} (fixture, layer) pairs compared"
    );
}

/// DeepSEA-like at toy size, from the input of its third convolution, on the
/// spectral path: a scorer whose products all sum in their own fixed order.
fn invariant_model() -> ModelSpec {
    let mut b = Builder::new(77, 12, 24);
    b.conv(20, 8, 1, 1, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(30, Activation::Relu)
        .dense(9, Activation::Linear)
        .act(Activation::Sigmoid);
    b.build()
}

/// An item's score and gradient are bitwise the same alone, in a batch of
/// 7, and at slot 0 or 31 of a batch of 32 — and so is its whole ascent.
#[test]
fn an_item_does_not_depend_on_its_batch_mates_or_slot() {
    let net = Network::new(&invariant_model()).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    let mut sc = Scorer::with_conv(&net, plan, 32, ConvMode::Fast);
    if !sc.batch_invariant() {
        eprintln!("skipped: this CPU lacks AVX2/FMA, so the scorer is not batch-invariant and lanes drain");
        return;
    }
    assert_eq!(sc.spectral_layers().len(), 1);
    eprintln!("kernels: {}", simd::current().as_str());
    let n = sc.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let maps: Vec<f32> = (0..33 * n)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes: Vec<usize> = (0..33).map(|i| (i * 5) % 9).collect();
    let the = &maps[..n];
    let class = classes[0];
    let run = |sc: &mut Scorer, at: usize, b: usize| {
        // The item at slot `at` of a batch of `b`, the others from `maps`.
        let mut h = maps[n..(b + 1) * n].to_vec();
        let mut cl = classes[1..=b].to_vec();
        h[at * n..(at + 1) * n].copy_from_slice(the);
        cl[at] = class;
        let (mut s, mut g) = (vec![0.0; b], vec![0.0; b * n]);
        sc.score_grad(&h[..b * n], &cl[..b], &mut s, &mut g);
        (
            s[at].to_bits(),
            g[at * n..(at + 1) * n]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
        )
    };
    let alone = run(&mut sc, 0, 1);
    assert!(alone.1.iter().any(|&b| f32::from_bits(b) != 0.0));
    for (at, b) in [(3, 7), (0, 32), (31, 32), (6, 7)] {
        let (s, g) = run(&mut sc, at, b);
        let differ = g.iter().zip(&alone.1).filter(|(a, b)| a != b).count();
        assert!(
            s == alone.0 && differ == 0,
            "slot {at} of a batch of {b}: score {} vs {} alone, {differ} of {n} gradient values differ",
            f32::from_bits(s),
            f32::from_bits(alone.0)
        );
    }
    // Whole ascents: the item alone in its lane, and last in a lane of 40.
    let p = AscentParams::new().max_steps(30).check().unwrap();
    let item = |c: usize, r: usize| Item {
        class_pos: c,
        class: c,
        restart: r,
    };
    let lone = run_lane(&mut sc, &[item(4, 2)], &p, (12, 24), &mut |_| Ok(())).unwrap();
    let mut lane: Vec<Item> = (0..39).map(|i| item(i % 9, 10 + i)).collect();
    lane.push(item(4, 2));
    let crowd = run_lane(&mut sc, &lane, &p, (12, 24), &mut |_| Ok(())).unwrap();
    let last = crowd.last().unwrap();
    assert_eq!(last.item, lone[0].item);
    assert!(lone[0].steps > 0);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&last.fim),
        bits(&lone[0].fim),
        "the FIM depends on the batch"
    );
    assert_eq!(last.score.to_bits(), lone[0].score.to_bits());
}

/// The test above once per kernel path this CPU has, each in a child
/// process with `DEEPRESOLVE_SIMD` set (the path is chosen once per process).
#[test]
fn an_item_does_not_depend_on_its_batch_mates_on_every_kernel_path() {
    if std::env::var_os("DEEPRESOLVE_TEST_CHILD").is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut ran = 0;
    for p in [SimdPath::Avx2, SimdPath::Avx512] {
        if !p.available() {
            eprintln!("{}: not on this CPU, not checked", p.as_str());
            continue;
        }
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "--exact",
            "an_item_does_not_depend_on_its_batch_mates_or_slot",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(simd::ENV, p.as_str())
        .env("DEEPRESOLVE_TEST_CHILD", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let child = {
            let _g = file_guard();
            cmd.spawn().unwrap()
        };
        let out = child.wait_with_output().unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{}: {log}", p.as_str());
        assert!(
            log.contains(&format!("kernels: {}", p.as_str())) && log.contains("1 passed"),
            "{}: {log}",
            p.as_str()
        );
        ran += 1;
    }
    assert!(ran > 0 || !SimdPath::Avx2.available());
}

/// A file's OFIV as a flat vector.
fn ofiv(path: &Path) -> Vec<f64> {
    let f = hdf5::File::open(path).unwrap();
    f.dataset("analysis/ofiv")
        .unwrap()
        .read_raw::<f64>()
        .unwrap()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &t in &idx[i..=j] {
            r[t] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let m = (a.len() - 1) as f64 / 2.0;
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        num += (x - m) * (y - m);
        da += (x - m) * (x - m);
        db += (y - m) * (y - m);
    }
    num / (da * db).sqrt()
}

/// Whole runs: OFIVs of the spectral path against the direct one (Spearman
/// ≥ 0.999), and the refilling runs bitwise the same for 1, 2 and 3 ranks.
#[test]
fn whole_runs_agree_across_paths_and_rank_counts() {
    let d = tmpdir("conv_paths");
    let model = d.join("model.h5");
    {
        let _g = file_guard();
        save_native(&invariant_model(), &model).unwrap();
    }
    let m = model.to_str().unwrap();
    let run = |conv: &str, out: &Path, n: Option<usize>| {
        let o = out.to_str().unwrap();
        let mut a = run_base(m, "0", o);
        a.extend([
            "--restarts",
            "12",
            "--batch",
            "4",
            "--lane",
            "3",
            "--max-steps",
            "60",
            "--conv",
            conv,
            "--overwrite",
        ]);
        let out = run_bin(&a, n, 180);
        assert!(out.status.success(), "--conv {conv}: {}", stderr_of(&out));
        stderr_of(&out)
    };
    let direct = d.join("direct.h5");
    let log = run("direct", &direct, Some(2));
    assert!(log.contains("drains"), "{log}");
    let mut fast = vec![];
    for n in 1..=3 {
        let f = d.join(format!("fast{n}.h5"));
        let log = run("fast", &f, Some(n));
        assert!(log.contains("through the real DFT"), "{log}");
        if cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("fma") {
            assert!(log.contains("refill from the next lane"), "{log}");
        }
        fast.push(f);
    }
    for f in &fast[1..] {
        assert_same_datasets(&fast[0], f);
    }
    let (a, b) = (ofiv(&direct), ofiv(&fast[0]));
    assert_eq!(a.len(), 9 * 12);
    assert!(
        a != b,
        "the two paths gave bitwise equal OFIVs: the comparison shows nothing"
    );
    let rho = spearman(&a, &b);
    assert!(
        rho >= 0.999,
        "Spearman {rho} between the direct and spectral OFIVs"
    );
    // The paths differ in the last bits: a resume must not mix them.
    let o = fast[0].to_str().unwrap();
    let mut a = run_base(m, "0", o);
    a.extend([
        "--restarts",
        "12",
        "--batch",
        "4",
        "--lane",
        "3",
        "--max-steps",
        "60",
        "--conv",
        "direct",
        "--resume",
    ]);
    let out = run_bin(&a, Some(2), 60);
    let err = stderr_of(&out);
    assert!(
        !out.status.success(),
        "a resume with another --conv succeeded"
    );
    assert!(
        err.contains("different --conv") && err.contains("--conv fast"),
        "{err}"
    );
}

/// `inspect` says how `--conv auto` computes each convolution after H.
#[test]
fn inspect_names_each_convolutions_path() {
    let d = tmpdir("conv_inspect");
    let model = d.join("wide.h5");
    let mut b = Builder::new(3, 64, 60);
    b.conv(64, 25, 1, 1, Padding::Valid, Activation::Relu)
        .conv(8, 3, 2, 1, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(4, Activation::Linear);
    {
        let _g = file_guard();
        save_native(&b.build(), &model).unwrap();
    }
    let o = run_bin(&["inspect", model.to_str().unwrap()], None, 30);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", stderr_of(&o));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("conv1d")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("after H at --batch 32: DFT of"),
        "{}",
        lines[0]
    );
    // Stride 2: the DFT path cannot take it.
    assert!(
        lines[1].contains("after H at --batch 32: direct"),
        "{}",
        lines[1]
    );
}

/// With a batch-invariant scorer the batch is refilled from the next lane:
/// lanes of 3 items keep a batch of 4 full until the lanes run out, and every
/// lane comes back whole and in lane order.
#[test]
fn a_batch_invariant_scorer_refills_from_the_next_lane() {
    use deepresolve_mpi::ascent::{run_lanes, ItemResult, LaneFeed, Next};
    let net = Network::new(&invariant_model()).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    let mut sc = Scorer::with_conv(&net, plan, 4, ConvMode::Fast);
    if !sc.batch_invariant() {
        eprintln!("skipped: this CPU lacks AVX2/FMA, so lanes drain");
        return;
    }
    struct Feed {
        lanes: Vec<Vec<Item>>,
        next: usize,
        done: Vec<(usize, Vec<ItemResult>)>,
    }
    impl LaneFeed for Feed {
        fn next(&mut self, _wait: bool) -> deepresolve_mpi::Result<Next> {
            self.next += 1;
            Ok(match self.lanes.get(self.next - 1) {
                Some(l) => Next::Lane(self.next - 1, l.clone()),
                None => Next::End,
            })
        }
        fn done(&mut self, lane: usize, r: Vec<ItemResult>) -> deepresolve_mpi::Result<()> {
            self.done.push((lane, r));
            Ok(())
        }
    }
    let lanes: Vec<Vec<Item>> = (0..6)
        .map(|l| {
            (0..3)
                .map(|i| Item {
                    class_pos: (l + i) % 9,
                    class: (l + i) % 9,
                    restart: 3 * l + i,
                })
                .collect()
        })
        .collect();
    let mut feed = Feed {
        lanes: lanes.clone(),
        next: 0,
        done: vec![],
    };
    let p = AscentParams::new().max_steps(25).check().unwrap();
    let mut batches = vec![];
    run_lanes(&mut sc, &mut feed, &p, (12, 24), &mut |m| {
        batches.push(m);
        Ok(())
    })
    .unwrap();
    // Items started by the time the last lane was handed out: 18; until the
    // queue empties, every step runs a full batch.
    let full = batches.iter().take_while(|&&m| m == 4).count();
    assert!(
        full >= 25,
        "only the first {full} steps ran a full batch of 4 ({batches:?}): lanes of 3 drained"
    );
    assert_eq!(feed.done.len(), 6);
    for (lane, r) in &feed.done {
        let items: Vec<Item> = r.iter().map(|x| x.item).collect();
        assert_eq!(items, lanes[*lane], "lane {lane} came back out of order");
    }
}

/// Items too big to share a sub-batch (a long tower) run one at a time, so a
/// scorer on the direct path (sgemm) is batch-invariant too: the item's
/// score and gradient are bitwise the same alone and at any slot of a batch.
/// That is what lets tower runs refill lanes instead of draining them.
#[test]
fn items_that_run_alone_keep_a_direct_scorer_batch_invariant() {
    let net = Network::new(&invariant_model()).unwrap();
    let plan = Plan::new(&net, 0, None, None).unwrap();
    let mut sc = Scorer::with_conv(&net, plan, 16, ConvMode::Direct);
    assert!(sc.spectral_layers().is_empty());
    sc.set_sub_batch_budget(1);
    assert!(
        sc.batch_invariant(),
        "one item per sub-batch must make the scorer batch-invariant"
    );
    let n = sc.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let maps: Vec<f32> = (0..16 * n)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let classes: Vec<usize> = (0..16).map(|i| (i * 4) % 9).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (mut s1, mut g1) = (vec![0.0; 1], vec![0.0; n]);
    sc.score_grad(&maps[5 * n..6 * n], &classes[5..6], &mut s1, &mut g1);
    let (mut s, mut g) = (vec![0.0; 16], vec![0.0; 16 * n]);
    sc.score_grad(&maps, &classes, &mut s, &mut g);
    assert_eq!(s[5].to_bits(), s1[0].to_bits(), "score at slot 5 of 16");
    assert_eq!(
        bits(&g[5 * n..6 * n]),
        bits(&g1),
        "gradient at slot 5 of 16"
    );
}

/// A tower of kernel-3 convolutions with 16 channels: `--conv auto` puts
/// each on the Winograd path and the results file records it as
/// `LAYER:winograd=6`; `--conv direct` records `direct`; a resume with the
/// other `--conv` is refused; `DEEPRESOLVE_WINOGRAD=4` runs F(4,3) (what
/// earlier releases ran), recorded as `winograd=4`, and a resume under the
/// other tile is refused with the variable to set; `inspect` names the path.
#[test]
fn winograd_convolutions_are_recorded_and_kept_apart_on_resume() {
    use deepresolve_mpi::model::h5util::str_attr;
    let d = tmpdir("conv_winograd");
    let model = d.join("tower.h5");
    let mut b = Builder::new(5, 16, 80);
    b.conv(16, 3, 1, 1, Padding::Same, Activation::Relu)
        .conv(24, 3, 1, 2, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(3, Activation::Linear);
    {
        let _g = file_guard();
        save_native(&b.build(), &model).unwrap();
    }
    let m = model.to_str().unwrap();
    let run = |conv: &str, out: &Path, resume: bool| {
        let mut a = run_base(m, "0", out.to_str().unwrap());
        a.extend(["--restarts", "4", "--max-steps", "10", "--conv", conv]);
        a.push(if resume { "--resume" } else { "--overwrite" });
        run_bin(&a, Some(2), 120)
    };
    let paths = |p: &Path| str_attr(&hdf5::File::open(p).unwrap(), "conv_paths").unwrap();
    let (auto, direct) = (d.join("auto.h5"), d.join("direct.h5"));
    // One rank: rank 0 logs the engine only when it runs a lane itself, and
    // on 2 ranks the one lane may go to rank 1 (the line was then missing).
    let mut a = run_base(m, "0", auto.to_str().unwrap());
    a.extend([
        "--restarts",
        "4",
        "--max-steps",
        "10",
        "--conv",
        "auto",
        "--overwrite",
    ]);
    let o = run_bin(&a, Some(1), 120);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(
        stderr_of(&o).contains("by Winograd F(6,3)"),
        "{}",
        stderr_of(&o)
    );
    let p = paths(&auto);
    assert_eq!(p.matches(":winograd=6").count(), 2, "{p}");
    assert!(!p.contains("dft"), "{p}");
    // Each item on its own: 2 and 3 ranks (batches of 3, refilled from the
    // next lane) give the 1-rank file's bits.
    for n in [2, 3] {
        let other = d.join(format!("auto{n}.h5"));
        let mut a = run_base(m, "0", other.to_str().unwrap());
        a.extend([
            "--restarts",
            "4",
            "--max-steps",
            "10",
            "--conv",
            "auto",
            "--overwrite",
        ]);
        let o = run_bin(&a, Some(n), 120);
        assert!(o.status.success(), "{}", stderr_of(&o));
        assert_same_datasets(&auto, &other);
    }
    let o = run("direct", &direct, false);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(paths(&direct), "direct");
    let o = run("direct", &auto, true);
    let err = stderr_of(&o);
    assert!(
        !o.status.success(),
        "a resume with another --conv succeeded"
    );
    assert!(
        err.contains("different --conv") && err.contains("winograd=6"),
        "{err}"
    );
    assert!(err.contains("resume with --conv auto"), "{err}");
    // A file made under auto before Winograd recorded `direct` (here: the
    // direct file, its `conv` attribute made `auto`): only --conv direct
    // makes it again, whatever --conv it was made with.
    {
        let _g = file_guard();
        let f = open_rw_waiting(&direct);
        f.delete_attr("conv").unwrap();
        let v: hdf5::types::VarLenUnicode = "auto".parse().unwrap();
        f.new_attr::<hdf5::types::VarLenUnicode>()
            .create("conv")
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }
    let o = run("auto", &direct, true);
    let err = stderr_of(&o);
    assert!(
        !o.status.success(),
        "a resume with another --conv succeeded"
    );
    assert!(err.contains("resume with --conv direct"), "{err}");
    let o = run_bin(&["inspect", m], None, 30);
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("conv1d")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        assert!(l.contains("after H at --batch 32: Winograd F(6,3)"), "{l}");
    }
    // F(4,3): other bits, the same values to rounding, its own record.
    let f4 = d.join("f4.h5");
    let f4_env = [("DEEPRESOLVE_WINOGRAD", "4")];
    let mut a = run_base(m, "0", f4.to_str().unwrap());
    a.extend(["--restarts", "4", "--max-steps", "10", "--overwrite"]);
    let o = run_bin_env(&a, Some(2), 120, &f4_env);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let p4 = paths(&f4);
    assert_eq!(p4, p.replace(":winograd=6", ":winograd=4"));
    let h = |p: &Path| {
        let f = hdf5::File::open(p).unwrap();
        f.dataset("ascent/fim").unwrap().read_raw::<f32>().unwrap()
    };
    let (h6, h4) = (h(&auto), h(&f4));
    assert_ne!(h6, h4, "F(4,3) and F(6,3) gave the same bits");
    let scale = h6.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (x, y) in h6.iter().zip(&h4) {
        assert!((x - y).abs() <= 1e-4 * scale, "{x} vs {y} (max {scale})");
    }
    // Resumed under the other tile: refused, naming the variable to set.
    let mut a = run_base(m, "0", f4.to_str().unwrap());
    a.extend(["--restarts", "4", "--max-steps", "10", "--resume"]);
    let o = run_bin(&a, Some(2), 120);
    let err = stderr_of(&o);
    assert!(!o.status.success(), "a resume under another tile succeeded");
    assert!(err.contains("DEEPRESOLVE_WINOGRAD=4"), "{err}");
    let o = run_bin_env(&a, Some(2), 120, &f4_env);
    assert!(o.status.success(), "{}", stderr_of(&o));
    // A value that is not a tile: one message, every rank out.
    let o = run_bin_env(&a, Some(2), 60, &[("DEEPRESOLVE_WINOGRAD", "5")]);
    let err = stderr_of(&o);
    assert!(!o.status.success());
    assert_eq!(err.matches("is not a Winograd tile").count(), 1, "{err}");
}

/// `DEEPRESOLVE_WINOGRAD` set for some ranks only (here an MPMD launch
/// where one app context gets it): one line from rank 0 naming the
/// variable, every rank out with 1, no results file.
#[test]
fn a_winograd_tile_on_some_ranks_only_is_refused() {
    let d = tmpdir("tile_ranks");
    let out = d.join("out.h5");
    let m = fixture("onnx/bpnet.onnx");
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let args = [
        "run",
        "--model",
        &m,
        "--layer",
        "/rconvs.0/Conv",
        "--out",
        out.to_str().unwrap(),
        "--restarts",
        "2",
        "--max-steps",
        "5",
        "--output",
        "counts",
    ];
    let mut cmd = std::process::Command::new("timeout");
    cmd.args([
        "120",
        "mpirun",
        "--oversubscribe",
        "-n",
        "1",
        "-x",
        "DEEPRESOLVE_WINOGRAD=4",
        bin,
    ])
    .args(args)
    .args([":", "-n", "1", bin])
    .args(args)
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env("OPENBLAS_NUM_THREADS", "1")
    .env_remove("DEEPRESOLVE_WINOGRAD")
    .stdin(std::process::Stdio::null());
    let o = cmd.output().unwrap();
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("DEEPRESOLVE_WINOGRAD differs between ranks")
            .count(),
        1,
        "{err}"
    );
    assert!(!out.exists(), "a results file was left");
}

/// LegNet's depthwise convolutions (PyTorch `groups` = channels) run
/// channel by channel under every `--conv`, and `conv_paths` and `inspect`
/// say so; its other convolutions keep their paths.
#[test]
fn depthwise_convolutions_are_recorded_as_such() {
    use deepresolve_mpi::network::conv1d_spectral::describe;
    let model = fixture("shipped/legnet_dynamo.onnx");
    let net = Network::from_spec(load_model(Path::new(&model), None).unwrap()).unwrap();
    for mode in [ConvMode::Direct, ConvMode::Auto, ConvMode::Fast] {
        let plan = Plan::new(&net, 3, None, None).unwrap();
        let d = describe(&net, &plan, mode, 32);
        assert!(
            d.contains("node_Conv_185:depthwise") && d.contains("node_Conv_193:depthwise"),
            "{mode:?}: {d}"
        );
        assert_eq!(d.matches(":depthwise").count(), 2, "{mode:?}: {d}");
    }
    let row = common::against_reference::Inspect::of(&model).row("node_Conv_185 ");
    assert!(row.ends_with("after H at --batch 32: depthwise"), "{row}");
}
