//! The durable sharded store: `DATA/torrents/AB/CD/<40 HEX>.torrent`.
//!
//! Owns: the data directory — torrent files stored byte for byte, the day lists the count and
//! `/sync/` derive from, the intent journal, the blocklist — and the invariants that tie them:
//! a file is visible under its final name only once complete and synced; "stored" is said only
//! after the rename and the day-list line are durable; the count equals the lines of the day
//! lists equals the primary files in `torrents/`. Must never: overwrite or delete a stored
//! file, walk the whole tree on start-up (only `reindex` and `verify` do), or fsync on a
//! caller's behalf one file at a time when a batch can share one sync.
//!
//! Layout of `DATA/`:
//! - `torrents/AB/CD/<HASH>.torrent` — the files; a hybrid's v2 key is a hard link;
//! - `sync/YYYYMMDD.txt` — keys stored that UTC day, one 41-byte line each (see `day`);
//! - `journal/<writer>.log` — intents of the commit in flight of each writing process (a
//!   writer, named `<pid>-<start nanos>`);
//! - `tmp/<writer>/` — files being written, renamed into `torrents/` when synced;
//! - `blocklist.tsv` — takedowns.

use super::blocklist;
use super::fsutil;
use super::journal::{self, Intent, Journal};
use crate::storage::day::{self, Day, DayLists};
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
                fs::rename(dir.join("sync.new"), dir.join("sync")).map_err(open_err)?;
            }
            for sub in ["torrents", "sync", "journal", "tmp"] {
                fs::create_dir_all(dir.join(sub)).map_err(open_err)?;
            }
        }
        let blocklist = blocklist::Blocklist::open(dir.join("blocklist.tsv")).map_err(open_err)?;
        let store = Store {
            root: dir.to_path_buf(),
            torrents: dir.join("torrents"),
            torrents_dir: File::open(dir.join("torrents")).map_err(open_err)?,
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

    /// Whether the data directory is on a read-only file system (nothing can be stored).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Recovery on a read-only file system: nothing can be repaired, so only say whether
    /// something would have been (the count and `/sync/` then miss what a crash left).
    fn check_recovery(&self) -> io::Result<()> {
        let jdir = self.root.join("journal");
        let entries = match fs::read_dir(&jdir) {
            Ok(e) => e,
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut pending = 0;
        for e in entries {
            let path = e?.path();
            for i in journal::parse(&fs::read(&path)?) {
                let listed = self
                    .days
                    .read(i.day)?
                    .chunks_exact(day::LINE_LEN as usize)
                    .any(|l| l[..40] == i.key.hex());
                if !listed && self.torrent_path(&i.key).exists() {
                    pending += 1;
                }
            }
        }
        if pending > 0 {
            eprintln!(
                "thetorrent: {}: read-only, and {pending} torrents stored before a crash are \
                 not yet in the day lists (the count is short until it is opened writable)",
                self.root.display()
            );
        }
        Ok(())
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
            Err(e)
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

    /// This process's journal and temp folder, created on its first write.
    fn writer(&self) -> io::Result<&WriterFiles> {
        if let Some(s) = self.writer.get() {
            return Ok(s);
        }
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::EROFS));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("{}-{nanos}", std::process::id());
        let journal_path = self.root.join("journal").join(format!("{id}.log"));
        let journal = Journal::create(&journal_path)?;
        let tmp_dir = self.root.join("tmp").join(&id);
        fs::create_dir_all(&tmp_dir)?;
        let _ = self.writer.set(WriterFiles {
            journal: Mutex::new((journal, Pending::default())),
            journal_path,
            tmp_dir,
            seq: AtomicU64::new(0),
        });
        self.writer
            .get()
            .ok_or_else(|| io::Error::other("writer files not set"))
    }

    /// Checks limits and the blocklist, validates, and writes `bytes` to a temp file (not yet
    /// synced, not yet visible). Rejections change nothing.
    pub fn stage(&self, bytes: &[u8]) -> Result<Staged, PutError> {
        self.check_size(bytes.len() as u64)?;
        let parsed = torrent::validate(bytes).map_err(PutError::Invalid)?;
        self.stage_parsed(bytes, &parsed)
    }

    /// `stage` for bytes already validated into `parsed`.
    pub fn stage_parsed(&self, bytes: &[u8], parsed: &Parsed) -> Result<Staged, PutError> {
        self.stage_in_lane(bytes, parsed, 0)
    }

    /// `stage_parsed` for staging lane `lane`: concurrent stagers each write into their own
    /// temp subfolders, so that their creates do not queue on one folder's lock.
    pub fn stage_in_lane(
        &self,
        bytes: &[u8],
        parsed: &Parsed,
        lane: u64,
    ) -> Result<Staged, PutError> {
        self.check_size(bytes.len() as u64)?;
        let ids = Ids::of(parsed);
        ids.check_blocked(|k| self.blocked(k))?;
        if self.contains(&ids.key) {
            return Ok(Staged {
                ids,
                size: bytes.len() as u64,
                tmp: None,
            });
        }
        let s = self.writer()?;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed);
        // Temp files rotate through a few subfolders, so that creating the next files and
        // renaming the previous batch out do not wait on one folder's lock.
        let dir = s.tmp_dir.join(format!(
            "{}",
            lane * TMP_SLOTS + (seq / TMP_SLOT_FILES) % TMP_SLOTS
        ));
        let tmp = dir.join(format!("{seq}.tmp"));
        let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
        let res = match create() {
            // First use of the subfolder, or the temp folder was removed behind our back (an
            // operator cleaning up): again.
            Err(e) if not_found(&e) => fs::create_dir_all(&dir).and_then(|_| create()),
            r => r,
        }
        .and_then(|mut f| f.write_all(bytes));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(PutError::from(e));
        }
        Ok(Staged {
            ids,
            size: bytes.len() as u64,
            tmp: Some(tmp),
        })
    }

    /// Checks the size limit (callers with a file size can reject before reading).
    pub fn check_size(&self, size: u64) -> Result<(), PutError> {
        self.config.check_size(size)
    }

    /// Makes a batch of staged uploads durable and visible, sharing the syncs: temps synced,
    /// intents journaled, renames (never replacing an existing file), renames synced, keys
    /// appended to today's list. Each `Ok` outcome is durable when this returns. An error
    /// fails the whole batch (its temp files are removed); files it had already renamed are
    /// completed by the next commit of this process, or by recovery after a restart.
    pub fn commit(&self, batch: Vec<Staged>) -> io::Result<Vec<(Ids, Outcome)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Both halves under one lock: no other commit of this process comes between.
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (_, renamed) = self.commit_step(batch, None, &mut |_| {});
        match renamed? {
            Some(r) => self.commit_step(Vec::new(), Some(r), &mut |_| {}).0,
            None => Ok(Vec::new()),
        }
    }

    /// The pipelined form of [`commit`](Self::commit) (the server's writer): one `syncfs` per
    /// call serves two batches. It makes durable, together, the renames of `prev` (the batch
    /// the previous call renamed), `batch`'s temp files and `batch`'s intents; then it appends
    /// `prev`'s keys to the day list and hands `prev`'s outcomes (or its error) to `answer`,
    /// before it renames `batch`'s temps into place. It returns `batch`, renamed but not yet
    /// durable, for the next call (`None` when `batch` is empty; call with an empty batch to
    /// finish the last one). `answer` is called exactly once (with no outcomes without a
    /// `prev`). Same invariants as `commit`: a file is renamed only after its bytes and
    /// intent are durable, and an outcome is given only after its rename is.
    pub fn commit_pipelined(
        &self,
        batch: Vec<Staged>,
        prev: Option<Renamed>,
        answer: impl FnOnce(io::Result<Vec<(Ids, Outcome)>>),
    ) -> io::Result<Option<Renamed>> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut answer = Some(answer);
        let mut once = |r: io::Result<Vec<(Ids, Outcome)>>| {
            if let Some(a) = answer.take() {
                a(r)
            }
        };
        let (rest, renamed) = self.commit_step(batch, prev, &mut once);
        once(rest);
        renamed
    }

    /// One step of the pipeline; the caller holds `commit_lock`. `prev`'s outcomes go to
    /// `answer` as soon as they are known, before the renames, or else in the result.
    fn commit_step(
        &self,
        mut batch: Vec<Staged>,
        mut prev: Option<Renamed>,
        answer: &mut dyn FnMut(io::Result<Vec<(Ids, Outcome)>>),
    ) -> Step {
        fn discard(batch: &mut Vec<Staged>) {
            for st in batch.drain(..) {
                if let Some(tmp) = st.tmp {
                    let _ = fs::remove_file(tmp);
                }
            }
        }
        fn copy(e: &io::Error) -> io::Error {
            match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }
        }
        if batch.is_empty() && prev.is_none() {
            return (Ok(Vec::new()), Ok(None));
        }
        let mut prev_result: io::Result<Vec<(Ids, Outcome)>> = Ok(Vec::new());
        let (s, root) = match self.writer().and_then(|s| Ok((s, File::open(&self.root)?))) {
            Ok(x) => x,
            Err(e) => {
                discard(&mut batch);
                // `prev`'s renames stay, unlisted: the next commit or recovery lists them.
                let pe = prev.map(|_| Err(copy(&e))).unwrap_or(Ok(Vec::new()));
                return (pe, Err(e));
            }
        };
        let day = Day::today();
        let intents: Vec<Intent> = batch
            .iter()
            .filter(|st| st.tmp.is_some())
            .map(|st| Intent {
                day,
                key: st.ids.key,
                link: st.ids.link(),
            })
            .collect();
        let mut guard = s.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (journal, pending) = &mut *guard;
        // 0. A full journal starts afresh (rarely): first the batch in flight is finished and
        //    every day-list line the journal covers made durable (one extra syncfs), or
        //    completed when the last commit failed midway.
        if journal.len() > JOURNAL_MAX_BYTES {
            if let Some(p) = prev.take() {
                prev_result = fsutil::syncfs(&root).and_then(|()| self.list(p, pending));
            }
            let r = fsutil::syncfs(&root).and_then(|()| {
                if !pending.listed && !pending.is_empty() {
                    self.replay(&pending.intents)?;
                }
                journal.clear()
            });
            if let Err(e) = r {
                discard(&mut batch);
                return (prev_result, Err(e));
            }
            pending.clear();
            if batch.is_empty() {
                return (prev_result, Ok(None));
            }
        }
        // 1. Room for the day-list lines (this batch's and the unlisted `prev`'s), before
        //    anything becomes visible: a disk that is full fails the commit here, not between
        //    the renames and the lines. Then the intents for what is about to appear.
        let mut batch_error = None;
        if !batch.is_empty() {
            let unlisted = prev
                .as_ref()
                .filter(|p| p.day == day)
                .map_or(0, |p| p.keys.len());
            let reserved = match intents.len() {
                0 => Ok(()),
                n => self.days.reserve(day, n + unlisted),
            };
            if let Err(e) = reserved.and_then(|()| journal.append(&intents)) {
                discard(&mut batch);
                batch_error = Some(e);
            }
        }
        // 2. One syncfs: `prev`'s renames, these temp files' contents and intents, and the
        //    previous day-list lines reach the disk.
        if let Err(e) = fsutil::syncfs(&root) {
            discard(&mut batch);
            let pe = match prev {
                Some(_) => Err(copy(&e)),
                None => prev_result,
            };
            return (pe, Err(batch_error.unwrap_or(e)));
        }
        // 3. `prev` is durable: its keys go to the day list (not synced here: the next syncfs
        //    does it, or recovery from the journal that keeps its intents), and it may be
        //    answered. A commit that failed midway is completed now (its renames are durable).
        let prev_seq = prev.as_ref().map(|p| p.seq);
        if !pending.listed && !pending.is_empty() && prev_seq != Some(pending.seq) {
            if let Err(e) = self.replay(&pending.intents) {
                discard(&mut batch);
                return (prev.map_or(prev_result, |_| Err(copy(&e))), Err(e));
            }
            pending.listed = true;
        }
        if let Some(p) = prev.take() {
            prev_result = self.list(p, pending);
        }
        if let Some(e) = batch_error {
            return (prev_result, Err(e));
        }
        if batch.is_empty() {
            return (prev_result, Ok(None));
        }
        // `prev` is answered now: the renames below need not delay it.
        answer(std::mem::replace(&mut prev_result, Ok(Vec::new())));
        pending.intents = intents;
        pending.listed = false;
        pending.seq += 1;
        // 4. Renames, exclusive: a file another writer created first is never replaced.
        let mut renamed = Renamed {
            day,
            seq: pending.seq,
            out: Vec::with_capacity(batch.len()),
            keys: Vec::new(),
            sizes: Vec::new(),
        };
        let mut result = Ok(());
        for st in batch {
            let Some(tmp) = st.tmp else {
                renamed.out.push((st.ids, Outcome::AlreadyStored));
                continue;
            };
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
                continue;
            }
            match self.place(&tmp, &st.ids) {
                Ok(true) => {
                    renamed.keys.push(st.ids.key);
                    renamed.sizes.push(st.size);
                    renamed.out.push((st.ids, Outcome::Stored));
                }
                Ok(false) => {
                    let _ = fs::remove_file(&tmp);
                    renamed.out.push((st.ids, Outcome::AlreadyStored));
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    result = Err(e);
                }
            }
        }
        // A failed batch's renamed files are listed by the next commit (`pending`).
        (prev_result, result.map(|()| Some(renamed)))
    }

    /// Appends the keys of a renamed batch, now durable, to its day list and gives its
    /// outcomes. Not synced: the next commit's first syncfs does it, and the journal keeps
    /// the intents until then.
    fn list(&self, r: Renamed, pending: &mut Pending) -> io::Result<Vec<(Ids, Outcome)>> {
        if pending.seq != r.seq || pending.listed {
            // Someone else completed it meanwhile (a replay): complete it the idempotent way.
            let intents: Vec<Intent> = r
                .keys
                .iter()
                .map(|&key| {
                    let link = r
                        .out
                        .iter()
                        .find(|(i, _)| i.key == key)
                        .and_then(|(i, _)| i.link());
                    Intent {
                        day: r.day,
                        key,
                        link,
                    }
                })
                .collect();
            self.replay(&intents)?;
            return Ok(r.out);
        }
        self.days.append_lines(r.day, &r.keys, false)?;
        pending.listed = true;
        // Sizes for "bytes stored"; a crash between the two appends is repaired by
        // `day_bytes`, which sizes the listed files it finds missing.
        let _ = self.days.append_sizes(r.day, &r.sizes, false);
        Ok(r.out)
    }

    /// Ends this process's writing cleanly: the last commit's day-list lines are made
    /// durable, then its journal and temp folder are removed (what recovery would otherwise
    /// do at the next start). Runs when the store is dropped; harmless to call twice.
    pub fn settle(&self) -> io::Result<()> {
        let Some(s) = self.writer.get() else {
            return Ok(());
        };
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut guard = s.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (journal, pending) = &mut *guard;
        if !pending.is_empty() {
            if pending.listed {
                // Every day-list line appended since the last syncfs (with the pipelined
                // writer that can be two commits' lines, on two days at midnight).
                fsutil::syncfs(&File::open(&self.root)?)?;
            } else {
                self.replay(&pending.intents)?;
            }
            journal.clear()?;
            pending.clear();
        }
        let _ = fs::remove_dir_all(&s.tmp_dir);
        fs::remove_file(&s.journal_path)
    }

    /// Renames `tmp` to the key's path (creating shard folders) and links a hybrid's second
    /// key. `Ok(false)`: already there.
    fn place(&self, tmp: &Path, ids: &Ids) -> io::Result<bool> {
        let dst = self.torrent_path(&ids.key);
        let created = match fsutil::rename_noreplace(tmp, &dst) {
            Err(e) if not_found(&e) => {
                fs::create_dir_all(dst.parent().unwrap_or(&self.torrents))?;
                fsutil::rename_noreplace(tmp, &dst)?
            }
            r => r?,
        };
        if let Some(link) = ids.link() {
            self.link(&dst, &link)?;
        }
        Ok(created)
    }

    fn link(&self, dst: &Path, link: &Key) -> io::Result<()> {
        let lp = self.torrent_path(link);
        let r = match fs::hard_link(dst, &lp) {
            Err(e) if not_found(&e) => {
                fs::create_dir_all(lp.parent().unwrap_or(&self.torrents))?;
                fs::hard_link(dst, &lp)
            }
            r => r,
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            r => r,
        }
    }

    /// Validates and stores one torrent durably.
    pub fn put(&self, bytes: &[u8]) -> Result<(Ids, Outcome), PutError> {
        let staged = self.stage(bytes)?;
        let mut v = self.commit(vec![staged])?;
        v.pop()
            .ok_or_else(|| PutError::from(io::Error::other("empty commit")))
    }

    /// Finishes what dead writers left: intents whose file exists but is missing from its day
    /// list are appended (hybrid links restored); temp folders and journals are removed; torn
    /// day-list tails are cut. Reads only `journal/`, `tmp/` and the day lists named there.
    fn recover(&self) -> io::Result<()> {
        let jdir = self.root.join("journal");
        let mut live = HashSet::new();
        let mut touched = Vec::new();
        for e in fs::read_dir(&jdir)? {
            let path = e?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .map(str::to_string)
            else {
                continue;
            };
            let f = match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(f) => f,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            if !fsutil::try_lock(&f)? {
                live.insert(id);
                continue;
            }
            let intents = journal::parse(&fs::read(&path)?);
            touched.extend(self.replay(&intents)?);
            let _ = fs::remove_dir_all(self.root.join("tmp").join(&id));
            fs::remove_file(&path)?;
        }
        // Temp folders of writers without a live journal. A process that started writing
        // after the journals were listed has a live journal by now (it is created before the
        // temp folder): look again before removing anything.
        for e in fs::read_dir(self.root.join("tmp"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) && !self.journal_alive(&name)? {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        // Torn tails of any day list (cheap: one stat per day).
        for d in self.days.days()? {
            if !touched.contains(&d) && fs::metadata(self.days.path(d))?.len() % day::LINE_LEN != 0
            {
                self.days.repair(d)?;
            }
        }
        Ok(())
    }

    /// Whether writer `id` has a journal that its (live) process holds locked.
    fn journal_alive(&self, id: &str) -> io::Result<bool> {
        let path = self.root.join("journal").join(format!("{id}.log"));
        match File::open(path) {
            Ok(f) => Ok(!fsutil::try_lock(&f)?),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Completes the intents of an interrupted commit: each whose file exists gets its hybrid
    /// link and, unless its day list already holds it, its line. Idempotent. Returns the days
    /// whose lists were appended to.
    fn replay(&self, intents: &[Intent]) -> io::Result<Vec<Day>> {
        let mut add: BTreeMap<Day, Vec<Key>> = BTreeMap::new();
        let mut listed: HashMap<Day, HashSet<[u8; 40]>> = HashMap::new();
        for i in intents {
            let dst = self.torrent_path(&i.key);
            if !dst.exists() {
                continue; // never renamed: the upload was not answered "stored"
            }
            if let Some(link) = i.link {
                self.link(&dst, &link)?;
            }
            let set = match listed.entry(i.day) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    let text = self.days.read(i.day)?;
                    v.insert(
                        text.chunks_exact(day::LINE_LEN as usize)
                            .filter_map(|l| l[..40].try_into().ok())
                            .collect(),
                    )
                }
            };
            if set.insert(i.key.hex()) {
                add.entry(i.day).or_default().push(i.key);
            }
        }
        let n: usize = add.values().map(Vec::len).sum();
        if n > 0 {
            eprintln!(
                "thetorrent: {}: recovered {n} torrents of an interrupted commit into the day lists",
                self.root.display()
            );
        }
        let mut touched = Vec::new();
        for (day, keys) in add {
            // A torn tail first, so the appended lines stay aligned.
            if self.days.path(day).exists() {
                self.days.repair(day)?;
            }
            self.days.append(day, &keys)?;
            let sizes: Vec<u64> = keys
                .iter()
                .map(|k| fs::metadata(self.torrent_path(k)).map_or(0, |m| m.len()))
                .collect();
            self.days.append_sizes(day, &sizes, true)?;
            touched.push(day);
        }
        Ok(touched)
    }

    /// Every file under `torrents/` (iteratively; order is the directory order).
    pub fn walk(&self, mut f: impl FnMut(&Path, &fs::Metadata)) -> io::Result<()> {
        let mut stack = vec![self.torrents.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir)? {
                let e = e?;
                let ft = e.file_type()?;
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_file() {
                    let m = e.metadata()?;
                    f(&e.path(), &m);
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the day lists from the tree (each primary file on its modification day).
    /// Walks everything: only for an explicit `thetorrent reindex`. Returns the count.
    pub fn reindex(&self) -> io::Result<u64> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut lists: BTreeMap<Day, Vec<(i64, Key, u64)>> = BTreeMap::new();
        let mut err = None;
        self.walk(|path, meta| {
            let Some(key) = key_of_path(path) else { return };
            if meta.nlink() > 1 {
                // A hybrid: only the name of its primary key (the v1 hash) counts.
                match fs::read(path).map(|b| torrent::validate(&b).map(|p| p.key())) {
                    Ok(Ok(k)) if k != key => return,
                    Ok(_) => {}
                    Err(e) => {
                        err.get_or_insert(e);
                        return;
                    }
                }
            }
            let mtime = meta.mtime();
            let day = Day::of(meta.modified().unwrap_or(std::time::UNIX_EPOCH));
            lists.entry(day).or_default().push((mtime, key, meta.len()));
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        let mut count = 0;
        let lists: BTreeMap<Day, Vec<(Key, u64)>> = lists
            .into_iter()
            .map(|(d, mut v)| {
                v.sort();
                count += v.len() as u64;
                (d, v.into_iter().map(|(_, k, n)| (k, n)).collect())
            })
            .collect();
        let new = self.root.join("sync.new");
        let old = self.root.join("sync.old");
        let _ = fs::remove_dir_all(&new);
        day::write_all(&new, &lists)?;
        fsutil::sync_dir(&new)?;
        let _ = fs::remove_dir_all(&old);
        fs::rename(self.root.join("sync"), &old)?;
        fs::rename(&new, self.root.join("sync"))?;
        fsutil::sync_dir(&self.root)?;
        fs::remove_dir_all(&old)?;
        *self.count_cache.lock().unwrap_or_else(|p| p.into_inner()) = (Day(0), 0);
        *self.bytes_cache.lock().unwrap_or_else(|p| p.into_inner()) = BytesCache::default();
        Ok(count)
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

/// The key in a stored file's name (`<40 HEX>.torrent`), if it is one.
pub fn key_of_path(path: &Path) -> Option<Key> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_suffix(".torrent")?;
    if hex.len() != 40 {
        return None;
    }
    Key::parse(hex).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid single-file v1 torrent, distinct per `n`.
    fn torrent(n: u32) -> Vec<u8> {
        let name = format!("file-{n}");
        let mut t = b"d4:infod6:lengthi1e4:name".to_vec();
        t.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
        t.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
        t.extend_from_slice(&[7u8; 20]);
        t.extend_from_slice(b"ee");
        t
    }

    fn pipelined(s: &Store, batch: Vec<Staged>, prev: Option<Renamed>) -> Step {
        let mut done = None;
        let r = s.commit_pipelined(batch, prev, |d| done = Some(d));
        (done.expect("answered"), r)
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("tt-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        Dir(d)
    }

    /// The pipeline: a batch is renamed (visible, uncounted, unanswered) by one call, and
    /// counted and answered by the next, whose own batch is renamed meanwhile.
    #[test]
    fn pipelined_commits_answer_one_call_later() {
        let d = dir("pipe");
        let s = Store::open(&d.0, Config::default()).unwrap();
        let a: Vec<Staged> = (0..3).map(|n| s.stage(&torrent(n)).unwrap()).collect();
        let keys_a: Vec<Key> = a.iter().map(|st| st.ids.key).collect();
        let r = pipelined(&s, a, None);
        assert!(r.0.unwrap().is_empty());
        let r = r.1.unwrap().unwrap();
        assert_eq!(r.len(), 3);
        assert!(keys_a.iter().all(|k| s.contains(k)), "renamed");
        assert_eq!(s.count(), 0, "not listed before its rename is durable");
        // The same torrent again, and new ones, while the first batch is in flight.
        let mut b = vec![s.stage(&torrent(0)).unwrap()];
        b.extend((3..5).map(|n| s.stage(&torrent(n)).unwrap()));
        let (done, r2) = pipelined(&s, b, Some(r));
        let done = done.unwrap();
        assert_eq!(done.len(), 3);
        assert!(done.iter().all(|(_, o)| *o == Outcome::Stored));
        assert_eq!(s.count(), 3);
        let (done, r3) = pipelined(&s, Vec::new(), r2.unwrap());
        let outcomes: Vec<Outcome> = done.unwrap().into_iter().map(|(_, o)| o).collect();
        assert_eq!(
            outcomes,
            [Outcome::AlreadyStored, Outcome::Stored, Outcome::Stored]
        );
        assert!(r3.unwrap().is_none());
        assert_eq!(s.count(), 5);
        assert_eq!(
            s.days.read(Day::today()).unwrap().len() as u64,
            5 * day::LINE_LEN
        );
    }

    /// A renamed batch that is dropped (its outcomes never said) is still listed by the next
    /// commit, exactly once; so is one whose later `list` comes after that.
    #[test]
    fn a_dropped_renamed_batch_is_listed_by_the_next_commit() {
        let d = dir("drop");
        let s = Store::open(&d.0, Config::default()).unwrap();
        let (_, r) = pipelined(&s, vec![s.stage(&torrent(1)).unwrap()], None);
        let r = r.unwrap().unwrap();
        // A plain commit comes between: it completes the batch in flight (a replay).
        s.commit(vec![s.stage(&torrent(2)).unwrap()]).unwrap();
        assert_eq!(s.count(), 2);
        // The late call lists nothing twice.
        let (done, _) = pipelined(&s, Vec::new(), Some(r));
        assert_eq!(done.unwrap().len(), 1);
        assert_eq!(s.count(), 2);
        let (_, r) = pipelined(&s, vec![s.stage(&torrent(3)).unwrap()], None);
        drop(r);
        s.commit(vec![s.stage(&torrent(4)).unwrap()]).unwrap();
        assert_eq!(s.count(), 4);
        s.settle().unwrap();
        assert_eq!(s.count(), 4);
    }
}
