//! multipart/form-data bodies of `POST /api/upload` and `/autoupload.php`, parsed as they stream.
//!
//! Owns: the boundary taken from the Content-Type header value, the framing of the body into
//! parts (RFC 7578 / RFC 2046), part headers (Content-Disposition `name` / `filename`,
//! Content-Type), and the per-part size limit. Parts whose field name is wanted (`torrent`) are
//! collected up to the limit and handed out as soon as they end; every other field is skipped.
//!
//! Must never: hold more than one wanted part's data (up to the limit) plus a few kilobytes of
//! framing, whatever the body's size; buffer a skipped field or the part of a too-large file
//! (their bytes are counted and dropped as they stream); depend on how the body is split into
//! chunks; panic on any input. It knows nothing of HTTP framing, torrents or the store.

use std::fmt;

use crate::http::request::percent_decode;
use memchr::memmem;

/// Default limit on one part's data: the torrent size limit, 10 MiB.
pub const DEFAULT_MAX_PART_BYTES: usize = 10 * 1024 * 1024;
/// Longest boundary accepted (RFC 2046 allows 1 to 70 characters).
pub const MAX_BOUNDARY_LEN: usize = 70;
/// Largest header block of one part (browsers send ~150 bytes; long file names fit easily).
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Most header lines in one part.
pub const MAX_PART_HEADERS: usize = 16;
/// Most parts in one body, skipped fields included (a form with a few hundred files).
pub const MAX_PARTS: usize = 512;
/// Most bytes before the first boundary (the "preamble", which real clients leave empty).
pub const MAX_PREAMBLE_BYTES: usize = 16 * 1024;
/// Most spaces and tabs allowed after a boundary before its line break ("transport padding").
pub const MAX_BOUNDARY_PADDING: usize = 64;
/// The field names whose parts are kept: `torrent` (curl, requests, Torrage scripts) and
/// `torrent[]` (PHP-style forms with several files).
pub const TORRENT_FIELDS: &[&str] = &["torrent", "torrent[]"];

/// Why a body is not acceptable multipart/form-data. Display gives the stable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The Content-Type is not `multipart/form-data`.
    NotMultipart,
    /// The Content-Type has no `boundary` parameter.
    MissingBoundary,
    /// The boundary is empty, longer than 70 characters or has characters RFC 2046 forbids.
    InvalidBoundary,
    /// No boundary line within the first [`MAX_PREAMBLE_BYTES`] bytes.
    NoBoundary,
    /// A boundary line followed by something other than `--` or a line break.
    MalformedBoundaryLine,
    /// A part's header block is larger than [`MAX_PART_HEADER_BYTES`] or has more than
    /// [`MAX_PART_HEADERS`] lines.
    HeadersTooLarge,
    /// A header line without a colon, or a non-ASCII header name.
    MalformedHeader,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
    /// The body ended before the final boundary (`--boundary--`).
    Truncated,
    /// Memory for a part's data could not be allocated (the server's trouble, not the
    /// client's: answered 503).
    OutOfMemory,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            MultipartError::NotMultipart => "not a multipart/form-data body",
            MultipartError::MissingBoundary => "multipart body without a boundary parameter",
            MultipartError::InvalidBoundary => "invalid multipart boundary",
            MultipartError::NoBoundary => "malformed multipart body: no boundary found",
            MultipartError::MalformedBoundaryLine => "malformed multipart body: bad boundary line",
            MultipartError::HeadersTooLarge => "malformed multipart body: part headers too large",
            MultipartError::MalformedHeader => "malformed multipart body: bad part header",
            MultipartError::TooManyParts => {
                return write!(f, "malformed multipart body: more than {MAX_PARTS} parts")
            }
            MultipartError::Truncated => "malformed multipart body: missing final boundary",
            MultipartError::OutOfMemory => {
                "server busy: no memory for the upload now, retry shortly: nothing was stored"
            }
        };
        f.write_str(s)
    }
}

impl std::error::Error for MultipartError {}

/// A wanted part, complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The field name from Content-Disposition.
    pub name: String,
    /// The file name, if the client sent one, without any directory part (may be empty:
    /// browsers send `filename=""` for an empty file input, with empty data).
    pub filename: Option<String>,
    /// The part's Content-Type, if any.
    pub content_type: Option<String>,
    pub body: PartBody,
}

/// A part's data, or how big it was when over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    Data(Vec<u8>),
    /// The data was `size` bytes, over `limit`; it was discarded as it streamed.
    TooLarge {
        size: u64,
        limit: usize,
    },
}

impl PartBody {
    /// The message for a too-large part: `torrent too large: N bytes (limit L)`.
    pub fn too_large_message(&self) -> Option<String> {
        match self {
            PartBody::TooLarge { size, limit } => {
                Some(format!("torrent too large: {size} bytes (limit {limit})"))
            }
            PartBody::Data(_) => None,
        }
    }
}

