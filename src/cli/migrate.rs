//! `thetorrent migrate --from A --to B`: copies a local data directory into an S3 bucket
//! (`--to s3://…`), or a bucket into a local data directory (`--from s3://…`).
//!
//! Resumable: what is already at the destination is skipped (conditional PUT; rename without
//! replace), and into a bucket each day's list goes as segments under fixed names
//! (`sync/DAY/00000000000000000-migrate-<part>-…`), so a second run after an interruption
//! finishes the job and lists nothing twice. Every file is validated and its hash checked
//! against the key it is listed under before it is copied; a mismatch is reported and skipped
//! (exit code 1). Into a bucket the torrents keep their day; into a directory they are listed
//! under the day of the migration (as `import` does). Must never: copy a file whose content
//! does not hash to its key, or write the source.

use super::{progress_bar, Cli, CliError, Done};
use crate::storage::day::Day;
use crate::storage::day::LINE_LEN;
use crate::storage::local::store::Store;
use crate::storage::s3::client::{PutOutcome, S3Error};
use crate::storage::s3::S3Store;
use crate::storage::{self, Storage};
use crate::storage::{Ids, Outcome};
use crate::torrent::hash::Key;
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Keys per list segment written by `migrate` (4 MiB of lines).
pub const MIGRATE_SEGMENT_KEYS: usize = 100_000;
/// Default parallel requests to the object store.
pub const MIGRATE_JOBS: usize = 8;
/// Files committed together into a local store.
pub const MIGRATE_BATCH: usize = 1024;

#[derive(clap::Args, Debug, Clone)]
pub struct MigrateArgs {
    /// Source: a data directory, or `s3://bucket[/prefix]` (with `--s3-endpoint`).
    #[arg(long)]
    pub from: String,
    /// Destination: `s3://bucket[/prefix]`, or a data directory.
    #[arg(long)]
    pub to: String,
    /// Parallel requests to the object store.
    #[arg(long, default_value_t = MIGRATE_JOBS)]
    pub jobs: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Default)]
struct Tally {
    copied: AtomicU64,
    present: AtomicU64,
    rejected: AtomicU64,
}

pub fn run(cli: &Cli, args: &MigrateArgs) -> Result<Done, CliError> {
    let config = super::config(cli);
    let fail = CliError::Storage;
    let tally = Tally::default();
    match (storage::is_s3_url(&args.from), storage::is_s3_url(&args.to)) {
        (false, true) => {
            let from = PathBuf::from(&args.from);
            if !from.is_dir() {
                return Err(fail(format!("{}: no such data directory", from.display())));
            }
            let src = Store::open(&from, config.clone()).map_err(|e| fail(e.to_string()))?;
            let dst = S3Store::open(&args.to, &cli.s3.options(), config).map_err(fail)?;
            to_bucket(&src, &dst, args, &tally)?;
        }
        (true, false) => {
            let src = S3Store::open(&args.from, &cli.s3.options(), config.clone()).map_err(fail)?;
            let dst =
                Store::open(&PathBuf::from(&args.to), config).map_err(|e| fail(e.to_string()))?;
            if dst.read_only() {
                return Err(fail(format!("{}: read-only file system", args.to)));
            }
            to_directory(&src, &dst, args, &tally)?;
        }
        _ => {
            return Err(CliError::Usage(format!(
                "migrate copies between a data directory and an s3:// bucket \
                 (got --from {} --to {})",
                args.from, args.to
            )));
        }
    }
    let (c, p, r) = (
        tally.copied.load(Ordering::Relaxed),
        tally.present.load(Ordering::Relaxed),
        tally.rejected.load(Ordering::Relaxed),
    );
    println!("copied {c}, already there {p}, rejected {r}");
    Ok(Done::unless(r > 0))
}

