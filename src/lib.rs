//! deepresolve-mpi: DeepResolve feature-map ascent and analysis.
//! Data flows one way: model file → network → ascent → gather → analysis → results file.

// Links the system OpenBLAS that cblas-sys calls.
extern crate openblas_src;

pub mod analysis;
pub mod ascent;
pub mod bench;
pub mod inspect;
pub mod classes;
pub mod diff;
pub mod motifs;
pub mod plot;
pub mod cli;
pub mod distributed;
pub mod job;
pub mod progress;
pub mod error;
pub mod model;
pub mod network;
pub mod results;
pub use error::{Error, Result};
