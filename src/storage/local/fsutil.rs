//! Small durable file-system operations the store is built from.
//!
//! Owns: the few syscalls whose exact semantics the durability invariants rest on
//! (`renameat2(RENAME_NOREPLACE)`, `syncfs`, directory fsync). Must never: be used on paths
//! outside the data directory.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Moves `from` to `to` unless `to` exists. `Ok(false)` means `to` was already there (and
/// `from` is left in place). Atomic: no window in which another writer's file is replaced.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<bool> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: both are valid NUL-terminated strings; AT_FDCWD with absolute or relative paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EEXIST) => Ok(false),
        // File systems without RENAME_NOREPLACE: link() is just as exclusive.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => match fs::hard_link(from, to) {
            Ok(()) => {
                fs::remove_file(from)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
        _ => Err(e),
    }
}

/// Flushes every dirty page and inode of the file system holding `dir` to stable storage.
/// One call makes a whole batch of files and renames durable (instead of one fsync each).
pub fn syncfs(dir: &File) -> io::Result<()> {
    // SAFETY: a valid open file descriptor.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// fsync of a directory, making its entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `data` atomically and durably (temp file, fsync, rename, dir fsync).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Whether the file system holding `dir` is mounted read-only.
pub fn is_read_only(dir: &Path) -> io::Result<bool> {
    let c = cstr(dir)?;
    // SAFETY: a valid path and a zeroed statvfs for the kernel to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// Takes an exclusive `flock` without waiting. `Ok(false)` when another process holds it.
pub fn try_lock(f: &File) -> io::Result<bool> {
    // SAFETY: a valid open file descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}
