//! Fetch jobs: one per hash, a bounded number at once, failures remembered for a while.
//!
//! Owns: the table of jobs in flight (a request for a hash being fetched joins that job and
//! adds its sources to it), the slots (`--fetch-jobs`) and the bounded queue behind them (over
//! it: [`FetchError::Busy`]), the memory of failed hashes (`--fetch-miss-ttl`), the outcome
//! every waiter of a job sees, and the counters. Must never: run two jobs for one hash, start
//! a job for a blocked hash, let a queued or running job outlive its budget unanswered, or
//! block the caller (`start` only takes a lock; waiting is the caller's choice, with a
//! timeout). What a job does is [`super::search`]'s.

use super::dht::{Dht, DhtConfig, DhtError};
use super::magnet::Magnet;
use super::policy::AddrPolicy;
use super::{search, Target};
use crate::storage::Ids;
use crate::storage::Storage;
use crate::torrent::hash::Key;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Jobs running at once (`--fetch-jobs`).
pub const DEFAULT_FETCH_JOBS: usize = 16;
/// Jobs waiting for a slot, per slot: `--fetch-jobs 16` queues at most 64 more; a request
/// beyond that is answered busy at once rather than left waiting behind minutes of work.
pub const QUEUE_PER_JOB: usize = 4;
/// One job's whole budget (`--fetch-timeout`): DHT lookups on the public network take
/// seconds to tens of seconds, and a few peers may have to be tried after that.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a request waits for its job before it is answered "still running"
/// (`--fetch-wait`).
pub const DEFAULT_FETCH_WAIT: Duration = Duration::from_secs(10);
/// How long a failed hash is answered from memory instead of being searched again
/// (`--fetch-miss-ttl`).
pub const DEFAULT_MISS_TTL: Duration = Duration::from_secs(600);
/// Most failed hashes remembered; the oldest are forgotten first (about 200 bytes each).
pub const MAX_REMEMBERED_MISSES: usize = 100_000;

/// How jobs are run.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Jobs running at once.
    pub jobs: usize,
    /// Jobs waiting for a slot.
    pub queue: usize,
    /// One job's whole budget.
    pub timeout: Duration,
    /// How long a failure is remembered.
    pub miss_ttl: Duration,
    /// Which peer and tracker addresses may be contacted.
    pub policy: AddrPolicy,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            jobs: DEFAULT_FETCH_JOBS,
            queue: DEFAULT_FETCH_JOBS * QUEUE_PER_JOB,
            timeout: DEFAULT_FETCH_TIMEOUT,
            miss_ttl: DEFAULT_MISS_TTL,
            policy: AddrPolicy::default(),
        }
    }
}

/// What to fetch, and where to look besides the DHT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    /// Tracker URLs (a magnet's `tr=`); they also go into the stored file.
    pub trackers: Vec<String>,
    /// Peers to try first (a magnet's `x.pe=`).
    pub peers: Vec<SocketAddr>,
}

impl From<Magnet> for Request {
    fn from(m: Magnet) -> Request {
        Request {
            target: m.target,
            trackers: m.trackers,
            peers: m.peers,
        }
    }
}

impl From<Target> for Request {
    fn from(target: Target) -> Request {
        Request {
            target,
            ..Request::default()
        }
    }
}

impl Request {
    /// The sources as text, to tell whether a later request brings new ones.
    fn sources(&self) -> impl Iterator<Item = String> + '_ {
        self.trackers
            .iter()
            .cloned()
            .chain(self.peers.iter().map(|p| p.to_string()))
    }

    /// Adds `other`'s hashes and sources that `self` lacks.
    fn merge(&mut self, other: Request) {
        self.target.v1 = self.target.v1.or(other.target.v1);
        self.target.v2 = self.target.v2.or(other.target.v2);
        for t in other.trackers {
            if !self.trackers.contains(&t) {
                self.trackers.push(t);
            }
        }
        for p in other.peers {
            if !self.peers.contains(&p) {
                self.peers.push(p);
            }
        }
    }
}

