//! What the model tests against a framework's own numbers share: a network
//! cut at a named tensor, the scorer against reference scores and dS_c/dH,
//! and a short `run` rescored at its stored maps and compared across rank
//! counts.
use super::{run_bin, stderr_of, tmpdir};
use deepresolve_mpi::model::{load_model, ModelSpec};
use deepresolve_mpi::network::{layout, Network, Plan, Reduce, Scorer};
use std::path::Path;

/// The spec's tensor named `h` (panics naming the model when absent).
pub fn tensor(spec: &ModelSpec, model: &str, h: &str) -> usize {
    spec.tensor_names
        .iter()
        .find(|(n, _)| n == h)
        .map(|&(_, t)| t)
        .unwrap_or_else(|| panic!("{model}: no tensor {h}"))
}

/// The network of `model` and the plan for H at the tensor `h`.
pub fn network_at(model: &str, h: &str, reduce: Option<Reduce>) -> (Network, Plan) {
    let spec = load_model(Path::new(model), None).unwrap_or_else(|e| panic!("{model}: {e}"));
    let t = tensor(&spec, model, h);
    let net = Network::new(&spec).unwrap();
    let plan = Plan::at_tensor(&net, t, h, None, reduce).unwrap();
    (net, plan)
}

/// A framework's numbers at n maps: the maps (position-major, k × w each),
/// the scores (n × classes) and dS_c/dH (class-major, position-major).
pub struct Reference {
    pub n: usize,
    pub k: usize,
    pub w: usize,
    pub maps: Vec<f32>,
    pub scores: Vec<f32>,
    pub grads: Vec<f32>,
}

impl Reference {
    /// Datasets `maps`, `scores` and `grads` of `g`, the maps (N, C, W).
    pub fn read(g: &hdf5::Group, maps: &str, scores: &str, grads: &str) -> Reference {
        let d = g.dataset(maps).unwrap();
        let (n, k, w) = (d.shape()[0], d.shape()[1], d.shape()[2]);
        let maps = layout::to_position_major(&d.read_raw::<f32>().unwrap(), n, k, w);
        let scores: Vec<f32> = g.dataset(scores).unwrap().read_raw().unwrap();
        let classes = scores.len() / n;
        let grads: Vec<f32> = g.dataset(grads).unwrap().read_raw().unwrap();
        let grads = layout::to_position_major(&grads, n * classes, k, w);
        Reference {
            n,
            k,
            w,
            maps,
            scores,
            grads,
        }
    }

    pub fn classes(&self) -> usize {
        self.scores.len() / self.n
    }

    /// Worst relative errors of `sc`'s scores and dS_c/dH over every class
    /// (a gradient relative to the item's largest reference value).
    pub fn worst_errors(&self, sc: &mut Scorer, what: &str) -> (f32, f32) {
        let (n, m, classes) = (self.n, sc.map_len(), self.classes());
        assert_eq!(m, self.k * self.w, "{what}: H size");
        let (mut worst_s, mut worst_g) = (0f32, 0f32);
        for c in 0..classes {
            let (mut s, mut gr) = (vec![0.0; n], vec![0.0; n * m]);
            sc.score_grad(&self.maps, &vec![c; n], &mut s, &mut gr);
            for i in 0..n {
                let want = self.scores[i * classes + c];
                worst_s = worst_s.max((s[i] - want).abs() / want.abs().max(1e-2));
                let gw = &self.grads[(c * n + i) * m..(c * n + i + 1) * m];
                let gmax = gw.iter().fold(0f32, |a, v| a.max(v.abs()));
                assert!(gmax > 1e-6, "{what}: reference gradient is zero");
                for (a, b) in gr[i * m..(i + 1) * m].iter().zip(gw) {
                    worst_g = worst_g.max((a - b).abs() / gmax);
                }
            }
        }
        (worst_s, worst_g)
    }

    /// [`Reference::worst_errors`] within the bounds: scores 1e-4,
    /// gradients 1e-3.
    pub fn assert_matches(&self, sc: &mut Scorer, what: &str) -> (f32, f32) {
        let (ws, wg) = self.worst_errors(sc, what);
        eprintln!("{what}: worst score rel. err {ws:.2e}, gradient {wg:.2e}");
        assert!(ws < 1e-4, "{what}: score rel. err {ws}");
        assert!(wg < 1e-3, "{what}: gradient rel. err {wg}");
        (ws, wg)
    }
}