/// Extracts the boundary from a Content-Type header value such as
/// `multipart/form-data; boundary="abc"`: media type and parameter names compared without case,
/// the value quoted (with `\` escapes) or a bare token.
pub fn boundary_from_content_type(content_type: &str) -> Result<Vec<u8>, MultipartError> {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let rest = content_type
        .split_once(';')
        .map(|(_, r)| r)
        .unwrap_or_default();
    let value =
        header_param(rest.as_bytes(), b"boundary").ok_or(MultipartError::MissingBoundary)?;
    let ok = !value.is_empty()
        && value.len() <= MAX_BOUNDARY_LEN
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c));
    if ok {
        Ok(value)
    } else {
        Err(MultipartError::InvalidBoundary)
    }
}

/// Finds parameter `want` (case-insensitive) in `; a=b; c="d"` and returns its value, unquoted.
/// A quoted value ends at the first unescaped `"`; `\"` and `\\` are escapes, any other `\` is
/// kept (old browsers send Windows paths unescaped).
fn header_param(params: &[u8], want: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    let n = params.len();
    while i < n {
        // Skip separators and whitespace.
        while i < n && matches!(params[i], b';' | b' ' | b'\t') {
            i += 1;
        }
        let name_start = i;
        while i < n && !matches!(params[i], b'=' | b';') {
            i += 1;
        }
        let pname = trim(&params[name_start..i]);
        let mut value = Vec::new();
        if i < n && params[i] == b'=' {
            i += 1;
            while i < n && matches!(params[i], b' ' | b'\t') {
                i += 1;
            }
            if i < n && params[i] == b'"' {
                i += 1;
                while i < n && params[i] != b'"' {
                    if params[i] == b'\\' && i + 1 < n && matches!(params[i + 1], b'"' | b'\\') {
                        i += 1;
                    }
                    value.push(params[i]);
                    i += 1;
                }
                i += 1; // closing quote (or past the end)
                while i < n && params[i] != b';' {
                    i += 1;
                }
            } else {
                let v_start = i;
                while i < n && params[i] != b';' {
                    i += 1;
                }
                value.extend_from_slice(trim(&params[v_start..i]));
            }
        }
        if pname.eq_ignore_ascii_case(want) {
            return Some(value);
        }
    }
    None
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// What a part header block said.
struct PartHeaders {
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
}

fn parse_part_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let mut h = PartHeaders {
        name: None,
        filename: None,
        content_type: None,
    };
    let mut lines = 0;
    // Unfold obsolete continuation lines by treating them as part of the previous header: we only
    // read two headers, so it is enough to parse each logical header on its own.
    let mut logical: Vec<Vec<u8>> = Vec::new();
    if block.is_empty() {
        return Ok(h); // a part without headers (RFC 2046 allows it): no name, skipped
    }
    for line in block.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        lines += 1;
        if lines > MAX_PART_HEADERS {
            return Err(MultipartError::HeadersTooLarge);
        }
        if line.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            match logical.last_mut() {
                Some(prev) => prev.extend_from_slice(line),
                None => return Err(MultipartError::MalformedHeader),
            }
        } else {
            logical.push(line.to_vec());
        }
    }
    for line in &logical {
        let colon = memchr::memchr(b':', line).ok_or(MultipartError::MalformedHeader)?;
        let hname = &line[..colon];
        if hname.is_empty() || !hname.iter().all(|c| c.is_ascii_graphic()) {
            return Err(MultipartError::MalformedHeader);
        }
        let value = trim(&line[colon + 1..]);
        if hname.eq_ignore_ascii_case(b"content-disposition") {
            let (disp, params) = match memchr::memchr(b';', value) {
                Some(p) => (&value[..p], &value[p..]),
                None => (value, &b""[..]),
            };
            if !trim(disp).eq_ignore_ascii_case(b"form-data") {
                continue; // not a form field: leave name unset, the part is skipped
            }
            h.name = header_param(params, b"name").map(|v| lossy(&v));
            let plain = header_param(params, b"filename");
            let extended = header_param(params, b"filename*").and_then(|v| {
                // charset'language'percent-encoded
                let mut it = v.splitn(3, |&c| c == b'\'');
                let charset = it.next()?;
                let _lang = it.next()?;
                let enc = it.next()?;
                charset
                    .eq_ignore_ascii_case(b"utf-8")
                    .then(|| lossy(&percent_decode(enc, false)))
            });
            h.filename = extended
                .or_else(|| plain.map(|v| lossy(&v)))
                .map(|f| base_name(&f).to_string());
        } else if hname.eq_ignore_ascii_case(b"content-type") {
            h.content_type = Some(lossy(value));
        }
    }
    Ok(h)
}

