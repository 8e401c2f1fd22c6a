//! SOAP 1.1 for `POST /api/soap`: request parsing, response and Fault rendering, and the WSDL.
//!
//! Owns: a small XML reader (written with `nom`) that understands exactly as much XML as a SOAP
//! envelope needs, the extraction and base64 decoding of the `torrent` part of `storeTorrent` /
//! `cacheTorrent`, the rpc/literal response and Fault envelopes, and `wsdl/thetorrent.wsdl`.
//!
//! Must never: expand a DTD or any entity other than the five predefined ones and character
//! references, fetch anything, recurse without a bound (it runs on `may` coroutines whose stacks do
//! not grow: the reader iterates with an explicit, depth-limited stack), panic on any input, or
//! look at a namespace prefix to decide what an element is (clients use `SOAP-ENV`, `soap`,
//! `soap-env`, `ns1`, `tns`, `ns0`: only local names count). It knows nothing of HTTP, torrents
//! or the store: the caller validates and stores the decoded bytes.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_until, take_while, take_while1};
use nom::sequence::delimited;
use nom::{IResult, Parser};

/// Deepest element nesting accepted. A SOAP request needs 4 (Envelope, Body, operation, part);
/// the margin leaves room for Header blocks some toolkits add.
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one request (a request has 4 or 5).
pub const MAX_ELEMENTS: usize = 1024;
/// Most attributes accepted on one element (SOAP::Lite puts 7 on its Envelope).
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest element or attribute name accepted, prefix included.
pub const MAX_NAME_LEN: usize = 256;
/// Default limit on the decoded torrent (the store's torrent size limit, 10 MiB). It also bounds
/// the text kept from a request: the torrent part's base64 is kept up to the length that decodes
/// to this many bytes (then only counted); all other text is checked and dropped.
pub const DEFAULT_MAX_TORRENT_BYTES: usize = 10 * 1024 * 1024;
/// Largest request body the HTTP layer should hand to [`parse_request`]: the base64 of a
/// 10 MiB torrent (14 MB), its line breaks (Perl adds one every 76 characters) and the envelope,
/// with room to spare. Bodies over this are refused before parsing (413).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// The service namespace of the WSDL; responses put their response element in it.
pub const NAMESPACE: &str = "urn:TorrentService";
/// Content-Type of every SOAP 1.1 answer (responses and Faults).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// HTTP status of a Fault: SOAP 1.1 §6.2 requires 500 for every Fault (Client ones included),
/// and PHP SoapClient, SOAP::Lite and zeep all read the Fault body from a 500.
pub const FAULT_HTTP_STATUS: u16 = 500;

const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSDL_TEMPLATE: &str = include_str!("../../../wsdl/thetorrent.wsdl");
const BASE_URL_PLACEHOLDER: &str = "{{BASE_URL}}";

/// Base64 as clients send it: standard alphabet, padding optional (some hand-written clients drop
/// it), non-zero trailing bits tolerated (lenient decoders such as Perl's produce the same bytes).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The operations of the WSDL. `cacheTorrent` is the name Torrage-era scripts call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    StoreTorrent,
    CacheTorrent,
}

impl Operation {
    /// The operation's name as it appears in the WSDL and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Operation::StoreTorrent => "storeTorrent",
            Operation::CacheTorrent => "cacheTorrent",
        }
    }

    fn from_local_name(name: &[u8]) -> Option<Operation> {
        match name {
            b"storeTorrent" => Some(Operation::StoreTorrent),
            b"cacheTorrent" => Some(Operation::CacheTorrent),
            _ => None,
        }
    }
}

/// A parsed request: which operation, and the decoded bytes of its `torrent` part (not yet
/// checked to be a torrent: that is the torrent module's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapCall {
    pub operation: Operation,
    pub torrent: Vec<u8>,
}

/// Who is at fault, as SOAP 1.1 says it: `soap:Client` for bad input, `soap:Server` for ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    Client,
    Server,
}

/// Why a request was refused. Every variant is the client's fault (`soap:Client`); the Display
/// text is the stable message that goes into the Fault's `faultstring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapError {
    /// Not well-formed XML, or XML this reader does not accept. `at` is a byte offset in the body.
    Xml { at: usize, reason: &'static str },
    /// A `<!DOCTYPE`: DTDs are refused outright (entity bombs, external entities).
    Doctype { at: usize },
    /// `&name;` other than `amp`, `lt`, `gt`, `quot`, `apos`.
    UndefinedEntity { at: usize },
    /// `&#…;` that is malformed or names a code point XML does not allow.
    InvalidCharRef { at: usize },
    /// Elements nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements.
    TooManyElements,
    /// More than [`MAX_ATTRIBUTES`] attributes on one element.
    TooManyAttributes { at: usize },
    /// A name longer than [`MAX_NAME_LEN`].
    NameTooLong { at: usize },
    /// The root element is not a SOAP `Envelope` (its local name, shortened).
    NotEnvelope(String),
    /// The Envelope has no `Body`.
    NoBody,
    /// The Body has no element in it.
    NoOperation,
    /// The Body's element is not an operation of the service (its local name, shortened).
    UnknownOperation(String),
    /// The operation element has no child element.
    NoTorrentPart,
    /// The `torrent` part holds elements instead of text.
    PartNotText,
    /// The `torrent` part is empty (or only whitespace).
    EmptyTorrent,
    /// The decoded torrent would exceed the size limit.
    TooLarge { size: u64, limit: usize },
    /// A byte that is not base64, or a misplaced `=`; `at` counts base64 characters from 0,
    /// whitespace not counted.
    Base64 { at: usize },
    /// The base64 ends in the middle of a byte (a lone character in the last group of four).
    Base64Truncated { len: usize },
    /// Padding that base64 does not allow.
    Base64Padding,
}

impl SoapError {
    /// Every parse error is the client's: the request was bad.
    pub fn fault_code(&self) -> FaultCode {
        FaultCode::Client
    }
}

