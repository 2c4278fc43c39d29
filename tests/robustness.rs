//! Issue 25: what a demanding user feeds the program ends in one clear error
//! naming the thing, never a panic, an abort, a hang or a destroyed file —
//! alone and under `mpirun -n 2` (each case reproduced the failure first).
mod common;
use common::*;

fn run_with<'a>(out: &'a str, extra: &[&'a str]) -> Vec<String> {
    let m = fixture("pytorch/model.h5");
    let mut a: Vec<String> = run_base(&m, "7", out)
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["--quiet".to_string()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn expect_error_s(args: &[String], must: &[&str]) {
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    expect_error(&a, must);
}

#[test]
fn huge_or_non_finite_counts_are_refused_by_name_before_allocating() {
    let d = tmpdir("rb-counts");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    for (extra, must) in [
        (vec!["--progress-every", "inf"], vec!["--progress-every"]),
        (vec!["--progress-every", "1e20"], vec!["--progress-every"]),
        (
            vec!["--restarts", "9223372036854775807"],
            vec!["--restarts", "9223372036854775807"],
        ),
        (vec!["--batch", "18446744073709551615"], vec!["--batch"]),
        (vec!["--batch", "4294967296"], vec!["--batch", "4294967296"]),
        (vec!["--batch", "9223372036854775808"], vec!["--batch"]),
        (vec!["--lane", "18446744073709551615"], vec!["--lane"]),
    ] {
        expect_error_s(&run_with(o, &extra), &must);
    }
    assert!(!out.exists());
    let m = fixture("pytorch/model.h5");
    let fa = fixture("sequences/synthetic.fa");
    for cmd in ["calibrate", "channels"] {
        let mut a = vec![
            cmd,
            "--model",
            &m,
            "--layer",
            "7",
            "--fasta",
            &fa,
            "--batch",
            "4294967296",
        ];
        if cmd == "channels" {
            a.extend(["--out", o]);
        }
        expect_error(&a, &["--batch", "4294967296"]);
    }
}

#[test]
fn negative_values_of_integer_options_name_the_option() {
    let d = tmpdir("rb-negative");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    for opt in ["--restarts", "--seed", "--batch", "--max-steps"] {
        expect_error_s(&run_with(o, &[opt, "-1"]), &[opt, "-1"]);
    }
    let m = fixture("pytorch/model.h5");
    expect_error(&run_base(&m, "-1", o), &["--layer", "-1"]);
}

#[test]
fn nul_bytes_in_class_or_layer_names_are_refused_and_leave_no_temporary_file() {
    let d = tmpdir("rb-nul");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let names = d.join("names.txt");
    std::fs::write(&names, "a\nb\0x\nc\n").unwrap();
    let n = names.to_str().unwrap();
    expect_error_s(
        &run_with(o, &["--restarts", "2", "--class-names", n]),
        &["--class-names", "names.txt", "NUL"],
    );
    let m = fixture("robust/nul_layer.keras");
    expect_error(&run_base(&m, "flat", o), &["nul_layer.keras", "NUL"]);
    expect_error(&["inspect", &m], &["nul_layer.keras", "NUL"]);
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|f| f != "names.txt")
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn a_weight_declaring_2_pow_40_values_is_refused_before_reading() {
    let d = tmpdir("rb-declared");
    let out = d.join("r.h5");
    let m = fixture("robust/huge_declared.h5");
    let must = ["huge_declared.h5", "dense_a", "4398046511104 bytes"];
    expect_error(&run_base(&m, "dense_a", out.to_str().unwrap()), &must);
    expect_error(&["inspect", &m], &must);
    assert!(!out.exists());
}
