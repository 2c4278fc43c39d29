//! `calibrate` and `channels` (issue 16) on the synthetic fixtures
//! (tests/fixtures/synthetic, see make_models.py: Conv1D(32, 8) `conv` →
//! MaxPooling1D(4) `pool` → Flatten `flatten` → Dense → Dense on one-hot DNA
//! of 100 bp, the conv filters trained on planted motifs) with the sequences
//! of tests/fixtures/sequences/synthetic.fa (make_fasta.py: random 100-mers
//! with the same motifs planted).
mod common;

use common::{
    channel_datasets, expect_error, fixture, motif_match, onehot, run_bin, run_bin_env, stderr_of,
    tmpdir,
};
use deepresolve_mpi::model::{load_model, LayerKind};
use std::path::Path;

fn model(n: u32) -> String {
    fixture(&format!("synthetic/dataset{n}.h5"))
}

fn fasta() -> String {
    fixture("sequences/synthetic.fa")
}

const D1_MOTIFS: [&str; 3] = ["CAGGTC", "GCTCAT", "CGCTTG"];

// ------------------------------------------------------------- calibrate --

/// The rows of the printed table: (λ, FIM norm), and the suggested λ.
fn table(stdout: &str) -> (Vec<(f64, f64)>, f64, f64) {
    let mut rows = vec![];
    let mut suggested = None;
    let mut real = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("suggested_lambda=") {
            suggested = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        } else if line.starts_with('#') {
            if let Some(at) = line.find("mean L2 norm ") {
                real = line[at + 13..]
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok());
            }
        } else if !line.starts_with("lambda") {
            let f: Vec<&str> = line.split('\t').collect();
            rows.push((f[0].parse().unwrap(), f[1].parse().unwrap()));
        }
    }
    (
        rows,
        suggested.expect("a suggested_lambda line"),
        real.expect("the real norm"),
    )
}

#[test]
fn calibrate_brackets_the_real_norm_and_fim_norms_fall_with_lambda() {
    for n in [1, 2] {
        let (m, f) = (model(n), fasta());
        let args = [
            "calibrate",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--lambdas",
            "0.5,1,2,4,8,16",
            "--lr",
            "0.025",
            "--max-steps",
            "400",
            "--quiet",
        ];
        let one = run_bin(&args, None, 120);
        assert!(one.status.success(), "{}", stderr_of(&one));
        let text = String::from_utf8_lossy(&one.stdout).to_string();
        let (rows, suggested, real) = table(&text);
        assert_eq!(rows.len(), 6, "{text}");
        assert!(real > 0.0, "{text}");
        for w in rows.windows(2) {
            assert!(
                w[1].1 < w[0].1,
                "dataset {n}: FIM norm does not fall from λ {} to {}:\n{text}",
                w[0].0,
                w[1].0
            );
        }
        // issue 27: the stable range (2λ·lr < 1 at lr 0.025: λ < 20, the
        // whole grid) and each class's own λ are printed
        assert!(
            text.contains("# stable lambdas (2 * lambda * lr < 1 at lr 0.025, i.e. lambda < 20): 0.5 to 16 (6 of the grid)"),
            "{text}"
        );
        let spread = text
            .lines()
            .find(|l| l.starts_with("# spread: each class's own closest lambda: min "))
            .unwrap_or_else(|| panic!("no spread line:\n{text}"));
        assert!(
            spread.ends_with(&format!("over {} classes", if n == 1 { 1 } else { 4 })),
            "{spread}"
        );
        let lo = rows[0].0;
        let hi = rows[rows.len() - 1].0;
        assert!(
            suggested > lo && suggested < hi,
            "dataset {n}: suggested λ {suggested} at the edge of the grid:\n{text}"
        );
        // The same table on 2 ranks.
        let two = run_bin(&args, Some(2), 120);
        assert!(two.status.success(), "{}", stderr_of(&two));
        assert_eq!(
            String::from_utf8_lossy(&two.stdout),
            text,
            "dataset {n}: 1 vs 2 ranks"
        );
    }
}

