//! `thetorrent import PATH…`: bulk import, parallel, with a progress bar and a summary.
//!
//! A walker thread feeds paths to one validating worker per core; workers stage (validate and
//! write a temp file); this thread commits batches, so one pair of syncs covers thousands of
//! files. Every channel is bounded: memory does not grow with the number of files.
//! A file is counted (and the progress bar moves) only once its batch is durable, so a crash
//! mid-import loses only files not yet reported.
//!
//! Files that are not torrents at all (a README, a MANIFEST.tsv beside the torrents: neither
//! named `*.torrent` nor starting like a bencoded dictionary) are counted apart from torrents
//! that failed validation, and do not by themselves make the exit status 1.

use super::{read_limited, CliError, Done};
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
/// Bytes read from the start of a file that could not be staged, to tell a torrent (a
/// bencoded dictionary: `d` and a key's length, or `de`) from another kind of file.
const SNIFF_BYTES: usize = 2;

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
    /// A torrent (or a file that cannot be read) that was refused, and why.
    Rejected(PathBuf, String),
    /// A file that is not a torrent at all, and why it was not stored.
    NotTorrent(PathBuf, String),
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
                // Named at once (not only in --report): a mistyped argument stores nothing.
                pb.suspend(|| eprintln!("thetorrent: cannot read {}: {e}", p.display()));
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
                    pb.suspend(|| eprintln!("thetorrent: cannot read folder {}: {e}", p.display()));
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

/// The class a message is counted under in a summary: its numbers (offsets, sizes) replaced by
/// `N`, so that "torrent too large: 23821 bytes" and "…: 40000 bytes" count as one reason.
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

/// The messages of one reason class: how many, the first one with its real numbers, and
/// whether all of them were that same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reason {
    pub count: u64,
    pub first: String,
    pub all_same: bool,
}

/// Rejection reasons by class, at most [`MAX_REASONS`] classes (then "other").
#[derive(Default)]
pub(super) struct Reasons(BTreeMap<String, Reason>);

impl Reasons {
    pub(super) fn add(&mut self, msg: &str) {
        let mut class = reason_class(msg);
        if self.0.len() >= MAX_REASONS && !self.0.contains_key(&class) {
            class = "other".into();
        }
        match self.0.get_mut(&class) {
            Some(r) => {
                r.count += 1;
                r.all_same &= r.first == msg;
            }
            None => {
                self.0.insert(
                    class,
                    Reason {
                        count: 1,
                        first: msg.to_string(),
                        all_same: true,
                    },
                );
            }
        }
    }

    /// The summary's lines, most frequent first: the count and the message with its real
    /// numbers (the first seen, when the numbers differ between files).
    pub(super) fn lines(&self) -> Vec<String> {
        let mut v: Vec<&Reason> = self.0.values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.first.cmp(&b.first)));
        v.into_iter()
            .map(|r| {
                if r.all_same || r.count == 1 {
                    format!("  {:>8}  {}", r.count, r.first)
                } else {
                    format!(
                        "  {:>8}  {} (the first of these; the numbers differ)",
                        r.count, r.first
                    )
                }
            })
            .collect()
    }
}

#[derive(Default)]
struct Tally {
    stored: u64,
    already: u64,
    rejected: u64,
    not_torrents: u64,
    reasons: Reasons,
}

impl Tally {
    fn reject(&mut self, msg: &str) {
        self.rejected += 1;
        self.reasons.add(msg);
    }
}

