//! An S3 client for the S3 storage backend (issue #7): object GET/HEAD/PUT/DELETE,
//! conditional create, ListObjectsV2 and bucket creation against one endpoint and bucket.
//!
//! Owns: S3 requests signed with `rusty-s3` (presigned, path-style URLs), a keep-alive
//! HTTP/1.1 client on may sockets (`wire`), the key prefix, retries with back-off, S3 error
//! XML, the configuration (URL, credentials from the environment or an `~/.aws/credentials`
//! file). Usable from may coroutines and from plain threads alike.
//!
//! Must never: block a may worker on std sockets; retry a non-idempotent request blindly (the
//! only one, the conditional PUT, is safe to repeat because it never overwrites, and a 412 after
//! an attempt that may have landed is checked against the object's ETag); hold unbounded buffers
//! (response heads, error bodies, list pages and object bodies all have limits).
//!
//! Signing: presigned URLs sign only `host`; `If-None-Match` and `Content-Type` travel
//! unsigned next to them (SeaweedFS and AWS accept this; the tests check the 412).

mod wire;
mod xml;

use md5::{Digest, Md5};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::fmt;
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::{Duration, SystemTime};
use wire::{Failure, Reply, Request, Transport};

pub use wire::{S3_IDLE_TIMEOUT, S3_WATCH_INTERVAL};

/// Connect, read and write timeout of each request (default of [`S3Config::timeout`]).
pub const S3_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Where and how to reach the object store.
#[derive(Clone)]
pub struct S3Config {
    /// `http://host[:port]`, no path.
    pub endpoint: String,
    pub bucket: String,
    /// `""` or `some/prefix` (no leading or trailing slash); every key is relative to it.
    pub prefix: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// `true`: create with `If-None-Match: *` (412 = exists). `false`: HEAD then PUT, racy,
    /// for stores that ignore the header.
    pub conditional_put: bool,
    /// Connect/read/write timeout per request.
    pub timeout: Duration,
    /// Retries on connection errors and 5xx, with exponential back-off from [`S3_BACKOFF`].
    pub retries: u32,
    /// Bound of the idle connection pool.
    pub max_idle: usize,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<hidden>")
            .field("conditional_put", &self.conditional_put)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

impl S3Config {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`; the endpoint is given separately;
    /// credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_REGION`, or
    /// from `credentials_file` (`~/.aws/credentials` INI: the `[default]` section, or the one
    /// `AWS_PROFILE` names), each environment variable winning over the file.
    pub fn from_url(
        url: &str,
        endpoint: &str,
        credentials_file: Option<&Path>,
    ) -> Result<S3Config, S3Error> {
        let file = match credentials_file {
            Some(p) => Some(read_credentials_file(p)?),
            None => None,
        };
        from_parts(
            url,
            endpoint,
            &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            file.as_deref(),
        )
    }

