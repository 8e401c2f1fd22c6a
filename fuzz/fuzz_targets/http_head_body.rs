//! The HTTP/1.1 head parser and body framing, fed as one byte stream (a connection's worth of
//! pipelined requests), through the socket-free pieces the connection code uses:
//! `http::head::head_end` (finding the head in what was read so far), `http::head::parse`
//! (request line, headers, framing decision) and `http::body::ChunkedDecoder`.
//!
//! The first bytes pick how many bytes each read delivers, the decoder's output buffer size
//! and the limits. Properties: nothing panics; finding the head incrementally (read by read)
//! gives the same answer as finding it in everything at once; a head with both Content-Length
//! and Transfer-Encoding (as httparse itself sees the fields) is refused, as is a TE in
//! HTTP/1.0; accepted framing agrees with the fields; a declared length is within the body
//! limit; the chunked decoder always makes progress, never produces more than it consumed,
//! consumes no more than it was given, and decodes the same whatever the read and output
//! sizes; the stream itself, chunked as a correct client may (either hex case, leading zeros,
//! extensions with quoted strings, trailers), decodes back to exactly the stream and stops
//! where the body ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thetorrent::http::body::{BodyError, ChunkedDecoder};
use thetorrent::http::head::{self, Framing, Head, HeadError};
use thetorrent::http::Config;
use thetorrent_fuzz::Choices;

/// Finds the head the way `read_head` does: one read of `step` bytes at a time.
fn find_incrementally(s: &[u8], step: usize, max: usize) -> Option<Result<usize, HeadError>> {
    let mut avail = step.min(s.len());
    let mut scanned = 0;
    loop {
        match head::head_end(&s[..avail], scanned, max) {
            Ok(Some(e)) => return Some(Ok(e)),
            Err(e) => return Some(Err(e)),
            Ok(None) if avail == s.len() => return None, // peer closed mid-head
            Ok(None) => {
                scanned = avail;
                avail = (avail + step).min(s.len());
            }
        }
    }
}

/// Chunked decoding with reads of `step` bytes and an output buffer of `out_size`.
/// Returns (consumed, decoded, result).
fn decode_chunked(
    s: &[u8],
    step: usize,
    out_size: usize,
) -> (usize, Vec<u8>, Result<bool, BodyError>) {
    let mut dec = ChunkedDecoder::new(4096);
    let mut out = vec![0u8; out_size];
    let mut decoded = Vec::new();
    let (mut consumed, mut avail) = (0, 0);
    loop {
        if dec.is_done() {
            return (consumed, decoded, Ok(true));
        }
        if consumed == avail {
            if avail == s.len() {
                return (consumed, decoded, Ok(false)); // body cut short
            }
            avail = avail.saturating_add(step).min(s.len());
        }
        match dec.decode(&s[consumed..avail], &mut out) {
            Ok((used, n)) => {
                assert!(
                    used <= avail - consumed,
                    "decoder consumed more than it was given"
                );
                assert!(n <= out.len());
                assert!(
                    used > 0 || n > 0 || dec.is_done(),
                    "decoder made no progress"
                );
                consumed += used;
                decoded.extend_from_slice(&out[..n]);
                assert!(decoded.len() <= consumed, "decoded more than consumed");
            }
            Err(e) => return (consumed, decoded, Err(e)),
        }
    }
}

/// A Content-Length field's value, read independently: digits only, around whitespace.
fn cl_value(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v.trim_ascii())
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|_| v.trim_ascii().iter().all(u8::is_ascii_digit))
}

