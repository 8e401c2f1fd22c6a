//! `validate`: whether bytes are a torrent libtorrent would load, and its info hashes.
//!
//! Owns: the order of the checks (libtorrent's `parse_info_section`). Must never: re-encode
//! the info dict or hash anything but its raw span.

use super::bencode::{self, Dict};
use super::dict::{find_dict, int64, Keys};
use super::duplicates::check_duplicates;
use super::files::{component, has_pad_marker, Dirs, FileList, V1Place, NO_DIR};
use super::path::Element;
use super::v1::v1_file;
use super::v2::{check_piece_layers, files_compatible, v2_files};
use super::{Parsed, TorrentError, BLOCK_SIZE, MAX_PIECES, MAX_PIECE_SIZE};
use sha1::Digest;
use sha1::Sha1;
use sha2::Sha256;
use std::ops::Range;

fn lower_hex(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]])
        .collect()
}

/// The keys of the info dict the checks read, in [`Keys`] order.
const NAMES: [&[u8]; 8] = [
    b"meta version",
    b"piece length",
    b"name.utf-8",
    b"name",
    b"files",
    b"file tree",
    b"length",
    b"pieces",
];
const META_VERSION: usize = 0;
const PIECE_LENGTH: usize = 1;
const NAME_UTF8: usize = 2;
const NAME: usize = 3;
const FILES: usize = 4;
const FILE_TREE: usize = 5;
const LENGTH: usize = 6;
const PIECES: usize = 7;

/// Validates `bytes` as a torrent and computes its info hashes.
pub fn validate(bytes: &[u8]) -> Result<Parsed, TorrentError> {
    let top = bencode::parse(bytes)?;
    let top = top.as_dict().ok_or(TorrentError::NotADict)?;
    let info_item = top.get(b"info").ok_or(TorrentError::NoInfo)?;
    let info = info_item.as_dict().ok_or(TorrentError::NoInfo)?;
    let span = info_item.span.clone();
    let section = bytes.get(span.clone()).unwrap_or_default();
    let k = Keys::collect(info, &NAMES);

    let v2 = meta_version(bytes, &span, &k)?;
    let piece_length = piece_length(&k, v2)?;
    let name_bytes = k
        .bytes(NAME_UTF8)
        .or(k.bytes(NAME))
        .ok_or(TorrentError::MissingName)?;
    let v1_hash: [u8; 20] = Sha1::digest(section).into();

    let files = Files::read(bytes, info, &k, v2, piece_length, name_bytes, &v1_hash)?;
    files.check(v2, piece_length)?;
    check_pieces(&k, files.primary.total, v2, piece_length)?;
    check_duplicates(&files.primary, &files.dirs)?;

    let v2_hash = if v2 {
        if let Some(layers) = find_dict(top, b"piece layers") {
            check_piece_layers(layers, &files.primary, piece_length)?;
        }
        Some(Sha256::digest(section).into())
    } else {
        None
    };
    Ok(Parsed {
        v1: files.has_v1.then_some(v1_hash),
        v2: v2_hash,
        info: span,
    })
}

/// Whether the torrent is v2 (`meta version` 2); a version above 1 also requires the info
/// dict to be canonical bencode.
fn meta_version(bytes: &[u8], span: &Range<usize>, k: &Keys<'_, 8>) -> Result<bool, TorrentError> {
    // libtorrent narrows `meta version` to an `int`: only the low 32 bits count
    let version = i64::from(int64(k.int(META_VERSION), -1) as i32);
    if version > 0 {
        bencode::check_canonical(bytes, span.clone()).map_err(TorrentError::NotCanonical)?;
        if version > 2 {
            return Err(TorrentError::UnknownVersion(
                k.int(META_VERSION).unwrap_or_default(),
            ));
        }
    }
    Ok(version >= 2)
}

/// The piece length: positive and at most [`MAX_PIECE_SIZE`]; for v2 also a power of two of
/// at least [`BLOCK_SIZE`].
fn piece_length(k: &Keys<'_, 8>, v2: bool) -> Result<i64, TorrentError> {
    let piece_length = int64(k.int(PIECE_LENGTH), -1);
    if piece_length <= 0 || piece_length > MAX_PIECE_SIZE {
        return Err(TorrentError::InvalidPieceLength);
    }
    if v2 && (piece_length < BLOCK_SIZE || piece_length & (piece_length - 1) != 0) {
        return Err(TorrentError::InvalidPieceLength);
    }
    Ok(piece_length)
}

