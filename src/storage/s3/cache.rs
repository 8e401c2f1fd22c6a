//! The read cache (LRU, bounded in bytes) of downloaded torrents, and the short negative
//! cache of misses.
//!
//! Owns: what is remembered and for how long. Must never: hold more than its byte budget, or
//! remember a miss longer than the miss TTL.

use super::*;

pub(super) const CACHE_SHARDS: usize = 16;

pub(super) struct CacheEntry {
    pub(super) data: Arc<[u8]>,
    pub(super) mtime: u64,
    pub(super) tick: u64,
}

#[derive(Default)]
pub(super) struct CacheShard {
    pub(super) map: HashMap<Key, CacheEntry>,
    /// Least recently used first.
    pub(super) order: BTreeMap<u64, Key>,
    pub(super) bytes: u64,
    pub(super) tick: u64,
}

/// An LRU cache of whole objects, bounded in bytes (stored torrents never change under
/// their key, so a hit is never stale).
pub(super) struct ReadCache {
    pub(super) shards: Vec<Mutex<CacheShard>>,
    pub(super) per_shard: u64,
}

impl ReadCache {
    pub(super) fn new(bytes: u64) -> ReadCache {
        ReadCache {
            shards: (0..CACHE_SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: bytes / CACHE_SHARDS as u64,
        }
    }

    pub(super) fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, CacheShard> {
        self.shards[key.0[19] as usize % CACHE_SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, key: &Key) -> Option<(Arc<[u8]>, u64)> {
        if self.per_shard == 0 {
            return None;
        }
        let mut s = self.shard(key);
        s.tick += 1;
        let tick = s.tick;
        let e = s.map.get_mut(key)?;
        let old = std::mem::replace(&mut e.tick, tick);
        let found = (Arc::clone(&e.data), e.mtime);
        s.order.remove(&old);
        s.order.insert(tick, *key);
        Some(found)
    }

    pub(super) fn put(&self, key: Key, data: Arc<[u8]>, mtime: u64) {
        let size = data.len() as u64;
        if size > self.per_shard {
            return;
        }
        let mut s = self.shard(&key);
        if s.map.contains_key(&key) {
            return;
        }
        while s.bytes + size > self.per_shard {
            let Some((_, victim)) = s.order.pop_first() else {
                break;
            };
            if let Some(e) = s.map.remove(&victim) {
                s.bytes -= e.data.len() as u64;
            }
        }
        s.tick += 1;
        let tick = s.tick;
        s.order.insert(tick, key);
        s.bytes += size;
        s.map.insert(key, CacheEntry { data, mtime, tick });
    }
}

impl Shared {
    pub(super) fn missed(&self, key: &Key) -> bool {
        let m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key).is_some_and(|t| t.elapsed() < self.miss_ttl)
    }

    pub(super) fn miss(&self, key: Key) {
        if self.miss_ttl.is_zero() {
            return;
        }
        let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MISS_ENTRIES {
            m.clear();
        }
        m.insert(key, Instant::now());
    }

    pub(super) fn unmiss(&self, key: &Key) {
        self.misses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}
