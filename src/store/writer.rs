//! Group commit for concurrent uploads: one writer thread does all disk writes and syncs.
//!
//! Owns: batching the uploads that arrive while a commit runs into the next commit, so N
//! concurrent uploaders share one set of syncs instead of paying N. Callers (may coroutines)
//! validate and hash on their own core, hand the bytes over, and wait on a may channel: the
//! blocking `syncfs`/`fsync` never runs on a may worker. Must never: answer before
//! `Store::commit` returned, or let one bad upload fail the others of its batch.

use super::{Ids, Outcome, PutError, Staged, Store};
use crate::torrent::{self, Parsed};
use std::sync::mpsc;
use std::sync::Arc;

/// Most uploads committed together.
pub const MAX_BATCH: usize = 256;

type Reply = Result<(Ids, Outcome), PutError>;

struct Job {
    bytes: Vec<u8>,
    parsed: Parsed,
    reply: may::sync::mpsc::Sender<Reply>,
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    store: Arc<Store>,
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread for `store`.
    pub fn spawn(store: Arc<Store>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let s = Arc::clone(&store);
        std::thread::Builder::new()
            .name("thetorrent-writer".into())
            .spawn(move || {
                block_signals();
                run(&s, rx)
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
            .map_err(|_| PutError::Io(std::io::Error::other("writer thread stopped")))?;
        rx.recv()
            .map_err(|_| PutError::Io(std::io::Error::other("writer thread stopped")))?
    }
}

/// Keeps SIGTERM/SIGINT away from this thread: the process's signal handling (graceful
/// shutdown) takes them on its own thread, and a signal delivered here would kill the process.
fn block_signals() {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn run(store: &Store, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut staged: Vec<Staged> = Vec::with_capacity(jobs.len());
        let mut waiting = Vec::with_capacity(jobs.len());
        for job in jobs {
            match store.stage_parsed(&job.bytes, &job.parsed) {
                Ok(st) => {
                    staged.push(st);
                    waiting.push(job.reply);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        match store.commit(staged) {
            Ok(outcomes) => {
                for (reply, out) in waiting.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                let kind = e.kind();
                let raw = e.raw_os_error();
                for reply in waiting {
                    let err = match raw {
                        Some(code) => std::io::Error::from_raw_os_error(code),
                        None => std::io::Error::new(kind, e.to_string()),
                    };
                    let _ = reply.send(Err(PutError::Io(err)));
                }
            }
        }
    }
}
