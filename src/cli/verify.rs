//! `thetorrent verify [--repair-from URL]`: checks every stored file's bytes (in parallel),
//! reports each damaged or missing one by path with what is wrong, and with `--repair-from`
//! replaces it with the same torrent fetched from another instance, once the fetched bytes
//! are proven to be the stored ones.
//!
//! Checked for each stored file: the whole-file checksum recorded when it was stored (locally
//! an extended attribute; on S3 the object's ETag, the MD5 of its body) and the info hash its
//! name is; for each day-list line, that its file exists; and that the count agrees with the
//! files. A damaged file is still a stored torrent: it is counted, so a damaged file never
//! reads as a count to rebuild. Without `--repair-from` nothing is changed.
//!
//! Owns: the walk, the report and its exit code, fetching replacements. Must never: replace a
//! file with bytes `storage::integrity::proves` refused, or replace a file that is not damaged.

use super::mirror::{FetchError, Source};
use super::{CliError, Done};
use crate::storage::integrity::{self, Damage, Recorded, Refusal, Role};
use crate::storage::local::store::{key_of_path, Store};
use crate::storage::s3::{object_key, S3Store};
use crate::storage::{Ids, Storage};
use crate::torrent::hash::Key;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// Objects fetched at once when checking a bucket (the work waits on the network).
pub const S3_VERIFY_JOBS: usize = 8;
/// Items queued for the checking threads.
const QUEUE: usize = 1024;

#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// Replace each damaged or missing file with the same torrent fetched from another
    /// thetorrent instance (`URL/torrent/<HASH>.torrent`; `http://` or `https://`), once the
    /// fetched bytes match the checksum recorded here (without one: once their info hash is
    /// the file's name).
    #[arg(long, value_parser = repair_url, value_name = "URL")]
    pub repair_from: Option<String>,
    /// With an `https://` `--repair-from`: trust only the certificates in this PEM file (a
    /// private CA, a self-signed certificate) instead of the built-in web roots.
    #[arg(long, requires = "repair_from")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Checks `--repair-from`: an absolute `http://` or `https://` URL with a host; no query.
fn repair_url(s: &str) -> Result<String, String> {
    super::args::base_url("--repair-from", s)
}

/// What is wrong at one place.
enum Problem {
    /// The stored bytes are damaged or missing: repairable from another instance.
    Damaged {
        name: Key,
        damage: Damage,
        /// What the damaged bytes were checked against: a replacement must match it.
        recorded: Recorded,
    },
    /// Anything else (a file that is not named like a stored torrent, a hybrid's second name
    /// that is a copy instead of a hard link).
    Other(String),
}

/// One problem and where: a path, or an `s3://` location.
struct Finding {
    place: String,
    problem: Problem,
}

/// What the walk found.
#[derive(Default)]
struct Tally {
    checked: u64,
    /// Stored torrents by their files: each primary name, and each damaged file once.
    torrents: u64,
    /// Files checked by their info hash only (no whole-file checksum recorded).
    without_checksum: u64,
    findings: Vec<Finding>,
    /// Damaged files with several names, counted once (device, inode).
    damaged_inodes: HashSet<(u64, u64)>,
}

impl Tally {
    /// Counts one checked file by its verdict's role: a primary name is a torrent, a
    /// hybrid's second name is not, and a file whose bytes cannot say is one when
    /// `unknown_once` says it was not counted under another name.
    fn count(&mut self, role: Role, checksum: bool, unknown_once: impl FnOnce(&mut Self) -> bool) {
        self.checked += 1;
        let counts = match role {
            Role::Primary => true,
            Role::Link => false,
            Role::Unknown => unknown_once(self),
        };
        if counts {
            self.torrents += 1;
            if !checksum {
                self.without_checksum += 1;
            }
        }
    }

    fn damaged(&mut self, place: String, name: Key, damage: Damage, recorded: Recorded) {
        self.findings.push(Finding {
            place,
            problem: Problem::Damaged {
                name,
                damage,
                recorded,
            },
        });
    }

