//! The one interface the server sees of where torrents live: `Storage`, with two
//! implementations — `local::Local` (the sharded data directory of `store`, the embedded
//! default) and `s3::S3Store` (an S3 bucket, shared by several front ends).
//!
//! Owns: what a backend must answer (get a torrent, store one durably, count, day lists,
//! blocklist) and the types those answers come in. Must never: let a backend say "stored"
//! before the bytes are durable in it, or hand out bytes other than those stored under the
//! key (the server serves them unchanged).

pub mod day;
mod error;
pub mod integrity;
pub mod local;
pub mod s3;
mod window;

pub use error::{at, duplicate, os_code, PathError, PutError, StorageError};
pub use window::{BodyWindow, WINDOW_BYTES};

use crate::torrent::hash::Key;
use day::Day;
use std::fs::File;
use std::io;
use std::sync::Arc;

/// The bytes of a stored object, as the HTTP layer can send them without a copy.
#[derive(Clone)]
pub enum Body {
    /// An open file (the local backend): sent with `pread`/`sendfile`.
    File(Arc<File>),
    /// Bytes in memory (the S3 backend's objects and cache).
    Bytes(Arc<[u8]>),
}

/// A stored torrent found by `Storage::get`.
#[derive(Clone)]
pub struct Found {
    pub body: Body,
    pub len: u64,
    /// Modification time (when it was stored), seconds since the epoch.
    pub mtime: u64,
}

impl Body {
    /// The first `len` bytes in memory (reads a file).
    pub fn to_vec(&self, len: u64) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(b) => Ok(b[..(len as usize).min(b.len())].to_vec()),
            Body::File(f) => {
                let mut v = vec![0u8; len as usize];
                std::os::unix::fs::FileExt::read_exact_at(&**f, &mut v, 0)?;
                Ok(v)
            }
        }
    }
}

impl Found {
    /// The whole object in memory (reads a file).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        self.body.to_vec(self.len)
    }
}

/// A day's list of stored keys (`sync/YYYYMMDD.txt`): whole 41-byte lines.
pub struct DayList {
    pub body: Body,
    pub len: u64,
}

/// Where torrents are stored. Shared by every may coroutine of the server: no method may
/// block a may worker thread on a system call that can take long (disk syncs run on the
/// backend's own threads; network I/O uses may's sockets).
pub trait Storage: Send + Sync {
    /// One line for logs: the kind and location.
    fn describe(&self) -> String;
    fn config(&self) -> &Config;
    /// Nothing can be stored (read-only file system); downloads still work.
    fn read_only(&self) -> bool;
    /// Torrents stored (hybrids once), as exact as the backend's consistency allows (see
    /// ARCHITECTURE.md for the S3 staleness bound).
    fn count(&self) -> u64;
    /// Bytes stored.
    fn bytes(&self) -> u64;
    /// The takedown reason when `key` is blocked.
    fn blocked(&self, key: &Key) -> Option<String>;
    /// The stored torrent, or `None`.
    fn get(&self, key: &Key) -> Result<Option<Found>, StorageError>;
    /// Whether `key` is stored.
    fn contains(&self, key: &Key) -> Result<bool, StorageError> {
        Ok(self.get(key)?.is_some())
    }
    /// Validates and stores `bytes`; returns only once the outcome is durable.
    fn put(&self, bytes: Vec<u8>) -> Result<(Ids, Outcome), PutError>;
    /// The days that have a list, oldest first.
    fn days(&self) -> Result<Vec<Day>, StorageError>;
    /// Keys listed for `day`.
    fn day_len(&self, day: Day) -> Result<u64, StorageError>;
    /// That day's list, or `None` when it has none.
    fn day_list(&self, day: Day) -> Result<Option<DayList>, StorageError>;
    /// Blocks `keys` (downloads answer 451, uploads are refused); returns how many were new.
    fn block(&self, keys: &[Key], reason: &str) -> Result<usize, StorageError>;
    /// Lifts blocks; returns how many were blocked.
    fn unblock(&self, keys: &[Key]) -> Result<usize, StorageError>;
    /// Every blocked key with its reason, sorted by key (the takedowns feed).
    fn takedowns(&self) -> Vec<(Key, String)>;
    /// The backend's own counters (name, value) for `/api/stats` and `/metrics`; none by
    /// default.
    fn backend_stats(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// How to open a storage: `--store` (absent: the local `--data` directory).
pub fn is_s3_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// Longest reason kept (longer ones are cut at a character boundary).
pub const MAX_REASON_LEN: usize = 500;

/// Makes a takedown reason safe for one line of a blocklist and for an HTTP header.
pub fn clean_reason(reason: &str) -> String {
    let mut r: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if r.len() > MAX_REASON_LEN {
        let mut cut = MAX_REASON_LEN;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r.truncate(cut);
    }
    let r = r.trim().to_string();
    if r.is_empty() {
        "blocked".to_string()
    } else {
        r
    }
}

/// Default size limit of one torrent file (10 MiB).
pub const DEFAULT_MAX_TORRENT_SIZE: usize = 10 * 1024 * 1024;

/// Store settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest torrent accepted, in bytes.
    pub max_torrent_size: usize,
}

impl Config {
    /// Checks the size limit (callers with a file size can reject before reading).
    pub fn check_size(&self, size: u64) -> Result<(), PutError> {
        let limit = self.max_torrent_size as u64;
        if size > limit {
            Err(PutError::TooLarge { size, limit })
        } else {
            Ok(())
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_torrent_size: DEFAULT_MAX_TORRENT_SIZE,
        }
    }
}

/// Whether a put created the file or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    AlreadyStored,
}

/// A stored torrent's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// The key it is filed under (v1 hash, or truncated v2 hash for v2-only torrents).
    pub key: Key,
    pub v1: Option<[u8; 20]>,
    pub v2: Option<[u8; 32]>,
}

impl Ids {
    pub(crate) fn of(p: &crate::torrent::Parsed) -> Ids {
        Ids {
            key: p.key(),
            v1: p.v1,
            v2: p.v2,
        }
    }

    /// Refuses the upload when either of its keys is blocked (`blocked` gives the reason).
    pub fn check_blocked(&self, blocked: impl Fn(&Key) -> Option<String>) -> Result<(), PutError> {
        for k in std::iter::once(self.key).chain(self.link()) {
            if let Some(reason) = blocked(&k) {
                return Err(PutError::Blocked { key: k, reason });
            }
        }
        Ok(())
    }

    /// The second key of a hybrid (its truncated v2 hash), which is a hard link.
    pub fn link(&self) -> Option<Key> {
        match (self.v1, self.v2) {
            (Some(_), Some(v2)) => Some(Key::from_v2(&v2)),
            _ => None,
        }
    }
}
