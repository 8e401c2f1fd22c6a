//! Uploads over HTTP: `POST /api/soap` (SOAP 1.1), `POST /api/upload` and `/autoupload.php`
//! (multipart field `torrent`, or a raw `application/x-bittorrent` body), `POST /upload` (the
//! web form without JavaScript).
//!
//! Owns: turning a request body into torrents handed to the store's writer, and each
//! interface's way of answering. Must never: store anything from a body that turned out
//! malformed (parts are held until the multipart end is seen), buffer more of a rejected part
//! than the size limit, or say "stored" before the writer answered.

use super::pages;
use super::status::put_status;
use super::App;
use crate::app::multipart::{MultipartParser, PartBody};
use crate::app::soap::{self, FaultCode};
use crate::http::{Method, Request, Response};
use crate::storage::{Outcome, PutError};
use crate::torrent::hash::Key;
use std::io::Read;

/// Bytes read from the socket per step of the multipart parser.
pub const UPLOAD_READ_CHUNK: usize = 16 * 1024;

/// Which interface an upload came through (they answer differently).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/api/upload`: `X-Thetorrent-*` headers, one line per file.
    Api,
    /// `/autoupload.php`: the same plus Torrage's `X-Torrage-*` headers.
    Torrage,
    /// `/upload`: an HTML result page.
    Form,
}

/// An upload route: SOAP, or one of the POST interfaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api/soap`.
    Soap,
    Post(Flavor),
}

impl Endpoint {
    /// The upload route at `path`, if it is one (the only routes that take a body).
    pub fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/api/soap" => Endpoint::Soap,
            "/api/upload" => Endpoint::Post(Flavor::Api),
            "/autoupload.php" => Endpoint::Post(Flavor::Torrage),
            "/upload" => Endpoint::Post(Flavor::Form),
            _ => return None,
        })
    }

    /// Its route in the statistics.
    pub fn route(self) -> super::stats::Route {
        match self {
            Endpoint::Soap => super::stats::Route::Soap,
            Endpoint::Post(_) => super::stats::Route::Upload,
        }
    }
}

/// The outcome of one uploaded file.
struct FileOutcome {
    filename: String,
    result: Result<(Key, Outcome), (u16, String)>,
    /// Seconds after which a retry can succeed (a file refused by the rate limiter).
    retry_after: Option<u64>,
}

/// The answer to an upload whose body found no memory: the budget of bodies in flight is full
/// (or an allocation failed); a retry a moment later can succeed.
pub const SERVER_BUSY: &str =
    "server busy: no memory for the upload now, retry shortly: nothing was stored";

/// `Retry-After` of an upload answered 503 (the store cannot take it now): long enough for
/// the object store's probe to notice its return, short enough not to idle a client.
pub const UNAVAILABLE_RETRY_AFTER: u64 = super::status::RETRY_AFTER;

/// Logs our own failures (the client only gets the stable message).
fn log_put_error(e: &PutError) {
    if let PutError::Storage(err) = e {
        if super::status::worth_logging(err) {
            eprintln!("thetorrent: upload failed: {err}");
        }
    }
}

impl App {
    fn store_bytes(&self, bytes: Vec<u8>) -> Result<(Key, Outcome), (u16, String)> {
        match self.storage.put(bytes) {
            Ok((ids, outcome)) => {
                self.stats.upload(Ok(outcome));
                Ok((ids.key, outcome))
            }
            Err(e) => {
                log_put_error(&e);
                self.stats.upload(Err(()));
                Err((put_status(&e), e.to_string()))
            }
        }
    }

    /// `POST /api/soap`.
    pub(super) fn soap(&self, req: &mut Request<'_>) -> Response {
        if req.method() != Method::Post {
            return Response::error(405).header("Allow", "POST");
        }
        // The decoded torrent (3/4 of its base64) is held beside the body while it is parsed:
        // the body's room in the budget covers both.
        req.body.holds_percent(175);
        // The layer's body limit bounds it (by default `soap::max_request_bytes` of the
        // torrent limit).
        let body = match req.body.read_all(self.max_body_bytes) {
            Ok(b) => b,
            // The HTTP layer replaces this answer (`body_error`: a Fault).
            Err(_) => {
                self.stats.upload(Err(()));
                return Response::error(400);
            }
        };
        let call =
            match soap::parse_request_with_limit(&body, self.storage.config().max_torrent_size) {
                Ok(c) => c,
                Err(soap::SoapError::OutOfMemory) => {
                    self.stats.upload(Err(()));
                    let mut r = with_retry_after(
                        fault(FaultCode::Server, SERVER_BUSY),
                        Some(UNAVAILABLE_RETRY_AFTER),
                    );
                    r.status = 503;
                    return r;
                }
                Err(e) => {
                    self.stats.upload(Err(()));
                    return fault(FaultCode::Client, &e.to_string());
                }
            };
        drop(body);
        match self.store_bytes(call.torrent) {
            Ok((key, _)) => Response::new(200)
                .header("Content-Type", soap::CONTENT_TYPE)
                .bytes(soap::render_response(call.operation, &key.to_string())),
            Err((status, msg)) => {
                let code = if status >= 500 {
                    FaultCode::Server
                } else {
                    FaultCode::Client
                };
                fault(code, &msg)
            }
        }
    }

