//! `channels --model M --layer L --fasta seqs.fa --out channels.h5`: the
//! paper's Fig. 6. For every channel k of H (the input of `--layer`, as in
//! `run`), L2-regularised gradient ascent on the one-hot input window that is
//! the receptive field of one position of H ([`receptive`]), maximising that
//! channel's activation there ([`ascent`]); initialised from the `--inits`
//! windows of the given sequences where the channel is highest (each record
//! gives at most one: its best position; ties go to the earlier record and
//! position); each optimised window becomes a PWM ([`pwm`]). Work items
//! (channel, init) are cut into lanes dealt over MPI ranks, so the results
//! are the same for any rank count; the results file ([`file`]) is written
//! lane by lane, for `--resume`.
pub mod ascent;
pub mod file;
pub mod notes;
pub mod pwm;
pub mod receptive;

use crate::ascent::{AscentParams, ValidAscentParams};
use crate::distributed::engine::{self, Dealer};
use crate::distributed::{bytes, World};
use crate::model::{load_model_sized, Keras1Backend, ModelSpec};
use crate::network::{Network, Plan, Scorer};
use crate::progress::Progress;
use crate::sequences::{load_encoded, Alphabet, Encoded, Fit, Record};
use crate::{Error, Result};
use ascent::{run_windows, WindowItem, WindowResult};
use file::{Attr, ChannelsFile, InitWindow, Shape, Stored, Value};
use receptive::{cut_at, Cut};
use std::path::{Path, PathBuf};

/// The options of `channels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelsOptions {
    pub model: PathBuf,
    pub layer: String,
    pub fasta: PathBuf,
    pub out: PathBuf,
    pub alphabet: String,
    pub fit: Fit,
    /// Initial windows per channel.
    pub inits: usize,
    /// λ, lr, schedule, patience, max steps (the seed is unused: starts are windows).
    pub params: AscentParams,
    /// τ of the PWM thresholding.
    pub threshold: f32,
    /// Also write the motifs (MEME minimal format).
    pub meme: Option<PathBuf>,
    /// A MEME database: print each channel's best known motif (built-in TOMTOM, Pearson).
    pub match_db: Option<PathBuf>,
    /// In the MEME file, every init (`ch<k>_init<i>`), not only each channel's best (`ch<k>`).
    pub all_inits: bool,
    pub batch: usize,
    pub lane: Option<usize>,
    pub resume: bool,
    pub overwrite: bool,
    pub keras1_backend: Option<Keras1Backend>,
    pub quiet: bool,
    pub progress_every: f64,
    /// The input length of a model saved without one.
    pub input_length: Option<usize>,
}

impl ChannelsOptions {
    pub const DEFAULT_INITS: usize = 10;
    pub const DEFAULT_LAMBDA: f32 = 0.1;
    pub const DEFAULT_MAX_STEPS: usize = 1000;
    pub const DEFAULT_THRESHOLD: f32 = 0.3;
    pub const DEFAULT_BATCH: usize = 16;

    pub fn new(
        model: impl Into<PathBuf>,
        layer: impl Into<String>,
        fasta: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        ChannelsOptions {
            model: model.into(),
            layer: layer.into(),
            fasta: fasta.into(),
            out: out.into(),
            alphabet: Alphabet::DEFAULT.into(),
            fit: Fit::Exact,
            inits: Self::DEFAULT_INITS,
            params: AscentParams::new()
                .lambda(Self::DEFAULT_LAMBDA)
                .max_steps(Self::DEFAULT_MAX_STEPS),
            threshold: Self::DEFAULT_THRESHOLD,
            meme: None,
            match_db: None,
            all_inits: false,
            batch: Self::DEFAULT_BATCH,
            lane: None,
            resume: false,
            overwrite: false,
            keras1_backend: None,
            quiet: false,
            progress_every: 30.0,
            input_length: None,
        }
    }
}

