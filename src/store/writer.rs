//! Group commit for concurrent uploads: two threads do all disk writes and syncs.
//!
//! Owns: batching the uploads that arrive while a commit runs into the next commit, so N
//! concurrent uploaders share one set of syncs instead of paying N. Callers (may coroutines)
//! validate and hash on their own core, hand the bytes over, and wait on a may channel: no
//! blocking disk call runs on a may worker. A pipeline of two threads: the *stager* writes
//! each upload to its temp file as it arrives, the *committer* makes whatever is staged durable
//! in one `Store::commit` — so the next batch's writes overlap the current batch's syncs.
//! Must never: answer before `Store::commit` returned, or let one bad upload fail the others of
//! its batch.

use super::{Ids, Outcome, PutError, Staged, Store};
use crate::torrent::{self, Parsed};
use std::sync::mpsc;
use std::sync::Arc;

/// Most uploads committed together.
pub const MAX_BATCH: usize = 256;

type Reply = Result<(Ids, Outcome), PutError>;
type Sender<T> = may::sync::mpsc::Sender<T>;

struct Job {
    bytes: Vec<u8>,
    parsed: Parsed,
    reply: Sender<Reply>,
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    store: Arc<Store>,
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer threads for `store`.
    pub fn spawn(store: Arc<Store>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (staged_tx, staged_rx) = mpsc::channel::<(Staged, Sender<Reply>)>();
        let s = Arc::clone(&store);
        std::thread::Builder::new()
            .name("thetorrent-stager".into())
            .spawn(move || {
                block_signals();
                stage_all(&s, rx, staged_tx)
            })?;
        let s = Arc::clone(&store);
        std::thread::Builder::new()
            .name("thetorrent-committer".into())
            .spawn(move || {
                block_signals();
                commit_all(&s, staged_rx)
            })?;
        Ok(Writer { store, tx })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Validates `bytes` here (on the caller's thread or coroutine), then stores them through
    /// the writer thread and waits for the durable outcome.
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

/// Keeps SIGTERM/SIGINT away from this thread: the process's signal handling (graceful
/// shutdown) takes them on its own thread, and a signal delivered here would kill the process.
pub(crate) fn block_signals() {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Writes each upload to its temp file as it arrives; rejections are answered at once.
fn stage_all(store: &Store, rx: mpsc::Receiver<Job>, tx: mpsc::Sender<(Staged, Sender<Reply>)>) {
    while let Ok(job) = rx.recv() {
        match store.stage_parsed(&job.bytes, &job.parsed) {
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

/// Commits everything staged so far in one batch, then answers each upload.
fn commit_all(store: &Store, rx: mpsc::Receiver<(Staged, Sender<Reply>)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let (staged, waiting): (Vec<Staged>, Vec<Sender<Reply>>) = batch.into_iter().unzip();
        match store.commit(staged) {
            Ok(outcomes) => {
                for (reply, out) in waiting.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                for reply in waiting {
                    let err = match e.raw_os_error() {
                        Some(code) => std::io::Error::from_raw_os_error(code),
                        None => std::io::Error::new(e.kind(), e.to_string()),
                    };
                    let _ = reply.send(Err(PutError::Io(err)));
                }
            }
        }
    }
}

fn stopped() -> PutError {
    PutError::Io(std::io::Error::other("writer thread stopped"))
}
