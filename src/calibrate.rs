//! `calibrate`: the paper's λ heuristic (Liu, Zeng & Gifford 2019: "select a
//! λ such that the resulting feature importance map has a norm that is
//! comparable to the norm of mean feature map activation … from a small set
//! of realistic input sequences").
//!
//! 1. The real feature maps: the sampled sequences run from the model input
//!    to H; their mean L2 norm ‖H‖₂ (over all K × W values of a map) is the
//!    target. (The norm of the mean map is printed too.)
//! 2. For every λ of the grid, a short ascent (the lane runner of `run`, with
//!    `--max-steps` 200 by default) for each (class, restart) of a few
//!    classes; the FIM norm of λ is the mean of ‖FIM‖₂ over them.
//! 3. The suggested λ is the grid value whose FIM norm is closest to the
//!    target on a log scale (the smallest |ln(FIM norm / target)|), leaving
//!    out any λ with 2λ·lr ≥ 1 (the step overshoots; marked unstable) or a
//!    non-finite FIM norm. The stable range is printed, and the spread: each
//!    class's own closest λ (min, median, max), since one λ serves all.
//!
//! Without `--classes`, up to 8 classes spread evenly over all outputs
//! (class i·n/8 for i < 8), not the first few, which may all be alike.
//!
//! Work items are (λ, class, restart); each λ's items are cut into lanes
//! that are dealt over MPI ranks, so the table is the same for any rank count.
use crate::ascent::{items, lane_ranges, run_lane, AscentParams, Item, ItemResult};
use crate::distributed::engine::{self, Dealer};
use crate::distributed::{bytes, World};
use crate::job::{prepare, Job, RunConfig};
use crate::model::Keras1Backend;
use crate::network::{Network, Reduce, Scorer};
use crate::progress::Progress;
use crate::sequences::{load_encoded, Alphabet, Fit};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

/// The options of `calibrate`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrateOptions {
    pub model: PathBuf,
    pub layer: String,
    pub output: Option<String>,
    pub reduce: Option<Reduce>,
    pub fasta: PathBuf,
    pub alphabet: String,
    pub fit: Fit,
    /// Sequences used for the real feature maps (all when there are fewer).
    pub sample: usize,
    /// `None`: up to 8 classes spread evenly over the outputs.
    pub classes: Option<String>,
    pub lambdas: Vec<f32>,
    pub restarts: usize,
    /// Every ascent option but λ (which the grid sets).
    pub params: AscentParams,
    pub batch: usize,
    pub lane: Option<usize>,
    pub keras1_backend: Option<Keras1Backend>,
    pub quiet: bool,
    /// Seconds between progress lines when the log is not a terminal.
    pub progress_every: f64,
    /// The input length of a model saved without one.
    pub input_length: Option<usize>,
}

impl CalibrateOptions {
    pub const DEFAULT_LAMBDAS: &'static str = "0.1,0.3,0.5,0.75,1,1.25,1.5,1.75,2,2.25,2.5,2.8,4";
    pub const DEFAULT_SAMPLE: usize = 200;
    pub const DEFAULT_RESTARTS: usize = 3;
    pub const DEFAULT_MAX_STEPS: usize = 200;
    pub const DEFAULT_BATCH: usize = 16;
    /// Classes ascended when `--classes` is not given.
    pub const DEFAULT_CLASS_COUNT: usize = 8;

    pub fn new(
        model: impl Into<PathBuf>,
        layer: impl Into<String>,
        fasta: impl Into<PathBuf>,
    ) -> Self {
        CalibrateOptions {
            model: model.into(),
            layer: layer.into(),
            output: None,
            reduce: None,
            fasta: fasta.into(),
            alphabet: Alphabet::DEFAULT.into(),
            fit: Fit::Exact,
            sample: Self::DEFAULT_SAMPLE,
            classes: None,
            lambdas: parse_lambdas(Self::DEFAULT_LAMBDAS).expect("default grid"),
            restarts: Self::DEFAULT_RESTARTS,
            params: AscentParams::new().max_steps(Self::DEFAULT_MAX_STEPS),
            batch: Self::DEFAULT_BATCH,
            lane: None,
            keras1_backend: None,
            quiet: false,
            progress_every: RunConfig::DEFAULT_PROGRESS_EVERY,
            input_length: None,
        }
    }
}

