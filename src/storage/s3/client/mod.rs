//! An S3 client for the S3 storage backend: object GET/HEAD/PUT/DELETE,
//! conditional create, ListObjectsV2 and bucket creation against one endpoint and bucket.
//!
//! Owns: S3 requests signed with `rusty-s3` (presigned, path-style URLs), a keep-alive
//! HTTP/1.1 client on may sockets (`wire`), the key prefix, retries with back-off, failing
//! fast while the store is unreachable (`health`: one timeout marks it down, a probe marks it
//! up), S3 error XML, the configuration (URL, credentials from the environment or an
//! `~/.aws/credentials` file). Usable from may coroutines and from plain threads alike.
//!
//! Must never: block a may worker on std sockets; retry a non-idempotent request blindly (the
//! only one, the conditional PUT, is safe to repeat because it never overwrites, and a 412 after
//! an attempt that may have landed is checked against the object's ETag); hold unbounded buffers
//! (response heads, error bodies, list pages and object bodies all have limits).
//!
//! Signing: presigned URLs sign only `host`; `If-None-Match` and `Content-Type` travel
//! unsigned next to them (SeaweedFS and AWS accept this; the tests check the 412).

mod config;
mod health;
mod wire;
mod xml;

pub use config::S3Config;
use config::{parse_endpoint, valid_bucket};

use md5::{Digest, Md5};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::fmt;
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wire::{Failure, Reply, Request, Transport};

pub use health::S3_PROBE_INTERVAL;
pub use wire::{S3_IDLE_TIMEOUT, S3_TRANSFER_ALLOWANCE, S3_WATCH_INTERVAL};

/// Time for one exchange, connect included (default of [`S3Config::timeout`],
/// `--s3-timeout`), plus [`S3_TRANSFER_ALLOWANCE`] per MiB of request body. A store that does
/// not answer within it is marked down: the request that found out fails (no retry), and so
/// does every request after it, at once, until the probe finds the store answering again.
pub const S3_TIMEOUT: Duration = Duration::from_secs(3);
/// Retries after a connection error or a 500/502/503/504 (default of [`S3Config::retries`]).
pub const S3_RETRIES: u32 = 3;
/// First back-off before a retry; it doubles with each retry up to [`S3_BACKOFF_MAX`].
pub const S3_BACKOFF: Duration = Duration::from_millis(50);
/// Longest back-off between two retries.
pub const S3_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Most idle kept-alive connections (default of [`S3Config::max_idle`]).
pub const S3_MAX_IDLE: usize = 64;
/// Default region.
pub const S3_DEFAULT_REGION: &str = "us-east-1";
/// Largest error body read (S3 error XML is a few hundred bytes); a larger one is not read.
pub const S3_MAX_ERROR_BODY: u64 = 64 * 1024;
/// Largest ListObjectsV2 page (1,000 keys of up to 1,024 bytes, plus the XML around them).
pub const S3_MAX_LIST_BODY: u64 = 4 * 1024 * 1024;
/// Most keys asked for per ListObjectsV2 request (the S3 maximum).
pub const S3_LIST_PAGE: usize = 1000;
/// Lifetime of each presigned URL; covers every retry of a request.
pub const S3_PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Longest object key (S3's limit), prefix included.
pub const S3_MAX_KEY: usize = 1024;
/// Largest credentials file read.
pub const S3_MAX_CREDENTIALS_FILE: u64 = 64 * 1024;

/// A fetched object.
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

/// An object's key (relative to the prefix), size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<SystemTime>,
}

/// What a conditional create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Exists,
}

