//! Constant tensors: initializers and folded values, as int64 or float32
//! arrays with their dimensions (row-major, as ONNX stores them).
use super::proto::TensorProto;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F(Vec<f32>),
    I(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub dims: Vec<usize>,
    pub data: Data,
}

/// The batch size in shape arithmetic (`Shape` of a data tensor), which is
/// not known when the file is read: a value no real dimension takes.
pub const BATCH: i64 = i64::MIN + 0x5eed;

impl Const {
    pub fn floats(dims: Vec<usize>, v: Vec<f32>) -> Const {
        Const {
            dims,
            data: Data::F(v),
        }
    }
    pub fn ints(dims: Vec<usize>, v: Vec<i64>) -> Const {
        Const {
            dims,
            data: Data::I(v),
        }
    }
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
        }
    }
    pub fn is_float(&self) -> bool {
        matches!(self.data, Data::F(_))
    }
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F(v) => v.clone(),
            Data::I(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
    /// The values as integers (floats must be whole numbers).
    pub fn to_i64(&self) -> Result<Vec<i64>, String> {
        match &self.data {
            Data::I(v) => Ok(v.clone()),
            Data::F(v) => v
                .iter()
                .map(|&x| {
                    if x.fract() == 0.0 && x.is_finite() {
                        Ok(x as i64)
                    } else {
                        Err(format!("expected integers, found {x}"))
                    }
                })
                .collect(),
        }
    }
    /// The one value of a one-element tensor.
    pub fn scalar(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.to_f32()[0])
    }
    /// The values at flat indices `idx`, as a tensor of `dims`.
    pub fn pick(&self, dims: Vec<usize>, idx: &[usize]) -> Const {
        let data = match &self.data {
            Data::F(v) => Data::F(idx.iter().map(|&i| v[i]).collect()),
            Data::I(v) => Data::I(idx.iter().map(|&i| v[i]).collect()),
        };
        Const { dims, data }
    }
}

/// The (cols × rows) transpose of a row-major (rows × cols) matrix, in
/// blocks: a column walk of a 2 GB kernel misses the cache on every value.
pub fn transposed(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const B: usize = 32;
    let mut t = vec![0f32; rows * cols];
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    t
}

pub fn numel(dims: &[usize]) -> usize {
    dims.iter().product()
}

pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let get = |d: &[usize], i: usize| {
        let off = n - d.len();
        if i < off {
            1
        } else {
            d[i - off]
        }
    };
    (0..n)
        .map(|i| {
            let (x, y) = (get(a, i), get(b, i));
            if x == y || y == 1 {
                Ok(x)
            } else if x == 1 {
                Ok(y)
            } else {
                Err(format!("shapes {a:?} and {b:?} do not broadcast"))
            }
        })
        .collect()
}

/// For each element of `out` (row-major), the flat index of the element of a
/// tensor of shape `dims` broadcast to it (`dims` must broadcast to `out`).
pub fn broadcast_index(out: &[usize], dims: &[usize]) -> Vec<usize> {
    let off = out.len() - dims.len();
    let src = strides(dims);
    let total = numel(out);
    let mut idx = Vec::with_capacity(total);
    let mut pos = vec![0usize; out.len()];
    for _ in 0..total {
        let mut s = 0;
        for (j, &d) in dims.iter().enumerate() {
            if d != 1 {
                s += pos[j + off] * src[j];
            }
        }
        idx.push(s);
        for ax in (0..out.len()).rev() {
            pos[ax] += 1;
            if pos[ax] < out[ax] {
                break;
            }
            pos[ax] = 0;
        }
    }
    idx
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // Subnormal: value = man · 2^-24.
            let v = man as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
    } else if exp == 31 {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

// TensorProto.DataType values.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const UINT32: i32 = 12;
const UINT64: i32 = 13;
const BFLOAT16: i32 = 16;

pub fn type_name(t: i32) -> String {
    super::proto::tensor_proto::DataType::try_from(t)
        .map(|d| d.as_str_name().to_string())
        .unwrap_or_else(|_| format!("data type {t}"))
}

/// A tensor's raw little-endian bytes: in the proto, or in an external file
/// (opened at the tensor's offset, `length` bytes).
enum Raw<'a> {
    Inline(&'a [u8]),
    External {
        file: std::fs::File,
        path: std::path::PathBuf,
        length: u64,
    },
}

/// External data is decoded a block at a time: a 2 GB weight then needs
/// its values in memory, not also its bytes.
const BLOCK_BYTES: usize = 1 << 22;

impl Raw<'_> {
    fn len(&self) -> u64 {
        match self {
            Raw::Inline(b) => b.len() as u64,
            Raw::External { length, .. } => *length,
        }
    }

    /// The `n` values of `size` bytes each (1, 2, 4 or 8), each decoded by `conv`.
    fn values<T>(self, n: usize, size: usize, conv: impl Fn(&[u8]) -> T) -> Result<Vec<T>, String> {
        match self {
            Raw::Inline(b) => Ok(b.chunks_exact(size).map(conv).collect()),
            Raw::External {
                mut file,
                path,
                length,
            } => {
                let mut out = Vec::with_capacity(n);
                let mut buf = vec![0u8; BLOCK_BYTES.min(length as usize)];
                let mut left = length as usize;
                while left > 0 {
                    let b = &mut buf[..left.min(BLOCK_BYTES)];
                    file.read_exact(b)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    out.extend(b.chunks_exact(size).map(&conv));
                    left -= b.len();
                }
                Ok(out)
            }
        }
    }
}

