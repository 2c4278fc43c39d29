//! jobs/slurm.sh and jobs/pbs.sh build the command they launch from their
//! defaults and the user's options, and the user's options win. The scripts
//! run here under bash with a fake `srun`, `scontrol` and `mpirun` first on
//! PATH that write down their arguments (or hand them to the real mpirun).
//! jobs/table1.sh matches against the JASPAR release it is given.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FAKE_SRUN: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$FAKE_LOG/srun.args"
if [ -n "${FAKE_SLEEP:-}" ]; then
    trap 'echo USR1 > "$FAKE_LOG/srun.signal"; exit 3' USR1
    : > "$FAKE_LOG/srun.started"
    i=0
    while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    exit 0
fi
if [ -n "${FAKE_EXEC:-}" ]; then
    shift
    exec mpirun -n 2 --oversubscribe "$@"
fi
exit 0
"#;
const FAKE_RECORDER: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$FAKE_LOG/$(basename "$0").args"
exit 0
"#;

fn script(name: &str) -> String {
    format!("{}/jobs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A directory of fake commands: srun and scontrol, and mpirun when `mpirun` is set.
fn fakes(d: &Path, mpirun: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = d.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let put = |name: &str, text: &str| {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    put("srun", FAKE_SRUN);
    put("scontrol", FAKE_RECORDER);
    if mpirun {
        put("mpirun", FAKE_RECORDER);
    }
    bin
}

fn script_cmd(name: &str, bin: &Path, log: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    std::fs::create_dir_all(log).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut c = Command::new("bash");
    c.arg(script(name))
        .args(args)
        .env("PATH", path)
        .env("FAKE_LOG", log)
        .env("BIN", env!("CARGO_BIN_EXE_deepresolve-mpi"))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env_remove("SLURM_RESTART_COUNT")
        .env_remove("SLURM_JOB_ID")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run_script(name: &str, bin: &Path, log: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let o = script_cmd(name, bin, log, args, env).output().unwrap();
    assert!(o.status.success(), "{name} {args:?}: {}", stderr_of(&o));
    o
}

/// The arguments the fake `launcher` was given, after the binary (`run …`).
fn launched(log: &Path, launcher: &str) -> Vec<String> {
    let text = std::fs::read_to_string(log.join(format!("{launcher}.args")))
        .unwrap_or_else(|e| panic!("{launcher} was not called: {e}"));
    let all: Vec<String> = text.lines().map(String::from).collect();
    let i = all
        .iter()
        .position(|a| a.ends_with("deepresolve-mpi"))
        .unwrap_or_else(|| panic!("no binary in {all:?}"));
    all[i + 1..].to_vec()
}

fn count(v: &[String], opt: &str) -> usize {
    v.iter().filter(|a| *a == opt).count()
}

fn value<'a>(v: &'a [String], opt: &str) -> &'a str {
    let i = v
        .iter()
        .position(|a| a == opt)
        .unwrap_or_else(|| panic!("no {opt} in {v:?}"));
    &v[i + 1]
}

#[test]
fn the_users_options_win_over_the_scripts_defaults() {
    let d = tmpdir("scripts");
    let bin = fakes(&d, false);
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let env = [("MODEL", "m.h5"), ("LAYER", "flatten"), ("OUT", o)];
    for (name, pbs) in [("slurm.sh", false), ("pbs.sh", true)] {
        let bin = if pbs {
            fakes(&d.join("pbs"), true)
        } else {
            bin.clone()
        };
        let nodefile = d.join("nodes");
        std::fs::write(&nodefile, "n1\nn1\nn2\n").unwrap();
        let nf = nodefile.to_str().unwrap();
        let mut env = env.to_vec();
        env.push(("PBS_NODEFILE", nf));
        let launcher = if pbs { "mpirun" } else { "srun" };
        let _ = std::fs::remove_file(&out);

        // No options: the defaults.
        let log = d.join(format!("{name}-defaults"));
        run_script(name, &bin, &log, &[], &env);
        let a = launched(&log, launcher);
        assert_eq!(a[0], "run", "{a:?}");
        assert_eq!(value(&a, "--model"), "m.h5");
        assert_eq!(value(&a, "--layer"), "flatten");
        assert_eq!(value(&a, "--out"), o);
        assert_eq!(value(&a, "--restarts"), "10");
        assert_eq!(count(&a, "--resume"), 0, "{a:?}");

        // The README's example: the user's --restarts 20 replaces the default.
        let log = d.join(format!("{name}-restarts"));
        run_script(
            name,
            &bin,
            &log,
            &["--restarts", "20", "--lambda", "0.5"],
            &env,
        );
        let a = launched(&log, launcher);
        assert_eq!(count(&a, "--restarts"), 1, "{a:?}");
        assert_eq!(value(&a, "--restarts"), "20");
        assert_eq!(value(&a, "--lambda"), "0.5");
        let log = d.join(format!("{name}-restarts="));
        run_script(name, &bin, &log, &["--restarts=20"], &env);
        let a = launched(&log, launcher);
        assert!(
            !a.contains(&"--restarts".to_string()) && a.contains(&"--restarts=20".to_string()),
            "{a:?}"
        );

        // The user's --model, --layer and --out replace the environment's.
        let other = d.join("other.h5");
        let log = d.join(format!("{name}-out"));
        run_script(
            name,
            &bin,
            &log,
            &[
                "--model",
                "x.h5",
                "--layer",
                "3",
                "--out",
                other.to_str().unwrap(),
            ],
            &env,
        );
        let a = launched(&log, launcher);
        for opt in ["--model", "--layer", "--out"] {
            assert_eq!(count(&a, opt), 1, "{opt}: {a:?}");
        }
        assert_eq!(value(&a, "--out"), other.to_str().unwrap());

        // The results file exists: --resume, once, also when the user gives it.
        std::fs::write(&out, b"x").unwrap();
        for (i, extra) in [&[][..], &["--resume"][..]].iter().enumerate() {
            let log = d.join(format!("{name}-resume{i}"));
            run_script(name, &bin, &log, extra, &env);
            let a = launched(&log, launcher);
            assert_eq!(count(&a, "--resume"), 1, "{a:?}");
        }
        // --overwrite on the first run is the user's; it does not resume.
        let log = d.join(format!("{name}-overwrite"));
        run_script(name, &bin, &log, &["--overwrite"], &env);
        let a = launched(&log, launcher);
        assert_eq!(
            (count(&a, "--overwrite"), count(&a, "--resume")),
            (1, 0),
            "{a:?}"
        );
        // --resume decides on the user's --out, not on OUT.
        let log = d.join(format!("{name}-out-resume"));
        run_script(name, &bin, &log, &["--out", other.to_str().unwrap()], &env);
        assert_eq!(count(&launched(&log, launcher), "--resume"), 0);
        if pbs {
            let all = std::fs::read_to_string(log.join("mpirun.args")).unwrap();
            assert!(all.starts_with("-np\n3\n"), "{all}");
        } else {
            // A requeued Slurm job resumes instead of overwriting its first run's file.
            let log = d.join(format!("{name}-requeued"));
            let mut env2 = env.clone();
            env2.push(("SLURM_RESTART_COUNT", "1"));
            run_script(name, &bin, &log, &["--overwrite"], &env2);
            let a = launched(&log, launcher);
            assert_eq!(
                (count(&a, "--overwrite"), count(&a, "--resume")),
                (0, 1),
                "{a:?}"
            );
        }
        let _ = std::fs::remove_file(&out);
    }
}

#[test]
fn slurm_sh_as_the_readme_shows_runs_with_the_users_restarts() {
    // The launched command is real: the fake srun hands it to mpirun -n 2.
    let d = tmpdir("scripts-real");
    let bin = fakes(&d, false);
    let out = d.join("r.h5");
    let m = fixture("pytorch/model.h5");
    let env = [
        ("MODEL", m.as_str()),
        ("LAYER", "7"),
        ("OUT", out.to_str().unwrap()),
        ("FAKE_EXEC", "1"),
    ];
    let log = d.join("log");
    let o = {
        let _g = file_guard();
        script_cmd(
            "slurm.sh",
            &bin,
            &log,
            &["--restarts", "3", "--max-steps", "20", "--quiet"],
            &env,
        )
        .output()
        .unwrap()
    };
    assert!(o.status.success(), "{}", stderr_of(&o));
    let _g = file_guard();
    let f = hdf5::File::open(&out).unwrap();
    let done: Vec<u8> = f.dataset("ascent/done").unwrap().read_raw().unwrap();
    let shape = f.dataset("ascent/done").unwrap().shape();
    assert_eq!(shape[1], 3, "restarts in the file: {shape:?}");
    assert!(done.iter().all(|&v| v == 1));
}

#[test]
fn slurm_sh_passes_the_time_limit_warning_to_the_ranks_and_requeues() {
    let d = tmpdir("scripts-signal");
    let bin = fakes(&d, false);
    let log = d.join("log");
    let text = std::fs::read_to_string(script("slurm.sh")).unwrap();
    assert!(
        text.contains("#SBATCH --signal=B:USR1@"),
        "no warning signal asked for"
    );
    let env = [
        ("FAKE_SLEEP", "1"),
        ("SLURM_JOB_ID", "4242"),
        ("OUT", "/nonexistent/r.h5"),
    ];
    let mut child = script_cmd("slurm.sh", &bin, &log, &[], &env)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !log.join("srun.started").exists() {
        assert!(t0.elapsed().as_secs() < 20, "srun never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Slurm signals the batch shell (B:): the script's own pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGUSR1);
    }
    let t1 = std::time::Instant::now();
    let status = child.wait().unwrap();
    let took = t1.elapsed();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    assert!(took.as_secs() < 5, "the script took {took:?} to stop");
    assert!(
        log.join("srun.signal").exists(),
        "srun was not passed SIGUSR1: {err}"
    );
    assert!(err.contains("SIGUSR1") && err.contains("--resume"), "{err}");
    let sc = std::fs::read_to_string(log.join("scontrol.args")).expect("scontrol not called");
    assert_eq!(sc, "requeue\n4242\n");
}

/// A wrong `BIN` is one message naming it and how to set it, before anything is launched.
#[test]
fn job_scripts_check_bin_and_say_how_to_set_it() {
    let d = tmpdir("jobs-bin");
    let bin = fakes(&d, true);
    for name in ["slurm.sh", "pbs.sh"] {
        let log = d.join(format!("log-{name}"));
        let o = script_cmd(
            name,
            &bin,
            &log,
            &[],
            &[("BIN", "/no/such/deepresolve-mpi")],
        )
        .output()
        .unwrap();
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("BIN=/no/such/deepresolve-mpi") && err.contains("cargo build --release"),
            "{name}: {err}"
        );
        let launched = std::fs::read_dir(&log).map(|r| r.count()).unwrap_or(0);
        assert_eq!(launched, 0, "{name} launched something");
    }
}

/// CMD=calibrate and CMD=channels launch that command with its own options:
/// --fasta from FASTA, channels resumes its file, calibrate (no file, no
/// --resume) gets neither --out nor --resume nor run's --restarts default.
#[test]
fn job_scripts_launch_calibrate_and_channels() {
    let d = tmpdir("jobs-cmd");
    let nodefile = d.join("nodes");
    std::fs::write(&nodefile, "n1\nn2\n").unwrap();
    let nf = nodefile.to_str().unwrap();
    let out = d.join("ch.h5");
    let o = out.to_str().unwrap();
    for (name, launcher) in [("slurm.sh", "srun"), ("pbs.sh", "mpirun")] {
        let bin = fakes(&d.join(name), launcher == "mpirun");
        let base = [
            ("MODEL", "m.h5"),
            ("LAYER", "3"),
            ("FASTA", "s.fa"),
            ("PBS_NODEFILE", nf),
        ];

        let mut env = base.to_vec();
        env.push(("CMD", "calibrate"));
        std::fs::write(&out, b"x").unwrap();
        env.push(("OUT", o));
        let log = d.join(format!("{name}-calibrate"));
        run_script(name, &bin, &log, &["--lambdas", "0.5,1"], &env);
        let a = launched(&log, launcher);
        assert_eq!(a[0], "calibrate", "{a:?}");
        assert_eq!(value(&a, "--fasta"), "s.fa");
        assert_eq!(value(&a, "--layer"), "3");
        assert_eq!(value(&a, "--lambdas"), "0.5,1");
        for opt in ["--out", "--resume", "--restarts"] {
            assert_eq!(count(&a, opt), 0, "{opt}: {a:?}");
        }

        let mut env = base.to_vec();
        env.push(("CMD", "channels"));
        env.push(("OUT", o));
        let _ = std::fs::remove_file(&out);
        let log = d.join(format!("{name}-channels"));
        run_script(name, &bin, &log, &["--fasta", "u.fa"], &env);
        let a = launched(&log, launcher);
        assert_eq!(a[0], "channels", "{a:?}");
        assert_eq!((count(&a, "--fasta"), value(&a, "--fasta")), (1, "u.fa"));
        assert_eq!(value(&a, "--out"), o);
        assert_eq!((count(&a, "--resume"), count(&a, "--restarts")), (0, 0));
        // The file exists: a requeued or resubmitted channels job resumes.
        std::fs::write(&out, b"x").unwrap();
        let log = d.join(format!("{name}-channels-resume"));
        run_script(name, &bin, &log, &[], &env);
        let a = launched(&log, launcher);
        assert_eq!((a[0].as_str(), count(&a, "--resume")), ("channels", 1));
        let _ = std::fs::remove_file(&out);

        // Without FASTA, or with an unknown CMD: one message, nothing launched.
        for (cmd, fasta, says) in [("channels", false, "FASTA"), ("motifs", true, "CMD=motifs")] {
            let log = d.join(format!("{name}-bad-{cmd}"));
            let mut env = vec![("CMD", cmd), ("PBS_NODEFILE", nf)];
            if fasta {
                env.push(("FASTA", "s.fa"));
            }
            let r = script_cmd(name, &bin, &log, &[], &env).output().unwrap();
            let err = stderr_of(&r);
            assert_eq!(r.status.code(), Some(2), "{name} {cmd}: {err}");
            assert!(err.contains(says), "{name} {cmd}: {err}");
            assert_eq!(
                std::fs::read_dir(&log).unwrap().count(),
                0,
                "{name}: launched"
            );
        }
    }
}

/// A calibrate job stopped by the time-limit warning is requeued and says it reruns.
#[test]
fn slurm_sh_requeues_calibrate_to_rerun_it() {
    let d = tmpdir("scripts-signal-cal");
    let bin = fakes(&d, false);
    let log = d.join("log");
    let env = [
        ("FAKE_SLEEP", "1"),
        ("SLURM_JOB_ID", "77"),
        ("CMD", "calibrate"),
        ("FASTA", "s.fa"),
    ];
    let child = script_cmd("slurm.sh", &bin, &log, &[], &env)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !log.join("srun.started").exists() {
        assert!(t0.elapsed().as_secs() < 20, "srun never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGUSR1);
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr_of(&o);
    assert!(!o.status.success(), "{err}");
    assert!(log.join("srun.signal").exists(), "{err}");
    assert!(
        err.contains("reruns") && !err.contains("--resume finishes"),
        "{err}"
    );
    let sc = std::fs::read_to_string(log.join("scontrol.args")).expect("scontrol not called");
    assert_eq!(sc, "requeue\n77\n");
}

/// The motif database `JASPAR` names (2018 or 2024, both bundled) is the one
/// `match` searches: on two of the authors' models (CTCF, USF2) each table
/// names only that release's IDs — the experiment's JASPAR 2018 matrix itself
/// with 2018, its revision with 2024 — and counts the known motif for both.
/// Any other value stops the script with one message before anything runs.
#[test]
fn table1_sh_matches_against_the_jaspar_release_it_is_given() {
    let d = tmpdir("table1-jaspar");
    let table1 = |jaspar: &str, models: &Path, out: &Path| {
        Command::new("bash")
            .arg(script("table1.sh"))
            .args([models, out])
            .env("JASPAR", jaspar)
            .env("RANKS", "1")
            .env("BIN", env!("CARGO_BIN_EXE_deepresolve-mpi"))
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = table1("1999", &d.join("models"), &d.join("bad"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr_of(&o));
    assert!(
        stderr_of(&o).contains("JASPAR=1999: no such file; give 2018 or 2024"),
        "{}",
        stderr_of(&o)
    );
    assert!(!d.join("bad").exists(), "table1.sh went on");

    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/keras1-deepresolve-422tf/all");
    if !all.is_dir() {
        println!("skipping the runs: ../shared/fixtures/keras1-deepresolve-422tf absent");
        return;
    }
    let models = d.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let tsv = std::fs::read_to_string(all.join("tf_motifs.tsv")).unwrap();
    let ctcf = "wgEncodeAwgTfbsBroadDnd41CtcfUniPk";
    let usf2 = "wgEncodeAwgTfbsSydhH1hescUsf2IggrabUniPk";
    let mut rows = vec![tsv.lines().next().unwrap().to_string()];
    for e in [ctcf, usf2] {
        let _ = std::fs::remove_file(models.join(e));
        std::os::unix::fs::symlink(all.join(e), models.join(e)).unwrap();
        rows.extend(
            tsv.lines()
                .filter(|l| l.starts_with(&format!("{e}\t")))
                .map(str::to_string),
        );
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    std::fs::write(models.join("tf_motifs.tsv"), rows.join("\n") + "\n").unwrap();
    for (year, ctcf_id) in [("2018", "MA0139.1"), ("2024", "MA0139.2")] {
        let db = format!("data/JASPAR{year}_CORE_vertebrates_non-redundant.meme");
        let ids: Vec<String> =
            deepresolve_mpi::tomtom::read_meme(&Path::new(env!("CARGO_MANIFEST_DIR")).join(&db))
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect();
        let out = d.join(format!("out{year}"));
        let o = table1(year, &models, &out);
        let log = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr_of(&o);
        assert!(o.status.success(), "{log}");
        assert!(
            log.contains(&format!("table1: motif database {db}")),
            "{log}"
        );
        assert!(
            log.contains("2 experiments") && log.contains("p < 0.5 : 2 / 2 / 2"),
            "{log}"
        );
        for e in [ctcf, usf2] {
            let t = std::fs::read_to_string(out.join(format!("motifs/{e}.tsv"))).unwrap();
            let targets: Vec<&str> = t
                .lines()
                .skip(1)
                .filter_map(|l| l.split('\t').nth(1))
                .collect();
            assert!(!targets.is_empty(), "{e}: no matches");
            for id in &targets {
                assert!(ids.iter().any(|i| i == id), "{year}: {id} not in {db}");
            }
            if e == ctcf {
                assert!(targets.contains(&ctcf_id), "{year}: no {ctcf_id}");
            }
        }
    }
}
