//! Gradient ascent of lanes of items through one batch that shrinks as items
//! stop and is refilled in lane order, so no slot computes for an item that
//! has already stopped. Where the scorer's arithmetic does not depend on an
//! item's batch-mates ([`Scorer::batch_invariant`]) the batch is refilled
//! from the next lane as soon as a slot is free; otherwise each lane's batch
//! drains before the next lane starts, which keeps every item's batch-mates
//! fixed by the lane (and results the same for any rank count) either way.
use super::{ascend, fiv, free_slot, start_map, Item, Keep, ValidAscentParams};
use crate::network::{layout, Scorer};
use crate::{Error, Result};
use std::collections::VecDeque;

/// What one restart returns: its best map (channel-major, K × W) and that
/// map's FIV (K, the mean over positions of each channel).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    pub item: Item,
    pub fim: Vec<f32>,
    pub fiv: Vec<f32>,
    pub score: f32,
    pub steps: u32,
    pub converged: bool,
}

/// Where a stream of lanes comes from and where finished lanes go.
pub trait LaneFeed {
    /// The next lane: its number and items. With `wait` false the feed may
    /// answer [`Next::NotYet`] (asked early, so the lane is there when a
    /// slot frees); with `wait` true it must decide.
    fn next(&mut self, wait: bool) -> Result<Next>;
    /// Every item of lane `lane` has stopped; `results` are in lane order.
    fn done(&mut self, lane: usize, results: Vec<ItemResult>) -> Result<()>;
}

/// A [`LaneFeed`]'s answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Lane(usize, Vec<Item>),
    NotYet,
    /// No more lanes for this stream.
    End,
}

struct Slot {
    item: Item,
    /// Index into the open lanes, and the item's place in its lane.
    lane: usize,
    pos: usize,
    step: usize,
    best: f64,
    best_score: f32,
    since_best: usize,
}

/// A lane open in the batch: its number, items not yet finished, results so far.
struct Open {
    lane: usize,
    left: usize,
    results: Vec<(usize, ItemResult)>,
}

/// A lane with no items is done as soon as it opens (only the lane just
/// opened can be one).
fn close_empty(open: &mut [Option<Open>], feed: &mut dyn LaneFeed) -> Result<()> {
    if let Some(o) = open.last_mut() {
        if o.as_ref().is_some_and(|o| o.left == 0) {
            feed.done(o.take().unwrap().lane, Vec::new())?;
        }
    }
    Ok(())
}

/// Runs every item of `lane`; `on_step` is called after each batched step with
/// the number of item-steps just done (progress, and message polling on rank 0).
pub fn run_lane(
    scorer: &mut Scorer,
    lane: &[Item],
    p: &ValidAscentParams,
    (k, w): (usize, usize),
    on_step: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Vec<ItemResult>> {
    struct One<'a> {
        lane: Option<&'a [Item]>,
        out: Vec<ItemResult>,
    }
    impl LaneFeed for One<'_> {
        fn next(&mut self, _wait: bool) -> Result<Next> {
            Ok(match self.lane.take() {
                Some(l) => Next::Lane(0, l.to_vec()),
                None => Next::End,
            })
        }
        fn done(&mut self, _lane: usize, results: Vec<ItemResult>) -> Result<()> {
            self.out = results;
            Ok(())
        }
    }
    let mut feed = One {
        lane: Some(lane),
        out: Vec::new(),
    };
    run_lanes(scorer, &mut feed, p, (k, w), on_step)?;
    Ok(feed.out)
}

