//! A black-box fuzzer: committed seed files (Keras .h5/.keras/JSON, ONNX,
//! native, results, FASTA, MEME) mutated byte- and line-wise, and option
//! values drawn from a list of hostile numbers, each run through the binary.
//! Every run must end with exit 0, or exit 1 with an error line — never a
//! panic, a signal, a hang or a changed input file.
//!
//! Fixed seed and a bounded budget in the test suite; for a longer run:
//! `DEEPRESOLVE_FUZZ_CASES=2000 DEEPRESOLVE_FUZZ_SEED=7 [DEEPRESOLVE_FUZZ_RANKS=2] cargo test --release --test fuzz -- --nocapture`.
mod common;
use common::*;
use std::path::{Path, PathBuf};

/// splitmix64: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const HOSTILE: [&str; 22] = [
    "0",
    "-1",
    "1",
    "2",
    "1.5",
    "-0",
    "inf",
    "-inf",
    "NaN",
    "1e20",
    "1e308",
    "-1e308",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "",
    " ",
    "0x10",
    "1e-320",
    "\u{1F600}",
];

/// One mutation of `data`: flip bits, overwrite with a hostile byte run,
/// truncate, duplicate or delete a span, or (text) swap a number for a hostile one.
fn mutate(rng: &mut Rng, data: &[u8], text: bool) -> Vec<u8> {
    let mut d = data.to_vec();
    if d.is_empty() {
        return b"\0".to_vec();
    }
    let n = d.len();
    match rng.below(if text { 7 } else { 6 }) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(n);
                d[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let i = rng.below(n);
            let v = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, b'\n', b'\t', b'>', b'-']);
            for b in d.iter_mut().skip(i).take(1 + rng.below(16)) {
                *b = v;
            }
        }
        2 => d.truncate(rng.below(n)),
        3 => {
            let (a, l) = (rng.below(n), 1 + rng.below(256));
            let span: Vec<u8> = d[a..(a + l).min(n)].to_vec();
            let at = rng.below(n);
            d.splice(at..at, span);
        }
        4 => {
            let (a, l) = (rng.below(n), 1 + rng.below(64));
            d.drain(a..(a + l).min(n));
        }
        5 => {
            // Overwrite 8 bytes with a large little-endian number (a size or an offset).
            let i = rng.below(n.saturating_sub(8).max(1));
            let v = *rng.pick(&[u64::MAX, 1 << 40, 1 << 32, 0x7fff_ffff, 0]);
            for (k, b) in v.to_le_bytes().iter().enumerate() {
                if i + k < n {
                    d[i + k] = *b;
                }
            }
        }
        _ => {
            // Text: replace one number with a hostile value.
            let s = String::from_utf8_lossy(&d).to_string();
            let starts: Vec<usize> = s
                .char_indices()
                .filter(|(i, c)| {
                    c.is_ascii_digit() && (*i == 0 || !s.as_bytes()[i - 1].is_ascii_alphanumeric())
                })
                .map(|(i, _)| i)
                .collect();
            if starts.is_empty() {
                return d;
            }
            let a = *rng.pick(&starts);
            let e = s[a..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
                .map_or(s.len(), |k| a + k);
            let v = if rng.below(2) == 0 {
                "65536000".to_string()
            } else {
                rng.pick(&HOSTILE).to_string()
            };
            d = format!("{}{}{}", &s[..a], v, &s[e..]).into_bytes();
        }
    }
    d
}

/// Flip bits or write a large number inside a global heap collection (the
/// variable-length strings of an HDF5 file), where libhdf5 trusts what it reads.
fn mutate_heap(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let heaps: Vec<usize> = data
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"GCOL")
        .map(|(i, _)| i)
        .collect();
    if heaps.is_empty() {
        return mutate(rng, data, false);
    }
    let mut d = data.to_vec();
    let base = *rng.pick(&heaps);
    // The strings are near the collection's start; its tail is free space.
    let at = (base + 8 + rng.below(1024)).min(d.len() - 1);
    if rng.below(2) == 0 {
        d[at] ^= 1 << rng.below(8);
    } else {
        let v = *rng.pick(&[u64::MAX, 1 << 40, 4096, 8, 0]);
        for (k, b) in v.to_le_bytes().iter().enumerate() {
            if at + k < d.len() {
                d[at + k] = *b;
            }
        }
    }
    d
}

