//! DeepResolve on the paper's synthetic data (Liu, Zeng & Gifford 2019, BMC
//! Bioinformatics, "Synthetic data"): does `deepresolve-mpi run` reproduce
//! the paper's findings on the two small CNNs in tests/fixtures/synthetic?
//!
//! The models are produced by tests/fixtures/synthetic/make_models.py (see
//! manifest.json): Conv1D(32, 8, relu) `conv` -> MaxPooling1D(4) `pool` ->
//! Flatten `flatten` -> Dense(64, relu) `dense1` -> Dense(n_out) `out`, on
//! one-hot DNA of length 100. DeepResolve runs on the input of `flatten`
//! (32 channels = the 32 conv filters, 23 positions).
//!
//! * Dataset I: label = CAGGTC AND (GCTCAT XOR CGCTTG), one logit.
//! * Dataset II: class 0 = GATA + CAGATG, 1 = TCAT + CAGATG, 2 = GATA + TCAT,
//!   3 = CGCTTG.
//!
//! Findings checked (per seed of the run):
//! * I-a  `/analysis/gmm_components[0] > 1` (there are non-additive channels);
//! * I-b  some non-additive channel is a filter that captures GCTCAT or CGCTTG
//!        (the XOR partners);
//! * I-c  the highest-OFIV *additive* channel (first channel of
//!        `/analysis/rank[0]` with `nonadditive == 0`) captures CAGGTC. Not
//!        rank[0][0]: per docs/SPEC.md, method step 7 a sign-flipping non-additive channel's
//!        OFIV is the mean of its positive FIVs only, and on this model that
//!        puts the XOR partners (CGCTTG/GCTCAT filters) above CAGGTC — see
//!        tests/fixtures/synthetic/reference_deepresolve.py, a NumPy/JAX
//!        implementation of docs/SPEC.md's method, which gives rank[0][..7] = XOR
//!        partner filters, then the CAGGTC filters 31, 25, 29 (additive);
//! * II-a similarity A(0,1), A(0,2), A(1,2) are each above every A(i,3)
//!        (the three classes sharing patterns vs. the one that shares none);
//! * II-b classes 0, 1, 2: the top-OFIV channel captures one of that class's
//!        motifs; class 3 (CGCTTG alone): some channel among its top 5
//!        captures CGCTTG (the reference implementation gives class 3 small,
//!        flat OFIVs, top 0.22 on filter 21, a partial CGCTT- filter scoring
//!        0.59 < 0.6; the first full CGCTTG filter, 4, ranks 2nd).
//!
//! "Captures" is computed here from the conv kernel read out of the Keras
//! file, never hard-coded; see `captures`. The same rule is implemented in
//! tests/fixtures/synthetic/check_capture.py, which prints the full table.
//!
//! `synthetic_findings` runs seeds 0 and 1 (all findings must hold for
//! both); `synthetic_findings_seed_sweep` (#[ignore]) runs seeds 0..=5 and
//! prints how many hold. `fixture_filters_capture_motifs` needs no binary: it
//! checks that every motif is captured by at least one filter of its model.
//!
//! Run with `cargo test --release --test synthetic` (`-- --ignored` for the
//! sweep).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_deepresolve-mpi");
const RESTARTS: u32 = 50;

/// Fraction of a filter's best possible response that a motif placement must
/// reach for the filter to "capture" the motif.
const CAPTURE_FRAC: f32 = 0.6;
/// A motif placement must overlap the filter window by at least this many
/// bases (or the whole motif, if shorter).
const MIN_OVERLAP: usize = 4;

const D1_MOTIFS: [&str; 3] = ["CAGGTC", "GCTCAT", "CGCTTG"];
const D2_MOTIFS: [&str; 4] = ["GATA", "TCAT", "CAGATG", "CGCTTG"];
const D2_CLASSES: [&[&str]; 4] = [
    &["GATA", "CAGATG"],
    &["TCAT", "CAGATG"],
    &["GATA", "TCAT"],
    &["CGCTTG"],
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/synthetic")
}

// ---------------------------------------------------------------- kernels --

/// Conv kernel of a Keras HDF5 model: (width, 4, filters), row-major.
struct Kernel {
    width: usize,
    filters: usize,
    w: Vec<f32>,
}

impl Kernel {
    fn at(&self, p: usize, base: usize, f: usize) -> f32 {
        self.w[(p * 4 + base) * self.filters + f]
    }
}