/// A fetched and stored torrent.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub ids: Ids,
    /// The stored file.
    pub bytes: Arc<[u8]>,
    /// Stored by this job (`false`: it was stored already, by an upload or another job).
    pub new: bool,
}

/// Why a torrent was not fetched. Messages are shown to users and printed by `fetch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Every slot and the queue are taken.
    Busy { running: usize, queued: usize },
    /// The caller's admission check refused a new job (a client over its rate).
    RateLimited { retry_after: Duration },
    /// The hash is taken down.
    Blocked { key: Key, reason: String },
    /// No source named a peer the address policy allows.
    NoPeers { refused: usize },
    /// The job's budget ran out.
    TimedOut { secs: u64, tried: usize },
    /// Every peer that answered sent metadata that failed the checks.
    BadData { tried: usize },
    /// The metadata is larger than the store accepts.
    TooLarge { size: u64, limit: u64 },
    /// No peer tried sent the metadata (refused, closed, timed out, no ut_metadata).
    Unreachable { tried: usize, last: String },
    /// The metadata matches the hash but is not a torrent libtorrent would load.
    Invalid(String),
    /// Our own storage failed; the job is not remembered as a miss.
    Storage(String),
    /// The job ended without an outcome (a bug); not remembered.
    Internal(String),
}

impl FetchError {
    /// Whether the failure is the torrent's (remembered for the miss TTL) rather than ours.
    pub fn is_miss(&self) -> bool {
        !matches!(
            self,
            FetchError::Busy { .. }
                | FetchError::RateLimited { .. }
                | FetchError::Storage(_)
                | FetchError::Internal(_)
        )
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Busy { running, queued } => write!(
                f,
                "busy: {running} fetches running and {queued} waiting, retry later"
            ),
            FetchError::RateLimited { retry_after } => write!(
                f,
                "too many fetches from this address, retry in {} s",
                retry_after.as_secs().max(1)
            ),
            FetchError::Blocked { key, reason } => write!(f, "torrent {key} is blocked: {reason}"),
            FetchError::NoPeers { refused: 0 } => write!(f, "no peers found"),
            FetchError::NoPeers { refused } => write!(
                f,
                "no peers found ({refused} refused by the address policy)"
            ),
            FetchError::TimedOut { secs, tried } => {
                write!(f, "timed out after {secs} s ({tried} peers tried)")
            }
            FetchError::BadData { tried } => {
                write!(f, "every peer sent bad data ({tried} peers tried)")
            }
            FetchError::TooLarge { size, limit } => {
                write!(f, "torrent too large: {size} bytes (limit {limit})")
            }
            FetchError::Unreachable { tried, last } => write!(
                f,
                "no peer sent the metadata ({tried} peers tried; last: {last})"
            ),
            FetchError::Invalid(e) => write!(f, "the swarm's metadata is not a valid torrent: {e}"),
            FetchError::Storage(e) => write!(f, "{e}"),
            FetchError::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A job's outcome.
pub type Outcome = Result<Fetched, FetchError>;

/// Counts since start, for `/api/stats` and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs started.
    pub started: AtomicU64,
    /// Requests that joined a job in flight.
    pub joined: AtomicU64,
    /// Torrents stored by a job.
    pub fetched: AtomicU64,
    /// Jobs that failed.
    pub failed: AtomicU64,
    /// Requests refused because every slot and the queue were taken.
    pub busy: AtomicU64,
    /// Requests answered from the memory of failed hashes.
    pub misses: AtomicU64,
    /// Peer connections attempted.
    pub peers_tried: AtomicU64,
    /// Peer addresses the policy refused.
    pub peers_refused: AtomicU64,
    /// Tracker announces made.
    pub announces: AtomicU64,
    /// `https://` (and other unsupported) trackers skipped.
    pub trackers_skipped: AtomicU64,
}

/// A snapshot of the counters and the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub running: usize,
    pub queued: usize,
    pub started: u64,
    pub joined: u64,
    pub fetched: u64,
    pub failed: u64,
    pub busy: u64,
    pub misses: u64,
    pub peers_tried: u64,
    pub peers_refused: u64,
    pub announces: u64,
    pub trackers_skipped: u64,
}

