//! `plot` and `report` on a results file with values no run writes (NaN, a
//! negative weight, a similarity over 1): one warning line per dataset with
//! the count, exit 0, and the bad values left out of the figures
//! (src/results/bad_values.rs). A clean file gives no warning. `clusters`,
//! `diff` and `motifs` warn of the datasets they use and leave those values
//! out of their output; `plot` on a `channels` file does so for its PWMs and
//! activations.
mod common;
use common::{fixture, run_base, run_bin, stderr_of, tmpdir};
use std::path::{Path, PathBuf};

/// `run --layer 7 --restarts 3` on the PyTorch fixture (3 classes, K = 6).
fn results(d: &Path) -> PathBuf {
    results_at(d, "7")
}

/// `run --layer LAYER --restarts 3` on the PyTorch fixture (3 classes).
fn results_at(d: &Path, layer: &str) -> PathBuf {
    let out = d.join(format!("r{layer}.h5"));
    let model = fixture("pytorch/model.h5");
    let o = out.to_str().unwrap();
    let mut args = run_base(&model, layer, o);
    args.extend(["--restarts", "3", "--quiet"]);
    let r = run_bin(&args, None, 300);
    assert!(r.status.success(), "run failed:\n{}", stderr_of(&r));
    out
}

/// Overwrite values of a float dataset in place.
fn poke<T: hdf5::H5Type + Copy>(file: &Path, name: &str, at: &[(usize, T)]) {
    let _g = common::file_guard();
    let f = common::open_rw_waiting(file);
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

/// Whether `text` shows a NaN or an infinity as a word.
fn shows_non_finite(text: &str) -> bool {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
    ["NaN", "nan", "inf", "Inf"]
        .iter()
        .any(|w| words.contains(w))
}

fn read<T: hdf5::H5Type>(file: &Path, name: &str) -> Vec<T> {
    let _g = common::file_guard();
    hdf5::File::open(file)
        .unwrap()
        .dataset(name)
        .unwrap()
        .read_raw()
        .unwrap()
}

#[test]
fn clusters_diff_and_motifs_warn_of_the_datasets_they_use_and_leave_bad_values_out() {
    let d = tmpdir("bad-values-readers");
    // Layer 3: the first convolution's filters, so `motifs --model` works.
    let clean = results_at(&d, "3");
    let model = fixture("pytorch/model.h5");
    let k = read::<f32>(&clean, "analysis/ofiv").len() / 3;
    assert_eq!(k, 8);
    let rank: Vec<i64> = read(&clean, "analysis/rank");
    // Class 0's best channel, and class 1's best other channel.
    let best_a = rank[0] as usize;
    let best_b = rank[k..2 * k]
        .iter()
        .map(|&c| c as usize)
        .find(|&c| c != best_a)
        .unwrap();
    let bad = d.join("bad.h5");
    std::fs::copy(&clean, &bad).unwrap();
    // NaN and infinite OFIVs.
    poke(
        &bad,
        "analysis/ofiv",
        &[(best_a, f32::NAN), (k + best_b, f32::INFINITY)],
    );
    poke(&bad, "analysis/similarity", &[(1, 1.5f32)]);
    poke(&bad, "analysis/linkage", &[(2, f64::NAN)]);
    let run = |args: &[&str]| {
        let o = run_bin(args, None, 120);
        assert!(o.status.success(), "{args:?}:\n{}", stderr_of(&o));
        (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let ofiv_line = |err: &str| {
        let w = warnings(err);
        let l = w
            .iter()
            .find(|l| l.contains("/analysis/ofiv"))
            .unwrap_or_else(|| panic!("no warning names /analysis/ofiv:\n{err}"));
        assert!(l.contains("2 of 24 values") && l.contains("bad.h5"), "{l}");
    };
    let (c, b) = (clean.to_str().unwrap(), bad.to_str().unwrap());

    // diff: one warning (it reads only the OFIVs); the two channels left out.
    let (_, err) = run(&["diff", c, "0", "1"]);
    assert!(
        warnings(&err).is_empty(),
        "diff warned on a clean file:\n{err}"
    );
    let (out, err) = run(&["diff", b, "0", "1"]);
    assert_eq!(warnings(&err).len(), 1, "diff:\n{err}");
    ofiv_line(&err);
    assert!(!shows_non_finite(&out), "diff shows a bad value:\n{out}");
    let rows: Vec<usize> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim_start().starts_with("row"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows.len(), k - 2, "diff:\n{out}");
    assert!(
        !rows.contains(&best_a) && !rows.contains(&best_b),
        "diff:\n{out}"
    );

    // clusters: OFIV, similarity and linkage, one warning each.
    let (_, err) = run(&["clusters", c]);
    assert!(
        warnings(&err).is_empty(),
        "clusters warned on a clean file:\n{err}"
    );
    let (out, err) = run(&["clusters", b]);
    let w = warnings(&err);
    assert_eq!(w.len(), 3, "clusters:\n{err}");
    ofiv_line(&err);
    for (ds, count) in [
        ("/analysis/similarity", "1 of 9 values"),
        ("/analysis/linkage", "1 of 2 values"),
    ] {
        assert!(
            w.iter().any(|l| l.contains(ds) && l.contains(count)),
            "clusters: {ds}:\n{err}"
        );
    }
    assert!(
        !shows_non_finite(&out),
        "clusters shows a bad value:\n{out}"
    );

    // motifs: one warning; class 0's NaN channel is no motif, the next ones are.
    let meme = d.join("m.meme");
    let m = meme.to_str().unwrap();
    let (_, err) = run(&[
        "motifs",
        "--model",
        &model,
        "--results",
        c,
        "--top",
        "3",
        "--out",
        m,
    ]);
    assert!(
        warnings(&err).is_empty(),
        "motifs warned on a clean file:\n{err}"
    );
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("MOTIF "))
            .map(str::to_string)
            .collect()
    };
    let clean_names = names(&std::fs::read_to_string(&meme).unwrap());
    let (_, err) = run(&[
        "motifs",
        "--model",
        &model,
        "--results",
        b,
        "--top",
        "3",
        "--out",
        m,
    ]);
    assert_eq!(warnings(&err).len(), 1, "motifs:\n{err}");
    ofiv_line(&err);
    let text = std::fs::read_to_string(&meme).unwrap();
    assert!(!shows_non_finite(&text), "{text}");
    let bad_names = names(&text);
    assert_eq!(bad_names.len(), 9, "{text}");
    let first_a = format!("classA_rank1_ch{best_a}");
    assert!(clean_names.contains(&first_a), "{clean_names:?}");
    assert!(!bad_names.contains(&first_a), "{bad_names:?}");
    assert!(
        bad_names
            .iter()
            .filter(|n| n.starts_with("classA_"))
            .count()
            == 3
            && bad_names.iter().all(|n| !n.starts_with("classA_rank1_")),
        "class 0's motifs keep their ranks, the bad one left out: {bad_names:?}"
    );
}

#[test]
fn plot_of_a_channels_file_warns_of_bad_pwms_and_activations_and_draws_no_nan() {
    let d = tmpdir("bad-values-channels");
    let ch = d.join("ch.h5");
    let (m, f) = (
        fixture("synthetic/dataset2.h5"),
        fixture("sequences/synthetic.fa"),
    );
    let o = run_bin(
        &[
            "channels",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--out",
            ch.to_str().unwrap(),
            "--inits",
            "2",
            "--max-steps",
            "50",
            "--quiet",
        ],
        None,
        120,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    let plot = |file: &Path, out: &Path| {
        let o = run_bin(
            &[
                "plot",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--channels",
                "all",
            ],
            None,
            120,
        );
        assert!(o.status.success(), "plot:\n{}", stderr_of(&o));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let err = plot(&ch, &d.join("clean"));
    assert!(
        warnings(&err).is_empty(),
        "plot warned on a clean file:\n{err}"
    );
    let pwm = {
        let _g = common::file_guard();
        hdf5::File::open(&ch)
            .unwrap()
            .dataset("channels/pwm")
            .unwrap()
            .shape()
    };
    let (k, ni, r, a) = (pwm[0], pwm[1], pwm[2], pwm[3]);
    let best: Vec<i32> = read(&ch, "channels/best_init");
    let at = |kk: usize, row: usize, l: usize| ((kk * ni + best[kk] as usize) * r + row) * a + l;
    let bad = d.join("bad-ch.h5");
    std::fs::copy(&ch, &bad).unwrap();
    poke(
        &bad,
        "channels/pwm",
        &[
            (at(0, 0, 0), f32::NAN),
            (at(1, 2, 3), 2.0),
            (at(2, 1, 1), -0.5),
        ],
    );
    poke(
        &bad,
        "channels/activation",
        &[(3 * ni + best[3] as usize, f32::INFINITY)],
    );
    let out = d.join("bad");
    let err = plot(&bad, &out);
    let w = warnings(&err);
    assert_eq!(w.len(), 2, "{err}");
    assert!(
        w.iter()
            .any(|l| l.contains("/channels/pwm")
                && l.contains(&format!("3 of {} values", k * r * a))),
        "{err}"
    );
    assert!(
        w.iter()
            .any(|l| l.contains("/channels/activation") && l.contains(&format!("1 of {k} values"))),
        "{err}"
    );
    let svg = std::fs::read_to_string(out.join("channels_logos.svg")).unwrap();
    assert!(!shows_non_finite(&svg), "the logo sheet shows a bad value");
    assert!(
        svg.contains("channel 3 · activation –"),
        "channel 3's activation is not left out"
    );
}

#[test]
fn a_damaged_linkage_merge_is_refused_by_name_not_a_panic_or_a_wrong_tree() {
    let d = tmpdir("bad-linkage");
    let clean = results(&d);
    // Row 1 of the (2, 4) linkage of 3 classes may join classes 0..2 and merge 3.
    for (v, what) in [
        (1e9, "out of range"),
        (-3.0, "negative"),
        (f64::NAN, "NaN"),
        (2.5, "not whole"),
        (-1.0, "again"),
    ] {
        let bad = d.join("bad.h5");
        std::fs::copy(&clean, &bad).unwrap();
        // "again": row 1 joins the node row 0 joined already.
        let v = if what == "again" {
            read::<f64>(&clean, "analysis/linkage")[0]
        } else {
            v
        };
        poke(&bad, "analysis/linkage", &[(4, v)]);
        let (b, figs) = (bad.to_str().unwrap(), d.join("figs"));
        for a in [
            vec!["clusters", b],
            vec!["plot", b, "--out", figs.to_str().unwrap()],
        ] {
            let o = run_bin(&a, None, 60);
            let err = stderr_of(&o);
            assert!(
                !o.status.success() && !err.contains("panicked"),
                "{what}: {a:?}:\n{err}"
            );
            assert!(
                err.contains("/analysis/linkage row 1") && err.contains("bad.h5"),
                "{what}: {a:?}:\n{err}"
            );
        }
    }
}
