//! `thetorrent mirror --from URL [--since YYYYMMDD]`: copies what another instance stores.
//!
//! Reads the other instance's `/sync/` index (links named `YYYYMMDD.txt`), then each day list
//! from `--since` on, and fetches `/torrent/<HASH>.torrent` for every listed hash this store
//! does not have. Each file goes the normal way in: `Store::stage` (size limit, validation,
//! blocklist, temp file) and batched `Store::commit`, as `add` and `import` do. Re-running
//! skips what is already here, so an interrupted mirror is resumed by running it again.
//!
//! Owns: reading the feeds, deciding what to fetch, the summary and exit code. Must never:
//! write the data directory except through `store`, store a file under a hash other than the
//! one the list named (a mismatch is a failure), fetch a hash blocked here, or hold more than
//! one batch of fetched files in memory.

use super::import::reason_class;
use super::{EXIT_FAILURE, EXIT_OK, EXIT_REJECTED};
use crate::http::client::{BaseUrl, Client, HttpError};
use crate::storage::day::Day;
use crate::storage::local::store::{Staged, Store};
use crate::storage::{Outcome, PutError};
use crate::torrent::hash::Key;
use indicatif::ProgressBar;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

/// Largest `/sync/` index page accepted, in bytes (about 25 years of days).
pub const MAX_INDEX_BYTES: u64 = 1024 * 1024;
/// Largest day list accepted, in bytes (a million hashes of 41 bytes).
pub const MAX_DAY_LIST_BYTES: u64 = 41 * 1_000_000;
/// Most fetched files staged before a commit.
pub const MIRROR_BATCH: usize = 256;
/// Longest wait between commits (so a slow source does not hold finished files back).
pub const MIRROR_BATCH_INTERVAL: Duration = Duration::from_secs(2);
/// The source is given up (exit 3) after this many network failures in a row.
pub const MAX_NETWORK_FAILURES_IN_A_ROW: u32 = 20;
/// Distinct failure reasons listed in the summary (the rest are counted as "other").
const MAX_REASONS: usize = 50;

#[derive(clap::Args, Debug, Clone)]
pub struct MirrorArgs {
    /// Base URL of the other instance, e.g. `http://torrents.example.org:8080` (http only).
    #[arg(long, value_parser = BaseUrl::parse)]
    pub from: BaseUrl,
    /// First day (UTC) to copy, `YYYYMMDD` (default: every day the source lists).
    #[arg(long, value_parser = parse_day)]
    pub since: Option<Day>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).ok_or_else(|| format!("not a day as YYYYMMDD: {s}"))
}

/// The days linked from a `/sync/` index page: every `href` whose last path segment is
/// `YYYYMMDD.txt`, oldest first, without repeats.
pub fn index_days(html: &str) -> Vec<Day> {
    let mut days = BTreeSet::new();
    let mut rest = html;
    while let Some(i) = rest.find("href=") {
        rest = &rest[i + 5..];
        let (quote, body) = match rest.as_bytes().first() {
            Some(b'"') => ('"', &rest[1..]),
            Some(b'\'') => ('\'', &rest[1..]),
            _ => (' ', rest),
        };
        let end = body.find([quote, '>']).unwrap_or(body.len());
        let target = &body[..end];
        let target = target.split(['?', '#']).next().unwrap_or("");
        let name = target.rsplit('/').next().unwrap_or("");
        if let Some(day) = name.strip_suffix(".txt").and_then(Day::parse) {
            days.insert(day);
        }
        rest = &body[end..];
    }
    days.into_iter().collect()
}

/// The hashes of a day list (one 40-hex hash per line; blank lines and `\r` tolerated), and
/// the number of lines that are not a hash.
pub fn list_keys(body: &[u8]) -> (Vec<Key>, usize) {
    let mut keys = Vec::new();
    let mut bad = 0;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line)
            .ok()
            .filter(|l| l.len() == 40)
            .and_then(|l| Key::parse(l).ok())
        {
            Some(k) => keys.push(k),
            None => bad += 1,
        }
    }
    (keys, bad)
}

const BAD_LINE: &str = "a line of the day list is not a 40-hex hash";