/// Why an S3 request failed.
#[derive(Debug)]
pub enum S3Error {
    /// The configuration is unusable (URL, endpoint, credentials, a bad key).
    Config(String),
    /// The store could not be reached, or the connection failed or timed out, after retries.
    Io(io::Error),
    /// The store answered with an error (its XML's code and message when it sent any).
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// The answer was not HTTP or S3 as expected.
    Protocol(String),
    /// The object's body is larger than the caller's limit (the limit, in bytes).
    TooLarge(u64),
    /// The store was found unreachable (a timeout, a refused connection) and has not answered
    /// the probe since: the request was not tried.
    Down { endpoint: String, for_: Duration },
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Config(m) => write!(f, "S3 configuration: {m}"),
            S3Error::Io(e) => write!(f, "object store unreachable {e}"),
            S3Error::Status {
                status,
                code,
                message,
            } => {
                write!(f, "object store answered {status}")?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            S3Error::Protocol(m) => write!(f, "bad answer from the object store: {m}"),
            S3Error::TooLarge(n) => write!(f, "object larger than {n} bytes"),
            S3Error::Down { endpoint, for_ } => write!(
                f,
                "object store unreachable ({endpoint}, down for {:.1} s): not tried",
                for_.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for S3Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            S3Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A client for one bucket. `Send + Sync`: share it in an `Arc` between coroutines and threads.
pub struct S3Client {
    config: S3Config,
    bucket: Bucket,
    credentials: Credentials,
    transport: Transport,
    health: Arc<health::Health>,
}

/// How a request may be repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Idempotent: repeat on connection errors and 5xx.
    Idempotent,
    /// Repeat too (the request cannot do harm twice), but report whether an attempt may have
    /// been applied before the answer that is returned.
    Conditional,
}

impl S3Client {
    /// Checks the configuration and resolves the endpoint's host name (once: a later change
    /// of its address needs a new client).
    pub fn new(config: S3Config) -> Result<S3Client, S3Error> {
        let endpoint = parse_endpoint(&config.endpoint)?;
        if !valid_bucket(&config.bucket) {
            return Err(S3Error::Config(format!(
                "bad bucket name {:?}",
                config.bucket
            )));
        }
        let url = url::Url::parse(&endpoint)
            .map_err(|e| S3Error::Config(format!("bad S3 endpoint {endpoint:?}: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = format!("{host}:{port}");
        let addrs: Vec<_> = (host.trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .map_err(|e| S3Error::Config(format!("cannot resolve S3 endpoint {host}: {e}")))?
            .collect();
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let bucket = Bucket::new(
            url,
            UrlStyle::Path,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|e| S3Error::Config(format!("bad S3 endpoint {endpoint:?}: {e}")))?;
        let credentials = Credentials::new(config.access_key.clone(), config.secret_key.clone());
        let transport = Transport::new(
            addrs,
            host_header,
            authority,
            config.timeout,
            config.max_idle,
            S3_MAX_ERROR_BODY,
        );
        Ok(S3Client {
            config,
            bucket,
            credentials,
            transport,
            health: Arc::default(),
        })
    }

    /// The client's counters (attempts, retries, timeouts, requests failed fast, outages,
    /// and whether the store is down now), for statistics.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.health.counters()
    }

    /// Whether the store is marked down now (requests fail without trying).
    pub fn is_down(&self) -> bool {
        self.health.down_for().is_some()
    }

    /// The probe of a store marked down: a `HEAD` of the bucket on a transport of its own;
    /// any answer but a 5xx means the store is back.
    fn probe(&self) -> impl FnMut() -> bool + Send + 'static {
        let transport = self.transport.sibling(1);
        let bucket = self.bucket.clone();
        let credentials = self.credentials.clone();
        move || {
            let url = rusty_s3::actions::HeadBucket::new(&bucket, Some(&credentials))
                .sign(S3_PRESIGN_EXPIRY);
            let mut sent = false;
            matches!(
                transport.exchange(&request("HEAD", &url, vec![], &[], 0), &mut sent),
                Ok(r) if r.head.status < 500
            )
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// Idle connections in the pool (for tests and stats).
    pub fn idle_connections(&self) -> usize {
        self.transport.idle()
    }

    fn object_key(&self, key: &str) -> Result<String, S3Error> {
        let full = self.config.full_key(key);
        if key.is_empty() || full.len() > S3_MAX_KEY || key.chars().any(char::is_control) {
            return Err(S3Error::Config(format!("bad object key {key:?}")));
        }
        Ok(full)
    }

    /// `GET`: `None` when the key does not exist; a body over `max_bytes` is `TooLarge`.
    pub fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Object>, S3Error> {
        let full = self.object_key(key)?;
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &full)
            .sign(S3_PRESIGN_EXPIRY);
        let r = self.send(
            request("GET", &url, vec![], &[], max_bytes),
            Retry::Idempotent,
        )?;
        match r.head.status {
            200 => Ok(Some(Object {
                etag: r.head.header("etag").map(str::to_string),
                last_modified: last_modified(&r),
                body: r.body,
            })),
            404 if error_code(&r) != "NoSuchBucket" => Ok(None),
            _ => Err(status_error(&r)),
        }
    }

    /// `HEAD`: size and modification time, `None` when the key does not exist.
    pub fn head(&self, key: &str) -> Result<Option<ListEntry>, S3Error> {
        let full = self.object_key(key)?;
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &full)
            .sign(S3_PRESIGN_EXPIRY);
        let r = self.send(request("HEAD", &url, vec![], &[], 0), Retry::Idempotent)?;
        match r.head.status {
            200 => {
                let size = r
                    .head
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| S3Error::Protocol("HEAD without Content-Length".into()))?;
                Ok(Some(ListEntry {
                    key: key.to_string(),
                    size,
                    last_modified: last_modified(&r),
                }))
            }
            404 => Ok(None),
            _ => Err(status_error(&r)),
        }
    }

    /// The object's ETag (`HEAD`), for checking what a create left.
    fn head_etag(&self, full: &str) -> Result<Option<String>, S3Error> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), full)
            .sign(S3_PRESIGN_EXPIRY);
        let r = self.send(request("HEAD", &url, vec![], &[], 0), Retry::Idempotent)?;
        match r.head.status {
            200 => Ok(r.head.header("etag").map(str::to_string)),
            404 => Ok(None),
            _ => Err(status_error(&r)),
        }
    }

