//! Fetching from the swarm, end to end: the real binary (`serve --fetch`, `fetch`) against a
//! real, independent BitTorrent implementation (libtorrent 2.1.1 driven by
//! tests/fetch_rig.py: DHT nodes and a seed on loopback), and the checks of what it stored
//! done by libtorrent again.
//!
//! Addresses: every rig, DHT node and listener here has its own in 127.0.2.0/24 (libtorrent
//! sets SO_REUSEPORT, so two sessions on one address would share ports).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use thetorrent::app::pages::percent_encode;

/// One torrent the rig seeds.
#[derive(Debug, Clone)]
struct Seeded {
    kind: String,
    name: String,
    v1: Option<String>,
    v2: Option<String>,
}

impl Seeded {
    /// The hash a URL names it by: the v1 hash, or the whole v2 hash of a v2-only torrent.
    fn url_hash(&self) -> String {
        self.v1.clone().or(self.v2.clone()).unwrap().to_uppercase()
    }

    /// The key it is stored under (40 upper-case hex digits).
    fn key(&self) -> String {
        self.url_hash()[..40].to_string()
    }

    fn magnet(&self) -> String {
        let mut m = String::from("magnet:?");
        if let Some(v1) = &self.v1 {
            m.push_str(&format!("xt=urn:btih:{v1}&"));
        }
        if let Some(v2) = &self.v2 {
            m.push_str(&format!("xt=urn:btmh:1220{v2}&"));
        }
        m.push_str(&format!("dn={}", self.name));
        m
    }
}

/// tests/fetch_rig.py running: three DHT nodes and a seed on four loopback addresses.
struct Rig {
    child: Child,
    /// Closing it ends the rig (which then removes its folder).
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    dht: Vec<String>,
    seed: String,
    torrents: Vec<Seeded>,
}

