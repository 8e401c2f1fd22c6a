//! The scheduling of jobs, with runners that stand for the network: each test's runner
//! decides when and how a job ends.

use super::*;
use crate::storage::local::store::Store;
use crate::storage::local::Local;
use crate::storage::Config;
use may::sync::SyncFlag;
use std::sync::atomic::AtomicUsize;

const WAIT: Duration = Duration::from_secs(10);

fn storage() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Config::default()).unwrap();
    (dir, Arc::new(Local::new(store)))
}

fn target(n: u8) -> Target {
    Target {
        v1: Some([n; 20]),
        v2: None,
    }
}

fn ids(n: u8) -> Ids {
    Ids {
        key: Key([n; 20]),
        v1: Some([n; 20]),
        v2: None,
    }
}

fn fetched(n: u8) -> Fetched {
    Fetched {
        ids: ids(n),
        bytes: Arc::from(&b"d4:infodee"[..]),
        new: true,
    }
}

/// A runner that counts its calls, waits for `gate` and then ends with `outcome(key)`.
fn gated(
    calls: &Arc<AtomicUsize>,
    gate: &Arc<SyncFlag>,
    outcome: impl Fn(Key) -> Outcome + Send + Sync + 'static,
) -> Box<Runner> {
    let (calls, gate) = (Arc::clone(calls), Arc::clone(gate));
    Box::new(move |ctx: &JobCtx| {
        calls.fetch_add(1, Relaxed);
        let _ = ctx.open(|_| {});
        gate.wait();
        ctx.finish(outcome(ctx.key()));
    })
}

fn fetcher(cfg: FetchConfig, runner: Box<Runner>) -> (tempfile::TempDir, Fetcher) {
    let (dir, storage) = storage();
    (
        dir,
        Fetcher::with_runner(storage, cfg, Arc::new(Counters::default()), runner),
    )
}

#[test]
fn concurrent_requests_for_one_hash_share_one_job() {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(SyncFlag::new()));
    let (_dir, f) = fetcher(
        FetchConfig::default(),
        gated(&calls, &gate, |k| Ok(fetched(k.0[0]))),
    );
    let handles: Vec<Handle> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..16)
            .map(|_| s.spawn(|| f.start(target(1).into()).unwrap()))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(handles[0].wait(Duration::ZERO).is_none(), "still running");
    assert!(f.in_flight(&Key([1; 20])).is_some());
    gate.fire();
    for h in &handles {
        let out = h.wait(WAIT).expect("finished").unwrap();
        assert_eq!(out.ids, ids(1));
    }
    assert_eq!(calls.load(Relaxed), 1);
    let s = f.stats();
    assert_eq!((s.started, s.joined, s.fetched, s.failed), (1, 15, 1, 0));
    assert!(f.in_flight(&Key([1; 20])).is_none());
}

#[test]
fn slots_then_queue_then_busy() {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(SyncFlag::new()));
    let cfg = FetchConfig {
        jobs: 2,
        queue: 1,
        ..FetchConfig::default()
    };
    let (_dir, f) = fetcher(cfg, gated(&calls, &gate, |k| Ok(fetched(k.0[0]))));
    let running: Vec<Handle> = (1..=2)
        .map(|n| f.start(target(n).into()).unwrap())
        .collect();
    let queued = f.start(target(3).into()).unwrap();
    assert_eq!(
        f.start(target(4).into()).err(),
        Some(FetchError::Busy {
            running: 2,
            queued: 1
        })
    );
    // joining a queued job is not a new job, so not refused
    let joined = f.start(target(3).into()).unwrap();
    let s = f.stats();
    assert_eq!((s.running, s.queued, s.busy, s.joined), (2, 1, 1, 1));
    gate.fire();
    for h in running.iter().chain([&queued, &joined]) {
        assert!(h.wait(WAIT).expect("finished").is_ok());
    }
    assert_eq!(calls.load(Relaxed), 3);
    // the slots are free again
    let h = f.start(target(4).into()).unwrap();
    assert!(h.wait(WAIT).expect("finished").is_ok());
    let deadline = Instant::now() + WAIT;
    while f.stats().running > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((f.stats().running, f.stats().queued), (0, 0));
}

