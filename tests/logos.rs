//! `plot --logos` on the synthetic Dataset I model (its first-layer filters
//! carry the planted motifs), the logo sheet of a `channels` file
//! (`plot CHANNELS.h5`), and the logo geometry itself.
mod common;
use common::{fixture, motif_match, run_bin, stderr_of, tmpdir};
use deepresolve_mpi::plot::logo::{
    column_stack, information_content, logo_glyphs, LogoLayout, DEFAULT_TOP,
};
use deepresolve_mpi::results::FinishedRun;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn model() -> String {
    fixture("synthetic/dataset1.h5")
}

/// `run --layer flatten --restarts 3 --max-steps 50`, made once per test binary.
fn results() -> PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let out = tmpdir("logos-results").join("r.h5");
        let m = model();
        let o = run_bin(
            &[
                "run",
                "--model",
                &m,
                "--layer",
                "flatten",
                "--out",
                out.to_str().unwrap(),
                "--restarts",
                "3",
                "--max-steps",
                "50",
                "--quiet",
            ],
            None,
            300,
        );
        assert!(o.status.success(), "run failed:\n{}", stderr_of(&o));
        out
    })
    .clone()
}

/// A MEME database of the three planted motifs.
fn planted_db(dir: &Path) -> PathBuf {
    let mut s = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n");
    for (id, seq) in [("M1", "CAGGTC"), ("M2", "GCTCAT"), ("M3", "CGCTTG")] {
        s += &format!(
            "MOTIF {id} planted_{seq}\nletter-probability matrix: alength= 4 w= {} nsites= 20 E= 0\n",
            seq.len()
        );
        for ch in seq.chars() {
            let row: Vec<&str> = "ACGT"
                .chars()
                .map(|b| if b == ch { "0.91" } else { "0.03" })
                .collect();
            s += &format!(" {}\n", row.join(" "));
        }
        s.push('\n');
    }
    let p = dir.join("planted.meme");
    std::fs::write(&p, s).unwrap();
    p
}

/// The SVG's text nodes, trimmed.
fn svg_texts(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{}: not XML: {e}", p.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

fn png_dims(p: &Path) -> (u32, u32) {
    let dec = png::Decoder::new(std::fs::File::open(p).unwrap());
    let mut reader = dec
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", p.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: PNG does not decode: {e}", p.display()));
    (info.width, info.height)
}

#[test]
fn logo_sheet_svg_and_png() {
    let res = results();
    let r = FinishedRun::read(&res).unwrap();
    let out = tmpdir("logos-out");
    let db = planted_db(&out);
    let m = model();
    let o = run_bin(
        &[
            "plot",
            res.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--logos",
            "--model",
            &m,
            "--match",
            db.to_str().unwrap(),
        ],
        None,
        120,
    );
    assert!(
        o.status.success(),
        "plot --logos failed:\n{}",
        stderr_of(&o)
    );
    let texts = svg_texts(&out.join("logos.svg"));
    let top = DEFAULT_TOP.min(r.k);
    let titles: Vec<&String> = texts.iter().filter(|t| t.contains(" · rank ")).collect();
    assert_eq!(titles.len(), r.c * top, "titles: {titles:?}");
    for ci in 0..r.c {
        for (ri, ch) in r.rank_row(ci).iter().take(top).enumerate() {
            let want = format!(" · rank {} · channel {ch}", ri + 1);
            assert!(
                titles.iter().any(|t| t.ends_with(&want)),
                "no title ending {want:?} in {titles:?}"
            );
        }
    }
    // --match: every logo names its best planted motif.
    let matches = texts
        .iter()
        .filter(|t| t.starts_with("best match M"))
        .count();
    assert_eq!(matches, r.c * top, "texts: {texts:?}");
    let (w, h) = png_dims(&out.join("logos.png"));
    assert!(w >= 640 && h > 100, "{w}×{h}");
    // No figures but the sheet.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["logos.png", "logos.svg", "planted.meme"]);
}

#[test]
fn logos_need_first_layer_filters_and_a_model() {
    let res = results();
    let out = tmpdir("logos-bad");
    let o = run_bin(
        &[
            "plot",
            res.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--logos",
        ],
        None,
        60,
    );
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("--model"), "{}", stderr_of(&o));
    // A results file of a layer whose channels are not the filters: refused, saying why.
    let dense = out.join("dense.h5");
    let m = model();
    let o = run_bin(
        &[
            "run",
            "--model",
            &m,
            "--layer",
            "out",
            "--out",
            dense.to_str().unwrap(),
            "--restarts",
            "2",
            "--max-steps",
            "5",
            "--quiet",
        ],
        None,
        300,
    );
    assert!(o.status.success(), "run failed:\n{}", stderr_of(&o));
    let o = run_bin(
        &[
            "plot",
            dense.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--logos",
            "--model",
            &m,
        ],
        None,
        60,
    );
    assert!(!o.status.success());
    let e = stderr_of(&o);
    assert!(e.contains("are not first-layer filters"), "{e}");
    assert!(!out.join("logos.svg").exists());
}

