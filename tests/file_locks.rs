//! HDF5's file locks on cluster file systems, under `mpirun -n 2`: a file
//! system whose `flock` fails (an LD_PRELOAD shim built here with cc) runs
//! without locks and says so once; `HDF5_USE_FILE_LOCKING=FALSE` set by the
//! user runs; a results file another process holds is reported as such, and
//! `--resume` waits for it.
mod common;
use common::*;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn args<'a>(model: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = run_base(model, "7", out);
    a.extend([
        "--restarts",
        "6",
        "--max-steps",
        "50",
        "--batch",
        "2",
        "--quiet",
    ]);
    a.extend(extra);
    a
}

/// `flock` that fails with errno `NOFLOCK_ERRNO` for descriptors whose path
/// contains `NOFLOCK_MATCH` (every path when it is unset), as on Lustre
/// mounted without flock. `None` (and a message) where there is no C compiler.
fn shim(d: &Path) -> Option<PathBuf> {
    let src = d.join("noflock.c");
    std::fs::write(
        &src,
        r#"#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/syscall.h>
int flock(int fd, int op) {
    const char *m = getenv("NOFLOCK_MATCH");
    if (m) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        path[n > 0 ? n : 0] = 0;
        if (!strstr(path, m)) return (int)syscall(SYS_flock, fd, op);
    }
    const char *e = getenv("NOFLOCK_ERRNO");
    errno = e ? atoi(e) : ENOLCK;
    return -1;
}
"#,
    )
    .unwrap();
    let so = d.join("noflock.so");
    let ok = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping the failing-lock cases: no C compiler (cc) to build the flock shim");
        return None;
    }
    Some(so)
}

#[test]
fn a_file_system_without_locks_runs_without_them_and_says_so_once() {
    let d = tmpdir("nolocks");
    let m = fixture("pytorch/model.h5");
    let reference = d.join("reference.h5");
    let o = run_bin(&args(&m, reference.to_str().unwrap(), &[]), Some(2), 120);
    assert!(o.status.success(), "{}", stderr_of(&o));

    // The user's HDF5_USE_FILE_LOCKING=FALSE: no note, same file.
    let out = d.join("envvar.h5");
    let o = run_bin_env(
        &args(&m, out.to_str().unwrap(), &[]),
        Some(2),
        120,
        &[("HDF5_USE_FILE_LOCKING", "FALSE")],
    );
    let err = stderr_of(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("no file locks"), "{err}");
    assert_same_datasets(&reference, &out);

    let Some(so) = shim(&d) else { return };
    let so = so.to_str().unwrap().to_string();
    let sub = d.join("nolock_dir");
    std::fs::create_dir_all(&sub).unwrap();
    // ENOLCK (NFS without lockd; HDF5 does not ignore it) and ENOSYS (Lustre
    // without flock) everywhere; then only in the results' directory.
    for (errno, matching, out) in [
        ("37", None, d.join("enolck.h5")),
        ("38", None, d.join("enosys.h5")),
        ("37", Some("nolock_dir"), sub.join("r.h5")),
    ] {
        let mut env = vec![("LD_PRELOAD", so.as_str()), ("NOFLOCK_ERRNO", errno)];
        if let Some(mt) = matching {
            env.push(("NOFLOCK_MATCH", mt));
        }
        let o = run_bin_env(&args(&m, out.to_str().unwrap(), &[]), Some(2), 120, &env);
        let err = stderr_of(&o);
        assert!(o.status.success(), "errno {errno}: {err}");
        assert_eq!(
            err.matches("has no file locks").count(),
            1,
            "errno {errno}: one note:\n{err}"
        );
        assert!(
            err.contains("HDF5_USE_FILE_LOCKING=FALSE") && err.contains("Only rank 0"),
            "{err}"
        );
        if matching.is_some() {
            assert!(
                err.contains("nolock_dir"),
                "the note names the directory: {err}"
            );
        }
        assert_same_datasets(&reference, &out);
        // And --resume of it works there too.
        let o = run_bin_env(
            &args(&m, out.to_str().unwrap(), &["--resume"]),
            Some(2),
            120,
            &env,
        );
        assert!(
            o.status.success(),
            "resume, errno {errno}: {}",
            stderr_of(&o)
        );
        assert_same_datasets(&reference, &out);
    }
}

/// Hold an exclusive flock on `path` (as HDF5 in another process would).
fn hold(path: &Path) -> std::fs::File {
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "cannot lock {}", path.display());
    f
}

#[test]
fn a_file_held_by_another_process_is_named_and_resume_waits_for_it() {
    let d = tmpdir("heldfile");
    let m = fixture("pytorch/model.h5");
    let out = d.join("r.h5");
    let o = run_bin(&args(&m, out.to_str().unwrap(), &[]), None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let want = format!(
        "{} is open in another process (a run still going? look for it with ps or squeue)",
        out.display()
    );

    // --overwrite (and analyze) of a held file: the message, at once, and the
    // file untouched (HDF5 alone would truncate it before it sees the lock).
    let len = std::fs::metadata(&out).unwrap().len();
    let held = hold(&out);
    let o = run_bin(
        &args(&m, out.to_str().unwrap(), &["--overwrite"]),
        Some(2),
        30,
    );
    let err = stderr_of(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("errno"), "HDF5's text instead of ours: {err}");
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        len,
        "--overwrite truncated a held file"
    );
    let o = run_bin(&["analyze", out.to_str().unwrap()], Some(2), 30);
    assert!(
        !o.status.success() && stderr_of(&o).contains(&want),
        "{}",
        stderr_of(&o)
    );

    // --resume while it stays held: waits, then the message.
    let t0 = Instant::now();
    let o = run_bin(&args(&m, out.to_str().unwrap(), &["--resume"]), Some(2), 60);
    let took = t0.elapsed();
    let err = stderr_of(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("waiting up to") && err.contains(&want),
        "{err}"
    );
    assert!(took >= Duration::from_secs(5), "gave up after {took:?}");

    // --resume with the lock let go after 1 s: waits, says so, succeeds.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        drop(held);
    });
    let t0 = Instant::now();
    let o = run_bin(&args(&m, out.to_str().unwrap(), &["--resume"]), Some(2), 60);
    let took = t0.elapsed();
    release.join().unwrap();
    let err = stderr_of(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("waiting up to").count(), 1, "{err}");
    assert!(took >= Duration::from_millis(900), "did not wait: {took:?}");
    eprintln!("resume waited and finished in {took:?}");
}
