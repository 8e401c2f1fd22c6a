//! The errors of `Storage`: why a backend could not answer ([`StorageError`]) and why an upload
//! was not stored ([`PutError`]).
//!
//! Owns: sorting a backend's failures into the kinds a caller acts on differently (retry
//! later, out of space, read-only, anything else), and naming the path an I/O error happened
//! on ([`at`]). Must never: name an HTTP status or an exit code (the application and the CLI
//! map these kinds to theirs).

use crate::torrent::hash::Key;
use crate::torrent::TorrentError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An I/O error and the path it happened on: "PATH: error".
#[derive(Debug)]
pub struct PathError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `e`, naming `path` in its message and keeping its kind (a full disk stays `StorageFull`,
/// so it is still sorted as [`StorageError::Full`]). An error that already names a path is
/// returned as it is: the innermost path is the precise one.
pub fn at(path: &Path, e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<PathError>()) {
        return e;
    }
    io::Error::new(
        e.kind(),
        PathError {
            path: path.to_path_buf(),
            source: e,
        },
    )
}

/// The same error again, for a second receiver (one failed commit answers many uploads):
/// same kind, same operating-system code, same path.
pub fn duplicate(e: &io::Error) -> io::Error {
    if let Some(p) = e.get_ref().and_then(|i| i.downcast_ref::<PathError>()) {
        return at(&p.path, duplicate(&p.source));
    }
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The operating system's error number of `e`, also through a [`PathError`].
pub fn os_code(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<PathError>())
            .and_then(|p| p.source.raw_os_error())
    })
}

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
/// `ErrorKind::NotConnected`; the file system's `ENOSPC` and `EROFS` come as they are, or
/// inside a [`PathError`].
impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotConnected {
            StorageError::Unavailable(e)
        } else if os_code(&e) == Some(libc::ENOSPC) || e.kind() == io::ErrorKind::StorageFull {
            StorageError::Full(e)
        } else if os_code(&e) == Some(libc::EROFS) || e.kind() == io::ErrorKind::ReadOnlyFilesystem
        {
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
