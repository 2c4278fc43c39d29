//! One class's ensemble (the paper's Fig. 2 view): a row of circles per restart
//! (φ_k^t, red positive, blue negative, area ∝ |φ|), then the IL row, the OFIV
//! row and a row of stars under the non-additive channels. Columns are the
//! channels ordered by OFIV, highest first (/analysis/rank).
//!
//! Many channels (K > [`MANY_CHANNELS`], e.g. DeepSEA's 480): by default the
//! columns are only the [`DEFAULT_TOP`] highest and [`DEFAULT_BOTTOM`] lowest
//! channels by OFIV plus every non-additive channel (still in OFIV order, a
//! light rule where channels are skipped); the figure says how many are left
//! out and how to show them (`plot --channels N`, `--channels all`). Beneath,
//! a compact FIV heatmap keeps every channel visible: restarts × all K
//! channels in OFIV order, one cell each, diverging colours centred at 0.
//!
//! Logos (`plot --model MODEL`, when the channels are the model's first-layer
//! filters, see [`ColumnLogos`]): above each column the sequence logo of its
//! channel's filter ([`super::logo::draw_glyphs`]: information content, A C G
//! T colours, 0–2 bits in [`LOGO_H`] pixels), and with `--match` the name of
//! its best database match under it. Columns under [`MIN_LOGO_COLUMN`] pixels
//! get no logos.
//!
//! Many restarts (T > [`COLLAPSE_RESTARTS`]): the restart rows collapse
//! into a band of thin cells (one row of N cells per restart, coloured like the
//! heatmap), so the figure keeps its height and no label overlaps; the IL, OFIV
//! and non-additive rows keep full-size circles.
//!
//! Marks, for counting: exactly (T + 2)·N data circles (N columns) plus 3
//! legend circles (with collapsed restarts: 2·N circles and T·N cells); one star polygon per non-additive column plus 1 legend
//! star; with K > [`MANY_CHANNELS`], T·K filled heatmap cells (rectangles).
use super::logo::LogoLayout;
use super::{
    axis_label, class_title, header, label, label_step, shorten, sign_color, star, text,
    text_width, DrawResult, Figure, BLUE, GOLD, GREY, LIGHT, PURPLE, RED, SMALL, TITLE,
};
use crate::results::FinishedRun;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// Legend circles drawn besides the data circles.
pub const LEGEND_CIRCLES: usize = 3;
/// Legend stars drawn besides the non-additive stars.
pub const LEGEND_STARS: usize = 1;
/// Above this many channels the default columns are a selection, and the FIV
/// heatmap of every channel is drawn beneath.
pub const MANY_CHANNELS: usize = 60;
/// Highest and lowest channels by OFIV shown by default with many channels.
pub const DEFAULT_TOP: usize = 30;
pub const DEFAULT_BOTTOM: usize = 10;
/// Above this many restarts the restart rows are drawn as a band of cells.
pub const COLLAPSE_RESTARTS: usize = 24;
/// Columns narrower than this (pixels) get no logos.
pub const MIN_LOGO_COLUMN: i32 = 12;
/// Height of the logos above the columns: 2 bits.
pub const LOGO_H: i32 = 48;
/// Font size of the match names under the logos.
const MATCH_FONT: f64 = 10.0;
/// Match names are shortened to this many characters.
const MATCH_CHARS: usize = 14;

/// The logos drawn above the columns: every channel's first-layer filter as a
/// PWM and, with `--match`, its best database match.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnLogos {
    /// Per channel (K): the filter's PWM, rows of A, C, G, T probabilities.
    pub pwms: Vec<Vec<[f64; 4]>>,
    /// Per channel: the best match's name (the database motif's alt name, else
    /// its id) and whether its p-value is below 0.05 (drawn black, else grey);
    /// None for the whole figure without `--match`, per channel if unmatched.
    pub matches: Option<Vec<Option<(String, bool)>>>,
}

impl ColumnLogos {
    /// The logos of a `channels` file (any layer): each channel's motif and,
    /// when it was read with a database, its best match.
    pub fn from_notes(n: &crate::channels::notes::ChannelNotes) -> ColumnLogos {
        ColumnLogos {
            pwms: n.pwms.clone(),
            matches: n.matches.as_ref().map(|m| {
                m.iter()
                    .map(|b| {
                        b.as_ref()
                            .map(|b| (b.alt.clone().unwrap_or_else(|| b.id.clone()), b.p < 0.05))
                    })
                    .collect()
            }),
        }
    }
}