/// Runs the lanes `feed` gives until it says [`Next::End`], handing each
/// finished lane back to it.
pub fn run_lanes(
    scorer: &mut Scorer,
    feed: &mut dyn LaneFeed,
    p: &ValidAscentParams,
    (k, w): (usize, usize),
    on_step: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<()> {
    let n = k * w;
    let cap = scorer.capacity();
    let refill = scorer.batch_invariant();
    let mut h = vec![0f32; cap * n];
    let mut best_h = vec![0f32; cap * n];
    let mut grad = vec![0f32; cap * n];
    let mut scores = vec![0f32; cap];
    let mut classes: Vec<usize> = Vec::with_capacity(cap);
    let mut slots: Vec<Slot> = Vec::with_capacity(cap);
    // Items waiting for a slot: (open lane, place in lane, item).
    let mut queue: VecDeque<(usize, usize, Item)> = VecDeque::new();
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut ended = false;
    let take = |next: Next, queue: &mut VecDeque<_>, open: &mut Vec<Option<Open>>| -> bool {
        match next {
            Next::Lane(lane, items) => {
                let o = open.len();
                open.push(Some(Open {
                    lane,
                    left: items.len(),
                    results: Vec::with_capacity(items.len()),
                }));
                queue.extend(items.into_iter().enumerate().map(|(i, it)| (o, i, it)));
                false
            }
            Next::NotYet => false,
            Next::End => true,
        }
    };
    loop {
        // Ask for the next lane as soon as this one is all in slots, so it is
        // there when a slot frees.
        if refill && queue.is_empty() && !ended {
            ended = take(feed.next(false)?, &mut queue, &mut open);
            close_empty(&mut open, feed)?;
        }
        while slots.len() < cap {
            if let Some((lane, pos, item)) = queue.pop_front() {
                let s = slots.len();
                let start = start_map(p.init(), p.seed(), item.class, item.restart, n);
                layout::position_major_into(&start, &mut h[s * n..(s + 1) * n], 1, k, w);
                slots.push(Slot {
                    item,
                    lane,
                    pos,
                    step: 0,
                    best: f64::NEG_INFINITY,
                    best_score: 0.0,
                    since_best: 0,
                });
            } else if !ended && (refill || slots.is_empty()) {
                // A free slot and no item queued: the next lane, waiting for
                // it only when the batch is empty.
                let next = feed.next(slots.is_empty())?;
                if next == Next::NotYet {
                    break;
                }
                ended = take(next, &mut queue, &mut open);
                close_empty(&mut open, feed)?;
            } else {
                break;
            }
        }
        if slots.is_empty() {
            if ended && queue.is_empty() {
                break;
            }
            continue;
        }
        let m = slots.len();
        classes.clear();
        classes.extend(slots.iter().map(|s| s.item.class));
        scorer.score_grad(&h[..m * n], &classes, &mut scores[..m], &mut grad[..m * n]);
        // Walk backwards so that moving the last slot into a finished one is safe.
        for s in (0..m).rev() {
            let hs = &mut h[s * n..(s + 1) * n];
            let slot = &mut slots[s];
            let norm2: f64 = hs.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let obj = scores[s] as f64 - p.lambda() as f64 * norm2;
            if !obj.is_finite() {
                return Err(Error::NonFinite {
                    class: slot.item.class,
                    restart: slot.item.restart,
                    step: slot.step,
                    what: format!("score {} and squared norm {norm2}", scores[s]),
                });
            }
            if obj > slot.best {
                slot.best = obj;
                slot.best_score = scores[s];
                slot.since_best = 0;
                best_h[s * n..(s + 1) * n].copy_from_slice(hs);
            } else {
                slot.since_best += 1;
            }
            let converged = slot.since_best >= p.patience();
            if converged || slot.step >= p.max_steps() {
                // The last iterate is the map just evaluated: no update follows it.
                let (kept, score) = match p.keep() {
                    Keep::Best => (&best_h[s * n..(s + 1) * n], slot.best_score),
                    Keep::Final => (&h[s * n..(s + 1) * n], scores[s]),
                };
                let fim = layout::to_channel_major(kept, 1, k, w);
                let res = ItemResult {
                    item: slot.item,
                    fiv: fiv(&fim, k, w),
                    fim,
                    score,
                    steps: slot.step as u32,
                    converged,
                };
                let (lane, pos) = (slot.lane, slot.pos);
                free_slot(&mut h, &mut best_h, s, slots.len() - 1, n);
                slots.swap_remove(s);
                let o = open[lane]
                    .as_mut()
                    .expect("a lane is open while its items run");
                o.results.push((pos, res));
                o.left -= 1;
                if o.left == 0 {
                    let mut o = open[lane].take().unwrap();
                    o.results.sort_by_key(|(pos, _)| *pos);
                    feed.done(o.lane, o.results.into_iter().map(|(_, r)| r).collect())?;
                }
                continue;
            }
            slot.step += 1;
            ascend(p, slot.step, hs, &grad[s * n..(s + 1) * n]);
        }
        on_step(m)?;
    }
    Ok(())
}
