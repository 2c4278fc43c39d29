//! Which of the engine's own vector kernels this process runs: chosen once,
//! from the CPU's features or from `DEEPRESOLVE_SIMD`, before the first
//! product.
//!
//! The AVX-512 and AVX2 kernels sum every output in the same order with the
//! same fused multiply-adds (wider vectors, more items per register tile), so
//! the two give the same bits; `scalar` (no kernels of our own: OpenBLAS's
//! sgemm everywhere) gives other bits and is not batch-invariant. The path is
//! recorded in results files and `--resume` refuses a file made on the other
//! family of bits.
use crate::{Error, Result};
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a path.
pub const ENV: &str = "DEEPRESOLVE_SIMD";

/// One set of kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdPath {
    /// OpenBLAS's sgemm for every product (what a CPU without AVX2/FMA gets).
    Scalar,
    /// The AVX2/FMA small-batch kernels.
    Avx2,
    /// The AVX-512F kernels: the AVX2 kernels' sums on 16-float vectors.
    Avx512,
}

impl SimdPath {
    /// Fastest first.
    pub const ALL: [SimdPath; 3] = [SimdPath::Avx512, SimdPath::Avx2, SimdPath::Scalar];

    pub fn as_str(self) -> &'static str {
        match self {
            SimdPath::Scalar => "scalar",
            SimdPath::Avx2 => "avx2",
            SimdPath::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<SimdPath> {
        SimdPath::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The results' bits on this path: AVX2 and AVX-512 make the same ones.
    pub fn bits(self) -> &'static str {
        match self {
            SimdPath::Scalar => "sgemm",
            SimdPath::Avx2 | SimdPath::Avx512 => "fma-tiles",
        }
    }

    /// True when this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            SimdPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdPath::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            SimdPath::Avx512 => {
                SimdPath::Avx2.available() && std::arch::is_x86_feature_detected!("avx512f")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU has.
    pub fn best() -> SimdPath {
        SimdPath::ALL
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(SimdPath::Scalar)
    }

    fn code(self) -> u8 {
        match self {
            SimdPath::Scalar => 1,
            SimdPath::Avx2 => 2,
            SimdPath::Avx512 => 3,
        }
    }
}

/// 0 until chosen.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The path `DEEPRESOLVE_SIMD` asks for (unset or empty: the fastest this
/// CPU has); a value that is not a path, or a path this CPU lacks, is an error.
pub fn from_env() -> Result<SimdPath> {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Ok(SimdPath::best()),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Input(format!(
            "{ENV} is not text; set it to avx512, avx2 or scalar, or unset it"
        ))),
        Ok(s) if s.trim().is_empty() => Ok(SimdPath::best()),
        Ok(s) => check(&s, ENV),
    }
}

/// `value` as a path this CPU runs; `what` names where it came from.
pub fn check(value: &str, what: &str) -> Result<SimdPath> {
    let p = SimdPath::parse(value.trim()).ok_or_else(|| {
        Error::Input(format!(
            "{what}={value:?} is not a kernel path; use avx512, avx2 or scalar (or leave it unset for the fastest this CPU has: {})",
            SimdPath::best().as_str()
        ))
    })?;
    if !p.available() {
        return Err(Error::Input(format!(
            "{what}={value}: this CPU lacks {}; its fastest path is {}",
            if p == SimdPath::Avx512 {
                "AVX-512F"
            } else {
                "AVX2/FMA"
            },
            SimdPath::best().as_str()
        )));
    }
    Ok(p)
}

/// Choose the path from the environment now; the binary calls this first,
/// so a bad `DEEPRESOLVE_SIMD` is an error before any work.
pub fn init() -> Result<SimdPath> {
    let p = from_env()?;
    CHOSEN.store(p.code(), Ordering::Relaxed);
    Ok(p)
}

/// The path of this process. Chosen on first use when [`init`] was not
/// called (the library's tests): a bad `DEEPRESOLVE_SIMD` then falls back
/// to the fastest path, since only the binary can report it.
pub fn current() -> SimdPath {
    match CHOSEN.load(Ordering::Relaxed) {
        1 => SimdPath::Scalar,
        2 => SimdPath::Avx2,
        3 => SimdPath::Avx512,
        _ => {
            let p = from_env().unwrap_or_else(|_| SimdPath::best());
            CHOSEN.store(p.code(), Ordering::Relaxed);
            p
        }
    }
}

/// Switch paths: for `bench`, which times each path in one process, and
/// nothing else. Scorers built before keep the spectral path's choice of
/// kernels; build new ones after.
pub fn force(p: SimdPath) -> Result<()> {
    let p = check(p.as_str(), "--simd")?;
    CHOSEN.store(p.code(), Ordering::Relaxed);
    Ok(())
}