#[test]
fn a_failure_is_remembered_until_its_ttl_or_new_sources() {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(SyncFlag::new()));
    gate.fire();
    let cfg = FetchConfig {
        miss_ttl: Duration::from_millis(300),
        ..FetchConfig::default()
    };
    let (_dir, f) = fetcher(
        cfg,
        gated(&calls, &gate, |_| Err(FetchError::NoPeers { refused: 0 })),
    );
    let h = f.start(target(1).into()).unwrap();
    assert_eq!(
        h.wait(WAIT).unwrap().err(),
        Some(FetchError::NoPeers { refused: 0 })
    );
    // answered from memory, without a second job
    assert_eq!(
        f.start(target(1).into()).err(),
        Some(FetchError::NoPeers { refused: 0 })
    );
    assert_eq!((calls.load(Relaxed), f.stats().misses), (1, 1));
    // a request that names a peer the failed job did not try starts a new one
    let with_peer = Request {
        peers: vec!["192.0.2.1:6881".parse().unwrap()],
        ..target(1).into()
    };
    f.start(with_peer.clone())
        .unwrap()
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert_eq!(calls.load(Relaxed), 2);
    // that peer is now remembered too
    assert!(f.start(with_peer).is_err());
    assert_eq!(calls.load(Relaxed), 2);
    std::thread::sleep(Duration::from_millis(350));
    f.start(target(1).into())
        .unwrap()
        .wait(WAIT)
        .unwrap()
        .unwrap_err();
    assert_eq!(calls.load(Relaxed), 3);
}

#[test]
fn only_new_jobs_ask_for_admission() {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(SyncFlag::new()));
    let (_dir, f) = fetcher(
        FetchConfig::default(),
        gated(&calls, &gate, |_| Err(FetchError::NoPeers { refused: 0 })),
    );
    let refuse = || {
        Err(FetchError::RateLimited {
            retry_after: Duration::from_secs(3),
        })
    };
    let e = f.start_admitted(target(1).into(), refuse).err();
    assert_eq!(
        e.unwrap().to_string(),
        "too many fetches from this address, retry in 3 s"
    );
    assert_eq!(f.stats().started, 0);
    let h = f.start(target(1).into()).unwrap();
    // joining, and then the remembered failure, need no admission
    assert!(f.start_admitted(target(1).into(), refuse).is_ok());
    gate.fire();
    h.wait(WAIT).unwrap().unwrap_err();
    assert_eq!(
        f.start_admitted(target(1).into(), refuse).err(),
        Some(FetchError::NoPeers { refused: 0 })
    );
    assert_eq!(calls.load(Relaxed), 1);
}

#[test]
fn our_own_failures_are_not_remembered() {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(SyncFlag::new()));
    gate.fire();
    let (_dir, f) = fetcher(
        FetchConfig::default(),
        gated(&calls, &gate, |_| {
            Err(FetchError::Storage("disk full".into()))
        }),
    );
    for _ in 0..2 {
        let e = f.start(target(1).into()).unwrap().wait(WAIT).unwrap();
        assert_eq!(e.err(), Some(FetchError::Storage("disk full".into())));
    }
    assert_eq!(calls.load(Relaxed), 2);
}

#[test]
fn blocked_hashes_never_start() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(SyncFlag::new());
    let (_dir, storage) = storage();
    let v2 = [7u8; 32];
    storage.block(&[Key::from_v2(&v2)], "court order").unwrap();
    let f = Fetcher::with_runner(
        storage,
        FetchConfig::default(),
        Arc::new(Counters::default()),
        gated(&calls, &gate, |k| Ok(fetched(k.0[0]))),
    );
    // a hybrid is refused when either of its hashes is blocked
    let hybrid = Target {
        v1: Some([1; 20]),
        v2: Some(v2),
    };
    match f.start(hybrid.into()) {
        Err(FetchError::Blocked { key, reason }) => {
            assert_eq!((key, reason.as_str()), (Key::from_v2(&v2), "court order"));
        }
        other => panic!("{:?}", other.map(|h| h.key())),
    }
    assert_eq!(calls.load(Relaxed), 0);
}

