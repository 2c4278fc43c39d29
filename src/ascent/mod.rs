//! DeepResolve step 1–3: gradient ascent on feature maps, from random starts,
//! for (class, restart) work items grouped into lanes.
mod lane;
pub mod lanes;
mod params;
mod start;

pub use lane::{run_lane, ItemResult};
pub use lanes::{items, lane_ranges, Item};
pub use params::{AscentParams, ValidAscentParams};
pub use start::initial_map;

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
