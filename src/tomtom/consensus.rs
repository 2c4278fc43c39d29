//! One-letter consensus of a motif: the most probable base of each column.

/// The most probable of A, C, G, T in each column (the first on a tie).
pub fn consensus(cols: &[[f64; 4]]) -> String {
    cols.iter()
        .map(|c| {
            let best = (1..4).fold(0, |b, a| if c[a] > c[b] { a } else { b });
            b"ACGT"[best] as char
        })
        .collect()
}

/// The reverse complement of a matrix: columns reversed, A↔T and C↔G.
pub fn reverse_complement(cols: &[[f64; 4]]) -> Vec<[f64; 4]> {
    cols.iter()
        .rev()
        .map(|c| [c[3], c[2], c[1], c[0]])
        .collect()
}
