//! One fetch job's work: find peers, get the info dict from one of them, store the torrent.
//!
//! Owns: the order sources are used in (`x.pe` peers first, then tracker peers, then DHT
//! peers), which peers are tried and how many at once, the reason a job failed, and the
//! stored file's layout: `d` + `8:announce` / `13:announce-list` from the magnet's trackers
//! (when any) + `4:info` + the info dict exactly as the peer sent it + `e`. Must never: try a
//! peer the address policy refuses, try more than [`MAX_PEERS_PER_JOB`] peers or more than
//! [`PEER_CONCURRENCY`] at once, store bytes that fail `torrent::validate` or whose hashes
//! differ from the job's, or block the coroutine it runs on beyond may's own waiting.

use super::dht::{Dht, DhtError};
use super::job::{FetchError, Fetched, JobCtx, Request};
use super::peer::{self, PeerError, PeerLimits};
use super::policy::AddrPolicy;
use super::tracker::{self, TrackerLimits};
use super::Target;
use crate::storage::Storage;
use crate::storage::{Ids, Outcome, PutError};
use crate::torrent;
use may::sync::mpsc;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most peers one job tries: past that many failures the swarm is unlikely to hold a good
/// one, and every try is a connection made on a stranger's word.
pub const MAX_PEERS_PER_JOB: usize = 32;
/// Peer connections one job has open at once: enough that one slow peer does not stall the
/// job, few enough that 16 jobs open at most 64 connections.
pub const PEER_CONCURRENCY: usize = 4;
/// Most distinct peer addresses a job keeps to try (the rest of a large swarm is dropped).
pub const MAX_PEERS_KNOWN: usize = 512;
/// DHT lookups one job makes at most: a lookup that ends without a peer is made again after
/// [`DHT_RETRY_DELAY`], as the first ones after start-up run while the node's routing table is
/// still empty, and a burst of lookups can lose answers (one UDP socket's receive buffer).
pub const DHT_LOOKUPS_PER_JOB: usize = 3;
/// Pause before a DHT lookup that found no peer is made again.
pub const DHT_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Pause before asking again for a lookup when `dht::MAX_DHT_LOOKUPS` are running.
pub const DHT_BUSY_DELAY: Duration = Duration::from_millis(200);
/// After its outcome is published, how long a job waits for the connections still open to
/// end before it frees its slot anyway (each one ends at its own peer timeouts before that).
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// What every job shares.
pub struct Env {
    storage: Arc<dyn Storage>,
    dht: Option<Arc<Dht>>,
    policy: AddrPolicy,
    timeout: Duration,
    counters: Arc<super::job::Counters>,
    peer_limits: PeerLimits,
    tracker_limits: TrackerLimits,
}

impl Env {
    pub fn new(
        storage: Arc<dyn Storage>,
        dht: Option<Arc<Dht>>,
        policy: AddrPolicy,
        timeout: Duration,
        counters: Arc<super::job::Counters>,
    ) -> Env {
        // The info dict goes into a file the store must accept: no use downloading more.
        let max_info = storage.config().max_torrent_size;
        Env {
            peer_limits: PeerLimits {
                max_metadata_size: peer::MAX_METADATA_SIZE.min(max_info),
                policy,
                ..PeerLimits::default()
            },
            tracker_limits: TrackerLimits {
                policy,
                ..TrackerLimits::default()
            },
            storage,
            dht,
            policy,
            timeout,
            counters,
        }
    }
}

/// Where a peer came from, in the order peers are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Pe = 0,
    Tracker = 1,
    Dht = 2,
}

enum Event {
    Peers(Source, Vec<SocketAddr>),
    SourceDone,
    /// The DHT lookup is over.
    DhtDone,
    /// Time to look the DHT up again.
    DhtRetry,
    Tried(Result<Vec<u8>, PeerError>),
    More(Request),
}

/// How the peers tried so far failed.
#[derive(Default)]
struct Tally {
    bad: usize,
    too_large: usize,
    largest: Option<(u64, u64)>,
    last: Option<String>,
}

struct Search<'a> {
    env: &'a Env,
    deadline: Instant,
    target: Target,
    trackers: Vec<String>,
    tx: mpsc::Sender<Event>,
    pending: [VecDeque<SocketAddr>; 3],
    known: HashSet<SocketAddr>,
    open_sources: usize,
    /// DHT lookups made, and peers the DHT named.
    dht_lookups: usize,
    dht_peers: usize,
    active: usize,
    tried: usize,
    refused: usize,
    tally: Tally,
}

