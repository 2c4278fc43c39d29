//! The class-similarity heatmap (A_ij, Pearson correlation of the positive
//! parts of the OFIVs) in dendrogram leaf order (/analysis/cluster_order), with
//! the average-linkage dendrogram (/analysis/linkage, SciPy's layout) above the
//! columns and left of the rows (the paper's Figs. 7 and 9).
//!
//! Up to [`VECTOR_MAX`] classes every cell is one rectangle; beyond, the cells
//! are one raster image (embedded PNG in the SVG), every cell still drawn.
//! Labels are thinned to stay legible; the data never are.
//!
//! At scale (more than [`DENDRO_FULL_MAX`] leaves, e.g. DeepSEA's 919) each
//! dendrogram shows its top levels only, as SciPy's `truncate_mode="lastp"`
//! does: the last [`LASTP`] clusters are its leaves, each drawn at the centre
//! of the span of classes it holds, with a bracket over that span and its
//! class count. With a cut (`plot --k N` / `--cut H`) the clusters are framed
//! on the matrix's diagonal, their ids written in the frames, and the cut
//! drawn across both dendrograms.
//!
//! The same figure draws sub-matrices (`plot --rows/--cols`, `--cluster`):
//! rows and columns are then each ordered by their own average linkage of
//! 1 − A (bi-clustered), with their own dendrograms.
use super::{
    axis_label, header, label, label_step, shorten, text, text_width, DrawResult, Figure, GREY,
    RED, SMALL,
};
use crate::analysis::cluster::{average_linkage, leaves_list};
use crate::results::FinishedRun;
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendCoord, DrawingErrorKind};

/// Largest class count drawn as one rectangle per cell.
pub const VECTOR_MAX: usize = 150;
/// Largest leaf count drawn as a full dendrogram; beyond, the top [`LASTP`] clusters.
pub const DENDRO_FULL_MAX: usize = 150;
/// Clusters kept as leaves of a truncated dendrogram (SciPy's `p`).
pub const LASTP: usize = 40;
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

/// A tree over some classes: a SciPy-layout linkage whose leaf i is `leaf[i]`
/// (class position), and each leaf's position on the matrix axis.
struct Tree {
    z: Vec<f64>,
    n: usize,
    /// Axis position (0..n) of each leaf.
    pos: Vec<usize>,
}

impl Tree {
    /// Average linkage of 1 − A among `members`; returns the tree and the
    /// members in its leaf order.
    fn of(r: &FinishedRun, members: &[usize]) -> (Option<Tree>, Vec<usize>) {
        let n = members.len();
        if n < 2 {
            return (None, members.to_vec());
        }
        let sim: Vec<f64> = members
            .iter()
            .flat_map(|&i| {
                members
                    .iter()
                    .map(move |&j| r.similarity[i * r.c + j] as f64)
            })
            .collect();
        let z = average_linkage(&sim, n);
        let order = leaves_list(&z, n);
        let mut pos = vec![0; n];
        for (p, &leaf) in order.iter().enumerate() {
            pos[leaf] = p;
        }
        let shown = order.iter().map(|&l| members[l]).collect();
        (Some(Tree { z, n, pos }), shown)
    }

    /// The file's own tree over every class, in /analysis/cluster_order.
    fn whole(r: &FinishedRun, order: &[usize]) -> Option<Tree> {
        if r.c < 2 || r.linkage.len() != (r.c - 1) * 4 {
            return None;
        }
        let mut pos = vec![0; r.c];
        for (p, &leaf) in order.iter().enumerate() {
            pos[leaf] = p;
        }
        Some(Tree {
            z: r.linkage.clone(),
            n: r.c,
            pos,
        })
    }

    fn dmax(&self) -> f64 {
        let d = (0..self.n - 1)
            .map(|m| self.z[m * 4 + 2])
            .filter(|d| d.is_finite())
            .fold(0.0f64, f64::max);
        if d > 0.0 {
            d
        } else {
            1.0
        }
    }

