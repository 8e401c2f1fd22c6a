//! The HTTP/1.1 side of the S3 client: a bounded pool of kept-alive may sockets to one
//! endpoint, writing one request and reading its answer with the shared response reader
//! (`crate::http::client::{read_head, read_body}`).
//!
//! Owns: connecting (with a timeout), socket timeouts, the idle pool, telling a stale pooled
//! connection (closed by the server while idle) from a real failure. Must never: block a may
//! worker on a std socket, or use a may socket outside a coroutine; keep a connection whose
//! framing is unsure, hold more than `max_idle` idle connections, read a body past its limit.
//!
//! Two kinds of sockets: in a may coroutine a `may::net::TcpStream` (it yields instead of
//! blocking the worker); in a plain thread (the S3 backend's list refresher and segment
//! committer, the CLI) a `std::net::TcpStream`. may's sockets used from a plain thread wait
//! with `std::thread::park`, which a stale unpark token (left by a std channel or a scoped
//! thread's join) ends early, while may still holds a pointer into the waiting frame: the
//! server crashed that way (misaligned pointer in `SocketRead::subscribe`, SIGSEGV) during
//! the object-store outage test. Each kind has its own idle pool.
//!
//! Timeouts: no may socket timeouts (timed may reads corrupted the heap in may 0.3: see
//! docs/benchmarks.md, "Measurements behind the defaults"). Each exchange instead registers its socket and deadline
//! with the shared watchdog (`crate::deadline`), which shuts the socket down once the deadline
//! passes; the blocked read or write then fails and the exchange reports a timeout.
//! Connecting in a coroutine uses `deadline::connect_may` the same way.

use crate::deadline::{connect_may_in, fire_group, new_group, Watch};
use crate::http::client::{read_body, read_head, stale, HttpError, ResponseHead};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the watchdog looks for exchanges past their deadline (timeouts fire up to this
/// late).
pub use crate::deadline::WATCH_INTERVAL as S3_WATCH_INTERVAL;

/// Time added to an exchange's deadline per MiB of request body, so that the timeout can be a
/// few seconds for the small objects of the usual requests and a torrent of the size limit
/// still has time to go over a slow link (1 MiB/s).
pub const S3_TRANSFER_ALLOWANCE: Duration = Duration::from_secs(1);

fn transfer_allowance(body: usize) -> Duration {
    S3_TRANSFER_ALLOWANCE.mul_f64(body as f64 / (1 << 20) as f64)
}

/// A pooled connection idle longer than this is closed instead of reused (servers close idle
/// connections after 5 s to a few minutes; a reused closed one costs a retry).
pub const S3_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A socket of the kind the calling context needs.
enum Stream {
    /// In a may coroutine.
    May(may::net::TcpStream),
    /// In a plain thread.
    Std(std::net::TcpStream),
}

impl io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::May(s) => s.read(buf),
            Stream::Std(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::May(s) => s.write(buf),
            Stream::Std(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::May(s) => s.flush(),
            Stream::Std(s) => s.flush(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::May(s) => s.as_raw_fd(),
            Stream::Std(s) => s.as_raw_fd(),
        }
    }
}

type Conn = BufReader<Stream>;

/// One request, already signed.
pub struct Request<'a> {
    pub method: &'static str,
    /// Path and query of the presigned URL.
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    /// Most body bytes accepted for a 2xx answer (error answers: `max_error_body`).
    pub limit: u64,
}

/// An answer.
pub struct Reply {
    pub head: ResponseHead,
    pub body: Vec<u8>,
}

/// Why one attempt failed.
pub enum Failure {
    /// The connection failed (connect, write, read, timeout). `sent`: the whole request was
    /// written before the failure, so the server may have acted on it.
    Io { error: io::Error, sent: bool },
    /// The answer was not usable HTTP; retrying will not help.
    Protocol(String),
    /// A 2xx body was larger than the request's limit.
    TooLarge(u64),
}

