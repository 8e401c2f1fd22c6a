//! Responses: what a handler returns, and how it is written onto the wire.
//!
//! Owns: the status line, `Date`, exactly one `Content-Length` (none for 1xx/204/304), the
//! `Connection` header, and the rule that HEAD, 204 and 304 carry no body. Must never: let a
//! handler's header carry CR/LF into the stream, send a second framing header, or send
//! internal error text (the canned error answers here are fixed, plain texts).

use super::date;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// File bodies up to this size are read into the output buffer and go out with the head in
/// one write; larger ones go by sendfile(2) after the head.
pub const FILE_INLINE_MAX: u64 = 4 * 1024;

/// A response body.
pub enum ResponseBody {
    Empty,
    Static(&'static [u8]),
    Bytes(Vec<u8>),
    /// `len` bytes of shared, immutable bytes from `offset` on (e.g. a cached object: no copy
    /// per request until the write buffer).
    Shared {
        data: Arc<[u8]>,
        offset: usize,
        len: usize,
    },
    /// `len` bytes of `file` from `offset` on (read with `pread`, so the file position does
    /// not matter, the descriptor may be shared (e.g. by a cache), and the handler need not
    /// read it for HEAD).
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

impl ResponseBody {
    pub fn len(&self) -> u64 {
        match self {
            ResponseBody::Empty => 0,
            ResponseBody::Static(b) => b.len() as u64,
            ResponseBody::Bytes(b) => b.len() as u64,
            ResponseBody::Shared { len, .. } => *len as u64,
            ResponseBody::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A header's value: text the program wrote, text built for this response, or text shared
/// with a cache (sent without a copy per response).
#[derive(Debug, Clone)]
pub enum HeaderValue {
    Static(&'static str),
    Owned(String),
    Shared(Arc<str>),
}

impl std::ops::Deref for HeaderValue {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            HeaderValue::Static(s) => s,
            HeaderValue::Owned(s) => s,
            HeaderValue::Shared(s) => s,
        }
    }
}

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        HeaderValue::Static(s)
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue::Owned(s)
    }
}

impl From<Arc<str>> for HeaderValue {
    fn from(s: Arc<str>) -> Self {
        HeaderValue::Shared(s)
    }
}

impl From<Cow<'static, str>> for HeaderValue {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => HeaderValue::Static(s),
            Cow::Owned(s) => HeaderValue::Owned(s),
        }
    }
}

/// A response under construction. Headers are owned; the layer adds `Date`,
/// `Content-Length` and `Connection` itself and ignores handler-set copies of those.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(Cow<'static, str>, HeaderValue)>,
    pub body: ResponseBody,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            // Room for a download's headers: one allocation, not three growths.
            headers: Vec::with_capacity(8),
            body: ResponseBody::Empty,
            close: false,
        }
    }

    /// A `text/plain` response with a fixed text.
    pub fn text(status: u16, text: impl Into<Cow<'static, str>>) -> Response {
        let body = match text.into() {
            Cow::Borrowed(s) => ResponseBody::Static(s.as_bytes()),
            Cow::Owned(s) => ResponseBody::Bytes(s.into_bytes()),
        };
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body)
    }

    /// The plain answer for an error status: its reason phrase and a newline.
    pub fn error(status: u16) -> Response {
        Response::text(status, format!("{}\n", reason(status)))
    }

    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<HeaderValue>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: ResponseBody) -> Response {
        self.body = body;
        self
    }

    pub fn bytes(self, b: Vec<u8>) -> Response {
        self.body(ResponseBody::Bytes(b))
    }

    pub fn close(mut self) -> Response {
        self.close = true;
        self
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b':' && b != b'(' && b != b')')
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The layer's own framing headers, which a handler may not set.
fn reserved(name: &str) -> bool {
    // By length first: most names are none of these lengths (this runs for every header).
    let r: &[&str] = match name.len() {
        4 => &["date"],
        10 => &["connection", "keep-alive"],
        14 => &["content-length"],
        17 => &["transfer-encoding"],
        _ => return false,
    };
    r.iter().any(|r| name.eq_ignore_ascii_case(r))
}

/// Whether a header may go out: text the program wrote (`'static`) is checked in debug builds
/// only; text built at run time (which may carry request input) always.
#[allow(clippy::ptr_arg)] // the point is telling Borrowed from Owned
fn header_ok(n: &Cow<'static, str>, v: &HeaderValue) -> bool {
    match (n, v) {
        (Cow::Borrowed(n), HeaderValue::Static(v)) => {
            debug_assert!(valid_header(n, v), "invalid static header {n:?}: {v:?}");
            true
        }
        _ => valid_header(n, v),
    }
}

/// What is left to send after [`write`] filled the output buffer.
pub enum Rest {
    Nothing,
    /// Stream `len` bytes of the file from `offset` after flushing the buffer.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

fn push_num(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `resp` to `out`. `head_request`: the request was HEAD (no body is sent).
/// `keep_alive`: whether the connection stays open, announced in `Connection`.
/// `version`: the request's minor version (an HTTP/1.0 keep-alive is announced explicitly).
/// A file body that fails to read is answered by a plain 500 instead, and `Err` is returned
/// so the caller closes the connection.
pub fn write(
    out: &mut Vec<u8>,
    resp: Response,
    head_request: bool,
    keep_alive: bool,
    version: u8,
) -> io::Result<Rest> {
    let mark = out.len();
    let status = if (100..=999).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    push_num(out, status as u64);
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&date::now());
    out.extend_from_slice(b"\r\n");
    for (n, v) in &resp.headers {
        if reserved(n) {
            continue;
        }
        if !header_ok(n, v) {
            eprintln!("thetorrent: http: dropped invalid response header {n:?}");
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status < 200 || status == 204 || status == 304;
    let len = resp.body.len();
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        push_num(out, len);
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if bodiless || head_request {
        return Ok(Rest::Nothing);
    }
    match resp.body {
        ResponseBody::Empty => Ok(Rest::Nothing),
        ResponseBody::Static(b) => {
            out.extend_from_slice(b);
            Ok(Rest::Nothing)
        }
        ResponseBody::Bytes(b) => {
            out.extend_from_slice(&b);
            Ok(Rest::Nothing)
        }
        ResponseBody::Shared { data, offset, len } => {
            out.extend_from_slice(&data[offset..offset + len]);
            Ok(Rest::Nothing)
        }
        ResponseBody::File { file, offset, len } if len <= FILE_INLINE_MAX => {
            let at = out.len();
            out.resize(at + len as usize, 0);
            match read_exact_at(&file, &mut out[at..], offset) {
                Ok(()) => Ok(Rest::Nothing),
                Err(e) => {
                    out.truncate(mark);
                    let _ = write(out, Response::error(500), head_request, false, version);
                    Err(e)
                }
            }
        }
        ResponseBody::File { file, offset, len } => Ok(Rest::File { file, offset, len }),
    }
}

/// `pread` until `buf` is full; a file shorter than promised is an error.
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
