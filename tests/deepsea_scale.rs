//! The DeepSEA shape (issue 19): a results file with 919 classes and 480
//! channels, written here from a seeded generator (/ascent) and analysed by the
//! binary's `analyze`; then `clusters` against SciPy's `fcluster`, the class
//! figure with many channels, the similarity figure with cluster boundaries and
//! the sub-matrix panels, and R's `hclust`/`cutree` on the file's linkage.
mod common;
use common::*;
use deepresolve_mpi::ascent::{AscentParams, Item, ItemResult};
use deepresolve_mpi::clusters::{fcluster, Cut};
use deepresolve_mpi::results::{FinishedRun, ResultsWriter, RunMeta};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const C: usize = 919;
pub const T: usize = 5;
pub const K: usize = 480;
/// Latent groups of classes sharing a feature profile.
const GROUPS: usize = 24;

/// DeepSEA-like names: 125 DNase, 690 TF, 104 histone-mark experiments.
pub fn class_name(c: usize) -> String {
    if c < 125 {
        format!("DNase_{c}")
    } else if c < 125 + 690 {
        format!("TF_{}", c - 125)
    } else {
        format!("Hist_{}", c - 815)
    }
}

/// N(0, 1) by Box–Muller (enough for a test generator).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    let v: f64 = rng.random::<f64>();
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

/// Write /ascent of a 919 × 5 × 480 run (W = 1) with group structure and a few
/// sign-flipping channels per class, then run `analyze`.
fn write_results(path: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(919_480);
    let protos: Vec<Vec<f32>> = (0..GROUPS)
        .map(|_| (0..K).map(|_| normal(&mut rng)).collect())
        .collect();
    let meta = RunMeta {
        model: "generated (tests/deepsea_scale.rs)".into(),
        layer: "conv3_input".into(),
        layer_index: 8,
        classes_arg: "all".into(),
        classes: (0..C).collect(),
        class_names: (0..C).map(class_name).collect(),
        class_names_file: String::new(),
        restarts: T,
        params: AscentParams::new().check().unwrap(),
        k: K,
        w: 1,
        batch: 32,
        lane: 64,
        keras1_backend: "auto".into(),
        quiet: true,
        overwrite: true,
        output: "out".into(),
        reduce: String::new(),
        weights: String::new(),
        conv: "auto".into(),
        conv_paths: "direct".into(),
        simd: "avx2".into(),
        input_length: 0,
        // as the files made before the floor was recorded at creation
        gmm_floor: deepresolve_mpi::analysis::gmm::GmmFloor::Absolute,
    };
    let mut items = Vec::with_capacity(C * T);
    for c in 0..C {
        // Groups of uneven size; a class mixes its group's profile with noise.
        let g = (c * c / 7 + c) % GROUPS;
        let own: Vec<f32> = (0..K)
            .map(|k| protos[g][k] + 0.8 * normal(&mut rng))
            .collect();
        let flips: Vec<usize> = (0..8).map(|_| rng.random_range(0..K)).collect();
        for t in 0..T {
            let mut fiv: Vec<f32> = own.iter().map(|&v| v + 0.2 * normal(&mut rng)).collect();
            for &k in &flips {
                fiv[k] = if t % 2 == 0 { 6.0 } else { -6.0 } * (1.0 + 0.3 * normal(&mut rng));
            }
            items.push(ItemResult {
                item: Item {
                    class_pos: c,
                    class: c,
                    restart: t,
                },
                fim: fiv.clone(),
                fiv,
                score: 1.0 + rng.random::<f32>(),
                steps: 100,
                converged: true,
            });
        }
    }
    {
        let _g = file_guard();
        let mut w = ResultsWriter::create(path, &meta, true).unwrap();
        w.write_items(&items).unwrap();
    }
    let o = run_bin(&["analyze", path.to_str().unwrap()], None, 600);
    assert!(o.status.success(), "analyze: {}", stderr_of(&o));
}

