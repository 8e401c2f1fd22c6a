//! The memory budget of request bodies in flight: one count, for every connection together, of
//! the body bytes handlers may hold, so that many concurrent uploads cannot take more memory
//! than the operator allowed (without it the ceiling is the connection cap times the body
//! limit: 10,000 × 16 MiB).
//!
//! Owns: reserving and returning body bytes against [`Config::body_budget`](super::Config),
//! waiting (on the coroutine) for room, and giving freed memory back to the system after a
//! burst. Must never: block a may worker (waits are coroutine sleeps), let the count drift (a
//! reservation is returned by the [`Body`](super::Body) that took it, when it is dropped), or
//! hand out more than the budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a body waiting for room looks again.
pub const BUDGET_POLL: Duration = Duration::from_millis(10);

/// Body bytes reserved by all connections, against a limit.
#[derive(Debug)]
pub struct BodyBudget {
    limit: u64,
    used: AtomicU64,
    /// The most `used` reached since memory was last given back ([`Self::trim_after_burst`]).
    high: AtomicU64,
}

impl BodyBudget {
    pub fn new(limit: u64) -> BodyBudget {
        BodyBudget {
            limit,
            used: AtomicU64::new(0),
            high: AtomicU64::new(0),
        }
    }

    /// The budget, bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Reserves `n` bytes if they fit now.
    pub fn try_take(&self, n: u64) -> bool {
        let mut cur = self.used.load(Ordering::SeqCst);
        loop {
            let Some(next) = cur.checked_add(n).filter(|&v| v <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.high.fetch_max(next, Ordering::SeqCst);
                    return true;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Reserves `n` bytes, waiting up to `wait` for others to return theirs.
    pub fn take(&self, n: u64, wait: Duration) -> bool {
        if n > self.limit {
            return false;
        }
        let until = Instant::now() + wait;
        loop {
            if self.try_take(n) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            sleep(BUDGET_POLL);
        }
    }

    /// Returns `n` bytes reserved earlier.
    pub fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::SeqCst);
    }

    /// Once a burst of bodies (more than `threshold` bytes held at once) is over (nothing
    /// held now), asks the allocator to return its free memory to the system; returns whether
    /// it did. Called from the accept loop's sweep, never on a request's coroutine.
    pub fn trim_after_burst(&self, threshold: u64) -> bool {
        if self.used() != 0 || self.high.load(Ordering::SeqCst) <= threshold {
            return false;
        }
        self.high.store(0, Ordering::SeqCst);
        release_free_memory();
        true
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

/// Makes glibc's malloc give memory back: allocations of at least `mmap_threshold` bytes get
/// their own mapping, returned to the system when freed. glibc's default threshold moves up
/// (to 32 MiB) after the first large free, after which 16 MiB bodies come from the heaps
/// and stay resident once freed; a fixed threshold keeps every body buffer past it out of
/// the heaps. Call once at start, before the first large allocation.
pub fn fix_mmap_threshold(mmap_threshold: usize) {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold as libc::c_int);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = mmap_threshold;
}

/// Returns the free memory of every malloc heap to the system (`malloc_trim`): the small
/// buffers of a burst (parts, reads) are scattered over the heaps of the worker threads.
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_over_the_limit() {
        let b = BodyBudget::new(100);
        assert!(b.try_take(60));
        assert!(!b.try_take(41));
        assert!(b.try_take(40));
        assert_eq!(b.used(), 100);
        assert!(!b.take(1, Duration::from_millis(30)));
        b.give(60);
        assert!(b.take(50, Duration::ZERO));
        assert!(
            !b.take(101, Duration::from_secs(60)),
            "more than the whole budget"
        );
        b.give(90);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_waiting_body_gets_room_when_another_returns_it() {
        let b = std::sync::Arc::new(BodyBudget::new(10));
        assert!(b.try_take(10));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.take(5, Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        b.give(10);
        assert!(t.join().unwrap());
        assert_eq!(b.used(), 5);
    }

    #[test]
    fn trims_once_after_a_burst() {
        let b = BodyBudget::new(1000);
        assert!(!b.trim_after_burst(100));
        assert!(b.try_take(500));
        assert!(!b.trim_after_burst(100), "bodies still held");
        b.give(500);
        assert!(b.trim_after_burst(100));
        assert!(!b.trim_after_burst(100), "once per burst");
    }
}
