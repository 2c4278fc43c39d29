//! Open any supported model file: the native layout, Keras HDF5, a `.keras` archive, or ONNX.
use super::spec::ModelSpec;
use crate::{Error, Result};
use std::path::Path;

pub use super::keras::Keras1Backend;

/// Load a model given as an architecture and a separate weights file
/// (`--model ARCH.json --weights WEIGHTS.h5`: Keras `to_json()` + `save_weights`),
/// or, with `weights = None`, a model file as [`load_model`] does.
pub fn load_model_with_weights(
    model: &Path,
    weights: Option<&Path>,
    keras1_backend: Option<Keras1Backend>,
) -> Result<ModelSpec> {
    load_model_sized(model, weights, keras1_backend, None)
}

/// As [`load_model_with_weights`], with `--input-length`: the length of a
/// model saved without one (Keras `Input(shape=(None, 4))`, an ONNX dynamic
/// length). A native file always has one.
pub fn load_model_sized(
    model: &Path,
    weights: Option<&Path>,
    keras1_backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> Result<ModelSpec> {
    if input_length == Some(0) {
        return Err(Error::Input("--input-length must be at least 1".into()));
    }
    let Some(weights) = weights else {
        return load_file(model, keras1_backend, input_length);
    };
    let spec = super::keras::load_keras_json_sized(model, weights, keras1_backend, input_length)?;
    check(model, spec)
}

pub fn load_model(path: &Path, keras1_backend: Option<Keras1Backend>) -> Result<ModelSpec> {
    load_file(path, keras1_backend, None)
}

fn load_file(
    path: &Path,
    keras1_backend: Option<Keras1Backend>,
    input_length: Option<usize>,
) -> Result<ModelSpec> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::model(path, format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(Error::model(path, "is a directory, not a model file"));
    }
    let mut magic = [0u8; 8];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::model(path, format!("cannot open: {e}")))?;
        let _ = f.read(&mut magic);
    }
    if magic.trim_ascii_start().starts_with(b"{") {
        return Err(Error::model(
            path,
            "is a Keras architecture (JSON) without weights; give its weights file too (--weights WEIGHTS.h5)",
        ));
    }
    let spec = if magic.starts_with(b"PK") {
        super::keras::load_keras_sized(path, keras1_backend, input_length)?
    } else if super::onnx::is_onnx(path, &magic) {
        super::onnx::load_onnx_sized(path, input_length)?
    } else {
        let file = hdf5::File::open(path)
            .map_err(|_| Error::model(path, "not an HDF5 file (nor a .keras archive)"))?;
        // Telling the formats apart reads string attributes, and a damaged
        // heap or reference would read as "no such attribute": say it first.
        super::h5heap::check_file(path).map_err(|why| {
            let own = format!("{}: ", path.display());
            Error::model(path, why.strip_prefix(&own).unwrap_or(&why).to_string())
        })?;
        if super::native::is_native(&file) {
            super::native::load_native(path, &file)?
        } else if file.attr("model_config").is_ok() {
            drop(file);
            super::keras::load_keras_sized(path, keras1_backend, input_length)?
        } else {
            return Err(Error::model(
                path,
                "HDF5 file is neither a deepresolve-mpi native model (root attribute format) nor a Keras model (root attribute model_config)",
            ));
        }
    };
    check(path, spec)
}

/// The checks every loaded model passes: layers, shapes, finite weights.
fn check(path: &Path, spec: ModelSpec) -> Result<ModelSpec> {
    if spec.layers.is_empty() {
        return Err(Error::model(path, "the model has no layers"));
    }
    spec.shapes()
        .map_err(|(i, msg)| Error::layer(path, spec.layers[i].name.clone(), msg))?;
    // Names go into results files as HDF5 strings, which cannot hold a NUL.
    let names = spec
        .layers
        .iter()
        .map(|l| ("layer", &l.name))
        .chain(spec.outputs.iter().map(|o| ("output", &o.name)))
        .chain(spec.class_names.iter().flatten().map(|n| ("class name", n)));
    for (what, name) in names {
        if name.contains('\0') {
            return Err(Error::model(
                path,
                format!("the {what} {name:?} holds a NUL byte; rename it in the model"),
            ));
        }
    }
    for l in &spec.layers {
        if let Some(what) = l.kind.non_finite_weight() {
            return Err(Error::layer(
                path,
                l.name.clone(),
                format!("{what} contains NaN or infinite values"),
            ));
        }
    }
    Ok(spec)
}
