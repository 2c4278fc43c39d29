//! The one table of names in a results file (docs/SPEC.md, "The results file (HDF5)"):
//! every writer and reader goes through these constants, and the attributes
//! that make up a run's identity are listed once, in [`provenance`].
use super::RunMeta;
use std::path::Path;

pub const FORMAT: &str = "deepresolve-mpi";
pub const FORMAT_VERSION: i64 = 1;

pub const CLASSES: &str = "classes";
/// (C) int64: output unit of each analysed class.
pub const CLASSES_INDEX: &str = "classes/index";
/// (C) UTF-8 strings.
pub const CLASSES_NAMES: &str = "classes/names";

pub const ASCENT: &str = "ascent";
/// (C, T, K, W) f32: the best map of each restart.
pub const ASCENT_FIM: &str = "ascent/fim";
/// (C, T, K) f32: its mean over positions.
pub const ASCENT_FIV: &str = "ascent/fiv";
/// (C, T) f32: S_c of the best map.
pub const ASCENT_SCORE: &str = "ascent/score";
/// (C, T) i32: updates made.
pub const ASCENT_STEPS: &str = "ascent/steps";
/// (C, T) u8: 1 = stopped by patience.
pub const ASCENT_CONVERGED: &str = "ascent/converged";
/// (C, T) u8: 1 = the restart's data are in the file.
pub const ASCENT_DONE: &str = "ascent/done";

pub const ANALYSIS: &str = "analysis";
/// (C, T) f32
pub const ANALYSIS_WEIGHT: &str = "analysis/weight";
/// (C, K) f32
pub const ANALYSIS_IL: &str = "analysis/il";
/// (C, 3) f64
pub const ANALYSIS_GMM_BIC: &str = "analysis/gmm_bic";
/// (C) i32
pub const ANALYSIS_GMM_COMPONENTS: &str = "analysis/gmm_components";
/// (C, K) u8
pub const ANALYSIS_NONADDITIVE: &str = "analysis/nonadditive";
/// (C, K) f32
pub const ANALYSIS_OFIV: &str = "analysis/ofiv";
/// (C, K) i32
pub const ANALYSIS_RANK: &str = "analysis/rank";
/// (C, C) f32
pub const ANALYSIS_SIMILARITY: &str = "analysis/similarity";
/// (C − 1, 4) f64
pub const ANALYSIS_LINKAGE: &str = "analysis/linkage";
/// (C) i32
pub const ANALYSIS_CLUSTER_ORDER: &str = "analysis/cluster_order";
/// (C) f32: median over restarts of the ascent score.
pub const ANALYSIS_CLASS_SCORE: &str = "analysis/class_score";
/// (C) f32: class_score / the median class_score of the run.
pub const ANALYSIS_SCORE_RATIO: &str = "analysis/score_ratio";
/// (C) f32: mean pairwise Pearson correlation of the restarts' FIVs.
pub const ANALYSIS_RESTART_CORRELATION: &str = "analysis/restart_correlation";
/// (C) u8: 1 = the class was not learned (its score cannot be raised).
pub const ANALYSIS_NOT_LEARNED: &str = "analysis/not_learned";
/// (C, K) f32: fraction of bootstrap resamples of the restarts in which the
/// channel ranks in the top 3 by OFIV.
pub const ANALYSIS_TOP3_STABILITY: &str = "analysis/top3_stability";
/// (C) u8: 1 = every restart returned the same map.
pub const ANALYSIS_RESTARTS_COLLAPSED: &str = "analysis/restarts_collapsed";

