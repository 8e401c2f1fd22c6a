//! `thetorrent::storage::s3::client` against a real SeaweedFS (`weed mini`, tests/common/seaweed.rs): every
//! client operation from plain threads and from may coroutines, conditional creates racing,
//! the fallback mode, error answers, and a server that stops and comes back.
//!
//! Owns: one shared SeaweedFS for this binary (started on first use), plus a private one for
//! the test that kills it. Must never: skip when `weed` is missing (it fails).

mod common;

use common::Seaweed;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use thetorrent::storage::s3::client::{PutOutcome, S3Client, S3Config, S3Error};

fn shared() -> &'static Seaweed {
    static SEAWEED: OnceLock<Seaweed> = OnceLock::new();
    SEAWEED.get_or_init(Seaweed::start)
}

fn config(sw: &Seaweed, bucket: &str, prefix: &str) -> S3Config {
    let url = if prefix.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{prefix}")
    };
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            sw.access_key, sw.secret_key
        ),
    )
    .unwrap();
    let mut c = S3Config::from_url(&url, &sw.endpoint, Some(creds.path())).unwrap();
    // The test environment might carry real AWS variables: use the test identity.
    c.access_key = sw.access_key.clone();
    c.secret_key = sw.secret_key.clone();
    c
}

/// A client on a fresh bucket of the shared server.
fn client(bucket: &str, prefix: &str) -> S3Client {
    let c = S3Client::new(config(shared(), bucket, prefix)).unwrap();
    c.create_bucket().unwrap();
    c
}

/// A client for many writers racing on one key: SeaweedFS answers them one at a time, a
/// second apart (16 writers: the last after 9 s), so each needs longer than the default
/// timeout; the store answering the others meanwhile, a timed-out attempt is repeated.
fn racing_client(bucket: &str) -> S3Client {
    let mut cfg = config(shared(), bucket, "");
    cfg.timeout = Duration::from_secs(10);
    let c = S3Client::new(cfg).unwrap();
    c.create_bucket().unwrap();
    c
}

#[test]
fn object_operations_from_a_thread() {
    let c = client("ops", "some/prefix");
    c.create_bucket()
        .expect("creating an existing bucket is fine");

    assert!(c.get("missing", 1000).unwrap().is_none());
    assert!(c.head("missing").unwrap().is_none());

    let body = b"d8:announce3:urle".to_vec();
    assert_eq!(
        c.put_if_absent("t/AB.torrent", &body, "application/x-bittorrent")
            .unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        c.put_if_absent("t/AB.torrent", b"other bytes", "application/x-bittorrent")
            .unwrap(),
        PutOutcome::Exists
    );
    let o = c.get("t/AB.torrent", 1000).unwrap().expect("stored");
    assert_eq!(
        o.body, body,
        "the first create wins, the second changed nothing"
    );
    assert!(o.etag.is_some());
    let modified = o.last_modified.expect("Last-Modified");
    let age = std::time::SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(300), "{age:?}");

    let h = c.head("t/AB.torrent").unwrap().expect("head");
    assert_eq!(
        (h.key.as_str(), h.size),
        ("t/AB.torrent", body.len() as u64)
    );

    // Over the caller's limit.
    match c.get("t/AB.torrent", 5) {
        Err(S3Error::TooLarge(5)) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The client still works after dropping that connection.
    assert!(c.get("t/AB.torrent", 1000).unwrap().is_some());

    // Plain put overwrites; delete; delete of a missing key is fine.
    c.put("control/state", b"one", "text/plain").unwrap();
    c.put("control/state", b"two", "text/plain").unwrap();
    assert_eq!(c.get("control/state", 100).unwrap().unwrap().body, b"two");
    c.delete("control/state").unwrap();
    assert!(c.get("control/state", 100).unwrap().is_none());
    c.delete("control/state").unwrap();

    // Keys with characters that need encoding.
    for key in ["sp ace/a+b=c&d", "ünï/cödé", "semi;colon/q?x#y"] {
        c.put(key, key.as_bytes(), "text/plain").unwrap();
        assert_eq!(c.get(key, 100).unwrap().unwrap().body, key.as_bytes());
    }

    // The prefix is applied: another client on the bucket root sees the full keys.
    let root = client("ops", "");
    assert!(root
        .get("some/prefix/t/AB.torrent", 1000)
        .unwrap()
        .is_some());
    assert!(root.get("t/AB.torrent", 1000).unwrap().is_none());
}

