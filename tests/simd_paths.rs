//! The kernel paths (`DEEPRESOLVE_SIMD`): each gives the same results on 1
//! and 2 ranks; AVX-512 and AVX2 agree; the path is recorded, a resume on
//! kernels that give other bits is refused, and a bad value is one error.
mod common;
use common::*;
use deepresolve_mpi::model::native::save_native;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::simd::{SimdPath, ENV};
use std::path::{Path, PathBuf};

/// A DeepSEA-like tail whose products are large enough for the small-batch
/// kernels' every tile (units and inputs not multiples of 16).
fn model() -> ModelSpec {
    let mut b = Builder::new(31, 12, 24);
    b.conv(20, 8, 1, 1, Padding::Valid, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(37, Activation::Relu)
        .dense(9, Activation::Linear)
        .act(Activation::Sigmoid);
    b.build()
}

fn model_file(d: &Path) -> PathBuf {
    let m = d.join("model.h5");
    let _g = file_guard();
    save_native(&model(), &m).unwrap();
    m
}

fn run_on(m: &Path, out: &Path, path: &str, ranks: usize, extra: &[&str]) -> std::process::Output {
    let (m, o) = (m.to_str().unwrap(), out.to_str().unwrap());
    let mut a = run_base(m, "0", o);
    a.extend([
        "--restarts",
        "6",
        "--batch",
        "5",
        "--lane",
        "3",
        "--max-steps",
        "40",
        "--conv",
        "fast",
    ]);
    a.extend(extra);
    run_bin_env(&a, Some(ranks), 180, &[(ENV, path)])
}

fn attr(path: &Path, name: &str) -> String {
    let f = hdf5::File::open(path).unwrap();
    f.attr(name)
        .unwrap()
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .unwrap()
        .to_string()
}

fn fims(path: &Path) -> Vec<f32> {
    let f = hdf5::File::open(path).unwrap();
    f.dataset("ascent/fim").unwrap().read_raw::<f32>().unwrap()
}

/// Every path this CPU has: 1 and 2 ranks give the same file, and the file
/// names the path; AVX-512 and AVX2 agree to float tolerance.
#[test]
fn each_path_is_independent_of_the_rank_count_and_the_fma_paths_agree() {
    let d = tmpdir("simd_paths_ranks");
    let m = model_file(&d);
    let mut made = Vec::new();
    for p in SimdPath::ALL {
        if !p.available() {
            eprintln!("{}: not on this CPU, not checked", p.as_str());
            continue;
        }
        let mut files = Vec::new();
        for n in [1, 2] {
            let f = d.join(format!("{}_{n}.h5", p.as_str()));
            let out = run_on(&m, &f, p.as_str(), n, &["--overwrite"]);
            assert!(
                out.status.success(),
                "{} on {n}: {}",
                p.as_str(),
                stderr_of(&out)
            );
            assert_eq!(attr(&f, "simd"), p.as_str());
            files.push(f);
        }
        assert_same_datasets(&files[0], &files[1]);
        made.push((p, files.swap_remove(0)));
    }
    let get = |p: SimdPath| made.iter().find(|(q, _)| *q == p).map(|(_, f)| fims(f));
    if let (Some(a), Some(b)) = (get(SimdPath::Avx512), get(SimdPath::Avx2)) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-4 * scale,
            "AVX-512 vs AVX2 FIMs differ by {worst} (scale {scale})"
        );
        eprintln!(
            "AVX-512 vs AVX2: largest FIM difference {worst} (scale {scale}){}",
            if a == b { ", bitwise equal" } else { "" }
        );
    }
    if let (Some(a), Some(b)) = (get(SimdPath::Scalar), get(SimdPath::Avx2)) {
        assert!(
            a != b,
            "scalar and AVX2 gave the same bits: the resume check below shows nothing"
        );
    }
}

/// A file made on the scalar path (OpenBLAS's sgemm) is not resumed on the
/// FMA kernels, which give other bits; the message says how to resume it.
#[test]
fn resume_on_kernels_with_other_bits_is_refused() {
    if !SimdPath::Avx2.available() {
        eprintln!("skipped: this CPU has only the scalar path");
        return;
    }
    let d = tmpdir("simd_paths_resume");
    let m = model_file(&d);
    let f = d.join("scalar.h5");
    let out = run_on(&m, &f, "scalar", 1, &["--overwrite"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(attr(&f, "simd"), "scalar");
    let out = run_on(&m, &f, "avx2", 1, &["--resume"]);
    let err = stderr_of(&out);
    assert!(
        !out.status.success(),
        "resumed a scalar file on avx2: {err}"
    );
    assert!(
        err.contains("other kernels") && err.contains("DEEPRESOLVE_SIMD=scalar"),
        "{err}"
    );
    // The path it was made on resumes it.
    let out = run_on(&m, &f, "scalar", 1, &["--resume"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    if SimdPath::Avx512.available() {
        // AVX-512 and AVX2 make the same bits: each resumes the other's file.
        let f = d.join("avx2.h5");
        let out = run_on(&m, &f, "avx2", 1, &["--overwrite"]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        let out = run_on(&m, &f, "avx512", 1, &["--resume"]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
}

/// A value that is not a path is one line naming the variable and the choices.
#[test]
fn a_bad_value_is_one_clear_error() {
    let out = run_bin_env(
        &["bench", "--batch", "1", "--steps", "1"],
        None,
        60,
        &[(ENV, "avx3")],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("DEEPRESOLVE_SIMD=\"avx3\"") && err.contains("avx512, avx2 or scalar"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}
