//! `thetorrent mirror`: two real instances on loopback (A serves, B mirrors it), A behind a
//! TLS-terminating proxy (`tests/tls/proxy.py`, with a certificate made by `openssl` for the
//! test), and a fake source speaking chunked bodies, closing connections and sending wrong
//! files.
//!
//! Owns: checking that B ends up with A's count and A's files byte for byte, that a re-run
//! fetches nothing, that a torrent taken down on A is counted as such (not failed) while the
//! rest is copied, that `--follow-takedowns` blocks A's takedowns here, that `https://` works
//! with `--ca-file` and fails without it, and the exit codes. Must never: write B's data
//! directory other than through the binary, or skip when `openssl` or `python3` is missing.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

fn mirror(data: &Path, from: &str, extra: &[&str]) -> Output {
    let mut args = vec!["mirror", "--quiet", "--from", from];
    args.extend_from_slice(extra);
    run(data, &args)
}

/// The summary line's numbers: (fetched, already there, failed).
fn summary(o: &Output) -> (u64, u64, u64) {
    let (f, a, x, _) = summary4(o);
    (f, a, x)
}

/// The summary line's numbers with the takedowns: (fetched, already there, failed, taken down
/// at the source).
fn summary4(o: &Output) -> (u64, u64, u64, u64) {
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
    let taken_down = if line.contains(" taken down at the source") {
        num(" taken down at the source")
    } else {
        0
    };
    (
        num(" fetched"),
        num(" already there"),
        num(" failed"),
        taken_down,
    )
}

