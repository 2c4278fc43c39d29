//! Model files in, a framework-neutral [`ModelSpec`] out.
mod grouped_conv;
mod h5btree;
pub mod h5heap;
mod h5heap_refs;
pub mod h5util;
pub mod keras;
mod load;
pub mod native;
pub mod onnx;
pub mod spec;
pub use load::{load_model, load_model_sized, load_model_with_weights, Keras1Backend};
pub use spec::*;
