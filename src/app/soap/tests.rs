//! Tests: SOAP parsing and rendering against the captured client requests and hand-made edge cases.

use super::collector::Base64Collector;
use super::*;
use base64::Engine as _;

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
