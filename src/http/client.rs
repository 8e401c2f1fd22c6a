//! The HTTP/1.1 client: a plain `GET` over `std::net::TcpStream` ([`Client`]), and the
//! response reader the S3 client and the HTTP tracker client run on may sockets. `http://`
//! only (`thetorrent mirror`, which also speaks `https://`, uses `ureq` in the CLI).
//!
//! Owns: one kept-alive connection to one server, the request bytes, and reading an answer
//! (status line and headers parsed by httparse, a body framed by `Content-Length`, `chunked`
//! — decoded by the server's own [`ChunkedDecoder`] — or the end of the connection) under
//! limits: head size, header count, trailer size, body size, timeouts. Must never: read a
//! body past its limit into memory, follow redirects, speak TLS, send a body, or reuse a
//! connection whose framing it is unsure of (it reconnects instead).
//!
//! The response reader ([`read_head`], [`read_body`]) is generic over `BufRead` and shared
//! with the S3 client (`storage::s3::client`).

use super::body::ChunkedDecoder;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest wait to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for any read or write on a connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response head (status line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines in a response.
pub const MAX_HEADERS: usize = 100;
/// Largest trailer section after a chunked body, in bytes.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Bytes decoded from a chunked body per step.
const CHUNK_BUF: usize = 16 * 1024;

/// Why a request got no usable answer.
#[derive(Debug)]
pub enum HttpError {
    /// The server could not be reached (name lookup or connect).
    Connect(String),
    /// The connection failed or timed out mid-exchange.
    Io(io::Error),
    /// The answer was not HTTP/1.x as this client reads it.
    Protocol(String),
    /// The body was larger than the caller's limit.
    TooLarge { limit: u64 },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Connect(e) => write!(f, "cannot connect: {e}"),
            HttpError::Io(e) if is_timeout(e) => write!(f, "timed out"),
            HttpError::Io(e) => write!(f, "connection failed: {e}"),
            HttpError::Protocol(e) => write!(f, "bad HTTP answer: {e}"),
            HttpError::TooLarge { limit } => {
                write!(f, "answer too large: more than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn protocol(msg: impl Into<String>) -> HttpError {
    HttpError::Protocol(msg.into())
}

/// An `http://host[:port][/prefix]` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Host as written (an IPv6 address keeps its brackets), for the `Host` header.
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash (`""` for the root).
    pub prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`; no user info, query or fragment.
    pub fn parse(s: &str) -> Result<BaseUrl, String> {
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| format!("not an http:// URL: {s} (https is not supported)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("no host (or user info) in URL: {s}"));
        }
        if path.contains(['?', '#']) || path.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(format!("URL path must be plain: {s}"));
        }
        let (host, port) = if let Some(end) = authority.strip_prefix('[').and(authority.find(']')) {
            let host = &authority[..=end];
            match &authority[end + 1..] {
                "" => (host, 80),
                p => (host, parse_port(p.strip_prefix(':').unwrap_or("x"), s)?),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p, s)?),
                None => (authority, 80),
            }
        };
        let allowed: &[u8] = if host.starts_with('[') {
            b"[]:."
        } else {
            b".-_"
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || allowed.contains(&b))
        {
            return Err(format!("bad host in URL: {s}"));
        }
        Ok(BaseUrl {
            host: host.to_string(),
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// The `Host` header value.
    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.prefix)
    }
}

fn parse_port(p: &str, url: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("bad port in URL: {url}"))
}

/// An answer: its status and its (decoded) body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A client for one server, keeping its connection alive between requests.
pub struct Client {
    base: BaseUrl,
    conn: Option<BufReader<TcpStream>>,
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

impl Client {
    pub fn new(base: BaseUrl) -> Client {
        Client { base, conn: None }
    }

    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, HttpError> {
        let addrs = (self.base.host.trim_matches(['[', ']']), self.base.port)
            .to_socket_addrs()
            .map_err(|e| HttpError::Connect(format!("{}: {e}", self.base.host)))?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    let _ = s.set_nodelay(true);
                    return Ok(BufReader::new(s));
                }
                Err(e) => last = Some(format!("{a}: {e}")),
            }
        }
        Err(HttpError::Connect(last.unwrap_or_else(|| {
            format!("{}: no address", self.base.host)
        })))
    }

    /// `GET prefix + path`, the body at most `limit` bytes. A kept-alive connection that the
    /// server closed in the meantime is replaced once (a `GET` may be repeated).
    pub fn get(&mut self, path: &str, limit: u64) -> Result<Response, HttpError> {
        let reused = self.conn.is_some();
        match self.try_get(path, limit) {
            Err(HttpError::Io(e)) if reused && stale(&e) => {
                self.conn = None;
                self.try_get(path, limit)
            }
            r => r,
        }
    }

    fn try_get(&mut self, path: &str, limit: u64) -> Result<Response, HttpError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let req = format!(
            "GET {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: thetorrent-mirror/{}\r\n\
             Accept-Encoding: identity\r\n\r\n",
            self.base.prefix,
            self.base.host_header(),
            env!("CARGO_PKG_VERSION"),
        );
        conn.get_mut().write_all(req.as_bytes())?;
        let (resp, keep) = read_response(&mut conn, limit)?;
        if keep {
            self.conn = Some(conn);
        }
        Ok(resp)
    }
}

/// Whether an error on a reused connection means the server had closed it.
pub fn stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A response's status line and headers, and how its body is framed.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    /// Header lines in order: name in lower case, value trimmed (case kept).
    pub headers: Vec<(String, String)>,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this answer's body.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a response; returns it and whether the connection may carry another request.
fn read_response(r: &mut impl BufRead, limit: u64) -> Result<(Response, bool), HttpError> {
    let head = read_head(r, false)?;
    let body = read_body(r, &head.framing, limit)?;
    Ok((
        Response {
            status: head.status,
            body,
        },
        head.keep_alive,
    ))
}

/// Reads a response head (interim 1xx answers skipped), within [`MAX_HEAD_BYTES`] and
/// [`MAX_HEADERS`]. `bodyless`: the request was `HEAD`, so no body follows whatever the
/// headers say.
pub fn read_head(r: &mut impl BufRead, bodyless: bool) -> Result<ResponseHead, HttpError> {
    loop {
        let head = parse_head(r)?;
        if (100..200).contains(&head.status) {
            // An interim answer (e.g. 100 Continue): the real one follows.
            continue;
        }
        return frame(head, bodyless);
    }
}

/// A response head as sent: status, version and header lines, before framing is decided.
struct RawHead {
    status: u16,
    http10: bool,
    /// Header lines in order: name in lower case, value trimmed (case kept).
    headers: Vec<(String, String)>,
}

/// Reads one response head with httparse, taking from `r` exactly the head's bytes.
fn parse_head(r: &mut impl BufRead) -> Result<RawHead, HttpError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let more = r.fill_buf()?;
        if more.is_empty() {
            return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let before = buf.len();
        let take = more.len().min(MAX_HEAD_BYTES + 1 - before);
        buf.extend_from_slice(&more[..take]);
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut slots);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                r.consume(n - before);
                let status = resp
                    .code
                    .filter(|s| (100..600).contains(s))
                    .ok_or_else(|| protocol(format!("bad status {:?}", resp.code)))?;
                let headers = resp
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).trim().to_string();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                return Ok(RawHead {
                    status,
                    http10: resp.version == Some(0),
                    headers,
                });
            }
            Ok(httparse::Status::Partial) => {
                r.consume(take);
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(protocol(format!("head larger than {MAX_HEAD_BYTES} bytes")));
                }
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(protocol(format!("more than {MAX_HEADERS} headers")));
            }
            Err(e) => {
                let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
                let line = String::from_utf8_lossy(line);
                return Err(protocol(format!("{e} in response head {line:?}")));
            }
        }
    }
}

/// Decides how the body after `head` is delimited and whether the connection stays open.
fn frame(head: RawHead, bodyless: bool) -> Result<ResponseHead, HttpError> {
    let mut length = None;
    let mut chunked = false;
    let mut close = head.http10;
    for (name, raw) in &head.headers {
        let value = raw.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| protocol(format!("bad Content-Length {value:?}")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(protocol("conflicting Content-Length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                if value.rsplit(',').next().map(str::trim) == Some("chunked") {
                    chunked = true;
                } else {
                    return Err(protocol(format!("unsupported Transfer-Encoding {value:?}")));
                }
            }
            "connection" => {
                for t in value.split(',').map(str::trim) {
                    match t {
                        "close" => close = true,
                        "keep-alive" if head.http10 => close = false,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if chunked && length.is_some() {
        return Err(protocol("both Content-Length and chunked"));
    }
    let status = head.status;
    let framing = if bodyless || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(ResponseHead {
        status,
        headers: head.headers,
        framing,
        keep_alive: !close,
    })
}

/// Reads the body `framing` announces, at most `limit` bytes (more: [`HttpError::TooLarge`],
/// and the connection must not be reused).
pub fn read_body(
    r: &mut impl BufRead,
    framing: &Framing,
    limit: u64,
) -> Result<Vec<u8>, HttpError> {
    Ok(match *framing {
        Framing::None => Vec::new(),
        Framing::Length(n) => {
            if n > limit {
                return Err(HttpError::TooLarge { limit });
            }
            let mut body = Vec::with_capacity(n as usize);
            r.take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            body
        }
        Framing::Chunked => read_chunked(r, limit)?,
        Framing::UntilClose => {
            let mut body = Vec::new();
            r.take(limit + 1).read_to_end(&mut body)?;
            if body.len() as u64 > limit {
                return Err(HttpError::TooLarge { limit });
            }
            body
        }
    })
}

/// Decodes a chunked body of at most `limit` bytes with the server's decoder, trailers
/// (at most [`MAX_TRAILER_BYTES`]) skipped.
fn read_chunked(r: &mut impl BufRead, limit: u64) -> Result<Vec<u8>, HttpError> {
    let mut decoder = ChunkedDecoder::new(MAX_TRAILER_BYTES);
    let mut body = Vec::new();
    let mut out = [0u8; CHUNK_BUF];
    while !decoder.is_done() {
        let input = r.fill_buf()?;
        if input.is_empty() {
            return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let (used, made) = decoder
            .decode(input, &mut out)
            .map_err(|e| protocol(format!("bad chunked body: {e:?}")))?;
        r.consume(used);
        if body.len() as u64 + made as u64 > limit {
            return Err(HttpError::TooLarge { limit });
        }
        body.extend_from_slice(&out[..made]);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], limit: u64) -> Result<(Response, bool), HttpError> {
        read_response(&mut BufReader::new(raw), limit)
    }

    #[test]
    fn urls() {
        let u = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("127.0.0.1", 8080, "")
        );
        let u = BaseUrl::parse("http://example.org/mirror/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("example.org", 80, "/mirror")
        );
        assert_eq!(u.to_string(), "http://example.org/mirror");
        let u = BaseUrl::parse("http://[::1]:81/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 81));
        assert_eq!(u.host_header(), "[::1]:81");
        for bad in [
            "https://example.org",
            "example.org",
            "http://",
            "http://u@example.org",
            "http://example.org:0",
            "http://example.org:99999",
            "http://example.org/?x",
            "http://exa mple.org/",
            "http://[::1]x/",
            "http://a:b:80/",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_length_and_keep_alive() {
        let (r, keep) = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
            10,
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), keep),
            (200, &b"hello"[..], true)
        );
        let (_, keep) = parse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            10,
        )
        .unwrap();
        assert!(!keep);
        let (_, keep) = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 10).unwrap();
        assert!(!keep);
        let (_, keep) = parse(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            10,
        )
        .unwrap();
        assert!(keep);
    }

    #[test]
    fn chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let (r, keep) = parse(raw, 100).unwrap();
        assert_eq!((r.body.as_slice(), keep), (&b"hello world"[..], true));
        assert!(matches!(
            parse(raw, 10),
            Err(HttpError::TooLarge { limit: 10 })
        ));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(parse(bad, 100), Err(HttpError::Protocol(_))));
        let huge = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n";
        assert!(matches!(parse(huge, 100), Err(HttpError::Protocol(_))));
    }

    #[test]
    fn limits_and_errors() {
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
                10
            ),
            Err(HttpError::TooLarge { limit: 10 })
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\n\r\nhello world", 5),
            Err(HttpError::TooLarge { .. })
        ));
        let (r, keep) = parse(b"HTTP/1.1 200 OK\r\n\r\nuntil close", 50).unwrap();
        assert_eq!((r.body.as_slice(), keep), (&b"until close"[..], false));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 50),
            Err(HttpError::Io(_))
        ));
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                50
            ),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n", 50),
            Err(HttpError::Protocol(_))
        ));
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..200 {
            big.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        big.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&big, 50), Err(HttpError::Protocol(_))));
        let (r, _) = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
            50,
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"no"[..]));
        let (r, keep) = parse(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            50,
        )
        .unwrap();
        assert_eq!((r.status, r.body.len(), keep), (304, 0, true));
    }
}
