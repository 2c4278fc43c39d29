//! `plot`, `motifs` and `diff` on a results file made by the binary from the
//! PyTorch fixture (3 classes; layer 7: K = 6 channels, the second conv's;
//! layer 3: K = 8 channels, the first conv's filters).
mod common;
use deepresolve_mpi::model::{load_model, LayerKind};
use deepresolve_mpi::plot::class_figure::{
    Channels, ClassFigure, ColumnLogos, LEGEND_CIRCLES, LEGEND_STARS, MIN_LOGO_COLUMN,
};
use deepresolve_mpi::plot::heatmap::SimilarityFigure;
use deepresolve_mpi::plot::logo::{logo_glyphs, COLORS};
use deepresolve_mpi::plot::Figure;
use deepresolve_mpi::results::FinishedRun;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_deepresolve-mpi");
const MODEL: &str = "tests/fixtures/pytorch/model.h5";
const RESTARTS: usize = 4;

fn bin(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("OPENBLAS_NUM_THREADS", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Started under the guard, so that no child inherits a file a test is writing.
    let child = {
        let _g = common::file_guard();
        cmd.spawn().expect("run deepresolve-mpi")
    };
    child.wait_with_output().expect("run deepresolve-mpi")
}

fn ok(args: &[&str]) -> Output {
    let o = bin(args);
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("deepresolve-plots-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Results of `run --layer L --restarts 4` on the fixture, made once per test binary.
fn results(layer: &str) -> PathBuf {
    static L7: OnceLock<PathBuf> = OnceLock::new();
    static L3: OnceLock<PathBuf> = OnceLock::new();
    let cell = if layer == "7" { &L7 } else { &L3 };
    cell.get_or_init(|| {
        let d = tmp(&format!("results{layer}"));
        let out = d.join("r.h5");
        let r = RESTARTS.to_string();
        ok(&[
            "run",
            "--model",
            MODEL,
            "--layer",
            layer,
            "--out",
            out.to_str().unwrap(),
            "--restarts",
            &r,
            "--quiet",
        ]);
        out
    })
    .clone()
}

fn png_size(p: &Path) -> (u32, u32, Vec<u8>, png::ColorType) {
    let dec = png::Decoder::new(std::fs::File::open(p).unwrap());
    let mut reader = dec
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", p.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: PNG does not decode: {e}", p.display()));
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

fn svg_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn count(doc: &roxmltree::Document, tag: &str) -> usize {
    doc.descendants().filter(|n| n.has_tag_name(tag)).count()
}

fn svg_size(doc: &roxmltree::Document) -> (u32, u32) {
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    (
        root.attribute("width").unwrap().parse().unwrap(),
        root.attribute("height").unwrap().parse().unwrap(),
    )
}

#[test]
fn plot_draws_every_figure_with_countable_marks() {
    let res = results("7");
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!((r.c, r.t, r.k), (3, RESTARTS, 6));
    let d = tmp("plot_all");
    ok(&["plot", res.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    let names = ["classA", "classB", "classC"];
    for (ci, name) in names.iter().enumerate() {
        let stem = format!("class_{ci}_{name}");
        let expect = ClassFigure::new(&r, ci).size();
        let (w, h, pixels, color) = png_size(&d.join(format!("{stem}.png")));
        assert_eq!((w, h), expect, "{stem}.png size");
        // Red (positive) and blue (negative) circles really are drawn.
        let px = if color == png::ColorType::Rgba { 4 } else { 3 };
        let has = |rgb: [u8; 3]| pixels.chunks(px).any(|p| p[..3] == rgb);
        assert!(
            has([214, 39, 40]) || has([31, 119, 180]),
            "{stem}.png has no circle colour"
        );
        let text = svg_text(&d.join(format!("{stem}.svg")));
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{stem}.svg is not XML: {e}"));
        assert_eq!(svg_size(&doc), expect, "{stem}.svg size");
        // T restart rows + IL row + OFIV row, K circles each, plus the legend's.
        assert_eq!(
            count(&doc, "circle"),
            (RESTARTS + 2) * 6 + LEGEND_CIRCLES,
            "{stem}.svg circles"
        );
        assert_eq!((RESTARTS + 2) * 6 + LEGEND_CIRCLES, 39);
        let nonadd = r.nonadditive_row(ci).iter().filter(|&&x| x != 0).count();
        assert_eq!(
            count(&doc, "polygon"),
            nonadd + LEGEND_STARS,
            "{stem}.svg stars"
        );
        // Channel labels in OFIV order.
        let labels: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .filter(|t| t.len() == 1 && t.chars().all(|c| c.is_ascii_digit()))
            .collect();
        let rank: Vec<String> = r.rank_row(ci).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            labels, rank,
            "{stem}.svg channel labels are not in rank order"
        );

        let stem = format!("ofiv_{ci}_{name}");
        let (w, h, _, _) = png_size(&d.join(format!("{stem}.png")));
        let text = svg_text(&d.join(format!("{stem}.svg")));
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{stem}.svg is not XML: {e}"));
        assert_eq!(svg_size(&doc), (w, h), "{stem}: SVG and PNG sizes differ");
        assert!(w >= 640 && h >= 400, "{stem}: {w}×{h}");
    }
    let expect = SimilarityFigure::new(&r).size();
    let (w, h, _, _) = png_size(&d.join("similarity.png"));
    assert_eq!((w, h), expect, "similarity.png size");
    let text = svg_text(&d.join("similarity.svg"));
    let doc = roxmltree::Document::parse(&text).expect("similarity.svg is XML");
    assert_eq!(svg_size(&doc), expect);
    // Each class name labels a row and a column; a flagged class (issue 27:
    // not learned, restarts collapsed) ends in " !".
    for (ci, name) in names.iter().enumerate() {
        let want = if r.flag_words(ci).is_empty() {
            name.to_string()
        } else {
            format!("{name} !")
        };
        let n = doc
            .descendants()
            .filter(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(&want))
            .count();
        assert_eq!(n, 2, "similarity.svg labels {want} {n} times");
    }
    assert!(
        (0..3).any(|ci| !r.flag_words(ci).is_empty()),
        "this random model has a class its ascent cannot raise above 0"
    );
    // Dendrogram: C − 1 merges, each drawn above and beside the heatmap.
    let merges = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("polyline")
                && n.attribute("points")
                    .is_some_and(|p| p.split_whitespace().count() == 4)
        })
        .count();
    assert_eq!(merges, 2 * (r.c - 1), "dendrogram segments");
    // The 3 × 3 cells: one filled rectangle each besides the background.
    let cells = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_some_and(|f| f != "none"))
        .count();
    assert_eq!(cells, 1 + r.c * r.c, "background + heatmap cells");
}

