//! Sequence logos of position weight matrices, and `plot --logos`: a sheet of
//! each class's top channels (by OFIV) drawn as logos when those channels are
//! first-layer filters (see [`crate::filters::first_layer_filters`]).
//!
//! Each column's height is its information content IC = 2 − H bits, with
//! H = −Σ p log₂ p (no small-sample correction); each letter is p × IC tall,
//! stacked with the largest on top. Letters are filled polygons — simple glyph
//! outlines in a unit box, scaled to each letter's width and height — because
//! text glyphs cannot be stretched vertically.
use super::{class_title, header, label, text, DrawResult, Figure, GREY, SMALL};
use crate::results::FinishedRun;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// Letter colours, in A, C, G, T order.
pub const COLORS: [RGBColor; 4] = [
    RGBColor(0x10, 0x96, 0x48),
    RGBColor(0x25, 0x5C, 0x99),
    RGBColor(0xF7, 0xB3, 0x2B),
    RGBColor(0xD6, 0x28, 0x39),
];
pub const LETTERS: [char; 4] = ['A', 'C', 'G', 'T'];

/// Channels per class on the sheet.
pub const DEFAULT_TOP: usize = 5;

/// Information content of one column, in bits: 2 − H, clamped to [0, 2].
/// The column is normalised first; an all-zero (or non-finite) column has IC 0.
pub fn information_content(col: &[f64; 4]) -> f64 {
    let p = normalise(col);
    let h: f64 = p.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.log2()).sum();
    (2.0 - h).clamp(0.0, 2.0)
}

fn normalise(col: &[f64; 4]) -> [f64; 4] {
    let c = col.map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 });
    let s: f64 = c.iter().sum();
    if s > 0.0 {
        c.map(|v| v / s)
    } else {
        [0.25; 4]
    }
}

/// The letters of one column as (letter index, height in bits), bottom first:
/// heights p × IC in increasing order (the largest on top); zero heights left out.
pub fn column_stack(col: &[f64; 4]) -> Vec<(usize, f64)> {
    let ic = information_content(col);
    let p = normalise(col);
    let mut s: Vec<(usize, f64)> = (0..4)
        .map(|a| (a, p[a] * ic))
        .filter(|&(_, h)| h > 0.0)
        .collect();
    s.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
    s
}

/// Outline of `letter` in the unit box (x right, y up, both 0..1): the filled
/// outline first, then any counter (the hole of A) to paint in the background.
pub fn glyph(letter: usize) -> Vec<Vec<(f64, f64)>> {
    let arc = |r: f64, from: f64, to: f64, n: usize| -> Vec<(f64, f64)> {
        (0..=n)
            .map(|i| {
                let a = (from + (to - from) * i as f64 / n as f64).to_radians();
                (0.5 + r * a.cos(), 0.5 + r * a.sin())
            })
            .collect()
    };
    match letter {
        0 => vec![
            vec![
                (0.0, 0.0),
                (0.39, 1.0),
                (0.61, 1.0),
                (1.0, 0.0),
                (0.79, 0.0),
                (0.69, 0.27),
                (0.31, 0.27),
                (0.21, 0.0),
            ],
            vec![(0.38, 0.44), (0.62, 0.44), (0.5, 0.76)],
        ],
        1 => {
            let mut p = arc(0.5, 40.0, 320.0, 40);
            p.extend(arc(0.3, 320.0, 40.0, 40));
            vec![p]
        }
        2 => {
            // C's outer arc on to the right middle, a bar inwards, and the inner arc back.
            let start = 360.0 - (0.14f64 / 0.3).asin().to_degrees();
            let mut p = arc(0.5, 40.0, 360.0, 46);
            p.extend([(0.52, 0.5), (0.52, 0.36)]);
            p.extend(arc(0.3, start, 40.0, 40));
            vec![p]
        }
        _ => vec![vec![
            (0.4, 0.0),
            (0.6, 0.0),
            (0.6, 0.82),
            (1.0, 0.82),
            (1.0, 1.0),
            (0.0, 1.0),
            (0.0, 0.82),
            (0.4, 0.82),
        ]],
    }
}

/// `letter`'s glyph scaled into the pixel box with left edge `x`, bottom `y`
/// (pixel y grows downwards), width `w` and height `h`.
pub fn letter_polygons(letter: usize, x: f64, y: f64, w: f64, h: f64) -> Vec<Vec<(i32, i32)>> {
    glyph(letter)
        .into_iter()
        .map(|poly| {
            poly.into_iter()
                .map(|(u, v)| ((x + u * w).round() as i32, (y - v * h).round() as i32))
                .collect()
        })
        .collect()
}

