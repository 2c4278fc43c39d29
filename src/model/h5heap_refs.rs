//! The references into the global heap that attributes of variable-length
//! strings hold, checked against the collections `h5heap` walked.
//!
//! Each such string is stored in the attribute as (length u32, collection
//! address u64, object index u32). libhdf5 1.10's `H5HG_read` indexes the
//! collection's object table with that index unchecked and copies the
//! object's size into a buffer of the stored length, so one changed byte of
//! the index is a segfault (found by tests/fuzz.rs: `inspect` of a native
//! model file with an attribute's index 0x22 made 0x40022). libhdf5 gives no
//! way to read the stored triple, so the attribute messages are found in the
//! file's bytes: an object header message of type 0x000C whose body is a
//! well-formed attribute (version 1–3, a NUL-terminated printable name, a
//! variable-length string type of 16 bytes per element, a scalar or simple
//! dataspace). A reference with a length must name a collection found
//! there, an object it holds, and an object no longer than the length.
use super::h5heap::Objects;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A message body is at most 64 KiB (its size is a u16): windows overlap by
/// more, so every message lies whole in one.
const OVERLAP: usize = 70 << 10;
/// Elements checked per attribute (ours hold one; Keras's name lists a few hundred).
pub(super) const MAX_ELEMENTS: u64 = 1 << 16;

pub(super) fn check(path: &Path, heaps: &HashMap<u64, Objects>) -> Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut window: Vec<u8> = Vec::new();
    let mut start = 0u64; // file offset of window[0]
    let mut done = 0u64; // message starts below this were checked
    let mut buf = vec![0u8; 1 << 22];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        let last = n == 0;
        window.extend_from_slice(&buf[..n]);
        // Positions whose message may run past the window wait for the next one.
        let upto = if last {
            window.len()
        } else {
            window.len().saturating_sub(OVERLAP)
        };
        let from = (done - start) as usize;
        for p in from..upto {
            if let Some(a) = attribute_at(&window, p) {
                check_refs(&window, &a, heaps).map_err(|why| {
                    format!(
                        "{}: the attribute `{}` at byte {} is damaged: {why}; the file cannot be read safely",
                        path.display(),
                        a.name,
                        start + p as u64
                    )
                })?;
            }
        }
        done = start + upto as u64;
        if last {
            return Ok(());
        }
        let keep = window.len() - upto;
        window.drain(..upto);
        start += upto as u64;
        debug_assert_eq!(window.len(), keep);
    }
}

/// An attribute of variable-length strings: its name, where its data starts
/// and how many elements it holds.
struct Attribute {
    name: String,
    data: usize,
    count: u64,
}

fn u16_at(b: &[u8], p: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(p..p + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], p: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(p..p + 8)?.try_into().ok()?))
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The attribute message whose body starts at `p`, if one does and it holds
/// variable-length strings.
fn attribute_at(b: &[u8], p: usize) -> Option<Attribute> {
    let version = *b.get(p)?;
    if !(1..=3).contains(&version) || *b.get(p + 1)? != 0 {
        return None;
    }
    // Behind it, the message header: type 0x000C (object header v1: u16 type,
    // u16 size, flags, 3 reserved) or 0x0C (v2: u8 type, u16 size, flags,
    // optional u16 creation order).
    let typed = (p >= 8 && b[p - 8] == 0x0C && b[p - 7] == 0)
        || (p >= 4 && b[p - 4] == 0x0C)
        || (p >= 6 && b[p - 6] == 0x0C);
    if !typed {
        return None;
    }
    let (ns, dts, dss) = (u16_at(b, p + 2)?, u16_at(b, p + 4)?, u16_at(b, p + 6)?);
    if ns < 2 || dts < 8 || dss < 4 {
        return None;
    }
    let name_at = match version {
        3 => {
            if *b.get(p + 8)? > 1 {
                return None; // character set: ASCII or UTF-8
            }
            p + 9
        }
        _ => p + 8,
    };
    let name = b.get(name_at..name_at + ns)?;
    if name[ns - 1] != 0 || !name[..ns - 1].iter().all(|c| (0x20..0x7f).contains(c)) {
        return None;
    }
    let padded = |n: usize| if version == 1 { pad8(n) } else { n };
    let dt = name_at + padded(ns);
    let ds = dt + padded(dts);
    let data = ds + padded(dss);
    // Datatype: class 9 (variable-length), version 1–4, type 1 (string),
    // 16 bytes per element (u32 length, 8-byte address, u32 index).
    let (class, tver) = (b.get(dt)? & 0x0F, b.get(dt)? >> 4);
    if class != 9 || !(1..=4).contains(&tver) || b.get(dt + 1)? & 0x0F != 1 {
        return None;
    }
    if u32_at(b, dt + 4)? != 16 {
        return None;
    }
    let count = elements(b, ds, dss)?;
    Some(Attribute {
        name: String::from_utf8_lossy(&name[..ns - 1]).into_owned(),
        data,
        count,
    })
}