/// The bytes of an initializer stored as external data: `location`
/// relative to the model file's folder, optional `offset` and `length`.
fn external_bytes(t: &TensorProto, model_dir: &Path) -> Result<Raw<'static>, String> {
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    let loc = key("location").ok_or("external data without a location")?;
    let file = model_dir.join(&loc);
    let num = |k: &str| -> Result<Option<u64>, String> {
        key(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("external data {k} {v:?} is not a number"))
            })
            .transpose()
    };
    let (offset, length) = (num("offset")?.unwrap_or(0), num("length")?);
    let mut f = std::fs::File::open(&file).map_err(|e| {
        format!(
            "its external data file {} cannot be opened: {e}",
            file.display()
        )
    })?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let length = length.unwrap_or(size.saturating_sub(offset));
    if offset + length > size {
        return Err(format!(
            "its external data ({length} bytes at offset {offset}) lies past the end of {} ({size} bytes)",
            file.display()
        ));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok(Raw::External {
        file: f,
        path: file,
        length,
    })
}

/// Decode a TensorProto (raw, typed or external data).
pub fn from_proto(t: &TensorProto, model_dir: &Path) -> Result<Const, String> {
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<usize>, String>>()?;
    let n = numel(&dims);
    let external = t.data_location == super::proto::tensor_proto::DataLocation::External as i32;
    let mut raw: Option<Raw> = if external {
        Some(external_bytes(t, model_dir)?)
    } else if !t.raw_data.is_empty() || n == 0 {
        Some(Raw::Inline(&t.raw_data))
    } else {
        None
    };
    let has_raw = raw.is_some();
    // The raw bytes, when they hold n values of `size` bytes.
    let mut from_raw = |size: usize| -> Result<Raw, String> {
        let raw = raw.take().unwrap_or(Raw::Inline(&[]));
        if raw.len() != (n * size) as u64 {
            return Err(format!(
                "holds {} bytes, {} expected for {dims:?} {}",
                raw.len(),
                n * size,
                type_name(t.data_type)
            ));
        }
        Ok(raw)
    };
    let check = |len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(format!("holds {len} values, {n} expected for {dims:?}"))
        }
    };
    let data = match t.data_type {
        FLOAT => Data::F(if has_raw {
            from_raw(4)?.values(n, 4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))?
        } else {
            check(t.float_data.len())?;
            t.float_data.clone()
        }),
        DOUBLE => Data::F(if has_raw {
            from_raw(8)?.values(n, 8, |b| {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            })?
        } else {
            check(t.double_data.len())?;
            t.double_data.iter().map(|&x| x as f32).collect()
        }),
        FLOAT16 | BFLOAT16 => {
            let bits: Vec<u16> = if has_raw {
                from_raw(2)?.values(n, 2, |b| u16::from_le_bytes([b[0], b[1]]))?
            } else {
                check(t.int32_data.len())?;
                t.int32_data.iter().map(|&x| x as u16).collect()
            };
            Data::F(
                bits.into_iter()
                    .map(|h| {
                        if t.data_type == FLOAT16 {
                            f16_to_f32(h)
                        } else {
                            f32::from_bits((h as u32) << 16)
                        }
                    })
                    .collect(),
            )
        }
        INT64 => Data::I(if has_raw {
            from_raw(8)?.values(n, 8, |b| {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            })?
        } else {
            check(t.int64_data.len())?;
            t.int64_data.clone()
        }),
        INT32 | INT16 | INT8 | UINT8 | UINT16 | BOOL => Data::I(if has_raw {
            let size = match t.data_type {
                INT32 => 4,
                INT16 | UINT16 => 2,
                _ => 1,
            };
            from_raw(size)?.values(n, size, |b| match t.data_type {
                INT32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                INT16 => i16::from_le_bytes([b[0], b[1]]) as i64,
                UINT16 => u16::from_le_bytes([b[0], b[1]]) as i64,
                INT8 => b[0] as i8 as i64,
                _ => b[0] as i64,
            })?
        } else {
            check(t.int32_data.len())?;
            t.int32_data.iter().map(|&x| x as i64).collect()
        }),
        UINT32 | UINT64 => Data::I(if has_raw {
            let size = if t.data_type == UINT32 { 4 } else { 8 };
            from_raw(size)?.values(n, size, |b| {
                let mut w = [0u8; 8];
                w[..size].copy_from_slice(b);
                u64::from_le_bytes(w) as i64
            })?
        } else {
            check(t.uint64_data.len())?;
            t.uint64_data.iter().map(|&x| x as i64).collect()
        }),
        other => return Err(format!("{} tensors are not supported", type_name(other))),
    };
    Ok(Const { dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_transpose_moves_every_value() {
        for (rows, cols) in [(1, 1), (37, 70), (64, 32), (5, 100)] {
            let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transposed(&m, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], m[r * cols + c], "{rows}×{cols} [{r}, {c}]");
                }
            }
        }
    }

    #[test]
    fn broadcast_indices() {
        // (2, 1) against (2, 3): each row repeats.
        assert_eq!(broadcast_index(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
        // (3,) against (2, 3): the row repeats.
        assert_eq!(broadcast_index(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(
            broadcast_shape(&[1, 6, 1], &[6, 120]).unwrap(),
            vec![1, 6, 120]
        );
        assert!(broadcast_shape(&[2], &[3]).is_err());
    }

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }
}