/// What every rank holds: the cut model, its scoring plan, the sequences.
struct Setup {
    cut: Cut,
    net: Network,
    plan: Plan,
    params: ValidAscentParams,
    /// Letters, window positions, inits, lane length.
    a: usize,
    r: usize,
    inits: usize,
    lane: usize,
    records: Vec<Record>,
    encoded: Vec<Encoded>,
    /// The model input's width.
    l: usize,
    layer_name: String,
    layer_index: usize,
    h_tensor: usize,
}

/// `--layer` as a layer (H = its input) or a tensor name (H = that tensor).
fn find_h(spec: &ModelSpec, key: &str, o: &ChannelsOptions) -> Result<(usize, usize, String)> {
    if let Some(i) = spec.find_layer(key) {
        let ins = &spec.layers[i].inputs;
        if ins.len() != 1 {
            return Err(Error::Input(format!(
                "--layer {key}: layer {} merges {} tensors, so it has no single input to take as H; choose the layer that makes one of them",
                spec.layers[i].name,
                ins.len()
            )));
        }
        return Ok((ins[0], i, spec.layers[i].name.clone()));
    }
    if let Some(&(_, t)) = spec.tensor_names.iter().find(|(n, _)| n == key) {
        let reader = spec
            .layers
            .iter()
            .position(|l| l.inputs.contains(&t))
            .unwrap_or(spec.layers.len());
        return Ok((t, reader, key.to_string()));
    }
    Err(Error::Input(format!(
        "--layer {key:?} is neither a layer name nor an index of {} (see `inspect`)",
        o.model.display()
    )))
}

/// Before the ascent: the outputs are regular files (or new) and none of
/// them is an input; the --match database can be read.
fn check_paths(o: &ChannelsOptions) -> Result<()> {
    let mut inputs: Vec<(&str, &Path)> = vec![("--model", &o.model), ("--fasta", &o.fasta)];
    if let Some(db) = &o.match_db {
        std::fs::File::open(db)
            .map_err(|e| Error::Input(format!("--match {}: {e}", db.display())))?;
        inputs.push(("--match", db));
    }
    crate::results::out_guard::check_output("--out", &o.out, &inputs)?;
    if let Some(m) = &o.meme {
        inputs.push(("--out", &o.out));
        crate::results::out_guard::check_output("--meme", m, &inputs)?;
        let dir = match m.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::Input(format!(
                "--meme {}: the directory {} does not exist",
                m.display(),
                dir.display()
            )));
        }
        if m == &o.out {
            return Err(Error::Input(format!(
                "--meme {} is the same path as --out",
                m.display()
            )));
        }
    }
    Ok(())
}

fn setup(o: &ChannelsOptions) -> Result<(Setup, ModelSpec)> {
    crate::limits::count("inits", o.inits, crate::limits::MAX_RESTARTS)?;
    crate::limits::count("batch", o.batch, crate::limits::MAX_BATCH)?;
    let lane = crate::limits::lane(o.lane, o.batch)?;
    crate::limits::progress_every(o.progress_every)?;
    if !(o.threshold.is_finite() && (0.0..=1.0).contains(&o.threshold)) {
        return Err(Error::Input(format!(
            "--threshold {} must lie in 0..1",
            o.threshold
        )));
    }
    let params = o.params.check()?;
    check_paths(o)?;
    let alphabet = Alphabet::new(&o.alphabet)?;
    let spec = load_model_sized(&o.model, None, o.keras1_backend, o.input_length)?;
    let (h_tensor, layer_index, layer_name) = find_h(&spec, &o.layer, o)?;
    if h_tensor == 0 {
        return Err(Error::Input(format!(
            "--layer {}: H is the model input; its channels are the letters, which have no motif to find",
            o.layer
        )));
    }
    let cut = cut_at(&spec, h_tensor)
        .map_err(|why| Error::Input(format!("--layer {}: {why}", o.layer)))?;
    let net = Network::new(&cut.spec)?;
    let plan = Plan::at_tensor(&net, 0, "the model input", Some(0), None)?;
    let (c, l) = (spec.input_channels, spec.input_width);
    let (records, encoded) = load_encoded(&o.fasta, &alphabet, c, l, o.fit)?;
    let r = cut.rf.size as usize;
    if r > l {
        return Err(Error::Input(format!(
            "--layer {}: the receptive field ({r} positions) is wider than the model input ({l})",
            o.layer
        )));
    }
    Ok((
        Setup {
            net,
            plan,
            params,
            a: c,
            r,
            inits: o.inits,
            lane,
            records,
            encoded,
            l,
            layer_name,
            layer_index,
            h_tensor,
            cut,
        },
        spec,
    ))
}

