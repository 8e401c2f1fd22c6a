//! The S3 backend's answer to a hung object store, for `benches/s3_outage.sh`: CLIENTS
//! uploaders (one connection per upload, distinct ~300-byte torrents) run against a front end
//! on SeaweedFS; after 2 s the store is frozen (SIGSTOP to WEED_PID: connections are
//! accepted, never answered, as in a network partition) for OUTAGE seconds, then thawed
//! (SIGCONT). Prints the time from the freeze to the first answer that is not "stored", the
//! answers per second during the rest of the outage (and their statuses), and the time from
//! the thaw to the first upload stored again.
//!
//! `cargo run --release --example s3_outage -- ADDR WEED_PID [CLIENTS=16] [OUTAGE=10]`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn torrent(n: u64) -> Vec<u8> {
    let name = format!("outage-{n}.bin");
    let mut t = format!(
        "d4:infod6:lengthi16384e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
        name.len()
    )
    .into_bytes();
    t.extend_from_slice(&n.to_le_bytes());
    t.extend_from_slice(&[0u8; 12]);
    t.extend_from_slice(b"ee");
    t
}

/// One upload on a fresh connection: its status (0: no answer).
fn upload(addr: SocketAddr, n: u64) -> u16 {
    let t = torrent(n);
    let Ok(mut c) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(120)));
    let mut r = format!(
        "POST /api/upload HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-bittorrent\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        t.len()
    )
    .into_bytes();
    r.extend_from_slice(&t);
    if c.write_all(&r).is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    let head = String::from_utf8_lossy(&answer);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: sending a signal to the process the script started.
    unsafe { libc::kill(pid, sig) };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(weed)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: s3_outage ADDR WEED_PID [CLIENTS=16] [OUTAGE=10] \
             (benches/s3_outage.sh starts SeaweedFS and the server)"
        );
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR");
    let weed: i32 = weed.parse().expect("WEED_PID");
    let clients: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(16);
    let outage = Duration::from_secs(args.get(3).and_then(|v| v.parse().ok()).unwrap_or(10));
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<(Instant, u16)>::new()));
    let seq = Arc::new(AtomicU64::new(std::process::id() as u64 * 1_000_000_000));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, answers, seq) = (stop.clone(), answers.clone(), seq.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let st = upload(addr, seq.fetch_add(1, Ordering::SeqCst));
                    answers.lock().unwrap().push((Instant::now(), st));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let before = answers.lock().unwrap().len();
    signal(weed, libc::SIGSTOP);
    let frozen = Instant::now();
    std::thread::sleep(outage);
    signal(weed, libc::SIGCONT);
    let thawed = Instant::now();
    let deadline = thawed + Duration::from_secs(60);
    while Instant::now() < deadline
        && !answers
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.0 > thawed && a.1 == 200)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let a = answers.lock().unwrap();
    let first = a
        .iter()
        .filter(|x| x.0 > frozen && x.1 != 200)
        .map(|x| x.0)
        .min();
    let back = a
        .iter()
        .filter(|x| x.0 > thawed && x.1 == 200)
        .map(|x| x.0)
        .min();
    let during: Vec<_> = a
        .iter()
        .filter(|x| first.is_some_and(|f| x.0 > f) && x.0 <= thawed)
        .collect();
    let mut statuses: Vec<(u16, usize)> = Vec::new();
    for x in &during {
        match statuses.iter_mut().find(|s| s.0 == x.1) {
            Some(s) => s.1 += 1,
            None => statuses.push((x.1, 1)),
        }
    }
    let rate = first.map_or(0.0, |f| during.len() as f64 / (thawed - f).as_secs_f64());
    println!(
        "{clients} uploaders, {before} answers in the 2 s before; store frozen {:.0} s: first \
         answer after {}, then {rate:.0} answers/s ({}); stored again {} after the thaw",
        outage.as_secs_f64(),
        first.map_or("never".into(), |f| format!(
            "{:.2} s",
            (f - frozen).as_secs_f64()
        )),
        statuses
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect::<Vec<_>>()
            .join(" "),
        back.map_or("never (60 s)".into(), |b| format!(
            "{:.2} s",
            (b - thawed).as_secs_f64()
        )),
    );
}
