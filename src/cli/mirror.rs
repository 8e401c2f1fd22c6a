//! `thetorrent mirror --from URL [--since YYYYMMDD] [--follow-takedowns]`: copies what another
//! instance stores, over `http://` or `https://`.
//!
//! Reads the other instance's `/sync/` index (links named `YYYYMMDD.txt`), then each day list
//! from `--since` on, and fetches `/torrent/<HASH>.torrent` for every listed hash this store
//! does not have. Each file goes the normal way in: `Store::stage` (size limit, validation,
//! blocklist, temp file) and batched `Store::commit`, as `add` and `import` do. Re-running
//! skips what is already here, so an interrupted mirror is resumed by running it again. A
//! torrent the source answers 451 for was taken down there: it is counted as such, not as a
//! failure. With `--follow-takedowns`, the source's takedowns feed (`/sync/takedowns.txt`) is
//! read first and every hash it lists is blocked here (a block here is never lifted by it).
//!
//! The client is `ureq` with rustls (web roots built in, or `--ca-file`): TLS lives in the
//! command line only; the server speaks plain HTTP behind a proxy.
//!
//! Owns: reading the feeds, deciding what to fetch, the summary and exit code. Must never:
//! write the data directory except through `store`, store a file under a hash other than the
//! one the list named (a mismatch is a failure), fetch a hash blocked here, or hold more than
//! one batch of fetched files in memory.

use super::import::Reasons;
use super::{CliError, Done};
use crate::storage::day::Day;
use crate::storage::local::store::{Staged, Store};
use crate::storage::{Outcome, PutError};
use crate::torrent::hash::Key;
use indicatif::ProgressBar;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest `/sync/` index page accepted, in bytes (about 25 years of days).
pub const MAX_INDEX_BYTES: u64 = 1024 * 1024;
/// Largest day list accepted, in bytes (a million hashes of 41 bytes).
pub const MAX_DAY_LIST_BYTES: u64 = 41 * 1_000_000;
/// Largest takedowns feed accepted, in bytes (100,000 takedowns with reasons of ~120 bytes).
pub const MAX_TAKEDOWNS_BYTES: u64 = 16 * 1024 * 1024;
/// Most fetched files staged before a commit.
pub const MIRROR_BATCH: usize = 256;
/// Longest wait between commits (so a slow source does not hold finished files back).
pub const MIRROR_BATCH_INTERVAL: Duration = Duration::from_secs(2);
/// The source is given up (exit 4) after this many network failures in a row.
pub const MAX_NETWORK_FAILURES_IN_A_ROW: u32 = 20;
/// Longest wait to open a connection to the source (name lookup, TCP, TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole request may take, body included (a day list of a million hashes is 41 MB).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for each read from the source.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed (an `http://` source that moved to `https://`, a proxy's path).
pub const MAX_REDIRECTS: u32 = 5;
/// The path of the takedowns feed under a base URL.
pub const TAKEDOWNS_PATH: &str = "/sync/takedowns.txt";