#[test]
fn calibrate_reads_gzip_and_fits_other_lengths_when_asked() {
    let dir = tmpdir("calibrate-gz");
    let (m, f) = (model(2), fasta());
    // Every record 20 letters longer ("AAAAAAAAAA" + seq + "AAAAAAAAAA"), gzipped.
    let text = std::fs::read_to_string(&f).unwrap();
    let mut long = String::new();
    let mut seq = String::new();
    let flush = |seq: &mut String, long: &mut String| {
        if !seq.is_empty() {
            long.push_str(&format!("AAAAAAAAAA{seq}AAAAAAAAAA\n"));
            seq.clear();
        }
    };
    for line in text.lines() {
        if line.starts_with('>') {
            flush(&mut seq, &mut long);
            long.push_str(line);
            long.push('\n');
        } else {
            seq.push_str(line);
        }
    }
    flush(&mut seq, &mut long);
    let gz = dir.join("long.fa.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        e.write_all(long.as_bytes()).unwrap();
        e.finish().unwrap();
    }
    let g = gz.to_str().unwrap();
    let base = [
        "calibrate",
        "--model",
        &m,
        "--layer",
        "flatten",
        "--lambdas",
        "1,2",
        "--quiet",
    ];
    let plain = run_bin(&[&base[..], &["--fasta", &f]].concat(), None, 60);
    let fitted = run_bin(
        &[&base[..], &["--fasta", g, "--fit", "center"]].concat(),
        None,
        60,
    );
    assert!(fitted.status.success(), "{}", stderr_of(&fitted));
    // Cut back to the centre, the sequences are the originals: the same table.
    assert_eq!(plain.stdout, fitted.stdout);
    // Without --fit the length is an error naming the record.
    expect_error(
        &[&base[..], &["--fasta", g]].concat(),
        &[
            "record 1 (seq0) has 120 letters but the model reads 100",
            "--fit center",
        ],
    );
}

#[test]
fn bad_fasta_files_are_one_error_naming_the_record() {
    let dir = tmpdir("bad-fasta");
    let m = model(1);
    let protein = dir.join("protein.fa");
    let mut p = format!(">ok\n{}\n>prot1 a protein\n", "ACGT".repeat(25));
    p.push_str(&"MEEPQSDPSV".repeat(10));
    p.push('\n');
    std::fs::write(&protein, p).unwrap();
    let empty = dir.join("empty.fa");
    std::fs::write(&empty, "").unwrap();
    let no_seq = dir.join("noseq.fa");
    std::fs::write(&no_seq, format!(">a\n{}\n>b\n", "ACGT".repeat(25))).unwrap();
    let out = dir.join("c.h5");
    let o = out.to_str().unwrap();
    for (file, names) in [
        (
            &protein,
            vec!["record 2 (prot1)", "'E' at position 2", "alphabet ACGT"],
        ),
        (&empty, vec!["empty.fa", "no FASTA record"]),
        (&no_seq, vec!["record 2 (b) has no sequence"]),
    ] {
        let f = file.to_str().unwrap();
        expect_error(
            &[
                "calibrate",
                "--model",
                &m,
                "--layer",
                "flatten",
                "--fasta",
                f,
            ],
            &names,
        );
        expect_error(
            &[
                "channels", "--model", &m, "--layer", "flatten", "--fasta", f, "--out", o,
            ],
            &names,
        );
    }
    // An alphabet that does not fit the model, and --match with a database that is not there.
    let f = fasta();
    expect_error(
        &[
            "calibrate",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--alphabet",
            "ACGTN",
        ],
        &["--alphabet ACGTN has 5 letters", "4 channels"],
    );
    expect_error(
        &[
            "channels", "--model", &m, "--layer", "flatten", "--fasta", &f, "--out", o, "--match",
            "db.meme",
        ],
        &["--match db.meme"],
    );
}

