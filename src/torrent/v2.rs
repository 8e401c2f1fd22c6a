//! The v2 file tree, its agreement with the v1 list of a hybrid, and the piece layers.
//!
//! Owns: libtorrent's `extract_files2` and `parse_piece_layers` checks. Must never: recurse
//! deeper than `MAX_TREE_DEPTH` or hash a layer that does not match its root's size.

use super::bencode;
use super::bencode::Dict;
use super::bencode::Item;
use super::dict::{int64, Keys};
use super::files::{
    attributes, check_file_size, check_symlink_path, component, Dirs, FileList, FileRec, ATTR_PAD,
    ATTR_SYMLINK, NO_DIR,
};
use super::path::Element;
use super::{TorrentError, BLOCK_SIZE};
use sha1::Digest;
use sha2::Sha256;
use std::collections::HashMap;

/// One v2 file (`extract_single_file2`): the dict under a leaf's empty key.
pub(super) fn v2_file(
    d: Option<Dict<'_>>,
    dir: u32,
    leaf: Vec<u8>,
    st: &mut FileList,
    dirs: &mut Dirs,
    piece_length: i64,
) -> Result<(), TorrentError> {
    let d = d.ok_or(TorrentError::InvalidFileEntry)?;
    const NAMES: [&[u8]; 4] = [b"attr", b"length", b"symlink path", b"pieces root"];
    let k = Keys::collect(d, &NAMES);
    let flags = attributes(k.bytes(0));
    if flags & ATTR_PAD != 0 {
        return Err(TorrentError::V2PadFile);
    }
    let size = if flags & ATTR_SYMLINK != 0 {
        0
    } else {
        int64(k.int(1), -1)
    };
    check_file_size(size)?;
    check_symlink_path(flags, k.list(2))?;
    let mut root = None;
    // libtorrent 2.1 ignores the root of an empty file (symlinks are empty), whatever it is
    if size > 0 {
        let r = k
            .bytes(3)
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(TorrentError::MissingPiecesRoot)?;
        if r == [0u8; 32] {
            return Err(TorrentError::MissingPiecesRoot);
        }
        root = Some(r);
    }
    st.add(
        dirs,
        FileRec {
            dir,
            leaf,
            size,
            offset: 0,
            pad: false,
            root,
        },
        piece_length,
    )
}

/// Deepest directory nesting in a v2 file tree (libtorrent's `extract_files2` limit).
pub(super) const MAX_TREE_DEPTH: usize = 100;

/// What [`walk_tree`] meets, in file order.
pub(super) enum TreeEvent<'a> {
    /// Entering the directory with this (raw) key.
    Enter(&'a [u8]),
    /// Leaving the directory last entered.
    Leave,
    /// A file: its raw key and the value under the empty key (normally its dict).
    File(&'a [u8], Item<'a>),
}

/// Walks a v2 `file tree` in one linear pass with no recursion, reporting directories and
/// files to `visit` together with the nesting level (1 = directly in the tree). A node that
/// is not a dict, an empty key, or a directory with an empty-named entry is an error, as in
/// libtorrent's `extract_files2`.
pub(super) fn walk_tree<'a>(
    buf: &'a [u8],
    tree: &Item<'a>,
    mut visit: impl FnMut(TreeEvent<'a>, usize) -> Result<(), TorrentError>,
) -> Result<(), TorrentError> {
    use super::bencode::Token;
    let bad = |_| TorrentError::InvalidFileEntry;
    let mut pos = tree.span.start + 1;
    let mut depth = 1usize;
    loop {
        let (tok, next) = bencode::token(buf, pos).map_err(bad)?;
        match tok {
            Token::End => {
                depth -= 1;
                pos = next;
                if depth == 0 {
                    return Ok(());
                }
                visit(TreeEvent::Leave, depth)?;
            }
            Token::Bytes(k) => {
                let key = buf.get(k).unwrap_or_default();
                let (vt, vstart) = bencode::token(buf, next).map_err(bad)?;
                if vt != Token::Dict || key.is_empty() {
                    return Err(TorrentError::InvalidFileEntry);
                }
                let (first, after_first) = bencode::token(buf, vstart).map_err(bad)?;
                if first == Token::Bytes(after_first..after_first) {
                    // `{"": …}` alone is a file; next to other entries it is an empty name
                    let (file, after_file) = bencode::parse_at(buf, after_first).map_err(bad)?;
                    let (close, after_close) = bencode::token(buf, after_file).map_err(bad)?;
                    if close != Token::End {
                        return Err(TorrentError::InvalidFileEntry);
                    }
                    visit(TreeEvent::File(key, file), depth)?;
                    pos = after_close;
                    continue;
                }
                if depth > MAX_TREE_DEPTH {
                    return Err(TorrentError::InvalidFileEntry);
                }
                visit(TreeEvent::Enter(key), depth)?;
                depth += 1;
                pos = vstart;
            }
            _ => return Err(TorrentError::InvalidFileEntry),
        }
    }
}

