//! What a torrent's page shows, computed once per torrent and off the request workers: the
//! summary (name, sizes, the first files, trackers) and the hashes. Validating and summing up
//! a torrent of 280,000 files takes 0.35–0.7 s of CPU; done on a may worker for every
//! request, 32 clients looping on one page hold `/healthz` for seconds.
//!
//! Owns: the cache of computed facts (bounded in entries, each entry bounded in size), one
//! computation at a time per torrent (requests for a torrent being computed wait for it),
//! and the thread that computes (one: pages never take more than one core from downloads),
//! fed through a bounded queue. Must never: compute on a may worker, hold an entry larger
//! than [`MAX_ENTRY_BYTES`], or let a request wait on a computation without bound.

use crate::http::Response;
use crate::storage::StorageError;
use crate::torrent::hash::Key;
use crate::torrent::{self, Summary};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Torrents whose page facts are kept.
pub const FACTS_ENTRIES: usize = 4096;
/// Largest entry kept (name, paths, trackers, comment together); a larger one is computed
/// for each request (strings that large are cheap to summarise: it is the count of files
/// that costs).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// Computations waiting for the page thread at most; past it a page is answered 503.
pub const FACTS_QUEUE: usize = 64;
/// Longest a request waits for its torrent's facts (queue and computation).
pub const FACTS_WAIT: Duration = Duration::from_secs(30);
/// How often a request waiting for another's computation of the same torrent looks again.
const FACTS_POLL: Duration = Duration::from_millis(5);

/// What a torrent's page shows.
#[derive(Debug)]
pub struct Facts {
    /// Files listed: at most `render::MAX_FILES_SHOWN`, paths cut as the page cuts them.
    pub summary: Summary,
    pub v1: Option<[u8; 20]>,
    pub v2: Option<[u8; 32]>,
}

/// Why a page's facts are not available.
#[derive(Debug)]
pub enum FactsError {
    /// The stored torrent could not be read.
    Storage(StorageError),
    /// The stored bytes are not a valid torrent (a damaged file).
    Invalid(torrent::TorrentError),
    /// The page thread's queue is full, or the wait ran out.
    Busy,
}

impl FactsError {
    /// The plain answer (the cause is logged by the caller).
    pub fn response(&self) -> Response {
        match self {
            FactsError::Storage(e) => crate::app::status::read_error(e),
            FactsError::Invalid(_) => Response::error(500),
            FactsError::Busy => Response::error(503)
                .header("Retry-After", crate::app::status::RETRY_AFTER.to_string()),
        }
    }
}

enum Slot {
    /// A request is computing it.
    Pending,
    Ready(Arc<Facts>),
}

struct Job {
    bytes: Vec<u8>,
    reply: may::sync::mpsc::Sender<Result<Facts, torrent::TorrentError>>,
}

/// The cache and its thread (started on first use).
#[derive(Default)]
pub struct FactsCache {
    slots: Mutex<HashMap<Key, Slot>>,
    /// Ready keys, oldest first (evicted first).
    order: Mutex<VecDeque<Key>>,
    queue: OnceLock<Option<mpsc::SyncSender<Job>>>,
    /// Facts computed (each torrent once while it stays cached).
    pub computed: AtomicU64,
    /// Pages answered from the cache.
    pub hits: AtomicU64,
}

/// Removes a `Pending` slot unless the computation filled it (also when it panics).
struct PendingGuard<'a> {
    cache: &'a FactsCache,
    key: Key,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut slots = self.cache.slots.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(slots.get(&self.key), Some(Slot::Pending)) {
            slots.remove(&self.key);
        }
    }
}

