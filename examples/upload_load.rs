//! Upload load client for `benches/upload.sh`: N threads, each with one keep-alive
//! connection, upload distinct generated ~20 KB torrents as fast as the server answers, for a
//! bounded time, over HTTP POST (multipart, field `torrent`) or SOAP (`storeTorrent`).
//!
//! The torrents are generated here (valid v1 single-file torrents, 19,000–21,000 bytes, made
//! distinct by a name with the seed, thread and sequence number and random piece hashes), so
//! the client costs little CPU and no files: the server is the thing measured.
//!
//! `cargo run --release --example upload_load -- ADDR post|soap CLIENTS SECONDS SEED [HASHES_OUT]`
//!
//! Prints a summary and a last line `RATE <uploads per second>`; exits non-zero when any
//! upload was not answered "stored" (or `<infoHash>`) with status 200.

use base64::Engine;
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "common/response.rs"]
mod response;
#[path = "common/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

const PIECE: u64 = 262_144;

/// A valid single-file v1 torrent of 19,000–21,000 bytes, distinct for each `id`, written
/// into `t` (reused: the client should cost little next to the server it loads).
fn torrent(t: &mut Vec<u8>, id: &str, rng: &mut Rng) {
    let size = 19_000 + (rng.next() % 2001) as usize;
    let name_len = "upload-bench-.bin".len() + id.len();
    let head_len = 200 + name_len;
    let npieces = (size.saturating_sub(head_len) / 20).max(1);
    let length = (npieces as u64 - 1) * PIECE + 1 + rng.next() % PIECE;
    t.clear();
    t.extend_from_slice(b"d8:announce31:http://tracker.example/announce4:infod");
    write!(
        t,
        "6:lengthi{length}e4:name{name_len}:upload-bench-{id}.bin"
    )
    .unwrap();
    write!(t, "12:piece lengthi{PIECE}e6:pieces{}:", npieces * 20).unwrap();
    let at = t.len();
    t.resize(at + npieces * 20, 0);
    for piece in t[at..].chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        piece.copy_from_slice(&v[..piece.len()]);
    }
    t.extend_from_slice(b"ee");
}

const SOAP_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope \
     xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
     xmlns:ns1=\"urn:TorrentService\"><SOAP-ENV:Body><ns1:storeTorrent><torrent>";
const SOAP_TAIL: &str = "</torrent></ns1:storeTorrent></SOAP-ENV:Body></SOAP-ENV:Envelope>\n";
const BOUNDARY: &str = "------------------------thetorrentbench";

/// Writes the whole upload request for `torrent` into `req` (reused), the torrent's bytes
/// (or their base64) written once, straight into place.
fn request(req: &mut Vec<u8>, mode: &str, host: &str, torrent: &[u8]) {
    req.clear();
    if mode == "soap" {
        let b64_len = torrent.len().div_ceil(3) * 4;
        write!(
            req,
            "POST /api/soap HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml; charset=utf-8\r\n\
             SOAPAction: \"urn:TorrentService#storeTorrent\"\r\nContent-Length: {}\r\n\r\n{SOAP_HEAD}",
            SOAP_HEAD.len() + b64_len + SOAP_TAIL.len()
        )
        .unwrap();
        let at = req.len();
        req.resize(at + b64_len, 0);
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(torrent, &mut req[at..])
            .unwrap();
        assert_eq!(n, b64_len);
        req.extend_from_slice(SOAP_TAIL.as_bytes());
    } else {
        let part_head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"torrent\"; \
             filename=\"bench.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
        );
        let part_tail = format!("\r\n--{BOUNDARY}--\r\n");
        write!(
            req,
            "POST /api/upload HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\n\r\n{part_head}",
            part_head.len() + torrent.len() + part_tail.len()
        )
        .unwrap();
        req.extend_from_slice(torrent);
        req.extend_from_slice(part_tail.as_bytes());
    }
}

