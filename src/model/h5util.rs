//! Small readers for HDF5 attributes and datasets as h5py and Keras write them
//! (strings may be variable-length UTF-8/ASCII or fixed-length).
use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
use hdf5::Location;

pub fn str_attr(loc: &Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<VarLenAscii>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<FixedAscii<65536>>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<FixedUnicode<65536>>() {
        return Some(s.as_str().to_string());
    }
    None
}

pub fn int_attr(loc: &Location, name: &str) -> Option<i64> {
    loc.attr(name).ok()?.read_scalar::<i64>().ok()
}

pub fn float_attr(loc: &Location, name: &str) -> Option<f64> {
    loc.attr(name).ok()?.read_scalar::<f64>().ok()
}

pub fn int_array_attr(loc: &Location, name: &str) -> Option<Vec<i64>> {
    loc.attr(name).ok()?.read_raw::<i64>().ok()
}

/// Strings of a 1-D dataset, whichever string type it was written with.
pub fn string_dataset(ds: &hdf5::Dataset) -> Option<Vec<String>> {
    if let Ok(v) = ds.read_raw::<VarLenUnicode>() {
        return Some(v.iter().map(|s| s.as_str().to_string()).collect());
    }
    if let Ok(v) = ds.read_raw::<VarLenAscii>() {
        return Some(v.iter().map(|s| s.as_str().to_string()).collect());
    }
    None
}
