//! Work items and lanes.
//!
//! A work item is one restart t of one class c. Items are grouped into fixed
//! lanes of consecutive items; a lane is always run as one refilled batch by
//! one process. BLAS gives bitwise different rows for different batch shapes,
//! so fixing which items share a batch (and in which order they enter it) is
//! what makes every result identical for any number of ranks. Lanes are also
//! the unit that ranks ask for, and that the results file marks done.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Position of the class in the run's class list (row of the results arrays).
    pub class_pos: usize,
    /// Output unit of the model.
    pub class: usize,
    pub restart: usize,
}

impl Item {
    /// Flat index in the (C, T) arrays of the results file.
    pub fn index(&self, restarts: usize) -> usize {
        self.class_pos * restarts + self.restart
    }
}

/// All items of a run, class-major.
pub fn items(classes: &[usize], restarts: usize) -> Vec<Item> {
    classes
        .iter()
        .enumerate()
        .flat_map(|(class_pos, &class)| {
            (0..restarts).map(move |restart| Item {
                class_pos,
                class,
                restart,
            })
        })
        .collect()
}

/// Lane `j` holds items `j·len .. (j+1)·len`.
pub fn lane_ranges(n_items: usize, lane_len: usize) -> Vec<std::ops::Range<usize>> {
    (0..n_items.div_ceil(lane_len))
        .map(|j| j * lane_len..((j + 1) * lane_len).min(n_items))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn items_are_class_major_and_lanes_cover_them_once() {
        let it = items(&[4, 9], 3);
        assert_eq!(it.len(), 6);
        assert_eq!(
            it[4],
            Item {
                class_pos: 1,
                class: 9,
                restart: 1
            }
        );
        assert_eq!(it[4].index(3), 4);
        let l = lane_ranges(10, 4);
        assert_eq!(l, vec![0..4, 4..8, 8..10]);
    }
}