/// The file lists of a torrent: the primary one (the v2 tree, or the v1 list), and a hybrid's
/// v1 list to compare with it.
struct Files {
    dirs: Dirs,
    primary: FileList,
    v1_list: FileList,
    /// Whether the torrent has v1 metadata (a v2-only torrent has neither `files` nor `length`).
    has_v1: bool,
}

impl Files {
    /// Reads the v2 file tree and the v1 file entries, in libtorrent's order.
    fn read(
        bytes: &[u8],
        info: Dict<'_>,
        k: &Keys<'_, 8>,
        v2: bool,
        piece_length: i64,
        name_bytes: &[u8],
        v1_hash: &[u8; 20],
    ) -> Result<Files, TorrentError> {
        let files_node = k.list(FILES);
        // `file tree` must be a dict (libtorrent's dict_find_dict); the item keeps its span
        let tree_node = k.item(FILE_TREE).filter(|i| i.as_dict().is_some());

        // The multi-file root directory; an unusable name is replaced by the hex info hash.
        // A single-file v1 torrent needs none, so it costs no allocation there.
        let mut dirs = Dirs::default();
        let (root, root_marker) = if files_node.is_some() || (v2 && tree_node.is_some()) {
            let mut root_name = component(name_bytes, Element::Optional);
            if root_name.is_empty() {
                root_name = lower_hex(v1_hash);
            }
            (dirs.intern(NO_DIR, &root_name), has_pad_marker(&root_name))
        } else {
            (NO_DIR, false)
        };

        let mut primary = FileList::default();
        let mut v1_list = FileList::default();
        match (v2, tree_node) {
            (true, Some(tree)) => {
                // a lone file directly in the tree is a single-file torrent, unless `files`
                // exists
                let single_file_allowed =
                    files_node.is_none() && tree.as_dict().is_some_and(|d| d.len() == 1);
                v2_files(
                    bytes,
                    tree,
                    root,
                    single_file_allowed,
                    &mut primary,
                    &mut dirs,
                    piece_length,
                )?;
            }
            (true, None) => return Err(TorrentError::MissingFileTree),
            (false, Some(_)) => return Err(TorrentError::FileTreeWithoutVersion),
            (false, None) => {}
        }
        let mut has_v1 = true;
        let target = if v2 { &mut v1_list } else { &mut primary };
        match files_node {
            None => {
                if !v2 || k.item(LENGTH).is_some() {
                    v1_file(info, V1Place::TopLevel, target, &mut dirs, piece_length)?;
                } else {
                    has_v1 = false;
                }
            }
            Some(list) => {
                let place = V1Place::Under(root, root_marker);
                for entry in list.iter() {
                    let d = entry.as_dict().ok_or(TorrentError::InvalidFileEntry)?;
                    v1_file(d, place, target, &mut dirs, piece_length)?;
                }
            }
        }
        Ok(Files {
            dirs,
            primary,
            v1_list,
            has_v1,
        })
    }

    /// Some file with a name, and a hybrid's two lists describing the same files.
    fn check(&self, v2: bool, piece_length: i64) -> Result<(), TorrentError> {
        if self.primary.files.is_empty() {
            return Err(TorrentError::NoFiles);
        }
        if self.primary.name_empty {
            return Err(TorrentError::MissingName);
        }
        if v2
            && !self.v1_list.files.is_empty()
            && !files_compatible(&self.primary, &self.v1_list, piece_length)
        {
            return Err(TorrentError::InconsistentFiles);
        }
        Ok(())
    }
}

/// The piece count within libtorrent's limits, `pieces` (required without v2) of 20 bytes
/// per piece, and a non-empty total.
fn check_pieces(
    k: &Keys<'_, 8>,
    total: i64,
    v2: bool,
    piece_length: i64,
) -> Result<(), TorrentError> {
    let num_pieces = (total + piece_length - 1) / piece_length;
    if total / piece_length > MAX_PIECES
        || num_pieces >= i64::from(i32::MAX / 20)
        || num_pieces > MAX_PIECES
    {
        return Err(TorrentError::TooManyPieces);
    }
    match k.bytes(PIECES) {
        None if !v2 => return Err(TorrentError::MissingPieces),
        None => {}
        Some(p) => {
            let expected = num_pieces as u64 * 20;
            if p.len() as u64 != expected {
                return Err(TorrentError::WrongPieceCount {
                    expected,
                    found: p.len() as u64,
                });
            }
        }
    }
    if total == 0 {
        return Err(TorrentError::InvalidLength);
    }
    Ok(())
}
