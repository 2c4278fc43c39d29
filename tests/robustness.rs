//! Issue 25: what a demanding user feeds the program ends in one clear error
//! naming the thing, never a panic, an abort, a hang or a destroyed file —
//! alone and under `mpirun -n 2` (each case reproduced the failure first).
mod common;
use common::*;
use std::os::unix::fs::FileTypeExt;

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
        // Both take run's --progress-every (they run on its engine), bounded alike.
        for (opt, v) in [("--batch", "4294967296"), ("--progress-every", "inf")] {
            let mut a = vec![cmd, "--model", &m, "--layer", "7", "--fasta", &fa, opt, v];
            if cmd == "channels" {
                a.extend(["--out", o]);
            }
            expect_error(&a, &[opt, v]);
        }
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

/// A Keras file whose attributes read but whose root group does not (fuzz
/// seed 64, case 163): one error, no panic.
#[test]
fn a_keras_file_whose_root_group_cannot_be_read_is_one_error() {
    let d = tmpdir("rb-root");
    let out = d.join("r.h5");
    let m = fixture("robust/root_not_a_group.h5");
    let must = ["root_not_a_group.h5", "root group", "damaged"];
    expect_error(&run_base(&m, "1", out.to_str().unwrap()), &must);
    expect_error(&["inspect", &m], &must);
    assert!(!out.exists());
}

