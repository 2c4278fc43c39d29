//! DeepResolve step 1–3: gradient ascent on feature maps, from random starts,
//! for (class, restart) work items grouped into lanes.
mod params;
mod run_lane;
mod start;
pub mod work_items;

pub use params::{AscentParams, Init, Keep, ValidAscentParams};
pub use run_lane::{run_lane, ItemResult};
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