/// `--lambdas 0.1,0.3,…`: finite, non-negative, distinct, in any order (the
/// table is sorted by λ).
pub fn parse_lambdas(s: &str) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v: f32 = part
            .parse()
            .map_err(|_| Error::Input(format!("--lambdas {s:?}: {part:?} is not a number")))?;
        if !v.is_finite() || v < 0.0 {
            return Err(Error::Input(format!(
                "--lambdas {s:?}: {part} must be a finite non-negative number"
            )));
        }
        if out.contains(&v) {
            return Err(Error::Input(format!("--lambdas {s:?} repeats {part}")));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(Error::Input("--lambdas gives no value".into()));
    }
    out.sort_by(|a, b| a.total_cmp(b));
    Ok(out)
}

/// The table `calibrate` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub layer: String,
    pub k: usize,
    pub w: usize,
    pub n_sequences: usize,
    /// Mean over the sampled sequences of ‖H‖₂: the target.
    pub real_norm: f64,
    /// ‖mean over the sampled sequences of H‖₂.
    pub real_mean_map_norm: f64,
    pub classes: Vec<usize>,
    pub restarts: usize,
    pub lambdas: Vec<f32>,
    /// Per λ: mean and standard deviation of ‖FIM‖₂ over (class, restart).
    pub fim_norm: Vec<f64>,
    pub fim_norm_sd: Vec<f64>,
    /// Per λ: mean S_c at the FIMs, and mean steps taken.
    pub score: Vec<f64>,
    pub steps: Vec<f64>,
    /// Per λ: 2λ·lr ≥ 1, so each step's L2 term overshoots zero (H flips
    /// sign every step, or diverges) and the short ascent does not settle;
    /// such a λ is never suggested.
    pub unstable: Vec<bool>,
    /// Index into `lambdas` of the suggestion.
    pub suggested: usize,
    /// Per class (in `classes` order): the grid λ closest for that class alone.
    pub class_suggested: Vec<f32>,
    /// lr, for the stable range 2λ·lr < 1.
    pub lr: f64,
}

impl Calibration {
    /// The table as printed: a header, one line per λ, the suggestion.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# real feature maps at H = input of {} ({} channels × {} positions), {} sequences: mean L2 norm {:.6} (norm of the mean map {:.6})",
            self.layer, self.k, self.w, self.n_sequences, self.real_norm, self.real_mean_map_norm
        );
        let _ = writeln!(
            s,
            "# FIMs: classes {:?} × {} restarts per lambda",
            self.classes, self.restarts
        );
        let _ = writeln!(s, "lambda\tfim_norm\tfim_norm_sd\tratio\tscore\tsteps");
        for (i, l) in self.lambdas.iter().enumerate() {
            let _ = writeln!(
                s,
                "{l}\t{:.6}\t{:.6}\t{:.4}\t{:.6}\t{:.1}{}",
                self.fim_norm[i],
                self.fim_norm_sd[i],
                self.fim_norm[i] / self.real_norm,
                self.score[i],
                self.steps[i],
                if i == self.suggested {
                    "\t<- closest"
                } else if self.unstable[i] {
                    "\t(unstable: 2 * lambda * lr >= 1, lower --lr)"
                } else {
                    ""
                }
            );
        }
        let stable: Vec<f32> = (0..self.lambdas.len())
            .filter(|&i| !self.unstable[i])
            .map(|i| self.lambdas[i])
            .collect();
        let _ = writeln!(
            s,
            "# stable lambdas (2 * lambda * lr < 1 at lr {}, i.e. lambda < {}): {}",
            self.lr,
            0.5 / self.lr,
            match (stable.first(), stable.last()) {
                (Some(a), Some(b)) => format!("{a} to {b} ({} of the grid)", stable.len()),
                _ => "none: lower --lr".into(),
            }
        );
        let mut per = self.class_suggested.clone();
        per.sort_by(|a, b| a.total_cmp(b));
        if let (Some(lo), Some(hi)) = (per.first(), per.last()) {
            let _ = writeln!(
                s,
                "# spread: each class's own closest lambda: min {lo}, median {}, max {hi} over {} classes",
                per[per.len() / 2],
                per.len()
            );
        }
        let _ = writeln!(
            s,
            "suggested_lambda={} (FIM norm {:.6} vs real feature-map norm {:.6})",
            self.lambdas[self.suggested], self.fim_norm[self.suggested], self.real_norm
        );
        s
    }
}

/// The index of the value closest to `target` on a log scale (first of
/// ties), skipping those marked `skip` (unless all are).
pub fn closest_log(values: &[f64], skip: &[bool], target: f64) -> usize {
    let all = skip.iter().all(|&s| s);
    let d = |i: usize| {
        let v = values[i];
        if skip[i] && !all {
            f64::INFINITY
        } else if v > 0.0 && target > 0.0 {
            (v / target).ln().abs()
        } else {
            f64::INFINITY
        }
    };
    let mut best = 0;
    for i in 0..values.len() {
        if d(i) < d(best) {
            best = i;
        }
    }
    best
}

