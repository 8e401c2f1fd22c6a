//! Memory and CPU a client cannot run away with, against the real binary: the budget of
//! bodies in flight, the body rate judged over a sliding window, no allocation of a declared
//! length before its bytes come (and a failed allocation as that request's 503, under an
//! address-space limit), memory given back after a burst, and the body limit that follows
//! the torrent limit. The figures (RSS at 200 and 1,000 uploads, after bursts) are measured
//! by benches/resource_bounds.sh.

mod common;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// The server's resident memory, KiB.
fn rss_kib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Starts the server with its address space limited to `bytes` (RLIMIT_AS), as a machine
/// with little memory and no overcommit would have it.
fn start_with_address_space(bytes: u64, extra: &[&str]) -> Server {
    try_start_with(temp_dir(), extra, |cmd| {
        set_rlimit(cmd, libc::RLIMIT_AS, bytes)
    })
    .unwrap_or_else(|(status, log)| panic!("server did not start ({status:?}):\n{log}"))
}

/// Whether the process has exited (and how).
fn exited(s: &mut Server) -> Option<std::process::ExitStatus> {
    s.child.try_wait().unwrap()
}

// ---- (a) the budget of bodies in flight -----------------------------------------------

/// With a 32 MiB budget, twelve 8 MiB bodies that pause halfway: four are read (their
/// reservations fill the budget), the other eight wait for room, then get a 503 with
/// `Retry-After` (the four hold theirs past the wait); the server's memory stays within the
/// budget.
#[test]
fn bodies_over_the_budget_wait_then_get_503() {
    require_test_routes();
    let s = start(&["--body-budget", "32M", "--upload-rate", "0"]);
    let idle = rss_kib(&s);
    let len = 8 * MIB;
    let half = bytes(len / 2, 7);
    let mut conns: Vec<TcpStream> = (0..12)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(
                format!("POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            c
        })
        .collect();
    // Each sends its first half from its own thread (a waiting body's socket fills up).
    let senders: Vec<_> = conns
        .iter()
        .map(|c| {
            let mut c = c.try_clone().unwrap();
            let half = half.clone();
            std::thread::spawn(move || {
                let _ = c.write_all(&half);
            })
        })
        .collect();
    // The waiting ones are answered after the budget wait (5 s): read them while the four
    // holders keep theirs.
    let mut refused = 0;
    let mut peak = 0;
    let t = Instant::now();
    let mut pending: Vec<usize> = (0..conns.len()).collect();
    while t.elapsed() < Duration::from_secs(8) && refused < 8 {
        peak = peak.max(rss_kib(&s));
        pending.retain(|&i| {
            let c = &mut conns[i];
            c.set_nonblocking(true).unwrap();
            let mut b = [0u8; 64];
            let got = c.peek(&mut b);
            c.set_nonblocking(false).unwrap();
            match got {
                Ok(n) if n > 0 => {
                    let mut r = Client::from_stream(c.try_clone().unwrap());
                    let resp = r.response();
                    assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
                    assert_eq!(resp.header("Retry-After"), Some("1"));
                    refused += 1;
                    false
                }
                _ => true,
            }
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(refused, 8, "bodies refused while the budget was full");
    assert_eq!(pending.len(), 4);
    for h in senders {
        h.join().unwrap();
    }
    // The four holders finish and are answered in full.
    for &i in &pending {
        conns[i].write_all(&half).unwrap();
    }
    for &i in &pending {
        let mut r = Client::from_stream(conns[i].try_clone().unwrap());
        let resp = r.response();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.len(), len);
    }
    // Four 8 MiB bodies held, plus the echo of one being written: the budget and a margin.
    let held = (peak - idle) / 1024;
    assert!(
        held < 32 + 24,
        "RSS grew by {held} MiB with a 32 MiB budget"
    );
    assert!(s.alive());
}

// ---- (b) the body rate over a sliding window ------------------------------------------

/// A sender that sends 8 MiB at once and then nothing is cut one rate window after the
/// grace (10 s), however much it sent: averaged from the start it would be held for 8 MiB
/// at the floor of 100 KiB/s, 80 s.
#[test]
fn a_front_loaded_body_then_silence_is_cut_within_the_window() {
    require_test_routes();
    let s = start(&["--body-grace", "1", "--body-min-rate", "102400"]);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 16000000\r\n\r\n");
    c.send(&bytes(8 * MIB, 3));
    let t = Instant::now();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let r = c.response();
    assert_eq!(r.status, 408);
    // Generous: well under the 80 s an average from the start would allow.
    assert!(t.elapsed() < Duration::from_secs(45), "{:?}", t.elapsed());
    // A sender that keeps above the floor is not cut, however long it takes.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\n\r\n");
    for _ in 0..15 {
        c.send(&[b'x'; 200_000]);
        std::thread::sleep(Duration::from_millis(100));
    }
    c.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(c.response().body.len(), 3_000_000);
}

// ---- (c) no allocation before bytes arrive, and no abort when one fails ---------------

/// Address space for the server in the tests below: about twice what it maps idle (its
/// threads' stacks and malloc's heaps are mostly reserved, not resident).
const ADDRESS_SPACE: u64 = 1 << 30;

/// 150 uploads that declare the body limit (16 MiB) and send one byte: 2.4 GB if each
/// declared length were allocated at once, over the 1 GiB address space (malloc fails and
/// the process aborts). Growing with what arrives, they hold a few KiB each.
#[test]
fn declared_lengths_are_not_allocated_before_their_bytes_arrive() {
    let mut s = start_with_address_space(ADDRESS_SPACE, &["--body-budget", "100G"]);
    let conns: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"POST /api/soap HTTP/1.1\r\nHost: t\r\nContent-Length: 16777216\r\n\r\n<")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(exited(&mut s), None, "{}", s.log());
    assert!(s.alive(), "{}", s.log());
    drop(conns);
}

/// Sixty SOAP bodies of 16 MB at once, under a 1 GiB address space: each pauses after
/// 15 MB (its buffer then needs its whole 16 MB: 960 MB together). The ones whose buffers
/// cannot be allocated are answered 503 (a SOAP Fault, `Retry-After`), the others are read
/// to their end; the process lives on.
#[test]
fn a_body_that_cannot_be_allocated_is_a_503_not_an_abort() {
    let mut s = start_with_address_space(ADDRESS_SPACE, &["--body-budget", "100G"]);
    // Past 8 MiB read (what the kernel's socket buffers can hold back is a few MiB less than
    // the first part), a buffer grows to the whole declared length.
    let len = 16_000_000;
    let first = 15_000_000;
    let body = Arc::new(vec![b'x'; len]);
    let mut conns: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(
                format!("POST /api/soap HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            c
        })
        .collect();
    let send = |range: std::ops::Range<usize>| -> Vec<std::thread::JoinHandle<()>> {
        conns
            .iter()
            .map(|c| {
                let mut c = c.try_clone().unwrap();
                let body = body.clone();
                let range = range.clone();
                std::thread::spawn(move || {
                    let _ = c.write_all(&body[range]);
                })
            })
            .collect()
    };
    for h in send(0..first) {
        h.join().unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    let senders = send(first..len);
    let mut statuses = Vec::new();
    for c in conns.iter_mut() {
        let mut r = Client::from_stream(c.try_clone().unwrap());
        r.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        match r.try_response(false) {
            Ok(resp) => {
                if resp.status == 503 {
                    assert_eq!(resp.header("Retry-After"), Some("1"));
                    assert!(String::from_utf8_lossy(&resp.body).contains("server busy"));
                }
                statuses.push(resp.status);
            }
            Err(e) => panic!(
                "no answer ({e}); server exit: {:?}\n{}",
                exited(&mut s),
                s.log()
            ),
        }
    }
    for h in senders {
        h.join().unwrap();
    }
    assert_eq!(exited(&mut s), None, "{}", s.log());
    assert!(s.alive());
    // Garbage XML is a Fault (500) when it could be read; 503 when it could not.
    assert!(
        statuses.iter().all(|&st| st == 500 || st == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "no allocation failed: {statuses:?}"
    );
    assert!(statuses.contains(&500), "nothing was read: {statuses:?}");
}

// ---- (d) memory given back after a burst ----------------------------------------------

/// Three rounds of 150 multipart uploads of 2 MiB, each round held at once (every body sent
/// but its last byte, then the last bytes): after each round the server's RSS comes back
/// near what it was before (glibc's malloc otherwise keeps what the bodies took: measured
/// by benches/resource_bounds.sh).
#[test]
fn memory_is_given_back_after_a_burst_of_uploads() {
    let s = start(&["--upload-rate", "0", "--body-budget", "4G"]);
    for _ in 0..3 {
        let mut c = s.connect();
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        c.response();
    }
    let idle = rss_kib(&s);
    let part = bytes(2 * MIB, 11);
    let body = multipart(&[("x.torrent", &part)]);
    let mut request = format!(
        "POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Arc::new(request);
    for round in 0..3 {
        let ready = Arc::new(std::sync::Barrier::new(151));
        let burst: Vec<_> = (0..150)
            .map(|_| {
                let (request, ready) = (request.clone(), ready.clone());
                let addr = s.addr;
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    let cut = request.len() - 1;
                    c.send(&request[..cut]);
                    ready.wait();
                    c.send(&request[cut..]);
                    c.stream
                        .set_read_timeout(Some(Duration::from_secs(120)))
                        .unwrap();
                    c.response().status
                })
            })
            .collect();
        ready.wait();
        let statuses: Vec<u16> = burst.into_iter().map(|h| h.join().unwrap()).collect();
        // Random bytes are not a torrent: every part was held, then refused.
        assert!(statuses.iter().all(|&st| st == 400), "{statuses:?}");
        let mut after = u64::MAX;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            after = after.min(rss_kib(&s));
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "round {round}: RSS idle {} MiB, after {} MiB",
            idle / 1024,
            after / 1024
        );
        assert!(
            after < idle + 40 * 1024,
            "RSS {} MiB after round {round}, {} MiB before the bursts",
            after / 1024,
            idle / 1024
        );
    }
}

// ---- (h) the body limit follows the torrent limit -------------------------------------

/// With `--max-torrent-size 30000000`, a 20 MB torrent is accepted raw, in a multipart form
/// and by SOAP (27 MB of base64), and three 6 MiB torrents in one form are all stored: the
/// default body limit is what the torrent limit needs.
#[test]
fn the_body_limit_follows_the_torrent_limit() {
    let s = start(&["--max-torrent-size", "30000000", "--upload-rate", "0"]);
    let post = |ct: &str, body: &[u8], path: &str| {
        let mut c = s.connect();
        c.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        post_on(&mut c, path, ct, body)
    };
    // 1,000,000 piece hashes: a 20 MB file.
    let big = sized_torrent(1, 1_000_000);
    assert!(big.len() > 20_000_000 && big.len() < 30_000_000);
    let r = post("application/x-bittorrent", &big, "/api/upload");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let six: Vec<Vec<u8>> = (2..5).map(|n| sized_torrent(n, 6 * MIB / 20)).collect();
    let form = multipart(&[("a", &six[0]), ("b", &six[1]), ("c", &six[2])]);
    let r = post(
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        &form,
        "/api/upload",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.count("X-Thetorrent-Result"), 3);
    let big2 = sized_torrent(5, 1_000_000);
    let b64 = base64_lines(&big2);
    let envelope = format!(
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\
         \"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><storeTorrent \
         xmlns=\"urn:TorrentService\"><torrent>{b64}</torrent></storeTorrent></soap:Body>\
         </soap:Envelope>"
    );
    let r = post("text/xml; charset=utf-8", envelope.as_bytes(), "/api/soap");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A budget smaller than one body of the limit cannot work: refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .arg("--data")
        .arg(temp_dir().path())
        .args(["serve", "--listen", "127.0.0.1:0", "--body-budget", "4M"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--body-budget 4194304") && err.contains("body limit"),
        "{err}"
    );
}

/// Base64 with a line break every 76 characters, as Perl's SOAP::Lite sends it.
fn base64_lines(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len() * 4 / 3 + b.len() / 40);
    let mut col = 0;
    for chunk in b.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &c| a << 8 | c as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        col += 4;
        if col == 76 {
            out.push('\n');
            col = 0;
        }
    }
    out
}
