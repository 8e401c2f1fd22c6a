//! `thetorrent import PATH…`: bulk import, parallel, with a progress bar and a summary.
//!
//! A walker thread feeds paths to one validating worker per core; workers stage (validate and
//! write a temp file); this thread commits batches, so one pair of syncs covers thousands of
//! files. Every channel is bounded: memory does not grow with the number of files.
//! A file is counted (and the progress bar moves) only once its batch is durable, so a crash
//! mid-import loses only files not yet reported.

use super::{read_limited, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED};
use crate::storage::local::store::{Staged, Store};
use crate::storage::Outcome;
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most files staged before a commit.
pub const IMPORT_BATCH: usize = 4096;
/// Longest wait between commits (so progress and durability keep up on slow inputs).
pub const IMPORT_BATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Paths queued between the walker and the workers.
pub const PATH_QUEUE: usize = 4096;
/// Distinct rejection reasons listed in the summary (the rest are counted as "other").
pub const MAX_REASONS: usize = 50;

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Files and folders (walked recursively; symbolic links to folders are not followed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write one line per rejected file (`path<TAB>reason`) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

enum Item {
    Staged(Staged),
    Rejected(PathBuf, String),
}

/// Walks `roots` iteratively, sending every regular file. Unreadable folders are reported.
fn walk(
    roots: &[PathBuf],
    tx: &mpsc::SyncSender<Result<PathBuf, (PathBuf, String)>>,
    pb: &ProgressBar,
) {
    let mut stack: Vec<PathBuf> = roots.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                let _ = tx.send(Err((p, format!("cannot read: {e}"))));
                continue;
            }
        };
        if meta.is_file() {
            pb.inc_length(1);
            if tx.send(Ok(p)).is_err() {
                return;
            }
        } else if meta.is_dir() {
            let rd = match std::fs::read_dir(&p) {
                Ok(rd) => rd,
                Err(e) => {
                    let _ = tx.send(Err((p, format!("cannot read folder: {e}"))));
                    continue;
                }
            };
            let mut children = Vec::new();
            for e in rd.flatten() {
                // Do not follow symlinked folders (loops); symlinked files are read.
                let is_file = match e.file_type() {
                    Ok(ft) if ft.is_dir() => {
                        children.push(e.path());
                        false
                    }
                    Ok(ft) => ft.is_file() || (ft.is_symlink() && e.path().is_file()),
                    Err(_) => false,
                };
                if is_file {
                    pb.inc_length(1);
                    if tx.send(Ok(e.path())).is_err() {
                        return;
                    }
                }
            }
            children.sort();
            stack.extend(children.into_iter().rev());
        }
    }
}

/// Turns a message into its reason class: numbers (offsets, sizes) replaced by `N`.
pub(super) fn reason_class(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_num = false;
    for c in msg.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    stored: u64,
    already: u64,
    rejected: u64,
    reasons: BTreeMap<String, u64>,
}

impl Tally {
    fn reject(&mut self, msg: &str) {
        self.rejected += 1;
        let class = reason_class(msg);
        if self.reasons.len() < MAX_REASONS || self.reasons.contains_key(&class) {
            *self.reasons.entry(class).or_default() += 1;
        } else {
            *self.reasons.entry("other".into()).or_default() += 1;
        }
    }
}

