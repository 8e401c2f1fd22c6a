//! The durable sharded store: `DATA/torrents/AB/CD/<40 HEX>.torrent`.
//!
//! Owns: the data directory — torrent files stored byte for byte, the day lists the count and
//! `/sync/` derive from, the intent journal, the blocklist — and the invariants that tie them:
//! a file is visible under its final name only once complete and synced; "stored" is said only
//! after the rename and the day-list line are durable; the count equals the lines of the day
//! lists equals the primary files in `torrents/`; each file's whole-file checksum, an extended
//! attribute written with its bytes (see `repair`). Must never: overwrite or delete a stored
//! file (but for a repair with bytes proven to be the stored ones, `Store::replace`), walk the
//! whole tree on start-up (only `reindex` and `verify` do), or fsync on a caller's behalf one
//! file at a time when a batch can share one sync.
//!
//! Layout of `DATA/`:
//! - `torrents/AB/CD/<HASH>.torrent` — the files; a hybrid's v2 key is a hard link;
//! - `sync/YYYYMMDD.txt` — keys stored that UTC day, one 41-byte line each (see `day`);
//! - `journal/<writer>.log` — intents of the commit in flight of each writing process (a
//!   writer, named `<pid>-<start nanos>`);
//! - `tmp/<writer>/` — files being written, renamed into `torrents/` when synced;
//! - `blocklist.tsv` — takedowns.

mod commit;
mod recover;
mod reindex;
mod repair;

pub use reindex::{key_of_path, Reindexed};
pub use repair::{Backfill, StoredFile};

use super::blocklist;
use super::fsutil;
use super::journal::{self, Intent, Journal};
use crate::storage::day::{self, Day, DayLists};
use crate::storage::{at, integrity};
use crate::storage::{Config, Ids, Outcome, PutError};
use crate::torrent::hash::Key;
use crate::torrent::{self, Parsed};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// A writer's journal is started afresh past this size (each intent is ~92 bytes,
/// so about 11,000 uploads; recovery replays at most this much).
pub const JOURNAL_MAX_BYTES: u64 = 1024 * 1024;

/// Temp files of a writer rotate through this many subfolders of its temp folder (per
/// staging lane: each writer thread that stages uploads has its own) ...
pub const TMP_SLOTS: u64 = 4;
/// ... moving to the next after this many files.
pub const TMP_SLOT_FILES: u64 = 64;

/// Errors opening or maintaining the data directory.
#[derive(Debug)]
pub enum StoreError {
    /// The data directory could not be created or opened.
    Open(PathBuf, io::Error),
    /// Crash recovery could not complete.
    Recover(PathBuf, io::Error),
    /// The data directory cannot be written by this process (the error names what).
    Unwritable(PathBuf, io::Error),
    /// Any other I/O failure.
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open(p, e) => write!(f, "cannot open data directory {}: {e}", p.display()),
            StoreError::Recover(p, e) => {
                write!(
                    f,
                    "crash recovery of data directory {} failed: {e}",
                    p.display()
                )
            }
            StoreError::Unwritable(p, e) => {
                write!(f, "cannot write data directory {}: {e}", p.display())
            }
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// A validated upload written to a temporary file, waiting for `Store::commit`.
#[derive(Debug)]
pub struct Staged {
    pub ids: Ids,
    /// Size of the torrent file in bytes.
    pub size: u64,
    /// `None` when the file was already stored at staging time.
    tmp: Option<PathBuf>,
}

/// What this process needs to write: its journal and temp folder.
struct WriterFiles {
    /// The journal, and the intents of the last commit it still holds.
    journal: Mutex<(Journal, Pending)>,
    journal_path: PathBuf,
    tmp_dir: PathBuf,
    seq: AtomicU64,
}

/// `Store::bytes` cache: past days' total, and how far today's sizes file was read.
#[derive(Default)]
struct BytesCache {
    day: Day,
    base: u64,
    today_offset: u64,
    today_sum: u64,
}

/// The intents of this process's last commit, kept in its journal until its day-list lines
/// are known durable.
#[derive(Default)]
struct Pending {
    intents: Vec<Intent>,
    /// Whether the commit got as far as appending its day-list lines (else they are replayed).
    listed: bool,
    /// Counts commits, to tell whether a [`Renamed`] is still the one these intents are of.
    seq: u64,
}

/// What one step of the pipeline gives: the outcomes of the batch it made durable (empty
/// without one, or when already given to its `answer`), and the batch it renamed.
type Step = (io::Result<Vec<(Ids, Outcome)>>, io::Result<Option<Renamed>>);

/// A batch renamed into `torrents/` whose renames are not yet known durable: the second
/// result of [`Store::commit_pipelined`], to hand to its next call, which makes it durable,
/// lists it and returns its outcomes. Dropped instead, it is listed by the next commit or
/// by recovery (its intents are in the journal); its outcomes are lost, never said.
pub struct Renamed {
    day: Day,
    seq: u64,
    out: Vec<(Ids, Outcome)>,
    keys: Vec<Key>,
    sizes: Vec<u64>,
}

impl Renamed {
    /// Uploads in the batch.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.intents.is_empty()
    }