/// The generated file, made once per test binary.
pub fn results() -> PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let d = tmpdir("deepsea_scale");
        let p = d.join("r.h5");
        write_results(&p);
        if let Ok(keep) = std::env::var("DEEPRESOLVE_KEEP_SCALE_FILE") {
            std::fs::copy(&p, &keep).unwrap();
        }
        p
    })
    .clone()
}

fn ok(args: &[&str]) -> std::process::Output {
    let o = run_bin(args, None, 600);
    assert!(o.status.success(), "{args:?}: {}", stderr_of(&o));
    o
}

/// (cluster, class_index, class_name) rows of a `clusters --out` TSV.
fn read_tsv(p: &Path) -> Vec<(usize, i64, String)> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("cluster\tclass_index\tclass_name\tflags")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "{l:?}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].to_string(),
            )
        })
        .collect()
}

/// SciPy's answers on the committed linkage (tests/fixtures/clusters/make_reference.py).
struct Reference {
    linkage: Vec<f64>,
    ks: Vec<i64>,
    maxclust: Vec<Vec<i32>>,
    hs: Vec<f64>,
    distance: Vec<Vec<i32>>,
}

fn reference() -> Reference {
    let f = hdf5::File::open(fixture("clusters/reference.h5")).unwrap();
    let rows = |name: &str| -> Vec<Vec<i32>> {
        let v: Vec<i32> = f.dataset(name).unwrap().read_raw().unwrap();
        v.chunks(C).map(|c| c.to_vec()).collect()
    };
    Reference {
        linkage: f.dataset("linkage").unwrap().read_raw().unwrap(),
        ks: f.dataset("maxclust_k").unwrap().read_raw().unwrap(),
        maxclust: rows("maxclust"),
        hs: f.dataset("distance_h").unwrap().read_raw().unwrap(),
        distance: rows("distance"),
    }
}

/// A copy of the generated file whose /analysis/linkage is the committed one.
fn with_reference_linkage(z: &[f64]) -> PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let src = results();
        let p = src.with_file_name("reference_linkage.h5");
        std::fs::copy(&src, &p).unwrap();
        let _g = file_guard();
        let f = common::open_rw_waiting(&p);
        f.dataset("analysis/linkage").unwrap().write_raw(z).unwrap();
        p
    })
    .clone()
}

fn clusters_tsv(res: &Path, opt: &str, val: &str, name: &str) -> Vec<(usize, i64, String)> {
    let out = res.with_file_name(name);
    let o = ok(&[
        "clusters",
        res.to_str().unwrap(),
        opt,
        val,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let rows = read_tsv(&out);
    assert_eq!(rows.len(), C);
    // The printed list names every class exactly once.
    let listed: usize = stdout
        .lines()
        .filter(|l| l.starts_with("cluster "))
        .map(|l| l.split_once("):").unwrap().1.split(", ").count())
        .sum();
    assert_eq!(listed, C, "{stdout}");
    rows
}

#[test]
fn clusters_k20_assigns_all_919_classes_to_20_clusters_as_scipy() {
    let res = results();
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!((r.c, r.t, r.k), (C, T, K));
    let rows = clusters_tsv(&res, "--k", "20", "k20.tsv");
    for (p, (id, idx, name)) in rows.iter().enumerate() {
        assert_eq!(*idx, p as i64);
        assert_eq!(name, &class_name(p));
        assert!((1..=20).contains(id));
    }
    let mut ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "20 clusters");
    // Largest first in the printed list.
    let o = ok(&["clusters", res.to_str().unwrap(), "--k", "20"]);
    let sizes: Vec<usize> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("cluster "))
        .map(|l| {
            l.split_once(" (")
                .unwrap()
                .1
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(sizes.len(), 20);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), C);

    // SciPy's fcluster on the same linkage: the committed one (from this
    // generator), written into a copy of the file, gives its reference ids.
    let refs = reference();
    let same = refs.linkage.len() == r.linkage.len()
        && refs
            .linkage
            .chunks(4)
            .zip(r.linkage.chunks(4))
            .all(|(a, b)| a[0] == b[0] && a[1] == b[1] && (a[2] - b[2]).abs() < 1e-9);
    if !same {
        eprintln!("note: this machine's linkage differs from the committed one; comparing on the committed linkage only");
    }
    let copy = with_reference_linkage(&refs.linkage);
    for (k, want) in refs.ks.iter().zip(&refs.maxclust) {
        let got = clusters_tsv(&copy, "--k", &k.to_string(), &format!("ref_k{k}.tsv"));
        let got: Vec<i32> = got.iter().map(|r| r.0 as i32).collect();
        assert_eq!(
            &got, want,
            "--k {k} differs from fcluster(Z, {k}, 'maxclust')"
        );
        let lib: Vec<i32> = fcluster(&refs.linkage, C, Cut::MaxClust(*k as usize))
            .into_iter()
            .map(|v| v as i32)
            .collect();
        assert_eq!(&lib, want);
        if same {
            let own = fcluster(&r.linkage, C, Cut::MaxClust(*k as usize));
            assert_eq!(own.iter().map(|&v| v as i32).collect::<Vec<_>>(), *want);
        }
    }
}

