//! Channel annotations from a finished `channels` file, for whatever shows
//! channels of a results file (`report`): each channel's motif (its best init's
//! PWM, flanks trimmed), its consensus, and with a motif database its best
//! TOMTOM match. At any layer: the channels file was made for the same H.
use super::file::BestMotifs;
use crate::numbers::num;
use crate::results::FinishedRun;
use crate::tomtom::Motif;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Columns of less information than this (bits) are flanks when at the ends
/// of a motif, and `n` in its consensus.
pub const TRIM_BITS: f64 = 0.25;

/// A channel's best database match.
#[derive(Debug, Clone, PartialEq)]
pub struct BestMatch {
    /// The motif's id, and its alternative name if the database gives one.
    pub id: String,
    pub alt: Option<String>,
    pub p: f64,
    pub q: f64,
    pub rc: bool,
}

impl BestMatch {
    /// `id (alt)` or `id`.
    pub fn name(&self) -> String {
        match &self.alt {
            Some(a) if a != &self.id => format!("{} ({a})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// The motifs of every channel of one `channels` file.
#[derive(Debug, Clone)]
pub struct ChannelNotes {
    pub path: PathBuf,
    pub layer: String,
    /// Per channel: the trimmed PWM in A, C, G, T order.
    pub pwms: Vec<Vec<[f64; 4]>>,
    /// Per channel: the trimmed PWM's consensus, `n` where a column says little.
    pub consensus: Vec<String>,
    /// Per channel: the activation its best window reaches.
    pub activation: Vec<f32>,
    /// With a database: per channel, its best match.
    pub matches: Option<Vec<Option<BestMatch>>>,
}

/// Information content (bits) of a column of probabilities.
pub fn bits(col: &[f64; 4]) -> f64 {
    2.0 + col
        .iter()
        .filter(|&&p| p > 0.0)
        .map(|&p| p * p.log2())
        .sum::<f64>()
}

/// The columns of `pwm` between the first and the last of at least
/// [`TRIM_BITS`]; all of it when none has that much.
pub fn trim(pwm: &[[f64; 4]]) -> &[[f64; 4]] {
    let strong = |c: &[f64; 4]| bits(c) >= TRIM_BITS;
    match (pwm.iter().position(strong), pwm.iter().rposition(strong)) {
        (Some(a), Some(b)) => &pwm[a..=b],
        _ => pwm,
    }
}

/// A motif's core for drawing: [`trim`], then a lone strong column at either
/// end that two or more weak columns part from the rest dropped (and the
/// flanks trimmed again). Thresholding leaves a single letter standing where
/// one value passed τ, a full 2-bit letter that is no part of the motif.
/// Returns the core and its offset in `pwm`.
pub fn core(pwm: &[[f64; 4]]) -> (&[[f64; 4]], usize) {
    let strong = |c: &[f64; 4]| bits(c) >= TRIM_BITS;
    let (mut a, mut b) = match (pwm.iter().position(strong), pwm.iter().rposition(strong)) {
        (Some(a), Some(b)) => (a, b + 1),
        _ => return (pwm, 0),
    };
    loop {
        let inner = &pwm[a..b];
        let first_next = inner.iter().skip(1).position(strong).map(|i| i + 1);
        let last_prev = inner[..inner.len() - 1].iter().rposition(strong);
        match (first_next, last_prev) {
            (Some(n), _) if n >= 3 => a += n,
            (_, Some(p)) if inner.len() - 1 - p >= 3 => b = a + p + 1,
            _ => return (&pwm[a..b], a),
        }
    }
}

fn consensus(pwm: &[[f64; 4]]) -> String {
    pwm.iter()
        .map(|c| {
            if bits(c) < TRIM_BITS {
                'n'
            } else {
                let best = (1..4).fold(0, |b, a| if c[a] > c[b] { a } else { b });
                b"ACGT"[best] as char
            }
        })
        .collect()
}

impl ChannelNotes {
    /// The notes a command's `--channels-file` (and `--match DB`) give for the
    /// finished run `r`: read, matched, and checked to fit its channels.
    pub fn for_run(
        channels_file: Option<&Path>,
        match_db: Option<&Path>,
        r: &crate::results::FinishedRun,
    ) -> Result<Option<ChannelNotes>> {
        let Some(p) = channels_file else {
            return Ok(None);
        };
        let db = match match_db {
            Some(m) => Some(crate::tomtom::read_meme(m)?),
            None => None,
        };
        let n = ChannelNotes::read(p, db.as_deref())?;
        n.check_fits(r)?;
        Ok(Some(n))
    }

    /// Read `path` (a finished `channels` file) and, with `db`, match every
    /// channel's (untrimmed) PWM against it as `channels --match` does.
    pub fn read(path: &Path, db: Option<&[Motif]>) -> Result<ChannelNotes> {
        let mut b = BestMotifs::read(path)?;
        crate::results::bad_values::warn_and_mask_motifs(&mut b, "the channels' motifs");
        let letters: Vec<char> = b.alphabet.chars().collect();
        let at: Vec<usize> = ['A', 'C', 'G', 'T']
            .iter()
            .filter_map(|l| letters.iter().position(|c| c == l))
            .collect();
        if letters.len() != 4 || at.len() != 4 {
            return Err(Error::Input(format!(
                "{}: channel motifs need the letters ACGT; the file's alphabet is {:?}",
                path.display(),
                b.alphabet
            )));
        }
        let full: Vec<Vec<[f64; 4]>> = b
            .pwms
            .iter()
            .map(|p| {
                p.iter()
                    .map(|row| [0, 1, 2, 3].map(|l| row[at[l]] as f64))
                    .collect()
            })
            .collect();
        let matches = match db {
            Some(db) => {
                let motifs: Vec<(String, Vec<Vec<f32>>)> = b
                    .pwms
                    .iter()
                    .enumerate()
                    .map(|(k, p)| (format!("ch{k}"), p.clone()))
                    .collect();
                let best = super::best_matches(&b.alphabet, &motifs, db)?;
                Some(
                    best.into_iter()
                        .map(|m| {
                            m.map(|m| BestMatch {
                                id: db[m.target].id.clone(),
                                alt: db[m.target].alt.clone(),
                                p: m.p,
                                q: m.q,
                                rc: m.rc,
                            })
                        })
                        .collect(),
                )
            }
            None => None,
        };
        let pwms: Vec<Vec<[f64; 4]>> = full.iter().map(|p| trim(p).to_vec()).collect();
        Ok(ChannelNotes {
            path: path.to_path_buf(),
            layer: b.layer,
            consensus: pwms.iter().map(|p| consensus(p)).collect(),
            pwms,
            activation: b.activation,
            matches,
        })
    }

    pub fn k(&self) -> usize {
        self.pwms.len()
    }

    /// The channels file describes the channels of `r`: the same number, at
    /// the same layer.
    pub fn check_fits(&self, r: &FinishedRun) -> Result<()> {
        if self.k() != r.k
            || (!self.layer.is_empty() && !r.layer.is_empty() && self.layer != r.layer)
        {
            return Err(Error::Input(format!(
                "--channels-file {} describes {} channels of the input of {:?}, but {} has {} channels of the input of {:?}: make the channels file with `channels --layer {}` on the model of the run",
                self.path.display(),
                self.k(),
                self.layer,
                r.path.display(),
                r.k,
                r.layer,
                r.layer
            )));
        }
        Ok(())
    }

    /// Channel `k`'s best match, if a database was given and it has one.
    pub fn best(&self, k: usize) -> Option<&BestMatch> {
        self.matches.as_ref().and_then(|m| m[k].as_ref())
    }

    /// One line naming channel `k`'s motif: its best match with p-value, or
    /// its consensus.
    pub fn describe(&self, k: usize) -> String {
        match self.best(k) {
            Some(m) => format!(
                "{} (p {}{})",
                m.name(),
                num(m.p),
                if m.rc { ", −" } else { "" }
            ),
            None => self.consensus[k].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn flanks_are_trimmed_and_weak_columns_are_n() {
        let u = [0.25; 4];
        let a = [0.97, 0.01, 0.01, 0.01];
        let g = [0.01, 0.01, 0.97, 0.01];
        let weak = [0.4, 0.2, 0.2, 0.2];
        let pwm = [u, weak, a, u, g, weak, u];
        assert_eq!(trim(&pwm), &pwm[2..5]);
        assert_eq!(consensus(trim(&pwm)), "AnG");
        assert!(bits(&u).abs() < 1e-12 && (bits(&[1.0, 0.0, 0.0, 0.0]) - 2.0).abs() < 1e-12);
        assert_eq!(trim(&[u, u]).len(), 2);
    }

    #[test]
    fn lone_letters_beside_the_core_are_dropped() {
        let u = [0.25; 4];
        let a = [1.0, 0.0, 0.0, 0.0];
        let g = [0.0, 0.0, 1.0, 0.0];
        // A lone A two weak columns from the core at each end.
        let pwm = [u, a, u, u, g, a, u, g, u, u, u, a, u];
        assert_eq!(core(&pwm), (&pwm[4..8], 4));
        // One weak column between: part of the motif, kept.
        let pwm = [a, u, g, a];
        assert_eq!(core(&pwm), (&pwm[..], 0));
        assert_eq!(core(&[u, a, u]), (&[a][..], 1));
        assert_eq!(core(&[u, u]).0.len(), 2);
        // Two lone letters far apart: the first goes, the last stays.
        assert_eq!(core(&[a, u, u, g]), (&[g][..], 3));
    }
}