    /// Creates the object unless the key exists. With `conditional_put`, one `PUT` with
    /// `If-None-Match: *` (412 → `Exists`); without, `HEAD` then `PUT` (racy).
    ///
    /// A conditional PUT is repeated after a connection error or a 5xx (it can never
    /// overwrite). If such an attempt may have been applied and the repeat answers 412, the
    /// stored ETag is compared with the body's MD5: equal means the bytes are ours (`Created`;
    /// for content-addressed keys identical bytes from another writer are the same thing).
    pub fn put_if_absent(
        &self,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<PutOutcome, S3Error> {
        let full = self.object_key(key)?;
        if !self.config.conditional_put {
            if self.head(key)?.is_some() {
                return Ok(PutOutcome::Exists);
            }
            self.put(key, body, content_type)?;
            return Ok(PutOutcome::Created);
        }
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &full)
            .sign(S3_PRESIGN_EXPIRY);
        let headers = vec![
            ("Content-Type", header_value(content_type)),
            ("If-None-Match", "*".to_string()),
        ];
        let (r, maybe_applied) =
            self.send_tracked(request("PUT", &url, headers, body, 0), Retry::Conditional)?;
        match r.head.status {
            200..=299 => Ok(PutOutcome::Created),
            412 if maybe_applied => {
                let ours: String = Md5::digest(body)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let ours = format!("\"{ours}\"");
                match self.head_etag(&full)? {
                    Some(etag) if etag.eq_ignore_ascii_case(&ours) => Ok(PutOutcome::Created),
                    _ => Ok(PutOutcome::Exists),
                }
            }
            412 => Ok(PutOutcome::Exists),
            _ => Err(status_error(&r)),
        }
    }

