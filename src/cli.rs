//! The command line of docs/SPEC.md ("Command line"), a module of the binary: clap parses it here
//! and each command's arguments become the library's plain option structs
//! (`RunConfig`, `PlotOptions`, …), so the library knows nothing of clap.
use clap::{Args, Parser, Subcommand};
use deepresolve_mpi::analysis::gmm::GmmFloor;
use deepresolve_mpi::ascent::{AscentParams, Init, Keep};
use deepresolve_mpi::bench::{BenchOptions, BenchShape};
use deepresolve_mpi::calibrate::{parse_lambdas, CalibrateOptions};
use deepresolve_mpi::channels::ChannelsOptions;
use deepresolve_mpi::clusters::ClustersOptions;
use deepresolve_mpi::diff::DiffOptions;
use deepresolve_mpi::job::RunConfig;
use deepresolve_mpi::model::Keras1Backend;
use deepresolve_mpi::motifs::MotifsOptions;
use deepresolve_mpi::network::simd::SimdPath;
use deepresolve_mpi::network::{ConvMode, Reduce};
use deepresolve_mpi::plot::class_figure::Channels;
use deepresolve_mpi::plot::PlotOptions;
use deepresolve_mpi::report::ReportOptions;
use deepresolve_mpi::sequences::{Alphabet, Fit};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "deepresolve-mpi",
    version,
    about = "DeepResolve feature-map ascent and analysis, for any number of MPI ranks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run gradient ascent for every (class, restart) and analyse the ensemble.
    Run(RunArgs),
    /// Recompute /analysis of a results file from its /ascent.
    Analyze {
        results: PathBuf,
        /// The GMM's covariance floor; default: the mode stored in the file
        /// (`absolute` for a file written before the option existed).
        #[arg(long, value_enum)]
        gmm_floor: Option<GmmFloorArg>,
    },
    /// List a model's layers: index, name, kind, output shape, parameters.
    Inspect {
        model: PathBuf,
        /// Weights for an architecture-only model file (Keras `to_json()` + `save_weights`).
        #[arg(long)]
        weights: Option<PathBuf>,
        #[arg(long, value_enum)]
        keras1_backend: Option<Backend>,
        /// The input length of a model saved without one.
        #[arg(long)]
        input_length: Option<usize>,
    },
    /// Measure ascent speed on a DeepSEA-shaped network (or a real model).
    Bench(BenchArgs),
    /// Draw the paper's figures from a results file, or the logo sheet of a
    /// `channels` file (SVG and PNG).
    Plot(PlotArgs),
    /// Write each class's top channels as MEME motifs (first-layer filters only).
    Motifs(MotifsArgs),
    /// Class difference map D = OFIV_A − OFIV_B as a sorted table.
    Diff(DiffArgs),
    /// The paper's λ heuristic: norms of real feature maps (from a FASTA) against
    /// the norms of FIMs a short ascent reaches, for a grid of λ.
    Calibrate(CalibrateArgs),
    /// The paper's Fig. 6: each channel of H as a sequence motif, by gradient
    /// ascent on the one-hot window that is its receptive field.
    Channels(ChannelsArgs),
    /// TOMTOM: match query motifs against a motif database (MEME files).
    Match(MatchArgs),
    /// Flat clusters of the classes from /analysis/linkage (SciPy's fcluster).
    Clusters(ClustersArgs),
    /// One self-contained HTML page of a results file: settings, a sortable
    /// table of the classes with their top channels (logos and motif names
    /// from a channels file), the similarity matrix and clusters, class figures.
    Report(ReportArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// A results file of `run`.
    pub results: PathBuf,
    /// The HTML file to write (replaced atomically; never one of the inputs).
    #[arg(long)]
    pub out: PathBuf,
    /// A finished `channels` file of the same model and layer: each channel's logo and motif.
    #[arg(long)]
    pub channels_file: Option<PathBuf>,
    /// A MEME motif database: name each channel's motif by its best TOMTOM match.
    #[arg(long = "match", requires = "channels_file")]
    pub match_db: Option<PathBuf>,
    /// HDF5 file of training labels (examples × classes): each cluster's mean label correlation.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The dataset in --labels (default: labels, y, Y or traindata, or the file's only 2-D dataset).
    #[arg(long, requires = "labels")]
    pub labels_dataset: Option<String>,
    /// Clusters: cut the tree at this height of 1 − A (default 0.5).
    #[arg(long, conflicts_with = "k")]
    pub cut: Option<f64>,
    /// Clusters: at most N.
    #[arg(long)]
    pub k: Option<usize>,
    /// Highest and lowest channels per class in the table.
    #[arg(long, default_value_t = ReportOptions::DEFAULT_TOP)]
    pub top: usize,
    /// Class figures the page carries: the first N classes', or `all` (default 50).
    #[arg(long)]
    pub figures: Option<String>,
}

