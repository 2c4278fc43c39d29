//! Builders of small random models for the engine tests.
#![allow(dead_code)]
pub mod against_reference;
use deepresolve_mpi::model::*;
use deepresolve_mpi::network::Scorer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Builder {
    pub rng: ChaCha8Rng,
    /// Shape of the last tensor made (the one `push` continues from).
    pub shape: (usize, usize),
    /// Shape of every tensor (0 = the model input).
    pub shapes: Vec<(usize, usize)>,
    pub spec: ModelSpec,
    /// The tensor the next chained layer reads.
    pub at: TensorId,
}

impl Builder {
    pub fn new(seed: u64, k: usize, w: usize) -> Self {
        Builder {
            rng: ChaCha8Rng::seed_from_u64(seed),
            shape: (k, w),
            shapes: vec![(k, w)],
            at: 0,
            spec: ModelSpec {
                input_channels: k,
                input_width: w,
                layers: vec![],
                outputs: vec![],
                unscorable: Vec::new(),
                tensor_names: vec![],
                class_names: None,
                source: "test".into(),
            },
        }
    }
    pub fn rand(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.rng.random::<f32>() * 2.0 - 1.0) * scale)
            .collect()
    }
    pub fn push(&mut self, kind: LayerKind) -> &mut Self {
        let at = self.at;
        self.push_from(kind, &[at]);
        self
    }
    /// Add a layer reading `inputs`; it becomes the tensor `push` continues from.
    pub fn push_from(&mut self, kind: LayerKind, inputs: &[TensorId]) -> TensorId {
        let name = format!("l{}", self.spec.layers.len());
        let ins: Vec<(usize, usize)> = inputs.iter().map(|&t| self.shapes[t]).collect();
        self.shape = kind.output_shape(&ins).expect("test model shape");
        self.shapes.push(self.shape);
        self.spec.layers.push(LayerSpec {
            name,
            kind,
            inputs: inputs.to_vec(),
        });
        self.at = self.spec.layers.len();
        self.at
    }
    /// Continue from tensor `t`.
    pub fn from(&mut self, t: TensorId) -> &mut Self {
        self.at = t;
        self.shape = self.shapes[t];
        self
    }
    /// Name the current tensor an output of the model.
    pub fn output(&mut self, name: &str) -> &mut Self {
        self.spec.outputs.push(OutputSpec {
            name: name.into(),
            tensor: self.at,
        });
        self
    }
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        f: usize,
        ks: usize,
        stride: usize,
        dil: usize,
        pad: Padding,
        act: Activation,
    ) -> &mut Self {
        let k = self.shape.0;
        let scale = 1.0 / ((k * ks) as f32).sqrt() * 1.5;
        let kernel = self.rand(f * k * ks, scale);
        let bias = Some(self.rand(f, 0.3));
        self.push(LayerKind::Conv1D {
            filters: f,
            in_channels: k,
            kernel_size: ks,
            stride,
            dilation: dil,
            padding: pad,
            activation: act,
            kernel,
            bias,
        })
    }
    pub fn dense(&mut self, units: usize, act: Activation) -> &mut Self {
        let n = self.shape.0;
        let kernel = self.rand(units * n, 1.5 / (n as f32).sqrt());
        let bias = Some(self.rand(units, 0.3));
        self.push(LayerKind::Dense {
            units,
            in_features: n,
            activation: act,
            kernel,
            bias,
        })
    }
    pub fn pool(&mut self, pool: usize, stride: usize, pad: Padding) -> &mut Self {
        self.push(LayerKind::MaxPool1D {
            pool,
            stride,
            padding: pad,
        })
    }
    pub fn flatten(&mut self, order: FlattenOrder) -> &mut Self {
        self.push(LayerKind::Flatten { order })
    }
    pub fn act(&mut self, a: Activation) -> &mut Self {
        self.push(LayerKind::Activation(a))
    }
    pub fn batchnorm(&mut self) -> &mut Self {
        let k = self.shape.0;
        let gamma = self.rand(k, 1.0).iter().map(|v| v + 1.5).collect();
        let beta = self.rand(k, 0.5);
        let mean = self.rand(k, 0.5);
        let var = self.rand(k, 0.5).iter().map(|v| v + 1.0).collect();
        self.push(LayerKind::BatchNorm {
            gamma,
            beta,
            mean,
            var,
            eps: 1e-3,
        })
    }
    pub fn build(&self) -> ModelSpec {
        self.spec.clone()
    }
}

