//! One class's OFIV as bars (red positive, blue negative), channels ordered by
//! OFIV, highest first; a star above (or below) each non-additive channel's bar.
use super::{
    axis_label, class_title, label_step, sign_color, star, text_width, DrawResult, Figure, GOLD,
};
use crate::results::FinishedRun;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct OfivBars<'a> {
    r: &'a FinishedRun,
    ci: usize,
    width: u32,
    height: u32,
}

impl<'a> OfivBars<'a> {
    pub fn new(r: &'a FinishedRun, ci: usize) -> Self {
        let bw = (1400 / r.k as u32).clamp(2, 40);
        let width = (bw * r.k as u32 + 160).max(640);
        OfivBars {
            r,
            ci,
            width,
            height: 460,
        }
    }
}

impl Figure for OfivBars<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (r, ci) = (self.r, self.ci);
        let k = r.k;
        let order = r.rank_row(ci);
        let of = r.ofiv_row(ci);
        let na = r.nonadditive_row(ci);
        let vals: Vec<f64> = order
            .iter()
            .map(|&c| of[c] as f64)
            .filter(|v| v.is_finite())
            .collect();
        let lo = vals.iter().cloned().fold(0.0f64, f64::min);
        let hi = vals.iter().cloned().fold(0.0f64, f64::max);
        let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
        let (ylo, yhi) = (lo - 0.08 * span, hi + 0.08 * span);
        let widest = (0..k)
            .map(|c| text_width(&c.to_string(), 12.0))
            .max()
            .unwrap_or(10);
        let plot_w = self.width as f64 - 120.0;
        let pitch = plot_w / k as f64;
        let vertical = widest as f64 + 4.0 > pitch;
        let step = if vertical { label_step(pitch, 15.0) } else { 1 };
        let caption = format!("{} — OFIV by channel", class_title(r, ci));
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(if vertical { widest + 44 } else { 44 })
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..k as f64, ylo..yhi)?;
        let xdesc = if step > 1 {
            format!(
                "channel (ordered by OFIV; every {} labelled; ★ non-additive)",
                crate::numbers::ordinal(step)
            )
        } else {
            "channel (ordered by OFIV; ★ non-additive)".to_string()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|y| format!("{y:.2e}"))
            .y_labels(8)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc(xdesc)
            .y_desc("OFIV")
            .draw()?;
        chart.draw_series(order.iter().enumerate().map(|(j, &c)| {
            let v = of[c] as f64;
            let v = if v.is_finite() { v } else { 0.0 };
            Rectangle::new(
                [(j as f64 + 0.06, 0.0), (j as f64 + 0.94, v)],
                sign_color(v).filled(),
            )
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (k as f64, 0.0)],
            BLACK.stroke_width(1),
        )))?;
        let plot = chart.plotting_area();
        // Channel labels in pixel space (thinned; never the bars).
        let ybase = plot.get_pixel_range().1.end + 8;
        for (j, &c) in order.iter().enumerate() {
            if j % step != 0 {
                continue;
            }
            let (x, _) = plot.map_coordinate(&(j as f64 + 0.5, 0.0));
            area.draw(&PathElement::new(
                vec![(x, ybase - 8), (x, ybase - 4)],
                BLACK.stroke_width(1),
            ))?;
            axis_label(area, &c.to_string(), (x, ybase), 12.0, vertical)?;
        }
        // Stars in pixel space, just beyond the bar's end.
        let sr = (pitch * 0.4).clamp(2.5, 8.0);
        for (j, &c) in order.iter().enumerate() {
            if na[c] == 0 {
                continue;
            }
            let v = if of[c].is_finite() { of[c] as f64 } else { 0.0 };
            let (x, y) = plot.map_coordinate(&(j as f64 + 0.5, v));
            let y = if v >= 0.0 {
                y - sr as i32 - 3
            } else {
                y + sr as i32 + 3
            };
            area.draw(&Polygon::new(
                star(x - area.get_base_pixel().0, y - area.get_base_pixel().1, sr),
                GOLD.filled(),
            ))?;
        }
        Ok(())
    }
}
