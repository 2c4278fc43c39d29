//! Gradient ascent on input windows: maximise one channel's activation at one
//! position, a(x) − λ‖x‖², over the cut model's input x (the window and the
//! positions before it, which nothing reads and which stay 0). The same rule
//! as `run`'s lane runner (method step 1: lr schedule, patience, max steps,
//! the best x kept), but every item starts from its own one-hot window. A
//! lane runs as one batch refilled in lane order, so an item's result depends
//! on its lane alone, never on the rank that runs it.
use crate::ascent::{ascend, free_slot, ValidAscentParams};
use crate::network::{layout, Scorer};
use crate::{Error, Result};

/// One item: maximise channel `channel` starting from `start` (channel-major
/// A × width, the cut model's input).
#[derive(Debug, Clone)]
pub struct WindowItem {
    pub index: usize,
    pub channel: usize,
    pub start: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    pub index: usize,
    /// The best x, channel-major A × width.
    pub x: Vec<f32>,
    /// The channel's activation at the best x.
    pub activation: f32,
    pub steps: u32,
    pub converged: bool,
}

struct Slot {
    item: usize,
    step: usize,
    best: f64,
    best_score: f32,
    since_best: usize,
}

pub fn run_windows(
    scorer: &mut Scorer,
    lane: &[WindowItem],
    p: &ValidAscentParams,
    (a, w): (usize, usize),
    on_step: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<WindowResult>> {
    let n = a * w;
    let cap = scorer.capacity();
    let mut h = vec![0f32; cap * n];
    let mut best_h = vec![0f32; cap * n];
    let mut grad = vec![0f32; cap * n];
    let mut scores = vec![0f32; cap];
    let mut classes: Vec<usize> = Vec::with_capacity(cap);
    let mut slots: Vec<Slot> = Vec::with_capacity(cap);
    let mut queue = lane.iter().enumerate();
    let mut out = Vec::with_capacity(lane.len());
    loop {
        while slots.len() < cap {
            let Some((j, it)) = queue.next() else { break };
            let s = slots.len();
            layout::position_major_into(&it.start, &mut h[s * n..(s + 1) * n], 1, a, w);
            slots.push(Slot {
                item: j,
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
        classes.extend(slots.iter().map(|s| lane[s.item].channel));
        scorer.score_grad(&h[..m * n], &classes, &mut scores[..m], &mut grad[..m * n]);
        for s in (0..m).rev() {
            let hs = &mut h[s * n..(s + 1) * n];
            let slot = &mut slots[s];
            let norm2: f64 = hs.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let obj = scores[s] as f64 - p.lambda() as f64 * norm2;
            if !obj.is_finite() {
                return Err(Error::NonFinite {
                    class: lane[slot.item].channel,
                    restart: lane[slot.item].index,
                    step: slot.step,
                    what: format!("activation {} and squared norm {norm2}", scores[s]),
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
                out.push(WindowResult {
                    index: lane[slot.item].index,
                    x: layout::to_channel_major(&best_h[s * n..(s + 1) * n], 1, a, w),
                    activation: slot.best_score,
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
        on_step()?;
    }
    Ok(out)
}
