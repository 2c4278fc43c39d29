//! Issue 28: `--classes` by name everywhere, and `report` (one self-contained
//! HTML page of a run) on the synthetic fixture whose four classes carry
//! planted motifs (tests/fixtures/synthetic/make_models.py, dataset2).
mod common;

use common::{expect_error, fixture, run_bin, stderr_of, tmpdir};
use std::path::Path;

fn model2() -> String {
    fixture("synthetic/dataset2.h5")
}

fn names2() -> String {
    fixture("synthetic/dataset2_classes.txt")
}

fn class_names_of(path: &Path) -> Vec<String> {
    let r = deepresolve_mpi::results::FinishedRun::read(path).unwrap();
    r.index
        .iter()
        .zip(&r.names)
        .map(|(i, n)| format!("{i}:{n}"))
        .collect()
}

#[test]
fn run_classes_by_name_index_and_range() {
    let d = tmpdir("classes-by-name");
    let out = d.join("r.h5");
    let (m, n, o) = (model2(), names2(), out.to_str().unwrap().to_string());
    let base = |classes: &'static str| {
        vec![
            "run".to_string(),
            "--model".into(),
            m.clone(),
            "--layer".into(),
            "flatten".into(),
            "--out".into(),
            o.clone(),
            "--class-names".into(),
            n.clone(),
            "--restarts".into(),
            "2".into(),
            "--max-steps".into(),
            "50".into(),
            "--quiet".into(),
            "--overwrite".into(),
            "--classes".into(),
            classes.into(),
        ]
    };
    let run = |classes: &'static str| {
        let a = base(classes);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = run_bin(&a, None, 60);
        assert!(r.status.success(), "{classes}: {}", stderr_of(&r));
        class_names_of(&out)
    };
    assert_eq!(run("CGCTTG,GATA+TCAT"), ["3:CGCTTG", "2:GATA+TCAT"]);
    assert_eq!(
        run("TCAT+CAGATG,0,2-3"),
        ["1:TCAT+CAGATG", "0:GATA+CAGATG", "2:GATA+TCAT", "3:CGCTTG"]
    );
    // plot selects from the file with the same parser.
    let plots = d.join("plots");
    let r = run_bin(
        &[
            "plot",
            &o,
            "--out",
            plots.to_str().unwrap(),
            "--classes",
            "CGCTTG",
        ],
        None,
        60,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    assert!(plots.join("class_3_CGCTTG.svg").exists());
    assert!(!plots.join("class_0_GATA_CAGATG.svg").exists());
    // An unknown name is one error that names it and lists the classes.
    let a = base("CGCTTG,REST");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    expect_error(&a, &["--classes", "\"REST\"", "CGCTTG"]);
}