#[test]
fn information_content_and_letter_heights() {
    let all_a = [1.0, 0.0, 0.0, 0.0];
    let uniform = [0.25; 4];
    assert!((information_content(&all_a) - 2.0).abs() < 1e-12);
    assert!(information_content(&uniform).abs() < 1e-12);
    // Half A, half C: 1 bit, two letters of ½ bit.
    let half = [0.5, 0.5, 0.0, 0.0];
    assert!((information_content(&half) - 1.0).abs() < 1e-12);
    let s = column_stack(&half);
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|&(_, h)| (h - 0.5).abs() < 1e-12));
    // Largest on top: the stack is bottom first, in increasing height.
    let s = column_stack(&[0.1, 0.2, 0.6, 0.1]);
    assert_eq!(s.last().unwrap().0, 2);
    assert!(s.windows(2).all(|w| w[0].1 <= w[1].1));

    let l = LogoLayout {
        x0: 40.0,
        y_base: 200.0,
        col_w: 20.0,
        px_per_bit: 50.0,
    };
    let g = logo_glyphs(&[all_a, uniform], &l);
    assert_eq!(g.len(), 1, "a uniform column draws nothing");
    let (letter, polys) = &g[0];
    assert_eq!(*letter, 0);
    let ys: Vec<i32> = polys[0].iter().map(|p| p.1).collect();
    let (top, bottom) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
    assert_eq!(bottom, 200);
    assert_eq!(
        (bottom - top) as f64,
        information_content(&all_a) * l.px_per_bit
    );
    let xs: Vec<i32> = polys[0].iter().map(|p| p.0).collect();
    assert!(*xs.iter().min().unwrap() >= 40 && *xs.iter().max().unwrap() <= 60);
}

// ------------------------------------------------- plot CHANNELS.h5 --

const PLANTED: [(&str, &str); 3] = [("M1", "CAGGTC"), ("M2", "GCTCAT"), ("M3", "CGCTTG")];

/// The `channel …` panel titles of an SVG grouped by their y: (y, titles in that row).
fn title_rows(p: &Path) -> Vec<(i64, usize)> {
    let text = std::fs::read_to_string(p).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut rows: std::collections::BTreeMap<i64, usize> = Default::default();
    for n in doc.descendants().filter(|n| n.has_tag_name("text")) {
        if n.text().is_some_and(|t| t.trim().starts_with("channel ")) {
            let y: f64 = n.attribute("y").unwrap().parse().unwrap();
            *rows.entry(y.round() as i64).or_default() += 1;
        }
    }
    rows.into_iter().collect()
}

fn svg_width(p: &Path) -> f64 {
    let text = std::fs::read_to_string(p).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap()
}

/// The channels' titles and the line under each: (title, next text).
fn panel_titles(texts: &[String]) -> Vec<(String, Option<String>)> {
    texts
        .iter()
        .enumerate()
        .filter(|(_, t)| t.starts_with("channel ") && t.contains(" · activation "))
        .map(|(i, t)| (t.clone(), texts.get(i + 1).cloned()))
        .collect()
}

