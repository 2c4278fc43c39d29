//! Small sequence logos as SVG symbols for HTML pages: one `<symbol>` per
//! motif, drawn once and placed wherever the motif is shown (`<use>`), so a
//! table of 919 classes repeats a reference, not the drawing.
use crate::channels::notes::bits;
use std::fmt::Write as _;

/// Letter colours of the usual logos: A green, C blue, G orange, T red.
const COLORS: [&str; 4] = ["#109648", "#255c99", "#f7b32b", "#d62839"];
const LETTERS: [char; 4] = ['A', 'C', 'G', 'T'];

/// Height of the symbol's coordinate box: 2 bits.
pub const HEIGHT: f64 = 100.0;
/// Width of one column in the symbol's coordinates.
pub const COLUMN: f64 = 40.0;

/// The id a motif's symbol goes by.
pub fn symbol_id(channel: usize) -> String {
    format!("logo-ch{channel}")
}

/// `<symbol>` of a PWM (rows of A, C, G, T): letter heights p × information,
/// the most probable letter on top.
pub fn symbol(id: &str, pwm: &[[f64; 4]]) -> String {
    let w = COLUMN * pwm.len().max(1) as f64;
    let mut s =
        format!("<symbol id=\"{id}\" viewBox=\"0 0 {w} {HEIGHT}\" preserveAspectRatio=\"none\">");
    for (j, col) in pwm.iter().enumerate() {
        let ic = bits(col);
        let mut order = [0usize, 1, 2, 3];
        order.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
        let mut y = HEIGHT;
        for &l in &order {
            let h = col[l] * ic / 2.0 * HEIGHT;
            if h < 0.5 {
                continue;
            }
            // A glyph of font size 100 is about 72 tall (cap height) and 70
            // wide; scale it to the column's box.
            let _ = write!(
                s,
                "<text transform=\"translate({:.1} {:.1}) scale({:.3} {:.3})\" text-anchor=\"middle\" font-family=\"DejaVu Sans,Arial,sans-serif\" font-weight=\"bold\" font-size=\"100\" fill=\"{}\">{}</text>",
                COLUMN * j as f64 + COLUMN / 2.0,
                y,
                COLUMN / 70.0,
                h / 72.0,
                COLORS[l],
                LETTERS[l]
            );
            y -= h;
        }
    }
    s.push_str("</symbol>");
    s
}

/// A placed logo of `columns` columns, `height` pixels tall.
pub fn place(id: &str, columns: usize, height: u32) -> String {
    let w = (columns.max(1) as f64 * height as f64 * 0.4).round() as u32;
    format!("<svg class=\"logo\" width=\"{w}\" height=\"{height}\" role=\"img\"><use href=\"#{id}\"/></svg>")
}
