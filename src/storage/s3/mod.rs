//! The S3 backend: torrents in a bucket shared by several thetorrent front ends.
//!
//! Owns: the bucket layout (below), the read cache (LRU, bounded in bytes) and the short
//! negative cache, the per-day index of list segments that gives the count, `/sync/` and the
//! bytes stored, the blocklist view, and the segment committer thread. Must never: overwrite
//! an object under `torrents/` (every write there is `If-None-Match: *`), answer "stored"
//! before the object store acknowledged both the torrent and the list segment naming it, or
//! block a may worker (requests go through `crate::storage::s3::client`'s may sockets).
//!
//! Bucket layout, under the configured prefix:
//! - `torrents/AB/CD/<HEX>.torrent`: the exact bytes, the same keys as on disk (a hybrid's v2
//!   key is a second copy: S3 has no hard links);
//! - `sync/YYYYMMDD/<T>-<node>-<seq>-<n>-<bytes>.txt`: list segments, each written once by
//!   one front end for the keys one of its commits created (`T` the microseconds since the
//!   epoch, 17 digits, so names sort by time; `n` keys, `bytes` their total size — so a
//!   listing alone gives the count and the bytes stored);
//! - `days/YYYYMMDD`: an empty marker per day that has segments (days are listed without
//!   listing every segment);
//! - `blocklist/<HEX>`: one object per takedown, its body the reason.
//!
//! Only the front end whose conditional PUT created an object lists it, so with conditional
//! PUTs the count is exact; see ARCHITECTURE.md for the staleness bound across front ends.

pub mod client;

use crate::storage::day::{Day, LINE_LEN};
use crate::storage::s3::client::{PutOutcome, S3Client, S3Config, S3Error};
use crate::storage::{Body, DayList, Found, Storage, StorageError};
use crate::storage::{Config, Ids, Outcome, PutError};
use crate::torrent;
use crate::torrent::hash::Key;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Default read cache size (`--s3-cache-mb`), MiB.
pub const CACHE_MB: u64 = 256;
/// Default time a miss is remembered (`--s3-miss-ttl`): a torrent uploaded through another
/// front end can be 404 here for this long after this front end was asked for it.
pub const MISS_TTL: Duration = Duration::from_secs(2);
/// Most misses remembered (the negative cache is emptied when full).
pub const MISS_ENTRIES: usize = 65_536;
/// Default period of re-reading other front ends' list segments and the blocklist
/// (`--s3-list-ttl`): the staleness bound of the count, `/sync/` and takedowns.
pub const LIST_TTL: Duration = Duration::from_secs(2);
/// How far behind the newest segment seen a re-listing starts: covers clock skew between
/// front ends and PUTs that were slow to complete.
pub const LIST_MARGIN: Duration = Duration::from_secs(60);
/// Every day not yet final is listed in full this often (catches any segment the
/// incremental listing missed, e.g. one delayed longer than `LIST_MARGIN`).
pub const FULL_RELIST: Duration = Duration::from_secs(600);
/// A day is final (listed one last time, then never again) this long after it ended.
pub const FINAL_AFTER: Duration = Duration::from_secs(3600);
/// Most keys in one list segment.
pub const MAX_SEGMENT_KEYS: usize = 1024;
/// Days whose assembled `/sync/` list is kept in memory.
pub const DAY_LISTS_CACHED: usize = 8;
/// Largest list segment or blocklist object read.
pub const MAX_CONTROL_OBJECT: u64 = 8 << 20;
/// Pause between attempts to write list lines the object store refused.
pub const SEGMENT_RETRY: Duration = Duration::from_secs(1);

const TORRENT_TYPE: &str = "application/x-bittorrent";

