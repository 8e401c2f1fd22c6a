//! The accept loop and the life of the server process.
//!
//! Owns: the may runtime settings, accepting under the connection cap, back-off on EMFILE and
//! friends, SIGTERM/SIGINT and graceful shutdown. Must never: spin on a failing `accept`, or
//! exit non-zero on a requested shutdown.

use super::budget::fix_mmap_threshold;
use super::config::{
    Config, ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, MMAP_THRESHOLD, TRIM_AFTER_BURST,
};
use super::conn;
use super::handler::Handler;
use super::registry::{evict_idle, sweep_idle, Shared};
use super::socket::Listeners;
use socket2::SockRef;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most idle connections closed at once when the cap is reached and clients wait.
const EVICT_BATCH: usize = 16;
/// How often idle connections are checked against the idle timeout (the timeout is kept to
/// within this much).
const IDLE_SWEEP: Duration = Duration::from_millis(250);

/// Starts the thread that waits for SIGTERM/SIGINT: the first one starts the graceful
/// shutdown, a second one ends the process at once.
fn handle_signals(shared: Arc<Shared>, wake: UnixStream) -> io::Result<()> {
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
            let _ = (&wake).write(b"x");
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

/// Serves the accepted socket `fd` on a coroutine of its own.
fn spawn_conn(
    shared: &Arc<Shared>,
    handler: &Arc<dyn Handler>,
    fd: RawFd,
    peer: Option<SocketAddr>,
) {
    let tracked = shared.register(fd);
    let shared = shared.clone();
    let handler = handler.clone();
    may::go!(move || {
        // SAFETY: fd is a freshly accepted socket owned by nothing else; may registers it
        // with its poller (and panics if that fails, caught here; the fd is closed then).
        let stream = std::panic::catch_unwind(|| unsafe {
            <may::net::TcpStream as FromRawFd>::from_raw_fd(fd)
        });
        match stream {
            Ok(stream) => conn::serve(stream, peer, &shared, &*handler, tracked),
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
    // Body buffers get their own mappings, so memory goes back after a burst of uploads.
    fix_mmap_threshold(MMAP_THRESHOLD);
}

/// Runs the server on `listeners` until SIGTERM/SIGINT, then stops accepting, lets requests
/// in flight finish (at most [`Config::shutdown_grace`]) and returns `Ok`.
pub fn run(listeners: Listeners, handler: Arc<dyn Handler>, cfg: Config) -> Result<(), String> {
    configure_runtime(&cfg);
    let (wake_r, wake_w) = wake_pair().map_err(|e| format!("socket pair: {e}"))?;
    let shared = Arc::new(Shared::new(cfg));
    handle_signals(shared.clone(), wake_w).map_err(|e| format!("signal setup: {e}"))?;
    for l in &listeners.list {
        l.set_nonblocking(true)
            .map_err(|e| format!("listener setup: {e}"))?;
    }
    let fds: Vec<RawFd> = listeners.list.iter().map(|l| l.as_raw_fd()).collect();
    Acceptor {
        shared: &shared,
        handler: &handler,
        listeners: &listeners.list,
        fds: &fds,
        wake: wake_r.as_raw_fd(),
        backoff: None,
    }
    .run();
    // Graceful shutdown: no new connections, idle ones closed, busy ones finish.
    drop(listeners);
    drain(&shared);
    Ok(())
}

/// The socket pair the signal thread writes to, to wake the accept loop's `poll`.
fn wake_pair() -> io::Result<(UnixStream, UnixStream)> {
    let (r, w) = UnixStream::pair()?;
    r.set_nonblocking(true)?;
    w.set_nonblocking(true)?;
    Ok((r, w))
}

/// The accept loop: the listeners, the wake pipe and the back-off after failed accepts.
struct Acceptor<'a> {
    shared: &'a Arc<Shared>,
    handler: &'a Arc<dyn Handler>,
    listeners: &'a [TcpListener],
    /// The listeners' descriptors, for `poll`.
    fds: &'a [RawFd],
    wake: RawFd,
    backoff: Option<Duration>,
}

impl Acceptor<'_> {
    /// Accepts until shutdown starts, sweeping the registry every [`IDLE_SWEEP`].
    fn run(&mut self) {
        let mut at_cap_logged = false;
        let mut last_sweep = Instant::now();
        while !self.shared.shutting_down.load(Ordering::SeqCst) {
            if last_sweep.elapsed() >= IDLE_SWEEP {
                last_sweep = Instant::now();
                sweep_idle(self.shared);
                self.shared.budget.trim_after_burst(TRIM_AFTER_BURST);
            }
            if self.shared.at_cap() {
                if !at_cap_logged {
                    eprintln!(
                        "thetorrent: http: {} connections open (the cap): accepting paused, \
                         idle connections closed to make room",
                        self.shared.cfg.max_connections
                    );
                    at_cap_logged = true;
                }
                self.make_room();
                continue;
            }
            at_cap_logged = false;
            if let Some(d) = self.backoff {
                wait(self.fds, self.wake, Some(d), false);
            }
            let listeners = self.listeners;
            for i in wait(self.fds, self.wake, Some(IDLE_SWEEP), true) {
                self.accept_queued(&listeners[i]);
            }
        }
    }

    /// At the cap: with clients waiting to be accepted, makes room by closing idle
    /// connections; with none idle (or nobody waiting), waits for one to finish.
    fn make_room(&self) {
        let tick = Some(Duration::from_millis(10));
        let waiting = !wait(self.fds, self.wake, tick, true).is_empty();
        if !waiting || evict_idle(self.shared, EVICT_BATCH) == 0 {
            wait(self.fds, self.wake, tick, false);
        } else {
            // Give the closed ones a moment to unregister.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Accepts what is queued on `listener`, staying under the cap.
    fn accept_queued(&mut self, listener: &TcpListener) {
        while !self.shared.at_cap() {
            let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
            match SockRef::from(listener).accept4(flags) {
                Ok((socket, peer)) => {
                    self.backoff = None;
                    spawn_conn(
                        self.shared,
                        self.handler,
                        socket.into_raw_fd(),
                        peer.as_socket(),
                    );
                }
                Err(e) => {
                    self.accept_failed(&e);
                    break;
                }
            }
        }
    }

    /// After a failed accept: backs off (doubling) on a lack of resources and on anything
    /// unexpected; EAGAIN (queue empty) or a connection that failed before it was accepted
    /// just goes back to poll. A broken listener must not make the loop spin.
    fn accept_failed(&mut self, e: &io::Error) {
        let next =
            |b: Option<Duration>| b.map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX));
        let transient = matches!(
            e.raw_os_error(),
            Some(libc::EAGAIN | libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM)
        );
        if is_resource_error(e) || !transient {
            if self.backoff.is_none() {
                eprintln!("thetorrent: http: accept: {e}; backing off");
            }
            self.backoff = Some(next(self.backoff));
        }
    }
}

/// Waits for the connections in flight (at most the shutdown grace), closing idle ones.
fn drain(shared: &Shared) {
    let deadline = Instant::now() + shared.cfg.shutdown_grace;
    loop {
        shared.close_idle();
        // Read deadlines of the requests finishing are still the sweep's to enforce.
        sweep_idle(shared);
        if shared.active() == 0 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "thetorrent: {} connections still busy after the grace period; exiting",
                shared.active()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