#[derive(clap::Args, Debug, Clone)]
pub struct MirrorArgs {
    /// Base URL of the other instance: `http://…` or `https://…`, e.g.
    /// `https://torrents.example.org`.
    #[arg(long, value_parser = source_url)]
    pub from: String,
    /// First day (UTC) to copy, `YYYYMMDD` (default: every day the source lists).
    #[arg(long, value_parser = parse_day)]
    pub since: Option<Day>,
    /// Apply the source's takedowns here: block every hash its `/sync/takedowns.txt` lists
    /// (blocks here are never lifted by it; `thetorrent unblock` does that).
    #[arg(long)]
    pub follow_takedowns: bool,
    /// For an `https://` source: trust only the certificates in this PEM file (a private CA,
    /// a self-signed certificate) instead of the built-in web roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Checks `--from`: an absolute `http://` or `https://` URL with a host; no query.
fn source_url(s: &str) -> Result<String, String> {
    super::args::base_url("--from", s)
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

/// The takedowns of a feed: one `HASH` or `HASH<TAB>reason` per line; lines that are not a
/// hash are skipped (counted).
pub fn takedown_keys(body: &[u8]) -> (Vec<(Key, Option<String>)>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let (hash, reason) = match text.split_once('\t') {
            Some((h, r)) => (h, Some(r.trim().to_string()).filter(|r| !r.is_empty())),
            None => (text.as_ref(), None),
        };
        match Key::parse(hash.trim()) {
            Ok(k) => out.push((k, reason)),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

#[derive(Default)]
struct Tally {
    fetched: u64,
    already: u64,
    blocked_here: u64,
    taken_down: u64,
    failed: u64,
    reasons: Reasons,
}

impl Tally {
    /// Counts a failure (its message, with the numbers it has, is what the summary shows).
    fn fail(&mut self, what: &str, msg: &str) {
        self.failed += 1;
        eprintln!("{what}: {msg}");
        self.reasons.add(msg);
    }
}

/// Why a request to the source got no usable answer.
pub(super) enum FetchError {
    /// Name lookup, connect, TLS, a broken or timed-out connection: counts towards giving up.
    Network(String),
    /// The answer was unusable (too large, not HTTP as expected).
    Answer(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Network(m) | FetchError::Answer(m) => f.write_str(m),
        }
    }
}

/// The source: one `ureq` agent (keeping connections alive) and its base URL. `verify
/// --repair-from` fetches replacements through it too.
pub(super) struct Source {
    agent: ureq::Agent,
    pub(super) base: String,
}

impl Source {
    pub(super) fn new(base: &str, ca_file: Option<&Path>) -> Result<Source, CliError> {
        use ureq::tls::{RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        if let Some(path) = ca_file {
            tls = tls.root_certs(RootCerts::new_with_certs(&read_certs(path)?));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_redirects(MAX_REDIRECTS)
            .user_agent(concat!("thetorrent-mirror/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        Ok(Source {
            agent: config.into(),
            base: base.to_string(),
        })
    }

    /// `GET base + path`: the status and the body, read up to `limit` bytes.
    pub(super) fn get(&self, path: &str, limit: u64) -> Result<(u16, Vec<u8>), FetchError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self.agent.get(&url).call().map_err(fetch_error)?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(fetch_error)?;
        Ok((status, body))
    }
}

/// The certificates of a PEM file, for `--ca-file`.
fn read_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, CliError> {
    let bad = |why: String| CliError::Usage(format!("--ca-file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        // Keys and other sections of the file are not certificates: skipped.
        if let ureq::tls::PemItem::Certificate(c) =
            item.map_err(|e| bad(format!("not PEM: {e}")))?
        {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(certs)
}

fn fetch_error(e: ureq::Error) -> FetchError {
    use ureq::Error as E;
    match e {
        E::BodyExceedsLimit(limit) => {
            FetchError::Answer(format!("answer too large: more than {limit} bytes"))
        }
        E::Timeout(_) => FetchError::Network("timed out".into()),
        E::HostNotFound => FetchError::Network("host not found".into()),
        E::ConnectionFailed => FetchError::Network("cannot connect".into()),
        E::Io(e) if e.to_string().contains("certificate") => FetchError::Network(format!(
            "TLS: {e} (a source with a private CA or a self-signed certificate needs \
             --ca-file)"
        )),
        E::Io(e) => FetchError::Network(format!("connection failed: {e}")),
        E::Tls(m) => FetchError::Network(format!("TLS: {m}")),
        E::Rustls(e) => FetchError::Network(format!("TLS: {e}")),
        e @ (E::TooManyRedirects | E::RedirectFailed) => FetchError::Answer(e.to_string()),
        e => FetchError::Answer(format!("bad answer: {e}")),
    }
}

/// A stop: the error that ends the mirror.
type Fatal = CliError;

struct Mirror<'a> {
    store: &'a Store,
    source: Source,
    tally: Tally,
    batch: Vec<Staged>,
    batch_started: Instant,
    net_failures: u32,
    pb: ProgressBar,
}

impl Mirror<'_> {
    /// A GET whose network failures count towards giving up on the source; the body when the
    /// status is 200, else what the status means.
    fn get(&mut self, path: &str, limit: u64) -> Result<Result<Vec<u8>, (u16, String)>, Fatal> {
        match self.source.get(path, limit) {
            Ok((status, body)) => {
                self.net_failures = 0;
                Ok(match status {
                    200 => Ok(body),
                    404 => Err((404, "not found on the source (404)".into())),
                    451 => Err((451, "taken down on the source (451)".into())),
                    s => Err((s, format!("the source answered HTTP {s}"))),
                })
            }
            Err(FetchError::Network(e)) => {
                self.net_failures += 1;
                if self.net_failures >= MAX_NETWORK_FAILURES_IN_A_ROW {
                    return Err(CliError::Source(format!(
                        "giving up on {}: {} network failures in a row, the last: {e}",
                        self.source.base, self.net_failures
                    )));
                }
                Ok(Err((0, e)))
            }
            Err(FetchError::Answer(e)) => Ok(Err((0, e))),
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
            .map_err(|e| {
                let cause = e.to_string();
                CliError::Storage(format!(
                    "cannot store into {}: {} ({cause})",
                    self.store.root().display(),
                    PutError::from(e)
                ))
            })?;
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

    /// `--follow-takedowns`: blocks here every hash the source's feed lists and this store
    /// does not block yet; returns (newly blocked, listed).
    fn follow_takedowns(&mut self) -> Result<(usize, usize), Fatal> {
        let body = match self.get(TAKEDOWNS_PATH, MAX_TAKEDOWNS_BYTES)? {
            Ok(b) => b,
            Err((_, e)) => {
                return Err(CliError::Source(format!(
                    "cannot read the takedowns feed {}{TAKEDOWNS_PATH}: {e} (nothing was \
                     fetched; without --follow-takedowns the mirror runs without it)",
                    self.source.base
                )))
            }
        };
        let (takedowns, bad) = takedown_keys(&body);
        for _ in 0..bad {
            self.tally
                .fail(TAKEDOWNS_PATH, "a line of the takedowns feed is not a hash");
        }
        let listed = takedowns.len();
        let mut new = 0;
        for (key, reason) in takedowns {
            if self.store.blocked(&key).is_some() {
                continue;
            }
            let reason = match reason {
                Some(r) => format!("taken down at {}: {r}", self.source.base),
                None => format!("taken down at {}", self.source.base),
            };
            self.store.blocklist().block(&[key], &reason).map_err(|e| {
                CliError::Storage(format!(
                    "cannot write the blocklist of {}: {e}",
                    self.store.root().display()
                ))
            })?;
            new += 1;
        }
        Ok((new, listed))
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
            Err((451, _)) => {
                self.tally.taken_down += 1;
                self.pb.inc(1);
                return Ok(());
            }
            Err((_, msg)) => {
                self.pb.suspend(|| self.tally.fail(&key.to_string(), &msg));
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
                self.pb.suspend(|| self.tally.fail(&key.to_string(), msg));
                self.pb.inc(1);
            }
            Err(e @ PutError::Storage(_)) => {
                return Err(CliError::Storage(format!(
                    "cannot store into {}: {e}",
                    self.store.root().display()
                )))
            }
            Err(e) => {
                let msg = e.to_string();
                self.pb.suspend(|| self.tally.fail(&key.to_string(), &msg));
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
            Err((_, e)) => {
                return Err(CliError::Source(format!(
                    "cannot read the day index {}/sync/: {e}",
                    self.source.base
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
                Err((_, msg)) => {
                    let msg = format!("day list: {msg}");
                    self.pb.suspend(|| self.tally.fail(&name, &msg));
                    continue;
                }
            };
            let (keys, bad) = list_keys(&body);
            for _ in 0..bad {
                self.pb.suspend(|| self.tally.fail(&name, BAD_LINE));
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

pub fn run(store: &Store, args: &MirrorArgs) -> Result<Done, CliError> {
    let started = Instant::now();
    let source = Source::new(&args.from, args.ca_file.as_deref())?;
    let pb = super::progress_bar(args.quiet);
    let mut m = Mirror {
        store,
        source,
        tally: Tally::default(),
        batch: Vec::new(),
        batch_started: Instant::now(),
        net_failures: 0,
        pb: pb.clone(),
    };
    if args.follow_takedowns {
        let (new, listed) = m.follow_takedowns()?;
        println!(
            "takedowns at {}: {listed} listed, {new} newly blocked here",
            args.from
        );
    }
    let result = m.run(args.since);
    pb.finish_and_clear();
    let t = &m.tally;
    let listed = result.as_ref().map_or_else(
        |_| t.fetched + t.already + t.blocked_here + t.taken_down + t.failed,
        |n| *n,
    );
    let mut extra = String::new();
    if t.taken_down > 0 {
        extra.push_str(&format!(
            ", {} taken down at the source (not fetched)",
            t.taken_down
        ));
    }
    if t.blocked_here > 0 {
        extra.push_str(&format!(", {} blocked here (not fetched)", t.blocked_here));
    }
    println!(
        "{listed} hashes listed by {} in {:.1} s: {} fetched, {} already there, {} failed{extra}",
        args.from,
        started.elapsed().as_secs_f64(),
        t.fetched,
        t.already,
        t.failed,
    );
    for line in t.reasons.lines() {
        println!("{line}");
    }
    match result {
        Err(e) => Err(match e {
            CliError::Source(m) => CliError::Source(format!(
                "mirror stopped: {m}; files counted above are stored"
            )),
            CliError::Storage(m) => CliError::Storage(format!(
                "mirror stopped: {m}; files counted above are stored"
            )),
            other => other,
        }),
        Ok(_) => Ok(Done::unless(t.failed > 0)),
    }
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
