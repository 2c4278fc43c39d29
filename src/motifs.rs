//! `motifs --model MODEL --results RESULTS.h5 --top N --out motifs.meme`: each
//! class's top-N channels (by OFIV) as position weight matrices in MEME minimal
//! format — only when the channels of the analysed layer are the filters of the
//! first convolution (a Conv1D on the one-hot input followed by nothing but
//! channel-preserving layers).
use crate::model::{Keras1Backend, LayerKind, ModelSpec};
use crate::plot::sanitise;
use crate::results::FinishedRun;
use crate::{Error, Result};
use std::fmt::Write as _;

/// The first-layer convolution whose filters are the channels of the input of
/// layer `layer`: (filters, in_channels, kernel_size, dilation, kernel), or why not.
pub fn first_layer_filters(
    spec: &ModelSpec,
    layer: usize,
) -> std::result::Result<(usize, usize, usize, usize, &[f32]), String> {
    let not = |why: String| {
        Err(format!("the channels of the input of layer {layer} are not first-layer filters ({why}), so they cannot be written as motifs"))
    };
    if layer == 0 || layer > spec.layers.len() {
        return not(format!(
            "layer {layer} is the model input or past its last layer"
        ));
    }
    let LayerKind::Conv1D {
        filters,
        in_channels,
        kernel_size,
        dilation,
        kernel,
        ..
    } = &spec.layers[0].kind
    else {
        return not(format!(
            "layer 0 ({}) is a {}, not a Conv1D",
            spec.layers[0].name,
            spec.layers[0].kind.kind_name()
        ));
    };
    if spec.input_channels != 4 || *in_channels != 4 {
        return not(format!(
            "the model input has {} channels, not the 4 of one-hot DNA",
            spec.input_channels
        ));
    }
    let mut shape = (spec.input_channels, spec.input_width);
    shape = spec.layers[0]
        .kind
        .output_shape(&[shape])
        .map_err(|e| format!("layer 0 ({}): {e}", spec.layers[0].name))?;
    for (i, l) in spec.layers.iter().enumerate().take(layer).skip(1) {
        if l.inputs != [i] {
            return not(format!(
                "layer {i} ({}) does not read the layer before it (the path from the filters to H is not a chain)",
                l.name
            ));
        }
        let ok = match &l.kind {
            LayerKind::Relu { .. }
            | LayerKind::PRelu { .. }
            | LayerKind::Crop { .. }
            | LayerKind::ZeroPad { .. }
            | LayerKind::AvgPool1D { .. }
            | LayerKind::UpSample { .. } => true,
            LayerKind::Activation(_)
            | LayerKind::Dropout
            | LayerKind::BatchNorm { .. }
            | LayerKind::MaxPool1D { .. }
            | LayerKind::GlobalMaxPool1D
            | LayerKind::GlobalAvgPool1D => true,
            // Flatten keeps the channels apart only when there is one position.
            LayerKind::Flatten { .. } => shape.1 == 1,
            _ => false,
        };
        if !ok {
            let what = match &l.kind {
                LayerKind::Flatten { .. } => format!(
                    "layer {i} ({}) flattens {} channels × {} positions",
                    l.name, shape.0, shape.1
                ),
                k => format!(
                    "layer {i} ({}) is a {} that mixes channels",
                    l.name,
                    k.kind_name()
                ),
            };
            return not(what);
        }
        shape = l
            .kind
            .output_shape(&[shape])
            .map_err(|e| format!("layer {i} ({}): {e}", l.name))?;
    }
    Ok((
        *filters,
        *in_channels,
        *kernel_size,
        *dilation,
        kernel.as_slice(),
    ))
}

/// Position weight matrix of filter `f`: (width, 4) rows of A, C, G, T
/// probabilities. Negative weights are clipped to 0 and each column is
/// normalised to sum 1; an all-zero column is uniform. With dilation d the
/// matrix spans d·(kernel_size − 1) + 1 positions, the gaps uniform.
pub fn pwm(
    kernel: &[f32],
    in_channels: usize,
    kernel_size: usize,
    dilation: usize,
    f: usize,
) -> Vec<[f64; 4]> {
    let span = dilation * (kernel_size - 1) + 1;
    let mut m = vec![[0.25f64; 4]; span];
    for j in 0..kernel_size {
        let mut col = [0f64; 4];
        for (a, v) in col.iter_mut().enumerate() {
            *v = (kernel[(f * in_channels + a) * kernel_size + j] as f64).max(0.0);
        }
        let s: f64 = col.iter().sum();
        m[j * dilation] = if s > 0.0 {
            col.map(|v| v / s)
        } else {
            [0.25; 4]
        };
    }
    m
}

/// The MEME file for every class of `r`: its top `top` channels.
pub fn meme(spec: &ModelSpec, r: &FinishedRun, top: usize) -> Result<String> {
    let layer = r
        .layer_index
        .ok_or_else(|| Error::results(&r.path, "has no layer_index attribute"))?;
    let (filters, in_channels, kernel_size, dilation, kernel) =
        first_layer_filters(spec, layer as usize)
            .map_err(|why| Error::Input(format!("{}: {why}", r.path.display())))?;
    if filters != r.k {
        return Err(Error::Input(format!(
            "{} has {} channels but the model's first convolution has {filters} filters: is it the model the results were made with ({})?",
            r.path.display(),
            r.k,
            r.model
        )));
    }
    let mut s = String::new();
    s.push_str("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n");
    let top = top.min(r.k);
    for ci in 0..r.c {
        let name = sanitise(&r.names[ci]);
        for (ri, &ch) in r.rank_row(ci).iter().take(top).enumerate() {
            let m = pwm(kernel, in_channels, kernel_size, dilation, ch);
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
    Ok(s)
}

/// What `motifs` writes, from which model and results file.
#[derive(Debug, Clone, PartialEq)]
pub struct MotifsOptions {
    pub model: std::path::PathBuf,
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
    if args.top == 0 {
        return Err(Error::Input("--top must be at least 1".into()));
    }
    let r = FinishedRun::read(&args.results)?;
    let spec = crate::model::load_model_with_weights(
        &args.model,
        args.weights.as_deref(),
        args.keras1_backend,
    )?;
    let text = meme(&spec, &r, args.top)?;
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
        r.c * args.top.min(r.k),
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
        for (ri, &ch) in r.rank_row(ci).iter().take(top.min(r.k)).enumerate() {
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
