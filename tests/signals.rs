//! SIGTERM, SIGINT or SIGUSR1 to one rank of a job under `mpirun -n 2`, or
//! to a single process: the job ends non-zero within seconds with one line
//! that names the signal and says what to do. `run` and `channels` say
//! `--resume` finishes the job, and the resumed file equals an uninterrupted
//! job's; `calibrate`, which keeps nothing, says to run it again and prints
//! no partial table. All three run on the one engine of src/distributed.
mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn slow_args<'a>(model: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = run_base(model, "7", out);
    a.extend([
        "--restarts",
        "40",
        "--lr",
        "0.0005",
        "--patience",
        "4000",
        "--max-steps",
        "20000",
        "--batch",
        "4",
        "--lane",
        "4",
    ]);
    a.extend(extra);
    a
}

/// The pid of MPI rank `rank` among the children of `mpirun` (from their environment).
fn rank_pid(mpirun: u32, rank: u32) -> Option<i32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Field 4 (after the parenthesised name) is the parent pid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(mpirun) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

/// Start a slow job (on `nproc` ranks, or one process), wait until a
/// progress line shows finished items (not all), send `sig` to rank `rank`;
/// whether it exited 0, its stdout and stderr, and how long it took to end.
fn run_and_signal(
    args: &[&str],
    nproc: Option<usize>,
    sig: i32,
    rank: u32,
) -> (bool, String, String, Duration) {
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let mut cmd = match nproc {
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args(["-n", &n.to_string(), "--oversubscribe", bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = {
        let _g = file_guard();
        cmd.spawn().unwrap()
    };
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    // A progress line "progress: N/T items" with 0 < N < T: work is in and more to come.
    let t0 = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("no progress line");
        let n = line
            .split_once("progress: ")
            .and_then(|(_, r)| r.split_once(' '))
            .and_then(|(nt, _)| nt.split_once('/'))
            .and_then(|(n, t)| Some((n.parse::<usize>().ok()?, t.parse::<usize>().ok()?)));
        if matches!(n, Some((n, t)) if n > 0 && n < t) {
            break;
        }
        assert!(t0.elapsed().as_secs() < 60);
    }
    let pid = match nproc {
        Some(_) => rank_pid(id, rank).expect("rank pid"),
        None => id as i32,
    };
    // SAFETY: a signal to a process this test started.
    unsafe {
        libc::kill(pid, sig);
    }
    let t1 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t1.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the job did not end within 30 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t1.elapsed();
    (
        status.success(),
        out_reader.join().unwrap(),
        reader.join().unwrap(),
        took,
    )
}

/// The job ended non-zero within 5 s with exactly one line naming the
/// signal and the rank; that line.
fn one_stop_line(what: &str, ok: bool, err: &str, took: Duration, name: &str, rank: u32) -> String {
    assert!(
        !ok,
        "{what}: {name} to rank {rank}: the job exited 0:\n{err}"
    );
    let line = format!("stopped by {name} on rank {rank}");
    assert_eq!(
        err.matches(&line).count(),
        1,
        "{what}: {name} to rank {rank}: not one line {line:?}:\n{err}"
    );
    assert_eq!(
        err.matches("stopped by").count(),
        1,
        "{what}: more than one stop line:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("deepresolve-mpi: error"),
        "{what}: {name} to rank {rank}:\n{err}"
    );
    assert!(
        took < Duration::from_secs(5),
        "{what}: {name} to rank {rank}: the job took {took:?} to end"
    );
    eprintln!("{what}: {name} to rank {rank}: ended in {took:?}");
    err.lines().find(|l| l.contains(&line)).unwrap().to_string()
}

#[test]
fn a_signal_to_any_rank_stops_the_job_with_one_line_and_resume_finishes_it() {
    let d = tmpdir("signals");
    let m = fixture("pytorch/model.h5");
    let full = d.join("full.h5");
    let o = run_bin(
        &slow_args(&m, full.to_str().unwrap(), &["--quiet"]),
        Some(2),
        300,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    for (sig, name, rank) in [
        (libc::SIGTERM, "SIGTERM", 1),
        (libc::SIGINT, "SIGINT", 0),
        (libc::SIGUSR1, "SIGUSR1", 1),
        (libc::SIGTERM, "SIGTERM", 0),
    ] {
        let cut = d.join(format!("cut-{name}-{rank}.h5"));
        let c = cut.to_str().unwrap();
        let (ok, _, err, took) = run_and_signal(
            &slow_args(&m, c, &["--progress-every", "0.05"]),
            Some(2),
            sig,
            rank,
        );
        let said = one_stop_line("run", ok, &err, took, name, rank);
        assert!(said.contains("--resume") && said.contains(c), "{said}");
        let o = run_bin(&slow_args(&m, c, &["--resume", "--quiet"]), Some(2), 300);
        assert!(o.status.success(), "resume: {}", stderr_of(&o));
        assert_same_datasets(&full, &cut);
    }
}

fn synthetic() -> (String, String) {
    (
        fixture("synthetic/dataset2.h5"),
        fixture("sequences/synthetic.fa"),
    )
}
#[test]
fn a_signal_stops_channels_with_one_line_and_resume_finishes_it() {
    let d = tmpdir("signals-channels");
    let (m, f) = synthetic();
    let args = |out: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "channels",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--out",
            out,
            "--inits",
            "4",
            "--lr",
            "0.0005",
            "--patience",
            "20000",
            "--max-steps",
            "20000",
            "--batch",
            "4",
            "--lane",
            "4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let full = d.join("full.h5");
    let a = args(full.to_str().unwrap(), &["--quiet"]);
    let o = run_bin(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>(), None, 300);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let want = channel_datasets(&full);
    for (nproc, sig, name, rank) in [
        (None, libc::SIGTERM, "SIGTERM", 0),
        (Some(2), libc::SIGINT, "SIGINT", 0),
        (Some(2), libc::SIGTERM, "SIGTERM", 1),
    ] {
        let cut = d.join(format!("cut-{name}-{rank}-{}.h5", nproc.unwrap_or(1)));
        let meme = d.join(format!("cut-{name}-{rank}-{}.meme", nproc.unwrap_or(1)));
        let c = cut.to_str().unwrap();
        let a = args(
            c,
            &["--progress-every", "0.05", "--meme", meme.to_str().unwrap()],
        );
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let (ok, _, err, took) = run_and_signal(&a, nproc, sig, rank);
        let said = one_stop_line("channels", ok, &err, took, name, rank);
        assert!(said.contains("--resume") && said.contains(c), "{said}");
        // No motifs from a job that did not finish.
        assert!(!meme.exists(), "--meme written by a stopped job:\n{err}");
        let status = hdf5::File::open(&cut)
            .ok()
            .and_then(|h| deepresolve_mpi::model::h5util::str_attr(&h, "status"));
        assert_eq!(status.as_deref(), Some("running"), "{err}");
        let r = args(c, &["--resume", "--quiet"]);
        let r: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
        let o = run_bin(&r, nproc, 300);
        assert!(o.status.success(), "resume: {}", stderr_of(&o));
        let got = channel_datasets(&cut);
        assert_eq!(
            want.iter().map(|x| &x.0).collect::<Vec<_>>(),
            got.iter().map(|x| &x.0).collect::<Vec<_>>()
        );
        for ((n, x), (_, y)) in want.iter().zip(&got) {
            assert!(x == y, "{n} differs between the full and the resumed job");
        }
    }
}

#[test]
fn a_signal_stops_calibrate_with_one_line_and_no_partial_table() {
    let (m, f) = synthetic();
    let args = [
        "calibrate",
        "--model",
        &m,
        "--layer",
        "flatten",
        "--fasta",
        &f,
        "--lambdas",
        "0.5,1,2,4",
        "--restarts",
        "8",
        "--lr",
        "0.0005",
        "--patience",
        "20000",
        "--max-steps",
        "20000",
        "--batch",
        "4",
        "--lane",
        "4",
        "--progress-every",
        "0.05",
    ];
    for (nproc, sig, name, rank) in [
        (None, libc::SIGINT, "SIGINT", 0),
        (Some(2), libc::SIGTERM, "SIGTERM", 0),
        (Some(2), libc::SIGUSR1, "SIGUSR1", 1),
    ] {
        let (ok, out, err, took) = run_and_signal(&args, nproc, sig, rank);
        let said = one_stop_line("calibrate", ok, &err, took, name, rank);
        // calibrate has no file to resume from: it must not promise --resume.
        assert!(
            !said.contains("--resume") && said.contains("run the same command again"),
            "{said}"
        );
        assert!(out.is_empty(), "a stopped calibrate printed:\n{out}");
    }
}
