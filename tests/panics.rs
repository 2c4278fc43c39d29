//! A panic on any rank ends the whole MPI job within seconds, with one line
//! naming the rank (`DEEPRESOLVE_TEST_PANIC_RANK` is the binary's test-only
//! trigger). Without the hook the other rank waits in a collective call forever.
mod common;
use common::*;
use std::time::{Duration, Instant};

fn check_panic(args: &[&str], nproc: Option<usize>, rank: usize) {
    let r = rank.to_string();
    let t = Instant::now();
    // run_bin fails the test if the job is still running after 10 s.
    let out = run_bin_env(args, nproc, 10, &[("DEEPRESOLVE_TEST_PANIC_RANK", &r)]);
    let err = stderr_of(&out);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        !out.status.success(),
        "{args:?} (ranks {nproc:?}): exit 0 after a panic on rank {rank}:\n{err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("panicked")).collect();
    assert_eq!(lines.len(), 1, "one panic line expected:\n{err}");
    assert!(
        lines[0].starts_with(&format!(
            "deepresolve-mpi: internal error (rank {rank}): panicked:"
        )),
        "{err}"
    );
    // The abort's SIGTERM reaches the other ranks too: not a "stopped by
    // SIGTERM ... --resume" line after the panic, which would mislead.
    assert!(
        !err.contains("stopped by"),
        "a rank reported the abort as a stop signal:\n{err}"
    );
    assert!(
        !err.contains("RUST_BACKTRACE"),
        "the default panic report:\n{err}"
    );
}

#[test]
fn panic_on_rank_0_or_1_ends_an_mpi_run() {
    let d = tmpdir("panic-run");
    let out = d.join("r.h5");
    let m = fixture("pytorch/model.h5");
    let mut a = run_base(&m, "7", out.to_str().unwrap());
    a.extend(["--restarts", "2", "--quiet"]);
    for rank in [0, 1] {
        check_panic(&a, Some(2), rank);
    }
    check_panic(&a, None, 0);
}

#[test]
fn panic_on_rank_0_or_1_ends_a_single_process_command_under_mpirun() {
    let m = fixture("pytorch/model.h5");
    for rank in [0, 1] {
        check_panic(&["inspect", &m], Some(2), rank);
    }
    let out = run_bin_env(
        &["inspect", &m],
        None,
        10,
        &[("DEEPRESOLVE_TEST_PANIC_RANK", "0")],
    );
    assert_eq!(out.status.code(), Some(101), "{}", stderr_of(&out));
}