    /// A stored file that could not be read: counted (as a torrent when `unknown_once` says
    /// so) and reported damaged, on disk and in a bucket alike.
    fn unreadable(
        &mut self,
        place: String,
        name: Key,
        error: String,
        unknown_once: impl FnOnce(&mut Self) -> bool,
    ) {
        self.count(Role::Unknown, true, unknown_once);
        self.damaged(place, name, Damage::Unreadable(error), Recorded::None);
    }
}

/// Why a damaged file was not repaired.
enum RepairError {
    /// The other instance could not be asked (its base URL, the error).
    Fetch(String, FetchError),
    /// It answered something else than the file (its base URL, the status).
    Status(String, u16),
    /// What it sent is not proven to be the stored torrent (its base URL, why).
    Refused(String, Refusal),
    /// The proven bytes could not be put in place (the error, with its path).
    Replace(String),
}

impl std::fmt::Display for RepairError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepairError::Fetch(from, e) => write!(f, "cannot fetch it from {from}: {e}"),
            RepairError::Status(from, s) => write!(f, "{from} answered HTTP {s}"),
            RepairError::Refused(from, why) => {
                write!(f, "the bytes {from} sent are refused: {why}")
            }
            RepairError::Replace(e) => write!(f, "cannot put the proven bytes in place: {e}"),
        }
    }
}

/// Where the stored bytes live, as the repair sees them.
trait Target {
    /// Largest file fetched.
    fn limit(&self) -> u64;
    /// Whether the bytes at `place` verify now (a hybrid's other name, the same file, was
    /// repaired first).
    fn fine_now(&self, place: &str, name: &Key) -> bool;
    /// Puts proven `bytes` in place (over the damaged file with `overwrite`).
    fn replace(&self, name: &Key, ids: &Ids, bytes: &[u8], overwrite: bool)
        -> Result<bool, String>;
}

/// The instance repairs are fetched from (`--repair-from`), set up before anything is read so
/// that a bad `--ca-file` stops the command at once.
fn source(args: &VerifyArgs) -> Result<Option<Source>, CliError> {
    args.repair_from
        .as_deref()
        .map(|url| Source::new(url, args.ca_file.as_deref()))
        .transpose()
}

/// Runs `work` on `jobs` threads over the items `produce` sends; returns what `produce` did.
fn parallel<T: Send, R>(
    jobs: usize,
    produce: impl FnOnce(&mpsc::SyncSender<T>) -> R,
    work: impl Fn(T) + Sync,
) -> R {
    let (tx, rx) = mpsc::sync_channel::<T>(QUEUE);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (rx, work) = (&rx, &work);
            s.spawn(move || loop {
                let Ok(Ok(item)) = rx.lock().map(|r| r.recv()) else {
                    return;
                };
                work(item);
            });
        }
        let r = produce(&tx);
        drop(tx);
        r
    })
}

/// Checks a local data directory.
pub fn run(store: &Store, args: &VerifyArgs) -> Result<Done, CliError> {
    let source = source(args)?;
    let tally = Mutex::new(Tally::default());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let walk = parallel(
        jobs,
        |tx| {
            store.walk(|path, meta| {
                use std::os::unix::fs::MetadataExt;
                let _ = tx.send((path.to_path_buf(), meta.nlink(), (meta.dev(), meta.ino())));
            })
        },
        |(path, nlink, inode)| check_local(&path, nlink, inode, &tally),
    );
    if let Err(e) = walk {
        return Err(CliError::Storage(format!(
            "cannot walk {}: {e}",
            store.root().display()
        )));
    }
    let mut tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let missing = missing_local(store, &mut tally)
        .map_err(|e| CliError::Storage(format!("cannot read the day lists: {e}")))?;
    let target = LocalTarget(store);
    Ok(finish(
        tally,
        store.count(),
        missing,
        source.as_ref().map(|s| (s, &target as &dyn Target)),
    ))
}