/// Where a logo's columns go in pixels: column j spans `x0 + j·col_w` and is
/// `col_w` wide; 0 bits is at `y_base`, and one bit is `px_per_bit` tall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogoLayout {
    pub x0: f64,
    pub y_base: f64,
    pub col_w: f64,
    pub px_per_bit: f64,
}

/// One drawn letter: its index (A, C, G, T = 0..4) and its polygons in pixels
/// (outline first, then any counter).
pub type Glyph = (usize, Vec<Vec<(i32, i32)>>);

/// Every letter of the logo of `pwm`; letters under half a pixel tall are left out.
pub fn logo_glyphs(pwm: &[[f64; 4]], l: &LogoLayout) -> Vec<Glyph> {
    let mut out = Vec::new();
    let pad = (l.col_w * 0.04).min(1.5);
    for (j, col) in pwm.iter().enumerate() {
        let x = l.x0 + j as f64 * l.col_w + pad;
        let mut y = l.y_base;
        for (a, bits) in column_stack(col) {
            let h = bits * l.px_per_bit;
            if h >= 0.5 {
                out.push((a, letter_polygons(a, x, y, l.col_w - 2.0 * pad, h)));
            }
            y -= h;
        }
    }
    out
}

/// The letters of the logo of `pwm` at `layout` (no axes, no titles): each
/// letter filled in its colour, then any counter in white. [`draw_logo`] and
/// the logos above the class figure's columns both draw with it.
pub fn draw_glyphs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pwm: &[[f64; 4]],
    layout: &LogoLayout,
) -> DrawResult<DB> {
    for (a, polys) in logo_glyphs(pwm, layout) {
        for (i, p) in polys.into_iter().enumerate() {
            let c = if i == 0 { COLORS[a] } else { WHITE };
            area.draw(&Polygon::new(p, c.filled()))?;
        }
    }
    Ok(())
}

/// Draw the logo of `pwm` filling `area`: up to two title lines above, a y axis
/// in bits (0–2) on the left, positions 1.. below.
pub fn draw_logo<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pwm: &[[f64; 4]],
    title: &[String],
) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as f64, h as f64);
    let top = 8.0 + 16.0 * title.len() as f64 + 6.0;
    let (left, right, bottom) = (46.0, 8.0, 20.0);
    let plot_h = (h - top - bottom).max(10.0);
    let n = pwm.len().max(1) as f64;
    let layout = LogoLayout {
        x0: left,
        y_base: top + plot_h,
        col_w: ((w - left - right) / n).max(1.0),
        px_per_bit: plot_h / 2.0,
    };
    for (i, t) in title.iter().enumerate() {
        let color = if i == 0 { BLACK } else { GREY };
        label(area, t, (6, 8 + 16 * i as i32 + 8), SMALL, &color)?;
    }
    draw_glyphs(area, pwm, &layout)?;
    // Axes.
    let ax = (layout.x0 - 4.0).round() as i32;
    let yb = layout.y_base.round() as i32;
    let yt = (layout.y_base - 2.0 * layout.px_per_bit).round() as i32;
    area.draw(&PathElement::new(
        vec![(ax, yb), (ax, yt)],
        BLACK.stroke_width(1),
    ))?;
    let xe = (layout.x0 + n * layout.col_w).round() as i32;
    area.draw(&PathElement::new(
        vec![(ax, yb), (xe, yb)],
        BLACK.stroke_width(1),
    ))?;
    for b in 0..=2 {
        let y = (layout.y_base - b as f64 * layout.px_per_bit).round() as i32;
        area.draw(&PathElement::new(
            vec![(ax - 4, y), (ax, y)],
            BLACK.stroke_width(1),
        ))?;
        text(
            area,
            &b.to_string(),
            (ax - 6, y),
            10.0,
            HPos::Right,
            VPos::Center,
            false,
            &BLACK,
        )?;
    }
    text(
        area,
        "bits",
        (12, ((yb + yt) / 2)),
        10.0,
        HPos::Center,
        VPos::Center,
        true,
        &BLACK,
    )?;
    // Position numbers, thinned to fit.
    let step = super::label_step(layout.col_w, 16.0);
    for j in (0..pwm.len()).step_by(step) {
        let x = (layout.x0 + (j as f64 + 0.5) * layout.col_w).round() as i32;
        text(
            area,
            &(j + 1).to_string(),
            (x, yb + 3),
            10.0,
            HPos::Center,
            VPos::Top,
            false,
            &BLACK,
        )?;
    }
    Ok(())
}

