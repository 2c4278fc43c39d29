//! Little-endian byte helpers for the bytes of a finished unit (what
//! `calibrate` and `channels` send between ranks).
use crate::{Error, Result};

pub fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
pub fn put_f32(b: &mut Vec<u8>, v: f32) {
    b.extend_from_slice(&v.to_le_bytes());
}
pub fn put_f64(b: &mut Vec<u8>, v: f64) {
    b.extend_from_slice(&v.to_le_bytes());
}
pub fn put_f32s(b: &mut Vec<u8>, v: &[f32]) {
    put_u32(b, v.len() as u32);
    for x in v {
        put_f32(b, *x);
    }
}

/// Reads values from a buffer, failing instead of running past its end.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }
    pub fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let v = self
            .bytes
            .get(self.at..self.at + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| {
                Error::Message(format!(
                    "a finished unit of {} bytes ends inside a value at byte {}",
                    self.bytes.len(),
                    self.at
                ))
            })?;
        self.at += N;
        Ok(v)
    }
    pub fn u32(&mut self) -> Result<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    pub fn f32(&mut self) -> Result<f32> {
        self.take::<4>().map(f32::from_le_bytes)
    }
    pub fn f64(&mut self) -> Result<f64> {
        self.take::<8>().map(f64::from_le_bytes)
    }
    pub fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.u32()? as usize;
        if n > (self.bytes.len() - self.at) / 4 {
            return Err(Error::Message(format!(
                "a finished unit announces {n} values at byte {} but has {} bytes left",
                self.at,
                self.bytes.len() - self.at
            )));
        }
        (0..n).map(|_| self.f32()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn values_round_trip_and_short_buffers_are_errors() {
        let mut b = Vec::new();
        put_u32(&mut b, 7);
        put_f64(&mut b, -2.5);
        put_f32s(&mut b, &[1.0, f32::MIN_POSITIVE]);
        let mut r = Reader::new(&b);
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(r.f64().unwrap(), -2.5);
        assert_eq!(r.f32s().unwrap(), [1.0, f32::MIN_POSITIVE]);
        assert!(r.done());
        let mut r = Reader::new(&b[..b.len() - 1]);
        r.u32().unwrap();
        r.f64().unwrap();
        assert!(r.f32s().is_err());
    }
}
