//! The HTTP/1.1 side of the S3 client: a bounded pool of kept-alive may sockets to one
//! endpoint, writing one request and reading its answer with the shared response reader
//! (`crate::cli::http_client::{read_head, read_body}`).
//!
//! Owns: connecting (with a timeout), socket timeouts, the idle pool, telling a stale pooled
//! connection (closed by the server while idle) from a real failure. Must never: block a may
//! worker on a std socket (every socket is a `may::net::TcpStream`, which yields in a
//! coroutine and blocks only a plain thread), keep a connection whose framing is unsure, hold
//! more than `max_idle` idle connections, read a body past its limit.
//!
//! Timeouts: `set_read_timeout`/`set_write_timeout` on may sockets, as `src/http/wire.rs` does
//! for body reads. A timed may read followed by the coroutine's end once correlated with a
//! heap corruption in may 0.3 (see `linger_close` in `src/http/wire.rs` and ARCHITECTURE.md);
//! that case was a *lingering* read ending the coroutine. Here the timeout is needed to bound
//! a hung object store, and it is kept simple: set once per connection, never changed.

use crate::cli::http_client::{read_body, read_head, stale, HttpError, ResponseHead};
use may::net::TcpStream;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A pooled connection idle longer than this is closed instead of reused (servers close idle
/// connections after 5 s to a few minutes; a reused closed one costs a retry).
pub const S3_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Conn = BufReader<TcpStream>;

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
    addrs: Vec<SocketAddr>,
    /// `host[:port]` as signed.
    pub host_header: String,
    /// For error messages: the endpoint's `host:port`.
    pub authority: String,
    timeout: Duration,
    max_idle: usize,
    max_error_body: u64,
    pool: Mutex<Vec<(Conn, Instant)>>,
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
            addrs,
            host_header,
            authority,
            timeout,
            max_idle,
            max_error_body,
            pool: Mutex::new(Vec::new()),
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let mut last = None;
        for a in &self.addrs {
            match TcpStream::connect_timeout(a, self.timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    let _ = s.set_nodelay(true);
                    return Ok(BufReader::with_capacity(16 * 1024, s));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
    }

    fn pooled(&self) -> Option<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((c, since)) = pool.pop() {
            if since.elapsed() < S3_IDLE_TIMEOUT {
                return Some(c);
            }
        }
        None
    }

    fn give_back(&self, c: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the oldest idle connections first: they are the likeliest to be closed.
        pool.retain(|(_, since)| since.elapsed() < S3_IDLE_TIMEOUT);
        if pool.len() < self.max_idle {
            pool.push((c, Instant::now()));
        }
    }

    /// Idle connections now in the pool.
    pub fn idle(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
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

    fn exchange_on(
        &self,
        mut conn: Conn,
        req: &Request<'_>,
        reused: bool,
    ) -> Result<Reply, Attempt> {
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
        let head = read_head(&mut conn, bodyless).map_err(|e| Attempt::Failed(failure(e)))?;
        let ok = (200..300).contains(&head.status);
        let limit = if ok { req.limit } else { self.max_error_body };
        let body = match read_body(&mut conn, &head.framing, limit) {
            Ok(b) => b,
            Err(HttpError::TooLarge { .. }) if !ok => {
                // An oversized error body: the status is what matters; the connection goes.
                return Ok(Reply {
                    head,
                    body: Vec::new(),
                });
            }
            Err(e) => return Err(Attempt::Failed(failure(e))),
        };
        if head.keep_alive && conn.buffer().is_empty() {
            self.give_back(conn);
        }
        Ok(Reply { head, body })
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
