//! `run` on a layer graph (a ChromBPNet-like residual tower with a profile
//! and a counts head, in the native format): the same bits for 1, 2 and 3
//! ranks, output and reduce in the results file, scores that equal the model
//! at the returned maps, and each refusal as one error on every rank.
mod common;
use common::*;
use deepresolve_mpi::model::native::save_native;
use deepresolve_mpi::network::Network;

fn tower_file(d: &std::path::Path, relu_inside: bool) -> (String, Names) {
    let (spec, names) = tower(21, relu_inside);
    let p = d.join("tower.h5");
    // While HDF5 has it open a child started by another test would inherit its lock.
    let _g = file_guard();
    save_native(&spec, &p).unwrap();
    (p.to_str().unwrap().to_string(), names)
}

fn args<'a>(m: &'a str, layer: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = run_base(m, layer, out);
    a.extend([
        "--restarts",
        "5",
        "--batch",
        "2",
        "--lane",
        "3",
        "--quiet",
        "--overwrite",
    ]);
    a.extend(extra);
    a
}

#[test]
fn graph_runs_are_bitwise_identical_for_1_2_and_3_ranks() {
    let d = tmpdir("graph-ranks");
    let (m, n) = tower_file(&d, false);
    let layer = n.block2.to_string();
    for (tag, extra) in [
        ("counts", vec!["--output", "counts"]),
        ("profile", vec!["--output", "0", "--reduce", "mean"]),
    ] {
        let mut files = vec![];
        for ranks in 1..=3usize {
            let out = d.join(format!("{tag}{ranks}.h5"));
            let o = run_bin(
                &args(&m, &layer, out.to_str().unwrap(), &extra),
                Some(ranks),
                120,
            );
            assert!(
                o.status.success(),
                "{tag}, {ranks} ranks: {}",
                stderr_of(&o)
            );
            files.push(out);
        }
        for f in &files[1..] {
            assert_eq!(
                datasets(&files[0]),
                datasets(f),
                "{tag}: {} differs",
                f.display()
            );
        }
        let f = hdf5::File::open(&files[0]).unwrap();
        let attr = |n: &str| deepresolve_mpi::model::h5util::str_attr(&f, n).unwrap_or_default();
        let c = f
            .dataset("classes/index")
            .unwrap()
            .read_raw::<i64>()
            .unwrap()
            .len();
        match tag {
            "counts" => {
                assert_eq!(
                    (attr("output").as_str(), attr("reduce").as_str(), c),
                    ("counts", "", 1)
                );
            }
            _ => assert_eq!(
                (attr("output").as_str(), attr("reduce").as_str(), c),
                ("profile", "mean", 2)
            ),
        }
    }
}

#[test]
fn reported_scores_equal_the_model_at_the_returned_maps() {
    let d = tmpdir("graph-scores");
    let (m, n) = tower_file(&d, false);
    let out = d.join("r.h5");
    let layer = n.block1.to_string();
    let o = run_bin(
        &args(
            &m,
            &layer,
            out.to_str().unwrap(),
            &["--output", "profile", "--reduce", "sum"],
        ),
        None,
        120,
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    let f = hdf5::File::open(&out).unwrap();
    let fim = f.dataset("ascent/fim").unwrap();
    let shape = fim.shape(); // (C, T, K, W)
    let fim = fim.read_raw::<f32>().unwrap();
    let score = f
        .dataset("ascent/score")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    let (spec, _) = tower(21, false);
    let net = Network::new(&spec).unwrap();
    let h_tensor = spec.layers[n.block1].inputs[0];
    // The profile output before its flatten: the crop that feeds it.
    let crop = spec.outputs[0].tensor - 1;

    let items = shape[0] * shape[1];
    let track = net.forward_range(&fim, items, h_tensor, crop).unwrap();
    let (tk, tw) = net.tensor_shape(crop);
    for i in 0..items {
        let c = i / shape[1];
        let want: f32 = track[(i * tk + c) * tw..(i * tk + c + 1) * tw].iter().sum();
        assert!(
            (score[i] - want).abs() <= 1e-4 * want.abs().max(1.0),
            "item {i}: reported {} vs model {want}",
            score[i]
        );
    }
}

#[test]
fn graph_refusals_end_every_rank_with_one_error() {
    let d = tmpdir("graph-refusals");
    let (m, n) = tower_file(&d, true);
    let out = d.join("r.h5");
    let o = out.to_str().unwrap();
    let inner = n.inner.unwrap().to_string();
    let add = n.add1.to_string();
    let b1 = n.block1.to_string();
    expect_error(
        &args(&m, &inner, o, &["--output", "counts"]),
        &["not a cut", "skip connection"],
    );
    expect_error(
        &args(&m, &add, o, &["--output", "counts"]),
        &["merges 2 tensors"],
    );
    expect_error(
        &args(&m, &b1, o, &[]),
        &["2 outputs", "--output", "profile", "counts"],
    );
    expect_error(&args(&m, &b1, o, &["--output", "profile"]), &["--reduce"]);
    expect_error(
        &args(&m, &b1, o, &["--output", "nope"]),
        &["--output \"nope\"", "counts"],
    );
    assert!(!out.exists(), "a refused run left a results file");
}
