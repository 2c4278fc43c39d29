//! Bad input: one clear error naming the thing, a non-zero exit on every rank,
//! within seconds (a hang fails), alone and under `mpirun -n 2`, and no results
//! file passed off as complete.
mod common;
use common::*;
use deepresolve_mpi::model::native::save_native;

fn run_args<'a>(model: &'a str, layer: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut a = run_base(model, layer, out);
    a.extend(["--restarts", "2", "--quiet"]);
    a
}

#[test]
fn missing_model_file() {
    let d = tmpdir("missing");
    let out = d.join("r.h5");
    expect_error(
        &run_args("/nonexistent/model.h5", "0", out.to_str().unwrap()),
        &["/nonexistent/model.h5"],
    );
    assert!(
        !out.exists(),
        "a results file was created for a run that never started"
    );
    expect_error(
        &["inspect", "/nonexistent/model.h5"],
        &["/nonexistent/model.h5"],
    );
}

#[test]
fn not_hdf5_unknown_kind_bad_shape() {
    let d = tmpdir("badmodels");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let f = fixture("pytorch/bad/not_hdf5.h5");
    expect_error(&run_args(&f, "0", o), &["not_hdf5.h5", "not an HDF5 file"]);
    let f = fixture("pytorch/bad/unknown_kind.h5");
    expect_error(
        &run_args(&f, "0", o),
        &["unknown_kind.h5", "/layers/0001", "lstm"],
    );
    let f = fixture("pytorch/bad/bad_shape.h5");
    expect_error(
        &run_args(&f, "0", o),
        &["bad_shape.h5", "layer", "expects 27 inputs, gets 28"],
    );
    assert!(!out.exists());
}

#[test]
fn unknown_layer_bad_options_and_classes() {
    let d = tmpdir("badopts");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let m = fixture("pytorch/model.h5");
    expect_error(
        &run_args(&m, "no_such_layer", o),
        &["--layer", "no_such_layer", "flatten_7"],
    );
    let mut a = run_args(&m, "7", o);
    a.extend(["--lambda", "NaN"]);
    expect_error(&a, &["--lambda"]);
    let mut a = run_args(&m, "7", o);
    a.extend(["--classes", "0,5"]);
    expect_error(&a, &["--classes", "5"]);
    assert!(!out.exists());
}

#[test]
fn nan_weights_are_refused_at_load() {
    let d = tmpdir("nanw");
    let mut spec =
        deepresolve_mpi::model::load_model(fixture("pytorch/model.h5").as_ref(), None).unwrap();
    if let deepresolve_mpi::model::LayerKind::Dense { kernel, .. } = &mut spec.layers[8].kind {
        kernel[3] = f32::NAN;
    }
    let m = d.join("nan.h5");
    {
        // No child may inherit the file's descriptor (and lock) while it is written.
        let _g = file_guard();
        save_native(&spec, &m).unwrap();
    }
    let out = d.join("r.h5");
    expect_error(
        &run_args(m.to_str().unwrap(), "7", out.to_str().unwrap()),
        &["nan.h5", "linear_8", "NaN"],
    );
}

