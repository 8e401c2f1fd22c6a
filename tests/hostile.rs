//! Hostile clients against the real binary. Each attack runs
//! while a prober measures `/healthz` round trips on fresh connections of its own (connect to
//! last byte, every 50 ms) and samples the server's resident memory: other clients must
//! still be served within 100 ms (the median of the probes is held to that bound: single
//! probes on a shared 2-core machine are noisy; every probe must be answered, and within
//! 2 s) and memory must stay bounded; the attacker's connection must end closed.
//!
//! Smaller cousins of some of these (one slow head, one 17 KB head, CL+TE) are in
//! `tests/http.rs`; these add the scale, the latency and memory bounds, and the variants.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
/// Resident memory the server may reach under any one attack.
const RSS_LIMIT_KB: u64 = 256 * 1024;

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One `/healthz` round trip on a fresh connection.
fn health_round_trip(addr: SocketAddr) -> Result<Duration, String> {
    let t = Instant::now();
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(HEALTH).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).map_err(|e| e.to_string())?;
    if !got.starts_with(b"HTTP/1.1 200") || !got.ends_with(b"ok") {
        return Err(format!("bad answer {:?}", String::from_utf8_lossy(&got)));
    }
    Ok(t.elapsed())
}

/// Probes the server while an attack runs.
struct Prober {
    log: Arc<std::sync::Mutex<String>>,
    pid: u32,
    stop: Arc<AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    handle: JoinHandle<Vec<Result<Duration, String>>>,
}

fn probe(s: &Server) -> Prober {
    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let (addr, pid) = (s.addr, s.child.id());
    let (st, pk) = (stop.clone(), peak_rss.clone());
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        while !st.load(Ordering::SeqCst) || out.len() < 5 {
            out.push(health_round_trip(addr));
            pk.fetch_max(rss_kb(pid), Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
        }
        out
    });
    Prober {
        log: s.log.clone(),
        pid,
        stop,
        peak_rss,
        handle,
    }
}

impl Prober {
    /// Stops probing and checks the bounds; returns a line of figures.
    fn finish(self, what: &str) -> String {
        self.stop.store(true, Ordering::SeqCst);
        let results = self.handle.join().unwrap();
        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if !failed.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
            let state = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
                .flatten();
            panic!(
                "{what}: probes failed: {failed:?}\nserver state {state:?} (Z: exited)\n\
                 server log:\n{}",
                self.log.lock().unwrap()
            );
        }
        let mut t: Vec<Duration> = results.into_iter().map(Result::unwrap).collect();
        t.sort();
        let median = t[t.len() / 2];
        let p90 = t[t.len() * 9 / 10];
        let max = *t.last().unwrap();
        let rss = self.peak_rss.load(Ordering::SeqCst);
        let line = format!(
            "{what}: {} probes, median {:.1} ms, p90 {:.1} ms, max {:.1} ms; peak RSS {} MB",
            t.len(),
            median.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            rss / 1024
        );
        println!("{line}");
        assert!(median < Duration::from_millis(100), "{line}");
        assert!(max < Duration::from_secs(2), "{line}");
        assert!(rss < RSS_LIMIT_KB, "{line}");
        line
    }
}

/// Runs a quick attack again and again for `at_least` (so that the probes run during it).
fn repeat_for(at_least: Duration, mut attack: impl FnMut()) -> usize {
    let t = Instant::now();
    let mut n = 0;
    while n == 0 || t.elapsed() < at_least {
        attack();
        n += 1;
    }
    n
}

/// Reads what the server sends until it closes (EOF or reset), at most `within`.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "still open after {within:?}; got {:?}",
                String::from_utf8_lossy(&got[..got.len().min(300)])
            ));
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(format!(
                    "{e}; got {:?}",
                    String::from_utf8_lossy(&got[..got.len().min(300)])
                ))
            }
        }
    }
}

