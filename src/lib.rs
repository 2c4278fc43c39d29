//! deepresolve-mpi: DeepResolve feature-map ascent and analysis.
//! Data flows one way: model file → network → ascent → gather → analysis → results file.
pub mod error;
pub mod model;
pub use error::{Error, Result};