impl fmt::Display for SoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapError::Xml { at, reason } => write!(f, "malformed XML at byte {at}: {reason}"),
            SoapError::Doctype { at } => {
                write!(f, "malformed XML at byte {at}: DOCTYPE is not allowed")
            }
            SoapError::UndefinedEntity { at } => {
                write!(f, "malformed XML at byte {at}: undefined entity")
            }
            SoapError::InvalidCharRef { at } => {
                write!(f, "malformed XML at byte {at}: invalid character reference")
            }
            SoapError::TooDeep => write!(f, "XML nested deeper than {MAX_DEPTH} elements"),
            SoapError::TooManyElements => write!(f, "XML has more than {MAX_ELEMENTS} elements"),
            SoapError::TooManyAttributes { at } => write!(
                f,
                "malformed XML at byte {at}: more than {MAX_ATTRIBUTES} attributes"
            ),
            SoapError::NameTooLong { at } => write!(
                f,
                "malformed XML at byte {at}: name longer than {MAX_NAME_LEN} bytes"
            ),
            SoapError::NotEnvelope(name) => {
                write!(f, "not a SOAP envelope: root element is <{name}>")
            }
            SoapError::NoBody => write!(f, "SOAP envelope has no Body"),
            SoapError::NoOperation => write!(f, "SOAP Body has no operation"),
            SoapError::UnknownOperation(name) => write!(
                f,
                "unknown operation <{name}> (expected storeTorrent or cacheTorrent)"
            ),
            SoapError::NoTorrentPart => write!(f, "missing torrent part"),
            SoapError::PartNotText => write!(f, "torrent part must be base64 text"),
            SoapError::EmptyTorrent => write!(f, "empty torrent part"),
            SoapError::TooLarge { size, limit } => {
                write!(f, "torrent too large: {size} bytes (limit {limit})")
            }
            SoapError::Base64 { at } => write!(f, "invalid base64 at byte {at}"),
            SoapError::Base64Truncated { len } => {
                write!(f, "invalid base64: truncated after {len} characters")
            }
            SoapError::Base64Padding => write!(f, "invalid base64: bad padding"),
        }
    }
}

impl std::error::Error for SoapError {}

// ---------------------------------------------------------------------------------------------
// The XML reader: a tokenizer (nom, one token at a time, no recursion) and a loop that keeps the
// open elements on an explicit stack bounded by MAX_DEPTH.

/// One lexical item of the document. Slices borrow the body.
enum Token<'a> {
    /// Character data, references not yet decoded.
    Text(&'a [u8]),
    /// The content of a CDATA section (taken literally).
    CData(&'a [u8]),
    /// A start tag; `empty` for `<x/>`.
    Start { name: &'a [u8], empty: bool },
    /// An end tag.
    End { name: &'a [u8] },
    /// A comment, processing instruction or XML declaration: ignored.
    Skip,
}

type Res<'a, T> = IResult<&'a [u8], T>;

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that may appear in a name. Everything at or above 0x80 is accepted so that non-ASCII
/// names (allowed by XML) are read; nothing we look for uses them.
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.') || c >= 0x80
}

fn name(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(is_name_char)(i)
}

fn quoted_value(i: &[u8]) -> Res<'_, &[u8]> {
    alt((
        delimited(tag("\""), take_till(|c| c == b'"' || c == b'<'), tag("\"")),
        delimited(tag("'"), take_till(|c| c == b'\'' || c == b'<'), tag("'")),
    ))
    .parse(i)
}

/// `name S? = S? "value"` (leading whitespace already consumed).
fn attribute(i: &[u8]) -> Res<'_, (&[u8], &[u8])> {
    let (i, n) = name(i)?;
    let (i, _) = take_while(is_ws)(i)?;
    let (i, _) = tag("=")(i)?;
    let (i, _) = take_while(is_ws)(i)?;
    let (i, v) = quoted_value(i)?;
    Ok((i, (n, v)))
}

/// Local part of a qualified name: what follows the first `:` (or the whole name).
fn local_name(qname: &[u8]) -> &[u8] {
    match memchr::memchr(b':', qname) {
        Some(p) => &qname[p + 1..],
        None => qname,
    }
}

/// A name is well-formed if it does not start with a digit, `-` or `.`, and has at most one `:`
/// with something on both sides.
fn name_is_valid(n: &[u8]) -> bool {
    let first_ok = n
        .first()
        .is_some_and(|&c| !(c.is_ascii_digit() || c == b'-' || c == b'.' || c == b':'));
    let colons = n.iter().filter(|&&c| c == b':').count();
    first_ok && colons <= 1 && n.last() != Some(&b':')
}

/// Shortens a name for an error message (names are at most MAX_NAME_LEN, but keep it readable).
fn display_name(n: &[u8]) -> String {
    let n = &n[..n.len().min(64)];
    String::from_utf8_lossy(n).into_owned()
}