fn read_names(attr: &hdf5::Attribute) -> Vec<String> {
    if let Ok(v) = attr.read_raw::<hdf5::types::VarLenAscii>() {
        return v.iter().map(|s| s.as_str().to_string()).collect();
    }
    if let Ok(v) = attr.read_raw::<hdf5::types::VarLenUnicode>() {
        return v.iter().map(|s| s.as_str().to_string()).collect();
    }
    Vec::new()
}

/// Recursively find a dataset whose name is `kernel` (or ends in `kernel`,
/// e.g. Keras 2's `kernel:0`) below `g`.
fn find_kernel(g: &hdf5::Group, prefix: &str) -> Option<String> {
    for name in g.member_names().ok()? {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if let Ok(sub) = g.group(&name) {
            if let Some(p) = find_kernel(&sub, &path) {
                return Some(p);
            }
        } else if name.starts_with("kernel") {
            return Some(path);
        }
    }
    None
}

/// The `conv` layer's kernel. Keras writes `model_weights/conv` with a
/// `weight_names` attribute (Keras 3: `<model>/conv/kernel`, Keras 2:
/// `conv/kernel:0`) giving the datasets' paths relative to that group.
fn read_kernel(model: &Path) -> Kernel {
    let f = hdf5::File::open(model).unwrap_or_else(|e| panic!("open {}: {e}", model.display()));
    let root = if f.link_exists("model_weights") {
        f.group("model_weights").unwrap()
    } else {
        f.group("/").unwrap()
    };
    let g = root
        .group("conv")
        .expect("no `conv` layer group in the model's weights");
    let from_attr = g
        .attr("weight_names")
        .ok()
        .map(|a| read_names(&a))
        .unwrap_or_default()
        .into_iter()
        .find(|n| n.rsplit('/').next().unwrap_or("").starts_with("kernel"));
    let path = from_attr
        .filter(|p| g.link_exists(p))
        .or_else(|| find_kernel(&g, ""))
        .expect("no conv kernel found");
    let ds = g.dataset(&path).unwrap();
    let shape = ds.shape();
    assert_eq!(shape.len(), 3, "conv kernel {path}: shape {shape:?}");
    assert_eq!(
        shape[1], 4,
        "conv kernel {path}: expected 4 input channels, shape {shape:?}"
    );
    let w = ds.read_raw::<f32>().unwrap();
    Kernel {
        width: shape[0],
        filters: shape[2],
        w,
    }
}

fn base_index(c: char) -> usize {
    match c {
        'A' => 0,
        'C' => 1,
        'G' => 2,
        'T' => 3,
        _ => panic!("bad base {c}"),
    }
}

/// Best placement score of `motif` on filter `f`: the motif slides across the
/// window at every offset where at least min(MIN_OVERLAP, len) of its bases
/// overlap it (a 6-mer may hang up to 2 bases off either end of the 8-wide
/// window); the score of a placement is the sum of the kernel weights of the
/// motif's bases at the overlapping positions.
fn best_placement(k: &Kernel, f: usize, motif: &str) -> f32 {
    let m: Vec<usize> = motif.chars().map(base_index).collect();
    let (lm, width) = (m.len() as isize, k.width as isize);
    let need = MIN_OVERLAP.min(m.len()) as isize;
    let mut best = f32::NEG_INFINITY;
    for o in -(lm - need)..=(width - need) {
        let (mut s, mut n) = (0.0f32, 0);
        for (i, &b) in m.iter().enumerate() {
            let p = o + i as isize;
            if (0..width).contains(&p) {
                s += k.at(p as usize, b, f);
                n += 1;
            }
        }
        if n >= need {
            best = best.max(s);
        }
    }
    best
}

/// The filter's best possible response to any sequence, ignoring the bias:
/// R = sum over positions of max(0, max over bases of the weight).
fn reference(k: &Kernel, f: usize) -> f32 {
    (0..k.width)
        .map(|p| (0..4).map(|b| k.at(p, b, f)).fold(0.0f32, f32::max))
        .sum()
}

/// Capture score of `motif` for filter `f`: best placement / R (0 if R = 0).
fn capture_score(k: &Kernel, f: usize, motif: &str) -> f32 {
    let r = reference(k, f);
    if r > 0.0 {
        best_placement(k, f, motif) / r
    } else {
        0.0
    }
}

