//! The class-similarity heatmap (A_ij, Pearson correlation of the positive
//! parts of the OFIVs) in dendrogram leaf order (/analysis/cluster_order), with
//! the average-linkage dendrogram (/analysis/linkage, SciPy's layout) above the
//! columns and left of the rows (the paper's Figs. 7 and 9).
//!
//! Up to [`VECTOR_MAX`] classes every cell is one rectangle; beyond, the cells
//! are one raster image (embedded PNG in the SVG), every cell still drawn.
//! Labels are thinned to stay legible; the data never are.
use super::{
    axis_label, header, label, label_step, shorten, text, text_width, DrawResult, Figure, GREY,
    SMALL,
};
use crate::results::FinishedRun;
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendCoord, DrawingErrorKind};

/// Largest class count drawn as one rectangle per cell.
pub const VECTOR_MAX: usize = 150;
const NAME_MAX: usize = 24;

/// Diverging colour for a similarity in [−1, 1]: blue, white, red; NaN grey.
pub fn color(v: f32) -> RGBColor {
    if !v.is_finite() {
        return RGBColor(190, 190, 190);
    }
    let v = v.clamp(-1.0, 1.0) as f64;
    let (end, f) = if v >= 0.0 {
        ((178.0, 24.0, 43.0), v)
    } else {
        ((33.0, 102.0, 172.0), -v)
    };
    let mix = |a: f64| (255.0 + (a - 255.0) * f).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// An RGB raster blitted at a pixel position (SVG: an embedded PNG).
struct Raster {
    pos: BackendCoord,
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

impl<'a> PointCollection<'a, BackendCoord> for &'a Raster {
    type Point = &'a BackendCoord;
    type IntoIter = std::iter::Once<&'a BackendCoord>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.pos)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Raster {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        match pos.next() {
            Some(p) => backend.blit_bitmap(p, (self.w, self.h), &self.rgb),
            None => Ok(()),
        }
    }
}

pub struct SimilarityFigure<'a> {
    r: &'a FinishedRun,
    /// Leaf order: position → class.
    order: Vec<usize>,
    /// Heatmap side in pixels and its origin.
    n_px: i32,
    x0: i32,
    y0: i32,
    dendro: i32,
    lab_w: i32,
    width: i32,
    height: i32,
}

impl<'a> SimilarityFigure<'a> {
    pub fn new(r: &'a FinishedRun) -> Self {
        let c = r.c as i32;
        let n_px = (c * 28).clamp(320, 1000);
        let dendro = if r.c > 1 { 130 } else { 0 };
        let lab_w = (0..r.c)
            .map(|p| text_width(&Self::label(r, p), SMALL))
            .max()
            .unwrap_or(20)
            + 10;
        let x0 = 20 + dendro + 6;
        let y0 = 70 + dendro + 6;
        let width = x0 + n_px + 6 + lab_w + 30 + 20 + 70;
        let height = (y0 + n_px + 6 + lab_w + 30).max(y0 + n_px + 60);
        SimilarityFigure {
            r,
            order: r.cluster_order.iter().map(|&x| x as usize).collect(),
            n_px,
            x0,
            y0,
            dendro,
            lab_w,
            width,
            height,
        }
    }

    fn label(r: &FinishedRun, p: usize) -> String {
        let (i, n) = (r.index[p], &r.names[p]);
        if *n == i.to_string() {
            n.clone()
        } else {
            shorten(n, NAME_MAX)
        }
    }

    /// Pixel edge of leaf position `i` (0..=C).
    fn edge(&self, i: usize) -> i32 {
        (i as f64 * self.n_px as f64 / self.r.c as f64).round() as i32
    }
    fn centre(&self, i: usize) -> f64 {
        (i as f64 + 0.5) * self.n_px as f64 / self.r.c as f64
    }

