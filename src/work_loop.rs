//! A small generic MPI work loop for the commands that read sequences
//! (`calibrate`, `channels`): numbered units of work dealt on request, as
//! `run` deals its lanes (src/distributed). Rank 0 deals units, runs units
//! itself between requests, and receives every finished unit as bytes; any
//! other rank asks for a unit (handing in the one it finished), runs it, and
//! repeats until told to stop. What a unit is and what its bytes hold is the
//! caller's: the loop only moves them. Results do not depend on the number of
//! ranks as long as a unit's result depends on the unit alone.
//!
//! A request is the finished unit's index (i64 little-endian, −1 for none)
//! followed by its bytes; the answer is the next unit's index or [`STOP`].
//! The tags are apart from `run`'s.
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::Duration;

const TAG_ASK: i32 = 31;
const TAG_UNIT: i32 = 32;
/// No units are left: the worker stops.
pub const STOP: i64 = -1;

/// Rank 0's side: the units still to deal and who has stopped.
pub struct Dealer<'w> {
    world: &'w SimpleCommunicator,
    pending: Vec<usize>,
    next: usize,
    stopped: usize,
}

/// Called with each unit another rank finished: its index and its bytes.
pub type Sink<'a> = dyn FnMut(usize, &[u8]) -> Result<()> + 'a;

impl<'w> Dealer<'w> {
    /// Deal `pending` (unit indices) in this order.
    pub fn new(world: &'w SimpleCommunicator, pending: Vec<usize>) -> Self {
        Dealer {
            world,
            pending,
            next: 0,
            stopped: 0,
        }
    }

    /// Answer every waiting request: hand its finished unit to `sink`, and
    /// give the rank the next unit (or tell it to stop).
    pub fn serve(&mut self, sink: &mut Sink) -> Result<()> {
        while let Some((msg, status)) = self
            .world
            .any_process()
            .immediate_matched_probe_with_tag(TAG_ASK)
        {
            let mut data = vec![0u8; status.count(u8::equivalent_datatype()) as usize];
            msg.matched_receive_into(&mut data[..]);
            let (done, bytes) = split_request(&data)?;
            if let Some(u) = done {
                sink(u, bytes)?;
            }
            let answer = match self.take() {
                Some(u) => u as i64,
                None => {
                    self.stopped += 1;
                    STOP
                }
            };
            self.world
                .process_at_rank(status.source_rank())
                .send_with_tag(&answer, TAG_UNIT);
        }
        Ok(())
    }

    /// The next unit for rank 0 itself.
    pub fn take(&mut self) -> Option<usize> {
        let u = self.pending.get(self.next).copied()?;
        self.next += 1;
        Some(u)
    }

    /// Serve until every other rank has stopped (after rank 0's own last unit).
    pub fn finish(&mut self, sink: &mut Sink) -> Result<()> {
        while self.stopped + 1 < self.world.size() as usize {
            self.serve(sink)?;
            std::thread::sleep(Duration::from_micros(300));
        }
        Ok(())
    }
}

fn split_request(data: &[u8]) -> Result<(Option<usize>, &[u8])> {
    let head: [u8; 8] = data
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            Error::Message(format!(
                "a request of {} bytes has no unit index",
                data.len()
            ))
        })?;
    let v = i64::from_le_bytes(head);
    let done = if v < 0 { None } else { Some(v as usize) };
    Ok((done, &data[8..]))
}

/// A rank other than 0: ask for units of `n_units`, run each with `run`,
/// hand its bytes in with the next request, until told to stop.
pub fn work(
    world: &SimpleCommunicator,
    n_units: usize,
    run: &mut dyn FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    let root = world.process_at_rank(0);
    let mut request: Vec<u8> = STOP.to_le_bytes().to_vec();
    loop {
        root.send_with_tag(&request[..], TAG_ASK);
        let unit: i64 = loop {
            if let Some((msg, _)) = root.immediate_matched_probe_with_tag(TAG_UNIT) {
                break msg.matched_receive::<i64>().0;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        if unit == STOP {
            return Ok(());
        }
        let u = usize::try_from(unit)
            .ok()
            .filter(|&u| u < n_units)
            .ok_or_else(|| {
                Error::Message(format!("unit {unit} asked for, but the job has {n_units}"))
            })?;
        let bytes = run(u)?;
        request.clear();
        request.extend_from_slice(&(u as i64).to_le_bytes());
        request.extend_from_slice(&bytes);
    }
}

/// Rank 0 checks and prepares (`setup`) before any other rank starts; the
/// others learn whether it succeeded (a failure was already reported by
/// rank 0, so they exit quietly, as `run` does).
pub fn agree<T>(world: &SimpleCommunicator, setup: impl FnOnce() -> Result<T>) -> Option<T> {
    let mut ok: u8 = 0;
    let mut out = None;
    if world.rank() == 0 {
        match setup() {
            Ok(v) => {
                ok = 1;
                out = Some(v);
            }
            Err(e) => eprintln!("deepresolve-mpi: error: {e}"),
        }
    }
    world.process_at_rank(0).broadcast_into(&mut ok);
    if ok == 0 {
        std::process::exit(1);
    }
    out
}

/// Little-endian byte helpers for units' results.
pub mod bytes {
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
}
