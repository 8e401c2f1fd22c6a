//! `Storage` for a bucket: reads through the caches, uploads with a conditional PUT and a
//! list segment, day lists assembled from segments, takedowns.
//!
//! Owns: the answers of the trait for S3. Must never: overwrite an object under `torrents/`.

use super::*;

impl Storage for S3Store {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn read_only(&self) -> bool {
        false
    }

    fn count(&self) -> u64 {
        let idx = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        idx.days.values().map(|d| d.keys).sum()
    }

    fn bytes(&self) -> u64 {
        let idx = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        idx.days.values().map(|d| d.bytes).sum()
    }

    fn blocked(&self, key: &Key) -> Option<String> {
        self.shared
            .blocklist
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn get(&self, key: &Key) -> Result<Option<Found>, StorageError> {
        let s = &self.shared;
        if let Some((data, mtime)) = s.cache.get(key) {
            return Ok(Some(Found {
                len: data.len() as u64,
                body: Body::Bytes(data),
                mtime,
            }));
        }
        if s.missed(key) {
            return Ok(None);
        }
        let limit = s.config.max_torrent_size as u64;
        match s.client.get(&object_key(key), limit) {
            Ok(Some(obj)) => {
                let mtime = obj.last_modified.map(crate::clock::secs).unwrap_or(0);
                let data: Arc<[u8]> = obj.body.into();
                s.cache.put(*key, Arc::clone(&data), mtime);
                Ok(Some(Found {
                    len: data.len() as u64,
                    body: Body::Bytes(data),
                    mtime,
                }))
            }
            Ok(None) => {
                s.miss(*key);
                Ok(None)
            }
            Err(e) => Err(from_s3(e).into()),
        }
    }

    fn contains(&self, key: &Key) -> Result<bool, StorageError> {
        let s = &self.shared;
        if s.cache.get(key).is_some() {
            return Ok(true);
        }
        if s.missed(key) {
            return Ok(false);
        }
        match s.client.head(&object_key(key)) {
            Ok(Some(_)) => Ok(true),
            Ok(None) => {
                s.miss(*key);
                Ok(false)
            }
            Err(e) => Err(from_s3(e).into()),
        }
    }

    fn put(&self, bytes: Vec<u8>) -> Result<(Ids, Outcome), PutError> {
        let s = &self.shared;
        s.config.check_size(bytes.len() as u64)?;
        let parsed = torrent::validate(&bytes).map_err(PutError::Invalid)?;
        let ids = Ids::of(&parsed);
        ids.check_blocked(|k| self.blocked(k))?;
        // A hybrid's second key first: when the primary's PUT creates it, everything the
        // upload needs is there and only the listing remains (a retry after a failure here
        // finds the copy and goes on).
        if let Some(link) = ids.link() {
            s.client
                .put_if_absent(&object_key(&link), &bytes, TORRENT_TYPE)
                .map_err(|e| PutError::from(from_s3(e)))?;
        }
        let created = match s
            .client
            .put_if_absent(&object_key(&ids.key), &bytes, TORRENT_TYPE)
        {
            Ok(c) => c,
            Err(e) => {
                // A create that failed after it was sent may have landed: note it, so that a
                // retry that finds the object lists it (a request that was not tried could
                // not have).
                if !matches!(e, S3Error::Down { .. }) {
                    s.note_unconfirmed(ids.key);
                }
                return Err(PutError::from(from_s3(e)));
            }
        };
        let created = match (created, s.settle_unconfirmed(&ids.key)) {
            (PutOutcome::Exists, true) => PutOutcome::Created,
            (c, _) => c,
        };
        let size = bytes.len() as u64;
        let mtime = crate::clock::secs(SystemTime::now());
        let data: Arc<[u8]> = bytes.into();
        for k in std::iter::once(ids.key).chain(ids.link()) {
            s.unmiss(&k);
            s.cache.put(k, Arc::clone(&data), mtime);
        }
        if matches!(created, PutOutcome::Exists) {
            return Ok((ids, Outcome::AlreadyStored));
        }
        let (reply, rx) = may::sync::mpsc::channel();
        self.lines
            .send(LineJob {
                key: ids.key,
                size,
                reply,
            })
            .map_err(|_| put_unavailable("list committer stopped"))?;
        match rx.recv() {
            Ok(Ok(())) => Ok((ids, Outcome::Stored)),
            Ok(Err(e)) => Err(put_unavailable(e)),
            Err(_) => Err(put_unavailable("list committer stopped")),
        }
    }

    fn days(&self) -> Result<Vec<Day>, StorageError> {
        let idx = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        Ok(idx
            .days
            .iter()
            .filter(|(_, d)| d.keys > 0)
            .map(|(d, _)| *d)
            .collect())
    }

    fn day_len(&self, day: Day) -> Result<u64, StorageError> {
        let idx = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
        Ok(idx.days.get(&day).map_or(0, |d| d.keys))
    }

    /// Lists the day's segments and reads the ones not yet assembled (segments never change,
    /// so an assembled day only grows).
    fn day_list(&self, day: Day) -> Result<Option<DayList>, StorageError> {
        let s = &self.shared;
        if self.day_len(day)? == 0 {
            return Ok(None);
        }
        let mut asm = s
            .assembled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&day)
            .cloned()
            .unwrap_or_default();
        let listed = s
            .client
            .list(&format!("sync/{day}/"), None, usize::MAX)
            .map_err(unavailable)?;
        for e in listed {
            if asm.have.contains(&e.key) || parse_segment(&e.key).is_none_or(|g| g.day != day) {
                continue;
            }
            let Some(obj) = s
                .client
                .get(&e.key, MAX_CONTROL_OBJECT)
                .map_err(unavailable)?
            else {
                continue;
            };
            let whole = obj.body.len() - obj.body.len() % LINE_LEN as usize;
            asm.body.extend_from_slice(&obj.body[..whole]);
            asm.have.insert(e.key);
        }
        let body: Arc<[u8]> = asm.body.as_slice().into();
        let mut cached = s.assembled.lock().unwrap_or_else(|p| p.into_inner());
        if cached
            .get(&day)
            .is_none_or(|c| c.have.len() < asm.have.len())
        {
            cached.insert(day, asm);
        }
        while cached.len() > DAY_LISTS_CACHED {
            cached.pop_first();
        }
        Ok(Some(DayList {
            len: body.len() as u64,
            body: Body::Bytes(body),
        }))
    }

