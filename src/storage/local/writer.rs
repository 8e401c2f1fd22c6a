//! Group commit for concurrent uploads: a few threads do all disk writes and syncs.
//!
//! Owns: batching the uploads that arrive while a commit runs into the next commit, so N
//! concurrent uploaders share one set of syncs instead of paying N. Callers (may coroutines)
//! validate and hash on their own core, hand the bytes over, and wait on a may channel: no
//! blocking disk call runs on a may worker. A pipeline: `STAGERS` *stager* threads write
//! each upload to its temp file as it arrives (copying 20 KB into new page-cache pages is
//! most of an upload's CPU time; one thread alone capped the upload rate), one *committer*
//! makes whatever is staged durable with `Store::commit_pipelined` — so the next batch's
//! writes overlap the current batch's syncs, and one `syncfs` serves the renames of one batch
//! and the temp files of the next.
//! Must never: answer before `Store::commit` returned, or let one bad upload fail the others of
//! its batch.

use super::store::{Renamed, Staged, Store};
use crate::storage::{Ids, Outcome, PutError};
use crate::torrent::{self, Parsed};
use std::sync::mpsc;
use std::sync::Arc;

/// Most uploads committed together.
pub const MAX_BATCH: usize = 256;
/// Threads writing uploads to their temp files, side by side.
pub const STAGERS: usize = 4;
/// Nice value asked for the committer thread by default: none (0 leaves its priority alone).
/// Ahead of the request workers (nice −10) it did not commit faster — a
/// paired A/B of the upload rate gave 1.01× for 0 against −10 over 12 slices — but its
/// `syncfs` calls, which submit the batch's metadata writes on its own CPU time (a fifth of
/// the machine under a full upload load), then went ahead of downloads: GET p99 under that
/// load was 2.33× its value alone (median of 14 rounds), 1.48× with the committer at the
/// default priority (`benches/p99_nice.sh`).
/// `--writer-nice` still sets one; lowering a nice value needs `CAP_SYS_NICE` or an
/// `RLIMIT_NICE` allowing it (systemd: `LimitNICE=`), else the server says so once at start.
pub const WRITER_NICE: i32 = 0;

type Reply = Result<(Ids, Outcome), PutError>;
type Sender<T> = may::sync::mpsc::Sender<T>;

struct Job {
    bytes: Vec<u8>,
    parsed: Parsed,
    reply: Sender<Reply>,
}

/// Handle to the writer threads; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    store: Arc<Store>,
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer threads for `store`; the committer at nice value `nice` when the
    /// process may set it (`None`: leave its priority alone).
    pub fn spawn(store: Arc<Store>, nice: Option<i32>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (staged_tx, staged_rx) = mpsc::channel::<(Staged, Sender<Reply>)>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for lane in 0..STAGERS {
            let (s, rx, staged_tx) = (Arc::clone(&store), Arc::clone(&rx), staged_tx.clone());
            std::thread::Builder::new()
                .name(format!("thetorrent-stager-{lane}"))
                .spawn(move || {
                    // The stagers keep the default priority: they are most of an upload's CPU
                    // time, and ahead of the request workers they would starve downloads.
                    let _ = crate::signals::block_shutdown_signals();
                    stage_all(&s, &rx, lane as u64, staged_tx)
                })?;
        }
        drop(staged_tx);
        let s = Arc::clone(&store);
        let (said_tx, said_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("thetorrent-committer".into())
            .spawn(move || {
                let _ = crate::signals::block_shutdown_signals();
                prioritize(nice);
                drop(said_tx);
                commit_all(&s, staged_rx)
            })?;
        // The committer has set (or said why it could not set) its priority before the server
        // says it listens.
        let _ = said_rx.recv();
        Ok(Writer { store, tx })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Validates `bytes` here (on the caller's thread or coroutine), then stores them through
    /// the writer threads and waits for the durable outcome.
    pub fn put(&self, bytes: Vec<u8>) -> Reply {
        self.store.check_size(bytes.len() as u64)?;
        let parsed = torrent::validate(&bytes).map_err(PutError::Invalid)?;
        let (reply, rx) = may::sync::mpsc::channel();
        self.tx
            .send(Job {
                bytes,
                parsed,
                reply,
            })
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}

/// Sets the calling thread's nice value; says once per process why it could not.
fn prioritize(nice: Option<i32>) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let Some(nice) = nice else { return };
    // SAFETY: plain system calls on the calling thread (a tid is a valid PRIO_PROCESS who).
    let r = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        WARNED.call_once(|| {
            eprintln!(
                "thetorrent: the upload committer thread keeps the default priority (nice {nice}: \
                 {e}); allow it with CAP_SYS_NICE or LimitNICE={nice} (systemd), or \
                 --writer-nice 0 to not ask"
            )
        });
    }
}

/// Writes each upload to its temp file as it arrives; rejections are answered at once. The
/// stagers share one queue: whichever is free takes the next upload.
fn stage_all(
    store: &Store,
    rx: &std::sync::Mutex<mpsc::Receiver<Job>>,
    lane: u64,
    tx: mpsc::Sender<(Staged, Sender<Reply>)>,
) {
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        match store.stage_in_lane(&job.bytes, &job.parsed, lane) {
            Ok(st) => {
                if let Err(mpsc::SendError((_, reply))) = tx.send((st, job.reply)) {
                    let _ = reply.send(Err(stopped()));
                }
            }
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

/// Commits everything staged so far, pipelined: each `Store::commit_pipelined` call runs one
/// `syncfs` that makes the previous batch's renames durable (that batch is answered right
/// after) together with the new batch's temp files and intents (the new batch is renamed right
/// after, and answered after the next call). A commit is still two syncs long, but a new batch
/// starts every sync instead of every other one.
fn commit_all(store: &Store, rx: mpsc::Receiver<(Staged, Sender<Reply>)>) {
    let mut in_flight: Option<(Renamed, Vec<Sender<Reply>>)> = None;
    loop {
        let mut batch = Vec::new();
        if in_flight.is_none() {
            match rx.recv() {
                Ok(x) => batch.push(x),
                Err(_) => return,
            }
        }
        // With a batch in flight, an empty next batch still runs its sync: it is what lets
        // the batch in flight be answered.
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let (staged, waiting): (Vec<Staged>, Vec<Sender<Reply>>) = batch.into_iter().unzip();
        let (prev, prev_waiting) = match in_flight.take() {
            Some((r, w)) => (Some(r), w),
            None => (None, Vec::new()),
        };
        let renamed = store.commit_pipelined(staged, prev, |result| answer(prev_waiting, result));
        match renamed {
            Ok(Some(r)) => in_flight = Some((r, waiting)),
            Ok(None) => answer(waiting, Ok(Vec::new())),
            Err(e) => answer(waiting, Err(e)),
        }
    }
}

/// Sends each waiting upload its outcome, or the batch's error.
fn answer(waiting: Vec<Sender<Reply>>, result: std::io::Result<Vec<(Ids, Outcome)>>) {
    match result {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for reply in waiting {
                let r = outcomes.next().map(Ok).unwrap_or_else(|| Err(stopped()));
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            for reply in waiting {
                let _ = reply.send(Err(PutError::from(crate::storage::duplicate(&e))));
            }
        }
    }
}

fn stopped() -> PutError {
    PutError::from(std::io::Error::other("writer thread stopped"))
}
