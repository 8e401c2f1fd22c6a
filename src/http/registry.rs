//! The connection registry: what the accept loop and the shutdown know of each open
//! connection, and the sweep that enforces idle timeouts and read and write deadlines.
//!
//! Owns: registering and unregistering connections (the count under the cap), their idle and
//! deadline stamps on the coarse monotonic clock, closing idle connections (past the idle
//! timeout, at the cap, at shutdown). Must never: close a socket (it only shuts one down, and
//! only while its entry exists, so the descriptor is still the connection's), or know how a
//! connection is served.

use super::budget::BodyBudget;
use super::config::Config;
use crate::clock::monotonic_ms;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the shutdown code needs to know of one connection.
pub struct ConnState {
    fd: RawFd,
    /// Waiting for a request (safe to close on shutdown).
    pub idle: AtomicBool,
    /// When it last started waiting, on [`monotonic_ms`].
    idle_since: AtomicU64,
    /// Closed by the accept loop to make room at the cap (not to be picked twice).
    evicted: AtomicBool,
    /// When the read in progress must end, on [`monotonic_ms`] (0: no deadline).
    /// Reads carry no may timer (a timed may read could corrupt the heap; docs/benchmarks.md): the
    /// accept loop's sweep shuts the read side down once this passes.
    pub read_deadline: AtomicU64,
    /// Set by the sweep when it shut the read side down for a passed deadline (for good: every
    /// later read of the connection is a timeout).
    pub read_timed_out: AtomicBool,
    /// When the write waiting for the client must end, on [`monotonic_ms`] (0: none).
    /// The sweep shuts the whole socket down once this passes.
    pub write_deadline: AtomicU64,
    /// Set by the sweep when it shut the socket down for a passed write deadline.
    pub write_timed_out: AtomicBool,
}

/// The deadline `after` from now on [`monotonic_ms`] (never 0, which means "none"); a few ms
/// behind at most, against timeouts of seconds that the sweep checks every 250 ms.
pub fn deadline_in(after: Duration) -> u64 {
    (monotonic_ms() + after.as_millis() as u64).max(1)
}

impl ConnState {
    /// Marks the connection idle (waiting for a request) as of now.
    pub fn set_idle(&self) {
        self.idle_since.store(monotonic_ms(), Ordering::SeqCst);
        self.idle.store(true, Ordering::SeqCst);
    }
}

/// State shared by the accept loop and all connections.
pub struct Shared {
    pub cfg: Config,
    pub shutting_down: AtomicBool,
    /// The memory budget of request bodies in flight.
    pub budget: BodyBudget,
    active: AtomicUsize,
    next_id: AtomicU64,
    registry: Mutex<HashMap<u64, Arc<ConnState>>>,
}

/// A connection's registration; dropping it unregisters and frees its slot under the cap.
/// It must be dropped before the socket is closed (see `conn::Conn`).
pub struct Tracked {
    shared: Arc<Shared>,
    id: u64,
    pub state: Arc<ConnState>,
}

impl Drop for Tracked {
    /// Unregisters even when the registry's lock is poisoned (a panic while it was held):
    /// an entry left behind would keep a raw descriptor that the sweep could later shut down
    /// after it was reused by another connection.
    fn drop(&mut self) {
        lock(&self.shared.registry).remove(&self.id);
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(cfg: Config) -> Shared {
        Shared {
            budget: BodyBudget::new(cfg.body_budget.max(cfg.max_body_bytes)),
            cfg,
            shutting_down: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            registry: Mutex::new(HashMap::new()),
        }
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Whether the connection cap is reached.
    pub fn at_cap(&self) -> bool {
        self.active() >= self.cfg.max_connections
    }

    /// Registers the accepted socket `fd`; the registration lasts as long as the `Tracked`.
    pub fn register(self: &Arc<Self>, fd: RawFd) -> Tracked {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            fd,
            idle: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            read_deadline: AtomicU64::new(0),
            read_timed_out: AtomicBool::new(false),
            write_deadline: AtomicU64::new(0),
            write_timed_out: AtomicBool::new(false),
        });
        lock(&self.registry).insert(id, state.clone());
        self.active.fetch_add(1, Ordering::SeqCst);
        Tracked {
            shared: self.clone(),
            id,
            state,
        }
    }