/// One logo of the sheet.
pub struct LogoPanel {
    pub title: Vec<String>,
    pub pwm: Vec<[f64; 4]>,
}

/// A grid of logos: one row per class, one column per rank.
pub struct LogoSheet {
    pub title: String,
    pub subtitle: String,
    pub rows: Vec<Vec<LogoPanel>>,
    panel: (u32, u32),
}

impl LogoSheet {
    pub fn new(title: String, subtitle: String, rows: Vec<Vec<LogoPanel>>) -> Self {
        let w = rows
            .iter()
            .flatten()
            .map(|p| p.pwm.len())
            .max()
            .unwrap_or(1);
        let lines = rows
            .iter()
            .flatten()
            .map(|p| p.title.len())
            .max()
            .unwrap_or(1);
        let pw = Self::panel_width(w);
        let ph = 30 + 16 * lines as u32 + 120;
        LogoSheet {
            title,
            subtitle,
            rows,
            panel: (pw, ph),
        }
    }
    /// A sheet of `panels`, `per_row` to a row, each panel `panel_w` wide.
    pub fn grid(
        title: String,
        subtitle: String,
        panels: Vec<LogoPanel>,
        per_row: usize,
        panel_w: u32,
    ) -> Self {
        let mut rows: Vec<Vec<LogoPanel>> = Vec::new();
        for p in panels {
            match rows.last_mut() {
                Some(row) if row.len() < per_row.max(1) => row.push(p),
                _ => rows.push(vec![p]),
            }
        }
        let mut sheet = Self::new(title, subtitle, rows);
        sheet.panel.0 = panel_w;
        sheet
    }
    /// The width of every panel when the widest logo has `positions` columns.
    pub fn panel_width(positions: usize) -> u32 {
        (60 + 22 * positions as u32).max(300)
    }
    fn cols(&self) -> usize {
        self.rows.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }
}

const SHEET_TOP: u32 = 64;

