//! The file lists of a torrent: interned directories, one record per file, the totals.
//!
//! Owns: adding a file the way libtorrent's `file_storage::add_file_borrow` does. Must never:
//! keep full path strings per file (a deep tree would cost gigabytes).
//!
//! File lists, built only where libtorrent's result depends on them.
//!
//! Paths are stored as (directory id, leaf name) with directories interned once as
//! (parent id, component): a v2 file tree can put many files under a deep directory, and full
//! path strings per file would turn a few MB of input into gigabytes. Components are sanitised
//! (so at most about 250 bytes each) and never empty.

use super::bencode::List;
use super::path::{sanitize_append, Element};
use super::{TorrentError, BLOCK_SIZE, MAX_FILENAME, MAX_FILE_BLOCKS, MAX_FILE_SIZE};
use std::collections::HashMap;

/// "No directory": a file at the top (single-file torrents, v1 pad files without a path).
pub(super) const NO_DIR: u32 = u32::MAX;

/// Interned directories shared by the v1 and v2 file lists of a torrent, so equal paths have
/// equal ids.
#[derive(Debug, Default)]
pub(super) struct Dirs {
    pub(super) entries: Vec<(u32, Vec<u8>)>,
    pub(super) ids: HashMap<(u32, Vec<u8>), u32>,
}

impl Dirs {
    /// The id of `comp` inside `parent` (`comp` must be non-empty and sanitised).
    pub(super) fn intern(&mut self, parent: u32, comp: &[u8]) -> u32 {
        let key = (parent, comp.to_vec());
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        // ids stay below NO_DIR: a torrent holds far fewer than 4 billion directories
        let id = u32::try_from(self.entries.len()).unwrap_or(NO_DIR - 1);
        self.entries.push(key.clone());
        self.ids.insert(key, id);
        id
    }
    pub(super) fn get(&self, id: u32) -> Option<&(u32, Vec<u8>)> {
        self.entries.get(id as usize)
    }
}

#[derive(Debug, Clone)]
pub(super) struct FileRec {
    /// Directory holding the file, or `NO_DIR`.
    pub(super) dir: u32,
    /// Sanitised last path component (empty only for an unusable single-file name).
    pub(super) leaf: Vec<u8>,
    pub(super) size: i64,
    pub(super) offset: i64,
    pub(super) pad: bool,
    /// v2 merkle root.
    pub(super) root: Option<[u8; 32]>,
}

#[derive(Debug, Default)]
pub(super) struct FileList {
    pub(super) files: Vec<FileRec>,
    pub(super) total: i64,
    /// Whether the torrent's name as libtorrent's file_storage derives it (the first path
    /// component of the first file) is empty; such a torrent has no usable name.
    pub(super) name_empty: bool,
}

pub(super) const ATTR_PAD: u8 = 1;
pub(super) const ATTR_SYMLINK: u8 = 2;

pub(super) fn attributes(attr: Option<&[u8]>) -> u8 {
    let mut f = 0;
    for &c in attr.unwrap_or_default() {
        match c {
            b'p' => f |= ATTR_PAD,
            b'l' => f |= ATTR_SYMLINK,
            _ => {}
        }
    }
    f
}

/// libtorrent's size checks on one file's `length`.
pub(super) fn check_file_size(size: i64) -> Result<(), TorrentError> {
    if size < 0 || size / BLOCK_SIZE >= MAX_FILE_BLOCKS || size > MAX_FILE_SIZE {
        return Err(TorrentError::InvalidLength);
    }
    Ok(())
}

/// One sanitised path component; empty when libtorrent would drop it (only an
/// `Element::Optional` one can be).
pub(super) fn component(element: &[u8], kind: Element) -> Vec<u8> {
    let mut c = Vec::new();
    sanitize_append(&mut c, element, kind);
    c
}

pub(super) fn has_pad_marker(comp: &[u8]) -> bool {
    memchr::memmem::find(comp, b"_____padding_file_").is_some()
}

impl FileList {
    /// As `file_storage::add_file_borrow`: size limits, the name, and for v2 files (those with
    /// a root) the pad file that aligns each file to a piece boundary.
    pub(super) fn add(
        &mut self,
        dirs: &mut Dirs,
        mut rec: FileRec,
        piece_length: i64,
    ) -> Result<(), TorrentError> {
        if rec.size > MAX_FILE_SIZE {
            return Err(TorrentError::FileTooLarge);
        }
        if MAX_FILE_SIZE - self.total < rec.size {
            return Err(TorrentError::InvalidLength);
        }
        if rec.leaf.len() >= MAX_FILENAME {
            return Err(TorrentError::FilenameTooLong);
        }
        if self.files.is_empty() {
            // interned components are never empty, so only a top-level leaf can be
            self.name_empty = rec.dir == NO_DIR && rec.leaf.is_empty();
        }
        if rec.root.is_some() && self.total % piece_length != 0 {
            let pad = piece_length - self.total % piece_length;
            if self.total > MAX_FILE_SIZE - pad - rec.size {
                return Err(TorrentError::InvalidLength);
            }
            self.files.push(FileRec {
                dir: dirs.intern(NO_DIR, b".pad"),
                leaf: pad.to_string().into_bytes(),
                size: pad,
                offset: self.total,
                pad: true,
                root: None,
            });
            self.total += pad;
        }
        rec.offset = self.total;
        self.total += rec.size;
        self.files.push(rec);
        Ok(())
    }
}

/// A symlink's `symlink path` (when the file has the `l` attribute): every element must be a
/// string (libtorrent's `path_length`). The target itself decides nothing: libtorrent 2.1.1
/// compares neither symlinks nor any other empty file between a hybrid's two file lists.
pub(super) fn check_symlink_path(flags: u8, d: Option<List<'_>>) -> Result<(), TorrentError> {
    let Some(list) = d.filter(|_| flags & ATTR_SYMLINK != 0) else {
        return Ok(());
    };
    if list.iter().any(|e| e.as_bytes().is_none()) {
        return Err(TorrentError::InvalidPathElement);
    }
    Ok(())
}

/// Where a v1 file goes: the info dict of a single-file torrent, or an entry of `files` under
/// the torrent's root directory.
#[derive(Clone, Copy)]
pub(super) enum V1Place {
    TopLevel,
    /// Root directory id, and whether the root name itself carries BitComet's pad marker.
    Under(u32, bool),
}