pub fn run(store: &Store, args: &ImportArgs) -> Result<i32, i32> {
    let started = Instant::now();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let pb = super::progress_bar(args.quiet);
    let mut report = match &args.report {
        Some(p) => Some(BufWriter::new(File::create(p).map_err(|e| {
            eprintln!("thetorrent: cannot create report {}: {e}", p.display());
            EXIT_FAILURE
        })?)),
        None => None,
    };

    let (path_tx, path_rx) = mpsc::sync_channel(PATH_QUEUE);
    let path_rx = Arc::new(std::sync::Mutex::new(path_rx));
    let (item_tx, item_rx) = mpsc::sync_channel::<Item>(IMPORT_BATCH);
    let mut tally = Tally::default();
    let mut fatal = None;

    std::thread::scope(|s| {
        let roots = args.paths.clone();
        let wpb = pb.clone();
        s.spawn(move || walk(&roots, &path_tx, &wpb));
        for _ in 0..jobs {
            let rx = Arc::clone(&path_rx);
            let tx = item_tx.clone();
            s.spawn(move || loop {
                let next = rx.lock().map(|r| r.recv());
                let item = match next {
                    Ok(Ok(Ok(path))) => stage_one(store, &path),
                    Ok(Ok(Err((path, msg)))) => Item::Rejected(path, msg),
                    _ => return,
                };
                if tx.send(item).is_err() {
                    return;
                }
            });
        }
        drop(item_tx);
        fatal = commit_all(store, &item_rx, &mut tally, report.as_mut(), &pb);
        drop(item_rx);
    });
    pb.finish_and_clear();
    if let Some(r) = report.as_mut() {
        let _ = r.flush();
    }

    print_summary(&tally, started.elapsed().as_secs_f64());
    if let Some(e) = fatal {
        eprintln!(
            "thetorrent: import stopped: {}; files counted above are stored",
            crate::storage::PutError::from(e)
        );
        return Err(EXIT_FAILURE);
    }
    Ok(if tally.rejected > 0 {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}

/// Commits what the workers staged, in batches of [`IMPORT_BATCH`] or every
/// [`IMPORT_BATCH_INTERVAL`], counting outcomes and rejections; returns the error that
/// stopped it (the receiver is dropped then, which ends the workers).
fn commit_all(
    store: &Store,
    item_rx: &mpsc::Receiver<Item>,
    tally: &mut Tally,
    mut report: Option<&mut BufWriter<File>>,
    pb: &ProgressBar,
) -> Option<std::io::Error> {
    let mut batch: Vec<Staged> = Vec::new();
    let mut since = Instant::now();
    loop {
        let wait = IMPORT_BATCH_INTERVAL.saturating_sub(since.elapsed());
        let msg = item_rx.recv_timeout(wait);
        let done = matches!(msg, Err(RecvTimeoutError::Disconnected));
        match msg {
            Ok(Item::Staged(st)) => {
                if batch.is_empty() {
                    since = Instant::now();
                }
                batch.push(st);
            }
            Ok(Item::Rejected(path, msg)) => {
                tally.reject(&msg);
                if let Some(r) = report.as_deref_mut() {
                    let _ = writeln!(r, "{}\t{msg}", path.display());
                }
                pb.inc(1);
            }
            Err(_) => {}
        }
        let due = batch.len() >= IMPORT_BATCH
            || (!batch.is_empty() && since.elapsed() >= IMPORT_BATCH_INTERVAL)
            || done;
        if due && !batch.is_empty() {
            let n = batch.len() as u64;
            match store.commit(std::mem::take(&mut batch)) {
                Ok(outcomes) => {
                    for (_, o) in outcomes {
                        match o {
                            Outcome::Stored => tally.stored += 1,
                            Outcome::AlreadyStored => tally.already += 1,
                        }
                    }
                    pb.inc(n);
                }
                // Stop feeding: the caller drops the receiver, which ends the workers.
                Err(e) => return Some(e),
            }
        }
        if done {
            break;
        }
    }
    None
}

/// Prints the totals and the rejection reasons, most frequent first.
fn print_summary(tally: &Tally, secs: f64) {
    let total = tally.stored + tally.already + tally.rejected;
    println!(
        "{total} files in {secs:.1} s ({:.0}/s): {} stored, {} already stored, {} rejected",
        total as f64 / secs.max(1e-9),
        tally.stored,
        tally.already,
        tally.rejected
    );
    let mut reasons: Vec<_> = tally.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (reason, n) in reasons {
        println!("  {n:>8}  {reason}");
    }
}

fn stage_one(store: &Store, path: &Path) -> Item {
    match read_limited(store.config(), path)
        .and_then(|b| store.stage(&b).map_err(|e| e.to_string()))
    {
        Ok(st) => Item::Staged(st),
        Err(msg) => Item::Rejected(path.to_path_buf(), msg),
    }
}
