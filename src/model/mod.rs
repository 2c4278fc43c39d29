//! Model files in, a framework-neutral [`ModelSpec`] out.
pub mod h5util;
pub mod keras;
mod load;
pub mod native;
pub mod onnx;
pub mod spec;
pub use load::{load_model, Keras1Backend};
pub use spec::*;