// -------------------------------------------------------------- channels --

/// Rows of A, C, G, T probabilities.
type Pwm = Vec<[f64; 4]>;

/// The best-matching motif of `motifs` and its correlation.
fn best_target(pwm: &Pwm, motifs: &[&str]) -> (usize, f64) {
    motifs
        .iter()
        .map(|m| motif_match(pwm, m))
        .enumerate()
        .fold((0, -2.0), |b, (i, r)| if r > b.1 { (i, r) } else { b })
}
fn read_pwms(path: &Path) -> (Vec<Pwm>, Vec<usize>) {
    let f = hdf5::File::open(path).unwrap();
    let d = f.dataset("channels/pwm").unwrap();
    let shape = d.shape();
    let (k, i, r) = (shape[0], shape[1], shape[2]);
    let v: Vec<f32> = d.read_raw().unwrap();
    let best: Vec<i32> = f.dataset("channels/best_init").unwrap().read_raw().unwrap();
    let pwm = |kk: usize, ii: usize| -> Pwm {
        (0..r)
            .map(|p| {
                let at = ((kk * i + ii) * r + p) * 4;
                [
                    v[at] as f64,
                    v[at + 1] as f64,
                    v[at + 2] as f64,
                    v[at + 3] as f64,
                ]
            })
            .collect()
    };
    (
        (0..k).map(|kk| pwm(kk, best[kk] as usize)).collect(),
        best.iter().map(|&b| b as usize).collect(),
    )
}