    /// `POST /api/upload`, `/autoupload.php`, `/upload`.
    pub(super) fn upload(&self, req: &mut Request<'_>, flavor: Flavor) -> Response {
        if req.method() != Method::Post {
            return Response::error(405).header("Allow", "POST");
        }
        let files = match self.read_upload(req) {
            Ok(f) => f,
            Err((status, msg)) => {
                self.stats.upload(Err(()));
                vec![FileOutcome {
                    filename: String::new(),
                    result: Err((status, msg)),
                    retry_after: None,
                }]
            }
        };
        answer(flavor, files)
    }

    /// Reads the torrents of an upload body and stores them (only once the whole body was
    /// read and found well-formed).
    fn read_upload(&self, req: &mut Request<'_>) -> Result<Vec<FileOutcome>, (u16, String)> {
        let limit = self.storage.config().max_torrent_size;
        let ct = req.header_str("Content-Type").unwrap_or("").to_string();
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media == "multipart/form-data" {
            self.read_form(req, &ct, limit)
        } else if media == "application/x-bittorrent" || media == "application/octet-stream" {
            self.read_raw(req, limit)
        } else {
            Err((
                415,
                "expected multipart/form-data with a 'torrent' field, or an \
                 application/x-bittorrent body"
                    .into(),
            ))
        }
    }

    /// A `multipart/form-data` upload (`content_type` with its boundary): each file part is
    /// stored, once the whole form was parsed.
    fn read_form(
        &self,
        req: &mut Request<'_>,
        content_type: &str,
        limit: usize,
    ) -> Result<Vec<FileOutcome>, (u16, String)> {
        let mut parser = MultipartParser::new(content_type, limit).map_err(multipart_failure)?;
        let mut parts = Vec::new();
        let mut buf = vec![0u8; UPLOAD_READ_CHUNK];
        loop {
            let n = match req.body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                // The HTTP layer answers body errors (413, 400, timeouts) itself.
                Err(_) => return Err((400, "the request body could not be read".into())),
            };
            parser
                .feed(&buf[..n], &mut parts)
                .map_err(multipart_failure)?;
        }
        parser.finish().map_err(multipart_failure)?;
        if parts.is_empty() {
            return Err((400, "no 'torrent' field in the upload".into()));
        }
        Ok(self.store_parts(parts, req.peer().map(|a| a.ip())))
    }

    /// Stores the parts of a well-formed form, in order. The rate limiter counts files, not
    /// requests: the request's own token (taken by the route) covers the first file, each
    /// further one takes another, and a file without a token is answered 429 and not stored.
    fn store_parts(
        &self,
        parts: Vec<crate::app::multipart::Part>,
        peer: Option<std::net::IpAddr>,
    ) -> Vec<FileOutcome> {
        let mut out = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let filename = part.filename.clone().unwrap_or_default();
            let limited = if i == 0 {
                Ok(())
            } else {
                self.limiter.check(peer)
            };
            let mut retry_after = None;
            let result = match (limited, part.body) {
                (Err(wait), _) => {
                    self.stats.upload(Err(()));
                    retry_after = Some(super::retry_secs(wait));
                    Err((429, super::rate_limited_message(wait)))
                }
                (Ok(()), PartBody::Data(d)) if d.is_empty() => {
                    self.stats.upload(Err(()));
                    Err((400, "empty file".to_string()))
                }
                (Ok(()), PartBody::Data(d)) => self.store_bytes(d),
                (Ok(()), PartBody::TooLarge { size, limit }) => {
                    self.stats.upload(Err(()));
                    let e = PutError::TooLarge {
                        size,
                        limit: limit as u64,
                    };
                    Err((put_status(&e), e.to_string()))
                }
            };
            out.push(FileOutcome {
                filename,
                result,
                retry_after,
            });
        }
        out
    }

    /// A body that is the torrent itself (`application/x-bittorrent`).
    fn read_raw(
        &self,
        req: &mut Request<'_>,
        limit: usize,
    ) -> Result<Vec<FileOutcome>, (u16, String)> {
        if let Some(n) = req.body.declared_len() {
            if n > limit as u64 {
                let e = PutError::TooLarge {
                    size: n,
                    limit: limit as u64,
                };
                return Err((413, e.to_string()));
            }
        }
        let bytes = match req.body.read_all(limit as u64) {
            Ok(b) => b,
            // A chunked body has no declared size: say what is known.
            Err(_) => {
                return Err((
                    413,
                    format!("torrent too large: more than {limit} bytes (limit {limit})"),
                ));
            }
        };
        Ok(vec![FileOutcome {
            filename: String::new(),
            result: self.store_bytes(bytes),
            retry_after: None,
        }])
    }
}

