//! libhdf5 1.10 follows a group's version-1 B-tree without checking where
//! its children point: one damaged child address (all ones, "undefined")
//! made `H5Dopen2` copy from nowhere in its metadata cache, a segfault
//! (found by tests/fuzz.rs, seed 50: a Keras weights file). So the same
//! scan that checks the global heaps finds every group node (`TREE`, type
//! 0) and refuses one whose siblings or children lie outside the file.
//!
//! A node is `TREE`, type (u8), level (u8), entries used (u16), the left
//! and right siblings (addresses), then keys and children alternating; a
//! group node's keys are heap offsets (lengths). Addresses and lengths are
//! 8 bytes here (the superblock's sizes; other files are not checked) and
//! relative to the superblock's place (the user block before it).

/// HDF5's signature, at the superblock.
const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
/// The undefined address.
const UNDEFINED: u64 = u64::MAX;
/// Node sizes beyond any libhdf5 writes (2 × the group K, at most 2^15):
/// four bytes that spell TREE in other data.
const MAX_ENTRIES: u16 = 1 << 15;
const MAX_LEVEL: u8 = 64;

/// Where the file's addresses start, when its superblock says addresses
/// and lengths are 8 bytes (None: a layout this check does not read).
pub(super) fn base(head: &[u8]) -> Option<u64> {
    // The superblock sits at 0, 512, 1024, 2048, …; `head` is the file's
    // first bytes, enough for the usual places.
    let mut at = 0usize;
    loop {
        let sb = head.get(at..at + 16)?;
        if sb[..8] == SIGNATURE[..] {
            let (offsets, lengths) = match sb[8] {
                0 | 1 => (*head.get(at + 13)?, *head.get(at + 14)?),
                _ => (sb[9], sb[10]),
            };
            return (offsets == 8 && lengths == 8).then_some(at as u64);
        }
        at = if at == 0 { 512 } else { at * 2 };
    }
}

/// Bytes of keys and children after the 24-byte header `head`, where it
/// is shaped like a group node (None: not one).
pub(super) fn body_len(head: &[u8]) -> Option<u64> {
    let head = head.get(..24)?;
    let entries = u16::from_le_bytes([head[6], head[7]]);
    (head[4] == 0 && head[5] <= MAX_LEVEL && entries <= MAX_ENTRIES)
        .then_some(16 * u64::from(entries) + 8)
}

/// Err naming the damage when the group node whose signature is at byte
/// `addr` of `node` (the file's bytes from there on, as many as were read)
/// points outside the file of `len` bytes with addresses from `base`.
pub(super) fn check_node(node: &[u8], addr: u64, base: u64, len: u64) -> Result<(), String> {
    if body_len(node).is_none() {
        return Ok(());
    }
    let entries = u16::from_le_bytes([node[6], node[7]]);
    let word = |i: usize| {
        node.get(i..i + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let inside = |a: u64| a.checked_add(base).is_some_and(|e| e < len);
    for (side, at) in [("left", 8), ("right", 16)] {
        let a = word(at).unwrap_or(UNDEFINED);
        if a != UNDEFINED && !inside(a) {
            return Err(format!(
                "the HDF5 group B-tree node at byte {addr} names a {side} sibling at {a}, past the end of the file"
            ));
        }
    }
    for i in 0..usize::from(entries) {
        // key i, then child i
        let Some(child) = word(24 + 16 * i + 8) else {
            break;
        };
        if !inside(child) {
            return Err(format!(
                "the HDF5 group B-tree node at byte {addr} names child {i} at {child}, past the end of the file"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(children: &[u64]) -> Vec<u8> {
        let mut n = b"TREE".to_vec();
        n.extend([0, 0]);
        n.extend((children.len() as u16).to_le_bytes());
        n.extend(UNDEFINED.to_le_bytes());
        n.extend(UNDEFINED.to_le_bytes());
        for (i, c) in children.iter().enumerate() {
            n.extend((8 * i as u64).to_le_bytes());
            n.extend(c.to_le_bytes());
        }
        n
    }

    #[test]
    fn a_child_outside_the_file_is_named_and_the_rest_pass() {
        assert!(check_node(&node(&[100, 200]), 40, 0, 1000).is_ok());
        let e = check_node(&node(&[100, UNDEFINED]), 40, 0, 1000).unwrap_err();
        assert!(e.contains("child 1") && e.contains("byte 40"), "{e}");
        assert!(check_node(&node(&[100, 999]), 40, 1, 1000).is_err());
        // Not a group node: other data that spells TREE.
        let mut other = node(&[UNDEFINED]);
        other[4] = 7;
        assert!(check_node(&other, 40, 0, 1000).is_ok());
    }

    #[test]
    fn the_base_is_the_superblock_with_eight_byte_addresses() {
        let mut f = vec![0u8; 600];
        f[512..520].copy_from_slice(SIGNATURE);
        f[512 + 13] = 8;
        f[512 + 14] = 8;
        assert_eq!(base(&f), Some(512));
        f[512 + 13] = 4;
        assert_eq!(base(&f), None);
        f[..8].copy_from_slice(SIGNATURE);
        f[8] = 2;
        f[9] = 8;
        f[10] = 8;
        assert_eq!(base(&f), Some(0));
    }
}
