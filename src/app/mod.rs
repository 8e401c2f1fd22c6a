//! The application: `thetorrent serve` wires a storage backend to the HTTP layer and routes
//! requests to downloads (`download`, with the file name from `names`), uploads (`upload`, with the `soap` and `multipart`
//! formats), pages (`pages`), fetching missing torrents from their swarm (`fetch`),
//! statistics (`stats`), rate limiting and the access log.
//!
//! Owns: the settings of `serve` (`ServeConfig`, filled in by the CLI), the route table, and
//! the mapping of storage errors to statuses (`status`). Must never: fsync or do long blocking
//! work on a may worker, or send internal error text to a client (it is logged; the client
//! gets a plain 500).

use crate::http::{self, Method, Request, Response};
use crate::storage::local::store::Store;
use crate::storage::{self, Storage};
use accesslog::AccessLog;
use ratelimit::RateLimiter;
use stats::{Route, Stats};
use upload::Endpoint;

pub use fetch::FetchSettings;

pub mod accesslog;
mod download;
mod fetch;
pub mod multipart;
pub mod names;
pub mod pages;
pub mod ratelimit;
pub mod soap;
pub mod stats;
pub mod status;
#[cfg(feature = "test-routes")]
mod test_routes;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of `thetorrent serve` (the CLI fills them in from its options).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (IPv4 `1.2.3.4:80` or IPv6 `[::1]:80`), may be repeated.
    /// Ignored when systemd passes sockets (`LISTEN_FDS`).
    pub listen: Vec<String>,
    /// may worker threads (0: one per core).
    pub workers: usize,
    /// Public base URL (e.g. `https://torrents.example.org`), used in links and the WSDL;
    /// default: built from the request's Host header.
    pub public_url: Option<String>,
    /// Largest request head in bytes (431 over it).
    pub max_head_bytes: usize,
    /// Most header lines in a request (431 over it).
    pub max_headers: usize,
    /// Largest request body in bytes (413 over it).
    pub max_body_bytes: u64,
    /// Memory for request bodies in flight, all connections together, bytes (at least
    /// `max_body_bytes`).
    pub body_budget: u64,
    /// Most open connections.
    pub max_connections: usize,
    /// Seconds allowed to send a request head.
    pub head_timeout: Duration,
    /// Seconds an idle kept-alive connection stays open.
    pub idle_timeout: Duration,
    /// Seconds a body sender gets before the rate floor applies.
    pub body_grace: Duration,
    /// Slowest accepted body upload, bytes per second (0: no floor).
    pub body_min_rate: u64,
    /// The sliding window the body rate is judged over.
    pub body_rate_window: Duration,
    /// Seconds a slow reader gets to take each 64 KiB of an answer.
    pub write_timeout: Duration,
    /// Seconds requests in flight get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Open torrent files kept for downloads (0: no cache).
    pub file_cache: usize,
    /// Stored files whose length and modification time are remembered, so that reopening one
    /// that is no longer open needs no `stat` (0: none).
    pub stat_cache: usize,
    /// Access log in combined log format: a file to append to, or `-` for stdout (off if unset).
    pub access_log: Option<String>,
    /// Nice value of the upload committer thread (lower runs first; 0, the default: leave
    /// it as is). Ahead of the request workers it slows downloads under upload load.
    pub writer_nice: i32,
    /// Torrent files per second allowed per client address (IPv6: per /64; each file of a
    /// multipart upload counts); 0 turns limiting off.
    pub upload_rate: f64,
    /// Files an idle address may upload at once before the rate applies.
    pub upload_burst: f64,
    /// Rate-limit loopback clients too (off by default: a local reverse proxy or script).
    pub rate_limit_loopback: bool,
    /// `/sync/takedowns.txt` gives each takedown's reason after its hash (default: hashes only).
    pub publish_takedown_reasons: bool,
    /// Fetching a torrent not stored from its swarm (`--fetch`); `None`: off.
    pub fetch: Option<FetchSettings>,
}

