//! The same numbers for any rank count, and a resume after SIGKILL that ends
//! with the file an uninterrupted run writes.
mod common;
use common::*;

fn base_args<'a>(model: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut a = run_base(model, "7", out);
    a.extend([
        "--restarts",
        "7",
        "--batch",
        "3",
        "--lane",
        "4",
        "--quiet",
        "--overwrite",
    ]);
    a
}

#[test]
fn every_dataset_is_bitwise_identical_for_1_2_3_and_4_ranks() {
    let d = tmpdir("ranks");
    let m = fixture("pytorch/model.h5");
    let mut files = vec![];
    for n in 1..=4usize {
        let out = d.join(format!("r{n}.h5"));
        let o = run_bin(&base_args(&m, out.to_str().unwrap()), Some(n), 120);
        assert!(o.status.success(), "{n} ranks: {}", stderr_of(&o));
        files.push(out);
    }
    // Without mpirun too.
    let out = d.join("plain.h5");
    let o = run_bin(&base_args(&m, out.to_str().unwrap()), None, 120);
    assert!(o.status.success(), "{}", stderr_of(&o));
    files.push(out);
    let steps: Vec<u8> = datasets(&files[0])
        .into_iter()
        .find(|(n, _)| n == "/ascent/steps")
        .unwrap()
        .1;
    assert!(
        steps.iter().any(|&b| b != 0),
        "no ascent steps were taken: the comparison would prove nothing"
    );
    for f in &files[1..] {
        assert_same_datasets(&files[0], f);
    }
}

/// Start a run on 2 ranks that rank 0 ends with SIGKILL after writing 2 lanes
/// (the test-only DEEPRESOLVE_TEST_ABORT_AFTER_LANES hook), as a queue's time limit would.
fn run_and_kill(args: &[&str]) {
    let o = run_bin_env(
        args,
        Some(2),
        120,
        &[("DEEPRESOLVE_TEST_ABORT_AFTER_LANES", "2")],
    );
    let seen = stderr_of(&o);
    assert!(
        !o.status.success()
            && seen.contains("DEEPRESOLVE_TEST_ABORT_AFTER_LANES=2: killing rank 0"),
        "the run ended before it could be killed:\n{seen}"
    );
}

/// `run` of layer 7 to OUT with EXTRA options, then slow items (small steps, long
/// patience) so the kill lands mid-run.
fn slow_args<'a>(model: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = run_base(model, "7", out);
    a.extend(extra);
    a.extend([
        "--restarts",
        "40",
        "--lr",
        "0.002",
        "--patience",
        "400",
        "--max-steps",
        "4000",
        "--batch",
        "4",
        "--lane",
        "4",
        "--progress-every",
        "0.05",
    ]);
    a
}

#[test]
fn resume_after_sigkill_equals_an_uninterrupted_run() {
    let d = tmpdir("resume");
    let m = fixture("pytorch/model.h5");
    let full = d.join("full.h5");
    let cut = d.join("cut.h5");
    run_and_kill(&slow_args(&m, cut.to_str().unwrap(), &[]));
    let done: Vec<u8> = {
        let _g = file_guard();
        let f = hdf5::File::open(&cut).expect("the killed run's file still opens");

        f.dataset("ascent/done").unwrap().read_raw().unwrap()
    };
    let n_done = done.iter().filter(|&&v| v == 1).count();
    assert!(
        n_done > 0 && n_done < done.len(),
        "kill did not land mid-run: {n_done}/{} done",
        done.len()
    );

    let a = slow_args(&m, cut.to_str().unwrap(), &["--resume", "--quiet"]);
    let o = run_bin(&a, Some(2), 300);
    assert!(o.status.success(), "resume: {}", stderr_of(&o));

    let a = slow_args(&m, full.to_str().unwrap(), &["--quiet"]);
    let o = run_bin(&a, Some(3), 300);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_same_datasets(&full, &cut);
}

#[test]
fn resume_with_a_changed_option_names_it() {
    let d = tmpdir("resume-diff");
    let m = fixture("pytorch/model.h5");
    let out = d.join("r.h5");
    let o = run_bin(&base_args(&m, out.to_str().unwrap()), None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    for (opt, val, name) in [
        ("--lambda", "0.5", "lambda"),
        ("--seed", "3", "seed"),
        ("--restarts", "8", "restarts"),
        ("--lr", "0.2", "lr"),
    ] {
        let mut a: Vec<&str> = base_args(&m, out.to_str().unwrap())
            .into_iter()
            .filter(|s| *s != "--overwrite")
            .collect();
        if let Some(i) = a.iter().position(|s| *s == opt) {
            a[i + 1] = val;
        } else {
            a.extend([opt, val]);
        }
        a.push("--resume");
        let o = run_bin(&a, Some(2), 60);
        let err = stderr_of(&o);
        assert!(!o.status.success(), "resume with {opt} {val} succeeded");
        assert!(err.contains(&format!("different {name}")), "{opt}: {err}");
    }
}
