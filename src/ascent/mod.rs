//! DeepResolve step 1–3: gradient ascent on feature maps, from random starts,
//! for (class, restart) work items grouped into lanes.
mod params;
mod run_lane;
mod start;
pub mod work_items;

pub use params::{AscentParams, Init, Keep, ValidAscentParams};
pub use run_lane::{run_lane, run_lanes, ItemResult, LaneFeed, Next};
pub use start::{initial_map, start_map};
pub use work_items::{items, lane_ranges, Item};

/// FIV: the mean over positions of each channel of a channel-major K × W map.
pub fn fiv(fim: &[f32], k: usize, w: usize) -> Vec<f32> {
    (0..k)
        .map(|c| {
            (fim[c * w..(c + 1) * w]
                .iter()
                .map(|&v| v as f64)
                .sum::<f64>()
                / w as f64) as f32
        })
        .collect()
}

/// One update of a map: H ← H + lr·(∂S/∂H − 2λH), with the learning rate of
/// update number `step` (the lane runner's and `channels`' ascent alike).
pub fn ascend(p: &ValidAscentParams, step: usize, h: &mut [f32], grad: &[f32]) {
    let lr = p.lr_at(step);
    let two_lambda = 2.0 * p.lambda();
    for (v, g) in h.iter_mut().zip(grad) {
        *v += lr * (g - two_lambda * *v);
    }
}

/// A finished slot `s` of a batch of `n`-value maps takes the last slot's
/// maps (`end`), so the batch stays contiguous (pair with `swap_remove(s)`).
pub fn free_slot(h: &mut [f32], best_h: &mut [f32], s: usize, end: usize, n: usize) {
    if s != end {
        h.copy_within(end * n..(end + 1) * n, s * n);
        best_h.copy_within(end * n..(end + 1) * n, s * n);
    }
}