#[test]
fn channels_logo_sheet_has_a_panel_per_channel_with_its_best_match() {
    let dir = tmpdir("channels-sheet");
    let db = planted_db(&dir);
    let m = model();
    let f = fixture("sequences/synthetic.fa");
    let ch = dir.join("ch.h5");
    let o = run_bin(
        &[
            "channels",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--out",
            ch.to_str().unwrap(),
            "--match",
            db.to_str().unwrap(),
            "--quiet",
        ],
        None,
        300,
    );
    assert!(o.status.success(), "channels failed:\n{}", stderr_of(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    let table_best = |k: usize| -> String {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("ch{k}\t")))
            .unwrap_or_else(|| panic!("no ch{k} in {table}"));
        line.split('\t').nth(1).unwrap().to_string()
    };
    // The first-layer filters: which carry a planted motif.
    let spec = deepresolve_mpi::model::load_model(Path::new(&m), None).unwrap();
    let deepresolve_mpi::model::LayerKind::Conv1D {
        filters,
        in_channels,
        kernel_size,
        dilation,
        kernel,
        ..
    } = &spec.layers[0].kind
    else {
        panic!("layer 0 is not a convolution")
    };
    let k = *filters;

    let out = dir.join("sheet");
    let o = run_bin(
        &[
            "plot",
            ch.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--match",
            db.to_str().unwrap(),
        ],
        None,
        120,
    );
    assert!(o.status.success(), "plot failed:\n{}", stderr_of(&o));
    let texts = svg_texts(&out.join("channels_logos.svg"));
    let panels = panel_titles(&texts);
    // Every channel (K = 32 ≤ 60), in channel order.
    assert_eq!(panels.len(), k, "titles: {panels:?}");
    let mut planted_checked = 0;
    for (kk, (title, next)) in panels.iter().enumerate() {
        assert!(
            title.starts_with(&format!("channel {kk} · activation ")),
            "{title}"
        );
        let next = next.as_deref().unwrap_or_default();
        // The best match, as `channels --match` names it…
        let best = table_best(kk);
        assert!(
            next.starts_with(&format!("best match {best} planted_")) && next.contains("(p = "),
            "channel {kk}: {next:?} (table: {best})"
        );
        // …and for a channel fed by a filter carrying a planted motif, that motif.
        let fp = deepresolve_mpi::motifs::pwm(kernel, *in_channels, *kernel_size, *dilation, kk);
        let (id, seq) = PLANTED
            .iter()
            .max_by(|a, b| motif_match(&fp, a.1).total_cmp(&motif_match(&fp, b.1)))
            .unwrap();
        if motif_match(&fp, seq) >= 0.8 {
            planted_checked += 1;
            assert!(
                next.starts_with(&format!("best match {id} planted_{seq} ")),
                "channel {kk}: filter carries {seq}, title says {next:?}"
            );
        }
    }
    assert!(
        planted_checked >= 5,
        "only {planted_checked} planted filters"
    );
    let (w, h) = png_dims(&out.join("channels_logos.png"));
    assert!(w >= 640 && h > 100 * (k as u32 / 6), "{w}×{h}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["channels_logos.png", "channels_logos.svg"]);

    // A grid: six logos to a row (the last row may have fewer), the SVG no
    // wider than six panels need.
    let rows = title_rows(&out.join("channels_logos.svg"));
    let per_row: Vec<usize> = rows.iter().map(|r| r.1).collect();
    assert_eq!(per_row.iter().sum::<usize>(), k, "{per_row:?}");
    assert!(
        per_row[..per_row.len() - 1].iter().all(|&n| n == 6) && per_row.len() == k.div_ceil(6),
        "logos per row: {per_row:?}"
    );
    let svg_w = svg_width(&out.join("channels_logos.svg"));
    assert!(svg_w <= 6.0 * 400.0 + 20.0, "SVG {svg_w} px wide");
    // Flanks trimmed: every drawn logo starts and ends on a column of ≥ 0.25
    // bits, and some are shorter than the channel's PWM; the title says which bp.
    let b = {
        let _g = common::file_guard();
        deepresolve_mpi::channels::file::BestMotifs::read(&ch).unwrap()
    };
    let sheet = deepresolve_mpi::plot::logo::channels_sheet(
        &b,
        deepresolve_mpi::plot::class_figure::Channels::All,
        None,
    )
    .unwrap();
    let mut shorter = 0;
    for p in sheet.rows.iter().flatten() {
        let (first, last) = (p.pwm[0], p.pwm[p.pwm.len() - 1]);
        if p.pwm.len() < b.r {
            shorter += 1;
            assert!(
                information_content(&first) >= 0.25 && information_content(&last) >= 0.25,
                "{:?}: an untrimmed flank",
                p.title
            );
            assert!(
                p.title[0].contains(&format!(" of {}", b.r)),
                "{:?}",
                p.title
            );
        }
    }
    assert!(shorter > 0, "no logo trimmed (PWMs of {} bp)", b.r);

    // --channels 5: the five highest by best-init activation, highest first,
    // each with its own best match.
    let act: Vec<f32> = {
        let _g = common::file_guard();
        let f = hdf5::File::open(&ch).unwrap();
        let a: Vec<f32> = f
            .dataset("channels/activation")
            .unwrap()
            .read_raw()
            .unwrap();
        let best: Vec<i32> = f.dataset("channels/best_init").unwrap().read_raw().unwrap();
        let ni = a.len() / k;
        (0..k).map(|kk| a[kk * ni + best[kk] as usize]).collect()
    };
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| act[y].total_cmp(&act[x]).then(x.cmp(&y)));
    let out5 = dir.join("top5");
    let o = run_bin(
        &[
            "plot",
            ch.to_str().unwrap(),
            "--out",
            out5.to_str().unwrap(),
            "--channels",
            "5",
            "--match",
            db.to_str().unwrap(),
        ],
        None,
        120,
    );
    assert!(o.status.success(), "plot failed:\n{}", stderr_of(&o));
    let texts = svg_texts(&out5.join("channels_logos.svg"));
    let panels = panel_titles(&texts);
    assert_eq!(panels.len(), 5, "{panels:?}");
    for (i, (title, next)) in panels.iter().enumerate() {
        let want = format!("channel {} · rank {} · activation ", order[i], i + 1);
        assert!(title.starts_with(&want), "{title:?} vs {want:?}");
        let best = format!("best match {} ", table_best(order[i]));
        assert!(
            next.as_deref().unwrap_or_default().starts_with(&best),
            "{title:?}: {next:?}, table: {best:?}"
        );
    }
    // Without --match: no match lines.
    let plain = dir.join("plain");
    let o = run_bin(
        &[
            "plot",
            ch.to_str().unwrap(),
            "--out",
            plain.to_str().unwrap(),
        ],
        None,
        120,
    );
    assert!(o.status.success(), "plot failed:\n{}", stderr_of(&o));
    let texts = svg_texts(&plain.join("channels_logos.svg"));
    assert_eq!(panel_titles(&texts).len(), k);
    assert!(!texts.iter().any(|t| t.starts_with("best match")));

    // Options of results files are refused by name.
    let o = run_bin(
        &[
            "plot",
            ch.to_str().unwrap(),
            "--out",
            out5.to_str().unwrap(),
            "--classes",
            "0",
        ],
        None,
        60,
    );
    assert!(!o.status.success());
    let e = stderr_of(&o);
    assert!(
        e.contains("is a channels file") && e.contains("--classes"),
        "{e}"
    );
}