fn status_of(answer: &[u8]) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `head` and then streams `total` body bytes (from `chunk`) while another thread reads
/// the answer; returns (answer, body bytes the server let through before closing).
fn stream_body(addr: SocketAddr, head: &[u8], total: u64, chunked: bool) -> (Vec<u8>, u64) {
    stream_body_after(addr, head, b"", total, chunked)
}

/// `stream_body` whose body starts with `first` (framed like the rest).
fn stream_body_after(
    addr: SocketAddr,
    head: &[u8],
    first: &[u8],
    total: u64,
    chunked: bool,
) -> (Vec<u8>, u64) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || read_until_closed(&mut r, Duration::from_secs(30)));
    let _ = s.write_all(head);
    if !first.is_empty() {
        let _ = if chunked {
            s.write_all(format!("{:x}\r\n", first.len()).as_bytes())
                .and_then(|_| s.write_all(first))
                .and_then(|_| s.write_all(b"\r\n"))
        } else {
            s.write_all(first)
        };
    }
    let block = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    while sent < total {
        let res = if chunked {
            s.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                .and_then(|_| s.write_all(&block))
                .and_then(|_| s.write_all(b"\r\n"))
        } else {
            s.write_all(&block)
        };
        if res.is_err() {
            break;
        }
        sent += block.len() as u64;
    }
    let answer = reader.join().unwrap().expect("the server closes");
    (answer, sent)
}

// ---- Slow clients ---------------------------------------------------------------------

#[test]
fn slowloris_heads_and_bodies_are_cut_and_others_served() {
    let s = start(&[
        "--head-timeout",
        "2",
        "--body-grace",
        "1",
        "--body-min-rate",
        "100",
    ]);
    let prober = probe(&s);
    let t = Instant::now();
    // 100 heads and 100 upload bodies, one byte per second each.
    let mut conns: Vec<(TcpStream, Vec<u8>, usize)> = Vec::new();
    for i in 0..200 {
        let c = TcpStream::connect(s.addr).unwrap();
        let script = if i % 2 == 0 {
            format!(
                "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: {}",
                "a".repeat(100)
            )
        } else {
            format!(
                "POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-bittorrent\r\n\
                 Content-Length: 100000\r\n\r\nd8:announce{}",
                "a".repeat(100)
            )
        };
        let start = if i % 2 == 0 { 1 } else { script.len() - 100 };
        let mut c = c;
        c.write_all(&script.as_bytes()[..start]).unwrap();
        conns.push((c, script.into_bytes(), start));
    }
    for _ in 0..6 {
        std::thread::sleep(Duration::from_secs(1));
        for (c, script, at) in conns.iter_mut() {
            if *at < script.len() && c.write_all(&script[*at..*at + 1]).is_ok() {
                *at += 1;
            }
        }
    }
    let line = prober.finish("slowloris (200 connections, 1 byte/s)");
    for (i, (c, _, _)) in conns.iter_mut().enumerate() {
        let got = read_until_closed(c, Duration::from_secs(5)).unwrap();
        assert_eq!(status_of(&got), 408, "connection {i}: {:?}", got);
    }
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(s.alive(), "{line}");
}

// ---- Many connections -----------------------------------------------------------------

/// Raises this process's descriptor limit to `want` (the server raises its own to its hard
/// limit at start-up).
fn raise_nofile(want: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit out pointer, then a valid rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        if l.rlim_max < want {
            let up = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            // Root with CAP_SYS_RESOURCE may raise the hard limit; containers may not.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                return;
            }
        }
        assert!(
            l.rlim_max >= want,
            "RLIMIT_NOFILE hard limit {} < {want}: the test needs `ulimit -Hn {want}`",
            l.rlim_max
        );
        l.rlim_cur = l.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
}