impl ServeConfig {
    /// The HTTP layer's settings, with each limit at its floor at least.
    pub fn http_config(&self) -> http::Config {
        http::Config {
            max_head_bytes: self.max_head_bytes.max(64),
            max_headers: self.max_headers.max(1),
            max_body_bytes: self.max_body_bytes,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            body_grace: self.body_grace,
            body_min_rate: self.body_min_rate,
            body_rate_window: self.body_rate_window,
            body_budget: self.body_budget.max(self.max_body_bytes),
            write_timeout: self.write_timeout,
            max_connections: self.max_connections.max(1),
            shutdown_grace: self.shutdown_grace,
            workers: self.workers,
            ..http::Config::default()
        }
    }
}

/// The application: the storage backend and the routes.
pub struct App {
    pub storage: Arc<dyn Storage>,
    pub public_url: Option<String>,
    /// Whether `/sync/takedowns.txt` gives reasons.
    pub publish_takedown_reasons: bool,
    /// The HTTP layer's body limit (named in the answer to a body over it).
    pub max_body_bytes: u64,
    stats: Stats,
    /// The `Content-Disposition` of recent downloads.
    names: names::Names,
    limiter: RateLimiter,
    access_log: Option<AccessLog>,
    /// Fetching from the swarm (`--fetch`).
    fetch: Option<fetch::Fetching>,
    /// Torrent pages' facts, computed once per torrent off the request workers.
    facts: pages::FactsCache,
}

impl http::Handler for App {
    fn handle(&self, req: &mut Request<'_>) -> Response {
        let started = Instant::now();
        let (route, resp) = self.route(req);
        self.log(req, route, &resp, started);
        resp
    }

    /// A refused upload body is answered in the upload route's format (headers, Fault).
    fn body_error(&self, req: &Request<'_>, status: u16) -> Response {
        let started = Instant::now();
        // With a body error recorded, `handle` ran (and counted and logged the request);
        // without one, the body was refused from its declared length before `handle`.
        let handled = req.body.error().is_some();
        let ep = Endpoint::of(req.path());
        let resp = match ep {
            Some(ep) => self.upload_body_error(ep, status, !handled),
            None if status == 503 => Response::error(status)
                .header("Retry-After", upload::UNAVAILABLE_RETRY_AFTER.to_string()),
            None => Response::error(status),
        };
        if !handled {
            self.log(
                req,
                ep.map_or(Route::Other, Endpoint::route),
                &resp,
                started,
            );
        }
        resp
    }
}

impl App {
    /// Counts the request and writes its access-log line.
    fn log(&self, req: &Request<'_>, route: Route, resp: &Response, started: Instant) {
        self.stats.request(route, resp.status, started.elapsed());
        if let Some(log) = &self.access_log {
            log.log(&accesslog::Entry {
                peer: req.peer().map(|a| a.ip()),
                method: req.method_str(),
                target: req.target(),
                version: req.version(),
                status: resp.status,
                bytes: resp.body.len(),
                referer: req.header("Referer"),
                user_agent: req.header("User-Agent"),
            });
        }
    }
}

