//! HDF5's file locks, as cluster file systems treat them. HDF5 (1.10+) takes
//! a `flock` on every file it opens. Where the file system has no locks
//! (Lustre mounted without `flock`, some NFS) that call fails and so does the
//! open; there the run goes on without HDF5's locking, said once. Where
//! another process holds the lock the file is reported as open elsewhere,
//! and `--resume` waits a few seconds first: the ranks of a job whose
//! launcher was just killed take about a second to end.
use crate::{Error, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long `--resume` waits for another process to let go of the file.
pub const RESUME_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The environment variable HDF5 reads at every file open.
pub const HDF5_USE_FILE_LOCKING: &str = "HDF5_USE_FILE_LOCKING";

static LOCKING_OFF: AtomicBool = AtomicBool::new(false);

/// What an HDF5 open error says about locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// Another process holds the lock (EAGAIN / EWOULDBLOCK).
    Held,
    /// The lock call itself failed: the file system has no locks (ENOSYS, ENOLCK, …).
    Unsupported,
}

/// Classify the text of an HDF5 error.
pub fn lock_error(msg: &str) -> Option<LockError> {
    let i = msg.find("unable to lock file")?;
    let errno = msg[i..]
        .split_once("errno = ")
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i32>().ok());
    Some(match errno {
        Some(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => LockError::Held,
        _ => LockError::Unsupported,
    })
}

/// Whether this process has turned HDF5's file locking off.
pub fn locking_off() -> bool {
    LOCKING_OFF.load(Ordering::SeqCst)
}

/// Turn HDF5's file locking off for every later open of this process (HDF5
/// reads `HDF5_USE_FILE_LOCKING` at each open); `say`: tell the user, once.
/// `why` is the failure of the lock call.
pub fn turn_locking_off(path: &Path, why: &str, say: bool) {
    std::env::set_var(HDF5_USE_FILE_LOCKING, "FALSE");
    if !LOCKING_OFF.swap(true, Ordering::SeqCst) && say {
        eprintln!(
            "deepresolve-mpi: note: the file system of {} has no file locks (flock: {why}); \
             going on without HDF5's file locking (HDF5_USE_FILE_LOCKING=FALSE). Only rank 0 opens the \
             results file, so the run needs no lock, but nothing stops a second job writing the same --out",
            path.display()
        );
    }
}

/// Try a shared, non-blocking `flock` on `path` (a file or a directory), as
/// HDF5 will; where the call itself fails (not because someone holds the
/// lock) turn HDF5's locking off. Nothing to do when the user has set
/// `HDF5_USE_FILE_LOCKING` or `path` cannot be opened (the open that follows
/// reports that).
pub fn probe(path: &Path, say: bool) {
    if locking_off() || std::env::var_os(HDF5_USE_FILE_LOCKING).is_some() {
        return;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns; closing it drops the lock.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        let errno = e.raw_os_error().unwrap_or(0);
        if errno != libc::EWOULDBLOCK && errno != libc::EAGAIN {
            turn_locking_off(path, &format!("{e}"), say);
        }
    }
}

/// Whether another process holds a lock on the existing file `path` (tried
/// with a non-blocking exclusive `flock`, released at once). HDF5 truncates a
/// file it creates before it locks it, so `--overwrite` asks this first.
pub fn held_elsewhere(path: &Path) -> bool {
    if locking_off() {
        return false;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns; closing it drops the lock.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc != 0
        && matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(e) if e == libc::EWOULDBLOCK || e == libc::EAGAIN
        )
}

/// The errno part of an HDF5 lock error, as the note shows it.
fn errno_text(msg: &str) -> String {
    match msg.split_once("errno = ") {
        Some((_, r)) => format!("errno {r}"),
        None => msg.to_string(),
    }
}

/// Open (or create) the results file with `open`: without locks where the file
/// system has none; a file another process holds is [`Error::FileBusy`], after
/// waiting up to `wait` for it (saying so).
pub fn open_results(
    path: &Path,
    what: &str,
    wait: Duration,
    open: impl Fn() -> hdf5::Result<hdf5::File>,
) -> Result<hdf5::File> {
    let t0 = Instant::now();
    let mut said_wait = false;
    loop {
        let e = match open() {
            Ok(f) => return Ok(f),
            Err(e) => e.to_string(),
        };
        match lock_error(&e) {
            Some(LockError::Unsupported) if !locking_off() => {
                turn_locking_off(path, &errno_text(&e), true)
            }
            Some(LockError::Held) if t0.elapsed() < wait => {
                if !said_wait {
                    eprintln!(
                        "deepresolve-mpi: {} is locked by another process; waiting up to {} s for it to let go",
                        path.display(),
                        wait.as_secs()
                    );
                    said_wait = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Some(LockError::Held) => {
                return Err(Error::FileBusy {
                    path: path.to_path_buf(),
                })
            }
            _ => return Err(Error::results(path, format!("{what}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lock_errors_are_told_apart_by_errno() {
        let held = "H5Fopen(): unable to open file: unable to lock file, errno = 11, error message = 'Resource temporarily unavailable'";
        assert_eq!(lock_error(held), Some(LockError::Held));
        let nosys = "H5Fcreate(): unable to create file: unable to lock file, errno = 38, error message = 'Function not implemented'";
        assert_eq!(lock_error(nosys), Some(LockError::Unsupported));
        assert_eq!(
            lock_error("unable to lock file, errno = 37, error message = 'No locks available'"),
            Some(LockError::Unsupported)
        );
        assert_eq!(lock_error("unable to open file: errno = 2"), None);
    }
}