/// The tests that hold 10,000 client sockets run one at a time (two would pass the
/// descriptor limit of the test process).
static TEN_THOUSAND_SOCKETS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn ten_thousand_idle_connections() {
    let _one_at_a_time = TEN_THOUSAND_SOCKETS
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    raise_nofile(12_000);
    // The idle timeout comes after the probes (timeouts firing during traffic are
    // `mass_idle_timeouts_during_traffic`'s subject).
    let s = start(&["--idle-timeout", "8"]);
    assert!(s.alive());
    let base = rss_kb(s.child.id());
    let t = Instant::now();
    let mut idle = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        idle.push(TcpStream::connect(s.addr).expect("connect"));
    }
    let opened = t.elapsed();
    let prober = probe(&s);
    std::thread::sleep(Duration::from_millis(1500));
    let rss = rss_kb(s.child.id());
    let line = prober.finish("10,000 idle connections");
    // They filled the cap (10,000): the probes got in because idle ones were closed for them.
    assert!(s.log().contains("the cap"), "{}", s.log());
    println!(
        "10,000 idle connections opened in {:.1} s; server RSS {} MB before, {} MB with them",
        opened.as_secs_f64(),
        base / 1024,
        rss / 1024
    );
    // They are closed by the idle timeout (or earlier, to make room at the cap).
    let deadline = Duration::from_secs(20);
    for (i, c) in idle.iter_mut().enumerate() {
        let got = read_until_closed(c, deadline).unwrap_or_else(|e| panic!("{i}: {e}"));
        assert!(got.is_empty(), "{i}: {:?}", String::from_utf8_lossy(&got));
    }
    drop(idle);
    assert!(s.alive(), "{line}");
}

// ---- Big inputs -----------------------------------------------------------------------

#[test]
fn one_gib_bodies_are_refused_early() {
    let s = start(&[]);
    let prober = probe(&s);
    const GIB: u64 = 1 << 30;
    let multipart_start =
        "--b\r\nContent-Disposition: form-data; name=\"torrent\"; filename=\"x\"\r\n\r\n";
    let cases: [(&str, String, bool); 4] = [
        (
            "declared 1 GiB multipart upload",
            format!(
                "POST /api/upload HTTP/1.1\r\nHost: t\r\n\
                 Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {GIB}\r\n\r\n"
            ),
            false,
        ),
        (
            "chunked 1 GiB multipart upload",
            "POST /api/upload HTTP/1.1\r\nHost: t\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            true,
        ),
        (
            "chunked 1 GiB raw upload",
            "POST /autoupload.php HTTP/1.1\r\nHost: t\r\n\
             Content-Type: application/x-bittorrent\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            true,
        ),
        (
            "chunked 1 GiB SOAP request",
            "POST /api/soap HTTP/1.1\r\nHost: t\r\n\
             Content-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            true,
        ),
    ];
    let mut figures = std::collections::BTreeMap::new();
    repeat_for(Duration::from_secs(3), || {
        for (what, head, chunked) in &cases {
            let t = Instant::now();
            let first = if head.contains("multipart") {
                multipart_start.as_bytes()
            } else {
                b""
            };
            let (answer, sent) = stream_body_after(s.addr, head.as_bytes(), first, GIB, *chunked);
            let status = status_of(&answer);
            assert_eq!(
                status,
                413,
                "{what}: {:?}",
                String::from_utf8_lossy(&answer)
            );
            // Cut at the body limit (16 MiB) plus what the socket buffers held.
            assert!(sent < 64 << 20, "{what}: {sent} bytes accepted");
            assert!(t.elapsed() < Duration::from_secs(20), "{what}");
            figures.insert(
                *what,
                format!(
                    "413 after {} MiB sent, {:.1} s",
                    sent >> 20,
                    t.elapsed().as_secs_f64()
                ),
            );
        }
    });
    for (what, f) in figures {
        println!("{what}: {f}");
    }
    prober.finish("1 GiB bodies");
}