impl App {
    /// The route table.
    fn route(&self, req: &mut Request<'_>) -> (Route, Response) {
        #[cfg(feature = "test-routes")]
        {
            if let Some(r) = test_routes::route(req) {
                return (Route::Other, r);
            }
        }
        let path = req.path();
        let get = matches!(req.method(), Method::Get | Method::Head);
        // Uploads first: they are the only routes that take a body.
        if let Some(ep) = Endpoint::of(path) {
            let route = ep.route();
            if req.method() == Method::Post {
                if let Err(wait) = self.limiter.check(req.peer().map(|a| a.ip())) {
                    let msg = rate_limited_message(wait);
                    return (
                        route,
                        Response::text(429, format!("{msg}\n"))
                            .header("Retry-After", retry_secs(wait).to_string())
                            .header("X-Thetorrent-Result", "failed")
                            .header("X-Thetorrent-Error", msg),
                    );
                }
            }
            let resp = match ep {
                // A browser that opens the address: a page that says how to upload.
                _ if get => self.post_only(req, ep == Endpoint::Soap),
                Endpoint::Soap => self.soap(req),
                Endpoint::Post(flavor) => self.upload(req, flavor),
            };
            return (route, resp);
        }
        if !get {
            return (Route::Other, not_allowed());
        }
        let hash = path
            .strip_prefix("/torrent/")
            .or_else(|| path.strip_prefix('/'))
            .and_then(|p| p.strip_suffix(".torrent"))
            .filter(|h| !h.contains('/'));
        if let Some(hash) = hash {
            return (Route::Download, self.download(req, hash));
        }
        if let Some(hash) = path
            .strip_prefix("/torrent/")
            .filter(|h| !h.is_empty() && !h.contains('/'))
        {
            return (Route::Download, self.torrent_redirect(hash));
        }
        if let Some(a) = pages::asset(path) {
            return (Route::Asset, self.asset(req, a));
        }
        if let Some(hash) = path.strip_prefix("/info/") {
            return (Route::Info, self.info(req, hash));
        }
        if let Some(name) = path.strip_prefix("/sync/") {
            let resp = if name.is_empty() {
                self.sync_index(req)
            } else {
                self.sync_day(name)
            };
            return (Route::Sync, resp);
        }
        match path {
            "/" => (Route::Page, self.index(req)),
            "/api" | "/api/" => (Route::Page, self.api_page(req)),
            "/api/thetorrent.wsdl" => (Route::Api, self.wsdl(req)),
            "/api/stats" => (Route::Api, self.stats_json()),
            "/magnet" => (Route::Page, self.magnet(req)),
            "/lookup" => (Route::Page, self.lookup(req)),
            "/sync" => (Route::Sync, Response::new(301).header("Location", "/sync/")),
            "/metrics" => (Route::Metrics, self.metrics()),
            "/healthz" => (Route::Health, Response::text(200, "ok")),
            _ => (Route::Other, self.not_found_page()),
        }
    }
}

/// Whole seconds to wait for the rate limiter's next token (rounded up, at least 1).
fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + 1
}

/// The answer to an upload (or one file of it) the rate limiter refused.
fn rate_limited_message(wait: Duration) -> String {
    format!(
        "too many uploads from your address: retry in {} s",
        retry_secs(wait)
    )
}

fn not_allowed() -> Response {
    Response::error(405).header("Allow", "GET, HEAD")
}

impl App {
    /// Creates the application around a storage backend.
    pub fn new(storage: Arc<dyn Storage>, public_url: Option<String>) -> App {
        App {
            storage,
            public_url,
            publish_takedown_reasons: false,
            max_body_bytes: http::config::MAX_BODY_BYTES,
            stats: Stats::default(),
            names: names::Names::default(),
            limiter: RateLimiter::new(0.0, 1.0, false),
            access_log: None,
            fetch: None,
            facts: pages::FactsCache::default(),
        }
    }
}

/// Why the server did not start (or stopped with an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeError {
    /// A setting cannot be used as given (e.g. `--access-log` in a folder that does not exist).
    Setting(String),
    /// The server could not start or run: the port, the storage, a thread.
    Start(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Setting(m) | ServeError::Start(m) => f.write_str(m),
        }
    }
}