#[test]
fn requests_that_join_pass_their_sources_on() {
    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    // per job (keys 8 and 9): "opened" when it runs, "gate" to let it finish
    let flags: Arc<Vec<(SyncFlag, SyncFlag)>> = Arc::new(
        (0..10)
            .map(|_| (SyncFlag::new(), SyncFlag::new()))
            .collect(),
    );
    let runner = {
        let (seen, flags) = (seen.clone(), flags.clone());
        Box::new(move |ctx: &JobCtx| {
            let more = seen.clone();
            let first = ctx.open(move |r| lock(&more).push(r));
            lock(&seen).push(first);
            let (opened, gate) = &flags[ctx.key().0[0] as usize];
            opened.fire();
            gate.wait();
            ctx.finish(Err(FetchError::NoPeers { refused: 0 }));
        })
    };
    let cfg = FetchConfig {
        jobs: 1,
        ..FetchConfig::default()
    };
    let (_dir, f) = fetcher(cfg, runner);
    let peer = |p: &str| Request {
        peers: vec![p.parse().unwrap()],
        ..target(9).into()
    };
    // job 8 holds the only slot, so job 9 waits in the queue and merges what joins
    let blocker = f.start(target(8).into()).unwrap();
    assert!(flags[8].0.wait_timeout(WAIT));
    let h = f.start(peer("192.0.2.1:1")).unwrap();
    f.start(peer("192.0.2.2:2")).unwrap();
    flags[8].1.fire();
    blocker.wait(WAIT).unwrap().unwrap_err();
    // job 9 runs now: a request that joins reaches it through `more`
    assert!(flags[9].0.wait_timeout(WAIT));
    f.start(peer("192.0.2.3:3")).unwrap();
    flags[9].1.fire();
    h.wait(WAIT).unwrap().unwrap_err();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let seen = lock(&seen);
    let job9: Vec<&Request> = seen.iter().filter(|r| r.target == target(9)).collect();
    assert_eq!(job9.len(), 2);
    assert_eq!(job9[0].peers, [addr("192.0.2.1:1"), addr("192.0.2.2:2")]);
    assert_eq!(job9[1].peers, [addr("192.0.2.3:3")]);
    // all three are remembered with the failure: none of them starts a new job
    drop(seen);
    for p in ["192.0.2.1:1", "192.0.2.2:2", "192.0.2.3:3"] {
        assert!(matches!(f.start(peer(p)), Err(FetchError::NoPeers { .. })));
    }
}

#[test]
fn a_panicking_job_answers_and_frees_its_slot() {
    let cfg = FetchConfig {
        jobs: 1,
        ..FetchConfig::default()
    };
    let runner: Box<Runner> = Box::new(|ctx: &JobCtx| {
        if ctx.key() == Key([1; 20]) {
            panic!("runner failure");
        }
        ctx.finish(Ok(fetched(2)));
    });
    let (_dir, f) = fetcher(cfg, runner);
    let e = f.start(target(1).into()).unwrap().wait(WAIT).unwrap();
    assert!(matches!(e, Err(FetchError::Internal(_))), "{e:?}");
    let ok = f.start(target(2).into()).unwrap().wait(WAIT).unwrap();
    assert!(ok.is_ok());
}

#[test]
fn the_miss_memory_is_bounded_and_expires() {
    let mut m = Misses::default();
    let now = Instant::now();
    let miss = |until| Miss {
        until,
        error: FetchError::NoPeers { refused: 0 },
        sources: vec![],
    };
    m.insert(Key([1; 20]), miss(now - Duration::from_secs(1)));
    m.insert(Key([2; 20]), miss(now + Duration::from_secs(60)));
    // the expired one went when the next was inserted
    assert_eq!(m.map.len(), 1);
    assert!(m.get(&Key([2; 20]), now).is_some());
    assert!(m
        .get(&Key([2; 20]), now + Duration::from_secs(61))
        .is_none());
    assert!(m.map.is_empty());
    for i in 0..MAX_REMEMBERED_MISSES + 10 {
        let mut k = [0u8; 20];
        k[..8].copy_from_slice(&(i as u64).to_le_bytes());
        m.insert(Key(k), miss(now + Duration::from_secs(60)));
    }
    assert_eq!(m.map.len(), MAX_REMEMBERED_MISSES);
    // the oldest were forgotten first
    assert!(m.get(&Key([0; 20]), now).is_none());
}