impl ReportArgs {
    pub fn to_options(&self) -> Result<ReportOptions, String> {
        let figures = match self.figures.as_deref() {
            None => Some(ReportOptions::DEFAULT_FIGURES),
            Some(s) if s.trim().eq_ignore_ascii_case("all") => None,
            Some(s) => Some(
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("--figures {s:?}: give a number of classes or `all`"))?,
            ),
        };
        Ok(ReportOptions {
            channels_file: self.channels_file.clone(),
            match_db: self.match_db.clone(),
            labels: self.labels.clone(),
            labels_dataset: self.labels_dataset.clone(),
            cut: self.cut,
            k: self.k,
            top: self.top,
            figures,
            ..ReportOptions::new(self.results.clone(), self.out.clone())
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct MatchArgs {
    /// Query motifs (MEME format).
    #[arg(long)]
    pub motifs: PathBuf,
    /// Motif database (MEME format), e.g. data/JASPAR2024_CORE_vertebrates_non-redundant.meme.
    #[arg(long)]
    pub db: PathBuf,
    /// Table file (TOMTOM's tab-separated columns); standard output if absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report pairs with p-value below this (1: every pair).
    #[arg(long, default_value_t = 0.5)]
    pub thresh: f64,
    /// Column similarity: Pearson correlation (TOMTOM's default) or Euclidean distance.
    #[arg(long, value_enum, default_value = "pearson")]
    pub dist: DistArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistArg {
    Pearson,
    Ed,
}

impl MatchArgs {
    pub fn options(&self) -> deepresolve_mpi::tomtom::MatchOptions {
        deepresolve_mpi::tomtom::MatchOptions {
            motifs: self.motifs.clone(),
            db: self.db.clone(),
            out: self.out.clone(),
            thresh: self.thresh,
            dist: match self.dist {
                DistArg::Pearson => deepresolve_mpi::tomtom::ColumnScore::Pearson,
                DistArg::Ed => deepresolve_mpi::tomtom::ColumnScore::Ed,
            },
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ClustersArgs {
    pub results: PathBuf,
    /// Cut the tree at this height of 1 − A (fcluster criterion "distance"; default 0.5).
    #[arg(long, conflicts_with = "k")]
    pub cut: Option<f64>,
    /// At most N clusters (fcluster criterion "maxclust").
    #[arg(long, allow_negative_numbers = true)]
    pub k: Option<usize>,
    /// Also write a TSV: cluster, class_index, class_name, one row per class.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// HDF5 file of training labels (examples × classes): adds each cluster's mean label correlation.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The dataset in --labels (default: labels, y, Y or traindata, or the file's only 2-D dataset).
    #[arg(long, requires = "labels")]
    pub labels_dataset: Option<String>,
    /// A finished `channels` file of the run's model and layer: each cluster's shared channels get their motif.
    #[arg(long)]
    pub channels_file: Option<PathBuf>,
    /// A MEME motif database: name those motifs by their best TOMTOM match.
    #[arg(long = "match", requires = "channels_file")]
    pub match_db: Option<PathBuf>,
}

impl ClustersArgs {
    pub fn to_options(&self) -> ClustersOptions {
        ClustersOptions {
            results: self.results.clone(),
            cut: self.cut,
            k: self.k,
            out: self.out.clone(),
            labels: self.labels.clone(),
            labels_dataset: self.labels_dataset.clone(),
            channels_file: self.channels_file.clone(),
            match_db: self.match_db.clone(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct PlotArgs {
    /// A results file of `run`, or a results file of `channels` (drawn as a logo sheet).
    pub results: PathBuf,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Classes to draw per-class figures for (indices into the model's outputs, or names; default all).
    #[arg(long)]
    pub classes: Option<String>,
    /// Columns of the class figures: N (the ¾N highest and ¼N lowest by OFIV, plus the
    /// non-additive channels) or `all` (default: all up to 60 channels, else 40). For a
    /// `channels` file: the N channels of highest activation, or `all`.
    #[arg(long, value_parser = parse_channels)]
    pub channels: Option<Channels>,
    /// Draw cluster boundaries on the similarity figure, cutting the tree at this height of 1 − A.
    #[arg(long, conflicts_with = "k")]
    pub cut: Option<f64>,
    /// Draw the boundaries of at most N clusters on the similarity figure.
    #[arg(long, allow_negative_numbers = true)]
    pub k: Option<usize>,
    /// Similarity sub-matrix: rows are the classes whose names match this regular expression.
    #[arg(long)]
    pub rows: Option<String>,
    /// Similarity sub-matrix: columns are the classes whose names match this regular expression.
    #[arg(long)]
    pub cols: Option<String>,
    /// Similarity sub-matrix of one cluster (its id in `clusters` with the same --cut/--k).
    #[arg(long, allow_negative_numbers = true)]
    pub cluster: Option<usize>,
    /// Draw only logos.svg/.png: sequence logos of each class's top 5 channels
    /// by OFIV (the channels must be first-layer filters of --model).
    #[arg(long, requires = "model")]
    pub logos: bool,
    /// The model the results were made with: with --logos for the sheet; without, the
    /// class figures get the logo of each column's first-layer filter above it.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Weights for an architecture-only model file (Keras `to_json()` + `save_weights`).
    #[arg(long, requires = "model")]
    pub weights: Option<PathBuf>,
    /// A MEME motif database: name each logo's best TOMTOM match (with --model or
    /// --logos, or for a `channels` results file).
    #[arg(long = "match")]
    pub match_db: Option<PathBuf>,
    /// A finished `channels` file of the run's model and layer: each column of the class
    /// figures gets its channel's motif as a logo (and, with --match, its best match), at any layer.
    #[arg(long, conflicts_with_all = ["model", "logos"])]
    pub channels_file: Option<PathBuf>,
}

fn parse_channels(s: &str) -> Result<Channels, String> {
    Channels::parse(s).ok_or_else(|| format!("{s:?}: expected a number of channels ≥ 1, or all"))
}

#[derive(Args, Debug, Clone)]
pub struct MotifsArgs {
    /// The model whose first-layer filters are the channels (or --channels-file).
    #[arg(long, required_unless_present = "channels_file")]
    pub model: Option<PathBuf>,
    /// A finished `channels` file of the run's model and layer: its channels' motifs, at any layer.
    #[arg(long, conflicts_with_all = ["model", "weights", "keras1_backend"])]
    pub channels_file: Option<PathBuf>,
    /// Weights for an architecture-only model file (Keras `to_json()` + `save_weights`).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long)]
    pub results: PathBuf,
    #[arg(long, default_value_t = MotifsOptions::DEFAULT_TOP, allow_negative_numbers = true)]
    pub top: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum)]
    pub keras1_backend: Option<Backend>,
    /// Also match the motifs against this MEME database (TOMTOM, Pearson) and
    /// print each class's top channels with their best known motif.
    #[arg(long = "match")]
    pub match_db: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    pub results: PathBuf,
    /// Class by output index or name.
    pub class_a: String,
    pub class_b: String,
    /// Rows shown at each end of the table.
    #[arg(long, default_value_t = DiffOptions::DEFAULT_TOP, allow_negative_numbers = true)]
    pub top: usize,
    /// A finished `channels` file of the run's model and layer: a motif column (any layer).
    #[arg(long)]
    pub channels_file: Option<PathBuf>,
    /// A MEME motif database: name each channel's motif by its best TOMTOM match.
    #[arg(long = "match", requires = "channels_file")]
    pub match_db: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchShapeArg {
    Deepsea,
    Chrombpnet,
    LongTower,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitArg {
    Normal,
    Uniform,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepArg {
    Best,
    Final,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GmmFloorArg {
    Fiv,
    Relative,
    Absolute,
}

impl GmmFloorArg {
    pub fn mode(self) -> GmmFloor {
        match self {
            GmmFloorArg::Fiv => GmmFloor::Fiv,
            GmmFloorArg::Relative => GmmFloor::Relative,
            GmmFloorArg::Absolute => GmmFloor::Absolute,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimdArg {
    Avx512,
    Avx2,
    Scalar,
}

impl SimdArg {
    pub fn path(self) -> SimdPath {
        match self {
            SimdArg::Avx512 => SimdPath::Avx512,
            SimdArg::Avx2 => SimdPath::Avx2,
            SimdArg::Scalar => SimdPath::Scalar,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvArg {
    Direct,
    Fast,
    Auto,
}

impl ConvArg {
    pub fn mode(self) -> ConvMode {
        match self {
            ConvArg::Direct => ConvMode::Direct,
            ConvArg::Fast => ConvMode::Fast,
            ConvArg::Auto => ConvMode::Auto,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceArg {
    Sum,
    Mean,
    Max,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Theano,
    Tensorflow,
}

/// The library's backend choice for a `--keras1-backend` value.
pub fn keras1(b: Option<Backend>) -> Option<Keras1Backend> {
    b.map(|b| match b {
        Backend::Theano => Keras1Backend::Theano,
        Backend::Tensorflow => Keras1Backend::Tensorflow,
    })
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Keras HDF5 (.h5), Keras 3 archive (.keras), ONNX (.onnx) or native model file.
    #[arg(long, required_unless_present = "models", conflicts_with = "models")]
    pub model: Option<PathBuf>,
    /// Many models in one job: a text file of `MODEL [NAME [WEIGHTS]]` lines, or a
    /// directory of model files; each model's results go to OUT_DIR/NAME.h5.
    #[arg(long, requires = "out_dir")]
    pub models: Option<PathBuf>,
    /// Where a multi-model job writes its results files (created if missing).
    #[arg(long, requires = "models", conflicts_with = "out")]
    pub out_dir: Option<PathBuf>,
    /// Weights for an architecture-only model file: a Keras `model.to_json()` file
    /// with its `save_weights` HDF5 (Keras 1.2, 2 and 3 forms).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// H is the input of this layer: its name, or its 0-based index in the layer list
    /// (for ONNX models also a tensor name: H is then that tensor).
    #[arg(long, allow_negative_numbers = true)]
    pub layer: String,
    /// The model output whose units are the classes, by name or index (needed when there are several).
    #[arg(long)]
    pub output: Option<String>,
    /// For an output with positions (profile, track heads): the class score is the
    /// sum, mean or max over positions of the track's pre-activation output.
    #[arg(long, value_enum)]
    pub reduce: Option<ReduceArg>,
    /// Results file (HDF5).
    #[arg(long, required_unless_present = "out_dir")]
    pub out: Option<PathBuf>,
    /// `all`, or output indices, ranges and class names such as 0,3,7-9,CTCF (names from --class-names or the model).
    #[arg(long, default_value = RunConfig::DEFAULT_CLASSES)]
    pub classes: String,
    #[arg(long, default_value_t = RunConfig::DEFAULT_RESTARTS, allow_negative_numbers = true)]
    pub restarts: usize,
    /// L2 coefficient λ.
    #[arg(long = "lambda", default_value_t = AscentParams::DEFAULT_LAMBDA, allow_negative_numbers = true)]
    pub lambda: f32,
    /// Learning rate lr0.
    #[arg(long, default_value_t = AscentParams::DEFAULT_LR, allow_negative_numbers = true)]
    pub lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_START, allow_negative_numbers = true)]
    pub decay_start: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_ALPHA, allow_negative_numbers = true)]
    pub decay_alpha: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_MIN_LR, allow_negative_numbers = true)]
    pub min_lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_PATIENCE, allow_negative_numbers = true)]
    pub patience: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_MAX_STEPS, allow_negative_numbers = true)]
    pub max_steps: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_SEED, allow_negative_numbers = true)]
    pub seed: u64,
    /// Starting maps: N(0, 1) noise (the method), or U[0, 1) as the authors' code.
    #[arg(long, value_enum, default_value = "normal")]
    pub init: InitArg,
    /// The map a restart returns: the best one seen, or the last iterate as the authors' code.
    #[arg(long, value_enum, default_value = "best")]
    pub keep: KeepArg,
    /// One class name per line, in output order.
    #[arg(long)]
    pub class_names: Option<PathBuf>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Finish an interrupted run in the same file.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace an existing results file.
    #[arg(long)]
    pub overwrite: bool,
    /// Keras 1 files do not say which backend trained them; "th" ordering is taken as Theano.
    #[arg(long, value_enum)]
    pub keras1_backend: Option<Backend>,
    /// Items advanced together per GEMM (per rank).
    #[arg(long, default_value_t = RunConfig::DEFAULT_BATCH, allow_negative_numbers = true)]
    pub batch: usize,
    /// Items per lane, the unit of work a rank takes (default 2 × batch). Batch and
    /// lane fix which items share a batch, so results are identical for any rank count.
    #[arg(long, allow_negative_numbers = true)]
    pub lane: Option<usize>,
    /// How the convolutions after H are computed: `direct` (im2col + GEMM),
    /// `fast` (the real DFT, every stride-1 convolution) or `auto` (the DFT
    /// where a cost model of the shapes says it needs far less arithmetic).
    #[arg(long, value_enum, default_value = "auto")]
    pub conv: ConvArg,
    /// Seconds between progress lines when the log is not a terminal.
    #[arg(long, default_value_t = RunConfig::DEFAULT_PROGRESS_EVERY)]
    pub progress_every: f64,
    /// The GMM's covariance floor. `fiv`: IL / mean FIV², floor 2e-4 (the
    /// call does not depend on λ's scale, and restarts that agree closely
    /// next to the size of the maps are additive); `relative`: IL / max IL,
    /// floor 1e-6 (also λ-free); `absolute`: scikit-learn's 1e-6 on the raw
    /// IL (the authors').
    #[arg(long, value_enum, default_value = "fiv")]
    pub gmm_floor: GmmFloorArg,
    /// The input length of a model saved without one (Keras `Input(shape=(None, 4))`, an ONNX dynamic length).
    #[arg(long)]
    pub input_length: Option<usize>,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// A real model instead of the DeepSEA-shaped random one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The random network to time when no --model is given: DeepSEA's tail
    /// (480 × 60 → conv → dense → dense), a ChromBPNet tower (scored on its counts head), or a
    /// long dilated residual tower (4 × 32,768, 32 channels, kernels 11–41; time it with small
    /// --batch and --steps 1).
    #[arg(long, value_enum, default_value = "deepsea")]
    pub shape: BenchShapeArg,
    /// Layer for a real model (default: the input of the last convolution's successor).
    #[arg(long, allow_negative_numbers = true)]
    pub layer: Option<String>,
    /// Items per batch; several values give several lines.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,8,32,64",
        allow_negative_numbers = true
    )]
    pub batch: Vec<usize>,
    /// Ascent steps measured per batch size.
    #[arg(long, default_value_t = BenchOptions::DEFAULT_STEPS, allow_negative_numbers = true)]
    pub steps: usize,
    /// Convolution paths to time, one line each per batch size.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "direct,fast")]
    pub conv: Vec<ConvArg>,
    /// Kernel paths to time, one line each per batch size and --conv (default:
    /// this process's, from DEEPRESOLVE_SIMD or the CPU); e.g. avx512,avx2 for before/after.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub simd: Vec<SimdArg>,
    /// Also write the benchmark network as a native model file (for jobs/bench_numpy.py and `run`).
    #[arg(long)]
    pub save_model: Option<PathBuf>,
    /// With --model: the output to score, by name or index (default: the only one, or the last).
    #[arg(long)]
    pub output: Option<String>,
    /// With --model: the reduction over positions for an output with positions.
    #[arg(long, value_enum)]
    pub reduce: Option<ReduceArg>,
    /// With --model: the input length of a model saved without one.
    #[arg(long)]
    pub input_length: Option<usize>,
    /// After each line, the seconds per item-step of each layer after H,
    /// forward and backward, and its share of the step (one more round).
    #[arg(long)]
    pub per_layer: bool,
}

impl RunArgs {
    /// The library's run configuration for these arguments.
    pub fn to_config(&self) -> RunConfig {
        RunConfig {
            model: self.model.clone().unwrap_or_default(),
            weights: self.weights.clone(),
            models: self.models.clone(),
            out_dir: self.out_dir.clone(),
            layer: self.layer.clone(),
            output: self.output.clone(),
            reduce: self.reduce.map(|r| match r {
                ReduceArg::Sum => Reduce::Sum,
                ReduceArg::Mean => Reduce::Mean,
                ReduceArg::Max => Reduce::Max,
            }),
            out: self.out.clone().unwrap_or_default(),
            classes: self.classes.clone(),
            restarts: self.restarts,
            params: AscentParams::new()
                .lambda(self.lambda)
                .lr(self.lr)
                .decay_start(self.decay_start)
                .decay_alpha(self.decay_alpha)
                .min_lr(self.min_lr)
                .patience(self.patience)
                .max_steps(self.max_steps)
                .seed(self.seed)
                .init(match self.init {
                    InitArg::Normal => Init::Normal,
                    InitArg::Uniform => Init::Uniform,
                })
                .keep(match self.keep {
                    KeepArg::Best => Keep::Best,
                    KeepArg::Final => Keep::Final,
                }),
            class_names: self.class_names.clone(),
            quiet: self.quiet,
            resume: self.resume,
            overwrite: self.overwrite,
            keras1_backend: keras1(self.keras1_backend),
            batch: self.batch,
            lane: self.lane,
            conv: self.conv.mode(),
            progress_every: self.progress_every,
            gmm_floor: self.gmm_floor.mode(),
            input_length: self.input_length,
        }
    }
}

impl BenchArgs {
    pub fn to_options(&self) -> BenchOptions {
        BenchOptions {
            model: self.model.clone(),
            shape: match self.shape {
                BenchShapeArg::Deepsea => BenchShape::Deepsea,
                BenchShapeArg::Chrombpnet => BenchShape::Chrombpnet,
                BenchShapeArg::LongTower => BenchShape::LongTower,
            },
            layer: self.layer.clone(),
            batch: self.batch.clone(),
            steps: self.steps,
            conv: self.conv.iter().map(|c| c.mode()).collect(),
            simd: self.simd.iter().map(|s| s.path()).collect(),
            save_model: self.save_model.clone(),
            output: self.output.clone(),
            reduce: reduce_of(self.reduce),
            input_length: self.input_length,
            per_layer: self.per_layer,
        }
    }
}

impl PlotArgs {
    pub fn to_options(&self) -> PlotOptions {
        PlotOptions {
            classes: self.classes.clone(),
            channels: self.channels.unwrap_or_default(),
            cut: self.cut,
            k: self.k,
            rows: self.rows.clone(),
            cols: self.cols.clone(),
            cluster: self.cluster,
            logos: self.logos,
            model: self.model.clone(),
            weights: self.weights.clone(),
            match_db: self.match_db.clone(),
            channels_file: self.channels_file.clone(),
            ..PlotOptions::new(self.results.clone(), self.out.clone())
        }
    }
}

impl MotifsArgs {
    pub fn to_options(&self) -> MotifsOptions {
        MotifsOptions {
            model: self.model.clone(),
            channels_file: self.channels_file.clone(),
            results: self.results.clone(),
            top: self.top,
            out: self.out.clone(),
            keras1_backend: keras1(self.keras1_backend),
            match_db: self.match_db.clone(),
            weights: self.weights.clone(),
        }
    }
}

impl DiffArgs {
    pub fn to_options(&self) -> DiffOptions {
        DiffOptions {
            results: self.results.clone(),
            class_a: self.class_a.clone(),
            class_b: self.class_b.clone(),
            top: self.top,
            channels_file: self.channels_file.clone(),
            match_db: self.match_db.clone(),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitArg {
    Exact,
    Center,
}

impl FitArg {
    pub fn to_fit(self) -> Fit {
        match self {
            FitArg::Exact => Fit::Exact,
            FitArg::Center => Fit::Center,
        }
    }
}

fn reduce_of(r: Option<ReduceArg>) -> Option<Reduce> {
    r.map(|r| match r {
        ReduceArg::Sum => Reduce::Sum,
        ReduceArg::Mean => Reduce::Mean,
        ReduceArg::Max => Reduce::Max,
    })
}

#[derive(Args, Debug, Clone)]
pub struct CalibrateArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// H is the input of this layer (as in `run`).
    #[arg(long, allow_negative_numbers = true)]
    pub layer: String,
    #[arg(long)]
    pub output: Option<String>,
    #[arg(long, value_enum)]
    pub reduce: Option<ReduceArg>,
    /// Real sequences (FASTA, plain or gzip), as long as the model's input.
    #[arg(long)]
    pub fasta: PathBuf,
    /// The letters of the model's input channels, in channel order.
    #[arg(long, default_value = Alphabet::DEFAULT)]
    pub alphabet: String,
    /// Sequences of another length: an error (exact) or cut/padded around their centre.
    #[arg(long, value_enum, default_value = "exact")]
    pub fit: FitArg,
    /// Sequences sampled (seeded by --seed) for the real feature maps.
    #[arg(long, default_value_t = CalibrateOptions::DEFAULT_SAMPLE, allow_negative_numbers = true)]
    pub sample: usize,
    /// Classes ascended (default: the first 4).
    #[arg(long)]
    pub classes: Option<String>,
    /// The grid of λ.
    #[arg(long, default_value = CalibrateOptions::DEFAULT_LAMBDAS)]
    pub lambdas: String,
    #[arg(long, default_value_t = CalibrateOptions::DEFAULT_RESTARTS, allow_negative_numbers = true)]
    pub restarts: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_LR, allow_negative_numbers = true)]
    pub lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_START, allow_negative_numbers = true)]
    pub decay_start: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_ALPHA, allow_negative_numbers = true)]
    pub decay_alpha: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_MIN_LR, allow_negative_numbers = true)]
    pub min_lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_PATIENCE, allow_negative_numbers = true)]
    pub patience: usize,
    #[arg(long, default_value_t = CalibrateOptions::DEFAULT_MAX_STEPS, allow_negative_numbers = true)]
    pub max_steps: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_SEED, allow_negative_numbers = true)]
    pub seed: u64,
    #[arg(long, default_value_t = CalibrateOptions::DEFAULT_BATCH, allow_negative_numbers = true)]
    pub batch: usize,
    #[arg(long, allow_negative_numbers = true)]
    pub lane: Option<usize>,
    #[arg(long, value_enum)]
    pub keras1_backend: Option<Backend>,
    #[arg(long)]
    pub quiet: bool,
    /// Seconds between progress lines when the log is not a terminal.
    #[arg(long, default_value_t = RunConfig::DEFAULT_PROGRESS_EVERY)]
    pub progress_every: f64,
    /// The input length of a model saved without one.
    #[arg(long)]
    pub input_length: Option<usize>,
}

