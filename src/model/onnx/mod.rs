//! ONNX model files (`torch.onnx.export`, tf2onnx, ...) in, a [`ModelSpec`] out.
//!
//! Only the file is read here; the network runs in our engine. The protobuf is
//! decoded with `prost` into the message types of `onnx.rs`, which prost-build
//! generated once from the vendored `onnx.proto3` (see `gen/`). The graph is
//! then walked in its (topological) node order:
//! - every value is either a constant (initializers, `Constant` nodes and the
//!   int64 shape arithmetic exporters write, folded by `fold`) or a data
//!   tensor of the spec graph with its ONNX shape (batch axis left out);
//! - each node on data becomes one or two spec layers, or relabels a tensor
//!   (Unsqueeze, Squeeze, Reshape, Transpose, Flatten) when that only renames
//!   a layout; anything that would move data, or an op we do not know, is
//!   refused naming the node, its op type and the opset;
//! - the exact and tanh GELU decompositions are recognised as one activation.
//!
//! PyTorch's NCW layout: ONNX channel k is our channel k, position p our
//! position p, and a flatten of (N, C, W) is channel-major.
use super::spec::ModelSpec;
use crate::Result;
use std::path::Path;

#[allow(clippy::all, missing_docs, dead_code)]
mod proto {
    include!("onnx.rs");
}

mod attrs;
mod convert;
mod fold;
mod fold_position;
mod patterns;
mod tensor;
#[cfg(test)]
mod tests;

/// The ONNX op types a tensor computed from the model input may pass through
/// (sorted); docs/models.md's "ONNX models" list names exactly these.
pub fn ops_on_data() -> Vec<&'static str> {
    convert::ops_on_data()
}

/// Read an ONNX model file (weights stored inside it or as external data
/// files beside it).
pub fn load_onnx(path: &Path) -> Result<ModelSpec> {
    convert::load(path, None)
}

/// As [`load_onnx`]; `input_length` fixes a dynamic input length.
pub fn load_onnx_sized(path: &Path, input_length: Option<usize>) -> Result<ModelSpec> {
    convert::load(path, input_length)
}

/// Whether a file is to be read as ONNX: a `.onnx` name, or (for other names)
/// bytes that are not HDF5 or zip and decode as a ModelProto with a graph.
pub fn is_onnx(path: &Path, magic: &[u8]) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return true;
    }
    if magic.starts_with(b"\x89HDF") || magic.starts_with(b"PK") {
        return false;
    }
    // Field 1 (ir_version, varint) or 8 (opset_import) usually comes first.
    if !matches!(magic.first(), Some(0x08 | 0x12 | 0x1a | 0x3a | 0x42)) {
        return false;
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| convert::decode_model(&b).ok())
        .is_some_and(|m| m.graph.is_some())
}
