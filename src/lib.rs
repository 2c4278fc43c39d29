//! deepresolve-mpi: DeepResolve feature-map ascent and analysis.
//! Data flows one way: model file → network → ascent → gather → analysis → results file.

// Links the system OpenBLAS that cblas-sys calls.
extern crate openblas_src;

pub mod analysis;
pub mod ascent;
pub mod bench;
pub mod calibrate;
pub mod channels;
pub mod classes;
pub mod clusters;
pub mod diff;
pub mod distributed;
pub mod error;
pub mod filters;
pub mod inspect;
pub mod job;
pub mod limits;
pub mod model;
pub mod motifs;
pub mod network;
pub mod numbers;
pub mod plot;
pub mod progress;
pub mod report;
pub mod results;
pub mod say;
pub mod sequences;
pub mod tomtom;
pub use error::{Error, Result};
