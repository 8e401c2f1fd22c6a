//! Deadlines for may sockets without may's timed I/O: one watchdog thread shuts a socket down
//! (`shutdown(2)`) once its deadline passes, so the read, write or connect blocked on it fails
//! and its owner reports a timeout.
//!
//! Owns: the watchdog thread and its table of (socket, deadline), and connecting a may TCP
//! socket within a deadline. Must never: touch a descriptor after its entry is removed, keep a
//! duplicate descriptor (a duplicate keeps the socket in may's epoll set after may closed its
//! own and freed the event data epoll still points to), or use may's `io_timeout` timers (they
//! corrupted the heap now and then; the server builds may without them).
//!
//! The rule for callers: [`Watch::finish`] before the socket can be closed (dropped), on every
//! path. The entry is removed under the table's lock, and the watchdog only shuts down sockets
//! whose entries it holds under that same lock, so it never touches a closed or reused
//! descriptor. A [`Watch`] is also a guard: dropped unfinished (a panic unwinding through the
//! exchange), it removes its entry, so a panic cannot leave a raw descriptor registered; it
//! must be declared after the socket it watches, so that it is dropped first.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the watchdog looks for sockets past their deadline (deadlines fire up to this
/// late).
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// One watched socket: its descriptor, its deadline, whether it was shut down, and the group
/// it belongs to ([`new_group`]; 0: none).
struct Entry {
    fd: RawFd,
    deadline: Instant,
    fired: bool,
    group: u64,
}

/// A new group of watches (a client's exchanges), all of which [`fire_group`] can end at once.
pub fn new_group() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Ends every watch of `group` now, as if its deadline had passed (its sockets are shut down
/// and their watches report it): once a client knows its server does not answer, requests
/// waiting on it are answered at once.
pub fn fire_group(group: u64) {
    let mut e = watchdog().entries.lock().unwrap_or_else(|p| p.into_inner());
    for entry in e.values_mut() {
        if entry.group == group && group != 0 && !entry.fired {
            // SAFETY: the socket is open: an entry is removed (under this lock) before its
            // socket can be closed (the rule in the module doc).
            unsafe { libc::shutdown(entry.fd, libc::SHUT_RDWR) };
            entry.fired = true;
        }
    }
}

/// Sockets with a deadline, watched by one thread.
struct Watchdog {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
}

fn watchdog() -> &'static Watchdog {
    static W: OnceLock<&'static Watchdog> = OnceLock::new();
    W.get_or_init(|| {
        let w: &'static Watchdog = Box::leak(Box::new(Watchdog {
            next: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }));
        let _ = std::thread::Builder::new()
            .name("thetorrent-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(WATCH_INTERVAL);
                let now = Instant::now();
                let mut e = w.entries.lock().unwrap_or_else(|p| p.into_inner());
                for entry in e.values_mut() {
                    if !entry.fired && now >= entry.deadline {
                        // SAFETY: the socket is open: an entry is removed (under this lock)
                        // before its socket can be closed (the rule in the module doc).
                        unsafe { libc::shutdown(entry.fd, libc::SHUT_RDWR) };
                        entry.fired = true;
                    }
                }
            });
        w
    })
}

/// A socket's registration with the watchdog; [`Watch::finish`] it before the socket is
/// closed (dropping it unregisters too).
#[must_use = "a Watch must be finished before its socket is closed"]
pub struct Watch(u64);

impl Drop for Watch {
    fn drop(&mut self) {
        remove(self.0);
    }
}

/// Removes entry `id`; whether its socket had been shut down.
fn remove(id: u64) -> bool {
    watchdog()
        .entries
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
        .is_some_and(|e| e.fired)
}

/// Whether registration `id` is still with the watchdog (for tests).
#[cfg(test)]
fn watched(id: u64) -> bool {
    watchdog()
        .entries
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&id)
}

impl Watch {
    /// Watches `fd` until `timeout` from now.
    pub fn start(fd: RawFd, timeout: Duration) -> Watch {
        Watch::until(fd, Instant::now() + timeout)
    }

    /// Watches `fd` until `deadline`.
    pub fn until(fd: RawFd, deadline: Instant) -> Watch {
        Watch::until_in(fd, deadline, 0)
    }