    /// The full key of `key` (the prefix joined to it).
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

fn read_credentials_file(p: &Path) -> Result<String, S3Error> {
    use std::io::Read;
    let cfg = |e: io::Error| {
        S3Error::Config(format!("cannot read credentials file {}: {e}", p.display()))
    };
    let mut text = String::new();
    std::fs::File::open(p)
        .map_err(cfg)?
        .take(S3_MAX_CREDENTIALS_FILE)
        .read_to_string(&mut text)
        .map_err(cfg)?;
    Ok(text)
}

/// [`S3Config::from_url`] with the environment and the file's text given.
fn from_parts(
    url: &str,
    endpoint: &str,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> Result<S3Config, S3Error> {
    let (bucket, prefix) = parse_s3_url(url)?;
    let endpoint = parse_endpoint(endpoint)?;
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let section = file.map(|f| ini_section(f, &profile)).unwrap_or_default();
    let from_file = |key: &str| {
        section
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let access_key = env("AWS_ACCESS_KEY_ID").or_else(|| from_file("aws_access_key_id"));
    let secret_key = env("AWS_SECRET_ACCESS_KEY").or_else(|| from_file("aws_secret_access_key"));
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| from_file("region"))
        .unwrap_or_else(|| S3_DEFAULT_REGION.to_string());
    let (Some(access_key), Some(secret_key)) = (access_key, secret_key) else {
        return Err(S3Error::Config(format!(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a \
             credentials file with aws_access_key_id and aws_secret_access_key in [{profile}]"
        )));
    };
    Ok(S3Config {
        endpoint,
        bucket,
        prefix,
        region,
        access_key,
        secret_key,
        conditional_put: true,
        timeout: S3_TIMEOUT,
        retries: S3_RETRIES,
        max_idle: S3_MAX_IDLE,
    })
}

/// `s3://bucket[/prefix]` → (bucket, normalised prefix).
fn parse_s3_url(url: &str) -> Result<(String, String), S3Error> {
    let bad = |why: &str| S3Error::Config(format!("bad S3 URL {url:?}: {why}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("it must start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_bucket(bucket) {
        return Err(bad(
            "the bucket name must be 3 to 63 lower-case letters, digits, '.' or '-'",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.contains(['?', '#'])
        || prefix.chars().any(char::is_control)
        || (!prefix.is_empty()
            && prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."))
    {
        return Err(bad("the prefix must be plain path segments"));
    }
    if prefix.len() > S3_MAX_KEY / 2 {
        return Err(bad("the prefix is too long"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// `http://host[:port][/]` → normalised without the slash.
fn parse_endpoint(endpoint: &str) -> Result<String, S3Error> {
    if endpoint.starts_with("https://") {
        return Err(S3Error::Config(format!(
            "https endpoints are not supported ({endpoint}); put a TLS-terminating proxy \
             (e.g. stunnel, nginx, haproxy) on localhost in front of it and give its http:// address"
        )));
    }
    let u = url::Url::parse(endpoint)
        .map_err(|e| S3Error::Config(format!("bad S3 endpoint {endpoint:?}: {e}")))?;
    if u.scheme() != "http"
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.path() != "/"
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(S3Error::Config(format!(
            "bad S3 endpoint {endpoint:?}: give http://host[:port] without a path"
        )));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// The `key = value` pairs of `[name]` in an INI text (keys lower-cased).
fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let h = h.trim();
            // ~/.aws/config writes "[profile name]"; accept it too.
            inside = h == name || h.strip_prefix("profile ").map(str::trim) == Some(name);
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

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
        })
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
    fn send_tracked(&self, req: Request<'_>, retry: Retry) -> Result<(Reply, bool), S3Error> {
        let mut failures = 0u32;
        let mut maybe_applied = false;
        loop {
            let error = match self.transport.exchange(&req, &mut maybe_applied) {
                Ok(r) if retryable(&r) && failures < self.config.retries => {
                    maybe_applied |= retry == Retry::Conditional && r.head.status >= 500;
                    None
                }
                Ok(r) => return Ok((r, maybe_applied)),
                Err(Failure::Io { error, sent }) => {
                    maybe_applied |= sent;
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
            sleep(backoff(failures));
        }
    }
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
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const FILE: &str = "# comment\n[other]\naws_access_key_id = OTHER\naws_secret_access_key = OTHERS\n\n\
                        [default]\naws_access_key_id = AKID\n; more\naws_secret_access_key=SECRET\nregion = eu-west-1\n";

    #[test]
    fn s3_urls() {
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        let c = from_parts("s3://my-bucket", "http://127.0.0.1:8333", &env, None).unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("my-bucket", ""));
        assert_eq!(c.endpoint, "http://127.0.0.1:8333");
        assert_eq!(c.region, "us-east-1");
        assert_eq!((c.timeout, c.retries, c.max_idle), (S3_TIMEOUT, 3, 64));
        assert!(c.conditional_put);
        assert_eq!(c.full_key("a/b"), "a/b");
        let c = from_parts("s3://b.x/some/prefix/", "http://h:1/", &env, None).unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("b.x", "some/prefix")
        );
        assert_eq!(c.endpoint, "http://h:1");
        assert_eq!(c.full_key("k"), "some/prefix/k");
        let c = from_parts("s3://bkt//p//", "http://h", &env, None).unwrap();
        assert_eq!(c.prefix, "p", "outer slashes are trimmed");
        let c = from_parts("s3://bkt/a//b", "http://h", &env, None);
        assert!(c.is_err(), "empty segments");
        for bad in [
            "bucket",
            "s3://",
            "s3://ab",
            "s3://UPPER",
            "s3://-bkt",
            "s3://bkt/../x",
            "s3://bkt/a?b",
            "http://bkt",
        ] {
            assert!(
                matches!(
                    from_parts(bad, "http://h", &env, None),
                    Err(S3Error::Config(_))
                ),
                "{bad}"
            );
        }
        let e = from_parts("s3://bkt", "https://s3.amazonaws.com", &env, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("https endpoints are not supported"), "{e}");
        assert!(e.contains("TLS-terminating proxy"), "{e}");
        for bad in ["ftp://h", "http://h/path", "http://u:p@h", "h:80", ""] {
            assert!(from_parts("s3://bkt", bad, &env, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials() {
        let none = env_of(&[]);
        let c = from_parts("s3://bkt", "http://h", &none, Some(FILE)).unwrap();
        assert_eq!(
            (
                c.access_key.as_str(),
                c.secret_key.as_str(),
                c.region.as_str()
            ),
            ("AKID", "SECRET", "eu-west-1")
        );
        // The environment wins, field by field.
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "ENVKEY"), ("AWS_REGION", "r1")]);
        let c = from_parts("s3://bkt", "http://h", &env, Some(FILE)).unwrap();
        assert_eq!(
            (
                c.access_key.as_str(),
                c.secret_key.as_str(),
                c.region.as_str()
            ),
            ("ENVKEY", "SECRET", "r1")
        );
        let env = env_of(&[("AWS_PROFILE", "other")]);
        let c = from_parts("s3://bkt", "http://h", &env, Some(FILE)).unwrap();
        assert_eq!(c.access_key, "OTHER");
        // Missing credentials: a clear error.
        let e = from_parts("s3://bkt", "http://h", &none, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
        let half = "[default]\naws_access_key_id = A\n";
        assert!(from_parts("s3://bkt", "http://h", &none, Some(half)).is_err());
        let e = S3Config::from_url(
            "s3://bkt",
            "http://h",
            Some(Path::new("/nonexistent/creds")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cannot read credentials file /nonexistent/creds"),
            "{e}"
        );
        // The secret is not shown by Debug.
        let c = from_parts("s3://bkt", "http://h", &none, Some(FILE)).unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn messages_and_backoff() {
        let e = S3Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "(127.0.0.1:8333): connection refused",
        ));
        assert_eq!(
            e.to_string(),
            "object store unreachable (127.0.0.1:8333): connection refused"
        );
        let e = S3Error::Status {
            status: 403,
            code: "AccessDenied".into(),
            message: "Access Denied.".into(),
        };
        assert_eq!(
            e.to_string(),
            "object store answered 403 AccessDenied: Access Denied."
        );
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(40), S3_BACKOFF_MAX);
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<S3Client>();
    }
}