/// What a job's code is handed: its request, and where its outcome goes.
pub struct JobCtx {
    job: Arc<Job>,
    inner: Arc<Inner>,
}

/// Runs one job: reads the request from the context, publishes the outcome with
/// [`JobCtx::finish`] as soon as it is known, and returns once its own work (connections it
/// opened) is over, which frees the slot.
pub type Runner = dyn Fn(&JobCtx) + Send + Sync;

struct Job {
    key: Key,
    intake: Mutex<Intake>,
    outcome: Mutex<Option<Outcome>>,
    done: may::sync::SyncFlag,
}

/// Requests that reach a job: merged while it waits, passed on once it runs.
struct Intake {
    request: Option<Request>,
    more: Option<Box<dyn Fn(Request) + Send>>,
    /// Every source any request named, for the miss memory.
    sources: Vec<String>,
}

struct Inner {
    cfg: FetchConfig,
    runner: Box<Runner>,
    storage: Arc<dyn Storage>,
    state: Mutex<State>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<Key, Arc<Job>>,
    queue: VecDeque<Arc<Job>>,
    running: usize,
    misses: Misses,
}

/// Starts and joins fetch jobs. One per process (it owns the DHT node).
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

/// A request's view of its job.
#[derive(Clone)]
pub struct Handle(Arc<Job>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent across a panic (every update is a single step).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fetcher {
    /// A fetcher whose jobs search the DHT (when `dht` is given), the requests' trackers and
    /// peers, and store into `storage`.
    pub fn new(storage: Arc<dyn Storage>, dht: Option<Arc<Dht>>, cfg: FetchConfig) -> Fetcher {
        let counters = Arc::new(Counters::default());
        let env = search::Env::new(
            Arc::clone(&storage),
            dht,
            cfg.policy,
            cfg.timeout,
            Arc::clone(&counters),
        );
        Fetcher::with_runner(
            storage,
            cfg,
            counters,
            Box::new(move |ctx: &JobCtx| search::run(&env, ctx)),
        )
    }

    /// Starts the DHT node (when `dht` is given; this resolves its bootstrap names, so call it
    /// at start-up, not on a may worker) and a fetcher storing into `storage`.
    pub fn launch(
        storage: Arc<dyn Storage>,
        dht: Option<&DhtConfig>,
        cfg: FetchConfig,
    ) -> Result<Fetcher, DhtError> {
        let node = match dht {
            None => None,
            Some(c) => {
                let node = Dht::start(c)?;
                eprintln!(
                    "thetorrent: dht node on {} ({} bootstrap nodes)",
                    node.local_addr(),
                    node.bootstrap().len()
                );
                Some(Arc::new(node))
            }
        };
        Ok(Fetcher::new(storage, node, cfg))
    }

    /// A fetcher whose jobs run `runner` (the scheduling without the network).
    pub fn with_runner(
        storage: Arc<dyn Storage>,
        cfg: FetchConfig,
        counters: Arc<Counters>,
        runner: Box<Runner>,
    ) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                cfg,
                runner,
                storage,
                state: Mutex::new(State::default()),
                counters,
            }),
        }
    }

    pub fn config(&self) -> &FetchConfig {
        &self.inner.cfg
    }

    /// Starts the job for `req`'s hash, or joins the one in flight (adding `req`'s sources to
    /// it). A hash that failed within the miss TTL is answered with that failure unless `req`
    /// names a source the failed job did not try. Never blocks on the network or the disk
    /// beyond the blocklist lookup.
    pub fn start(&self, req: Request) -> Result<Handle, FetchError> {
        self.start_admitted(req, || Ok(()))
    }

    /// [`Fetcher::start`], asking `admit` first when a new job would start (not when the
    /// request joins a job or is answered from the miss memory): the place for a per-client
    /// rate limit, which only the work a request causes should use up.
    pub fn start_admitted(
        &self,
        req: Request,
        admit: impl FnOnce() -> Result<(), FetchError>,
    ) -> Result<Handle, FetchError> {
        let inner = &self.inner;
        let Some(key) = req.target.key() else {
            return Err(FetchError::Invalid("no info hash to fetch".into()));
        };
        for k in req.target.keys() {
            if let Some(reason) = inner.storage.blocked(&k) {
                return Err(FetchError::Blocked { key: k, reason });
            }
        }
        let mut state = lock(&inner.state);
        if let Some(job) = state.jobs.get(&key) {
            let job = Arc::clone(job);
            drop(state);
            job.join(req);
            inner.counters.joined.fetch_add(1, Relaxed);
            return Ok(Handle(job));
        }
        let now = Instant::now();
        if let Some(miss) = state.misses.get(&key, now) {
            if req.sources().all(|s| miss.sources.contains(&s)) {
                inner.counters.misses.fetch_add(1, Relaxed);
                return Err(miss.error.clone());
            }
        }
        let (running, queued) = (state.running, state.queue.len());
        if running >= inner.cfg.jobs.max(1) && queued >= inner.cfg.queue {
            inner.counters.busy.fetch_add(1, Relaxed);
            return Err(FetchError::Busy { running, queued });
        }
        admit()?;
        let job = Arc::new(Job {
            key,
            intake: Mutex::new(Intake {
                sources: req.sources().collect(),
                request: Some(req),
                more: None,
            }),
            outcome: Mutex::new(None),
            done: may::sync::SyncFlag::new(),
        });
        state.jobs.insert(key, Arc::clone(&job));
        inner.counters.started.fetch_add(1, Relaxed);
        if running < inner.cfg.jobs.max(1) {
            state.running += 1;
            drop(state);
            launch(inner, Arc::clone(&job));
        } else {
            state.queue.push_back(Arc::clone(&job));
        }
        Ok(Handle(job))
    }

    /// The job in flight for `key`, if any.
    pub fn in_flight(&self, key: &Key) -> Option<Handle> {
        lock(&self.inner.state).jobs.get(key).cloned().map(Handle)
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub fn stats(&self) -> FetchStats {
        let (running, queued) = {
            let s = lock(&self.inner.state);
            (s.running, s.queue.len())
        };
        let c = &self.inner.counters;
        FetchStats {
            running,
            queued,
            started: c.started.load(Relaxed),
            joined: c.joined.load(Relaxed),
            fetched: c.fetched.load(Relaxed),
            failed: c.failed.load(Relaxed),
            busy: c.busy.load(Relaxed),
            misses: c.misses.load(Relaxed),
            peers_tried: c.peers_tried.load(Relaxed),
            peers_refused: c.peers_refused.load(Relaxed),
            announces: c.announces.load(Relaxed),
            trackers_skipped: c.trackers_skipped.load(Relaxed),
        }
    }
}