impl Rig {
    /// Starts the rig on `base` (and the three addresses after it) seeding `kinds`.
    fn start(base: &str, kinds: &[&str]) -> Rig {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fetch_rig.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(base)
            .args(kinds)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (tests/setup.sh installs it and libtorrent)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut dht, mut seed, mut torrents) = (Vec::new(), String::new(), Vec::new());
        loop {
            let mut line = String::new();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "the libtorrent rig ended before it was ready (is libtorrent 2.1.1 installed? \
                 tests/setup.sh installs it)"
            );
            let w: Vec<&str> = line.split_whitespace().collect();
            let opt = |s: &str| (s != "-").then(|| s.to_string());
            match w[0] {
                "dht" => dht = w[1..].iter().map(|s| s.to_string()).collect(),
                "seed" => seed = w[1].to_string(),
                "torrent" => torrents.push(Seeded {
                    kind: w[1].into(),
                    name: w[2].into(),
                    v1: opt(w[3]),
                    v2: opt(w[4]),
                }),
                "ready" => break,
                other => panic!("rig: unexpected line {other:?}"),
            }
        }
        Rig {
            child,
            stdin: Some(stdin),
            stdout,
            dht,
            seed,
            torrents,
        }
    }

    /// libtorrent's reading of a .torrent file: (v1, v2, name, trackers).
    fn check(&mut self, bytes: &[u8]) -> (Option<String>, Option<String>, String, Vec<String>) {
        let dir = temp_dir();
        let path = dir.path().join("fetched.torrent");
        std::fs::write(&path, bytes).unwrap();
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "check {}", path.display()).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            w.first(),
            Some(&"ok"),
            "libtorrent refused the file: {line}"
        );
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        (
            opt(w[1]),
            opt(w[2]),
            w[3].to_string(),
            w[4..].iter().map(|s| s.to_string()).collect(),
        )
    }

    /// Asserts that libtorrent reads `bytes` as `t`.
    fn assert_is(&mut self, bytes: &[u8], t: &Seeded) {
        let (v1, v2, name, _) = self.check(bytes);
        assert_eq!((v1.as_ref(), v2.as_ref()), (t.v1.as_ref(), t.v2.as_ref()));
        assert_eq!(name, t.name);
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Closing stdin ends the rig, which removes its folder; kill it if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve --fetch` with loopback peers allowed, the DHT on `dht_listen` bootstrapped from
/// `bootstrap` (none: `--no-dht`), and `extra` options.
fn fetching_server(dht_listen: &str, bootstrap: &[String], extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["--fetch".into(), "--fetch-allow-private".into()];
    if bootstrap.is_empty() {
        args.push("--no-dht".into());
    } else {
        args.extend(["--dht-listen".into(), dht_listen.into()]);
        for b in bootstrap {
            args.extend(["--dht-bootstrap".into(), b.clone()]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start(&args)
}

#[test]
fn the_dht_alone_finds_v1_v2_and_hybrid_torrents() {
    let mut rig = Rig::start("127.0.2.10", &["v1", "v2", "hybrid"]);
    let s = fetching_server("127.0.2.100:0", &rig.dht.clone(), &[]);
    for t in rig.torrents.clone() {
        let r = s.get(&format!("/torrent/{}.torrent", t.url_hash()), "");
        assert_eq!(r.status, 200, "{} {:?}: {}", t.kind, t, r.head);
        assert_eq!(r.header("Content-Type"), Some("application/x-bittorrent"));
        rig.assert_is(&r.body, &t);
        // stored under its key, served again from the store
        assert_eq!(
            std::fs::read(stored_path(s.data.path(), &t.key())).unwrap(),
            r.body
        );
        let again = s.get(&format!("/{}.torrent", t.key()), "");
        assert_eq!((again.status, again.body), (200, r.body.clone()));
        if t.kind == "hybrid" {
            let by_v2 = s.get(&format!("/torrent/{}.torrent", t.v2.as_ref().unwrap()), "");
            assert_eq!((by_v2.status, by_v2.body), (200, r.body));
        }
    }
    assert_eq!(s.stat("fetched"), 3);
    assert_eq!(s.stat("count"), 3);
    // the day's /sync/ list names them
    let sync = s.get("/sync/", "");
    assert_eq!(sync.status, 200);
}

#[test]
fn x_pe_alone_finds_v1_v2_and_hybrid_torrents() {
    let mut rig = Rig::start("127.0.2.20", &["v1", "v2", "hybrid"]);
    let s = fetching_server("", &[], &[]);
    // a tracker that is not there: its URL still goes into the stored file
    let tracker = "http://127.0.2.29:9/announce";
    for t in rig.torrents.clone() {
        let query = format!(
            "{}&x.pe={}&tr={}",
            &t.magnet()["magnet:?".len()..],
            rig.seed,
            percent_encode(tracker)
        );
        let r = s.get(&format!("/magnet?{query}"), "");
        assert_eq!(r.status, 302, "{}: {}", t.kind, r.head);
        assert_eq!(
            r.header("Location"),
            Some(format!("/torrent/{}.torrent", t.key()).as_str())
        );
        let file = s.get(&format!("/torrent/{}.torrent", t.key()), "");
        assert_eq!(file.status, 200);
        let (v1, v2, name, trackers) = rig.check(&file.body);
        assert_eq!((v1, v2, name), (t.v1.clone(), t.v2.clone(), t.name.clone()));
        assert_eq!(trackers, [tracker]);
    }
    assert_eq!(s.stat("fetched"), 3);
}

#[test]
fn concurrent_requests_for_one_missing_hash_make_one_job() {
    let mut rig = Rig::start("127.0.2.30", &["v1"]);
    let s = fetching_server("127.0.2.101:0", &rig.dht.clone(), &[]);
    let t = rig.torrents[0].clone();
    let path = format!("/torrent/{}.torrent", t.url_hash());
    let answers: Vec<Resp> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..16).map(|_| scope.spawn(|| s.get(&path, ""))).collect();
        threads.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body, answers[0].body);
    }
    rig.assert_is(&answers[0].body, &t);
    assert_eq!(s.stat("fetched"), 1);
    assert_eq!(s.stat("jobs"), 1);
    assert_eq!(s.stat("count"), 1);
    let stored = files_under(&s.data.path().join("torrents"));
    assert_eq!(stored, [stored_path(s.data.path(), &t.key())]);
}

#[test]
fn a_loopback_peer_is_never_contacted_without_allow_private() {
    let peer = TcpListener::bind("127.0.2.40:0").unwrap();
    peer.set_nonblocking(true).unwrap();
    let addr = peer.local_addr().unwrap();
    let s = start(&["--fetch", "--no-dht"]);
    let hash = "0123456789ABCDEF0123456789ABCDEF01234567";
    let r = s.get(&format!("/magnet?xt=urn:btih:{hash}&x.pe={addr}"), "");
    assert_eq!(r.status, 404, "{}", r.head);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("refused by the address policy"), "{body}");
    // not even a connection attempt reached the listener
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(
        peer.accept().map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock)
    ));
}

#[test]
fn without_fetch_a_missing_hash_is_404_at_once() {
    let s = start(&[]);
    let started = Instant::now();
    let hash = "0123456789ABCDEF0123456789ABCDEF01234567";
    assert_eq!(s.get(&format!("/torrent/{hash}.torrent"), "").status, 404);
    assert_eq!(s.get(&format!("/{hash}.torrent"), "").status, 404);
    let r = s.get(
        &format!("/magnet?xt=urn:btih:{hash}&x.pe=127.0.2.41:6881"),
        "",
    );
    assert_eq!(r.status, 404);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.stat("fetched"), 0);
}

/// A peer that accepts connections and never says a word.
fn silent_peer(addr: &str) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(addr).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

#[test]
fn a_job_still_running_is_503_then_404_once_it_failed() {
    let (_peer, addr) = silent_peer("127.0.2.42:0");
    let s = fetching_server("", &[], &["--fetch-wait", "0.2", "--fetch-timeout", "1.5"]);
    let hash = "1123456789ABCDEF0123456789ABCDEF01234567";
    let magnet = format!("/magnet?xt=urn:btih:{hash}&x.pe={addr}");
    let r = s.get(&magnet, "");
    assert_eq!(r.status, 503, "{}", r.head);
    assert!(r.header("Retry-After").is_some());
    // the plain download URL joins the same job
    let r = s.get(&format!("/torrent/{hash}.torrent"), "");
    assert_eq!(r.status, 503);
    std::thread::sleep(Duration::from_millis(1600));
    let r = s.get(&format!("/torrent/{hash}.torrent"), "");
    assert_eq!(r.status, 404, "{}", r.head);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("timed out"), "{body}");
    assert_eq!(s.stat("jobs"), 1);
}

#[test]
fn the_lookup_box_shows_a_page_that_refreshes_while_searching() {
    let (_peer, addr) = silent_peer("127.0.2.43:0");
    let s = fetching_server("", &[], &["--fetch-timeout", "30"]);
    let hash = "2123456789ABCDEF0123456789ABCDEF01234567";
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=some+name&x.pe={addr}");
    let r = s.get(&format!("/lookup?q={}", percent_encode(&magnet)), "");
    assert_eq!(r.status, 503, "{}", r.head);
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("<meta http-equiv=\"refresh\""), "{page}");
    assert!(page.contains(hash), "{page}");
    assert!(!page.contains("<script"), "{page}");
}

#[test]
fn the_fetch_command_stores_and_names_each_torrent() {
    let mut rig = Rig::start("127.0.2.50", &["v1", "hybrid"]);
    let data = temp_dir();
    let mut args: Vec<String> = ["fetch", "--fetch-allow-private", "--no-dht"]
        .map(String::from)
        .to_vec();
    for t in &rig.torrents {
        args.push(format!("{}&x.pe={}", t.magnet(), rig.seed));
    }
    // nobody has this one
    args.push("3123456789ABCDEF0123456789ABCDEF01234567".into());
    args.extend(["--fetch-timeout".into(), "3".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(data.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed = stdout(&out);
    for t in rig.torrents.clone() {
        assert!(
            printed.contains(&format!("{}  {}", t.key(), t.name)),
            "{printed}"
        );
        let bytes = std::fs::read(stored_path(data.path(), &t.key())).unwrap();
        rig.assert_is(&bytes, &t);
    }
    assert!(
        stderr(&out).contains("3123456789ABCDEF0123456789ABCDEF01234567: no peers found"),
        "{}",
        stderr(&out)
    );
    // stored the normal way: counted
    let count = run(data.path(), &["count"]);
    assert_eq!(stdout(&count).trim(), "2");
}

/// The compact (BEP 23) form of an IPv4 peer.
fn compact(peer: &str) -> Vec<u8> {
    let a: SocketAddr = peer.parse().unwrap();
    let SocketAddr::V4(a) = a else {
        panic!("{a} is not IPv4")
    };
    [a.ip().octets().as_slice(), &a.port().to_be_bytes()].concat()
}

/// An HTTP tracker that answers every announce with `peer`; counts the announces.
fn http_tracker(
    addr: &str,
    peer: &str,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    let l = TcpListener::bind(addr).unwrap();
    let local = l.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peers = compact(peer);
    let n = count.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&b[..k]),
                }
            }
            if !head.starts_with(b"GET /announce?") {
                continue;
            }
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = [b"d8:intervali1800e5:peers6:".as_slice(), &peers, b"e"].concat();
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = c.write_all(&body);
        }
    });
    (local, count)
}

/// A UDP tracker (BEP 15) that answers every announce with `peer`; counts the announces.
fn udp_tracker(
    addr: &str,
    peer: &str,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let s = std::net::UdpSocket::bind(addr).unwrap();
    let local = s.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peers = compact(peer);
    let n = count.clone();
    const CONNECTION_ID: [u8; 8] = *b"thetconn";
    std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while let Ok((k, from)) = s.recv_from(&mut b) {
            let m = &b[..k];
            if k < 16 {
                continue;
            }
            let (action, tid) = (&m[8..12], &m[12..16]);
            let reply = match action {
                [0, 0, 0, 0] if m[..8] == 0x41727101980u64.to_be_bytes() => {
                    [&[0, 0, 0, 0][..], tid, &CONNECTION_ID].concat()
                }
                [0, 0, 0, 1] if m[..8] == CONNECTION_ID && k >= 98 => {
                    n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut r = [&[0, 0, 0, 1][..], tid].concat();
                    r.extend_from_slice(&1800u32.to_be_bytes());
                    r.extend_from_slice(&0u32.to_be_bytes());
                    r.extend_from_slice(&1u32.to_be_bytes());
                    r.extend_from_slice(&peers);
                    r
                }
                _ => continue,
            };
            let _ = s.send_to(&reply, from);
        }
    });
    (local, count)
}

#[test]
fn an_http_or_a_udp_tracker_alone_leads_to_the_seed() {
    let mut rig = Rig::start("127.0.2.80", &["v1", "v2"]);
    let (http, http_announces) = http_tracker("127.0.2.88:0", &rig.seed);
    let (udp, udp_announces) = udp_tracker("127.0.2.89:0", &rig.seed);
    let s = fetching_server("", &[], &[]);
    let trackers = [format!("http://{http}/announce"), format!("udp://{udp}")];
    for (t, tracker) in rig.torrents.clone().iter().zip(&trackers) {
        let query = format!(
            "{}&tr={}",
            &t.magnet()["magnet:?".len()..],
            percent_encode(tracker)
        );
        let r = s.get(&format!("/magnet?{query}"), "");
        assert_eq!(r.status, 302, "{} via {tracker}: {}", t.kind, r.head);
        let file = s.get(&format!("/torrent/{}.torrent", t.key()), "");
        let (v1, v2, _, listed) = rig.check(&file.body);
        assert_eq!((v1, v2), (t.v1.clone(), t.v2.clone()));
        assert_eq!(listed, std::slice::from_ref(tracker));
    }
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(
        (http_announces.load(SeqCst), udp_announces.load(SeqCst)),
        (1, 1)
    );
    assert_eq!(s.stat("announces"), 2);
}
