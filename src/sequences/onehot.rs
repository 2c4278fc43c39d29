//! One-hot encoding in the model's channel order. Letter i of the alphabet
//! (`--alphabet`, ACGT by default; case-insensitive) is channel i. The IUPAC
//! ambiguity codes (N, R, Y, S, W, K, M, B, D, H, V), X and the gap
//! characters `-` and `.` become all-zero columns; any other character is an
//! error naming the record and the position (a protein or RNA file given to a
//! DNA model, a binary file).
use super::fasta::Record;
use crate::{Error, Result};

/// The letters of the model's input channels, in channel order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alphabet {
    letters: Vec<u8>,
    /// Byte → channel, or ZERO (an all-zero column), or BAD.
    map: [u8; 256],
}

const ZERO: u8 = 254;
const BAD: u8 = 255;
/// Letters that stand for "unknown" and encode as an all-zero column.
const UNKNOWN: &[u8] = b"NRYSWKMBDHVX-.";

impl Alphabet {
    pub const DEFAULT: &'static str = "ACGT";

    /// The alphabet `s` (distinct letters); an error names what is wrong.
    pub fn new(s: &str) -> Result<Alphabet> {
        let letters: Vec<u8> = s.bytes().map(|b| b.to_ascii_uppercase()).collect();
        if letters.is_empty() {
            return Err(Error::Input("--alphabet is empty".into()));
        }
        let mut map = [BAD; 256];
        for &u in UNKNOWN {
            map[u as usize] = ZERO;
            map[u.to_ascii_lowercase() as usize] = ZERO;
        }
        for (i, &b) in letters.iter().enumerate() {
            if !b.is_ascii_graphic() {
                return Err(Error::Input(format!(
                    "--alphabet {s:?}: character {} is not a letter",
                    i + 1
                )));
            }
            if letters[..i].contains(&b) {
                return Err(Error::Input(format!(
                    "--alphabet {s:?} repeats {:?}",
                    b as char
                )));
            }
            map[b as usize] = i as u8;
            map[b.to_ascii_lowercase() as usize] = i as u8;
        }
        Ok(Alphabet { letters, map })
    }

    pub fn len(&self) -> usize {
        self.letters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.letters.is_empty()
    }

    pub fn letters(&self) -> &str {
        std::str::from_utf8(&self.letters).expect("ASCII")
    }

    /// The channel of a byte: `Some(Some(i))`, `Some(None)` for an all-zero
    /// column, `None` for a character outside the alphabet.
    pub fn channel(&self, b: u8) -> Option<Option<usize>> {
        match self.map[b as usize] {
            BAD => None,
            ZERO => Some(None),
            i => Some(Some(i as usize)),
        }
    }
}

/// What to do with a sequence whose length is not the model's input width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// A different length is an error naming the record.
    Exact,
    /// Keep the central `width` letters of a longer sequence; pad a shorter
    /// one with all-zero columns on both sides (the extra one on the right).
    Center,
}

impl Fit {
    pub fn name(self) -> &'static str {
        match self {
            Fit::Exact => "exact",
            Fit::Center => "center",
        }
    }
}

/// One sequence encoded: `channels × width` values, channel-major (channel
/// a, position p at a·width + p), and where position 0 lies in the record:
/// `shift` = record position of the encoded position 0 (negative when padded).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub values: Vec<f32>,
    pub shift: i64,
}

/// `record` encoded for a model input of `width` positions.
pub fn encode(record: &Record, alphabet: &Alphabet, width: usize, fit: Fit) -> Result<Encoded> {
    let n = record.seq.len();
    if let Some((p, &b)) = record
        .seq
        .iter()
        .enumerate()
        .find(|(_, &b)| alphabet.channel(b).is_none())
    {
        let shown = if b.is_ascii_graphic() {
            format!("{:?}", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        return Err(Error::Input(format!(
            "{}: {shown} at position {} is not in the alphabet {} (nor N or another IUPAC code); is it a DNA FASTA for this model? (--alphabet sets the letters of the model's channels)",
            record.label(),
            p + 1,
            alphabet.letters()
        )));
    }
    let shift: i64 = match fit {
        Fit::Exact if n != width => {
            return Err(Error::Input(format!(
            "{} has {n} letters but the model reads {width} (use --fit center to cut or pad it)",
            record.label()
        )))
        }
        Fit::Exact => 0,
        // Longer: drop (n − width) / 2 on the left; shorter: pad (width − n) / 2 on the left.
        Fit::Center if n >= width => ((n - width) / 2) as i64,
        Fit::Center => -(((width - n) / 2) as i64),
    };
    let k = alphabet.len();
    let mut values = vec![0f32; k * width];
    for p in 0..width {
        let q = p as i64 + shift;
        if q < 0 || q >= n as i64 {
            continue;
        }
        if let Some(Some(a)) = alphabet.channel(record.seq[q as usize]) {
            values[a * width + p] = 1.0;
        }
    }
    Ok(Encoded { values, shift })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Record {
        Record {
            name: "r".into(),
            index: 4,
            seq: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn channels_follow_the_alphabet_and_unknowns_are_zero_columns() {
        let a = Alphabet::new("ACGT").unwrap();
        let e = encode(&rec("AcgTN-"), &a, 6, Fit::Exact).unwrap();
        let col = |p: usize| (0..4).map(|c| e.values[c * 6 + p]).collect::<Vec<_>>();
        assert_eq!(col(0), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(col(1), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(col(2), [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(col(3), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(col(4), [0.0; 4]);
        assert_eq!(col(5), [0.0; 4]);
        // Another channel order.
        let b = Alphabet::new("tgca").unwrap();
        let e = encode(&rec("A"), &b, 1, Fit::Exact).unwrap();
        assert_eq!(e.values, [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn wrong_letters_and_lengths_name_the_record() {
        let a = Alphabet::new("ACGT").unwrap();
        let e = encode(&rec("ACGEF"), &a, 5, Fit::Exact)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("record 5 (r)") && e.contains("'E' at position 4"),
            "{e}"
        );
        let e = encode(&rec("ACGU"), &a, 4, Fit::Exact)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'U'"), "{e}");
        let e = encode(&rec("ACG"), &a, 4, Fit::Exact)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("record 5 (r) has 3 letters but the model reads 4"),
            "{e}"
        );
        assert!(Alphabet::new("ACGA").is_err());
        assert!(Alphabet::new("").is_err());
    }

    #[test]
    fn center_fit_cuts_and_pads_around_the_middle() {
        let a = Alphabet::new("ACGT").unwrap();
        // Cut: 7 letters into 4 keeps letters 1..5 ("CGTA").
        let e = encode(&rec("ACGTAAA"), &a, 4, Fit::Center).unwrap();
        assert_eq!(e.shift, 1);
        assert_eq!(e.values[4], 1.0); // C at position 0
                                      // Pad: 2 letters into 5 puts them at positions 1, 2.
        let e = encode(&rec("GT"), &a, 5, Fit::Center).unwrap();
        assert_eq!(e.shift, -1);
        let col = |p: usize| (0..4).map(|c| e.values[c * 5 + p]).collect::<Vec<_>>();
        assert_eq!(col(0), [0.0; 4]);
        assert_eq!(col(1), [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(col(2), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(col(4), [0.0; 4]);
    }
}