/// The last component of a file name: RFC 7578 §4.2 says directory information must not be
/// used, and PHP's CURLFile sends the full local path, old browsers a Windows path.
fn base_name(f: &str) -> &str {
    match f.rfind(['/', '\\']) {
        Some(p) => &f[p + 1..],
        None => f,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

enum State {
    /// Looking for the first delimiter.
    Preamble { skipped: usize },
    /// Just after a delimiter: `--` ends the body, padding + CRLF starts a part.
    AfterDelimiter,
    /// Collecting a part's header block; `scanned` bytes of it were searched already (so that
    /// a block arriving byte by byte is not searched again from its start each time).
    Headers { scanned: usize },
    /// In a part's data.
    Body,
    /// After the close delimiter: the epilogue is ignored.
    Done,
}

/// The part being read.
struct Current {
    /// Kept (a wanted field) or only counted.
    meta: Option<(String, Option<String>, Option<String>)>,
    data: Vec<u8>,
    size: u64,
    too_large: bool,
}

/// A push parser: [`feed`](Self::feed) it the body in chunks of any size as they arrive, then
/// call [`finish`](Self::finish). Wanted parts come out of `feed` as soon as their closing
/// boundary is seen.
///
/// Parts are handed out before the whole body is checked: a handler that must store nothing when
/// the body turns out malformed keeps them until `finish` succeeds.
pub struct MultipartParser {
    /// `\r\n--boundary`: the delimiter as it appears before every boundary line.
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    fields: &'static [&'static str],
    max_part_bytes: usize,
    /// Bytes not yet consumed: at most a partial delimiter or header block between calls.
    buf: Vec<u8>,
    state: State,
    parts: usize,
    current: Option<Current>,
    failed: Option<MultipartError>,
}

impl MultipartParser {
    /// A parser for a body with this Content-Type value, keeping the [`TORRENT_FIELDS`] parts up
    /// to `max_part_bytes` each.
    pub fn new(content_type: &str, max_part_bytes: usize) -> Result<Self, MultipartError> {
        Self::with_fields(content_type, max_part_bytes, TORRENT_FIELDS)
    }

    /// As [`new`](Self::new), keeping parts whose field name is one of `fields`.
    pub fn with_fields(
        content_type: &str,
        max_part_bytes: usize,
        fields: &'static [&'static str],
    ) -> Result<Self, MultipartError> {
        let boundary = boundary_from_content_type(content_type)?;
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(&boundary);
        let finder = memmem::Finder::new(&delimiter).into_owned();
        Ok(MultipartParser {
            delimiter,
            finder,
            fields,
            max_part_bytes,
            // The first boundary usually opens the body without a line break before it: a
            // virtual CRLF lets one delimiter pattern find every boundary.
            buf: b"\r\n".to_vec(),
            state: State::Preamble { skipped: 0 },
            parts: 0,
            current: None,
            failed: None,
        })
    }

    /// Feeds the next chunk of the body; completed wanted parts are pushed onto `out`. After an
    /// error every later call returns the same error.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Part>) -> Result<(), MultipartError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if matches!(self.state, State::Done) {
            return Ok(()); // epilogue: ignored, never buffered
        }
        self.buf.extend_from_slice(chunk);
        let r = self.process(out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.buf = Vec::new();
            self.current = None;
        }
        r
    }

    /// Ends the body: an error unless the final boundary was seen.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.state {
            State::Done => Ok(()),
            State::Preamble { .. } => Err(MultipartError::NoBoundary),
            _ => Err(MultipartError::Truncated),
        }
    }

    /// True once the final boundary has been seen (the rest of the body can be discarded).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Advances the state machine over the buffered input, emitting parts into `out`.
    // One match over the parser's states, one arm each: the whole reads best together.
    fn process(&mut self, out: &mut Vec<Part>) -> Result<(), MultipartError> {
        let dlen = self.delimiter.len();
        let mut pos = 0;
        loop {
            let avail = &self.buf[pos..];
            match self.state {
                State::Preamble { skipped } => match self.finder.find(avail) {
                    Some(i) => {
                        pos += i + dlen;
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let drop = avail.len().saturating_sub(dlen - 1);
                        let skipped = skipped + drop;
                        if skipped > MAX_PREAMBLE_BYTES + 2 {
                            return Err(MultipartError::NoBoundary);
                        }
                        pos += drop;
                        self.state = State::Preamble { skipped };
                        break;
                    }
                },
                State::AfterDelimiter => {
                    // Decide as early as possible, so that an error does not depend on how
                    // the body was split.
                    match avail {
                        [] => break,
                        [b'-'] => break,
                        [b'-', b'-', ..] => {
                            self.state = State::Done;
                            pos = self.buf.len();
                            break;
                        }
                        [b'-', ..] => return Err(MultipartError::MalformedBoundaryLine),
                        _ => {}
                    }
                    let pad = avail
                        .iter()
                        .take_while(|&&c| c == b' ' || c == b'\t')
                        .count();
                    if pad > MAX_BOUNDARY_PADDING {
                        return Err(MultipartError::MalformedBoundaryLine);
                    }
                    match &avail[pad..] {
                        [] | [b'\r'] => break,
                        [b'\r', b'\n', ..] => {}
                        _ => return Err(MultipartError::MalformedBoundaryLine),
                    }
                    pos += pad + 2;
                    self.parts += 1;
                    if self.parts > MAX_PARTS {
                        return Err(MultipartError::TooManyParts);
                    }
                    self.state = State::Headers { scanned: 0 };
                }
                State::Headers { scanned } => {
                    let block_end = if avail.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        let from = scanned.saturating_sub(3).min(avail.len());
                        memmem::find(&avail[from..], b"\r\n\r\n").map(|i| (from + i, from + i + 4))
                    };
                    match block_end {
                        Some((end, skip)) => {
                            if end > MAX_PART_HEADER_BYTES {
                                return Err(MultipartError::HeadersTooLarge);
                            }
                            let h = parse_part_headers(&avail[..end])?;
                            let wanted =
                                h.name.as_deref().is_some_and(|n| self.fields.contains(&n));
                            self.current = Some(Current {
                                meta: if wanted {
                                    h.name.map(|n| (n, h.filename, h.content_type))
                                } else {
                                    None
                                },
                                data: Vec::new(),
                                size: 0,
                                too_large: false,
                            });
                            pos += skip;
                            self.state = State::Body;
                        }
                        None => {
                            if avail.len() > MAX_PART_HEADER_BYTES + 4 {
                                return Err(MultipartError::HeadersTooLarge);
                            }
                            self.state = State::Headers {
                                scanned: avail.len(),
                            };
                            break;
                        }
                    }
                }
                State::Body => match self.finder.find(avail) {
                    Some(i) => {
                        let data = &self.buf[pos..pos + i];
                        Self::append(&mut self.current, data, self.max_part_bytes)?;
                        pos += i + dlen;
                        let limit = self.max_part_bytes;
                        if let Some(part) =
                            self.current.take().and_then(|c| Self::complete(c, limit))
                        {
                            out.push(part);
                        }
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        // Everything but a possible partial delimiter at the end is data.
                        let safe = avail.len().saturating_sub(dlen - 1);
                        let data = &self.buf[pos..pos + safe];
                        Self::append(&mut self.current, data, self.max_part_bytes)?;
                        pos += safe;
                        break;
                    }
                },
                State::Done => {
                    pos = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..pos);
        if matches!(self.state, State::Done) {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Adds data to the current part: kept while under the limit, counted and dropped after.
    /// A failed allocation is an error (that upload's), never the process's end.
    fn append(
        current: &mut Option<Current>,
        data: &[u8],
        limit: usize,
    ) -> Result<(), MultipartError> {
        let Some(cur) = current.as_mut() else {
            return Ok(());
        };
        cur.size += data.len() as u64;
        if cur.meta.is_none() || cur.too_large {
            return Ok(());
        }
        if cur.size > limit as u64 {
            cur.too_large = true;
            cur.data = Vec::new(); // release what was held
        } else {
            // Grow by doubling, but never past the limit: a part just under the limit must not
            // hold twice its size.
            let needed = cur.data.len() + data.len();
            if needed > cur.data.capacity() {
                let target = (cur.data.capacity() * 2).max(needed).min(limit.max(needed));
                cur.data
                    .try_reserve_exact(target - cur.data.len())
                    .map_err(|_| MultipartError::OutOfMemory)?;
            }
            cur.data.extend_from_slice(data);
        }
        Ok(())
    }

    fn complete(cur: Current, limit: usize) -> Option<Part> {
        let (name, filename, content_type) = cur.meta?;
        let body = if cur.too_large {
            PartBody::TooLarge {
                size: cur.size,
                limit,
            }
        } else {
            PartBody::Data(cur.data)
        };
        Some(Part {
            name,
            filename,
            content_type,
            body,
        })
    }
}

/// Parses a whole body at once (tests, small bodies): the wanted parts, or the first error.
pub fn parse_all(
    content_type: &str,
    body: &[u8],
    max_part_bytes: usize,
) -> Result<Vec<Part>, MultipartError> {
    let mut p = MultipartParser::new(content_type, max_part_bytes)?;
    let mut out = Vec::new();
    p.feed(body, &mut out)?;
    p.finish()?;
    Ok(out)
}

#[cfg(test)]
impl MultipartParser {
    /// Bytes held by the parser (capacity, not length: what memory it really keeps).
    fn held(&self) -> usize {
        self.buf.capacity() + self.current.as_ref().map_or(0, |c| c.data.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] =
        b"d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee";
    const B: &[u8] =
        b"d4:infod6:lengthi2e4:name1:b12:piece lengthi16384e6:pieces20:BBBBBBBBBBBBBBBBBBBBee";

    /// Captured from `curl -F torrent=@a.torrent` (curl 7.88.1).
    const CURL_CT: &str = "multipart/form-data; boundary=------------------------934fba00d1105375";
    const CURL: &[u8] = b"--------------------------934fba00d1105375\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"a.torrent\"\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee\r\n\
--------------------------934fba00d1105375--\r\n\
";

    /// Captured from `curl -F torrent=@a.torrent -F 'torrent=@b "q".torrent' -F note=hello`.
    const CURL2_CT: &str = "multipart/form-data; boundary=------------------------a61f72ed4e4cc90e";
    const CURL2: &[u8] = b"--------------------------a61f72ed4e4cc90e\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"a.torrent\"\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee\r\n\
--------------------------a61f72ed4e4cc90e\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"b %22q%22.torrent\"\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
d4:infod6:lengthi2e4:name1:b12:piece lengthi16384e6:pieces20:BBBBBBBBBBBBBBBBBBBBee\r\n\
--------------------------a61f72ed4e4cc90e\r\n\
Content-Disposition: form-data; name=\"note\"\r\n\
\r\n\
hello\r\n\
--------------------------a61f72ed4e4cc90e--\r\n\
";

    /// Captured from Python requests 2.34 `files={'torrent': f}, data={'title': 'x y'}`: the
    /// other field first, no Content-Type on the file part.
    const REQUESTS_CT: &str = "multipart/form-data; boundary=e68b5c55f0d3fc646cb98c7631d4dca3";
    const REQUESTS: &[u8] = b"--e68b5c55f0d3fc646cb98c7631d4dca3\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\
\r\n\
x y\r\n\
--e68b5c55f0d3fc646cb98c7631d4dca3\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"a.torrent\"\r\n\
\r\n\
d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee\r\n\
--e68b5c55f0d3fc646cb98c7631d4dca3--\r\n\
";

    /// A browser form (`<input type=file name=torrent multiple>` + a submit button), in the
    /// format Chromium sends: two files, a raw UTF-8 file name, an empty third file input.
    const BROWSER_CT: &str = "multipart/form-data; boundary=----WebKitFormBoundaryx8Z3rQm9kP2vT1aB";
    const BROWSER: &[u8] = b"------WebKitFormBoundaryx8Z3rQm9kP2vT1aB\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"a.torrent\"\r\n\
Content-Type: application/x-bittorrent\r\n\
\r\n\
d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee\r\n\
------WebKitFormBoundaryx8Z3rQm9kP2vT1aB\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"\xc3\x9cber b.torrent\"\r\n\
Content-Type: application/x-bittorrent\r\n\
\r\n\
d4:infod6:lengthi2e4:name1:b12:piece lengthi16384e6:pieces20:BBBBBBBBBBBBBBBBBBBBee\r\n\
------WebKitFormBoundaryx8Z3rQm9kP2vT1aB\r\n\
Content-Disposition: form-data; name=\"other\"; filename=\"\"\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
\r\n\
------WebKitFormBoundaryx8Z3rQm9kP2vT1aB\r\n\
Content-Disposition: form-data; name=\"submit\"\r\n\
\r\n\
Upload\r\n\
------WebKitFormBoundaryx8Z3rQm9kP2vT1aB--\r\n\
";

    const LIMIT: usize = DEFAULT_MAX_PART_BYTES;

    fn data(p: &Part) -> &[u8] {
        match &p.body {
            PartBody::Data(d) => d,
            PartBody::TooLarge { .. } => panic!("too large"),
        }
    }

    /// Feeds `body` in chunks of `size` and returns the parts or the first error.
    fn chunked(
        ct: &str,
        body: &[u8],
        size: usize,
        limit: usize,
    ) -> Result<Vec<Part>, MultipartError> {
        let mut p = MultipartParser::new(ct, limit)?;
        let mut out = Vec::new();
        for c in body.chunks(size.max(1)) {
            p.feed(c, &mut out)?;
        }
        p.finish()?;
        Ok(out)
    }

    /// Every split into two pieces, and every chunk size up to `max_chunk`, gives the same result
    /// as the whole body in one piece.
    fn split_invariant(ct: &str, body: &[u8], limit: usize, max_chunk: usize) {
        let whole = parse_all(ct, body, limit);
        for cut in 0..=body.len() {
            let mut p = MultipartParser::new(ct, limit).unwrap();
            let mut out = Vec::new();
            let r = p
                .feed(&body[..cut], &mut out)
                .and_then(|()| p.feed(&body[cut..], &mut out))
                .and_then(|()| p.finish());
            assert_eq!(r.map(|()| out), whole, "split at {cut}");
        }
        for size in 1..=max_chunk {
            assert_eq!(chunked(ct, body, size, limit), whole, "chunks of {size}");
        }
    }

    #[test]
    fn curl_single_file() {
        let parts = parse_all(CURL_CT, CURL, LIMIT).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "torrent");
        assert_eq!(parts[0].filename.as_deref(), Some("a.torrent"));
        assert_eq!(
            parts[0].content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(data(&parts[0]), A);
    }

    #[test]
    fn curl_two_files_and_a_field() {
        let parts = parse_all(CURL2_CT, CURL2, LIMIT).unwrap();
        assert_eq!(parts.len(), 2, "the note field is skipped");
        assert_eq!(data(&parts[0]), A);
        assert_eq!(data(&parts[1]), B);
        assert_eq!(parts[1].filename.as_deref(), Some("b %22q%22.torrent"));
    }

    #[test]
    fn python_requests() {
        let parts = parse_all(REQUESTS_CT, REQUESTS, LIMIT).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].content_type, None);
        assert_eq!(data(&parts[0]), A);
    }

    #[test]
    fn browser_several_files() {
        let parts = parse_all(BROWSER_CT, BROWSER, LIMIT).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(data(&parts[0]), A);
        assert_eq!(data(&parts[1]), B);
        assert_eq!(parts[1].filename.as_deref(), Some("\u{dc}ber b.torrent"));
        assert_eq!(
            parts[1].content_type.as_deref(),
            Some("application/x-bittorrent")
        );
        // An empty file input under the torrent name comes out as an empty part.
        let body = std::str::from_utf8(BROWSER)
            .unwrap()
            .replace("name=\"other\"", "name=\"torrent\"");
        let parts = parse_all(BROWSER_CT, body.as_bytes(), LIMIT).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].filename.as_deref(), Some(""));
        assert_eq!(data(&parts[2]), b"");
    }

    #[test]
    fn every_split_gives_the_same_result() {
        for (ct, body) in [
            (CURL_CT, CURL),
            (CURL2_CT, CURL2),
            (REQUESTS_CT, REQUESTS),
            (BROWSER_CT, BROWSER),
        ] {
            split_invariant(ct, body, LIMIT, 80);
            // And with a limit that the files exceed: still split-independent.
            split_invariant(ct, body, 50, 80);
        }
    }

    #[test]
    fn binary_data_with_boundary_lookalikes() {
        // Data full of CR, LF, dashes and boundary prefixes, and every byte value.
        let b = "XyZ";
        let mut file: Vec<u8> = (0..=255u8).collect();
        file.extend_from_slice(b"\r\n--Xy_not\r\n--Xy\r\n-\r\n\r\n--Xy");
        file.extend_from_slice(b"\r\n--X");
        let mut body = Vec::new();
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=torrent; filename=x\r\n\r\n",
        );
        body.extend_from_slice(&file);
        body.extend_from_slice(b"\r\n--XyZ--");
        let ct = format!("multipart/form-data; boundary={b}");
        let parts = parse_all(&ct, &body, LIMIT).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(data(&parts[0]), &file[..]);
        split_invariant(&ct, &body, LIMIT, 40);
    }

    #[test]
    fn content_type_forms() {
        let want = b"abc".to_vec();
        for ct in [
            "multipart/form-data; boundary=abc",
            "multipart/form-data; boundary=\"abc\"",
            "Multipart/Form-Data; BOUNDARY=abc",
            "multipart/form-data;boundary=abc;charset=utf-8",
            "multipart/form-data; charset=utf-8; Boundary=\"abc\"",
            "multipart/form-data ; boundary = abc ",
        ] {
            assert_eq!(boundary_from_content_type(ct), Ok(want.clone()), "{ct}");
        }
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=\"a b:c\""),
            Ok(b"a b:c".to_vec())
        );
        assert_eq!(
            boundary_from_content_type("application/x-www-form-urlencoded"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary_from_content_type("multipart/mixed; boundary=abc"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data"),
            Err(MultipartError::MissingBoundary)
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary="),
            Err(MultipartError::InvalidBoundary)
        );
        assert_eq!(
            boundary_from_content_type(&format!(
                "multipart/form-data; boundary={}",
                "x".repeat(71)
            )),
            Err(MultipartError::InvalidBoundary)
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=\"ab\r\nc\""),
            Err(MultipartError::InvalidBoundary)
        );
    }

    #[test]
    fn part_header_forms() {
        let ct = "multipart/form-data; boundary=b";
        let body = b"--b\r\n\
content-disposition: form-data; NAME=torrent; FileName=a.torrent\r\n\
CONTENT-TYPE:application/x-bittorrent\r\n\
\r\n\
1\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"C:\\dir\\b.torrent\"\r\n\
\r\n\
2\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"torrent\"; filename=\"q\\\"x\"; filename*=UTF-8''%C3%A9.torrent\r\n\
\r\n\
3\r\n\
--b\r\n\
Content-Disposition: form-data; name=\"torrent[]\"; filename=\"with; semicolon.torrent\"\r\n\
\r\n\
4\r\n\
--b\r\n\
\r\n\
no headers: skipped\r\n\
--b  \t\r\n\
Content-Disposition: attachment; name=\"torrent\"\r\n\
\r\n\
not form-data: skipped\r\n\
--b--";
        let parts = parse_all(ct, body, LIMIT).unwrap();
        let got: Vec<(&str, Option<&str>, &[u8])> = parts
            .iter()
            .map(|p| (p.name.as_str(), p.filename.as_deref(), data(p)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("torrent", Some("a.torrent"), &b"1"[..]),
                ("torrent", Some("b.torrent"), &b"2"[..]),
                ("torrent", Some("\u{e9}.torrent"), &b"3"[..]),
                ("torrent[]", Some("with; semicolon.torrent"), &b"4"[..]),
            ]
        );
        assert_eq!(
            parts[0].content_type.as_deref(),
            Some("application/x-bittorrent")
        );
        split_invariant(ct, body, LIMIT, 30);
    }

    #[test]
    fn preamble_and_epilogue_are_ignored() {
        let ct = "multipart/form-data; boundary=b";
        let body = b"This is a preamble.\r\n--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\nx\r\n--b--\r\nepilogue --b\r\n garbage";
        let parts = parse_all(ct, body, LIMIT).unwrap();
        assert_eq!(data(&parts[0]), b"x");
        split_invariant(ct, body, LIMIT, 20);
    }

    #[test]
    fn part_over_the_limit() {
        let limit = 1000;
        let ct = "multipart/form-data; boundary=b";
        let mut body =
            b"--b\r\nContent-Disposition: form-data; name=torrent; filename=big\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 1001));
        body.extend_from_slice(b"\r\n--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\n");
        body.extend(std::iter::repeat_n(b'y', 1000));
        body.extend_from_slice(b"\r\n--b--\r\n");
        let parts = parse_all(ct, &body, limit).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, PartBody::TooLarge { size: 1001, limit });
        assert_eq!(
            parts[0].body.too_large_message().unwrap(),
            "torrent too large: 1001 bytes (limit 1000)"
        );
        assert_eq!(parts[0].filename.as_deref(), Some("big"));
        assert_eq!(data(&parts[1]).len(), 1000, "exactly the limit is fine");
        for size in [1, 7, 999, 1000, 1001, 4096] {
            assert_eq!(
                chunked(ct, &body, size, limit),
                Ok(parts.clone()),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn memory_does_not_grow_with_a_rejected_body() {
        let limit = 64 * 1024;
        let ct = "multipart/form-data; boundary=b";
        let mut p = MultipartParser::new(ct, limit).unwrap();
        let mut out = Vec::new();
        p.feed(
            b"--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\n",
            &mut out,
        )
        .unwrap();
        let chunk = vec![b'z'; 16 * 1024];
        for _ in 0..(64 * 1024 * 1024 / chunk.len()) {
            p.feed(&chunk, &mut out).unwrap();
            assert!(p.held() <= limit + 3 * chunk.len(), "holds {}", p.held());
        }
        // After the limit was passed the data was released: only the framing buffer remains.
        assert!(p.held() <= 2 * chunk.len(), "holds {}", p.held());
        // A skipped field is never held either.
        let mut q = MultipartParser::new(ct, limit).unwrap();
        q.feed(
            b"--b\r\nContent-Disposition: form-data; name=other\r\n\r\n",
            &mut out,
        )
        .unwrap();
        for _ in 0..1000 {
            q.feed(&chunk, &mut out).unwrap();
            assert!(q.held() <= 2 * chunk.len());
        }
        p.feed(b"\r\n--b--", &mut out).unwrap();
        p.finish().unwrap();
        assert_eq!(
            out,
            vec![Part {
                name: "torrent".into(),
                filename: None,
                content_type: None,
                body: PartBody::TooLarge {
                    size: 64 * 1024 * 1024,
                    limit
                },
            }]
        );
    }

    #[test]
    fn errors() {
        let ct = "multipart/form-data; boundary=b";
        let cases: &[(&[u8], MultipartError)] = &[
            (b"", MultipartError::NoBoundary),
            (b"garbage without any boundary", MultipartError::NoBoundary),
            (b"--b", MultipartError::Truncated),
            (b"--b\r\n", MultipartError::Truncated),
            (
                b"--b\r\nContent-Disposition: form-data; name=torrent\r\n",
                MultipartError::Truncated,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\ndata",
                MultipartError::Truncated,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\ndata\r\n--b",
                MultipartError::Truncated,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=torrent\r\n\r\ndata\r\n--b\r\n",
                MultipartError::Truncated,
            ),
            (b"--bX\r\n", MultipartError::MalformedBoundaryLine),
            (b"--b\n", MultipartError::MalformedBoundaryLine),
            (
                b"--b\r\nno colon here\r\n\r\nx\r\n--b--",
                MultipartError::MalformedHeader,
            ),
            (
                b"--b\r\n: empty name\r\n\r\nx\r\n--b--",
                MultipartError::MalformedHeader,
            ),
            (
                b"--b\r\n folded first\r\n\r\nx\r\n--b--",
                MultipartError::MalformedHeader,
            ),
        ];
        for (body, want) in cases {
            for size in [1, 2, 3, 1000] {
                assert_eq!(
                    chunked(ct, body, size, LIMIT).as_ref().err(),
                    Some(want),
                    "{:?} in chunks of {size}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        // Header block too large, too many header lines, too many parts, preamble too long.
        let mut big = b"--b\r\nX-A: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_PART_HEADER_BYTES + 10));
        assert_eq!(
            chunked(ct, &big, 100, LIMIT),
            Err(MultipartError::HeadersTooLarge)
        );
        let many = format!(
            "--b\r\n{}\r\nx\r\n--b--",
            "X-A: 1\r\n".repeat(MAX_PART_HEADERS + 1)
        );
        assert_eq!(
            parse_all(ct, many.as_bytes(), LIMIT),
            Err(MultipartError::HeadersTooLarge)
        );
        let parts = format!("{}--b--", "--b\r\n\r\nx\r\n".repeat(MAX_PARTS + 1));
        assert_eq!(
            parse_all(ct, parts.as_bytes(), LIMIT),
            Err(MultipartError::TooManyParts)
        );
        let preamble = vec![b'p'; MAX_PREAMBLE_BYTES + 100];
        assert_eq!(
            chunked(ct, &preamble, 1000, LIMIT),
            Err(MultipartError::NoBoundary)
        );
        // Errors are sticky.
        let mut p = MultipartParser::new(ct, LIMIT).unwrap();
        let mut out = Vec::new();
        assert!(p.feed(b"--bX", &mut out).is_err());
        assert!(p.feed(b"--b--", &mut out).is_err());
        assert!(p.finish().is_err());
    }

    #[test]
    fn error_messages_are_stable() {
        assert_eq!(
            MultipartError::Truncated.to_string(),
            "malformed multipart body: missing final boundary"
        );
        assert_eq!(
            MultipartError::NotMultipart.to_string(),
            "not a multipart/form-data body"
        );
        assert_eq!(
            MultipartError::TooManyParts.to_string(),
            format!("malformed multipart body: more than {MAX_PARTS} parts")
        );
    }

    #[test]
    fn truncations_and_mutations_never_panic() {
        for (ct, body) in [
            (CURL2_CT, CURL2),
            (BROWSER_CT, BROWSER),
            (REQUESTS_CT, REQUESTS),
        ] {
            for cut in 0..body.len() {
                let r = parse_all(ct, &body[..cut], LIMIT);
                // Only the final CRLF (epilogue) may be cut off.
                if cut + 2 < body.len() {
                    assert!(r.is_err(), "cut at {cut} accepted");
                }
            }
            let mut b = body.to_vec();
            for i in 0..b.len() {
                let orig = b[i];
                for x in [b'\r', b'\n', b'-', b'"', b';', b':', 0, 0xFF] {
                    b[i] = x;
                    let _ = parse_all(ct, &b, 40);
                    let _ = chunked(ct, &b, 3, 40);
                }
                b[i] = orig;
            }
        }
        // Pseudo-random garbage, with and without a boundary in it.
        let mut seed = 0x2545F4914F6CDD1Du64;
        for n in 0..2000 {
            let len = (n % 200) + 1;
            let mut g: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"-\r\nb:;= \"xa"[(seed % 11) as usize]
                })
                .collect();
            if n % 2 == 0 {
                g.splice(0..0, b"--b\r\n".iter().copied());
            }
            let _ = chunked("multipart/form-data; boundary=b", &g, 1 + n % 7, 10);
        }
    }
}