/// Root attributes other than the provenance list.
pub const ATTR_FORMAT: &str = "format";
pub const ATTR_FORMAT_VERSION: &str = "format_version";
pub const ATTR_TOOL_VERSION: &str = "tool_version";
pub const ATTR_STATUS: &str = "status";
/// How many times the file was resumed.
pub const ATTR_RESUME: &str = "resume";
pub const ATTR_MODEL: &str = "model";
pub const ATTR_LAYER: &str = "layer";
pub const ATTR_LAYER_INDEX: &str = "layer_index";
/// The GMM's covariance floor mode (`fiv`, `relative` or `absolute`): the run's
/// `--gmm-floor`, written when the file is created, and the mode of
/// `/analysis`, written again with it. An analysed file without it was
/// analysed with `absolute`.
pub const ATTR_GMM_FLOOR: &str = "gmm_floor";
pub const GMM_FLOOR_BEFORE: &str = "absolute";
pub const STATUS_RUNNING: &str = "running";
pub const STATUS_COMPLETE: &str = "complete";

/// Identity attributes that files of earlier versions lack, with the value
/// those versions implied (`None`: the one output of a chain, whatever this
/// run names it); `--resume` of such a file compares against that.
pub const ADDED_LATER: &[(&str, Option<&str>)] = &[
    ("output", None),
    ("weights", Some("")),
    ("reduce", Some("")),
    ("init", Some("normal")),
    ("keep", Some("best")),
    ("conv_paths", Some("direct")),
    // Files before this attribute were made on the AVX2 kernels wherever the CPU had them.
    ("simd", Some("avx2")),
];

/// The value of one root attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    /// Written as f64; f32 options are stored as the decimal a user typed.
    Real(f64),
}

/// One root attribute of the provenance list.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub value: AttrValue,
    /// Changes results: `--resume` insists on the same value.
    pub identity: bool,
}

/// An f32 option as the f64 a user typed (0.1, not 0.10000000149).
pub fn typed_decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}

/// Every root attribute after `status`, in the order they are written; the
/// ones marked `identity` are those `--resume` compares, in this order.
pub fn provenance(meta: &RunMeta, out: &Path) -> Vec<Attr> {
    use AttrValue::{Int, Real, Str};
    let p = &meta.params;
    let attr = |name, value, identity| Attr {
        name,
        value,
        identity,
    };
    vec![
        attr(ATTR_MODEL, Str(meta.model.clone()), true),
        attr("weights", Str(meta.weights.clone()), true),
        attr(ATTR_LAYER, Str(meta.layer.clone()), true),
        attr(ATTR_LAYER_INDEX, Int(meta.layer_index as i64), true),
        attr("out", Str(out.display().to_string()), false),
        attr("classes", Str(meta.classes_arg.clone()), false),
        attr("restarts", Int(meta.restarts as i64), true),
        attr("lambda", Real(typed_decimal(p.lambda())), true),
        attr("lr", Real(typed_decimal(p.lr())), true),
        attr("decay_start", Int(p.decay_start() as i64), true),
        attr("decay_alpha", Real(typed_decimal(p.decay_alpha())), true),
        attr("min_lr", Real(typed_decimal(p.min_lr())), true),
        attr("patience", Int(p.patience() as i64), true),
        attr("max_steps", Int(p.max_steps() as i64), true),
        attr("seed", Int(p.seed() as i64), true),
        attr("init", Str(p.init().name().into()), true),
        attr("keep", Str(p.keep().name().into()), true),
        attr("class_names", Str(meta.class_names_file.clone()), false),
        attr("quiet", Int(meta.quiet as i64), false),
        attr(ATTR_RESUME, Int(0), false),
        attr("overwrite", Int(meta.overwrite as i64), false),
        attr("batch", Int(meta.batch as i64), true),
        attr("lane", Int(meta.lane as i64), true),
        attr("keras1_backend", Str(meta.keras1_backend.clone()), false),
        attr("output", Str(meta.output.clone()), true),
        attr("reduce", Str(meta.reduce.clone()), true),
        attr("conv", Str(meta.conv.clone()), false),
        attr("conv_paths", Str(meta.conv_paths.clone()), true),
        attr("simd", Str(meta.simd.clone()), true),
        attr("input_length", Int(meta.input_length as i64), false),
        attr("channels", Int(meta.k as i64), false),
        attr("positions", Int(meta.w as i64), false),
        attr(ATTR_GMM_FLOOR, Str(meta.gmm_floor.name().into()), false),
    ]
}
