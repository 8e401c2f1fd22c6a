//! Torrent validation and info hashes (libtorrent 2.1 is the reference).
//!
//! Owns: deciding whether bytes are a torrent libtorrent would load, the v1/v2 info hashes of the
//! raw `info` span, and a summary for pages. Must never: re-encode the info dict, modify bytes,
//! recurse without a bound, or panic on any input.
//!
//! The checks follow libtorrent's `torrent_info::parse_info_section`, `extract_files`,
//! `extract_files2`, `file_storage::add_file_borrow`, `resolve_duplicate_filenames` and
//! `parse_piece_layers`, in the same order, so the first problem reported is the one libtorrent
//! reports. A file list is only materialised for multi-file and v2 torrents; a single-file v1
//! torrent is validated with a handful of lookups and one SHA-1.

pub mod bencode;
mod dict;
mod duplicates;
mod files;
pub mod hash;
mod name;
mod path;
mod summary;
mod v1;
mod v2;
mod validate;

pub use name::{name, Window};
pub use summary::{
    summary, summary_listing, FileEntry, Summary, MAX_SUMMARY_FILES, MAX_SUMMARY_PATH_BYTES,
    MAX_SUMMARY_WEB_SEEDS,
};
pub use validate::validate;

use hash::Key;
use std::fmt;
use std::ops::Range;

/// The result of validating a torrent: its hashes and where its `info` dict stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// SHA-1 of the info span, when the torrent has v1 metadata (v1 or hybrid).
    pub v1: Option<[u8; 20]>,
    /// SHA-256 of the info span, when `meta version` is 2 (v2-only or hybrid).
    pub v2: Option<[u8; 32]>,
    /// Byte range of the `info` value in the file.
    pub info: Range<usize>,
}

impl Parsed {
    /// The key the torrent is filed under: the v1 hash, else the v2 hash truncated.
    pub fn key(&self) -> Key {
        match (&self.v1, &self.v2) {
            (Some(v1), _) => Key(*v1),
            (None, Some(v2)) => Key::from_v2(v2),
            (None, None) => unreachable!("a valid torrent has at least one hash"),
        }
    }
}

/// The largest `piece length` libtorrent 2.1.1 loads: one 16 KiB block under 512 MiB (found by
/// differential testing: 536,854,528 is accepted, 536,854,529 is not).
pub const MAX_PIECE_SIZE: i64 = (1 << 29) - BLOCK_SIZE;
/// libtorrent's default `load_torrent_limits::max_pieces`.
pub const MAX_PIECES: i64 = 0x20_0000;
/// libtorrent's `file_storage::max_file_size` and `max_file_offset` (48-bit offsets).
pub const MAX_FILE_SIZE: i64 = (1 << 48) - 1;
/// libtorrent keeps `size / 16 KiB` below `INT_MAX / 2` so merkle indices fit an `int`.
const MAX_FILE_BLOCKS: i64 = (i32::MAX / 2) as i64;
/// BEP 52 block size; also the minimum v2 piece length.
const BLOCK_SIZE: i64 = 16 * 1024;
/// libtorrent refuses file names of 4096 bytes or more.
const MAX_FILENAME: usize = 1 << 12;
/// Rename attempts that may fail when resolving duplicate file names before the torrent is
/// considered hostile. libtorrent 2.1.1 allows 500 (found by differential testing: 33 copies of
/// one path, 496 failed attempts, load; 34 copies, 528, do not; mixed groups pin it at 500).
pub const MAX_DUPLICATE_FILENAMES: usize = 500;