/// `plot RES --out D --classes CLASSES`
fn plot_classes<'a>(res: &'a Path, d: &'a Path, classes: &'a str) -> [&'a str; 6] {
    [
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--classes",
        classes,
    ]
}

#[test]
fn plot_classes_selects_by_index_range_and_name() {
    let res = results("7");
    let d = tmp("plot_sel");
    ok(&plot_classes(&res, &d, "0-1"));
    assert!(d.join("class_0_classA.png").exists() && d.join("class_1_classB.svg").exists());
    assert!(!d.join("class_2_classC.png").exists());
    let d = tmp("plot_sel_name");
    ok(&plot_classes(&res, &d, "classC"));
    assert!(d.join("class_2_classC.png").exists() && d.join("ofiv_2_classC.svg").exists());
    assert!(!d.join("class_0_classA.png").exists());
    assert!(d.join("similarity.png").exists());
    let o = bin(&plot_classes(&res, &d, "nosuch"));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"nosuch\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// (name, matrix) of each MOTIF in a MEME file.
fn parse_meme(text: &str) -> Vec<(String, Vec<[f64; 4]>)> {
    assert!(text.starts_with("MEME version 4\n"), "no MEME header");
    assert!(text.contains("\nALPHABET= ACGT\n"));
    assert!(text.contains("\nstrands: + -\n"));
    assert!(text.contains("\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n"));
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let Some(name) = l.strip_prefix("MOTIF ") else {
            continue;
        };
        let hdr = lines.next().unwrap();
        let w: usize = hdr
            .strip_prefix("letter-probability matrix: alength= 4 w= ")
            .and_then(|s| s.strip_suffix(" nsites= 20 E= 0"))
            .unwrap_or_else(|| panic!("bad matrix header {hdr:?}"))
            .parse()
            .unwrap();
        let m: Vec<[f64; 4]> = (0..w)
            .map(|_| {
                let v: Vec<f64> = lines
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(|x| x.parse().unwrap())
                    .collect();
                assert_eq!(v.len(), 4);
                [v[0], v[1], v[2], v[3]]
            })
            .collect();
        out.push((name.to_string(), m));
    }
    out
}

