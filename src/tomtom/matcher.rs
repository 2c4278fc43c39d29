//! The search: every query against every target, every offset, both strands.
use super::column::ColumnScore;
use super::consensus::reverse_complement;
use super::meme::Motif;
use super::null::QueryNull;
use super::qvalue::benjamini_hochberg;

/// The best alignment of one query with one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Indices into the query and target lists.
    pub query: usize,
    pub target: usize,
    /// Target column aligned with query column 0, in the orientation used
    /// (negative: the query starts before the target).
    pub offset: i64,
    /// Aligned columns.
    pub overlap: usize,
    /// Matched against the reverse complement of the target.
    pub rc: bool,
    /// Complete score of the alignment, in discretised units.
    pub score: i64,
    pub p: f64,
    /// p × number of targets.
    pub e: f64,
    /// Benjamini–Hochberg over all query × target pairs.
    pub q: f64,
}

struct Best {
    score: i64,
    offset: i64,
    overlap: usize,
}

/// Best offset of the query (nq columns of `v`) against the target occupying
/// database columns start..start+nt: highest complete score, then the larger
/// overlap, then the first offset.
fn best_offset(v: &[i32], nq: usize, start: usize, nt: usize, sums: &mut Vec<i64>) -> Best {
    sums.clear();
    sums.resize(nt + nq - 1, 0);
    for k in 0..nt {
        let row = &v[(start + k) * nq..(start + k + 1) * nq];
        // Query column i on target column k is offset k − i, slot k − i + nq − 1.
        let out = &mut sums[k..k + nq];
        for (o, &s) in out.iter_mut().zip(row.iter().rev()) {
            *o += s as i64;
        }
    }
    let mut best = Best {
        score: i64::MIN,
        offset: 0,
        overlap: 0,
    };
    for (slot, &s) in sums.iter().enumerate() {
        let o = slot as i64 - (nq as i64 - 1);
        let overlap = ((nq as i64).min(nt as i64 - o) - (-o).max(0)) as usize;
        if s > best.score || (s == best.score && overlap > best.overlap) {
            best = Best {
                score: s,
                offset: o,
                overlap,
            };
        }
    }
    best
}

/// Every (query, target) pair, query-major in input order, with p-, E- and q-values.
pub fn tomtom(queries: &[Motif], targets: &[Motif], dist: ColumnScore) -> Vec<Match> {
    // Database columns: every target forward, then every target reverse-complemented.
    let mut db: Vec<[f64; 4]> = Vec::new();
    let mut starts = Vec::with_capacity(targets.len());
    for t in targets {
        starts.push(db.len());
        db.extend(t.cols.iter().map(|c| dist.prepare(c)));
    }
    let n_fwd = db.len();
    for t in targets {
        db.extend(reverse_complement(&t.cols).iter().map(|c| dist.prepare(c)));
    }
    // Queries are independent: split them over the cores, in input order.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(queries.len().div_ceil(8))
        .max(1);
    let chunk = queries.len().div_ceil(threads).max(1);
    let (db, starts) = (&db, &starts);
    let mut out: Vec<Match> = std::thread::scope(|sc| {
        let handles: Vec<_> = queries
            .chunks(chunk)
            .enumerate()
            .map(|(c, qs)| {
                sc.spawn(move || {
                    let mut out = Vec::with_capacity(qs.len() * targets.len());
                    for (k, q) in qs.iter().enumerate() {
                        match_query(c * chunk + k, q, targets, db, starts, n_fwd, dist, &mut out);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a matching thread panicked"))
            .collect()
    });
    let p: Vec<f64> = out.iter().map(|m| m.p).collect();
    for (m, q) in out.iter_mut().zip(benjamini_hochberg(&p)) {
        m.q = q;
    }
    out
}

/// For each query, its match with the smallest p-value (the first target on a tie).
pub fn best_per_query(all: &[Match], n_queries: usize) -> Vec<Option<&Match>> {
    let mut best: Vec<Option<&Match>> = vec![None; n_queries];
    for m in all {
        let b = &mut best[m.query];
        if b.is_none_or(|x| m.p < x.p) {
            *b = Some(m);
        }
    }
    best
}

/// The matches of query `qi` with every target, appended to `out`.
#[allow(clippy::too_many_arguments)]
fn match_query(
    qi: usize,
    q: &Motif,
    targets: &[Motif],
    db: &[[f64; 4]],
    starts: &[usize],
    n_fwd: usize,
    dist: ColumnScore,
    out: &mut Vec<Match>,
) {
    let mut sums = Vec::new();
    let qc: Vec<[f64; 4]> = q.cols.iter().map(|c| dist.prepare(c)).collect();
    let null = QueryNull::new(&qc, db, dist);
    let nq = qc.len();
    for (ti, t) in targets.iter().enumerate() {
        let nt = t.width();
        let f = best_offset(&null.v, nq, starts[ti], nt, &mut sums);
        let r = best_offset(&null.v, nq, n_fwd + starts[ti], nt, &mut sums);
        let rc = r.score > f.score;
        let b = if rc { r } else { f };
        // Both strands have the same null, so the better score has the smaller
        // p-value; the two strands are then corrected for as two tries.
        let p1 = null.p_value(nt, b.score);
        let p = (p1 * (2.0 - p1)).clamp(0.0, 1.0);
        out.push(Match {
            query: qi,
            target: ti,
            offset: b.offset,
            overlap: b.overlap,
            rc,
            score: b.score,
            p,
            e: p * targets.len() as f64,
            q: 1.0,
        });
    }
}