impl Setup {
    fn k(&self) -> usize {
        self.cut.k
    }
    fn n_items(&self) -> usize {
        self.k() * self.inits
    }
    fn lanes(&self) -> Vec<std::ops::Range<usize>> {
        crate::ascent::lane_ranges(self.n_items(), self.lane)
    }
    /// The cut model's input for item `index` starting from `init`.
    fn item(&self, index: usize, init: (usize, usize)) -> WindowItem {
        let (record, position) = init;
        let w = self.cut.width;
        let from = self.cut.rf.start(position) as usize;
        let seq = &self.encoded[record].values;
        let mut start = vec![0f32; self.a * w];
        for c in 0..self.a {
            for p in 0..self.r {
                start[c * w + self.cut.start + p] = seq[c * self.l + from + p];
            }
        }
        WindowItem {
            index,
            channel: index / self.inits,
            start,
        }
    }
    fn stored(&self, res: &WindowResult, tau: f32) -> Stored {
        let w = self.cut.width;
        let mut window = vec![0f32; self.a * self.r];
        for c in 0..self.a {
            window[c * self.r..(c + 1) * self.r]
                .copy_from_slice(&res.x[c * w + self.cut.start..c * w + self.cut.start + self.r]);
        }
        let pwm = pwm::window_pwm(&window, self.a, self.r, tau).concat();
        Stored {
            index: res.index,
            window,
            pwm,
            activation: res.activation,
            steps: res.steps,
            converged: res.converged,
        }
    }
    fn attrs(&self, o: &ChannelsOptions) -> Vec<Attr> {
        let p = &self.params;
        let s = |name, v: String| Attr {
            name,
            value: Value::Str(v),
            identity: true,
        };
        let i = |name, v: i64| Attr {
            name,
            value: Value::Int(v),
            identity: true,
        };
        let x = |name, v: f32| Attr {
            name,
            value: Value::Real(v as f64),
            identity: true,
        };
        vec![
            s("model", o.model.display().to_string()),
            s("layer", self.layer_name.clone()),
            i("layer_index", self.layer_index as i64),
            s("fasta", o.fasta.display().to_string()),
            i("n_records", self.records.len() as i64),
            s("alphabet", o.alphabet.to_ascii_uppercase()),
            s("fit", o.fit.name().into()),
            i("inits", self.inits as i64),
            x("lambda", p.lambda()),
            x("lr", p.lr()),
            i("decay_start", p.decay_start() as i64),
            x("decay_alpha", p.decay_alpha()),
            x("min_lr", p.min_lr()),
            i("patience", p.patience() as i64),
            i("max_steps", p.max_steps() as i64),
            x("threshold", o.threshold),
            i("batch", o.batch as i64),
            i("lane", self.lane as i64),
            i("channels", self.k() as i64),
            i("rf_size", self.cut.rf.size),
            i("rf_stride", self.cut.rf.stride),
            i("rf_offset", self.cut.rf.offset),
        ]
    }
}

/// A channel whose activation spans no more than this (relative to its
/// largest value, at least 1) over every window of the sequences is dead: a
/// ReLU that never fires, or a constant. Its "motif" would be its first init
/// window, the first record's, with nothing learned.
const DEAD_SPAN: f32 = 1e-6;

/// Each channel's activation over every window of the sequences: its largest
/// value and whether it is constant (dead, see [`DEAD_SPAN`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub max: Vec<f32>,
    pub dead: Vec<bool>,
}