/// Bytes of every file in `paths`, to see that a refused job changed none.
fn snapshot(paths: &[&std::path::Path]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn out_refuses_fifos_directories_and_the_jobs_own_inputs() {
    let d = tmpdir("rb-out");
    let m = d.join("m.h5");
    std::fs::copy(fixture("pytorch/model.h5"), &m).unwrap();
    let fa = d.join("s.fa");
    std::fs::copy(fixture("sequences/synthetic.fa"), &fa).unwrap();
    let names = d.join("names.txt");
    std::fs::write(&names, "a\nb\nc\n").unwrap();
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let ms = m.to_str().unwrap();
    let before = snapshot(&[&m, &fa, &names]);
    let ns = names.to_str().unwrap();
    let run = |out: &str| -> Vec<String> {
        let mut a = run_base(ms, "7", out).to_vec();
        a.extend([
            "--restarts",
            "2",
            "--quiet",
            "--overwrite",
            "--class-names",
            ns,
        ]);
        a.iter().map(|s| s.to_string()).collect()
    };
    let dot_m = format!("{}/./m.h5", d.display());
    expect_error_s(&run(ms), &["--out", "--model", "same file"]);
    expect_error_s(&run(&dot_m), &["--out", "--model", "same file"]);
    expect_error_s(
        &run(names.to_str().unwrap()),
        &["--class-names", "same file"],
    );
    expect_error_s(
        &run(fifo.to_str().unwrap()),
        &["--out", "not a regular file"],
    );
    expect_error_s(&run(d.to_str().unwrap()), &["--out", "not a regular file"]);
    let f = fa.to_str().unwrap();
    let ch = |out: &str| -> Vec<String> {
        [
            "channels", "--model", ms, "--layer", "7", "--fasta", f, "--out", out,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--overwrite".to_string(), "--quiet".to_string()])
        .collect()
    };
    expect_error_s(&ch(f), &["--out", "--fasta", "same file"]);
    expect_error_s(
        &ch(fifo.to_str().unwrap()),
        &["--out", "not a regular file"],
    );
    let mut a = ch(d.join("c.h5").to_str().unwrap());
    a.extend(["--meme".into(), "/nonexistent/dir/x.meme".into()]);
    expect_error_s(&a, &["--meme", "/nonexistent/dir"]);
    assert_eq!(snapshot(&[&m, &fa, &names]), before, "an input was changed");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn analyze_stopped_by_a_file_size_limit_leaves_the_file_as_it_was() {
    let d = tmpdir("rb-analyze");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", o);
    a.extend(["--restarts", "3", "--max-steps", "5", "--quiet"]);
    let r = run_bin(&a, None, 60);
    assert!(r.status.success(), "{}", stderr_of(&r));
    let before = std::fs::read(&out).unwrap();
    // The limit is the file's own size: the copy fits, rewriting /analysis
    // does not (an in-place rewrite fails part-way and leaves it unreadable).
    let blocks = before.len() / 1024;
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let script = format!("ulimit -f {blocks}; exec \"$0\" analyze \"$1\"");
    let res = std::process::Command::new("bash")
        .args(["-c", &script, bin, o])
        .output()
        .unwrap();
    let err = stderr_of(&res);
    assert!(
        !res.status.success(),
        "analyze succeeded under the limit:\n{err}"
    );
    assert_eq!(res.status.code(), Some(1), "killed by a signal?\n{err}");
    assert!(err.contains("r.h5"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        std::fs::read(&out).unwrap() == before,
        "the file was changed"
    );
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "files left behind: {left:?}");
    // Without the limit it still works, and `status` reads the file.
    let r = run_bin(&["analyze", o], None, 60);
    assert!(r.status.success(), "{}", stderr_of(&r));
}

#[test]
fn a_50000_position_meme_motif_is_refused_before_matching() {
    let d = tmpdir("rb-meme");
    let wide = d.join("wide.meme");
    let mut t = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\nMOTIF wide\nletter-probability matrix: alength= 4 w= 50000 nsites= 20 E= 0\n");
    for _ in 0..50000 {
        t.push_str("0.25 0.25 0.25 0.25\n");
    }
    std::fs::write(&wide, t).unwrap();
    let w = wide.to_str().unwrap();
    let db = fixture("tomtom/db.meme");
    expect_error(
        &["match", "--motifs", w, "--db", &db],
        &["wide.meme", "motif wide", "2048"],
    );
    expect_error(
        &["match", "--motifs", &db, "--db", w],
        &["wide.meme", "motif wide"],
    );
}

#[test]
fn a_tab_in_a_fasta_sequence_and_weights_with_a_non_json_model_are_named() {
    let d = tmpdir("rb-msgs");
    let fa = d.join("tab.fa");
    std::fs::write(&fa, ">a\nACGT\tACGT\n").unwrap();
    let m = fixture("pytorch/model.h5");
    let f = fa.to_str().unwrap();
    expect_error(
        &[
            "calibrate",
            "--model",
            &m,
            "--layer",
            "7",
            "--fasta",
            f,
            "--quiet",
        ],
        &["tab.fa", "line 2", "tab"],
    );
    expect_error(&["inspect", &m, "--weights", &m], &["--weights", "to_json"]);
}

#[test]
fn a_non_finite_objective_in_a_models_job_names_the_model() {
    let d = tmpdir("rb-models-nan");
    let mut spec =
        deepresolve_mpi::model::load_model(fixture("pytorch/model.h5").as_ref(), None).unwrap();
    if let deepresolve_mpi::model::LayerKind::Dense { kernel, .. } = &mut spec.layers[10].kind {
        kernel.iter_mut().for_each(|v| *v *= 1e30);
    }
    let huge = d.join("huge.h5");
    {
        let _g = file_guard();
        deepresolve_mpi::model::native::save_native(&spec, &huge).unwrap();
    }
    let list = d.join("models.txt");
    std::fs::write(
        &list,
        format!(
            "{} good\n{} overflowing\n",
            fixture("pytorch/model.h5"),
            huge.display()
        ),
    )
    .unwrap();
    for nproc in [None, Some(2)] {
        let od = d.join(format!("out{}", nproc.unwrap_or(1)));
        let a = [
            "run",
            "--models",
            list.to_str().unwrap(),
            "--out-dir",
            od.to_str().unwrap(),
            "--layer",
            "7",
            "--restarts",
            "2",
            "--max-steps",
            "3",
            "--quiet",
        ];
        let o = run_bin(&a, nproc, 60);
        let err = stderr_of(&o);
        assert!(!o.status.success(), "{err}");
        assert!(
            err.contains("model overflowing: non-finite objective"),
            "{err}"
        );
    }
}

#[test]
fn a_field_of_the_wrong_type_names_the_layer_and_the_field() {
    let d = tmpdir("rb-types");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    for (file, layer, must) in [
        (
            "robust/activation_number.h5",
            "7",
            vec!["sigmoid_11", "activation"],
        ),
        (
            "robust/pool_size_float.h5",
            "7",
            vec!["maxpool1d_3", "pool_size", "integer"],
        ),
        (
            "robust/padding_number.h5",
            "flat",
            vec!["conv_b", "padding", "not a string"],
        ),
    ] {
        let m = fixture(file);
        expect_error(&["inspect", &m], &must);
        let mut a = run_base(&m, layer, o);
        a.extend(["--restarts", "1", "--quiet"]);
        expect_error(&a, &must);
    }
    assert!(!out.exists());
}

#[test]
fn analyze_refuses_a_nan_fiv_and_leaves_the_file_as_it_was() {
    let d = tmpdir("rb-nan-fiv");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", o);
    a.extend(["--restarts", "2", "--max-steps", "3", "--quiet"]);
    let r = run_bin(&a, None, 60);
    assert!(r.status.success(), "{}", stderr_of(&r));
    {
        let _g = file_guard();
        let f = common::open_rw_waiting(&out);
        let ds = f.dataset("ascent/fiv").unwrap();
        let mut v: Vec<f32> = ds.read_raw().unwrap();
        v[0] = f32::NAN;
        ds.write_raw(&v).unwrap();
    }
    let before = std::fs::read(&out).unwrap();
    expect_error(&["analyze", o], &["r.h5", "restart 0", "NaN"]);
    assert!(
        std::fs::read(&out).unwrap() == before,
        "the file was changed"
    );
}

/// The byte offset of the size field of the heap object holding `text`
/// (the global heap of variable-length strings), found by the layout of a
/// collection: `GCOL`, then objects of a 16-byte header and 8-padded data.
fn heap_object_size_field(file: &[u8], text: &[u8]) -> usize {
    let mut from = 0;
    while let Some(k) = file[from..].windows(4).position(|w| w == b"GCOL") {
        let base = from + k;
        let size = u64::from_le_bytes(file[base + 8..base + 16].try_into().unwrap()) as usize;
        let mut p = base + 16;
        while p + 16 <= base + size {
            let index = u16::from_le_bytes([file[p], file[p + 1]]);
            let n = u64::from_le_bytes(file[p + 8..p + 16].try_into().unwrap()) as usize;
            if index == 0 {
                break;
            }
            if &file[p + 16..p + 16 + n] == text {
                return p + 8;
            }
            p += 16 + n.div_ceil(8) * 8;
        }
        from = base + 4;
    }
    panic!("no heap object holds {:?}", String::from_utf8_lossy(text));
}

#[test]
fn a_damaged_global_heap_is_refused_not_a_segfault() {
    let d = tmpdir("rb-heap");
    let good = d.join("r.h5");
    let g = good.to_str().unwrap();
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", g);
    a.extend(["--restarts", "3", "--max-steps", "5", "--quiet"]);
    let o = run_bin(&a, None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let bytes = std::fs::read(&good).unwrap();
    // A class name's length with its top bit set (libhdf5 copied 2^63 bytes:
    // exit 139), and one a little longer (its walk of the heap never ended).
    for (k, flip) in [(7, 0x80u8), (0, 0x80)] {
        let at = heap_object_size_field(&bytes, b"classB") + k;
        let mut bad = bytes.clone();
        bad[at] ^= flip;
        let f = d.join(format!("bad{k}.h5"));
        std::fs::write(&f, &bad).unwrap();
        let fs = f.to_str().unwrap();
        let out = d.join("plots");
        for args in [
            vec!["diff", fs, "0", "1"],
            vec!["clusters", fs],
            vec!["plot", fs, "--out", out.to_str().unwrap()],
        ] {
            let o = run_bin(&args, None, 30);
            let err = stderr_of(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
            assert!(err.contains("global heap"), "{args:?}:\n{err}");
        }
        assert_eq!(
            std::fs::read(&f).unwrap(),
            bad,
            "the damaged file was changed"
        );
    }
}

/// Where a version-1 attribute message named `name` (one variable-length
/// string, scalar) keeps the object index of its string's heap reference:
/// name padded to 8, a 24-byte datatype, an 8-byte dataspace, then (length
/// u32, address u64, index u32).
fn string_attribute_index(file: &[u8], name: &[u8]) -> usize {
    let mut pat = name.to_vec();
    pat.push(0);
    // The name behind a version-1 message body: version 1, reserved 0, its size.
    let at = (8..file.len() - pat.len())
        .find(|&i| {
            file[i..i + pat.len()] == pat[..]
                && file[i - 8..i - 4] == [1, 0, pat.len() as u8, 0]
                && file[i + pat.len().div_ceil(8) * 8] == 0x19
        })
        .unwrap_or_else(|| panic!("no attribute {:?}", String::from_utf8_lossy(name)));
    at + pat.len().div_ceil(8) * 8 + 24 + 8 + 12
}

/// tests/fuzz.rs (seed 35, case 270) found this segfault: an attribute's
/// reference into the global heap naming an object the heap does not hold
/// (index 0x22 made 0x40022) made libhdf5 read past its object table in
/// `inspect` and `run` (exit 139). Now one error naming the attribute, on the
/// model file and on a results file, and the file unchanged. A reference to
/// a held object of another length is refused too.
#[test]
fn a_damaged_heap_reference_is_refused_not_a_segfault() {
    let d = tmpdir("rb-heapref");
    let model = std::fs::read(fixture("pytorch/model.h5")).unwrap();
    let at = string_attribute_index(&model, b"activation");
    for (k, v) in [(2usize, 0x04u8), (0, 0xff)] {
        let mut bad = model.clone();
        bad[at + k] = v;
        let f = d.join(format!("m{k}.h5"));
        std::fs::write(&f, &bad).unwrap();
        let fs = f.to_str().unwrap();
        let out = d.join("r.h5");
        let mut run = run_base(fs, "7", out.to_str().unwrap());
        run.extend(["--restarts", "1", "--max-steps", "3", "--quiet"]);
        for args in [vec!["inspect", fs], run] {
            let o = run_bin(&args, None, 30);
            let err = stderr_of(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
            assert!(
                err.contains("attribute `activation`") && err.contains("damaged"),
                "{args:?}:\n{err}"
            );
            assert_eq!(err.matches("error").count(), 1, "one error:\n{err}");
        }
        assert!(!out.exists(), "no results file");
        assert_eq!(
            std::fs::read(&f).unwrap(),
            bad,
            "the model file was changed"
        );
    }
    // The same in a results file's class names (a contiguous dataset).
    let good = d.join("good.h5");
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", good.to_str().unwrap());
    a.extend(["--restarts", "3", "--max-steps", "5", "--quiet"]);
    let o = run_bin(&a, None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let offset = {
        let _g = file_guard();
        let f = hdf5::File::open(&good).unwrap();
        f.dataset("classes/names").unwrap().offset().unwrap() as usize
    };
    let mut bad = std::fs::read(&good).unwrap();
    bad[offset + 16 + 12 + 2] = 0x04; // class 1's object index
    let f = d.join("bad_names.h5");
    std::fs::write(&f, &bad).unwrap();
    let fs = f.to_str().unwrap();
    let html = d.join("r.html");
    for args in [
        vec!["diff", fs, "0", "1"],
        vec!["clusters", fs],
        vec!["report", fs, "--out", html.to_str().unwrap()],
    ] {
        let o = run_bin(&args, None, 30);
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
        assert!(
            err.contains("/classes/names") && err.contains("damaged"),
            "{args:?}:\n{err}"
        );
    }
    assert!(!html.exists(), "no report");
    assert_eq!(
        std::fs::read(&f).unwrap(),
        bad,
        "the results file was changed"
    );
    // `analyze` does not need the names: it says they are damaged and goes on.
    let o = run_bin(&["analyze", fs], None, 30);
    let err = stderr_of(&o);
    assert!(o.status.success(), "analyze: {:?}\n{err}", o.status);
    assert!(
        err.contains("warning: /classes/names") && err.contains("damaged"),
        "analyze says nothing of the damaged names:\n{err}"
    );
}

#[test]
fn out_of_every_writing_command_refuses_fifos_directories_and_inputs() {
    let d = tmpdir("rb-out-all");
    let r = d.join("r.h5");
    let rs = r.to_str().unwrap();
    let model = fixture("pytorch/model.h5");
    let mut a = run_base(&model, "7", rs);
    a.extend(["--restarts", "2", "--max-steps", "5", "--quiet"]);
    let o = run_bin(&a, None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let m = d.join("m.h5");
    std::fs::copy(&model, &m).unwrap();
    let q = d.join("q.meme");
    std::fs::copy(fixture("tomtom/queries.meme"), &q).unwrap();
    let db = d.join("db.meme");
    std::fs::copy(fixture("tomtom/db.meme"), &db).unwrap();
    let link = d.join("r_link.h5");
    std::fs::hard_link(&r, &link).unwrap();
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (ms, qs, dbs, ls, fs) = (
        m.to_str().unwrap(),
        q.to_str().unwrap(),
        db.to_str().unwrap(),
        link.to_str().unwrap(),
        fifo.to_str().unwrap(),
    );
    let ds = d.to_str().unwrap();
    let inputs = [r.as_path(), &m, &q, &db];
    let before = snapshot(&inputs);
    let not_regular = ["--out", "not a regular file"];
    // Each command: its arguments with --out last, and an input to write over.
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["match", "--motifs", qs, "--db", dbs, "--out"],
            dbs,
            "--db",
        ),
        (vec!["clusters", rs, "--out"], ls, "results file"),
        (
            vec!["motifs", "--results", rs, "--model", ms, "--out"],
            ms,
            "--model",
        ),
        (vec!["report", rs, "--out"], ls, "results file"),
    ];
    for (args, input, names) in &cases {
        for (out, must) in [
            (*input, vec!["--out", names, "same file"]),
            (fs, not_regular.to_vec()),
            (ds, not_regular.to_vec()),
        ] {
            let mut a = args.clone();
            a.push(out);
            let o = run_bin(&a, None, 20);
            let err = stderr_of(&o);
            assert_eq!(o.status.code(), Some(1), "{a:?}: {:?}\n{err}", o.status);
            for m in &must {
                assert!(err.contains(m), "{a:?}: does not name {m:?}:\n{err}");
            }
        }
    }
    // plot fills a directory: a file there is refused, and so are an input
    // it could draw over and a FIFO under a figure's name.
    let o = run_bin(&["plot", rs, "--out", ms], None, 20);
    assert!(
        stderr_of(&o).contains("not a directory"),
        "{}",
        stderr_of(&o)
    );
    let figs = d.join("figs");
    std::fs::create_dir_all(&figs).unwrap();
    let as_png = figs.join("similarity.png");
    std::fs::copy(&r, &as_png).unwrap();
    let png_before = std::fs::read(&as_png).unwrap();
    let o = run_bin(
        &[
            "plot",
            as_png.to_str().unwrap(),
            "--out",
            figs.to_str().unwrap(),
        ],
        None,
        20,
    );
    assert!(
        stderr_of(&o).contains("input of this job"),
        "{}",
        stderr_of(&o)
    );
    assert_eq!(std::fs::read(&as_png).unwrap(), png_before);
    std::fs::remove_file(&as_png).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(figs.join("similarity.svg"))
        .status()
        .unwrap()
        .success());
    let o = run_bin(&["plot", rs, "--out", figs.to_str().unwrap()], None, 20);
    assert_eq!(o.status.code(), Some(1), "{}", stderr_of(&o));
    assert!(
        stderr_of(&o).contains("not a regular file"),
        "{}",
        stderr_of(&o)
    );
    assert_eq!(snapshot(&inputs), before, "an input was changed");
}

/// tests/fuzz.rs (seed 50, case 838) found this segfault in libhdf5: a
/// group B-tree node (`TREE`, type 0) whose first child address was set to
/// all ones ("undefined"); opening a dataset under the group followed it.
#[test]
fn a_group_btree_child_outside_the_file_is_refused_not_a_segfault() {
    let d = tmpdir("rb-btree");
    let bytes = std::fs::read(fixture("recurrent/lstm_keras.h5")).unwrap();
    let node = (0..bytes.len() - 40)
        .find(|&i| &bytes[i..i + 4] == b"TREE" && bytes[i + 4] == 0)
        .expect("a group B-tree node");
    // header 24 bytes, then key 0 (8) and child 0 (8)
    let mut bad = bytes.clone();
    bad[node + 32..node + 40].fill(0xff);
    let f = d.join("bad.h5");
    std::fs::write(&f, &bad).unwrap();
    let fs = f.to_str().unwrap();
    let out = d.join("r.h5");
    for args in [
        vec!["inspect", fs],
        vec![
            "run",
            "--model",
            fs,
            "--layer",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--restarts",
            "1",
            "--max-steps",
            "3",
            "--quiet",
        ],
    ] {
        let o = run_bin(&args, None, 30);
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
        assert!(err.contains("group B-tree"), "{args:?}:\n{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}:\n{err}");
    }
    assert!(!out.exists(), "a results file was written");
    assert_eq!(
        std::fs::read(&f).unwrap(),
        bad,
        "the damaged file was changed"
    );
}
