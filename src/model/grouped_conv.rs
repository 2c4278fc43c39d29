//! Grouped (and depthwise) convolutions, whose kernel is widened to a full
//! one with zeros between the groups: Borzoi's separable convolution (ONNX),
//! LegNet's depthwise ones (Keras `groups`). A zero weight adds an exact 0.0
//! to the sum, so this gives the grouped convolution's values with the
//! engine's one Conv1D kernel.

/// The (f, cin_g, k) kernel of a `group`-way convolution as a (f, cin_g·group, k)
/// one: filter o reads only its group's channels.
pub(crate) fn grouped_to_full(
    w: &[f32],
    f: usize,
    cin_g: usize,
    k: usize,
    group: usize,
) -> Vec<f32> {
    if group == 1 {
        return w.to_vec();
    }
    let cin = cin_g * group;
    let per = f / group;
    let mut full = vec![0.0; f * cin * k];
    for o in 0..f {
        let g = o / per;
        for j in 0..cin_g {
            let src = &w[(o * cin_g + j) * k..(o * cin_g + j + 1) * k];
            let c = g * cin_g + j;
            full[(o * cin + c) * k..(o * cin + c + 1) * k].copy_from_slice(src);
        }
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_kernel_is_block_diagonal() {
        // 4 filters, 2 groups of 2 input channels, k = 1.
        let w: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let full = grouped_to_full(&w, 4, 2, 1, 2);
        #[rustfmt::skip]
        let want = [1.0, 2.0, 0.0, 0.0,
                    3.0, 4.0, 0.0, 0.0,
                    0.0, 0.0, 5.0, 6.0,
                    0.0, 0.0, 7.0, 8.0];
        assert_eq!(full, want);
    }
}