#[test]
fn clusters_cut_h_equals_scipy_distance_criterion() {
    let refs = reference();
    let copy = with_reference_linkage(&refs.linkage);
    for (h, want) in refs.hs.iter().zip(&refs.distance) {
        // `{h}` prints the shortest text that parses back to the same f64.
        let got = clusters_tsv(&copy, "--cut", &format!("{h}"), "ref_cut.tsv");
        let got: Vec<i32> = got.iter().map(|r| r.0 as i32).collect();
        assert_eq!(
            &got, want,
            "--cut {h} differs from fcluster(Z, {h}, 'distance')"
        );
    }
    let o = run_bin(
        &[
            "clusters",
            copy.to_str().unwrap(),
            "--k",
            "3",
            "--cut",
            "0.5",
        ],
        None,
        60,
    );
    assert!(!o.status.success());
}

#[test]
fn clusters_labels_add_mean_label_correlation() {
    let res = results();
    let d = tmpdir("scale_labels");
    let y = d.join("y.h5");
    // 200 examples × 919 classes; classes 0 and 1 share labels, so a cluster
    // holding both has a finite correlation.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut lab = vec![0u8; 200 * C];
    for e in 0..200 {
        for c in 0..C {
            lab[e * C + c] = (rng.random::<f32>() < 0.2) as u8;
        }
        lab[e * C + 1] = lab[e * C];
    }
    {
        let _g = file_guard();
        let f = hdf5::File::create(&y).unwrap();
        f.new_dataset_builder()
            .with_data(&ndarray::Array2::from_shape_vec((200, C), lab).unwrap())
            .create("labels")
            .unwrap();
    }
    let o = ok(&[
        "clusters",
        res.to_str().unwrap(),
        "--k",
        "20",
        "--labels",
        y.to_str().unwrap(),
    ]);
    let err = stderr_of(&o);
    assert!(
        err.contains(":/labels, 200 examples × 919 classes"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let with = out
        .lines()
        .filter(|l| l.starts_with("cluster ") && l.contains("mean label correlation"))
        .count();
    assert_eq!(with, 20, "{out}");
}

// ---- pictures ----

use deepresolve_mpi::plot::class_figure::{
    Channels, ClassFigure, DEFAULT_BOTTOM, DEFAULT_TOP, LEGEND_CIRCLES, LEGEND_STARS,
};
use deepresolve_mpi::plot::heatmap::{SimilarityFigure, LASTP};
use deepresolve_mpi::plot::Figure;

fn png_size(p: &Path) -> (u32, u32) {
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

/// Parse D/STEM.svg, check it and D/STEM.png have `size`, and hand the document to `f`.
fn with_svg<T>(
    d: &Path,
    stem: &str,
    size: (u32, u32),
    f: impl FnOnce(&roxmltree::Document) -> T,
) -> T {
    assert_eq!(
        png_size(&d.join(format!("{stem}.png"))),
        size,
        "{stem}.png size"
    );
    let text = std::fs::read_to_string(d.join(format!("{stem}.svg"))).unwrap();
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{stem}.svg is not XML: {e}"));
    let root = doc.root_element();
    let got: (u32, u32) = (
        root.attribute("width").unwrap().parse().unwrap(),
        root.attribute("height").unwrap().parse().unwrap(),
    );
    assert_eq!(got, size, "{stem}.svg size");
    f(&doc)
}

fn count(doc: &roxmltree::Document, tag: &str) -> usize {
    doc.descendants().filter(|n| n.has_tag_name(tag)).count()
}

fn filled_rects<'a>(doc: &'a roxmltree::Document) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_some_and(|f| f != "none"))
        .collect()
}