impl App {
    /// The answer to an upload whose body the HTTP layer refused (over the body limit,
    /// malformed chunks, too slow): in the route's own format — `X-Thetorrent-*` headers, a
    /// SOAP Fault, the form's page — instead of the layer's bare error page.
    /// `count`: count the failed upload (when `handle` did not already).
    pub(super) fn upload_body_error(&self, ep: Endpoint, status: u16, count: bool) -> Response {
        let msg = match status {
            413 => format!(
                "request body too large (limit {} bytes): nothing was stored",
                self.max_body_bytes
            ),
            408 => "request body sent too slowly: nothing was stored".to_string(),
            431 => "request trailers too large: nothing was stored".to_string(),
            503 => SERVER_BUSY.to_string(),
            _ => "malformed request body: nothing was stored".to_string(),
        };
        if count {
            self.stats.upload(Err(()));
        }
        // The body error's own status (413, 400, 408), also on the SOAP Fault: SOAP clients
        // read a Fault whatever the status, and the status tells proxies and logs what
        // happened.
        let mut r = match ep {
            Endpoint::Soap if status == 503 => with_retry_after(
                fault(FaultCode::Server, &msg),
                Some(UNAVAILABLE_RETRY_AFTER),
            ),
            Endpoint::Soap => fault(FaultCode::Client, &msg),
            Endpoint::Post(f) => answer(
                f,
                vec![FileOutcome {
                    filename: String::new(),
                    result: Err((status, msg)),
                    retry_after: None,
                }],
            ),
        };
        r.status = status;
        r.close()
    }
}

fn fault(code: FaultCode, msg: &str) -> Response {
    Response::new(soap::FAULT_HTTP_STATUS)
        .header("Content-Type", soap::CONTENT_TYPE)
        .bytes(soap::render_fault(code, msg))
}

/// A malformed form is the client's 400; no memory for it is the server's 503.
fn multipart_failure(e: crate::app::multipart::MultipartError) -> (u16, String) {
    let status = match e {
        crate::app::multipart::MultipartError::OutOfMemory => 503,
        _ => 400,
    };
    (status, e.to_string())
}

fn with_retry_after(resp: Response, secs: Option<u64>) -> Response {
    match secs {
        Some(s) => resp.header("Retry-After", s.to_string()),
        None => resp,
    }
}

/// Header values must stay on one line of visible characters.
fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The answer: 200 when every file was stored (or already was), else the status of the
/// first failure; one header set and one body line per file, in upload order.
fn answer(flavor: Flavor, files: Vec<FileOutcome>) -> Response {
    let status = files
        .iter()
        .find_map(|f| f.result.as_ref().err().map(|e| e.0))
        .unwrap_or(200);
    // A client that may retry is told when.
    let retry_after = match status {
        429 | 503 => files
            .iter()
            .filter(|f| f.result.is_err())
            .filter_map(|f| f.retry_after)
            .max()
            .or(Some(UNAVAILABLE_RETRY_AFTER)),
        _ => None,
    };
    if flavor == Flavor::Form {
        let results: Vec<pages::UploadResult> = files
            .into_iter()
            .map(|f| pages::UploadResult {
                filename: f.filename,
                already: matches!(f.result, Ok((_, Outcome::AlreadyStored))),
                outcome: f.result.map(|(k, _)| k.to_string()).map_err(|e| e.1),
            })
            .collect();
        let resp = Response::new(status).header("Content-Type", pages::HTML_CONTENT_TYPE);
        return with_retry_after(resp, retry_after)
            .bytes(pages::upload_result(&results).into_bytes());
    }
    let resp = Response::new(status).header("Content-Type", "text/plain; charset=utf-8");
    let mut resp = with_retry_after(resp, retry_after);
    let mut body = String::new();
    for f in &files {
        match &f.result {
            Ok((key, outcome)) => {
                let hex = key.to_string();
                let stored = match outcome {
                    Outcome::Stored => "new",
                    Outcome::AlreadyStored => "already",
                };
                resp = resp
                    .header("X-Thetorrent-Result", "stored")
                    .header("X-Thetorrent-Hash", hex.clone())
                    .header("X-Thetorrent-Stored", stored);
                if flavor == Flavor::Torrage {
                    resp = resp.header("X-Torrage-Infohash", hex.clone());
                }
                body.push_str(&hex);
            }
            Err((_, msg)) => {
                let msg = header_safe(msg);
                resp = resp
                    .header("X-Thetorrent-Result", "failed")
                    .header("X-Thetorrent-Error", msg.clone());
                if flavor == Flavor::Torrage {
                    resp = resp.header("X-Torrage-Error-Msg", msg.clone());
                }
                body.push_str(&msg);
            }
        }
        body.push('\n');
    }
    resp.bytes(body.into_bytes())
}
