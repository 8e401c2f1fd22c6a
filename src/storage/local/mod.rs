//! The local backend: `store::Store` (the sharded data directory) behind `Storage`, with the
//! group-commit writer for uploads and the download cache (`storage::filecache`).
//!
//! Owns: when the download cache is asked and filled, and starting the writer threads. Must
//! never: write the data directory except through `Store`, or fsync on the caller's thread
//! when a writer runs (the server's may workers).

pub mod blocklist;
pub mod filecache;
pub mod fsutil;
pub mod journal;
pub mod store;
pub mod writer;

use crate::clock;
use crate::storage::day::{Day, LINE_LEN};
use crate::storage::{Body, DayList, Found, Storage, StorageError};
use crate::storage::{Config, Ids, Outcome, PutError};
use crate::torrent::hash::Key;
use filecache::{FileCache, Hit};
pub use filecache::{FILE_CACHE_ENTRIES, STAT_CACHE_ENTRIES};
use std::fs::File;
use std::io;
use std::sync::Arc;
use store::Store;
use writer::Writer;

/// A data directory as a `Storage`.
pub struct Local {
    store: Arc<Store>,
    /// The group-commit writer (the server); without one, `put` commits on the caller's
    /// thread (the CLI).
    writer: Option<Writer>,
    files: FileCache,
}

impl Local {
    /// For the server: starts the writer threads; `file_cache` open files kept and the
    /// sizes of `stat_cache` files remembered (0, 0: none).
    /// `writer_nice`: the committer thread's nice value (`None`: unchanged).
    pub fn with_writer(
        store: Store,
        file_cache: usize,
        stat_cache: usize,
        writer_nice: Option<i32>,
    ) -> io::Result<Local> {
        let store = Arc::new(store);
        Ok(Local {
            writer: Some(Writer::spawn(Arc::clone(&store), writer_nice)?),
            store,
            files: FileCache::new(file_cache, stat_cache),
        })
    }

    /// For one-shot commands: no threads, no cache.
    pub fn new(store: Store) -> Local {
        Local {
            store: Arc::new(store),
            writer: None,
            files: FileCache::new(0, 0),
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

    /// From the open-file cache, or opened (and then cached); a remembered size saves the
    /// `statx` of a file that is no longer open.
    fn get(&self, key: &Key) -> Result<Option<Found>, StorageError> {
        let known = self.files.get(key);
        if let Some(Hit {
            file: Some(file),
            len,
            mtime,
        }) = known
        {
            return Ok(Some(Found {
                body: Body::File(file),
                len,
                mtime,
            }));
        }
        let Some(file) = self.store.open_torrent(key)? else {
            if known.is_some() {
                self.files.forget(key);
            }
            return Ok(None);
        };
        let file = Arc::new(file);
        let (len, mtime, fresh) = match known {
            Some(h) => (h.len, h.mtime, false),
            None => {
                let meta = file.metadata()?;
                (
                    meta.len(),
                    meta.modified().map(clock::secs).unwrap_or(0),
                    true,
                )
            }
        };
        self.files.put(key, Arc::clone(&file), len, mtime, fresh);
        Ok(Some(Found {
            body: Body::File(file),
            len,
            mtime,
        }))
    }

    fn contains(&self, key: &Key) -> Result<bool, StorageError> {
        Ok(self.files.contains(key) || self.store.contains(key))
    }

    fn put(&self, bytes: Vec<u8>) -> Result<(Ids, Outcome), PutError> {
        match &self.writer {
            Some(w) => w.put(bytes),
            None => self.store.put(&bytes),
        }
    }

    fn days(&self) -> Result<Vec<Day>, StorageError> {
        Ok(self.store.days().days()?)
    }

    fn day_len(&self, day: Day) -> Result<u64, StorageError> {
        Ok(self.store.days().len(day)?)
    }

    fn day_list(&self, day: Day) -> Result<Option<DayList>, StorageError> {
        let file = match File::open(self.store.days().path(day)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        Ok(Some(DayList {
            body: Body::File(Arc::new(file)),
            len: len - len % LINE_LEN,
        }))
    }

    fn block(&self, keys: &[Key], reason: &str) -> Result<usize, StorageError> {
        Ok(self.store.blocklist().block(keys, reason)?)
    }

    fn unblock(&self, keys: &[Key]) -> Result<usize, StorageError> {
        Ok(self.store.blocklist().unblock(keys)?)
    }

    fn takedowns(&self) -> Vec<(Key, String)> {
        self.store.blocklist().list()
    }
}