/// Which channels get a column of circles (`plot --channels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// All up to [`MANY_CHANNELS`], else [`DEFAULT_TOP`] + [`DEFAULT_BOTTOM`]
    /// and the non-additive ones.
    #[default]
    Auto,
    /// `--channels N`: the ⌈3N/4⌉ highest and the other ⌊N/4⌋ lowest by OFIV, plus
    /// every non-additive channel (all when N ≥ K).
    Top(usize),
    /// `--channels all`.
    All,
}

impl Channels {
    /// `all` or a number.
    pub fn parse(s: &str) -> Option<Channels> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Some(Channels::All);
        }
        s.parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .map(Channels::Top)
    }

    /// (highest, lowest) counts for K channels; None = all.
    fn ends(self, k: usize) -> Option<(usize, usize)> {
        let (hi, lo) = match self {
            Channels::All => return None,
            Channels::Auto if k <= MANY_CHANNELS => return None,
            Channels::Auto => (DEFAULT_TOP, DEFAULT_BOTTOM),
            Channels::Top(n) => ((3 * n).div_ceil(4), n - (3 * n).div_ceil(4)),
        };
        if hi + lo >= k {
            None
        } else {
            Some((hi, lo))
        }
    }
}

/// The columns of `r`'s class `ci` under `sel`: positions in the OFIV ranking
/// (0 = highest) that are shown, increasing.
pub fn shown_ranks(r: &FinishedRun, ci: usize, sel: Channels) -> Vec<usize> {
    let k = r.k;
    let rank = r.rank_row(ci);
    let Some((hi, lo)) = sel.ends(k) else {
        return (0..k).collect();
    };
    let na = r.nonadditive_row(ci);
    (0..k)
        .filter(|&j| j < hi || j >= k - lo || na[rank[j]] != 0)
        .collect()
}

pub struct ClassFigure<'a> {
    r: &'a FinishedRun,
    ci: usize,
    /// Logos above the columns (None: not drawn).
    logos: Option<&'a ColumnLogos>,
    /// The logos are a channels file's motifs, not first-layer filters.
    motif_logos: bool,
    /// Logos were asked for but the columns are too narrow.
    narrow: bool,
    /// Top of the logos, and height of the match-name band under them.
    logo_top: i32,
    match_h: i32,
    order: Vec<usize>,
    cw: i32,
    /// Height of a restart row, and of the IL, OFIV and star rows.
    sh: i32,
    rh: i32,
    /// The restart rows are a band of cells (T > [`COLLAPSE_RESTARTS`]).
    collapsed: bool,
    gap: i32,
    left: i32,
    right: i32,
    top: i32,
    vertical_labels: bool,
    xlabel_h: i32,
    /// Positions in the OFIV ranking of the columns (increasing).
    ranks: Vec<usize>,
    /// Where the part below the circles starts (note, heatmap).
    base: i32,
    /// FIV heatmap: cell width and height (None: not drawn).
    heat: Option<(i32, i32)>,
    width: i32,
    height: i32,
}

/// Height of the heatmap's title line and of its colour-bar line.
const HEAT_TITLE: i32 = 26;
const HEAT_FOOT: i32 = 40;

impl<'a> ClassFigure<'a> {
    /// The default columns ([`Channels::Auto`]).
    pub fn new(r: &'a FinishedRun, ci: usize) -> Self {
        Self::with_channels(r, ci, Channels::Auto)
    }

    pub fn with_channels(r: &'a FinishedRun, ci: usize, sel: Channels) -> Self {
        Self::with_logos(r, ci, sel, None)
    }