/// What storing the metadata of one peer came to.
enum Stored {
    Done(Fetched),
    /// This peer's metadata does not fit the job's hashes: try the next one.
    BadPeer,
    /// Conclusive for the whole job.
    Failed(FetchError),
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Runs one job (the `job::Runner` of a real fetcher).
pub fn run(env: &Env, ctx: &JobCtx) {
    let (tx, rx) = mpsc::channel();
    let more = tx.clone();
    let req = ctx.open(move |r| {
        let _ = more.send(Event::More(r));
    });
    if let Some(found) = already_stored(env, &req.target) {
        ctx.finish(Ok(found));
        return;
    }
    let mut s = Search {
        env,
        deadline: Instant::now() + env.timeout,
        target: req.target,
        trackers: Vec::new(),
        tx,
        pending: Default::default(),
        known: HashSet::new(),
        open_sources: 0,
        dht_lookups: 0,
        dht_peers: 0,
        active: 0,
        tried: 0,
        refused: 0,
        tally: Tally::default(),
    };
    s.add_sources(req);
    s.start_dht();
    ctx.finish(s.until_outcome(&rx));
    s.drain(&rx);
}

/// The stored copy when an upload or an earlier job got there first.
fn already_stored(env: &Env, target: &Target) -> Option<Fetched> {
    for key in target.keys() {
        let Ok(Some(found)) = env.storage.get(&key) else {
            continue;
        };
        let bytes = found.to_vec().ok()?;
        let parsed = torrent::validate(&bytes).ok()?;
        return Some(Fetched {
            ids: Ids::of(&parsed),
            bytes: bytes.into(),
            new: false,
        });
    }
    None
}

impl Search<'_> {
    fn add_sources(&mut self, req: Request) {
        self.add_peers(Source::Pe, req.peers);
        for url in req.trackers {
            if self.trackers.contains(&url) {
                continue;
            }
            self.trackers.push(url.clone());
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("udp://")) {
                // No TLS in the server, and other schemes are not BitTorrent trackers; the
                // URL still goes into the stored file.
                count(&self.env.counters.trackers_skipped);
                continue;
            }
            count(&self.env.counters.announces);
            self.open_sources += 1;
            let limits = TrackerLimits {
                timeout: self.env.tracker_limits.timeout.min(self.left()),
                ..self.env.tracker_limits
            };
            let (tx, target) = (self.tx.clone(), self.target);
            may::go!(move || {
                if let Ok(peers) = tracker::announce(&url, &target, &limits) {
                    let _ = tx.send(Event::Peers(Source::Tracker, peers));
                }
                let _ = tx.send(Event::SourceDone);
            });
        }
    }

    fn start_dht(&mut self) {
        let (Some(dht), Some(key)) = (&self.env.dht, self.target.key()) else {
            return;
        };
        let tx = self.tx.clone();
        let started = dht.get_peers(&key, move |batch| match batch {
            Some(peers) => tx.send(Event::Peers(Source::Dht, peers)).is_ok(),
            None => {
                let _ = tx.send(Event::DhtDone);
                false
            }
        });
        match started {
            Ok(()) => {
                self.open_sources += 1;
                self.dht_lookups += 1;
            }
            // The lookup threads are all taken (by other jobs): wait for one.
            Err(DhtError::Busy) if self.left() > DHT_BUSY_DELAY => {
                self.open_sources += 1;
                self.start_dht_in(DHT_BUSY_DELAY);
            }
            Err(_) => {}
        }
    }

    /// Starts a DHT lookup after `delay`; the DHT stays an open source meanwhile.
    fn start_dht_in(&self, delay: Duration) {
        let tx = self.tx.clone();
        may::go!(move || {
            may::coroutine::sleep(delay);
            let _ = tx.send(Event::DhtRetry);
        });
    }

    /// A DHT lookup ended: made again later when it named no peer and the budget allows.
    fn dht_done(&mut self) {
        let retry = self.dht_peers == 0
            && self.dht_lookups < DHT_LOOKUPS_PER_JOB
            && self.left() > DHT_RETRY_DELAY;
        if retry {
            self.start_dht_in(DHT_RETRY_DELAY);
        } else {
            self.open_sources -= 1;
        }
    }

    fn add_peers(&mut self, source: Source, peers: Vec<SocketAddr>) {
        for p in peers {
            if self.known.len() >= MAX_PEERS_KNOWN || self.known.contains(&p) {
                continue;
            }
            if !self.env.policy.allows(&p) {
                self.refused += 1;
                count(&self.env.counters.peers_refused);
                continue;
            }
            self.known.insert(p);
            self.pending[source as usize].push_back(p);
        }
    }

    fn next_peer(&mut self) -> Option<SocketAddr> {
        self.pending.iter_mut().find_map(VecDeque::pop_front)
    }

    fn start_peers(&mut self) {
        while self.active < PEER_CONCURRENCY && self.tried < MAX_PEERS_PER_JOB {
            let Some(addr) = self.next_peer() else {
                return;
            };
            self.active += 1;
            self.tried += 1;
            count(&self.env.counters.peers_tried);
            let limits = PeerLimits {
                total_timeout: self.env.peer_limits.total_timeout.min(self.left()),
                ..self.env.peer_limits
            };
            let (tx, target) = (self.tx.clone(), self.target);
            may::go!(move || {
                let r = peer::fetch_info(addr, &target, &limits);
                let _ = tx.send(Event::Tried(r));
            });
        }
    }

    /// Nothing left to try and nothing running.
    fn exhausted(&self) -> bool {
        self.active == 0
            && (self.tried >= MAX_PEERS_PER_JOB
                || (self.open_sources == 0 && self.pending.iter().all(VecDeque::is_empty)))
    }

    /// What is left of the job's budget.
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn until_outcome(&mut self, rx: &mpsc::Receiver<Event>) -> Result<Fetched, FetchError> {
        loop {
            self.start_peers();
            if self.exhausted() {
                return Err(self.failure());
            }
            let left = self.left();
            let event = match rx.recv_timeout(left) {
                Ok(e) if !left.is_zero() => e,
                _ => return Err(self.timed_out()),
            };
            match event {
                Event::Peers(source, peers) => {
                    if source == Source::Dht {
                        self.dht_peers += peers.len();
                    }
                    self.add_peers(source, peers)
                }
                Event::SourceDone => self.open_sources -= 1,
                Event::DhtDone => self.dht_done(),
                Event::DhtRetry => {
                    self.open_sources -= 1;
                    self.start_dht();
                }
                Event::More(req) => self.add_sources(req),
                Event::Tried(r) => {
                    self.active -= 1;
                    match r.map(|info| self.store(info)) {
                        Ok(Stored::Done(f)) => return Ok(f),
                        Ok(Stored::Failed(e)) => return Err(e),
                        Ok(Stored::BadPeer) => self.note_bad("metadata with other hashes".into()),
                        Err(e) => self.note(e),
                    }
                }
            }
        }
    }

    /// Waits for the connections still open (bounded by [`DRAIN_GRACE`]), so that a job's
    /// slot stands for all the memory and sockets it holds.
    fn drain(&mut self, rx: &mpsc::Receiver<Event>) {
        let deadline = Instant::now() + DRAIN_GRACE;
        while self.active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::Tried(_)) => self.active -= 1,
                Ok(_) if !left.is_zero() => {}
                _ => return,
            }
        }
    }

    fn note_bad(&mut self, why: String) {
        self.tally.bad += 1;
        self.tally.last = Some(why);
    }

    fn note(&mut self, e: PeerError) {
        match &e {
            PeerError::WrongHash | PeerError::Protocol(_) | PeerError::TooMuchData { .. } => {
                self.tally.bad += 1
            }
            PeerError::TooLarge { size, cap } => {
                self.tally.too_large += 1;
                self.tally.largest = Some((*size, *cap as u64));
            }
            // Unreachable, slow, not a metadata peer, or not in this swarm: try the next.
            PeerError::AddressRefused(_)
            | PeerError::NoTarget
            | PeerError::Connect(_)
            | PeerError::Handshake(_)
            | PeerError::NoExtension
            | PeerError::NoMetadataSupport
            | PeerError::Rejected { .. }
            | PeerError::Timeout(_)
            | PeerError::Io(_) => {}
        }
        self.tally.last = Some(e.to_string());
    }

    fn failure(&self) -> FetchError {
        let t = &self.tally;
        if self.tried == 0 {
            return FetchError::NoPeers {
                refused: self.refused,
            };
        }
        match t.largest {
            Some((size, limit)) if t.bad + t.too_large == self.tried && t.bad == 0 => {
                FetchError::TooLarge { size, limit }
            }
            _ if t.bad + t.too_large == self.tried => FetchError::BadData { tried: self.tried },
            _ => FetchError::Unreachable {
                tried: self.tried,
                last: t.last.clone().unwrap_or_default(),
            },
        }
    }

    fn timed_out(&self) -> FetchError {
        if self.tried == 0 {
            return FetchError::NoPeers {
                refused: self.refused,
            };
        }
        FetchError::TimedOut {
            secs: self.env.timeout.as_secs(),
            tried: self.tried,
        }
    }

    /// Builds, checks and stores the file around one peer's info dict.
    fn store(&self, info: Vec<u8>) -> Stored {
        let file = torrent_file(&self.trackers, &info);
        drop(info);
        let config = self.env.storage.config();
        if let Err(PutError::TooLarge { size, limit }) = config.check_size(file.len() as u64) {
            return Stored::Failed(FetchError::TooLarge { size, limit });
        }
        let parsed = match torrent::validate(&file) {
            Ok(p) => p,
            Err(e) => return Stored::Failed(FetchError::Invalid(e.to_string())),
        };
        let t = &self.target;
        if t.v1.is_some_and(|h| parsed.v1 != Some(h)) || t.v2.is_some_and(|h| parsed.v2 != Some(h))
        {
            return Stored::BadPeer;
        }
        let bytes: Arc<[u8]> = Arc::from(file.as_slice());
        match self.env.storage.put(file) {
            Ok((ids, outcome)) => Stored::Done(Fetched {
                ids,
                bytes,
                new: outcome == Outcome::Stored,
            }),
            Err(PutError::TooLarge { size, limit }) => {
                Stored::Failed(FetchError::TooLarge { size, limit })
            }
            Err(PutError::Invalid(e)) => Stored::Failed(FetchError::Invalid(e.to_string())),
            Err(PutError::Blocked { key, reason }) => {
                Stored::Failed(FetchError::Blocked { key, reason })
            }
            Err(e @ PutError::Storage(_)) => Stored::Failed(FetchError::Storage(e.to_string())),
        }
    }
}

