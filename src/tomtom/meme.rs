//! MEME minimal motif format (version 4 and later): reading and writing.
//! Only the DNA alphabet ACGT is accepted; every matrix is checked (four
//! columns, rows summing to 1, as many rows as `w=` says) and an error names
//! the file, the line and the motif.
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One motif: its id and optional alternative name from the `MOTIF` line, and
/// its letter-probability matrix, one [A, C, G, T] row per position.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    pub id: String,
    pub alt: Option<String>,
    pub cols: Vec<[f64; 4]>,
}

impl Motif {
    pub fn width(&self) -> usize {
        self.cols.len()
    }
}

/// Largest |row sum − 1| accepted (files round to a few decimals).
const SUM_TOLERANCE: f64 = 0.02;

pub fn read_meme(path: &Path) -> Result<Vec<Motif>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("cannot read motif file {}: {e}", path.display())))?;
    parse_meme(&text, &path.display().to_string())
}

fn numbers(line: &str) -> Option<Vec<f64>> {
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|t| t.parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    (!v.is_empty()).then_some(v)
}

/// `key= value` pairs of a matrix header (`alength= 4 w= 12 nsites= 20 E= 0`).
fn header_value(line: &str, key: &str) -> Option<String> {
    let rest = line.split_once(':').map(|x| x.1).unwrap_or("");
    let toks: Vec<&str> = rest.split_whitespace().collect();
    for (i, t) in toks.iter().enumerate() {
        if let Some(v) = t.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            return if v.is_empty() {
                toks.get(i + 1).map(|s| s.to_string())
            } else {
                Some(v.to_string())
            };
        }
    }
    None
}

/// Parse a MEME file's text; `name` (the path) goes into every error.
/// The widest motif read: far wider than any binding site, and wide enough
/// for the receptive field of a deep layer's channel.
pub const MAX_MOTIF_WIDTH: usize = 2048;