impl Figure for LogoSheet {
    fn size(&self) -> (u32, u32) {
        let (pw, ph) = self.panel;
        (
            (self.cols() as u32 * pw + 20).max(640),
            SHEET_TOP + self.rows.len().max(1) as u32 * ph + 10,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        header(area, &self.title, &self.subtitle)?;
        let (pw, ph) = self.panel;
        for (ri, row) in self.rows.iter().enumerate() {
            for (ci, p) in row.iter().enumerate() {
                let x = 10 + ci as i32 * pw as i32;
                let y = SHEET_TOP as i32 + ri as i32 * ph as i32;
                let sub = area.clone().shrink((x, y), (pw - 8, ph - 8));
                draw_logo(&sub, &p.pwm, &p.title)?;
            }
        }
        Ok(())
    }
}

/// A panel's second title line: `best match ID NAME (p = …)`, or `no match`.
fn match_line(db: &[crate::tomtom::Motif], m: Option<&crate::tomtom::Match>) -> String {
    match m {
        Some(m) => {
            let t = &db[m.target];
            format!(
                "best match {}{} (p = {})",
                t.id,
                t.alt
                    .as_deref()
                    .map(|a| format!(" {a}"))
                    .unwrap_or_default(),
                crate::tomtom::report::g6(m.p)
            )
        }
        None => "no match".into(),
    }
}

/// `plot --logos`: the sheet of `classes`' top channels, matched against `db`
/// when given; returns the sheet ready to save.
pub fn logo_sheet(
    spec: &crate::model::ModelSpec,
    r: &FinishedRun,
    classes: &[usize],
    top: usize,
    db: Option<&[crate::tomtom::Motif]>,
) -> Result<LogoSheet> {
    use crate::filters::{first_layer_filters, pwm};
    use crate::tomtom::{best_per_query, tomtom, ColumnScore, Motif};
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
    let top = top.min(r.k);
    let mut rows: Vec<Vec<LogoPanel>> = Vec::new();
    let mut queries: Vec<Motif> = Vec::new();
    for &ci in classes {
        let mut row = Vec::new();
        for (ri, &ch) in r.rank_row(ci).iter().take(top).enumerate() {
            let m = pwm(kernel, in_channels, kernel_size, dilation, ch);
            row.push(LogoPanel {
                title: vec![format!(
                    "{} · rank {} · channel {ch}",
                    class_title(r, ci),
                    ri + 1
                )],
                pwm: m.clone(),
            });
            queries.push(Motif {
                id: format!("{ci}_{ri}"),
                alt: None,
                cols: m,
            });
        }
        rows.push(row);
    }
    if let Some(db) = db {
        let all = tomtom(&queries, db, ColumnScore::Pearson);
        let best = best_per_query(&all, queries.len());
        for (p, b) in rows.iter_mut().flatten().zip(best) {
            p.title.push(match_line(db, b));
        }
    }
    Ok(LogoSheet::new(
        format!("Sequence logos — top {top} channels per class by OFIV"),
        format!(
            "{} · layer {layer} · first-layer filters as PWMs (negative weights clipped); letter height p × IC bits",
            r.path.display()
        ),
        rows,
    ))
}

/// `plot RESULTS --out DIR --logos --model MODEL [--weights W] [--match DB]
/// [--classes LIST]`: `logos.svg` and `logos.png`.
pub fn plot_logos(args: &super::PlotOptions, r: &FinishedRun) -> Result<()> {
    let model = args.model.as_ref().ok_or_else(|| {
        Error::Input("--logos needs --model MODEL (the model the results were made with)".into())
    })?;
    let spec = crate::model::load_model_with_weights(model, args.weights.as_deref(), None)?;
    let db = match &args.match_db {
        Some(p) => Some(crate::tomtom::read_meme(p)?),
        None => None,
    };
    let classes = match &args.classes {
        Some(list) => r.select_classes(list)?,
        None if r.c > super::DEFAULT_MAX_CLASSES => {
            eprintln!(
                "deepresolve-mpi: {} classes: logos for the first {} only (choose others with --classes)",
                r.c,
                super::DEFAULT_MAX_CLASSES
            );
            (0..super::DEFAULT_MAX_CLASSES).collect()
        }
        None => (0..r.c).collect(),
    };
    let sheet = logo_sheet(&spec, r, &classes, DEFAULT_TOP, db.as_deref())?;
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::Input(format!(
            "cannot create output directory {}: {e}",
            args.out.display()
        ))
    })?;
    super::save(&sheet, &args.out, "logos")?;
    eprintln!(
        "deepresolve-mpi: wrote logos of {} classes × top {} channels as SVG and PNG to {}",
        classes.len(),
        DEFAULT_TOP.min(r.k),
        args.out.display()
    );
    Ok(())
}

/// `plot RESULTS --out DIR --model MODEL [--match DB]` (without `--logos`):
/// the logos drawn above the class figures' columns — every channel's
/// first-layer filter, and with `db` the best match of each channel that
/// `classes` show under `sel`. `Ok(None)`, after one line on standard error
/// saying why, when H's channels are not the model's first-layer filters.
pub fn column_logos(
    args: &super::PlotOptions,
    r: &FinishedRun,
    classes: &[usize],
    db: Option<&[crate::tomtom::Motif]>,
) -> Result<Option<super::class_figure::ColumnLogos>> {
    use super::class_figure::{shown_ranks, ColumnLogos};
    use crate::filters::{first_layer_filters, pwm};
    use crate::tomtom::{best_per_query, tomtom, ColumnScore, Motif};
    let Some(model) = &args.model else {
        return Ok(None);
    };
    let spec = crate::model::load_model_with_weights(model, args.weights.as_deref(), None)?;
    let no = |why: String| {
        eprintln!(
            "deepresolve-mpi: no logos on the class figures: {}: {why}",
            r.path.display()
        );
        Ok(None)
    };
    let Some(layer) = r.layer_index else {
        return no("the file has no layer_index attribute".into());
    };
    let (filters, in_channels, kernel_size, dilation, kernel) =
        match first_layer_filters(&spec, layer as usize) {
            Ok(f) => f,
            Err(why) => {
                return no(why
                    .trim_end_matches(", so they cannot be written as motifs")
                    .to_string())
            }
        };
    if filters != r.k {
        return no(format!(
            "it has {} channels but the first convolution of {} has {filters} filters (is it the model the results were made with, {}?)",
            r.k,
            model.display(),
            r.model
        ));
    }
    let pwms: Vec<Vec<[f64; 4]>> = (0..r.k)
        .map(|ch| pwm(kernel, in_channels, kernel_size, dilation, ch))
        .collect();
    let matches = db.map(|db| {
        // Only the channels some figure shows are matched.
        let mut shown = vec![false; r.k];
        for &ci in classes {
            let rank = r.rank_row(ci);
            for j in shown_ranks(r, ci, args.channels) {
                shown[rank[j]] = true;
            }
        }
        let chans: Vec<usize> = (0..r.k).filter(|&ch| shown[ch]).collect();
        let queries: Vec<Motif> = chans
            .iter()
            .map(|&ch| Motif {
                id: format!("ch{ch}"),
                alt: None,
                cols: pwms[ch].clone(),
            })
            .collect();
        let all = tomtom(&queries, db, ColumnScore::Pearson);
        let mut out = vec![None; r.k];
        for (&ch, b) in chans.iter().zip(best_per_query(&all, queries.len())) {
            out[ch] = b.map(|m| {
                let t = &db[m.target];
                (t.alt.clone().unwrap_or_else(|| t.id.clone()), m.p < 0.05)
            });
        }
        out
    });
    Ok(Some(ColumnLogos { pwms, matches }))
}