    /// Shuts down every connection waiting for a request (at shutdown: busy ones finish).
    pub fn close_idle(&self) {
        let reg = lock(&self.registry);
        for c in reg.values() {
            if c.idle.load(Ordering::SeqCst) {
                // SAFETY: the registry entry exists, so the socket is still open (a
                // connection unregisters before closing); shutdown(2) only wakes it.
                unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
            }
        }
    }
}

/// Closes connections idle for longer than the idle timeout, and ends reads and writes past
/// their deadlines. Waiting for the next request carries no timer of its own (a timer per
/// request costs on the hot path), nor does any read or write (may is built without its I/O
/// timers; docs/benchmarks.md); this sweep of the registry, a few times a second from the accept loop,
/// stands in for them.
pub fn sweep_idle(shared: &Shared) {
    let now = monotonic_ms();
    let limit = shared.cfg.idle_timeout.as_millis() as u64;
    let reg = lock(&shared.registry);
    for c in reg.values() {
        if c.idle.load(Ordering::SeqCst)
            && now.saturating_sub(c.idle_since.load(Ordering::SeqCst)) >= limit
        {
            // SAFETY: the registry entry exists, so the socket is still open (a connection
            // unregisters before closing); shutdown(2) only ends its wait.
            unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        }
        // A read past its deadline (a slow head or body): its read side is shut down, which
        // ends the wait; the connection sees `read_timed_out` and answers 408 (writes work).
        let d = c.read_deadline.load(Ordering::SeqCst);
        if d != 0 && now >= d && !c.read_timed_out.swap(true, Ordering::SeqCst) {
            // SAFETY: as above.
            unsafe { libc::shutdown(c.fd, libc::SHUT_RD) };
        }
        // A client that takes nothing of its answer within the write timeout: the connection
        // is given up (shut down both ways, which ends the write's wait with an error).
        let d = c.write_deadline.load(Ordering::SeqCst);
        if d != 0 && now >= d && !c.write_timed_out.swap(true, Ordering::SeqCst) {
            // SAFETY: as above.
            unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        }
    }
}

/// At the cap, with clients waiting: closes up to `n` of the oldest idle connections (those
/// waiting for a request, as nginx reuses idle keep-alive connections), so that thousands of
/// connections that send nothing cannot lock everybody else out until their idle timeout.
/// Returns how many are closing (those closed earlier and not yet gone count: no more are
/// closed while `n` are still on their way out).
pub fn evict_idle(shared: &Shared, n: usize) -> usize {
    let reg = lock(&shared.registry);
    let closing = reg
        .values()
        .filter(|c| c.evicted.load(Ordering::SeqCst))
        .count();
    if closing >= n {
        return closing;
    }
    let mut idle: Vec<(u64, &Arc<ConnState>)> = reg
        .iter()
        .filter(|(_, c)| c.idle.load(Ordering::SeqCst) && !c.evicted.load(Ordering::SeqCst))
        .map(|(id, c)| (*id, c))
        .collect();
    idle.sort_unstable_by_key(|(id, _)| *id);
    let mut closed = closing;
    for (_, c) in idle.into_iter().take(n - closing) {
        c.evicted.store(true, Ordering::SeqCst);
        // SAFETY: the registry entry exists (we hold its lock), so the socket is still open
        // (a connection unregisters before closing); shutdown(2) only wakes its reader.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        closed += 1;
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unregisters_when_the_lock_is_poisoned() {
        let shared = Arc::new(Shared::new(Config::default()));
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tracked = shared.register(std::os::fd::AsRawFd::as_raw_fd(&sock));
        let s = shared.clone();
        let _ = std::thread::spawn(move || {
            let _held = s.registry.lock().unwrap();
            panic!("poison the registry");
        })
        .join();
        assert!(shared.registry.is_poisoned());
        assert_eq!(lock(&shared.registry).len(), 1);
        drop(tracked);
        assert_eq!(
            lock(&shared.registry).len(),
            0,
            "entry left with a raw descriptor"
        );
        assert_eq!(shared.active(), 0);
    }
}