#[test]
fn motifs_are_normalised_first_layer_filters() {
    let res = results("3");
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!(r.k, 8);
    let d = tmp("motifs");
    let out = d.join("m.meme");
    ok(&[
        "motifs",
        "--model",
        MODEL,
        "--results",
        res.to_str().unwrap(),
        "--top",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let motifs = parse_meme(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(motifs.len(), 3 * 3);

    let spec = load_model(&Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL), None).unwrap();
    let LayerKind::Conv1D {
        filters,
        in_channels,
        kernel_size,
        kernel,
        ..
    } = &spec.layers[0].kind
    else {
        panic!("layer 0 is not a conv")
    };
    assert_eq!((*filters, *in_channels, *kernel_size), (8, 4, 5));
    let names = ["classA", "classB", "classC"];
    for ci in 0..3 {
        for rr in 0..3 {
            let ch = r.rank_row(ci)[rr];
            let (name, m) = &motifs[ci * 3 + rr];
            assert_eq!(name, &format!("{}_rank{}_ch{ch}", names[ci], rr + 1));
            assert_eq!(m.len(), 5);
            for j in 0..5 {
                let col: Vec<f64> = (0..4)
                    .map(|a| (kernel[(ch * 4 + a) * 5 + j] as f64).max(0.0))
                    .collect();
                let s: f64 = col.iter().sum();
                for a in 0..4 {
                    let want = if s > 0.0 { col[a] / s } else { 0.25 };
                    assert!(
                        (m[j][a] - want).abs() < 1e-6,
                        "{name} column {j} letter {a}: {} vs {want}",
                        m[j][a]
                    );
                }
                let sum: f64 = m[j].iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{name} column {j} sums to {sum}");
            }
        }
    }
}

#[test]
fn motifs_refuse_channels_that_are_not_first_layer_filters() {
    let res = results("7");
    let d = tmp("motifs7");
    let out = d.join("m.meme");
    let o = bin(&[
        "motifs",
        "--model",
        MODEL,
        "--results",
        res.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("not first-layer filters") && err.contains("conv1d_4"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists());
}

/// (channel, D, OFIV_A, OFIV_B) rows of a diff table.
fn parse_diff(stdout: &str) -> Vec<(usize, f32, f32, f32)> {
    stdout
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim_start().starts_with("row"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 6, "diff row {l:?}");
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn diff_prints_sorted_ofiv_differences() {
    let res = results("7");
    let r = FinishedRun::read(&res).unwrap();
    let (oa, ob) = (r.ofiv_row(0).to_vec(), r.ofiv_row(2).to_vec());
    // Printed to 4 significant digits.
    let close = |x: f32, y: f32| (x - y).abs() <= 5e-4 * y.abs().max(1e-12) + 1e-12;
    // By name and by index, all rows (top 10 > K/2) and the ends (top 2).
    for (a, b, top, rows) in [("classA", "2", "10", 6), ("0", "classC", "2", 4)] {
        let o = ok(&["diff", res.to_str().unwrap(), a, b, "--top", top]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        let t = parse_diff(&stdout);
        assert_eq!(t.len(), rows, "{stdout}");
        for w in t.windows(2) {
            assert!(w[0].1 >= w[1].1, "not sorted by D:\n{stdout}");
        }
        for &(ch, dv, a_, b_) in &t {
            assert!(
                close(a_, oa[ch]) && close(b_, ob[ch]),
                "channel {ch}: OFIV {a_} {b_} vs {} {}",
                oa[ch],
                ob[ch]
            );
            assert!(
                close(dv, oa[ch] - ob[ch]),
                "channel {ch}: D {dv} vs {}",
                oa[ch] - ob[ch]
            );
        }
        // The top rows are the largest D, the bottom rows the smallest.
        let mut all: Vec<f32> = (0..6).map(|k| oa[k] - ob[k]).collect();
        all.sort_by(|x, y| y.total_cmp(x));
        assert!(close(t[0].1, all[0]) && close(t[rows - 1].1, all[5]));
    }
    let o = bin(&["diff", res.to_str().unwrap(), "classA", "nosuch"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("\"nosuch\""), "{err}");
}

// ------------------------------------------------- logos over the columns --

/// The first-layer filters of `model` as PWMs (the model's layer 0 must be a Conv1D).
fn filter_pwms(model: &Path) -> Vec<Vec<[f64; 4]>> {
    let spec = load_model(model, None).unwrap();
    let LayerKind::Conv1D {
        filters,
        in_channels,
        kernel_size,
        dilation,
        kernel,
        ..
    } = &spec.layers[0].kind
    else {
        panic!("layer 0 is not a conv")
    };
    (0..*filters)
        .map(|f| deepresolve_mpi::motifs::pwm(kernel, *in_channels, *kernel_size, *dilation, f))
        .collect()
}

/// (x min, x max) of every polygon filled in a logo letter colour.
fn letter_polygons(doc: &roxmltree::Document) -> Vec<(i32, i32)> {
    let fills: Vec<String> = COLORS
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .collect();
    doc.descendants()
        .filter(|n| n.has_tag_name("polygon"))
        .filter(|n| {
            n.attribute("fill")
                .is_some_and(|f| fills.iter().any(|c| c.eq_ignore_ascii_case(f)))
        })
        .map(|n| {
            let xs: Vec<i32> = n
                .attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|p| p.split(',').next().unwrap().parse().unwrap())
                .collect();
            (*xs.iter().min().unwrap(), *xs.iter().max().unwrap())
        })
        .collect()
}

fn plot_stderr(args: &[&str]) -> String {
    String::from_utf8_lossy(&ok(args).stderr).into_owned()
}

#[test]
fn class_figures_with_model_draw_one_logo_per_column() {
    let res = results("3");
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!(r.k, 8);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL);
    let logos = ColumnLogos {
        pwms: filter_pwms(&model),
        matches: None,
    };
    let names = ["classA", "classB", "classC"];
    // Without --model: the figures of today, no letters.
    let d = tmp("logos_none");
    ok(&["plot", res.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    for (ci, name) in names.iter().enumerate() {
        let doc_text = svg_text(&d.join(format!("class_{ci}_{name}.svg")));
        let doc = roxmltree::Document::parse(&doc_text).unwrap();
        assert_eq!(svg_size(&doc), ClassFigure::new(&r, ci).size());
        assert!(
            letter_polygons(&doc).is_empty(),
            "class {ci}: letters without --model"
        );
    }
    let d = tmp("logos_cols");
    let err = plot_stderr(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--model",
        MODEL,
    ]);
    assert!(!err.contains("no logos"), "{err}");
    for (ci, name) in names.iter().enumerate() {
        let stem = format!("class_{ci}_{name}");
        let fig = ClassFigure::with_logos(&r, ci, Channels::Auto, Some(&logos));
        assert!(fig.logos_drawn());
        let (w, h, _, _) = png_size(&d.join(format!("{stem}.png")));
        assert_eq!((w, h), fig.size(), "{stem}.png size");
        let text = svg_text(&d.join(format!("{stem}.svg")));
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(svg_size(&doc), fig.size(), "{stem}.svg size");
        // The circles are all still there.
        assert_eq!(count(&doc, "circle"), (RESTARTS + 2) * 8 + LEGEND_CIRCLES);
        let letters = letter_polygons(&doc);
        let cols = fig.columns();
        assert_eq!(cols.len(), 8);
        let mut placed = 0;
        for (j, &ch) in cols.iter().enumerate() {
            let (x0, x1) = fig.column_span(j);
            let inside = letters.iter().filter(|&&(a, b)| a >= x0 && b < x1).count();
            // The letters of channel ch's filter, laid out in column j.
            let want = logo_glyphs(&logos.pwms[ch], &fig.logo_layout(j).unwrap()).len();
            assert!(want > 0, "channel {ch}'s filter draws no letter");
            assert_eq!(inside, want, "{stem}: column {j} (channel {ch})");
            placed += inside;
        }
        assert_eq!(placed, letters.len(), "{stem}: letters outside the columns");
        assert!(svg_texts(&doc).iter().any(|t| t == "filter logo"));
    }
}

fn svg_texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn class_figure_logos_are_named_by_their_best_match() {
    let res = results("3");
    let r = FinishedRun::read(&res).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL);
    let pwms = filter_pwms(&model);
    // A database of the filters themselves: each filter's best match is itself.
    let d = tmp("logos_match");
    let mut db = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n");
    for (f, m) in pwms.iter().enumerate() {
        db += &format!(
            "MOTIF F{f}\nletter-probability matrix: alength= 4 w= {} nsites= 20 E= 0\n",
            m.len()
        );
        for c in m {
            db += &format!(" {:.6} {:.6} {:.6} {:.6}\n", c[0], c[1], c[2], c[3]);
        }
        db.push('\n');
    }
    let dbp = d.join("filters.meme");
    std::fs::write(&dbp, db).unwrap();
    ok(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--model",
        MODEL,
        "--match",
        dbp.to_str().unwrap(),
        "--classes",
        "0,2",
    ]);
    for (ci, name) in [(0, "classA"), (2, "classC")] {
        let text = svg_text(&d.join(format!("class_{ci}_{name}.svg")));
        let doc = roxmltree::Document::parse(&text).unwrap();
        let got: Vec<String> = svg_texts(&doc)
            .into_iter()
            .filter(|t| t.len() == 2 && t.starts_with('F'))
            .collect();
        let want: Vec<String> = r.rank_row(ci).iter().map(|c| format!("F{c}")).collect();
        assert_eq!(got, want, "class {ci}: match names under the logos");
        assert!(svg_texts(&doc).iter().any(|t| t == "best match"));
    }
    // --match alone has nothing to name.
    let o = bin(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--match",
        dbp.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--match needs --model"));
}

#[test]
fn class_figures_of_a_later_layer_with_model_say_why_and_have_no_logos() {
    let res = results("7");
    let r = FinishedRun::read(&res).unwrap();
    let d = tmp("logos_layer7");
    let err = plot_stderr(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--model",
        MODEL,
    ]);
    let why: Vec<&str> = err.lines().filter(|l| l.contains("no logos")).collect();
    assert_eq!(why.len(), 1, "{err}");
    assert!(
        why[0].contains("not first-layer filters") && why[0].contains("conv1d_4"),
        "{err}"
    );
    for (ci, name) in ["classA", "classB", "classC"].iter().enumerate() {
        let text = svg_text(&d.join(format!("class_{ci}_{name}.svg")));
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(svg_size(&doc), ClassFigure::new(&r, ci).size());
        assert!(letter_polygons(&doc).is_empty());
        assert!(!svg_texts(&doc).iter().any(|t| t == "filter logo"));
    }
}

#[test]
fn columns_too_narrow_for_logos_get_none_and_one_line_says_so() {
    use common::Builder;
    use deepresolve_mpi::model::{Activation, Padding};
    // 150 first-layer filters → global max pool → dense: H = the dense input,
    // K = 150 channels, each a first-layer filter.
    let mut b = Builder::new(3, 4, 30);
    b.conv(150, 6, 1, 1, Padding::Valid, Activation::Relu)
        .push(LayerKind::GlobalMaxPool1D)
        .dense(2, Activation::Linear)
        .output("out");
    let d = tmp("logos_narrow");
    let m = d.join("wide.h5");
    {
        let _g = common::file_guard();
        deepresolve_mpi::model::native::save_native(&b.build(), &m).unwrap();
    }
    let res = d.join("r.h5");
    ok(&[
        "run",
        "--model",
        m.to_str().unwrap(),
        "--layer",
        "2",
        "--out",
        res.to_str().unwrap(),
        "--restarts",
        "2",
        "--max-steps",
        "20",
        "--quiet",
    ]);
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!(r.k, 150);
    let logos = ColumnLogos {
        pwms: filter_pwms(&m),
        matches: None,
    };
    // --channels all: 150 columns of 9 px, no logos.
    let out = d.join("all");
    let err = plot_stderr(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--channels",
        "all",
    ]);
    let why: Vec<&str> = err.lines().filter(|l| l.contains("no logos")).collect();
    assert_eq!(why.len(), 1, "{err}");
    assert!(
        why[0].contains(&format!("under {MIN_LOGO_COLUMN} px")),
        "{err}"
    );
    for ci in 0..r.c {
        let fig = ClassFigure::with_logos(&r, ci, Channels::All, Some(&logos));
        assert!(fig.logos_too_narrow() && !fig.logos_drawn());
        let (x0, x1) = fig.column_span(0);
        assert!(x1 - x0 < MIN_LOGO_COLUMN);
        assert_eq!(
            fig.size(),
            ClassFigure::with_channels(&r, ci, Channels::All).size()
        );
        let stem = format!("class_{ci}_{}", r.names[ci]);
        let text = svg_text(&out.join(format!("{stem}.svg")));
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(svg_size(&doc), fig.size());
        assert!(letter_polygons(&doc).is_empty());
    }
    // The default selection (40-odd columns) is wide enough: logos, no line.
    let out = d.join("auto");
    let err = plot_stderr(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
    ]);
    assert!(!err.contains("no logos"), "{err}");
    let fig = ClassFigure::with_logos(&r, 0, Channels::Auto, Some(&logos));
    assert!(fig.logos_drawn() && fig.columns().len() < 150);
    let text = svg_text(&out.join(format!("class_0_{}.svg", r.names[0])));
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(svg_size(&doc), fig.size());
    assert!(!letter_polygons(&doc).is_empty());
}

/// Every text element of an SVG as a box (x0, y0, x1, y1) and its text:
/// plotters writes `x`, `y`, `dy` (0.5ex: centred on y; 0.76em: hanging below
/// y; -0.5ex: resting on y), `text-anchor` and `font-size`, and turns
/// vertical labels with `transform="rotate(…)"`. Widths are estimated at
/// 0.55 em a character (DejaVu Sans averages ~0.6), heights are the em box.
fn text_boxes(doc: &roxmltree::Document) -> Vec<([f64; 4], String)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let f = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
            let (x, y, fs) = (f("x").unwrap(), f("y").unwrap(), f("font-size").unwrap());
            let s = n.text().unwrap_or("").trim().to_string();
            let w = 0.55 * fs * s.chars().count() as f64;
            let (x0, x1) = match n.attribute("text-anchor") {
                Some("end") => (x - w, x),
                Some("middle") => (x - w / 2.0, x + w / 2.0),
                _ => (x, x + w),
            };
            let (y0, y1) = match n.attribute("dy") {
                Some("0.5ex") => (y - fs / 2.0, y + fs / 2.0),
                Some("0.76em") => (y, y + fs),
                _ => (y - fs, y),
            };
            let b = if n
                .attribute("transform")
                .is_some_and(|t| t.contains("rotate"))
            {
                // Rotated a quarter turn about (x, y): width and height swap.
                let (dx0, dx1, dy0, dy1) = (x0 - x, x1 - x, y0 - y, y1 - y);
                [x + dy0, y - dx1, x + dy1, y - dx0]
            } else {
                [x0, y0, x1, y1]
            };
            (b, s)
        })
        .collect()
}

