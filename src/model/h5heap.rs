//! libhdf5 trusts the global heap that holds variable-length strings: one
//! changed byte in an object's size makes `H5HG_read` copy past its buffer
//! (a segfault) or walk the collection forever. So before the first
//! variable-length string is read from a file, every global heap collection
//! in it is walked here, and a damaged one is an error naming the byte.
//!
//! A collection is `GCOL`, version 1, three reserved bytes and its size (u64),
//! then objects: index (u16), reference count (u16), four reserved bytes,
//! size (u64) and the data padded to 8 bytes. Index 0 is the free space,
//! whose size is the rest of the collection; fewer than 16 bytes may remain
//! unused at the end.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The smallest collection libhdf5 writes.
const MIN_COLLECTION: u64 = 4096;
/// Largest collection believed to be one (libhdf5 grows them for one big
/// object; a string this long is not ours to read anyway).
const MAX_COLLECTION: u64 = 1 << 32;

type Key = (PathBuf, u64, Option<std::time::SystemTime>);
/// Every global heap collection of a file: address → its objects.
type Heaps = Arc<HashMap<u64, Objects>>;
static CHECKED: Mutex<Option<HashMap<Key, Result<Heaps, String>>>> = Mutex::new(None);

/// Ok when every global heap collection of the file at `path` is whole
/// (checked once per file, size and modification time).
pub fn check_file(path: &Path) -> Result<(), String> {
    heaps(path).map(|_| ())
}

fn heaps(path: &Path) -> Result<Heaps, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let mut guard = CHECKED.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(r) = map.get(&key) {
        return r.clone();
    }
    let r = scan(path, meta.len()).map(Arc::new);
    map.insert(key, r.clone());
    r
}

/// Ok when the `count` variable-length string references stored at byte
/// `offset` of the file (a contiguous dataset's data) each name an object
/// the file's heaps hold, no longer than the string (see `h5heap_refs`).
pub fn check_stored_refs(path: &Path, what: &str, offset: u64, count: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let heaps = heaps(path)?;
    let n = count.min(super::h5heap_refs::MAX_ELEMENTS) as usize;
    let mut bytes = vec![0u8; n * 16];
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let read = f
        .seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut bytes));
    if read.is_err() {
        return Err(format!(
            "{}: {what}: its data at byte {offset} lies past the end of the file; the file cannot be read safely",
            path.display()
        ));
    }
    super::h5heap_refs::check_triples(&bytes, n, &heaps).map_err(|why| {
        format!(
            "{}: {what} at byte {offset} is damaged: {why}; the file cannot be read safely",
            path.display()
        )
    })
}

/// Find every `GCOL` signature and check the collection it starts.
fn scan(path: &Path, len: u64) -> Result<HashMap<u64, Objects>, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Whole-file read in chunks; collections are small, so each found one is
    // re-read on its own.
    let mut at = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 22];
    let mut found = Vec::new();
    let mut trees = Vec::new();
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let mut window = std::mem::take(&mut carry);
        let start = at - window.len() as u64;
        window.extend_from_slice(&buf[..n]);
        for i in find_all(&window, b"GCOL") {
            found.push(start + i as u64);
        }
        for i in find_all(&window, b"TREE") {
            trees.push(start + i as u64);
        }
        at += n as u64;
        carry = window[window.len().saturating_sub(3)..].to_vec();
    }
    found.dedup();
    trees.dedup();
    check_trees(path, &trees, len)?;
    let mut heaps = HashMap::new();
    for addr in found {
        if let Some(objects) = check_collection(path, addr, len)? {
            heaps.insert(addr, objects);
        }
    }
    super::h5heap_refs::check(path, &heaps)?;
    Ok(heaps)
}