fuzz_target!(|data: &[u8]| {
    let mut ch = Choices::new(data);
    let step = match ch.byte() {
        0 => usize::MAX,
        b => b as usize % 64 + 1,
    };
    let out_size = match ch.byte() {
        0 => 16 * 1024,
        b => b as usize % 32 + 1,
    };
    let limits = ch.byte();
    let mut cfg = Config::default();
    if limits & 1 != 0 {
        cfg.max_head_bytes = 64 + (limits as usize >> 1);
    }
    if limits & 2 != 0 {
        cfg.max_body_bytes = limits as u64;
    }
    if limits & 4 != 0 {
        cfg.max_headers = (limits >> 3) as usize;
    }
    let stream = ch.rest();

    // Round trip: the stream as a body, chunked the way a correct client may (chunks of `step`
    // bytes, either hex case, leading zeros, extensions with BWS and quoted strings, trailers),
    // followed by the next request: decodes to exactly the stream, stopping at its end.
    let mut enc = Vec::new();
    for (i, chunk) in stream.chunks(step.min(4096)).enumerate() {
        let size = if out_size % 2 == 0 {
            format!("{:x}", chunk.len())
        } else {
            format!("{:03X}", chunk.len())
        };
        enc.extend_from_slice(size.as_bytes());
        if limits & 0x40 != 0 {
            enc.extend_from_slice(format!(" ; n{i} = \"a;b\\\"c\" ;flag").as_bytes());
        }
        enc.extend_from_slice(b"\r\n");
        enc.extend_from_slice(chunk);
        enc.extend_from_slice(b"\r\n");
    }
    enc.extend_from_slice(b"0\r\n");
    if limits & 0x20 != 0 {
        enc.extend_from_slice(b"X-Checksum: 1\r\nX-Empty:\r\n");
    }
    enc.extend_from_slice(b"\r\n");
    let body_len = enc.len();
    enc.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let (consumed, decoded, r) = decode_chunked(&enc, step, out_size);
    assert_eq!(r, Ok(true), "a well-formed chunked body was refused");
    assert_eq!(
        consumed, body_len,
        "decoder did not stop at the end of the body"
    );
    assert!(decoded == stream, "chunked body does not round-trip");

    let mut pos = 0;
    for _ in 0..32 {
        // Empty lines before a request line are skipped.
        pos += stream[pos..]
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if pos == stream.len() {
            return;
        }
        let s = &stream[pos..];
        let Some(found) = find_incrementally(s, step.min(s.len()), cfg.max_head_bytes) else {
            assert_eq!(head::head_end(s, 0, cfg.max_head_bytes), Ok(None));
            return;
        };
        assert_eq!(
            found.map(Some),
            head::head_end(s, 0, cfg.max_head_bytes),
            "incremental head search differs from a whole-buffer search"
        );
        let Ok(end) = found else { return };
        assert!(end <= s.len() && end <= cfg.max_head_bytes);

        let mut h = Head {
            bytes: s[..end].to_vec(),
            ..Head::default()
        };
        let r = head::parse(&mut h, &cfg);

        // What httparse itself sees, independently of the project's decision.
        let mut hs = [httparse::EMPTY_HEADER; 1024];
        let mut req = httparse::Request::new(&mut hs);
        let seen = matches!(req.parse(&s[..end]), Ok(httparse::Status::Complete(_)));
        let (mut cl, mut te) = (Vec::new(), false);
        if seen {
            for f in req.headers.iter() {
                if f.name.eq_ignore_ascii_case("content-length") {
                    cl.push(f.value.to_vec());
                } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
                    te = true;
                }
            }
        }
        let Ok(()) = r else {
            // An error answer closes the connection: nothing after it is read.
            return;
        };
        assert!(seen, "head accepted that httparse does not parse");
        assert!(
            !(te && !cl.is_empty()),
            "Content-Length with Transfer-Encoding accepted"
        );
        assert!(
            !(te && req.version == Some(0)),
            "Transfer-Encoding in HTTP/1.0 accepted"
        );
        assert!(h.method.end <= end && h.target.end <= end);
        for (n, v) in &h.headers {
            assert!(n.end <= end && v.end <= end);
        }
        let framing = h.framing.expect("accepted head without framing");
        match framing {
            Framing::Chunked => assert!(te, "chunked without Transfer-Encoding"),
            Framing::Length(l) => {
                assert!(!te && !cl.is_empty());
                assert!(
                    l <= cfg.max_body_bytes,
                    "declared length over the body limit"
                );
                assert!(
                    cl.iter().all(|v| cl_value(v) == Some(l)),
                    "length differs from a field"
                );
            }
            Framing::Empty => {
                assert!(!te);
                assert!(
                    cl.iter().all(|v| cl_value(v) == Some(0)),
                    "no body despite a length"
                );
            }
        }
        pos += end;

        // The body.
        let s = &stream[pos..];
        match framing {
            Framing::Empty => {}
            Framing::Length(l) => {
                if (s.len() as u64) < l {
                    return;
                }
                pos += l as usize;
            }
            Framing::Chunked => {
                let a = decode_chunked(s, step.min(s.len().max(1)), out_size);
                let b = decode_chunked(s, usize::MAX, s.len().max(1));
                // The decoder reports no progress with an error: compare the errors only.
                if a.2.is_err() || b.2.is_err() {
                    assert_eq!(
                        a.2, b.2,
                        "chunked decoding fails differently with other read or buffer sizes"
                    );
                } else {
                    assert_eq!(a, b, "chunked decoding depends on read or buffer sizes");
                }
                let (consumed, decoded, r) = a;
                assert!(consumed <= s.len() && decoded.len() <= consumed);
                match r {
                    Ok(true) => pos += consumed,
                    _ => return,
                }
            }
        }
        if !h.keep_alive {
            return;
        }
    }
});
