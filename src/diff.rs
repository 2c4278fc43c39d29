//! `diff RESULTS.h5 CLASS_A CLASS_B`: the class difference map of the paper,
//! D = OFIV_A − OFIV_B, as a table of channels sorted by D (highest first).
use crate::channels::notes::ChannelNotes;
use crate::results::FinishedRun;
use crate::Result;
use std::fmt::Write as _;

/// One channel of the difference map.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    pub channel: usize,
    pub d: f32,
    pub ofiv_a: f32,
    pub ofiv_b: f32,
    pub nonadditive_a: bool,
    pub nonadditive_b: bool,
}

/// The K channels sorted by D, highest first (ties by channel index); a
/// channel whose D is not a finite number (an OFIV masked by
/// results::bad_values) is left out.
pub fn difference(r: &FinishedRun, a: usize, b: usize) -> Vec<DiffRow> {
    let (oa, ob) = (r.ofiv_row(a), r.ofiv_row(b));
    let (na, nb) = (r.nonadditive_row(a), r.nonadditive_row(b));
    let mut rows: Vec<DiffRow> = (0..r.k)
        .map(|k| DiffRow {
            channel: k,
            d: oa[k] - ob[k],
            ofiv_a: oa[k],
            ofiv_b: ob[k],
            nonadditive_a: na[k] != 0,
            nonadditive_b: nb[k] != 0,
        })
        .filter(|row| row.d.is_finite())
        .collect();
    rows.sort_by(|x, y| y.d.total_cmp(&x.d).then(x.channel.cmp(&y.channel)));
    rows
}

fn class_label(r: &FinishedRun, p: usize) -> String {
    let (i, n) = (r.index[p], &r.names[p]);
    if *n == i.to_string() {
        format!("class {i}")
    } else {
        format!("class {i} ({n})")
    }
}

/// The table `diff` prints.
pub fn render(r: &FinishedRun, a: usize, b: usize, top: usize) -> String {
    render_with(r, a, b, top, None)
}

/// [`render`], with a `motif` column naming each channel's motif when `notes`
/// (a channels file of the run's layer) is given.
pub fn render_with(
    r: &FinishedRun,
    a: usize,
    b: usize,
    top: usize,
    notes: Option<&ChannelNotes>,
) -> String {
    let rows = difference(r, a, b);
    let k = rows.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# D = OFIV_A - OFIV_B, A = {}, B = {}",
        class_label(r, a),
        class_label(r, b)
    );
    let _ = writeln!(
        s,
        "# {} (layer {}), {k} channels{}, sorted by D, highest first",
        r.path.display(),
        r.layer,
        if k < r.k {
            format!(" ({} left out: an OFIV that is not a number)", r.k - k)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "# nonadditive: A/B = channel is non-additive in class A/B, - = additive in both"
    );
    let mut header = format!(
        "{:>6} {:>8} {:>14} {:>14} {:>14} {:>11}",
        "row", "channel", "D", "OFIV_A", "OFIV_B", "nonadditive"
    );
    if notes.is_some() {
        header.push_str("  motif");
    }
    // Four significant digits: enough to order and compare channels by eye;
    // the file holds the full values.
    let sig = |v: f32| crate::numbers::sig(v as f64, 4);
    let line = |s: &mut String, i: usize, x: &DiffRow| {
        let flags = match (x.nonadditive_a, x.nonadditive_b) {
            (true, true) => "A,B",
            (true, false) => "A",
            (false, true) => "B",
            (false, false) => "-",
        };
        let _ = write!(
            s,
            "{:>6} {:>8} {:>14} {:>14} {:>14} {:>11}",
            i + 1,
            x.channel,
            sig(x.d),
            sig(x.ofiv_a),
            sig(x.ofiv_b),
            flags
        );
        if let Some(n) = notes {
            let _ = write!(s, "  {}", n.describe(x.channel));
        }
        s.push('\n');
    };
    let _ = writeln!(s, "{header}");
    if 2 * top >= k {
        for (i, x) in rows.iter().enumerate() {
            line(&mut s, i, x);
        }
    } else {
        let _ = writeln!(s, "# top {top} (higher in A)");
        for (i, x) in rows.iter().enumerate().take(top) {
            line(&mut s, i, x);
        }
        let _ = writeln!(s, "# ... {} channels not shown ...", k - 2 * top);
        let _ = writeln!(s, "# bottom {top} (higher in B)");
        for (i, x) in rows.iter().enumerate().skip(k - top) {
            line(&mut s, i, x);
        }
    }
    s
}

/// What `diff` compares.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffOptions {
    pub results: std::path::PathBuf,
    /// Classes by output index or name.
    pub class_a: String,
    pub class_b: String,
    /// Rows shown at each end of the table.
    pub top: usize,
    /// A finished `channels` file of the run's layer: a motif column.
    pub channels_file: Option<std::path::PathBuf>,
    /// A MEME database naming those motifs by their best match.
    pub match_db: Option<std::path::PathBuf>,
}

impl DiffOptions {
    pub const DEFAULT_TOP: usize = 10;
}

pub fn diff(args: &DiffOptions) -> Result<()> {
    let mut r = FinishedRun::read(&args.results)?;
    use crate::results::layout::ANALYSIS_OFIV;
    crate::results::bad_values::warn_and_mask_of(&mut r, &[ANALYSIS_OFIV], "the table");
    let a = r.find_class(&args.class_a)?;
    let b = r.find_class(&args.class_b)?;
    if args.top == 0 {
        return Err(crate::Error::Input("--top must be at least 1".into()));
    }
    if args.match_db.is_some() && args.channels_file.is_none() {
        return Err(crate::Error::Input(
            "--match DB names the motifs of a channels file: give --channels-file CH.h5 too".into(),
        ));
    }
    let notes = ChannelNotes::for_run(args.channels_file.as_deref(), args.match_db.as_deref(), &r)?;
    print!("{}", render_with(&r, a, b, args.top, notes.as_ref()));
    Ok(())
}