pub struct Transport {
    /// This transport's group of watches (`deadline::fire_group` ends its exchanges).
    id: u64,
    addrs: Vec<SocketAddr>,
    /// `host[:port]` as signed.
    pub host_header: String,
    /// For error messages: the endpoint's `host:port`.
    pub authority: String,
    /// Time for one exchange, plus [`S3_TRANSFER_ALLOWANCE`] per byte of request body.
    timeout: Duration,
    max_idle: usize,
    max_error_body: u64,
    /// Idle connections: may sockets (for coroutines), std sockets (for threads).
    pool: Mutex<Vec<(Conn, Instant)>>,
    std_pool: Mutex<Vec<(Conn, Instant)>>,
}

impl Transport {
    pub fn new(
        addrs: Vec<SocketAddr>,
        host_header: String,
        authority: String,
        timeout: Duration,
        max_idle: usize,
        max_error_body: u64,
    ) -> Transport {
        Transport {
            id: new_group(),
            addrs,
            host_header,
            authority,
            timeout,
            max_idle,
            max_error_body,
            pool: Mutex::new(Vec::new()),
            std_pool: Mutex::new(Vec::new()),
        }
    }

    /// A transport to the same endpoint with its own pool and its own watchdog entries (the
    /// health probe's: ending this one's exchanges must not end the probe's).
    pub fn sibling(&self, max_idle: usize) -> Transport {
        Transport::new(
            self.addrs.clone(),
            self.host_header.clone(),
            self.authority.clone(),
            self.timeout,
            max_idle,
            self.max_error_body,
        )
    }

    /// Ends every exchange of this transport in flight, connects included: once the store is
    /// known to be unreachable, requests waiting on it are answered at once.
    pub fn end_exchanges(&self) {
        fire_group(self.id);
    }

