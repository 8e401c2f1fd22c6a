//! The one interface the server sees of where torrents live: `Storage`, with two
//! implementations — `local::Local` (the sharded data directory of `store`, the embedded
//! default) and `s3::S3Store` (an S3 bucket, shared by several front ends).
//!
//! Owns: what a backend must answer (get a torrent, store one durably, count, day lists,
//! blocklist) and the types those answers come in. Must never: let a backend say "stored"
//! before the bytes are durable in it, or hand out bytes other than those stored under the
//! key (the server serves them unchanged).

pub mod day;
pub mod local;
pub mod s3;

use crate::storage::day::Day;
use crate::storage::local::store::{Config, Ids, Outcome, PutError};
use crate::torrent::hash::Key;
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
                crate::http::response::read_exact_at(f, &mut v, 0)?;
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
    fn get(&self, key: &Key) -> io::Result<Option<Found>>;
    /// Whether `key` is stored.
    fn contains(&self, key: &Key) -> io::Result<bool> {
        Ok(self.get(key)?.is_some())
    }
    /// Validates and stores `bytes`; returns only once the outcome is durable.
    fn put(&self, bytes: Vec<u8>) -> Result<(Ids, Outcome), PutError>;
    /// The days that have a list, oldest first.
    fn days(&self) -> io::Result<Vec<Day>>;
    /// Keys listed for `day`.
    fn day_len(&self, day: Day) -> io::Result<u64>;
    /// That day's list, or `None` when it has none.
    fn day_list(&self, day: Day) -> io::Result<Option<DayList>>;
    /// Blocks `keys` (downloads answer 451, uploads are refused); returns how many were new.
    fn block(&self, keys: &[Key], reason: &str) -> io::Result<usize>;
    /// Lifts blocks; returns how many were blocked.
    fn unblock(&self, keys: &[Key]) -> io::Result<usize>;
}

/// How to open a storage: `--store` (absent: the local `--data` directory).
pub fn is_s3_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// The status for a backend's read error: 503 when the object store is unreachable (a
/// client may retry), else 500.
pub fn error_status(e: &io::Error) -> u16 {
    if e.kind() == io::ErrorKind::NotConnected {
        503
    } else {
        500
    }
}
