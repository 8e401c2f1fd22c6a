//! Open-loop download client for `benches/serve.sh`: asks for random stored hashes at a
//! fixed overall rate, whatever the server does, and measures each request's latency from the
//! moment it was due, not from when it was sent (as wrk2 does). wrk is closed-loop: a slow
//! answer delays the next request, and at saturation its figure is as much the client's own
//! queue as the server's. Here both servers get the same offered load, below what either can
//! serve, so the latency is the server's.
//!
//! `cargo run --release --example openloop -- ADDR HASHES MISSES MISS RATE CONNS SECONDS`
//!
//! One thread, non-blocking keep-alive connections and epoll (a thread per connection cost
//! ~50 us of CPU per request in sleeps and wake-ups and fell behind its own schedule). Each
//! connection sends RATE/CONNS requests a second on its own schedule, the schedules staggered
//! across the interval; a timerfd wakes the loop when the next request is due. A request that
//! is due while its connection still waits for the previous answer goes out as soon as that
//! answer is in, and its latency still counts from when it was due. MISS (0..1) of the
//! requests ask for the hashes in MISSES (not stored). Prints the latency percentiles in
//! microseconds and a last line `RESULT <requests> <p50> <p90> <p99> <p99.9> <max> <late>`,
//! where late is the client's own delay: how long, on average, a request went out after the
//! later of its due time and its connection's previous answer (it should stay far below the
//! latencies measured). Exits non-zero on a connection error or a status other than 200/404.

use std::io::{ErrorKind, Read, Write as _};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[path = "common/response.rs"]
mod response;
#[path = "common/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Conn {
    s: TcpStream,
    /// Requests sent so far; the next one is due at `start + phase + interval * sent`.
    sent: u32,
    phase: Duration,
    /// When the request in flight was due (None: idle).
    in_flight: Option<Instant>,
    /// When the previous answer was complete.
    idle_since: Instant,
    /// Bytes of the response read so far, and its whole length once the head is in.
    got: usize,
    head: Vec<u8>,
    total: Option<usize>,
}

/// The status and whole length (head + body) of a response whose head is in `b`, if it is.
fn parse_head(b: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&b[..end]).map_err(|e| e.to_string())?;
    let status = response::status(head).ok_or("bad status line")?;
    let len = response::content_length(head).ok_or("no Content-Length")?;
    Ok(Some((status, end + 4 + len)))
}