fn texts(doc: &roxmltree::Document) -> Vec<(String, bool)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| {
            n.text()
                .map(|t| (t.trim().to_string(), n.attribute("transform").is_some()))
        })
        .collect()
}

/// Columns the documented default shows: the 30 highest and 10 lowest by OFIV
/// and every non-additive channel (ranks, increasing).
fn documented_columns(r: &FinishedRun, ci: usize, hi: usize, lo: usize) -> Vec<usize> {
    let rank = r.rank_row(ci);
    let na = r.nonadditive_row(ci);
    (0..r.k)
        .filter(|&j| j < hi || j >= r.k - lo || na[rank[j]] != 0)
        .collect()
}

#[test]
fn class_figure_with_480_channels_shows_the_documented_columns_and_a_full_heatmap() {
    let res = results();
    let r = FinishedRun::read(&res).unwrap();
    assert_eq!((DEFAULT_TOP, DEFAULT_BOTTOM), (30, 10));
    let d = tmpdir("scale_class");
    for (opt, hi, lo) in [
        (None, 30usize, 10usize),
        (Some("12"), 9, 3),
        (Some("all"), K, 0),
    ] {
        let mut a = vec![
            "plot",
            res.to_str().unwrap(),
            "--out",
            d.to_str().unwrap(),
            "--classes",
            "0,TF_3",
        ];
        if let Some(o) = opt {
            a.extend(["--channels", o]);
        }
        ok(&a);
        let sel = opt.map_or(Channels::Auto, |o| Channels::parse(o).unwrap());
        for (ci, stem) in [(0usize, "class_0_DNase_0"), (128, "class_128_TF_3")] {
            let cols = documented_columns(&r, ci, hi, lo);
            let n = cols.len();
            let fig = ClassFigure::with_channels(&r, ci, sel);
            let rank = r.rank_row(ci);
            let want: Vec<usize> = cols.iter().map(|&j| rank[j]).collect();
            assert_eq!(fig.columns(), &want[..], "{stem} {opt:?}");
            let nonadd = cols
                .iter()
                .filter(|&&j| r.nonadditive_row(ci)[rank[j]] != 0)
                .count();
            with_svg(&d, stem, fig.size(), |doc| {
                assert_eq!(
                    count(doc, "circle"),
                    (T + 2) * n + LEGEND_CIRCLES,
                    "{stem} {opt:?}: circles"
                );
                assert_eq!(count(doc, "polygon"), nonadd + LEGEND_STARS, "{stem} stars");
                // The heatmap: one filled cell per restart and channel, 480 columns.
                let cells = filled_rects(doc);
                assert_eq!(cells.len(), 1 + T * K, "{stem}: background + T × K cells");
                let mut xs: Vec<&str> = cells[1..]
                    .iter()
                    .map(|c| c.attribute("x").unwrap())
                    .collect();
                xs.sort_unstable();
                xs.dedup();
                assert_eq!(xs.len(), K, "{stem}: heatmap columns");
                if n == K {
                    // --channels all: each heatmap column under its circle column.
                    let mut heat: Vec<f64> = cells[1..]
                        .iter()
                        .map(|c| {
                            let f = |a: &str| c.attribute(a).unwrap().parse::<f64>().unwrap();
                            f("x") + f("width") / 2.0
                        })
                        .collect();
                    heat.sort_by(f64::total_cmp);
                    heat.dedup();
                    let mut per_x: std::collections::BTreeMap<i64, usize> = Default::default();
                    for c in doc.descendants().filter(|c| c.has_tag_name("circle")) {
                        let cx: f64 = c.attribute("cx").unwrap().parse().unwrap();
                        *per_x.entry(cx.round() as i64).or_default() += 1;
                    }
                    let circles: Vec<i64> = per_x
                        .into_iter()
                        .filter(|&(_, m)| m >= T)
                        .map(|(x, _)| x)
                        .collect();
                    assert_eq!(circles.len(), K, "{stem}: circle columns");
                    for (j, (&h, &c)) in heat.iter().zip(&circles).enumerate() {
                        assert!(
                            (h - c as f64).abs() <= 1.0,
                            "{stem}: heatmap column {j} at {h}, circles at {c}"
                        );
                    }
                }
                let all = texts(doc)
                    .into_iter()
                    .map(|t| t.0)
                    .collect::<Vec<_>>()
                    .join("\n");
                if n < K {
                    assert!(
                        all.contains(&format!("{n} of 480 channels shown"))
                            && all.contains(&format!("{} left out", K - n))
                            && all.contains("--channels N")
                            && all.contains("--channels all"),
                        "{stem}: no note on the channels left out"
                    );
                } else {
                    assert!(!all.contains("left out"), "{stem}");
                }
            });
        }
    }
    assert!(Channels::parse("0").is_none() && Channels::parse("x").is_none());
    let o = run_bin(
        &[
            "plot",
            res.to_str().unwrap(),
            "--out",
            d.to_str().unwrap(),
            "--channels",
            "none",
        ],
        None,
        60,
    );
    assert!(!o.status.success());
}