    /// [`Self::with_channels`] with the logos of `logos` above the columns
    /// (unless the columns are under [`MIN_LOGO_COLUMN`] pixels wide). Logos
    /// let the columns grow to 6 pixels per logo position (36 to 72 pixels).
    pub fn with_logos(
        r: &'a FinishedRun,
        ci: usize,
        sel: Channels,
        logos: Option<&'a ColumnLogos>,
    ) -> Self {
        let rank = r.rank_row(ci);
        let ranks = shown_ranks(r, ci, sel);
        let order: Vec<usize> = ranks.iter().map(|&j| rank[j]).collect();
        let (t, n) = (r.t as i32, order.len() as i32);
        let span = logos
            .and_then(|l| order.iter().map(|&ch| l.pwms[ch].len()).max())
            .unwrap_or(0) as i32;
        let cap = if logos.is_some() {
            (6 * span).clamp(36, 72)
        } else {
            36
        };
        let mut cw = (1400 / n.max(1)).clamp(3, cap);
        let narrow = logos.is_some() && cw < MIN_LOGO_COLUMN;
        let logos = logos.filter(|_| !narrow);
        if logos.is_none() {
            cw = (1400 / n.max(1)).clamp(3, 36);
        }
        let collapsed = r.t > COLLAPSE_RESTARTS;
        let (sh, rh) = if collapsed {
            ((240 / t).clamp(2, 8), 24)
        } else {
            let rh = (560 / (t + 3)).clamp(8, 36);
            (rh, rh)
        };
        let gap = (rh / 2).max(8);
        let last = format!("restart {}", r.t);
        let mut row_names = vec![last.as_str(), "non-additive", "OFIV", "IL"];
        let match_h = match logos.and_then(|l| l.matches.as_ref()) {
            Some(m) => {
                row_names.push("best match");
                order
                    .iter()
                    .filter_map(|&ch| m[ch].as_ref())
                    .map(|(name, _)| text_width(&shorten(name, MATCH_CHARS), MATCH_FONT))
                    .max()
                    .unwrap_or(0)
                    + 8
            }
            None => 0,
        };
        if logos.is_some() {
            row_names.push("filter logo");
        }
        let left = row_names
            .iter()
            .map(|s| text_width(s, SMALL))
            .max()
            .unwrap_or(80)
            + 24;
        let right = text_width("max 0.000e-00", SMALL) + 24;
        let widest = order
            .iter()
            .map(|c| text_width(&c.to_string(), SMALL))
            .max()
            .unwrap_or(10);
        let vertical_labels = widest + 4 > cw;
        let xlabel_h = if vertical_labels { widest + 10 } else { 20 };
        let logo_top = 70;
        let top = if logos.is_some() {
            logo_top + LOGO_H + 6 + match_h + 12
        } else {
            70
        };
        let grid_w = cw * n;
        let title_w = text_width(&Self::title(r, ci), TITLE).max(text_width(
            &Self::subtitle(r, logos.is_some(), false),
            SMALL,
        ));
        let mut width = (left + grid_w + right).max(title_w + 40).max(560);
        let rows_h = sh * t + rh * 3 + gap;
        let base = top + rows_h + 8 + xlabel_h + 24 + 40;
        let mut height = base;
        if ranks.len() < r.k {
            height += 24;
            width = width.max(text_width(&Self::left_out_note(r, &ranks), SMALL) + 40);
        }
        let heat = (r.k > MANY_CHANNELS).then(|| {
            // Every channel a circle column (`--channels all`): the heatmap's
            // columns are the circle columns, so each cell sits under its circles.
            let hw = if ranks.len() == r.k {
                cw
            } else {
                (1400 / r.k as i32).clamp(1, 12)
            };
            let hh = (160 / t).clamp(4, 14);
            (hw, hh)
        });
        if let Some((hw, hh)) = heat {
            height += HEAT_TITLE + hh * t + HEAT_FOOT;
            width = width.max(left + hw * r.k as i32 + right);
        }
        ClassFigure {
            r,
            ci,
            logos,
            motif_logos: false,
            narrow,
            logo_top,
            match_h,
            order,
            cw,
            sh,
            rh,
            collapsed,
            gap,
            left,
            right,
            top,
            vertical_labels,
            xlabel_h,
            ranks,
            base,
            heat,
            width,
            height,
        }
    }

    /// Say that the logos are the channels' motifs of a `channels` file (at
    /// any layer), not the model's first-layer filters.
    pub fn with_channel_motifs(mut self) -> Self {
        self.motif_logos = true;
        self
    }

    /// The channels shown, in column order (OFIV order).
    pub fn columns(&self) -> &[usize] {
        &self.order
    }

    /// Whether logos are drawn above the columns.
    pub fn logos_drawn(&self) -> bool {
        self.logos.is_some()
    }

    /// Whether logos were asked for but the columns are too narrow for them.
    pub fn logos_too_narrow(&self) -> bool {
        self.narrow
    }