/// The DeepSEA shape at toy size: conv → pool → conv → pool → conv → flatten → dense → dense → sigmoid.
pub fn deepsea_like(seed: u64) -> ModelSpec {
    let mut b = Builder::new(seed, 4, 60);
    b.conv(8, 5, 1, 1, Padding::Valid, Activation::Relu)
        .pool(4, 4, Padding::Valid)
        .conv(12, 3, 1, 1, Padding::Valid, Activation::Relu)
        .pool(2, 2, Padding::Valid)
        .conv(10, 2, 1, 1, Padding::Valid, Activation::Relu)
        .act(Activation::Linear)
        .push(LayerKind::Dropout)
        .flatten(FlattenOrder::ChannelMajor)
        .dense(16, Activation::Relu)
        .dense(5, Activation::Linear)
        .act(Activation::Sigmoid);
    b.build()
}

static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held while a test has an HDF5 file open that a later run will write, and
/// while any test starts a child. HDF5 opens files without O_CLOEXEC, so a
/// child started by another test thread inherits the descriptor and its lock,
/// and the file cannot be opened for writing until that child ends.
pub fn file_guard() -> std::sync::MutexGuard<'static, ()> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// `hdf5::File::open_rw`, waiting up to 20 s while another process holds the
/// file's lock, as the binary itself waits for a killed job's ranks. CI saw
/// one such refusal (results_layout, after `analyze` had exited and every
/// test-side open was under [`file_guard`]) that 70 local runs did not
/// repeat; the processes holding the file are printed so a next occurrence
/// names its holder.
pub fn open_rw_waiting(p: &std::path::Path) -> hdf5::File {
    let t0 = std::time::Instant::now();
    let mut said = false;
    loop {
        match hdf5::File::open_rw(p) {
            Ok(f) => return f,
            Err(e)
                if e.to_string().contains("unable to lock file")
                    && t0.elapsed() < std::time::Duration::from_secs(20) =>
            {
                if !said {
                    eprintln!("{}: locked ({e}); held by {:?}", p.display(), holders(p));
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("open {} for writing: {e}", p.display()),
        }
    }
}

/// Every process with `p` open: (pid, command line).
fn holders(p: &std::path::Path) -> Vec<(String, String)> {
    let want = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = vec![];
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in procs.flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == want))
        {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            out.push((pid, cmd));
        }
    }
    out
}

/// OpenBLAS on one thread in every test process, as the binary's ranks run
/// it (`OPENBLAS_NUM_THREADS=1`, which `run_bin` gives its children), set
/// before `main` so no test can forget it. The system's pthread OpenBLAS
/// (0.3.21) can deadlock when two test threads call its threaded sgemm at
/// once (one waits on its lock while the other spins in exec_blas; seen in
/// tests/attention_borzoi_pytorch when the variable was not set for
/// `cargo test`), and in its fork handler while another test thread starts
/// a child. Shared libraries' constructors run before the executable's
/// `.init_array`, so OpenBLAS is initialised when this runs.
#[used]
#[link_section = ".init_array"]
static BLAS_ONE_THREAD: extern "C" fn() = {
    extern "C" fn one_thread() {
        extern "C" {
            fn openblas_set_num_threads(n: std::ffi::c_int);
        }
        // SAFETY: a plain setter of OpenBLAS's thread count, before any thread
        // of this process exists.
        unsafe { openblas_set_num_threads(1) }
    }
    one_thread
};

/// The release binary, run directly or under `mpirun -n N`, killed after `timeout_s`
/// (a hang fails the test instead of blocking CI).
pub fn run_bin(args: &[&str], nproc: Option<usize>, timeout_s: u64) -> std::process::Output {
    run_bin_env(args, nproc, timeout_s, &[])
}

/// [`run_bin`] with extra environment variables.
pub fn run_bin_env(
    args: &[&str],
    nproc: Option<usize>,
    timeout_s: u64,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_deepresolve-mpi");
    let mut cmd = match nproc {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args(["-n", &n.to_string(), "--oversubscribe", bin]);
            c
        }
    };
    cmd.args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a hang kills this job only (not other jobs of the same binary).
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // HDF5 opens files without O_CLOEXEC, so a child would otherwise keep any
    // file another test thread has open (and its lock) for its whole life,
    // and a later write to that file be refused. Mark every descriptor past
    // stdio close-on-exec in the child; where the kernel lacks close_range
    // this does nothing and file_guard below is the only defence.
    unsafe {
        cmd.pre_exec(|| {
            libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            );
            Ok(())
        });
    }
    let child = {
        let _g = file_guard();
        cmd.spawn().expect("spawn deepresolve-mpi / mpirun")
    };
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(timeout_s)) {
        Ok(out) => out.expect("wait for deepresolve-mpi"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{id}")])
                .status();
            panic!("deepresolve-mpi {args:?} (ranks {nproc:?}) hung for more than {timeout_s} s");
        }
    }
}

/// `run --model MODEL --layer LAYER --out OUT`: the start of a `run` command line,
/// to extend with the options a test needs.
pub fn run_base<'a>(model: &'a str, layer: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["run", "--model", model, "--layer", layer, "--out", out]
}