/// The capture rule. A filter captures a motif when the motif, placed where
/// the filter likes it best, already earns at least CAPTURE_FRAC (60%) of
/// the filter's best possible response R: the motif's bases explain most of
/// what the filter can respond to. The other positions of a window can add
/// at most the rest of R, so a filter that captures a motif is near its
/// maximum on it; a filter tuned to something else scores the motif's bases
/// near zero or negative. 60% is calibrated with check_capture.py on the
/// fixtures: filters whose argmax consensus contains the motif score 0.8-1.0
/// (a 4-mer filling 4 of the 8 positions included), and the rule's null
/// rate is low: on average a filter "captures" only ~1.5% of all 4-mers and
/// ~2.5% of all 6-mers, so a capture by chance is unlikely.
fn captures(k: &Kernel, f: usize, motif: &str) -> bool {
    capture_score(k, f, motif) >= CAPTURE_FRAC
}

fn consensus(k: &Kernel, f: usize) -> String {
    (0..k.width)
        .map(|p| {
            let b = (0..4)
                .max_by(|&a, &b| k.at(p, a, f).total_cmp(&k.at(p, b, f)))
                .unwrap();
            b"ACGT"[b] as char
        })
        .collect()
}

/// Readable table: filter, R, argmax consensus, score per motif, captures.
fn capture_table(k: &Kernel, motifs: &[&str]) -> String {
    let mut s = "filt      R  argmax    ".to_string();
    for m in motifs {
        s += &format!("{m:>8}");
    }
    s += "  captures\n";
    for f in 0..k.filters {
        s += &format!("{f:4} {:6.2}  {}  ", reference(k, f), consensus(k, f));
        for m in motifs {
            s += &format!("{:8.2}", capture_score(k, f, m));
        }
        let caps: Vec<&str> = motifs
            .iter()
            .copied()
            .filter(|m| captures(k, f, m))
            .collect();
        s += &format!("  {}\n", caps.join(","));
    }
    s
}

// ---------------------------------------------------------------- results --

struct Results {
    c: usize,
    k: usize,
    ofiv: Vec<f32>,
    nonadditive: Vec<u8>,
    gmm_components: Vec<i32>,
    similarity: Vec<f32>,
    rank: Vec<i32>,
}

fn read_results(path: &Path) -> Results {
    let f = hdf5::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let ds = |name: &str| {
        f.dataset(name)
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()))
    };
    let shape = ds("/analysis/ofiv").shape();
    assert_eq!(shape.len(), 2, "/analysis/ofiv shape {shape:?}");
    let (c, k) = (shape[0], shape[1]);
    let r = Results {
        c,
        k,
        ofiv: ds("/analysis/ofiv").read_raw::<f32>().unwrap(),
        nonadditive: ds("/analysis/nonadditive").read_raw::<u8>().unwrap(),
        gmm_components: ds("/analysis/gmm_components").read_raw::<i32>().unwrap(),
        similarity: ds("/analysis/similarity").read_raw::<f32>().unwrap(),
        rank: ds("/analysis/rank").read_raw::<i32>().unwrap(),
    };
    assert_eq!(r.nonadditive.len(), c * k);
    assert_eq!(r.gmm_components.len(), c);
    assert_eq!(r.similarity.len(), c * c);
    assert_eq!(r.rank.len(), c * k);
    r
}

impl Results {
    fn sim(&self, i: usize, j: usize) -> f32 {
        self.similarity[i * self.c + j]
    }
    fn top(&self, c: usize) -> usize {
        self.rank[c * self.k] as usize
    }
    fn summary(&self, k: &Kernel, motifs: &[&str]) -> String {
        let mut s = String::new();
        for c in 0..self.c {
            s += &format!(
                "class {c}: gmm_components {}; top channels:",
                self.gmm_components[c]
            );
            for r in 0..5.min(self.k) {
                let ch = self.rank[c * self.k + r] as usize;
                let caps: Vec<&str> = motifs
                    .iter()
                    .copied()
                    .filter(|m| captures(k, ch, m))
                    .collect();
                s += &format!(
                    " {ch}(ofiv {:.3}{}{})",
                    self.ofiv[c * self.k + ch],
                    if self.nonadditive[c * self.k + ch] == 1 {
                        ", NA"
                    } else {
                        ""
                    },
                    if caps.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", caps.join("/"))
                    }
                );
            }
            let na: Vec<usize> = (0..self.k)
                .filter(|&ch| self.nonadditive[c * self.k + ch] == 1)
                .collect();
            s += &format!("\n  non-additive: {na:?}\n");
        }
        if self.c > 1 {
            s += "similarity:\n";
            for i in 0..self.c {
                for j in 0..self.c {
                    s += &format!("{:7.3}", self.sim(i, j));
                }
                s += "\n";
            }
        }
        s
    }
}

