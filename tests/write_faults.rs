//! A kill of rank 0 inside the writing of the results file: before each of
//! its HDF5 write calls in turn (the test-only DEEPRESOLVE_TEST_KILL_AT_WRITE),
//! and in the middle of each of the process's `pwrite` calls in turn (an
//! LD_PRELOAD shim that writes half the buffer and then SIGKILLs, built here
//! with cc). Every time, running the job again as jobs/slurm.sh does
//! (`--resume` when the file exists) gives a file equal to an uninterrupted run.
mod common;
use common::*;
use std::path::{Path, PathBuf};

fn args<'a>(model: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = run_base(model, "7", out);
    a.extend([
        "--restarts",
        "2",
        "--max-steps",
        "30",
        "--batch",
        "3",
        "--lane",
        "3",
        "--quiet",
    ]);
    a.extend(extra);
    a
}

/// Run the job again as the job scripts do; the result must equal `reference`.
fn finish_and_compare(m: &str, out: &Path, reference: &Path, nproc: Option<usize>, what: &str) {
    let o = out.to_str().unwrap();
    let extra: &[&str] = if out.exists() { &["--resume"] } else { &[] };
    let r = run_bin(&args(m, o, extra), nproc, 120);
    assert!(
        r.status.success(),
        "{what}: the run after the kill ({extra:?}) failed: {}",
        stderr_of(&r)
    );
    assert_same_datasets(reference, out);
}

#[test]
fn a_kill_before_any_write_call_resumes_to_the_same_file() {
    let d = tmpdir("killwrite");
    let m = fixture("pytorch/model.h5");
    let reference = d.join("reference.h5");
    let o = run_bin(&args(&m, reference.to_str().unwrap(), &[]), None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let mut n = 1;
    loop {
        let out = d.join(format!("cut{n}.h5"));
        let env = [("DEEPRESOLVE_TEST_KILL_AT_WRITE", n.to_string())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Under mpirun -n 2 for some N; alone (faster) for the rest.
        let nproc = if n % 7 == 1 { Some(2) } else { None };
        let o = run_bin_env(&args(&m, out.to_str().unwrap(), &[]), nproc, 60, &env);
        if o.status.success() {
            break; // fewer write calls than n: the sweep is done
        }
        let err = stderr_of(&o);
        assert!(
            err.contains(&format!("DEEPRESOLVE_TEST_KILL_AT_WRITE={n}")),
            "N={n}: {err}"
        );
        finish_and_compare(
            &m,
            &out,
            &reference,
            nproc,
            &format!("kill before write call {n}"),
        );
        n += 1;
    }
    eprintln!(
        "{} write calls, a kill before each resumed to the same file",
        n - 1
    );
    assert!(
        n > 20,
        "only {} write calls: the sweep proved little",
        n - 1
    );
}

/// `pwrite` that, at call number `KILL_AT_PWRITE`, writes the first half of
/// its buffer and SIGKILLs the process (`None` and a message without cc).
fn torn_write_shim(d: &Path) -> Option<PathBuf> {
    let src = d.join("tornwrite.c");
    std::fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/types.h>
static long count, at = -1;
static ssize_t torn(int fd, const void *buf, size_t n, off_t off, const char *sym) {
    ssize_t (*real)(int, const void *, size_t, off_t) = dlsym(RTLD_NEXT, sym);
    if (at < 0) { const char *e = getenv("KILL_AT_PWRITE"); at = e ? atol(e) : 0; }
    if (++count == at) {
        if (n > 1) real(fd, buf, n / 2, off);
        kill(getpid(), SIGKILL);
    }
    return real(fd, buf, n, off);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return torn(fd, buf, n, off, "pwrite"); }
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return torn(fd, buf, n, off, "pwrite64"); }
"#,
    )
    .unwrap();
    let so = d.join("tornwrite.so");
    let ok = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: no C compiler (cc) to build the torn-write shim");
        return None;
    }
    Some(so)
}

#[test]
fn a_kill_in_the_middle_of_any_pwrite_resumes_to_the_same_file() {
    let d = tmpdir("tornwrite");
    let m = fixture("pytorch/model.h5");
    let reference = d.join("reference.h5");
    let o = run_bin(&args(&m, reference.to_str().unwrap(), &[]), None, 60);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let Some(so) = torn_write_shim(&d) else {
        return;
    };
    let so = so.to_str().unwrap();
    let mut n = 1;
    let mut failures = vec![];
    loop {
        let out = d.join(format!("cut{n}.h5"));
        let at = n.to_string();
        let env = [("LD_PRELOAD", so), ("KILL_AT_PWRITE", at.as_str())];
        let o = run_bin_env(&args(&m, out.to_str().unwrap(), &[]), None, 60, &env);
        if o.status.success() {
            break;
        }
        let o = out.to_str().unwrap();
        let extra: &[&str] = if out.exists() { &["--resume"] } else { &[] };
        let r = run_bin(&args(&m, o, extra), None, 120);
        if !r.status.success() {
            failures.push(format!("pwrite {n} ({extra:?}): {}", stderr_of(&r)));
        } else if datasets(&reference) != datasets(&out) {
            failures.push(format!("pwrite {n}: the finished file differs"));
        }
        n += 1;
        assert!(n < 2000, "the run never ends without a kill");
    }
    eprintln!(
        "{} pwrite calls; a torn write at each: {} failures",
        n - 1,
        failures.len()
    );
    assert!(n > 20, "only {} pwrite calls", n - 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
