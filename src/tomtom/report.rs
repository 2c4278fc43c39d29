//! TOMTOM's tab-separated table.
use super::consensus::{consensus, reverse_complement};
use super::matcher::Match;
use super::meme::Motif;
use std::fmt::Write as _;

pub const HEADER: &str = "Query_ID\tTarget_ID\tOptimal_offset\tp-value\tE-value\tq-value\tOverlap\tQuery_consensus\tTarget_consensus\tOrientation";

/// A number as C's `%g` prints it (6 significant digits), as TOMTOM writes them.
pub fn g6(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    // `{:e}` rounds first, so a carry into the next power of ten sets the exponent.
    let sci = format!("{:.5e}", x);
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if (-4..6).contains(&exp) {
        let decimals = (5 - exp) as usize;
        trim(format!("{:.*}", decimals, x))
    } else {
        format!(
            "{}e{}{:02}",
            trim(mant.to_string()),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

/// The table of `rows`: per query in input order, by p-value, then target order.
pub fn tsv(rows: &[&Match], queries: &[Motif], targets: &[Motif]) -> String {
    let mut rows: Vec<&Match> = rows.to_vec();
    rows.sort_by(|a, b| {
        a.query
            .cmp(&b.query)
            .then(a.p.total_cmp(&b.p))
            .then(a.target.cmp(&b.target))
    });
    let qcons: Vec<String> = queries.iter().map(|q| consensus(&q.cols)).collect();
    let mut s = String::with_capacity(64 * (rows.len() + 1));
    s.push_str(HEADER);
    s.push('\n');
    for m in rows {
        let t = &targets[m.target];
        let tcons = if m.rc {
            consensus(&reverse_complement(&t.cols))
        } else {
            consensus(&t.cols)
        };
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            queries[m.query].id,
            t.id,
            m.offset,
            g6(m.p),
            g6(m.e),
            g6(m.q),
            m.overlap,
            qcons[m.query],
            tcons,
            if m.rc { '-' } else { '+' }
        );
    }
    s
}
