//! The results file of docs/SPEC.md, "The results file (HDF5)": read and written here and
//! nowhere else, with no analysis inside. [`layout`] names every dataset and
//! attribute; [`ResultsWriter`] creates, resumes and fills a file;
//! [`read_ensemble`] and [`FinishedRun`] read it back. The caller (rank 0 at
//! the end of `run`, or the `analyze` command) reads the ensemble, analyses it
//! and hands the analysis to the writer.
pub mod bad_values;
pub mod layout;
pub mod lock;
pub mod out_guard;
mod reader;
mod writer;

pub use layout::{FORMAT, FORMAT_VERSION};
pub use reader::{read_ensemble, FinishedRun};
pub use writer::{RecordedFloor, ResultsWriter, RunMeta};
