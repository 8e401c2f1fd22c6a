//! Listening sockets, the accept loop, and the life of the server process.
//!
//! Owns: binding `--listen` addresses (IPv4 and IPv6, `IPV6_V6ONLY`, `SO_REUSEADDR` but never
//! `SO_REUSEPORT`, so a second instance on the same port fails loudly), systemd socket
//! activation (`LISTEN_FDS`), the may runtime settings, the connection cap, back-off on
//! EMFILE and friends, SIGTERM/SIGINT and graceful shutdown. Must never: spin on a failing
//! `accept`, silently share a port, or exit non-zero on a requested shutdown.

use super::config::{Config, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN};
use super::{conn, Handler};
use crate::clock::monotonic_ms;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most idle connections closed at once when the cap is reached and clients wait.
const EVICT_BATCH: usize = 16;
/// Listen backlog (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: libc::c_int = 4096;
/// First descriptor passed by systemd socket activation.
const SD_LISTEN_FDS_START: RawFd = 3;

/// The sockets the server accepts on.
pub struct Listeners {
    list: Vec<TcpListener>,
    /// Whether they came from systemd (`LISTEN_FDS`).
    pub activated: bool,
}

impl Listeners {
    /// The addresses actually bound (with the real port when 0 was asked).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.list
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int_opt(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open socket; the option value is a c_int that outlives the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn get_int_opt(fd: RawFd, level: libc::c_int, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for writes of their sizes.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            level,
            opt,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(v)
}

/// Binds one address: `SO_REUSEADDR` (restart while old connections linger in TIME_WAIT),
/// no `SO_REUSEPORT`, `IPV6_V6ONLY` for IPv6 so `[::]` and `0.0.0.0` can be listed apart.
fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2) call; the result is checked and owned at once.
    let fd = cvt(unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just created and is owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let r = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sa is a valid sockaddr_in of the given length.
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sa is a valid sockaddr_in6 of the given length.
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    cvt(r)?;
    // SAFETY: fd is a bound stream socket.
    cvt(unsafe { libc::listen(fd, BACKLOG) })?;
    Ok(TcpListener::from(owned))
}

/// Sockets handed over by systemd, when `LISTEN_PID` is this process.
fn systemd_fds() -> Result<Option<Vec<TcpListener>>, String> {
    let (Ok(pid), Ok(n)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let n: RawFd = n
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS is not a number: {n:?}"))?;
    // Not passed on to anything this process might start.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let mut list = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START.saturating_add(n.clamp(0, 1024)) {
        let is_listening_stream = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_TYPE)
            .is_ok_and(|t| t == libc::SOCK_STREAM)
            && get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).is_ok_and(|a| a == 1);
        if !is_listening_stream {
            return Err(format!(
                "socket activation: descriptor {fd} is not a listening stream socket"
            ));
        }
        // SAFETY: fd was passed to this process by systemd and is owned by nothing else.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: as above.
        list.push(unsafe { TcpListener::from_raw_fd(fd) });
    }
    if list.is_empty() {
        return Err("socket activation: LISTEN_FDS passed no socket".into());
    }
    Ok(Some(list))
}

/// Raises the soft limit on open descriptors to the hard limit (as nginx's
/// `worker_rlimit_nofile` does) and returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill and then to pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