    fn block(&self, keys: &[Key], reason: &str) -> Result<usize, StorageError> {
        let reason = crate::storage::clean_reason(reason);
        Ok(self.set_blocked(keys, Some(&reason))?)
    }

    fn unblock(&self, keys: &[Key]) -> Result<usize, StorageError> {
        Ok(self.set_blocked(keys, None)?)
    }

    fn takedowns(&self) -> Vec<(Key, String)> {
        let bl = self
            .shared
            .blocklist
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(Key, String)> = bl.iter().map(|(k, r)| (*k, r.clone())).collect();
        v.sort();
        v
    }

    fn backend_stats(&self) -> Vec<(&'static str, u64)> {
        self.shared.client.counters()
    }
}

impl Shared {
    /// Remembers that a create of `key` may have landed without this front end knowing.
    fn note_unconfirmed(&self, key: Key) {
        let mut u = self.unconfirmed.lock().unwrap_or_else(|p| p.into_inner());
        if u.len() >= MAX_UNCONFIRMED {
            u.clear();
        }
        u.insert(key);
    }

    /// Forgets `key`; whether an earlier create of it may have landed.
    fn settle_unconfirmed(&self, key: &Key) -> bool {
        self.unconfirmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
    }
}

impl S3Store {
    /// Writes (`Some(reason)`) or deletes the takedown objects of `keys`, and this front
    /// end's view at once; returns how many keys changed state.
    pub(super) fn set_blocked(&self, keys: &[Key], reason: Option<&str>) -> io::Result<usize> {
        let s = &self.shared;
        let mut changed = 0;
        for k in keys {
            let name = format!("blocklist/{k}");
            match reason {
                Some(r) => s
                    .client
                    .put(&name, r.as_bytes(), "text/plain; charset=utf-8"),
                None => s.client.delete(&name),
            }
            .map_err(unavailable)?;
            let mut bl = s.blocklist.write().unwrap_or_else(|p| p.into_inner());
            let was = match reason {
                Some(r) => bl.insert(*k, r.to_string()).is_some(),
                None => bl.remove(k).is_some(),
            };
            changed += usize::from(was != reason.is_some());
        }
        Ok(changed)
    }
}