    /// Segments as (axis position in leaf units, height in 0..1) polylines, and
    /// the truncated leaves as (first position, end position, classes).
    #[allow(clippy::type_complexity)]
    fn segments(&self) -> (Vec<[(f64, f64); 4]>, Vec<(usize, usize, usize)>) {
        let n = self.n;
        let dmax = self.dmax();
        // Truncation: merges before `first` are hidden; their clusters are leaves.
        let first = if n > DENDRO_FULL_MAX {
            (n - 1).saturating_sub(LASTP - 1)
        } else {
            0
        };
        // (centre, height, span lo, span hi) of every node.
        let mut node: Vec<(f64, f64, usize, usize)> = (0..n)
            .map(|l| (self.pos[l] as f64 + 0.5, 0.0, self.pos[l], self.pos[l] + 1))
            .collect();
        let mut segs = Vec::new();
        let mut hidden = vec![false; 2 * n - 1];
        for m in 0..n - 1 {
            let (a, b) = (self.z[m * 4] as usize, self.z[m * 4 + 1] as usize);
            let d = self.z[m * 4 + 2];
            let h = if d.is_finite() {
                (d / dmax).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let (Some(&na), Some(&nb)) = (node.get(a), node.get(b)) else {
                node.push((node.last().map_or(0.0, |x| x.0), h, 0, 0));
                continue;
            };
            let (lo, hi) = (na.2.min(nb.2), na.3.max(nb.3));
            if m < first {
                // A hidden merge: the node is drawn (if at all) at its span's centre, height 0.
                hidden[n + m] = true;
                node.push(((lo + hi) as f64 / 2.0, 0.0, lo, hi));
                continue;
            }
            let h = h.max(na.1).max(nb.1);
            segs.push([(na.0, na.1), (na.0, h), (nb.0, h), (nb.0, nb.1)]);
            node.push(((na.0 + nb.0) / 2.0, h, lo, hi));
        }
        let mut leaves = Vec::new();
        if first > 0 {
            for m in first..n - 1 {
                for ch in [self.z[m * 4] as usize, self.z[m * 4 + 1] as usize] {
                    if ch < node.len() && (ch < n || hidden[ch]) {
                        let nd = node[ch];
                        leaves.push((nd.2, nd.3, nd.3 - nd.2));
                    }
                }
            }
            leaves.sort_unstable();
        }
        (segs, leaves)
    }
}

/// Cluster frames on the diagonal: (first position, end position, id).
type Frames = Vec<(usize, usize, usize)>;

pub struct SimilarityFigure<'a> {
    r: &'a FinishedRun,
    /// Classes along the rows and the columns, in display order.
    rows: Vec<usize>,
    cols: Vec<usize>,
    row_tree: Option<Tree>,
    col_tree: Option<Tree>,
    title: String,
    subtitle: String,
    /// With a cut: the frames and the cut height (as a share of each tree's dmax).
    frames: Option<(Frames, f64)>,
    /// Matrix size in pixels and its origin.
    w_px: i32,
    h_px: i32,
    x0: i32,
    y0: i32,
    dendro: i32,
    /// Band between a truncated dendrogram and the matrix, for the counts.
    band_top: i32,
    band_left: i32,
    lab_w: i32,
    lab_h: i32,
    width: i32,
    height: i32,
}

const COUNT_FONT: f64 = 9.0;

impl<'a> SimilarityFigure<'a> {
    /// Every class, in the file's dendrogram order, with its dendrograms.
    pub fn new(r: &'a FinishedRun) -> Self {
        let order: Vec<usize> = r.cluster_order.iter().map(|&x| x as usize).collect();
        let title =
            "Class similarity (Pearson correlation of positive OFIV), average-linkage order"
                .to_string();
        let subtitle = format!(
            "{} classes · input of layer {} · model {}",
            r.c, r.layer, r.model
        );
        let (t1, t2) = (Tree::whole(r, &order), Tree::whole(r, &order));
        Self::layout(r, order.clone(), order, t1, t2, title, subtitle, None)
    }

