//! Every kind of bad input in one table, each row run under `mpirun -n 2`:
//! the message names the thing, every rank exits non-zero within 10 s, and no
//! results file is left with `status = complete`.
mod common;
use common::*;
use deepresolve_mpi::model::native::save_native;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One bad input: a name, the `run`/other arguments after the binary, the
/// texts the error must contain, and the results file it might leave.
struct Row {
    name: &'static str,
    args: Vec<String>,
    must_name: Vec<String>,
    out: Option<PathBuf>,
}

/// Run `args` under `mpirun -n 2` with each rank's exit status written to a
/// file of its own (`rc.<rank>`), killed after `timeout_s`.
fn run_ranks(args: &[String], dir: &Path, timeout_s: u64) -> (std::process::Output, Duration) {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let script = r#"bin=$1; shift; "$bin" "$@"; rc=$?; echo $rc > "$DRMPI_RC_DIR/rc.$OMPI_COMM_WORLD_RANK"; exit $rc"#;
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", "2", "--oversubscribe", "sh", "-c", script, "sh", bin])
        .args(args)
        .env("DRMPI_RC_DIR", dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let child = {
        let _g = file_guard();
        cmd.spawn().expect("spawn mpirun")
    };
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(timeout_s)) {
        Ok(out) => (out.expect("wait for mpirun"), t0.elapsed()),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("{args:?} under mpirun -n 2 hung for more than {timeout_s} s");
        }
    }
}

