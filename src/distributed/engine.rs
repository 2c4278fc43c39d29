//! The one MPI work engine of `run`, `calibrate` and `channels`: numbered
//! units of work (lanes) dealt on request. Rank 0 ([`Dealer`]) deals units,
//! runs units itself between requests and receives every finished unit as
//! bytes; every other rank ([`Asker`], or [`work`] for a unit at a time) asks
//! for its next unit one ahead of need, runs it, hands it in, until told to
//! stop. What a unit is and what its bytes hold is the command's: the engine
//! moves them, so results do not depend on the number of ranks as long as a
//! unit's result depends on the unit alone.
//!
//! Stop signals (SIGTERM, SIGINT, SIGUSR1) are looked at between steps on
//! every rank and by rank 0 each time it serves: a signal anywhere ends the
//! job between writes, and [`end_if_interrupted`] says so in one line and
//! ends every rank non-zero.
//!
//! Messages: a request asks for a unit (one byte, no content); rank 0's
//! answer is the unit's index (i64) or [`STOP`]; a finished unit travels as
//! its index (u32 little-endian) followed by its bytes.
use super::{panic_hook, signals};
use crate::{Error, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::{Duration, Instant};

/// A worker asks for a unit.
const TAG_REQUEST: i32 = 1;
/// Rank 0's answer: a unit index (i64), or [`STOP`].
const TAG_UNIT: i32 = 2;
/// A worker caught a stop signal: its number (i32), so rank 0 says it once and ends the job.
const TAG_SIGNAL: i32 = 3;
/// A worker's finished unit (its index, then its bytes).
const TAG_DONE: i32 = 4;
/// No units are left: the worker stops.
const STOP: i64 = -1;

/// Called on rank 0 with each unit finished elsewhere: its index and bytes.
pub type Sink<'a> = dyn FnMut(usize, &[u8]) -> Result<()> + 'a;

/// Runs unit `u`, calling `on_step` between steps (where a stop signal or a
/// waiting rank is seen); returns the unit's bytes.
pub type RunUnit<'a> = dyn FnMut(usize, &mut dyn FnMut() -> Result<()>) -> Result<Vec<u8>> + 'a;

/// This rank's number and the number of ranks.
pub fn rank_and_size(world: &SimpleCommunicator) -> (usize, usize) {
    (world.rank() as usize, world.size() as usize)
}

/// The engine's start on every rank: the stop signals are caught from here
/// on, and rank 0 checks and prepares (`setup`) before any other rank starts.
/// The others learn whether it succeeded; a failure was reported by rank 0,
/// so they exit quietly. `Some` on rank 0 only.
pub fn agree<T>(world: &SimpleCommunicator, setup: impl FnOnce() -> Result<T>) -> Option<T> {
    signals::install();
    let mut ok: u8 = 0;
    let mut out = None;
    if world.rank() == 0 {
        match setup() {
            Ok(v) => {
                ok = 1;
                out = Some(v);
            }
            Err(e) => crate::say!("deepresolve-mpi: error: {e}"),
        }
    }
    world.process_at_rank(0).broadcast_into(&mut ok);
    if ok == 0 {
        std::process::exit(1);
    }
    out
}

/// Every rank runs the same Winograd tile: a `DEEPRESOLVE_WINOGRAD` that
/// reached some ranks only (a launcher that does not pass the environment
/// on) would put two tiles' bits in one file under rank 0's record. Every
/// rank learns the same answer, so all return the error and rank 0 says it.
pub fn same_winograd_tile(world: &SimpleCommunicator) -> Result<()> {
    use mpi::collective::SystemOperation;
    let mine = crate::network::winograd_tile::current().outs() as i64;
    let mut range = [0i64; 2];
    // min of (m, −m): the smallest tile and minus the largest.
    world.all_reduce_into(&[mine, -mine][..], &mut range[..], SystemOperation::min());
    let (lo, hi) = (range[0], -range[1]);
    if lo == hi {
        return Ok(());
    }
    Err(Error::Input(format!(
        "{env} differs between ranks: some run F({lo},3) tiles, some F({hi},3); set it for every rank (mpirun -x {env}=…), or for none",
        env = crate::network::winograd_tile::ENV
    )))
}

/// Rank 0's values in `v` on every rank (`v` has the same length everywhere).
pub fn share(world: &SimpleCommunicator, v: &mut [i64]) {
    world.process_at_rank(0).broadcast_into(v);
}

/// `Err(Interrupted)` if this rank has caught a stop signal.
pub fn check_signal(world: &SimpleCommunicator) -> Result<()> {
    match signals::caught() {
        None => Ok(()),
        Some(s) => Err(Error::Interrupted {
            signal: signals::name(s),
            rank: world.rank(),
        }),
    }
}

/// A message with `tag` from any rank, if one is waiting.
fn poll_message(world: &SimpleCommunicator, tag: i32) -> Option<(Vec<u8>, i32)> {
    let (msg, status) = world.any_process().immediate_matched_probe_with_tag(tag)?;
    let mut data = vec![0u8; usize::try_from(status.count(u8::equivalent_datatype())).unwrap_or(0)];
    msg.matched_receive_into(&mut data[..]);
    Some((data, status.source_rank()))
}

/// The bytes of a finished unit as they travel.
fn encode_finished(unit: usize, bytes: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + bytes.len());
    b.extend_from_slice(&(unit as u32).to_le_bytes());
    b.extend_from_slice(bytes);
    b
}

