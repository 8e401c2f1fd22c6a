//! Torrent validation and info hashes (libtorrent 2.1 is the reference).
//!
//! Owns: deciding whether bytes are a torrent libtorrent would load, the v1/v2 info hashes of the
//! raw `info` span, and a summary for pages. Must never: re-encode the info dict, or modify bytes.
//! (STUB: being written.)

use crate::hash::Key;
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

/// Why bytes are not an acceptable torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentError {
    Invalid(String),
}

impl fmt::Display for TorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorrentError::Invalid(m) => write!(f, "not a torrent file: {m}"),
        }
    }
}

impl std::error::Error for TorrentError {}

/// Validates `bytes` as a torrent and computes its info hashes.
pub fn validate(_bytes: &[u8]) -> Result<Parsed, TorrentError> {
    Err(TorrentError::Invalid("not implemented".into()))
}

/// One file of a torrent, for pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components joined with '/', lossily decoded.
    pub path: String,
    pub size: u64,
}

/// What pages show about a torrent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// `name.utf-8` when present, else `name`, lossily decoded.
    pub name: String,
    pub total_size: u64,
    pub files: Vec<FileEntry>,
    /// `announce` then every `announce-list` tier, deduplicated, in order.
    pub trackers: Vec<String>,
    pub private: bool,
    pub creation_date: Option<i64>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
}

/// The summary of an already validated torrent.
pub fn summary(_bytes: &[u8]) -> Result<Summary, TorrentError> {
    Err(TorrentError::Invalid("not implemented".into()))
}
