//! The streaming multipart/form-data parser.
//!
//! The first bytes pick the Content-Type (one of a few boundaries, or fuzzer text), the part
//! size limit and up to eight split points; the rest is the body. Properties: feeding the body
//! whole, split at those points, and byte by byte gives the same parts and the same result;
//! no part's data exceeds the limit and a too-large part reports a size above it; parts come
//! out only for the wanted field names; nothing is returned after an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thetorrent::app::multipart::{
    MultipartError, MultipartParser, Part, PartBody, MAX_PARTS, TORRENT_FIELDS,
};
use thetorrent_fuzz::Choices;

const CTS: &[&str] = &[
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data; boundary=------------------------934fba00d1105375",
    "Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b'()+_,-./:=?\"",
    "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "multipart/form-data; boundary=1",
];

fn run(
    ct: &str,
    limit: usize,
    body: &[u8],
    cuts: &[usize],
) -> (Vec<Part>, Result<(), MultipartError>) {
    let mut p = match MultipartParser::new(ct, limit) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        if let Err(e) = p.feed(&body[prev..c], &mut out) {
            // Later calls keep failing the same way.
            assert_eq!(p.feed(b"more", &mut out), Err(e.clone()));
            assert_eq!(p.finish(), Err(e.clone()));
            return (out, Err(e));
        }
        prev = c;
    }
    let r = p.finish();
    (out, r)
}

fuzz_target!(|data: &[u8]| {
    let mut ch = Choices::new(data);
    let sel = ch.byte();
    let limit = match ch.byte() % 4 {
        0 => 0,
        1 => ch.byte() as usize,
        _ => 10 << 20,
    };
    let ncuts = (ch.byte() % 9) as usize;
    let raw_cuts: Vec<u16> = (0..ncuts).map(|_| ch.u16()).collect();
    let ct_owned;
    let ct: &str = if sel & 0x80 != 0 {
        // Content-Type from the input: up to the first NUL.
        let rest = ch.data;
        let end = rest
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(rest.len())
            .min(200);
        ct_owned = String::from_utf8_lossy(&rest[..end]).into_owned();
        ch.data = &rest[(end + 1).min(rest.len())..];
        &ct_owned
    } else {
        CTS[sel as usize % CTS.len()]
    };
    let body = ch.rest();
    let mut cuts: Vec<usize> = raw_cuts
        .iter()
        .map(|&c| c as usize % (body.len() + 1))
        .collect();
    cuts.sort_unstable();

    // Parts handed out before an error are never used (a handler keeps them until `finish`
    // succeeds): compare the parts of successful parses, and the errors of failed ones.
    let same = |a: &(Vec<Part>, Result<(), MultipartError>),
                b: &(Vec<Part>, Result<(), MultipartError>)| {
        a.1 == b.1 && (a.1.is_err() || a.0 == b.0)
    };
    let whole = run(ct, limit, body, &[]);
    let split = run(ct, limit, body, &cuts);
    assert!(
        same(&whole, &split),
        "split feeding differs from whole feeding (cuts {cuts:?}): {whole:?} vs {split:?}"
    );
    if body.len() <= 2048 {
        let bytewise: Vec<usize> = (1..body.len()).collect();
        let bytes = run(ct, limit, body, &bytewise);
        assert!(
            same(&whole, &bytes),
            "byte-by-byte feeding differs from whole feeding: {whole:?} vs {bytes:?}"
        );
    }

    // Round trip: the body's bytes as the data of up to nine `torrent` parts (split at the
    // cuts), in a well-formed body (with or without a preamble, with the boundary padding
    // some clients send), parse back to exactly those parts, whatever the feeding.
    let bnd = "RtBoundary";
    let delim = format!("\r\n--{bnd}");
    if !body.windows(delim.len()).any(|w| w == delim.as_bytes()) {
        let eol: &[u8] = b"\r\n";
        let mut bounds = vec![0];
        bounds.extend_from_slice(&cuts);
        bounds.push(body.len());
        let mut enc = Vec::new();
        if sel & 0x40 != 0 {
            enc.extend_from_slice(b"preamble\r\n");
        }
        let mut want = Vec::new();
        for (i, w) in bounds.windows(2).enumerate() {
            let data = &body[w[0]..w[1]];
            enc.extend_from_slice(format!("--{bnd}").as_bytes());
            if sel & 0x20 != 0 {
                enc.extend_from_slice(b" \t ");
            }
            enc.extend_from_slice(eol);
            enc.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"torrent\"; filename=\"d/{i}.torrent\""
                )
                .as_bytes(),
            );
            enc.extend_from_slice(eol);
            enc.extend_from_slice(b"Content-Type: application/x-bittorrent");
            enc.extend_from_slice(eol);
            enc.extend_from_slice(eol);
            enc.extend_from_slice(data);
            enc.extend_from_slice(b"\r\n");
            want.push((format!("{i}.torrent"), data.to_vec()));
        }
        enc.extend_from_slice(format!("--{bnd}--").as_bytes());
        enc.extend_from_slice(eol);
        let ct = format!("multipart/form-data; boundary={bnd}");
        let mut enc_cuts: Vec<usize> = raw_cuts
            .iter()
            .map(|&c| c as usize % (enc.len() + 1))
            .collect();
        enc_cuts.sort_unstable();
        for feeding in [&[][..], &enc_cuts[..]] {
            let (parts, r) = run(&ct, 10 << 20, &enc, feeding);
            assert_eq!(r, Ok(()), "a well-formed body was refused");
            let got: Vec<(String, Vec<u8>)> = parts
                .into_iter()
                .map(|p| match p.body {
                    PartBody::Data(d) => (p.filename.unwrap_or_default(), d),
                    PartBody::TooLarge { .. } => unreachable!(),
                })
                .collect();
            assert!(got == want, "parts do not round-trip");
        }
    }

    let (parts, _) = whole;
    assert!(parts.len() <= MAX_PARTS);
    for p in &parts {
        assert!(
            TORRENT_FIELDS.contains(&p.name.as_str()),
            "unwanted field {:?}",
            p.name
        );
        match &p.body {
            PartBody::Data(d) => assert!(d.len() <= limit, "part data over the limit"),
            PartBody::TooLarge { size, limit: l } => {
                assert_eq!(*l, limit);
                assert!(
                    *size > limit as u64,
                    "too-large part of {size} bytes within the limit"
                );
            }
        }
        if let Some(f) = &p.filename {
            assert!(
                !f.contains('/') && !f.contains('\\'),
                "file name keeps a directory: {f:?}"
            );
        }
    }
});
