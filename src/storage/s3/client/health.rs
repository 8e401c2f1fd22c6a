//! Whether the object store answers, so that a hung store costs one timeout, not one per
//! request: the first exchange that times out with no answer from the store since it began
//! (or finds the endpoint refusing connections) marks the store down, every request after it
//! fails at once without trying, and a probe thread asks the store every
//! [`S3_PROBE_INTERVAL`] until it answers again.
//!
//! Owns: the down/up state, the probe thread, and the client's counters (attempts, retries,
//! timeouts, requests failed fast, outages). Must never: mark the store up before it answered
//! a request, run more than one probe per client, or keep the client alive (the probe holds
//! only a weak reference and ends with it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often the probe asks a store marked down whether it answers again (the store is used
/// again at most this long, plus one exchange, after it is back).
pub const S3_PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// A client's view of its object store.
#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    since: Mutex<Option<Instant>>,
    /// Exchanges tried (retries included).
    pub attempts: AtomicU64,
    /// Exchanges repeated after a connection error or a 5xx.
    pub retries: AtomicU64,
    /// Exchanges that ran out of time.
    pub timeouts: AtomicU64,
    /// Requests answered at once, without an exchange, because the store was down.
    pub failed_fast: AtomicU64,
    /// Times the store was found unreachable.
    pub outages: AtomicU64,
    /// When an answer last came back, on `clock::monotonic_ms` (0: never).
    answered_at: AtomicU64,
}

impl Health {
    /// How long the store has been down, or `None` when it is taken to answer.
    pub fn down_for(&self) -> Option<Duration> {
        if !self.down.load(Ordering::SeqCst) {
            return None;
        }
        let since = *self.since.lock().unwrap_or_else(|p| p.into_inner());
        Some(since.map_or(Duration::ZERO, |s| s.elapsed()))
    }

    /// Marks the store down after `why` (a timeout, a refused connection), unless it already
    /// is; the first time, starts `probe` on its own thread, called every
    /// [`S3_PROBE_INTERVAL`] until it says the store answers. Returns whether this call
    /// started the outage.
    pub fn mark_down<P>(self: &Arc<Self>, why: &str, endpoint: &str, probe: P) -> bool
    where
        P: FnMut() -> bool + Send + 'static,
    {
        if self.down.swap(true, Ordering::SeqCst) {
            return false;
        }
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.outages.fetch_add(1, Ordering::SeqCst);
        eprintln!(
            "thetorrent: object store {endpoint} unreachable ({why}): requests to it fail at \
             once (503) while a probe asks it every {} ms",
            S3_PROBE_INTERVAL.as_millis()
        );
        let weak = Arc::downgrade(self);
        let endpoint = endpoint.to_string();
        let started = std::thread::Builder::new()
            .name("thetorrent-s3-probe".into())
            .spawn(move || {
                let _ = crate::signals::block_shutdown_signals();
                probe_until_up(weak, probe, &endpoint)
            });
        if started.is_err() {
            // No probe thread: fall back to trying the store with each request.
            self.mark_up();
        }
        true
    }

    /// Notes that the store answered an exchange.
    pub fn answered(&self) {
        self.answered_at
            .fetch_max(crate::clock::monotonic_ms(), Ordering::Relaxed);
    }

    /// Whether the store answered any exchange after `since` (on `clock::monotonic_ms`): an
    /// exchange that timed out meanwhile was slow on its own (SeaweedFS takes a second per
    /// waiting writer on one key, for instance), the store is not hung.
    pub fn answered_since(&self, since: u64) -> bool {
        self.answered_at.load(Ordering::Relaxed) > since
    }

    /// Marks the store as answering.
    pub fn mark_up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// The counters as (name, value) pairs, for statistics.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        vec![
            ("s3_attempts", get(&self.attempts)),
            ("s3_retries", get(&self.retries)),
            ("s3_timeouts", get(&self.timeouts)),
            ("s3_failed_fast", get(&self.failed_fast)),
            ("s3_outages", get(&self.outages)),
            ("s3_down", u64::from(self.down.load(Ordering::SeqCst))),
        ]
    }
}

fn probe_until_up<P: FnMut() -> bool>(health: Weak<Health>, mut probe: P, endpoint: &str) {
    loop {
        std::thread::sleep(S3_PROBE_INTERVAL);
        if health.upgrade().is_none() {
            return;
        }
        if probe() {
            if let Some(h) = health.upgrade() {
                let down = h.down_for().unwrap_or_default();
                h.mark_up();
                eprintln!(
                    "thetorrent: object store {endpoint} answers again (down {:.1} s)",
                    down.as_secs_f64()
                );
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn down_until_the_probe_succeeds() {
        let h = Arc::new(Health::default());
        assert_eq!(h.down_for(), None);
        let tries = Arc::new(AtomicUsize::new(0));
        let t = tries.clone();
        assert!(h.mark_down("timed out", "test", move || {
            t.fetch_add(1, Ordering::SeqCst) >= 2
        }));
        assert!(h.down_for().is_some());
        // A second failure while down starts nothing.
        assert!(!h.mark_down("timed out", "test", || true));
        let t0 = Instant::now();
        while h.down_for().is_some() {
            assert!(t0.elapsed() < Duration::from_secs(10), "never back up");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(h.outages.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_probe_ends_with_the_client() {
        let h = Arc::new(Health::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        h.mark_down("refused", "test", move || {
            c.fetch_add(1, Ordering::SeqCst);
            false
        });
        drop(h);
        std::thread::sleep(S3_PROBE_INTERVAL * 3);
        let n = calls.load(Ordering::SeqCst);
        std::thread::sleep(S3_PROBE_INTERVAL * 2);
        assert_eq!(calls.load(Ordering::SeqCst), n, "probe still running");
    }
}