/// Checks one file of the walk.
fn check_local(path: &Path, nlink: u64, inode: (u64, u64), tally: &Mutex<Tally>) {
    let place = path.display().to_string();
    let lock = || tally.lock().unwrap_or_else(|p| p.into_inner());
    let once = |t: &mut Tally| nlink <= 1 || t.damaged_inodes.insert(inode);
    let Some(name) = key_of_path(path) else {
        let mut t = lock();
        t.checked += 1;
        t.findings.push(Finding {
            place,
            problem: Problem::Other("not a stored torrent's name".into()),
        });
        return;
    };
    let file = match Store::read_stored(path) {
        Ok(f) => f,
        Err(e) => {
            lock().unreadable(place, name, e.to_string(), once);
            return;
        }
    };
    let v = integrity::check(&name, &file.bytes, &file.recorded);
    let mut t = lock();
    t.count(v.role, v.checksum, once);
    if let Some(damage) = v.damage {
        t.damaged(place, name, damage, file.recorded);
    } else if v.role == Role::Link && file.nlink <= 1 {
        t.findings.push(Finding {
            place,
            problem: Problem::Other(
                "a hybrid's second name, but a copy instead of a hard link of its first".into(),
            ),
        });
    }
}

/// Every day-list line whose file does not exist. Returns how many.
fn missing_local(store: &Store, tally: &mut Tally) -> std::io::Result<u64> {
    use crate::storage::day::LINE_LEN;
    let mut missing = 0;
    for day in store.days().days()? {
        for line in store.days().read(day)?.chunks_exact(LINE_LEN as usize) {
            let Some(key) = std::str::from_utf8(&line[..40])
                .ok()
                .and_then(|h| Key::parse(h).ok())
            else {
                continue;
            };
            if !store.contains(&key) {
                missing += 1;
                let place = store.torrent_path(&key).display().to_string();
                tally.damaged(place, key, Damage::Missing, Recorded::None);
            }
        }
    }
    Ok(missing)
}

struct LocalTarget<'a>(&'a Store);

impl Target for LocalTarget<'_> {
    fn limit(&self) -> u64 {
        self.0.config().max_torrent_size as u64
    }

    fn fine_now(&self, place: &str, name: &Key) -> bool {
        Store::read_stored(Path::new(place)).is_ok_and(|f| {
            integrity::check(name, &f.bytes, &f.recorded)
                .damage
                .is_none()
        })
    }

    fn replace(
        &self,
        _name: &Key,
        ids: &Ids,
        bytes: &[u8],
        overwrite: bool,
    ) -> Result<bool, String> {
        self.0
            .replace(ids, bytes, overwrite)
            .map_err(|e| e.to_string())
    }
}

/// Checks a bucket.
pub fn run_s3(store: &S3Store, args: &VerifyArgs) -> Result<Done, CliError> {
    let source = source(args)?;
    let cannot = |e: crate::storage::s3::client::S3Error| {
        CliError::Storage(format!("cannot read {}: {e}", store.describe()))
    };
    let objects = store.torrent_objects().map_err(cannot)?;
    let listed = store.listed_keys().map_err(cannot)?;
    let listed_set: HashSet<Key> = listed.iter().map(|(_, k)| *k).collect();
    let tally = Mutex::new(Tally::default());
    let names: HashSet<Key> = objects.iter().map(|(_, k)| *k).collect();
    parallel(
        S3_VERIFY_JOBS,
        |tx| {
            for o in objects {
                let _ = tx.send(o);
            }
        },
        |(object, name)| {
            // Copies are separate objects: a damaged one whose bytes cannot say what it is
            // counts as a torrent when the lists name it (a hybrid's second copy is unlisted).
            let once = |_: &mut Tally| listed_set.contains(&name);
            let place = store.location(&object);
            let lock = || tally.lock().unwrap_or_else(|p| p.into_inner());
            match store.read_stored(&object) {
                Ok(None) => {} // deleted since the listing
                Ok(Some((bytes, recorded))) => {
                    let v = integrity::check(&name, &bytes, &recorded);
                    let mut t = lock();
                    t.count(v.role, v.checksum, once);
                    if let Some(damage) = v.damage {
                        t.damaged(place, name, damage, recorded);
                    }
                }
                Err(e) => lock().unreadable(place, name, e.to_string(), once),
            }
        },
    );
    let mut tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut missing = 0;
    for key in listed_set.iter().filter(|k| !names.contains(k)) {
        missing += 1;
        let place = store.location(&object_key(key));
        tally.damaged(place, *key, Damage::Missing, Recorded::None);
    }
    let target = S3Target(store);
    Ok(finish(
        tally,
        store.count(),
        missing,
        source.as_ref().map(|s| (s, &target as &dyn Target)),
    ))
}

