//! Issue 28: `--classes` by name everywhere, and `report` (one self-contained
//! HTML page of a run) on the synthetic fixture whose four classes carry
//! planted motifs (tests/fixtures/synthetic/make_models.py, dataset2).
mod common;

use common::{expect_error, fixture, run_bin, stderr_of, tmpdir};
use std::path::Path;

fn model2() -> String {
    fixture("synthetic/dataset2.h5")
}

fn names2() -> String {
    fixture("synthetic/dataset2_classes.txt")
}

fn class_names_of(path: &Path) -> Vec<String> {
    let r = deepresolve_mpi::results::FinishedRun::read(path).unwrap();
    r.index
        .iter()
        .zip(&r.names)
        .map(|(i, n)| format!("{i}:{n}"))
        .collect()
}

#[test]
fn run_classes_by_name_index_and_range() {
    let d = tmpdir("classes-by-name");
    let out = d.join("r.h5");
    let (m, n, o) = (model2(), names2(), out.to_str().unwrap().to_string());
    let base = |classes: &'static str| {
        vec![
            "run".to_string(),
            "--model".into(),
            m.clone(),
            "--layer".into(),
            "flatten".into(),
            "--out".into(),
            o.clone(),
            "--class-names".into(),
            n.clone(),
            "--restarts".into(),
            "2".into(),
            "--max-steps".into(),
            "50".into(),
            "--quiet".into(),
            "--overwrite".into(),
            "--classes".into(),
            classes.into(),
        ]
    };
    let run = |classes: &'static str| {
        let a = base(classes);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = run_bin(&a, None, 60);
        assert!(r.status.success(), "{classes}: {}", stderr_of(&r));
        class_names_of(&out)
    };
    assert_eq!(run("CGCTTG,GATA+TCAT"), ["3:CGCTTG", "2:GATA+TCAT"]);
    assert_eq!(
        run("TCAT+CAGATG,0,2-3"),
        ["1:TCAT+CAGATG", "0:GATA+CAGATG", "2:GATA+TCAT", "3:CGCTTG"]
    );
    // plot selects from the file with the same parser.
    let plots = d.join("plots");
    let r = run_bin(
        &[
            "plot",
            &o,
            "--out",
            plots.to_str().unwrap(),
            "--classes",
            "CGCTTG",
        ],
        None,
        60,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    assert!(plots.join("class_3_CGCTTG.svg").exists());
    assert!(!plots.join("class_0_GATA_CAGATG.svg").exists());
    // An unknown name is one error that names it and lists the classes.
    let a = base("CGCTTG,REST");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    expect_error(&a, &["--classes", "\"REST\"", "CGCTTG"]);
}

/// Planted motifs of each dataset2 class (manifest.json), in output order.
const PLANTED: [&[&str]; 4] = [
    &["GATA", "CAGATG"],
    &["TCAT", "CAGATG"],
    &["GATA", "TCAT"],
    &["CGCTTG"],
];

