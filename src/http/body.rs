//! Request bodies: one small state machine per framing (Content-Length, chunked with
//! extensions and trailers), behind a bounded, deadline-checked [`Body`] reader.
//!
//! Owns: decoding body bytes off the wire, the body size limit, the slow-sender floor (judged
//! over a sliding window), the body's reservation in the memory budget of bodies in flight,
//! the `100 Continue` interim answer, and draining what a handler left unread. Must never:
//! read past the end of the body (those bytes are the next request), accept a malformed chunk
//! line, hand a handler more than the body limit, allocate memory for bytes that have not
//! arrived, or abort the process when an allocation fails (that body is answered `503`).

use super::budget::BodyBudget;
use super::head::Framing;
use super::wire::{is_timeout, Wire};
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Longest chunk-size line (size, extensions) accepted.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Why a body could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More than the limit: 413.
    TooLarge,
    /// Trailer section larger than the head limit: 431.
    TrailersTooLarge,
    /// Broken chunked framing: 400.
    Malformed,
    /// Sender slower than the floor rate: 408.
    Timeout,
    /// No room in the memory budget of bodies in flight within the wait: 503.
    Busy,
    /// Memory for the body could not be allocated: 503.
    NoMemory,
    /// The client closed or the socket failed mid-body: no answer possible.
    Gone,
}

impl BodyError {
    /// The status to answer with instead of the handler's response, or `None` to just close.
    pub fn status(self) -> Option<u16> {
        match self {
            BodyError::TooLarge => Some(413),
            BodyError::TrailersTooLarge => Some(431),
            BodyError::Malformed => Some(400),
            BodyError::Timeout => Some(408),
            BodyError::Busy | BodyError::NoMemory => Some(503),
            BodyError::Gone => None,
        }
    }

    fn io(self) -> io::Error {
        let kind = match self {
            BodyError::TooLarge | BodyError::TrailersTooLarge => io::ErrorKind::FileTooLarge,
            BodyError::Malformed => io::ErrorKind::InvalidData,
            BodyError::Timeout => io::ErrorKind::TimedOut,
            BodyError::Busy | BodyError::NoMemory => io::ErrorKind::OutOfMemory,
            BodyError::Gone => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, "request body could not be read")
    }
}

/// States of the chunked decoder (RFC 9112 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At the start of a chunk-size line.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// After the size: whitespace and `;ext` up to CR.
    Ext,
    /// Saw CR of the size line, LF must follow.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// After the data, CR must follow.
    DataCr,
    /// After the data's CR, LF must follow.
    DataLf,
    /// At the start of a trailer line (or of the final blank line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Saw CR of a trailer field line.
    TrailerLf,
    /// Saw CR of the final blank line.
    EndLf,
    /// Body complete.
    Done,
}

