//! Compares the analysis functions with scikit-learn and SciPy, from
//! tests/fixtures/analysis/reference.json (made by make_reference.py there).

use deepresolve_mpi::analysis::{self, gmm};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/analysis/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference.json")).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn analysis_gmm_matches_sklearn() {
    let r = reference();
    let cases = r["gmm"].as_object().unwrap();
    assert!(cases.len() >= 6);
    for (name, case) in cases {
        let x = f64s(&case["x"]);
        let got = gmm::select(&x);
        // `--gmm-floor absolute` is exactly this fit (the maps' scale
        // plays no part in it)
        assert_eq!(gmm::select_floor(&x, gmm::GmmFloor::Absolute, 123.0), got);
        eprintln!("{name}: bic {:?} sklearn {}", got.bic, case["bic"]);
        for k in 0..3 {
            match case["bic"][k].as_f64() {
                // k above the number of distinct values: sklearn not asked;
                // defined here as +inf
                None => assert_eq!(got.bic[k], f64::INFINITY, "{name} k={}", k + 1),
                Some(want) => {
                    let tol = 1e-3 * want.abs().max(1.0);
                    let range = f64s(&case["bic_single_init_range"][k]);
                    if range[1] - range[0] <= tol {
                        // one optimum: the BIC must match sklearn's
                        assert!(
                            (got.bic[k] - want).abs() <= tol,
                            "{name} k={}: bic {} vs sklearn {}",
                            k + 1,
                            got.bic[k],
                            want
                        );
                    } else {
                        // several local optima (e.g. 3 components on
                        // unimodal data): sklearn's own single starts reach
                        // BICs across `range`; ours must be one of them
                        assert!(
                            got.bic[k] >= range[0] - tol && got.bic[k] <= range[1] + tol,
                            "{name} k={}: bic {} outside sklearn's single-start range {:?}",
                            k + 1,
                            got.bic[k],
                            range
                        );
                    }
                }
            }
        }
        let want_k = case["components"].as_u64().unwrap() as usize;
        assert_eq!(got.components, want_k, "{name}: bic {:?}", got.bic);
        let want_na: Vec<bool> = case["nonadditive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64() == Some(1))
            .collect();
        assert_eq!(got.nonadditive(), want_na, "{name}");
    }
}

/// `--gmm-floor fiv` on whole classes (FIV matrix and scores → weights, IL,
/// mean φ², the fit on IL / mean φ² with reg_covar 2e-4) against
/// scikit-learn's fit of the same, BICs on the IL's own scale.
#[test]
fn analysis_fiv_floor_matches_sklearn() {
    let r = reference();
    let cases = r["gmm_fiv"].as_object().unwrap();
    assert!(cases.len() >= 4);
    let mut components = vec![];
    for (name, case) in cases {
        let t = case["t"].as_u64().unwrap() as usize;
        let k = case["k"].as_u64().unwrap() as usize;
        let fiv: Vec<f32> = f64s(&case["fiv"]).iter().map(|&v| v as f32).collect();
        let score: Vec<f32> = f64s(&case["score"]).iter().map(|&v| v as f32).collect();
        let got = analysis::analyze_class(&fiv, t, k, &score, gmm::GmmFloor::Fiv);
        eprintln!("{name}: bic {:?} sklearn {}", got.gmm_bic, case["bic"]);
        for j in 0..3 {
            let want = case["bic"][j].as_f64().unwrap();
            let tol = 1e-3 * want.abs().max(1.0);
            let range = f64s(&case["bic_single_init_range"][j]);
            assert!(
                got.gmm_bic[j] >= range[0].min(want) - tol
                    && got.gmm_bic[j] <= range[1].max(want) + tol,
                "{name} k={}: bic {} vs sklearn {want}, single starts {range:?}",
                j + 1,
                got.gmm_bic[j]
            );
        }
        let want_k = case["components"].as_u64().unwrap() as i32;
        assert_eq!(got.gmm_components, want_k, "{name}: bic {:?}", got.gmm_bic);
        let want_na: Vec<u8> = case["nonadditive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(got.nonadditive, want_na, "{name}");
        components.push(want_k);
    }
    // the cases cover one, two and three components
    for c in 1..=3 {
        assert!(components.contains(&c), "{components:?}");
    }
}

#[test]
fn analysis_similarity_and_linkage_match_numpy_and_scipy() {
    let r = reference();
    let cases = r["linkage"].as_object().unwrap();
    assert!(cases.len() >= 2);
    for (name, case) in cases {
        let c = case["c"].as_u64().unwrap() as usize;
        let k = case["k"].as_u64().unwrap() as usize;
        let ofiv: Vec<f32> = f64s(&case["ofiv"]).iter().map(|&v| v as f32).collect();
        let sim_ref: Vec<f32> = f64s(&case["similarity"])
            .iter()
            .map(|&v| v as f32)
            .collect();

        let sim = analysis::similarity(&ofiv, c, k);
        for (i, (g, w)) in sim.iter().zip(&sim_ref).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "{name}: A[{}, {}] {g} vs {w}",
                i / c,
                i % c
            );
        }

        // linkage from the reference's own float32 A (exactly SciPy's input)
        let (z, order) = analysis::linkage(&sim_ref, c);
        let z_ref = f64s(&case["linkage"]);
        assert_eq!(z.len(), z_ref.len(), "{name}");
        for row in 0..c - 1 {
            let (g, w) = (&z[row * 4..row * 4 + 4], &z_ref[row * 4..row * 4 + 4]);
            assert_eq!(
                (g[0], g[1], g[3]),
                (w[0], w[1], w[3]),
                "{name} row {row}: {g:?} vs {w:?}"
            );
            assert!(
                (g[2] - w[2]).abs() <= 1e-12,
                "{name} row {row}: {g:?} vs {w:?}"
            );
        }
        let leaves: Vec<i32> = case["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        assert_eq!(order, leaves, "{name}");
    }
}