    fn clear(&mut self) {
        self.intents.clear();
        self.listed = false;
        self.seq += 1;
    }
}

/// An open data directory. Safe to share between threads; several processes may write the
/// same directory at once (renames are exclusive, day-list appends are whole lines).
pub struct Store {
    root: PathBuf,
    torrents: PathBuf,
    /// `torrents/` held open: lookups resolve `AB/CD/<HASH>.torrent` from it (`openat`), not
    /// the whole path from `/` — the path walk is a large part of a download's kernel time.
    torrents_dir: File,
    /// `torrents/AB/` folders held open once they exist (256 descriptors at most): a lookup
    /// then walks two components, `CD/<HASH>.torrent`, instead of three.
    shard_dirs: Box<[OnceLock<File>]>,
    days: DayLists,
    blocklist: blocklist::Blocklist,
    config: Config,
    /// Lines of every day list but `count_cache.0`'s, refreshed when the day changes.
    count_cache: Mutex<(Day, u64)>,
    /// The same for bytes stored.
    bytes_cache: Mutex<BytesCache>,
    writer: OnceLock<WriterFiles>,
    /// Serialises commits of this process (one journal).
    commit_lock: Mutex<()>,
    /// The data directory's file system is mounted read-only: nothing can be stored (and
    /// crash recovery was only checked, not done).
    read_only: bool,
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl Store {
    /// Opens (creating if needed) the data directory and repairs what a crash left: the
    /// journals of dead processes, their temp files, torn day-list tails.
    ///
    /// The data directory itself is created when missing, never its parent (a mistyped path
    /// is an error, not a new empty store somewhere). On a read-only file system the store
    /// opens read-only: counts, lists and files can be read, every write is refused (EROFS).
    pub fn open(dir: &Path, config: Config) -> Result<Store, StoreError> {
        let open_err = |e| StoreError::Open(dir.to_path_buf(), e);
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) if not_found(&e) => {
                return Err(open_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "its parent directory does not exist",
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(open_err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it exists and is not a directory",
                )))
            }
            Err(e) => return Err(open_err(e)),
        }
        let read_only = fsutil::is_read_only(dir).map_err(open_err)?;
        if read_only {
            for sub in ["torrents", "sync"] {
                if !dir.join(sub).is_dir() {
                    return Err(open_err(io::Error::new(
                        io::ErrorKind::ReadOnlyFilesystem,
                        format!("read-only file system and no {sub}/ folder: not a data directory"),
                    )));
                }
            }
        } else {
            // A reindex cut off between its two renames leaves only `sync.new`.
            if !dir.join("sync").exists() && dir.join("sync.new").is_dir() {
                fs::rename(dir.join("sync.new"), dir.join("sync"))
                    .map_err(|e| open_err(at(&dir.join("sync"), e)))?;
            }
            for sub in ["torrents", "sync", "journal", "tmp"] {
                let sub = dir.join(sub);
                fs::create_dir_all(&sub).map_err(|e| open_err(at(&sub, e)))?;
            }
        }
        let blocklist_path = dir.join("blocklist.tsv");
        let blocklist = blocklist::Blocklist::open(blocklist_path.clone())
            .map_err(|e| open_err(at(&blocklist_path, e)))?;
        let torrents = dir.join("torrents");
        let store = Store {
            root: dir.to_path_buf(),
            torrents_dir: File::open(&torrents).map_err(|e| open_err(at(&torrents, e)))?,
            torrents,
            shard_dirs: (0..256).map(|_| OnceLock::new()).collect(),
            days: DayLists::new(dir.join("sync")),
            blocklist,
            config,
            count_cache: Mutex::new((Day(0), 0)),
            bytes_cache: Mutex::new(BytesCache::default()),
            writer: OnceLock::new(),
            commit_lock: Mutex::new(()),
            read_only,
        };
        if read_only {
            store
                .check_recovery()
                .map_err(|e| StoreError::Recover(dir.to_path_buf(), e))?;
        } else {
            store
                .recover()
                .map_err(|e| StoreError::Recover(dir.to_path_buf(), e))?;
        }
        Ok(store)
    }

    /// [`open`](Self::open) for the commands that only read (`count`, `verify`): a data
    /// directory that does not exist is an error, never created (a mistyped `--data` must not
    /// look like an empty, healthy store).
    pub fn open_existing(dir: &Path, config: Config) -> Result<Store, StoreError> {
        let open_err = |e| StoreError::Open(dir.to_path_buf(), e);
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => Store::open(dir, config),
            Ok(_) => Err(open_err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it exists and is not a directory",
            ))),
            Err(e) if not_found(&e) => Err(open_err(io::Error::new(
                io::ErrorKind::NotFound,
                "it does not exist (a command that only reads never creates it)",
            ))),
            Err(e) => Err(open_err(e)),
        }
    }

    /// Checks that this process can write everything a writer of this data directory
    /// writes: a probe file is created and removed in the data directory and in `torrents/`,
    /// `sync/`, `journal/` and `tmp/`; today's day list and sizes file, when they exist, are
    /// opened for appending; and every existing `torrents/AB/` folder must be writable. The
    /// `torrents/AB/CD/` folders below are not checked (65,536 of them): a write refused there
    /// fails that upload with the folder's path in the error.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let fail = |e| StoreError::Unwritable(self.root.clone(), e);
        for dir in [
            self.root.clone(),
            self.torrents.clone(),
            self.root.join("sync"),
            self.root.join("journal"),
            self.root.join("tmp"),
        ] {
            fsutil::probe_dir(&dir).map_err(|e| {
                fail(io::Error::new(
                    e.kind(),
                    format!("cannot create a file in {}: {e}", dir.display()),
                ))
            })?;
        }
        let today = Day::today();
        for file in [self.days.path(today), self.days.sizes_path(today)] {
            match OpenOptions::new().append(true).open(&file) {
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(fail(at(&file, e))),
            }
        }
        let shards = fs::read_dir(&self.torrents).map_err(|e| fail(at(&self.torrents, e)))?;
        for e in shards {
            let e = e.map_err(|e| fail(at(&self.torrents, e)))?;
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = std::ffi::CString::new(e.file_name().as_encoded_bytes().to_vec())
                .unwrap_or_default();
            // SAFETY: a NUL-terminated name relative to the open `torrents/` descriptor.
            let r = unsafe {
                libc::faccessat(
                    self.torrents_dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::W_OK | libc::X_OK,
                    libc::AT_EACCESS,
                )
            };
            if r != 0 {
                return Err(fail(at(&e.path(), io::Error::last_os_error())));
            }
        }
        Ok(())
    }

    /// Whether the data directory is on a read-only file system (nothing can be stored).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn days(&self) -> &DayLists {
        &self.days
    }

    /// Where the torrent filed under `key` lives.
    pub fn torrent_path(&self, key: &Key) -> PathBuf {
        let h = key.hex();
        let h = std::str::from_utf8(&h).unwrap_or_default();
        self.torrents
            .join(&h[0..2])
            .join(&h[2..4])
            .join(format!("{h}.torrent"))
    }

    /// Where `key`'s file is, for the `*at` system calls: a directory descriptor and a
    /// NUL-terminated path relative to it (`path[start..]`). From the held `torrents/AB/`
    /// folder when there is one ("CD/<40 HEX>.torrent"), else from `torrents/`.
    fn locate(&self, key: &Key) -> (RawFd, [u8; 55], usize) {
        let h = key.hex();
        // "AB/CD/<40 HEX>.torrent\0", built on the stack.
        let mut rel = [0u8; 55];
        rel[..2].copy_from_slice(&h[..2]);
        rel[2] = b'/';
        rel[3..5].copy_from_slice(&h[2..4]);
        rel[5] = b'/';
        rel[6..46].copy_from_slice(&h);
        rel[46..54].copy_from_slice(b".torrent");
        match self.shard_dir(key.0[0], [h[0], h[1]]) {
            Some(d) => (d.as_raw_fd(), rel, 3),
            None => (self.torrents_dir.as_raw_fd(), rel, 0),
        }
    }

    /// Opens the stored file, or `None` when nothing is filed under `key`.
    pub fn open_torrent(&self, key: &Key) -> io::Result<Option<File>> {
        use std::os::fd::FromRawFd;
        let (dir, path, start) = self.locate(key);
        // SAFETY: the path is NUL-terminated; the directory descriptors are open for our
        // lifetime.
        let fd = unsafe {
            libc::openat(
                dir,
                path[start..].as_ptr() as *const libc::c_char,
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: a descriptor we own from here on.
            return Ok(Some(unsafe { File::from_raw_fd(fd) }));
        }
        let e = io::Error::last_os_error();
        if not_found(&e) {
            Ok(None)
        } else {
            Err(at(&self.torrent_path(key), e))
        }
    }

    /// The held `torrents/AB/` folder of first byte `ab` (`hex`: "AB"), opened on first use;
    /// `None` while it does not exist (nothing stored under it yet). Shard folders are never
    /// removed, so a held one stays the folder lookups must use.
    fn shard_dir(&self, ab: u8, hex: [u8; 2]) -> Option<&File> {
        use std::os::fd::FromRawFd;
        let slot = &self.shard_dirs[ab as usize];
        if let Some(d) = slot.get() {
            return Some(d);
        }
        let name = [hex[0], hex[1], 0];
        // SAFETY: `name` is NUL-terminated; `torrents_dir` is open.
        let fd = unsafe {
            libc::openat(
                self.torrents_dir.as_raw_fd(),
                name.as_ptr() as *const libc::c_char,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a descriptor we own; if another thread won the race, ours is closed.
        let f = unsafe { File::from_raw_fd(fd) };
        Some(slot.get_or_init(|| f))
    }

    /// Whether something is filed under `key` (resolved like `open_torrent`: the uploads'
    /// duplicate check walks two path components, not the whole path).
    pub fn contains(&self, key: &Key) -> bool {
        let (dir, path, start) = self.locate(key);
        // SAFETY: as in `open_torrent`.
        unsafe {
            libc::faccessat(
                dir,
                path[start..].as_ptr() as *const libc::c_char,
                libc::F_OK,
                0,
            ) == 0
        }
    }

    /// The takedown reason when `key` is blocked.
    pub fn blocked(&self, key: &Key) -> Option<String> {
        self.blocklist.get(key)
    }

    pub fn blocklist(&self) -> &blocklist::Blocklist {
        &self.blocklist
    }

    /// Number of stored torrents: one `stat` of today's list plus a per-day cached sum.
    pub fn count(&self) -> u64 {
        let today = Day::today();
        let mut c = self.count_cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 != today {
            let mut base = 0;
            for d in self.days.days().unwrap_or_default() {
                if d != today {
                    base += self.days.len(d).unwrap_or(0);
                }
            }
            *c = (today, base);
        }
        c.1 + self.days.len(today).unwrap_or(0)
    }

    /// Bytes of all stored torrents (hybrid links counted once), from the per-day sizes files:
    /// past days summed once a day, today's file read incrementally.
    pub fn bytes(&self) -> u64 {
        let today = Day::today();
        let mut c = self.bytes_cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.day != today {
            let mut base = 0u64;
            for d in self.days.days().unwrap_or_default() {
                if d != today {
                    base = base.saturating_add(self.day_bytes(d));
                }
            }
            *c = BytesCache {
                day: today,
                base,
                today_offset: 0,
                today_sum: 0,
            };
        }
        if let Ok((sum, next)) = self.days.sizes_sum(today, c.today_offset) {
            c.today_sum = c.today_sum.saturating_add(sum);
            c.today_offset = next;
        }
        c.base.saturating_add(c.today_sum)
    }

    /// Bytes stored on a past day: its sizes file, plus the sizes of listed files it misses
    /// (a crash between a commit's two appends).
    fn day_bytes(&self, day: Day) -> u64 {
        let (sum, end) = self.days.sizes_sum(day, 0).unwrap_or((0, 0));
        let recorded = (end / 8) as usize;
        if recorded as u64 >= self.days.len(day).unwrap_or(0) {
            return sum; // the usual case: no list to read
        }
        let lines = self.days.read(day).unwrap_or_default();
        let missing: u64 = lines
            .chunks_exact(day::LINE_LEN as usize)
            .skip(recorded)
            .filter_map(|l| std::str::from_utf8(&l[..40]).ok())
            .filter_map(|h| Key::parse(h).ok())
            .map(|k| fs::metadata(self.torrent_path(&k)).map_or(0, |m| m.len()))
            .sum();
        sum.saturating_add(missing)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.settle() {
            eprintln!(
                "thetorrent: {}: could not settle the journal ({e}); the next start recovers it",
                self.root.display()
            );
        }
    }
}

#[cfg(test)]
mod tests;