/// The chunked decoder: pure, fed with bytes, fills an output buffer.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunk,
    size: u64,
    line: usize,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub fn new(max_trailer_bytes: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: Chunk::SizeStart,
            size: 0,
            line: 0,
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Decodes from `input` into `out`. Returns (bytes consumed, bytes produced). Stops at the
    /// end of the body: input past it is left unconsumed.
    // One loop over the states (RFC 9112 section 7.1), one arm each: split, it hides the grammar.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), BodyError> {
        let (mut i, mut o) = (0, 0);
        while i < input.len() && self.state != Chunk::Done {
            if self.state == Chunk::Data {
                let n = (self.size.min(usize::MAX as u64) as usize)
                    .min(input.len() - i)
                    .min(out.len() - o);
                if n == 0 {
                    break; // output full
                }
                out[o..o + n].copy_from_slice(&input[i..i + n]);
                i += n;
                o += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = Chunk::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                Chunk::SizeStart | Chunk::Size => {
                    if let Some(d) = (b as char).to_digit(16) {
                        if self.size >> 60 != 0 {
                            return Err(BodyError::TooLarge);
                        }
                        self.size = self.size << 4 | d as u64;
                        self.line += 1;
                        // Leading zeros keep the size small: the line length bounds them.
                        if self.line > MAX_CHUNK_LINE {
                            return Err(BodyError::Malformed);
                        }
                        Chunk::Size
                    } else if self.state == Chunk::SizeStart {
                        return Err(BodyError::Malformed);
                    } else {
                        match b {
                            b'\r' => Chunk::SizeLf,
                            b';' | b' ' | b'\t' => Chunk::Ext,
                            _ => return Err(BodyError::Malformed),
                        }
                    }
                }
                Chunk::Ext => match b {
                    b'\r' => Chunk::SizeLf,
                    b'\n' | 0 => return Err(BodyError::Malformed),
                    _ => {
                        self.line += 1;
                        if self.line > MAX_CHUNK_LINE {
                            return Err(BodyError::Malformed);
                        }
                        Chunk::Ext
                    }
                },
                Chunk::SizeLf => {
                    if b != b'\n' {
                        return Err(BodyError::Malformed);
                    }
                    self.line = 0;
                    if self.size == 0 {
                        Chunk::TrailerStart
                    } else {
                        Chunk::Data
                    }
                }
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(BodyError::Malformed),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::SizeStart,
                    _ => return Err(BodyError::Malformed),
                },
                Chunk::TrailerStart | Chunk::Trailer => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.max_trailer_bytes {
                        return Err(BodyError::TrailersTooLarge);
                    }
                    match (self.state, b) {
                        (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                        (_, b'\r') => Chunk::TrailerLf,
                        (_, b'\n') | (_, 0) => return Err(BodyError::Malformed),
                        _ => Chunk::Trailer,
                    }
                }
                Chunk::TrailerLf => match b {
                    b'\n' => Chunk::TrailerStart,
                    _ => return Err(BodyError::Malformed),
                },
                Chunk::EndLf => match b {
                    b'\n' => Chunk::Done,
                    _ => return Err(BodyError::Malformed),
                },
                Chunk::Data | Chunk::Done => self.state,
            };
        }
        Ok((i, o))
    }
}

/// The first buffer [`Body::read_all`] reads into; it doubles as bytes arrive (never past the
/// declared length), so a declared length costs nothing until its bytes come.
const READ_ALL_FIRST: usize = 16 * 1024;
/// The first reservation of a chunked body in the budget; it doubles as the body grows.
const BUDGET_STEP: u64 = 64 * 1024;

enum State {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

/// Settings a body is read under (from [`super::Config`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: u64,
    pub max_trailer_bytes: usize,
    pub grace: Duration,
    pub min_rate: u64,
    /// The sliding window of the rate floor ([`super::config::BODY_RATE_WINDOW`]).
    pub rate_window: Duration,
    /// How long a body waits for room in the budget.
    pub budget_wait: Duration,
    pub read_chunk: usize,
}

/// The request body as a handler reads it: `std::io::Read`, bounded by the body limit, cut
/// for slow senders. Reading it sends `100 Continue` first when the client asked for it.
pub struct Body<'a> {
    wire: &'a mut Wire,
    state: State,
    limits: BodyLimits,
    /// Decoded bytes handed out so far.
    read: u64,
    /// Wire bytes consumed so far.
    raw: u64,
    started: Option<Instant>,
    /// The sender's credit under the rate floor, bytes (at most `rate × window`), as of
    /// `credit_at`.
    credit: f64,
    credit_at: Option<Instant>,
    continue_pending: bool,
    error: Option<BodyError>,
    /// The budget of bodies in flight (`None`: unbounded, for tests of the layer alone).
    budget: Option<&'a BodyBudget>,
    /// Bytes this body holds in the budget; returned on drop.
    reserved: u64,
    /// The memory the handler holds per body byte, in percent (see [`Body::holds_percent`]).
    hold_percent: u64,
}

