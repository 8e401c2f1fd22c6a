//! Request heads: reading one from the wire within the size, count and time limits, and
//! deciding from it how the body is framed and whether the connection stays open.
//!
//! Owns: the request line and header fields, `Content-Length` / `Transfer-Encoding` rules
//! (RFC 9112 section 6), `Connection`, `Expect` and `Host` checks. Must never: read body
//! bytes, buffer more than the head limit, or accept a head whose framing is ambiguous
//! (conflicting lengths, CL with TE, unknown codings): those are refused, never guessed.

use super::config::Config;
use super::wire::{is_timeout, Wire};
use std::mem::MaybeUninit;
use std::ops::Range;
use std::time::Instant;

/// Upper bound of [`Config::max_headers`].
pub const HARD_MAX_HEADERS: usize = 1024;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. The bytes are copied out of the read buffer so the body can be
/// read while the handler still looks at the headers.
#[derive(Debug, Default)]
pub struct Head {
    pub bytes: Vec<u8>,
    pub method: Range<usize>,
    pub target: Range<usize>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    pub framing: Option<Framing>,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// Why no usable head was read; each maps to one answer (or to a silent close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Peer closed, idle timeout, or a socket error before any byte: close silently.
    Gone,
    /// Head larger than the limit, or too many header lines: 431.
    TooLarge,
    /// Not a valid HTTP/1.x request head: 400.
    Malformed,
    /// Ambiguous or invalid body framing: 400.
    BadFraming,
    /// A transfer coding other than chunked: 501.
    UnsupportedCoding,
    /// An `Expect` other than `100-continue`: 417.
    Expectation,
    /// Declared body over the limit: 413.
    BodyTooLarge,
    /// The head did not arrive in time: 408.
    Timeout,
}

impl HeadError {
    /// Status code to answer with, or `None` to close silently.
    pub fn status(self) -> Option<u16> {
        match self {
            HeadError::Gone => None,
            HeadError::TooLarge => Some(431),
            HeadError::Malformed | HeadError::BadFraming => Some(400),
            HeadError::UnsupportedCoding => Some(501),
            HeadError::Expectation => Some(417),
            HeadError::BodyTooLarge => Some(413),
            HeadError::Timeout => Some(408),
        }
    }
}

/// Position of the end of the head (just past the blank line) in `buf`, searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let p = i + p;
        match buf.get(p + 1) {
            Some(b'\n') => return Some(p + 2),
            Some(b'\r') => match buf.get(p + 2) {
                Some(b'\n') => return Some(p + 3),
                Some(_) => {}
                None => return None,
            },
            Some(_) => {}
            None => return None,
        }
        i = p + 1;
    }
    None
}

/// Reads one request head into `head`. `on_first_byte` is called once the first byte of the
/// request is there (the connection stops being idle).
pub fn read_head(
    wire: &mut Wire,
    cfg: &Config,
    head: &mut Head,
    mut on_first_byte: impl FnMut(),
) -> Result<(), HeadError> {
    if wire.buffered().is_empty() {
        wire.shrink_idle();
        // No timer on this wait (it is the one every kept-alive connection makes between
        // requests): the accept loop's idle sweep closes connections idle for too long.
        match wire.fill(None, cfg.max_head_bytes) {
            Ok(0) => return Err(HeadError::Gone),
            Err(e) => {
                // Diagnostic for a rare, open bug (a connection closed with no answer): a
                // client that resets is normal; any other error here is not.
                use std::io::ErrorKind::*;
                if !matches!(
                    e.kind(),
                    ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | TimedOut
                ) {
                    eprintln!("thetorrent: http: read before a request failed: {e}");
                }
                return Err(HeadError::Gone);
            }
            Ok(_) => {}
        }
    }
    on_first_byte();
    // The head's time runs from the first read that leaves it incomplete, right after its
    // first byte; a head that arrives whole in one read (most do) reads no clock.
    let mut first_wait = None;
    let mut deadline = || *first_wait.get_or_insert_with(|| Instant::now() + cfg.head_timeout);
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    loop {
        let skip = wire
            .buffered()
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        wire.consume(skip);
        if !wire.buffered().is_empty() {
            break;
        }
        match wire.fill_until(deadline(), cfg.max_head_bytes) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(HeadError::Timeout),
            Err(_) => return Err(HeadError::Gone),
        }
    }
    let mut scanned: usize = 0;
    let end = loop {
        let buf = wire.buffered();
        if let Some(end) = head_end(buf, scanned, cfg.max_head_bytes)? {
            break end;
        }
        scanned = buf.len();
        // Read up to one byte past the limit, so that "too large" is told from "complete".
        match wire.fill_until(deadline(), cfg.max_head_bytes + 1) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(HeadError::Timeout),
            Err(_) => return Err(HeadError::Gone),
        }
    };
    head.bytes.clear();
    head.bytes.extend_from_slice(&wire.buffered()[..end]);
    wire.consume(end);
    parse(head, cfg)
}

/// The socket-free step of [`read_head`] (also what the fuzz target drives): the end of the
/// head in `buf` (leading empty lines already skipped), or `None` while more bytes are needed.
/// The first `scanned` bytes were searched by an earlier call and held no end. A head longer
/// than `max_head_bytes`, or `max_head_bytes` buffered without an end, is [`HeadError::TooLarge`].
pub fn head_end(
    buf: &[u8],
    scanned: usize,
    max_head_bytes: usize,
) -> Result<Option<usize>, HeadError> {
    if let Some(end) = find_head_end(buf, scanned.saturating_sub(2)) {
        if end > max_head_bytes {
            return Err(HeadError::TooLarge);
        }
        return Ok(Some(end));
    }
    if buf.len() >= max_head_bytes {
        return Err(HeadError::TooLarge);
    }
    Ok(None)
}

