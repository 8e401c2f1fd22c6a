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

mod collector;
mod request;
mod response;
mod wsdl;
mod xml;

pub use request::{parse_request, parse_request_with_limit};
pub use response::{render_fault, render_response};
pub use wsdl::wsdl;

use std::fmt;

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
/// Largest request body the HTTP layer should hand to [`parse_request`] with the default torrent
/// limit: the base64 of a 10 MiB torrent (14 MB), its line breaks (Perl adds one every 76
/// characters) and the envelope, with room to spare. Bodies over the layer's body limit are
/// refused before parsing (413); for other torrent limits see [`max_request_bytes`].
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Room for the envelope around the base64 in [`max_request_bytes`] (SOAP::Lite's is 600 bytes).
pub const ENVELOPE_ALLOWANCE: u64 = 64 * 1024;

/// The request body a torrent of `max_torrent` bytes needs as a SOAP call: its base64
/// (4 characters per 3 bytes), a line break (CRLF, the worst) every 76 characters, and the
/// envelope; at least [`MAX_REQUEST_BYTES`]. A multipart upload of the same torrent needs
/// less (the bytes themselves and a part header of at most 8 KiB), so this is the default
/// body limit of the server.
pub fn max_request_bytes(max_torrent: usize) -> u64 {
    let b64 = (max_torrent as u64).div_ceil(3).saturating_mul(4);
    let breaks = b64.div_ceil(76).saturating_mul(2);
    b64.saturating_add(breaks)
        .saturating_add(ENVELOPE_ALLOWANCE)
        .max(MAX_REQUEST_BYTES as u64)
}
/// The service namespace of the WSDL; responses put their response element in it.
pub const NAMESPACE: &str = "urn:TorrentService";
/// Content-Type of every SOAP 1.1 answer (responses and Faults).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// HTTP status of a Fault: SOAP 1.1 §6.2 requires 500 for every Fault (Client ones included),
/// and PHP SoapClient, SOAP::Lite and zeep all read the Fault body from a 500.
pub const FAULT_HTTP_STATUS: u16 = 500;

pub(crate) const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

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

    pub(crate) fn from_local_name(name: &[u8]) -> Option<Operation> {
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
    /// Memory for the decoded torrent could not be allocated (the server's trouble: the
    /// caller answers 503, never the client's fault).
    OutOfMemory,
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
            SoapError::OutOfMemory => write!(
                f,
                "server busy: no memory for the upload now, retry shortly: nothing was stored"
            ),
        }
    }
}

impl std::error::Error for SoapError {}

#[cfg(test)]
mod tests;