    /// Plain `PUT` (overwrites).
    pub fn put(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), S3Error> {
        let full = self.object_key(key)?;
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &full)
            .sign(S3_PRESIGN_EXPIRY);
        let headers = vec![("Content-Type", header_value(content_type))];
        let r = self.send(request("PUT", &url, headers, body, 0), Retry::Idempotent)?;
        match r.head.status {
            200..=299 => Ok(()),
            _ => Err(status_error(&r)),
        }
    }

    /// `DELETE`; a missing key is fine.
    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let full = self.object_key(key)?;
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &full)
            .sign(S3_PRESIGN_EXPIRY);
        let r = self.send(request("DELETE", &url, vec![], &[], 0), Retry::Idempotent)?;
        match r.head.status {
            200..=299 => Ok(()),
            404 if error_code(&r) != "NoSuchBucket" => Ok(()),
            _ => Err(status_error(&r)),
        }
    }

    /// ListObjectsV2 of the keys under `prefix` (relative to the configured prefix) after
    /// `start_after` (relative too), in key order, at most `max`; follows continuation tokens.
    /// Keys come back relative to the configured prefix.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<ListEntry>, S3Error> {
        self.list_paged(prefix, start_after, max, S3_LIST_PAGE)
    }

    /// [`list`](Self::list) asking for at most `page` keys per request (1 to
    /// [`S3_LIST_PAGE`]; tests use small pages to exercise continuation tokens).
    pub fn list_paged(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
        page: usize,
    ) -> Result<Vec<ListEntry>, S3Error> {
        let page = page.clamp(1, S3_LIST_PAGE);
        let base = if self.config.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.config.prefix)
        };
        let full_prefix = format!("{base}{prefix}");
        let full_start = start_after.map(|s| format!("{base}{s}"));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < max {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            if !full_prefix.is_empty() {
                action.with_prefix(full_prefix.as_str());
            }
            match (&token, &full_start) {
                (Some(t), _) => action.with_continuation_token(t.as_str()),
                (None, Some(s)) => action.with_start_after(s.as_str()),
                (None, None) => {}
            }
            action.with_max_keys((max - out.len()).min(page));
            let url = action.sign(S3_PRESIGN_EXPIRY);
            let r = self.send(
                request("GET", &url, vec![], &[], S3_MAX_LIST_BODY),
                Retry::Idempotent,
            )?;
            if r.head.status != 200 {
                return Err(status_error(&r));
            }
            let text = std::str::from_utf8(&r.body)
                .map_err(|_| S3Error::Protocol("list answer is not UTF-8".into()))?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(text)
                .map_err(|e| S3Error::Protocol(format!("bad list answer: {e}")))?;
            for c in page.contents {
                let Some(rel) = c.key.strip_prefix(&base) else {
                    return Err(S3Error::Protocol(format!(
                        "listed key {:?} is outside the prefix",
                        c.key
                    )));
                };
                if out.len() < max {
                    out.push(ListEntry {
                        key: rel.to_string(),
                        size: c.size,
                        last_modified: c
                            .last_modified
                            .parse::<jiff::Timestamp>()
                            .ok()
                            .map(SystemTime::from),
                    });
                }
            }
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Creates the bucket; one that exists already (ours) is fine.
    pub fn create_bucket(&self) -> Result<(), S3Error> {
        let url = self
            .bucket
            .create_bucket(&self.credentials)
            .sign(S3_PRESIGN_EXPIRY);
        let r = self.send(request("PUT", &url, vec![], &[], 0), Retry::Idempotent)?;
        match r.head.status {
            200..=299 => Ok(()),
            409 if matches!(
                error_code(&r).as_str(),
                "BucketAlreadyOwnedByYou" | "BucketAlreadyExists"
            ) =>
            {
                Ok(())
            }
            _ => Err(status_error(&r)),
        }
    }

    fn send(&self, req: Request<'_>, retry: Retry) -> Result<Reply, S3Error> {
        self.send_tracked(req, retry).map(|(r, _)| r)
    }

    /// Sends with retries; also says whether an attempt before the returned answer may have
    /// been applied (the request was sent and no answer, or a 5xx, came back).
    ///
    /// While the store is marked down the request fails at once ([`S3Error::Down`]). An
    /// exchange that times out, or finds the endpoint refusing connections, marks it down,
    /// ends this client's other exchanges in flight, and fails without a retry: retrying a
    /// hung store only multiplies the wait (four tries of 10 s would answer after 40 s).
    fn send_tracked(&self, req: Request<'_>, retry: Retry) -> Result<(Reply, bool), S3Error> {
        let mut failures = 0u32;
        let mut maybe_applied = false;
        let h = &self.health;
        loop {
            if let Some(for_) = h.down_for() {
                h.failed_fast
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(S3Error::Down {
                    endpoint: self.transport.authority.clone(),
                    for_,
                });
            }
            h.attempts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let began = crate::clock::monotonic_ms();
            let exchanged = self.transport.exchange(&req, &mut maybe_applied);
            if exchanged.is_ok() {
                h.answered();
            }
            let error = match exchanged {
                Ok(r) if retryable(&r) && failures < self.config.retries => {
                    maybe_applied |= retry == Retry::Conditional && r.head.status >= 500;
                    None
                }
                Ok(r) => return Ok((r, maybe_applied)),
                Err(Failure::Io { error, sent }) => {
                    maybe_applied |= sent;
                    let timed_out = error.kind() == io::ErrorKind::TimedOut;
                    if timed_out {
                        h.timeouts
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    // A timeout while the store answered other exchanges is this request's
                    // own slowness (repeated like any connection error); with no answer
                    // since it began, or a refused connection, the store is down.
                    if unreachable(&error) && !(timed_out && h.answered_since(began)) {
                        let why = describe(&error);
                        if h.mark_down(&why, &self.transport.authority, self.probe()) {
                            self.transport.end_exchanges();
                        }
                        return Err(S3Error::Io(io::Error::new(
                            error.kind(),
                            format!("({}): {why}", self.transport.authority),
                        )));
                    }
                    Some(error)
                }
                Err(Failure::Protocol(m)) => return Err(S3Error::Protocol(m)),
                Err(Failure::TooLarge(n)) => return Err(S3Error::TooLarge(n)),
            };
            if failures >= self.config.retries {
                let e = error.unwrap_or_else(|| io::Error::other("retries exhausted"));
                return Err(S3Error::Io(io::Error::new(
                    e.kind(),
                    format!("({}): {}", self.transport.authority, describe(&e)),
                )));
            }
            failures += 1;
            h.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            sleep(backoff(failures));
        }
    }
}

/// Whether a failed exchange says the store cannot be reached (rather than that one
/// connection broke): it ran out of time, or the endpoint refused or could not be routed to.
fn unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".to_string(),
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed mid-answer".to_string(),
        _ => e.to_string(),
    }
}

