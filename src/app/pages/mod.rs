//! The read-only routes besides downloads: pages, the WSDL, assets, `/info`, `/magnet`,
//! `/lookup`, the mirror feeds under `/sync/`, `/api/stats`, `/metrics`.
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
mod lookup;
mod render;
mod text;

pub use assets::{asset, Asset, APP_JS, FAVICON_SVG, HTML_CONTENT_TYPE, PAGE_LIMIT, STYLE_CSS};
pub use lookup::{lookup_query, lookup_target, magnet_target, MAX_LOOKUP_LEN};
pub use render::{
    api, api_examples, bad_request, blocked, count_sentence, index, info, magnet_link, not_found,
    upload_result, UploadResult, INFO_BUDGET, MAX_FILES_SHOWN, MAX_MAGNET_TRACKERS,
    MAX_TRACKERS_SHOWN,
};
pub use text::{
    civil_from_unix, format_count, html_escape, human_size, iso_utc, percent_decode,
    percent_encode, plural, push_escaped, truncate_chars, truncate_middle,
};

use super::soap;
use super::App;
use crate::http::{Request, Response, ResponseBody};
use crate::storage::day::Day;
use crate::storage::{Body, DayList, StorageError};
use crate::torrent;
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
        let bytes = match self.storage.get(&key) {
            Ok(Some(found)) => found.to_vec().map_err(StorageError::from),
            Ok(None) => {
                return html(
                    404,
                    self::not_found(&format!("No torrent with info hash {key} is stored here.")),
                )
            }
            Err(e) => Err(e),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                eprintln!("thetorrent: cannot read torrent {key}: {e}");
                return Response::error(super::status::read_status(&e));
            }
        };
        let (parsed, summary) = match (torrent::validate(&bytes), torrent::summary(&bytes)) {
            (Ok(p), Ok(s)) => (p, s),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("thetorrent: stored torrent {key} does not validate: {e}");
                return Response::error(500);
            }
        };
        html(
            200,
            self::info(
                &summary,
                parsed.v1.as_ref(),
                parsed.v2.as_ref(),
                &self.base_url(req),
            ),
        )
    }

    /// `GET /magnet?xt=urn:btih:…`: 302 to the stored file, or a 404 page.
    pub(super) fn magnet(&self, req: &Request<'_>) -> Response {
        let Some(key) = req.query().and_then(self::magnet_target) else {
            return html(
                400,
                self::bad_request("expected ?xt=urn:btih:<hash> or xt=urn:btmh:1220<hash>"),
            );
        };
        if let Some(reason) = self.storage.blocked(&key) {
            return html(451, self::blocked(&reason));
        }
        let stored = match self.storage.contains(&key) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("thetorrent: cannot look up {key}: {e}");
                return Response::error(503);
            }
        };
        if !stored {
            return html(
                404,
                self::not_found(&format!("No torrent with info hash {key} is stored here.")),
            );
        }
        Response::new(302).header("Location", format!("/torrent/{key}.torrent"))
    }

    /// `GET /lookup?q=…` (the front page's box): 302 to the torrent's page.
    pub(super) fn lookup(&self, req: &Request<'_>) -> Response {
        match req.query().and_then(self::lookup_query) {
            Some(key) => Response::new(302).header("Location", format!("/info/{key}")),
            None => html(
                400,
                self::bad_request(
                    "not a hash or magnet link: paste 40 hex digits, 32 base32 characters, \
                     a 64-hex v2 hash or a magnet: link",
                ),
            ),
        }
    }

    /// `GET /sync/`: the days that have a list, newest first, as links (for people and for
    /// mirror scripts that look for `YYYYMMDD.txt`).
    pub(super) fn sync_index(&self) -> Response {
        let days = match self.storage.days() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("thetorrent: cannot list sync/: {e}");
                return Response::error(500);
            }
        };
        // The site's stylesheet and icon (without the icon link browsers ask for a
        // /favicon.ico that does not exist); the links stay plain for mirror scripts.
        let mut page = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>sync · thetorrent</title><link rel=\"stylesheet\" href=\"/style.css\">\
             <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"></head>\
             <body><main class=\"wrap\"><h1>Stored hashes by day (UTC)</h1>\n\
             <p><a href=\"/\">thetorrent</a> · for mirrors: \
             <code>thetorrent mirror --from URL</code></p>\n<ul>\n",
        );
        for d in days.iter().rev() {
            let n = self.storage.day_len(*d).unwrap_or(0);
            page.push_str(&format!("<li><a href=\"{d}.txt\">{d}.txt</a> {n}</li>\n"));
        }
        page.push_str("</ul></main></body></html>\n");
        html(200, page)
    }

    /// `GET /sync/YYYYMMDD.txt`: that day's hashes, one per line (whole lines only).
    pub(super) fn sync_day(&self, name: &str) -> Response {
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

    pub(super) fn stats_json(&self) -> Response {
        Response::new(200)
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-cache")
            .bytes(
                self.stats
                    .json(self.storage.count(), self.storage.bytes())
                    .into_bytes(),
            )
    }

    pub(super) fn metrics(&self) -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .bytes(
                self.stats
                    .prometheus(self.storage.count(), self.storage.bytes())
                    .into_bytes(),
            )
    }
}

#[cfg(test)]
mod tests;
