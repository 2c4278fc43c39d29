//! The HTML of `report`: plain HTML that reads without scripts (every row,
//! every figure), plus a small inline script that sorts the class table by a
//! clicked column, filters it and shows it a page at a time.
use super::{logo_svg, Inputs, ReportOptions};
use crate::plot::{class_figure, heatmap, png_bytes, svg_string};
use crate::results::FinishedRun;
use crate::Result;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Rows of the class table shown at a time (the script's page).
pub const PAGE_ROWS: usize = 50;

/// Text safe inside HTML elements and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub use crate::numbers::num;

/// Standard base64 of `b`, for data URIs.
pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn display_name(r: &FinishedRun, ci: usize) -> String {
    let (i, n) = (r.index[ci], &r.names[ci]);
    if *n == i.to_string() {
        n.clone()
    } else {
        format!("{n} ({i})")
    }
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:middle}
th{background:#f3f3f3;position:sticky;top:0}th.sort{cursor:pointer}th.sort:after{content:' \\2195';color:#999}
.ch{display:inline-block;margin:1px 4px 1px 0;white-space:nowrap}.ch b{font-weight:normal;color:#555}
.pos{color:#b2182b}.neg{color:#2166ac}.small{font-size:0.8em;color:#666}
svg.logo{vertical-align:middle;border-bottom:1px solid #eee}details{margin:4px 0}summary{cursor:pointer}
#pager button{margin:0 4px}img.fig,details svg{max-width:100%;height:auto}";

const SCRIPT: &str = r#"(function(){
var t=document.getElementById('classes'),tb=t.tBodies[0],rows=[].slice.call(tb.rows);
var page=0,PAGE=+t.dataset.page,f=document.getElementById('filter'),p=document.getElementById('pager');
function shown(){var q=f.value.toLowerCase();return rows.filter(function(r){return !q||r.textContent.toLowerCase().indexOf(q)>=0;});}
function draw(){var v=shown(),n=Math.max(1,Math.ceil(v.length/PAGE));if(page>=n)page=n-1;
rows.forEach(function(r){r.hidden=true;});v.slice(page*PAGE,(page+1)*PAGE).forEach(function(r){r.hidden=false;});
p.querySelector('span').textContent=v.length?('classes '+(page*PAGE+1)+'–'+Math.min(v.length,(page+1)*PAGE)+' of '+v.length+(v.length<rows.length?' (filtered from '+rows.length+')':'')):'no class matches';}
[].forEach.call(t.tHead.rows[0].cells,function(th,i){if(!th.classList.contains('sort'))return;th.addEventListener('click',function(){
var d=th.dataset.dir==='asc'?'desc':'asc';th.dataset.dir=d;var num=th.dataset.type==='num';
rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;var c=num?(+x)-(+y):x.localeCompare(y);return d==='asc'?c:-c;});
rows.forEach(function(r){tb.appendChild(r);});page=0;draw();});});
f.addEventListener('input',function(){page=0;draw();});
p.querySelector('.prev').addEventListener('click',function(){if(page>0){page--;draw();}});
p.querySelector('.next').addEventListener('click',function(){page++;draw();});
p.hidden=false;f.hidden=false;draw();document.body.dataset.ready='yes';})();"#;

/// The whole page.
pub fn page(inp: &Inputs, o: &ReportOptions) -> Result<String> {
    let r = &inp.run;
    let mut h = String::new();
    let title = format!("DeepResolve report — {}", r.model);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p>{} classes × {} restarts, {} channels of the input of layer <b>{}</b> · results <code>{}</code>{}</p>",
        esc(&title),
        r.c,
        r.t,
        r.k,
        esc(&r.layer),
        esc(&r.path.display().to_string()),
        match &inp.notes {
            Some(n) => format!(
                " · channel motifs <code>{}</code>{}",
                esc(&n.path.display().to_string()),
                if n.matches.is_some() {
                    format!(
                        ", named by their best match in <code>{}</code>",
                        esc(&o.match_db.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
                    )
                } else {
                    String::new()
                }
            ),
            None => String::new(),
        }
    );
    h.push_str("<p><a href=\"#settings\">Settings</a> · <a href=\"#table\">Classes</a> · <a href=\"#similarity\">Similarity and clusters</a> · <a href=\"#figures\">Class figures</a></p>");
    settings(&mut h, inp);
    let used = table(&mut h, inp, o);
    similarity(&mut h, inp)?;
    figures(&mut h, inp, o)?;
    // Logos referenced above, each drawn once.
    if let Some(n) = &inp.notes {
        h.push_str(
            "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>",
        );
        for &k in &used {
            h.push_str(&logo_svg::symbol(&logo_svg::symbol_id(k), &n.pwms[k]));
        }
        h.push_str("</defs></svg>");
    }
    let _ = writeln!(h, "<script>{SCRIPT}</script></body></html>");
    Ok(h)
}

fn settings(h: &mut String, inp: &Inputs) {
    h.push_str("<h2 id=\"settings\">Settings</h2><table><tbody>");
    for (k, v) in &inp.settings {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    h.push_str("</tbody></table>");
}

/// One channel in a cell: number, OFIV, logo and motif name.
fn channel(h: &mut String, inp: &Inputs, k: usize, ofiv: f32, used: &mut BTreeSet<usize>) {
    let sign = if ofiv >= 0.0 { "pos" } else { "neg" };
    let _ = write!(
        h,
        "<span class=\"ch\" data-channel=\"{k}\"><span class=\"{sign}\">{k}</span> <b>{}</b>",
        num(ofiv as f64)
    );
    if let Some(n) = &inp.notes {
        used.insert(k);
        let _ = write!(
            h,
            " {} <span class=\"motif\">{}</span>",
            logo_svg::place(&logo_svg::symbol_id(k), n.pwms[k].len(), 22),
            esc(&n.describe(k))
        );
    }
    h.push_str("</span>");
}

/// The class table; returns the channels whose logos it shows.
fn table(h: &mut String, inp: &Inputs, o: &ReportOptions) -> BTreeSet<usize> {
    let r = &inp.run;
    let top = o.top.min(r.k);
    let mut used = BTreeSet::new();
    let _ = write!(
        h,
        "<h2 id=\"table\">Classes</h2><p class=\"small\">Channels by OFIV (the class's overall feature importance; red positive, blue negative): the {top} highest and the {top} lowest, each with its OFIV{}. Non-additive: channels whose importance varies between restarts (the paper's non-additive test). Flags: classes whose results should not be read as the others (not learned: ascent scores far below the other classes; restarts collapsed: every restart found one map). Click a column heading to sort.</p>",
        if inp.notes.is_some() {
            ", logo and motif (best match, or the consensus, of the channel's motif in the channels file)"
        } else {
            " (give --channels-file CH.h5 for logos and motif names)"
        }
    );
    let _ = write!(
        h,
        "<p><input id=\"filter\" placeholder=\"filter classes\" hidden> <span id=\"pager\" hidden><button class=\"prev\">‹ previous</button><span></span><button class=\"next\">next ›</button></span></p><table id=\"classes\" data-page=\"{PAGE_ROWS}\"><thead><tr><th class=\"sort\" data-type=\"num\">output</th><th class=\"sort\">class</th><th class=\"sort\" data-type=\"num\">cluster</th><th class=\"sort\" data-type=\"num\">mean score</th><th class=\"sort\" data-type=\"num\">top channels</th><th class=\"sort\" data-type=\"num\">lowest channels</th><th class=\"sort\" data-type=\"num\">non-additive</th><th class=\"sort\" title=\"not learned: the ascent's scores are far below the run's other classes; restarts collapsed: every restart found the same map (IL ≈ 0), so additivity is not tested\">flags</th><th>figure</th></tr></thead><tbody>"
    );
    for ci in 0..r.c {
        let rank = r.rank_row(ci);
        let ofiv = r.ofiv_row(ci);
        let scores = &r.score[ci * r.t..(ci + 1) * r.t];
        // Bad scores were masked to NaN (results::bad_values): the mean leaves them out.
        let good: Vec<f64> = scores
            .iter()
            .map(|&s| s as f64)
            .filter(|s| s.is_finite())
            .collect();
        let mean = good.iter().sum::<f64>() / good.len().max(1) as f64;
        let top_ch = rank[0];
        let _ = write!(
            h,
            "<tr id=\"class-{ci}\" data-class=\"{}\" data-name=\"{}\" data-top=\"{top_ch}\"{}>",
            r.index[ci],
            esc(&r.names[ci]),
            match &inp.notes {
                Some(n) => format!(
                    " data-top-motif=\"{}\"",
                    esc(&n
                        .best(top_ch)
                        .map(|m| m.id.clone())
                        .unwrap_or_else(|| n.consensus[top_ch].clone()))
                ),
                None => String::new(),
            }
        );
        let _ = write!(
            h,
            "<td data-v=\"{0}\">{0}</td><td data-v=\"{1}\">{1}</td><td data-v=\"{2}\">{2}</td><td data-v=\"{mean}\">{3}</td>",
            r.index[ci],
            esc(&r.names[ci]),
            inp.clusters.id[ci],
            num(mean)
        );
        let _ = write!(h, "<td data-v=\"{}\">", ofiv[rank[0]]);
        for &k in rank.iter().take(top) {
            channel(h, inp, k, ofiv[k], &mut used);
        }
        let _ = write!(h, "</td><td data-v=\"{}\">", ofiv[rank[r.k - 1]]);
        for &k in rank.iter().rev().take(top) {
            channel(h, inp, k, ofiv[k], &mut used);
        }
        let na: Vec<usize> = rank
            .iter()
            .copied()
            .filter(|&k| r.nonadditive_row(ci)[k] != 0)
            .collect();
        let _ = write!(h, "</td><td data-v=\"{}\">", na.len());
        if na.is_empty() {
            h.push_str("none");
        } else {
            let shown: Vec<String> = na
                .iter()
                .take(8)
                .map(|&k| match &inp.notes {
                    Some(n) => format!("{k} {}", esc(&n.describe(k))),
                    None => k.to_string(),
                })
                .collect();
            let _ = write!(
                h,
                "{}: {}{}",
                na.len(),
                shown.join(", "),
                if na.len() > 8 { ", …" } else { "" }
            );
        }
        let flags = r.flag_words(ci);
        let _ = write!(
            h,
            "</td><td class=\"flags\" data-v=\"{0}\">{0}</td><td><a href=\"#fig-{ci}\">figure</a></td></tr>",
            if flags.is_empty() {
                "—".to_string()
            } else {
                esc(&flags)
            }
        );
    }
    h.push_str("</tbody></table>");
    used
}

fn similarity(h: &mut String, inp: &Inputs) -> Result<()> {
    let r = &inp.run;
    let cl = &inp.clusters;
    h.push_str("<h2 id=\"similarity\">Similarity and clusters</h2>");
    if r.c >= 2 {
        let fig = heatmap::SimilarityFigure::with_cut(r, cl.cut);
        let _ = write!(
            h,
            "<img class=\"fig\" alt=\"class similarity matrix\" src=\"data:image/png;base64,{}\">",
            base64(&png_bytes(&fig)?)
        );
    } else {
        h.push_str("<p>One class: no similarity matrix.</p>");
    }
    let _ = write!(
        h,
        "<p>{} clusters of {} classes, {} (similarity A = Pearson correlation of positive OFIVs).</p><ol>",
        cl.groups.len(),
        r.c,
        esc(&cl.cut.describe())
    );
    let sim = |i: usize, j: usize| r.similarity[i * r.c + j] as f64;
    for (id, members) in &cl.groups {
        let mut line = format!(
            "cluster {id}: {} class{}",
            members.len(),
            if members.len() == 1 { "" } else { "es" }
        );
        if let Some(m) = crate::clusters::mean_pairwise(members, sim) {
            let _ = write!(line, ", mean similarity {}", num(m));
        }
        if let Some(l) = &inp.label_corr {
            if let Some(m) = crate::clusters::mean_pairwise(members, l) {
                let _ = write!(line, ", mean label correlation {}", num(m));
            }
        }
        let names: Vec<String> = members
            .iter()
            .map(|&p| format!("<a href=\"#class-{p}\">{}</a>", esc(&display_name(r, p))))
            .collect();
        let _ = write!(
            h,
            "<li value=\"{id}\">{} — {}</li>",
            esc(&line),
            names.join(", ")
        );
    }
    h.push_str("</ol>");
    Ok(())
}

fn figures(h: &mut String, inp: &Inputs, o: &ReportOptions) -> Result<()> {
    let r = &inp.run;
    let n = o.figures.unwrap_or(r.c).min(r.c);
    let _ = write!(
        h,
        "<h2 id=\"figures\">Class figures</h2><p class=\"small\">Each restart's feature importance φ per channel (circles), the IL and OFIV rows, channels ordered by OFIV, non-additive channels starred.{}</p>",
        if n < r.c {
            format!(
                " The page carries the first {n} of {} classes' figures (report --figures N|all carries more; plot --classes draws any).",
                r.c
            )
        } else {
            String::new()
        }
    );
    let logos = inp
        .notes
        .as_ref()
        .map(class_figure::ColumnLogos::from_notes);
    for ci in 0..r.c {
        let _ = write!(
            h,
            "<details id=\"fig-{ci}\"><summary>{}</summary>",
            esc(&display_name(r, ci))
        );
        if ci < n {
            let fig = class_figure::ClassFigure::with_logos(
                r,
                ci,
                class_figure::Channels::Auto,
                logos.as_ref(),
            )
            .with_channel_motifs();
            h.push_str(&svg_string(&fig)?);
        } else {
            h.push_str("<p class=\"small\">not carried (report --figures all)</p>");
        }
        h.push_str("</details>");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn escapes_and_base64() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(base64(b""), "");
    }
}
