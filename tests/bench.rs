//! `bench` prints the documented line per batch size and convolution path
//! (the figures themselves are for people to read, not for tests to time).
mod common;
use common::*;
use deepresolve_mpi::network::simd::SimdPath;

#[test]
fn bench_prints_one_line_per_batch_with_the_documented_fields() {
    let out = run_bin(
        &[
            "bench",
            "--model",
            "tests/fixtures/pytorch/model.h5",
            "--steps",
            "2",
            "--batch",
            "1,3",
        ],
        None,
        120,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 4, "one line per batch size and path:\n{text}");
    let want = [
        ("direct", "1"),
        ("fast", "1"),
        ("direct", "3"),
        ("fast", "3"),
    ];
    for (line, (conv, b)) in lines.iter().zip(want) {
        let fields: Vec<(&str, &str)> = line
            .split_whitespace()
            .map(|f| {
                f.split_once('=')
                    .unwrap_or_else(|| panic!("not key=value: {f} in {line}"))
            })
            .collect();
        let keys: Vec<&str> = fields.iter().map(|f| f.0).collect();
        assert_eq!(
            keys,
            [
                "conv",
                "batch",
                "item_steps_per_s",
                "gflops",
                "sgemm_gflops",
                "efficiency",
                "peak_rss_mb",
                "simd"
            ],
            "{line}"
        );
        assert_eq!((fields[0].1, fields[1].1), (conv, b));
        // The process's kernel path: the fastest this CPU has, unless DEEPRESOLVE_SIMD says.
        assert_eq!(fields[7].1, SimdPath::best().as_str(), "{line}");
        let v: Vec<f64> = fields[2..7].iter().map(|f| f.1.parse().unwrap()).collect();
        assert!(v.iter().all(|x| x.is_finite() && *x > 0.0), "{line}");
        // efficiency is gflops / sgemm_gflops
        assert!((v[3] - v[1] / v[2]).abs() < 2e-3, "{line}");
    }
}

/// `--simd` times each path in one run: per batch and conv, one line per path, in the order given.
#[test]
fn bench_simd_prints_a_line_per_kernel_path() {
    if !SimdPath::Avx2.available() {
        eprintln!("skipped: this CPU has only the scalar path");
        return;
    }
    let out = run_bin(
        &[
            "bench",
            "--model",
            "tests/fixtures/pytorch/model.h5",
            "--steps",
            "1",
            "--batch",
            "2",
            "--conv",
            "direct",
            "--simd",
            "scalar,avx2",
        ],
        None,
        120,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr_of(&out));
    let paths: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once("simd=").map_or("", |p| p.1))
        .collect();
    assert_eq!(paths, ["scalar", "avx2"], "{text}");
    assert!(text.contains("# kernels: scalar, avx2"), "{text}");
}

/// `--layer` takes a model file's tensor name as in `run`, with `--output`
/// and `--reduce` for a head with positions (jobs/bench_bpnet.py relies on it).
#[test]
fn bench_takes_a_tensor_name_an_output_and_a_reduction() {
    let out = run_bin(
        &[
            "bench",
            "--model",
            "tests/fixtures/onnx/bpnet.onnx",
            "--layer",
            "/Add_1_output_0",
            "--output",
            "profile",
            "--reduce",
            "sum",
            "--steps",
            "1",
            "--batch",
            "2",
            "--conv",
            "direct",
        ],
        None,
        120,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("/Add_1_output_0, H = (16, 200)"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("conv=direct batch=2 "))
            .count(),
        1,
        "{text}"
    );
    let bad = run_bin(
        &[
            "bench",
            "--model",
            "tests/fixtures/onnx/bpnet.onnx",
            "--layer",
            "/nope",
            "--batch",
            "1",
        ],
        None,
        60,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a layer name nor an index"));
}

/// `--per-layer` puts a row per layer after H under each line (name, op,
/// forward and backward seconds, share), then the head and the scorer's
/// own time, and the shares add up to 1.
#[test]
fn bench_per_layer_gives_each_layer_its_share_of_the_step() {
    let out = run_bin(
        &[
            "bench",
            "--shape",
            "chrombpnet",
            "--steps",
            "1",
            "--batch",
            "1",
            "--conv",
            "direct",
            "--per-layer",
        ],
        None,
        300,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<(&str, &str)>> = text
        .lines()
        .filter(|l| l.starts_with("layer="))
        .map(|l| {
            l.split_whitespace()
                .map(|f| f.split_once('=').unwrap_or_else(|| panic!("{l}")))
                .collect()
        })
        .collect();
    let keys: Vec<&str> = rows[0].iter().map(|f| f.0).collect();
    assert_eq!(
        keys,
        ["layer", "op", "forward_s", "backward_s", "share"],
        "{text}"
    );
    let names: Vec<&str> = rows.iter().map(|r| r[0].1).collect();
    // The tower after H: 8 blocks (or fused blocks) and the counts head's average.
    for want in ["dil1", "dil8", "gap", "(head)", "(other)"] {
        assert!(
            names.iter().any(|n| n.split('+').any(|p| p == want)),
            "no row for {want}:\n{text}"
        );
    }
    assert!(
        rows.iter().any(
            |r| r[0].1.split('+').any(|p| p == "dil3") && r[1].1.starts_with("conv1d")
                || r[1].1 == "residual"
        ),
        "{text}"
    );
    let mut sum = 0.0;
    for r in &rows {
        let v: Vec<f64> = r[2..]
            .iter()
            .map(|f| f.1.parse().unwrap_or_else(|_| panic!("{:?}", r)))
            .collect();
        assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0), "{r:?}");
        sum += v[2];
    }
    assert!((sum - 1.0).abs() < 5e-3, "shares add to {sum}:\n{text}");
}
