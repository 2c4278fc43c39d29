//! `plot RESULTS.h5 --out DIR [--classes LIST]`: the paper's figures, each as
//! SVG and PNG.
//!
//! - `class_<index>_<name>`: one row of circles per restart (φ_k^t), the IL row
//!   and the OFIV row, channels ordered by OFIV, non-additive channels starred
//!   (the paper's Fig. 2 view);
//! - `ofiv_<index>_<name>`: the class's OFIV as bars, in the same order;
//! - `similarity`: the class-similarity heatmap in dendrogram leaf order with
//!   the average-linkage dendrogram above and beside it (Figs. 7 and 9).
//!
//! With `--model`, the class figures get the logo of each column's
//! first-layer filter; `--logos` draws only a sheet of logos; and a `channels`
//! results file gets `channels_logos`, the logo sheet of its channels' PWMs.
//!
//! Text is set in DejaVu Sans, compiled in, so no system font is needed.
pub mod bars;
pub mod class_figure;
pub mod heatmap;
pub mod logo;

pub use crate::classes::sanitise;
use crate::results::FinishedRun;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform};
use std::path::{Path, PathBuf};

/// Per-class figures drawn by default at most (more only with `--classes`).
pub const DEFAULT_MAX_CLASSES: usize = 50;

static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

pub(crate) const RED: RGBColor = RGBColor(214, 39, 40);
pub(crate) const BLUE: RGBColor = RGBColor(31, 119, 180);
pub(crate) const PURPLE: RGBColor = RGBColor(117, 112, 179);
pub(crate) const GOLD: RGBColor = RGBColor(230, 159, 0);
pub(crate) const GREY: RGBColor = RGBColor(120, 120, 120);
pub(crate) const LIGHT: RGBColor = RGBColor(225, 225, 225);

/// Font sizes of titles and of all other text.
pub(crate) const TITLE: f64 = 18.0;
pub(crate) const SMALL: f64 = 12.0;

/// Register the compiled-in font for every family and style plotters asks for.
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            for style in [
                FontStyle::Normal,
                FontStyle::Bold,
                FontStyle::Italic,
                FontStyle::Oblique,
            ] {
                // The bytes are a valid TTF (tested): an error here cannot happen.
                let _ = plotters::style::register_font(family, style, FONT);
            }
        }
    });
}

/// A figure that can be drawn on any plotters backend.
pub trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draw `fig` to `dir/stem.svg` and `dir/stem.png`; returns both paths.
pub fn save(fig: &impl Figure, dir: &Path, stem: &str) -> Result<[PathBuf; 2]> {
    register_fonts();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    let err = |p: &Path, e: String| Error::Input(format!("cannot draw {}: {e}", p.display()));
    // A FIFO or device under a figure's name would hang or be written to.
    for p in [&svg, &png] {
        crate::results::out_guard::check_output("--out", p, &[])?;
    }
    {
        let area = SVGBackend::new(&svg, fig.size()).into_drawing_area();
        area.fill(&WHITE).map_err(|e| err(&svg, e.to_string()))?;
        fig.draw(&area).map_err(|e| err(&svg, e.to_string()))?;
        area.present().map_err(|e| err(&svg, e.to_string()))?;
    }
    {
        let area = BitMapBackend::new(&png, fig.size()).into_drawing_area();
        area.fill(&WHITE).map_err(|e| err(&png, e.to_string()))?;
        fig.draw(&area).map_err(|e| err(&png, e.to_string()))?;
        area.present().map_err(|e| err(&png, e.to_string()))?;
    }
    Ok([svg, png])
}

pub(crate) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
}

/// Width of `s` in pixels at `size`.
pub(crate) fn text_width(s: &str, size: f64) -> i32 {
    register_fonts();
    font(size)
        .box_size(s)
        .map(|(w, _)| w as i32)
        .unwrap_or((s.chars().count() as f64 * size * 0.6) as i32)
}

/// Draw `s` anchored at (x, y); `vertical` reads bottom to top.
#[allow(clippy::too_many_arguments)]
pub(crate) fn text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    (x, y): (i32, i32),
    size: f64,
    h: HPos,
    v: VPos,
    vertical: bool,
    color: &RGBColor,
) -> DrawResult<DB> {
    let mut f = font(size);
    if vertical {
        f = f.transform(FontTransform::Rotate270);
    }
    let style = TextStyle::from(f).color(color).pos(Pos::new(h, v));
    area.draw(&Text::new(s.to_string(), (x, y), style))
}

