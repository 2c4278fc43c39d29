//! FASTA records from a plain or gzip-compressed file (recognised by its
//! first two bytes, 1f 8b, whatever the file name). A record is a `>` header
//! line (its name is the header up to the first whitespace) and the sequence
//! lines that follow it; blank lines are skipped, `;` lines are comments.
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One record: its name, its index in the file (0-based) and its letters
/// (as written: case and every character kept, line breaks removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub index: usize,
    pub seq: Vec<u8>,
}

impl Record {
    /// "record 3 (chr1:100-1100)" — how errors name a record.
    pub fn label(&self) -> String {
        format!("record {} ({})", self.index + 1, self.name)
    }
}

fn input_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Input(format!("FASTA file {}: {msg}", path.display()))
}

/// Every record of `path`. A file with no record, text before the first
/// header, or a record without letters is an error that names the file and
/// the record.
pub fn read_fasta(path: &Path) -> Result<Vec<Record>> {
    let mut f =
        std::fs::File::open(path).map_err(|e| input_err(path, format!("cannot open: {e}")))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| input_err(path, e))?;
    drop(f);
    let f = std::fs::File::open(path).map_err(|e| input_err(path, format!("cannot open: {e}")))?;
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    parse_fasta(BufReader::new(reader), path)
}

/// Records from any reader; `path` names the source in errors.
pub fn parse_fasta(reader: impl BufRead, path: &Path) -> Result<Vec<Record>> {
    let mut out: Vec<Record> = Vec::new();
    let mut current: Option<Record> = None;
    let finish = |r: Record, out: &mut Vec<Record>| -> Result<()> {
        if r.seq.is_empty() {
            return Err(input_err(path, format!("{} has no sequence", r.label())));
        }
        out.push(r);
        Ok(())
    };
    for (lineno, line) in reader.split(b'\n').enumerate() {
        let line =
            line.map_err(|e| input_err(path, format!("cannot read line {}: {e}", lineno + 1)))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if let Some(header) = line.strip_prefix(b">") {
            if let Some(r) = current.take() {
                finish(r, &mut out)?;
            }
            let header = String::from_utf8_lossy(header);
            let name = header.split_whitespace().next().unwrap_or("").to_string();
            let index = out.len();
            current = Some(Record {
                name: if name.is_empty() {
                    format!("unnamed_{}", index + 1)
                } else {
                    name
                },
                index,
                seq: Vec::new(),
            });
            continue;
        }
        if line.starts_with(b";") || line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Spaces are dropped as before; a tab or control character inside a
        // sequence is a damaged line (a pasted table, a binary file), not a base.
        let body = line.trim_ascii();
        if let Some(at) = body.iter().position(|b| b.is_ascii_control()) {
            return Err(input_err(
                path,
                format!(
                    "line {}: a {} at column {} inside the sequence",
                    lineno + 1,
                    if body[at] == b'\t' {
                        "tab"
                    } else {
                        "control character"
                    },
                    at + 1 + (line.len() - line.trim_ascii_start().len())
                ),
            ));
        }
        match current.as_mut() {
            Some(r) => r
                .seq
                .extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace())),
            None => {
                return Err(input_err(
                    path,
                    format!(
                        "line {} comes before the first '>' header: not a FASTA file",
                        lineno + 1
                    ),
                ))
            }
        }
    }
    if let Some(r) = current.take() {
        finish(r, &mut out)?;
    }
    if out.is_empty() {
        return Err(input_err(
            path,
            "holds no FASTA record (no '>' header line)",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(text: &str) -> Result<Vec<Record>> {
        parse_fasta(text.as_bytes(), Path::new("t.fa"))
    }

    #[test]
    fn records_span_lines_and_skip_blanks_and_comments() {
        let r = parse(">a desc\nACGT\nac\r\n\n;comment\n>b\nNNNN\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_str(), r[0].seq.as_slice()),
            ("a", &b"ACGTac"[..])
        );
        assert_eq!((r[1].name.as_str(), r[1].index), ("b", 1));
        assert_eq!(r[1].label(), "record 2 (b)");
    }

    #[test]
    fn empty_files_headerless_text_and_empty_records_are_errors() {
        let e = parse("").unwrap_err().to_string();
        assert!(e.contains("t.fa") && e.contains("no FASTA record"), "{e}");
        let e = parse("\n\n").unwrap_err().to_string();
        assert!(e.contains("no FASTA record"), "{e}");
        let e = parse("ACGT\n>a\nAC\n").unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("before the first"),
            "{e}"
        );
        let e = parse(">a\nAC\n>empty\n>c\nA\n").unwrap_err().to_string();
        assert!(e.contains("record 2 (empty) has no sequence"), "{e}");
    }

    #[test]
    fn gzip_files_are_read_like_plain_ones() {
        let dir = std::env::temp_dir().join(format!("drm-fasta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("x.fa");
        let gz = dir.join("x.fa.gz");
        let text = ">s1\nACGTN\n>s2\nTTGCA\nCC\n";
        std::fs::write(&plain, text).unwrap();
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let a = read_fasta(&plain).unwrap();
        let b = read_fasta(&gz).unwrap();
        assert_eq!(a, b);
        assert_eq!(b[1].seq, b"TTGCACC");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