/// A finished unit's index (checked against `n_units`) and bytes.
fn decode_finished(data: &[u8], n_units: usize) -> Result<(usize, &[u8])> {
    let head: [u8; 4] = data
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            Error::Message(format!(
                "a finished unit of {} bytes has no unit index",
                data.len()
            ))
        })?;
    let u = check_unit(u32::from_le_bytes(head) as i64, n_units)?;
    Ok((u, &data[4..]))
}

/// A unit index from another rank, checked against the number of units.
fn check_unit(v: i64, n_units: usize) -> Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&u| u < n_units)
        .ok_or_else(|| {
            Error::Message(format!(
                "unit {v} asked for, but the job has {n_units} units"
            ))
        })
}

/// Rank 0's side: the units still to deal and who has stopped.
pub struct Dealer<'w> {
    world: &'w SimpleCommunicator,
    /// The units to run, in the order they are dealt (`--resume` leaves out finished ones).
    pending: Vec<usize>,
    n_units: usize,
    next: usize,
    /// Ranks told there is no more work.
    stopped: usize,
    /// Units dealt to other ranks, and units they have handed back.
    dealt: usize,
    received: usize,
}

impl<'w> Dealer<'w> {
    /// Deal `pending` (indices below `n_units`) in this order.
    pub fn new(world: &'w SimpleCommunicator, pending: Vec<usize>, n_units: usize) -> Self {
        Dealer {
            world,
            pending,
            n_units,
            next: 0,
            stopped: 0,
            dealt: 0,
            received: 0,
        }
    }

    /// The next unit to deal, without taking it.
    pub fn peek(&self) -> Option<usize> {
        self.pending.get(self.next).copied()
    }

    /// The next unit, for rank 0 itself.
    pub fn take(&mut self) -> Option<usize> {
        let u = self.peek()?;
        self.next += 1;
        Some(u)
    }

    /// Answer every waiting message: hand finished units to `sink`, give a
    /// rank that asks the next unit (or tell it to stop), and end the job on
    /// a stop signal here or on another rank.
    pub fn serve(&mut self, sink: &mut Sink) -> Result<()> {
        check_signal(self.world)?;
        if let Some((data, src)) = poll_message(self.world, TAG_SIGNAL) {
            let sig = data
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, i32::from_le_bytes);
            return Err(Error::Interrupted {
                signal: signals::name(sig),
                rank: src,
            });
        }
        while let Some((data, _)) = poll_message(self.world, TAG_DONE) {
            let (u, bytes) = decode_finished(&data, self.n_units)?;
            sink(u, bytes)?;
            self.received += 1;
        }
        while let Some((_, src)) = poll_message(self.world, TAG_REQUEST) {
            let answer = match self.take() {
                Some(u) => {
                    self.dealt += 1;
                    u as i64
                }
                None => {
                    self.stopped += 1;
                    STOP
                }
            };
            self.world
                .process_at_rank(src)
                .send_with_tag(&answer, TAG_UNIT);
        }
        Ok(())
    }

    /// Run the units left, one at a time, serving the other ranks between
    /// steps, then wait for theirs ([`Dealer::finish`]). Each unit's bytes,
    /// rank 0's own included, go to `sink`.
    pub fn run_all(&mut self, run: &mut RunUnit, sink: &mut Sink) -> Result<()> {
        while let Some(u) = self.take() {
            let bytes = run(u, &mut || self.serve(sink))?;
            sink(u, &bytes)?;
        }
        self.finish(sink)
    }

    /// Serve until every other rank has been told to stop and has handed in
    /// every unit dealt to it (after rank 0's own last unit).
    pub fn finish(&mut self, sink: &mut Sink) -> Result<()> {
        loop {
            self.serve(sink)?;
            if self.stopped + 1 >= self.world.size() as usize && self.received == self.dealt {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(300));
        }
    }
}

/// Rank 0's answer to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Unit(usize),
    Stop,
}

/// A worker's side: units asked of rank 0 one ahead, so the next is there
/// when the current one ends.
pub struct Asker<'w> {
    world: &'w SimpleCommunicator,
    n_units: usize,
    /// A request is out and its answer not yet read.
    asked: bool,
    /// Rank 0's answer not yet used.
    answer: Option<Answer>,
}