fn status_of(path: &Path) -> Option<String> {
    let _g = file_guard();
    let f = hdf5::File::open(path).ok()?;
    deepresolve_mpi::model::h5util::str_attr(&f, "status")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn every_bad_input_is_refused_on_every_rank_with_its_name() {
    let d = tmpdir("badtable");
    let m = fixture("pytorch/model.h5");
    // Files some rows need.
    let nan_model = d.join("nan.h5");
    {
        let mut spec = deepresolve_mpi::model::load_model(m.as_ref(), None).unwrap();
        if let deepresolve_mpi::model::LayerKind::Dense { kernel, .. } = &mut spec.layers[8].kind {
            kernel[3] = f32::NAN;
        }
        // No child may inherit the file's descriptor (and lock) while it is written.
        let _g = file_guard();
        save_native(&spec, &nan_model).unwrap();
    }
    let precious = d.join("precious.h5");
    std::fs::write(&precious, b"precious").unwrap();
    let names9 = d.join("names9.txt");
    std::fs::write(&names9, "a\nb\nc\nd\ne\nf\ng\nh\ni\n").unwrap();
    let not_results = d.join("not_results.h5");
    std::fs::copy(&m, &not_results).unwrap();
    // A finished run to resume with a changed option.
    let done = d.join("done.h5");
    {
        let dn = done.to_str().unwrap();
        let mut a = run_base(&m, "7", dn);
        a.extend(["--restarts", "2", "--max-steps", "5", "--quiet"]);
        let o = run_bin(&a, None, 60);
        assert!(o.status.success(), "{}", stderr_of(&o));
    }

    let mut rows: Vec<Row> = vec![];
    let mut n = 0usize;
    // A `run` of MODEL at LAYER into a fresh file, with EXTRA options.
    let mut run = |name: &'static str, model: &str, layer: &str, extra: &[&str], must: &[&str]| {
        n += 1;
        let out = d.join(format!("r{n}.h5"));
        let mut a = s(&run_base(model, layer, out.to_str().unwrap()));
        a.extend(s(&["--restarts", "2", "--quiet"]));
        a.extend(s(extra));
        Row {
            name,
            args: a,
            must_name: s(must),
            out: Some(out),
        }
    };
    let f = fixture;
    rows.push(run(
        "missing model",
        "/nonexistent/model.h5",
        "0",
        &[],
        &["/nonexistent/model.h5"],
    ));
    rows.push(run(
        "not HDF5",
        &f("pytorch/bad/not_hdf5.h5"),
        "0",
        &[],
        &["not_hdf5.h5", "not an HDF5 file"],
    ));
    rows.push(run(
        "unknown layer kind",
        &f("pytorch/bad/unknown_kind.h5"),
        "0",
        &[],
        &["unknown_kind.h5", "lstm"],
    ));
    rows.push(run(
        "weights of the wrong shape",
        &f("pytorch/bad/bad_shape.h5"),
        "0",
        &[],
        &["bad_shape.h5", "expects 27 inputs, gets 28"],
    ));
    rows.push(run(
        "NaN weights",
        nan_model.to_str().unwrap(),
        "7",
        &[],
        &["nan.h5", "linear_8", "NaN"],
    ));
    // A branching graph loads now (layer graphs); a Lambda layer, a model
    // with two inputs and an H a skip bypasses are what a graph can get wrong.
    rows.push(run(
        "Keras Lambda layer",
        &f("graphs/lambda_model.h5"),
        "0",
        &[],
        &["lambda_model.h5", "times_two", "Lambda"],
    ));
    rows.push(run(
        "Keras two inputs",
        &f("graphs/multi_input.h5"),
        "0",
        &[],
        &["multi_input.h5", "seq_b", "2 inputs"],
    ));
    rows.push(run(
        "graph: H bypassed by a skip",
        &f("graphs/basenji.h5"),
        "res0_conv1",
        &["--reduce", "sum"],
        &["--layer res0_conv1", "not a cut"],
    ));
    rows.push(run(
        "graph: two outputs, no --output",
        &f("graphs/chrombpnet.h5"),
        "bpnet_1conv",
        &[],
        &["2 outputs", "profile", "counts"],
    ));
    rows.push(run(
        "ONNX: unsupported operator",
        &f("onnx/bad/unsupported_op.onnx"),
        "0",
        &[],
        &["GRU", "opset 17"],
    ));
    rows.push(run(
        "Keras malformed config",
        &f("keras/bad/malformed_config.h5"),
        "0",
        &[],
        &["malformed_config.h5", "not valid JSON"],
    ));
    rows.push(run(
        "Keras missing weight",
        &f("keras/bad/missing_weight.h5"),
        "0",
        &[],
        &["missing_weight.h5", "layer dense_a", "missing"],
    ));
    rows.push(run(
        "Keras unsupported layer",
        &f("keras/bad/unsupported_layer.h5"),
        "0",
        &[],
        &["unsupported_layer.h5", "SimpleRNN"],
    ));
    rows.push(run(
        "Keras Lambda layer",
        &f("graphs/lambda_model.h5"),
        "0",
        &[],
        &["lambda_model.h5", "times_two", "Lambda"],
    ));
    rows.push(run(
        "truncated ONNX",
        &f("onnx/bad/truncated.onnx"),
        "0",
        &[],
        &["truncated.onnx", "not an ONNX model"],
    ));
    rows.push(run(
        "not ONNX",
        &f("onnx/bad/not_onnx.onnx"),
        "0",
        &[],
        &["not_onnx.onnx", "not an ONNX model"],
    ));
    rows.push(run(
        "ONNX unsupported op",
        &f("onnx/bad/unsupported_op.onnx"),
        "0",
        &[],
        &["unsupported_op.onnx", "GRU"],
    ));
    rows.push(run(
        "ONNX missing external data",
        &f("onnx/bad/missing_external.onnx"),
        "0",
        &[],
        &["missing_external.onnx.data"],
    ));
    rows.push(run(
        "unknown --layer",
        &m,
        "no_such_layer",
        &[],
        &["--layer", "no_such_layer", "flatten_7"],
    ));
    rows.push(run(
        "--layer index past the end",
        &m,
        "99",
        &[],
        &["--layer", "99"],
    ));
    rows.push(run(
        "--lambda NaN",
        &m,
        "7",
        &["--lambda", "NaN"],
        &["--lambda NaN"],
    ));
    rows.push(run(
        "--lambda negative",
        &m,
        "7",
        &["--lambda", "-1"],
        &["--lambda -1"],
    ));
    rows.push(run("--lr 0", &m, "7", &["--lr", "0"], &["--lr 0"]));
    rows.push(run("--lr inf", &m, "7", &["--lr", "inf"], &["--lr inf"]));
    rows.push(run(
        "--decay-alpha negative",
        &m,
        "7",
        &["--decay-alpha", "-1"],
        &["--decay-alpha -1"],
    ));
    rows.push(run(
        "--min-lr inf",
        &m,
        "7",
        &["--min-lr", "inf"],
        &["--min-lr inf"],
    ));
    rows.push(run(
        "--patience 0",
        &m,
        "7",
        &["--patience", "0"],
        &["--patience"],
    ));
    rows.push(run(
        "--max-steps 0",
        &m,
        "7",
        &["--max-steps", "0"],
        &["--max-steps"],
    ));
    rows.push(run(
        "--restarts 0",
        &m,
        "7",
        &["--restarts", "0"],
        &["--restarts"],
    ));
    rows.push(run("--batch 0", &m, "7", &["--batch", "0"], &["--batch"]));
    rows.push(run("--lane 0", &m, "7", &["--lane", "0"], &["--lane"]));
    rows.push(run(
        "--classes out of range",
        &m,
        "7",
        &["--classes", "0,5"],
        &["--classes", "5"],
    ));
    rows.push(run(
        "--classes not a list",
        &m,
        "7",
        &["--classes", "x"],
        &["--classes", "\"x\""],
    ));
    rows.push(run(
        "--classes backwards range",
        &m,
        "7",
        &["--classes", "3-1"],
        &["--classes", "backwards"],
    ));
    rows.push(run(
        "--output unknown",
        &m,
        "7",
        &["--output", "nope"],
        &["--output \"nope\""],
    ));
    rows.push(run(
        "--class-names missing",
        &m,
        "7",
        &["--class-names", "/nonexistent/names.txt"],
        &["--class-names", "/nonexistent/names.txt"],
    ));
    rows.push(run(
        "--class-names wrong count",
        &m,
        "7",
        &["--class-names", names9.to_str().unwrap()],
        &["--class-names", "9 names"],
    ));
    rows.push(run(
        "option given twice",
        &m,
        "7",
        &["--restarts", "3"],
        &["--restarts"],
    ));
    rows.push(run(
        "--resume with --overwrite",
        &m,
        "7",
        &["--resume", "--overwrite"],
        &["--resume", "--overwrite"],
    ));
    rows.push(run(
        "--resume of a missing file",
        &m,
        "7",
        &["--resume"],
        &["does not exist"],
    ));
    rows.push(run(
        "unknown option",
        &m,
        "7",
        &["--no-such-option"],
        &["--no-such-option"],
    ));
    rows.push(run("--out in a missing directory", &m, "7", &[], &[]));
    // That last row's file lies in a directory that does not exist.
    {
        let r = rows.last_mut().unwrap();
        let out = d.join("no_such_dir/r.h5");
        let i = r.args.iter().position(|a| a == "--out").unwrap();
        r.args[i + 1] = out.display().to_string();
        r.must_name = s(&["no_such_dir/r.h5", "cannot create"]);
        r.out = Some(out);
    }
    let pre = |name: &'static str, args: Vec<String>, must: &[&str]| Row {
        name,
        args,
        must_name: s(must),
        out: None,
    };
    let with = |out: &Path, extra: &[&str]| {
        let mut a = s(&run_base(&m, "7", out.to_str().unwrap()));
        a.extend(s(&["--restarts", "2", "--max-steps", "5", "--quiet"]));
        a.extend(s(extra));
        a
    };
    rows.push(pre(
        "--out exists",
        with(&precious, &[]),
        &["precious.h5", "already exists", "--overwrite"],
    ));
    rows.push(pre(
        "--resume of a file that is not ours",
        with(&not_results, &["--resume"]),
        &["not_results.h5", "not a deepresolve-mpi results file"],
    ));
    rows.push(pre(
        "--resume with a different --lambda",
        with(&done, &["--resume", "--lambda", "0.5"]),
        &["done.h5", "different lambda"],
    ));
    rows.push(pre(
        "--resume with different --classes",
        with(&done, &["--resume", "--classes", "0"]),
        &["done.h5", "different"],
    ));
    rows.push(pre(
        "inspect of a missing model",
        s(&["inspect", "/nonexistent/model.h5"]),
        &["/nonexistent/model.h5"],
    ));
    rows.push(pre(
        "analyze of a missing file",
        s(&["analyze", "/nonexistent/r.h5"]),
        &["/nonexistent/r.h5"],
    ));

    assert!(rows.len() >= 25, "only {} rows", rows.len());
    let mut failures = vec![];
    let mut slowest = (Duration::ZERO, "");
    for (i, row) in rows.iter().enumerate() {
        let rc_dir = d.join(format!("rc{i}"));
        std::fs::create_dir_all(&rc_dir).unwrap();
        let (o, took) = run_ranks(&row.args, &rc_dir, 30);
        if took > slowest.0 {
            slowest = (took, row.name);
        }
        let err = stderr_of(&o);
        let mut why = vec![];
        if o.status.success() {
            why.push("mpirun exited 0".to_string());
        }
        for r in 0..2 {
            match std::fs::read_to_string(rc_dir.join(format!("rc.{r}"))) {
                Ok(rc) if rc.trim() != "0" => {}
                Ok(rc) => why.push(format!("rank {r} exited {}", rc.trim())),
                Err(_) => why.push(format!("rank {r} left no exit status")),
            }
        }
        if took > Duration::from_secs(10) {
            why.push(format!("took {took:?}"));
        }
        for m in &row.must_name {
            if !err.contains(m.as_str()) {
                why.push(format!("the message does not name {m:?}"));
            }
        }
        if err.contains("panicked") {
            why.push("a panic".into());
        }
        if let Some(out) = &row.out {
            if out.exists() && status_of(out).as_deref() == Some("complete") {
                why.push(format!("{} is complete", out.display()));
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}:\n{err}", row.name, why.join("; ")));
        }
    }
    // Files that were there before are as they were.
    assert_eq!(std::fs::read(&precious).unwrap(), b"precious");
    assert_eq!(status_of(&done).as_deref(), Some("complete"));
    eprintln!(
        "{} bad inputs refused under mpirun -n 2; slowest {:?} ({})",
        rows.len(),
        slowest.0,
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
