//! `torrent::validate` against plain SHA-1 over the same bytes, on real 20–100 KB torrents.
//!
//! The contract (DESIGN.md): validation must reach at least 0.8x the throughput of hashing, i.e.
//! parsing costs much less than the SHA-1 of the info dict it has to compute anyway.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha1::{Digest, Sha1};
use std::hint::black_box;
use thetorrent::torrent;

const FILES: [&str; 3] = [
    "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
    "crates-lava_torrent-0.11.1/tests/files/ubuntu-16.04.4-desktop-amd64.iso.torrent",
    "crates-lava_torrent-0.11.1/tests/files/tails-amd64-3.6.1.torrent",
];

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");
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
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