#[test]
fn channels_fed_by_motif_filters_recover_the_planted_motifs() {
    let dir = tmpdir("channels-motifs");
    let m = model(1);
    let spec = load_model(Path::new(&m), None).unwrap();
    let LayerKind::Conv1D {
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
    // The planted motifs as a database for --match.
    let db = dir.join("planted.meme");
    let mut text = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n");
    for m in D1_MOTIFS {
        text += &format!(
            "MOTIF {m}\nletter-probability matrix: alength= 4 w= {}\n",
            m.len()
        );
        for row in onehot(m) {
            let row: Vec<String> = row
                .iter()
                .map(|v| format!("{:.3}", 0.01 + 0.96 * v))
                .collect();
            text += &format!("{}\n", row.join(" "));
        }
        text += "\n";
    }
    std::fs::write(&db, text).unwrap();
    // H = the input of `flatten` (the pooled filters) and of `pool` (the filters).
    for layer in ["flatten", "pool"] {
        let out = dir.join(format!("{layer}.h5"));
        let meme = dir.join(format!("{layer}.meme"));
        let (o, me, f) = (out.to_str().unwrap(), meme.to_str().unwrap(), fasta());
        let r = run_bin(
            &[
                "channels",
                "--model",
                &m,
                "--layer",
                layer,
                "--fasta",
                &f,
                "--out",
                o,
                "--meme",
                me,
                "--quiet",
                "--match",
                db.to_str().unwrap(),
            ],
            None,
            120,
        );
        assert!(r.status.success(), "{}", stderr_of(&r));
        let table = String::from_utf8_lossy(&r.stdout).to_string();
        assert!(table.starts_with("channel\tbest_match"), "{table}");
        let best_of = |ch: usize| -> String {
            let line = table
                .lines()
                .find(|l| l.starts_with(&format!("ch{ch}\t")))
                .unwrap();
            line.split('\t').nth(1).unwrap().to_string()
        };
        let (pwms, _) = read_pwms(&out);
        assert_eq!(pwms.len(), *filters);
        assert_eq!(
            pwms[0].len(),
            if layer == "flatten" { 8 + 3 } else { 8 },
            "receptive field"
        );
        let mut checked = 0;
        for (ch, pwm) in pwms.iter().enumerate() {
            // A channel fed by a filter that carries a planted motif…
            let fp: Pwm =
                deepresolve_mpi::motifs::pwm(kernel, *in_channels, *kernel_size, *dilation, ch)
                    .into_iter()
                    .collect();
            let (planted, fr) = best_target(&fp, &D1_MOTIFS);
            if fr < 0.8 {
                continue;
            }
            checked += 1;
            // …gives back that motif as its best target.
            let (got, r) = best_target(pwm, &D1_MOTIFS);
            assert!(
                got == planted && r >= 0.75,
                "{layer}: channel {ch} (filter matches {} at r = {fr:.2}) recovered {} at r = {r:.2}: {pwm:?}",
                D1_MOTIFS[planted],
                D1_MOTIFS[got]
            );
            // The built-in TOMTOM names the same motif.
            assert_eq!(
                best_of(ch),
                D1_MOTIFS[planted],
                "{layer}: --match on channel {ch}"
            );
        }
        assert!(
            checked >= 5,
            "{layer}: only {checked} filters carry a planted motif"
        );
        let text = std::fs::read_to_string(&meme).unwrap();
        assert_eq!(text.matches("\nMOTIF ").count(), *filters);
        assert!(
            text.contains("MOTIF ch0\n") && text.contains(&format!("MOTIF ch{}\n", filters - 1))
        );
    }
    // --all-inits names every init.
    let out = dir.join("all.h5");
    let meme = dir.join("all.meme");
    let f = fasta();
    let r = run_bin(
        &[
            "channels",
            "--model",
            &m,
            "--layer",
            "flatten",
            "--fasta",
            &f,
            "--out",
            out.to_str().unwrap(),
            "--meme",
            meme.to_str().unwrap(),
            "--all-inits",
            "--inits",
            "3",
            "--quiet",
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    let text = std::fs::read_to_string(&meme).unwrap();
    assert_eq!(text.matches("\nMOTIF ").count(), filters * 3);
    assert!(text.contains("MOTIF ch5_init2\n"));
}

/// Issue 27: a channel that never fires on the sequences (here: two conv
/// filters whose bias is set to −1000, so their ReLU is 0 on every window)
/// has no motif. It is flagged in the file (`/channels/dead`, with every
/// channel's `/channels/max_activation`), left out of `--meme`, and marked in
/// the `--match` table without a match; live channels are untouched.
#[test]
fn channels_flags_dead_channels_and_leaves_them_out() {
    let dir = tmpdir("channels-dead");
    let m = dir.join("dead.h5");
    std::fs::copy(model(1), &m).unwrap();
    let dead = [3usize, 17];
    {
        let f = common::open_rw_waiting(&m);
        fn find_bias(g: &hdf5::Group) -> Option<hdf5::Dataset> {
            for name in g.member_names().ok()? {
                if let Ok(sub) = g.group(&name) {
                    if let Some(d) = find_bias(&sub) {
                        return Some(d);
                    }
                } else if name.starts_with("bias") {
                    return g.dataset(&name).ok();
                }
            }
            None
        }
        let ds = find_bias(&f.group("model_weights/conv").unwrap()).expect("conv bias");
        let mut b: Vec<f32> = ds.read_raw().unwrap();
        for &d in &dead {
            b[d] = -1000.0;
        }
        ds.write_raw(&b).unwrap();
    }
    let db = dir.join("db.meme");
    let mut text = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n");
    for m in D1_MOTIFS {
        text += &format!("MOTIF {m}\nletter-probability matrix: alength= 4 w= 6\n");
        for row in onehot(m) {
            let row: Vec<String> = row
                .iter()
                .map(|v| format!("{:.3}", 0.01 + 0.96 * v))
                .collect();
            text += &format!("{}\n", row.join(" "));
        }
        text += "\n";
    }
    std::fs::write(&db, text).unwrap();
    let (out, meme) = (dir.join("c.h5"), dir.join("c.meme"));
    let r = run_bin(
        &[
            "channels",
            "--model",
            m.to_str().unwrap(),
            "--layer",
            "flatten",
            "--fasta",
            &fasta(),
            "--out",
            out.to_str().unwrap(),
            "--meme",
            meme.to_str().unwrap(),
            "--match",
            db.to_str().unwrap(),
            "--inits",
            "2",
            "--max-steps",
            "50",
        ],
        None,
        120,
    );
    assert!(r.status.success(), "{}", stderr_of(&r));
    assert!(
        stderr_of(&r).contains("2 of 32 channels are dead") && stderr_of(&r).contains("ch3, ch17"),
        "{}",
        stderr_of(&r)
    );
    let f = hdf5::File::open(&out).unwrap();
    let flag: Vec<u8> = f.dataset("channels/dead").unwrap().read_raw().unwrap();
    let max: Vec<f32> = f
        .dataset("channels/max_activation")
        .unwrap()
        .read_raw()
        .unwrap();
    let init_act: Vec<f32> = f
        .dataset("channels/init_activation")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(flag.len(), 32);
    for k in 0..32 {
        assert_eq!(
            flag[k] == 1,
            dead.contains(&k),
            "channel {k}: max {}",
            max[k]
        );
        // the best init window is the channel's best window
        assert_eq!(max[k], init_act[k * 2], "channel {k}");
        if !dead.contains(&k) {
            assert!(max[k] > 0.0, "channel {k}");
        } else {
            assert_eq!(max[k], 0.0);
        }
    }
    let text = std::fs::read_to_string(&meme).unwrap();
    assert_eq!(text.matches("\nMOTIF ").count(), 30);
    assert!(!text.contains("MOTIF ch3\n") && !text.contains("MOTIF ch17\n"));
    assert!(text.contains("MOTIF ch4\n"));
    let table = String::from_utf8_lossy(&r.stdout).to_string();
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0][6..], ["max_activation", "dead"], "{table}");
    assert_eq!(lines.len(), 33);
    for (k, row) in lines[1..].iter().enumerate() {
        assert_eq!(row[0], format!("ch{k}"));
        assert_eq!(row[7], if dead.contains(&k) { "1" } else { "0" }, "{table}");
        assert_eq!(row[1] == "-", dead.contains(&k), "{table}");
        let m: f32 = row[6].parse().unwrap();
        assert!(
            (m - max[k]).abs() <= 1e-5 * max[k].abs().max(1.0),
            "{table}"
        );
    }
}

#[test]
fn channels_is_bitwise_the_same_for_1_and_2_ranks_and_resumes_after_sigkill() {
    let dir = tmpdir("channels-ranks");
    let (m, f) = (model(2), fasta());
    let run = |out: &Path, nproc: Option<usize>, extra: &[&str], env: &[(&str, &str)]| {
        let o = out.to_str().unwrap();
        let mut a = vec![
            "channels", "--model", &m, "--layer", "flatten", "--fasta", &f, "--out", o, "--lane",
            "8", "--batch", "4",
        ];
        a.extend(extra);
        run_bin_env(&a, nproc, 120, env)
    };
    let one = dir.join("one.h5");
    let two = dir.join("two.h5");
    let killed = dir.join("killed.h5");
    assert!(run(&one, None, &["--quiet"], &[]).status.success());
    assert!(run(&two, Some(2), &["--quiet"], &[]).status.success());
    let k = run(
        &killed,
        Some(2),
        &[],
        &[("DEEPRESOLVE_TEST_ABORT_AFTER_LANES", "6")],
    );
    let seen = stderr_of(&k);
    assert!(
        !k.status.success() && seen.contains("killing rank 0"),
        "not killed:\n{seen}"
    );
    let done: Vec<u8> = hdf5::File::open(&killed)
        .unwrap()
        .dataset("channels/done")
        .unwrap()
        .read_raw()
        .unwrap();
    let n_done = done.iter().filter(|&&d| d == 1).count();
    assert!(
        n_done > 0 && n_done < done.len(),
        "{n_done} of {} done at the kill",
        done.len()
    );
    let r = run(&killed, Some(2), &["--resume"], &[]);
    let seen = stderr_of(&r);
    assert!(r.status.success() && seen.contains("resuming"), "{seen}");
    let a = channel_datasets(&one);
    for other in [&two, &killed] {
        let b = channel_datasets(other);
        assert_eq!(
            a.iter().map(|x| &x.0).collect::<Vec<_>>(),
            b.iter().map(|x| &x.0).collect::<Vec<_>>()
        );
        for ((n, x), (_, y)) in a.iter().zip(&b) {
            assert!(
                x == y,
                "{n} differs between {} and {}",
                one.display(),
                other.display()
            );
        }
    }
    // A resume with other options is refused, naming the option.
    let r = run(&killed, None, &["--resume", "--lambda", "0.2"], &[]);
    assert!(
        !r.status.success() && stderr_of(&r).contains("--resume with a different lambda"),
        "{}",
        stderr_of(&r)
    );
}

/// Random 0/1/2/3 letters, `n` records of `w` bases.
fn random_fasta(path: &Path, n: usize, w: usize, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(">r{i}\n"));
        s.extend((0..w).map(|_| b"ACGT"[rng.random_range(0..4)] as char));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn rf_size(path: &Path) -> i64 {
    hdf5::File::open(path)
        .unwrap()
        .attr("rf_size")
        .unwrap()
        .read_scalar()
        .unwrap()
}

#[test]
fn channels_windows_follow_graphs_dilations_strides_and_same_padding() {
    use common::Builder;
    use deepresolve_mpi::model::native::save_native;
    use deepresolve_mpi::model::{Activation, FlattenOrder, Padding};
    let dir = tmpdir("channels-graphs");
    let fa = dir.join("r.fa");
    random_fasta(&fa, 24, 40, 5);
    // A ChromBPNet-like tower: dilated residual blocks joined by Add.
    let (tower, names) = common::tower(3, false);
    let t = dir.join("tower.h5");
    {
        let _g = common::file_guard();
        save_native(&tower, &t).unwrap();
    }
    // A chain with "same" padding, a stride, a pool and a dilation.
    let mut b = Builder::new(4, 4, 40);
    b.conv(5, 5, 1, 1, Padding::Same, Activation::Relu)
        .conv(5, 3, 2, 1, Padding::Same, Activation::Relu)
        .pool(2, 2, Padding::Same)
        .conv(3, 3, 1, 2, Padding::Same, Activation::Relu)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(2, Activation::Linear);
    let c = dir.join("chain.h5");
    {
        let _g = common::file_guard();
        save_native(&b.build(), &c).unwrap();
    }
    // (model, layer, receptive field): the tower's second block reads the first
    // Add (5 + 2·2 = 9); its head conv reads the second Add (9 + 2·4 = 17). The
    // chain's flatten reads conv 5 → conv 3 stride 2 → pool 2 → conv 3 dilation 2:
    // 5, + 2·1 = 7 (stride 2), + 1·2 = 9 (stride 4), + 4·4 = 25.
    for (m, layer, rf) in [
        (&t, names.block2.to_string(), 9),
        (&t, (names.block2 + 3).to_string(), 17),
        (&c, "4".to_string(), 25),
    ] {
        let out = dir.join(format!(
            "{}-{layer}.h5",
            m.file_stem().unwrap().to_str().unwrap()
        ));
        let r = run_bin(
            &[
                "channels",
                "--model",
                m.to_str().unwrap(),
                "--layer",
                &layer,
                "--fasta",
                fa.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--inits",
                "3",
                "--max-steps",
                "50",
                "--quiet",
            ],
            None,
            120,
        );
        // The run checks the cut model against the full model's activation.
        assert!(
            r.status.success(),
            "{} layer {layer}: {}",
            m.display(),
            stderr_of(&r)
        );
        assert_eq!(rf_size(&out), rf, "{} layer {layer}", m.display());
    }
}
