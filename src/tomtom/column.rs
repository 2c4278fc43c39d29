//! Similarity of one query column with one target column (higher is better).

/// The column similarity: TOMTOM's `-dist pcc` (its default) or `-dist ed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnScore {
    /// Pearson correlation of the four probabilities; 0 when either column is
    /// constant (a uniform column has no correlation with anything).
    Pearson,
    /// Euclidean distance of the two columns, negated so that higher is better.
    Ed,
}

impl ColumnScore {
    pub fn name(self) -> &'static str {
        match self {
            ColumnScore::Pearson => "pearson",
            ColumnScore::Ed => "ed",
        }
    }

    /// The form a column is kept in so that [`ColumnScore::score`] is one dot
    /// product or one distance: centred and scaled to unit length for Pearson
    /// (all zero when constant), as is for Euclidean distance.
    pub fn prepare(self, col: &[f64; 4]) -> [f64; 4] {
        match self {
            ColumnScore::Ed => *col,
            ColumnScore::Pearson => {
                let mean = col.iter().sum::<f64>() / 4.0;
                let c = col.map(|v| v - mean);
                let n = c.iter().map(|v| v * v).sum::<f64>().sqrt();
                if n > 1e-12 {
                    c.map(|v| v / n)
                } else {
                    [0.0; 4]
                }
            }
        }
    }

    /// Score of two prepared columns.
    #[inline]
    pub fn score(self, x: &[f64; 4], y: &[f64; 4]) -> f64 {
        match self {
            ColumnScore::Pearson => x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3],
            ColumnScore::Ed => {
                let d: f64 = (0..4).map(|a| (x[a] - y[a]) * (x[a] - y[a])).sum();
                -d.sqrt()
            }
        }
    }
}
