//! Crash safety against the real binary: `kill -9` during a storm of
//! concurrent uploads, a data directory that fills up, and data directories that cannot be
//! used (read-only, missing parent, a file, no permission).
//!
//! The tests mount small tmpfs file systems (they run as root in CI): a test that cannot mount
//! fails, it never skips. `THETORRENT_CRASH_SEED=N` replays a run of the kill test.

mod common;

use common::*;
use sha1::{Digest, Sha1};
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- Torrents -------------------------------------------------------------------------

/// xorshift64*: small, seeded, good enough to pick sizes and moments.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn bstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{}:", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// A valid single-file v1 torrent named `name` with `pieces` pieces (about 20 bytes each),
/// and its info hash (40 upper-case hex digits).
fn torrent(name: &str, pieces: usize, seed: u64) -> (Vec<u8>, String) {
    const PLEN: u64 = 262_144;
    let mut rng = Rng::new(seed);
    let length = pieces as u64 * PLEN - rng.below(PLEN);
    let mut info = Vec::new();
    info.push(b'd');
    bstr(&mut info, b"length");
    info.extend_from_slice(format!("i{length}e").as_bytes());
    bstr(&mut info, b"name");
    bstr(&mut info, name.as_bytes());
    bstr(&mut info, b"piece length");
    info.extend_from_slice(format!("i{PLEN}e").as_bytes());
    bstr(&mut info, b"pieces");
    let hashes: Vec<u8> = (0..pieces * 20).map(|_| rng.next() as u8).collect();
    bstr(&mut info, &hashes);
    info.push(b'e');
    let hash: String = Sha1::digest(&info)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mut t = Vec::new();
    t.push(b'd');
    bstr(&mut t, b"announce");
    bstr(&mut t, b"http://tracker.example/announce");
    bstr(&mut t, b"info");
    t.extend_from_slice(&info);
    t.push(b'e');
    (t, hash)
}

// ---- A minimal HTTP client that survives the server dying ----------------------------

/// One request on a fresh connection (`Connection: close`); `Err` for any transport failure
/// (refused, reset, closed before the whole answer).
fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Result<Resp, String> {
    let mut c = Client::try_connect(addr)?;
    c.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    c.stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    c.stream
        .write_all(head.as_bytes())
        .and_then(|()| c.stream.write_all(body))
        .map_err(|e| e.to_string())?;
    c.try_response(false)
}

fn get(addr: SocketAddr, path: &str) -> Result<Resp, String> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        b"",
    )
}

