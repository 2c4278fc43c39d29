//! Small HDF5 readers shared by the model loaders, the results file and the
//! plots: strings stored every way h5py and Keras write them
//! (fixed or variable length, ASCII or UTF-8, scalar or 1-D), and float arrays.
use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::Container;

/// A dataset's values as f32 (any float or integer type HDF5 can convert) and its shape.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The most bytes one read may ask for, whatever a file declares.
pub const MAX_READ_BYTES: u64 = 1 << 36;

/// Refuse a dataset or attribute whose declared size the file cannot hold
/// before reading it: a damaged or hostile file may declare 2^40 elements in
/// a few hundred bytes, and reading it would abort in the allocator. Raw data
/// lies in the file; filtered (compressed) data is allowed 1000× the file.
pub fn check_declared(c: &Container, filtered: bool) -> Result<(), String> {
    let shape = c.shape();
    let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let esize = c.dtype().map(|t| t.size() as u64).unwrap_or(1).max(1);
    let declared = elems.and_then(|n| n.checked_mul(esize));
    let file = c.file().map(|f| f.size()).unwrap_or(0);
    let room = if filtered {
        file.saturating_mul(1000)
    } else {
        file
    }
    .saturating_add(1 << 20)
    .min(MAX_READ_BYTES);
    match declared {
        Some(b) if b <= room => Ok(()),
        _ => Err(format!(
            "declares shape {shape:?} of {esize}-byte values ({}), more than a file of {file} bytes can hold",
            declared.map_or_else(|| "more than 2^64 bytes".to_string(), |b| format!("{b} bytes"))
        )),
    }
}

fn check_dataset(ds: &hdf5::Dataset) -> Result<(), String> {
    check_declared(ds, !ds.filters().is_empty())
}

pub fn read_tensor(ds: &hdf5::Dataset) -> Result<Tensor, String> {
    check_dataset(ds)?;
    let shape = ds.shape();
    let data = ds
        .read_raw::<f32>()
        .map_err(|e| format!("cannot read as float32: {e}"))?;
    Ok(Tensor { shape, data })
}

/// hdf5's `as_str` assumes valid UTF-8, which a damaged file need not hold
/// (formatting such a `&str` panics): decode the bytes, replacing bad ones.
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn clean(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
        .trim_end_matches(' ')
        .to_string()
}

macro_rules! read_fixed {
    ($c:expr, $n:expr, $ty:ident, $($cap:literal),*) => {{
        $(
            if $n <= $cap {
                return $c
                    .read_raw::<$ty<$cap>>()
                    .map(|v| v.iter().map(|s| clean(s.as_bytes())).collect())
                    .map_err(|e| e.to_string());
            }
        )*
        Err(format!("fixed-length string of {} bytes is too long", $n))
    }};
}

/// Every string of a scalar or 1-D string attribute/dataset. An empty array of any
/// type (h5py writes an empty `weight_names` as float64) is an empty list.
pub fn read_strings(c: &Container) -> Result<Vec<String>, String> {
    if c.size() == 0 {
        return Ok(Vec::new());
    }
    check_declared(c, true)?;
    let dtype = c.dtype().map_err(|e| e.to_string())?;
    let desc = dtype.to_descriptor().map_err(|e| e.to_string())?;
    if matches!(
        desc,
        TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii
    ) {
        check_heap(c)?;
    }
    match desc {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()
            .map(|v| v.iter().map(|s| utf8(s.as_bytes())).collect())
            .map_err(|e| e.to_string()),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()
            .map(|v| v.iter().map(|s| utf8(s.as_bytes())).collect())
            .map_err(|e| e.to_string()),
        TypeDescriptor::FixedAscii(n) => read_fixed!(
            c, n, FixedAscii, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
            16777216
        ),
        TypeDescriptor::FixedUnicode(n) => read_fixed!(
            c,
            n,
            FixedUnicode,
            16,
            64,
            256,
            1024,
            4096,
            16384,
            65536,
            262144,
            1048576,
            4194304,
            16777216
        ),
        other => Err(format!("expected a string, found {other}")),
    }
}

/// Variable-length strings live in the file's global heap, which libhdf5
/// reads without checking: walk it first (see [`super::h5heap`]).
fn check_heap(c: &Container) -> Result<(), String> {
    // The object's own file name: `file()` would open one more file handle.
    let name = c.filename();
    super::h5heap::check_file(std::path::Path::new(&name))
}

/// One string attribute of an object.
pub fn string_attr(loc: &hdf5::Location, name: &str) -> Result<Option<String>, String> {
    Ok(strings_attr(loc, name)?.and_then(|v| v.into_iter().next()))
}

/// A string-list attribute (missing → None).
pub fn strings_attr(loc: &hdf5::Location, name: &str) -> Result<Option<Vec<String>>, String> {
    // Opened by name, not found by listing every attribute: listing decodes
    // each attribute's header, and one damaged header panics inside hdf5-metno.
    let Ok(a) = loc.attr(name) else {
        return Ok(None);
    };
    read_strings(&a).map(Some)
}

/// A string attribute, or None when it is missing or not a string.
pub fn str_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    string_attr(loc, name).ok().flatten()
}

/// A whole dataset of `T`, its declared size checked against the file first.
pub fn read_checked<T: hdf5::H5Type>(ds: &hdf5::Dataset) -> Result<Vec<T>, String> {
    check_dataset(ds)?;
    ds.read_raw::<T>().map_err(|e| e.to_string())
}

/// Strings of a 1-D dataset, whichever string type it was written with.
pub fn string_dataset(ds: &hdf5::Dataset) -> Option<Vec<String>> {
    read_string_dataset(ds).ok()
}

/// Every string of a string dataset. Variable-length strings are read only
/// after their references into the global heap are checked, where the data
/// is contiguous (ours and h5py's small datasets); a chunked or compact
/// dataset's references are left to libhdf5.
pub fn read_string_dataset(ds: &hdf5::Dataset) -> Result<Vec<String>, String> {
    let vlen = ds.dtype().and_then(|t| t.to_descriptor()).is_ok_and(|d| {
        matches!(
            d,
            TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii
        )
    });
    if vlen && ds.size() > 0 {
        check_declared(ds, true)?;
        if let Some(offset) = ds.offset() {
            let path = ds.filename();
            super::h5heap::check_stored_refs(
                std::path::Path::new(&path),
                "its data",
                offset,
                ds.size() as u64,
            )
            .map_err(|e| {
                e.strip_prefix(&format!("{path}: "))
                    .unwrap_or(&e)
                    .to_string()
            })?;
        }
    }
    read_strings(ds)
}

pub fn int_attr(loc: &hdf5::Location, name: &str) -> Option<i64> {
    loc.attr(name).ok()?.read_scalar::<i64>().ok()
}

pub fn float_attr(loc: &hdf5::Location, name: &str) -> Option<f64> {
    loc.attr(name).ok()?.read_scalar::<f64>().ok()
}

pub fn int_array_attr(loc: &hdf5::Location, name: &str) -> Option<Vec<i64>> {
    loc.attr(name).ok()?.read_raw::<i64>().ok()
}

/// `s` as an HDF5 string: an error naming the text when it holds a NUL byte
/// (a class name, a layer name), which HDF5 strings cannot store.
pub fn h5_string(s: &str) -> hdf5::Result<VarLenUnicode> {
    s.parse().map_err(|_| {
        hdf5::Error::from(format!(
            "the text {s:?} holds a NUL byte, which an HDF5 string cannot store"
        ))
    })
}