/// The receptive field of a deep layer is long (51 bp here) while its motif
/// is short: the sheet is still six logos to a row, each logo trimmed to its
/// core, and a lone thresholded letter beside the core is not drawn.
#[test]
fn channels_sheet_of_long_windows_is_a_grid_of_trimmed_cores() {
    let r = 51;
    let u = vec![0.25f32; 4];
    let letter = |a: usize| {
        (0..4)
            .map(|i| if i == a { 1.0 } else { 0.0 })
            .collect::<Vec<f32>>()
    };
    let mut pwms = Vec::new();
    for k in 0..13 {
        let mut p = vec![u.clone(); r];
        for j in 0..6 {
            p[20 + j] = letter((k + j) % 4);
        }
        if k % 2 == 0 {
            p[10] = letter(0); // lone, 9 weak columns from the core
            p[28] = letter(3); // lone, 2 weak columns after it
        }
        pwms.push(p);
    }
    // One channel strong all along: nothing to trim.
    pwms.push((0..r).map(|j| letter(j % 4)).collect());
    let k = pwms.len();
    let b = deepresolve_mpi::channels::file::BestMotifs {
        path: "ch.h5".into(),
        model: "m.h5".into(),
        layer: "conv3".into(),
        alphabet: "ACGT".into(),
        r,
        pwms,
        activation: (0..k).map(|i| i as f32).collect(),
    };
    let sheet = deepresolve_mpi::plot::logo::channels_sheet(
        &b,
        deepresolve_mpi::plot::class_figure::Channels::All,
        None,
    )
    .unwrap();
    let lens: Vec<usize> = sheet.rows.iter().flatten().map(|p| p.pwm.len()).collect();
    assert_eq!(lens[..13], [6; 13], "{lens:?}");
    assert_eq!(lens[13], r);
    let first = &sheet.rows[0][0];
    assert!(
        first.title[0].contains("bp 21–26 of 51"),
        "{:?}",
        first.title
    );
    let dir = tmpdir("channels-long");
    let svg = dir.join("s.svg");
    std::fs::write(&svg, deepresolve_mpi::plot::svg_string(&sheet).unwrap()).unwrap();
    let rows: Vec<usize> = title_rows(&svg).iter().map(|r| r.1).collect();
    assert_eq!(rows, [6, 6, 2], "logos per row");
    let w = svg_width(&svg);
    assert!(
        (6.0 * 220.0..=6.0 * 400.0 + 20.0).contains(&w),
        "SVG {w} px wide"
    );
}