    /// [`new`](Self::new) with the clusters of `cut` framed on the diagonal.
    pub fn with_cut(r: &'a FinishedRun, cut: crate::clusters::Cut) -> Self {
        let mut f = Self::new(r);
        let ids = crate::clusters::fcluster(&r.linkage, r.c, cut);
        let mut frames: Frames = Vec::new();
        for (p, &class) in f.rows.iter().enumerate() {
            match frames.last_mut() {
                Some(last) if last.2 == ids[class] => last.1 = p + 1,
                _ => frames.push((p, p + 1, ids[class])),
            }
        }
        let h = crate::clusters::cut_height(&r.linkage, r.c, cut);
        let share = f
            .row_tree
            .as_ref()
            .map_or(0.0, |t| (h / t.dmax()).clamp(0.0, 1.0));
        f.subtitle = format!(
            "{} · {} clusters framed, {}",
            f.subtitle,
            frames.len(),
            cut.describe()
        );
        f.frames = Some((frames, share));
        f
    }

    /// The sub-matrix of `rows` × `cols` (class positions), each ordered by
    /// its own average linkage (bi-clustered).
    pub fn sub(r: &'a FinishedRun, rows: &[usize], cols: &[usize], what: &str) -> Self {
        let (rt, rows) = Tree::of(r, rows);
        let (ct, cols) = Tree::of(r, cols);
        let title = format!("Class similarity sub-matrix: {what}");
        let subtitle = format!(
            "{} rows × {} columns, each in its own average-linkage order · input of layer {} · model {}",
            rows.len(),
            cols.len(),
            r.layer,
            r.model
        );
        Self::layout(r, rows, cols, rt, ct, title, subtitle, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn layout(
        r: &'a FinishedRun,
        rows: Vec<usize>,
        cols: Vec<usize>,
        row_tree: Option<Tree>,
        col_tree: Option<Tree>,
        title: String,
        subtitle: String,
        frames: Option<(Frames, f64)>,
    ) -> Self {
        let (nr, nc) = (rows.len().max(1), cols.len().max(1));
        let big = nr.max(nc);
        let side = (big as i32 * 28).clamp(320, 1000) as f64;
        let cell = side / big as f64;
        let w_px = (cell * nc as f64).round().max(1.0) as i32;
        let h_px = (cell * nr as f64).round().max(1.0) as i32;
        let dendro = if col_tree.is_some() || row_tree.is_some() {
            130
        } else {
            0
        };
        let band_top = if nc > DENDRO_FULL_MAX { 16 } else { 0 };
        let band_left = if nr > DENDRO_FULL_MAX {
            text_width("(000)", COUNT_FONT) + 6
        } else {
            0
        };
        let widest = |v: &[usize]| {
            v.iter()
                .map(|&p| text_width(&Self::label(r, p), SMALL))
                .max()
                .unwrap_or(20)
                + 10
        };
        let lab_w = widest(&rows);
        let lab_h = widest(&cols);
        let x0 = 20 + dendro + band_left + 6;
        let y0 = 70 + dendro + band_top + 6;
        let width = (x0 + w_px + 6 + lab_w + 30 + 20 + 70)
            .max(text_width(&subtitle, SMALL) + 40)
            .max(text_width(&title, super::TITLE) + 40);
        let height = (y0 + h_px + 6 + lab_h + 30).max(y0 + h_px.max(300) + 60);
        SimilarityFigure {
            r,
            rows,
            cols,
            row_tree,
            col_tree,
            title,
            subtitle,
            frames,
            w_px,
            h_px,
            x0,
            y0,
            dendro,
            band_top,
            band_left,
            lab_w,
            lab_h,
            width,
            height,
        }
    }

    /// Classes along the rows and the columns, in display order.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }
    pub fn cols(&self) -> &[usize] {
        &self.cols
    }

    /// The class's name; a flagged class (not learned, restarts collapsed) ends in " !".
    fn label(r: &FinishedRun, p: usize) -> String {
        let (i, n) = (r.index[p], &r.names[p]);
        let name = if *n == i.to_string() {
            n.clone()
        } else {
            shorten(n, NAME_MAX)
        };
        if r.flag_words(p).is_empty() {
            name
        } else {
            format!("{name} !")
        }
    }

    /// Pixel edge of position `i` of `n` over `px` pixels.
    fn edge(i: usize, n: usize, px: i32) -> i32 {
        (i as f64 * px as f64 / n as f64).round() as i32
    }
}

impl Figure for SimilarityFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let r = self.r;
        let (nr, nc) = (self.rows.len(), self.cols.len());
        let (x0, y0, w, h) = (self.x0, self.y0, self.w_px, self.h_px);
        header(area, &self.title, &self.subtitle)?;
        if nr == 0 || nc == 0 {
            return Ok(());
        }
        let c = r.c;
        let sim = |i: usize, j: usize| r.similarity[self.rows[i] * c + self.cols[j]];
        let ex = |j: usize| Self::edge(j, nc, w);
        let ey = |i: usize| Self::edge(i, nr, h);
        // Cells.
        if nr.max(nc) <= VECTOR_MAX {
            for i in 0..nr {
                for j in 0..nc {
                    area.draw(&Rectangle::new(
                        [(x0 + ex(j), y0 + ey(i)), (x0 + ex(j + 1), y0 + ey(i + 1))],
                        color(sim(i, j)).filled(),
                    ))?;
                }
            }
        } else {
            let (wp, hp) = (w as usize, h as usize);
            let mut rgb = vec![0u8; wp * hp * 3];
            for py in 0..hp {
                let i = (py * nr / hp).min(nr - 1);
                for px in 0..wp {
                    let RGBColor(a, b, d) = color(sim(i, (px * nc / wp).min(nc - 1)));
                    let o = (py * wp + px) * 3;
                    rgb[o] = a;
                    rgb[o + 1] = b;
                    rgb[o + 2] = d;
                }
            }
            area.draw(&Raster {
                pos: (x0, y0),
                w: w as u32,
                h: h as u32,
                rgb,
            })?;
        }
        area.draw(&Rectangle::new(
            [(x0, y0), (x0 + w, y0 + h)],
            GREY.stroke_width(1),
        ))?;

        // Cluster frames and ids.
        if let Some((frames, _)) = &self.frames {
            for &(a, b, id) in frames {
                area.draw(&Rectangle::new(
                    [(x0 + ex(a), y0 + ey(a)), (x0 + ex(b), y0 + ey(b))],
                    BLACK.stroke_width(1),
                ))?;
                if ex(b) - ex(a) >= 18 {
                    text(
                        area,
                        &format!("#{id}"),
                        (x0 + ex(a) + 2, y0 + ey(a) + 2),
                        SMALL,
                        HPos::Left,
                        VPos::Top,
                        false,
                        &BLACK,
                    )?;
                }
            }
        }

        // Dendrograms: above the columns, left of the rows.
        let dh = self.dendro as f64 - 8.0;
        let thin = nr.max(nc) > DENDRO_FULL_MAX;
        let style = if thin {
            RGBColor(60, 60, 60).stroke_width(1)
        } else {
            BLACK.stroke_width(1)
        };
        let ytop = y0 - 4 - self.band_top;
        let xleft = x0 - 4 - self.band_left;
        let cut_share = self.frames.as_ref().map(|f| f.1);
        if let Some(tree) = &self.col_tree {
            let px = |p: f64| x0 + (p * w as f64 / nc as f64).round() as i32;
            let (segs, leaves) = tree.segments();
            for seg in segs {
                let pts: Vec<(i32, i32)> = seg
                    .iter()
                    .map(|&(p, hh)| (px(p), ytop - (hh * dh).round() as i32))
                    .collect();
                area.draw(&PathElement::new(pts, style))?;
            }
            let step = label_step(w as f64 / leaves.len().max(1) as f64, 24.0);
            for (li, &(a, b, count)) in leaves.iter().enumerate() {
                let (xa, xb) = (px(a as f64) + 1, px(b as f64) - 1);
                area.draw(&PathElement::new(
                    vec![(xa, y0 - 3), (xb.max(xa), y0 - 3)],
                    GREY.stroke_width(1),
                ))?;
                if li % step == 0 {
                    text(
                        area,
                        &format!("({count})"),
                        ((xa + xb) / 2, ytop + 2),
                        COUNT_FONT,
                        HPos::Center,
                        VPos::Top,
                        false,
                        &GREY,
                    )?;
                }
            }
            if let Some(s) = cut_share {
                let y = ytop - (s * dh).round() as i32;
                area.draw(&PathElement::new(
                    vec![(x0, y), (x0 + w, y)],
                    RED.stroke_width(1),
                ))?;
            }
        }
        if let Some(tree) = &self.row_tree {
            let py = |p: f64| y0 + (p * h as f64 / nr as f64).round() as i32;
            let (segs, leaves) = tree.segments();
            for seg in segs {
                let pts: Vec<(i32, i32)> = seg
                    .iter()
                    .map(|&(p, hh)| (xleft - (hh * dh).round() as i32, py(p)))
                    .collect();
                area.draw(&PathElement::new(pts, style))?;
            }
            let step = label_step(h as f64 / leaves.len().max(1) as f64, 11.0);
            for (li, &(a, b, count)) in leaves.iter().enumerate() {
                let (ya, yb) = (py(a as f64) + 1, py(b as f64) - 1);
                area.draw(&PathElement::new(
                    vec![(x0 - 3, ya), (x0 - 3, yb.max(ya))],
                    GREY.stroke_width(1),
                ))?;
                if li % step == 0 {
                    text(
                        area,
                        &format!("({count})"),
                        (x0 - 6, (ya + yb) / 2),
                        COUNT_FONT,
                        HPos::Right,
                        VPos::Center,
                        false,
                        &GREY,
                    )?;
                }
            }
            if let Some(s) = cut_share {
                let x = xleft - (s * dh).round() as i32;
                area.draw(&PathElement::new(
                    vec![(x, y0), (x, y0 + h)],
                    RED.stroke_width(1),
                ))?;
            }
        }

        // Labels, thinned when the cells are smaller than a line of text.
        let rstep = label_step(h as f64 / nr as f64, 14.0);
        for i in (0..nr).step_by(rstep) {
            let mid = ((ey(i) + ey(i + 1)) as f64 / 2.0).round() as i32;
            let name = Self::label(r, self.rows[i]);
            label(area, &name, (x0 + w + 6, y0 + mid), SMALL, &BLACK)?;
        }
        let cstep = label_step(w as f64 / nc as f64, 14.0);
        for j in (0..nc).step_by(cstep) {
            let mid = ((ex(j) + ex(j + 1)) as f64 / 2.0).round() as i32;
            let name = Self::label(r, self.cols[j]);
            axis_label(area, &name, (x0 + mid, y0 + h + 6), SMALL, true)?;
        }
        let mut notes = Vec::new();
        if rstep > 1 || cstep > 1 {
            notes.push(format!(
                "every {} class labelled; all {} × {} drawn",
                crate::numbers::ordinal(rstep.max(cstep)),
                nr,
                nc
            ));
        }
        if thin {
            notes.push(format!(
                "dendrograms cut to their top {LASTP} clusters (SciPy's truncate_mode=\"lastp\"), class counts in brackets"
            ));
        }
        if !notes.is_empty() {
            text(
                area,
                &notes.join("; "),
                (x0, y0 + h + 6 + self.lab_h + 8),
                SMALL,
                HPos::Left,
                VPos::Top,
                false,
                &GREY,
            )?;
        }

        // Colour bar.
        let bx = x0 + w + 6 + self.lab_w + 30;
        let bh = h.clamp(120, 300);
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