/// Horizontal text starting at (x, y) and centred on y.
pub(crate) fn label<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    pos: (i32, i32),
    size: f64,
    color: &RGBColor,
) -> DrawResult<DB> {
    text(area, s, pos, size, HPos::Left, VPos::Center, false, color)
}

/// Title and grey subtitle, in the same place on every hand-laid figure.
pub(crate) fn header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> DrawResult<DB> {
    label(area, title, (20, 22), TITLE, &BLACK)?;
    label(area, subtitle, (20, 46), SMALL, &GREY)
}

/// A label hanging below (x, y); `vertical` turns it to read upwards so that
/// narrow columns can still be labelled.
pub(crate) fn axis_label<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    pos: (i32, i32),
    size: f64,
    vertical: bool,
) -> DrawResult<DB> {
    if vertical {
        text(area, s, pos, size, HPos::Right, VPos::Center, true, &BLACK)
    } else {
        text(area, s, pos, size, HPos::Center, VPos::Top, false, &BLACK)
    }
}

/// Red for positive values, blue for negative (NaN counts as negative).
pub(crate) fn sign_color(v: f64) -> RGBColor {
    if v >= 0.0 {
        RED
    } else {
        BLUE
    }
}

/// A five-pointed star centred at (x, y) with outer radius r.
pub(crate) fn star(x: i32, y: i32, r: f64) -> Vec<(i32, i32)> {
    (0..10)
        .map(|i| {
            let a = std::f64::consts::PI * (i as f64) / 5.0 - std::f64::consts::FRAC_PI_2;
            let rr = if i % 2 == 0 { r } else { r * 0.45 };
            (
                x + (rr * a.cos()).round() as i32,
                y + (rr * a.sin()).round() as i32,
            )
        })
        .collect()
}

/// Every `step`-th of n labels, step chosen so labels `pitch` pixels apart
/// need at least `need` pixels each.
pub(crate) fn label_step(pitch: f64, need: f64) -> usize {
    if pitch <= 0.0 {
        return 1;
    }
    ((need / pitch).ceil() as usize).max(1)
}

/// Shorten a label to at most `max` characters.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub(crate) fn class_title(r: &FinishedRun, ci: usize) -> String {
    let (i, n) = (r.index[ci], &r.names[ci]);
    let title = if *n == i.to_string() {
        format!("class {i}")
    } else {
        format!("class {i}: {n}")
    };
    match r.flag_words(ci) {
        f if f.is_empty() => title,
        f => format!("{title} [{f}]"),
    }
}

/// What `plot` draws, from which file, into which directory.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    pub results: PathBuf,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Classes to draw per-class figures for (default: all, at most [`DEFAULT_MAX_CLASSES`]).
    pub classes: Option<String>,
    /// Columns of the class figures (`--channels N|all`).
    pub channels: class_figure::Channels,
    /// Cluster boundaries on the similarity figure: `--cut H` or `--k N`
    /// (SciPy's fcluster "distance" / "maxclust", as the `clusters` command).
    pub cut: Option<f64>,
    pub k: Option<usize>,
    /// Sub-matrix of the classes whose names match these regular expressions
    /// (`--rows`, `--cols`; one alone means the same set both ways).
    pub rows: Option<String>,
    pub cols: Option<String>,
    /// Sub-matrix of one cluster of the cut (`--cluster ID`).
    pub cluster: Option<usize>,
    /// `--logos`: draw only the logo sheet of each class's top channels
    /// (first-layer filters of `model`), matched against `match_db` if given.
    /// Without it, `model` puts those logos above the class figures' columns
    /// (and `match_db` names their best matches under them). A `channels`
    /// file instead of a results file gets its logo sheet
    /// ([`logo::plot_channels`]), matched against `match_db` if given.
    pub logos: bool,
    pub model: Option<PathBuf>,
    pub weights: Option<PathBuf>,
    pub match_db: Option<PathBuf>,
    /// A finished `channels` file of the run's layer: its channels' motifs
    /// above the class figures' columns, at any layer (instead of `model`).
    pub channels_file: Option<PathBuf>,
}

