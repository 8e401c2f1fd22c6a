//! `torrent::validate` against plain SHA-1 over the same bytes, on real 20–100 KB torrents;
//! and `soap::parse_request` of the same files as SOAP uploads.
//!
//! The contract (DESIGN.md): validation must reach at least 0.8x the throughput of hashing, i.e.
//! parsing costs much less than the SHA-1 of the info dict it has to compute anyway.

use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha1::{Digest, Sha1};
use std::hint::black_box;
use thetorrent::app::soap;
use thetorrent::torrent;

const FILES: [&str; 3] = [
    "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
    "crates-lava_torrent-0.11.1/tests/files/ubuntu-16.04.4-desktop-amd64.iso.torrent",
    "crates-lava_torrent-0.11.1/tests/files/tails-amd64-3.6.1.torrent",
];

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");
    for rel in FILES {
        let bytes = std::fs::read(format!("{dir}/{rel}"))
            .unwrap_or_else(|e| panic!("corpus file {rel}: {e}"));
        assert!(torrent::validate(&bytes).is_ok(), "{rel} must validate");
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let mut g = c.benchmark_group(format!("{name} ({} B)", bytes.len()));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("sha1 over the whole file", |b| {
            b.iter(|| Sha1::digest(black_box(&bytes[..])))
        });
        g.bench_function("torrent::validate", |b| {
            b.iter(|| torrent::validate(black_box(&bytes[..])))
        });
        // A SOAP upload of the same file, as PHP sends it (one base64 line) and as Perl's
        // MIME::Base64 does (76-character lines).
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        for (how, text) in [
            ("one line", b64.clone()),
            ("76-char lines", lines.join("\n")),
        ] {
            let envelope = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope \
                 xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
                 xmlns:ns1=\"urn:TorrentService\"><SOAP-ENV:Body><ns1:storeTorrent>\
                 <torrent>{text}</torrent></ns1:storeTorrent></SOAP-ENV:Body></SOAP-ENV:Envelope>"
            );
            assert!(soap::parse_request(envelope.as_bytes()).is_ok());
            g.bench_function(format!("soap::parse_request, {how}"), |b| {
                b.iter(|| soap::parse_request(black_box(envelope.as_bytes())))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
