//! Duplicate file names, as libtorrent's `resolve_duplicate_filenames` finds them.
//!
//! Owns: the duplicate check and its bound. Must never: compare more than
//! `MAX_DUPLICATE_FILENAMES` renames.

use super::files::{Dirs, FileList, NO_DIR};
use super::{TorrentError, MAX_DUPLICATE_FILENAMES};
use std::collections::HashMap;

pub(super) fn split_extension(leaf: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'.', leaf) {
        Some(d) => (
            leaf.get(..d).unwrap_or_default(),
            leaf.get(d..).unwrap_or_default(),
        ),
        None => (leaf, b""),
    }
}

/// `resolve_duplicate_filenames`: files colliding (ASCII case-insensitively) with a directory
/// or an earlier file are renamed `base.N.ext`; each taken candidate counts as a collision, and
/// too many collisions reject the torrent. Pad files of equal size may collide freely.
pub(super) fn check_duplicates(st: &FileList, dirs: &Dirs) -> Result<(), TorrentError> {
    if st.files.len() < 2 {
        return Ok(());
    }
    #[derive(Clone, Copy)]
    enum Entry {
        Dir,
        File(usize),
    }
    // Case-folded directory ids (parents come before children, so one pass suffices) and
    // which directories hold this list's files.
    let mut folded: Vec<u32> = Vec::with_capacity(dirs.entries.len());
    let mut folded_ids: HashMap<(u32, Vec<u8>), u32> = HashMap::new();
    for (parent, comp) in &dirs.entries {
        let p = folded.get(*parent as usize).copied().unwrap_or(NO_DIR);
        let key = (p, comp.to_ascii_lowercase());
        let next = u32::try_from(folded_ids.len()).unwrap_or(NO_DIR - 1);
        folded.push(*folded_ids.entry(key).or_insert(next));
    }
    let fold = |d: u32| folded.get(d as usize).copied().unwrap_or(NO_DIR);
    let mut used = vec![false; dirs.entries.len()];
    let mut seen: HashMap<(u32, Vec<u8>), Entry> = HashMap::with_capacity(st.files.len() * 2);
    for f in &st.files {
        let mut d = f.dir;
        // every directory below the root (name/a, name/a/b, …) blocks a file of that name
        while let Some((parent, comp)) = dirs.get(d) {
            if used.get(d as usize).copied().unwrap_or(true) {
                break;
            }
            if let Some(u) = used.get_mut(d as usize) {
                *u = true;
            }
            if *parent != NO_DIR {
                seen.entry((fold(*parent), comp.to_ascii_lowercase()))
                    .or_insert(Entry::Dir);
            }
            d = *parent;
        }
    }
    let mut collisions = 0usize;
    for (i, f) in st.files.iter().enumerate() {
        let dir = fold(f.dir);
        let key = (dir, f.leaf.to_ascii_lowercase());
        let other = match seen.get(&key) {
            None => {
                seen.insert(key, Entry::File(i));
                continue;
            }
            Some(&o) => o,
        };
        if let Entry::File(j) = other {
            if let Some(g) = st.files.get(j) {
                if f.pad && g.pad && f.size == g.size {
                    continue;
                }
            }
        }
        let (base, ext) = split_extension(&f.leaf);
        let mut cnt = 0u64;
        loop {
            cnt += 1;
            let mut name = base.to_ascii_lowercase();
            name.push(b'.');
            name.extend_from_slice(cnt.to_string().as_bytes());
            name.extend_from_slice(&ext.to_ascii_lowercase());
            if let std::collections::hash_map::Entry::Vacant(v) = seen.entry((dir, name)) {
                v.insert(Entry::File(i));
                break;
            }
            collisions += 1;
            if collisions > MAX_DUPLICATE_FILENAMES {
                return Err(TorrentError::TooManyDuplicateFilenames);
            }
        }
    }
    Ok(())
}
