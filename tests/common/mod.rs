//! Helpers shared by the integration tests: the real binary and its server, the corpus,
//! temporary folders, loopback stand-ins.
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
#[allow(unused_imports)]
pub use tempfile::TempDir;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// A fresh directory under the system's temporary folder, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The corpus (read-only, `tests/data/corpus`). Tests fail, never skip, when it is missing.
pub fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    assert!(
        p.join("MANIFEST.tsv").is_file(),
        "the corpus is missing at {} (it is required, not optional)",
        p.display()
    );
    p
}

/// One row of MANIFEST.tsv: a corpus file and what libtorrent 2.1.1 says of it.
#[derive(Debug, Clone)]
pub struct Row {
    /// The file's path in the manifest (relative to the corpus).
    pub rel: String,
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    pub accept: bool,
    /// Upper-case hex.
    pub v1: Option<String>,
    /// Upper-case hex.
    pub v2: Option<String>,
    /// libtorrent's error for a rejected file.
    pub error: String,
}

/// Every row of the corpus's MANIFEST.tsv (a malformed line fails the test).
pub fn manifest() -> Vec<Row> {
    manifest_in(&corpus())
}

/// Every row of the MANIFEST.tsv in `root` (a corpus's layout: path, size, libtorrent's
/// verdict, v1 and v2 hashes, its error).
pub fn manifest_in(root: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(root.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}/MANIFEST.tsv: {e}", root.display()));
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            f.len() >= 5,
            "MANIFEST.tsv line {}: {} columns",
            n + 1,
            f.len()
        );
        let opt = |s: &str| (s != "-").then(|| s.to_ascii_uppercase());
        rows.push(Row {
            rel: f[0].to_string(),
            path: root.join(f[0]),
            bytes: f[1]
                .parse()
                .unwrap_or_else(|_| panic!("MANIFEST.tsv line {}: size", n + 1)),
            accept: match f[2] {
                "accept" => true,
                "reject" => false,
                v => panic!("MANIFEST.tsv line {}: verdict {v:?}", n + 1),
            },
            v1: opt(f[3]),
            v2: opt(f[4]),
            error: f.get(5).unwrap_or(&"").to_string(),
        });
    }
    rows
}

/// The manifest's row of the corpus file `rel`.
pub fn manifest_row(rel: &str) -> Row {
    manifest()
        .into_iter()
        .find(|r| r.rel == rel)
        .unwrap_or_else(|| panic!("{rel} is not in MANIFEST.tsv"))
}

/// A corpus file by its path in the manifest.
pub fn corpus_file(rel: &str) -> PathBuf {
    let p = corpus().join(rel);
    assert!(p.is_file(), "{} missing", p.display());
    p
}

/// Serves each connection to a fresh loopback port with `handle`, on a thread of its own;
/// for stand-ins of the servers and clients the tests talk to.
pub fn serve_connections(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("its address");
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let handle = handle.clone();
            std::thread::spawn(move || handle(conn));
        }
    });
    addr
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

/// Asserts that a program's output says `want`, showing the whole output when it does not.
#[track_caller]
pub fn assert_says(output: &str, want: &str) {
    assert!(output.contains(want), "{want:?} not in:\n{output}");
}

/// The store's count, as `thetorrent count` prints it.
pub fn count(data: &Path) -> u64 {
    let o = run(data, &["count"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().parse().expect("count is a number")
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
