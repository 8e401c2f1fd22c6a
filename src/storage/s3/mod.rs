//! The S3 backend: torrents in a bucket shared by several thetorrent front ends.
//!
//! Owns: the bucket layout (below), the read cache (LRU, bounded in bytes) and the short
//! negative cache, the per-day index of list segments that gives the count, `/sync/` and the
//! bytes stored, the blocklist view, and the segment committer thread. Must never: overwrite
//! an object under `torrents/` (every write there is `If-None-Match: *`, but for a repair
//! with bytes proven to be the stored ones: `verify`), answer "stored"
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
//! A torrent object's ETag (the MD5 of the body the store received, for the single PUT that
//! created it) is its whole-file checksum: `thetorrent verify` compares it with the bytes.
//!
//! Only the front end whose conditional PUT created an object lists it, so with conditional
//! PUTs the count is exact; see ARCHITECTURE.md for the staleness bound across front ends.

mod backend;
mod cache;
pub mod client;
mod index;
mod layout;
mod segments;
mod verify;

pub use layout::{check_node_id, key_of_object, object_key};

use cache::ReadCache;
use index::{Assembled, Index};
use layout::{day_end_micros, lines_of, parse_segment, random_node_id, segment_name, Segment};

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
/// Most keys remembered as created-maybe (a create that timed out) until a retry settles them.
pub const MAX_UNCONFIRMED: usize = 65_536;

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
    /// Time for one exchange with the store (`client::S3_TIMEOUT`): past it the store is
    /// taken to be down, and requests fail at once until it answers again.
    pub timeout: Duration,
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
        c.timeout = self.timeout;
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

/// A request not tried because the store is known to be down (the outage was logged once,
/// when it began; callers need not log each such request).
#[derive(Debug)]
struct NotTried(String);

impl std::fmt::Display for NotTried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object store: {}", self.0)
    }
}

impl std::error::Error for NotTried {}

/// An S3 failure as the `io::Error` the server maps to 503 (see [`unavailable`]); a request
/// that was not tried is marked so ([`not_tried`]).
fn from_s3(e: S3Error) -> io::Error {
    match e {
        S3Error::Down { .. } => {
            io::Error::new(io::ErrorKind::NotConnected, NotTried(e.to_string()))
        }
        e => unavailable(e),
    }
}

/// Whether a storage failure is a request that was not tried because the object store is
/// known to be down (logged once already).
pub fn not_tried(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|x| x.is::<NotTried>())
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
    /// Keys whose create failed after it may have reached the store (a timeout): if a retry
    /// finds the object there, this front end may have created it and lists it then, or
    /// nobody would (see `Storage::put`).
    unconfirmed: Mutex<HashSet<Key>>,
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
            unconfirmed: Mutex::new(HashSet::new()),
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
                    match s.refresh() {
                        // Said once, when the store was found down.
                        Err(S3Error::Down { .. }) | Ok(()) => {}
                        Err(e) => eprintln!("thetorrent: cannot refresh the bucket's lists: {e}"),
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
        let listed: HashSet<Key> = self.listed_keys()?.into_iter().map(|(_, k)| k).collect();
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

#[cfg(test)]
mod tests;