    /// Pixel x-range `[from, to)` of column `j`.
    pub fn column_span(&self, j: usize) -> (i32, i32) {
        let x = self.left + self.cw * j as i32;
        (x, x + self.cw)
    }

    /// Where column `j`'s logo is drawn (None without logos): inside the
    /// column, 1–3 pixels from either edge, 0 bits at the logo's baseline.
    pub fn logo_layout(&self, j: usize) -> Option<LogoLayout> {
        let l = self.logos?;
        let span = l.pwms[self.order[j]].len().max(1) as f64;
        let pad = (0.08 * self.cw as f64).clamp(1.0, 3.0).round();
        let (x, _) = self.column_span(j);
        Some(LogoLayout {
            x0: x as f64 + pad,
            y_base: (self.logo_top + LOGO_H) as f64,
            col_w: (self.cw as f64 - 2.0 * pad) / span,
            px_per_bit: LOGO_H as f64 / 2.0,
        })
    }

    fn left_out_note(r: &FinishedRun, ranks: &[usize]) -> String {
        let k = r.k;
        let na = ranks.len();
        format!(
            "{na} of {k} channels shown (highest and lowest by OFIV, and every non-additive one); {} left out: plot --channels N shows more, --channels all every one",
            k - na
        )
    }

    fn title(r: &FinishedRun, ci: usize) -> String {
        format!("{} — feature importance by restart", class_title(r, ci))
    }
    fn subtitle(r: &FinishedRun, logos: bool, motifs: bool) -> String {
        format!(
            "input of layer {} · {} restarts × {} channels, ordered by OFIV · circle area ∝ |value|, scaled per block{}{}",
            r.layer,
            r.t,
            r.k,
            if r.t > COLLAPSE_RESTARTS {
                " · restarts as cells (blue < 0 < red)"
            } else {
                ""
            },
            if logos && motifs {
                " · logos: each channel's motif (p × IC, 0–2 bits)"
            } else if logos {
                " · logos: each channel's first-layer filter (p × IC, 0–2 bits)"
            } else {
                ""
            }
        )
    }

    fn col_x(&self, j: usize) -> i32 {
        self.left + self.cw * j as i32 + self.cw / 2
    }
    /// Centre y of row `row`: 0..T restarts, T = IL, T+1 = OFIV, T+2 = stars.
    fn row_y(&self, row: usize) -> i32 {
        let t = self.r.t;
        if row < t {
            self.top + self.sh * row as i32 + self.sh / 2
        } else {
            self.top + self.sh * t as i32 + self.gap + self.rh * (row - t) as i32 + self.rh / 2
        }
    }
    fn rmax(&self) -> f64 {
        0.46 * self.cw.min(self.rh) as f64
    }
    /// Full colour of the FIV cells: the 99th percentile of |FIV|, so that a
    /// few huge values (sign-flipping channels) do not wash out the rest.
    fn cell_scale(&self) -> f32 {
        let (r, ci) = (self.r, self.ci);
        let mut mags: Vec<f32> = (0..r.t)
            .flat_map(|tt| r.fiv(ci, tt).iter().map(|v| v.abs()))
            .filter(|v| v.is_finite())
            .collect();
        mags.sort_by(f32::total_cmp);
        match mags.len() {
            0 => 0.0,
            m => {
                let q = mags[((m - 1) as f64 * 0.99).round() as usize];
                if q > 0.0 {
                    q
                } else {
                    mags[m - 1]
                }
            }
        }
    }
    /// The restart rows as a band of cells, one row per restart.
    fn cell_rows<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (r, ci) = (self.r, self.ci);
        let fmax = self.cell_scale();
        for tt in 0..r.t {
            let row = r.fiv(ci, tt);
            let ya = self.top + self.sh * tt as i32;
            for (j, &ch) in self.order.iter().enumerate() {
                let v = if fmax > 0.0 { row[ch] / fmax } else { 0.0 };
                let (xa, xb) = self.column_span(j);
                area.draw(&Rectangle::new(
                    [(xa, ya), (xb, ya + self.sh)],
                    super::heatmap::color(v).filled(),
                ))?;
            }
        }
        Ok(())
    }
    fn radius(&self, v: f32, max: f32) -> i32 {
        if max > 0.0 && v.is_finite() {
            (self.rmax() * (v.abs() / max).sqrt() as f64).round() as i32
        } else {
            0
        }
    }
    /// One row of circles: each channel's value of `vals` in that channel's column.
    fn circle_row<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        row: usize,
        vals: &[f32],
        max: f32,
        color: fn(f32) -> RGBColor,
    ) -> DrawResult<DB> {
        for (j, &ch) in self.order.iter().enumerate() {
            let v = vals[ch];
            area.draw(&Circle::new(
                (self.col_x(j), self.row_y(row)),
                self.radius(v, max),
                color(v).filled(),
            ))?;
        }
        Ok(())
    }
}