/// Reads one token at `i` (which is not empty). `base` is the offset of `i` in the body, for
/// error messages. Attribute values are checked (references) but not kept: nothing we need is in
/// an attribute.
fn next_token(i: &[u8], base: usize) -> Result<(&[u8], Token<'_>), SoapError> {
    let err = |at: usize, reason: &'static str| SoapError::Xml { at, reason };
    if i.first() != Some(&b'<') {
        // Text runs to the next `<` (memchr: the base64 text is nearly the whole envelope).
        let end = memchr::memchr(b'<', i).unwrap_or(i.len());
        return Ok((&i[end..], Token::Text(&i[..end])));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<!--")(i) {
        let (rest, _) = take_until::<_, _, nom::error::Error<&[u8]>>("-->")(rest)
            .map_err(|_| err(base, "unterminated comment"))?;
        return Ok((&rest[3..], Token::Skip));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<![CDATA[")(i) {
        let (rest, data) = take_until::<_, _, nom::error::Error<&[u8]>>("]]>")(rest)
            .map_err(|_| err(base, "unterminated CDATA section"))?;
        return Ok((&rest[3..], Token::CData(data)));
    }
    if i.len() >= 9 && i[..9].eq_ignore_ascii_case(b"<!DOCTYPE") {
        return Err(SoapError::Doctype { at: base });
    }
    if i.starts_with(b"<!") {
        return Err(err(base, "markup declarations are not allowed"));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<?")(i) {
        let (rest, _) = take_until::<_, _, nom::error::Error<&[u8]>>("?>")(rest)
            .map_err(|_| err(base, "unterminated processing instruction"))?;
        return Ok((&rest[2..], Token::Skip));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("</")(i) {
        let (rest, n) = name(rest).map_err(|_| err(base, "bad end tag"))?;
        if n.len() > MAX_NAME_LEN {
            return Err(SoapError::NameTooLong { at: base });
        }
        let (rest, _) = take_while::<_, _, nom::error::Error<&[u8]>>(is_ws)(rest)
            .map_err(|_| err(base, "bad end tag"))?;
        let (rest, _) = tag::<_, _, nom::error::Error<&[u8]>>(">")(rest)
            .map_err(|_| err(base, "bad end tag"))?;
        return Ok((rest, Token::End { name: n }));
    }
    // A start tag.
    let (mut rest, n) = name(&i[1..]).map_err(|_| err(base, "bad start tag"))?;
    if n.len() > MAX_NAME_LEN {
        return Err(SoapError::NameTooLong { at: base });
    }
    if !name_is_valid(n) {
        return Err(err(base, "bad element name"));
    }
    let mut attrs = 0usize;
    loop {
        let (r, ws) = take_while::<_, _, nom::error::Error<&[u8]>>(is_ws)(rest)
            .map_err(|_| err(base, "bad start tag"))?;
        if let Some(r) = r.strip_prefix(b"/>") {
            return Ok((
                r,
                Token::Start {
                    name: n,
                    empty: true,
                },
            ));
        }
        if let Some(r) = r.strip_prefix(b">") {
            return Ok((
                r,
                Token::Start {
                    name: n,
                    empty: false,
                },
            ));
        }
        if ws.is_empty() {
            return Err(err(base, "bad start tag"));
        }
        let (r, (an, value)) = attribute(r).map_err(|_| err(base, "bad attribute"))?;
        if an.len() > MAX_NAME_LEN {
            return Err(SoapError::NameTooLong { at: base });
        }
        attrs += 1;
        if attrs > MAX_ATTRIBUTES {
            return Err(SoapError::TooManyAttributes { at: base });
        }
        // Offset of the value inside the body, for reference errors.
        let value_at = base + (i.len() - r.len()) - value.len() - 1;
        decode_text(value, value_at, &mut |_| {})?;
        rest = r;
    }
}

/// Decodes character data: the five predefined entities and numeric character references;
/// anything else after `&` is an error. Decoded pieces are handed to `sink`. `base` is the
/// offset of `raw` in the body.
fn decode_text(raw: &[u8], base: usize, sink: &mut dyn FnMut(&[u8])) -> Result<(), SoapError> {
    let mut pos = 0;
    while pos < raw.len() {
        let amp = match memchr::memchr(b'&', &raw[pos..]) {
            Some(a) => pos + a,
            None => {
                sink(&raw[pos..]);
                return Ok(());
            }
        };
        sink(&raw[pos..amp]);
        let at = base + amp;
        let (rest, decoded) = reference(&raw[amp..], at)?;
        let mut utf8 = [0u8; 4];
        sink(decoded.encode_utf8(&mut utf8).as_bytes());
        pos = raw.len() - rest.len();
    }
    Ok(())
}

/// One `&…;` reference at the start of `i` (which starts with `&`).
fn reference(i: &[u8], at: usize) -> Result<(&[u8], char), SoapError> {
    let semi = match memchr::memchr(b';', &i[..i.len().min(16)]) {
        Some(s) => s,
        None => return Err(SoapError::UndefinedEntity { at }),
    };
    let body = &i[1..semi];
    let rest = &i[semi + 1..];
    let c = match body {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        [b'#', b'x', hex @ ..] => char_ref(hex, 16).ok_or(SoapError::InvalidCharRef { at })?,
        [b'#', dec @ ..] => char_ref(dec, 10).ok_or(SoapError::InvalidCharRef { at })?,
        _ => return Err(SoapError::UndefinedEntity { at }),
    };
    Ok((rest, c))
}

/// The character of a numeric reference, if its digits are valid and it is an XML `Char`
/// (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]).
fn char_ref(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None; // from_str_radix would accept a leading '+'
    }
    let v = u32::from_str_radix(s, radix).ok()?;
    let ok = matches!(v, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    if ok {
        char::from_u32(v)
    } else {
        None
    }
}

/// The base64 alphabet (`A-Z a-z 0-9 + /`), as a table for the collector's fast path.
const BASE64_SYMBOL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        c += 1;
    }
    t
};

/// Collects the base64 text of the torrent part without its whitespace, and counts it past the
/// point where it stops being kept (so an oversized torrent is reported with its size but never
/// held in memory beyond the limit).
///
/// Nearly every client (PHP, zeep, anything without line breaks) sends the part as one text
/// run with no references: that run is only borrowed from the body (`single`) and handed to the
/// decoder as it is, with no copy and no scan of its own. Only when a second piece arrives, or
/// when that direct decode fails (line breaks, a bad byte, a size over the limit), is the text
/// walked here, and the errors are then the same as if it had been walked from the start.
struct Base64Collector<'a> {
    /// The part's only piece so far, borrowed from the body and not walked yet.
    single: Option<&'a [u8]>,
    kept: Vec<u8>,
    /// Base64 symbols seen (not whitespace, not `=`).
    symbols: u64,
    /// Once this many bytes are kept the torrent is certainly over the limit: stop keeping.
    keep_max: usize,
    /// Position (whitespace not counted) of the first byte that is neither a base64 symbol
    /// nor `=`: the error names it (the decoder checks the last group first and would name a
    /// later one).
    first_invalid: Option<u64>,
    /// Bytes seen, whitespace not counted.
    seen: u64,
    /// The decoded-size limit.
    limit: usize,
}

impl<'a> Base64Collector<'a> {
    fn new(limit: usize) -> Self {
        Base64Collector {
            single: None,
            kept: Vec::new(),
            symbols: 0,
            keep_max: limit.saturating_add(2) / 3 * 4 + 8,
            first_invalid: None,
            seen: 0,
            limit,
        }
    }

    /// A piece of the text that lives in the body: kept by reference if it is the first.
    fn push_borrowed(&mut self, piece: &'a [u8]) {
        // `seen` counts every byte kept: nothing seen, nothing collected yet.
        if self.single.is_none() && self.seen == 0 {
            self.single = Some(piece);
        } else {
            self.push(piece);
        }
    }

    /// Walks the borrowed piece, if any, into `kept`.
    fn walk_single(&mut self) {
        if let Some(s) = self.single.take() {
            self.push(s);
        }
    }

