//! The read-only routes besides downloads: pages, the WSDL, assets, `/info`, `/magnet`,
//! `/lookup`, the mirror feeds under `/sync/` (day lists and takedowns), `/api/stats`,
//! `/metrics`, and the pages a browser gets for `GET` on an upload address or
//! `/torrent/<HASH>` without `.torrent`.
//!
//! Owns: choosing the page and its status; the HTML itself comes from the submodules below. Must never:
//! answer a missing thing with 200 (a 404 is a 404), or build a path from request text other
//! than through `hash::Key` and `store::day::Day` (which only yield digits).
//!
//! The HTML comes from the pure submodules (`render`, `lookup`, `text`, `assets`): they own
//! the HTML of every page, the parsing of the lookup box and of `/magnet` queries, and the
//! text helpers pages need. They must never do I/O, know about routing, status codes or
//! storage, put a byte of user or torrent data into a page without HTML escaping, or render a
//! page over [`PAGE_LIMIT`] bytes (the upload result page, which grows by a bounded amount per
//! uploaded file, excepted).

mod assets;
mod facts;
mod lookup;
mod render;
mod text;

pub use facts::{
    Facts, FactsCache, FactsError, FACTS_ENTRIES, FACTS_QUEUE, FACTS_WAIT, MAX_ENTRY_BYTES,
};

pub use assets::{asset, Asset, APP_JS, FAVICON_SVG, HTML_CONTENT_TYPE, PAGE_LIMIT, STYLE_CSS};
pub use lookup::{
    lookup_magnet, lookup_query, lookup_target, lookup_text, lookup_typed, magnet_target,
    MAX_LOOKUP_LEN,
};
pub use render::{
    api, api_examples, bad_request, blocked, count_sentence, index, info, lookup_error,
    magnet_link, not_found, post_only, searching, sync_index, upload_result, SyncDay, UploadResult,
    INFO_BUDGET, LOOKUP_TAKES, MAX_FILES_SHOWN, MAX_MAGNET_TRACKERS, MAX_TRACKERS_SHOWN,
    MAX_WEB_SEEDS_SHOWN, PATH_CHARS,
};
pub use text::{
    format_count, html_escape, human_size, percent_encode, plural, push_escaped, truncate_chars,
    truncate_middle, utc_time,
};

use super::soap;
use super::App;
use crate::fetch::magnet::Magnet;
use crate::http::{Request, Response, ResponseBody};
use crate::storage::day::Day;
use crate::storage::{Body, DayList, StorageError};
use crate::torrent::hash::Key;

fn html(status: u16, page: String) -> Response {
    Response::new(status)
        .header("Content-Type", self::HTML_CONTENT_TYPE)
        .bytes(page.into_bytes())
}

/// Whether a `Host` header value is safe to build URLs from.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