pub fn parse_meme(text: &str, name: &str) -> Result<Vec<Motif>> {
    let err = |line: usize, msg: String| Error::Input(format!("{name}: line {line}: {msg}"));
    let lines: Vec<&str> = text.lines().collect();
    let mut motifs: Vec<Motif> = Vec::new();
    // The motif being read: (its MOTIF line, whether it has a matrix yet).
    let mut open: Option<(usize, bool)> = None;
    let mut i = 0;
    while i < lines.len() {
        let ln = i + 1;
        let line = lines[i].trim();
        i += 1;
        if let Some(a) = line.strip_prefix("ALPHABET") {
            let a = a.trim_start();
            match a.strip_prefix('=') {
                Some(v) if v.trim().eq_ignore_ascii_case("ACGT") => {}
                Some(v) => {
                    return Err(err(
                        ln,
                        format!(
                            "alphabet {:?}: only DNA (ALPHABET= ACGT) motifs can be matched",
                            v.trim()
                        ),
                    ))
                }
                None => {
                    return Err(err(
                        ln,
                        format!("custom alphabet definition {line:?}: only DNA (ALPHABET= ACGT) motifs can be matched"),
                    ))
                }
            }
        } else if let Some(rest) = line.strip_prefix("MOTIF") {
            if let Some((mln, false)) = open {
                return Err(err(
                    mln,
                    format!(
                        "motif {} has no letter-probability matrix",
                        motifs.last().unwrap().id
                    ),
                ));
            }
            let mut t = rest.split_whitespace();
            let Some(id) = t.next() else {
                return Err(err(ln, "MOTIF line without a motif name".into()));
            };
            let alt = t.collect::<Vec<_>>().join(" ");
            motifs.push(Motif {
                id: id.to_string(),
                alt: (!alt.is_empty()).then_some(alt),
                cols: vec![],
            });
            open = Some((ln, false));
        } else if line.starts_with("log-odds matrix") {
            // Scores, not probabilities: skip its rows.
            while i < lines.len() && numbers(lines[i]).is_some() {
                i += 1;
            }
        } else if line.starts_with("letter-probability matrix") {
            let Some((mln, has)) = open else {
                return Err(err(
                    ln,
                    "letter-probability matrix before any MOTIF line".into(),
                ));
            };
            let m = motifs.last_mut().unwrap();
            if has {
                return Err(err(
                    ln,
                    format!("motif {}: a second letter-probability matrix", m.id),
                ));
            }
            open = Some((mln, true));
            if let Some(a) = header_value(line, "alength") {
                if a != "4" {
                    return Err(err(
                        ln,
                        format!("motif {}: alength= {a}: only DNA (4 letters, ACGT) motifs can be matched", m.id),
                    ));
                }
            }
            let w = match header_value(line, "w") {
                None => None,
                Some(w) => Some(
                    w.parse::<usize>()
                        .map_err(|_| err(ln, format!("motif {}: w= {w:?} is not a width", m.id)))?,
                ),
            };
            while i < lines.len() {
                let row_line = lines[i].trim();
                if row_line.is_empty() && m.cols.is_empty() {
                    i += 1;
                    continue;
                }
                let Some(v) = numbers(row_line) else { break };
                let rl = i + 1;
                i += 1;
                if v.len() != 4 {
                    return Err(err(
                        rl,
                        format!(
                            "motif {}: matrix row {} has {} columns, not 4 (A C G T)",
                            m.id,
                            m.cols.len() + 1,
                            v.len()
                        ),
                    ));
                }
                if v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return Err(err(
                        rl,
                        format!(
                            "motif {}: matrix row {} has a negative or non-finite probability",
                            m.id,
                            m.cols.len() + 1
                        ),
                    ));
                }
                let s: f64 = v.iter().sum();
                if (s - 1.0).abs() > SUM_TOLERANCE {
                    return Err(err(
                        rl,
                        format!(
                            "motif {}: matrix row {} sums to {s}, not 1",
                            m.id,
                            m.cols.len() + 1
                        ),
                    ));
                }
                if m.cols.len() == MAX_MOTIF_WIDTH {
                    return Err(err(
                        rl,
                        format!(
                            "motif {}: more than {MAX_MOTIF_WIDTH} positions (matching two motifs needs memory that grows with the product of their widths)",
                            m.id
                        ),
                    ));
                }
                m.cols.push([v[0], v[1], v[2], v[3]]);
            }
            if m.cols.is_empty() {
                return Err(err(
                    ln,
                    format!("motif {}: empty letter-probability matrix", m.id),
                ));
            }
            if let Some(w) = w {
                if w != m.cols.len() {
                    return Err(err(
                        ln,
                        format!(
                            "motif {}: w= {w} but the matrix has {} rows",
                            m.id,
                            m.cols.len()
                        ),
                    ));
                }
            }
        }
    }
    if let Some((mln, false)) = open {
        return Err(err(
            mln,
            format!(
                "motif {} has no letter-probability matrix",
                motifs.last().unwrap().id
            ),
        ));
    }
    if motifs.is_empty() {
        return Err(Error::Input(format!("{name}: no motifs (no MOTIF line)")));
    }
    Ok(motifs)
}

/// MEME minimal format text of `motifs` (version 4, ACGT, both strands, uniform background).
pub fn write_meme(motifs: &[Motif]) -> String {
    let mut s = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n");
    for m in motifs {
        let _ = match &m.alt {
            Some(a) => writeln!(s, "MOTIF {} {a}", m.id),
            None => writeln!(s, "MOTIF {}", m.id),
        };
        let _ = writeln!(
            s,
            "letter-probability matrix: alength= 4 w= {} nsites= 20 E= 0",
            m.width()
        );
        for c in &m.cols {
            let _ = writeln!(s, " {:.6} {:.6} {:.6} {:.6}", c[0], c[1], c[2], c[3]);
        }
        s.push('\n');
    }
    s
}