/// Pairs of text boxes that overlap by more than half a pixel either way.
fn overlapping(boxes: &[([f64; 4], String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (a, sa)) in boxes.iter().enumerate() {
        for (b, sb) in &boxes[i + 1..] {
            let ox = a[2].min(b[2]) - a[0].max(b[0]);
            let oy = a[3].min(b[3]) - a[1].max(b[1]);
            if ox > 0.5 && oy > 0.5 {
                out.push((sa.clone(), sb.clone()));
            }
        }
    }
    out
}

/// The class figure stays readable from 10 to 200 restarts: no two labels
/// overlap, the figure's height does not grow with the restarts beyond the
/// collapse, and past it the restarts are cells (T·N), not circles.
#[test]
fn class_figure_labels_never_overlap_from_10_to_200_restarts() {
    let d = tmp("restarts");
    let mut heights = Vec::new();
    let mut svgs = Vec::new();
    for t in [10usize, 24, 25, 100, 200] {
        let out = d.join(format!("r{t}.h5"));
        let ts = t.to_string();
        ok(&[
            "run",
            "--model",
            MODEL,
            "--layer",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--restarts",
            &ts,
            "--quiet",
        ]);
        let figs = d.join(format!("p{t}"));
        ok(&[
            "plot",
            out.to_str().unwrap(),
            "--out",
            figs.to_str().unwrap(),
            "--classes",
            "0",
        ]);
        let svg = svg_text(&figs.join("class_0_classA.svg"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let boxes = text_boxes(&doc);
        assert!(
            boxes.len() > 10,
            "{t} restarts: only {} labels",
            boxes.len()
        );
        let bad = overlapping(&boxes);
        assert!(bad.is_empty(), "{t} restarts: overlapping labels {bad:?}");
        svgs.push((t, svg));
    }
    for (t, svg) in &svgs {
        let (t, doc) = (*t, roxmltree::Document::parse(svg).unwrap());
        let (_, h) = svg_size(&doc);
        heights.push(h);
        let k = 8; // the fixture's channels at layer 3, every one a column
        let circles = count(&doc, "circle");
        if t > 24 {
            assert_eq!(
                circles,
                2 * k + 3,
                "{t} restarts: IL and OFIV circles + legend"
            );
            let cells = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
            assert!(
                cells >= t * k,
                "{t} restarts: {cells} rects for {} cells",
                t * k
            );
        } else {
            assert_eq!(circles, (t + 2) * k + 3, "{t} restarts");
        }
    }
    assert!(
        heights.iter().all(|&h| h < 1000),
        "figure heights {heights:?} for 10, 24, 25, 100, 200 restarts"
    );
}

/// The `channels` logo sheet (a grid, six logos to a row): no two labels
/// overlap, with the default selection and with every channel.
#[test]
fn logo_sheet_labels_never_overlap() {
    let d = tmp("sheet");
    let ch = d.join("ch.h5");
    ok(&[
        "channels",
        "--model",
        "tests/fixtures/synthetic/dataset2.h5",
        "--layer",
        "flatten",
        "--fasta",
        "tests/fixtures/sequences/synthetic.fa",
        "--out",
        ch.to_str().unwrap(),
        "--quiet",
    ]);
    for sel in ["8", "all"] {
        let figs = d.join(format!("p{sel}"));
        ok(&[
            "plot",
            ch.to_str().unwrap(),
            "--out",
            figs.to_str().unwrap(),
            "--channels",
            sel,
        ]);
        let svg = svg_text(&figs.join("channels_logos.svg"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let boxes = text_boxes(&doc);
        assert!(boxes.len() > 8, "--channels {sel}: {} labels", boxes.len());
        let bad = overlapping(&boxes);
        assert!(
            bad.is_empty(),
            "--channels {sel}: overlapping labels {bad:?}"
        );
    }
}