/// File stem of the `channels` logo sheet.
pub const CHANNELS_STEM: &str = "channels_logos";

/// Logos per row of the `channels` sheet (fewer only when there are fewer).
pub const SHEET_PER_ROW: usize = 6;
/// Bounds of a `channels` sheet panel's width from its logo (titles may widen it).
const SHEET_PANEL_MIN: u32 = 220;
const SHEET_PANEL_MAX: u32 = 360;

/// The channels of a `channels` file that its sheet shows under `sel`:
/// every one (in channel order) up to [`super::class_figure::MANY_CHANNELS`]
/// or with `all`; else the N highest by best activation (N =
/// [`super::class_figure::DEFAULT_TOP`] + [`super::class_figure::DEFAULT_BOTTOM`]
/// by default, or `--channels N`), highest first. Returns (channels, whether
/// they are a top-N selection).
pub fn sheet_channels(
    b: &crate::channels::file::BestMotifs,
    sel: super::class_figure::Channels,
) -> (Vec<usize>, bool) {
    use super::class_figure::{Channels, DEFAULT_BOTTOM, DEFAULT_TOP, MANY_CHANNELS};
    let k = b.k();
    let n = match sel {
        Channels::All => k,
        Channels::Auto if k <= MANY_CHANNELS => k,
        Channels::Auto => DEFAULT_TOP + DEFAULT_BOTTOM,
        Channels::Top(n) => n,
    };
    if n >= k {
        return ((0..k).collect(), false);
    }
    let mut order: Vec<usize> = (0..k).collect();
    // A masked (NaN) activation sorts last (results::bad_values).
    let act = |k: usize| match b.activation[k] {
        a if a.is_nan() => f32::NEG_INFINITY,
        a => a,
    };
    order.sort_by(|&x, &y| act(y).total_cmp(&act(x)).then(x.cmp(&y)));
    order.truncate(n);
    (order, true)
}