impl<'a> Body<'a> {
    pub fn new(
        wire: &'a mut Wire,
        framing: Framing,
        limits: BodyLimits,
        expect_continue: bool,
        budget: Option<&'a BodyBudget>,
    ) -> Body<'a> {
        let state = match framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(ChunkedDecoder::new(limits.max_trailer_bytes)),
        };
        Body {
            wire,
            state,
            limits,
            read: 0,
            raw: 0,
            started: None,
            credit: 0.0,
            credit_at: None,
            continue_pending: expect_continue,
            error: None,
            budget,
            reserved: 0,
            hold_percent: 100,
        }
    }

    /// The declared length (`Content-Length`), when there is one.
    pub fn declared_len(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(self.read + n),
            State::Done if self.read == 0 => Some(0),
            _ => None,
        }
    }

    /// Whether the body has been read to its end.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The error that stopped reading, if any.
    pub fn error(&self) -> Option<BodyError> {
        self.error
    }

    /// Whether the client still waits for `100 Continue` (nothing was read).
    pub fn continue_pending(&self) -> bool {
        self.continue_pending
    }

    /// The largest body allowed.
    pub fn limit(&self) -> u64 {
        self.limits.max_bytes
    }

    /// Reads the whole body (at most `max` bytes, and never more than the layer's limit).
    /// The buffer grows with what arrives (doubling, never past the declared length, or
    /// `max + 1` bytes without one: the byte over tells a body over the limit from one at it);
    /// a failed allocation is [`BodyError::NoMemory`], never the process's end.
    pub fn read_all(&mut self, max: u64) -> Result<Vec<u8>, BodyError> {
        let max = max.min(self.limits.max_bytes);
        let declared = self.declared_len();
        if declared.is_some_and(|n| n > max) {
            return Err(BodyError::TooLarge);
        }
        let cap = match declared {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1),
        };
        let mut v: Vec<u8> = Vec::new();
        let mut filled = 0;
        loop {
            if self.is_done() {
                v.truncate(filled);
                return Ok(v);
            }
            if filled == v.len() {
                let grown = v.len().saturating_mul(2).max(READ_ALL_FIRST).min(cap);
                if grown <= filled {
                    return Err(BodyError::TooLarge);
                }
                if v.try_reserve_exact(grown - v.len()).is_err() {
                    return Err(self.fail(BodyError::NoMemory));
                }
                v.resize(grown, 0);
            }
            match self.read_inner(&mut v[filled..], true) {
                Ok(0) => {
                    v.truncate(filled);
                    return Ok(v);
                }
                Ok(n) => {
                    filled += n;
                    if filled as u64 > max {
                        return Err(BodyError::TooLarge);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Says that the handler holds `percent` % of the body's size while it works on it (a
    /// decoded copy beside the body: 175 for base64 decoded next to its text), so that the
    /// body's reservation in the budget covers that memory too. Call before reading.
    pub fn holds_percent(&mut self, percent: u64) {
        self.hold_percent = percent.max(100);
    }

    /// Reserves room in the budget for the body bytes a read of `want` more would hold: the
    /// whole declared length at the first read, a chunked body in doubling steps. Waits for
    /// room up to the limits' `budget_wait` (on the coroutine), then fails with `Busy`.
    fn reserve_for(&mut self, want: usize) -> Result<(), BodyError> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let scaled = |n: u64| n.saturating_mul(self.hold_percent) / 100;
        let need = match &self.state {
            State::Done => return Ok(()),
            State::Length(remaining) => scaled(self.read + remaining),
            State::Chunked(_) => {
                let total = scaled(
                    self.read
                        .saturating_add(want as u64)
                        .min(self.limits.max_bytes),
                );
                if total <= self.reserved {
                    return Ok(());
                }
                total
                    .max(self.reserved.saturating_mul(2))
                    .max(BUDGET_STEP)
                    .min(scaled(self.limits.max_bytes))
            }
        };
        if need <= self.reserved {
            return Ok(());
        }
        let waited_from = Instant::now();
        if !budget.take(need - self.reserved, self.limits.budget_wait) {
            return Err(self.fail(BodyError::Busy));
        }
        self.reserved = need;
        // Time spent waiting for room is the server's, not the sender's.
        if let Some(at) = &mut self.credit_at {
            *at += waited_from.elapsed();
        }
        Ok(())
    }

    fn fail(&mut self, e: BodyError) -> BodyError {
        self.error = Some(e);
        e
    }

    /// Gets more wire bytes into the buffer, within the rate floor: the wait lasts as long
    /// as the sender's credit (see [`super::config::BODY_RATE_WINDOW`]), which what arrives
    /// refills up to `rate × window`.
    fn fill(&mut self) -> Result<(), BodyError> {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let rate = self.limits.min_rate as f64;
        let grace_end = started + self.limits.grace;
        let deadline = if self.limits.min_rate == 0 {
            now + Duration::from_secs(u32::MAX as u64)
        } else {
            self.settle_credit(now, grace_end);
            now.max(grace_end) + Duration::from_secs_f64(self.credit / rate)
        };
        match self.wire.fill_until(deadline, self.limits.read_chunk) {
            Ok(0) => Err(self.fail(BodyError::Gone)),
            Ok(n) => {
                if self.limits.min_rate != 0 {
                    self.settle_credit(Instant::now(), grace_end);
                    let cap = rate * self.limits.rate_window.as_secs_f64();
                    self.credit = (self.credit + n as f64).min(cap);
                }
                Ok(())
            }
            Err(e) if is_timeout(&e) => Err(self.fail(BodyError::Timeout)),
            Err(_) => Err(self.fail(BodyError::Gone)),
        }
    }

    /// Drains the credit at the floor rate for the time since it was last settled that lies
    /// after the grace.
    fn settle_credit(&mut self, now: Instant, grace_end: Instant) {
        let from = self.credit_at.unwrap_or(now).max(grace_end);
        if now > from {
            let spent = (now - from).as_secs_f64() * self.limits.min_rate as f64;
            self.credit = (self.credit - spent).max(0.0);
        }
        self.credit_at = Some(self.credit_at.map_or(now, |at| at.max(now)));
    }

    /// Reads decoded body bytes into `out`. `hold`: the caller keeps them (a handler), so
    /// they are reserved in the budget first; draining throws them away and reserves nothing.
    fn read_inner(&mut self, out: &mut [u8], hold: bool) -> Result<usize, BodyError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if out.is_empty() {
            return Ok(0);
        }
        // Before `100 Continue`: a body that waits for room has not been sent yet.
        if hold {
            self.reserve_for(out.len())?;
        }
        if self.continue_pending {
            self.continue_pending = false;
            if self
                .wire
                .write_now(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
            {
                return Err(self.fail(BodyError::Gone));
            }
        }
        loop {
            match &mut self.state {
                State::Done => return Ok(0),
                State::Length(remaining) => {
                    if *remaining == 0 {
                        self.state = State::Done;
                        return Ok(0);
                    }
                    if self.wire.buffered().is_empty() {
                        self.fill()?;
                        continue;
                    }
                    let buf = self.wire.buffered();
                    let n = (buf.len() as u64).min(*remaining).min(out.len() as u64) as usize;
                    out[..n].copy_from_slice(&buf[..n]);
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::Done;
                    }
                    self.wire.consume(n);
                    self.raw += n as u64;
                    self.read += n as u64;
                    return Ok(n);
                }
                State::Chunked(dec) => {
                    if self.wire.buffered().is_empty() {
                        self.fill()?;
                        continue;
                    }
                    let room = (self.limits.max_bytes - self.read).min(out.len() as u64) as usize;
                    let (used, n) = if room == 0 {
                        // At the limit: only framing (the end of the body) may follow.
                        let mut probe = [0u8; 1];
                        match dec.decode(self.wire.buffered(), &mut probe) {
                            Ok((_, 1)) => return Err(self.fail(BodyError::TooLarge)),
                            Ok(r) => r,
                            Err(e) => return Err(self.fail(e)),
                        }
                    } else {
                        match dec.decode(self.wire.buffered(), &mut out[..room]) {
                            Ok(r) => r,
                            Err(e) => return Err(self.fail(e)),
                        }
                    };
                    let done = dec.is_done();
                    self.wire.consume(used);
                    self.raw += used as u64;
                    self.read += n as u64;
                    if done {
                        self.state = State::Done;
                    }
                    if n > 0 || done {
                        return Ok(n);
                    }
                }
            }
        }
    }

    /// After the handler: reads and discards what it left unread, up to `max` wire bytes.
    /// Returns whether the connection is still in step (the body was read to its end).
    pub fn drain(&mut self, max: u64) -> bool {
        if self.is_done() {
            return true;
        }
        if self.error.is_some() || self.continue_pending {
            // The client may or may not send the body now: the connection cannot be reused.
            return false;
        }
        if let Some(n) = self.declared_len() {
            if n - self.read > max {
                return false;
            }
        }
        let start = self.raw;
        let mut scratch = [0u8; 4096];
        while self.raw - start <= max {
            match self.read_inner(&mut scratch, false) {
                Ok(0) => return self.is_done(),
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, true).map_err(BodyError::io)
    }
}

impl Drop for Body<'_> {
    /// The body's memory is the handler's no more (it has returned): its room goes back.
    fn drop(&mut self) {
        if let Some(b) = self.budget {
            b.give(self.reserved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = ChunkedDecoder::new(1024);
        let mut out = vec![0u8; 1 << 16];
        let (used, n) = d.decode(input, &mut out)?;
        if !d.is_done() {
            return Err(BodyError::Gone);
        }
        out.truncate(n);
        Ok((out, used))
    }

    #[test]
    fn chunked() {
        let (b, used) = decode_all(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\nGET").unwrap();
        assert_eq!(b, b"hello world");
        assert_eq!(used, b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n".len());
        let (b, _) = decode_all(b"A\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n").unwrap();
        assert_eq!(b, b"0123456789");
        assert_eq!(
            decode_all(b"5\nhello\r\n0\r\n\r\n"),
            Err(BodyError::Malformed)
        );
        assert_eq!(
            decode_all(b"5\r\nhelloX\r\n0\r\n\r\n"),
            Err(BodyError::Malformed)
        );
        assert_eq!(decode_all(b"\r\n"), Err(BodyError::Malformed));
        assert_eq!(decode_all(b"-5\r\n"), Err(BodyError::Malformed));
        assert_eq!(
            decode_all(b"fffffffffffffffff\r\n"),
            Err(BodyError::TooLarge)
        );
        assert_eq!(decode_all(b"0\r\nX: 1\n\r\n"), Err(BodyError::Malformed));
    }

    #[test]
    fn chunked_byte_by_byte() {
        let input = b"3\r\nabc\r\n2 ; ext\r\nde\r\n0\r\nT: v\r\n\r\n";
        let mut d = ChunkedDecoder::new(1024);
        let mut got = Vec::new();
        for b in input.iter() {
            let mut out = [0u8; 4];
            let (used, n) = d.decode(std::slice::from_ref(b), &mut out).unwrap();
            assert_eq!(used, 1);
            got.extend_from_slice(&out[..n]);
        }
        assert!(d.is_done());
        assert_eq!(got, b"abcde");
    }

    /// Found reviewing the decoder for the fuzz target: a chunk-size line of leading zeros
    /// was never cut (the line limit was only checked in extensions), so a client could keep
    /// a body going forever without sending a byte of data.
    #[test]
    fn chunk_size_line_limit_covers_leading_zeros() {
        let mut line = vec![b'0'; MAX_CHUNK_LINE];
        line.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&line), Err(BodyError::Malformed));
        let mut ok = vec![b'0'; MAX_CHUNK_LINE - 1];
        ok.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&ok).unwrap().0, b"x");
    }

    #[test]
    fn trailer_limit() {
        let mut d = ChunkedDecoder::new(8);
        let mut out = [0u8; 4];
        assert_eq!(
            d.decode(b"0\r\nLong-Trailer: 1\r\n\r\n", &mut out),
            Err(BodyError::TrailersTooLarge)
        );
    }
}