/// The stored file around an info dict: `announce` is the first tracker, `announce-list` has
/// each tracker in a tier of its own, in the magnet's order (as libtorrent reads a magnet's
/// `tr=`). Keys in bencode order: `announce` < `announce-list` < `info`.
pub fn torrent_file(trackers: &[String], info: &[u8]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(s.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(s);
    }
    let listed: usize = trackers.iter().map(|t| t.len() + 10).sum();
    let mut out = Vec::with_capacity(info.len() + 2 * listed + 40);
    out.push(b'd');
    if let Some(first) = trackers.first() {
        string(&mut out, b"announce");
        string(&mut out, first.as_bytes());
        string(&mut out, b"announce-list");
        out.push(b'l');
        for t in trackers {
            out.push(b'l');
            string(&mut out, t.as_bytes());
            out.push(b'e');
        }
        out.push(b'e');
    }
    string(&mut out, b"info");
    out.extend_from_slice(info);
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] =
        b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";

    #[test]
    fn the_file_without_trackers_is_the_info_alone() {
        let f = torrent_file(&[], INFO);
        assert_eq!(f, [b"d4:info".as_slice(), INFO, b"e"].concat());
        let p = torrent::validate(&f).unwrap();
        assert_eq!(&f[p.info], INFO);
    }

    #[test]
    fn trackers_go_first_each_in_its_tier() {
        let trackers = ["udp://a:1/announce".to_string(), "http://b/x".to_string()];
        let f = torrent_file(&trackers, INFO);
        let want = [
            b"d8:announce18:udp://a:1/announce13:announce-listll18:udp://a:1/announceel10:http://b/xee4:info"
                .as_slice(),
            INFO,
            b"e",
        ]
        .concat();
        assert_eq!(f, want);
        let p = torrent::validate(&f).unwrap();
        assert_eq!(&f[p.info], INFO);
        assert_eq!(
            torrent::summary(&f).unwrap().trackers,
            ["udp://a:1/announce", "http://b/x"]
        );
    }
}
