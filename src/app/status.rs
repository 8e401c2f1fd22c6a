//! The HTTP status of a storage failure: the one place where the storage layer's error kinds
//! meet HTTP.
//!
//! Owns: the mapping from `StorageError` and `PutError` to a status. Must never: put the
//! internal error text into a response (callers log it; the client gets the stable message).

use crate::http::Response;
use crate::storage::{PutError, StorageError};

/// `Retry-After` of a `503` for a storage failure, seconds: the object store's probe asks it
/// every 250 ms, so a client asking again a second later finds it back if it is.
pub const RETRY_AFTER: u64 = 1;

/// The plain answer to a failed read: its status (see [`read_status`]), with `Retry-After`
/// when a retry may succeed.
pub fn read_error(e: &StorageError) -> Response {
    let status = read_status(e);
    let r = Response::error(status);
    if status == 503 {
        r.header("Retry-After", RETRY_AFTER.to_string())
    } else {
        r
    }
}

/// Whether a storage failure is worth a log line: a request not even tried because the
/// object store is known to be down was logged once, when the outage began.
pub fn worth_logging(e: &StorageError) -> bool {
    !crate::storage::s3::not_tried(e.io())
}

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