impl App {
    /// The public base URL: `--public-url`, else `http://` + the request's `Host`.
    pub(super) fn base_url(&self, req: &Request<'_>) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let host = req
            .header_str("Host")
            .map(str::trim)
            .filter(|h| valid_host(h))
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    pub(super) fn not_found_page(&self) -> Response {
        html(404, self::not_found("There is no page at this address."))
    }

    pub(super) fn index(&self, req: &Request<'_>) -> Response {
        html(200, self::index(self.storage.count(), &self.base_url(req)))
    }

    pub(super) fn api_page(&self, req: &Request<'_>) -> Response {
        html(200, self::api(&self.base_url(req)))
    }

    pub(super) fn wsdl(&self, req: &Request<'_>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/xml; charset=utf-8")
            .bytes(soap::wsdl(&self.base_url(req)).into_bytes())
    }

    pub(super) fn asset(&self, req: &Request<'_>, a: self::Asset) -> Response {
        let etag = format!("\"{:016x}\"", a.version);
        if req
            .header("If-None-Match")
            .is_some_and(|v| v == etag.as_bytes())
        {
            return Response::new(304).header("ETag", etag);
        }
        Response::new(200)
            .header("Content-Type", a.content_type)
            .header("ETag", etag)
            .header("Cache-Control", "public, max-age=3600")
            .body(ResponseBody::Static(a.body))
    }

    /// `GET /info/<HASH>`.
    pub(super) fn info(&self, req: &Request<'_>, hash: &str) -> Response {
        let key = match Key::parse(hash) {
            Ok(k) => k,
            Err(e) => return html(400, self::bad_request(&e.to_string())),
        };
        if let Some(reason) = self.storage.blocked(&key) {
            return html(451, self::blocked(&reason));
        }
        // Missing is told apart before the cache (which only holds stored torrents).
        let found = match self.storage.get(&key) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return html(
                    404,
                    self::not_found(&format!("No torrent with info hash {key} is stored here.")),
                )
            }
            Err(e) => {
                if super::status::worth_logging(&e) {
                    eprintln!("thetorrent: cannot read torrent {key}: {e}");
                }
                return super::status::read_error(&e);
            }
        };
        let stored = i64::try_from(found.mtime).ok();
        let facts = self
            .facts
            .get(key, || found.to_vec().map_err(StorageError::from));
        let facts = match facts {
            Ok(f) => f,
            Err(e) => {
                match &e {
                    FactsError::Storage(err) if super::status::worth_logging(err) => {
                        eprintln!("thetorrent: cannot read torrent {key}: {err}")
                    }
                    FactsError::Invalid(err) => {
                        eprintln!("thetorrent: stored torrent {key} does not validate: {err}")
                    }
                    _ => {}
                }
                return e.response();
            }
        };
        html(
            200,
            self::info(
                &facts.summary,
                facts.v1.as_ref(),
                facts.v2.as_ref(),
                stored,
                &self.base_url(req),
            ),
        )
    }

    /// `GET /magnet?xt=urn:btih:…`: 302 to the stored file, or a 404 page.
    pub(super) fn magnet(&self, req: &Request<'_>) -> Response {
        let Some(magnet) = req.query().and_then(|q| Magnet::parse_query(q).ok()) else {
            return html(
                400,
                self::bad_request("expected ?xt=urn:btih:<hash> or xt=urn:btmh:1220<hash>"),
            );
        };
        let key = magnet.key();
        if let Some(reason) = self.storage.blocked(&key) {
            return html(451, self::blocked(&reason));
        }
        let stored = match self.storage.contains(&key) {
            Ok(b) => b,
            Err(e) => {
                if super::status::worth_logging(&e) {
                    eprintln!("thetorrent: cannot look up {key}: {e}");
                }
                return super::status::read_error(&e);
            }
        };
        if !stored && self.fetching() {
            return self.magnet_missing(req, magnet);
        }
        if !stored {
            return html(
                404,
                self::not_found(&format!("No torrent with info hash {key} is stored here.")),
            );
        }
        Response::new(302).header("Location", format!("/torrent/{key}.torrent"))
    }

    /// `GET /lookup?q=…` (the front page's box): 302 to the torrent's page, or the box again
    /// with what was typed in it and what it takes; with fetching on, a torrent not stored is
    /// searched for first.
    pub(super) fn lookup(&self, req: &Request<'_>) -> Response {
        let query = req.query().unwrap_or("");
        let magnet = self::lookup_text(query).and_then(|q| self::lookup_magnet(&q));
        match magnet {
            Some(m) if self.fetching() && self.missing(&m.key()) => self.lookup_missing(req, m),
            Some(m) => Response::new(302).header("Location", format!("/info/{}", m.key())),
            None => html(400, self::lookup_error(&self::lookup_typed(query))),
        }
    }

    /// Neither stored nor blocked (a blocked hash gets its 451 from the torrent's page).
    fn missing(&self, key: &Key) -> bool {
        self.storage.blocked(key).is_none() && matches!(self.storage.contains(key), Ok(false))
    }

    /// `GET`/`HEAD` on an upload address: 405 (the address takes `POST` only, which `Allow`
    /// says) with a page that says how to upload, since a person with a browser is the one who
    /// gets here.
    pub(super) fn post_only(&self, req: &Request<'_>, soap: bool) -> Response {
        html(405, self::post_only(req.path(), soap, &self.base_url(req))).header("Allow", "POST")
    }

    /// `GET /torrent/<HASH>` (no `.torrent`): 301 to the file's address, or a 404 page when
    /// it is not a hash.
    pub(super) fn torrent_redirect(&self, hash: &str) -> Response {
        match Key::parse(hash) {
            Ok(key) => Response::new(301).header("Location", format!("/torrent/{key}.torrent")),
            Err(e) => html(
                404,
                self::not_found(&format!("There is no page at this address: {e}.")),
            ),
        }
    }

    /// `GET /sync/`: the days that have a list, newest first, as links with their counts, and
    /// the takedowns feed (for people and for mirror scripts that look for `YYYYMMDD.txt`).
    pub(super) fn sync_index(&self, req: &Request<'_>) -> Response {
        let days = match self.storage.days() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("thetorrent: cannot list sync/: {e}");
                return Response::error(500);
            }
        };
        let days: Vec<self::SyncDay> = days
            .iter()
            .rev()
            .map(|d| self::SyncDay {
                day: d.to_string(),
                count: self.storage.day_len(*d).unwrap_or(0),
            })
            .collect();
        let takedowns = self.storage.takedowns().len();
        html(200, self::sync_index(&days, takedowns, &self.base_url(req)))
            .header("Cache-Control", "no-cache")
    }

    /// `GET /sync/takedowns.txt`: every hash taken down here, one per line (with
    /// `--publish-takedown-reasons`, `HASH<TAB>reason`), sorted; a mirror with
    /// `--follow-takedowns` blocks them too.
    pub(super) fn takedowns(&self) -> Response {
        let list = self.storage.takedowns();
        let mut body = String::with_capacity(list.len() * 41);
        for (key, reason) in list {
            body.push_str(&key.to_string());
            if self.publish_takedown_reasons {
                body.push('\t');
                body.push_str(&reason);
            }
            body.push('\n');
        }
        Response::new(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .bytes(body.into_bytes())
    }

    /// `GET /sync/YYYYMMDD.txt`: that day's hashes, one per line (whole lines only).
    pub(super) fn sync_day(&self, name: &str) -> Response {
        if name == "takedowns.txt" {
            return self.takedowns();
        }
        let Some(day) = name.strip_suffix(".txt").and_then(Day::parse) else {
            return Response::text(404, "not found\n");
        };
        let DayList { body, len } = match self.storage.day_list(day) {
            Ok(Some(l)) => l,
            Ok(None) => return Response::text(404, "not found\n"),
            Err(e) => {
                eprintln!("thetorrent: cannot read the list of {day}: {e}");
                return Response::error(503);
            }
        };
        let resp = Response::new(200).header("Content-Type", "text/plain; charset=us-ascii");
        // Past days never change; today's list grows.
        let resp = if day < Day::today() {
            resp.header("Cache-Control", "public, max-age=86400")
        } else {
            resp.header("Cache-Control", "no-cache")
        };
        resp.body(match body {
            Body::File(file) => ResponseBody::File {
                file,
                offset: 0,
                len,
            },
            Body::Bytes(data) => ResponseBody::Shared {
                data,
                offset: 0,
                len: len as usize,
            },
        })
    }

    /// Counters beyond the request statistics: the storage backend's and the page cache's.
    fn extra_stats(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.storage.backend_stats();
        v.extend(self.facts.counters());
        v
    }

    pub(super) fn stats_json(&self) -> Response {
        Response::new(200)
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-cache")
            .bytes(
                self.stats
                    .json(
                        self.storage.count(),
                        self.storage.bytes(),
                        self.fetch_stats(),
                        &self.extra_stats(),
                    )
                    .into_bytes(),
            )
    }

    pub(super) fn metrics(&self) -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .bytes(
                self.stats
                    .prometheus(
                        self.storage.count(),
                        self.storage.bytes(),
                        self.fetch_stats(),
                        &self.extra_stats(),
                    )
                    .into_bytes(),
            )
    }
}

#[cfg(test)]
mod tests;