impl ClassFigure<'_> {
    /// Each column's logo (and match name) above its circles.
    fn draw_logos<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        lg: &ColumnLogos,
    ) -> DrawResult<DB> {
        let yb = self.logo_top + LOGO_H;
        let xl = self.left - 10;
        text(
            area,
            if self.motif_logos {
                "motif logo"
            } else {
                "filter logo"
            },
            (xl, yb - LOGO_H / 2 - 7),
            SMALL,
            HPos::Right,
            VPos::Center,
            false,
            &BLACK,
        )?;
        text(
            area,
            "0–2 bits",
            (xl, yb - LOGO_H / 2 + 8),
            MATCH_FONT,
            HPos::Right,
            VPos::Center,
            false,
            &GREY,
        )?;
        if lg.matches.is_some() {
            text(
                area,
                "best match",
                (xl, yb + 4 + self.match_h / 2),
                SMALL,
                HPos::Right,
                VPos::Center,
                false,
                &BLACK,
            )?;
        }
        for (j, &ch) in self.order.iter().enumerate() {
            let Some(layout) = self.logo_layout(j) else {
                continue;
            };
            let (x0, x1) = self.column_span(j);
            area.draw(&PathElement::new(
                vec![(x0 + 1, yb), (x1 - 1, yb)],
                LIGHT.stroke_width(1),
            ))?;
            super::logo::draw_glyphs(area, &lg.pwms[ch], &layout)?;
            if let Some((name, sig)) = lg.matches.as_ref().and_then(|m| m[ch].as_ref()) {
                text(
                    area,
                    &shorten(name, MATCH_CHARS),
                    (self.col_x(j), yb + 4),
                    MATCH_FONT,
                    HPos::Right,
                    VPos::Center,
                    true,
                    if *sig { &BLACK } else { &GREY },
                )?;
            }
        }
        Ok(())
    }

    /// Labels of the collapsed restart band: its first and last restart at
    /// the left, the range of the restarts' weights and the colour scale at
    /// the right.
    fn band_labels<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x0: i32,
        x1: i32,
        share: &dyn Fn(usize) -> f32,
    ) -> DrawResult<DB> {
        let t = self.r.t;
        let (ytop, ybot) = (self.top, self.top + self.sh * t as i32);
        for (s, y, v) in [
            ("restart 1".to_string(), ytop, VPos::Top),
            (format!("restart {t}"), ybot, VPos::Bottom),
        ] {
            text(area, &s, (x0 - 10, y), SMALL, HPos::Right, v, false, &BLACK)?;
        }
        let (lo, hi) = (0..t)
            .map(share)
            .fold((f32::INFINITY, 0.0f32), |(a, b), s| (a.min(s), b.max(s)));
        let ymid = (ytop + ybot) / 2;
        let note = format!(
            "w {}–{}%",
            crate::numbers::num(100.0 * lo as f64),
            crate::numbers::num(100.0 * hi as f64)
        );
        label(area, &note, (x1 + 10, ymid - 8), SMALL, &GREY)?;
        label(
            area,
            &format!("FIV ±{}", sci(self.cell_scale())),
            (x1 + 10, ymid + 8),
            SMALL,
            &GREY,
        )?;
        Ok(())
    }

    /// The FIV of every restart and every channel, in OFIV order, one cell each.
    fn draw_heat<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y: i32,
        hw: i32,
        hh: i32,
    ) -> DrawResult<DB> {
        let (r, ci) = (self.r, self.ci);
        let (t, k) = (r.t, r.k);
        let rank = r.rank_row(ci);
        let fmax = self.cell_scale();
        label(
            area,
            &format!(
                "FIV of all {k} channels: {t} restarts × {k} channels in OFIV order (highest left); blue < 0 < red, full colour at ±{} (99th percentile of |FIV|)",
                sci(fmax)
            ),
            (20, y + 10),
            SMALL,
            &BLACK,
        )?;
        let y0 = y + HEAT_TITLE;
        let x0 = self.left;
        for tt in 0..t {
            let row = r.fiv(ci, tt);
            for (j, &ch) in rank.iter().enumerate() {
                let v = if fmax > 0.0 { row[ch] / fmax } else { 0.0 };
                let (xa, ya) = (x0 + hw * j as i32, y0 + hh * tt as i32);
                area.draw(&Rectangle::new(
                    [(xa, ya), (xa + hw, ya + hh)],
                    super::heatmap::color(v).filled(),
                ))?;
            }
            if tt == 0 || tt + 1 == t {
                text(
                    area,
                    &format!("restart {}", tt + 1),
                    (x0 - 6, y0 + hh * tt as i32 + hh / 2),
                    SMALL,
                    HPos::Right,
                    VPos::Center,
                    false,
                    &BLACK,
                )?;
            }
        }
        let x1 = x0 + hw * k as i32;
        let y1 = y0 + hh * t as i32;
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], GREY.stroke_width(1)))?;
        // Ticks under the channels that have a column above.
        for &j in &self.ranks {
            let x = x0 + hw * j as i32 + hw / 2;
            area.draw(&PathElement::new(
                vec![(x, y1 + 1), (x, y1 + 5)],
                BLACK.stroke_width(1),
            ))?;
        }
        text(
            area,
            &format!(
                "ticks: the {} channels drawn as circles above",
                self.ranks.len()
            ),
            (x0, y1 + 8),
            SMALL,
            HPos::Left,
            VPos::Top,
            false,
            &GREY,
        )?;
        Ok(())
    }
}