/// Elements of the dataspace message at `ds` (8-byte sizes).
fn elements(b: &[u8], ds: usize, dss: usize) -> Option<u64> {
    let (version, rank, flags) = (*b.get(ds)?, *b.get(ds + 1)? as usize, *b.get(ds + 2)?);
    let dims_at = match version {
        1 => ds + 8,
        2 => match *b.get(ds + 3)? {
            0 => return Some(1),
            1 => ds + 4,
            2 => return Some(0),
            _ => return None,
        },
        _ => return None,
    };
    if rank > 32 || flags & !1 != 0 {
        return None;
    }
    let len = dims_at - ds + rank * 8 * (1 + (flags & 1) as usize);
    if len > dss {
        return None;
    }
    (0..rank).try_fold(1u64, |n, d| n.checked_mul(u64_at(b, dims_at + d * 8)?))
}

fn check_refs(b: &[u8], a: &Attribute, heaps: &HashMap<u64, Objects>) -> Result<(), String> {
    let n = a.count.min(MAX_ELEMENTS) as usize;
    match b.get(a.data..a.data + n * 16) {
        Some(data) => check_triples(data, n, heaps),
        // The data is not all here: libhdf5 refuses a short message.
        None => Ok(()),
    }
}

/// `n` stored references (length u32, address u64, index u32) from `b`.
pub(super) fn check_triples(
    b: &[u8],
    n: usize,
    heaps: &HashMap<u64, Objects>,
) -> Result<(), String> {
    for e in 0..n {
        let at = e * 16;
        let (Some(len), Some(addr), Some(index)) =
            (u32_at(b, at), u64_at(b, at + 4), u32_at(b, at + 12))
        else {
            return Ok(());
        };
        if len == 0 {
            continue;
        }
        let Some(objects) = heaps.get(&addr) else {
            return Err(format!(
                "string {e} points at byte {addr}, where no global heap collection starts"
            ));
        };
        let size = u16::try_from(index)
            .ok()
            .and_then(|i| objects.get(&i))
            .ok_or_else(|| {
                format!("string {e} names object {index} of the heap at byte {addr}, which it does not hold")
            })?;
        if *size > len as u64 {
            return Err(format!(
                "string {e} declares {len} bytes, but its heap object holds {size}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object header v1 message of type 0x000C holding a version-1
    /// attribute `kind` of one variable-length string (len, addr, index).
    fn message(len: u32, addr: u64, index: u32) -> Vec<u8> {
        let mut m = vec![0x0C, 0, 72, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[1, 0, 5, 0, 20, 0, 8, 0]);
        m.extend_from_slice(b"kind\0\0\0\0");
        m.extend_from_slice(&[0x19, 1, 1, 0, 16, 0, 0, 0, 0x10, 1, 0, 0]);
        m.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&addr.to_le_bytes());
        m.extend_from_slice(&index.to_le_bytes());
        m
    }

    fn heaps() -> HashMap<u64, Objects> {
        HashMap::from([(2048, Objects::from([(1, 4), (34, 4)]))])
    }

    fn run(m: &[u8]) -> Result<(), String> {
        let a = attribute_at(m, 8).expect("an attribute");
        assert_eq!((a.name.as_str(), a.data, a.count), ("kind", 56, 1));
        check_refs(m, &a, &heaps())
    }

    #[test]
    fn references_must_name_a_held_object_no_longer_than_the_string() {
        assert!(run(&message(4, 2048, 34)).is_ok());
        assert!(
            run(&message(0, 0, 0)).is_ok(),
            "an empty string reads no heap"
        );
        let e = run(&message(4, 2048, 0x40022)).unwrap_err();
        assert!(e.contains("object 262178"), "{e}");
        assert!(run(&message(4, 2048, 2)).is_err());
        assert!(run(&message(4, 4096, 34)).is_err());
        assert!(run(&message(3, 2048, 34)).is_err());
        // Not an attribute message: nothing is checked.
        let mut m = message(4, 2048, 0x40022);
        m[0] = 0x0D;
        assert!(attribute_at(&m, 8).is_none());
    }
}
