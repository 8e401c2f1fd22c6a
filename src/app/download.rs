//! Downloads: `GET`/`HEAD /torrent/<HASH>.torrent` and `/<HASH>.torrent` — conditional
//! requests, single ranges, caching headers, the name to save it under, 404/451/400.
//!
//! Owns: the answer to a download from the stored bytes (a torrent not stored goes to
//! `fetch` when fetching is on). Must never: change served bytes (no
//! encoding, no re-encoding), or send a range it cannot satisfy (416).

use super::{status, App};
use crate::http::{self, date, Method, Request, Response, ResponseBody};
use crate::storage::{Body, Found};
use crate::torrent::hash::Key;

/// `Cache-Control` of a stored torrent: its bytes never change under its hash.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl App {
    pub(super) fn download(&self, req: &mut Request<'_>, hash: &str) -> Response {
        let key = match Key::parse(hash) {
            Ok(k) => k,
            Err(e) => return Response::text(400, format!("{e}\n")),
        };
        if let Some(reason) = self.storage.blocked(&key) {
            return Response::text(451, format!("blocked: {reason}\n"));
        }
        match self.storage.get(&key) {
            Ok(Some(found)) => self.send_stored(req, key, found),
            Ok(None) if self.fetching() => self.download_missing(req, hash),
            Ok(None) => Response::text(404, "not found\n"),
            Err(e) => {
                if status::worth_logging(&e) {
                    eprintln!("thetorrent: cannot open torrent {key}: {e}");
                }
                status::read_error(&e)
            }
        }
    }

    /// A stored torrent's answer: conditional requests, ranges, caching headers.
    pub(super) fn send_stored(&self, req: &Request<'_>, key: Key, found: Found) -> Response {
        let Found { body, len, mtime } = found;
        // The header values are built without the formatting machinery (this is the hot path).
        let hex = key.hex();
        let hex = std::str::from_utf8(&hex).unwrap_or_default();
        let mut etag = String::with_capacity(42);
        etag.push('"');
        etag.push_str(hex);
        etag.push('"');
        let last_modified = date::format(mtime);
        let last_modified = std::str::from_utf8(&last_modified)
            .unwrap_or_default()
            .to_owned();
        let common = |status: u16, etag: String, last_modified: String| {
            Response::new(status)
                .header("ETag", etag)
                .header("Last-Modified", last_modified)
                .header("Cache-Control", IMMUTABLE)
        };
        if not_modified(req, &etag, mtime) {
            return common(304, etag, last_modified);
        }
        let range = match requested_range(req, &etag, mtime, len) {
            Ok(r) => r,
            Err(()) => {
                return common(416, etag, last_modified)
                    .header("Content-Range", format!("bytes */{len}"))
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .body(ResponseBody::Static(b"range not satisfiable\n"))
            }
        };
        let (status, offset, n) = match range {
            Some((a, b)) => (206, a, b - a + 1),
            None => (200, 0, len),
        };
        // The torrent's name, read once per key (then cached: the bytes never change), from
        // the few tokens on the way to it, not the whole file.
        let disposition = self
            .names
            .disposition(&key, || crate::torrent::name(body.windows(len)));
        let mut resp = common(status, etag, last_modified)
            .header("Content-Type", "application/x-bittorrent")
            .header("Content-Disposition", disposition)
            .header("Accept-Ranges", "bytes");
        if status == 206 {
            resp = resp.header(
                "Content-Range",
                format!("bytes {offset}-{}/{len}", offset + n - 1),
            );
        }
        resp.body(match body {
            Body::File(file) => ResponseBody::File {
                file,
                offset,
                len: n,
            },
            Body::Bytes(data) => ResponseBody::Shared {
                data,
                offset: offset as usize,
                len: n as usize,
            },
        })
    }
}

/// Whether the client's copy is current. RFC 9110 section 13.2.2: If-None-Match first;
/// If-Modified-Since only without it.
fn not_modified(req: &Request<'_>, etag: &str, mtime: u64) -> bool {
    match req.header("If-None-Match") {
        Some(v) => none_match(v, etag),
        None => req
            .header("If-Modified-Since")
            .and_then(date::parse)
            .is_some_and(|t| mtime <= crate::clock::secs(t)),
    }
}

/// The range a `GET` asks for (`Ok(None)`: the whole file, also when `If-Range` no longer
/// matches), or `Err(())` when it cannot be satisfied (416).
fn requested_range(
    req: &Request<'_>,
    etag: &str,
    mtime: u64,
    len: u64,
) -> Result<Option<(u64, u64)>, ()> {
    if req.method() != Method::Get {
        return Ok(None);
    }
    let Some(r) = req.header("Range") else {
        return Ok(None);
    };
    let if_range_ok = match req.header("If-Range") {
        None => true,
        Some(v) if v.first() == Some(&b'"') => v == etag.as_bytes(),
        Some(v) => date::parse(v).is_some_and(|t| crate::clock::secs(t) == mtime),
    };
    if if_range_ok {
        parse_range(r, len)
    } else {
        Ok(None)
    }
}

/// Whether an `If-None-Match` value matches the entity tag `etag` (weak comparison).
fn none_match(value: &[u8], etag: &str) -> bool {
    http::head::tokens(value).any(|t| {
        t == b"*" || {
            let t = t.strip_prefix(b"W/").unwrap_or(t);
            t == etag.as_bytes()
        }
    })
}

/// A single byte range `bytes=a-b`, `bytes=a-` or `bytes=-n` against a length: `Ok(None)`
/// when the header is to be ignored (syntax not understood, several ranges), `Err(())` when
/// unsatisfiable.
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &[u8], len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Some(n) = num(b) else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len - n.min(len), len - 1)));
    }
    let Some(start) = num(a) else { return Ok(None) };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match num(b) {
            Some(e) if e >= start => e,
            _ => return Ok(None),
        }
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end.min(len - 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(b"bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(b"bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(b"bytes=-1000", 100), Ok(Some((0, 99))));
        assert_eq!(parse_range(b"bytes=50-1000", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range(b"bytes=100-", 100), Err(()));
        assert_eq!(parse_range(b"bytes=-0", 100), Err(()));
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range(b"items=0-1", 100), Ok(None));
        assert_eq!(parse_range(b"bytes=5-1", 100), Ok(None));
        assert_eq!(parse_range(b"bytes=x-1", 100), Ok(None));
    }

    #[test]
    fn etags() {
        let e = "\"AB\"";
        assert!(none_match(b"\"AB\"", e));
        assert!(none_match(b"W/\"AB\"", e));
        assert!(none_match(b"\"X\", \"AB\"", e));
        assert!(none_match(b"*", e));
        assert!(!none_match(b"\"ab\"", e));
    }
}
