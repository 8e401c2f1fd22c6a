//! The download cache of the local backend: open stored files, and the length and mtime of
//! many more (like nginx's `open_file_cache`, which keeps both for its open files only).
//!
//! Owns: which stored files stay open and which sizes are remembered, both bounded and both
//! trusted for at most `FILE_CACHE_VALID`. A stored torrent never changes under its hash, so
//! a remembered size saves the `statx` of a file that must be opened again (the descriptor
//! limit keeps far fewer files open than a store holds); the validity only bounds how long a
//! file changed or removed behind the server's back stays visible. Must never: cache a miss
//! (a hash may be stored the next second), do I/O while holding a slot's lock, or grow past
//! its two bounds.
//!
//! Both tables are direct-mapped: a key has one slot in each, chosen by bytes of the key
//! (already uniform: a SHA-1 or SHA-256 hash), and a newcomer replaces the slot's occupant.
//! Under the uniformly random lookups of a large store that keeps as many hits as an LRU of
//! the same size, and a lookup costs one lock and one cache line: no hashing, no probing, no
//! eviction list to maintain (each was a cache miss per request on a 100,000-file store). A
//! client that stores keys of one slot on purpose only evicts its own entries.

use crate::torrent::hash::Key;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Default number of open torrent files kept by the download cache.
pub const FILE_CACHE_ENTRIES: usize = 8192;
/// Default number of stored files whose length and mtime are remembered (one 64-byte slot
/// each: 8 MB at this default; an open-file slot is 64 bytes too).
pub const STAT_CACHE_ENTRIES: usize = 131_072;
/// How long a cached open file or remembered size is trusted before the file is opened and
/// examined again.
pub const FILE_CACHE_VALID: Duration = Duration::from_secs(60);

/// What a hit gives: the open file if it is still open, and what the headers need.
pub struct Hit {
    pub file: Option<Arc<File>>,
    pub len: u64,
    pub mtime: u64,
}

#[derive(Default)]
struct OpenSlot {
    key: [u8; 20],
    file: Option<Arc<File>>,
    len: u64,
    mtime: u64,
    /// When the file was opened, in coarse monotonic seconds.
    opened: u64,
}

#[derive(Default)]
struct StatSlot {
    key: [u8; 20],
    len: u64,
    mtime: u64,
    /// When the size was read; 0: empty slot.
    learned: u64,
}

/// A slot on a cache line of its own: a lookup reads one line, never two.
#[derive(Default)]
#[repr(align(64))]
struct Line<T>(T);

pub struct FileCache {
    open: Box<[Line<Mutex<OpenSlot>>]>,
    stat: Box<[Line<Mutex<StatSlot>>]>,
}

/// Monotonic seconds, never 0 (0 marks an empty slot).
fn coarse_secs() -> u64 {
    crate::clock::monotonic_ms() / 1000 + 1
}

fn fresh(since: u64, now: u64) -> bool {
    since != 0 && now.saturating_sub(since) < FILE_CACHE_VALID.as_secs()
}

/// The locked slot of `key` in `table`, chosen by bytes `at..at + 8` of the key (`None`: the
/// table is empty, the cache is off).
fn slot<'a, T>(table: &'a [Line<Mutex<T>>], key: &Key, at: usize) -> Option<MutexGuard<'a, T>> {
    if table.is_empty() {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&key.0[at..at + 8]);
    // The 64 key bits scaled to the table's length (a multiply, not a division; as uniform
    // as the key).
    let i = ((u64::from_le_bytes(b) as u128 * table.len() as u128) >> 64) as usize;
    Some(table[i].0.lock().unwrap_or_else(|p| p.into_inner()))
}

impl FileCache {
    /// Keeps up to `open` files open and the sizes of up to `stat` files (0, 0: no cache).
    pub fn new(open: usize, stat: usize) -> FileCache {
        FileCache {
            open: (0..open).map(|_| Line::default()).collect(),
            stat: (0..stat).map(|_| Line::default()).collect(),
        }
    }

    /// What is known of `key` and still valid: the open file, else the remembered size.
    pub fn get(&self, key: &Key) -> Option<Hit> {
        let now = coarse_secs();
        if let Some(s) = slot(&self.open, key, 0) {
            if s.key == key.0 && fresh(s.opened, now) {
                if let Some(f) = &s.file {
                    return Some(Hit {
                        file: Some(Arc::clone(f)),
                        len: s.len,
                        mtime: s.mtime,
                    });
                }
            }
        }
        let s = slot(&self.stat, key, 8)?;
        (s.key == key.0 && fresh(s.learned, now)).then_some(Hit {
            file: None,
            len: s.len,
            mtime: s.mtime,
        })
    }