#[test]
fn one_mib_header_line_is_431() {
    let s = start(&[]);
    let prober = probe(&s);
    repeat_for(Duration::from_secs(2), || {
        let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 1 << 20));
        head.extend_from_slice(b"\r\n\r\n");
        let (answer, _) = stream_body(s.addr, &head, 0, false);
        assert_eq!(
            status_of(&answer),
            431,
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        // One answer only, then the close.
        assert_eq!(
            answer.windows(5).filter(|w| w == b"HTTP/").count(),
            1,
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    });
    prober.finish("1 MiB header lines");
}

/// The TCP state of our socket `local` → `peer` from `/proc/net/tcp` (`None`: gone, e.g. reset).
fn tcp_state(local: SocketAddr, peer: SocketAddr) -> Option<u8> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("IPv4 loopback only"),
    };
    let (l, p) = (hex(local), hex(peer));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&l.as_str()) && f.get(2) == Some(&p.as_str()))
            .then(|| u8::from_str_radix(f[3], 16).unwrap())
    })
}

const TCP_ESTABLISHED: u8 = 1;

#[test]
fn ten_thousand_pipelined_requests_from_a_client_that_never_reads() {
    let s = start(&["--write-timeout", "2"]);
    let big = bytes(200_000, 9);
    let hex = "ABABABABABABABABABABABABABABABABABABABAB";
    s.put_torrent(hex, &big);
    assert!(s.alive());
    let prober = probe(&s);
    let mut c = TcpStream::connect(s.addr).unwrap();
    let local = c.local_addr().unwrap();
    assert_eq!(
        tcp_state(local, s.addr),
        Some(TCP_ESTABLISHED),
        "/proc/net/tcp"
    );
    c.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let req = format!("GET /torrent/{hex}.torrent HTTP/1.1\r\nHost: t\r\n\r\n");
    let all: Vec<u8> = req.as_bytes().repeat(10_000);
    let t = Instant::now();
    let mut sent = 0;
    // Write all we can, never read; stop when the server closes (or 20 s pass).
    while t.elapsed() < Duration::from_secs(20) {
        if sent < all.len() {
            match c.write(&all[sent..(sent + 65536).min(all.len())]) {
                Ok(n) => sent += n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        if tcp_state(local, s.addr) != Some(TCP_ESTABLISHED) {
            break;
        }
    }
    let closed_after = t.elapsed();
    let state = tcp_state(local, s.addr);
    let line = prober.finish("10,000 pipelined requests, never read");
    // The server stopped reading while its writes were blocked, and gave up after the write
    // timeout: our side sees its FIN (CLOSE_WAIT) or its reset (socket gone).
    assert_ne!(
        state,
        Some(TCP_ESTABLISHED),
        "still open after {closed_after:?}; {sent} bytes sent"
    );
    println!(
        "pipelining: {sent} of {} request bytes taken, connection closed by the server after \
         {:.1} s (TCP state {state:?})",
        all.len(),
        closed_after.as_secs_f64()
    );
    assert!(
        sent < all.len() || closed_after < Duration::from_secs(20),
        "{line}"
    );
    assert!(s.alive());
}

// ---- Smuggling ------------------------------------------------------------------------

#[test]
fn request_smuggling_is_refused_and_closed() {
    let log = temp_dir();
    let access = log.path().join("access.log");
    let s = start(&["--access-log", access.to_str().unwrap()]);
    let prober = probe(&s);
    // Each carries a second request (`/smuggled`) that a lenient parser would answer.
    let inner = "GET /healthz?smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let n = inner.len();
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "CL.TE",
            format!("POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{inner}", n + 5),
            400,
        ),
        (
            "TE.CL",
            format!("POST /api/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n", n),
            400,
        ),
        (
            "two different Content-Lengths",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "Content-Length list",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nContent-Length: 0, {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "obs-fold continuing Content-Length",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "obs-fold continuing Transfer-Encoding",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n chunked\r\nContent-Length: {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "Transfer-Encoding: chunked, identity",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n{inner}"),
            400,
        ),
        (
            "Transfer-Encoding twice (chunked, chunked)",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{inner}"),
            400,
        ),
        (
            "Transfer-Encoding: xchunked",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n{inner}"),
            400,
        ),
        (
            "TE and CL on HTTP/1.0",
            format!("POST /api/soap HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "TE on HTTP/1.0",
            format!("POST /api/soap HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{inner}"),
            400,
        ),
        (
            "space before the colon",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: {n}\r\n\r\n{inner}"),
            400,
        ),
        (
            "chunk size with a bare LF",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n{inner}"),
            400,
        ),
        (
            "chunk size overflow",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000{:x}\r\n{inner}\r\n0\r\n\r\n", n),
            413,
        ),
        (
            "gzip, chunked",
            format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n{inner}"),
            501,
        ),
    ];
    repeat_for(Duration::from_secs(2), || {
        for (what, req, want) in &cases {
            let mut c = TcpStream::connect(s.addr).unwrap();
            let t = Instant::now();
            c.write_all(req.as_bytes()).unwrap();
            let got = read_until_closed(&mut c, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let text = String::from_utf8_lossy(&got);
            assert_eq!(
                status_of(&got),
                *want,
                "{what}: {text:?} (closed after {:?}); server log:\n{}",
                t.elapsed(),
                s.log()
            );
            assert_eq!(
                text.matches("HTTP/1.").count(),
                1,
                "{what}: two answers: {text}"
            );
            assert!(text.contains("\r\nConnection: close\r\n"), "{what}: {text}");
        }
    });
    prober.finish("request smuggling");
    assert!(s.alive());
    let logged = std::fs::read_to_string(&access).unwrap_or_default();
    assert!(
        !logged.contains("smuggled"),
        "a smuggled request was served:\n{logged}"
    );
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

// ---- Paths ----------------------------------------------------------------------------

#[test]
fn path_traversal_never_leaves_the_data_directory() {
    let s = start(&[]);
    let canary = "CANARY-a1b2c3-outside-torrents";
    std::fs::write(s.data.path().join("secret.txt"), canary).unwrap();
    std::fs::write(
        s.data.path().join("blocklist.tsv"),
        format!("0000000000000000000000000000000000000000\t{canary}\n"),
    )
    .unwrap();
    std::fs::write(s.data.path().join("sync").join("secret.txt"), canary).unwrap();
    // A real torrent one level up from a shard, to catch `..` resolved inside torrents/.
    std::fs::create_dir_all(s.data.path().join("torrents").join("AB")).unwrap();
    std::fs::write(
        s.data.path().join("torrents").join("AB").join("x.torrent"),
        canary,
    )
    .unwrap();
    let prober = probe(&s);
    let targets = [
        "/torrent/../../etc/passwd",
        "/torrent/../../../../../../etc/passwd.torrent",
        "/../../../../etc/passwd",
        "/../secret.txt",
        "/torrent/..%2F..%2Fsecret.txt",
        "/torrent/..%2f..%2fetc%2fpasswd.torrent",
        "/torrent/%2e%2e/%2e%2e/etc/passwd",
        "/torrent/%2E%2E%2F%2E%2E%2Fsecret.txt.torrent",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2fsecret.txt",
        "/torrent/..%5c..%5csecret.txt.torrent",
        "/torrent/..\\..\\secret.txt.torrent",
        "/torrent/AB%2Fx.torrent",
        "/torrent/AB/x.torrent",
        "/AB/x.torrent",
        "/torrent/%00.torrent",
        "/torrent/7431A969B347E14BBA641B3517C024F7B40DFB7F%00.torrent",
        "/torrent/7431A969B347E14BBA641B3517C024F7B40DFB7F.torrent%00.txt",
        "/torrent/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/torrent/%c0%ae%c0%ae%c0%afsecret.txt.torrent",
        "/torrent/%e0%80%ae%e0%80%ae%e0%80%afsecret.txt",
        "/sync/../blocklist.tsv",
        "/sync/..%2Fblocklist.tsv",
        "/sync/..%2fsecret.txt",
        "/sync/%2e%2e/blocklist.tsv",
        "/sync/%2e%2e%2fblocklist.tsv",
        "/sync/..\\blocklist.tsv",
        "/sync/..%5cblocklist.tsv",
        "/sync/secret.txt",
        "/sync/20261126.txt%00",
        "/sync/20261126.txt/../../blocklist.tsv",
        "/sync/%c0%ae%c0%ae/blocklist.tsv",
        "/sync//etc/passwd",
        "//etc/passwd",
        "/info/../../etc/passwd",
        "/info/..%2f..%2fsecret.txt",
        "/static/../../secret.txt",
        "/www/../secret.txt",
        "/api/../secret.txt",
        "/api/thetorrent.wsdl/../../secret.txt",
        "/blocklist.tsv",
        "/secret.txt",
        "/magnet?xt=urn:btih:../../secret.txt",
        "/lookup?q=../../etc/passwd",
        "http://t/../secret.txt",
        "http://t/sync/../blocklist.tsv",
    ];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    repeat_for(Duration::from_secs(2), || {
        for target in targets {
            let mut c = s.connect();
            c.send(
                format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            let r = match c.try_response(false) {
                Ok(r) => r,
                Err(e) => panic!("{target}: {e}"),
            };
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains(canary),
                "{target} served a file outside torrents/"
            );
            assert!(!body.contains("root:"), "{target} served /etc/passwd");
            assert!(
                matches!(r.status, 400 | 404),
                "{target}: {} {}",
                r.status,
                body
            );
            *statuses.entry(r.status).or_default() += 1;
        }
    });
    println!(
        "path traversal: {} targets, statuses {statuses:?}",
        targets.len()
    );
    prober.finish("path traversal");
}

// ---- Hostile documents ----------------------------------------------------------------

fn soap_envelope(prolog: &str, payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n{prolog}<soap:Envelope \
         xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
         <tns:storeTorrent xmlns:tns=\"urn:TorrentService\"><torrent>{payload}</torrent>\
         </tns:storeTorrent></soap:Body></soap:Envelope>"
    )
}

#[test]
fn xml_bombs_and_external_entities_are_faults() {
    let s = start(&[]);
    let prober = probe(&s);
    let mut laughs = String::from("<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>\n");
    let big = "A".repeat(100_000);
    let quadratic = format!("<!DOCTYPE q [<!ENTITY a \"{big}\">]>\n");
    let deep = soap_envelope(
        "",
        &format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)),
    );
    let cases = [
        ("billion laughs", soap_envelope(&laughs, "&lol9;")),
        (
            "quadratic blowup",
            soap_envelope(&quadratic, &"&a;".repeat(10_000)),
        ),
        (
            "external entity",
            soap_envelope(
                "<!DOCTYPE t [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n",
                "&xxe;",
            ),
        ),
        (
            "external DTD",
            soap_envelope(
                "<!DOCTYPE soap:Envelope SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n",
                "ZA==",
            ),
        ),
        (
            "parameter entity",
            soap_envelope(
                "<!DOCTYPE t [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n",
                "ZA==",
            ),
        ),
        ("undeclared entity", soap_envelope("", "&lol9;")),
        ("100,000 nested elements in the payload", deep),
        (
            "100,000 nested elements in the header",
            format!(
                "<?xml version=\"1.0\"?><soap:Envelope \
                 xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Header>{}{}\
                 </soap:Header><soap:Body></soap:Body></soap:Envelope>",
                "<a>".repeat(100_000),
                "</a>".repeat(100_000)
            ),
        ),
    ];
    let mut faults = std::collections::BTreeMap::new();
    repeat_for(Duration::from_secs(2), || {
        for (what, body) in &cases {
            let t = Instant::now();
            let mut c = s.connect();
            let r = post_on(
                &mut c,
                "/api/soap",
                "text/xml; charset=utf-8",
                body.as_bytes(),
            );
            let text = String::from_utf8_lossy(&r.body);
            assert_eq!(r.status, 500, "{what}: {text}");
            assert!(
                text.contains("Fault") && text.contains("faultstring"),
                "{what}: {text}"
            );
            assert!(
                text.contains("soap:Client") || text.contains(":Client"),
                "{what}: {text}"
            );
            assert!(
                !text.contains("root:") && !text.contains("lollol"),
                "{what}: {text}"
            );
            assert!(
                text.len() < 4096,
                "{what}: an expanded answer of {} bytes",
                text.len()
            );
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "{what}: {:?}",
                t.elapsed()
            );
            // The connection is still in step (the body was framed correctly, only its XML bad).
            c.send(HEALTH);
            assert_eq!(c.response().body, b"ok", "{what}");
            let fault = text.split("<faultstring>").nth(1).unwrap_or("");
            faults.insert(*what, fault.split('<').next().unwrap_or("").to_string());
        }
    });
    for (what, fault) in faults {
        println!("{what}: {fault}");
    }
    prober.finish("XML bombs");
}

#[test]
fn deeply_nested_bencode_is_400_with_a_clear_message() {
    let s = start(&[]);
    let prober = probe(&s);
    let mut nested = b"d8:announce3:url4:info".to_vec();
    nested.extend(std::iter::repeat_n(b'l', 100_000));
    nested.extend(std::iter::repeat_n(b'e', 100_001));
    let lists = [b"l".repeat(100_000), b"e".repeat(100_000)].concat();
    let dicts = b"d1:a".repeat(50_000);
    let mut messages = std::collections::BTreeMap::new();
    let docs = [("in info", &nested), ("lists", &lists), ("dicts", &dicts)];
    repeat_for(Duration::from_secs(2), || {
        for (what, doc) in docs {
            // multipart
            let mut body = b"--b\r\nContent-Disposition: form-data; name=\"torrent\"; filename=\"deep.torrent\"\r\n\r\n".to_vec();
            body.extend_from_slice(doc);
            body.extend_from_slice(b"\r\n--b--\r\n");
            let r = s.post("/api/upload", "multipart/form-data; boundary=b", &body);
            assert_eq!(
                r.status,
                400,
                "{what}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(r.header("X-Thetorrent-Result"), Some("failed"));
            let msg = r.header("X-Thetorrent-Error").unwrap_or("").to_string();
            assert!(msg.contains("nesting deeper than 99"), "{what}: {msg}");
            // raw body
            let r = s.post("/autoupload.php", "application/x-bittorrent", doc);
            assert_eq!(r.status, 400, "{what}");
            assert!(r
                .header("X-Torrage-Error-Msg")
                .unwrap_or("")
                .contains("nesting"));
            // SOAP
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(doc);
            let r = s.post("/api/soap", "text/xml", soap_envelope("", &b64).as_bytes());
            let text = String::from_utf8_lossy(&r.body);
            assert_eq!(r.status, 500);
            assert!(text.contains("nesting deeper than 99"), "{what}: {text}");
            messages.insert(what, msg);
        }
    });
    for (what, msg) in messages {
        println!("nested bencode ({what}): {msg}");
    }
    prober.finish("nested bencode");
    assert!(!s.log().contains("panicked"));
}

/// 10,000 idle connections whose idle timeouts fire while other clients keep connecting: the
/// load under which timed may I/O corrupts the heap (a debug build aborts with `malloc():
/// unaligned tcache chunk detected`, or a misaligned pointer in
/// `generator::stack::StackBox::drop` under `may::io::event_loop`). The server uses no may I/O
/// timer; this keeps it so. Runs 3 rounds here; `THETORRENT_MASS_IDLE_ROUNDS=N` runs N.
#[test]
fn mass_idle_timeouts_during_traffic() {
    let rounds: usize = std::env::var("THETORRENT_MASS_IDLE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let _one_at_a_time = TEN_THOUSAND_SOCKETS
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    raise_nofile(12_000);
    for round in 0..rounds {
        let s = start(&["--idle-timeout", "3", "--max-connections", "20000"]);
        let idle: Vec<TcpStream> = (0..10_000)
            .map(|_| TcpStream::connect(s.addr).expect("connect"))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let probers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, addr) = (stop.clone(), s.addr);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let _ = health_round_trip(addr);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::SeqCst);
        for p in probers {
            p.join().unwrap();
        }
        drop(idle);
        assert!(s.alive(), "round {round}: the server died:\n{}", s.log());
        let log = s.log();
        for alarm in ["tcache", "malloc", "fastbin", "corrupted", "abort"] {
            assert!(
                !log.contains(alarm),
                "round {round}: {alarm:?} in the log:\n{log}"
            );
        }
    }
}

// ---- The application's answer to a refused body ---------------------------------------

/// `Handler::body_error` (the hook an application uses to answer a refused body in its own
/// format: upload error headers, a SOAP Fault) is what a client gets for a body over the
/// limit, declared or chunked, and for malformed chunks — not the layer's plain page. The
/// layer in-process (its library API) with a 1 KiB body limit and a handler that reads bodies.
#[test]
fn refused_bodies_are_answered_by_the_handlers_hook() {
    use thetorrent::http::{self, Request, Response, WithBodyError};
    let listeners = http::bind(&["127.0.0.1:0".to_string()]).unwrap();
    let addr = listeners.addrs()[0];
    let handler = WithBodyError(
        |req: &mut Request<'_>| match req.body.read_all(u64::MAX) {
            Ok(b) => Response::text(200, format!("{} bytes\n", b.len())),
            Err(_) => Response::error(500), // replaced by the layer
        },
        |req: &Request<'_>, status: u16| {
            Response::text(status, format!("refused on {}\n", req.path()))
                .header("X-Test-Error", format!("body refused: {status}"))
        },
    );
    let cfg = http::Config {
        max_body_bytes: 1024,
        workers: 1,
        ..http::Config::default()
    };
    std::thread::spawn(move || http::run(listeners, Arc::new(handler), cfg));
    let ask = |raw: &[u8]| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(raw).unwrap();
        let got = read_until_closed(&mut s, Duration::from_secs(10)).unwrap();
        String::from_utf8_lossy(&got).into_owned()
    };
    // Declared over the limit: refused from the head, the handler never runs.
    let a = ask(b"POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 413 "), "{a}");
    assert!(a.contains("X-Test-Error: body refused: 413\r\n"), "{a}");
    assert!(a.contains("Connection: close\r\n"), "{a}");
    assert!(a.ends_with("refused on /api/upload\n"), "{a}");
    // Chunked past the limit: refused while the handler reads.
    let mut raw =
        b"POST /api/soap HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(b"400\r\n");
        raw.extend_from_slice(&[b'x'; 0x400]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let a = ask(&raw);
    assert!(a.starts_with("HTTP/1.1 413 "), "{a}");
    assert!(a.contains("X-Test-Error: body refused: 413\r\n"), "{a}");
    assert!(a.ends_with("refused on /api/soap\n"), "{a}");
    // Malformed chunks: 400 through the same hook.
    let a = ask(
        b"POST /autoupload.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    assert!(a.contains("X-Test-Error: body refused: 400\r\n"), "{a}");
    // A body within the limit still reaches the handler.
    let a =
        ask(b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello");
    assert!(
        a.starts_with("HTTP/1.1 200 ") && a.ends_with("5 bytes\n"),
        "{a}"
    );
    // Other head errors keep the layer's plain page.
    let a = ask(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert!(
        a.starts_with("HTTP/1.1 400 ") && !a.contains("X-Test-Error"),
        "{a}"
    );
}