#[test]
fn listing() {
    let c = client("listing", "pre");
    let other = client("listing", "");
    other.put("outside", b"x", "text/plain").unwrap();
    other.put("prefix-sibling/a", b"x", "text/plain").unwrap();
    let mut keys: Vec<String> = (0..23).map(|i| format!("d/{i:03}")).collect();
    keys.push("e/last".to_string());
    for (i, k) in keys.iter().enumerate() {
        c.put(k, &vec![b'x'; i], "application/octet-stream")
            .unwrap();
    }
    let all = c.list("", None, 1000).unwrap();
    assert_eq!(
        all.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        keys,
        "relative keys, in order, nothing outside the prefix"
    );
    assert_eq!(all[5].size, 5);
    assert!(all[0].last_modified.is_some());
    // Continuation tokens: small pages give the same result.
    let paged = c.list_paged("", None, 1000, 4).unwrap();
    assert_eq!(paged, all);
    // A prefix, start-after and a maximum.
    let d = c.list_paged("d/", Some("d/010"), 5, 3).unwrap();
    assert_eq!(
        d.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["d/011", "d/012", "d/013", "d/014", "d/015"]
    );
    assert!(c.list("nothing/", None, 10).unwrap().is_empty());
    assert_eq!(c.list("", Some("e/last"), 10).unwrap().len(), 0);
}

#[test]
fn conditional_create_race_in_coroutines() {
    let c = Arc::new(racing_client("race-co"));
    let created = Arc::new(AtomicUsize::new(0));
    let exists = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let (c, created, exists) = (c.clone(), created.clone(), exists.clone());
            // The server's coroutine stack size: the backend will call the client from
            // request coroutines. THETORRENT_STACK_USAGE=1 makes may print what each used.
            let mut words = thetorrent::http::config::STACK_SIZE / std::mem::size_of::<usize>();
            if std::env::var_os("THETORRENT_STACK_USAGE").is_some() {
                words |= 1;
            }
            let builder = may::coroutine::Builder::new().stack_size(words);
            // SAFETY: the coroutine keeps no thread-local state across may's I/O, and blocks
            // its worker on nothing but may's own sockets (what may asks of a coroutine).
            let h = unsafe {
                builder.spawn(move || {
                    let body = format!("writer {i}");
                    match c.put_if_absent("same-key", body.as_bytes(), "text/plain") {
                        Ok(PutOutcome::Created) => created.fetch_add(1, Ordering::SeqCst),
                        Ok(PutOutcome::Exists) => exists.fetch_add(1, Ordering::SeqCst),
                        Err(e) => panic!("put_if_absent in a coroutine: {e}"),
                    };
                    // Every other operation from a coroutine too.
                    let key = format!("co/{i}");
                    c.put(&key, body.as_bytes(), "text/plain").unwrap();
                    assert_eq!(c.get(&key, 100).unwrap().unwrap().body, body.as_bytes());
                    assert_eq!(c.head(&key).unwrap().unwrap().size, body.len() as u64);
                    assert!(!c.list("co/", None, 100).unwrap().is_empty());
                    c.delete(&key).unwrap();
                    assert!(c.get(&key, 100).unwrap().is_none());
                })
            }
            .unwrap();
            h
        })
        .collect();
    for h in handles {
        h.join().expect("coroutine panicked");
    }
    assert_eq!(created.load(Ordering::SeqCst), 1, "exactly one creator");
    assert_eq!(exists.load(Ordering::SeqCst), 31);
    let winner = c.get("same-key", 100).unwrap().unwrap().body;
    assert!(winner.starts_with(b"writer "));
    assert!(c.idle_connections() <= c.config().max_idle);
}

#[test]
fn conditional_create_race_in_threads() {
    let c = Arc::new(racing_client("race-th"));
    let results: Vec<PutOutcome> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    c.put_if_absent("k", format!("t{i}").as_bytes(), "text/plain")
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results
            .iter()
            .filter(|&&r| r == PutOutcome::Created)
            .count(),
        1
    );
}