/// Settings of the S3 backend (the CLI fills them in from its global options).
#[derive(Debug, Clone)]
pub struct S3Options {
    /// The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store).
    pub endpoint: Option<String>,
    /// Credentials file (`~/.aws/credentials` format); the `AWS_*` variables win over it.
    pub credentials: Option<PathBuf>,
    /// Use `If-None-Match: *` on creates (off: HEAD, then PUT).
    pub conditional_put: bool,
    /// Create the bucket when it does not exist.
    pub create_bucket: bool,
    /// Read cache of downloaded torrents, MiB (0: none).
    pub cache_mb: u64,
    /// How long a miss (404) is remembered.
    pub miss_ttl: Duration,
    /// Time between re-readings of the shared lists and blocklist.
    pub list_ttl: Duration,
    /// This front end's name in list segments (`[a-z0-9]`, at most 32); `None`: random.
    pub node_id: Option<String>,
}

impl S3Options {
    /// The client configuration for `url` (an `s3://` URL).
    pub fn client_config(&self, url: &str) -> Result<S3Config, String> {
        let endpoint = self.endpoint.as_deref().ok_or_else(|| {
            format!("--store {url} needs --s3-endpoint (e.g. http://127.0.0.1:8333)")
        })?;
        let mut c = S3Config::from_url(url, endpoint, self.credentials.as_deref())
            .map_err(|e| e.to_string())?;
        c.conditional_put = self.conditional_put;
        Ok(c)
    }
}

/// An error of the object store as the `io::Error` the server maps to 503.
pub fn unavailable(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, format!("object store: {e}"))
}

fn put_unavailable(e: impl std::fmt::Display) -> PutError {
    PutError::from(unavailable(e))
}

/// `torrents/AB/CD/<HEX>.torrent`.
pub fn object_key(key: &Key) -> String {
    let h = key.to_string();
    format!("torrents/{}/{}/{h}.torrent", &h[0..2], &h[2..4])
}

/// The key of an object name under `torrents/`, when it is one.
pub fn key_of_object(name: &str) -> Option<Key> {
    let rest = name.strip_prefix("torrents/")?;
    let (dirs, file) = rest.rsplit_once('/')?;
    let hex = file.strip_suffix(".torrent")?;
    let key = Key::parse(hex).ok()?;
    let h = key.to_string();
    (hex.len() == 40 && dirs == format!("{}/{}", &h[0..2], &h[2..4])).then_some(key)
}

/// A list segment's name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    day: Day,
    micros: u64,
    keys: u64,
    bytes: u64,
}

fn segment_name(day: Day, micros: u64, node: &str, seq: u64, keys: u64, bytes: u64) -> String {
    format!("sync/{day}/{micros:017}-{node}-{seq:010}-{keys}-{bytes}.txt")
}

fn parse_segment(name: &str) -> Option<Segment> {
    let rest = name.strip_prefix("sync/")?;
    let (day, file) = rest.split_once('/')?;
    let day = Day::parse(day)?;
    let mut parts = file.strip_suffix(".txt")?.split('-');
    let num = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let micros = num(parts.next())?;
    let node = parts.next()?;
    if node.is_empty() || !node.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let _seq = num(parts.next())?;
    let keys = num(parts.next())?;
    let bytes = num(parts.next())?;
    if parts.next().is_some() {
        return None;
    }
    Some(Segment {
        day,
        micros,
        keys,
        bytes,
    })
}

/// Microseconds since the epoch at which `day` ends (UTC midnight after it).
fn day_end_micros(day: Day) -> u64 {
    // Days since the epoch of the civil date (Howard Hinnant's days_from_civil).
    let (y, m, d) = (
        (day.0 / 10_000) as i64,
        (day.0 / 100 % 100) as i64,
        (day.0 % 100) as i64,
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days + 1).max(0) as u64) * 86_400_000_000
}

/// A name for this front end in segment names: `[a-z0-9]{1,32}`.
pub fn check_node_id(s: &str) -> Result<String, String> {
    let s = s.to_ascii_lowercase();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "node id {s:?}: use 1 to 32 letters and digits (it names this front end's list segments)"
        ));
    }
    Ok(s)
}