    fn push(&mut self, piece: &[u8]) {
        self.walk_single();
        let mut rest = piece;
        while !rest.is_empty() {
            // Runs of base64 symbols between line breaks are nearly all of the text: counted
            // and kept in one go.
            let run = rest
                .iter()
                .position(|&c| !BASE64_SYMBOL[c as usize])
                .unwrap_or(rest.len());
            if run > 0 {
                self.symbols += run as u64;
                self.seen += run as u64;
                let room = self.keep_max.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&rest[..run.min(room)]);
                rest = &rest[run..];
                continue;
            }
            let c = rest[0];
            rest = &rest[1..];
            if c.is_ascii_whitespace() {
                continue;
            }
            if c != b'=' {
                if self.first_invalid.is_none() {
                    self.first_invalid = Some(self.seen);
                }
                self.symbols += 1;
            }
            self.seen += 1;
            if self.kept.len() < self.keep_max {
                self.kept.push(c);
            }
        }
    }

    /// The decoded torrent, or the first thing wrong with the text: nothing collected, over
    /// the size limit, a byte outside the alphabet, then what the decoder finds.
    fn finish(mut self) -> Result<Vec<u8>, SoapError> {
        if let Some(s) = self.single {
            // Only a text that would decode to at most the limit, with no line breaks (the
            // decoder would only tell after a pass over all of it), is tried directly; a
            // successful decode means every byte was in the alphabet and in place.
            if s.len() / 4 * 3 <= self.limit && memchr::memchr3(b'\n', b'\r', b' ', s).is_none() {
                if let Ok(t) = BASE64.decode(s) {
                    if !t.is_empty() && t.len() <= self.limit {
                        return Ok(t);
                    }
                }
            }
            self.walk_single();
        }
        if self.kept.is_empty() {
            return Err(SoapError::EmptyTorrent);
        }
        let size = self.symbols * 6 / 8;
        if size > self.limit as u64 {
            return Err(SoapError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        if let Some(at) = self.first_invalid {
            return Err(SoapError::Base64 { at: at as usize });
        }
        BASE64.decode(&self.kept).map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => SoapError::Base64 { at },
            base64::DecodeError::InvalidLength(len) => SoapError::Base64Truncated { len },
            base64::DecodeError::InvalidPadding => SoapError::Base64Padding,
        })
    }
}

/// Where the walk is in the SOAP structure.
struct Locate {
    /// Inside the (first) Body element.
    in_body: bool,
    body_seen: bool,
    operation: Option<Operation>,
    /// Inside the operation element (the first element of the Body).
    op_open: bool,
    /// A part is being / has been collected; `named` if its local name is `torrent`.
    part: Option<PartState>,
}

#[derive(Clone, Copy)]
struct PartState {
    named: bool,
    open: bool,
}

/// Parses a SOAP 1.1 request to the service with the default torrent size limit.
pub fn parse_request(body: &[u8]) -> Result<SoapCall, SoapError> {
    parse_request_with_limit(body, DEFAULT_MAX_TORRENT_BYTES)
}