fn cvt(r: libc::c_int, what: &str) -> Result<libc::c_int, String> {
    if r < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let addr = &args[0];
    let hashes = lines(&args[1]);
    let misses = lines(&args[2]);
    let miss: f64 = args[3].parse().map_err(|_| "MISS")?;
    let rate: f64 = args[4].parse().map_err(|_| "RATE")?;
    let nconns: usize = args[5].parse().map_err(|_| "CONNS")?;
    let secs: f64 = args[6].parse().map_err(|_| "SECONDS")?;
    let interval = Duration::from_secs_f64(nconns as f64 / rate);
    let per_conn = (secs * rate / nconns as f64) as u32;

    // SAFETY: plain system calls without pointers; the results are checked.
    let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }, "epoll")?;
    let tfd = cvt(
        // SAFETY: as above.
        unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK) },
        "timerfd",
    )?;
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: u64::MAX,
    };
    cvt(
        // SAFETY: ep and tfd are open descriptors; ev is a valid epoll_event.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, tfd, &mut ev) },
        "epoll_ctl",
    )?;
    let start = Instant::now() + Duration::from_millis(100);
    let mut conns = Vec::with_capacity(nconns);
    for i in 0..nconns {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_nodelay(true).ok();
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        cvt(
            // SAFETY: ep and the socket are open descriptors; ev is a valid epoll_event.
            unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) },
            "epoll_ctl",
        )?;
        conns.push(Conn {
            s,
            sent: 0,
            phase: interval.mul_f64(i as f64 / nconns as f64),
            in_flight: None,
            idle_since: start,
            got: 0,
            head: Vec::with_capacity(1024),
            total: None,
        });
    }

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut lat: Vec<u32> = Vec::with_capacity(per_conn as usize * nconns);
    let mut late_us: u64 = 0;
    let mut buf = vec![0u8; 65536];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut req = Vec::with_capacity(128);
    let mut done = 0;
    while done < nconns {
        // Send what is due on idle connections; find when the next one is due.
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for c in conns.iter_mut() {
            if c.in_flight.is_some() || c.sent >= per_conn {
                continue;
            }
            let due = start + c.phase + interval * c.sent;
            if due > now {
                next = Some(next.map_or(due, |n: Instant| n.min(due)));
                continue;
            }
            let list = if miss > 0.0 && (rng.next() % 1_000_000) as f64 / 1e6 < miss {
                &misses
            } else {
                &hashes
            };
            let h = &list[(rng.next() % list.len() as u64) as usize];
            req.clear();
            write!(req, "GET /torrent/{h}.torrent HTTP/1.1\r\nHost: b\r\n\r\n")
                .map_err(|e| e.to_string())?;
            // A request of ~80 bytes into an idle connection's empty send buffer.
            let n = (&c.s).write(&req).map_err(|e| format!("send: {e}"))?;
            if n != req.len() {
                return Err("short send".into());
            }
            late_us += now.duration_since(due.max(c.idle_since)).as_micros() as u64;
            c.in_flight = Some(due);
            c.sent += 1;
        }
        if let Some(n) = next {
            let d = n
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: d.as_secs() as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                },
            };
            cvt(
                // SAFETY: tfd is an open timerfd; spec is a valid itimerspec; no old value.
                unsafe { libc::timerfd_settime(tfd, 0, &spec, std::ptr::null_mut()) },
                "timerfd_settime",
            )?;
        }
        // SAFETY: events is a valid array of epoll_event of the given length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 1000) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("epoll_wait: {e}"));
        }
        for ev in &events[..n as usize] {
            let id = ev.u64;
            if id == u64::MAX {
                let mut t = [0u8; 8];
                // SAFETY: t is 8 writable bytes; tfd is an open timerfd.
                unsafe { libc::read(tfd, t.as_mut_ptr().cast(), 8) };
                continue;
            }
            let c = &mut conns[id as usize];
            loop {
                let r = (&c.s).read(&mut buf);
                let k = match r {
                    Ok(0) => return Err("server closed a connection".into()),
                    Ok(k) => k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("receive: {e}")),
                };
                let Some(due) = c.in_flight else {
                    return Err("bytes with no request in flight".into());
                };
                c.got += k;
                if c.total.is_none() {
                    c.head.extend_from_slice(&buf[..k]);
                    if let Some((status, total)) = parse_head(&c.head)? {
                        if status != 200 && status != 404 {
                            return Err(format!("status {status}"));
                        }
                        c.total = Some(total);
                    }
                }
                if let Some(total) = c.total {
                    if c.got > total {
                        return Err("more bytes than the response".into());
                    }
                    if c.got == total {
                        let now = Instant::now();
                        lat.push(now.duration_since(due).as_micros().min(u32::MAX as u128) as u32);
                        c.in_flight = None;
                        c.idle_since = now;
                        c.got = 0;
                        c.total = None;
                        c.head.clear();
                        if c.sent >= per_conn {
                            done += 1;
                        }
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if lat.is_empty() {
        return Err("no request answered".into());
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let (n, max, late) = (
        lat.len(),
        lat[lat.len() - 1],
        late_us as f64 / lat.len() as f64,
    );
    let (p50, p90, p99, p999) = (pct(0.5), pct(0.9), pct(0.99), pct(0.999));
    println!(
        "{n} requests in {elapsed:.2} s ({:.0}/s asked for {rate}) over {nconns} connections; \
         latency us: p50 {p50} p90 {p90} p99 {p99} p99.9 {p999} max {max}; the client sent \
         {late:.1} us late on average",
        n as f64 / elapsed,
    );
    println!("RESULT {n} {p50} {p90} {p99} {p999} {max} {late:.0}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 7 {
        eprintln!("usage: openloop ADDR HASHES MISSES MISS RATE CONNS SECONDS");
        std::process::exit(2);
    }
    if let Err(e) = run(&args) {
        eprintln!("openloop: {e}");
        std::process::exit(1);
    }
}
