//! SIGTERM, SIGINT and SIGUSR1 (a queue's time limit, Ctrl-C, Slurm's warning
//! signal): the handler only records the signal in an atomic; the lane loop
//! looks at it between steps and rank 0 while it waits for messages, so a
//! signal never lands inside a write to the results file.
use std::sync::atomic::{AtomicI32, Ordering};

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe: one atomic store, the first signal wins.
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// The signals that stop a run so that `--resume` can finish it.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];

/// Install the handler for [`STOP_SIGNALS`] (after MPI is initialised, so it
/// replaces whatever the MPI library set).
pub fn install() {
    for sig in STOP_SIGNALS {
        // SAFETY: a zeroed sigaction with a handler that only stores an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The first stop signal this process has received, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// SIGTERM, SIGINT, SIGUSR1, or the number.
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        s => format!("signal {s}"),
    }
}

/// A write past RLIMIT_FSIZE (a quota set as a file-size limit) is an error
/// the writer reports and cleans up after, not a SIGXFSZ that kills the
/// process with a temporary file left behind.
pub fn ignore_file_size_limit() {
    // SAFETY: SIG_IGN for one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