#[test]
fn similarity_at_919_classes_truncates_dendrograms_and_frames_the_k_clusters() {
    let res = results();
    let r = FinishedRun::read(&res).unwrap();
    let d = tmpdir("scale_sim");
    ok(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--classes",
        "0",
        "--k",
        "20",
    ]);
    let fig = SimilarityFigure::with_cut(&r, Cut::MaxClust(20));
    with_svg(&d, "similarity", fig.size(), |doc| {
        let merges = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("polyline")
                    && n.attribute("points")
                        .is_some_and(|p| p.split_whitespace().count() == 4)
            })
            .count();
        assert_eq!(merges, 2 * (LASTP - 1), "truncated dendrogram segments");
        let frames = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("rect")
                    && n.attribute("fill") == Some("none")
                    && n.attribute("stroke") == Some("#000000")
            })
            .count();
        assert_eq!(frames, 20, "one frame per cluster");
        // Counts of the truncated leaves add up to every class, on each side.
        let counts: usize = texts(doc)
            .iter()
            .filter_map(|(t, _)| {
                t.strip_prefix('(')?
                    .strip_suffix(')')?
                    .parse::<usize>()
                    .ok()
            })
            .sum();
        assert_eq!(counts, 2 * C, "leaf counts above and beside");
    });
}