impl Job {
    fn join(&self, req: Request) {
        let mut intake = lock(&self.intake);
        for s in req.sources() {
            if !intake.sources.contains(&s) {
                intake.sources.push(s);
            }
        }
        if let Some(more) = &intake.more {
            more(req);
        } else if let Some(r) = intake.request.as_mut() {
            r.merge(req);
        }
    }
}

/// Runs `job` on a coroutine; when its runner returns, the slot goes to the next queued job.
fn launch(inner: &Arc<Inner>, job: Arc<Job>) {
    let inner = Arc::clone(inner);
    may::go!(move || {
        let ctx = JobCtx { job, inner };
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (ctx.inner.runner)(&ctx)));
        if ran.is_err() {
            ctx.finish(Err(FetchError::Internal("the fetch job panicked".into())));
        } else {
            ctx.finish(Err(FetchError::Internal(
                "the fetch job ended without an outcome".into(),
            )));
        }
        let next = {
            let mut state = lock(&ctx.inner.state);
            state.running -= 1;
            let next = state.queue.pop_front();
            if next.is_some() {
                state.running += 1;
            }
            next
        };
        if let Some(next) = next {
            launch(&ctx.inner, next);
        }
    });
}

impl JobCtx {
    pub fn key(&self) -> Key {
        self.job.key
    }

