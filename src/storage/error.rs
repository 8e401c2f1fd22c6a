//! The errors of `Storage`: why a backend could not answer ([`StorageError`]) and why an upload
//! was not stored ([`PutError`]).
//!
//! Owns: sorting a backend's failures into the kinds a caller acts on differently (retry
//! later, out of space, read-only, anything else). Must never: name an HTTP status or an exit
//! code (the application and the CLI map these kinds to theirs).

use crate::torrent::hash::Key;
use crate::torrent::TorrentError;
use std::fmt;
use std::io;

/// A backend's failure, by what a caller can do about it. Each kind keeps the I/O error it
/// came from, for the log.
#[derive(Debug)]
pub enum StorageError {
    /// The object store did not answer or did not confirm: a client may retry later.
    Unavailable(io::Error),
    /// No space left on the device (`ENOSPC`).
    Full(io::Error),
    /// The data directory is on a read-only file system (`EROFS`).
    ReadOnly(io::Error),
    /// Any other I/O failure (permissions, a damaged file system, ...).
    Io(io::Error),
}

impl StorageError {
    /// The I/O error behind this one.
    pub fn io(&self) -> &io::Error {
        match self {
            StorageError::Unavailable(e)
            | StorageError::Full(e)
            | StorageError::ReadOnly(e)
            | StorageError::Io(e) => e,
        }
    }
}

/// Sorts an I/O error by kind: backends signal an unreachable object store with
/// `ErrorKind::NotConnected`; the file system's `ENOSPC` and `EROFS` come as they are.
impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotConnected {
            StorageError::Unavailable(e)
        } else if e.raw_os_error() == Some(libc::ENOSPC) {
            StorageError::Full(e)
        } else if e.raw_os_error() == Some(libc::EROFS) {
            StorageError::ReadOnly(e)
        } else {
            StorageError::Io(e)
        }
    }
}

/// The I/O error's own text: what failed and where.
impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io().fmt(f)
    }
}

impl std::error::Error for StorageError {}

/// Why an upload was not stored. Nothing is changed in the store in any of these cases.
#[derive(Debug)]
pub enum PutError {
    /// Larger than `Config::max_torrent_size`.
    TooLarge { size: u64, limit: u64 },
    /// Not a torrent libtorrent would load.
    Invalid(TorrentError),
    /// Taken down.
    Blocked { key: Key, reason: String },
    /// The backend's failure (disk full, read-only, unreachable, ...).
    Storage(StorageError),
}

impl PutError {
    /// Whether the uploader is at fault (4xx) rather than the server (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, PutError::Storage(_))
    }
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::TooLarge { size, limit } => {
                write!(f, "torrent too large: {size} bytes (limit {limit})")
            }
            PutError::Invalid(e) => write!(f, "{e}"),
            PutError::Blocked { key, reason } => write!(f, "torrent {key} is blocked: {reason}"),
            PutError::Storage(StorageError::Full(_)) => {
                write!(f, "storage full: the torrent was not stored")
            }
            PutError::Storage(StorageError::ReadOnly(_)) => {
                write!(f, "storage is read-only: the torrent was not stored")
            }
            PutError::Storage(StorageError::Unavailable(_)) => {
                write!(
                    f,
                    "storage unavailable: the upload was not confirmed, retry later"
                )
            }
            PutError::Storage(StorageError::Io(_)) => {
                write!(f, "internal storage error: the torrent was not stored")
            }
        }
    }
}

impl std::error::Error for PutError {}

impl From<io::Error> for PutError {
    fn from(e: io::Error) -> Self {
        PutError::Storage(e.into())
    }
}

impl From<StorageError> for PutError {
    fn from(e: StorageError) -> Self {
        PutError::Storage(e)
    }
}
