//! `plot --logos` on the synthetic Dataset I model (its first-layer filters
//! carry the planted motifs), and the logo geometry itself.
mod common;
use common::{fixture, run_bin, stderr_of, tmpdir};
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