/// The `inits` windows per channel where it is highest (one per record: its
/// best position whose window lies inside the input), from the full model,
/// and each channel's [`Activity`] over every such window.
fn find_inits(s: &Setup, full: &Network) -> Result<(Vec<InitWindow>, Activity)> {
    let (k, n) = (s.k(), s.records.len());
    if n < s.inits {
        return Err(Error::Input(format!(
            "--inits {} needs at least that many FASTA records (one window per record); the file has {n}",
            s.inits
        )));
    }
    let (_, wh) = full.tensor_shape(s.h_tensor);
    let rf = s.cut.rf;
    let valid: Vec<usize> = (0..wh)
        .filter(|&p| rf.start(p) >= 0 && rf.start(p) + rf.size <= s.l as i64)
        .collect();
    if valid.is_empty() {
        return Err(Error::Input(format!(
            "no position of H has its receptive field ({} positions) inside the model input",
            rf.size
        )));
    }
    // best[k][record] = (activation, position)
    let mut best = vec![vec![(f32::NEG_INFINITY, 0usize); n]; k];
    let mut lo = vec![f32::INFINITY; k];
    let per = s.a * s.l;
    for c0 in (0..n).step_by(32) {
        let c1 = (c0 + 32).min(n);
        let mut input = Vec::with_capacity((c1 - c0) * per);
        for e in &s.encoded[c0..c1] {
            input.extend_from_slice(&e.values);
        }
        let h = full.forward_range(&input, c1 - c0, 0, s.h_tensor)?;
        for (b, m) in h.chunks(k * wh).enumerate() {
            for (ch, row) in best.iter_mut().enumerate() {
                let cell = &mut row[c0 + b];
                for &p in &valid {
                    let v = m[ch * wh + p];
                    lo[ch] = lo[ch].min(v);
                    if v > cell.0 {
                        *cell = (v, p);
                    }
                }
            }
        }
    }
    let max: Vec<f32> = best
        .iter()
        .map(|row| row.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.0)))
        .collect();
    let dead = max
        .iter()
        .zip(&lo)
        .map(|(&hi, &lo)| {
            let span = hi - lo;
            span.is_nan() || span <= DEAD_SPAN * hi.abs().max(1.0)
        })
        .collect();
    let activity = Activity { max, dead };
    let mut out = Vec::with_capacity(k * s.inits);
    for row in &best {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&x, &y| row[y].0.total_cmp(&row[x].0).then(x.cmp(&y)));
        for &rec in &order[..s.inits] {
            let (activation, position) = row[rec];
            out.push(InitWindow {
                record: rec,
                offset: rf.start(position) + s.encoded[rec].shift,
                position,
                activation,
            });
        }
    }
    // The cut model must give what the full model gives at that position.
    let w0 = out[0];
    let cut_out = s.net.len();
    let got = s
        .net
        .forward_range(&s.item(0, (w0.record, w0.position)).start, 1, 0, cut_out)?;
    let full_h = full.forward_range(&s.encoded[w0.record].values, 1, 0, s.h_tensor)?;
    for (ch, &g) in got.iter().enumerate() {
        let want = full_h[ch * wh + w0.position];
        if (g - want).abs() > 1e-3 * (1.0 + want.abs()) {
            return Err(Error::Input(format!(
                "the model cut to one receptive field gives channel {ch} = {g} where the full model gives {want} (record {}, position {}): the receptive field of this graph is not what it seems; please report it",
                w0.record, w0.position
            )));
        }
    }
    Ok((out, activity))
}

fn encode_lane(items: &[Stored]) -> Vec<u8> {
    let mut b = Vec::new();
    for it in items {
        bytes::put_u32(&mut b, it.index as u32);
        bytes::put_f32(&mut b, it.activation);
        bytes::put_u32(&mut b, it.steps);
        bytes::put_u32(&mut b, it.converged as u32);
        bytes::put_f32s(&mut b, &it.window);
        bytes::put_f32s(&mut b, &it.pwm);
    }
    b
}