/// A short `run` (3 restarts, 20 steps, batch 2) under `mpirun -n ranks`
/// with H = `h`, and `extra` options: its /ascent/fim, /ascent/score and
/// the fim's shape.
pub fn short_run(
    model: &str,
    h: &str,
    extra: &[&str],
    ranks: usize,
) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let tag: String = Path::new(model)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let d = tmpdir(&format!("short-run-{tag}-n{ranks}"));
    let out = d.join("r.h5");
    let mut a = vec!["run", "--model", model, "--layer", h, "--out"];
    a.push(out.to_str().unwrap());
    a.extend([
        "--restarts",
        "3",
        "--max-steps",
        "20",
        "--batch",
        "2",
        "--quiet",
    ]);
    a.extend(extra);
    let o = run_bin(&a, Some(ranks), 180);
    assert!(o.status.success(), "{model}: {}", stderr_of(&o));
    let f = hdf5::File::open(&out).unwrap();
    let fim = f.dataset("ascent/fim").unwrap();
    let shape = fim.shape();
    let fim = fim.read_raw::<f32>().unwrap();
    let score = f
        .dataset("ascent/score")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    drop(f);
    std::fs::remove_dir_all(&d).ok();
    (fim, score, shape)
}

/// [`short_run`] on 2 ranks: each stored score is the scorer's at its stored
/// map (1e-4), and 1 and 3 ranks store the same bits. The fim's shape.
pub fn rescore_and_match_ranks(
    model: &str,
    h: &str,
    extra: &[&str],
    reduce: Option<Reduce>,
) -> Vec<usize> {
    let (fim, score, shape) = short_run(model, h, extra, 2);
    let (c_n, t_n, k, w) = (shape[0], shape[1], shape[2], shape[3]);
    let items = c_n * t_n;
    let (net, plan) = network_at(model, h, reduce);
    let mut sc = Scorer::with_plan(&net, plan, 1);
    let maps = layout::to_position_major(&fim, items, k, w);
    for i in 0..items {
        let (mut s, mut g) = (vec![0.0], vec![0.0; k * w]);
        sc.score_grad(
            &maps[i * k * w..(i + 1) * k * w],
            &[i / t_n],
            &mut s,
            &mut g,
        );
        assert!(
            (score[i] - s[0]).abs() <= 1e-4 * s[0].abs().max(1e-2),
            "{model} item {i}: stored {} vs scorer {}",
            score[i],
            s[0]
        );
    }
    for ranks in [1, 3] {
        let (f, s, _) = short_run(model, h, extra, ranks);
        assert!(
            f == fim && s == score,
            "{model}: {ranks} and 2 ranks differ"
        );
    }
    shape
}

/// `inspect MODEL`'s table, which must succeed.
pub struct Inspect {
    pub text: String,
}

impl Inspect {
    pub fn of(model: &str) -> Inspect {
        let o = run_bin(&["inspect", model], None, 60);
        assert!(o.status.success(), "{}", stderr_of(&o));
        Inspect {
            text: String::from_utf8_lossy(&o.stdout).to_string(),
        }
    }

    /// The first row that contains `needle` (panics showing the table).
    pub fn row(&self, needle: &str) -> String {
        self.text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle} in\n{}", self.text))
            .to_string()
    }
}

/// The network of `model` and the plan with H the input of the layer named
/// `layer` (Keras models, whose tensors are named by their layers).
pub fn network_at_layer(model: &str, layer: &str, reduce: Option<Reduce>) -> (Network, Plan) {
    let spec = load_model(Path::new(model), None).unwrap_or_else(|e| panic!("{model}: {e}"));
    let at = spec
        .find_layer(layer)
        .unwrap_or_else(|| panic!("{model}: no layer {layer}"));
    let net = Network::new(&spec).unwrap();
    let plan = Plan::new(&net, at, None, reduce).unwrap();
    (net, plan)
}

/// `model` against the group `group` of `reference` (datasets maps, scores,
/// grads; string attributes `layer`, H's layer, and `reduce`, "sum" for a
/// track head summed over its positions or "none").
pub fn compare_with_reference(model: &str, reference: &str, group: &str) {
    let f = hdf5::File::open(reference).unwrap();
    let g = f.group(group).unwrap();
    let r = Reference::read(&g, "maps", "scores", "grads");
    let attr = |name: &str| -> String {
        g.attr(name)
            .unwrap()
            .read_scalar::<hdf5::types::VarLenUnicode>()
            .unwrap()
            .to_string()
    };
    let reduce = (attr("reduce") == "sum").then_some(Reduce::Sum);
    let (net, plan) = network_at_layer(model, &attr("layer"), reduce);
    r.assert_matches(&mut Scorer::with_plan(&net, plan, r.n), model);
}
