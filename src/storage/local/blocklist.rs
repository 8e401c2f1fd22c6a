//! The blocklist (takedowns): `DATA/blocklist.tsv`, one `HASH<TAB>reason` per line.
//!
//! Owns: which keys are blocked and why, shared by every process on the data directory (a
//! running server sees a `thetorrent block` within `RELOAD_INTERVAL`). Must never: delete or
//! change a stored torrent — a block only hides it, and `unblock` brings it back.

use crate::clock::monotonic_ms;
use crate::torrent::hash::Key;
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// How often a reader re-checks the file for changes made by another process.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

pub struct Blocklist {
    path: PathBuf,
    map: RwLock<HashMap<Key, String>>,
    /// The file's mtime and length when it was last checked.
    checked: Mutex<Option<(SystemTime, u64)>>,
    /// When the next check is due, in milliseconds of the coarse monotonic clock: the hot
    /// path (every download) reads only this between checks, and the one thread that moves
    /// it on (a compare-exchange) makes the check.
    next_check_ms: AtomicU64,
    /// Whether `map` is empty (kept with every change of it, under its write lock): the usual
    /// case, answered without touching the lock, whose read count every download would
    /// otherwise bounce between the cores.
    empty: AtomicBool,
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn load(path: &PathBuf) -> io::Result<HashMap<Key, String>> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&text).lines() {
        let (hash, reason) = line.split_once('\t').unwrap_or((line, ""));
        if let Ok(k) = Key::parse(hash.trim()) {
            map.insert(k, reason.to_string());
        }
    }
    Ok(map)
}

impl Blocklist {
    pub fn open(path: PathBuf) -> io::Result<Blocklist> {
        let map = load(&path)?;
        let st = stamp(&path);
        Ok(Blocklist {
            path,
            empty: AtomicBool::new(map.is_empty()),
            map: RwLock::new(map),
            checked: Mutex::new(st),
            next_check_ms: AtomicU64::new(monotonic_ms() + RELOAD_INTERVAL.as_millis() as u64),
        })
    }

    fn refresh(&self) {
        let now_ms = monotonic_ms();
        let due = self.next_check_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return;
        }
        let next = now_ms + RELOAD_INTERVAL.as_millis() as u64;
        if self
            .next_check_ms
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another thread makes this check
        }
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        let st = stamp(&self.path);
        if st != *checked {
            if let Ok(map) = load(&self.path) {
                let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
                *m = map;
                self.empty.store(m.is_empty(), Ordering::Release);
                *checked = st;
            }
        }
    }

    /// The reason `key` is blocked, if it is.
    pub fn get(&self, key: &Key) -> Option<String> {
        self.refresh();
        if self.empty.load(Ordering::Acquire) {
            return None; // the usual case: no lock, no hashing on every download
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    /// Blocks `keys` with `reason` (durably). Returns how many were newly blocked.
    pub fn block(&self, keys: &[Key], reason: &str) -> io::Result<usize> {
        let reason = crate::storage::clean_reason(reason);
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        *map = load(&self.path)?;
        let mut text = String::new();
        let mut n = 0;
        for k in keys {
            match map.insert(*k, reason.clone()) {
                None => n += 1,
                // Blocked already for this reason: no second line.
                Some(old) if old == reason => continue,
                // A new reason: its line comes last, and the last line wins on reading.
                Some(_) => {}
            }
            text.push_str(&format!("{k}\t{reason}\n"));
        }
        self.empty.store(map.is_empty(), Ordering::Release);
        if text.is_empty() {
            return Ok(0);
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(n)
    }

    /// Unblocks `keys` (durably, by rewriting the file). Returns how many were blocked.
    pub fn unblock(&self, keys: &[Key]) -> io::Result<usize> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        *map = load(&self.path)?;
        let n = keys.iter().filter(|k| map.remove(k).is_some()).count();
        self.empty.store(map.is_empty(), Ordering::Release);
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort();
        let mut text = String::new();
        for (k, r) in entries {
            text.push_str(&format!("{k}\t{r}\n"));
        }
        super::fsutil::write_atomic(&self.path, text.as_bytes())?;
        Ok(n)
    }

    /// All blocked keys and reasons, sorted (after the same reload check as [`Self::get`]).
    pub fn list(&self) -> Vec<(Key, String)> {
        self.refresh();
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, r)| (*k, r.clone())).collect();
        v.sort();
        v
    }
}
