//! A scorer's maps (the activations, or the gradients) of a batch, one
//! slot per tensor, in buffers that slots never alive together may share:
//! a dilated tower then cycles through two maps per item, which stay in
//! cache, instead of writing a fresh one per layer.
use std::ops::{Index, IndexMut};

#[derive(Debug, Default)]
pub(crate) struct SlotMaps {
    /// Slot → the slot that owns its buffer (itself, or a slot it shares with).
    owner: Vec<usize>,
    /// Each owner's buffer (empty for the slots that own none, and slot 0:
    /// H is the caller's).
    bufs: Vec<Vec<f32>>,
}

impl SlotMaps {
    /// Buffers for slots whose `owner` is given, each long enough for
    /// `capacity` maps of the largest slot sharing it (`sizes`: K·W per
    /// slot). A buffer whose length does not change is kept as it is.
    pub fn lay_out(&mut self, owner: &[usize], sizes: &[usize], capacity: usize) {
        let mut len = vec![0; sizes.len()];
        for (s, &o) in owner.iter().enumerate().skip(1) {
            len[o] = len[o].max(capacity * sizes[s]);
        }
        self.bufs.resize(sizes.len(), Vec::new());
        for (buf, &n) in self.bufs.iter_mut().zip(&len) {
            if buf.len() != n {
                *buf = vec![0.0; n];
            }
        }
        self.owner = owner.to_vec();
    }

    /// Floats held, over every buffer.
    pub fn floats(&self) -> usize {
        self.bufs.iter().map(Vec::len).sum()
    }
}

impl Index<usize> for SlotMaps {
    type Output = Vec<f32>;
    fn index(&self, slot: usize) -> &Vec<f32> {
        &self.bufs[self.owner[slot]]
    }
}

impl IndexMut<usize> for SlotMaps {
    fn index_mut(&mut self, slot: usize) -> &mut Vec<f32> {
        &mut self.bufs[self.owner[slot]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_slots_hold_one_buffer_of_the_largest_map() {
        let mut m = SlotMaps::default();
        // Slot 3 shares slot 1's buffer; 1 holds 10 floats per item, 3 holds 6.
        m.lay_out(&[0, 1, 2, 1], &[4, 10, 8, 6], 2);
        assert_eq!((m[1].len(), m[2].len(), m[3].len()), (20, 16, 20));
        assert_eq!(m.floats(), 36);
        m[3][0] = 7.0;
        assert_eq!(m[1][0], 7.0);
        // Apart again: each its own, the data of slot 1 kept.
        m.lay_out(&[0, 1, 2, 3], &[4, 10, 8, 6], 2);
        assert_eq!((m[1][0], m[3].len(), m.floats()), (7.0, 12, 48));
    }
}
