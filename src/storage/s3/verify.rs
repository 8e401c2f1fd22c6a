//! The bucket as `thetorrent verify` sees it: every torrent object, every key the list
//! segments name, an object's bytes with what they can be checked against, and the one
//! overwrite of an object under `torrents/`: a repair, with bytes proven to be the stored ones.
//!
//! Owns: reading the bucket whole for a check, and replacing a damaged object. Must never:
//! overwrite an object other than through [`S3Store::replace`], whose caller has proven the
//! bytes (`storage::integrity::proves`).

use super::*;
use crate::storage::integrity::Recorded;

impl S3Store {
    /// Every object under `torrents/` named like a stored torrent, with its key (other
    /// objects there are skipped). Holds the whole listing in memory.
    pub fn torrent_objects(&self) -> Result<Vec<(String, Key)>, S3Error> {
        Ok(self
            .shared
            .client
            .list("torrents/", None, usize::MAX)?
            .into_iter()
            .filter_map(|e| key_of_object(&e.key).map(|k| (e.key, k)))
            .collect())
    }

    /// Every key the list segments name, with its day (what the count and `/sync/` are made
    /// of). Holds them all in memory (about 60 bytes each).
    pub fn listed_keys(&self) -> Result<Vec<(Day, Key)>, S3Error> {
        let s = &self.shared;
        let mut out = Vec::new();
        for e in s.client.list("sync/", None, usize::MAX)? {
            let Some(segment) = parse_segment(&e.key) else {
                continue;
            };
            if let Some(obj) = s.client.get(&e.key, MAX_CONTROL_OBJECT)? {
                for line in obj.body.chunks_exact(LINE_LEN as usize) {
                    if let Some(k) = std::str::from_utf8(&line[..40])
                        .ok()
                        .and_then(|h| Key::parse(h).ok())
                    {
                        out.push((segment.day, k));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The bytes of object `name` (straight from the bucket, never from the read cache) and
    /// what they can be checked against: its ETag when that is the MD5 of the body.
    /// `None` when there is no such object.
    pub fn read_stored(&self, name: &str) -> Result<Option<(Vec<u8>, Recorded)>, S3Error> {
        let limit = self.shared.config.max_torrent_size as u64;
        Ok(self
            .shared
            .client
            .get(name, limit)?
            .map(|o| (o.body, Recorded::of_etag(o.etag.as_deref()))))
    }

    /// Stores `bytes` under `key`'s object: over the damaged object with `overwrite` (a plain
    /// PUT, atomic in S3: readers see the old or the new object), else only if there is none
    /// (`Ok(false)`: one appeared meanwhile). A hybrid's second copy is its own object, checked
    /// and replaced on its own. The caller must have proven `bytes` to be the stored torrent.
    pub fn replace(&self, key: &Key, bytes: &[u8], overwrite: bool) -> Result<bool, S3Error> {
        let name = object_key(key);
        let client = &self.shared.client;
        if overwrite {
            client.put(&name, bytes, TORRENT_TYPE).map(|()| true)
        } else {
            Ok(client.put_if_absent(&name, bytes, TORRENT_TYPE)? == PutOutcome::Created)
        }
    }

    /// Where object `name` is, for reports: `s3://bucket/prefix/name`.
    pub fn location(&self, name: &str) -> String {
        let c = self.shared.client.config();
        format!("s3://{}/{}", c.bucket, c.full_key(name))
    }
}