// ------------------------------------------------------------------- runs --

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "deepresolve-synthetic-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(model: &str, out: &Path, seed: u64) {
    let model = fixtures().join(model);
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--model")
        .arg(&model)
        .args(["--layer", "flatten", "--classes", "all"])
        .arg("--out")
        .arg(out)
        .args([
            "--restarts",
            &RESTARTS.to_string(),
            "--seed",
            &seed.to_string(),
            "--quiet",
        ]);
    let o = cmd.output().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Outcome of one finding for one seed.
struct Finding {
    name: &'static str,
    holds: bool,
    detail: String,
}

fn dataset1_findings(dir: &Path, seed: u64, k: &Kernel) -> (Vec<Finding>, String) {
    let out = dir.join(format!("d1_seed{seed}.h5"));
    run("dataset1.h5", &out, seed);
    let r = read_results(&out);
    assert_eq!(
        (r.c, r.k),
        (1, k.filters),
        "dataset I: (C, K) of /analysis/ofiv"
    );
    let xor_na: Vec<usize> = (0..r.k)
        .filter(|&ch| {
            r.nonadditive[ch] == 1 && (captures(k, ch, "GCTCAT") || captures(k, ch, "CGCTTG"))
        })
        .collect();
    let top = r.top(0);
    let top_add = (0..r.k)
        .map(|i| r.rank[i] as usize)
        .find(|&ch| r.nonadditive[ch] == 0);
    let f = vec![
        Finding {
            name: "I-a gmm_components[0] > 1",
            holds: r.gmm_components[0] > 1,
            detail: format!("gmm_components = {}", r.gmm_components[0]),
        },
        Finding {
            name: "I-b a GCTCAT/CGCTTG filter is non-additive",
            holds: !xor_na.is_empty(),
            detail: format!("non-additive XOR-partner filters: {xor_na:?}"),
        },
        Finding {
            name: "I-c top-OFIV additive channel captures CAGGTC",
            holds: top_add.is_some_and(|ch| captures(k, ch, "CAGGTC")),
            detail: match top_add {
                Some(ch) => format!(
                    "top additive channel {ch}, CAGGTC score {:.2} (rank[0][0] = {top}, CAGGTC score {:.2})",
                    capture_score(k, ch, "CAGGTC"),
                    capture_score(k, top, "CAGGTC")
                ),
                None => "no additive channel".to_string(),
            },
        },
    ];
    (f, r.summary(k, &D1_MOTIFS))
}

fn dataset2_findings(dir: &Path, seed: u64, k: &Kernel) -> (Vec<Finding>, String) {
    let out = dir.join(format!("d2_seed{seed}.h5"));
    run("dataset2.h5", &out, seed);
    let r = read_results(&out);
    assert_eq!(
        (r.c, r.k),
        (4, k.filters),
        "dataset II: (C, K) of /analysis/ofiv"
    );
    let with3 = [r.sim(0, 3), r.sim(1, 3), r.sim(2, 3)];
    let max3 = with3.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let shared = [(0, 1), (0, 2), (1, 2)];
    let sim_ok = shared.iter().all(|&(i, j)| r.sim(i, j) > max3);
    let mut tops_ok = true;
    let mut tops = String::new();
    for (c, motifs) in D2_CLASSES.iter().enumerate() {
        // classes 0-2: the top channel; class 3: any of the top 5 (see header)
        let depth = if c == 3 { 5 } else { 1 };
        let chans: Vec<usize> = (0..depth.min(r.k))
            .map(|i| r.rank[c * r.k + i] as usize)
            .collect();
        let hit = chans
            .iter()
            .any(|&ch| motifs.iter().any(|m| captures(k, ch, m)));
        tops_ok &= hit;
        let best: Vec<String> = chans
            .iter()
            .map(|&ch| {
                let sc: Vec<String> = motifs
                    .iter()
                    .map(|m| format!("{m} {:.2}", capture_score(k, ch, m)))
                    .collect();
                format!("{ch} [{}]", sc.join(", "))
            })
            .collect();
        tops += &format!(
            "class {c}: top {}{}; ",
            best.join(" "),
            if hit { "" } else { " MISS" }
        );
    }
    let f = vec![
        Finding {
            name: "II-a A(0,1), A(0,2), A(1,2) > every A(i,3)",
            holds: sim_ok,
            detail: format!(
                "A01 {:.3} A02 {:.3} A12 {:.3} vs A03 {:.3} A13 {:.3} A23 {:.3}",
                r.sim(0, 1),
                r.sim(0, 2),
                r.sim(1, 2),
                with3[0],
                with3[1],
                with3[2]
            ),
        },
        Finding {
            name: "II-b top channel (class 3: top 5) captures its own motif",
            holds: tops_ok,
            detail: tops,
        },
    ];
    (f, r.summary(k, &D2_MOTIFS))
}