pub fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout)
}

pub fn fixture(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test's files.
pub fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("drmpi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every dataset of /ascent and /analysis as raw bytes, for bitwise comparison.
pub fn datasets(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let f = hdf5::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = vec![];
    for g in ["classes", "ascent", "analysis"] {
        let grp = f
            .group(g)
            .unwrap_or_else(|_| panic!("{}: no /{g}", path.display()));
        let mut names = grp.member_names().unwrap();
        names.sort();
        for n in names {
            let ds = grp.dataset(&n).unwrap();
            let bytes: Vec<u8> = if n == "names" {
                deepresolve_mpi::model::h5util::string_dataset(&ds)
                    .unwrap()
                    .join("\n")
                    .into_bytes()
            } else {
                let td = ds.dtype().unwrap();
                match (td.size(), format!("{:?}", td.to_descriptor().unwrap())) {
                    (4, d) if d.contains("Float") => ds
                        .read_raw::<f32>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    (8, d) if d.contains("Float") => ds
                        .read_raw::<f64>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    (4, _) => ds
                        .read_raw::<i32>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    (8, _) => ds
                        .read_raw::<i64>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    (1, _) => ds.read_raw::<u8>().unwrap(),
                    (s, d) => panic!("{n}: unexpected type {d} of size {s}"),
                }
            };
            out.push((format!("/{g}/{n}"), bytes));
        }
    }
    out
}

pub fn assert_same_datasets(a: &std::path::Path, b: &std::path::Path) {
    let (da, db) = (datasets(a), datasets(b));
    let na: Vec<&String> = da.iter().map(|x| &x.0).collect();
    let nb: Vec<&String> = db.iter().map(|x| &x.0).collect();
    assert_eq!(
        na,
        nb,
        "different datasets in {} and {}",
        a.display(),
        b.display()
    );
    for ((n, x), (_, y)) in da.iter().zip(&db) {
        assert!(
            x == y,
            "{n} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// dS_c/dH of a scorer (capacity ≥ 3) against central finite differences
/// (tests/gradients.rs explains the tolerances and the kink rule).
pub fn check_scorer(mut sc: Scorer, what: &str) {
    let n = sc.map_len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let classes: Vec<usize> = (0..3).map(|i| i % sc.n_classes()).collect();
    let h: Vec<f32> = (0..3 * n)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let mut s = vec![0.0; 3];
    let mut g = vec![0.0; 3 * n];
    sc.score_grad(&h, &classes, &mut s, &mut g);
    let gmax = g.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(
        gmax > 1e-4,
        "{what}: gradient is all zero — the test would prove nothing"
    );
    let step = 3e-3f32;
    let (mut checked, mut skipped) = (0, 0);
    let eval = |hh: &[f32], sc: &mut Scorer| {
        let mut s2 = vec![0.0; 3];
        let mut g2 = vec![0.0; 3 * n];
        sc.score_grad(hh, &classes, &mut s2, &mut g2);
        s2
    };
    for idx in 0..3 * n {
        if n > 60 && idx % (n / 40).max(1) != 0 {
            continue;
        }
        let item = idx / n;
        let mut hp = h.clone();
        hp[idx] += step;
        let sp = eval(&hp, &mut sc)[item];
        hp[idx] -= 2.0 * step;
        let sm = eval(&hp, &mut sc)[item];
        let (fwd, bwd) = ((sp - s[item]) / step, (s[item] - sm) / step);
        let fd = (sp - sm) / (2.0 * step);
        let tol = 2e-3 * g[idx].abs().max(1.0);
        if (fwd - bwd).abs() > 2.0 * tol {
            skipped += 1;
            continue;
        }
        checked += 1;
        assert!(
            (fd - g[idx]).abs() <= tol,
            "{what}: coordinate {idx}: finite difference {fd}, gradient {}",
            g[idx]
        );
    }
    assert!(
        checked > 0 && skipped * 5 <= checked + skipped,
        "{what}: {skipped} kinks skipped of {}",
        checked + skipped
    );
}

/// A command that must fail, alone and under `mpirun -n 2`, with an error
/// naming each of `must_name`, and no panic.
pub fn expect_error(args: &[&str], must_name: &[&str]) {
    for nproc in [None, Some(2)] {
        let out = run_bin(args, nproc, 60);
        let err = stderr_of(&out);
        assert!(
            !out.status.success(),
            "{args:?} (ranks {nproc:?}) succeeded; output:\n{err}"
        );
        for m in must_name {
            assert!(
                err.contains(m),
                "{args:?} (ranks {nproc:?}): error does not name {m:?}:\n{err}"
            );
        }
        // One message, not one per rank.
        let n = err.matches("error").count();
        assert!(n >= 1, "{args:?}: no error line:\n{err}");
        assert!(
            !err.contains("panicked"),
            "{args:?}: a panic instead of an error:\n{err}"
        );
    }
}

/// Input 4 × 40 → conv → two dilated residual blocks (conv + cropped skip,
/// joined by Add) → a profile head (conv → crop → flatten) and a counts head
/// (global average → dense), as ChromBPNet. `relu_inside` puts a ReLU layer
/// inside the first block, so its input is a tensor the skip bypasses.
pub fn tower(seed: u64, relu_inside: bool) -> (ModelSpec, Names) {
    let mut b = Builder::new(seed, 4, 40);
    b.conv(6, 5, 1, 1, Padding::Valid, Activation::Relu);
    let t1 = b.at;
    b.conv(6, 3, 1, 2, Padding::Valid, Activation::Relu);
    let mut inner = None;
    if relu_inside {
        inner = Some(b.spec.layers.len());
        b.act(Activation::Tanh);
    }
    let t2 = b.at;
    let crop1 = b.spec.layers.len();
    let t3 = b.push_from(LayerKind::Crop { left: 2, right: 2 }, &[t1]);
    let add1 = b.spec.layers.len();
    let t4 = b.push_from(LayerKind::Merge(MergeOp::Add), &[t2, t3]);
    let block2 = b.spec.layers.len();
    b.conv(6, 3, 1, 4, Padding::Valid, Activation::Relu);
    let t5 = b.at;
    let t6 = b.push_from(LayerKind::Crop { left: 4, right: 4 }, &[t4]);
    let t7 = b.push_from(LayerKind::Merge(MergeOp::Add), &[t5, t6]);
    b.conv(2, 5, 1, 1, Padding::Valid, Activation::Linear)
        .push(LayerKind::Crop { left: 2, right: 2 })
        .flatten(FlattenOrder::ChannelMajor)
        .output("profile");
    b.from(t7)
        .push(LayerKind::GlobalAvgPool1D)
        .dense(1, Activation::Linear)
        .output("counts");
    (
        b.build(),
        Names {
            block1: 1,
            inner,
            crop1,
            add1,
            block2,
        },
    )
}

pub struct Names {
    pub block1: usize,
    pub inner: Option<usize>,
    pub crop1: usize,
    pub add1: usize,
    pub block2: usize,
}

/// One-hot rows (A, C, G, T) of a motif.
#[allow(dead_code)]
pub fn onehot(m: &str) -> Vec<[f64; 4]> {
    m.bytes()
        .map(|c| {
            let mut r = [0.0; 4];
            r["ACGT".bytes().position(|b| b == c).unwrap()] = 1.0;
            r
        })
        .collect()
}

/// The reverse complement of an ACGT string.
#[allow(dead_code)]
pub fn revcomp(m: &str) -> String {
    m.bytes()
        .rev()
        .map(|c| match c {
            b'A' => 'T',
            b'C' => 'G',
            b'G' => 'C',
            _ => 'A',
        })
        .collect()
}

/// The best Pearson correlation of the motif's one-hot columns with the
/// PWM's at any offset (motif inside the PWM) on either strand.
#[allow(dead_code)]
pub fn motif_match(pwm: &[[f64; 4]], motif: &str) -> f64 {
    let mut best = -1.0f64;
    for m in [motif.to_string(), revcomp(motif)] {
        let o = onehot(&m);
        for off in 0..=pwm.len().saturating_sub(o.len()) {
            let x: Vec<f64> = pwm[off..off + o.len()].iter().flatten().copied().collect();
            let y: Vec<f64> = o.iter().flatten().copied().collect();
            let n = x.len() as f64;
            let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
            let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
            let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
            let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
            if vx > 0.0 {
                best = best.max(cov / (vx * vy).sqrt());
            }
        }
    }
    best
}

/// Every dataset of a `channels` file as raw bytes, by name (names as text),
/// for bitwise comparison.
pub fn channel_datasets(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let f = hdf5::File::open(path).unwrap();
    let mut out = vec![];
    for g in ["channels", "sequences"] {
        let grp = f.group(g).unwrap();
        let mut names = grp.member_names().unwrap();
        names.sort();
        for n in names {
            let ds = grp.dataset(&n).unwrap();
            let bytes = if n == "names" {
                deepresolve_mpi::model::h5util::string_dataset(&ds)
                    .unwrap()
                    .join("\n")
                    .into_bytes()
            } else {
                match ds.dtype().unwrap().size() {
                    1 => ds.read_raw::<u8>().unwrap(),
                    4 => ds
                        .read_raw::<u32>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    _ => ds
                        .read_raw::<u64>()
                        .unwrap()
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                }
            };
            out.push((format!("/{g}/{n}"), bytes));
        }
    }
    out
}