pub fn run(store: &Store, args: &ImportArgs) -> Result<Done, CliError> {
    let started = Instant::now();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let pb = super::progress_bar(args.quiet);
    let mut report = match &args.report {
        Some(p) => Some(BufWriter::new(File::create(p).map_err(|e| {
            CliError::Usage(format!("--report: cannot create {}: {e}", p.display()))
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

    print_summary(
        &tally,
        started.elapsed().as_secs_f64(),
        args.report.is_some(),
    );
    if let Some(e) = fatal {
        let cause = e.to_string();
        return Err(CliError::Storage(format!(
            "import into {} stopped: {} ({cause}); files counted above are stored",
            store.root().display(),
            crate::storage::PutError::from(e),
        )));
    }
    Ok(Done::unless(tally.rejected > 0))
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
            Ok(Item::NotTorrent(path, msg)) => {
                tally.not_torrents += 1;
                if let Some(r) = report.as_deref_mut() {
                    let _ = writeln!(r, "{}\tnot a torrent, skipped: {msg}", path.display());
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
fn print_summary(tally: &Tally, secs: f64, report: bool) {
    let total = tally.stored + tally.already + tally.rejected + tally.not_torrents;
    let skipped = if tally.not_torrents == 0 {
        String::new()
    } else {
        format!(
            ", {} not {} (skipped{})",
            tally.not_torrents,
            if tally.not_torrents == 1 {
                "a torrent"
            } else {
                "torrents"
            },
            if report { "; listed in the report" } else { "" }
        )
    };
    println!(
        "{total} files in {secs:.1} s ({:.0}/s): {} stored, {} already stored, {} rejected{skipped}",
        total as f64 / secs.max(1e-9),
        tally.stored,
        tally.already,
        tally.rejected
    );
    for line in tally.reasons.lines() {
        println!("{line}");
    }
}

fn stage_one(store: &Store, path: &Path) -> Item {
    match read_limited(store.config(), path) {
        Ok(bytes) => match store.stage(&bytes) {
            Ok(st) => Item::Staged(st),
            Err(e) => refused(path, e.to_string(), looks_like_torrent(path, &bytes)),
        },
        Err(msg) => {
            // Not read (too large, empty, unreadable): its first bytes tell what it is; a
            // file that cannot even be opened is reported as a rejection.
            let torrent = sniff(path).is_none_or(|head| looks_like_torrent(path, &head));
            refused(path, msg, torrent)
        }
    }
}

fn refused(path: &Path, msg: String, torrent: bool) -> Item {
    if torrent {
        Item::Rejected(path.to_path_buf(), msg)
    } else {
        Item::NotTorrent(path.to_path_buf(), msg)
    }
}

/// The first [`SNIFF_BYTES`] of a file, or `None` when it cannot be read.
fn sniff(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)
        .ok()?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// Whether a file is meant as a torrent: named `*.torrent`, or starting as a bencoded
/// dictionary does (`d` then a key's length, or `de`).
pub(super) fn looks_like_torrent(path: &Path, head: &[u8]) -> bool {
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("torrent"));
    let bencoded = head.first() == Some(&b'd')
        && head
            .get(1)
            .is_some_and(|&b| b.is_ascii_digit() || b == b'e');
    named || bencoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_numbers() {
        let mut r = Reasons::default();
        r.add("torrent too large: 23821 bytes (limit 1000)");
        r.add("torrent too large: 23821 bytes (limit 1000)");
        r.add("not a torrent file: no info dictionary");
        assert_eq!(
            r.lines(),
            vec![
                "         2  torrent too large: 23821 bytes (limit 1000)",
                "         1  not a torrent file: no info dictionary",
            ]
        );
        r.add("torrent too large: 40000 bytes (limit 1000)");
        assert_eq!(
            r.lines()[0],
            "         3  torrent too large: 23821 bytes (limit 1000) (the first of these; \
             the numbers differ)"
        );
    }

    #[test]
    fn torrents_are_told_from_other_files() {
        let p = Path::new;
        assert!(looks_like_torrent(p("a.torrent"), b"garbage"));
        assert!(looks_like_torrent(p("A.TORRENT"), b""));
        assert!(looks_like_torrent(p("noext"), b"d8"));
        assert!(looks_like_torrent(p("x.bin"), b"de"));
        assert!(!looks_like_torrent(p("README"), b"# "));
        assert!(!looks_like_torrent(p("MANIFEST.tsv"), b"pa"));
        assert!(!looks_like_torrent(p("notes.txt"), b"do"));
        assert!(!looks_like_torrent(p("empty"), b""));
    }
}