impl FactsCache {
    /// The counters for statistics.
    pub fn counters(&self) -> [(&'static str, u64); 2] {
        [
            ("info_facts_computed", self.computed.load(Ordering::Relaxed)),
            ("info_facts_hits", self.hits.load(Ordering::Relaxed)),
        ]
    }

    /// The facts of `key`: cached, or computed from `load()`'s bytes on the page thread
    /// (requests for the same torrent meanwhile wait for that one computation).
    pub fn get(
        &self,
        key: Key,
        load: impl FnOnce() -> Result<Vec<u8>, StorageError>,
    ) -> Result<Arc<Facts>, FactsError> {
        let until = Instant::now() + FACTS_WAIT;
        loop {
            {
                let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
                match slots.get(&key) {
                    Some(Slot::Ready(f)) => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(f.clone());
                    }
                    Some(Slot::Pending) => {}
                    None => {
                        slots.insert(key, Slot::Pending);
                        break;
                    }
                }
            }
            if Instant::now() >= until {
                return Err(FactsError::Busy);
            }
            sleep(FACTS_POLL);
        }
        let _guard = PendingGuard { cache: self, key };
        let bytes = load().map_err(FactsError::Storage)?;
        let facts = Arc::new(self.compute(bytes, until)?);
        self.computed.fetch_add(1, Ordering::Relaxed);
        if entry_bytes(&facts) <= MAX_ENTRY_BYTES {
            self.keep(key, facts.clone());
        }
        Ok(facts)
    }

    fn keep(&self, key: Key, facts: Arc<Facts>) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        while order.len() >= FACTS_ENTRIES {
            if let Some(old) = order.pop_front() {
                slots.remove(&old);
            }
        }
        slots.insert(key, Slot::Ready(facts));
        order.push_back(key);
    }

    /// Hands `bytes` to the page thread and waits (on the coroutine) for the facts.
    fn compute(&self, bytes: Vec<u8>, until: Instant) -> Result<Facts, FactsError> {
        let Some(queue) = self.queue.get_or_init(start_thread) else {
            // No thread could be started: compute here rather than not at all.
            return facts_of(&bytes).map_err(FactsError::Invalid);
        };
        let (reply, rx) = may::sync::mpsc::channel();
        queue
            .try_send(Job { bytes, reply })
            .map_err(|_| FactsError::Busy)?;
        loop {
            match rx.try_recv() {
                Ok(r) => return r.map_err(FactsError::Invalid),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(FactsError::Busy),
                Err(std::sync::mpsc::TryRecvError::Empty) if Instant::now() < until => {
                    sleep(FACTS_POLL)
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return Err(FactsError::Busy),
            }
        }
    }
}

/// Sleeps without blocking a may worker when called in a coroutine.
fn sleep(d: Duration) {
    if may::coroutine::is_coroutine() {
        may::coroutine::sleep(d);
    } else {
        std::thread::sleep(d);
    }
}

fn start_thread() -> Option<mpsc::SyncSender<Job>> {
    let (tx, rx) = mpsc::sync_channel::<Job>(FACTS_QUEUE);
    std::thread::Builder::new()
        .name("thetorrent-pages".into())
        .spawn(move || {
            let _ = crate::signals::block_shutdown_signals();
            for job in rx {
                let _ = job.reply.send(facts_of(&job.bytes));
            }
        })
        .ok()
        .map(|_| tx)
}

/// Validates the stored bytes (for their hashes) and summarises them for the page: the
/// files the page can show, their paths cut as the page cuts them.
pub fn facts_of(bytes: &[u8]) -> Result<Facts, torrent::TorrentError> {
    let parsed = torrent::validate(bytes)?;
    let mut summary = torrent::summary_listing(bytes, super::MAX_FILES_SHOWN)?;
    for f in &mut summary.files {
        if let std::borrow::Cow::Owned(cut) = super::truncate_middle(&f.path, super::PATH_CHARS) {
            f.path = cut;
        }
    }
    Ok(Facts {
        summary,
        v1: parsed.v1,
        v2: parsed.v2,
    })
}

/// The bytes an entry holds (its strings).
fn entry_bytes(f: &Facts) -> usize {
    let s = &f.summary;
    s.name.len()
        + s.files.iter().map(|f| f.path.len() + 32).sum::<usize>()
        + s.trackers.iter().map(String::len).sum::<usize>()
        + s.web_seeds.iter().map(String::len).sum::<usize>()
        + s.comment.as_ref().map_or(0, String::len)
        + s.created_by.as_ref().map_or(0, String::len)
}