impl PlotOptions {
    /// `plot RESULTS --out DIR` with every other option at its default.
    pub fn new(results: PathBuf, out: PathBuf) -> PlotOptions {
        PlotOptions {
            results,
            out,
            classes: None,
            channels: class_figure::Channels::Auto,
            cut: None,
            k: None,
            rows: None,
            cols: None,
            cluster: None,
            logos: false,
            model: None,
            weights: None,
            match_db: None,
            channels_file: None,
        }
    }
}

/// Class positions whose names match `pat` (a `regex` crate expression, matched
/// anywhere in the name: anchor it with ^…$).
pub fn match_classes(r: &FinishedRun, opt: &str, pat: &str) -> Result<Vec<usize>> {
    let re = regex::Regex::new(pat)
        .map_err(|e| Error::Input(format!("{opt} {pat:?} is not a regular expression: {e}")))?;
    let hits: Vec<usize> = (0..r.c).filter(|&p| re.is_match(&r.names[p])).collect();
    if hits.is_empty() {
        let shown: Vec<&str> = r.names.iter().take(8).map(String::as_str).collect();
        return Err(Error::Input(format!(
            "{opt} {pat:?} matches no class name of {} (names such as {}{})",
            r.path.display(),
            shown.join(", "),
            if r.c > 8 { ", …" } else { "" }
        )));
    }
    Ok(hits)
}

