//! Which Winograd tile this process's 3-tap convolutions run: F(6,3), or
//! F(4,3) where `DEEPRESOLVE_WINOGRAD=4` asks for it (the tile releases
//! before F(6,3) came in used, so a results file they began resumes with
//! its own bits). Chosen once, before the first scorer, as the SIMD path.
use crate::{Error, Result};
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that chooses the tile.
pub const ENV: &str = "DEEPRESOLVE_WINOGRAD";

/// The tile a pass runs: F(m,3) makes m outputs from m + 2 products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(4,3): points 0, ±1, ±2, ∞.
    F4,
    /// F(6,3): points 0, ±1, ±2, ±1/2, ∞: 8/6 products per output against
    /// F(4,3)'s 6/4; its larger constants cost about 1.6× F(4,3)'s rounding
    /// (~5e-7 of a 64-channel sum in float32).
    F6,
}

impl Tile {
    /// Outputs per tile.
    pub const fn outs(self) -> usize {
        match self {
            Tile::F4 => 4,
            Tile::F6 => 6,
        }
    }

    /// Points (products, input rows) per tile.
    pub const fn points(self) -> usize {
        self.outs() + 2
    }

    /// As the run's messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Tile::F4 => "Winograd F(4,3)",
            Tile::F6 => "Winograd F(6,3)",
        }
    }

    fn code(self) -> u8 {
        match self {
            Tile::F4 => 4,
            Tile::F6 => 6,
        }
    }
}

/// 0 until chosen.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The tile `DEEPRESOLVE_WINOGRAD` asks for: `6` or unset/empty for
/// F(6,3), `4` for F(4,3); anything else is an error.
pub fn from_env() -> Result<Tile> {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Ok(Tile::F6),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Input(format!(
            "{ENV} is not text; set it to 6 or 4, or unset it"
        ))),
        Ok(s) => match s.trim() {
            "" | "6" => Ok(Tile::F6),
            "4" => Ok(Tile::F4),
            _ => Err(Error::Input(format!(
                "{ENV}={s:?} is not a Winograd tile; use 6 (F(6,3), the default) or 4 (F(4,3), to resume a file an earlier release began), or unset it"
            ))),
        },
    }
}

/// Choose the tile from the environment now; the binary calls this first,
/// so a bad `DEEPRESOLVE_WINOGRAD` is an error before any work.
pub fn init() -> Result<Tile> {
    let t = from_env()?;
    CHOSEN.store(t.code(), Ordering::Relaxed);
    Ok(t)
}

/// The tile of this process. Chosen on first use when [`init`] was not
/// called (the library's tests), where a bad value falls back to F(6,3).
pub fn current() -> Tile {
    match CHOSEN.load(Ordering::Relaxed) {
        4 => Tile::F4,
        6 => Tile::F6,
        _ => {
            let t = from_env().unwrap_or(Tile::F6);
            CHOSEN.store(t.code(), Ordering::Relaxed);
            t
        }
    }
}
