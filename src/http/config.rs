//! Every limit and timeout of the HTTP layer, each a named and documented default that can be
//! changed through [`Config`].
//!
//! Owns: the numbers. Must never: hold state or behaviour; the other files read these values,
//! none of them hard-codes its own.

use std::time::Duration;

/// Largest request head (request line + headers + final blank line), and largest trailer
/// section of a chunked body. Over it: `431 Request Header Fields Too Large`, then close.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines in one request head (repeated names count each time). Over it: `431`.
pub const MAX_HEADERS: usize = 64;
/// Largest request body, declared or chunked. Over it: `413 Content Too Large`, then close.
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Time allowed from the first byte of a request head to its end. Over it: `408`, then close.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a kept-alive connection may sit with no request started. Over it: closed silently.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A body sender gets this long before the rate floor below applies.
pub const BODY_GRACE: Duration = Duration::from_secs(10);
/// Slowest accepted body rate, bytes per second, judged over a sliding window of
/// [`BODY_RATE_WINDOW`] after [`BODY_GRACE`]: slower senders are cut (`408`, close).
pub const BODY_MIN_RATE: u64 = 1024;
/// The window the body rate is judged over. A sender holds a credit of at most
/// `rate × window` bytes: what it sends adds to it, and after the grace it drains at the
/// floor rate; empty, the body is cut. So over any stretch of `t` seconds after the grace a
/// sender must send at least `rate × (t − window)` bytes, and one that sends a lot and then
/// stops is cut `window` seconds later however much it sent (an average from the start
/// would keep a sender of 15 MiB at 1 KiB/s for four hours).
pub const BODY_RATE_WINDOW: Duration = Duration::from_secs(10);
/// Memory for request bodies in flight, all connections together: each body reserves its
/// declared length (a chunked one, what it has read, in doubling steps) before reading on,
/// times what its handler holds per body byte (`Body::holds_percent`: 175 % for SOAP).
/// A body that does not fit waits up to [`BODY_BUDGET_WAIT`], then is answered `503` with
/// `Retry-After`. Without it the ceiling is [`MAX_CONNECTIONS`] × [`MAX_BODY_BYTES`].
pub const BODY_BUDGET: u64 = 256 * 1024 * 1024;
/// How long a body waits for room in the body budget before its `503`.
pub const BODY_BUDGET_WAIT: Duration = Duration::from_secs(5);
/// Allocations of at least this size get their own mapping from malloc, returned to the
/// system when freed (body buffers past it never stay resident after a burst).
pub const MMAP_THRESHOLD: usize = 128 * 1024;
/// After a burst that held more than this much body memory at once, free heap memory is
/// given back to the system once no body is held any more (checked by the accept loop's
/// sweep, four times a second).
pub const TRIM_AFTER_BURST: u64 = 32 * 1024 * 1024;
/// Time a write may wait for the client to take 64 KiB of its answer (the deadline is renewed
/// after each 64 KiB). Over it: the connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most open client connections; at the cap the listener stops accepting (the kernel backlog
/// holds new clients) until one closes.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How much of a body a handler left unread is read and thrown away to keep the connection;
/// more than this and the connection is closed instead.
pub const MAX_DRAIN_BYTES: u64 = 256 * 1024;
/// Response bytes buffered for pipelined requests before they are flushed to the socket.
pub const MAX_BUFFERED_OUTPUT: usize = 64 * 1024;
/// Size of each read from the socket.
pub const READ_CHUNK: usize = 16 * 1024;
/// Pause of the accept loop after EMFILE/ENFILE/ENOBUFS/ENOMEM, doubled up to
/// [`ACCEPT_BACKOFF_MAX`] while the error persists.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause of the accept loop after resource exhaustion.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// After SIGTERM, how long requests in flight get to finish before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// After an error response that closes the connection, how long unread input is still read
/// and discarded so the client sees the response rather than a reset.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Coroutine stack size in bytes. may's stacks do not grow (overflow hits a guard page and
/// ends the process), so this must cover the deepest code a connection runs: a handler with
/// its parsers (bencode nesting is bounded at 100 levels; XML and multipart parsers are to be
/// iterative) plus panic unwinding and the panic hook. Measured with
/// `THETORRENT_STACK_USAGE=1` (release build): a download uses 7.6 KiB, a 5 MB chunked echo
/// 15.4 KiB, a handler panic 26 KiB. 128 KiB leaves a margin of about 5x over the worst;
/// only touched pages become resident, so idle connections cost far less than this.
pub const STACK_SIZE: usize = 128 * 1024;

/// The limits and timeouts in force; `Config::default()` is the documented defaults above.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: u64,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_grace: Duration,
    pub body_min_rate: u64,
    pub body_rate_window: Duration,
    /// Memory for request bodies in flight, bytes (at least `max_body_bytes`).
    pub body_budget: u64,
    pub body_budget_wait: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub max_drain_bytes: u64,
    pub max_buffered_output: usize,
    pub shutdown_grace: Duration,
    pub linger_timeout: Duration,
    /// may worker threads; 0 means one per core.
    pub workers: usize,
    /// Coroutine stack size in bytes.
    pub stack_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_body_bytes: MAX_BODY_BYTES,
            head_timeout: HEAD_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            body_grace: BODY_GRACE,
            body_min_rate: BODY_MIN_RATE,
            body_rate_window: BODY_RATE_WINDOW,
            body_budget: BODY_BUDGET,
            body_budget_wait: BODY_BUDGET_WAIT,
            write_timeout: WRITE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_drain_bytes: MAX_DRAIN_BYTES,
            max_buffered_output: MAX_BUFFERED_OUTPUT,
            shutdown_grace: SHUTDOWN_GRACE,
            linger_timeout: LINGER_TIMEOUT,
            workers: 0,
            stack_size: STACK_SIZE,
        }
    }
}
