//! Agreement with libtorrent 2.1.1 on every row of the corpus manifest and of the differential
//! fixtures' manifest.
//!
//! The corpus is `tests/data/corpus`, the fixtures `tests/data/differential` (each with its
//! PROVENANCE.md). Rows under `known-differences/` are files where thetorrent knowingly rejects
//! what libtorrent accepts (docs/differential.md): they must stay rejected. A missing manifest
//! fails the test: silently skipping it would hide every regression it exists to catch.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thetorrent::torrent;

fn data_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

/// Rows in this folder of a manifest are known differences: libtorrent accepts, we reject.
const KNOWN_DIFFERENCES: &str = "known-differences/";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

struct Row {
    path: String,
    bytes: usize,
    accept: bool,
    v1: Option<String>,
    v2: Option<String>,
    lt_error: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_else(|e| {
        panic!(
            "corpus manifest missing at {}: {e} (the corpus is required, not optional)",
            dir.display()
        )
    });
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        assert!(
            c.len() >= 5,
            "MANIFEST.tsv line {} has {} columns",
            n + 1,
            c.len()
        );
        let opt = |s: &str| (s != "-").then(|| s.to_ascii_lowercase());
        rows.push(Row {
            path: c[0].to_string(),
            bytes: c[1].parse().unwrap_or(0),
            accept: match c[2] {
                "accept" => true,
                "reject" => false,
                v => panic!("MANIFEST.tsv line {}: verdict {v:?}", n + 1),
            },
            v1: opt(c[3]),
            v2: opt(c[4]),
            lt_error: c.get(5).unwrap_or(&"").to_string(),
        });
    }
    rows
}

#[test]
fn agrees_with_libtorrent_on_every_corpus_row() {
    let dir = data_dir("corpus");
    let rows = manifest(&dir);
    assert_eq!(rows.len(), 176, "the manifest should list 176 torrents");
    check(&dir, &rows);
}

#[test]
fn agrees_with_libtorrent_on_every_differential_fixture() {
    let dir = data_dir("differential");
    let rows = manifest(&dir);
    assert!(
        rows.len() >= 20,
        "{}: {} rows, expected the harness's fixtures",
        dir.display(),
        rows.len()
    );
    let known: Vec<&Row> = rows
        .iter()
        .filter(|r| r.path.starts_with(KNOWN_DIFFERENCES))
        .collect();
    assert!(!known.is_empty(), "no known-differences rows");
    for row in known {
        let bytes = std::fs::read(dir.join(&row.path))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", row.path));
        assert!(row.accept, "{}: libtorrent should accept it", row.path);
        assert!(
            torrent::validate(&bytes).is_err(),
            "{}: a known difference must stay rejected",
            row.path
        );
    }
    let rest: Vec<Row> = rows
        .into_iter()
        .filter(|r| !r.path.starts_with(KNOWN_DIFFERENCES))
        .collect();
    check(&dir, &rest);
}

fn check(dir: &Path, rows: &[Row]) {
    let mut table = String::new();
    let mut bad = 0;
    for row in rows {
        let bytes = std::fs::read(dir.join(&row.path))
            .unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", row.path));
        assert_eq!(bytes.len(), row.bytes, "size of {}", row.path);
        let got = torrent::validate(&bytes);
        let (ok, ours) = match &got {
            Ok(p) => {
                let v1 = p.v1.map(|h| hex(&h));
                let v2 = p.v2.map(|h| hex(&h));
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
                format!("reject: {}", row.lt_error)
            };
            let _ = writeln!(
                table,
                "{}\n    libtorrent: {theirs}\n    ours:       {ours}",
                row.path
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