#[test]
fn plot_rows_cols_draws_exactly_the_matching_classes() {
    let res = results();
    let d = tmpdir("scale_sub");
    ok(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--rows",
        "^TF_1[0-9]$",
        "--cols",
        "^DNase_[0-9]$",
    ]);
    assert!(!d.join("similarity.png").exists(), "panels only");
    let r = FinishedRun::read(&res).unwrap();
    let rows: Vec<usize> = (0..C)
        .filter(|&p| r.names[p].starts_with("TF_1") && r.names[p].len() == 5)
        .collect();
    let cols: Vec<usize> = (0..10).collect();
    assert_eq!(rows.len(), 10);
    let fig = SimilarityFigure::sub(&r, &rows, &cols, "x");
    let mut got_rows: Vec<usize> = fig.rows().to_vec();
    got_rows.sort_unstable();
    assert_eq!(got_rows, rows);
    with_svg(&d, "similarity_sub", fig.size(), |doc| {
        assert_eq!(filled_rects(doc).len(), 1 + 10 * 10, "background + cells");
        let names: Vec<(String, bool)> = texts(doc)
            .into_iter()
            .filter(|(t, _)| {
                t.starts_with("TF_") || t.starts_with("DNase_") || t.starts_with("Hist_")
            })
            .collect();
        let mut row_names: Vec<String> =
            names.iter().filter(|t| !t.1).map(|t| t.0.clone()).collect();
        let mut col_names: Vec<String> =
            names.iter().filter(|t| t.1).map(|t| t.0.clone()).collect();
        row_names.sort();
        col_names.sort();
        let mut want_r: Vec<String> = rows.iter().map(|&p| class_name(p)).collect();
        let mut want_c: Vec<String> = cols.iter().map(|&p| class_name(p)).collect();
        want_r.sort();
        want_c.sort();
        assert_eq!(row_names, want_r);
        assert_eq!(col_names, want_c);
        // Bi-clustered: a dendrogram over each side.
        let merges = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("polyline")
                    && n.attribute("points")
                        .is_some_and(|p| p.split_whitespace().count() == 4)
            })
            .count();
        assert_eq!(merges, 9 + 9);
    });
    let o = run_bin(
        &[
            "plot",
            res.to_str().unwrap(),
            "--out",
            d.to_str().unwrap(),
            "--rows",
            "^nosuch$",
        ],
        None,
        60,
    );
    assert!(!o.status.success() && stderr_of(&o).contains("matches no class name"));
}

#[test]
fn plot_cluster_draws_one_clusters_sub_matrix() {
    let res = results();
    let d = tmpdir("scale_cluster");
    let rows = clusters_tsv(&res, "--k", "20", "k20_for_plot.tsv");
    let id = rows[0].0;
    let members: Vec<String> = rows
        .iter()
        .filter(|r| r.0 == id)
        .map(|r| r.2.clone())
        .collect();
    ok(&[
        "plot",
        res.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--k",
        "20",
        "--cluster",
        &id.to_string(),
    ]);
    let stem = format!("similarity_cluster_{id}");
    let r = FinishedRun::read(&res).unwrap();
    let pos: Vec<usize> = (0..C).filter(|&p| rows[p].0 == id).collect();
    let fig = SimilarityFigure::sub(&r, &pos, &pos, "x");
    with_svg(&d, &stem, fig.size(), |doc| {
        let m = members.len();
        if m <= 150 {
            assert_eq!(filled_rects(doc).len(), 1 + m * m);
        }
        let mut labelled: Vec<String> = texts(doc)
            .into_iter()
            .filter(|(t, v)| !v && members.contains(t))
            .map(|t| t.0)
            .collect();
        labelled.sort();
        let mut want = members.clone();
        want.sort();
        // Rows at least one line of text apart: every member is labelled.
        if 1000 / m >= 14 {
            assert_eq!(labelled, want);
        }
    });
    let o = run_bin(
        &[
            "plot",
            res.to_str().unwrap(),
            "--out",
            d.to_str().unwrap(),
            "--k",
            "20",
            "--cluster",
            "21",
        ],
        None,
        60,
    );
    assert!(!o.status.success() && stderr_of(&o).contains("--cluster 21"));
}

