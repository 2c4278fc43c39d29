//! `motifs --model MODEL --results RESULTS.h5 --top N --out motifs.meme`: each
//! class's top-N channels (by OFIV) as position weight matrices in MEME minimal
//! format — only when the channels of the analysed layer are the filters of the
//! first convolution (a Conv1D on the one-hot input followed by nothing but
//! channel-preserving layers), or at any layer the channels' motifs of a
//! `channels` file (`--channels-file`).
use crate::classes::sanitise;
// The filter helpers live below both this module and `plot` (which draws them as logos).
pub use crate::filters::{first_layer_filters, pwm};
use crate::model::{Keras1Backend, ModelSpec};
use crate::results::FinishedRun;
use crate::{Error, Result};
use std::fmt::Write as _;

/// The MEME file for every class of `r`: its top `top` channels, as the
/// model's first-layer filters.
pub fn meme(spec: &ModelSpec, r: &FinishedRun, top: usize) -> Result<String> {
    let layer = r
        .layer_index
        .ok_or_else(|| Error::results(&r.path, "has no layer_index attribute"))?;
    let (filters, in_channels, kernel_size, dilation, kernel) =
        first_layer_filters(spec, layer as usize)
            .map_err(|why| {
                Error::Input(format!(
                    "{}: {why} (at any layer: make a channels file with `channels --layer {}` and give `motifs --channels-file`)",
                    r.path.display(),
                    r.layer
                ))
            })?;
    if filters != r.k {
        return Err(Error::Input(format!(
            "{} has {} channels but the model's first convolution has {filters} filters: is it the model the results were made with ({})?",
            r.path.display(),
            r.k,
            r.model
        )));
    }
    Ok(meme_of(r, top, |ch| {
        pwm(kernel, in_channels, kernel_size, dilation, ch)
    }))
}

/// The MEME file for every class of `r`: its top `top` channels, channel
/// `ch`'s matrix given by `pwm_of(ch)` (rows of A, C, G, T).
pub fn meme_of(r: &FinishedRun, top: usize, pwm_of: impl Fn(usize) -> Vec<[f64; 4]>) -> String {
    let mut s = String::new();
    s.push_str("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n");
    let top = top.min(r.k);
    for ci in 0..r.c {
        let name = sanitise(&r.names[ci]);
        for &(ri, ch) in &r.top_channels(ci, top) {
            let m = pwm_of(ch);
            let _ = writeln!(s, "MOTIF {name}_rank{}_ch{ch}", ri + 1);
            let _ = writeln!(
                s,
                "letter-probability matrix: alength= 4 w= {} nsites= 20 E= 0",
                m.len()
            );
            for col in &m {
                let _ = writeln!(
                    s,
                    " {:.6} {:.6} {:.6} {:.6}",
                    col[0], col[1], col[2], col[3]
                );
            }
            s.push('\n');
        }
    }
    s
}

/// What `motifs` writes, from which model and results file.
#[derive(Debug, Clone, PartialEq)]
pub struct MotifsOptions {
    /// The model whose first-layer filters are the channels…
    pub model: Option<std::path::PathBuf>,
    /// …or a finished `channels` file of the run's layer (any layer).
    pub channels_file: Option<std::path::PathBuf>,
    pub results: std::path::PathBuf,
    /// Channels per class.
    pub top: usize,
    pub out: std::path::PathBuf,
    pub keras1_backend: Option<Keras1Backend>,
    /// A MEME motif database: name each top channel's best known motif.
    pub match_db: Option<std::path::PathBuf>,
    /// The weights of an architecture-only model file.
    pub weights: Option<std::path::PathBuf>,
}

impl MotifsOptions {
    pub const DEFAULT_TOP: usize = 5;
}

pub fn motifs(args: &MotifsOptions) -> Result<()> {
    crate::results::out_guard::check_optional(
        "--out",
        Some(&args.out),
        &[
            ("the results file", Some(&args.results)),
            ("--model", args.model.as_deref()),
            ("--channels-file", args.channels_file.as_deref()),
            ("--match", args.match_db.as_deref()),
            ("--weights", args.weights.as_deref()),
        ],
    )?;
    if args.top == 0 {
        return Err(Error::Input("--top must be at least 1".into()));
    }
    let mut r = FinishedRun::read(&args.results)?;
    use crate::results::layout::ANALYSIS_OFIV;
    crate::results::bad_values::warn_and_mask_of(&mut r, &[ANALYSIS_OFIV], "the motifs");
    let text = match (&args.channels_file, &args.model) {
        (Some(p), None) => {
            let n = crate::channels::notes::ChannelNotes::read(p, None)?;
            n.check_fits(&r)?;
            meme_of(&r, args.top, |ch| n.pwms[ch].clone())
        }
        (None, Some(model)) => {
            let spec = crate::model::load_model_with_weights(
                model,
                args.weights.as_deref(),
                args.keras1_backend,
            )?;
            meme(&spec, &r, args.top)?
        }
        _ => {
            return Err(Error::Input(
                "motifs needs --model MODEL (first-layer filters) or --channels-file CH.h5 (any layer), one of them".into(),
            ))
        }
    };
    // Read the database before writing anything, so a bad one fails cleanly.
    let db = match &args.match_db {
        Some(p) => Some(crate::tomtom::read_meme(p)?),
        None => None,
    };
    std::fs::write(&args.out, &text)
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", args.out.display())))?;
    if let Some(db) = db {
        print!("{}", match_table(&r, &text, args.top, &db)?);
    }
    eprintln!(
        "deepresolve-mpi: wrote {} motifs ({} classes × top {}) to {}",
        (0..r.c)
            .map(|ci| r.top_channels(ci, args.top).len())
            .sum::<usize>(),
        r.c,
        args.top.min(r.k),
        args.out.display()
    );
    Ok(())
}

/// `motifs --match DB`: each class's top channels (in the MEME file's order)
/// with the database motif of smallest TOMTOM p-value (Pearson columns; q-values
/// by Benjamini–Hochberg over every channel × database pair).
fn match_table(
    r: &FinishedRun,
    text: &str,
    top: usize,
    db: &[crate::tomtom::Motif],
) -> Result<String> {
    use crate::tomtom::{best_per_query, parse_meme, report::g6, tomtom, ColumnScore};
    let queries = parse_meme(text, "the motifs written")?;
    let all = tomtom(&queries, db, ColumnScore::Pearson);
    let best = best_per_query(&all, queries.len());
    let mut s = String::from(
        "class\trank\tchannel\tbest_match\tmatch_name\tp-value\tq-value\torientation\n",
    );
    let mut qi = 0;
    for ci in 0..r.c {
        for &(ri, ch) in &r.top_channels(ci, top) {
            if let Some(m) = best[qi] {
                let t = &db[m.target];
                let _ = writeln!(
                    s,
                    "{}\t{}\t{ch}\t{}\t{}\t{}\t{}\t{}",
                    r.names[ci],
                    ri + 1,
                    t.id,
                    t.alt.as_deref().unwrap_or("-"),
                    g6(m.p),
                    g6(m.q),
                    if m.rc { '-' } else { '+' }
                );
            }
            qi += 1;
        }
    }
    Ok(s)
}