    fn connect(&self) -> io::Result<Conn> {
        let mut last = None;
        for a in &self.addrs {
            let s = if may::coroutine::is_coroutine() {
                connect_may_in(a, self.timeout, self.id).map(|s| {
                    let _ = s.set_nodelay(true);
                    Stream::May(s)
                })
            } else {
                std::net::TcpStream::connect_timeout(a, self.timeout).map(|s| {
                    let _ = s.set_nodelay(true);
                    Stream::Std(s)
                })
            };
            match s {
                Ok(s) => return Ok(BufReader::with_capacity(16 * 1024, s)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
    }

    /// The idle pool for the calling context's kind of socket.
    fn pool_for_context(&self) -> &Mutex<Vec<(Conn, Instant)>> {
        if may::coroutine::is_coroutine() {
            &self.pool
        } else {
            &self.std_pool
        }
    }

    fn pooled(&self) -> Option<Conn> {
        let mut pool = self
            .pool_for_context()
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while let Some((c, since)) = pool.pop() {
            if since.elapsed() < S3_IDLE_TIMEOUT {
                return Some(c);
            }
        }
        None
    }

    fn give_back(&self, c: Conn) {
        let pool = match c.get_ref() {
            Stream::May(_) => &self.pool,
            Stream::Std(_) => &self.std_pool,
        };
        let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the oldest idle connections first: they are the likeliest to be closed.
        pool.retain(|(_, since)| since.elapsed() < S3_IDLE_TIMEOUT);
        if pool.len() < self.max_idle {
            pool.push((c, Instant::now()));
        }
    }

    /// Idle connections now in the pool.
    pub fn idle(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
            + self.std_pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// One exchange. A pooled connection the server had closed is replaced by a fresh one
    /// once, without counting as a failure; `maybe_applied` is set when the request had been
    /// sent whole on it (the server could, in principle, have acted before closing).
    pub fn exchange(&self, req: &Request<'_>, maybe_applied: &mut bool) -> Result<Reply, Failure> {
        if let Some(conn) = self.pooled() {
            match self.exchange_on(conn, req, true) {
                Err(Attempt::Stale { sent }) => *maybe_applied |= sent,
                Err(Attempt::Failed(f)) => return Err(f),
                Ok(r) => return Ok(r),
            }
        }
        let conn = self
            .connect()
            .map_err(|error| Failure::Io { error, sent: false })?;
        match self.exchange_on(conn, req, false) {
            Ok(r) => Ok(r),
            Err(Attempt::Failed(f)) => Err(f),
            Err(Attempt::Stale { .. }) => unreachable!("a fresh connection is never stale"),
        }
    }

    /// `exchange_inner` under the watchdog: past the timeout the socket is shut down and the
    /// failure reported as a timeout (never as a stale pooled connection).
    fn exchange_on(
        &self,
        mut conn: Conn,
        req: &Request<'_>,
        reused: bool,
    ) -> Result<Reply, Attempt> {
        let timeout = self.timeout + transfer_allowance(req.body.len());
        let watch = Watch::start_in(conn.get_ref().as_raw_fd(), timeout, self.id);
        let (r, keep) = self.exchange_inner(&mut conn, req, reused);
        // The watch ends before the socket can be closed (below, or in the pool later).
        let fired = watch.finish();
        if keep && !fired {
            self.give_back(conn);
        } else {
            drop(conn);
        }
        match r {
            Err(Attempt::Failed(Failure::Io { sent, .. })) | Err(Attempt::Stale { sent })
                if fired =>
            {
                Err(Attempt::Failed(Failure::Io {
                    error: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {timeout:?}"),
                    ),
                    sent,
                }))
            }
            r => r,
        }
    }

    /// One request and its answer on `conn`; also says whether the connection can be kept.
    fn exchange_inner(
        &self,
        conn: &mut Conn,
        req: &Request<'_>,
        reused: bool,
    ) -> (Result<Reply, Attempt>, bool) {
        match self.exchange_steps(conn, req, reused) {
            Ok((reply, keep)) => (Ok(reply), keep),
            Err(e) => (Err(e), false),
        }
    }

    fn exchange_steps(
        &self,
        conn: &mut Conn,
        req: &Request<'_>,
        reused: bool,
    ) -> Result<(Reply, bool), Attempt> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: thetorrent/{}\r\n",
            req.method,
            req.target,
            self.host_header,
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &req.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if !req.body.is_empty() || req.method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
        }
        head.push_str("\r\n");
        let stale_or = |e: io::Error, sent: bool| {
            if reused && stale(&e) {
                Attempt::Stale { sent }
            } else {
                Attempt::Failed(Failure::Io { error: e, sent })
            }
        };
        let written = if req.body.len() <= 16 * 1024 {
            let mut all = head.into_bytes();
            all.extend_from_slice(req.body);
            conn.get_mut().write_all(&all)
        } else {
            conn.get_mut()
                .write_all(head.as_bytes())
                .and_then(|_| conn.get_mut().write_all(req.body))
        };
        written.map_err(|e| stale_or(e, false))?;
        // The first byte of the answer tells a closed pooled connection (nothing at all) from a
        // failure mid-answer.
        match conn.fill_buf() {
            Ok([]) => return Err(stale_or(io::ErrorKind::UnexpectedEof.into(), true)),
            Ok(_) => {}
            Err(e) => return Err(stale_or(e, true)),
        }
        let bodyless = req.method == "HEAD";
        let head = read_head(conn, bodyless).map_err(|e| Attempt::Failed(failure(e)))?;
        let ok = (200..300).contains(&head.status);
        let limit = if ok { req.limit } else { self.max_error_body };
        let body = match read_body(conn, &head.framing, limit) {
            Ok(b) => b,
            Err(HttpError::TooLarge { .. }) if !ok => {
                // An oversized error body: the status is what matters; the connection goes.
                return Ok((
                    Reply {
                        head,
                        body: Vec::new(),
                    },
                    false,
                ));
            }
            Err(e) => return Err(Attempt::Failed(failure(e))),
        };
        let keep = head.keep_alive && conn.buffer().is_empty();
        Ok((Reply { head, body }, keep))
    }
}

enum Attempt {
    /// A pooled connection turned out closed before any answer byte: try a fresh one.
    /// `sent`: the whole request had been written.
    Stale {
        sent: bool,
    },
    Failed(Failure),
}

fn failure(e: HttpError) -> Failure {
    match e {
        HttpError::Io(error) => Failure::Io { error, sent: true },
        HttpError::Connect(m) => Failure::Io {
            error: io::Error::new(io::ErrorKind::NotConnected, m),
            sent: false,
        },
        HttpError::Protocol(m) => Failure::Protocol(m),
        HttpError::TooLarge { limit } => Failure::TooLarge(limit),
    }
}
