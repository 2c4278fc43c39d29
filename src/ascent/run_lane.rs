//! Gradient ascent of one lane of items as one batch that shrinks as items
//! stop and is refilled from the lane in order, so no slot computes for an
//! item that has already stopped.
use super::{ascend, fiv, free_slot, start_map, Item, Keep, ValidAscentParams};
use crate::network::{layout, Scorer};
use crate::{Error, Result};

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

struct Slot {
    item: Item,
    step: usize,
    best: f64,
    best_score: f32,
    since_best: usize,
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
    let n = k * w;
    let cap = scorer.capacity();
    let mut h = vec![0f32; cap * n];
    let mut best_h = vec![0f32; cap * n];
    let mut grad = vec![0f32; cap * n];
    let mut scores = vec![0f32; cap];
    let mut classes: Vec<usize> = Vec::with_capacity(cap);
    let mut slots: Vec<Slot> = Vec::with_capacity(cap);
    let mut queue = lane.iter();
    let mut out = Vec::with_capacity(lane.len());
    loop {
        // Refill in lane order; a new item goes to the first free slot (the end).
        while slots.len() < cap {
            let Some(&item) = queue.next() else { break };
            let s = slots.len();
            let start = start_map(p.init(), p.seed(), item.class, item.restart, n);
            layout::position_major_into(&start, &mut h[s * n..(s + 1) * n], 1, k, w);
            slots.push(Slot {
                item,
                step: 0,
                best: f64::NEG_INFINITY,
                best_score: 0.0,
                since_best: 0,
            });
        }
        if slots.is_empty() {
            break;
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
                out.push(ItemResult {
                    item: slot.item,
                    fiv: fiv(&fim, k, w),
                    fim,
                    score,
                    steps: slot.step as u32,
                    converged,
                });
                free_slot(&mut h, &mut best_h, s, slots.len() - 1, n);
                slots.swap_remove(s);
                continue;
            }
            slot.step += 1;
            ascend(p, slot.step, hs, &grad[s * n..(s + 1) * n]);
        }
        on_step(m)?;
    }
    Ok(out)
}
