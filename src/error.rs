//! Typed errors of the library. Every message names the file, layer, class or
//! option it is about, so a user reading one line of a batch log knows what to fix.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file as a whole cannot be used (missing, not HDF5, no config).
    #[error("model file {path}: {msg}")]
    Model { path: PathBuf, msg: String },

    /// One layer of the model cannot be used (unknown kind, wrong weight shape).
    #[error("model file {path}, layer {layer}: {msg}")]
    Layer {
        path: PathBuf,
        layer: String,
        msg: String,
    },

    /// A results file cannot be created, read or resumed.
    #[error("results file {path}: {msg}")]
    Results { path: PathBuf, msg: String },

    /// The results file is open (locked) in another process.
    #[error("{} is open in another process (a run still going? look for it with ps or squeue)", path.display())]
    FileBusy { path: PathBuf },

    /// A command-line value that does not fit the model or the method.
    #[error("{0}")]
    Input(String),

    /// A shape mismatch between a network and the data handed to it.
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// A message between ranks that is not what the sender should have sent.
    #[error("malformed message between ranks: {0}")]
    Message(String),

    /// A stop signal (SIGTERM, SIGINT, SIGUSR1) reached `rank`; the finished
    /// lanes are in the results file and `--resume` finishes the run.
    #[error("stopped by {signal} on rank {rank}: the restarts finished so far are in the results file; run the same command with --resume to finish the run")]
    Interrupted { signal: String, rank: i32 },

    /// The ascent objective became NaN or infinite.
    #[error("non-finite objective for class {class}, restart {restart}, at step {step}: {what}")]
    NonFinite {
        class: usize,
        restart: usize,
        step: usize,
        what: String,
    },

    /// An error of one model of a multi-model (`--models`) job, naming it.
    #[error("model {model}: {source}")]
    InModel { model: String, source: Box<Error> },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// `self`, naming `model` when the job has several (`multi`).
    pub fn in_model(self, model: &str, multi: bool) -> Self {
        if multi {
            Error::InModel {
                model: model.to_string(),
                source: Box::new(self),
            }
        } else {
            self
        }
    }
    pub fn model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn layer(
        path: impl Into<PathBuf>,
        layer: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Layer {
            path: path.into(),
            layer: layer.into(),
            msg: msg.into(),
        }
    }
    pub fn results(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Results {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
