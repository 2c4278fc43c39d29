//! `plot` and `report` on a results file with values no run writes (NaN, a
//! negative weight, a similarity over 1): one warning line per dataset with
//! the count, exit 0, and the bad values left out of the figures
//! (src/plot/bad_values.rs). A clean file gives no warning.
mod common;
use common::{fixture, run_base, run_bin, stderr_of, tmpdir};
use std::path::{Path, PathBuf};

/// `run --layer 7 --restarts 3` on the PyTorch fixture (3 classes, K = 6).
fn results(d: &Path) -> PathBuf {
    let out = d.join("r.h5");
    let model = fixture("pytorch/model.h5");
    let o = out.to_str().unwrap();
    let mut args = run_base(&model, "7", o);
    args.extend(["--restarts", "3", "--quiet"]);
    let r = run_bin(&args, None, 300);
    assert!(r.status.success(), "run failed:\n{}", stderr_of(&r));
    out
}

/// Overwrite values of a float dataset in place.
fn poke<T: hdf5::H5Type + Copy>(file: &Path, name: &str, at: &[(usize, T)]) {
    let _g = common::file_guard();
    let f = hdf5::File::open_rw(file).unwrap();
    let ds = f.dataset(name).unwrap();
    let mut v: Vec<T> = ds.read_raw().unwrap();
    for &(i, x) in at {
        v[i] = x;
    }
    ds.write_raw(&v).unwrap();
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("warning:")).collect()
}

/// `plot` then `report` on `file`; both must succeed. Returns their stderr
/// and the output directory.
fn plot_and_report(file: &Path, d: &Path) -> (String, String, PathBuf) {
    let figs = d.join("figs");
    let p = run_bin(
        &[
            "plot",
            file.to_str().unwrap(),
            "--out",
            figs.to_str().unwrap(),
        ],
        None,
        300,
    );
    assert!(p.status.success(), "plot failed:\n{}", stderr_of(&p));
    let html = d.join("report.html");
    let r = run_bin(
        &[
            "report",
            file.to_str().unwrap(),
            "--out",
            html.to_str().unwrap(),
        ],
        None,
        300,
    );
    assert!(r.status.success(), "report failed:\n{}", stderr_of(&r));
    (stderr_of(&p), stderr_of(&r), figs)
}

#[test]
fn plot_and_report_warn_once_per_damaged_dataset_and_leave_bad_values_out() {
    let d = tmpdir("bad-values");
    let clean = results(&d);

    // A clean file: no warning from either command.
    let (p, r, _) = plot_and_report(&clean, &d.join("clean"));
    assert!(warnings(&p).is_empty(), "plot warned on a clean file:\n{p}");
    assert!(
        warnings(&r).is_empty(),
        "report warned on a clean file:\n{r}"
    );

    // Damaged: two NaN OFIVs (class 0), one negative weight, one similarity of 1.5.
    let bad = d.join("bad.h5");
    std::fs::copy(&clean, &bad).unwrap();
    poke(&bad, "analysis/ofiv", &[(0, f32::NAN), (1, f32::INFINITY)]);
    poke(&bad, "analysis/weight", &[(2, -1.0f32)]);
    poke(&bad, "analysis/similarity", &[(1, 1.5f32)]);
    let (p, r, figs) = plot_and_report(&bad, &d.join("bad"));
    for (cmd, err) in [("plot", &p), ("report", &r)] {
        let w = warnings(err);
        assert_eq!(w.len(), 3, "{cmd}: one warning per damaged dataset:\n{err}");
        let line = |ds: &str| {
            w.iter()
                .find(|l| l.contains(ds))
                .unwrap_or_else(|| panic!("{cmd}: no warning names {ds}:\n{err}"))
                .to_string()
        };
        assert!(
            line("/analysis/ofiv").contains("2 of 18 values"),
            "{cmd}:\n{err}"
        );
        assert!(
            line("/analysis/weight").contains("1 of 9 values"),
            "{cmd}:\n{err}"
        );
        assert!(
            line("/analysis/similarity").contains("1 of 9 values"),
            "{cmd}:\n{err}"
        );
        assert!(
            w.iter().all(|l| l.contains("bad.h5")),
            "{cmd}: names the file:\n{err}"
        );
    }
    // Left out, not drawn as numbers: no figure shows NaN, inf or a share of it.
    let mut svgs = 0;
    for e in std::fs::read_dir(&figs).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "svg") {
            svgs += 1;
            let s = std::fs::read_to_string(&path).unwrap();
            let words: Vec<&str> = s.split(|c: char| !c.is_alphanumeric()).collect();
            for word in ["NaN", "inf"] {
                assert!(!words.contains(&word), "{} shows {word}", path.display());
            }
        }
    }
    assert_eq!(
        svgs, 7,
        "3 class figures, 3 OFIV bar charts and the similarity"
    );
}