pub fn plot(args: &PlotOptions) -> Result<()> {
    crate::results::out_guard::check_output_dir(
        "--out",
        &args.out,
        &[
            ("the results file", Some(&args.results)),
            ("--model", args.model.as_deref()),
            ("--weights", args.weights.as_deref()),
            ("--match", args.match_db.as_deref()),
            ("--channels-file", args.channels_file.as_deref()),
        ],
        &["svg", "png"],
    )?;
    if crate::channels::file::is_channels_file(&args.results) {
        return logo::plot_channels(args);
    }
    let mut r = FinishedRun::read(&args.results)?;
    crate::results::bad_values::warn_and_mask(&mut r, "the figures");
    if args.logos {
        return logo::plot_logos(args, &r);
    }
    if args.channels_file.is_some() && (args.model.is_some() || args.logos) {
        return Err(Error::Input(
            "--channels-file draws the channels file's motifs above the class figures' columns: give it or --model/--logos, not both".into(),
        ));
    }
    if args.match_db.is_some() && args.model.is_none() && args.channels_file.is_none() {
        return Err(Error::Input(
            "--match needs --model MODEL (it names the best match of the logos drawn from the model's first-layer filters), --logos --model MODEL or --channels-file CH.h5".into(),
        ));
    }
    if args.cut.is_some() && args.k.is_some() {
        return Err(Error::Input("give --cut H or --k N, not both".into()));
    }
    let cut = if args.cut.is_some() || args.k.is_some() || args.cluster.is_some() {
        Some(crate::clusters::Cut::from_options(args.cut, args.k)?)
    } else {
        None
    };
    // Sub-matrix panels, checked before anything is drawn.
    let mut panels: Vec<(String, heatmap::SimilarityFigure)> = Vec::new();
    if args.rows.is_some() || args.cols.is_some() {
        let rows = match &args.rows {
            Some(p) => Some(match_classes(&r, "--rows", p)?),
            None => None,
        };
        let cols = match &args.cols {
            Some(p) => Some(match_classes(&r, "--cols", p)?),
            None => None,
        };
        let rows = rows.or_else(|| cols.clone()).unwrap_or_default();
        let cols = cols.unwrap_or_else(|| rows.clone());
        let what = match (&args.rows, &args.cols) {
            (Some(a), Some(b)) => format!("rows /{a}/ × columns /{b}/"),
            (Some(a), None) | (None, Some(a)) => format!("classes /{a}/"),
            (None, None) => unreachable!(),
        };
        panels.push((
            "similarity_sub".into(),
            heatmap::SimilarityFigure::sub(&r, &rows, &cols, &what),
        ));
    }
    if let (Some(id), Some(cut)) = (args.cluster, cut) {
        let cl = crate::clusters::Clusters::of(&r, cut);
        let members = cl.members(id).ok_or_else(|| {
            Error::Input(format!(
                "--cluster {id}: {} has clusters 1..{} with {} (see the clusters command)",
                r.path.display(),
                cl.groups.len(),
                cut.describe()
            ))
        })?;
        let what = format!("cluster {id} of {}, {}", cl.groups.len(), cut.describe());
        panels.push((
            format!("similarity_cluster_{id}"),
            heatmap::SimilarityFigure::sub(&r, members, members, &what),
        ));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::Input(format!(
            "cannot create output directory {}: {e}",
            args.out.display()
        ))
    })?;
    let mut n = 0;
    for (stem, fig) in &panels {
        save(fig, &args.out, stem)?;
        n += 1;
    }
    // With only panels asked for, draw only them (unless --classes asks for more).
    if !panels.is_empty() && args.classes.is_none() {
        eprintln!(
            "deepresolve-mpi: wrote {n} sub-matrix figure{} as SVG and PNG to {}",
            if n == 1 { "" } else { "s" },
            args.out.display()
        );
        return Ok(());
    }
    let classes = match &args.classes {
        Some(list) => r.select_classes(list)?,
        None if r.c > DEFAULT_MAX_CLASSES => {
            eprintln!(
                "deepresolve-mpi: {} classes: per-class figures for the first {DEFAULT_MAX_CLASSES} only (choose others with --classes)",
                r.c
            );
            (0..DEFAULT_MAX_CLASSES).collect()
        }
        None => (0..r.c).collect(),
    };
    // --model: logos above the columns, when the channels are first-layer filters.
    let db = match &args.match_db {
        Some(p) => Some(crate::tomtom::read_meme(p)?),
        None => None,
    };
    let logos = match &args.channels_file {
        Some(p) => {
            let n = crate::channels::notes::ChannelNotes::read(p, db.as_deref())?;
            n.check_fits(&r)?;
            Some(class_figure::ColumnLogos::from_notes(&n))
        }
        None => logo::column_logos(args, &r, &classes, db.as_deref())?,
    };
    let mut narrow = 0;
    let mut n = 0;
    for &ci in &classes {
        let stem = format!("{}_{}", r.index[ci], sanitise(&r.names[ci]));
        let mut fig = class_figure::ClassFigure::with_logos(&r, ci, args.channels, logos.as_ref());
        if args.channels_file.is_some() {
            fig = fig.with_channel_motifs();
        }
        narrow += fig.logos_too_narrow() as usize;
        save(&fig, &args.out, &format!("class_{stem}"))?;
        save(
            &bars::OfivBars::new(&r, ci),
            &args.out,
            &format!("ofiv_{stem}"),
        )?;
        n += 2;
    }
    let sim = match cut {
        Some(cut) => heatmap::SimilarityFigure::with_cut(&r, cut),
        None => heatmap::SimilarityFigure::new(&r),
    };
    save(&sim, &args.out, "similarity")?;
    n += 1;
    if narrow > 0 {
        eprintln!(
            "deepresolve-mpi: no logos on {narrow} of {} class figures: their columns are under {} px wide (show fewer with --channels N)",
            classes.len(),
            class_figure::MIN_LOGO_COLUMN
        );
    }
    eprintln!(
        "deepresolve-mpi: wrote {n} figures ({} classes) as SVG and PNG to {}",
        classes.len(),
        args.out.display()
    );
    Ok(())
}

/// `fig` as SVG text, for pages that inline their figures.
pub fn svg_string(fig: &impl Figure) -> Result<String> {
    register_fonts();
    let mut s = String::new();
    {
        let area = SVGBackend::with_string(&mut s, fig.size()).into_drawing_area();
        let err = |e: String| Error::Input(format!("cannot draw an SVG figure: {e}"));
        area.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        fig.draw(&area).map_err(|e| err(e.to_string()))?;
        area.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(s)
}

/// `fig` as PNG bytes, for pages that inline a figure too dense for SVG.
pub fn png_bytes(fig: &impl Figure) -> Result<Vec<u8>> {
    register_fonts();
    let (w, h) = fig.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    let err = |e: String| Error::Input(format!("cannot draw a PNG figure: {e}"));
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        fig.draw(&area).map_err(|e| err(e.to_string()))?;
        area.present().map_err(|e| err(e.to_string()))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| err(e.to_string()))?;
        wr.write_image_data(&rgb).map_err(|e| err(e.to_string()))?;
    }
    Ok(out)
}