fn range_of(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

/// Parses `head.bytes` (a complete head) and decides the framing.
pub fn parse(head: &mut Head, cfg: &Config) -> Result<(), HeadError> {
    let max_headers = cfg.max_headers.clamp(1, HARD_MAX_HEADERS);
    // On the heap, not the coroutine stack: every stack page a connection touches stays
    // resident while it idles (10,000 idle connections must fit in 256 MB).
    let mut storage: Vec<MaybeUninit<httparse::Header<'_>>> = Vec::with_capacity(max_headers);
    storage.resize_with(max_headers, MaybeUninit::uninit);
    let mut req = httparse::Request::new(&mut []);
    let bytes = &head.bytes[..];
    match req.parse_with_uninit_headers(bytes, &mut storage[..max_headers]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    }
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed);
    };
    head.method = range_of(bytes, method.as_bytes());
    head.target = range_of(bytes, path.as_bytes());
    head.version = version;
    head.headers.clear();
    for h in req.headers.iter() {
        head.headers
            .push((range_of(bytes, h.name.as_bytes()), range_of(bytes, h.value)));
    }
    decide(head, cfg)
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(s, |p| p + 1);
    &v[s..e.max(s)]
}

/// Comma-separated list elements of a header value, trimmed, empty ones skipped.
pub fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

/// A Content-Length value: 1 to 19 ASCII digits, nothing else (no sign, no list).
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

/// Decides the body framing and the connection's fate from the headers (RFC 9112 section 6.3).
// Long: the checks follow RFC 9112 section 6.3 in its order, best read in one place.
fn decide(head: &mut Head, cfg: &Config) -> Result<(), HeadError> {
    let mut length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut has_te = false;
    let mut close = false;
    let mut keep_alive = false;
    let mut hosts = 0;
    let mut expect: Option<&[u8]> = None;
    let b = &head.bytes[..];
    for (n, v) in &head.headers {
        let (name, value) = (&b[n.clone()], &b[v.clone()]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let l = parse_length(value).ok_or(HeadError::BadFraming)?;
            if length.is_some_and(|old| old != l) {
                return Err(HeadError::BadFraming);
            }
            length = Some(l);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_te = true;
            codings.extend(tokens(value));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(value) {
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"expect") {
            if expect.is_some() {
                return Err(HeadError::Expectation);
            }
            expect = Some(trim(value));
        }
    }
    // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
    if hosts > 1 || (hosts == 0 && head.version == 1) {
        return Err(HeadError::Malformed);
    }
    let framing = if has_te {
        // Section 6.1: TE in HTTP/1.0 is faulty; TE with CL is a smuggling attempt.
        if length.is_some() || head.version == 0 {
            return Err(HeadError::BadFraming);
        }
        match codings.split_last() {
            Some((last, rest)) if last.eq_ignore_ascii_case(b"chunked") => {
                if rest.iter().any(|c| c.eq_ignore_ascii_case(b"chunked")) {
                    return Err(HeadError::BadFraming);
                }
                if !rest.is_empty() {
                    return Err(HeadError::UnsupportedCoding);
                }
                Framing::Chunked
            }
            _ => return Err(HeadError::BadFraming),
        }
    } else {
        match length {
            None | Some(0) => Framing::Empty,
            Some(l) => Framing::Length(l),
        }
    };
    if let Framing::Length(l) = framing {
        if l > cfg.max_body_bytes {
            return Err(HeadError::BodyTooLarge);
        }
    }
    head.expect_continue = false;
    if let Some(e) = expect {
        // An HTTP/1.0 client cannot expect 100-continue (RFC 9110 section 10.1.1): ignored.
        if head.version == 1 {
            if !e.eq_ignore_ascii_case(b"100-continue") {
                return Err(HeadError::Expectation);
            }
            head.expect_continue = framing != Framing::Empty;
        }
    }
    head.keep_alive = if head.version == 1 {
        !close
    } else {
        keep_alive && !close
    };
    head.framing = Some(framing);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Head, HeadError> {
        let mut h = Head {
            bytes: s.as_bytes().to_vec(),
            ..Head::default()
        };
        parse(&mut h, &Config::default()).map(|_| h)
    }

    #[test]
    fn lengths() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"-1"), None);
        assert_eq!(parse_length(b"+1"), None);
        assert_eq!(parse_length(b"abc"), None);
        assert_eq!(parse_length(b"99999999999999999999"), None);
        assert_eq!(parse_length(b"18446744073709551616"), None);
        assert_eq!(parse_length(b"1,1"), None);
        assert_eq!(parse_length(b""), None);
    }

    #[test]
    fn framing() {
        let h = p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(h.framing, Some(Framing::Length(5)));
        let h = p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(h.framing, Some(Framing::Chunked));
        assert_eq!(
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err(),
            HeadError::BadFraming
        );
        assert_eq!(
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
                .unwrap_err(),
            HeadError::BadFraming
        );
        assert!(
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
                .is_ok()
        );
        assert_eq!(
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err(),
            HeadError::UnsupportedCoding
        );
        assert_eq!(
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
                .unwrap_err(),
            HeadError::BadFraming
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            HeadError::Malformed
        );
        assert!(p("GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r", 0), None);
    }
}
