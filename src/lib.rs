//! deepresolve-mpi: DeepResolve feature-map ascent and analysis.
//! Data flows one way: model file → network → ascent → gather → analysis → results file.

// Links the system OpenBLAS that cblas-sys calls.
extern crate openblas_src;

pub mod analysis;
pub mod error;
pub mod model;
pub mod network;
pub use error::{Error, Result};
