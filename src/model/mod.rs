//! Model files in, a framework-neutral [`ModelSpec`] out.
pub mod spec;
pub use spec::*;