/// The job as every rank sees it: the model at H and the units.
struct Setup {
    job: Job,
    /// Spec tensor of H.
    h_tensor: usize,
    classes: Vec<usize>,
    /// Units: (λ index, items of that λ).
    units: Vec<(usize, std::ops::Range<usize>)>,
    items: Vec<Item>,
}

fn setup(o: &CalibrateOptions) -> Result<Setup> {
    crate::limits::count("restarts", o.restarts, crate::limits::MAX_RESTARTS)?;
    crate::limits::count("batch", o.batch, crate::limits::MAX_BATCH)?;
    crate::limits::count("sample", o.sample, usize::MAX)?;
    crate::limits::progress_every(o.progress_every)?;
    let mut rc = RunConfig::new(&o.model, &o.layer, "");
    rc.output = o.output.clone();
    rc.reduce = o.reduce;
    rc.params = o.params;
    rc.restarts = o.restarts;
    rc.batch = o.batch;
    rc.lane = o.lane;
    rc.keras1_backend = o.keras1_backend;
    rc.input_length = o.input_length;
    rc.quiet = o.quiet;
    // Without --classes: the first few classes of the output.
    rc.classes = o.classes.clone().unwrap_or_else(|| "all".into());
    let job = prepare(&rc)?;
    let classes: Vec<usize> = match &o.classes {
        Some(_) => job.meta.classes.clone(),
        None => spread_classes(job.plan.n_classes, CalibrateOptions::DEFAULT_CLASS_COUNT),
    };
    let h_tensor = spec_tensor_of(&job.net, job.plan.h);
    let its = items(&classes, o.restarts);
    let lane = job.meta.lane;
    let mut units = Vec::new();
    let mut all = Vec::new();
    for l in 0..o.lambdas.len() {
        for r in lane_ranges(its.len(), lane) {
            units.push((l, all.len() + r.start..all.len() + r.end));
        }
        all.extend_from_slice(&its);
    }
    Ok(Setup {
        job,
        h_tensor,
        classes,
        units,
        items: all,
    })
}

/// The spec tensor (0 = model input) that engine tensor `e` is.
pub(crate) fn spec_tensor_of(net: &Network, e: usize) -> usize {
    (0..=net.len())
        .find(|&t| net.engine_tensor(t) == e)
        .expect("H is a spec tensor")
}