fn abs_max(v: impl Iterator<Item = f32>) -> f32 {
    v.filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()))
}

fn signed(v: f32) -> RGBColor {
    sign_color(v as f64)
}

fn sci(x: f32) -> String {
    crate::numbers::num(x as f64)
}

impl Figure for ClassFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (r, ci) = (self.r, self.ci);
        let t = r.t;
        let n = self.order.len();
        header(
            area,
            &Self::title(r, ci),
            &Self::subtitle(r, self.logos.is_some(), self.motif_logos),
        )?;

        let x0 = self.left;
        let x1 = self.left + self.cw * n as i32;
        // Row guides and labels.
        let row_step = label_step(self.sh as f64, 14.0);
        let w = &r.weight[ci * t..(ci + 1) * t];
        // A masked (NaN) weight is left out of the shares (results::bad_values).
        let wsum: f32 = w.iter().filter(|x| x.is_finite()).sum();
        let share = |row: usize| {
            if !w[row].is_finite() {
                f32::NAN
            } else if wsum > 0.0 {
                w[row] / wsum
            } else {
                1.0 / t as f32
            }
        };
        if self.collapsed {
            self.band_labels(area, x0, x1, &share)?;
        }
        for row in 0..t + 3 {
            let y = self.row_y(row);
            if self.collapsed && row < t {
                continue;
            }
            if row < t + 2 {
                area.draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    LIGHT.stroke_width(1),
                ))?;
            }
            let name = match row {
                _ if row < t => {
                    if row % row_step != 0 && row != t - 1 {
                        continue;
                    }
                    format!("restart {}", row + 1)
                }
                _ if row == t => "IL".into(),
                _ if row == t + 1 => "OFIV".into(),
                _ => "non-additive".into(),
            };
            text(
                area,
                &name,
                (x0 - 10, y),
                SMALL,
                HPos::Right,
                VPos::Center,
                false,
                &BLACK,
            )?;
            if row < t {
                label(
                    area,
                    &match share(row) {
                        s if s.is_finite() => format!("w {:.0}%", 100.0 * s),
                        _ => "w ?".to_string(),
                    },
                    (x1 + 10, y),
                    SMALL,
                    &GREY,
                )?;
            }
        }
        // Block frames.
        let frame = GREY.stroke_width(1);
        let ytop = self.top;
        let yrest = self.top + self.sh * t as i32;
        area.draw(&Rectangle::new([(x0 - 2, ytop), (x1 + 2, yrest)], frame))?;
        let yil = self.row_y(t) - self.rh / 2;
        let yof = self.row_y(t + 1) + self.rh / 2;
        area.draw(&Rectangle::new([(x0 - 2, yil), (x1 + 2, yof)], frame))?;
        // Where channels are left out between two columns: a light rule.
        let yrule = if self.logos.is_some() {
            self.logo_top - 2
        } else {
            ytop - 4
        };
        for j in 1..n {
            if self.ranks[j] != self.ranks[j - 1] + 1 {
                let x = self.left + self.cw * j as i32;
                area.draw(&PathElement::new(
                    vec![(x, yrule), (x, self.row_y(t + 2) + self.rh / 2)],
                    GREY.stroke_width(1),
                ))?;
            }
        }

        if let Some(lg) = self.logos {
            self.draw_logos(area, lg)?;
        }
        // Restart circles: one scale for the block.
        if self.collapsed {
            self.cell_rows(area)?;
        } else {
            let fmax = abs_max((0..t).flat_map(|tt| r.fiv(ci, tt).iter().copied()));
            for tt in 0..t {
                self.circle_row(area, tt, r.fiv(ci, tt), fmax, signed)?;
            }
        }
        // IL and OFIV: each on its own scale, noted at the right.
        let purple: fn(f32) -> RGBColor = |_| PURPLE;
        for (row, vals, color) in [(t, r.il_row(ci), purple), (t + 1, r.ofiv_row(ci), signed)] {
            let max = abs_max(vals.iter().copied());
            self.circle_row(area, row, vals, max, color)?;
            let note = format!("max {}", sci(max));
            label(area, &note, (x1 + 10, self.row_y(row)), SMALL, &GREY)?;
        }
        // Non-additive stars.
        let na = r.nonadditive_row(ci);
        let sr = (0.5 * self.cw.min(self.rh) as f64).max(2.0);
        for (j, &ch) in self.order.iter().enumerate() {
            if na[ch] != 0 {
                area.draw(&Polygon::new(
                    star(self.col_x(j), self.row_y(t + 2), sr),
                    GOLD.filled(),
                ))?;
            }
        }
        // Channel labels, thinned (never the data).
        let ylab = self.row_y(t + 2) + self.rh / 2 + 6;
        let step = if self.vertical_labels {
            label_step(self.cw as f64, 15.0)
        } else {
            1
        };
        for (j, &ch) in self.order.iter().enumerate() {
            if j % step != 0 {
                continue;
            }
            let x = self.col_x(j);
            area.draw(&PathElement::new(
                vec![(x, ylab - 4), (x, ylab - 1)],
                BLACK.stroke_width(1),
            ))?;
            axis_label(
                area,
                &ch.to_string(),
                (x, ylab),
                SMALL,
                self.vertical_labels,
            )?;
        }
        let ycap = ylab + self.xlabel_h + 4;
        let skipped = if n < r.k {
            "; grey rules where channels are left out"
        } else {
            ""
        };
        let caption = if step > 1 {
            format!(
                "channel (ordered by OFIV, highest first; every {} labelled{skipped})",
                crate::numbers::ordinal(step)
            )
        } else {
            format!("channel (ordered by OFIV, highest first{skipped})")
        };
        text(
            area,
            &caption,
            ((x0 + x1) / 2, ycap),
            SMALL,
            HPos::Center,
            VPos::Top,
            false,
            &BLACK,
        )?;
        // Legend.
        let yl = ycap + 30;
        let mut x = 20;
        for (name, color) in [
            ("positive", RED),
            ("negative", BLUE),
            ("inconsistency level", PURPLE),
        ] {
            area.draw(&Circle::new((x + 6, yl), 6, color.filled()))?;
            label(area, name, (x + 16, yl), SMALL, &BLACK)?;
            x += 16 + text_width(name, SMALL) + 24;
        }
        area.draw(&Polygon::new(star(x + 6, yl, 7.0), GOLD.filled()))?;
        let name = "non-additive (GMM on IL)";
        label(area, name, (x + 16, yl), SMALL, &BLACK)?;
        let _ = self.right;
        let mut y = self.base;
        if n < r.k {
            label(
                area,
                &Self::left_out_note(r, &self.ranks),
                (20, y),
                SMALL,
                &BLACK,
            )?;
            y += 24;
        }
        if let Some((hw, hh)) = self.heat {
            self.draw_heat(area, y, hw, hh)?;
        }
        Ok(())
    }
}