    /// Dendrogram segments as (leaf-axis position in pixels, height in 0..1) polylines.
    fn dendrogram(&self) -> Vec<[(f64, f64); 4]> {
        let c = self.r.c;
        if c < 2 {
            return Vec::new();
        }
        let mut pos_of = vec![0usize; c];
        for (i, &p) in self.order.iter().enumerate() {
            pos_of[p] = i;
        }
        let l = &self.r.linkage;
        let dmax = (0..c - 1)
            .map(|m| l[m * 4 + 2])
            .filter(|d| d.is_finite())
            .fold(0.0f64, f64::max);
        let dmax = if dmax > 0.0 { dmax } else { 1.0 };
        let mut node: Vec<(f64, f64)> = (0..c).map(|p| (self.centre(pos_of[p]), 0.0)).collect();
        let mut segs = Vec::with_capacity(c - 1);
        for m in 0..c - 1 {
            let (a, b) = (l[m * 4] as usize, l[m * 4 + 1] as usize);
            let d = l[m * 4 + 2];
            let h = if d.is_finite() {
                (d / dmax).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let (Some(&na), Some(&nb)) = (node.get(a), node.get(b)) else {
                node.push(((node.last().map_or(0.0, |n| n.0)), h));
                continue;
            };
            let h = h.max(na.1).max(nb.1);
            segs.push([(na.0, na.1), (na.0, h), (nb.0, h), (nb.0, nb.1)]);
            node.push(((na.0 + nb.0) / 2.0, h));
        }
        segs
    }
}

impl Figure for SimilarityFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let r = self.r;
        let c = r.c;
        let (x0, y0, n) = (self.x0, self.y0, self.n_px);
        header(
            area,
            "Class similarity (Pearson correlation of positive OFIV), average-linkage order",
            &format!(
                "{} classes · input of layer {} · model {}",
                c, r.layer, r.model
            ),
        )?;
        // Cells.
        let sim = |i: usize, j: usize| r.similarity[self.order[i] * c + self.order[j]];
        if c <= VECTOR_MAX {
            for i in 0..c {
                for j in 0..c {
                    let col = color(sim(i, j));
                    area.draw(&Rectangle::new(
                        [
                            (x0 + self.edge(j), y0 + self.edge(i)),
                            (x0 + self.edge(j + 1), y0 + self.edge(i + 1)),
                        ],
                        col.filled(),
                    ))?;
                }
            }
        } else {
            let np = n as usize;
            let mut rgb = vec![0u8; np * np * 3];
            let cell = |px: usize| (px * c / np).min(c - 1);
            for py in 0..np {
                let i = cell(py);
                for px in 0..np {
                    let RGBColor(a, b, d) = color(sim(i, cell(px)));
                    let o = (py * np + px) * 3;
                    rgb[o] = a;
                    rgb[o + 1] = b;
                    rgb[o + 2] = d;
                }
            }
            area.draw(&Raster {
                pos: (x0, y0),
                w: n as u32,
                h: n as u32,
                rgb,
            })?;
        }
        area.draw(&Rectangle::new(
            [(x0, y0), (x0 + n, y0 + n)],
            GREY.stroke_width(1),
        ))?;

        // Dendrograms: above the columns, left of the rows.
        let dh = self.dendro as f64 - 8.0;
        let style = BLACK.stroke_width(1);
        for seg in self.dendrogram() {
            let top: Vec<(i32, i32)> = seg
                .iter()
                .map(|&(p, h)| (x0 + p.round() as i32, y0 - 4 - (h * dh).round() as i32))
                .collect();
            area.draw(&PathElement::new(top, style))?;
            let left: Vec<(i32, i32)> = seg
                .iter()
                .map(|&(p, h)| (x0 - 4 - (h * dh).round() as i32, y0 + p.round() as i32))
                .collect();
            area.draw(&PathElement::new(left, style))?;
        }

        // Labels, thinned when the cells are smaller than a line of text.
        let pitch = n as f64 / c as f64;
        let step = label_step(pitch, 14.0);
        for i in (0..c).step_by(step) {
            let p = self.order[i];
            let name = Self::label(r, p);
            let mid = self.centre(i).round() as i32;
            label(area, &name, (x0 + n + 6, y0 + mid), SMALL, &BLACK)?;
            axis_label(area, &name, (x0 + mid, y0 + n + 6), SMALL, true)?;
        }
        if step > 1 {
            text(
                area,
                &format!("every {step}th class labelled; all {c} drawn"),
                (x0, y0 + n + 6 + self.lab_w + 8),
                SMALL,
                HPos::Left,
                VPos::Top,
                false,
                &GREY,
            )?;
        }

        // Colour bar.
        let bx = x0 + n + 6 + self.lab_w + 30;
        let bh = n.min(300);
        let by = y0;
        let bar: Vec<u8> = (0..bh)
            .flat_map(|y| {
                let v = 1.0 - 2.0 * (y as f32 + 0.5) / bh as f32;
                let RGBColor(a, b, d) = color(v);
                (0..20).flat_map(move |_| [a, b, d])
            })
            .collect();
        area.draw(&Raster {
            pos: (bx, by),
            w: 20,
            h: bh as u32,
            rgb: bar,
        })?;
        area.draw(&Rectangle::new(
            [(bx, by), (bx + 20, by + bh)],
            GREY.stroke_width(1),
        ))?;
        for (v, name) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (0.0, "0"),
            (-0.5, "−0.5"),
            (-1.0, "−1"),
        ] {
            let y = by + ((1.0 - v) / 2.0 * bh as f64).round() as i32;
            area.draw(&PathElement::new(
                vec![(bx + 20, y), (bx + 24, y)],
                BLACK.stroke_width(1),
            ))?;
            label(area, name, (bx + 27, y), SMALL, &BLACK)?;
        }
        text(
            area,
            "A",
            (bx + 10, by - 10),
            SMALL,
            HPos::Center,
            VPos::Bottom,
            false,
            &BLACK,
        )?;
        Ok(())
    }
}