/// Opens the listening sockets: systemd's when socket-activated, else each `--listen`
/// address (IPv4 `1.2.3.4:80`, IPv6 `[::1]:80`, or a host name). Any failure, such as the
/// port being taken by another instance, is an error naming the address.
pub fn bind(addrs: &[String]) -> Result<Listeners, String> {
    if let Some(list) = systemd_fds()? {
        return Ok(Listeners {
            list,
            activated: true,
        });
    }
    let mut list = Vec::new();
    for a in addrs {
        let resolved: Vec<SocketAddr> = a
            .to_socket_addrs()
            .map_err(|e| format!("cannot listen on {a}: {e}"))?
            .collect();
        if resolved.is_empty() {
            return Err(format!("cannot listen on {a}: no address"));
        }
        for sa in resolved {
            list.push(bind_one(sa).map_err(|e| format!("cannot listen on {sa}: {e}"))?);
        }
    }
    if list.is_empty() {
        return Err("no address to listen on".into());
    }
    Ok(Listeners {
        list,
        activated: false,
    })
}

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
    /// Reads carry no may timer (a timed may read could corrupt the heap, issue 6): the
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
    pub handler: Arc<dyn Handler>,
    pub shutting_down: AtomicBool,
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
    fn drop(&mut self) {
        if let Ok(mut r) = self.shared.registry.lock() {
            r.remove(&self.id);
        }
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the thread that waits for SIGTERM/SIGINT: the first one starts the graceful
/// shutdown, a second one ends the process at once.
fn handle_signals(shared: Arc<Shared>, wake: OwnedFd) -> io::Result<()> {
    let set = crate::signals::block_shutdown_signals()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: set is a valid signal set, sig a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            if shared.shutting_down.swap(true, Ordering::SeqCst) {
                eprintln!("thetorrent: second signal, exiting now");
                std::process::exit(1);
            }
            eprintln!("thetorrent: signal {sig}: stopping (finishing requests in flight)");
            // SAFETY: writing one byte from a valid buffer to our own pipe.
            unsafe { libc::write(wake.as_raw_fd(), b"x".as_ptr() as *const libc::c_void, 1) };
        })?;
    Ok(())
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Waits until a listener is readable, the wake pipe is, or `timeout` passes.
/// Returns the indices of readable listeners.
fn wait(fds: &[RawFd], wake: RawFd, timeout: Option<Duration>, poll_listeners: bool) -> Vec<usize> {
    let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(fds.len() + 1);
    pfds.push(libc::pollfd {
        fd: wake,
        events: libc::POLLIN,
        revents: 0,
    });
    if poll_listeners {
        pfds.extend(fds.iter().map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
    }
    let ms = timeout.map_or(-1, |d| {
        d.as_millis().clamp(1, i32::MAX as u128) as libc::c_int
    });
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r <= 0 {
        return Vec::new();
    }
    pfds[1..]
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect()
}

fn peer_of(sa: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match sa.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(sa as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            Some(SocketAddr::from((
                a.sin_addr.s_addr.to_ne_bytes(),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(sa as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            Some(SocketAddr::from((
                a.sin6_addr.s6_addr,
                u16::from_be(a.sin6_port),
            )))
        }
        _ => None,
    }
}

fn spawn_conn(shared: &Arc<Shared>, fd: RawFd, peer: Option<SocketAddr>) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
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
    lock(&shared.registry).insert(id, state.clone());
    shared.active.fetch_add(1, Ordering::SeqCst);
    let tracked = Tracked {
        shared: shared.clone(),
        id,
        state,
    };
    let shared = shared.clone();
    may::go!(move || {
        // SAFETY: fd is a freshly accepted socket owned by nothing else; may registers it
        // with its poller (and panics if that fails, caught here; the fd is closed then).
        let stream = std::panic::catch_unwind(|| unsafe {
            <may::net::TcpStream as FromRawFd>::from_raw_fd(fd)
        });
        match stream {
            Ok(stream) => conn::serve(stream, peer, &shared, tracked),
            Err(_) => {
                eprintln!("thetorrent: http: could not register a connection");
                drop(tracked);
            }
        }
    });
}

/// Coroutine stack size in words, as may takes it. With `THETORRENT_STACK_USAGE` set, the
/// size is made odd, which makes may measure each coroutine's deepest stack use and print it
/// on stdout when the coroutine ends (a diagnostic for choosing [`Config::stack_size`]).
fn stack_words(bytes: usize) -> usize {
    let words = bytes / std::mem::size_of::<usize>();
    if std::env::var_os("THETORRENT_STACK_USAGE").is_some() {
        words | 1
    } else {
        words & !1
    }
}

/// How often idle connections are checked against the idle timeout (the timeout is kept to
/// within this much).
const IDLE_SWEEP: Duration = Duration::from_millis(250);

/// Closes connections idle for longer than the idle timeout, and ends reads and writes past
/// their deadlines. Waiting for the next request carries no timer of its own (a timer per
/// request costs on the hot path), nor does any read or write (may is built without its I/O
/// timers, issue 6); this sweep of the registry, a few times a second from the accept loop,
/// stands in for them.
fn sweep_idle(shared: &Shared) {
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
fn evict_idle(shared: &Shared, n: usize) -> usize {
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

/// Sets may's worker count and coroutine stack size. may reads its configuration once, when
/// its scheduler starts — which the first may socket does, even outside a coroutine (the S3
/// client at start-up) — so this must run before anything touches may.
pub fn configure_runtime(cfg: &Config) {
    let workers = if cfg.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.workers
    };
    may::config()
        .set_workers(workers)
        .set_stack_size(stack_words(cfg.stack_size));
    // Leave CPU placement to the kernel (and to `taskset`): may pins workers by default.
    may::config().set_worker_pin(false);
}

/// Runs the server on `listeners` until SIGTERM/SIGINT, then stops accepting, lets requests
/// in flight finish (at most [`Config::shutdown_grace`]) and returns `Ok`.
pub fn run(listeners: Listeners, handler: Arc<dyn Handler>, cfg: Config) -> Result<(), String> {
    configure_runtime(&cfg);

    let mut pipe = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array.
    cvt(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })
        .map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: both ends were just created and are owned here only.
    let (wake_r, wake_w) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };

    let shared = Arc::new(Shared {
        cfg,
        handler,
        shutting_down: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
        registry: Mutex::new(HashMap::new()),
    });
    handle_signals(shared.clone(), wake_w).map_err(|e| format!("signal setup: {e}"))?;

    for l in &listeners.list {
        l.set_nonblocking(true)
            .map_err(|e| format!("listener setup: {e}"))?;
    }
    let fds: Vec<RawFd> = listeners.list.iter().map(|l| l.as_raw_fd()).collect();
    let mut backoff: Option<Duration> = None;
    let mut at_cap_logged = false;
    let mut last_sweep = Instant::now();
    while !shared.shutting_down.load(Ordering::SeqCst) {
        if last_sweep.elapsed() >= IDLE_SWEEP {
            last_sweep = Instant::now();
            sweep_idle(&shared);
        }
        if shared.active.load(Ordering::SeqCst) >= shared.cfg.max_connections {
            if !at_cap_logged {
                eprintln!(
                    "thetorrent: http: {} connections open (the cap): accepting paused, \
                     idle connections closed to make room",
                    shared.cfg.max_connections
                );
                at_cap_logged = true;
            }
            // Clients waiting to be accepted: make room by closing idle connections; with
            // none idle, wait for one to finish.
            let waiting = !wait(
                &fds,
                wake_r.as_raw_fd(),
                Some(Duration::from_millis(10)),
                true,
            )
            .is_empty();
            if !waiting || evict_idle(&shared, EVICT_BATCH) == 0 {
                wait(
                    &fds,
                    wake_r.as_raw_fd(),
                    Some(Duration::from_millis(10)),
                    false,
                );
            } else {
                // Give the closed ones a moment to unregister.
                std::thread::sleep(Duration::from_millis(1));
            }
            continue;
        }
        at_cap_logged = false;
        if let Some(d) = backoff {
            wait(&fds, wake_r.as_raw_fd(), Some(d), false);
        }
        let ready = wait(&fds, wake_r.as_raw_fd(), Some(IDLE_SWEEP), true);
        for i in ready {
            // Accept what is queued, staying under the cap.
            while shared.active.load(Ordering::SeqCst) < shared.cfg.max_connections {
                // SAFETY: sockaddr_storage is plain data; zeroed is a valid value.
                let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: fds[i] is a listening socket; sa/len are valid out pointers.
                let fd = unsafe {
                    libc::accept4(
                        fds[i],
                        &mut sa as *mut libc::sockaddr_storage as *mut libc::sockaddr,
                        &mut len,
                        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    )
                };
                if fd >= 0 {
                    backoff = None;
                    spawn_conn(&shared, fd, peer_of(&sa));
                    continue;
                }
                let e = io::Error::last_os_error();
                if is_resource_error(&e) {
                    let d = backoff.map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX));
                    if backoff.is_none() {
                        eprintln!("thetorrent: http: accept: {e}; backing off");
                    }
                    backoff = Some(d);
                }
                // EAGAIN (queue empty), or a connection that failed before it was accepted:
                // back to poll. Anything else (a broken listener?) must not spin either.
                let transient = matches!(
                    e.raw_os_error(),
                    Some(
                        libc::EAGAIN
                            | libc::ECONNABORTED
                            | libc::EINTR
                            | libc::EPROTO
                            | libc::EPERM
                    )
                );
                if !transient && !is_resource_error(&e) {
                    if backoff.is_none() {
                        eprintln!("thetorrent: http: accept: {e}; backing off");
                    }
                    backoff = Some(
                        backoff.map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX)),
                    );
                }
                break;
            }
        }
    }

    // Graceful shutdown: no new connections, idle ones closed, busy ones finish.
    drop(listeners);
    let deadline = Instant::now() + shared.cfg.shutdown_grace;
    loop {
        {
            let reg = lock(&shared.registry);
            for c in reg.values() {
                if c.idle.load(Ordering::SeqCst) {
                    // SAFETY: the registry entry exists, so the socket is still open (a
                    // connection unregisters before closing); shutdown(2) only wakes it.
                    unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
                }
            }
        }
        // Read deadlines of the requests finishing are still the sweep's to enforce.
        sweep_idle(&shared);
        if shared.active.load(Ordering::SeqCst) == 0 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "thetorrent: {} connections still busy after the grace period; exiting",
                shared.active.load(Ordering::SeqCst)
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