/// libtorrent strips leading separators from file-tree keys before sanitising them.
pub(super) fn strip_slashes(mut key: &[u8]) -> &[u8] {
    while let Some(rest) = key.strip_prefix(b"/") {
        key = rest;
    }
    key
}

/// The v2 file list (`extract_files2`) under the root directory `root`.
#[allow(clippy::too_many_arguments)]
pub(super) fn v2_files(
    buf: &[u8],
    tree: &Item<'_>,
    root: u32,
    single_file_allowed: bool,
    st: &mut FileList,
    dirs: &mut Dirs,
    piece_length: i64,
) -> Result<(), TorrentError> {
    // directory ids of the open directories
    let mut stack: Vec<u32> = vec![root];
    walk_tree(buf, tree, |ev, depth| {
        let cur = stack.last().copied().unwrap_or(root);
        match ev {
            TreeEvent::Enter(key) => {
                let c = component(strip_slashes(key), Element::Forced);
                stack.push(dirs.intern(cur, &c));
            }
            TreeEvent::Leave => {
                stack.pop();
            }
            TreeEvent::File(key, file) => {
                // a lone file at the top is a single-file torrent: no root directory
                let base = if single_file_allowed && depth == 1 {
                    NO_DIR
                } else {
                    cur
                };
                let leaf = component(strip_slashes(key), Element::Forced);
                v2_file(file.as_dict(), base, leaf, st, dirs, piece_length)?;
            }
        }
        Ok(())
    })
}

/// `aux::files_compatible` as in 2.1.1: a hybrid's two file lists must agree on every file
/// that holds data (not a pad file, not empty; symlinks are empty): index, path, size, offset.
/// libtorrent adds a tail pad to the v2 list and drops it again when the v1 list has none, so
/// both forms of the v1 list are accepted.
pub(super) fn files_compatible(v2: &FileList, v1: &FileList, piece_length: i64) -> bool {
    let tail = if v2.total % piece_length != 0 {
        piece_length - v2.total % piece_length
    } else {
        0
    };
    let (n2, total2) = if tail > 0 && v1.files.len() == v2.files.len() + 1 {
        (v2.files.len() + 1, v2.total + tail)
    } else {
        (v2.files.len(), v2.total)
    };
    if n2 != v1.files.len() || total2 != v1.total {
        return false;
    }
    let relevant = |f: &FileRec| !f.pad && f.size > 0;
    // the virtual tail pad, if any, is never relevant, so neither may its v1 counterpart be
    if n2 > v2.files.len() && v1.files.last().is_some_and(relevant) {
        return false;
    }
    v2.files.iter().zip(v1.files.iter()).all(|(a, b)| {
        let ra = relevant(a);
        let rb = relevant(b);
        ra == rb
            && (!ra
                || (a.size == b.size && a.dir == b.dir && a.leaf == b.leaf && a.offset == b.offset))
    })
}

/// libtorrent's `extension`: from the last `.` of the leaf, dot included.
pub(super) fn sha256_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The merkle root of a file from its piece layer, padded as BEP 52 says: the layer is
/// extended to a power of two with the hash of a piece of zero blocks.
pub(super) fn merkle_root(layer: &[u8], blocks_per_piece: i64) -> [u8; 32] {
    let mut pad = [0u8; 32];
    let mut n = 1;
    while n < blocks_per_piece {
        pad = sha256_pair(&pad, &pad);
        n *= 2;
    }
    let mut level: Vec<[u8; 32]> = layer
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .collect();
    let width = level.len().next_power_of_two().max(1);
    level.resize(width, pad);
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| sha256_pair(&p[0], &p[1]))
            .collect();
    }
    level.first().copied().unwrap_or(pad)
}

/// `parse_piece_layers`: every entry must be the full, correct piece layer of a distinct file
/// larger than one piece. Missing layers are allowed (as for magnet links).
pub(super) fn check_piece_layers(
    layers: Dict<'_>,
    st: &FileList,
    piece_length: i64,
) -> Result<(), TorrentError> {
    let mut roots: HashMap<[u8; 32], usize> = HashMap::new();
    for (i, f) in st.files.iter().enumerate() {
        if f.size <= piece_length {
            continue;
        }
        if let Some(r) = f.root {
            roots.entry(r).or_insert(i);
        }
    }
    for (key, value) in layers.iter() {
        let bytes = value.as_bytes().ok_or(TorrentError::InvalidPieceLayer)?;
        let root = <[u8; 32]>::try_from(key).map_err(|_| TorrentError::InvalidPieceLayer)?;
        if bytes.len() % 32 != 0 {
            return Err(TorrentError::InvalidPieceLayer);
        }
        let idx = roots.remove(&root).ok_or(TorrentError::InvalidPieceLayer)?;
        let f = st.files.get(idx).ok_or(TorrentError::InvalidPieceLayer)?;
        let pieces = (f.size + piece_length - 1) / piece_length;
        if bytes.len() as i64 != pieces * 32 {
            return Err(TorrentError::InvalidPieceLayer);
        }
        if merkle_root(bytes, piece_length / BLOCK_SIZE) != root {
            return Err(TorrentError::InvalidPieceLayer);
        }
    }
    Ok(())
}