fn check_seeds(seeds: &[u64], require_all: bool) {
    let k1 = read_kernel(&fixtures().join("dataset1.h5"));
    let k2 = read_kernel(&fixtures().join("dataset2.h5"));
    eprintln!("dataset I filters (capture score = best placement / R, captures if >= {CAPTURE_FRAC}):\n{}", capture_table(&k1, &D1_MOTIFS));
    eprintln!("dataset II filters:\n{}", capture_table(&k2, &D2_MOTIFS));
    let dir = tmpdir(if require_all { "main" } else { "sweep" });
    let mut tally: Vec<(&'static str, usize)> = Vec::new();
    let mut failures = Vec::new();
    for &seed in seeds {
        let (mut fs, s1) = dataset1_findings(&dir, seed, &k1);
        let (f2, s2) = dataset2_findings(&dir, seed, &k2);
        fs.extend(f2);
        eprintln!("---- seed {seed}\ndataset I:\n{s1}dataset II:\n{s2}");
        for f in &fs {
            eprintln!(
                "  [{}] {}: {}",
                if f.holds { "ok" } else { "FAIL" },
                f.name,
                f.detail
            );
            match tally.iter_mut().find(|(n, _)| *n == f.name) {
                Some(t) => t.1 += f.holds as usize,
                None => tally.push((f.name, f.holds as usize)),
            }
            if !f.holds {
                failures.push(format!("seed {seed}: {}: {}", f.name, f.detail));
            }
        }
    }
    eprintln!("---- summary over seeds {seeds:?}");
    for (name, n) in &tally {
        eprintln!("  {n}/{} {name}", seeds.len());
    }
    if require_all {
        assert!(
            failures.is_empty(),
            "findings not reproduced:\n{}",
            failures.join("\n")
        );
    } else {
        // The sweep reports; it fails only if a finding holds for at most
        // half of the seeds.
        let weak: Vec<String> = tally
            .iter()
            .filter(|(_, n)| 2 * n <= seeds.len())
            .map(|(name, n)| format!("{n}/{} {name}", seeds.len()))
            .collect();
        assert!(
            weak.is_empty(),
            "findings holding for at most half the seeds:\n{}",
            weak.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ tests --

/// Fixture sanity (no binary needed): each motif is captured by some filter.
#[test]
fn fixture_filters_capture_motifs() {
    for (model, motifs) in [
        ("dataset1.h5", &D1_MOTIFS[..]),
        ("dataset2.h5", &D2_MOTIFS[..]),
    ] {
        let k = read_kernel(&fixtures().join(model));
        assert_eq!((k.width, k.filters), (8, 32), "{model}: conv kernel shape");
        eprintln!("{model}:\n{}", capture_table(&k, motifs));
        for m in motifs {
            let fs: Vec<usize> = (0..k.filters).filter(|&f| captures(&k, f, m)).collect();
            eprintln!("  {m}: filters {fs:?}");
            assert!(!fs.is_empty(), "{model}: no filter captures {m}");
        }
    }
}

#[test]
fn synthetic_findings() {
    check_seeds(&[0, 1], true);
}

#[test]
#[ignore]
fn synthetic_findings_seed_sweep() {
    check_seeds(&[0, 1, 2, 3, 4, 5], false);
}

// ------------------------------------------- the call does not depend on λ --

/// One dataset I run with a short ascent; returns the results file.
fn run_lambda(dir: &Path, lambda: f32, restarts: u32, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("l{lambda}_t{restarts}{}.h5", extra.join("")));
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--model")
        .arg(fixtures().join("dataset1.h5"))
        .args(["--layer", "flatten", "--quiet", "--max-steps", "300"])
        .args(["--lambda", &lambda.to_string()])
        .args(["--restarts", &restarts.to_string()])
        .args(extra)
        .arg("--out")
        .arg(&out);
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The GMM decision on dataset I: whether there are non-additive channels,
/// whether they are all XOR partners (GCTCAT/CGCTTG filters; CAGGTC, the AND
/// partner, must stay additive), and which they are.
fn xor_decision(k: &Kernel, gmm_components: i32, na: &[u8]) -> (bool, bool, Vec<usize>) {
    let xor = |ch: usize| captures(k, ch, "GCTCAT") || captures(k, ch, "CGCTTG");
    let set: Vec<usize> = (0..na.len()).filter(|&ch| na[ch] == 1).collect();
    (
        gmm_components > 1,
        !set.is_empty() && set.iter().all(|&ch| xor(ch)),
        set,
    )
}

/// Issue 27: λ scales the maps (IL ~ 1/λ²) but must not change the
/// conclusions. In the default mode (`fiv`: IL / mean φ²) the decision is the
/// same for λ ∈ {0.3, 1, 2.8} × T ∈ {10, 50}: non-additive channels exist, all
/// of them XOR partners, and the XOR filters found at every setting include
/// both a GCTCAT and a CGCTTG filter. The same holds with `--keep final`, and
/// for the `relative` floor (IL / max IL) on the same ensembles. The
/// scikit-learn floor (`absolute`) is not scale-free: on the λ = 0.3 ensemble
/// it marks non-XOR filters too (a CAGGTC one among them), and on the same
/// ensemble with every FIV × 1e-3 (IL × 1e-6, a λ far larger) it finds none.
#[test]
fn synthetic_gmm_call_is_lambda_free() {
    use deepresolve_mpi::analysis::{analyze_run, gmm::GmmFloor};
    let k = read_kernel(&fixtures().join("dataset1.h5"));
    let dir = tmpdir("lambda");
    // the XOR filters non-additive at every setting, per floor mode
    let mut common: [Option<Vec<usize>>; 2] = [None, None];
    for extra in [&[][..], &["--keep", "final"][..]] {
        for lambda in [0.3f32, 1.0, 2.8] {
            for t in [10u32, 50] {
                if !extra.is_empty() && t == 50 {
                    continue; // --keep final: T = 10 keeps the test short
                }
                let out = run_lambda(&dir, lambda, t, extra);
                let r = read_results(&out);
                let f = hdf5::File::open(&out).unwrap();
                let floor: String = f
                    .attr("gmm_floor")
                    .unwrap()
                    .read_scalar::<hdf5::types::VarLenUnicode>()
                    .unwrap()
                    .to_string();
                assert_eq!(floor, "fiv");
                let ens = deepresolve_mpi::results::read_ensemble(&out).unwrap();
                let rel = analyze_run(&ens, GmmFloor::Relative);
                let calls = [
                    ("fiv", r.gmm_components[0], r.nonadditive.clone()),
                    ("relative", rel.gmm_components[0], rel.nonadditive),
                ];
                for (m, (mode, components, na)) in calls.into_iter().enumerate() {
                    let (split, all_xor, set) = xor_decision(&k, components, &na);
                    eprintln!(
                        "{mode} λ {lambda} T {t} {extra:?}: components {components} non-additive {set:?}"
                    );
                    assert!(
                        split && all_xor,
                        "{mode} λ {lambda} T {t} {extra:?}: {set:?}"
                    );
                    common[m] = Some(match common[m].take() {
                        None => set,
                        Some(c) => c.into_iter().filter(|ch| set.contains(ch)).collect(),
                    });
                }
            }
        }
    }
    for (mode, common) in ["fiv", "relative"].iter().zip(common) {
        let common = common.unwrap();
        assert!(
            common.iter().any(|&ch| captures(&k, ch, "GCTCAT"))
                && common.iter().any(|&ch| captures(&k, ch, "CGCTTG")),
            "{mode}: XOR filters non-additive at every setting: {common:?}"
        );
    }

    // the same ensemble at another scale: fiv and relative are unmoved,
    // absolute is not
    let ens = deepresolve_mpi::results::read_ensemble(&dir.join("l0.3_t10.h5")).unwrap();
    let mut small = ens.clone();
    small.fiv.mapv_inplace(|v| v * 1e-3);
    let na = |e, floor| {
        let a = analyze_run(e, floor);
        xor_decision(&k, a.gmm_components[0], &a.nonadditive)
    };
    assert_eq!(na(&ens, GmmFloor::Fiv), na(&small, GmmFloor::Fiv));
    assert_eq!(na(&ens, GmmFloor::Relative), na(&small, GmmFloor::Relative));
    let (abs_split, abs_xor, _) = na(&ens, GmmFloor::Absolute);
    assert!(abs_split && !abs_xor, "absolute floor at λ 0.3");
    assert!(
        !na(&small, GmmFloor::Absolute).0,
        "absolute floor, IL × 1e-6"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