impl CalibrateArgs {
    pub fn to_options(&self) -> deepresolve_mpi::Result<CalibrateOptions> {
        Ok(CalibrateOptions {
            model: self.model.clone(),
            layer: self.layer.clone(),
            output: self.output.clone(),
            reduce: reduce_of(self.reduce),
            fasta: self.fasta.clone(),
            alphabet: self.alphabet.clone(),
            fit: self.fit.to_fit(),
            sample: self.sample,
            classes: self.classes.clone(),
            lambdas: parse_lambdas(&self.lambdas)?,
            restarts: self.restarts,
            params: AscentParams::new()
                .lr(self.lr)
                .decay_start(self.decay_start)
                .decay_alpha(self.decay_alpha)
                .min_lr(self.min_lr)
                .patience(self.patience)
                .max_steps(self.max_steps)
                .seed(self.seed),
            batch: self.batch,
            lane: self.lane,
            keras1_backend: keras1(self.keras1_backend),
            quiet: self.quiet,
            progress_every: self.progress_every,
            input_length: self.input_length,
        })
    }
}
#[derive(Args, Debug, Clone)]
pub struct ChannelsArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// H is the input of this layer (as in `run`); its channels become motifs.
    #[arg(long, allow_negative_numbers = true)]
    pub layer: String,
    /// Sequences whose best windows start the ascents (FASTA, plain or gzip).
    #[arg(long)]
    pub fasta: PathBuf,
    /// Results file (HDF5).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = Alphabet::DEFAULT)]
    pub alphabet: String,
    #[arg(long, value_enum, default_value = "exact")]
    pub fit: FitArg,
    /// Initial windows per channel: the top windows of the sequences by its activation.
    #[arg(long, default_value_t = ChannelsOptions::DEFAULT_INITS, allow_negative_numbers = true)]
    pub inits: usize,
    /// Also write one motif per channel (its best init), MEME minimal format.
    #[arg(long)]
    pub meme: Option<PathBuf>,
    /// With --meme: every init, named ch<k>_init<i>.
    #[arg(long)]
    pub all_inits: bool,
    /// Name each channel's best known motif in this MEME database (built-in TOMTOM).
    #[arg(long = "match")]
    pub match_db: Option<PathBuf>,
    /// PWM thresholding τ: window values below τ × the window's maximum are dropped.
    #[arg(long, default_value_t = ChannelsOptions::DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// L2 coefficient λ on the window.
    #[arg(long = "lambda", default_value_t = ChannelsOptions::DEFAULT_LAMBDA, allow_negative_numbers = true)]
    pub lambda: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_LR, allow_negative_numbers = true)]
    pub lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_START, allow_negative_numbers = true)]
    pub decay_start: usize,
    #[arg(long, default_value_t = AscentParams::DEFAULT_DECAY_ALPHA, allow_negative_numbers = true)]
    pub decay_alpha: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_MIN_LR, allow_negative_numbers = true)]
    pub min_lr: f32,
    #[arg(long, default_value_t = AscentParams::DEFAULT_PATIENCE, allow_negative_numbers = true)]
    pub patience: usize,
    #[arg(long, default_value_t = ChannelsOptions::DEFAULT_MAX_STEPS, allow_negative_numbers = true)]
    pub max_steps: usize,
    #[arg(long, default_value_t = ChannelsOptions::DEFAULT_BATCH, allow_negative_numbers = true)]
    pub batch: usize,
    #[arg(long, allow_negative_numbers = true)]
    pub lane: Option<usize>,
    /// Finish an interrupted job in the same file.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long, value_enum)]
    pub keras1_backend: Option<Backend>,
    #[arg(long)]
    pub quiet: bool,
    #[arg(long, default_value_t = RunConfig::DEFAULT_PROGRESS_EVERY)]
    pub progress_every: f64,
    /// The input length of a model saved without one.
    #[arg(long)]
    pub input_length: Option<usize>,
}

impl ChannelsArgs {
    pub fn to_options(&self) -> deepresolve_mpi::Result<ChannelsOptions> {
        Ok(ChannelsOptions {
            model: self.model.clone(),
            layer: self.layer.clone(),
            fasta: self.fasta.clone(),
            out: self.out.clone(),
            alphabet: self.alphabet.clone(),
            fit: self.fit.to_fit(),
            inits: self.inits,
            params: AscentParams::new()
                .lambda(self.lambda)
                .lr(self.lr)
                .decay_start(self.decay_start)
                .decay_alpha(self.decay_alpha)
                .min_lr(self.min_lr)
                .patience(self.patience)
                .max_steps(self.max_steps),
            threshold: self.threshold,
            meme: self.meme.clone(),
            match_db: self.match_db.clone(),
            all_inits: self.all_inits,
            batch: self.batch,
            lane: self.lane,
            resume: self.resume,
            overwrite: self.overwrite,
            keras1_backend: keras1(self.keras1_backend),
            quiet: self.quiet,
            progress_every: self.progress_every,
            input_length: self.input_length,
        })
    }
}