fn decode_lane(data: &[u8]) -> Result<Vec<Stored>> {
    let mut r = bytes::Reader::new(data);
    let mut out = Vec::new();
    while !r.done() {
        out.push(Stored {
            index: r.u32()? as usize,
            activation: r.f32()?,
            steps: r.u32()?,
            converged: r.u32()? != 0,
            window: r.f32s()?,
            pwm: r.f32s()?,
        });
    }
    Ok(out)
}

fn run_lane(
    s: &Setup,
    o: &ChannelsOptions,
    inits: &[(usize, usize)],
    scorer: &mut Scorer,
    lane: std::ops::Range<usize>,
    on_step: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<Stored>> {
    let items: Vec<WindowItem> = lane.map(|i| s.item(i, inits[i])).collect();
    let res = run_windows(scorer, &items, &s.params, (s.a, s.cut.width), on_step)?;
    let mut out: Vec<Stored> = res.iter().map(|r| s.stored(r, o.threshold)).collect();
    out.sort_by_key(|x| x.index);
    Ok(out)
}

/// Test-only (docs/running.md, "Long jobs"): rank 0 kills itself after writing this many lanes.
const TEST_ABORT_AFTER_LANES: &str = "DEEPRESOLVE_TEST_ABORT_AFTER_LANES";

/// `channels` on every rank. A stop signal ends every rank with the items
/// finished so far in the file, for `--resume`.
pub fn channels(world: &World, o: &ChannelsOptions) -> Result<()> {
    let res = channels_on_ranks(world, o);
    engine::end_if_interrupted(world, res, || {
        format!(
            "the items finished so far are in {}{}; run the same command with --resume to finish it",
            o.out.display(),
            if o.meme.is_some() {
                " (--meme is written when the job completes)"
            } else {
                ""
            }
        )
    })
}

fn channels_on_ranks(world: &World, o: &ChannelsOptions) -> Result<()> {
    let size = engine::rank_and_size(world).1;
    let prepared = engine::agree(world, || {
        if let Some(db) = &o.match_db {
            // A bad database is found before the work, not after it.
            crate::tomtom::read_meme(db)
                .map_err(|e| Error::Input(format!("--match {}: {e}", db.display())))?;
        }
        let (s, spec) = setup(o)?;
        let full = Network::from_spec(spec)?;
        let (inits, activity) = find_inits(&s, &full)?;
        drop(full);
        let shape = Shape {
            k: s.k(),
            inits: s.inits,
            a: s.a,
            r: s.r,
        };
        let attrs = s.attrs(o);
        let (file, done) = if o.resume {
            ChannelsFile::resume(&o.out, &attrs, &shape, &inits)?
        } else {
            let names: Vec<String> = s.records.iter().map(|r| r.name.clone()).collect();
            let shifts: Vec<i64> = s.encoded.iter().map(|e| e.shift).collect();
            let f =
                ChannelsFile::create(&o.out, &attrs, &shape, &names, &shifts, &inits, o.overwrite)?;
            (f, vec![0u8; s.n_items()])
        };
        Ok((s, inits, activity, file, done))
    });
    // Everyone learns the initial windows (record, position).
    let mut root_side = None;
    let mut flat: Vec<i64>;
    let s = match prepared {
        Some((s, inits, activity, file, done)) => {
            flat = inits
                .iter()
                .flat_map(|w| [w.record as i64, w.position as i64])
                .collect();
            engine::share(world, &mut flat);
            root_side = Some((inits, activity, file, done));
            s
        }
        None => {
            let (s, _) = setup(o)?;
            flat = vec![0i64; 2 * s.n_items()];
            engine::share(world, &mut flat);
            s
        }
    };
    let inits: Vec<(usize, usize)> = flat
        .chunks(2)
        .map(|p| (p[0] as usize, p[1] as usize))
        .collect();
    if inits.iter().any(|&(r, _)| r >= s.records.len()) {
        return Err(Error::Message(
            "an initial window from a record this rank does not have".into(),
        ));
    }
    let lanes = s.lanes();
    let mut scorer = Scorer::with_plan(&s.net, s.plan.clone(), o.batch);
    let Some((_init_windows, activity, file, mut done)) = root_side else {
        engine::work(world, lanes.len(), &mut |u, on_step| {
            Ok(encode_lane(&run_lane(
                &s,
                o,
                &inits,
                &mut scorer,
                lanes[u].clone(),
                on_step,
            )?))
        })?;
        return Ok(());
    };
    let pending: Vec<usize> = (0..lanes.len())
        .filter(|&j| lanes[j].clone().any(|i| done[i] == 0))
        .collect();
    let done_before = done.iter().filter(|&&d| d != 0).count();
    if !o.quiet {
        if o.resume {
            eprintln!(
                "deepresolve-mpi: resuming {}: {done_before} of {} items already done",
                o.out.display(),
                s.n_items()
            );
        }
        eprintln!(
            "deepresolve-mpi: channels: {} channels × {} inits of H = input of {}; receptive field {} positions (stride {}, offset {}); {} lanes on {} rank{}",
            s.k(),
            s.inits,
            s.layer_name,
            s.r,
            s.cut.rf.stride,
            s.cut.rf.offset,
            pending.len(),
            size,
            if size == 1 { "" } else { "s" }
        );
    }
    let mut progress = Progress::new(s.n_items(), done_before, o.quiet, o.progress_every);
    let abort_after: Option<usize> = std::env::var(TEST_ABORT_AFTER_LANES)
        .ok()
        .and_then(|v| v.parse().ok());
    let mut lanes_written = 0usize;
    let mut put = |data: &[u8]| -> Result<()> {
        let items = decode_lane(data)?;
        if items.is_empty() {
            return Ok(());
        }
        file.write(&items)?;
        let mut new = 0;
        for it in &items {
            new += (done[it.index] == 0) as usize;
            done[it.index] = 1;
        }
        progress.add(new, items.iter().map(|i| i.steps as u64 + 1).sum());
        lanes_written += 1;
        if abort_after == Some(lanes_written) {
            eprintln!("deepresolve-mpi: {TEST_ABORT_AFTER_LANES}={lanes_written}: killing rank 0");
            // SAFETY: sends SIGKILL to this process; nothing runs after it.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        Ok(())
    };
    let mut dealer = Dealer::new(world, pending, lanes.len());
    dealer.run_all(
        &mut |u, on_step| {
            Ok(encode_lane(&run_lane(
                &s,
                o,
                &inits,
                &mut scorer,
                lanes[u].clone(),
                on_step,
            )?))
        },
        &mut |_, d| put(d),
    )?;
    let (act, pwms) = file.read_results()?;
    let ni = s.inits;
    let best: Vec<i32> = (0..s.k())
        .map(|k| {
            let row = &act[k * ni..(k + 1) * ni];
            let mut b = 0;
            for i in 1..ni {
                if row[i] > row[b] {
                    b = i;
                }
            }
            b as i32
        })
        .collect();
    file.finish(&best, &activity)?;
    let summary = progress.finish(None);
    let dead: Vec<usize> = (0..s.k()).filter(|&k| activity.dead[k]).collect();
    if !dead.is_empty() && !o.quiet {
        eprintln!(
            "deepresolve-mpi: {} of {} channels are dead (the same activation, max {}, on every window of the sequences): {}; they have no motif and are left out of --meme and --match",
            dead.len(),
            s.k(),
            activity.max[dead[0]],
            dead.iter().map(|k| format!("ch{k}")).collect::<Vec<_>>().join(", ")
        );
    }
    let (r, a) = (s.r, s.a);
    let m = |k: usize, i: usize| -> Vec<Vec<f32>> {
        let at = (k * ni + i) * r * a;
        pwms[at..at + r * a].chunks(a).map(|c| c.to_vec()).collect()
    };
    if let Some(db) = &o.match_db {
        let best_motifs: Vec<(String, Vec<Vec<f32>>)> = best
            .iter()
            .enumerate()
            .map(|(k, &b)| (format!("ch{k}"), m(k, b as usize)))
            .collect();
        print!(
            "{}",
            match_channels(&o.alphabet, &best_motifs, &activity, db)?
        );
    }
    if let Some(path) = &o.meme {
        let mut motifs = Vec::new();
        for (k, &b) in best.iter().enumerate() {
            if activity.dead[k] {
                continue;
            }
            if o.all_inits {
                for i in 0..ni {
                    motifs.push((format!("ch{k}_init{i}"), m(k, i)));
                }
            } else {
                motifs.push((format!("ch{k}"), m(k, b as usize)));
            }
        }
        std::fs::write(path, pwm::meme(&o.alphabet.to_ascii_uppercase(), &motifs))
            .map_err(|e| Error::Input(format!("--meme {}: cannot write: {e}", path.display())))?;
        if !o.quiet {
            eprintln!(
                "deepresolve-mpi: wrote {} motifs to {}",
                motifs.len(),
                path.display()
            );
        }
    }
    if !o.quiet {
        eprintln!("{summary}");
        eprintln!("deepresolve-mpi: channels in {}", o.out.display());
    }
    Ok(())
}

/// Each motif's best match in `targets` (smallest TOMTOM p-value; Pearson
/// columns, complete scores; q-values by Benjamini–Hochberg over every motif ×
/// target pair). The motifs go through the MEME text `--meme` writes, so
/// `channels --match` and `plot CHANNELS.h5 --match` give the same numbers.
pub fn best_matches(
    alphabet: &str,
    motifs: &[(String, Vec<Vec<f32>>)],
    targets: &[crate::tomtom::Motif],
) -> Result<Vec<Option<crate::tomtom::Match>>> {
    use crate::tomtom::{best_per_query, parse_meme, tomtom, ColumnScore};
    let queries = parse_meme(
        &pwm::meme(&alphabet.to_ascii_uppercase(), motifs),
        "the channels' motifs",
    )?;
    let all = tomtom(&queries, targets, ColumnScore::Pearson);
    Ok(best_per_query(&all, queries.len())
        .into_iter()
        .map(|b| b.cloned())
        .collect())
}

/// `channels --match DB`: each live channel's best init against a MEME
/// database with the built-in TOMTOM ([`best_matches`]); every channel gets a
/// row with its largest activation, a dead one no match.
fn match_channels(
    alphabet: &str,
    motifs: &[(String, Vec<Vec<f32>>)],
    activity: &Activity,
    db: &std::path::Path,
) -> Result<String> {
    use crate::tomtom::{read_meme, report::g6};
    use std::fmt::Write;
    let targets =
        read_meme(db).map_err(|e| Error::Input(format!("--match {}: {e}", db.display())))?;
    let live: Vec<usize> = (0..motifs.len()).filter(|&q| !activity.dead[q]).collect();
    let queries: Vec<(String, Vec<Vec<f32>>)> = live.iter().map(|&q| motifs[q].clone()).collect();
    let mut best = vec![None; motifs.len()];
    for (m, &q) in best_matches(alphabet, &queries, &targets)?
        .into_iter()
        .zip(&live)
    {
        best[q] = m;
    }
    let mut s = String::from(
        "channel\tbest_match\tmatch_name\tp-value\tq-value\torientation\tmax_activation\tdead\n",
    );
    for (q, b) in best.iter().enumerate() {
        let tail = format!("{}\t{}", g6(activity.max[q] as f64), activity.dead[q] as u8);
        match b {
            Some(m) => {
                let t = &targets[m.target];
                let _ = writeln!(
                    s,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{tail}",
                    motifs[q].0,
                    t.id,
                    t.alt.as_deref().unwrap_or("-"),
                    g6(m.p),
                    g6(m.q),
                    if m.rc { '-' } else { '+' }
                );
            }
            None => {
                let _ = writeln!(s, "{}\t-\t-\t-\t-\t-\t{tail}", motifs[q].0);
            }
        }
    }
    Ok(s)
}