    /// Watches `fd` until `timeout` from now, as one of `group` ([`fire_group`]).
    pub fn start_in(fd: RawFd, timeout: Duration, group: u64) -> Watch {
        Watch::until_in(fd, Instant::now() + timeout, group)
    }

    /// Watches `fd` until `deadline`, as one of `group` (0: none).
    pub fn until_in(fd: RawFd, deadline: Instant, group: u64) -> Watch {
        let w = watchdog();
        let id = w.next.fetch_add(1, Ordering::Relaxed);
        w.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Entry {
                fd,
                deadline,
                fired: false,
                group,
            },
        );
        Watch(id)
    }

    /// Moves the deadline (earlier or later). A socket already shut down stays shut down.
    pub fn set_deadline(&self, deadline: Instant) {
        if let Some(e) = watchdog()
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.0)
        {
            e.deadline = deadline;
        }
    }

    /// Removes the registration; whether the deadline had passed (the socket was shut down).
    pub fn finish(self) -> bool {
        let fired = remove(self.0);
        std::mem::forget(self);
        fired
    }
}

/// Connects a may socket to `addr` within `timeout`, without may's I/O timers: the connect
/// is started non-blocking, and while it is in progress the coroutine waits for the socket's
/// events with the watchdog holding the deadline (shut down, a connect in progress fails at
/// once). Only in a coroutine.
pub fn connect_may(addr: &SocketAddr, timeout: Duration) -> io::Result<may::net::TcpStream> {
    connect_may_in(addr, timeout, 0)
}

/// [`connect_may`] with its watch in `group` ([`fire_group`] ends it too).
pub fn connect_may_in(
    addr: &SocketAddr,
    timeout: Duration,
    group: u64,
) -> io::Result<may::net::TcpStream> {
    connect_may_until_in(addr, Instant::now() + timeout, group).map_err(|e| {
        if e.kind() == io::ErrorKind::TimedOut {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {timeout:?}"),
            )
        } else {
            e
        }
    })
}

/// [`connect_may`] with a deadline instead of a timeout.
pub fn connect_may_until(addr: &SocketAddr, deadline: Instant) -> io::Result<may::net::TcpStream> {
    connect_may_until_in(addr, deadline, 0)
}

fn connect_may_until_in(
    addr: &SocketAddr,
    deadline: Instant,
    group: u64,
) -> io::Result<may::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let sock = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    let in_progress = match sock.connect(&(*addr).into()) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(e) => return Err(e),
    };
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is the socket just made, owned by nothing else now. may registers it with
    // its poller and panics if that fails (the descriptor is closed by then).
    let stream = std::panic::catch_unwind(|| unsafe { may::net::TcpStream::from_raw_fd(fd) })
        .map_err(|_| io::Error::other("could not register the socket with may's poller"))?;
    if !in_progress {
        return Ok(stream);
    }
    let watch = Watch::until_in(fd, deadline, group);
    let r = loop {
        may::io::WaitIo::wait_io(&stream);
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => break Err(e),
        }
        match stream.peer_addr() {
            Ok(_) => break Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
            Err(e) => break Err(e),
        }
    };
    // Unregistered before `stream` can be dropped (closed) on any path below.
    if watch.finish() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connect timed out".to_string(),
        ));
    }
    r.map(|()| stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A panic in an exchange must not leave its socket registered: the watchdog would later
    /// shut down whatever socket reuses the descriptor.
    #[test]
    fn a_panic_unregisters_the_watch() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let id = std::cell::Cell::new(None);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let w = Watch::start(sock.as_raw_fd(), Duration::from_secs(60));
            id.set(Some(w.0));
            assert!(watched(w.0));
            panic!("an exchange fails");
        }));
        assert!(r.is_err());
        assert!(
            !watched(id.get().unwrap()),
            "still registered after the panic"
        );
        // finish() removes it too, and says whether it fired.
        let w = Watch::start(sock.as_raw_fd(), Duration::from_secs(60));
        let n = w.0;
        assert!(!w.finish());
        assert!(!watched(n));
    }
}
