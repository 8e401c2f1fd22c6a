//! The process's clocks: the coarse monotonic clock of every stamp and deadline, the coarse
//! wall clock, and seconds or microseconds since the epoch of a wall time.
//!
//! Owns: how time is read. Must never: format or parse dates (HTTP dates live in `http::date`,
//! day names in `storage::day`), or make a system call where the vDSO answers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch of a time (0 before it).
pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Microseconds since the epoch now (0 if the clock is before it).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Whole seconds of a coarse clock (`CLOCK_REALTIME_COARSE`, `CLOCK_MONOTONIC_COARSE`): read
/// from the vDSO without a system call and cheaper than a precise reading, a few ms behind.
/// For per-request checks that need no finer time (the `Date` header, cache validity).
pub fn coarse_secs(clock: libc::clockid_t) -> u64 {
    coarse_ms(clock) / 1000
}

/// Milliseconds of a coarse clock (see [`coarse_secs`]).
pub fn coarse_ms(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a valid timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec.max(0) as u64 * 1000 + ts.tv_nsec.max(0) as u64 / 1_000_000
}

/// Milliseconds of the coarse monotonic clock: the one clock of the server's own stamps and
/// deadlines (connection idle starts and read/write deadlines, the blocklist's reload, the
/// file cache), whose checks need no finer time than a few ms.
pub fn monotonic_ms() -> u64 {
    coarse_ms(libc::CLOCK_MONOTONIC_COARSE)
}

/// Whole seconds of the coarse wall clock (the `Date` header's second).
pub fn realtime_secs() -> u64 {
    coarse_secs(libc::CLOCK_REALTIME_COARSE)
}
