//! Memory a crowd of uploaders can make the server hold, for `benches/resource_bounds.sh`.
//! Starts the given `thetorrent` binary, samples its resident memory (`/proc/PID/status`)
//! every 10 ms while a scenario runs, and prints one line of figures per run.
//!
//! `cargo run --release --example resource_bounds -- BIN SCENARIO [N] [-- SERVER_ARGS...]`
//!
//! - `budget N`: N connections each upload a max-size multipart body (one 10 MiB part, the
//!   torrent limit) at once. Prints the idle and peak RSS and the answers (200/400 read,
//!   503 refused for want of room): the peak must stay under the idle RSS + the body budget
//!   + N × the per-connection cost.
//! - `soap N`: the same with SOAP bodies (a 10 MiB torrent's base64, 14 MB): while the torrent
//!   is decoded the body and the decoded bytes are both held (1.75 × the body).
//! - `burst N`: three rounds of N multipart uploads of 2 MiB held at once (every body sent
//!   but its last byte, then the last bytes): RSS idle, at each round's peak, and 1 s after
//!   each round — memory given back or kept.
//!
//! - `pages N`: uploads a torrent of 280,000 files (9 MB) and a small one, then N clients
//!   ask for the big one's page (`/info/HASH`) in a loop for 10 s while a prober asks
//!   `/healthz` and downloads the small one every 50 ms: pages per second, and the prober's
//!   latencies (median, 99th percentile, worst).
//!
//! Part data is random (not a torrent): every body is held in full, then refused (400), so
//! nothing is written to disk and the memory profile is the upload path's alone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

const MIB: usize = 1 << 20;
const BOUNDARY: &str = "thetorrent-bench-boundary";

struct Server {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, extra: &[String]) -> Server {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .arg("--data")
        .arg(data.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--upload-rate", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(a) = line.strip_prefix("thetorrent: listening on ") {
            break a.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr,
        _data: data,
    }
}

fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// Samples the server's RSS every 10 ms until stopped; the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_max(rss_mib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.peak.load(Ordering::SeqCst)
    }
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut v = vec![0u8; n.div_ceil(8) * 8];
    for c in v.chunks_mut(8) {
        c.copy_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(n);
    v
}

fn multipart_request(part: &[u8]) -> Vec<u8> {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"torrent\"; filename=\"x\"\r\n\
         Content-Type: application/x-bittorrent\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let mut r = format!(
        "POST /api/upload HTTP/1.1\r\nHost: bench\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        head.len() + part.len() + tail.len()
    )
    .into_bytes();
    r.extend_from_slice(part);
    r.extend_from_slice(tail.as_bytes());
    r
}

fn soap_request(torrent: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(torrent);
    let body = format!(
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\
         \"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><storeTorrent \
         xmlns=\"urn:TorrentService\"><torrent>{b64}</torrent></storeTorrent></soap:Body>\
         </soap:Envelope>"
    );
    format!(
        "POST /api/soap HTTP/1.1\r\nHost: bench\r\nContent-Type: text/xml; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The answer's status, or 0 when the connection closed without one.
fn read_status(c: &mut TcpStream) -> u16 {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&got);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// N connections send `request` at once (each from its own thread; `hold`: all but the last
/// byte, then the last bytes once every connection has sent the rest). Returns the count of
/// each status.
fn crowd(addr: SocketAddr, n: usize, request: Arc<Vec<u8>>, hold: bool) -> Vec<(u16, usize)> {
    let ready = Arc::new(std::sync::Barrier::new(n + 1));
    let go = Arc::new(std::sync::Barrier::new(n + 1));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (request, ready, go, statuses) =
                (request.clone(), ready.clone(), go.clone(), statuses.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut c = TcpStream::connect(addr).expect("connect");
                    let cut = if hold {
                        request.len() - 1
                    } else {
                        request.len()
                    };
                    let sent = c.write_all(&request[..cut]).is_ok();
                    ready.wait();
                    go.wait();
                    let sent = sent && c.write_all(&request[cut..]).is_ok();
                    let st = read_status(&mut c);
                    statuses
                        .lock()
                        .unwrap()
                        .push(if st == 0 && !sent { 1 } else { st });
                })
                .unwrap()
        })
        .collect();
    ready.wait();
    go.wait();
    for t in threads {
        t.join().unwrap();
    }
    let mut counts: Vec<(u16, usize)> = Vec::new();
    for s in statuses.lock().unwrap().iter() {
        match counts.iter_mut().find(|(k, _)| k == s) {
            Some(c) => c.1 += 1,
            None => counts.push((*s, 1)),
        }
    }
    counts.sort();
    counts
}

