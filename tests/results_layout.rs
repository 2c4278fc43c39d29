//! The results file keeps every name, type and shape of docs/SPEC.md; `analyze`
//! rebuilds /analysis from /ascent alone; `--resume` after restarts were lost
//! recomputes only their lanes and ends with the same file.
mod common;
use common::*;
use deepresolve_mpi::model::h5util::str_attr;
use hdf5::types::TypeDescriptor as TD;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `run` of the PyTorch fixture's flatten_7 to OUT (5 restarts of classes 0 and 2),
/// then EXTRA options.
fn run_small_with(out: &Path, extra: &[&str]) -> Output {
    run_small_env(out, extra, &[])
}

/// [`run_small_with`] with extra environment variables.
fn run_small_env(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "flatten_7", out.to_str().unwrap());
    a.extend([
        "--restarts",
        "5",
        "--classes",
        "0,2",
        "--batch",
        "2",
        "--lane",
        "3",
    ]);
    a.extend(extra);
    run_bin_env(&a, None, 60, env)
}

fn run_small(out: &Path) {
    let o = run_small_with(out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
}

/// A complete small run in D/ORIG, copied to D/COPY and changed there by EDIT.
fn run_copy_and_edit(
    d: &Path,
    orig: &str,
    copy: &str,
    edit: impl FnOnce(&hdf5::File),
) -> (PathBuf, PathBuf) {
    let (orig, copy) = (d.join(orig), d.join(copy));
    run_small(&orig);
    std::fs::copy(&orig, &copy).unwrap();
    {
        let _g = file_guard();
        let f = common::open_rw_waiting(&copy);
        edit(&f);
    }
    (orig, copy)
}

#[test]
fn every_spec_name_type_and_shape() {
    let d = tmpdir("layout");
    let out = d.join("r.h5");
    run_small(&out);
    let f = hdf5::File::open(&out).unwrap();
    let (c, t, k, w) = (2usize, 5usize, 6usize, 30usize);
    for a in [
        "format",
        "format_version",
        "tool_version",
        "model",
        "layer",
        "layer_index",
        "out",
        "classes",
        "restarts",
        "lambda",
        "lr",
        "decay_start",
        "decay_alpha",
        "min_lr",
        "patience",
        "max_steps",
        "seed",
        "class_names",
        "quiet",
        "resume",
        "overwrite",
    ] {
        assert!(f.attr(a).is_ok(), "root attribute {a} missing");
    }
    assert_eq!(str_attr(&f, "format").as_deref(), Some("deepresolve-mpi"));
    assert_eq!(
        f.attr("format_version")
            .unwrap()
            .read_scalar::<i64>()
            .unwrap(),
        1
    );
    assert_eq!(str_attr(&f, "layer").as_deref(), Some("flatten_7"));
    assert_eq!(
        f.attr("layer_index").unwrap().read_scalar::<i64>().unwrap(),
        7
    );
    assert_eq!(str_attr(&f, "status").as_deref(), Some("complete"));
    let check = |path: &str, td: TD, shape: &[usize]| {
        let ds = f.dataset(path).unwrap_or_else(|_| panic!("{path} missing"));
        assert_eq!(ds.shape(), shape, "{path} shape");
        assert_eq!(
            ds.dtype().unwrap().to_descriptor().unwrap(),
            td,
            "{path} type"
        );
    };
    use hdf5::types::{FloatSize as Fs, IntSize as Is};
    check("classes/index", TD::Integer(Is::U8), &[c]);
    check("ascent/fim", TD::Float(Fs::U4), &[c, t, k, w]);
    check("ascent/fiv", TD::Float(Fs::U4), &[c, t, k]);
    check("ascent/score", TD::Float(Fs::U4), &[c, t]);
    check("ascent/steps", TD::Integer(Is::U4), &[c, t]);
    check("ascent/converged", TD::Unsigned(Is::U1), &[c, t]);
    check("ascent/done", TD::Unsigned(Is::U1), &[c, t]);
    check("analysis/weight", TD::Float(Fs::U4), &[c, t]);
    check("analysis/il", TD::Float(Fs::U4), &[c, k]);
    check("analysis/gmm_bic", TD::Float(Fs::U8), &[c, 3]);
    check("analysis/gmm_components", TD::Integer(Is::U4), &[c]);
    check("analysis/nonadditive", TD::Unsigned(Is::U1), &[c, k]);
    check("analysis/ofiv", TD::Float(Fs::U4), &[c, k]);
    check("analysis/rank", TD::Integer(Is::U4), &[c, k]);
    check("analysis/similarity", TD::Float(Fs::U4), &[c, c]);
    check("analysis/linkage", TD::Float(Fs::U8), &[c - 1, 4]);
    check("analysis/cluster_order", TD::Integer(Is::U4), &[c]);
    let idx: Vec<i64> = f.dataset("classes/index").unwrap().read_raw().unwrap();
    assert_eq!(idx, vec![0, 2]);
    let names =
        deepresolve_mpi::model::h5util::string_dataset(&f.dataset("classes/names").unwrap())
            .unwrap();
    assert_eq!(names, vec!["classA", "classC"]);
    // fiv is the mean over positions of fim
    let fim: Vec<f32> = f.dataset("ascent/fim").unwrap().read_raw().unwrap();
    let fiv: Vec<f32> = f.dataset("ascent/fiv").unwrap().read_raw().unwrap();
    for (i, v) in fiv.iter().enumerate() {
        let m = fim[i * w..(i + 1) * w]
            .iter()
            .map(|&x| x as f64)
            .sum::<f64>()
            / w as f64;
        assert!((m as f32 - v).abs() <= 1e-6 * m.abs().max(1.0) as f32);
    }
    let done: Vec<u8> = f.dataset("ascent/done").unwrap().read_raw().unwrap();
    assert!(done.iter().all(|&d| d == 1));
}

#[test]
fn analyze_rebuilds_analysis_from_ascent_alone() {
    let d = tmpdir("analyze");
    let (out, copy) = run_copy_and_edit(&d, "r.h5", "copy.h5", |f| {
        f.unlink("analysis").unwrap();
    });
    let o = run_bin(&["analyze", copy.to_str().unwrap()], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_same_datasets(&out, &copy);
}

/// A file written before `gmm_floor` existed keeps scikit-learn's absolute
/// floor when re-analysed; `--gmm-floor` changes it and says so in the file.
#[test]
fn analyze_keeps_an_old_files_gmm_floor() {
    let d = tmpdir("floor");
    let (out, old) = run_copy_and_edit(&d, "r.h5", "old.h5", |f| {
        f.delete_attr("gmm_floor").unwrap();
    });
    let f = hdf5::File::open(&out).unwrap();
    assert_eq!(str_attr(&f, "gmm_floor").as_deref(), Some("fiv"));
    drop(f);
    // Read under file_guard: a child another test starts meanwhile would
    // inherit the open file's lock, and the next `analyze` be refused.
    let floor = |p: &Path| {
        let _g = file_guard();
        str_attr(&hdf5::File::open(p).unwrap(), "gmm_floor")
    };
    let o = run_bin(&["analyze", old.to_str().unwrap()], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(floor(&old).as_deref(), Some("absolute"));
    let o = run_bin(
        &["analyze", old.to_str().unwrap(), "--gmm-floor", "fiv"],
        None,
        60,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(floor(&old).as_deref(), Some("fiv"));
    {
        let _g = file_guard();
        assert_same_datasets(&out, &old);
    }
    let o = run_bin(
        &["analyze", old.to_str().unwrap(), "--gmm-floor", "relative"],
        None,
        60,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_eq!(floor(&old).as_deref(), Some("relative"));
    // a name this version does not know: one clear error
    {
        let _g = file_guard();
        let f = common::open_rw_waiting(&old);
        f.delete_attr("gmm_floor").unwrap();
        f.new_attr::<hdf5::types::VarLenUnicode>()
            .create("gmm_floor")
            .unwrap()
            .write_scalar(&"sideways".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
    }
    let o = run_bin(&["analyze", old.to_str().unwrap()], None, 60);
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("gmm_floor"), "{}", stderr_of(&o));
}

/// Issue 27: per-class checks. A class whose ascent scores are 1/1000 of the
/// other's is flagged "not learned"; a class whose restarts all returned one
/// map is flagged "restarts collapsed" (its IL is 0: it would otherwise look
/// genuinely additive). Both are in /analysis, in the log of `analyze`, and in
/// `clusters`' list and TSV. In the untouched run of this random model class A
/// cannot be raised above 0 (its best maps score −0.15): flagged.
#[test]
fn analyze_flags_unlearned_classes_and_collapsed_restarts() {
    let d = tmpdir("flags");
    let (t, k) = (5usize, 6usize);
    let (out, copy) = run_copy_and_edit(&d, "r.h5", "flagged.h5", |f| {
        let ds = f.dataset("ascent/score").unwrap();
        let mut sc: Vec<f32> = ds.read_raw().unwrap();
        for v in &mut sc[..t] {
            *v = v.abs() + 1.0;
        }
        for v in &mut sc[t..] {
            *v = v.abs() * 1e-3;
        }
        ds.write_raw(&sc).unwrap();
        let ds = f.dataset("ascent/fiv").unwrap();
        let mut fiv: Vec<f32> = ds.read_raw().unwrap();
        for ti in 1..t {
            let (a, b) = fiv.split_at_mut(ti * k);
            b[..k].copy_from_slice(&a[..k]);
        }
        ds.write_raw(&fiv).unwrap();
    });
    let read = |p: &Path, name: &str| -> Vec<u8> {
        hdf5::File::open(p)
            .unwrap()
            .dataset(name)
            .unwrap()
            .read_raw()
            .unwrap()
    };
    assert_eq!(read(&out, "analysis/not_learned"), vec![1, 0]);
    assert_eq!(read(&out, "analysis/restarts_collapsed"), vec![0, 0]);
    let o = run_bin(&["analyze", copy.to_str().unwrap()], None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let log = stderr_of(&o);
    assert!(log.contains("class classC: not learned"), "{log}");
    assert!(log.contains("class classA: restarts collapsed"), "{log}");
    assert_eq!(read(&copy, "analysis/not_learned"), vec![0, 1]);
    assert_eq!(read(&copy, "analysis/restarts_collapsed"), vec![1, 0]);
    let f = hdf5::File::open(&copy).unwrap();
    let corr: Vec<f32> = f
        .dataset("analysis/restart_correlation")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(corr[0], 1.0);
    assert!(corr[1] < 1.0, "{corr:?}");
    let ratio: Vec<f32> = f
        .dataset("analysis/score_ratio")
        .unwrap()
        .read_raw()
        .unwrap();
    assert!(ratio[1] < 0.01 && ratio[0] > 1.0, "{ratio:?}");
    // bootstrap of the OFIV ranking: fractions, 3 per resample; identical
    // restarts give the same top 3 in every resample
    let st: Vec<f32> = f
        .dataset("analysis/top3_stability")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(st.len(), 2 * k);
    for row in st.chunks(k) {
        assert!(row.iter().all(|&v| (0.0..=1.0).contains(&v)), "{st:?}");
        assert!((row.iter().sum::<f32>() - 3.0).abs() < 1e-4, "{st:?}");
    }
    let rank: Vec<i32> = f.dataset("analysis/rank").unwrap().read_raw().unwrap();
    for &ch in &rank[..3] {
        assert_eq!(st[ch as usize], 1.0, "{st:?}");
    }
    let tsv = d.join("c.tsv");
    let o = run_bin(
        &[
            "clusters",
            copy.to_str().unwrap(),
            "--out",
            tsv.to_str().unwrap(),
        ],
        None,
        60,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &stderr_of(&o);
    assert!(text.contains("classA (0) [restarts collapsed]"), "{text}");
    assert!(text.contains("classC (2) [not learned]"), "{text}");
    let rows = std::fs::read_to_string(&tsv).unwrap();
    assert!(
        rows.starts_with("cluster\tclass_index\tclass_name\tflags\n"),
        "{rows}"
    );
    assert!(rows.contains("\t0\tclassA\trestarts collapsed\n"), "{rows}");
    assert!(rows.contains("\t2\tclassC\tnot learned\n"), "{rows}");
}

#[test]
fn resume_recomputes_only_lanes_with_lost_restarts() {
    let d = tmpdir("lost");
    // Lose restarts 3 and 4 of class 0 (lane 1 = items 3..6) and wipe their data.
    let (full, cut) = run_copy_and_edit(&d, "full.h5", "cut.h5", |f| {
        let done = f.dataset("ascent/done").unwrap();
        let mut v: Vec<u8> = done.read_raw().unwrap();
        v[3] = 0;
        v[4] = 0;
        done.write_raw(&v).unwrap();
        let score = f.dataset("ascent/score").unwrap();
        let mut s: Vec<f32> = score.read_raw().unwrap();
        s[3] = 0.0;
        s[4] = 0.0;
        score.write_raw(&s).unwrap();
        f.unlink("analysis").unwrap();
    });
    let o = run_small_with(&cut, &["--resume"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("8 of 10 restarts already done") && log.contains("1 lanes to run"),
        "{log}"
    );
    assert!(log.contains("done: 10 items"), "{log}");
    assert_same_datasets(&full, &cut);
}

/// Issue 27: the GMM floor acts only in the analysis rank 0 makes after the
/// ascent, so it is not part of the run's identity: `--resume` with another
/// floor keeps /ascent, makes /analysis again with the new floor, records it
/// in `gmm_floor` and says so in one line; the same floor says nothing.
#[test]
fn resume_with_another_gmm_floor_reanalyses_and_records_it() {
    let d = tmpdir("resume_floor");
    let out = d.join("r.h5");
    let o = run_small_with(&out, &["--quiet", "--gmm-floor", "absolute"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let attrs = |p: &Path| {
        let f = hdf5::File::open(p).unwrap();
        let resumed = f
            .attr("resume")
            .and_then(|a| a.read_scalar::<i64>())
            .unwrap_or(0);
        (str_attr(&f, "gmm_floor"), resumed)
    };
    assert_eq!(attrs(&out), (Some("absolute".into()), 0));
    let before = d.join("before.h5");
    std::fs::copy(&out, &before).unwrap();
    let o = run_small_with(&out, &["--quiet", "--resume", "--gmm-floor", "absolute"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("gmm-floor"), "{log}");
    assert_eq!(attrs(&out), (Some("absolute".into()), 1));
    let o = run_small_with(&out, &["--quiet", "--resume"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("--resume with --gmm-floor fiv: its /analysis was made with --gmm-floor absolute; it is made again with fiv"),
        "{log}"
    );
    assert_eq!(attrs(&out), (Some("fiv".into()), 2));
    let read = |p: &Path, name: &str| -> Vec<f32> {
        hdf5::File::open(p)
            .unwrap()
            .dataset(name)
            .unwrap()
            .read_raw()
            .unwrap()
    };
    assert_eq!(read(&before, "ascent/fiv"), read(&out, "ascent/fiv"));
    // the new /analysis is the one `analyze --gmm-floor fiv` makes
    let o = run_bin(
        &["analyze", before.to_str().unwrap(), "--gmm-floor", "fiv"],
        None,
        60,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_same_datasets(&before, &out);
}

/// A run killed during its ascent (before `/analysis`) has recorded the
/// `--gmm-floor` it was started with; `--resume` with the same floor says
/// nothing, with another it says so in one line and analyses with the new one
/// (the `/analysis` that `analyze --gmm-floor` of the same ascent makes); a
/// file made before the floor was recorded at creation resumes silently.
#[test]
fn resume_of_an_interrupted_run_with_another_gmm_floor_says_so() {
    let d = tmpdir("resume_floor_cut");
    let cut = d.join("cut.h5");
    let o = run_small_env(
        &cut,
        &["--quiet", "--gmm-floor", "absolute"],
        &[("DEEPRESOLVE_TEST_ABORT_AFTER_LANES", "1")],
    );
    let log = stderr_of(&o);
    assert!(
        !o.status.success() && log.contains("killing rank 0 after 1 lanes"),
        "{log}"
    );
    {
        let f = hdf5::File::open(&cut).unwrap();
        assert_eq!(str_attr(&f, "status").as_deref(), Some("running"));
        assert!(
            f.group("analysis").is_err(),
            "an interrupted run has /analysis"
        );
        assert_eq!(str_attr(&f, "gmm_floor").as_deref(), Some("absolute"));
        let done: Vec<u8> = f.dataset("ascent/done").unwrap().read_raw().unwrap();
        assert!(done.contains(&0) && done.contains(&1), "{done:?}");
    }
    let (same, other, old) = (d.join("same.h5"), d.join("other.h5"), d.join("old.h5"));
    for p in [&same, &other, &old] {
        std::fs::copy(&cut, p).unwrap();
    }
    {
        let _g = file_guard();
        common::open_rw_waiting(&old)
            .delete_attr("gmm_floor")
            .unwrap();
    }
    let floor = |p: &Path| str_attr(&hdf5::File::open(p).unwrap(), "gmm_floor");
    let o = run_small_with(&same, &["--quiet", "--resume", "--gmm-floor", "absolute"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("gmm-floor"), "{log}");
    assert_eq!(floor(&same).as_deref(), Some("absolute"));
    let o = run_small_with(&other, &["--quiet", "--resume"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("--resume with --gmm-floor fiv: the run was started with --gmm-floor absolute; its /analysis is made with fiv (the floor changes only the analysis, not the ascent)"),
        "{log}"
    );
    assert_eq!(log.matches("gmm-floor").count(), 2, "one line: {log}");
    assert_eq!(floor(&other).as_deref(), Some("fiv"));
    let o = run_small_with(&old, &["--quiet", "--resume"]);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("gmm-floor"), "{log}");
    assert_eq!(floor(&old).as_deref(), Some("fiv"));
    assert_same_datasets(&old, &other);
    // `other` is the same ascent as `same`, analysed with the fiv floor
    let again = d.join("again.h5");
    std::fs::copy(&same, &again).unwrap();
    let o = run_bin(
        &["analyze", again.to_str().unwrap(), "--gmm-floor", "fiv"],
        None,
        60,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert_same_datasets(&again, &other);
    let bic = |p: &Path| -> Vec<f64> {
        hdf5::File::open(p)
            .unwrap()
            .dataset("analysis/gmm_bic")
            .unwrap()
            .read_raw()
            .unwrap()
    };
    assert_ne!(bic(&same), bic(&other), "the two floors fit alike here");
}

/// Issue 27: a one-class run of a class the ascent cannot raise above 0 (class
/// A of this random model scores −0.15) says in words why it is flagged and
/// that comparing with other classes needs at least two — not "NaN × the
/// median class score".
#[test]
fn a_one_class_run_says_why_in_words() {
    let d = tmpdir("one_class");
    let out = d.join("r.h5");
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "flatten_7", out.to_str().unwrap());
    a.extend([
        "--restarts",
        "5",
        "--classes",
        "0",
        "--batch",
        "2",
        "--lane",
        "3",
    ]);
    let o = run_bin(&a, None, 60);
    let log = stderr_of(&o);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("NaN"), "{log}");
    assert!(
        log.contains("class classA: not learned: its median ascent score is -0.")
            && log.contains("— not above 0: no restart found a map the model scores positively for this class. With one class in the run there is no other class to compare it with (that needs at least two)"),
        "{log}"
    );
}
