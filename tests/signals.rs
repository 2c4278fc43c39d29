//! SIGTERM, SIGINT or SIGUSR1 to one rank of a run under `mpirun -n 2`: the
//! job ends non-zero within seconds with one line that names the signal and
//! says `--resume` finishes the run, and the resumed file equals an
//! uninterrupted run's.
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

/// Start the slow run on 2 ranks, wait until a progress line shows finished
/// restarts, send `sig` to rank `rank`; the job's stderr and how long it took to end.
fn run_and_signal(args: &[&str], sig: i32, rank: u32) -> (bool, String, Duration) {
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", "2", "--oversubscribe", bin])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
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
    // A progress line "progress: N/120 items" with N > 0: lanes are in the file.
    let t0 = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("no progress line");
        let n = line
            .split_once("progress: ")
            .and_then(|(_, r)| r.split('/').next())
            .and_then(|n| n.trim().parse::<usize>().ok());
        if matches!(n, Some(n) if n > 0 && n < 100) {
            break;
        }
        assert!(t0.elapsed().as_secs() < 60);
    }
    let pid = rank_pid(id, rank).expect("rank pid");
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
    (status.success(), reader.join().unwrap(), took)
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
        let (ok, err, took) =
            run_and_signal(&slow_args(&m, c, &["--progress-every", "0.05"]), sig, rank);
        assert!(!ok, "{name} to rank {rank}: the job exited 0:\n{err}");
        let line = format!("stopped by {name} on rank {rank}");
        assert_eq!(
            err.matches(&line).count(),
            1,
            "{name} to rank {rank}: not one line {line:?}:\n{err}"
        );
        let said = err.lines().find(|l| l.contains(&line)).unwrap();
        assert!(said.contains("--resume") && said.contains(c), "{said}");
        assert!(
            took < Duration::from_secs(5),
            "{name} to rank {rank}: the job took {took:?} to end"
        );
        eprintln!("{name} to rank {rank}: ended in {took:?}");
        let o = run_bin(&slow_args(&m, c, &["--resume", "--quiet"]), Some(2), 300);
        assert!(o.status.success(), "resume: {}", stderr_of(&o));
        assert_same_datasets(&full, &cut);
    }
}