/// Run one unit: its items' ascents at its λ, as bytes (per item: its index
/// in the run, ‖FIM‖₂, score, steps).
fn run_unit(
    s: &Setup,
    o: &CalibrateOptions,
    scorer: &mut Scorer,
    u: usize,
    on_step: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Vec<u8>> {
    let (l, range) = s.units[u].clone();
    let p = o.params.lambda(o.lambdas[l]).check()?;
    let res: Vec<ItemResult> = run_lane(
        scorer,
        &s.items[range.clone()],
        &p,
        (s.job.meta.k, s.job.meta.w),
        on_step,
    )?;
    let mut b = Vec::new();
    for r in &res {
        let at = range.start
            + s.items[range.clone()]
                .iter()
                .position(|it| *it == r.item)
                .expect("an item of the unit");
        let norm: f64 = r
            .fim
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
            .sqrt();
        bytes::put_u32(&mut b, at as u32);
        bytes::put_f64(&mut b, norm);
        bytes::put_f32(&mut b, r.score);
        bytes::put_u32(&mut b, r.steps);
    }
    Ok(b)
}

/// Per item of the run: (‖FIM‖₂, score, steps).
type Store = Vec<Option<(f64, f32, u32)>>;

fn store_unit(store: &mut Store, progress: &mut Progress, data: &[u8]) -> Result<()> {
    let mut r = bytes::Reader::new(data);
    let (mut new, mut steps) = (0, 0);
    while !r.done() {
        let at = r.u32()? as usize;
        let v = (r.f64()?, r.f32()?, r.u32()?);
        let slot = store
            .get_mut(at)
            .ok_or_else(|| Error::Message(format!("item {at} is not an item of the run")))?;
        new += slot.is_none() as usize;
        steps += v.2 as u64 + 1;
        *slot = Some(v);
    }
    progress.add(new, steps);
    Ok(())
}

/// `calibrate` on every rank; rank 0 prints the table and returns it. A
/// stop signal ends every rank before anything is printed.
pub fn calibrate(world: &World, o: &CalibrateOptions) -> Result<Option<Calibration>> {
    let res = calibrate_on_ranks(world, o);
    engine::end_if_interrupted(world, res, || {
        "calibrate keeps nothing of a stopped job (no table was printed); run the same command again, with fewer --lambdas or --restarts, or a smaller --max-steps, to finish sooner".into()
    })
}

fn calibrate_on_ranks(world: &World, o: &CalibrateOptions) -> Result<Option<Calibration>> {
    let (rank, size) = engine::rank_and_size(world);
    let prepared = engine::agree(world, || {
        let s = setup(o)?;
        let (c, w) = s.job.net.tensor_shape(0);
        let alphabet = Alphabet::new(&o.alphabet)?;
        let (_, enc) = load_encoded(&o.fasta, &alphabet, c, w, o.fit)?;
        Ok((s, enc))
    });
    let Some((s, encoded)) = prepared else {
        let s = setup(o)?;
        let mut scorer = Scorer::with_plan(&s.job.net, s.job.plan.clone(), o.batch);
        engine::work(world, s.units.len(), &mut |u, on_step| {
            run_unit(&s, o, &mut scorer, u, &mut |_| on_step())
        })?;
        return Ok(None);
    };
    debug_assert_eq!(rank, 0);
    let (k, w) = (s.job.meta.k, s.job.meta.w);
    if !o.quiet {
        eprintln!(
            "deepresolve-mpi: calibrate: {} lambdas × {} classes × {} restarts (max {} steps) on the input of {} ({k} × {w}); {} units on {} rank{}",
            o.lambdas.len(),
            s.classes.len(),
            o.restarts,
            s.job.meta.params.max_steps(),
            s.job.meta.layer,
            s.units.len(),
            size,
            if size == 1 { "" } else { "s" }
        );
    }
    let mut store: Store = vec![None; s.items.len()];
    let mut progress = Progress::new(s.items.len(), 0, o.quiet, o.progress_every);
    let mut sink = |_: usize, d: &[u8]| store_unit(&mut store, &mut progress, d);
    let mut dealer = Dealer::new(world, (0..s.units.len()).collect(), s.units.len());
    // The real feature maps, between answers to the other ranks.
    let sample = sample_indices(encoded.len(), o.sample, o.params.check()?.seed());
    let (c_in, w_in) = s.job.net.tensor_shape(0);
    let mut norm_sum = 0f64;
    let mut mean_map = vec![0f64; k * w];
    for chunk in sample.chunks(32) {
        dealer.serve(&mut sink)?;
        let mut input = Vec::with_capacity(chunk.len() * c_in * w_in);
        for &i in chunk {
            input.extend_from_slice(&encoded[i].values);
        }
        let h = s
            .job
            .net
            .forward_range(&input, chunk.len(), 0, s.h_tensor)?;
        for m in h.chunks(k * w) {
            norm_sum += m
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>()
                .sqrt();
            mean_map
                .iter_mut()
                .zip(m)
                .for_each(|(a, &v)| *a += v as f64);
        }
    }
    let n = sample.len() as f64;
    let real_norm = norm_sum / n;
    let real_mean_map_norm = mean_map
        .iter()
        .map(|v| (v / n) * (v / n))
        .sum::<f64>()
        .sqrt();
    let mut scorer = Scorer::with_plan(&s.job.net, s.job.plan.clone(), o.batch);
    dealer.run_all(
        &mut |u, on_step| run_unit(&s, o, &mut scorer, u, &mut |_| on_step()),
        &mut sink,
    )?;
    let summary = progress.finish(None);
    if !o.quiet {
        eprintln!("{summary}");
    }
    let per = s.items.len() / o.lambdas.len();
    let mut fim_norm = Vec::new();
    let mut fim_norm_sd = Vec::new();
    let mut score = Vec::new();
    let mut steps = Vec::new();
    for l in 0..o.lambdas.len() {
        let vals: Vec<(f64, f32, u32)> = store[l * per..(l + 1) * per]
            .iter()
            .map(|v| v.ok_or_else(|| Error::Message("an item was never returned".into())))
            .collect::<Result<_>>()?;
        let m = vals.len() as f64;
        let mean = vals.iter().map(|v| v.0).sum::<f64>() / m;
        let var = vals.iter().map(|v| (v.0 - mean).powi(2)).sum::<f64>() / m;
        fim_norm.push(mean);
        fim_norm_sd.push(var.sqrt());
        score.push(vals.iter().map(|v| v.1 as f64).sum::<f64>() / m);
        steps.push(vals.iter().map(|v| v.2 as f64).sum::<f64>() / m);
    }
    // as typed (0.1, not 0.10000000149): it is printed
    let lr = crate::results::layout::typed_decimal(o.params.check()?.lr());
    let unstable: Vec<bool> = o
        .lambdas
        .iter()
        .zip(&fim_norm)
        .map(|(&l, n)| 2.0 * l as f64 * lr >= 1.0 || !n.is_finite())
        .collect();
    let suggested = closest_log(&fim_norm, &unstable, real_norm);
    // each class alone: its mean FIM norm per λ, and the λ closest for it
    let r = o.restarts;
    let class_suggested: Vec<f32> = (0..s.classes.len())
        .map(|cp| {
            let norms: Vec<f64> = (0..o.lambdas.len())
                .map(|l| {
                    let at = l * per + cp * r;
                    store[at..at + r]
                        .iter()
                        .map(|v| v.map_or(f64::NAN, |v| v.0))
                        .sum::<f64>()
                        / r as f64
                })
                .collect();
            o.lambdas[closest_log(&norms, &unstable, real_norm)]
        })
        .collect();
    let table = Calibration {
        layer: s.job.meta.layer.clone(),
        k,
        w,
        n_sequences: sample.len(),
        real_norm,
        real_mean_map_norm,
        classes: s.classes.clone(),
        restarts: o.restarts,
        lambdas: o.lambdas.clone(),
        fim_norm,
        fim_norm_sd,
        score,
        steps,
        unstable,
        suggested,
        class_suggested,
        lr,
    };
    print!("{}", table.render());
    // At the grid's top end, extending helps only while 2λ·lr stays below 1.
    let top_is_stable_edge =
        suggested + 1 == o.lambdas.len() && 2.0 * (o.lambdas[suggested] as f64 * 1.25) * lr < 1.0;
    if !o.quiet && o.lambdas.len() > 1 && (suggested == 0 || top_is_stable_edge) {
        eprintln!(
            "deepresolve-mpi: note: the suggested lambda is at the edge of the grid; extend --lambdas past {}{}",
            o.lambdas[suggested],
            if suggested == 0 {
                String::new()
            } else {
                format!(" (stable only below {} at lr {lr})", 0.5 / lr)
            }
        );
    }
    Ok(Some(table))
}

/// `want` classes of `n` spread evenly over all of them (i·n/want), all when n ≤ want.
pub fn spread_classes(n: usize, want: usize) -> Vec<usize> {
    if n <= want {
        return (0..n).collect();
    }
    (0..want).map(|i| i * n / want).collect()
}

/// `want` of `n` indices (all when n ≤ want), chosen by a seeded shuffle and
/// returned in file order.
pub fn sample_indices(n: usize, want: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if want >= n {
        return idx;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..want {
        let j = rng.random_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(want);
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn default_classes_spread_over_all_outputs() {
        assert_eq!(spread_classes(3, 8), [0, 1, 2]);
        assert_eq!(
            spread_classes(919, 8),
            [0, 114, 229, 344, 459, 574, 689, 804]
        );
        assert_eq!(spread_classes(16, 8), [0, 2, 4, 6, 8, 10, 12, 14]);
    }
    #[test]
    fn lambda_grids_parse_sorted_and_bad_values_are_named() {
        assert_eq!(parse_lambdas("1, 0.3,4").unwrap(), [0.3, 1.0, 4.0]);
        assert_eq!(
            parse_lambdas(CalibrateOptions::DEFAULT_LAMBDAS)
                .unwrap()
                .len(),
            13
        );
        for bad in ["", "x", "-1", "1,1", "inf"] {
            assert!(
                parse_lambdas(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("--lambdas"),
                "{bad}"
            );
        }
    }
    #[test]
    fn closest_is_on_a_log_scale_and_samples_are_stable() {
        let no = [false; 4];
        assert_eq!(closest_log(&[40.0, 20.0, 10.0, 5.0], &no, 7.5), 2);
        assert_eq!(
            closest_log(&[40.0, 20.0, 10.0, 5.0], &[false, false, true, false], 7.5),
            3
        );
        assert_eq!(closest_log(&[0.0, 2.0], &no[..2], 1.0), 1);
        let a = sample_indices(100, 10, 3);
        assert_eq!(a, sample_indices(100, 10, 3));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_indices(5, 10, 0), [0, 1, 2, 3, 4]);
    }
}
