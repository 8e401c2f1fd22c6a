//! Small durable file-system operations the store is built from.
//!
//! Owns: the few syscalls whose exact semantics the durability invariants rest on
//! (`renameat2(RENAME_NOREPLACE)`, `syncfs`, directory fsync), and the extended attribute that
//! holds a stored file's whole-file checksum. Must never: be used on paths outside the data
//! directory.

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
    // SAFETY: statvfs is plain data, for which all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path, and a statvfs for the kernel to fill.
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

/// The extended attribute holding a stored file's whole-file SHA-256 (32 raw bytes, so that it
/// fits in an ext4 inode beside the file's other attributes: no extra block per file).
pub const CHECKSUM_XATTR: &str = "user.thetorrent.sha256";

fn checksum_name() -> &'static std::ffi::CStr {
    c"user.thetorrent.sha256"
}

/// Whether an `*xattr` call failed because the file system keeps no user attributes.
fn xattrs_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENOSYS))
}

/// Records `sum` as the open file's whole-file checksum. `Ok(false)` when the file system has
/// no user extended attributes (the file is then stored without a checksum).
pub fn set_checksum(f: &File, sum: &[u8; 32]) -> io::Result<bool> {
    // SAFETY: a valid descriptor, a NUL-terminated name and a 32-byte buffer.
    let r = unsafe {
        libc::fsetxattr(
            f.as_raw_fd(),
            checksum_name().as_ptr(),
            sum.as_ptr() as *const libc::c_void,
            sum.len(),
            0,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if xattrs_unsupported(&e) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// The open file's recorded whole-file checksum, `None` when it has none (or the file system
/// keeps no user extended attributes). A value of another length is an error: the attribute
/// itself is damaged.
pub fn get_checksum(f: &File) -> io::Result<Option<[u8; 32]>> {
    let mut sum = [0u8; 32];
    // SAFETY: a valid descriptor, a NUL-terminated name and a 32-byte buffer.
    let r = unsafe {
        libc::fgetxattr(
            f.as_raw_fd(),
            checksum_name().as_ptr(),
            sum.as_mut_ptr() as *mut libc::c_void,
            sum.len(),
        )
    };
    if r == 32 {
        return Ok(Some(sum));
    }
    if r >= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("its {CHECKSUM_XATTR} attribute is {r} bytes long, not 32"),
        ));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENODATA) || xattrs_unsupported(&e) {
        Ok(None)
    } else if e.raw_os_error() == Some(libc::ERANGE) {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("its {CHECKSUM_XATTR} attribute is longer than 32 bytes"),
        ))
    } else {
        Err(e)
    }
}

/// Writes a probe file into `dir` and removes it: whether this process can create files
/// there (permissions, ownership, a read-only or full file system all show here).
pub fn probe_dir(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    let written = f.write_all(b"probe");
    drop(f);
    let removed = fs::remove_file(&probe);
    written.and(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_attribute_round_trips() {
        assert_eq!(checksum_name().to_str(), Ok(CHECKSUM_XATTR));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"bytes").unwrap();
        let f = File::open(&path).unwrap();
        assert_eq!(get_checksum(&f).unwrap(), None);
        let sum = [7u8; 32];
        if set_checksum(&f, &sum).unwrap() {
            assert_eq!(get_checksum(&f).unwrap(), Some(sum));
        }
        // An attribute of another length is damage, not a checksum.
        let name = checksum_name();
        // SAFETY: a valid descriptor, a NUL-terminated name and a 3-byte buffer.
        let r =
            unsafe { libc::fsetxattr(f.as_raw_fd(), name.as_ptr(), b"abc".as_ptr().cast(), 3, 0) };
        if r == 0 {
            let e = get_checksum(&f).unwrap_err();
            assert!(e.to_string().contains("3 bytes long, not 32"), "{e}");
        }
    }
}