/// `plot CHANNELS.h5 --out DIR [--channels N|all] [--match DB]`: the sheet of
/// the channels' PWMs (each channel's best init), titled with the channel, its
/// activation and, with `db`, its best match (as `channels --match` names it).
pub fn channels_sheet(
    b: &crate::channels::file::BestMotifs,
    sel: super::class_figure::Channels,
    db: Option<&[crate::tomtom::Motif]>,
) -> Result<LogoSheet> {
    // Columns in A, C, G, T order whatever the file's alphabet order.
    let letters: Vec<char> = b.alphabet.chars().collect();
    let at: Vec<usize> = LETTERS
        .iter()
        .filter_map(|l| letters.iter().position(|c| c == l))
        .collect();
    if letters.len() != 4 || at.len() != 4 {
        return Err(Error::Input(format!(
            "{}: logos need the letters ACGT; the file's alphabet is {:?}",
            b.path.display(),
            b.alphabet
        )));
    }
    let (chans, top) = sheet_channels(b, sel);
    let best = match db {
        Some(db) => {
            let motifs: Vec<(String, Vec<Vec<f32>>)> = chans
                .iter()
                .map(|&k| (format!("ch{k}"), b.pwms[k].clone()))
                .collect();
            Some(crate::channels::best_matches(&b.alphabet, &motifs, db)?)
        }
        None => None,
    };
    let mut panels = Vec::with_capacity(chans.len());
    for (i, &k) in chans.iter().enumerate() {
        let full: Vec<[f64; 4]> = b.pwms[k]
            .iter()
            .map(|row| [0, 1, 2, 3].map(|l| row[at[l]] as f64))
            .collect();
        let (core, from) = crate::channels::notes::core(&full);
        let pwm = core.to_vec();
        let span = if pwm.len() < full.len() {
            format!(" · bp {}–{} of {}", from + 1, from + pwm.len(), full.len())
        } else {
            String::new()
        };
        let activation = match b.activation[k] {
            a if a.is_finite() => crate::numbers::num(a as f64),
            _ => "–".into(),
        };
        let mut title = vec![if top {
            format!(
                "channel {k} · rank {} · activation {activation}{span}",
                i + 1
            )
        } else {
            format!("channel {k} · activation {activation}{span}")
        }];
        if let (Some(db), Some(best)) = (db, &best) {
            title.push(match_line(db, best[i].as_ref()));
        }
        panels.push(LogoPanel { title, pwm });
    }
    // Logos of trimmed motifs are short: SHEET_PER_ROW to a row, each panel as
    // wide as its longest title needs and its columns at most 16 px wide
    // (a longer logo gets narrower columns, not a wider sheet).
    let widest_title = panels
        .iter()
        .flat_map(|p| &p.title)
        .map(|t| super::text_width(t, super::SMALL) as u32 + 20)
        .max()
        .unwrap_or(0);
    let longest = panels.iter().map(|p| p.pwm.len()).max().unwrap_or(1);
    let panel_w = widest_title
        .max((60 + 16 * longest as u32).min(SHEET_PANEL_MAX))
        .max(SHEET_PANEL_MIN);
    let per_row = SHEET_PER_ROW.min(panels.len().max(1));
    let what = if top {
        format!(
            "top {} of {} channels by activation (plot --channels N|all shows others)",
            chans.len(),
            b.k()
        )
    } else {
        format!("all {} channels", b.k())
    };
    Ok(LogoSheet::grid(
        format!("Channel motifs — {what}"),
        format!(
            "{} · H = input of {} · each channel's best init as a PWM ({} positions), flanks under {} bits and lone letters beside the core trimmed; letter height p × IC bits",
            b.path.display(),
            b.layer,
            b.r,
            crate::channels::notes::TRIM_BITS
        ),
        panels,
        per_row,
        panel_w,
    ))
}

/// `plot CHANNELS.h5 --out DIR [--channels N|all] [--match DB]`:
/// `channels_logos.svg` and `.png`.
pub fn plot_channels(args: &super::PlotOptions) -> Result<()> {
    let given: Vec<&str> = [
        ("--classes", args.classes.is_some()),
        ("--cut", args.cut.is_some()),
        ("--k", args.k.is_some()),
        ("--rows", args.rows.is_some()),
        ("--cols", args.cols.is_some()),
        ("--cluster", args.cluster.is_some()),
        ("--logos", args.logos),
        ("--model", args.model.is_some()),
        ("--weights", args.weights.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    if !given.is_empty() {
        return Err(Error::Input(format!(
            "{} is a channels file: plot draws its logo sheet and takes only --out, --channels N|all and --match DB, not {}",
            args.results.display(),
            given.join(", ")
        )));
    }
    let mut b = crate::channels::file::BestMotifs::read(&args.results)?;
    crate::results::bad_values::warn_and_mask_motifs(&mut b, "the logos");
    let db = match &args.match_db {
        Some(p) => Some(crate::tomtom::read_meme(p)?),
        None => None,
    };
    let sheet = channels_sheet(&b, args.channels, db.as_deref())?;
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::Input(format!(
            "cannot create output directory {}: {e}",
            args.out.display()
        ))
    })?;
    super::save(&sheet, &args.out, CHANNELS_STEM)?;
    let n: usize = sheet.rows.iter().map(Vec::len).sum();
    eprintln!(
        "deepresolve-mpi: wrote logos of {n} of {} channels as SVG and PNG to {}",
        b.k(),
        args.out.join(format!("{CHANNELS_STEM}.svg")).display()
    );
    Ok(())
}
