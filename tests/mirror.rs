//! `thetorrent mirror`: two real instances on loopback (A serves, B mirrors it), and a fake
//! source speaking chunked bodies, closing connections and sending wrong files.
//!
//! Owns: checking that B ends up with A's count and A's files byte for byte, that a re-run
//! fetches nothing, that a torrent blocked on A is reported failed while the rest is copied,
//! and the exit codes. Must never: write B's data directory other than through the binary.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Files under `torrents/` of a data directory, relative path → bytes.
fn torrents(data: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let root = data.join("torrents");
    files_under(&root)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.strip_prefix(&root).unwrap().to_path_buf(), bytes)
        })
        .collect()
}

fn count(data: &Path) -> u64 {
    let o = run(data, &["count"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().parse().unwrap()
}

fn mirror(data: &Path, from: &str, extra: &[&str]) -> Output {
    let mut args = vec!["mirror", "--quiet", "--from", from];
    args.extend_from_slice(extra);
    run(data, &args)
}

/// The summary line's numbers: (fetched, already there, failed).
fn summary(o: &Output) -> (u64, u64, u64) {
    let out = stdout(o);
    let line = out
        .lines()
        .find(|l| l.contains(" fetched, "))
        .unwrap_or_else(|| panic!("no summary in {out:?} / {:?}", stderr(o)));
    let num = |word: &str| -> u64 {
        let before = &line[..line.find(word).unwrap()];
        before
            .trim_end()
            .rsplit([' ', ':'])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" fetched"), num(" already there"), num(" failed"))
}

/// A with the whole corpus imported, serving.
fn source() -> (Server, u64) {
    let data = TempDir::new();
    let o = run(&data.0, &["import", "--quiet", corpus().to_str().unwrap()]);
    assert!(o.status.code() == Some(1), "import: {}", stderr(&o));
    let n = count(&data.0);
    assert!(n > 50, "only {n} corpus torrents stored");
    let a = try_start(data, &[]).unwrap_or_else(|(s, log)| panic!("A: {s:?} {log}"));
    (a, n)
}

#[test]
fn mirrors_everything_then_nothing_and_reports_a_blocked_one() {
    let (a, n) = source();
    let from = format!("http://{}", a.addr);
    let b = TempDir::new();

    let o = mirror(&b.0, &from, &[]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (n, 0, 0), "{}", stdout(&o));
    assert_eq!(count(&b.0), n);
    assert_eq!(torrents(&b.0), torrents(&a.data.0), "B's files are A's");
    let v = run(&b.0, &["verify"]);
    assert!(v.status.success(), "verify B: {}{}", stdout(&v), stderr(&v));

    // Again: everything is there already (also with a trailing slash on the URL).
    let o = mirror(&b.0, &format!("{from}/"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary(&o), (0, n, 0), "{}", stdout(&o));
    assert_eq!(count(&b.0), n);

    // A day after every list: nothing listed.
    let o = mirror(&b.0, &from, &["--since", "29991231"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary(&o), (0, 0, 0), "{}", stdout(&o));

    // One torrent taken down on A: a fresh mirror gets all but that one, and says so.
    let blocked = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
    let o = run(&a.data.0, &["block", blocked, "--reason", "test takedown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = a.connect();
        c.send(format!("HEAD /torrent/{blocked}.torrent HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        if c.head_response().status == 451 {
            break;
        }
        assert!(Instant::now() < deadline, "A never answered 451");
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = TempDir::new();
    let o = mirror(&c.0, &from, &["--since", "19700101"]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (n - 1, 0, 1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("blocked on the source (451)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains(blocked), "{}", stderr(&o));
    assert_eq!(count(&c.0), n - 1);
    let mut want = torrents(&a.data.0);
    want.retain(|(p, _)| !p.ends_with(format!("{blocked}.torrent")));
    assert_eq!(torrents(&c.0), want);
}

#[test]
fn bad_urls_and_unreachable_sources() {
    let d = TempDir::new();
    for bad in ["https://example.org", "ftp://x", "http://"] {
        let o = mirror(&d.0, bad, &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
    }
    let o = mirror(&d.0, "http://127.0.0.1:9", &["--since", "2026-01-01"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Nothing listens on port 1 (privileged, unused): fatal.
    let o = mirror(&d.0, "http://127.0.0.1:1", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read the day index"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&d.0), 0);
}

/// A fake source: answers each request from `answer(path)` with the raw bytes it returns
/// (status line, headers, body), then closes the connection when told to (whatever the
/// answer's headers said: a server may drop a kept-alive connection at any time).
fn fake_source(answer: impl Fn(&str) -> (Vec<u8>, bool) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let path = line.split(' ').nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (resp, close) = answer(&path);
                let _ = w.write_all(&resp);
                if close {
                    break;
                }
            }
        }
    });
    format!("http://{addr}")
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn chunked_closing_and_lying_sources() {
    let rows: Vec<Row> = manifest()
        .into_iter()
        .filter(|r| r.accept && r.v1.is_some() && r.v2.is_none())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| seen.insert(r.v1.clone()))
        .filter(|r| std::fs::metadata(&r.path).unwrap().len() > 2000)
        .take(3)
        .collect();
    assert_eq!(rows.len(), 3);
    let (good_chunked, good_close, liar) = (rows[0].clone(), rows[1].clone(), rows[2].clone());
    let lie_hash = "0123456789ABCDEF0123456789ABCDEF01234567";
    let list = format!(
        "{}\r\n{}\n\nnot-a-hash\n{lie_hash}\n",
        good_chunked.v1.as_ref().unwrap(),
        good_close.v1.as_ref().unwrap().to_lowercase()
    );
    let (gc, gl, lr) = (good_chunked.clone(), good_close.clone(), liar.path.clone());
    let base = fake_source(move |path| {
        let file = |p: &Path| std::fs::read(p).unwrap();
        match path {
            // No Content-Length, no chunking: the body ends with the connection.
            "/sync/" => (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<a href=\"20261126.txt\">x</a>"
                    .to_vec(),
                true,
            ),
            // Kept alive by the headers, then dropped: the client must reconnect.
            "/sync/20261126.txt" => (chunked(list.as_bytes()), true),
            p if p == format!("/torrent/{}.torrent", gc.v1.as_ref().unwrap()) => {
                (chunked(&file(&gc.path)), false)
            }
            p if p == format!("/torrent/{}.torrent", gl.v1.as_ref().unwrap()) => {
                let body = file(&gl.path);
                let mut r = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
                r.extend_from_slice(&body);
                (r, true)
            }
            // Another torrent than the one asked for.
            p if p == format!("/torrent/{lie_hash}.torrent") => (chunked(&file(&lr)), false),
            _ => (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                false,
            ),
        }
    });
    let d = TempDir::new();
    let o = mirror(&d.0, &base, &[]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (2, 0, 2), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("hash mismatch"), "{out}");
    assert!(out.contains("not a 40-hex hash"), "{out}");
    assert_eq!(count(&d.0), 2);
    for r in [&good_chunked, &good_close] {
        let stored = std::fs::read(stored_path(&d.0, r.v1.as_ref().unwrap())).unwrap();
        assert_eq!(stored, std::fs::read(&r.path).unwrap());
    }
    assert!(!stored_path(&d.0, liar.v1.as_ref().unwrap()).exists());

    // A torrent larger than this store's limit is refused while reading, not stored.
    let e = TempDir::new();
    let o = run(
        &e.0,
        &[
            "--max-torrent-size",
            "1000",
            "mirror",
            "--quiet",
            "--from",
            &base,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("answer too large"), "{}", stdout(&o));
    assert_eq!(count(&e.0), 0);
}