/// Checks that `bytes` is a valid torrent filed under `key` (its primary key).
fn verify(key: &Key, bytes: &[u8]) -> Result<Ids, String> {
    let parsed = crate::torrent::validate(bytes).map_err(|e| e.to_string())?;
    let ids = Ids::of(&parsed);
    if ids.key != *key {
        return Err(format!("content hashes to {}, not to its name", ids.key));
    }
    Ok(ids)
}

fn parse_lines(list: &[u8]) -> Vec<Key> {
    list.chunks_exact(LINE_LEN as usize)
        .filter_map(|l| std::str::from_utf8(&l[..40]).ok())
        .filter_map(|h| Key::parse(h).ok())
        .collect()
}

/// Runs `f` on every item with `jobs` threads.
fn parallel<T: Sync>(items: &[T], jobs: usize, f: impl Fn(&T) + Sync) {
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(item) = items.get(i) else { return };
                f(item);
            });
        }
    });
}

fn to_bucket(
    src: &Store,
    dst: &S3Store,
    args: &MigrateArgs,
    tally: &Tally,
) -> Result<(), CliError> {
    let pb = progress_bar(args.quiet);
    pb.set_length(src.count());
    let days = src
        .days()
        .days()
        .map_err(|e| CliError::Storage(format!("cannot list {}: {e}", src.root().display())))?;
    let failed = Mutex::new(None::<String>);
    for day in days {
        let list = src
            .days()
            .read(day)
            .map_err(|e| CliError::Storage(format!("cannot read the list of {day}: {e}")))?;
        let keys = parse_lines(&list);
        let listed = Mutex::new(Vec::with_capacity(keys.len()));
        parallel(&keys, args.jobs, |key| {
            if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                return;
            }
            match copy_to_bucket(src, dst, key, tally, &pb) {
                Ok(Some(copied)) => {
                    lock(&listed).push(copied);
                    pb.inc(1);
                }
                Ok(None) => {}
                Err(e) => *lock(&failed) = Some(e),
            }
        });
        if let Some(e) = lock(&failed).take() {
            pb.abandon();
            return Err(CliError::Storage(format!(
                "{e} (run migrate again to resume)"
            )));
        }
        let listed = listed.into_inner().unwrap_or_else(|p| p.into_inner());
        write_segments(dst, day, &keys, listed).map_err(|e| {
            pb.abandon();
            CliError::Storage(format!(
                "cannot write the list of {day}: {e} (run migrate again to resume)"
            ))
        })?;
    }
    pb.finish_and_clear();
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copies one listed torrent (and a hybrid's second key) into the bucket: its key and size
/// to list, `None` when it is skipped (not stored here, or not the torrent its name says),
/// or the error that stops the migration.
fn copy_to_bucket(
    src: &Store,
    dst: &S3Store,
    key: &Key,
    tally: &Tally,
    pb: &ProgressBar,
) -> Result<Option<(Key, u64)>, String> {
    let bytes = match src.open_torrent(key).and_then(|f| match f {
        Some(_) => std::fs::read(src.torrent_path(key)).map(Some),
        None => Ok(None),
    }) {
        Ok(Some(b)) => b,
        Ok(None) => {
            pb.suspend(|| eprintln!("{key}: listed but not stored here: skipped"));
            tally.rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot read {key}: {e}")),
    };
    let ids = match verify(key, &bytes) {
        Ok(ids) => ids,
        Err(e) => {
            pb.suspend(|| eprintln!("{key}: {e}: skipped"));
            tally.rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
    };
    let res = dst.put_object(key, &bytes).and_then(|o| {
        if let Some(link) = ids.link() {
            dst.put_object(&link, &bytes)?;
        }
        Ok(o)
    });
    match res {
        Ok(PutOutcome::Created) => tally.copied.fetch_add(1, Ordering::Relaxed),
        Ok(PutOutcome::Exists) => tally.present.fetch_add(1, Ordering::Relaxed),
        Err(e) => return Err(format!("cannot copy {key}: {e}")),
    };
    Ok(Some((*key, bytes.len() as u64)))
}

/// Lists a day's copied torrents in segments, in the day list's own order (`keys`), so the
/// segments are the same on every run.
fn write_segments(
    dst: &S3Store,
    day: Day,
    keys: &[Key],
    mut listed: Vec<(Key, u64)>,
) -> Result<(), S3Error> {
    let order: std::collections::HashMap<Key, usize> =
        keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    listed.sort_by_key(|(k, _)| order.get(k).copied().unwrap_or(usize::MAX));
    for (part, chunk) in listed.chunks(MIGRATE_SEGMENT_KEYS).enumerate() {
        dst.put_migrated_segment(day, part as u64, chunk)?;
    }
    Ok(())
}

fn to_directory(
    src: &S3Store,
    dst: &Store,
    args: &MigrateArgs,
    tally: &Tally,
) -> Result<(), CliError> {
    let pb = progress_bar(args.quiet);
    pb.set_length(src.count());
    let fail = |e: String| {
        pb.abandon();
        CliError::Storage(format!("{e} (run migrate again to resume)"))
    };
    let days = src
        .days()
        .map_err(|e| fail(format!("cannot list days: {e}")))?;
    for day in days {
        let Some(list) = src
            .day_list(day)
            .map_err(|e| fail(format!("cannot read the list of {day}: {e}")))?
        else {
            continue;
        };
        let bytes = list
            .body
            .to_vec(list.len)
            .map_err(|e| fail(format!("cannot read the list of {day}: {e}")))?;
        for chunk in parse_lines(&bytes).chunks(MIGRATE_BATCH) {
            let fetched = fetch_missing(src, dst, chunk, args.jobs, tally, &pb).map_err(fail)?;
            store_fetched(dst, fetched, tally, &pb).map_err(fail)?;
        }
    }
    pb.finish_and_clear();
    Ok(())
}

/// Fetches the torrents of `keys` the directory does not hold yet, `jobs` at a time.
fn fetch_missing(
    src: &S3Store,
    dst: &Store,
    keys: &[Key],
    jobs: usize,
    tally: &Tally,
    pb: &ProgressBar,
) -> Result<Vec<(Key, Vec<u8>)>, String> {
    let fetched = Mutex::new(Vec::with_capacity(keys.len()));
    let failed = Mutex::new(None::<String>);
    parallel(keys, jobs, |key| {
        if dst.contains(key) {
            tally.present.fetch_add(1, Ordering::Relaxed);
            pb.inc(1);
            return;
        }
        match src.get(key) {
            Ok(Some(found)) => match found.to_vec() {
                Ok(b) => lock(&fetched).push((*key, b)),
                Err(e) => *lock(&failed) = Some(format!("cannot read {key}: {e}")),
            },
            Ok(None) => {
                pb.suspend(|| eprintln!("{key}: listed but not in the bucket: skipped"));
                tally.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => *lock(&failed) = Some(format!("cannot fetch {key}: {e}")),
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(fetched.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Checks and stores fetched torrents in one commit.
fn store_fetched(
    dst: &Store,
    fetched: Vec<(Key, Vec<u8>)>,
    tally: &Tally,
    pb: &ProgressBar,
) -> Result<(), String> {
    let mut staged = Vec::new();
    for (key, bytes) in fetched {
        if let Err(e) = verify(&key, &bytes) {
            pb.suspend(|| eprintln!("{key}: {e}: skipped"));
            tally.rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match dst.stage(&bytes) {
            Ok(st) => staged.push(st),
            Err(e) if e.is_client_error() => {
                pb.suspend(|| eprintln!("{key}: {e}: skipped"));
                tally.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(format!("cannot store {key}: {e}")),
        }
    }
    let done = dst
        .commit(staged)
        .map_err(|e| format!("cannot store: {e}"))?;
    for (_, outcome) in done {
        match outcome {
            Outcome::Stored => tally.copied.fetch_add(1, Ordering::Relaxed),
            Outcome::AlreadyStored => tally.present.fetch_add(1, Ordering::Relaxed),
        };
        pb.inc(1);
    }
    Ok(())
}