#[test]
fn overflowing_ascent_names_class_restart_and_step_and_leaves_no_complete_file() {
    // Weights of 1e30 overflow f32 at the first forward pass: every rank that runs
    // an item hits it, and the run must end everywhere with the item named.
    let d = tmpdir("overflow");
    let mut spec =
        deepresolve_mpi::model::load_model(fixture("pytorch/model.h5").as_ref(), None).unwrap();
    if let deepresolve_mpi::model::LayerKind::Dense { kernel, .. } = &mut spec.layers[10].kind {
        kernel.iter_mut().for_each(|v| *v *= 1e30);
    }
    let m = d.join("huge.h5");
    {
        // No child may inherit the file's descriptor (and lock) while it is written.
        let _g = file_guard();
        save_native(&spec, &m).unwrap();
    }
    for nproc in [None, Some(2)] {
        let out = d.join(format!("r{}.h5", nproc.unwrap_or(1)));
        let mut a = run_args(m.to_str().unwrap(), "7", out.to_str().unwrap());
        a.extend(["--lane", "1", "--classes", "1"]);
        let o = run_bin(&a, nproc, 60);
        let err = stderr_of(&o);
        assert!(!o.status.success(), "succeeded:\n{err}");
        assert!(
            err.contains("non-finite objective for class 1, restart") && err.contains(", at step "),
            "{err}"
        );
        if out.exists() {
            // whatever is there is marked unfinished
            if let Ok(f) = hdf5::File::open(&out) {
                let done: Vec<u8> = f.dataset("ascent/done").unwrap().read_raw().unwrap();
                assert!(
                    done.iter().all(|&v| v == 0),
                    "an item that overflowed is marked done"
                );
                assert!(
                    f.group("analysis").is_err(),
                    "a failed run has an /analysis group"
                );
                let status = deepresolve_mpi::model::h5util::str_attr(&f, "status");
                assert_eq!(status.as_deref(), Some("running"));
            }
        }
    }
}

#[test]
fn existing_out_needs_overwrite_or_resume() {
    let d = tmpdir("exists");
    let out = d.join("r.h5");
    std::fs::write(&out, b"precious").unwrap();
    let m = fixture("pytorch/model.h5");
    expect_error(
        &run_args(&m, "7", out.to_str().unwrap()),
        &["r.h5", "already exists", "--overwrite"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

#[test]
fn inspect_lists_layers_with_shapes() {
    let o = run_bin(&["inspect", &fixture("pytorch/model.h5")], None, 30);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let row7 = s
        .lines()
        .find(|l| l.contains("flatten_7"))
        .expect("flatten row");
    assert!(
        row7.contains("180 × 1") && row7.trim_start().starts_with('7'),
        "{row7}"
    );
    let row0 = s.lines().find(|l| l.contains("conv1d_0")).unwrap();
    assert!(row0.contains("8 × 60") && row0.contains("168"), "{row0}");
}

#[test]
fn a_full_disk_on_rank_0_ends_every_rank_with_the_reason() {
    // A 300 kB tmpfs fills up while the results are written. Needs root and mount;
    // where the sandbox forbids it the test says so and checks nothing.
    let d = tmpdir("fulldisk");
    let mnt = d.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=300k",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: cannot mount a small tmpfs here (not root?)");
        return;
    }
    let out = mnt.join("r.h5");
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", out.to_str().unwrap());
    a.extend(["--restarts", "200", "--quiet"]);
    let o = run_bin(&a, Some(2), 60);
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    let err = stderr_of(&o);
    assert!(!o.status.success(), "succeeded on a full disk:\n{err}");
    assert!(
        err.contains("r.h5") && err.contains("No space left on device"),
        "{err}"
    );
}

#[test]
fn bad_keras_files_name_the_file_and_layer() {
    let d = tmpdir("badkeras");
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    for (file, names) in [
        // Branching graphs load now (tests/keras_load.rs: branching_graph_loads);
        // what a graph loader still refuses is a Lambda layer and a second input.
        (
            "graphs/lambda_model.h5",
            vec!["lambda_model.h5", "layer times_two", "Lambda"],
        ),
        (
            "graphs/multi_input.h5",
            vec!["multi_input.h5", "layer seq_b", "InputLayer", "2 inputs"],
        ),
        (
            "keras/bad/malformed_config.h5",
            vec!["malformed_config.h5", "not valid JSON"],
        ),
        (
            "keras/bad/missing_weight.h5",
            vec!["missing_weight.h5", "layer dense_a", "missing"],
        ),
        (
            "keras/bad/unsupported_layer.h5",
            vec!["unsupported_layer.h5", "layer rnn", "SimpleRNN"],
        ),
    ] {
        let f = fixture(file);
        expect_error(&run_args(&f, "0", o), &names);
    }
    assert!(!out.exists());
}
