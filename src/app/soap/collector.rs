//! The base64 text of the torrent part: collected without its whitespace, counted past the
//! size limit, and decoded.
//!
//! Owns: the decoded-size limit and the base64 errors' positions. Must never: keep more than
//! the limit's worth of text, or copy the one-piece text most clients send.

use super::SoapError;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Base64 as clients send it: standard alphabet, padding optional (some hand-written clients drop
/// it), non-zero trailing bits tolerated (lenient decoders such as Perl's produce the same bytes).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The base64 alphabet (`A-Z a-z 0-9 + /`), as a table for the collector's fast path.
pub(crate) const BASE64_SYMBOL: [bool; 256] = {
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
pub(crate) struct Base64Collector<'a> {
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
    pub(crate) fn new(limit: usize) -> Self {
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
    pub(crate) fn push_borrowed(&mut self, piece: &'a [u8]) {
        // `seen` counts every byte kept: nothing seen, nothing collected yet.
        if self.single.is_none() && self.seen == 0 {
            self.single = Some(piece);
        } else {
            self.push(piece);
        }
    }

    /// Walks the borrowed piece, if any, into `kept`.
    pub(crate) fn walk_single(&mut self) {
        if let Some(s) = self.single.take() {
            self.push(s);
        }
    }

    pub(crate) fn push(&mut self, piece: &[u8]) {
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
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, SoapError> {
        if let Some(s) = self.single {
            // Only a text that would decode to at most the limit, with no line breaks (the
            // decoder would only tell after a pass over all of it), is tried directly; a
            // successful decode means every byte was in the alphabet and in place.
            if s.len() / 4 * 3 <= self.limit && memchr::memchr3(b'\n', b'\r', b' ', s).is_none() {
                match decode(s) {
                    Ok(t) if !t.is_empty() && t.len() <= self.limit => return Ok(t),
                    Err(Decoded::OutOfMemory) => return Err(SoapError::OutOfMemory),
                    _ => {}
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
        decode(&self.kept).map_err(|e| match e {
            Decoded::OutOfMemory => SoapError::OutOfMemory,
            Decoded::Invalid(
                base64::DecodeError::InvalidByte(at, _)
                | base64::DecodeError::InvalidLastSymbol(at, _),
            ) => SoapError::Base64 { at },
            Decoded::Invalid(base64::DecodeError::InvalidLength(len)) => {
                SoapError::Base64Truncated { len }
            }
            Decoded::Invalid(base64::DecodeError::InvalidPadding) => SoapError::Base64Padding,
        })
    }
}

/// Why [`decode`] gave no bytes.
enum Decoded {
    Invalid(base64::DecodeError),
    OutOfMemory,
}

/// Decodes base64 into a buffer allocated fallibly: a failed allocation is that request's
/// error, never the process's end.
fn decode(text: &[u8]) -> Result<Vec<u8>, Decoded> {
    let mut out = Vec::new();
    let room = base64::decoded_len_estimate(text.len());
    out.try_reserve_exact(room)
        .map_err(|_| Decoded::OutOfMemory)?;
    out.resize(room, 0);
    match BASE64.decode_slice(text, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Ok(out)
        }
        Err(base64::DecodeSliceError::DecodeError(e)) => Err(Decoded::Invalid(e)),
        // The estimate is never short (it rounds up).
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            Err(Decoded::Invalid(base64::DecodeError::InvalidPadding))
        }
    }
}
