//! The HTTP side of fetching from the swarm (`serve --fetch`): what a request for a torrent
//! that is not stored gets.
//!
//! Owns: starting or joining the job of a missing torrent (downloads, `/magnet`, the lookup
//! box), the per-address rate of requests that start a job, how long a request waits for it,
//! and the answers: the file (200) or a redirect (302) once stored in time; 503 with
//! `Retry-After` while the job runs (never 202: clients that only check for success would
//! save the body as a .torrent); 404 with the reason once it failed; 429 over the rate; 451
//! blocked. Must never: keep a request waiting past `--fetch-wait`, or start a job for a
//! client over its rate (joining a job or hearing a remembered failure costs nothing).

use super::pages;
use super::ratelimit::RateLimiter;
use super::App;
use crate::fetch::dht::DhtConfig;
use crate::fetch::job::{self, FetchConfig, FetchError, FetchStats, Fetched, Fetcher};
use crate::fetch::magnet::Magnet;
use crate::fetch::Target;
use crate::http::{Request, Response};
use crate::storage::{Body, Found, Storage};
use crate::torrent::hash::Key;
use std::sync::Arc;
use std::time::Duration;

/// `Retry-After` while a job runs, in seconds: a few seconds, as most searches that succeed
/// end within a few more.
pub const RETRY_AFTER_RUNNING: u64 = 5;
/// `Retry-After` when every job slot and the queue are taken, in seconds.
pub const RETRY_AFTER_BUSY: u64 = 30;
/// Longest wait of the lookup box before it shows the searching page (at most `--fetch-wait`):
/// a person sees that something happens rather than a blank tab.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(2);
/// How often the searching page reloads itself, in seconds.
pub const SEARCH_REFRESH: u64 = 3;
/// Jobs a client address may start per second (IPv6: per /64). Loopback is exempt unless
/// `--rate-limit-loopback`, as for uploads.
pub const DEFAULT_FETCH_RATE: f64 = 0.5;
/// Jobs an idle address may start at once before the rate applies.
pub const DEFAULT_FETCH_BURST: f64 = 20.0;

/// What `serve --fetch` was asked for (the CLI fills it in from its options).
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The DHT node; `None`: no DHT (`--no-dht`).
    pub dht: Option<DhtConfig>,
    pub jobs: FetchConfig,
    /// How long a request waits for its job (`--fetch-wait`).
    pub wait: Duration,
}

/// Fetching, as the server runs it.
pub struct Fetching {
    fetcher: Fetcher,
    wait: Duration,
    limiter: RateLimiter,
}

impl Fetching {
    /// Starts the DHT node and the fetcher; `limit_loopback` as `--rate-limit-loopback`.
    pub fn start(
        storage: &Arc<dyn Storage>,
        settings: &FetchSettings,
        limit_loopback: bool,
    ) -> Result<Fetching, String> {
        let fetcher = Fetcher::launch(
            Arc::clone(storage),
            settings.dht.as_ref(),
            settings.jobs.clone(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Fetching {
            fetcher,
            wait: settings.wait,
            limiter: RateLimiter::new(DEFAULT_FETCH_RATE, DEFAULT_FETCH_BURST, limit_loopback),
        })
    }

    pub fn stats(&self) -> FetchStats {
        self.fetcher.stats()
    }
}

/// How a request's wait for its job ended.
enum Waited {
    Done(Fetched),
    Running,
    Failed(FetchError),
}

/// The status (and `Retry-After`) of a job that did not store the torrent.
fn failure_status(e: &FetchError) -> (u16, Option<u64>) {
    match e {
        FetchError::Busy { .. } => (503, Some(RETRY_AFTER_BUSY)),
        FetchError::RateLimited { retry_after } => (429, Some(retry_after.as_secs() + 1)),
        FetchError::Blocked { .. } => (451, None),
        FetchError::Storage(_) => (503, None),
        FetchError::Internal(_) => (500, None),
        FetchError::NoPeers { .. }
        | FetchError::TimedOut { .. }
        | FetchError::BadData { .. }
        | FetchError::TooLarge { .. }
        | FetchError::Unreachable { .. }
        | FetchError::Invalid(_) => (404, None),
    }
}

fn with_retry(resp: Response, retry_after: Option<u64>) -> Response {
    match retry_after {
        Some(s) => resp.header("Retry-After", s.to_string()),
        None => resp,
    }
}

fn html(status: u16, page: String) -> Response {
    Response::new(status)
        .header("Content-Type", pages::HTML_CONTENT_TYPE)
        .bytes(page.into_bytes())
}

impl App {
    /// Whether `--fetch` is on.
    pub(super) fn fetching(&self) -> bool {
        self.fetch.is_some()
    }