// ---- R ----

/// docs/results.md's R block that turns /analysis/linkage into an hclust object.
fn readme_r_block() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md"))
            .unwrap();
    let start = readme
        .find("```r\n# /analysis/linkage (SciPy's layout) as an R hclust object")
        .expect("docs/results.md has the hclust block");
    let body = &readme[start + 5..];
    body[..body.find("```").unwrap()].to_string()
}

/// Rscript with rhdf5 or hdf5r: installed with apt-get when missing, as root
/// on Debian (`R_TEST_NO_INSTALL=1` skips that); None (the test then skips) otherwise.
fn rscript() -> Option<&'static str> {
    let has = || {
        std::process::Command::new("Rscript")
            .args([
                "-e",
                "q(status = if (requireNamespace('rhdf5', quietly = TRUE) || requireNamespace('hdf5r', quietly = TRUE)) 0 else 1)",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has() {
        return Some("Rscript");
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root
        && Path::new("/usr/bin/apt-get").exists()
        && std::env::var_os("R_TEST_NO_INSTALL").is_none()
    {
        eprintln!("R or rhdf5/hdf5r missing: apt-get install r-base-core r-cran-hdf5r (this can take a while)");
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                "export DEBIAN_FRONTEND=noninteractive; (apt-get install -y -qq --no-install-recommends r-base-core r-cran-hdf5r || (apt-get update -qq && apt-get install -y -qq --no-install-recommends r-base-core r-cran-hdf5r)) >/dev/null 2>&1",
            ])
            .status();
        if has() {
            return Some("Rscript");
        }
    }
    None
}

#[test]
fn readme_r_lines_make_an_hclust_whose_cutree_equals_clusters_k() {
    let Some(rs) = rscript() else {
        eprintln!("SKIPPED: no Rscript with rhdf5 or hdf5r (apt-get install r-bioc-rhdf5 or r-cran-hdf5r)");
        return;
    };
    let res = results();
    let d = tmpdir("scale_r");
    let out = d.join("cutree.txt");
    // rhdf5 if present, else the same h5read on hdf5r.
    let prelude = "if (!requireNamespace('rhdf5', quietly = TRUE)) {\n  h5read <- function(f, name) { h <- hdf5r::H5File$new(f, 'r'); on.exit(h$close_all()); h[[name]]$read() }\n  library <- function(...) invisible(NULL)\n}\n";
    let block = readme_r_block().replace(
        "f <- \"results/demo.h5\"",
        &format!("f <- {:?}", res.to_str().unwrap()),
    );
    assert!(
        block.contains(res.to_str().unwrap()),
        "README block sets f <- \"results/demo.h5\""
    );
    let script = format!(
        "{prelude}{block}\nstopifnot(identical(sort(hc$order), seq_len(n)))\nwriteLines(as.character(cutree(hc, k = 20)), {:?})\n",
        out.to_str().unwrap()
    );
    let sp = d.join("hclust.R");
    std::fs::write(&sp, &script).unwrap();
    // In the temporary directory: the block's plot() writes Rplots.pdf there.
    let o = std::process::Command::new(rs)
        .arg(&sp)
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "R failed:\n{}\n{script}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r_ids: Vec<usize> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(r_ids.len(), C);
    let ours: Vec<usize> = clusters_tsv(&res, "--k", "20", "k20_r.tsv")
        .iter()
        .map(|r| r.0)
        .collect();
    // The same partition (R numbers clusters by first member, SciPy by its walk).
    let mut map = std::collections::HashMap::new();
    for (a, b) in ours.iter().zip(&r_ids) {
        assert_eq!(*map.entry(*a).or_insert(*b), *b, "cutree splits a cluster");
    }
    let mut rs: Vec<usize> = map.values().copied().collect();
    rs.sort_unstable();
    rs.dedup();
    assert_eq!((map.len(), rs.len()), (20, 20), "cutree joins clusters");
}