    /// The request (all requests made before the job ran, merged); `more` receives the
    /// requests that join afterwards. Called once, first thing.
    pub fn open(&self, more: impl Fn(Request) + Send + 'static) -> Request {
        let mut intake = lock(&self.job.intake);
        intake.more = Some(Box::new(more));
        intake.request.take().unwrap_or_default()
    }

    /// Publishes the outcome: waiters wake up, the hash leaves the table of jobs in flight,
    /// a failure is remembered. Only the first call counts.
    pub fn finish(&self, outcome: Outcome) {
        let inner = &self.inner;
        {
            let mut slot = lock(&self.job.outcome);
            if slot.is_some() {
                return;
            }
            match &outcome {
                Ok(f) if f.new => {
                    inner.counters.fetched.fetch_add(1, Relaxed);
                }
                Ok(_) => {}
                Err(_) => {
                    inner.counters.failed.fetch_add(1, Relaxed);
                }
            }
            *slot = Some(outcome.clone());
        }
        let sources = {
            let mut intake = lock(&self.job.intake);
            intake.more = None;
            std::mem::take(&mut intake.sources)
        };
        {
            let mut state = lock(&inner.state);
            state.jobs.remove(&self.job.key);
            if let Err(e) = &outcome {
                if e.is_miss() && !inner.cfg.miss_ttl.is_zero() {
                    let until = Instant::now() + inner.cfg.miss_ttl;
                    state.misses.insert(
                        self.job.key,
                        Miss {
                            until,
                            error: e.clone(),
                            sources,
                        },
                    );
                }
            }
        }
        self.job.done.fire();
    }
}

impl Handle {
    pub fn key(&self) -> Key {
        self.0.key
    }

    /// The outcome, waiting at most `timeout` for it; `None`: still running. Works on a may
    /// coroutine (it parks the coroutine, not the worker) and on a plain thread.
    pub fn wait(&self, timeout: Duration) -> Option<Outcome> {
        if !self.0.done.is_fired() && !timeout.is_zero() {
            self.0.done.wait_timeout(timeout);
        }
        lock(&self.0.outcome).clone()
    }
}

struct Miss {
    until: Instant,
    error: FetchError,
    sources: Vec<String>,
}

/// Failed hashes until their TTL ends, at most [`MAX_REMEMBERED_MISSES`]; `order` holds
/// them oldest first (one TTL for all, so also soonest to expire first).
#[derive(Default)]
struct Misses {
    map: HashMap<Key, Miss>,
    order: VecDeque<(Key, Instant)>,
}

impl Misses {
    fn get(&mut self, key: &Key, now: Instant) -> Option<&Miss> {
        if self.map.get(key).is_some_and(|m| m.until <= now) {
            self.map.remove(key);
        }
        self.map.get(key)
    }

    fn insert(&mut self, key: Key, miss: Miss) {
        let now = Instant::now();
        while let Some(&(k, until)) = self.order.front() {
            if until > now && self.map.len() < MAX_REMEMBERED_MISSES {
                break;
            }
            self.order.pop_front();
            if self.map.get(&k).is_some_and(|m| m.until == until) {
                self.map.remove(&k);
            }
        }
        self.order.push_back((key, miss.until));
        self.map.insert(key, miss);
    }
}

#[cfg(test)]
mod tests;