fn random_node_id() -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(crate::clock::unix_micros().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    if let Ok(name) = std::fs::read("/proc/sys/kernel/hostname") {
        h.update(name);
    }
    let d = h.finalize();
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Read cache

const CACHE_SHARDS: usize = 16;

struct CacheEntry {
    data: Arc<[u8]>,
    mtime: u64,
    tick: u64,
}

#[derive(Default)]
struct CacheShard {
    map: HashMap<Key, CacheEntry>,
    /// Least recently used first.
    order: BTreeMap<u64, Key>,
    bytes: u64,
    tick: u64,
}

/// An LRU cache of whole objects, bounded in bytes (stored torrents never change under
/// their key, so a hit is never stale).
struct ReadCache {
    shards: Vec<Mutex<CacheShard>>,
    per_shard: u64,
}

impl ReadCache {
    fn new(bytes: u64) -> ReadCache {
        ReadCache {
            shards: (0..CACHE_SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: bytes / CACHE_SHARDS as u64,
        }
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, CacheShard> {
        self.shards[key.0[19] as usize % CACHE_SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &Key) -> Option<(Arc<[u8]>, u64)> {
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

    fn put(&self, key: Key, data: Arc<[u8]>, mtime: u64) {
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

// ---------------------------------------------------------------------------------------
// The index of list segments

/// What is known of one day's segments.
#[derive(Default)]
struct DayIndex {
    keys: u64,
    bytes: u64,
    /// Counted segments at or after `floor` (older ones are counted and forgotten).
    seen: BTreeSet<String>,
    /// Microseconds: incremental listings start here.
    floor: u64,
    last_full: Option<Instant>,
    /// Listed in full after it became final: never listed again.
    done: bool,
}

impl DayIndex {
    /// Counts `name` unless it was counted.
    fn add(&mut self, name: &str, seg: &Segment) {
        if seg.micros >= self.floor && self.seen.insert(name.to_string()) {
            self.keys += seg.keys;
            self.bytes += seg.bytes;
        }
    }

    /// Forgets names older than the margin behind the newest.
    fn prune(&mut self) {
        let newest = self
            .seen
            .iter()
            .filter_map(|n| parse_segment(n))
            .map(|s| s.micros)
            .max()
            .unwrap_or(0);
        let floor = newest.saturating_sub(LIST_MARGIN.as_micros() as u64);
        if floor > self.floor {
            self.floor = floor;
            self.seen
                .retain(|n| parse_segment(n).is_some_and(|s| s.micros >= floor));
        }
    }
}

#[derive(Default)]
struct Index {
    days: BTreeMap<Day, DayIndex>,
    /// When `days/` was last listed in full (in between, only from two days before the
    /// newest day known: a marker is written before its day's first segment).
    days_listed: Option<Instant>,
}

/// A day's `/sync/` list as assembled so far.
#[derive(Default, Clone)]
struct Assembled {
    have: HashSet<String>,
    body: Vec<u8>,
}

// ---------------------------------------------------------------------------------------

struct LineJob {
    key: Key,
    size: u64,
    reply: may::sync::mpsc::Sender<Result<(), String>>,
}

struct Shared {
    client: S3Client,
    config: Config,
    node: String,
    cache: ReadCache,
    misses: Mutex<HashMap<Key, Instant>>,
    miss_ttl: Duration,
    list_ttl: Duration,
    index: RwLock<Index>,
    blocklist: RwLock<HashMap<Key, String>>,
    assembled: Mutex<BTreeMap<Day, Assembled>>,
    seq: AtomicU64,
}

/// A bucket as a `Storage`.
pub struct S3Store {
    shared: Arc<Shared>,
    lines: mpsc::Sender<LineJob>,
    describe: String,
}

impl S3Store {
    /// Connects to the bucket (`url`: `s3://bucket[/prefix]`), reads its lists and blocklist
    /// once (so the count is right from the first request), and starts the refresher and
    /// segment committer threads.
    pub fn open(url: &str, args: &S3Options, config: Config) -> Result<S3Store, String> {
        let cc = args.client_config(url)?;
        let describe = format!("bucket {url} at {}", cc.endpoint);
        let client = S3Client::new(cc).map_err(|e| e.to_string())?;
        if args.create_bucket {
            client
                .create_bucket()
                .map_err(|e| format!("cannot create {url}: {e}"))?;
        }
        let node = match &args.node_id {
            Some(n) => check_node_id(n)?,
            None => random_node_id(),
        };
        let shared = Arc::new(Shared {
            client,
            config,
            node,
            cache: ReadCache::new(args.cache_mb.saturating_mul(1 << 20)),
            misses: Mutex::new(HashMap::new()),
            miss_ttl: args.miss_ttl,
            list_ttl: args.list_ttl.max(Duration::from_millis(100)),
            index: RwLock::new(Index::default()),
            blocklist: RwLock::new(HashMap::new()),
            assembled: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
        });
        shared
            .refresh()
            .map_err(|e| format!("cannot read {describe}: {e}"))?;
        let (tx, rx) = mpsc::channel::<LineJob>();
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("thetorrent-s3-lines".into())
            .spawn(move || {
                let _ = crate::signals::block_shutdown_signals();
                s.commit_lines(rx)
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        let s = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("thetorrent-s3-refresh".into())
            .spawn(move || {
                let _ = crate::signals::block_shutdown_signals();
                loop {
                    let Some(s) = s.upgrade() else { return };
                    let ttl = s.list_ttl;
                    if let Err(e) = s.refresh() {
                        eprintln!("thetorrent: cannot refresh the bucket's lists: {e}");
                    }
                    drop(s);
                    std::thread::sleep(ttl);
                }
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(S3Store {
            shared,
            lines: tx,
            describe,
        })
    }

    /// Stores bytes already validated into `parsed` (`migrate`): returns whether this call
    /// created the object. Does not list it (the caller writes the day's segment).
    pub fn put_object(&self, key: &Key, bytes: &[u8]) -> Result<PutOutcome, S3Error> {
        self.shared
            .client
            .put_if_absent(&object_key(key), bytes, TORRENT_TYPE)
    }

    /// Writes a day's list lines for `keys` as one segment under a fixed name (`migrate`:
    /// writing it again with the same keys changes nothing).
    pub fn put_migrated_segment(
        &self,
        day: Day,
        part: u64,
        keys: &[(Key, u64)],
    ) -> Result<(), S3Error> {
        let bytes: u64 = keys.iter().map(|k| k.1).sum();
        let name = segment_name(day, 0, "migrate", part, keys.len() as u64, bytes);
        let body = lines_of(keys.iter().map(|k| &k.0));
        self.shared
            .client
            .put(&format!("days/{day}"), b"", "text/plain")?;
        self.shared
            .client
            .put(&name, &body, "text/plain; charset=us-ascii")
    }
}

impl S3Store {
    /// Lists every torrent that no segment names (a front end died between a torrent's PUT
    /// and its segment's): lists `torrents/` and every segment, and writes one segment under
    /// today for the primary keys missing (a hybrid's second copy is not listed). Returns how
    /// many were added. Holds every listed key in memory (about 60 bytes each).
    pub fn reindex(&self) -> Result<u64, S3Error> {
        let s = &self.shared;
        let mut listed: HashSet<Key> = HashSet::new();
        for e in s.client.list("sync/", None, usize::MAX)? {
            if parse_segment(&e.key).is_none() {
                continue;
            }
            if let Some(obj) = s.client.get(&e.key, MAX_CONTROL_OBJECT)? {
                for line in obj.body.chunks_exact(LINE_LEN as usize) {
                    if let Some(k) = std::str::from_utf8(&line[..40])
                        .ok()
                        .and_then(|h| Key::parse(h).ok())
                    {
                        listed.insert(k);
                    }
                }
            }
        }
        let mut missing = Vec::new();
        for e in s.client.list("torrents/", None, usize::MAX)? {
            let Some(key) = key_of_object(&e.key) else {
                continue;
            };
            if listed.contains(&key) {
                continue;
            }
            let limit = s.config.max_torrent_size as u64;
            let Some(obj) = s.client.get(&e.key, limit)? else {
                continue;
            };
            match torrent::validate(&obj.body) {
                Ok(p) if Ids::of(&p).key == key => missing.push((key, obj.body.len() as u64)),
                Ok(_) => {} // a hybrid's v2 copy
                Err(err) => eprintln!("thetorrent: {}: not a valid torrent: {err}", e.key),
            }
        }
        let mut marked = HashSet::new();
        for chunk in missing.chunks(MAX_SEGMENT_KEYS) {
            s.write_segment(Day::today(), chunk, &mut marked)?;
        }
        Ok(missing.len() as u64)
    }
}

fn lines_of<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<u8> {
    let mut body = Vec::new();
    for k in keys {
        body.extend_from_slice(&k.hex());
        body.push(b'\n');
    }
    body
}

impl Shared {
    /// Re-reads the day markers, the segments of days not yet final, and the blocklist.
    fn refresh(&self) -> Result<(), S3Error> {
        let (mut days, start) = {
            let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
            let known: BTreeSet<Day> = idx.days.keys().copied().collect();
            let full = idx.days_listed.is_none_or(|t| t.elapsed() >= FULL_RELIST);
            // Two days before the newest known, as a `start_after` key.
            let start = match (full, known.iter().nth_back(2)) {
                (false, Some(d)) => Some(format!("days/{d}")),
                _ => None,
            };
            (known, start)
        };
        let full = start.is_none();
        for e in self.client.list("days/", start.as_deref(), usize::MAX)? {
            if let Some(d) = e.key.strip_prefix("days/").and_then(Day::parse) {
                days.insert(d);
            }
        }
        if full {
            self.index
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .days_listed = Some(Instant::now());
        }
        let now = crate::clock::unix_micros();
        for day in days {
            let (known, floor, full_due, done) = {
                let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
                match idx.days.get(&day) {
                    Some(d) => (
                        true,
                        d.floor,
                        d.last_full.is_none_or(|t| t.elapsed() >= FULL_RELIST),
                        d.done,
                    ),
                    None => (false, 0, true, false),
                }
            };
            if done {
                continue;
            }
            let final_now = now > day_end_micros(day) + FINAL_AFTER.as_micros() as u64;
            let prefix = format!("sync/{day}/");
            if !known || full_due || final_now {
                let listed = self.client.list(&prefix, None, usize::MAX)?;
                let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
                let old = idx.days.remove(&day).unwrap_or_default();
                let mut fresh = DayIndex::default();
                let mut names = HashSet::new();
                for e in &listed {
                    if let Some(seg) = parse_segment(&e.key).filter(|s| s.day == day) {
                        fresh.add(&e.key, &seg);
                        names.insert(e.key.clone());
                    }
                }
                // Segments are never deleted: one seen before but not in this listing was
                // written while the listing ran.
                for n in &old.seen {
                    if !names.contains(n) {
                        if let Some(seg) = parse_segment(n) {
                            fresh.add(n, &seg);
                        }
                    }
                }
                fresh.prune();
                fresh.last_full = Some(Instant::now());
                fresh.done = final_now;
                if fresh.done {
                    fresh.seen.clear();
                }
                idx.days.insert(day, fresh);
            } else {
                let start = format!("{prefix}{floor:017}");
                let listed = self.client.list(&prefix, Some(&start), usize::MAX)?;
                let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
                let d = idx.days.entry(day).or_default();
                for e in &listed {
                    if let Some(seg) = parse_segment(&e.key).filter(|s| s.day == day) {
                        d.add(&e.key, &seg);
                    }
                }
                d.prune();
            }
        }
        self.refresh_blocklist()
    }

    fn refresh_blocklist(&self) -> Result<(), S3Error> {
        let listed = self.client.list("blocklist/", None, usize::MAX)?;
        let keys: HashSet<Key> = listed
            .iter()
            .filter_map(|e| e.key.strip_prefix("blocklist/"))
            .filter_map(|h| Key::parse(h).ok())
            .collect();
        let known: HashSet<Key> = self
            .blocklist
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        let mut new = Vec::new();
        for k in keys.difference(&known) {
            let reason = match self
                .client
                .get(&format!("blocklist/{k}"), MAX_CONTROL_OBJECT)?
            {
                Some(o) => String::from_utf8_lossy(&o.body).trim().to_string(),
                None => continue,
            };
            new.push((*k, reason));
        }
        let mut bl = self.blocklist.write().unwrap_or_else(|p| p.into_inner());
        bl.retain(|k, _| keys.contains(k));
        bl.extend(new);
        Ok(())
    }

    /// The segment committer: one segment per batch of created keys; lines the object store
    /// refused are kept and written with the next batch (their uploads were answered
    /// `failed`, and stay stored: a retry answers "already stored").
    fn commit_lines(&self, rx: mpsc::Receiver<LineJob>) {
        let mut pending: Vec<(Key, u64)> = Vec::new();
        let mut marked: HashSet<Day> = HashSet::new();
        loop {
            let first = if pending.is_empty() {
                match rx.recv() {
                    Ok(j) => Some(j),
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(SEGMENT_RETRY) {
                    Ok(j) => Some(j),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut jobs: Vec<LineJob> = first.into_iter().collect();
            while jobs.len() + pending.len() < MAX_SEGMENT_KEYS {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let mut keys = std::mem::take(&mut pending);
            keys.extend(jobs.iter().map(|j| (j.key, j.size)));
            let day = Day::today();
            let res = self.write_segment(day, &keys, &mut marked);
            let reply = res.as_ref().map(|_| ()).map_err(|e| e.to_string());
            if let Err(e) = &res {
                eprintln!(
                    "thetorrent: cannot write a list segment ({} keys, kept for retry): {e}",
                    keys.len()
                );
                pending = keys;
            }
            for j in jobs {
                let _ = j.reply.send(reply.clone());
            }
        }
    }

    fn write_segment(
        &self,
        day: Day,
        keys: &[(Key, u64)],
        marked: &mut HashSet<Day>,
    ) -> Result<(), S3Error> {
        if !marked.contains(&day) {
            self.client.put(&format!("days/{day}"), b"", "text/plain")?;
            marked.insert(day);
        }
        let micros = crate::clock::unix_micros();
        let bytes: u64 = keys.iter().map(|k| k.1).sum();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = segment_name(day, micros, &self.node, seq, keys.len() as u64, bytes);
        let body = lines_of(keys.iter().map(|k| &k.0));
        self.client
            .put(&name, &body, "text/plain; charset=us-ascii")?;
        let seg = Segment {
            day,
            micros,
            keys: keys.len() as u64,
            bytes,
        };
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        idx.days.entry(day).or_default().add(&name, &seg);
        Ok(())
    }

    fn missed(&self, key: &Key) -> bool {
        let m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key).is_some_and(|t| t.elapsed() < self.miss_ttl)
    }

    fn miss(&self, key: Key) {
        if self.miss_ttl.is_zero() {
            return;
        }
        let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MISS_ENTRIES {
            m.clear();
        }
        m.insert(key, Instant::now());
    }

    fn unmiss(&self, key: &Key) {
        self.misses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

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
            Err(e) => Err(unavailable(e).into()),
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
            Err(e) => Err(unavailable(e).into()),
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
                .map_err(put_unavailable)?;
        }
        let created = s
            .client
            .put_if_absent(&object_key(&ids.key), &bytes, TORRENT_TYPE)
            .map_err(put_unavailable)?;
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
}

impl S3Store {
    /// Writes (`Some(reason)`) or deletes the takedown objects of `keys`, and this front
    /// end's view at once; returns how many keys changed state.
    fn set_blocked(&self, keys: &[Key], reason: Option<&str>) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let day = Day(20261126);
        let n = segment_name(day, 1_795_000_000_000_000, "ab12", 7, 3, 60_000);
        assert_eq!(
            n,
            "sync/20261126/01795000000000000-ab12-0000000007-3-60000.txt"
        );
        assert_eq!(
            parse_segment(&n),
            Some(Segment {
                day,
                micros: 1_795_000_000_000_000,
                keys: 3,
                bytes: 60_000
            })
        );
        for bad in [
            "sync/20261126/x-ab-1-2-3.txt",
            "sync/2026112/01-ab-1-2-3.txt",
            "sync/20261126/01-a-b-1-2-3.txt",
            "sync/20261126/01-ab-1-2-3",
            "days/20261126",
        ] {
            assert_eq!(parse_segment(bad), None, "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        let k = Key::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
        let o = object_key(&k);
        assert_eq!(
            o,
            "torrents/01/23/0123456789ABCDEF0123456789ABCDEF01234567.torrent"
        );
        assert_eq!(key_of_object(&o), Some(k));
        assert_eq!(
            key_of_object("torrents/00/23/0123456789ABCDEF0123456789ABCDEF01234567.torrent"),
            None
        );
        assert_eq!(key_of_object("sync/x"), None);
    }

    #[test]
    fn day_ends() {
        // 1970-01-01 ends at 86400 s.
        assert_eq!(day_end_micros(Day(19700101)), 86_400_000_000);
        let t = day_end_micros(Day(20261126));
        assert_eq!(
            Day::of(std::time::UNIX_EPOCH + Duration::from_micros(t - 1)),
            Day(20261126)
        );
        assert_eq!(
            Day::of(std::time::UNIX_EPOCH + Duration::from_micros(t)),
            Day(20261127)
        );
    }

    #[test]
    fn lru_is_bounded_and_keeps_recent() {
        let c = ReadCache::new(CACHE_SHARDS as u64 * 100);
        let mk = |i: u8| {
            let mut k = [0u8; 20];
            k[0] = i;
            Key(k) // same shard: byte 19 is 0
        };
        c.put(mk(1), vec![0u8; 40].into(), 1);
        c.put(mk(2), vec![0u8; 40].into(), 1);
        assert!(c.get(&mk(1)).is_some()); // 1 is now the most recent
        c.put(mk(3), vec![0u8; 40].into(), 1); // evicts 2
        assert!(c.get(&mk(1)).is_some());
        assert!(c.get(&mk(2)).is_none());
        assert!(c.get(&mk(3)).is_some());
        c.put(mk(4), vec![0u8; 200].into(), 1); // larger than a shard: not cached
        assert!(c.get(&mk(4)).is_none());
    }

    #[test]
    fn day_index_counts_each_segment_once() {
        let mut d = DayIndex::default();
        let day = Day(20261126);
        let a = segment_name(day, 100_000_000, "a", 0, 2, 10);
        let b = segment_name(day, 200_000_000, "b", 0, 3, 20);
        for n in [&a, &b, &a] {
            d.add(n, &parse_segment(n).unwrap());
        }
        assert_eq!((d.keys, d.bytes), (5, 30));
        d.prune();
        d.add(&b, &parse_segment(&b).unwrap());
        assert_eq!((d.keys, d.bytes), (5, 30));
    }
}
