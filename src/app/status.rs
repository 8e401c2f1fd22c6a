//! The HTTP status of a storage failure: the one place where the storage layer's error kinds
//! meet HTTP.
//!
//! Owns: the mapping from `StorageError` and `PutError` to a status. Must never: put the
//! internal error text into a response (callers log it; the client gets the stable message).

use crate::storage::{PutError, StorageError};

/// The status for a backend's read error: 503 when the object store is unreachable (a
/// client may retry), else 500.
pub fn read_status(e: &StorageError) -> u16 {
    match e {
        StorageError::Unavailable(_) => 503,
        StorageError::Full(_) | StorageError::ReadOnly(_) | StorageError::Io(_) => 500,
    }
}

/// The status for a refused upload: the uploader's fault is 4xx, ours 5xx (507 when out of
/// space, 503 when the store cannot take uploads now or did not confirm).
pub fn put_status(e: &PutError) -> u16 {
    match e {
        PutError::TooLarge { .. } => 413,
        PutError::Invalid(_) => 400,
        PutError::Blocked { .. } => 451,
        PutError::Storage(StorageError::Full(_)) => 507,
        PutError::Storage(StorageError::ReadOnly(_) | StorageError::Unavailable(_)) => 503,
        PutError::Storage(StorageError::Io(_)) => 500,
    }
}