/// Worth repeating: 500/502/503/504 (503 is S3's SlowDown), and AWS's 409
/// ConditionalRequestConflict (a concurrent conditional write was in flight).
fn retryable(r: &Reply) -> bool {
    matches!(r.head.status, 500 | 502 | 503 | 504)
        || (r.head.status == 409 && error_code(r) == "ConditionalRequestConflict")
}

/// The wait before retry `n` (1-based).
fn backoff(n: u32) -> Duration {
    S3_BACKOFF
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(S3_BACKOFF_MAX)
}

/// Sleeps without blocking a may worker when called in a coroutine.
fn sleep(d: Duration) {
    if may::coroutine::is_coroutine() {
        may::coroutine::sleep(d);
    } else {
        std::thread::sleep(d);
    }
}

fn request<'a>(
    method: &'static str,
    url: &url::Url,
    headers: Vec<(&'static str, String)>,
    body: &'a [u8],
    limit: u64,
) -> Request<'a> {
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    Request {
        method,
        target,
        headers,
        body,
        limit,
    }
}

/// A header value with anything that could split the head removed.
fn header_value(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).collect()
}

fn last_modified(r: &Reply) -> Option<SystemTime> {
    r.head
        .header("last-modified")
        .and_then(|v| crate::http::date::parse(v.as_bytes()))
}

fn error_code(r: &Reply) -> String {
    xml::parse_error(&r.body).0
}

fn status_error(r: &Reply) -> S3Error {
    let (code, message) = xml::parse_error(&r.body);
    S3Error::Status {
        status: r.head.status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests;