/// The planted motifs as a MEME database, as tests/sequences.rs writes them.
fn planted_db(path: &Path) {
    let mut text = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n");
    for m in ["GATA", "TCAT", "CAGATG", "CGCTTG"] {
        text += &format!(
            "MOTIF {m}\nletter-probability matrix: alength= 4 w= {}\n",
            m.len()
        );
        for row in common::onehot(m) {
            let row: Vec<String> = row
                .iter()
                .map(|v| format!("{:.3}", 0.01 + 0.96 * v))
                .collect();
            text += &format!("{}\n", row.join(" "));
        }
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

/// `run` and `channels` of dataset2 at LAYER into D: (results, channels file).
fn run_and_channels(d: &Path, layer: &str) -> (String, String) {
    let (m, n, fa) = (model2(), names2(), fixture("sequences/synthetic.fa"));
    let res = d
        .join(format!("run_{layer}.h5"))
        .to_str()
        .unwrap()
        .to_string();
    let ch = d
        .join(format!("ch_{layer}.h5"))
        .to_str()
        .unwrap()
        .to_string();
    let r = run_bin(
        &[
            "run",
            "--model",
            &m,
            "--layer",
            layer,
            "--out",
            &res,
            "--class-names",
            &n,
            "--restarts",
            "10",
            "--quiet",
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let r = run_bin(
        &[
            "channels", "--model", &m, "--layer", layer, "--fasta", &fa, "--out", &ch, "--quiet",
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    (res, ch)
}

/// Each class row's (name, top channel, the motif named beside it).
fn top_motifs(html: &str) -> Vec<(String, usize, String)> {
    let attr = |tag: &str, name: &str| -> String {
        let at = tag
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("{name} in {tag}"));
        let rest = &tag[at + name.len() + 3..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    html.match_indices("<tr id=\"class-")
        .map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            (
                attr(tag, "data-name"),
                attr(tag, "data-top").parse().unwrap(),
                attr(tag, "data-top-motif"),
            )
        })
        .collect()
}

/// The paper analyses the feature map that feeds the layers after the motif
/// detectors (for DeepSEA the input of its last convolution). dataset2 has one
/// convolution, so that map is its pooled output: the input of `flatten`, the
/// layer make_models.py names. The report with a channels file of that layer
/// must name, beside each class's top channel, one of the motifs planted in
/// that class — for at least 3 of the 4 classes (class CGCTTG's top channel is a
/// weak GCTT-like filter; its planted motif comes second, see the report).
#[test]
fn report_names_the_planted_motif_beside_each_top_channel() {
    let d = tmpdir("report-planted");
    let (res, ch) = run_and_channels(&d, "flatten");
    let db = d.join("planted.meme");
    planted_db(&db);
    let out = d.join("report.html");
    let o = out.to_str().unwrap();
    let r = run_bin(
        &[
            "report",
            &res,
            "--out",
            o,
            "--channels-file",
            &ch,
            "--match",
            db.to_str().unwrap(),
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let html = std::fs::read_to_string(&out).unwrap();
    let rows = top_motifs(&html);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut named = 0;
    for (ci, (name, top, motif)) in rows.iter().enumerate() {
        assert_eq!(
            name,
            &std::fs::read_to_string(names2())
                .unwrap()
                .lines()
                .nth(ci)
                .unwrap()
                .to_string()
        );
        if PLANTED[ci].contains(&motif.as_str()) {
            named += 1;
            // The logo of that channel is on the page, once.
            assert_eq!(
                html.matches(&format!("<symbol id=\"logo-ch{top}\""))
                    .count(),
                1
            );
        }
    }
    assert!(
        named >= 3,
        "the planted motif is named for {named} of 4 classes: {rows:?}"
    );
    // Self-contained: every src and href is inline data or a place on the page.
    for key in ["src=\"", "href=\"", "url("] {
        for (at, _) in html.match_indices(key) {
            let v = &html[at + key.len()..];
            assert!(
                v.starts_with("data:") || v.starts_with('#'),
                "the page fetches {}",
                &v[..v.len().min(60)]
            );
        }
    }
    assert!(!html.contains("<link") && !html.contains("@import"));
    // Without a database the motif is the channel's consensus: the planted
    // motif (or its reverse complement) read off the trimmed PWM.
    let r = run_bin(
        &["report", &res, "--out", o, "--channels-file", &ch],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let html = std::fs::read_to_string(&out).unwrap();
    let mut read = 0;
    for (ci, (_, _, cons)) in top_motifs(&html).iter().enumerate() {
        let hit = PLANTED[ci].iter().any(|m| {
            let up = cons.to_ascii_uppercase();
            up.contains(m) || up.contains(&common::revcomp(m))
        });
        read += hit as usize;
    }
    assert!(read >= 3, "{:?}", top_motifs(&html));
    // No temporary file is left beside the page.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn report_refuses_its_inputs_and_a_channels_file_of_another_layer() {
    let d = tmpdir("report-refuse");
    let (res, _) = run_and_channels(&d, "flatten");
    let (_, ch_pool) = run_and_channels(&d, "pool");
    let before = std::fs::read(&res).unwrap();
    expect_error(
        &["report", &res, "--out", &res],
        &["--out", "input of the report"],
    );
    assert_eq!(
        std::fs::read(&res).unwrap(),
        before,
        "the results file was touched"
    );
    let out = d.join("r.html");
    expect_error(
        &[
            "report",
            &res,
            "--out",
            out.to_str().unwrap(),
            "--channels-file",
            &ch_pool,
        ],
        &[
            "--channels-file",
            "\"pool\"",
            "\"flatten\"",
            "channels --layer flatten",
        ],
    );
    assert!(!out.exists());
}

/// Chromium, or why the browser check is skipped; CI on Debian as root must have it.
fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci && root && Path::new("/etc/debian_version").exists() {
        panic!("CI on Debian as root: Chromium must be installed (jobs/setup.sh installs it)");
    }
    eprintln!("SKIP the browser check: no chromium (apt-get install -y chromium)");
    None
}

fn headless(bin: &str, extra: &[&str], page: &Path) -> std::process::Output {
    let profile = tmpdir(&format!("chromium-profile-{}", extra.len()));
    let url = format!("file://{}", page.display());
    let mut a = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let p = format!("--user-data-dir={}", profile.display());
    a.push(&p);
    a.extend(extra);
    a.push(&url);
    std::process::Command::new(bin).args(&a).output().unwrap()
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else { return };
    let d = tmpdir("report-browser");
    let (res, ch) = run_and_channels(&d, "flatten");
    let page = d.join("report.html");
    let r = run_bin(
        &[
            "report",
            &res,
            "--out",
            page.to_str().unwrap(),
            "--channels-file",
            &ch,
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    // The script ran: it marks the body ready and fills the pager.
    let dom = headless(bin, &["--dump-dom"], &page);
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        text.contains("data-ready=\"yes\""),
        "the page's script did not run: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(text.contains("classes 1–4 of 4"), "pager");
    // The screenshot shows the page: mostly white, with the logos' colours.
    let shot = d.join("shot.png");
    let s = format!("--screenshot={}", shot.display());
    let o = headless(bin, &["--window-size=1400,1800", &s], &page);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dec = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1400, 1800));
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let white = pixels
        .iter()
        .filter(|p| p[..3].iter().all(|&c| c > 245))
        .count();
    // A: green (16,150,72); T: red (214,40,57); drawn as text in the table.
    let near = |p: &[u8], c: [u8; 3]| {
        p.iter()
            .zip(c)
            .all(|(&a, b)| (a as i32 - b as i32).abs() < 40)
    };
    let green = pixels.iter().filter(|p| near(p, [16, 150, 72])).count();
    let red = pixels.iter().filter(|p| near(p, [214, 40, 57])).count();
    assert!(
        white > pixels.len() / 2,
        "mostly blank? {white} white of {}",
        pixels.len()
    );
    assert!(
        green > 200 && red > 200,
        "logos not drawn: {green} green, {red} red pixels"
    );
}

/// `diff --channels-file` names each channel's motif: between TCAT+CAGATG and
/// GATA+CAGATG the channels higher in the first are TCAT detectors, those
/// higher in the second GATA detectors. `plot --channels-file` draws the
/// channels file's motifs above the class figure's columns at a layer whose
/// channels are not first-layer filters (the input of `out`, 64 dense units),
/// where `plot --model` can draw none.
#[test]
fn diff_and_plot_name_channel_motifs_at_any_layer() {
    let d = tmpdir("notes-any-layer");
    let (res, ch) = run_and_channels(&d, "flatten");
    let db = d.join("planted.meme");
    planted_db(&db);
    let dbs = db.to_str().unwrap();
    let r = run_bin(
        &[
            "diff",
            &res,
            "TCAT+CAGATG",
            "GATA+CAGATG",
            "--top",
            "2",
            "--channels-file",
            &ch,
            "--match",
            dbs,
        ],
        None,
        60,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let text = String::from_utf8_lossy(&r.stdout).to_string();
    let motifs: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim_start().starts_with("row"))
        .map(|l| l.split("  ").last().unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(motifs, ["TCAT", "TCAT", "GATA", "GATA"], "{text}");
    // Without --channels-file the table is as before: no motif column.
    let r = run_bin(&["diff", &res, "1", "0", "--top", "2"], None, 60);
    assert!(!String::from_utf8_lossy(&r.stdout).contains("motif"));

    // `clusters`: each cluster's shared channels with their motifs. With one
    // class per cluster the first shared channel is the class's top channel,
    // whose motif is one planted in that class.
    let r = run_bin(
        &[
            "clusters",
            &res,
            "--k",
            "4",
            "--channels-file",
            &ch,
            "--match",
            dbs,
        ],
        None,
        60,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let text = String::from_utf8_lossy(&r.stdout).to_string();
    let names: Vec<String> = std::fs::read_to_string(names2())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut named = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix("cluster ") else {
            continue;
        };
        let class = rest.split_once("): ").unwrap().1;
        let ci = names
            .iter()
            .position(|n| class.starts_with(n.as_str()))
            .unwrap();
        let shared = lines[i + 1].strip_prefix("  shared channels: ").unwrap();
        // "17 TCAT (p 0.001) (OFIV 2.3); …": the first channel's motif name.
        let motif = shared.split(' ').nth(1).unwrap();
        named += PLANTED[ci].contains(&motif) as usize;
    }
    assert!(
        named >= 3,
        "planted motifs named for {named} of 4 clusters:\n{text}"
    );
    // Without --channels-file: channel numbers and OFIVs alone.
    let r = run_bin(&["clusters", &res, "--k", "4"], None, 60);
    let text = String::from_utf8_lossy(&r.stdout).to_string();
    assert_eq!(text.matches("  shared channels: ").count(), 4, "{text}");
    assert!(!text.contains("(p "), "{text}");

    // The input of `out`: channels of one position each, fed by the whole sequence.
    let (m, n, fa) = (model2(), names2(), fixture("sequences/synthetic.fa"));
    let res = d.join("run_out.h5").to_str().unwrap().to_string();
    let ch = d.join("ch_out.h5").to_str().unwrap().to_string();
    for a in [
        vec![
            "run",
            "--model",
            &m,
            "--layer",
            "out",
            "--out",
            &res,
            "--class-names",
            &n,
            "--restarts",
            "3",
        ],
        vec![
            "channels",
            "--model",
            &m,
            "--layer",
            "out",
            "--fasta",
            &fa,
            "--out",
            &ch,
            "--inits",
            "1",
            "--max-steps",
            "200",
        ],
    ] {
        let mut a = a.clone();
        a.push("--quiet");
        let r = run_bin(&a, None, 120);
        assert!(r.status.success(), "{}", stderr_of(&r));
    }
    let plots = d.join("plots");
    let p = plots.to_str().unwrap();
    let r = run_bin(
        &[
            "plot",
            &res,
            "--out",
            p,
            "--classes",
            "3",
            "--channels-file",
            &ch,
            "--match",
            dbs,
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let svg = std::fs::read_to_string(plots.join("class_3_CGCTTG.svg")).unwrap();
    assert!(
        svg.contains("motif logo") && svg.contains("each channel"),
        "no logos drawn"
    );
    let named = svg
        .lines()
        .filter(|l| ["GATA", "TCAT", "CAGATG", "CGCTTG"].contains(&l.trim()))
        .count();
    assert!(named >= 10, "{named} match names under the logos");
    // --model cannot: these channels are not first-layer filters.
    let r = run_bin(
        &["plot", &res, "--out", p, "--classes", "3", "--model", &m],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    assert!(stderr_of(&r).contains("no logos"), "{}", stderr_of(&r));
    // motifs: the channels file's motifs at that layer; --model refuses and
    // says how to get them.
    let meme = d.join("out.meme");
    let me = meme.to_str().unwrap();
    let r = run_bin(
        &[
            "motifs",
            "--results",
            &res,
            "--channels-file",
            &ch,
            "--top",
            "2",
            "--out",
            me,
        ],
        None,
        60,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let text = std::fs::read_to_string(&meme).unwrap();
    assert_eq!(text.matches("\nMOTIF ").count(), 8, "{text}");
    assert!(text.contains("MOTIF CGCTTG_rank1_ch"));
    // Each matrix is its channel's motif in the channels file (flanks trimmed).
    let notes = deepresolve_mpi::channels::notes::ChannelNotes::read(Path::new(&ch), None).unwrap();
    for block in text.split("\nMOTIF ").skip(1) {
        let k: usize = block
            .lines()
            .next()
            .unwrap()
            .rsplit("_ch")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let rows: Vec<Vec<f64>> = block
            .lines()
            .skip(2)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), notes.pwms[k].len(), "channel {k}");
        for (row, want) in rows.iter().zip(&notes.pwms[k]) {
            for (a, b) in row.iter().zip(want) {
                assert!((a - b).abs() < 1e-5, "channel {k}: {row:?} vs {want:?}");
            }
        }
    }
    let a = ["motifs", "--results", &res, "--model", &m, "--out", me];
    expect_error(
        &a,
        &[
            "not first-layer filters",
            "--channels-file",
            "channels --layer out",
        ],
    );
}

/// The classes table carries the science flags: on the PyTorch fixture (its
/// classes A and B reach scores far below class C's) the flagged classes say
/// so in their row, the other says "—".
#[test]
fn report_table_shows_each_class_flags() {
    let d = tmpdir("report-flags");
    let res = d.join("r.h5").to_str().unwrap().to_string();
    let m = fixture("pytorch/model.h5");
    let r = run_bin(
        &[
            "run",
            "--model",
            &m,
            "--layer",
            "3",
            "--out",
            &res,
            "--restarts",
            "6",
            "--quiet",
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let run = deepresolve_mpi::results::FinishedRun::read(Path::new(&res)).unwrap();
    let out = d.join("report.html");
    let r = run_bin(&["report", &res, "--out", out.to_str().unwrap()], None, 120);
    assert!(r.status.success(), "{}", stderr_of(&r));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(">flags</th>"), "no flags column");
    let mut flagged = 0;
    for ci in 0..run.c {
        let at = html.find(&format!("<tr id=\"class-{ci}\"")).unwrap();
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        let cell = row.split("<td class=\"flags\" data-v=\"").nth(1).unwrap();
        let cell = &cell[..cell.find('"').unwrap()];
        let want = run.flag_words(ci);
        if want.is_empty() {
            assert_eq!(cell, "—", "class {ci}");
        } else {
            assert_eq!(cell, want, "class {ci}");
            flagged += 1;
        }
    }
    assert!(flagged > 0, "the fixture has flagged classes");
}