fn upload(addr: SocketAddr, bytes: &[u8]) -> Result<Resp, String> {
    let body = multipart(&[("t.torrent", bytes)]);
    request(
        addr,
        &format!(
            "POST /api/upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        ),
        &body,
    )
}

// ---- The server process, restartable on one data directory ----------------------------

struct Proc {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// The thread copying the server's stderr into `log` (ends when the server does).
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What a server log must never show: heap corruption reported by glibc (what timed may I/O
/// causes, which is why may is built without it), an abort, or an unexpected read error
/// before a request (how that corruption shows on connections).
const LOG_ALARMS: &[&str] = &[
    "tcache",
    "malloc",
    "fastbin",
    "corrupted",
    "abort",
    "read before a request failed",
];

impl Proc {
    fn start(data: &Path, extra: &[&str]) -> Proc {
        Proc::of(spawn(data, extra))
    }

    /// Waits until `child` (a server, its stderr piped) says where it listens.
    fn of(child: Child) -> Proc {
        let l = watch(child)
            .unwrap_or_else(|(status, log)| panic!("server did not start ({status:?}):\n{log}"));
        Proc {
            child: l.child,
            addr: l.addr,
            log: l.log,
            reader: Some(l.reader),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// Kills the server, waits for the whole of its log, and fails if it had died on its own
    /// before the kill or its log shows one of [`LOG_ALARMS`].
    fn kill9_checked(&mut self) {
        let died = self.child.try_wait().ok().flatten();
        self.kill9();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let log = self.log();
        if let Some(status) = died {
            panic!("the server died on its own ({status}) before the kill; its log:\n{log}");
        }
        if let Some(a) = LOG_ALARMS.iter().find(|a| log.contains(*a)) {
            panic!("the server log shows {a:?}:\n{log}");
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---- What the data directory must look like -------------------------------------------

/// Every file under `torrents/`: each must be `AB/CD/<40 HEX>.torrent` in its right shard.
fn stored_keys(data: &Path) -> BTreeSet<String> {
    let root = data.join("torrents");
    let mut keys = BTreeSet::new();
    for p in files_under(&root) {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        let ok = parts.len() == 3
            && parts[2].len() == 48
            && parts[2].ends_with(".torrent")
            && parts[2][..40]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            && parts[0] == &parts[2][0..2]
            && parts[1] == &parts[2][2..4];
        assert!(ok, "stray file under torrents/: {rel}");
        keys.insert(parts[2][..40].to_string());
    }
    keys
}

/// The keys listed in `/sync/` (every day), checking there are no duplicates.
fn sync_keys(addr: SocketAddr) -> BTreeSet<String> {
    let index = get(addr, "/sync/").expect("GET /sync/");
    assert_eq!(index.status, 200);
    let text = String::from_utf8_lossy(&index.body).into_owned();
    let mut keys = BTreeSet::new();
    for part in text.split("href=\"").skip(1) {
        let name = part.split('"').next().unwrap();
        if !(name.len() == 12 && name.ends_with(".txt")) {
            continue; // the stylesheet and icon links, the takedowns feed
        }
        let day = get(addr, &format!("/sync/{name}")).expect("GET a day list");
        assert_eq!(day.status, 200, "/sync/{name}");
        assert_eq!(day.body.len() % 41, 0, "/sync/{name} has a torn line");
        for line in String::from_utf8_lossy(&day.body).lines() {
            assert!(keys.insert(line.to_string()), "{line} listed twice");
        }
    }
    keys
}

fn stats_count(addr: SocketAddr) -> u64 {
    let a = get(addr, "/api/stats").expect("GET /api/stats");
    assert_eq!(a.status, 200);
    json_number(&String::from_utf8_lossy(&a.body), "count").expect("count in stats")
}

/// The invariants of a quiet store served by `p` (no upload in flight).
fn check_store(data: &Path, p: &Proc) -> BTreeSet<String> {
    let files = stored_keys(data);
    assert_eq!(stats_count(p.addr), files.len() as u64, "count != files");
    assert_eq!(sync_keys(p.addr), files, "/sync/ lists != files");
    // No temp or journal of a dead process is left; the live one has nothing in flight.
    let live = format!("{}-", p.child.id());
    for sub in ["tmp", "journal"] {
        for e in std::fs::read_dir(data.join(sub)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&live),
                "{sub}/{name} left by a dead process"
            );
        }
    }
    assert!(
        files_under(&data.join("tmp")).is_empty(),
        "temp files of the live writer while nothing is in flight"
    );
    let v = run(data, &["verify"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "verify:\n{}{}",
        stdout(&v),
        stderr(&v)
    );
    let n = files.len();
    assert!(
        stdout(&v).contains(&format!("{n} files checked, {n} torrents, 0 problems")),
        "{}",
        stdout(&v)
    );
    files
}

// ---- kill -9 under load ---------------------------------------------------------------

const CLIENTS: usize = 16;
const KILLS: usize = 20;

/// What the uploaders know: which torrents were answered "stored", which had no answer.
#[derive(Default)]
struct Ledger {
    stored: Vec<(String, Vec<u8>)>,
    unanswered: HashSet<String>,
    failures: Vec<String>,
}

struct Shared {
    /// The server to upload to; `None` while it is down or being checked.
    target: Mutex<Option<SocketAddr>>,
    in_flight: AtomicUsize,
    stop: AtomicBool,
    ledger: Mutex<Ledger>,
}

fn uploader(id: usize, sh: Arc<Shared>) {
    let mut rng = Rng::new(1000 + id as u64);
    let mut seq = 0u64;
    while !sh.stop.load(Ordering::SeqCst) {
        let addr = {
            let t = sh.target.lock().unwrap();
            if t.is_some() {
                sh.in_flight.fetch_add(1, Ordering::SeqCst);
            }
            *t
        };
        let Some(addr) = addr else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        seq += 1;
        let name = format!("crash-{id:02}-{seq:06}.bin");
        let (bytes, hash) = torrent(&name, 1 + rng.below(400) as usize, rng.next());
        let res = upload(addr, &bytes);
        {
            let mut l = sh.ledger.lock().unwrap();
            match res {
                Ok(a)
                    if a.status == 200
                        && a.header("X-Thetorrent-Result") == Some("stored")
                        && a.header("X-Thetorrent-Hash") == Some(&hash) =>
                {
                    l.stored.push((hash, bytes))
                }
                Ok(a) => l.failures.push(format!(
                    "{name}: {} {:?} {}",
                    a.status,
                    a.headers,
                    String::from_utf8_lossy(&a.body)
                )),
                Err(_) => {
                    l.unanswered.insert(hash);
                }
            }
        }
        sh.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn kill_9_during_concurrent_uploads_loses_nothing() {
    let seed: u64 = std::env::var("THETORRENT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000
        });
    println!("kill test seed: {seed} (THETORRENT_CRASH_SEED={seed} replays the kill moments)");
    let mut rng = Rng::new(seed);
    // The data directory on the real disk (the system temp dir), not a tmpfs: its syncs take
    // long enough that kills land between a commit's renames and its day-list lines, which is
    // what the journal is for (a few restarts per run replay it; the output says how many).
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let shared = Arc::new(Shared {
        target: Mutex::new(None),
        in_flight: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        ledger: Mutex::new(Ledger::default()),
    });
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let sh = shared.clone();
            std::thread::spawn(move || uploader(i, sh))
        })
        .collect();
    let started = Instant::now();
    let mut checked_upto = 0;
    let mut rounds = Vec::new();
    // Restarts that found renamed files missing from the day lists (the journal's job).
    let mut recoveries = 0;
    for round in 0..=KILLS {
        let mut p = Proc::start(&data, &["--upload-rate", "0"]);
        if p.log().contains("recovered") {
            recoveries += 1;
        }
        // Quiet: check what the previous instance left, as recovered by this one.
        let files = check_store(&data, &p);
        let (stored, unanswered) = {
            let l = shared.ledger.lock().unwrap();
            assert!(l.failures.is_empty(), "uploads refused: {:?}", l.failures);
            (l.stored.clone(), l.unanswered.clone())
        };
        let answered: HashSet<&str> = stored.iter().map(|(h, _)| h.as_str()).collect();
        for (i, (hash, bytes)) in stored.iter().enumerate() {
            assert!(
                files.contains(hash),
                "{hash} was answered stored and is gone"
            );
            let on_disk = std::fs::read(stored_path(&data, hash)).unwrap();
            assert!(on_disk == *bytes, "{hash} differs on disk");
            // Over HTTP: everything new since the last check, and a sample of the rest.
            if i >= checked_upto || rng.below(20) == 0 {
                let a = get(p.addr, &format!("/torrent/{hash}.torrent"))
                    .unwrap_or_else(|e| panic!("GET {hash}: {e}; server log:\n{}", p.log()));
                assert_eq!(a.status, 200, "{hash}");
                assert!(a.body == *bytes, "{hash} differs over HTTP");
            }
        }
        checked_upto = stored.len();
        for f in &files {
            assert!(
                answered.contains(f.as_str()) || unanswered.contains(f),
                "{f} is stored but was never uploaded"
            );
        }
        if round == KILLS {
            let c = run(&data, &["count"]);
            assert_eq!(stdout(&c).trim(), files.len().to_string());
            let lost_answers = files
                .iter()
                .filter(|f| !answered.contains(f.as_str()))
                .count();
            rounds.push(format!(
                "final: {} stored, of which {lost_answers} were in flight at a kill",
                files.len()
            ));
            p.kill9_checked();
            break;
        }
        // Uploads resume; the kill comes at a random moment once some are answered.
        let before = stored.len();
        *shared.target.lock().unwrap() = Some(p.addr);
        let t = Instant::now();
        while shared.ledger.lock().unwrap().stored.len() < before + 20
            && t.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = Duration::from_millis(rng.below(300));
        std::thread::sleep(delay);
        // No new uploads start; those in flight meet the kill.
        *shared.target.lock().unwrap() = None;
        p.kill9_checked();
        let t = Instant::now();
        while shared.in_flight.load(Ordering::SeqCst) > 0 {
            assert!(t.elapsed() < Duration::from_secs(40), "clients stuck");
            std::thread::sleep(Duration::from_millis(2));
        }
        // Every fourth round, a second kill during the next start-up (recovery in progress
        // or just done): recovery must be idempotent.
        let startup_kill = rng.below(4) == 0;
        if startup_kill {
            let mut c = spawn(&data, &["--upload-rate", "0"]);
            std::thread::sleep(Duration::from_millis(rng.below(20)));
            let _ = c.kill();
            let _ = c.wait();
        }
        let l = shared.ledger.lock().unwrap();
        assert!(
            l.stored.len() > before,
            "no upload was stored in round {round}:\n{}",
            p.log()
        );
        rounds.push(format!(
            "round {round}: +{} stored, killed {} ms after the 20th, {} files before{}",
            l.stored.len() - before,
            delay.as_millis(),
            files.len(),
            if startup_kill {
                ", killed again while starting"
            } else {
                ""
            }
        ));
    }
    shared.stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let l = shared.ledger.lock().unwrap();
    println!("{}", rounds.join("\n"));
    println!(
        "{} kills in {:.1} s: {} uploads answered stored, {} without an answer; {recoveries} \
         restarts completed an interrupted commit from the journal",
        KILLS,
        started.elapsed().as_secs_f64(),
        l.stored.len(),
        l.unanswered.len()
    );
}

// ---- A full disk ----------------------------------------------------------------------

fn is_storage_full(a: &Resp) -> bool {
    a.status == 507
        && a.header("X-Thetorrent-Result") == Some("failed")
        && a.header("X-Thetorrent-Error")
            .is_some_and(|m| m.starts_with("storage full"))
        && String::from_utf8_lossy(&a.body).starts_with("storage full")
}

#[test]
fn full_disk_fails_cleanly_and_recovers() {
    let mnt = Mount::tmpfs("2m");
    let data = mnt.path().join("data");
    let p = Proc::start(&data, &["--upload-rate", "0"]);
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    let mut n = 0;
    let mut next = |pieces: usize| {
        n += 1;
        torrent(&format!("full-disk-{n:04}.bin"), pieces, n)
    };
    for _ in 0..5 {
        let (bytes, hash) = next(300);
        let a = upload(p.addr, &bytes).unwrap();
        assert_eq!(a.status, 200);
        stored.push((hash, bytes));
    }
    // A filler leaves about 40 KB; torrents of 6 to 30 KB then fill the rest mid-upload.
    let filler = mnt.path().join("filler");
    let room = mnt.free().saturating_sub(40 * 1024);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();
    let mut refused = Vec::new();
    let mut rng = Rng::new(7);
    while refused.len() < 6 {
        let (bytes, hash) = next(300 + rng.below(1200) as usize);
        let a = upload(p.addr, &bytes).unwrap();
        if a.status == 200 {
            assert_eq!(a.header("X-Thetorrent-Hash"), Some(hash.as_str()));
            stored.push((hash, bytes));
        } else {
            assert!(
                is_storage_full(&a),
                "{} {:?} {}",
                a.status,
                a.headers,
                String::from_utf8_lossy(&a.body)
            );
            refused.push((hash, bytes));
        }
    }
    println!(
        "full disk: {} stored, {} refused with 507, {} bytes free",
        stored.len(),
        refused.len(),
        mnt.free()
    );
    // Nothing partial: no temp file stays, every stored file is whole, refused ones absent
    // (or whole, if a commit got as far as the rename before the day list filled up).
    assert!(files_under(&data.join("tmp")).is_empty(), "temp files left");
    for (hash, bytes) in &stored {
        let a = get(p.addr, &format!("/torrent/{hash}.torrent")).unwrap();
        assert_eq!(a.status, 200);
        assert!(a.body == *bytes);
    }
    for (hash, bytes) in &refused {
        if let Ok(b) = std::fs::read(stored_path(&data, hash)) {
            assert!(b == *bytes, "{hash} is partial");
        }
    }
    assert_eq!(get(p.addr, "/healthz").unwrap().body, b"ok");
    // SOAP says it as a server Fault.
    let big = torrent("full-disk-soap.bin", 2000, 99).0;
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &big);
    let envelope = format!(
        "<?xml version=\"1.0\"?><soap:Envelope \
         xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
         <tns:storeTorrent xmlns:tns=\"urn:TorrentService\"><torrent>{b64}</torrent>\
         </tns:storeTorrent></soap:Body></soap:Envelope>"
    );
    let a = request(
        p.addr,
        &format!(
            "POST /api/soap HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
            envelope.len()
        ),
        envelope.as_bytes(),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status, 500, "{text}");
    assert!(
        text.contains("Server") && text.contains("storage full"),
        "{text}"
    );
    assert!(files_under(&data.join("tmp")).is_empty(), "temp files left");
    // Space returns: the refused uploads go through, and everything agrees again.
    std::fs::remove_file(&filler).unwrap();
    for (hash, bytes) in &refused {
        let a = upload(p.addr, bytes).unwrap();
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.header("X-Thetorrent-Hash"), Some(hash.as_str()));
    }
    let files = check_store(&data, &p);
    assert_eq!(files.len(), stored.len() + refused.len());
}

/// The nastiest moment to fill up: after the file is renamed into place, when today's list
/// needs one more block for its line. A 507 must then mean "not stored": the file is not
/// visible, and the count and `/sync/` still agree with the files.
#[test]
fn full_disk_at_the_day_list_boundary_keeps_count_and_files_in_step() {
    let mnt = Mount::tmpfs("2m");
    let data = mnt.path().join("data");
    let p = Proc::start(&data, &["--upload-rate", "0"]);
    // 99 lines (4059 bytes): the 100th needs a second page of the list. (Across a UTC
    // midnight the boundary moves to another list; the invariants checked hold all the same.)
    for i in 0..99 {
        let (bytes, _) = torrent(&format!("boundary-{i:03}.bin"), 5, i);
        assert_eq!(upload(p.addr, &bytes).unwrap().status, 200);
    }
    let page = 4096u64;
    let filler = mnt.path().join("filler");
    let mut outcomes = Vec::new();
    for (r, seed) in (0..8u64).zip(1000..) {
        let free = mnt.free() / page;
        std::fs::write(&filler, vec![0u8; ((free - r) * page) as usize]).unwrap();
        let (bytes, hash) = torrent(&format!("boundary-last-{r}.bin"), 5, seed);
        let a = upload(p.addr, &bytes).unwrap();
        outcomes.push(format!("{r} pages free: {}", a.status));
        std::fs::remove_file(&filler).unwrap();
        let files = stored_keys(&data);
        assert_eq!(stats_count(p.addr), files.len() as u64, "{outcomes:?}");
        assert_eq!(sync_keys(p.addr), files, "{outcomes:?}");
        if a.status == 200 {
            assert!(files.contains(&hash));
            break;
        }
        assert!(is_storage_full(&a), "{outcomes:?}");
        assert!(
            !files.contains(&hash),
            "507 but {hash} is visible: {outcomes:?}"
        );
    }
    println!("{outcomes:?}");
    assert!(outcomes.last().unwrap().ends_with("200"), "{outcomes:?}");
    check_store(&data, &p);
}

/// Another process opening the store (`count`, `verify`, `import`) removes the temp folders of
/// dead writers; an operator may clean `tmp/` by hand. Neither may break a live server's
/// uploads.
#[test]
fn temp_folder_removed_under_a_live_server() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let p = Proc::start(&data, &["--upload-rate", "0"]);
    let (one, _) = torrent("vanish-1.bin", 10, 1);
    assert_eq!(upload(p.addr, &one).unwrap().status, 200);
    // Other processes open the store while the server lives: its writer files stay.
    for _ in 0..3 {
        assert_eq!(run(&data, &["count"]).status.code(), Some(0));
    }
    assert_eq!(std::fs::read_dir(data.join("tmp")).unwrap().count(), 1);
    std::fs::remove_dir_all(data.join("tmp")).unwrap();
    std::fs::create_dir(data.join("tmp")).unwrap();
    let (two, hash) = torrent("vanish-2.bin", 10, 2);
    let a = upload(p.addr, &two).unwrap();
    assert_eq!(
        a.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&a.body),
        p.log()
    );
    assert_eq!(a.header("X-Thetorrent-Hash"), Some(hash.as_str()));
    check_store(&data, &p);
}

// ---- Data directories that cannot be used -------------------------------------------

/// Runs `serve` on `data`, which must fail at once: exit 3, a message naming the directory.
fn serve_fails(data: &Path, what: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "serve on {what}: {err}");
    assert!(err.contains(&data.display().to_string()), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    err
}

fn cli_fails(data: &Path, args: &[&str], what: &str) -> String {
    let out = run(data, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{args:?} on {what}: {err}");
    assert!(err.contains(&data.display().to_string()), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    err
}

#[test]
fn missing_parent_and_file_paths_are_clear_errors() {
    let tmp = temp_dir();
    let missing = tmp.path().join("no-such-parent").join("data");
    let err = serve_fails(&missing, "a missing parent");
    assert!(err.contains("parent directory does not exist"), "{err}");
    for args in [&["count"][..], &["verify"], &["import", "/nonexistent"]] {
        cli_fails(&missing, args, "a missing parent");
    }
    assert!(
        !tmp.path().join("no-such-parent").exists(),
        "the parent was created"
    );
    // A command that only reads refuses a data directory that does not exist (a mistyped
    // `--data` is not an empty, healthy store); one that writes creates it (not its parent).
    let fresh = tmp.path().join("fresh");
    for args in [&["count"][..], &["verify"]] {
        let err = cli_fails(&fresh, args, "a missing data directory");
        assert!(err.contains("does not exist"), "{err}");
    }
    assert!(!fresh.exists(), "a read-only command created it");
    let (bytes, _) = torrent("fresh.bin", 2, 1);
    let file = tmp.path().join("fresh.torrent");
    std::fs::write(&file, bytes).unwrap();
    let o = run(&fresh, &["add", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fresh.join("torrents").is_dir());
    assert_eq!(stdout(&run(&fresh, &["count"])).trim(), "1");

    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = serve_fails(&file, "a file");
    assert!(err.contains("not a directory"), "{err}");
    cli_fails(&file, &["count"], "a file");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
}

#[test]
fn permission_denied_is_a_clear_error() {
    // Root ignores mode bits: run as nobody against a directory only root may enter.
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = temp_dir();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = locked.join("data");
    for args in [&["count"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_thetorrent"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains(&data.display().to_string()) && err.contains("Permission denied"),
            "{args:?}: {err}"
        );
    }
}

/// The user nothing else runs as: tests run as root, which ignores mode bits.
const NOBODY: u32 = 65534;

/// thetorrent with `args`, to run as `NOBODY`.
fn as_nobody<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thetorrent"));
    cmd.args(args).uid(NOBODY).gid(NOBODY);
    cmd
}

/// `cmd` started with no input, no standard output and its stderr piped.
fn spawn_quiet(cmd: &mut Command) -> std::process::Child {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs thetorrent as `NOBODY` with `args`; kills it if it has not exited within `limit`.
/// Returns its exit code (`None`: it was still running) and its stderr.
fn run_as_nobody(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = spawn_quiet(&mut as_nobody(args));
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, reader.join().unwrap())
}

/// A fresh directory that `NOBODY` can enter (the system temp dir's own can be private).
fn open_to_all() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tmp = temp_dir();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// A store written by root (a `sudo thetorrent import`) and served as another user: `serve`
/// refuses it at start, exit 3, naming what it cannot write, and never says "listening";
/// `add` refuses it the same way; the commands that only read still work; a file it cannot
/// read is reported by `verify` as unreadable, with its path.
#[test]
fn a_data_directory_this_user_cannot_write_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = open_to_all();
    let data = tmp.path().join("data");
    let (one, hash) = torrent("owned-by-root.bin", 5, 1);
    let file = tmp.path().join("one.torrent");
    std::fs::write(&file, &one).unwrap();
    let o = run(&data, &["add", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let d = data.to_str().unwrap();
    let (code, err) = run_as_nobody(
        &["--data", d, "serve", "--listen", "127.0.0.1:0"],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(3), "serve on another user's store: {err}");
    assert!(!err.contains("listening"), "{err}");
    assert!(
        err.contains(&format!("cannot write data directory {d}"))
            && err.contains("Permission denied"),
        "{err}"
    );
    let (other, _) = torrent("by-nobody.bin", 5, 2);
    let file2 = tmp.path().join("two.torrent");
    std::fs::write(&file2, &other).unwrap();
    let (code, err) = run_as_nobody(
        &["--data", d, "add", file2.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot write data directory {d}")),
        "{err}"
    );

    let out = as_nobody(["--data", d, "count"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1");
    let stored = stored_path(&data, &hash);
    std::fs::set_permissions(&stored, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = as_nobody(["--data", d, "verify"]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!(
            "{}: unreadable: {}: Permission denied",
            stored.display(),
            stored.display()
        )),
        "{text}"
    );
    assert!(!text.contains("reindex"), "{text}");
}

/// A write refused below what the start-up check looks at (a `torrents/AB/CD/` folder made by
/// root under a running server): the upload fails with 500, and the server's log names the
/// path and the error.
#[test]
fn a_refused_write_is_logged_with_its_path() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = open_to_all();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
    let child = spawn_quiet(
        as_nobody([std::ffi::OsStr::new("--data"), data.as_os_str()]).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upload-rate",
            "0",
        ]),
    );
    let p = Proc::of(child);
    let (bytes, hash) = torrent("refused.bin", 5, 3);
    let shard = data.join("torrents").join(&hash[0..2]).join(&hash[2..4]);
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::set_permissions(&shard, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = upload(p.addr, &bytes).unwrap();
    assert_eq!(a.status, 500, "{}", p.log());
    assert_eq!(
        a.header("X-Thetorrent-Error"),
        Some("internal storage error: the torrent was not stored")
    );
    // The failure is logged as the answer is sent: wait for the line rather than race it.
    let want = format!(
        "upload failed: {}: Permission denied",
        shard.join(format!("{hash}.torrent")).display()
    );
    let logged = (0..100).any(|_| {
        p.log().contains(&want) || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(logged, "want {want:?} in the log:\n{}", p.log());
}

#[test]
fn read_only_data_directory_serves_downloads_and_refuses_writes() {
    let mnt = Mount::tmpfs("4m");
    let data = mnt.path().join("data");
    let src = temp_dir();
    let (bytes, hash) = torrent("read-only.bin", 50, 1);
    let file = src.path().join("t.torrent");
    std::fs::write(&file, &bytes).unwrap();
    let out = run(&data, &["add", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The same state a crash would leave (a dead writer's journal and temp folder) cannot be
    // cleaned up on a read-only file system: that must not stop reading.
    std::fs::create_dir_all(data.join("tmp").join("1-1")).unwrap();
    std::fs::write(data.join("journal").join("1-1.log"), b"").unwrap();
    mnt.remount("ro");

    assert_eq!(stdout(&run(&data, &["count"])).trim(), "1");
    let v = run(&data, &["verify"]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    for args in [
        &["add", file.to_str().unwrap()][..],
        &["import", src.path().to_str().unwrap()],
        &["block", &hash, "--reason", "test"],
        &["reindex"],
    ] {
        let err = cli_fails(&data, args, "a read-only directory");
        assert!(err.contains("read-only"), "{err}");
    }
    // serve: downloads work, uploads get a clear 503.
    let p = Proc::start(&data, &[]);
    assert!(p.log().contains("read-only"), "{}", p.log());
    let a = get(p.addr, &format!("/torrent/{hash}.torrent")).unwrap();
    assert_eq!(a.status, 200);
    assert!(a.body == bytes);
    assert_eq!(stats_count(p.addr), 1);
    let (other, _) = torrent("read-only-2.bin", 50, 2);
    let a = upload(p.addr, &other).unwrap();
    assert_eq!(a.status, 503);
    assert_eq!(a.header("X-Thetorrent-Result"), Some("failed"));
    assert_eq!(
        a.header("X-Thetorrent-Error"),
        Some("storage is read-only: the torrent was not stored")
    );
    drop(p);
    mnt.remount("rw");
}

// ---- Mounts ---------------------------------------------------------------------------

/// A tmpfs mounted on a fresh directory, unmounted (lazily) on drop.
struct Mount {
    dir: TempDir,
}

impl Mount {
    fn tmpfs(size: &str) -> Mount {
        let dir = temp_dir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (the crash tests need root): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mount { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opts: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {opts}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn free(&self) -> u64 {
        let c = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statvfs is plain data, for which all zeroes is a valid value.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid NUL-terminated path, and a statvfs to fill.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        s.f_bavail * s.f_frsize
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