#[test]
fn fallback_mode_head_then_put() {
    let mut cfg = config(shared(), "fallback", "");
    cfg.conditional_put = false;
    let c = S3Client::new(cfg).unwrap();
    c.create_bucket().unwrap();
    assert_eq!(
        c.put_if_absent("k", b"first", "text/plain").unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        c.put_if_absent("k", b"second", "text/plain").unwrap(),
        PutOutcome::Exists
    );
    assert_eq!(c.get("k", 100).unwrap().unwrap().body, b"first");
}

#[test]
fn error_answers() {
    let sw = shared();
    // A bucket that does not exist: an error, not "missing object".
    let c = S3Client::new(config(sw, "never-created", "")).unwrap();
    match c.get("k", 100) {
        Err(S3Error::Status {
            status: 404, code, ..
        }) => assert_eq!(code, "NoSuchBucket"),
        other => panic!("expected NoSuchBucket, got {other:?}"),
    }
    // A wrong secret.
    let mut cfg = config(sw, "ops-denied", "");
    cfg.secret_key = "wrong".into();
    let c = S3Client::new(cfg).unwrap();
    match c.put("k", b"x", "text/plain") {
        Err(e @ S3Error::Status { status: 403, .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with("object store answered 403"), "{msg}");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // https is refused with a clear message.
    let mut cfg = config(sw, "x-bucket", "");
    cfg.endpoint = "https://127.0.0.1:1".into();
    let e = S3Client::new(cfg).err().unwrap().to_string();
    assert!(e.contains("https endpoints are not supported"), "{e}");
}

/// Waits until the server answers `k` again.
fn wait_until_served(c: &S3Client, sw: &Seaweed) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(c.get("k", 100), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "{}", sw.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn server_stopped_and_restarted() {
    let mut sw = Seaweed::start();
    let mut cfg = config(&sw, "faults", "");
    cfg.timeout = Duration::from_secs(2);
    cfg.retries = 2;
    let c = S3Client::new(cfg.clone()).unwrap();
    c.create_bucket().unwrap();
    c.put("k", b"kept", "text/plain").unwrap();
    assert!(c.idle_connections() > 0, "the connection is kept alive");

    sw.stop();
    let t = Instant::now();
    let e = c.get("k", 100).expect_err("server is down");
    let took = t.elapsed();
    assert!(matches!(e, S3Error::Io(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("object store unreachable (127.0.0.1:") && msg.contains("refused"),
        "{msg}"
    );
    // Bounded by timeout × attempts plus back-off (connection refused is immediate).
    assert!(
        took < cfg.timeout * (cfg.retries + 1) + Duration::from_secs(1),
        "{took:?}"
    );
    // Found unreachable: later requests are not tried until the probe sees it back.
    match c.get("k", 100) {
        Err(e @ S3Error::Down { .. }) => {
            assert!(e.to_string().contains("not tried"), "{e}")
        }
        other => panic!("expected a request not tried, got {other:?}"),
    }
    let counters: std::collections::HashMap<_, _> = c.counters().into_iter().collect();
    assert_eq!(counters["s3_outages"], 1);
    assert_eq!(counters["s3_down"], 1);
    assert!(counters["s3_failed_fast"] >= 1);

    // A hung server (SIGSTOP): reads time out, from a thread and from a coroutine.
    sw.restart();
    wait_until_served(&c, &sw);
    let mut hung = cfg.clone();
    hung.timeout = Duration::from_millis(500);
    hung.retries = 1;
    let h = Arc::new(S3Client::new(hung).unwrap());
    assert!(h.get("k", 100).unwrap().is_some());
    let h_co = Arc::new(S3Client::new(h.config().clone()).unwrap());
    assert!(h_co.get("k", 100).unwrap().is_some());
    sw.pause();
    let t = Instant::now();
    match h.get("k", 100) {
        Err(S3Error::Io(e)) => assert!(e.to_string().contains("timed out"), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // One timeout, no retry: the store is marked down at once.
    let counters: std::collections::HashMap<_, _> = h.counters().into_iter().collect();
    assert_eq!((counters["s3_timeouts"], counters["s3_retries"]), (1, 0));
    assert!(matches!(h.get("k", 100), Err(S3Error::Down { .. })));
    let h2 = h_co.clone();
    // SAFETY: as in the race above, the coroutine only calls the client.
    let co = unsafe {
        may::coroutine::Builder::new()
            .stack_size(thetorrent::http::config::STACK_SIZE / std::mem::size_of::<usize>())
            .spawn(move || matches!(h2.get("k", 100), Err(S3Error::Io(_))))
    }
    .unwrap();
    assert!(co.join().unwrap(), "a timeout in a coroutine");
    sw.resume();
    // Back once the probe (every 250 ms) has seen the store answer.
    wait_until_served(&h, &sw);
    wait_until_served(&h_co, &sw);

    sw.restart();
    // weed may need a moment after its S3 port answers before the bucket is served again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        match c.get("k", 100) {
            Ok(Some(o)) => break o.body,
            r if Instant::now() < deadline => {
                eprintln!("after restart: {r:?}");
                std::thread::sleep(Duration::from_millis(200));
            }
            r => panic!("no recovery after restart: {r:?}\n{}", sw.log_tail()),
        }
    };
    assert_eq!(body, b"kept");

    // A pooled connection that the server closed (restart) is replaced without counting as a
    // failure: even with no retries the next request succeeds.
    let mut no_retry = cfg.clone();
    no_retry.retries = 0;
    let c0 = S3Client::new(no_retry).unwrap();
    assert!(c0.get("k", 100).unwrap().is_some());
    assert_eq!(c0.idle_connections(), 1);
    sw.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Wait with another client so that c0 keeps its (now stale) pooled connection.
        if matches!(c.get("k", 100), Ok(Some(_))) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", sw.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(c0.idle_connections(), 1);
    assert_eq!(c0.get("k", 100).unwrap().unwrap().body, b"kept");
}

/// A connect that never completes (the endpoint's accept queue is full, so its SYNs are
/// dropped) ends at the client's timeout, from a coroutine (a non-blocking connect under the
/// watchdog: may is built without I/O timers) and from a thread, and leaves no socket behind.
#[test]
fn connect_that_never_completes_times_out() {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue until a connect hangs.
    let mut held = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                break;
            }
        }
        assert!(held.len() < 16, "the accept queue never filled");
    }
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        "[default]\naws_access_key_id = k\naws_secret_access_key = s\n",
    )
    .unwrap();
    let mut cfg =
        S3Config::from_url("s3://hung", &format!("http://{addr}"), Some(creds.path())).unwrap();
    cfg.timeout = Duration::from_millis(500);
    cfg.retries = 0;
    // One client each: the first timeout marks a client's store down.
    let c = Arc::new(S3Client::new(cfg.clone()).unwrap());
    let from_thread = S3Client::new(cfg).unwrap();
    let check = |r: Result<Option<Vec<u8>>, S3Error>, took: Duration, from: &str| {
        match r {
            Err(S3Error::Io(e)) => assert!(e.to_string().contains("timed out"), "{from}: {e}"),
            other => panic!("{from}: expected a timeout, got {other:?}"),
        }
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{from}: {took:?}"
        );
    };
    let c2 = c.clone();
    // SAFETY: as in the race above, the coroutine only calls the client.
    let co = unsafe {
        may::coroutine::Builder::new()
            .stack_size(thetorrent::http::config::STACK_SIZE / std::mem::size_of::<usize>())
            .spawn(move || {
                let t = Instant::now();
                let r = c2.get("k", 100);
                (r, t.elapsed())
            })
    }
    .unwrap();
    let (r, took) = co.join().unwrap();
    check(r.map(|o| o.map(|_| Vec::new())), took, "coroutine");
    let t = Instant::now();
    let r = from_thread.get("k", 100);
    check(r.map(|o| o.map(|_| Vec::new())), t.elapsed(), "thread");
    assert_eq!(c.idle_connections(), 0);
    assert_eq!(from_thread.idle_connections(), 0);
    // The store is now known to be down: the next request is not tried.
    assert!(matches!(c.get("k", 100), Err(S3Error::Down { .. })));
    drop(held);
}
