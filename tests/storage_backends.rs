//! The storage backends against the real binary: one conformance suite run on the local
//! data directory and on an S3 bucket (a real SeaweedFS), several front ends sharing one
//! bucket, the object store failing under load, and `migrate` both ways.

mod common;
use common::*;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The list TTL the S3 front ends run with here (`--s3-list-ttl`): the documented staleness
/// bound of counts and blocklists across front ends is this plus one listing.
const LIST_TTL: &str = "1";
/// How long a test waits for a front end to see another's change (the bound, with room for
/// a loaded CI machine).
const CONVERGE: Duration = Duration::from_secs(10);

/// One SeaweedFS for the tests of this binary that do not stop it.
fn seaweed() -> &'static Seaweed {
    static S: OnceLock<Seaweed> = OnceLock::new();
    S.get_or_init(Seaweed::start)
}

static PREFIX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A fresh `s3://` location (its own prefix in the shared bucket).
fn fresh_bucket(name: &str) -> String {
    format!(
        "s3://thetorrent/{name}-{}-{}",
        std::process::id(),
        PREFIX.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// The arguments that put a command on `url` in `sw`.
fn s3_args(sw: &Seaweed, url: &str, creds: &Path) -> Vec<String> {
    vec![
        "--store".into(),
        url.into(),
        "--s3-endpoint".into(),
        sw.endpoint.clone(),
        "--s3-credentials".into(),
        creds.display().to_string(),
        "--s3-create-bucket".into(),
        "--s3-list-ttl".into(),
        LIST_TTL.into(),
    ]
}

fn creds_file(dir: &Path, sw: &Seaweed) -> std::path::PathBuf {
    let p = dir.join("credentials");
    std::fs::write(
        &p,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            sw.access_key, sw.secret_key
        ),
    )
    .unwrap();
    p
}

/// A front end on a backend: `None` local, `Some(args)` S3.
struct Backend {
    args: Vec<String>,
    _creds: Option<TempDir>,
}

impl Backend {
    fn local() -> Backend {
        Backend {
            args: Vec::new(),
            _creds: None,
        }
    }

    fn s3(sw: &Seaweed, url: &str) -> Backend {
        let dir = temp_dir();
        let creds = creds_file(dir.path(), sw);
        Backend {
            args: s3_args(sw, url, &creds),
            _creds: Some(dir),
        }
    }

    fn start(&self) -> Server {
        let a: Vec<&str> = self.args.iter().map(String::as_str).collect();
        start(&a)
    }

    /// Runs a CLI command on this backend (`data`: the local data directory).
    fn cli(&self, data: &Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
            .arg("--data")
            .arg(data)
            .args(&self.args)
            .args(args)
            .output()
            .unwrap()
    }
}

fn post(s: &Server, bytes: &[u8]) -> Resp {
    s.post("/api/upload", "application/x-bittorrent", bytes)
}

fn wait_until(what: &str, f: impl FnMut() -> bool) -> Duration {
    wait_until_or(what, f, String::new)
}

/// `wait_until`, with `context()` (e.g. a server's log) in the failure message.
fn wait_until_or(
    what: &str,
    mut f: impl FnMut() -> bool,
    context: impl Fn() -> String,
) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < CONVERGE,
            "not within {CONVERGE:?}: {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// Accepted corpus torrents: some v1, at least one hybrid and one v2-only.
fn sample() -> Vec<(Vec<u8>, String)> {
    let rows = manifest();
    let mut out = Vec::new();
    let (mut v1, mut hybrid, mut v2) = (0, 0, 0);
    for r in rows.iter().filter(|r| r.accept) {
        let slot = match (&r.v1, &r.v2) {
            (Some(_), None) => &mut v1,
            (Some(_), Some(_)) => &mut hybrid,
            (None, Some(_)) => &mut v2,
            _ => continue,
        };
        let key =
            r.v1.clone()
                .unwrap_or_else(|| r.v2.clone().unwrap()[..40].to_string());
        // Some corpus files are the same torrent under another name.
        if *slot >= 4 || out.iter().any(|(_, k): &(Vec<u8>, String)| *k == key) {
            continue;
        }
        *slot += 1;
        out.push((std::fs::read(&r.path).unwrap(), key));
    }
    assert!(
        v1 > 0 && hybrid > 0 && v2 > 0,
        "corpus sample: {v1} {hybrid} {v2}"
    );
    out
}

fn today() -> String {
    thetorrent::storage::day::Day::today().to_string()
}

/// The same checks on either backend.
fn conformance(b: &Backend) {
    let s = b.start();
    let data = s.data.path();
    let torrents = sample();
    // Store, then again: the same hash, nothing listed twice.
    for (bytes, key) in &torrents {
        let r = post(&s, bytes);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("X-Thetorrent-Result"), Some("stored"));
        assert_eq!(r.header("X-Thetorrent-Hash"), Some(key.as_str()));
    }
    for (bytes, key) in &torrents {
        let r = post(&s, bytes);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("X-Thetorrent-Hash"), Some(key.as_str()));
    }
    assert_eq!(s.stat("already_stored"), torrents.len() as u64);
    // A broken file: a clear failure, nothing stored.
    let r = post(&s, b"d4:infod6:lengthi-1eee");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("X-Thetorrent-Result"), Some("failed"));
    assert_eq!(
        s.stat("count"),
        torrents.len() as u64,
        "{}\nuploaded: {:?}",
        String::from_utf8_lossy(&s.get(&format!("/sync/{}.txt", today()), "").body),
        torrents.iter().map(|t| &t.1).collect::<Vec<_>>()
    );
    let total: u64 = torrents.iter().map(|t| t.0.len() as u64).sum();
    assert_eq!(s.stat("bytes"), total);
    // Downloads: the exact bytes, conditional and range requests.
    for (bytes, key) in &torrents {
        let r = s.get(&format!("/torrent/{key}.torrent"), "");
        assert_eq!(r.status, 200, "{key}");
        assert!(r.body == *bytes, "{key}: bytes differ");
        assert_eq!(r.header("Content-Type"), Some("application/x-bittorrent"));
        let etag = r.header("ETag").unwrap().to_string();
        let r = s.get(
            &format!("/torrent/{key}.torrent"),
            &format!("If-None-Match: {etag}\r\n"),
        );
        assert_eq!(r.status, 304);
        let r = s.get(
            &format!("/{}.torrent", key.to_lowercase()),
            "Range: bytes=1-10\r\n",
        );
        assert_eq!(r.status, 206);
        assert_eq!(r.body, bytes[1..11]);
    }
    // 404 (twice: the second from the negative cache), 400.
    for _ in 0..2 {
        let r = s.get(&format!("/torrent/{}.torrent", "AB".repeat(20)), "");
        assert_eq!(r.status, 404);
    }
    assert_eq!(s.get("/torrent/XYZ.torrent", "").status, 400);
    // The day list names each primary key once.
    let r = s.get(&format!("/sync/{}.txt", today()), "");
    assert_eq!(r.status, 200);
    let listed: Vec<&str> = std::str::from_utf8(&r.body).unwrap().lines().collect();
    let want: BTreeSet<&str> = torrents.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(listed.len(), want.len(), "{listed:?}");
    assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), want);
    let r = s.get("/sync/", "");
    assert!(String::from_utf8_lossy(&r.body).contains(&format!("{}.txt", today())));
    assert_eq!(s.get("/sync/19991231.txt", "").status, 404);
    // Front page count.
    let r = s.get("/", "");
    let want = format!(
        "There are <strong>{}</strong> stored torrents.",
        torrents.len()
    );
    assert!(String::from_utf8_lossy(&r.body).contains(&want), "{want}");
    // A takedown from the command line reaches the running server.
    let (bytes, key) = &torrents[0];
    let o = b.cli(data, &["block", key, "--reason", "test takedown"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_until("blocked", || {
        s.get(&format!("/torrent/{key}.torrent"), "").status == 451
    });
    let r = post(&s, bytes);
    assert_eq!(r.status, 451);
    let o = b.cli(data, &["unblock", key]);
    assert!(o.status.success());
    wait_until("unblocked", || {
        s.get(&format!("/torrent/{key}.torrent"), "").status == 200
    });
    // The CLI sees the same store.
    let o = b.cli(data, &["count"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        torrents.len().to_string()
    );
}

#[test]
fn conformance_local() {
    conformance(&Backend::local());
}

#[test]
fn conformance_s3() {
    let sw = seaweed();
    conformance(&Backend::s3(sw, &fresh_bucket("conf")));
}

/// The fallback for stores that ignore `If-None-Match` (HEAD, then PUT) passes the same suite.
#[test]
fn conformance_s3_without_conditional_put() {
    let sw = seaweed();
    let mut b = Backend::s3(sw, &fresh_bucket("noncond"));
    b.args.push("--s3-no-conditional-put".into());
    conformance(&b);
}

#[test]
fn two_front_ends_share_a_bucket() {
    let sw = seaweed();
    let url = fresh_bucket("two");
    let b = Backend::s3(sw, &url);
    let (a, c) = (b.start(), b.start());
    let torrents = sample();
    let mut worst = Duration::ZERO;
    for (i, (bytes, key)) in torrents.iter().enumerate() {
        let (up, down) = if i % 2 == 0 { (&a, &c) } else { (&c, &a) };
        let r = post(up, bytes);
        assert_eq!(r.status, 200);
        // At once through the other front end.
        let r = down.get(&format!("/torrent/{key}.torrent"), "");
        assert_eq!(r.status, 200, "{key} via the other front end");
        assert!(r.body == *bytes);
        // The uploading front end counts it at once, the other within the bound.
        assert_eq!(up.stat("count"), i as u64 + 1);
        worst = worst.max(wait_until("count agrees", || {
            down.stat("count") == i as u64 + 1
        }));
    }
    eprintln!("count converged within {worst:?} (list TTL {LIST_TTL} s)");
    // The front pages say the same.
    let want = format!(
        "There are <strong>{}</strong> stored torrents.",
        torrents.len()
    );
    for s in [&a, &c] {
        let page = String::from_utf8(s.get("/", "").body).unwrap();
        assert!(page.contains(&want), "{want} not in the front page");
    }
    for s in [&a, &c] {
        let r = s.get(&format!("/sync/{}.txt", today()), "");
        assert_eq!(r.body.len(), torrents.len() * 41);
    }
}

#[test]
fn same_torrent_through_two_front_ends_is_created_once() {
    let sw = seaweed();
    let b = Backend::s3(sw, &fresh_bucket("race"));
    let fronts = Arc::new([b.start(), b.start()]);
    let (bytes, key) = sample().remove(0);
    let bytes = Arc::new(bytes);
    let barrier = Arc::new(Barrier::new(8));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (fronts, bytes, barrier, answers) = (
                fronts.clone(),
                bytes.clone(),
                barrier.clone(),
                answers.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let r = post(&fronts[i % 2], &bytes);
                answers
                    .lock()
                    .unwrap()
                    .push((r.status, r.header("X-Thetorrent-Hash").map(str::to_string)));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for (status, hash) in answers.lock().unwrap().iter() {
        assert_eq!(*status, 200);
        assert_eq!(hash.as_deref(), Some(key.as_str()));
    }
    let stored: u64 = fronts.iter().map(|f| f.stat("stored")).sum();
    let already: u64 = fronts.iter().map(|f| f.stat("already_stored")).sum();
    assert_eq!(
        (stored, already),
        (1, 7),
        "exactly one upload creates the object"
    );
    for f in fronts.iter() {
        wait_until("count 1", || f.stat("count") == 1);
        let r = f.get(&format!("/torrent/{key}.torrent"), "");
        assert!(r.body == *bytes);
        let r = f.get(&format!("/sync/{}.txt", today()), "");
        assert_eq!(r.body, format!("{key}\n").into_bytes());
    }
}

#[test]
fn object_store_outage_under_load() {
    // Its own SeaweedFS: this test stops it.
    let mut sw = Seaweed::start();
    let b = Backend::s3(&sw, "s3://outage");
    let s = b.start();
    let (cached_bytes, cached_key) = sample().remove(0);
    assert_eq!(post(&s, &cached_bytes).status, 200);
    assert_eq!(
        s.get(&format!("/torrent/{cached_key}.torrent"), "").status,
        200
    );
    // Uploaders run through the outage; every answer is recorded.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stored = Arc::new(Mutex::new(HashMap::<String, Vec<u8>>::new()));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let addr = s.addr;
    let uploaders: Vec<_> = (0..4u64)
        .map(|t| {
            let (stop, stored, failed) = (stop.clone(), stored.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let bytes = synthetic_torrent(t * 1_000_000 + n);
                    n += 1;
                    let mut c = Client::connect(addr);
                    c.send(
                        format!(
                            "POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
                             Content-Type: application/x-bittorrent\r\nConnection: close\r\n\r\n",
                            bytes.len()
                        )
                        .as_bytes(),
                    );
                    c.send(&bytes);
                    let Ok(r) = c.try_response(false) else {
                        continue;
                    };
                    match r.header("X-Thetorrent-Result") {
                        Some("stored") => {
                            assert_eq!(r.status, 200);
                            let h = r.header("X-Thetorrent-Hash").unwrap().to_string();
                            stored.lock().unwrap().insert(h, bytes);
                        }
                        _ => {
                            assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
                            assert!(r
                                .header("X-Thetorrent-Error")
                                .unwrap()
                                .contains("unavailable"));
                            failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    sw.stop();
    let down_at = Instant::now();
    // Downloads of cached torrents keep working; an uncached one is a clear 503.
    wait_until("uploads fail", || {
        failed.load(std::sync::atomic::Ordering::SeqCst) > 0
    });
    let r = s.get(&format!("/torrent/{cached_key}.torrent"), "");
    assert_eq!(r.status, 200);
    assert!(r.body == cached_bytes);
    let r = s.get(&format!("/torrent/{}.torrent", "CD".repeat(20)), "");
    assert_eq!(r.status, 503);
    assert!(s.alive());
    std::thread::sleep(Duration::from_secs(2).saturating_sub(down_at.elapsed()));
    sw.restart();
    let before = stored.lock().unwrap().len();
    wait_until_or(
        "uploads succeed again",
        || stored.lock().unwrap().len() > before + 5,
        || format!("server alive: {}\n{}", s.alive(), s.log()),
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for u in uploaders {
        u.join().unwrap();
    }
    // No "stored" was a lie: each is in the bucket, byte for byte — checked through a new
    // front end (no cache).
    let fresh = b.start();
    let stored = stored.lock().unwrap();
    assert!(stored.len() > 10, "{} stored", stored.len());
    for (h, bytes) in stored.iter() {
        let r = fresh.get(&format!("/torrent/{h}.torrent"), "");
        assert_eq!(r.status, 200, "{h} was answered stored");
        assert!(r.body == *bytes);
    }
    // Every stored upload is counted (segments refused during the outage were written once
    // the store was back).
    wait_until("count covers every stored upload", || {
        fresh.stat("count") > stored.len() as u64
    });
    eprintln!(
        "outage: {} stored, {} failed",
        stored.len(),
        failed.load(std::sync::atomic::Ordering::SeqCst)
    );
}

/// A hung store (SIGSTOP: connections are accepted, never answered, as in a network
/// partition) under load: the first uploads are answered once the exchange times out
/// (`--s3-timeout`), without retries; the outage is found once, and from then on uploads and
/// uncached downloads are answered 503 with `Retry-After` without trying the store, while
/// cached downloads are served; once the store is back (SIGCONT) uploads are stored again.
/// Figures: benches/s3_outage.sh.
#[test]
fn hung_object_store_is_answered_fast() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let sw = Seaweed::start();
    let b = Backend::s3(&sw, "s3://hung");
    let s = b.start();
    let (cached_bytes, cached_key) = sample().remove(0);
    assert_eq!(post(&s, &cached_bytes).status, 200);
    assert_eq!(s.stat("s3_outages"), 0);
    // Uploaders run through the outage; each answer is recorded with when it came.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<(Instant, u16, Option<String>)>::new()));
    let addr = s.addr;
    let uploaders: Vec<_> = (0..8u64)
        .map(|t| {
            let (stop, answers) = (stop.clone(), answers.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(SeqCst) {
                    let bytes = synthetic_torrent(t * 1_000_000 + 500_000 + n);
                    n += 1;
                    let mut c = Client::connect(addr);
                    c.stream
                        .set_read_timeout(Some(Duration::from_secs(120)))
                        .unwrap();
                    c.send(
                        format!(
                            "POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
                             Content-Type: application/x-bittorrent\r\nConnection: close\r\n\r\n",
                            bytes.len()
                        )
                        .as_bytes(),
                    );
                    c.send(&bytes);
                    let r = c.response();
                    let retry = r.header("Retry-After").map(str::to_string);
                    answers
                        .lock()
                        .unwrap()
                        .push((Instant::now(), r.status, retry));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    sw.pause();
    let paused = Instant::now();
    // The first failure, then a few seconds of the outage.
    wait_until_or(
        "an upload answered during the outage",
        || {
            answers
                .lock()
                .unwrap()
                .iter()
                .any(|a| a.0 > paused && a.1 != 200)
        },
        || s.log(),
    );
    let first = answers
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.0 > paused && a.1 != 200)
        .map(|a| a.0)
        .min()
        .unwrap();
    // Exchanges in flight when the store froze may have been retried once before the outage
    // was found (the store had answered others since they began); from here on none is.
    let retries_at_detection = s.stat("s3_retries");
    // Generous: retrying a hung store would take 40 s (four tries of 10 s).
    assert!(
        first - paused < Duration::from_secs(30),
        "{:?}",
        first - paused
    );
    std::thread::sleep(Duration::from_secs(3));
    // Cached downloads are served; an uncached one is a 503 with Retry-After.
    let r = s.get(&format!("/torrent/{cached_key}.torrent"), "");
    assert_eq!(r.status, 200);
    assert!(r.body == cached_bytes);
    let r = s.get(&format!("/torrent/{}.torrent", "CD".repeat(20)), "");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("1"));
    // Found once; after that answered without retries: later requests were not tried at all.
    assert_eq!(s.stat("s3_outages"), 1, "{}", s.log());
    assert_eq!(s.stat("s3_down"), 1);
    assert_eq!(
        s.stat("s3_retries"),
        retries_at_detection,
        "requests during the outage went through retries"
    );
    assert!(s.stat("s3_timeouts") >= 1);
    assert!(s.stat("s3_failed_fast") > 0);
    let resumed_at;
    {
        let a = answers.lock().unwrap();
        let outage: Vec<_> = a.iter().filter(|a| a.0 > first).collect();
        assert!(
            outage.len() > 20,
            "{} answers in 3 s of outage",
            outage.len()
        );
        for (_, status, retry) in &outage {
            assert_eq!(*status, 503);
            assert_eq!(retry.as_deref(), Some("1"));
        }
        eprintln!(
            "hung store: first answer after {:.2} s, then {:.0} answers/s",
            (first - paused).as_secs_f64(),
            outage.len() as f64 / first.elapsed().as_secs_f64()
        );
        sw.resume();
        resumed_at = Instant::now();
    }
    let back = wait_until_or(
        "uploads stored again after the store is back",
        || {
            answers
                .lock()
                .unwrap()
                .iter()
                .any(|a| a.0 > resumed_at && a.1 == 200)
        },
        || s.log(),
    );
    eprintln!(
        "hung store: uploads stored again {:.2} s after SIGCONT",
        back.as_secs_f64()
    );
    stop.store(true, SeqCst);
    for u in uploaders {
        u.join().unwrap();
    }
    assert_eq!(s.stat("s3_down"), 0);
    assert_eq!(s.stat("s3_outages"), 1);
}

/// A small valid single-file torrent, distinct for each `n`.
fn synthetic_torrent(n: u64) -> Vec<u8> {
    let name = format!("file-{n}.bin");
    let mut info = Vec::new();
    info.extend_from_slice(b"d6:lengthi16384e4:name");
    info.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
    info.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
    let mut piece = [0u8; 20];
    piece[..8].copy_from_slice(&n.to_le_bytes());
    info.extend_from_slice(&piece);
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    t
}

#[test]
fn migrate_both_ways_is_resumable() {
    let sw = seaweed();
    let url = fresh_bucket("migrate");
    let b = Backend::s3(sw, &url);
    let src = temp_dir();
    let local = Backend::local();
    let torrents = sample();
    let dir = temp_dir();
    for (i, (bytes, _)) in torrents.iter().enumerate() {
        let p = dir.path().join(format!("{i}.torrent"));
        std::fs::write(&p, bytes).unwrap();
        let o = local.cli(src.path(), &["add", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let s3_only: Vec<&str> = b
        .args
        .iter()
        .filter(|a| *a != "--store" && **a != url)
        .map(String::as_str)
        .collect();
    let migrate = |from: &str, to: &str| {
        let mut args = s3_only.clone();
        args.extend(["migrate", "--quiet", "--from", from, "--to", to]);
        local.cli(src.path(), &args)
    };
    let o = migrate(src.path().to_str().unwrap(), &url);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = torrents.len();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("copied {n}, already there 0, rejected 0")
    );
    // Again: nothing copied, nothing listed twice.
    let o = migrate(src.path().to_str().unwrap(), &url);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("copied 0, already there {n}, rejected 0")
    );
    let s = b.start();
    assert_eq!(s.stat("count"), n as u64);
    for (bytes, key) in &torrents {
        let r = s.get(&format!("/torrent/{key}.torrent"), "");
        assert!(r.body == *bytes);
    }
    // And back into a new directory.
    let back = temp_dir();
    let o = migrate(&url, back.path().to_str().unwrap());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("copied {n}, already there 0, rejected 0")
    );
    let o = local.cli(back.path(), &["verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = local.cli(back.path(), &["count"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), n.to_string());
    // A file whose content does not match its name is refused, not copied.
    let bad_src = temp_dir();
    let o = local.cli(
        bad_src.path(),
        &["add", dir.path().join("0.torrent").to_str().unwrap()],
    );
    assert!(o.status.success());
    let key = &torrents[0].1;
    let p = bad_src
        .path()
        .join("torrents")
        .join(&key[0..2])
        .join(&key[2..4])
        .join(format!("{key}.torrent"));
    std::fs::write(&p, &torrents[1].0).unwrap();
    let url2 = fresh_bucket("migrate-bad");
    let o = migrate(bad_src.path().to_str().unwrap(), &url2);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("not to its name"));
}

/// A front end that died between a torrent's PUT and its list segment's leaves it stored but
/// uncounted; `reindex` lists it (once).
#[test]
fn reindex_lists_torrents_no_segment_names() {
    let sw = seaweed();
    let url = fresh_bucket("reindex");
    let b = Backend::s3(sw, &url);
    let s = b.start();
    let mut torrents = sample();
    let (orphan, orphan_key) = torrents.pop().unwrap();
    for (bytes, _) in &torrents {
        assert_eq!(post(&s, bytes).status, 200);
    }
    // The crash window, made by hand: the object without its segment.
    let client = s3_client(sw, &url, 3);
    let k = thetorrent::torrent::hash::Key::parse(&orphan_key).unwrap();
    client
        .put_if_absent(
            &thetorrent::storage::s3::object_key(&k),
            &orphan,
            "application/x-bittorrent",
        )
        .unwrap();
    assert_eq!(s.stat("count"), torrents.len() as u64);
    let dir = temp_dir();
    let o = b.cli(dir.path(), &["reindex"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(": 1 stored torrent no list segment named, listed now"),
        "{out}"
    );
    wait_until("the orphan is counted", || {
        s.stat("count") == torrents.len() as u64 + 1
    });
    let o = b.cli(dir.path(), &["reindex"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(": 0 stored torrents no list segment named"),
        "{out}"
    );
    let r = s.get(&format!("/sync/{}.txt", today()), "");
    assert!(String::from_utf8_lossy(&r.body).contains(&orphan_key));
}

/// A torrent like `synthetic_torrent` with a tracker outside `info` (bytes a flip there leaves
/// the info hash alone for).
fn tracked_torrent(n: u64) -> Vec<u8> {
    let inner = synthetic_torrent(n);
    let url = format!("http://tracker-{n}.example/announce");
    let mut t = format!("d8:announce{}:{url}", url.len()).into_bytes();
    t.extend_from_slice(&inner[1..]);
    t
}

/// CRC-32C (Castagnoli), the checksum SeaweedFS keeps per stored needle.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A client of the bucket behind the backend `url` (`s3://thetorrent/<prefix>`), for tests that
/// reach past the server into the bucket; `retries` as `--s3-retries`.
fn s3_client(sw: &Seaweed, url: &str, retries: u32) -> thetorrent::storage::s3::client::S3Client {
    use thetorrent::storage::s3::client::{S3Client, S3Config};
    S3Client::new(S3Config {
        endpoint: sw.endpoint.clone(),
        bucket: "thetorrent".into(),
        prefix: url.trim_start_matches("s3://thetorrent/").into(),
        region: "us-east-1".into(),
        access_key: sw.access_key.clone(),
        secret_key: sw.secret_key.clone(),
        conditional_put: true,
        timeout: Duration::from_secs(10),
        retries,
        max_idle: 4,
    })
    .unwrap()
}

/// Damages the object whose body is `body` inside SeaweedFS's volume files (below the S3 API,
/// as a failing disk would): flips one bit `offset` bytes into the body. With `fix_crc` the
/// needle's own CRC is recomputed, so SeaweedFS serves the damaged bytes (silent corruption,
/// under the original ETag); without, SeaweedFS notices and refuses to serve the object.
fn damage_in_volume(sw: &Seaweed, body: &[u8], offset: usize, fix_crc: bool) {
    use std::os::unix::fs::FileExt;
    let volumes: Vec<_> = files_under(sw.dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    for vol in &volumes {
        let bytes = std::fs::read(vol).unwrap();
        let Some(at) = bytes.windows(body.len()).position(|w| w == body) else {
            continue;
        };
        // Needle: cookie (4), id (8), size (4), then data size (4) and the data; the CRC of
        // the data follows `size` bytes after the header.
        assert!(
            at >= 20,
            "no needle header before the body in {}",
            vol.display()
        );
        let header = at - 20;
        let size = u32::from_be_bytes(bytes[header + 12..header + 16].try_into().unwrap());
        let f = std::fs::OpenOptions::new().write(true).open(vol).unwrap();
        let mut damaged = body.to_vec();
        damaged[offset] ^= 0x20;
        f.write_all_at(&damaged[offset..offset + 1], (at + offset) as u64)
            .unwrap();
        if fix_crc {
            f.write_all_at(
                &crc32c(&damaged).to_be_bytes(),
                (header + 16 + size as usize) as u64,
            )
            .unwrap();
        }
        f.sync_all().unwrap();
        return;
    }
    panic!("the object's bytes are in none of {volumes:?}");
}

/// Objects damaged in the bucket (a bit flipped outside `info` and one inside it, both served
/// by SeaweedFS under their original ETag; one SeaweedFS refuses to serve, after ~13 s of its
/// own retries, so that reading it times out: ~40 s of this test; one deleted):
/// `verify --store s3://…` names each object and what is wrong, never the count advice, and
/// `--repair-from` a local instance holding the stored bytes puts each back.
#[test]
fn verify_finds_damaged_objects_in_the_bucket_and_repairs_them() {
    // Its own SeaweedFS: the test writes into the volume files.
    let sw = Seaweed::start();
    let url = fresh_bucket("verify");
    let b = Backend::s3(&sw, &url);
    let files = temp_dir();
    let hybrid = corpus_file("github-libtorrent-069017e/test/test_torrents/v2_hybrid.torrent");
    let mut paths = vec![hybrid.clone()];
    let torrents: Vec<Vec<u8>> = (1..=4).map(tracked_torrent).collect();
    for (i, t) in torrents.iter().enumerate() {
        let p = files.path().join(format!("{i}.torrent"));
        std::fs::write(&p, t).unwrap();
        paths.push(p);
    }
    let mut add = vec!["add"];
    add.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let o = b.cli(files.path(), &add);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let keys: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l[..40].to_string())
        .collect();
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify"];
        args.extend(extra);
        let o = b.cli(files.path(), &args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = verify(&[]);
    assert_eq!(code, Some(0), "{out}");
    // The hybrid is two objects (its v2 key a copy), counted once.
    assert!(
        out.contains("6 files checked, 5 torrents, 0 problems"),
        "{out}"
    );
    assert!(!out.contains("no whole-file checksum"), "{out}");

    let at = |key: &str| format!("{url}/torrents/{}/{}/{key}.torrent", &key[0..2], &key[2..4]);
    let in_info = torrents[1].windows(6).position(|w| w == b"pieces").unwrap() + 12;
    damage_in_volume(&sw, &torrents[0], 15, true);
    damage_in_volume(&sw, &torrents[1], in_info, true);
    damage_in_volume(&sw, &torrents[2], 15, false);
    let client = s3_client(&sw, &url, 0);
    let gone = thetorrent::torrent::hash::Key::parse(&keys[4]).unwrap();
    client
        .delete(&thetorrent::storage::s3::object_key(&gone))
        .unwrap();

    let (code, out) = verify(&[]);
    assert_eq!(code, Some(1), "{out}");
    for (key, what) in [
        (&keys[1], "bytes changed outside info"),
        (&keys[2], "info hash mismatch: content hashes to"),
        (&keys[3], "unreadable: "),
        (&keys[4], "missing"),
    ] {
        assert!(
            out.contains(&format!("{}: {what}", at(key))),
            "{key} {what}: {out}"
        );
    }
    assert!(!out.contains("reindex"), "{out}");
    assert!(
        out.contains("5 files checked, 4 torrents, 4 problems"),
        "{out}"
    );

    // A local instance with the stored bytes is the source.
    let source = Backend::local().start();
    for p in &paths {
        let r = post(&source, &std::fs::read(p).unwrap());
        assert_eq!(r.status, 200);
    }
    let (code, out) = verify(&["--repair-from", &source.url("")]);
    assert_eq!(code, Some(0), "{out}");
    for key in &keys[1..] {
        assert!(
            out.contains(&format!("{}: repaired from", at(key))),
            "{out}"
        );
    }
    assert!(out.contains("4 problems, 4 repaired"), "{out}");
    let (code, out) = verify(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("6 files checked, 5 torrents, 0 problems"),
        "{out}"
    );
    let front = b.start();
    for (t, key) in torrents.iter().zip(&keys[1..]) {
        let r = front.get(&format!("/torrent/{key}.torrent"), "");
        assert!(r.body == *t, "{key}");
    }
}