fn show(counts: &[(u16, usize)]) -> String {
    counts
        .iter()
        .map(|(s, n)| match s {
            0 => format!("{n}×none"),
            1 => format!("{n}×refused mid-send"),
            s => format!("{n}×{s}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A valid torrent of `files` files of 1,000 bytes (short names: 280,000 make 9 MB).
fn many_files_torrent(files: usize) -> Vec<u8> {
    let mut t = b"d8:announce17:http://t.example/4:infod5:filesl".to_vec();
    for i in 0..files {
        let name = format!("f{i:06}");
        t.extend_from_slice(format!("d6:lengthi1000e4:pathl{}:{name}ee", name.len()).as_bytes());
    }
    let total = files as u64 * 1000;
    let piece = 1u64 << 20;
    let pieces = total.div_ceil(piece) as usize;
    t.extend_from_slice(
        format!(
            "e4:name4:many12:piece lengthi{piece}e6:pieces{}:",
            pieces * 20
        )
        .as_bytes(),
    );
    t.extend(std::iter::repeat_n(7u8, pieces * 20));
    t.extend_from_slice(b"ee");
    t
}

/// Sends one request on `c` and reads its answer whole; the status.
fn exchange(c: &mut TcpStream, request: &[u8]) -> u16 {
    if c.write_all(request).is_err() {
        return 0;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while got.len() < head_end + len {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Uploads `torrent` raw; its hash from the answer.
fn upload(addr: SocketAddr, torrent: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    let mut r = format!(
        "POST /api/upload HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-bittorrent\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        torrent.len()
    )
    .into_bytes();
    r.extend_from_slice(torrent);
    c.write_all(&r).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer
        .lines()
        .find_map(|l| l.strip_prefix("X-Thetorrent-Hash: "))
        .unwrap_or_else(|| panic!("upload failed: {answer}"))
        .trim()
        .to_string()
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    format!(
        "median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

fn pages(s: &Server, n: usize) -> String {
    let big = upload(s.addr, &many_files_torrent(280_000));
    let small = upload(s.addr, &many_files_torrent(3));
    let stop = Arc::new(AtomicBool::new(false));
    let pages = Arc::new(AtomicU64::new(0));
    let addr = s.addr;
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (stop, pages, big) = (stop.clone(), pages.clone(), big.clone());
            std::thread::spawn(move || {
                let req = format!("GET /info/{big} HTTP/1.1\r\nHost: bench\r\n\r\n");
                let mut c = TcpStream::connect(addr).unwrap();
                while !stop.load(Ordering::SeqCst) {
                    if exchange(&mut c, req.as_bytes()) == 200 {
                        pages.fetch_add(1, Ordering::SeqCst);
                    } else {
                        c = TcpStream::connect(addr).unwrap();
                    }
                }
            })
        })
        .collect();
    let (mut health, mut downloads) = (Vec::new(), Vec::new());
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        for (path, into) in [
            ("/healthz".to_string(), &mut health),
            (format!("/torrent/{small}.torrent"), &mut downloads),
        ] {
            let mut c = TcpStream::connect(addr).unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
            let at = Instant::now();
            assert_eq!(exchange(&mut c, req.as_bytes()), 200, "{path}");
            into.push(at.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    format!(
        "pages N={n} (280,000 files, 9 MB): {:.1} pages/s; /healthz {}; download {}",
        pages.load(Ordering::SeqCst) as f64 / secs,
        percentiles(health),
        percentiles(downloads)
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (ours, extra) = (&args[..split], args.get(split + 1..).unwrap_or(&[]));
    let Some(bin) = ours.first().map(String::as_str) else {
        eprintln!(
            "usage: resource_bounds BIN budget|soap|burst|pages [N] [-- SERVER_ARGS...] \
             (benches/resource_bounds.sh runs them all)"
        );
        std::process::exit(2);
    };
    let scenario = ours.get(1).map_or("budget", String::as_str);
    let n: usize = ours.get(2).and_then(|v| v.parse().ok()).unwrap_or(200);
    let s = start(bin, extra);
    let pid = s.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_mib(pid);
    match scenario {
        "budget" | "soap" => {
            let request = if scenario == "soap" {
                soap_request(&random(10 * MIB, 7))
            } else {
                multipart_request(&random(10 * MIB, 7))
            };
            let len = request.len();
            let sampler = Sampler::start(pid);
            let t = Instant::now();
            let counts = crowd(s.addr, n, Arc::new(request), false);
            let took = t.elapsed();
            let peak = sampler.finish();
            println!(
                "{scenario} N={n} body={:.1} MiB: RSS idle {idle} MiB, peak {peak} MiB \
                 (+{} MiB), {:.1} s; answers {}",
                len as f64 / MIB as f64,
                peak.saturating_sub(idle),
                took.as_secs_f64(),
                show(&counts)
            );
        }
        "burst" => {
            let request = Arc::new(multipart_request(&random(2 * MIB, 9)));
            let mut line = format!("burst N={n} × 2 MiB: RSS idle {idle} MiB");
            for round in 1..=3 {
                let sampler = Sampler::start(pid);
                let counts = crowd(s.addr, n, request.clone(), true);
                let peak = sampler.finish();
                std::thread::sleep(Duration::from_secs(1));
                let after = rss_mib(pid);
                line.push_str(&format!(
                    "; round {round}: peak {peak}, after {after} MiB ({})",
                    show(&counts)
                ));
            }
            println!("{line}");
        }
        "pages" => println!("{}", pages(&s, n)),
        other => panic!("unknown scenario {other}"),
    }
}