impl<'w> Asker<'w> {
    pub fn new(world: &'w SimpleCommunicator, n_units: usize) -> Self {
        Asker {
            world,
            n_units,
            asked: false,
            answer: None,
        }
    }

    /// Ask for the next unit, unless a request is out or an answer is held.
    pub fn ask(&mut self) {
        if !self.asked && self.answer.is_none() {
            self.world
                .process_at_rank(0)
                .send_with_tag(&[0u8][..], TAG_REQUEST);
            self.asked = true;
        }
    }

    /// Read rank 0's answer if it has come.
    fn poll(&mut self) -> Result<()> {
        if !self.asked {
            return Ok(());
        }
        if let Some((msg, _)) = self
            .world
            .process_at_rank(0)
            .immediate_matched_probe_with_tag(TAG_UNIT)
        {
            let v = msg.matched_receive::<i64>().0;
            self.asked = false;
            self.answer = Some(if v == STOP {
                Answer::Stop
            } else {
                Answer::Unit(check_unit(v, self.n_units)?)
            });
        }
        Ok(())
    }

    /// The next answer if it is here (asking for it if need be); it stays
    /// held until [`Asker::take`].
    pub fn peek(&mut self) -> Result<Option<Answer>> {
        self.ask();
        self.poll()?;
        Ok(self.answer)
    }

    /// The next answer, waiting for it (and for nothing else but a stop signal).
    pub fn wait(&mut self) -> Result<Answer> {
        loop {
            if let Some(a) = self.peek()? {
                return Ok(a);
            }
            check_signal(self.world)?;
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The held unit is being run: the next answer will be a new one. A held
    /// [`Answer::Stop`] stays.
    pub fn take(&mut self) {
        if matches!(self.answer, Some(Answer::Unit(_))) {
            self.answer = None;
        }
    }

    /// Hand in a finished unit.
    pub fn hand_in(&self, unit: usize, bytes: &[u8]) {
        self.world
            .process_at_rank(0)
            .send_with_tag(&encode_finished(unit, bytes)[..], TAG_DONE);
    }
}

/// A rank other than 0: run units of `n_units` one at a time, asked one
/// ahead, until told to stop; each unit's bytes go back to rank 0.
pub fn work(world: &SimpleCommunicator, n_units: usize, run: &mut RunUnit) -> Result<()> {
    let mut asker = Asker::new(world, n_units);
    let res = (|| -> Result<()> {
        loop {
            let Answer::Unit(u) = asker.wait()? else {
                return Ok(());
            };
            asker.take();
            asker.ask();
            let bytes = run(u, &mut || {
                asker.poll()?;
                check_signal(world)
            })?;
            asker.hand_in(u, &bytes);
        }
    })();
    res.map_err(|e| hand_signal_to_root(world, e))
}

/// A stop signal caught on a worker: tell rank 0, which says it once and
/// ends every rank; should rank 0 not do so within 3 s, this rank returns
/// the error to say it itself. Other errors pass through.
pub fn hand_signal_to_root(world: &SimpleCommunicator, e: Error) -> Error {
    if !matches!(e, Error::Interrupted { .. }) {
        return e;
    }
    let sig = signals::caught().unwrap_or(0);
    world
        .process_at_rank(0)
        .send_with_tag(&sig.to_le_bytes()[..], TAG_SIGNAL);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    e
}

/// A job stopped by a signal is not an error of the job: one line that names
/// the signal and the rank and says what to do (`what_to_do`: where the work
/// done so far is, and how to finish it), then every rank ends non-zero.
/// Any other outcome is returned as it is.
pub fn end_if_interrupted<T>(
    world: &SimpleCommunicator,
    res: Result<T>,
    what_to_do: impl FnOnce() -> String,
) -> Result<T> {
    if let Err(Error::Interrupted { signal, rank }) = &res {
        if panic_hook::another_rank_panicked(world) {
            panic_hook::wait_for_abort();
        }
        crate::say!(
            "deepresolve-mpi: stopped by {signal} on rank {rank}: {}",
            what_to_do()
        );
        use std::io::Write;
        let _ = std::io::stderr().flush();
        if world.size() == 1 {
            std::process::exit(1);
        }
        world.abort(1)
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_unit_carries_its_index_and_bad_ones_are_errors() {
        let b = encode_finished(7, &[1, 2, 3]);
        assert_eq!(decode_finished(&b, 8).unwrap(), (7, &[1u8, 2, 3][..]));
        assert_eq!(decode_finished(&encode_finished(0, &[]), 1).unwrap().0, 0);
        assert!(decode_finished(&b, 7).is_err());
        assert!(decode_finished(&[1, 2], 8).is_err());
    }

    #[test]
    fn unit_indices_outside_the_job_are_errors() {
        assert_eq!(check_unit(3, 4).unwrap(), 3);
        assert!(check_unit(4, 4).is_err());
        assert!(check_unit(-2, 4).is_err());
        assert!(check_unit(STOP, 4).is_err());
    }
}