/// Reads one response: (status, head, body).
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut tmp = [0u8; 16384];
    let end = loop {
        if let Some(p) = memchr::memmem::find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = response::status(&head).unwrap_or(0);
    let len = response::content_length(&head).unwrap_or(0);
    while buf.len() < end + len {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-body"));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[end..end + len].to_vec();
    buf.drain(..end + len);
    Ok((status, head, body))
}

/// The hash of a successful answer, or why it is not one.
fn stored_hash(mode: &str, status: u16, head: &str, body: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(format!("status {status}: {}", text.trim()));
    }
    if mode == "soap" {
        let a = text.find("<infoHash>").ok_or("no <infoHash>")? + "<infoHash>".len();
        let b = text[a..].find('<').ok_or("no </infoHash>")?;
        Ok(text[a..a + b].to_string())
    } else {
        if !head.contains("X-Thetorrent-Result: stored") {
            return Err(format!("not stored: {}", text.trim()));
        }
        Ok(text.trim().to_string())
    }
}

struct Done {
    hashes: Vec<String>,
    latencies_us: Vec<u64>,
    errors: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: upload_load ADDR post|soap CLIENTS SECONDS SEED [HASHES_OUT]");
        std::process::exit(2);
    }
    let addr = args[0].clone();
    let mode = args[1].clone();
    assert!(mode == "post" || mode == "soap", "mode: post or soap");
    let clients: usize = args[2].parse().expect("CLIENTS");
    let secs: f64 = args[3].parse().expect("SECONDS");
    let seed: u64 = args[4].parse().expect("SEED");
    let out = args.get(5).cloned();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let done: Vec<Done> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|t| {
                let (addr, mode) = (&addr, &mode);
                sc.spawn(move || {
                    let mut d = Done {
                        hashes: Vec::new(),
                        latencies_us: Vec::new(),
                        errors: Vec::new(),
                    };
                    let mut rng =
                        Rng((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1) << 32) | 1);
                    let mut conn: Option<TcpStream> = None;
                    let mut buf = Vec::new();
                    let (mut tor, mut req) = (Vec::new(), Vec::new());
                    let mut k = 0u64;
                    while Instant::now() < deadline {
                        let s = match conn.as_mut() {
                            Some(s) => s,
                            None => {
                                let s = TcpStream::connect(addr.as_str()).expect("connect");
                                s.set_nodelay(true).unwrap();
                                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                                buf.clear();
                                conn.insert(s)
                            }
                        };
                        let id = format!("{seed}-{t}-{k}");
                        k += 1;
                        torrent(&mut tor, &id, &mut rng);
                        request(&mut req, mode, addr, &tor);
                        let t0 = Instant::now();
                        let r = s.write_all(&req).and_then(|_| response(s, &mut buf));
                        match r {
                            Ok((status, head, body)) => {
                                d.latencies_us.push(t0.elapsed().as_micros() as u64);
                                match stored_hash(mode, status, &head, &body) {
                                    Ok(h) => d.hashes.push(h),
                                    Err(e) => d.errors.push(e),
                                }
                                if head.to_ascii_lowercase().contains("connection: close") {
                                    conn = None;
                                }
                            }
                            Err(e) => {
                                d.errors.push(format!("i/o: {e}"));
                                conn = None;
                            }
                        }
                    }
                    d
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut hashes = Vec::new();
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    for d in done {
        hashes.extend(d.hashes);
        lat.extend(d.latencies_us);
        errors.extend(d.errors);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let rate = hashes.len() as f64 / elapsed;
    println!(
        "{mode}: {clients} clients, {elapsed:.1} s: {} stored, {} failed; {rate:.0} uploads/s; \
         upload latency p50 {:.1} ms, p99 {:.1} ms",
        hashes.len(),
        errors.len(),
        pct(0.50),
        pct(0.99)
    );
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    if let Some(out) = out {
        std::fs::write(&out, hashes.join("\n") + "\n").expect("write hashes");
    }
    println!("RATE {rate:.1}");
    if !errors.is_empty() || hashes.is_empty() {
        std::process::exit(1);
    }
}
