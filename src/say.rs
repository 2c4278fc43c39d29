//! One line to stderr in one write.
//!
//! Rust's stderr is unbuffered, so `eprintln!` writes each piece of its
//! format separately; under `mpirun`, whose own MPI_ABORT banner goes to the
//! same terminal, a rank's last line came out cut in two around that banner
//! (CI: "stopped by SIGTERM on rank " … banner … "0: calibrate keeps
//! nothing"). A line written at once (under PIPE_BUF, 4 KiB) is not split.
use std::io::Write;

/// `text` and a newline to stderr, in one write where the system allows.
pub fn line(text: &str) {
    let mut b = String::with_capacity(text.len() + 1);
    b.push_str(text);
    b.push('\n');
    let _ = std::io::stderr().lock().write_all(b.as_bytes());
}

/// `eprintln!` with one write per line (see the module).
#[macro_export]
macro_rules! say {
    () => {
        $crate::say::line("")
    };
    ($($t:tt)*) => {
        $crate::say::line(&format!($($t)*))
    };
}