    /// Starts or joins the job of `magnet` and waits at most `wait` for it.
    fn fetch_and_wait(&self, req: &Request<'_>, magnet: Magnet, wait: Duration) -> Waited {
        let Some(f) = &self.fetch else {
            return Waited::Failed(FetchError::Internal("fetching is off".into()));
        };
        let ip = req.peer().map(|a| a.ip());
        let admit = || {
            f.limiter
                .check(ip)
                .map_err(|retry_after| FetchError::RateLimited { retry_after })
        };
        match f.fetcher.start_admitted(job::Request::from(magnet), admit) {
            Err(e) => Waited::Failed(e),
            Ok(h) => match h.wait(wait) {
                Some(Ok(fetched)) => Waited::Done(fetched),
                Some(Err(e)) => Waited::Failed(e),
                None => Waited::Running,
            },
        }
    }

    fn fetch_wait(&self) -> Duration {
        self.fetch.as_ref().map_or(Duration::ZERO, |f| f.wait)
    }

    /// `GET`/`HEAD /torrent/<HASH>.torrent` of a torrent not stored, with fetching on.
    pub(super) fn download_missing(&self, req: &Request<'_>, hash: &str) -> Response {
        let (Some(target), Ok(key)) = (Target::parse(hash), Key::parse(hash)) else {
            return Response::text(404, "not found\n");
        };
        let magnet = Magnet {
            target,
            ..Magnet::default()
        };
        match self.fetch_and_wait(req, magnet, self.fetch_wait()) {
            Waited::Done(fetched) => match self.storage.get(&key) {
                Ok(Some(found)) => self.send_stored(req, key, found),
                // Stored but not yet visible (an object store's listing lags): the job's bytes.
                _ => {
                    let len = fetched.bytes.len() as u64;
                    let found = Found {
                        body: Body::Bytes(fetched.bytes),
                        len,
                        mtime: crate::clock::realtime_secs(),
                    };
                    self.send_stored(req, key, found)
                }
            },
            Waited::Running => {
                Response::text(503, format!("searching the swarm for {key}: retry later\n"))
                    .header("Retry-After", RETRY_AFTER_RUNNING.to_string())
            }
            Waited::Failed(e) => {
                let (status, retry) = failure_status(&e);
                let text = match status {
                    404 => format!("not found: {e}\n"),
                    _ => format!("{e}\n"),
                };
                with_retry(Response::text(status, text), retry)
            }
        }
    }

    /// `GET /magnet?…` of a torrent not stored, with fetching on: the link's trackers and
    /// peers are extra sources.
    pub(super) fn magnet_missing(&self, req: &Request<'_>, magnet: Magnet) -> Response {
        let key = magnet.key();
        let name = magnet.name.clone();
        match self.fetch_and_wait(req, magnet, self.fetch_wait()) {
            Waited::Done(_) => {
                Response::new(302).header("Location", format!("/torrent/{key}.torrent"))
            }
            Waited::Running => self.searching_page(&key, name.as_deref()),
            Waited::Failed(e) => failure_page(&key, &e),
        }
    }

    /// The lookup box's answer for a torrent not stored, with fetching on.
    pub(super) fn lookup_missing(&self, req: &Request<'_>, magnet: Magnet) -> Response {
        let key = magnet.key();
        let name = magnet.name.clone();
        match self.fetch_and_wait(req, magnet, self.fetch_wait().min(LOOKUP_WAIT)) {
            Waited::Done(_) => Response::new(302).header("Location", format!("/info/{key}")),
            Waited::Running => self.searching_page(&key, name.as_deref()),
            Waited::Failed(e) => failure_page(&key, &e),
        }
    }

    fn searching_page(&self, key: &Key, name: Option<&str>) -> Response {
        html(503, pages::searching(key, name, SEARCH_REFRESH))
            .header("Retry-After", SEARCH_REFRESH.to_string())
    }

    /// `/api/stats`'s and `/metrics`' view of fetching (zeros when it is off).
    pub(super) fn fetch_stats(&self) -> Option<FetchStats> {
        self.fetch.as_ref().map(Fetching::stats)
    }
}

fn failure_page(key: &Key, e: &FetchError) -> Response {
    let (status, retry) = failure_status(e);
    let page = match e {
        FetchError::Blocked { reason, .. } => pages::blocked(reason),
        _ if status == 404 => pages::not_found(&format!(
            "No torrent with info hash {key} is stored here, and it was not found in its \
             swarm: {e}."
        )),
        _ => pages::not_found(&format!("The torrent {key} could not be fetched now: {e}.")),
    };
    with_retry(html(status, page), retry)
}
