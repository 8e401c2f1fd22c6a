//! Agreement with libtorrent 2.1.1 on every row of the corpus manifest and of the differential
//! fixtures' manifest.
//!
//! The corpus is `tests/data/corpus`, the fixtures `tests/data/differential` (each with its
//! PROVENANCE.md). Rows under `known-differences/` are files where thetorrent knowingly rejects
//! what libtorrent accepts (docs/differential.md): they must stay rejected. A missing manifest
//! fails the test: silently skipping it would hide every regression it exists to catch.

mod common;

use common::{manifest_in, Row};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thetorrent::torrent;
use thetorrent::torrent::hash::hex_upper;

fn data_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

/// Rows in this folder of a manifest are known differences: libtorrent accepts, we reject.
const KNOWN_DIFFERENCES: &str = "known-differences/";

#[test]
fn agrees_with_libtorrent_on_every_corpus_row() {
    let dir = data_dir("corpus");
    let rows = manifest_in(&dir);
    assert_eq!(rows.len(), 176, "the manifest should list 176 torrents");
    check(&dir, &rows);
}

#[test]
fn agrees_with_libtorrent_on_every_differential_fixture() {
    let dir = data_dir("differential");
    let rows = manifest_in(&dir);
    assert!(
        rows.len() >= 20,
        "{}: {} rows, expected the harness's fixtures",
        dir.display(),
        rows.len()
    );
    let known: Vec<&Row> = rows
        .iter()
        .filter(|r| r.rel.starts_with(KNOWN_DIFFERENCES))
        .collect();
    assert!(!known.is_empty(), "no known-differences rows");
    for row in known {
        let bytes =
            std::fs::read(&row.path).unwrap_or_else(|e| panic!("cannot read {}: {e}", row.rel));
        assert!(row.accept, "{}: libtorrent should accept it", row.rel);
        assert!(
            torrent::validate(&bytes).is_err(),
            "{}: a known difference must stay rejected",
            row.rel
        );
    }
    let rest: Vec<Row> = rows
        .into_iter()
        .filter(|r| !r.rel.starts_with(KNOWN_DIFFERENCES))
        .collect();
    check(&dir, &rest);
}

fn check(dir: &Path, rows: &[Row]) {
    let mut table = String::new();
    let mut bad = 0;
    for row in rows {
        let bytes = std::fs::read(&row.path)
            .unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", row.rel));
        assert_eq!(bytes.len(), row.bytes, "size of {}", row.rel);
        let got = torrent::validate(&bytes);
        let (ok, ours) = match &got {
            Ok(p) => {
                let v1 = p.v1.map(|h| hex_upper(&h));
                let v2 = p.v2.map(|h| hex_upper(&h));
                let same = row.accept && v1 == row.v1 && v2 == row.v2;
                (
                    same,
                    format!(
                        "accept v1={} v2={}",
                        v1.as_deref().unwrap_or("-"),
                        v2.as_deref().unwrap_or("-")
                    ),
                )
            }
            Err(e) => (!row.accept, format!("reject: {e}")),
        };
        if !ok {
            bad += 1;
            let theirs = if row.accept {
                format!(
                    "accept v1={} v2={}",
                    row.v1.as_deref().unwrap_or("-"),
                    row.v2.as_deref().unwrap_or("-")
                )
            } else {
                format!("reject: {}", row.error)
            };
            let _ = writeln!(
                table,
                "{}\n    libtorrent: {theirs}\n    ours:       {ours}",
                row.rel
            );
        }
    }
    if bad > 0 {
        eprintln!(
            "{bad} of {} rows of {} disagree with libtorrent 2.1.1:\n{table}",
            rows.len(),
            dir.display()
        );
        panic!("{bad} rows disagree (table above)");
    }
}