/// Runs the server until SIGTERM. `data` is the data directory. Every setting is checked
/// before "listening" is printed: a server that says it listens serves.
pub fn serve(
    data: PathBuf,
    store: Option<&str>,
    s3: &storage::s3::S3Options,
    config: storage::Config,
    args: ServeConfig,
) -> Result<(), ServeError> {
    let start = ServeError::Start;
    warn_if_body_limit_is_short(&args, &config);
    // Before any thread exists (the store may start some): see block_shutdown_signals.
    crate::signals::block_shutdown_signals().map_err(|e| start(format!("signal setup: {e}")))?;
    let access_log = match &args.access_log {
        Some(path) => Some(open_access_log(path)?),
        None => None,
    };
    // Bind next: a port already in use is the most common start-up failure, and it must
    // be reported before anything else happens.
    let listeners = http::bind(&args.listen).map_err(start)?;
    // Leave room under the descriptor limit for the connections.
    let fds = http::socket::raise_nofile_limit();
    // Before the storage opens: the S3 client's may sockets start may's scheduler.
    http::listen::configure_runtime(&args.http_config());
    let storage = open_storage(&data, store, s3, config, &args, fds)?;
    for a in listeners.addrs() {
        eprintln!(
            "thetorrent: listening on {a}{}",
            if listeners.activated {
                " (socket activation)"
            } else {
                ""
            }
        );
    }
    let mut app = App::new(storage, args.public_url.clone());
    app.max_body_bytes = args.max_body_bytes;
    app.limiter = RateLimiter::new(
        args.upload_rate,
        args.upload_burst,
        args.rate_limit_loopback,
    );
    app.access_log = access_log;
    app.publish_takedown_reasons = args.publish_takedown_reasons;
    if let Some(settings) = &args.fetch {
        app.fetch = Some(
            fetch::Fetching::start(&app.storage, settings, args.rate_limit_loopback)
                .map_err(start)?,
        );
    }
    http::run(listeners, Arc::new(app), args.http_config()).map_err(start)
}

/// A body limit under what a SOAP upload of the largest torrent needs is allowed (an
/// operator may want it), but said at start: such uploads will be refused with 413.
fn warn_if_body_limit_is_short(args: &ServeConfig, config: &storage::Config) {
    let needed = soap::max_request_bytes(config.max_torrent_size);
    if args.max_body_bytes < needed {
        eprintln!(
            "thetorrent: warning: --max-body-bytes {} is under what an upload of the largest \
             torrent (--max-torrent-size {}) can take: SOAP uploads of torrents over {} bytes \
             will be refused (413); the default for this torrent limit is {needed}",
            args.max_body_bytes,
            config.max_torrent_size,
            (args.max_body_bytes.saturating_sub(soap::ENVELOPE_ALLOWANCE) * 3 / 4)
                .min(config.max_torrent_size as u64),
        );
    }
}

fn open_access_log(path: &str) -> Result<AccessLog, ServeError> {
    AccessLog::open(path).map_err(|e| {
        ServeError::Setting(format!(
            "--access-log {path}: cannot open: {e}{}",
            if e.kind() == std::io::ErrorKind::NotFound {
                " (its folder must exist)"
            } else {
                ""
            }
        ))
    })
}

/// The bucket named by `--store`, or the data directory with its writer threads (checked
/// writable unless its file system is read-only). `fds`: the descriptor limit, which the
/// open-file cache must leave room under for the connections.
fn open_storage(
    data: &std::path::Path,
    store: Option<&str>,
    s3: &storage::s3::S3Options,
    config: storage::Config,
    args: &ServeConfig,
    fds: u64,
) -> Result<Arc<dyn Storage>, ServeError> {
    let start = ServeError::Start;
    if let Some(url) = store {
        if !storage::is_s3_url(url) {
            return Err(ServeError::Setting(format!(
                "--store {url}: expected s3://bucket[/prefix] (a local store is --data DIR)"
            )));
        }
        let s = storage::s3::S3Store::open(url, s3, config).map_err(start)?;
        eprintln!("thetorrent: storing in {}", s.describe());
        return Ok(Arc::new(s));
    }
    let store = Store::open(data, config).map_err(|e| start(e.to_string()))?;
    if store.read_only() {
        eprintln!(
            "thetorrent: data directory {} is on a read-only file system: serving downloads \
             only, uploads are refused (503)",
            data.display()
        );
    } else {
        // A directory this process cannot write (another owner) is refused before it
        // says "listening", not found out by the first upload.
        store.check_writable().map_err(|e| start(e.to_string()))?;
    }
    let cache = args
        .file_cache
        .min((fds as usize).saturating_sub(args.max_connections + 256));
    let local = storage::local::Local::with_writer(
        store,
        cache,
        args.stat_cache,
        (args.writer_nice != 0).then_some(args.writer_nice),
    )
    .map_err(|e| start(format!("cannot start the writer thread: {e}")))?;
    Ok(Arc::new(local))
}