struct S3Target<'a>(&'a S3Store);

impl Target for S3Target<'_> {
    fn limit(&self) -> u64 {
        self.0.config().max_torrent_size as u64
    }

    /// Never: each copy is its own object, which no other repair touches.
    fn fine_now(&self, _place: &str, _name: &Key) -> bool {
        false
    }

    fn replace(
        &self,
        name: &Key,
        _ids: &Ids,
        bytes: &[u8],
        overwrite: bool,
    ) -> Result<bool, String> {
        self.0
            .replace(name, bytes, overwrite)
            .map_err(|e| e.to_string())
    }
}

/// Prints the findings (and repairs them from `repair`), the count check and the summary;
/// returns the exit code.
fn finish(
    mut tally: Tally,
    count: u64,
    missing: u64,
    repair: Option<(&Source, &dyn Target)>,
) -> Done {
    tally.findings.sort_by(|a, b| a.place.cmp(&b.place));
    let mut problems = tally.findings.len() as u64;
    for f in &tally.findings {
        match &f.problem {
            Problem::Damaged { damage, .. } => println!("{}: {damage}", f.place),
            Problem::Other(what) => println!("{}: {what}", f.place),
        }
    }
    if count != tally.torrents + missing {
        let missing = if missing > 0 {
            format!(" and {missing} listed are missing")
        } else {
            String::new()
        };
        println!(
            "count is {count} but {} torrents are stored{missing} (run `thetorrent reindex`)",
            tally.torrents
        );
        problems += 1;
    }
    let repaired = match repair {
        Some((from, target)) => repair_all(&tally.findings, from, target),
        None => 0,
    };
    println!(
        "{} files checked, {} torrents, {problems} problems{}",
        tally.checked,
        tally.torrents,
        if repair.is_some() {
            format!(", {repaired} repaired")
        } else {
            String::new()
        }
    );
    if tally.without_checksum > 0 {
        println!(
            "{} files have no whole-file checksum (stored before checksums were kept, or copied \
             without their extended attributes): only their info hash was checked; \
             `thetorrent reindex` records one for each",
            tally.without_checksum
        );
    }
    Done::unless(problems != repaired)
}

/// Repairs every damaged or missing file from the instance at `from`; returns how many.
fn repair_all(findings: &[Finding], from: &Source, target: &dyn Target) -> u64 {
    let mut repaired = 0;
    for f in findings {
        let Problem::Damaged {
            name,
            damage,
            recorded,
        } = &f.problem
        else {
            continue;
        };
        let missing = *damage == Damage::Missing;
        if !missing && target.fine_now(&f.place, name) {
            println!(
                "{}: repaired (the same file as a name repaired above)",
                f.place
            );
            repaired += 1;
            continue;
        }
        match repair_one(from, target, name, recorded, missing) {
            Ok(how) => {
                println!("{}: repaired from {} ({how})", f.place, from.base);
                repaired += 1;
            }
            Err(why) => println!("{}: not repaired: {why}", f.place),
        }
    }
    repaired
}

/// Fetches `name` from the other instance, proves the bytes and puts them in place.
fn repair_one(
    source: &Source,
    target: &dyn Target,
    name: &Key,
    recorded: &Recorded,
    missing: bool,
) -> Result<String, RepairError> {
    let from = source.base.clone();
    let (status, body) = source
        .get(&format!("/torrent/{name}.torrent"), target.limit())
        .map_err(|e| RepairError::Fetch(from.clone(), e))?;
    if status != 200 {
        return Err(RepairError::Status(from, status));
    }
    let ids =
        integrity::proves(name, &body, recorded).map_err(|why| RepairError::Refused(from, why))?;
    let placed = target
        .replace(name, &ids, &body, !missing)
        .map_err(RepairError::Replace)?;
    if !placed {
        return Ok("a file appeared meanwhile; it was left as it is".into());
    }
    Ok(format!("bytes proven by the {}", recorded.name()))
}
