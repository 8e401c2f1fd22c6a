//! The local backend: `store::Store` (the sharded data directory) behind `Storage`, with the
//! group-commit writer for uploads and an open-file cache for downloads.
//!
//! Owns: the open-file cache (like nginx's `open_file_cache`) and starting the writer
//! threads. Must never: write the data directory except through `Store`, or fsync on the
//! caller's thread when a writer runs (the server's may workers).

use super::{Body, DayList, Found, Storage};
use crate::hash::Key;
use crate::http::date;
use crate::store::day::{Day, LINE_LEN};
use crate::store::writer::Writer;
use crate::store::{Config, Ids, Outcome, PutError, Store};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default number of open torrent files kept by the download cache.
pub const FILE_CACHE_ENTRIES: usize = 8192;
/// How long a cached open file is trusted before it is opened again (a stored torrent never
/// changes under its hash; this only bounds how long a file removed behind the server's back
/// stays visible).
pub const FILE_CACHE_VALID: Duration = Duration::from_secs(60);
const FILE_CACHE_SHARDS: usize = 16;

/// An open stored file with what the headers need.
#[derive(Clone)]
struct Cached {
    file: Arc<File>,
    len: u64,
    mtime: u64,
    opened: Instant,
}

/// Open-file cache for downloads, like nginx's `open_file_cache`: saves the open, stat and
/// close system calls of every hit. Only found files are cached (a miss may be stored the
/// next second); blocked hashes are checked before the cache is consulted.
struct FileCache {
    shards: Vec<Mutex<HashMap<Key, Cached>>>,
    per_shard: usize,
}

impl FileCache {
    fn new(entries: usize) -> FileCache {
        FileCache {
            shards: (0..FILE_CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            per_shard: entries.div_ceil(FILE_CACHE_SHARDS),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, Cached>> {
        &self.shards[key.0[19] as usize % FILE_CACHE_SHARDS]
    }

    fn get(&self, key: &Key) -> Option<Cached> {
        if self.per_shard == 0 {
            return None;
        }
        let m = self.shard(key).lock().ok()?;
        m.get(key)
            .filter(|c| c.opened.elapsed() < FILE_CACHE_VALID)
            .cloned()
    }

    fn put(&self, key: Key, c: Cached) {
        if self.per_shard == 0 {
            return;
        }
        let Ok(mut m) = self.shard(&key).lock() else {
            return;
        };
        if m.len() >= self.per_shard {
            // Evict an arbitrary eighth (HashMap order is effectively random).
            let drop_n = (self.per_shard / 8).max(1);
            let victims: Vec<Key> = m.keys().take(drop_n).copied().collect();
            for v in victims {
                m.remove(&v);
            }
        }
        m.insert(key, c);
    }
}

impl Cached {
    fn found(&self) -> Found {
        Found {
            body: Body::File(Arc::clone(&self.file)),
            len: self.len,
            mtime: self.mtime,
        }
    }
}

/// A data directory as a `Storage`.
pub struct Local {
    store: Arc<Store>,
    /// The group-commit writer (the server); without one, `put` commits on the caller's
    /// thread (the CLI).
    writer: Option<Writer>,
    files: FileCache,
}

impl Local {
    /// For the server: starts the writer threads; `file_cache` open files kept (0: none).
    pub fn with_writer(store: Store, file_cache: usize) -> io::Result<Local> {
        let store = Arc::new(store);
        Ok(Local {
            writer: Some(Writer::spawn(Arc::clone(&store))?),
            store,
            files: FileCache::new(file_cache),
        })
    }

    /// For one-shot commands: no threads, no cache.
    pub fn new(store: Store) -> Local {
        Local {
            store: Arc::new(store),
            writer: None,
            files: FileCache::new(0),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

impl Storage for Local {
    fn describe(&self) -> String {
        format!("data directory {}", self.store.root().display())
    }

    fn config(&self) -> &Config {
        self.store.config()
    }

    fn read_only(&self) -> bool {
        self.store.read_only()
    }

    fn count(&self) -> u64 {
        self.store.count()
    }

    fn bytes(&self) -> u64 {
        self.store.bytes()
    }

    fn blocked(&self, key: &Key) -> Option<String> {
        self.store.blocked(key)
    }

    /// From the open-file cache, or opened (and then cached).
    fn get(&self, key: &Key) -> io::Result<Option<Found>> {
        if let Some(c) = self.files.get(key) {
            return Ok(Some(c.found()));
        }
        let Some(file) = self.store.open_torrent(key)? else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        let c = Cached {
            file: Arc::new(file),
            len: meta.len(),
            mtime: meta.modified().map(date::secs).unwrap_or(0),
            opened: Instant::now(),
        };
        self.files.put(*key, c.clone());
        Ok(Some(c.found()))
    }

    fn contains(&self, key: &Key) -> io::Result<bool> {
        Ok(self.files.get(key).is_some() || self.store.contains(key))
    }

    fn put(&self, bytes: Vec<u8>) -> Result<(Ids, Outcome), PutError> {
        match &self.writer {
            Some(w) => w.put(bytes),
            None => self.store.put(&bytes),
        }
    }

    fn days(&self) -> io::Result<Vec<Day>> {
        self.store.days().days()
    }

    fn day_len(&self, day: Day) -> io::Result<u64> {
        self.store.days().len(day)
    }

    fn day_list(&self, day: Day) -> io::Result<Option<DayList>> {
        let file = match File::open(self.store.days().path(day)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        Ok(Some(DayList {
            body: Body::File(Arc::new(file)),
            len: len - len % LINE_LEN,
        }))
    }

    fn block(&self, keys: &[Key], reason: &str) -> io::Result<usize> {
        self.store.blocklist().block(keys, reason)
    }

    fn unblock(&self, keys: &[Key]) -> io::Result<usize> {
        self.store.blocklist().unblock(keys)
    }
}