/// The outcome of one run, checked: exit 0, or exit 1 with an error line.
fn check(args: &[String], nproc: Option<usize>, inputs: &[&Path], log: &mut Vec<String>) {
    let before: Vec<Vec<u8>> = inputs
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .collect();
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = run_bin(&a, nproc, 60);
    let err = stderr_of(&out);
    let ok = match out.status.code() {
        Some(0) => true,
        // 2: a usage error from clap, which names the option.
        Some(1) | Some(2) => err.contains("error"),
        _ => false,
    } && !err.contains("panicked");
    if !ok {
        log.push(format!(
            "{a:?}: status {:?}\n{}",
            out.status,
            err.lines().rev().take(4).collect::<Vec<_>>().join("\n")
        ));
    }
    for (p, b) in inputs.iter().zip(&before) {
        if std::fs::read(p).unwrap_or_default() != *b {
            log.push(format!("{a:?}: changed input {}", p.display()));
        }
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn mutated_inputs_and_options_end_in_exit_0_or_one_error() {
    let cases: usize = std::env::var("DEEPRESOLVE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("DEEPRESOLVE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let all_mpi = std::env::var("DEEPRESOLVE_FUZZ_RANKS").as_deref() == Ok("2");
    let d = tmpdir("fuzz");
    let model = fixture("pytorch/model.h5");
    // A results file to mutate, made by a short run (deterministic for the seed).
    let results = d.join("seed_results.h5");
    {
        let mut a = run_base(&model, "7", results.to_str().unwrap());
        a.extend(["--restarts", "3", "--max-steps", "5", "--quiet"]);
        let o = run_bin(&a, None, 60);
        assert!(o.status.success(), "{}", stderr_of(&o));
    }
    let seeds: Vec<(PathBuf, &str)> = vec![
        (model.clone().into(), "model"),
        (fixture("keras/seq_sigmoid.h5").into(), "model"),
        (fixture("keras/seq_sigmoid.keras").into(), "model"),
        (fixture("onnx/gelu_bn.onnx").into(), "model"),
        // The newer converters: attention, Resize and grouped Conv (Borzoi's
        // U-net), a channels-last input, recurrent layers in both formats.
        (fixture("attention/grelu_borzoi.onnx").into(), "model"),
        (fixture("attention/enformer_cl.onnx").into(), "model"),
        (
            fixture("attention/mha_ts_sf_post_gelu.onnx").into(),
            "model",
        ),
        (fixture("attention/mha_dy_bf_pre_gelu.onnx").into(), "model"),
        (fixture("recurrent/danq.onnx").into(), "model"),
        (fixture("recurrent/lstm_keras.h5").into(), "model"),
        // Nested weight groups in an archive (TimeDistributed, Bidirectional).
        (fixture("recurrent/deeptopic.keras").into(), "model"),
        // Keras' and CREsted's attention (configs in an .h5 attribute and a
        // .keras archive), attention pooling, separable convolutions.
        (fixture("attention/keras_mha.h5").into(), "model"),
        (fixture("crested/enformer.keras").into(), "model"),
        (fixture("crested/borzoi.keras").into(), "model"),
        // A MatMul over positions (Sei's B-spline transformation).
        (fixture("shipped/sei_torchscript.onnx").into(), "model"),
        (fixture("graphs/deepstarr.json").into(), "json"),
        (results.clone(), "results"),
        (fixture("sequences/synthetic.fa").into(), "fasta"),
        (fixture("tomtom/queries.meme").into(), "meme"),
    ];
    let db = fixture("tomtom/db.meme");
    let weights = fixture("graphs/deepstarr.weights.h5");
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let t0 = std::time::Instant::now();
    for case in 0..cases {
        let out_dir = d.join(format!("o{case}"));
        let o = out_dir.to_str().unwrap().to_string();
        let r = d.join(format!("r{case}.h5"));
        let rs = r.to_str().unwrap().to_string();
        if rng.below(5) == 0 {
            // An option of `run` with a hostile value.
            let opt = *rng.pick(&[
                "--restarts",
                "--batch",
                "--lane",
                "--lambda",
                "--lr",
                "--max-steps",
                "--patience",
                "--seed",
                "--decay-start",
                "--decay-alpha",
                "--min-lr",
                "--progress-every",
                "--classes",
                "--layer",
            ]);
            let v = rng.pick(&HOSTILE).to_string();
            let mut a = s(&run_base(&model, "7", &rs));
            a.extend(s(&["--quiet", "--max-steps", "3"]));
            a.retain(|x| x != "--max-steps" || opt != "--max-steps");
            if opt == "--max-steps" {
                a.truncate(a.len() - 1);
            }
            if opt == "--layer" {
                a[4] = v;
            } else {
                a.extend([opt.to_string(), v]);
                if opt != "--restarts" {
                    a.extend(s(&["--restarts", "1"]));
                }
            }
            // Every other option case under `mpirun -n 2` (all with DEEPRESOLVE_FUZZ_RANKS=2).
            let nproc = (all_mpi || case % 2 == 0).then_some(2);
            check(&a, nproc, &[Path::new(&model)], &mut failures);
            continue;
        }
        let (src, kind) = rng.pick(&seeds);
        let data = std::fs::read(src).unwrap();
        let ext = src.extension().and_then(|e| e.to_str()).unwrap_or("bin");
        let m = d.join(format!("m{case}.{ext}"));
        let text = matches!(*kind, "json" | "fasta" | "meme");
        let mutated = if *kind == "results" && rng.below(2) == 0 {
            mutate_heap(&mut rng, &data)
        } else {
            mutate(&mut rng, &data, text)
        };
        std::fs::write(&m, mutated).unwrap();
        let ms = m.to_str().unwrap();
        let runs: Vec<Vec<String>> = match *kind {
            "model" => vec![
                s(&["inspect", ms]),
                s(&[
                    "run",
                    "--model",
                    ms,
                    "--layer",
                    "1",
                    "--out",
                    &rs,
                    "--restarts",
                    "1",
                    "--max-steps",
                    "3",
                    "--quiet",
                ]),
            ],
            "json" => vec![s(&["inspect", ms, "--weights", &weights])],
            "results" => vec![
                s(&["diff", ms, "0", "1"]),
                s(&["clusters", ms]),
                s(&["plot", ms, "--out", &o]),
            ],
            "fasta" => vec![s(&[
                "calibrate",
                "--model",
                &model,
                "--layer",
                "7",
                "--fasta",
                ms,
                "--restarts",
                "1",
                "--max-steps",
                "3",
                "--sample",
                "3",
                "--quiet",
            ])],
            _ => vec![s(&["match", "--motifs", ms, "--db", &db])],
        };
        let before = failures.len();
        for a in runs {
            check(
                &a,
                all_mpi.then_some(2),
                &[&m, Path::new(&model)],
                &mut failures,
            );
        }
        if failures.len() > before {
            // Keep the input that failed, to reproduce it by hand.
            let kept = std::env::temp_dir().join(format!("drmpi-fuzz-failed-{seed}-{case}.{ext}"));
            let _ = std::fs::copy(&m, &kept);
            failures.push(format!("input of case {case} kept as {}", kept.display()));
        }
        let _ = std::fs::remove_file(&m);
        let _ = std::fs::remove_file(&r);
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    eprintln!(
        "fuzz: {cases} cases, seed {seed}, {:.0} s, {} failures",
        t0.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
