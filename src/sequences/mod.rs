//! Real sequences in: FASTA records (plain or gzip) one-hot encoded in the
//! model's channel order, for `calibrate` and `channels`.
pub mod fasta;
pub mod onehot;

pub use fasta::{parse_fasta, read_fasta, Record};
pub use onehot::{encode, Alphabet, Encoded, Fit};

use crate::Result;
use std::path::Path;

/// Every record of a FASTA file encoded for a model input of `channels ×
/// width`; the alphabet must have one letter per input channel.
pub fn load_encoded(
    path: &Path,
    alphabet: &Alphabet,
    channels: usize,
    width: usize,
    fit: Fit,
) -> Result<(Vec<Record>, Vec<Encoded>)> {
    if alphabet.len() != channels {
        return Err(crate::Error::Input(format!(
            "--alphabet {} has {} letters but the model input has {channels} channels",
            alphabet.letters(),
            alphabet.len()
        )));
    }
    let records = read_fasta(path)?;
    let encoded = records
        .iter()
        .map(|r| {
            encode(r, alphabet, width, fit)
                .map_err(|e| crate::Error::Input(format!("FASTA file {}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((records, encoded))
}