/// Why bytes are not an acceptable torrent. Messages are stable: they are shown to uploaders
/// and matched by scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentError {
    /// Not bencode (or nested `bencode::MAX_DEPTH` deep).
    Bencode(bencode::Error),
    /// The top-level value is not a dictionary.
    NotADict,
    /// No `info` dictionary.
    NoInfo,
    /// A `meta version` 2 info dict that is not canonical bencode (libtorrent's soft errors).
    NotCanonical(bencode::Error),
    /// `meta version` above 2.
    UnknownVersion(i128),
    /// `piece length` missing, not positive, too large, or (v2) not a power of two >= 16 KiB.
    InvalidPieceLength,
    /// `name` (or a file's `path`) missing or empty after sanitising.
    MissingName,
    /// A `path` or `symlink path` element that is not a string.
    InvalidPathElement,
    /// A file `length` missing, negative or too large, or a total size of zero.
    InvalidLength,
    /// A file larger than libtorrent's 48-bit limit.
    FileTooLarge,
    /// A file name of 4096 bytes or more.
    FilenameTooLong,
    /// An empty file list or file tree.
    NoFiles,
    /// A malformed `files` entry or `file tree` node.
    InvalidFileEntry,
    /// `meta version` 2 without a `file tree`.
    MissingFileTree,
    /// A `file tree` without `meta version` 2.
    FileTreeWithoutVersion,
    /// A v2 file with the pad attribute.
    V2PadFile,
    /// A v2 file without a 32-byte (non-zero) `pieces root`.
    MissingPiecesRoot,
    /// A hybrid torrent whose v1 `files` and v2 `file tree` describe different layouts.
    InconsistentFiles,
    /// More pieces than libtorrent loads.
    TooManyPieces,
    /// `pieces` missing or not a string in a v1 torrent.
    MissingPieces,
    /// `pieces` not 20 bytes per piece.
    WrongPieceCount { expected: u64, found: u64 },
    /// Too many files with the same path.
    TooManyDuplicateFilenames,
    /// A `piece layers` entry that matches no file, has the wrong size or the wrong root.
    InvalidPieceLayer,
}

impl fmt::Display for TorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a torrent file: ")?;
        match self {
            TorrentError::Bencode(e) => write!(f, "{e}"),
            TorrentError::NotADict => f.write_str("top level is not a dictionary"),
            TorrentError::NoInfo => f.write_str("no info dictionary"),
            TorrentError::NotCanonical(e) => {
                write!(f, "info dictionary of a v2 torrent is not canonical ({e})")
            }
            TorrentError::UnknownVersion(v) => write!(f, "unknown 'meta version' {v}"),
            TorrentError::InvalidPieceLength => f.write_str("invalid 'piece length'"),
            TorrentError::MissingName => f.write_str("missing or invalid 'name'"),
            TorrentError::InvalidPathElement => {
                f.write_str("invalid 'path' (an element is not a string)")
            }
            TorrentError::InvalidLength => f.write_str("invalid file 'length'"),
            TorrentError::FileTooLarge => f.write_str("file too large"),
            TorrentError::FilenameTooLong => f.write_str("file name too long"),
            TorrentError::NoFiles => f.write_str("no files"),
            TorrentError::InvalidFileEntry => f.write_str("invalid 'files' or 'file tree' entry"),
            TorrentError::MissingFileTree => f.write_str("'meta version' 2 without 'file tree'"),
            TorrentError::FileTreeWithoutVersion => {
                f.write_str("'file tree' without 'meta version' 2")
            }
            TorrentError::V2PadFile => f.write_str("a v2 file has the pad attribute"),
            TorrentError::MissingPiecesRoot => f.write_str("a v2 file has no valid 'pieces root'"),
            TorrentError::InconsistentFiles => {
                f.write_str("v1 'files' and v2 'file tree' do not match")
            }
            TorrentError::TooManyPieces => write!(f, "too many pieces (limit {MAX_PIECES})"),
            TorrentError::MissingPieces => f.write_str("missing or invalid 'pieces'"),
            TorrentError::WrongPieceCount { expected, found } => write!(
                f,
                "invalid 'pieces': {found} bytes, expected {expected} (20 per piece)"
            ),
            TorrentError::TooManyDuplicateFilenames => f.write_str("too many duplicate file names"),
            TorrentError::InvalidPieceLayer => f.write_str("invalid 'piece layers'"),
        }
    }
}

impl std::error::Error for TorrentError {}

impl From<bencode::Error> for TorrentError {
    fn from(e: bencode::Error) -> Self {
        TorrentError::Bencode(e)
    }
}

#[cfg(test)]
mod tests;
