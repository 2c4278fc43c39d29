//! One class's ensemble (the paper's Fig. 2 view): a row of circles per restart
//! (φ_k^t, red positive, blue negative, area ∝ |φ|), then the IL row, the OFIV
//! row and a row of stars under the non-additive channels. Columns are the
//! channels ordered by OFIV, highest first (/analysis/rank).
//!
//! Marks, for counting: exactly (T + 2)·K data circles plus 3 legend circles;
//! one star polygon per non-additive channel plus 1 legend star.
use super::{
    axis_label, class_title, header, label, label_step, sign_color, star, text, text_width,
    DrawResult, Figure, BLUE, GOLD, GREY, LIGHT, PURPLE, RED, SMALL, TITLE,
};
use crate::results::FinishedRun;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// Legend circles drawn besides the data circles.
pub const LEGEND_CIRCLES: usize = 3;
/// Legend stars drawn besides the non-additive stars.
pub const LEGEND_STARS: usize = 1;

pub struct ClassFigure<'a> {
    r: &'a FinishedRun,
    ci: usize,
    order: Vec<usize>,
    cw: i32,
    rh: i32,
    gap: i32,
    left: i32,
    right: i32,
    top: i32,
    vertical_labels: bool,
    xlabel_h: i32,
    width: i32,
    height: i32,
}

impl<'a> ClassFigure<'a> {
    pub fn new(r: &'a FinishedRun, ci: usize) -> Self {
        let (t, k) = (r.t as i32, r.k as i32);
        let cw = (1400 / k).clamp(3, 36);
        let rh = (560 / (t + 3)).clamp(8, 36);
        let gap = (rh / 2).max(8);
        let last = format!("restart {}", r.t);
        let left = [last.as_str(), "non-additive", "OFIV", "IL"]
            .iter()
            .map(|s| text_width(s, SMALL))
            .max()
            .unwrap_or(80)
            + 24;
        let right = text_width("max 0.000e-00", SMALL) + 24;
        let widest = (0..r.k)
            .map(|c| text_width(&c.to_string(), SMALL))
            .max()
            .unwrap_or(10);
        let vertical_labels = widest + 4 > cw;
        let xlabel_h = if vertical_labels { widest + 10 } else { 20 };
        let top = 70;
        let grid_w = cw * k;
        let title_w =
            text_width(&Self::title(r, ci), TITLE).max(text_width(&Self::subtitle(r), SMALL));
        let width = (left + grid_w + right).max(title_w + 40).max(560);
        let rows_h = rh * (t + 3) + gap;
        let height = top + rows_h + 8 + xlabel_h + 24 + 40;
        ClassFigure {
            r,
            ci,
            order: r.rank_row(ci),
            cw,
            rh,
            gap,
            left,
            right,
            top,
            vertical_labels,
            xlabel_h,
            width,
            height,
        }
    }

    fn title(r: &FinishedRun, ci: usize) -> String {
        format!("{} — feature importance by restart", class_title(r, ci))
    }
    fn subtitle(r: &FinishedRun) -> String {
        format!(
            "input of layer {} · {} restarts × {} channels, ordered by OFIV · circle area ∝ |value|, scaled per block",
            r.layer, r.t, r.k
        )
    }

    fn col_x(&self, j: usize) -> i32 {
        self.left + self.cw * j as i32 + self.cw / 2
    }
    /// Centre y of row `row`: 0..T restarts, T = IL, T+1 = OFIV, T+2 = stars.
    fn row_y(&self, row: usize) -> i32 {
        let extra = if row >= self.r.t { self.gap } else { 0 };
        self.top + self.rh * row as i32 + self.rh / 2 + extra
    }
    fn rmax(&self) -> f64 {
        0.46 * self.cw.min(self.rh) as f64
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

fn abs_max(v: impl Iterator<Item = f32>) -> f32 {
    v.filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()))
}

fn signed(v: f32) -> RGBColor {
    sign_color(v as f64)
}

fn sci(x: f32) -> String {
    format!("{x:.2e}")
}

impl Figure for ClassFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (r, ci) = (self.r, self.ci);
        let (t, k) = (r.t, r.k);
        header(area, &Self::title(r, ci), &Self::subtitle(r))?;

        let x0 = self.left;
        let x1 = self.left + self.cw * k as i32;
        // Row guides and labels.
        let row_step = label_step(self.rh as f64, 14.0);
        let w = &r.weight[ci * t..(ci + 1) * t];
        let wsum: f32 = w.iter().sum();
        for row in 0..t + 3 {
            let y = self.row_y(row);
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
                let share = if wsum > 0.0 {
                    w[row] / wsum
                } else {
                    1.0 / t as f32
                };
                label(
                    area,
                    &format!("w {:.0}%", 100.0 * share),
                    (x1 + 10, y),
                    SMALL,
                    &GREY,
                )?;
            }
        }
        // Block frames.
        let frame = GREY.stroke_width(1);
        let ytop = self.top;
        let yrest = self.top + self.rh * t as i32;
        area.draw(&Rectangle::new([(x0 - 2, ytop), (x1 + 2, yrest)], frame))?;
        let yil = self.row_y(t) - self.rh / 2;
        let yof = self.row_y(t + 1) + self.rh / 2;
        area.draw(&Rectangle::new([(x0 - 2, yil), (x1 + 2, yof)], frame))?;

        // Restart circles: one scale for the block.
        let fmax = abs_max((0..t).flat_map(|tt| r.fiv(ci, tt).iter().copied()));
        for tt in 0..t {
            self.circle_row(area, tt, r.fiv(ci, tt), fmax, signed)?;
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
        let caption = if step > 1 {
            format!("channel (ordered by OFIV, highest first; every {step}th labelled)")
        } else {
            "channel (ordered by OFIV, highest first)".to_string()
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
        Ok(())
    }
}
