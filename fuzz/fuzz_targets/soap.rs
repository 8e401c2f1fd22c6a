//! The SOAP envelope parser.
//!
//! Two kinds of input. One that starts like a document (`<`, a BOM or whitespace) is parsed as
//! it is: whatever happens, a decoded torrent never exceeds the limit. Any other input is a
//! recipe: its first bytes pick the envelope's shape (XML declaration, BOM, prefixes, Header,
//! operation, part name and attributes, whitespace between elements, how the base64 is wrapped
//! and with what), the rest is the torrent, base64-encoded into it. Such a request must parse
//! to exactly that operation and those bytes, or be `TooLarge` with the exact size when over
//! the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thetorrent::app::soap::{parse_request_with_limit, Operation, SoapError};
use thetorrent_fuzz::{b64_encode, Choices};

const DECLS: &[&[u8]] = &[
    b"",
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    b"\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8'?>\n",
    b"\n \t<!-- generated -->\r\n",
];
const ENV_PREFIXES: &[&str] = &["soap", "SOAP-ENV", "soap-env", "s", ""];
const OP_PREFIXES: &[&str] = &["tns", "ns1", "ns0", ""];
const SPACES: &[&[u8]] = &[
    b"",
    b" ",
    b"\n",
    b"\r\n  ",
    b"\t",
    b"<!-- c -->",
    b"<?pi x?>",
];
const BREAKS: &[&[u8]] = &[b"\n", b"\r\n", b" ", b"&#10;", b"&#x9;", b"\t\t"];

fn q(prefix: &str, local: &str) -> String {
    if prefix.is_empty() {
        local.to_string()
    } else {
        format!("{prefix}:{local}")
    }
}

fuzz_target!(|data: &[u8]| {
    let limit_choice = data.last().copied().unwrap_or(0);
    if matches!(
        data.first(),
        Some(b'<' | 0xEF | b' ' | b'\t' | b'\r' | b'\n')
    ) {
        let limit = if limit_choice & 1 == 0 {
            10 << 20
        } else {
            1 + limit_choice as usize * 4
        };
        if let Ok(call) = parse_request_with_limit(data, limit) {
            assert!(
                call.torrent.len() <= limit,
                "decoded torrent over the limit"
            );
        }
        return;
    }

    let mut ch = Choices::new(data);
    let flags = ch.byte();
    let decl = ch.pick(DECLS);
    let env = ch.pick(ENV_PREFIXES);
    let opp = ch.pick(OP_PREFIXES);
    let sp: Vec<&[u8]> = (0..6).map(|_| ch.pick(SPACES)).collect();
    let wrap = ch.byte() as usize; // 0: one line
    let brk = ch.pick(BREAKS);
    let limit = match ch.byte() % 3 {
        0 => ch.byte() as usize + 1,
        _ => 10 << 20,
    };
    let op = if flags & 1 == 0 {
        Operation::StoreTorrent
    } else {
        Operation::CacheTorrent
    };
    let payload = ch.rest();

    let mut b: Vec<u8> = decl.to_vec();
    let env_ns = if env.is_empty() {
        "xmlns".to_string()
    } else {
        format!("xmlns:{env}")
    };
    b.extend_from_slice(
        format!(
            "<{} {env_ns}=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"{}>",
            q(env, "Envelope"),
            if flags & 2 != 0 { " soap:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"" } else { "" }
        )
        .as_bytes(),
    );
    b.extend_from_slice(sp[0]);
    if flags & 4 != 0 {
        b.extend_from_slice(
            format!("<{0}><auth><user>x</user></auth></{0}>", q(env, "Header")).as_bytes(),
        );
        b.extend_from_slice(sp[1]);
    }
    b.extend_from_slice(format!("<{}>", q(env, "Body")).as_bytes());
    b.extend_from_slice(sp[2]);
    let opname = q(opp, op.name());
    let op_ns = if opp.is_empty() {
        "xmlns".to_string()
    } else {
        format!("xmlns:{opp}")
    };
    b.extend_from_slice(format!("<{opname} {op_ns}=\"urn:TorrentService\">").as_bytes());
    b.extend_from_slice(sp[3]);
    let part = match (flags >> 3) & 3 {
        0 => "torrent",
        1 => "arg0",
        2 => "tns:torrent",
        _ => "torrent",
    };
    let attrs = if flags & 0x20 != 0 {
        " xsi:type=\"xsd:string\""
    } else {
        ""
    };
    b.extend_from_slice(format!("<{part}{attrs}>").as_bytes());
    if flags & 0x40 != 0 {
        b.extend_from_slice(brk);
    }
    let encoded = b64_encode(payload);
    if wrap == 0 {
        b.extend_from_slice(&encoded);
    } else {
        for (i, line) in encoded.chunks(wrap).enumerate() {
            if i > 0 {
                b.extend_from_slice(brk);
            }
            b.extend_from_slice(line);
        }
    }
    if flags & 0x80 != 0 {
        b.extend_from_slice(brk);
    }
    b.extend_from_slice(format!("</{part}>").as_bytes());
    b.extend_from_slice(sp[4]);
    b.extend_from_slice(format!("</{opname}>").as_bytes());
    b.extend_from_slice(format!("</{}>", q(env, "Body")).as_bytes());
    b.extend_from_slice(sp[5]);
    b.extend_from_slice(format!("</{}>\n", q(env, "Envelope")).as_bytes());

    let r = parse_request_with_limit(&b, limit);
    if payload.is_empty() {
        assert_eq!(r, Err(SoapError::EmptyTorrent));
    } else if payload.len() > limit {
        assert_eq!(
            r,
            Err(SoapError::TooLarge {
                size: payload.len() as u64,
                limit
            }),
            "request: {}",
            String::from_utf8_lossy(&b)
        );
    } else {
        let call = r.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b)));
        assert_eq!(call.operation, op);
        assert!(call.torrent == payload, "torrent bytes do not round-trip");
    }
});