/// Every group B-tree node among the `TREE` signatures at `trees` points
/// inside the file (`h5btree`).
fn check_trees(path: &Path, trees: &[u64], len: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    if trees.is_empty() {
        return Ok(());
    }
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut head = vec![0u8; 4096.min(len as usize)];
    f.read_exact(&mut head)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(base) = super::h5btree::base(&head) else {
        return Ok(());
    };
    let mut node = Vec::new();
    for &addr in trees {
        // The header, then as many keys and children as it says (or as
        // the file holds).
        node.clear();
        f.seek(SeekFrom::Start(addr))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        (&mut f)
            .take(24)
            .read_to_end(&mut node)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(want) = super::h5btree::body_len(&node) else {
            continue;
        };
        (&mut f)
            .take(want)
            .read_to_end(&mut node)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let n = node.len();
        super::h5btree::check_node(&node[..n], addr, base, len)
            .map_err(|why| format!("{}: {why}; the file cannot be read safely", path.display()))?;
    }
    Ok(())
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// The objects (index → size) of the collection at `addr`, or None where the
/// signature does not start one.
fn check_collection(path: &Path, addr: u64, len: u64) -> Result<Option<Objects>, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = [0u8; 16];
    f.seek(SeekFrom::Start(addr)).map_err(|e| e.to_string())?;
    if f.read_exact(&mut head).is_err() {
        return Ok(None);
    }
    let size = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    // Not shaped like a collection: four bytes of data that spell GCOL, or a
    // header libhdf5 itself refuses (it checks version and size).
    if head[4] != 1 || head[5..8] != [0, 0, 0] || !(MIN_COLLECTION..=MAX_COLLECTION).contains(&size)
    {
        return Ok(None);
    }
    if addr.checked_add(size).is_none_or(|e| e > len) {
        return Ok(None);
    }
    let mut body = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(addr)).map_err(|e| e.to_string())?;
    f.read_exact(&mut body).map_err(|e| e.to_string())?;
    check_objects(&body).map(Some).map_err(|why| {
        format!(
            "{}: the HDF5 global heap at byte {addr} (which holds variable-length strings) is damaged: {why}; the file cannot be read safely",
            path.display()
        )
    })
}

/// A collection's objects: index → size in bytes.
pub(super) type Objects = HashMap<u16, u64>;

/// Walk the objects of one collection (`body` starts at its signature).
fn check_objects(body: &[u8]) -> Result<Objects, String> {
    let end = body.len();
    let max_index = end / 16;
    let mut seen = Objects::new();
    let mut p = 16usize;
    while end - p >= 16 {
        let h = &body[p..p + 16];
        let index = u16::from_le_bytes([h[0], h[1]]) as usize;
        let size = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
        if index == 0 {
            // The free space: the rest of the collection, header included.
            if size != (end - p) as u64 {
                return Err(format!(
                    "free space at byte {p} of the collection declares {size} bytes, but {} remain",
                    end - p
                ));
            }
            return Ok(seen);
        }
        if index > max_index || seen.insert(index as u16, size).is_some() {
            return Err(format!("object at byte {p} has index {index}"));
        }
        let room = (end - p - 16) as u64;
        let padded = size.checked_add(7).map(|s| s / 8 * 8);
        match padded {
            Some(s) if s <= room => p += 16 + s as usize,
            _ => {
                return Err(format!(
                    "object {index} at byte {p} declares {size} bytes, but the collection has {room} left"
                ))
            }
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(objects: &[&[u8]]) -> Vec<u8> {
        let mut b = b"GCOL\x01\0\0\0".to_vec();
        b.extend_from_slice(&4096u64.to_le_bytes());
        for (i, o) in objects.iter().enumerate() {
            b.extend_from_slice(&(i as u16 + 1).to_le_bytes());
            b.extend_from_slice(&[0; 6]);
            b.extend_from_slice(&(o.len() as u64).to_le_bytes());
            b.extend_from_slice(o);
            b.resize(b.len().div_ceil(8) * 8, 0);
        }
        let rest = 4096 - b.len();
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&(rest as u64).to_le_bytes());
        b.resize(4096, 0);
        b
    }

    #[test]
    fn whole_collections_pass_and_damaged_sizes_or_indices_fail() {
        let c = collection(&[b"running", b"", b"classA"]);
        assert!(check_objects(&c).is_ok());
        // Object 1's size, every byte flipped in turn.
        for k in 24..32 {
            let mut d = c.clone();
            d[k] ^= 0x80;
            assert!(check_objects(&d).is_err(), "size byte {k}");
        }
        let mut d = c.clone();
        d[17] = 0x7f; // an index no 4096-byte collection can reach
        assert!(check_objects(&d).is_err());
        let mut d = c.clone();
        d[40] = 1; // object 2 takes object 1's index
        assert!(check_objects(&d).is_err());
    }
}