/// Parses a SOAP 1.1 request: `Envelope` / `Body` / `storeTorrent` or `cacheTorrent` / the part
/// named `torrent` (else the operation's first child), all matched by local name. The part's
/// text, whitespace removed, is decoded from base64. `max_torrent_bytes` bounds the decoded size.
pub fn parse_request_with_limit(
    body: &[u8],
    max_torrent_bytes: usize,
) -> Result<SoapCall, SoapError> {
    let start = if body.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut input = &body[start..];
    let mut stack: Vec<&[u8]> = Vec::with_capacity(8);
    let mut elements = 0usize;
    let mut root_done = false;
    let mut loc = Locate {
        in_body: false,
        body_seen: false,
        operation: None,
        op_open: false,
        part: None,
    };
    let mut b64 = Base64Collector::new(max_torrent_bytes);

    while !input.is_empty() {
        let at = body.len() - input.len();
        let (rest, token) = next_token(input, at)?;
        input = rest;
        let depth = stack.len();
        // Is the current element the collected part?
        let in_part = depth == 4 && loc.in_body && loc.part.is_some_and(|p| p.open);
        match token {
            Token::Skip => {}
            Token::Text(raw) => {
                if depth == 0 {
                    if !raw.iter().all(|&c| is_ws(c)) {
                        return Err(SoapError::Xml {
                            at,
                            reason: "text outside the root element",
                        });
                    }
                } else if in_part {
                    if memchr::memchr(b'&', raw).is_none() {
                        b64.push_borrowed(raw);
                    } else {
                        decode_text(raw, at, &mut |piece| b64.push(piece))?;
                    }
                } else {
                    decode_text(raw, at, &mut |_| {})?;
                }
            }
            Token::CData(data) => {
                if depth == 0 {
                    return Err(SoapError::Xml {
                        at,
                        reason: "CDATA outside the root element",
                    });
                }
                if in_part {
                    b64.push_borrowed(data);
                }
            }
            Token::Start { name, empty } => {
                if depth == 0 && root_done {
                    return Err(SoapError::Xml {
                        at,
                        reason: "content after the root element",
                    });
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(SoapError::TooManyElements);
                }
                if depth + 1 > MAX_DEPTH {
                    return Err(SoapError::TooDeep);
                }
                let local = local_name(name);
                match depth {
                    0 if local != b"Envelope" => {
                        return Err(SoapError::NotEnvelope(display_name(local)));
                    }
                    1 if local == b"Body" && !loc.body_seen => {
                        loc.body_seen = true;
                        loc.in_body = true;
                    }
                    2 if loc.in_body && loc.operation.is_none() => {
                        match Operation::from_local_name(local) {
                            Some(op) => {
                                loc.operation = Some(op);
                                loc.op_open = !empty;
                            }
                            None => return Err(SoapError::UnknownOperation(display_name(local))),
                        }
                    }
                    3 if loc.in_body && loc.op_open => {
                        let named = local == b"torrent";
                        let take = match loc.part {
                            None => true,
                            Some(p) => named && !p.named,
                        };
                        if take {
                            b64 = Base64Collector::new(max_torrent_bytes);
                            loc.part = Some(PartState {
                                named,
                                open: !empty,
                            });
                        }
                    }
                    _ if in_part => return Err(SoapError::PartNotText),
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                } else if depth == 1 && local == b"Body" {
                    loc.in_body = false;
                } else if depth == 0 {
                    root_done = true;
                }
            }
            Token::End { name } => {
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(_) => {
                        return Err(SoapError::Xml {
                            at,
                            reason: "end tag does not match start tag",
                        })
                    }
                    None => {
                        return Err(SoapError::Xml {
                            at,
                            reason: "end tag without start tag",
                        })
                    }
                }
                match stack.len() {
                    0 => root_done = true,
                    1 => loc.in_body = false,
                    2 => loc.op_open = false,
                    3 => {
                        if let Some(p) = loc.part.as_mut() {
                            p.open = false;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(SoapError::Xml {
            at: body.len(),
            reason: "unexpected end of document",
        });
    }
    if !root_done {
        return Err(SoapError::Xml {
            at: body.len(),
            reason: "no root element",
        });
    }
    if !loc.body_seen {
        return Err(SoapError::NoBody);
    }
    let operation = loc.operation.ok_or(SoapError::NoOperation)?;
    if loc.part.is_none() {
        return Err(SoapError::NoTorrentPart);
    }
    let torrent = b64.finish()?;
    Ok(SoapCall { operation, torrent })
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// Appends `s` with `&`, `<`, `>`, `"` and `'` escaped, and characters XML 1.0 cannot carry at
/// all (control characters other than tab, LF, CR) replaced by `?`, so any message renders.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
}

fn envelope(body: &str) -> Vec<u8> {
    let mut out = String::with_capacity(body.len() + 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<soap:Envelope xmlns:soap=\"");
    out.push_str(SOAP_ENV_NS);
    out.push_str("\" xmlns:tns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\"><soap:Body>");
    out.push_str(body);
    out.push_str("</soap:Body></soap:Envelope>\n");
    out.into_bytes()
}

/// The rpc/literal response: `<tns:storeTorrentResponse><infoHash>HASH</infoHash>…` (the
/// wrapper is the operation name + `Response` in the service namespace, the part accessor is
/// unqualified and named exactly as the WSDL's output part, as rpc/literal requires).
pub fn render_response(op: Operation, info_hash_hex: &str) -> Vec<u8> {
    let mut body = String::with_capacity(128);
    body.push_str("<tns:");
    body.push_str(op.name());
    body.push_str("Response><infoHash>");
    push_escaped(&mut body, info_hash_hex);
    body.push_str("</infoHash></tns:");
    body.push_str(op.name());
    body.push_str("Response>");
    envelope(&body)
}

/// A SOAP 1.1 Fault: `faultcode` `soap:Client` or `soap:Server`, `faultstring` the message.
/// Send it with status [`FAULT_HTTP_STATUS`].
pub fn render_fault(code: FaultCode, message: &str) -> Vec<u8> {
    let mut body = String::with_capacity(message.len() + 128);
    body.push_str("<soap:Fault><faultcode>");
    body.push_str(match code {
        FaultCode::Client => "soap:Client",
        FaultCode::Server => "soap:Server",
    });
    body.push_str("</faultcode><faultstring>");
    push_escaped(&mut body, message);
    body.push_str("</faultstring></soap:Fault>");
    envelope(&body)
}

/// The WSDL with its `soap:address` set to `<base_url>/api/soap` (`base_url` without a trailing
/// slash is expected; one is removed if present). The URL is XML-escaped.
pub fn wsdl(base_url: &str) -> String {
    let mut escaped = String::with_capacity(base_url.len() + 8);
    push_escaped(&mut escaped, base_url.trim_end_matches('/'));
    WSDL_TEMPLATE.replace(BASE_URL_PLACEHOLDER, &escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/soap-requests/",
                $name
            ))
        };
    }

    const PHP: &[u8] = fixture!("php_rpclit_final.xml");
    const PERL: &[u8] = fixture!("perl_rpclit_final.xml");
    const ZEEP: &[u8] = fixture!("zeep_rpclit_final.xml");
    const PHP_BAD: &[u8] = fixture!("php_rpclit_final_fault.xml");
    const PERL_BAD: &[u8] = fixture!("perl_rpclit_final_fault.xml");
    const ZEEP_BAD: &[u8] = fixture!("zeep_rpclit_final_fault.xml");
    const HEADERS: [&[u8]; 3] = [
        fixture!("php_rpclit_final.headers.txt"),
        fixture!("perl_rpclit_final.headers.txt"),
        fixture!("zeep_rpclit_final.headers.txt"),
    ];

    fn envelope_with(part: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"{SOAP_ENV_NS}\"><s:Body>\
             <t:storeTorrent xmlns:t=\"urn:TorrentService\">{part}</t:storeTorrent>\
             </s:Body></s:Envelope>"
        )
        .into_bytes()
    }

    fn torrent_of(part: &str) -> Result<Vec<u8>, SoapError> {
        parse_request(&envelope_with(part)).map(|c| c.torrent)
    }

    #[test]
    fn real_clients_valid_torrent() {
        let mut decoded = Vec::new();
        for body in [PHP, PERL, ZEEP] {
            let call = parse_request(body).unwrap();
            assert_eq!(call.operation, Operation::StoreTorrent);
            assert_eq!(call.torrent.len(), 289);
            assert!(call
                .torrent
                .starts_with(b"d8:announce31:http://tracker.example/"));
            assert!(call.torrent.ends_with(b"ee"));
            decoded.push(call.torrent);
        }
        // Perl's line-broken base64 gives the same bytes as PHP's and zeep's.
        assert_eq!(decoded[0], decoded[1]);
        assert_eq!(decoded[0], decoded[2]);
    }

    #[test]
    fn real_clients_broken_torrent_decodes_to_its_bytes() {
        // The "broken" requests carry base64("bad"): SOAP-wise fine, the torrent check refuses it.
        for body in [PHP_BAD, PERL_BAD, ZEEP_BAD] {
            let call = parse_request(body).unwrap();
            assert_eq!(call.operation, Operation::StoreTorrent);
            assert_eq!(call.torrent, b"bad");
        }
    }

    #[test]
    fn soap_action_matches_wsdl() {
        let w = wsdl("http://x");
        for h in HEADERS {
            let h = std::str::from_utf8(h).unwrap();
            let action = h
                .lines()
                .find_map(|l| l.strip_prefix("SOAPAction: "))
                .unwrap()
                .trim_matches('"');
            assert_eq!(action, "urn:TorrentService#storeTorrent");
            assert!(w.contains(&format!("soapAction=\"{action}\"")));
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for body in [PHP, PERL, ZEEP, PHP_BAD, PERL_BAD, ZEEP_BAD] {
            for cut in 0..body.len() {
                let r = parse_request(&body[..cut]);
                // Cutting only trailing whitespace after the root leaves a valid document.
                if body[cut..].iter().all(|c| c.is_ascii_whitespace()) {
                    continue;
                }
                assert!(r.is_err(), "cut at {cut} accepted");
            }
        }
    }

    #[test]
    fn mutations_never_panic() {
        // Every single byte replaced by each of a few troublesome bytes.
        for body in [PHP, PERL] {
            let mut b = body.to_vec();
            for i in 0..b.len() {
                let orig = b[i];
                for x in [b'<', b'>', b'&', b'/', b'"', b';', b'#', 0, 0xFF, b' '] {
                    b[i] = x;
                    let _ = parse_request(&b);
                }
                b[i] = orig;
            }
        }
    }

    #[test]
    fn prefixes_do_not_matter() {
        for (env, op) in [
            ("SOAP-ENV", "ns1"),
            ("soap", "tns"),
            ("soap-env", "ns0"),
            ("S", "x"),
            ("", ""),
        ] {
            let (e, o) = if env.is_empty() {
                (String::new(), String::new())
            } else {
                (format!("{env}:"), format!("{op}:"))
            };
            let body = format!(
                "<{e}Envelope xmlns:{env}=\"{SOAP_ENV_NS}\"><{e}Header/><{e}Body>\
                 <{o}cacheTorrent xmlns:{op}=\"urn:TorrentService\">\
                 <{o}torrent xsi:type=\"xsd:string\">YWJj</{o}torrent></{o}cacheTorrent>\
                 </{e}Body></{e}Envelope>"
            );
            let call = parse_request(body.as_bytes()).unwrap();
            assert_eq!(call.operation, Operation::CacheTorrent);
            assert_eq!(call.torrent, b"abc");
        }
    }

    #[test]
    fn part_selection() {
        // First child when none is named torrent (e.g. a client naming it after its own variable).
        assert_eq!(torrent_of("<data>YWJj</data>").unwrap(), b"abc");
        // The one named torrent wins, wherever it is.
        assert_eq!(
            torrent_of("<other>eHl6</other><torrent>YWJj</torrent>").unwrap(),
            b"abc"
        );
        assert_eq!(
            torrent_of("<torrent>YWJj</torrent><other>eHl6</other>").unwrap(),
            b"abc"
        );
        assert_eq!(torrent_of(""), Err(SoapError::NoTorrentPart));
        assert_eq!(torrent_of("<torrent/>"), Err(SoapError::EmptyTorrent));
        assert_eq!(
            torrent_of("<torrent> \r\n\t </torrent>"),
            Err(SoapError::EmptyTorrent)
        );
        assert_eq!(
            torrent_of("<torrent><b>YWJj</b></torrent>"),
            Err(SoapError::PartNotText)
        );
    }

    #[test]
    fn whitespace_cdata_comments_and_references() {
        assert_eq!(torrent_of("<torrent>YW\r\nJj\n</torrent>").unwrap(), b"abc");
        assert_eq!(torrent_of("<torrent> Y W J j </torrent>").unwrap(), b"abc");
        assert_eq!(
            torrent_of("<torrent><![CDATA[YW]]>Jj</torrent>").unwrap(),
            b"abc"
        );
        assert_eq!(
            torrent_of("<torrent><![CDATA[Y<W>J&j]]></torrent>"),
            Err(SoapError::Base64 { at: 1 })
        );
        assert_eq!(
            torrent_of("<torrent>YW<!-- a comment -->Jj<?pi x?></torrent>").unwrap(),
            b"abc"
        );
        // &#89; = 'Y', &#x57; = 'W', &#10; a line break.
        assert_eq!(
            torrent_of("<torrent>&#89;&#x57;&#10;Jj</torrent>").unwrap(),
            b"abc"
        );
        // `&#X…;` (capital X) is not a hex reference.
        assert_eq!(
            torrent_of("<torrent>&#X57;</torrent>"),
            Err(SoapError::InvalidCharRef { at: 147 })
        );
        for bad in [
            "&#0;",
            "&#x0;",
            "&#xD800;",
            "&#x110000;",
            "&#;",
            "&#x;",
            "&#12a;",
            "&#+65;",
            "&#xFFFE;",
        ] {
            assert!(
                matches!(
                    torrent_of(&format!("<torrent>YWJj{bad}</torrent>")),
                    Err(SoapError::InvalidCharRef { .. })
                ),
                "{bad}"
            );
        }
        for bad in ["&foo;", "&amp", "&", "&lol9;"] {
            assert!(
                matches!(
                    torrent_of(&format!("<torrent>YWJj{bad}</torrent>")),
                    Err(SoapError::UndefinedEntity { .. })
                ),
                "{bad}"
            );
        }
        // Predefined entities are decoded (and are not base64, hence the error position).
        assert_eq!(
            torrent_of("<torrent>YW&amp;Jj</torrent>"),
            Err(SoapError::Base64 { at: 2 })
        );
        // In attributes too.
        assert!(torrent_of("<torrent a=\"&lt;&#65;\">YWJj</torrent>").is_ok());
        assert!(matches!(
            torrent_of("<torrent a=\"&x;\">YWJj</torrent>"),
            Err(SoapError::UndefinedEntity { .. })
        ));
    }

    #[test]
    fn doctype_and_entity_bombs_are_refused() {
        let lol = b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n\
            <soap:Envelope xmlns:soap=\"x\"><soap:Body><storeTorrent><torrent>&lol2;</torrent>\
            </storeTorrent></soap:Body></soap:Envelope>";
        assert_eq!(parse_request(lol), Err(SoapError::Doctype { at: 22 }));
        let xxe = b"<!doctype x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>";
        assert_eq!(parse_request(xxe), Err(SoapError::Doctype { at: 0 }));
        // An entity reference without a DTD is simply undefined.
        assert!(matches!(
            torrent_of("<torrent>&e;</torrent>"),
            Err(SoapError::UndefinedEntity { .. })
        ));
        assert!(parse_request(b"<!ENTITY x \"y\"><Envelope/>").is_err());
    }

    #[test]
    fn depth_and_element_limits() {
        let mut deep = String::from("<Envelope><Body><storeTorrent><torrent>YWJj</torrent>");
        let n = MAX_DEPTH;
        for _ in 0..n {
            deep.push_str("<a>");
        }
        for _ in 0..n {
            deep.push_str("</a>");
        }
        deep.push_str("</storeTorrent></Body></Envelope>");
        assert_eq!(parse_request(deep.as_bytes()), Err(SoapError::TooDeep));

        // A million nested elements: refused at MAX_DEPTH, no stack overflow.
        let bomb = "<a>".repeat(1_000_000);
        assert_eq!(
            parse_request(format!("<Envelope>{bomb}").as_bytes()),
            Err(SoapError::TooDeep)
        );

        let mut wide = String::from("<Envelope><Header>");
        wide.push_str(&"<x/>".repeat(MAX_ELEMENTS));
        wide.push_str(
            "</Header><Body><storeTorrent><torrent>YWJj</torrent></storeTorrent></Body></Envelope>",
        );
        assert_eq!(
            parse_request(wide.as_bytes()),
            Err(SoapError::TooManyElements)
        );

        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        assert!(matches!(
            parse_request(format!("<Envelope{attrs}/>").as_bytes()),
            Err(SoapError::TooManyAttributes { .. })
        ));
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            parse_request(format!("<{long}/>").as_bytes()),
            Err(SoapError::NameTooLong { .. })
        ));
    }

    #[test]
    fn structure_errors() {
        let cases: &[(&str, SoapError)] = &[
            ("<html/>", SoapError::NotEnvelope("html".into())),
            ("<e:Envelope xmlns:e=\"x\"/>", SoapError::NoBody),
            ("<Envelope><Body/></Envelope>", SoapError::NoOperation),
            (
                "<Envelope><Body><deleteAll/></Body></Envelope>",
                SoapError::UnknownOperation("deleteAll".into()),
            ),
            (
                "<Envelope><Body><storeTorrent/></Body></Envelope>",
                SoapError::NoTorrentPart,
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(&parse_request(xml.as_bytes()).unwrap_err(), want, "{xml}");
        }
        for bad in [
            "",
            "   ",
            "not xml",
            "<Envelope>",
            "<Envelope></Body>",
            "</Envelope>",
            "<Envelope/><Envelope/>",
            "<Envelope/>trailing",
            "<Envelope a=b/>",
            "<Envelope a=\"1\"b=\"2\"/>",
            "<Envelope a=\"<\"/>",
            "<1x/>",
            "<:x/>",
            "<a:b:c/>",
            "<Envelope><!-- unterminated",
            "<Envelope><![CDATA[ unterminated",
            "<Envelope><?pi unterminated",
            "<Envelope><Body><storeTorrent><torrent>YWJj</torrent></storeTorrent></Body>",
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        // A BOM, an XML declaration, comments and whitespace around the root are fine.
        let ok = b"\xEF\xBB\xBF<?xml version='1.0'?>\n<!-- c -->\n<Envelope><Body><storeTorrent>\
            <torrent>YWJj</torrent></storeTorrent></Body></Envelope>\n<!-- after -->\n";
        assert_eq!(parse_request(ok).unwrap().torrent, b"abc");
    }

    #[test]
    fn base64_errors_and_padding() {
        assert_eq!(torrent_of("<torrent>YWJjZA</torrent>").unwrap(), b"abcd");
        assert_eq!(torrent_of("<torrent>YWJjZA==</torrent>").unwrap(), b"abcd");
        assert_eq!(torrent_of("<torrent>YWJjZA=</torrent>").unwrap(), b"abcd");
        let e = torrent_of("<torrent>YWJjZGVmZ2hpamtsbW5v!A==</torrent>").unwrap_err();
        assert_eq!(e, SoapError::Base64 { at: 20 });
        assert_eq!(e.to_string(), "invalid base64 at byte 20");
        // Whitespace is not counted in the position.
        assert_eq!(
            torrent_of("<torrent>YWJj\r\nZGVm\r\n*</torrent>"),
            Err(SoapError::Base64 { at: 8 })
        );
        assert_eq!(
            torrent_of("<torrent>YWJjZ</torrent>"),
            Err(SoapError::Base64Truncated { len: 5 })
        );
        assert!(torrent_of("<torrent>YW=Jj</torrent>").is_err());
        assert!(torrent_of("<torrent>YWJj====</torrent>").is_err());
        // Non-ASCII text is not base64.
        assert!(matches!(
            torrent_of("<torrent>YWJj\u{e9}</torrent>"),
            Err(SoapError::Base64 { at: 4 })
        ));
    }

    /// Found by `fuzz/fuzz_targets/base64.rs`: the base64 decoder checks the last group first,
    /// so the error named a later bad byte (16) instead of the first one (0).
    #[test]
    fn fuzz_base64_error_names_the_first_bad_byte() {
        let body = envelope_with("<torrent>\0\0:::::\0\t\0\0\0\0\0\0\0\0\0::</torrent>");
        assert_eq!(
            parse_request_with_limit(&body, 64),
            Err(SoapError::Base64 { at: 0 })
        );
        // The first non-base64 byte after valid symbols, with a bad tail as well.
        assert_eq!(
            torrent_of("<torrent>YWJj*WJjZGVmZ2hpamtsbW5vcHFy!!</torrent>"),
            Err(SoapError::Base64 { at: 4 })
        );
    }

    /// The borrowed text decoded directly (one run, the usual case) and the same text walked
    /// byte by byte give the same torrent or the same error, whatever is wrong with it.
    #[test]
    fn borrowed_and_walked_texts_give_the_same_answer() {
        let std = base64::engine::general_purpose::STANDARD;
        let mut texts: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"   \n\t ".to_vec(),
            b"QQ".to_vec(),
            b"QQ==".to_vec(),
            b"QQ=".to_vec(),
            b"QR==".to_vec(),
            b"Q".to_vec(),
            b"QQ==QQ==".to_vec(),
            b"=QQQ".to_vec(),
            b"YWJj*WJj".to_vec(),
            b"YWJj\r\nZGVm".to_vec(),
            b"YWJj ZGVm".to_vec(),
            b"YWJj-_Vm".to_vec(),
            b"\xc3\xa9YWJj".to_vec(),
        ];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for len in [1usize, 2, 3, 29, 30, 31, 32, 33, 300] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let enc = std.encode(&data).into_bytes();
            texts.push(enc.clone());
            texts.push(
                enc.trim_ascii_end()
                    .iter()
                    .copied()
                    .filter(|&c| c != b'=')
                    .collect(),
            );
            for _ in 0..20 {
                let mut t = enc.clone();
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let at = (rng as usize) % t.len();
                t[at] = b"=\n *A-\x80"[(rng >> 40) as usize % 7];
                texts.push(t);
            }
        }
        for text in &texts {
            for limit in [0usize, 1, 2, 20, 21, 22, 23, 24, 225, 1 << 20] {
                let mut borrowed = Base64Collector::new(limit);
                borrowed.push_borrowed(text);
                let mut walked = Base64Collector::new(limit);
                walked.push(text);
                assert_eq!(
                    borrowed.finish(),
                    walked.finish(),
                    "text {:?}, limit {limit}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn size_limit() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 3000]);
        let body = envelope_with(&format!("<torrent>{b64}</torrent>"));
        assert_eq!(
            parse_request_with_limit(&body, 3000).unwrap().torrent.len(),
            3000
        );
        let e = parse_request_with_limit(&body, 2999).unwrap_err();
        assert_eq!(
            e,
            SoapError::TooLarge {
                size: 3000,
                limit: 2999
            }
        );
        assert_eq!(e.to_string(), "torrent too large: 3000 bytes (limit 2999)");
        // Far over the limit: reported with its size, not kept.
        let e = parse_request_with_limit(&body, 10).unwrap_err();
        assert_eq!(
            e,
            SoapError::TooLarge {
                size: 3000,
                limit: 10
            }
        );
    }

    #[test]
    fn full_size_torrent_with_perl_line_breaks() {
        // Exactly the default limit passes; one byte more is refused with its size.
        for (len, ok) in [
            (DEFAULT_MAX_TORRENT_BYTES, true),
            (DEFAULT_MAX_TORRENT_BYTES + 1, false),
        ] {
            let mut file = vec![b'x'; len];
            file[0] = b'd';
            let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
            let mut lines = String::with_capacity(b64.len() * 78 / 76 + 2);
            for chunk in b64.as_bytes().chunks(76) {
                lines.push_str(std::str::from_utf8(chunk).unwrap());
                lines.push('\n');
            }
            let body = envelope_with(&format!(
                "<torrent xsi:type=\"xsd:string\">{lines}</torrent>"
            ));
            assert!(body.len() < MAX_REQUEST_BYTES);
            let r = parse_request(&body);
            if ok {
                assert_eq!(r.unwrap().torrent, file);
            } else {
                assert_eq!(
                    r.unwrap_err().to_string(),
                    format!("torrent too large: {len} bytes (limit {DEFAULT_MAX_TORRENT_BYTES})")
                );
            }
        }
    }

    #[test]
    fn response_is_rpc_literal() {
        let r = String::from_utf8(render_response(
            Operation::StoreTorrent,
            "0BAD75A8F3739C4717A41F8E27F1CEECD926307F",
        ))
        .unwrap();
        assert!(r.contains(
            "<soap:Body><tns:storeTorrentResponse><infoHash>\
             0BAD75A8F3739C4717A41F8E27F1CEECD926307F</infoHash></tns:storeTorrentResponse>"
        ));
        assert!(r.contains("xmlns:tns=\"urn:TorrentService\""));
        let r = String::from_utf8(render_response(Operation::CacheTorrent, "AB")).unwrap();
        assert!(r.contains("<tns:cacheTorrentResponse><infoHash>AB</infoHash>"));
    }

    #[test]
    fn fault_is_escaped() {
        let f = String::from_utf8(render_fault(
            FaultCode::Client,
            "not a torrent file: <bad> & \"worse\"\u{1}",
        ))
        .unwrap();
        assert!(f.contains("<soap:Fault><faultcode>soap:Client</faultcode>"));
        assert!(f.contains(
            "<faultstring>not a torrent file: &lt;bad&gt; &amp; &quot;worse&quot;?</faultstring>"
        ));
        let f = String::from_utf8(render_fault(FaultCode::Server, "disk full")).unwrap();
        assert!(f.contains("<faultcode>soap:Server</faultcode><faultstring>disk full<"));
    }

    #[test]
    fn rendered_envelopes_parse_as_xml() {
        // Our own reader reads what we write (a cheap well-formedness check); their root is an
        // Envelope with a Body, whose first element is not an operation of ours.
        let r = render_response(Operation::StoreTorrent, "AB");
        assert_eq!(
            parse_request(&r),
            Err(SoapError::UnknownOperation("storeTorrentResponse".into()))
        );
        let f = render_fault(FaultCode::Client, "a <b> & c");
        assert_eq!(
            parse_request(&f),
            Err(SoapError::UnknownOperation("Fault".into()))
        );
    }

    #[test]
    fn wsdl_is_filled() {
        let w = wsdl("https://t.example/base/");
        assert!(w.contains("<soap:address location=\"https://t.example/base/api/soap\"/>"));
        assert!(!w.contains("{{"));
        let w = wsdl("http://h/?a=1&b=\"2\"");
        assert!(w.contains("location=\"http://h/?a=1&amp;b=&quot;2&quot;/api/soap\""));
        for needle in [
            "targetNamespace=\"urn:TorrentService\"",
            "style=\"rpc\"",
            "use=\"literal\"",
            "<part name=\"torrent\" type=\"xsd:string\"/>",
            "<part name=\"infoHash\" type=\"xsd:string\"/>",
            "<operation name=\"storeTorrent\">",
            "<operation name=\"cacheTorrent\">",
        ] {
            assert!(w.contains(needle), "{needle}");
        }
        assert!(!w.contains("soap12"), "SOAP 1.1 binding only");
    }

    #[test]
    fn error_messages_are_stable() {
        assert_eq!(
            SoapError::Xml {
                at: 3,
                reason: "bad start tag"
            }
            .to_string(),
            "malformed XML at byte 3: bad start tag"
        );
        assert_eq!(
            SoapError::Doctype { at: 0 }.to_string(),
            "malformed XML at byte 0: DOCTYPE is not allowed"
        );
        assert_eq!(SoapError::NoTorrentPart.to_string(), "missing torrent part");
        assert_eq!(
            SoapError::Base64 { at: 17 }.to_string(),
            "invalid base64 at byte 17"
        );
        assert_eq!(SoapError::EmptyTorrent.fault_code(), FaultCode::Client);
    }
}