#[derive(Default)]
struct Tally {
    fetched: u64,
    already: u64,
    blocked_here: u64,
    failed: u64,
    reasons: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts a failure under `class` (the message itself, or its `reason_class`).
    fn fail(&mut self, what: &str, msg: &str, class: String) {
        self.failed += 1;
        eprintln!("{what}: {msg}");
        if self.reasons.len() < MAX_REASONS || self.reasons.contains_key(&class) {
            *self.reasons.entry(class).or_default() += 1;
        } else {
            *self.reasons.entry("other".into()).or_default() += 1;
        }
    }
}

/// A fatal stop: the message, already worded for the user.
struct Fatal(String);

struct Mirror<'a> {
    store: &'a Store,
    client: Client,
    tally: Tally,
    batch: Vec<Staged>,
    batch_started: Instant,
    net_failures: u32,
    pb: ProgressBar,
}

impl Mirror<'_> {
    /// A GET whose network failures count towards giving up on the source.
    fn get(&mut self, path: &str, limit: u64) -> Result<Result<Vec<u8>, String>, Fatal> {
        match self.client.get(path, limit) {
            Ok(r) => {
                self.net_failures = 0;
                Ok(match r.status {
                    200 => Ok(r.body),
                    404 => Err("not found on the source (404)".into()),
                    451 => Err("blocked on the source (451)".into()),
                    s => Err(format!("the source answered HTTP {s}")),
                })
            }
            Err(e @ (HttpError::Connect(_) | HttpError::Io(_))) => {
                self.net_failures += 1;
                if self.net_failures >= MAX_NETWORK_FAILURES_IN_A_ROW {
                    return Err(Fatal(format!(
                        "giving up on {}: {} network failures in a row, the last: {e}",
                        self.client.base(),
                        self.net_failures
                    )));
                }
                Ok(Err(e.to_string()))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    fn commit(&mut self) -> Result<(), Fatal> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = self.batch.len() as u64;
        let done = self
            .store
            .commit(std::mem::take(&mut self.batch))
            .map_err(|e| Fatal(PutError::from(e).to_string()))?;
        for (_, outcome) in done {
            match outcome {
                Outcome::Stored => self.tally.fetched += 1,
                // Stored by another process since the check.
                Outcome::AlreadyStored => self.tally.already += 1,
            }
        }
        self.pb.inc(n);
        Ok(())
    }

    fn one(&mut self, key: Key) -> Result<(), Fatal> {
        if self.store.blocked(&key).is_some() {
            self.tally.blocked_here += 1;
            self.pb.inc(1);
            return Ok(());
        }
        if self.store.contains(&key) {
            self.tally.already += 1;
            self.pb.inc(1);
            return Ok(());
        }
        let limit = self.store.config().max_torrent_size as u64;
        let bytes = match self.get(&format!("/torrent/{key}.torrent"), limit)? {
            Ok(b) => b,
            Err(msg) => {
                self.pb
                    .suspend(|| self.tally.fail(&key.to_string(), &msg, msg.clone()));
                self.pb.inc(1);
                return Ok(());
            }
        };
        // Validated here first, so that a file under the wrong hash is never even staged.
        let staged = crate::torrent::validate(&bytes)
            .map_err(PutError::Invalid)
            .and_then(|parsed| {
                let v2 = parsed.v2.as_ref().map(Key::from_v2);
                if parsed.key() == key || v2 == Some(key) {
                    self.store.stage_parsed(&bytes, &parsed).map(Some)
                } else {
                    Ok(None)
                }
            });
        match staged {
            Ok(Some(st)) => {
                if self.batch.is_empty() {
                    self.batch_started = Instant::now();
                }
                self.batch.push(st);
            }
            Ok(None) => {
                let msg = "hash mismatch: the source sent another torrent";
                self.pb
                    .suspend(|| self.tally.fail(&key.to_string(), msg, msg.into()));
                self.pb.inc(1);
            }
            Err(e @ PutError::Storage(_)) => return Err(Fatal(e.to_string())),
            Err(e) => {
                let msg = e.to_string();
                self.pb
                    .suspend(|| self.tally.fail(&key.to_string(), &msg, reason_class(&msg)));
                self.pb.inc(1);
            }
        }
        if self.batch.len() >= MIRROR_BATCH || self.batch_started.elapsed() >= MIRROR_BATCH_INTERVAL
        {
            self.commit()?;
        }
        Ok(())
    }

    fn run(&mut self, since: Option<Day>) -> Result<u64, Fatal> {
        let index = match self.get("/sync/", MAX_INDEX_BYTES)? {
            Ok(b) => b,
            Err(e) => {
                return Err(Fatal(format!(
                    "cannot read the day index {}/sync/: {e}",
                    self.client.base()
                )))
            }
        };
        let days: Vec<Day> = index_days(&String::from_utf8_lossy(&index))
            .into_iter()
            .filter(|d| since.is_none_or(|s| *d >= s))
            .collect();
        let mut listed = 0u64;
        for day in days {
            let name = day.file_name();
            let body = match self.get(&format!("/sync/{name}"), MAX_DAY_LIST_BYTES)? {
                Ok(b) => b,
                Err(msg) => {
                    let class = format!("day list: {msg}");
                    self.pb.suspend(|| self.tally.fail(&name, &msg, class));
                    continue;
                }
            };
            let (keys, bad) = list_keys(&body);
            for _ in 0..bad {
                self.pb
                    .suspend(|| self.tally.fail(&name, BAD_LINE, BAD_LINE.into()));
            }
            // Repeats within a list are dropped; across days none are expected (a key is listed
            // the day it was first stored), and one would only count as "already there": no
            // set of every key seen is kept, so memory stays flat however large the source.
            let mut seen = HashSet::with_capacity(keys.len());
            let keys: Vec<Key> = keys.into_iter().filter(|k| seen.insert(*k)).collect();
            drop(seen);
            listed += keys.len() as u64;
            self.pb.inc_length(keys.len() as u64);
            self.pb.set_message(name);
            for key in keys {
                self.one(key)?;
            }
        }
        self.commit()?;
        Ok(listed)
    }
}

pub fn run(store: &Store, args: &MirrorArgs) -> Result<i32, i32> {
    let started = Instant::now();
    let pb = super::progress_bar(args.quiet);
    let mut m = Mirror {
        store,
        client: Client::new(args.from.clone()),
        tally: Tally::default(),
        batch: Vec::new(),
        batch_started: Instant::now(),
        net_failures: 0,
        pb: pb.clone(),
    };
    let result = m.run(args.since);
    pb.finish_and_clear();
    let t = &m.tally;
    let listed = result.as_ref().map_or_else(
        |_| t.fetched + t.already + t.blocked_here + t.failed,
        |n| *n,
    );
    println!(
        "{listed} hashes listed by {} in {:.1} s: {} fetched, {} already there, {} failed{}",
        args.from,
        started.elapsed().as_secs_f64(),
        t.fetched,
        t.already,
        t.failed,
        if t.blocked_here > 0 {
            format!(", {} blocked here (not fetched)", t.blocked_here)
        } else {
            String::new()
        }
    );
    let mut reasons: Vec<_> = t.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (reason, n) in reasons {
        println!("  {n:>8}  {reason}");
    }
    if let Err(Fatal(msg)) = result {
        eprintln!("thetorrent: mirror stopped: {msg}; files counted above are stored");
        return Err(EXIT_FAILURE);
    }
    Ok(if t.failed > 0 { EXIT_REJECTED } else { EXIT_OK })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_an_index() {
        let html = "<ul><li><a href=\"20261126.txt\">20261126.txt</a> 3</li>\n\
                    <li><a href='/sync/20261125.txt'>x</a></li>\
                    <li><a href=20240101.txt>y</a></li>\
                    <li><a href=\"20261126.txt\">again</a></li>\
                    <li><a href=\"../etc/passwd\">no</a><a href=\"2026112.txt\">no</a>\
                    <a href=\"20261399.txt\">no</a><a href=\"/style.css\">no</a>";
        assert_eq!(
            index_days(html),
            vec![Day(20240101), Day(20261125), Day(20261126)]
        );
        assert!(index_days("").is_empty());
        assert!(index_days("href=").is_empty());
    }

    #[test]
    fn keys_from_a_list() {
        let a = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
        let body = format!("{a}\n{}\r\n\nnot a hash\n{}\n", a.to_lowercase(), &a[..32]);
        let (keys, bad) = list_keys(body.as_bytes());
        assert_eq!(keys, vec![Key::parse(a).unwrap(); 2]);
        assert_eq!(bad, 2);
    }
}