    /// Whether `key` is known to be stored.
    pub fn contains(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    /// Records a found file. `measured`: its size was just read from the file system
    /// (restarts the size's validity); otherwise it came from this cache.
    pub fn put(&self, key: &Key, file: Arc<File>, len: u64, mtime: u64, measured: bool) {
        let now = coarse_secs();
        let mut evicted = None;
        if let Some(mut s) = slot(&self.open, key, 0) {
            evicted = s.file.replace(file);
            s.key = key.0;
            s.len = len;
            s.mtime = mtime;
            s.opened = now;
        }
        // The replaced file is closed (when no response holds it any more) after the lock.
        drop(evicted);
        if let Some(mut s) = slot(&self.stat, key, 8) {
            if measured || s.key != key.0 {
                *s = StatSlot {
                    key: key.0,
                    len,
                    mtime,
                    learned: now,
                };
            }
        }
    }

    /// Forgets `key` (its file was not found where the cache said it was).
    pub fn forget(&self, key: &Key) {
        let mut evicted = None;
        if let Some(mut s) = slot(&self.open, key, 0) {
            if s.key == key.0 {
                evicted = s.file.take();
                s.opened = 0;
            }
        }
        drop(evicted);
        if let Some(mut s) = slot(&self.stat, key, 8) {
            if s.key == key.0 {
                s.learned = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key whose slot bytes are `open` and `stat` (the most significant byte of the 8 each
    /// table uses): in a table of `n` slots, byte `v` picks slot `v * n / 256`.
    fn key(open: u8, stat: u8, tag: u8) -> Key {
        let mut k = [0u8; 20];
        k[7] = open;
        k[15] = stat;
        k[19] = tag;
        Key(k)
    }

    fn file() -> Arc<File> {
        Arc::new(File::open("/dev/null").unwrap())
    }

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Line<Mutex<OpenSlot>>>(), 64);
        assert_eq!(std::mem::size_of::<Line<Mutex<StatSlot>>>(), 64);
    }

    #[test]
    fn remembers_sizes_of_files_no_longer_open() {
        let c = FileCache::new(2, 8);
        // The same open slot (0 of 2), different stat slots (0 and 2 of 8).
        let (a, b) = (key(0, 0, 1), key(64, 64, 2));
        c.put(&a, file(), 100, 7, true);
        let h = c.get(&a).unwrap();
        assert!(h.file.is_some());
        assert_eq!((h.len, h.mtime), (100, 7));
        c.put(&b, file(), 200, 8, true); // replaces a's open file
        let h = c.get(&a).expect("size remembered");
        assert!(h.file.is_none());
        assert_eq!((h.len, h.mtime), (100, 7));
        assert!(c.get(&b).unwrap().file.is_some());
        // Reopened from the remembered size: open again, size unchanged.
        c.put(&a, file(), 100, 7, false);
        assert!(c.get(&a).unwrap().file.is_some());
        assert!(c.get(&b).unwrap().file.is_none());
        assert_eq!(c.get(&b).unwrap().len, 200);
    }

    #[test]
    fn a_newcomer_replaces_the_slot_occupant() {
        let c = FileCache::new(1, 1);
        let (a, b) = (key(0, 0, 1), key(0, 0, 2));
        c.put(&a, file(), 1, 1, true);
        c.put(&b, file(), 2, 2, true);
        assert!(
            c.get(&a).is_none(),
            "a different key never answers for another"
        );
        assert_eq!(c.get(&b).unwrap().len, 2);
    }

    #[test]
    fn forget_and_no_cache() {
        let c = FileCache::new(4, 4);
        let a = key(1, 1, 1);
        c.put(&a, file(), 10, 1, true);
        c.forget(&a);
        assert!(c.get(&a).is_none());
        let none = FileCache::new(0, 0);
        none.put(&a, file(), 10, 1, true);
        assert!(none.get(&a).is_none());
        // Sizes only: nothing stays open.
        let sizes = FileCache::new(0, 4);
        sizes.put(&a, file(), 10, 1, true);
        let h = sizes.get(&a).unwrap();
        assert!(h.file.is_none());
        assert_eq!(h.len, 10);
    }

    #[test]
    fn entries_expire() {
        let c = FileCache::new(1, 1);
        let a = key(0, 0, 1);
        c.put(&a, file(), 10, 1, true);
        let old = coarse_secs() - FILE_CACHE_VALID.as_secs();
        c.open[0].0.lock().unwrap().opened = old;
        c.stat[0].0.lock().unwrap().learned = old;
        assert!(c.get(&a).is_none());
    }
}
