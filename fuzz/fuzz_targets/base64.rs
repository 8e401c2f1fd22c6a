//! The base64 handling of the SOAP `torrent` part: whitespace stripping, padding, the size
//! limit, and error positions.
//!
//! The fuzz input (after a few choice bytes) is the part's text, placed in an envelope either
//! as a CDATA section or as escaped character data. Properties, against a reference decoder
//! written here: whitespace anywhere is ignored; what the reference accepts decodes to the same
//! bytes, what it refuses is an error; an oversized torrent is `TooLarge` with its exact size
//! and nothing bigger than the limit is ever returned; an error position lies inside the
//! stripped text and points at the first byte that is not base64 (or at a misplaced `=`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use thetorrent::app::soap::{parse_request_with_limit, SoapError};
use thetorrent_fuzz::{b64_decode_ref, b64_value, is_b64_ws, Choices};

fn escape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &c in text {
        match c {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            c => out.push(c),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut ch = Choices::new(data);
    let mode = ch.byte();
    let limit = match ch.byte() % 4 {
        0 => 1 + ch.byte() as usize,
        1 => 64 + ch.u16() as usize,
        _ => 10 * 1024 * 1024,
    };
    let text = ch.rest();

    let mut body = b"<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><ns1:storeTorrent xmlns:ns1=\"urn:TorrentService\"><torrent>".to_vec();
    let cdata = mode & 1 == 1 && !text.windows(3).any(|w| w == b"]]>");
    if cdata {
        body.extend_from_slice(b"<![CDATA[");
        body.extend_from_slice(text);
        body.extend_from_slice(b"]]>");
    } else {
        body.extend_from_slice(&escape(text));
    }
    body.extend_from_slice(b"</torrent></ns1:storeTorrent></s:Body></s:Envelope>\n");

    let stripped: Vec<u8> = text.iter().copied().filter(|&c| !is_b64_ws(c)).collect();
    let symbols = stripped.iter().filter(|&&c| c != b'=').count() as u64;
    let r = parse_request_with_limit(&body, limit);

    match &r {
        Ok(call) => assert!(
            call.torrent.len() <= limit,
            "decoded torrent over the limit"
        ),
        Err(SoapError::Xml { .. }) if !cdata => {
            // Escaped text is always well-formed character data.
            panic!("escaped text refused as XML: {r:?}");
        }
        _ => {}
    }
    if stripped.is_empty() {
        assert_eq!(r, Err(SoapError::EmptyTorrent));
        return;
    }
    let size = symbols * 6 / 8;
    if size > limit as u64 {
        assert_eq!(r, Err(SoapError::TooLarge { size, limit }));
        return;
    }
    match (b64_decode_ref(&stripped), r) {
        (Some(want), Ok(call)) => assert_eq!(call.torrent, want, "decoded bytes differ"),
        (Some(_), Err(e)) => panic!("valid base64 refused: {e}"),
        (None, Ok(_)) => panic!("invalid base64 accepted"),
        (None, Err(SoapError::Base64 { at })) => {
            assert!(at < stripped.len(), "error position {at} past the text");
            let bad = stripped[at];
            assert!(
                bad == b'=' || b64_value(bad).is_none(),
                "position {at} points at a valid symbol"
            );
            if let Some(first) = stripped
                .iter()
                .position(|&c| c != b'=' && b64_value(c).is_none())
            {
                assert!(at <= first, "error at {at}, first invalid byte at {first}");
            }
        }
        (None, Err(SoapError::Base64Truncated { len })) => {
            assert_eq!(
                len,
                stripped.len(),
                "truncated length is not the text length"
            );
            assert_eq!(symbols % 4, 1);
        }
        (None, Err(SoapError::Base64Padding)) => {}
        (None, Err(e)) => panic!("unexpected error for invalid base64: {e:?}"),
    }
});
