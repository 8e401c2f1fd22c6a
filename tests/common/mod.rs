//! Helpers shared by the integration tests: the real binary, the shared corpus.
#![allow(dead_code)]

mod bodies;
mod seaweed;
mod server;
#[allow(unused_imports)]
pub use bodies::*;
#[allow(unused_imports)]
pub use seaweed::*;
#[allow(unused_imports)]
pub use server::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The corpus in tests/data (read-only). Tests fail, never skip, when it is missing.
pub fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    assert!(
        p.join("MANIFEST.tsv").is_file(),
        "the corpus is missing at {}",
        p.display()
    );
    p
}

/// One row of MANIFEST.tsv.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: PathBuf,
    pub accept: bool,
    pub v1: Option<String>,
    pub v2: Option<String>,
    pub error: String,
}

pub fn manifest() -> Vec<Row> {
    let root = corpus();
    let text = std::fs::read_to_string(root.join("MANIFEST.tsv")).expect("read manifest");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let opt = |s: &str| (s != "-").then(|| s.to_ascii_uppercase());
            Row {
                path: root.join(f[0]),
                accept: f[2] == "accept",
                v1: opt(f[3]),
                v2: opt(f[4]),
                error: f.get(5).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// A corpus file by its path in the manifest.
pub fn corpus_file(rel: &str) -> PathBuf {
    let p = corpus().join(rel);
    assert!(p.is_file(), "{} missing", p.display());
    p
}

/// Runs the real binary with `--data data` and the given arguments.
pub fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run thetorrent")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every regular file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Sharded path of a 40-hex key.
pub fn stored_path(data: &Path, hex: &str) -> PathBuf {
    let h = hex.to_ascii_uppercase();
    data.join("torrents")
        .join(&h[0..2])
        .join(&h[2..4])
        .join(format!("{h}.torrent"))
}
