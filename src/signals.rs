//! The process's shutdown signals (SIGTERM, SIGINT) and the mask that keeps them on one thread.
//!
//! Owns: the signal set and blocking it. Must never: install a handler (the HTTP listener's
//! signal thread takes them with `sigwait`).

use std::io;

/// Blocks SIGTERM and SIGINT in the calling thread, and so in every thread it starts later:
/// they are then only taken by the signal thread of `http::listen::run` (with `sigwait`).
/// Every thread the process starts besides that one blocks them (before any other thread
/// exists, or on its own start), or a signal delivered to it would kill the process instead
/// of shutting it down. Returns the set, for `sigwait`.
pub fn block_shutdown_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset operations on a local, zero-initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(set)
    }
}
