//! End-to-end test in a real browser: starts the real server, then runs
//! `tests/browser/e2e.mjs` (Playwright-core driving the Debian `chromium`) against it.
//!
//! Owns: choosing the corpus torrents and their expected hashes (libtorrent's, from
//! MANIFEST.tsv), running the script under a time limit, and checking the server side
//! afterwards. Screenshots of each page at 1280 and 420 px wide land in
//! `target/screenshots/` (not committed; `.ci/run` keeps them as the run's artifacts).
//! Must never: skip — a missing `node`, `chromium` or `tests/browser/node_modules` is a
//! failure that says to run `tests/setup.sh`.

mod common;

use common::*;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest run of the whole browser script.
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);
/// The browser (Debian's `chromium`); `THETORRENT_CHROMIUM` overrides it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Uploaded through the file input with JavaScript (two at once).
const JS_FILES: [&str; 2] = [
    "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
    "crates-lava_torrent-0.11.1/tests/files/ubuntu-16.04.4-desktop-amd64.iso.torrent",
];
/// Uploaded with JavaScript after them: libtorrent rejects it.
const BAD_FILE: &str =
    "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/invalid_info.torrent";
/// Uploaded through the plain form with JavaScript off.
const NOJS_FILE: &str = "crates-lava_torrent-0.11.1/tests/files/tails-amd64-3.6.1.torrent";

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/screenshots/` (beside the build, so `/target` in .gitignore covers it).
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots")
}

/// The manifest row of `rel`, which must be accepted with a v1 hash.
fn row(rel: &str) -> (PathBuf, String) {
    let r = manifest_row(rel);
    assert!(r.accept, "{rel}: libtorrent rejects it");
    (r.path, r.v1.expect("v1 hash"))
}

/// Fails (never skips) with what to do when a tool is missing.
fn require_tools() -> (String, PathBuf) {
    let chromium = std::env::var("THETORRENT_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: run tests/setup.sh (apt-get install chromium)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(o) if o.status.success()),
        "node is missing: run tests/setup.sh (apt-get install nodejs npm)"
    );
    let dir = crate_dir().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "{}/node_modules is missing: run tests/setup.sh (npm ci in tests/browser)",
        dir.display()
    );
    (chromium, dir)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn file_json(path: &Path, hash: &str) -> String {
    format!(
        "{{\"path\":{},\"hash\":{}}}",
        json_str(&path.to_string_lossy()),
        json_str(hash)
    )
}

/// Runs `node e2e.mjs CONFIG` in `dir`, killing it past [`SCRIPT_LIMIT`]; (success, output).
fn run_script(dir: &Path, config: &str) -> (bool, String) {
    let mut log_file = tempfile::tempfile().expect("a log file");
    let out = log_file.try_clone().expect("the log file again");
    let mut child = Command::new("node")
        .arg("e2e.mjs")
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + SCRIPT_LIMIT;
    let ok = loop {
        if let Some(status) = child.try_wait().expect("wait node") {
            break status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    let _ = log_file.seek(std::io::SeekFrom::Start(0));
    let _ = log_file.read_to_string(&mut log);
    (ok, log)
}

#[test]
fn front_page_uploads_lookup_and_pages_in_chromium() {
    let (chromium, dir) = require_tools();
    let js: Vec<(PathBuf, String)> = JS_FILES.iter().map(|r| row(r)).collect();
    let nojs = row(NOJS_FILE);
    let bad = corpus_file(BAD_FILE);
    assert!(
        manifest().iter().any(|r| r.path == bad && !r.accept),
        "{BAD_FILE}: libtorrent accepts it"
    );
    // The name the torrent page must show (the library's reading of the file; the hash
    // compared is libtorrent's).
    let bytes = std::fs::read(&js[0].0).unwrap();
    let name = thetorrent::torrent::summary(&bytes).unwrap().name;
    assert!(!name.is_empty());
    // What a download of it is saved as.
    let file = thetorrent::app::names::file_name(&name).unwrap();

    let server = start(&[]);
    let base = format!("http://{}", server.addr);
    let shots = screenshot_dir();
    let config = format!(
        "{{\"base\":{},\"chromium\":{},\"shots\":{},\"js\":[{}],\"bad\":{},\"nojs\":{},\
         \"lookup\":{{\"hash\":{},\"name\":{},\"file\":{}}}}}",
        json_str(&base),
        json_str(&chromium),
        json_str(&shots.to_string_lossy()),
        js.iter()
            .map(|(p, h)| file_json(p, h))
            .collect::<Vec<_>>()
            .join(","),
        file_json(&bad, ""),
        file_json(&nojs.0, &nojs.1),
        json_str(&js[0].1),
        json_str(&name),
        json_str(&file),
    );
    let (ok, log) = run_script(&dir, &config);
    println!("{log}");
    assert!(
        ok,
        "the browser test failed:\n{log}\nserver log:\n{}",
        server.log()
    );
    assert!(log.contains("e2e: all checks passed"), "{log}");

    // The server side agrees: three files stored byte for byte, count 3.
    for (path, hash) in js.iter().chain([&nojs]) {
        let stored = std::fs::read(stored_path(server.data.path(), hash))
            .unwrap_or_else(|e| panic!("{hash} not stored: {e}"));
        assert_eq!(
            stored,
            std::fs::read(path).unwrap(),
            "{hash} stored as uploaded"
        );
    }
    assert_eq!(server.stat("count"), 3);
    let pages = [
        "01-front",
        "02-uploaded-js",
        "03-upload-result-nojs",
        "04-info",
        "05-api",
        "06-sync",
        "07-not-found",
        "10-lookup-error",
        "11-upload-address",
    ];
    let names = pages
        .iter()
        .flat_map(|p| [format!("{p}-1280"), format!("{p}-420")])
        .chain(["08-front-phone".into(), "09-info-phone".into()]);
    for name in names {
        let p = shots.join(format!("{name}.png"));
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "screenshot {} missing or empty", p.display());
    }
}
