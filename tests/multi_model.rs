//! `run --models`: one job over several models, each with its own results
//! file, equal dataset by dataset to single-model runs; a model the options
//! do not fit stops the job before any work; SIGKILL then `--resume`.
mod common;
use common::*;

const MODELS: [&str; 4] = [
    "synthetic/dataset1.h5",
    "synthetic/dataset2.h5",
    "keras/seq_sigmoid.h5",
    "pytorch/model.h5",
];

fn opts() -> Vec<&'static str> {
    vec![
        "--layer",
        "2",
        "--restarts",
        "3",
        "--max-steps",
        "80",
        "--batch",
        "2",
        "--lane",
        "3",
        "--quiet",
    ]
}

/// A list file naming the models; the last one gets a name of its own.
fn list(d: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("# models of the test\n");
    for (i, m) in MODELS.iter().enumerate() {
        text += &fixture(m);
        if i == MODELS.len() - 1 {
            text += "  torch_model";
        }
        text += "\n";
    }
    let p = d.join("models.txt");
    std::fs::write(&p, text).unwrap();
    p
}

fn names() -> Vec<&'static str> {
    vec!["dataset1", "dataset2", "seq_sigmoid", "torch_model"]
}

#[test]
fn a_multi_model_job_equals_single_model_runs() {
    let d = tmpdir("multi");
    let l = list(&d);
    let dir = d.join("out");
    let mut a = vec![
        "run",
        "--models",
        l.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
    ];
    a.extend(opts());
    let o = run_bin(&a, Some(2), 180);
    assert!(o.status.success(), "{}", stderr_of(&o));
    for (m, name) in MODELS.iter().zip(names()) {
        let single = d.join(format!("{name}.h5"));
        let model = fixture(m);
        let mut a = run_base(&model, "2", single.to_str().unwrap());
        a.extend(opts().into_iter().skip(2));
        let o = run_bin(&a, Some(3), 120);
        assert!(o.status.success(), "{m}: {}", stderr_of(&o));
        let multi = dir.join(format!("{name}.h5"));
        assert_eq!(
            datasets(&single),
            datasets(&multi),
            "{m}: the multi-model file differs"
        );
        let f = hdf5::File::open(&multi).unwrap();
        assert_eq!(
            deepresolve_mpi::model::h5util::str_attr(&f, "status").as_deref(),
            Some("complete")
        );
    }
}

#[test]
fn a_model_the_layer_does_not_fit_stops_the_job_before_any_work() {
    let d = tmpdir("multi-bad");
    let l = list(&d);
    let dir = d.join("out");
    // "flatten" is a layer of the synthetic models, not of seq_sigmoid (the first that lacks it).
    let a = [
        "run",
        "--models",
        l.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
        "--layer",
        "flatten",
        "--quiet",
    ];
    expect_error(&a, &["keras/seq_sigmoid.h5", "--layer \"flatten\""]);
    let made = std::fs::read_dir(&dir).map(|r| r.count()).unwrap_or(0);
    assert_eq!(made, 0, "files were made before the job was refused");
    // Two models that would write the same file.
    let dup = d.join("dup.txt");
    std::fs::write(&dup, format!("{0}\n{0}\n", fixture(MODELS[0]))).unwrap();
    let a = [
        "run",
        "--models",
        dup.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
        "--layer",
        "2",
    ];
    expect_error(&a, &["dataset1.h5", "second column"]);
}

#[test]
fn resume_after_sigkill_finishes_every_file() {
    let d = tmpdir("multi-kill");
    let l = list(&d);
    let full = d.join("full");
    let mut a = vec![
        "run",
        "--models",
        l.to_str().unwrap(),
        "--out-dir",
        full.to_str().unwrap(),
    ];
    a.extend(opts());
    let o = run_bin(&a, Some(2), 180);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let cut = d.join("cut");
    let mut a = vec![
        "run",
        "--models",
        l.to_str().unwrap(),
        "--out-dir",
        cut.to_str().unwrap(),
    ];
    a.extend(opts());
    let o = run_bin_env(
        &a,
        Some(2),
        180,
        &[("DEEPRESOLVE_TEST_ABORT_AFTER_LANES", "5")],
    );
    assert!(!o.status.success(), "the run was not interrupted");
    a.push("--resume");
    let o = run_bin(&a, Some(2), 180);
    assert!(o.status.success(), "resume: {}", stderr_of(&o));
    for name in names() {
        let (x, y) = (
            full.join(format!("{name}.h5")),
            cut.join(format!("{name}.h5")),
        );
        assert_eq!(datasets(&x), datasets(&y), "{name}: resumed file differs");
    }
}