/// Blocks `hash` on A and waits until A answers 451 for it.
fn take_down(a: &Server, hash: &str, reason: &str) {
    let o = run(a.data.path(), &["block", hash, "--reason", reason]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = a.connect();
        c.send(format!("HEAD /torrent/{hash}.torrent HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        if c.head_response().status == 451 {
            break;
        }
        assert!(Instant::now() < deadline, "A never answered 451");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A with the whole corpus imported, serving.
fn source() -> (Server, u64) {
    let data = temp_dir();
    let o = run(
        data.path(),
        &["import", "--quiet", corpus().to_str().unwrap()],
    );
    assert!(o.status.code() == Some(1), "import: {}", stderr(&o));
    let n = count(data.path());
    assert!(n > 50, "only {n} corpus torrents stored");
    let a = try_start(data, &[]).unwrap_or_else(|(s, log)| panic!("A: {s:?} {log}"));
    (a, n)
}

#[test]
fn mirrors_everything_then_nothing_and_reports_a_blocked_one() {
    let (a, n) = source();
    let from = format!("http://{}", a.addr);
    let b = temp_dir();

    let o = mirror(b.path(), &from, &[]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (n, 0, 0), "{}", stdout(&o));
    assert_eq!(count(b.path()), n);
    assert_eq!(
        torrents(b.path()),
        torrents(a.data.path()),
        "B's files are A's"
    );
    let v = run(b.path(), &["verify"]);
    assert!(v.status.success(), "verify B: {}{}", stdout(&v), stderr(&v));

    // Again: everything is there already (also with a trailing slash on the URL).
    let o = mirror(b.path(), &format!("{from}/"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary(&o), (0, n, 0), "{}", stdout(&o));
    assert_eq!(count(b.path()), n);

    // A day after every list: nothing listed.
    let o = mirror(b.path(), &from, &["--since", "29991231"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary(&o), (0, 0, 0), "{}", stdout(&o));

    // One torrent taken down on A: a fresh mirror gets all but that one, counts it as taken
    // down (not as a failure: exit 0), and fetches it again never.
    let blocked = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
    take_down(&a, blocked, "test takedown");
    let c = temp_dir();
    let o = mirror(c.path(), &from, &["--since", "19700101"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary4(&o), (n - 1, 0, 0, 1), "{}", stdout(&o));
    assert_eq!(count(c.path()), n - 1);
    let mut want = torrents(a.data.path());
    want.retain(|(p, _)| !p.ends_with(format!("{blocked}.torrent")));
    assert_eq!(torrents(c.path()), want);

    // A publishes its takedowns, hashes only by default.
    let mut h = a.connect();
    h.send(b"GET /sync/takedowns.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let feed = h.response();
    assert_eq!(feed.status, 200);
    assert_eq!(String::from_utf8_lossy(&feed.body), format!("{blocked}\n"));

    // Following A's takedowns: B (which has the torrent) blocks it here and keeps the file.
    let o = mirror(b.path(), &from, &["--follow-takedowns"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "takedowns at {from}: 1 listed, 1 newly blocked here"
        )),
        "{}",
        stdout(&o)
    );
    let bl = std::fs::read_to_string(b.path().join("blocklist.tsv")).unwrap();
    assert_eq!(bl, format!("{blocked}\ttaken down at {from}\n"));
    assert!(
        stored_path(b.path(), blocked).is_file(),
        "a takedown keeps the file"
    );
    // Again: nothing new to block, no second line.
    let o = mirror(b.path(), &from, &["--follow-takedowns"]);
    assert!(
        stdout(&o).contains("1 listed, 0 newly blocked here"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        std::fs::read_to_string(b.path().join("blocklist.tsv")).unwrap(),
        bl
    );
}

#[test]
fn takedown_reasons_are_published_only_when_asked() {
    let a = start(&["--publish-takedown-reasons"]);
    let hash = "0123456789ABCDEF0123456789ABCDEF01234567";
    take_down(&a, hash, "court order 12");
    let from = format!("http://{}", a.addr);
    let d = temp_dir();
    let o = mirror(d.path(), &from, &["--follow-takedowns"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let bl = std::fs::read_to_string(d.path().join("blocklist.tsv")).unwrap();
    assert_eq!(
        bl,
        format!("{hash}\ttaken down at {from}: court order 12\n")
    );
    // A source without the feed (here: nothing listens) is the source's failure (exit 4).
    let o = mirror(d.path(), "http://127.0.0.1:1", &["--follow-takedowns"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read the takedowns feed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_urls_and_unreachable_sources() {
    let d = temp_dir();
    for bad in ["ftp://x", "http://", "example.org", "https://u@x"] {
        let o = mirror(d.path(), bad, &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
    }
    let o = mirror(d.path(), "http://127.0.0.1:9", &["--since", "2026-01-01"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Nothing listens on port 1 (privileged, unused): the source's failure, exit 4 (not 3,
    // which says the data directory cannot be used).
    let o = mirror(d.path(), "http://127.0.0.1:1", &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read the day index"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(d.path()), 0);
}

/// A fake source: answers each request from `answer(path)` with the raw bytes it returns
/// (status line, headers, body), then closes the connection when told to (whatever the
/// answer's headers said: a server may drop a kept-alive connection at any time).
fn fake_source(answer: impl Fn(&str) -> (Vec<u8>, bool) + Send + Sync + 'static) -> String {
    let addr = serve_connections(move |conn| {
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
    let d = temp_dir();
    let o = mirror(d.path(), &base, &[]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (2, 0, 2), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("hash mismatch"), "{out}");
    assert!(out.contains("not a 40-hex hash"), "{out}");
    assert_eq!(count(d.path()), 2);
    for r in [&good_chunked, &good_close] {
        let stored = std::fs::read(stored_path(d.path(), r.v1.as_ref().unwrap())).unwrap();
        assert_eq!(stored, std::fs::read(&r.path).unwrap());
    }
    assert!(!stored_path(d.path(), liar.v1.as_ref().unwrap()).exists());

    // A torrent larger than this store's limit is refused while reading, not stored.
    let e = temp_dir();
    let o = run(
        e.path(),
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
    assert_eq!(count(e.path()), 0);
}

/// Runs `openssl` with `args` in `dir`; fails (never skips) when it is missing.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is missing: run tests/setup.sh");
    assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
}

/// A test CA and a certificate it signed for 127.0.0.1: (ca.pem, cert.pem, key.pem) in `dir`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
    ca.extend_from_slice(&["-subj", "/CN=thetorrent test CA"]);
    openssl(dir, &ca);
    let mut req = vec!["req"];
    req.extend_from_slice(&ec);
    req.extend_from_slice(&[
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &req);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// `tests/tls/proxy.py` in front of `upstream`, killed on drop.
struct TlsProxy {
    child: Child,
    port: u16,
}

impl TlsProxy {
    fn start(upstream: std::net::SocketAddr, cert: &Path, key: &Path) -> TlsProxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(upstream.to_string())
            .arg(cert)
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is missing: run tests/setup.sh");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("proxy said {line:?}"));
        TlsProxy { child, port }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mirrors_over_https_with_its_ca_and_refuses_an_unknown_certificate() {
    let (a, n) = source();
    let certs = temp_dir();
    let (ca, cert, key) = certificates(certs.path());
    let proxy = TlsProxy::start(a.addr, &cert, &key);
    let from = format!("https://127.0.0.1:{}", proxy.port);

    // The test CA is not among the web roots: refused, as the source's failure (exit 4).
    let b = temp_dir();
    let o = mirror(b.path(), &from, &[]);
    assert_eq!(o.status.code(), Some(4), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("TLS: invalid peer certificate") && stderr(&o).contains("--ca-file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(b.path()), 0);

    // Trusting it: everything, byte for byte.
    let o = mirror(b.path(), &from, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(summary(&o), (n, 0, 0), "{}", stdout(&o));
    assert_eq!(torrents(b.path()), torrents(a.data.path()));

    // A file damaged here is repaired from the same source, over https, with its CA.
    let (rel, _) = torrents(b.path()).into_iter().next().unwrap();
    let damaged = b.path().join("torrents").join(rel);
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&damaged)
        .unwrap()
        .write_all(b"not a torrent any more")
        .unwrap();
    let v = run(
        b.path(),
        &[
            "verify",
            "--repair-from",
            &from,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(v.status.code(), Some(0), "{}\n{}", stdout(&v), stderr(&v));
    assert!(
        stdout(&v).contains(&format!("{}: repaired from {from}", damaged.display())),
        "{}",
        stdout(&v)
    );
    assert_eq!(torrents(b.path()), torrents(a.data.path()));

    // A --ca-file that holds no certificate is a usage error.
    let o = mirror(b.path(), &from, &["--ca-file", key.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no certificate in it"),
        "{}",
        stderr(&o)
    );
}
