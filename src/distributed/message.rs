//! The bytes of a finished lane of `run`, as the engine ([`super::engine`])
//! carries them from a worker to rank 0.
//!
//! Byte format of a finished lane, all little-endian, one record per item:
//! `class_pos, class, restart, steps, converged` (u32 each), `score` (f32 bits),
//! then the map and the FIV, each as a u32 length followed by that many f32.
use crate::ascent::{Item, ItemResult};
use crate::{Error, Result};

/// The bytes of a finished lane.
pub fn encode(results: &[ItemResult]) -> Vec<u8> {
    let mut b = Vec::new();
    for r in results {
        for v in [
            r.item.class_pos as u32,
            r.item.class as u32,
            r.item.restart as u32,
            r.steps,
            r.converged as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&r.score.to_le_bytes());
        for values in [&r.fim, &r.fiv] {
            b.extend_from_slice(&(values.len() as u32).to_le_bytes());
            for v in values {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    b
}

/// Reads 32-bit words from a buffer, failing instead of running past its end.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Words<'_> {
    fn u32(&mut self) -> Result<u32> {
        let word = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .ok_or_else(|| {
                Error::Message(format!(
                    "a finished lane of {} bytes ends inside a value at byte {}",
                    self.bytes.len(),
                    self.at
                ))
            })?;
        self.at += 4;
        Ok(u32::from_le_bytes(word))
    }
    fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.u32()? as usize;
        if n > (self.bytes.len() - self.at) / 4 {
            return Err(Error::Message(format!(
                "a finished lane announces {n} values at byte {} but has {} bytes left",
                self.at,
                self.bytes.len() - self.at
            )));
        }
        (0..n).map(|_| self.u32().map(f32::from_bits)).collect()
    }
}

/// A finished lane from its bytes; an error if they are not what [`encode`] writes.
pub fn decode(bytes: &[u8]) -> Result<Vec<ItemResult>> {
    let mut out = Vec::new();
    let mut w = Words { bytes, at: 0 };
    while w.at < bytes.len() {
        let (class_pos, class, restart, steps, converged) =
            (w.u32()?, w.u32()?, w.u32()?, w.u32()?, w.u32()?);
        let score = f32::from_bits(w.u32()?);
        let fim = w.f32s()?;
        let fiv = w.f32s()?;
        out.push(ItemResult {
            item: Item {
                class_pos: class_pos as usize,
                class: class as usize,
                restart: restart as usize,
            },
            fim,
            fiv,
            score,
            steps,
            converged: converged != 0,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane() -> Vec<ItemResult> {
        (0..3)
            .map(|i| ItemResult {
                item: Item {
                    class_pos: i,
                    class: 7 + i,
                    restart: 2 * i,
                },
                fim: (0..6).map(|v| v as f32 * -0.37 + i as f32).collect(),
                fiv: vec![f32::MIN_POSITIVE, -0.0, 1e30],
                score: -1.5 + i as f32,
                steps: 100 * i as u32,
                converged: i % 2 == 0,
            })
            .collect()
    }

    #[test]
    fn a_lane_survives_the_round_trip_bit_for_bit() {
        let l = lane();
        let back = decode(&encode(&l)).unwrap();
        assert_eq!(back, l);
        for (a, b) in back.iter().zip(&l) {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.fim), bits(&b.fim));
            assert_eq!(bits(&a.fiv), bits(&b.fiv));
        }
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_buffer_is_an_error_not_a_panic() {
        let b = encode(&lane());
        for cut in [1, 4, 23, 24, 30, b.len() - 1] {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        // A length that promises more values than the buffer holds.
        let mut big = b[..24].to_vec();
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&big).is_err());
    }
}
