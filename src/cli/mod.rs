//! The command line (clap): `serve`, `add`, `import`, `count`, `verify`, `block`, `unblock`,
//! `reindex`, `mirror`, `migrate`, `fetch`, and the hidden `generate` (man pages and
//! completions for the package). `serve`, `add`, `count`, `verify`, `block`, `unblock` and
//! `reindex` work on either backend (`--store s3://…`); the others walk or write a local data
//! directory. Commands that only read (`count`, `verify`) refuse a data directory that does not
//! exist; commands that write refuse one they cannot write (exit 3, naming the path).
//!
//! Owns: argument parsing, what each command prints, and the exit codes scripts rely on: every
//! command returns `Result<Done, CliError>` (`error`), and [`main`] alone prints the error and
//! turns it into the exit code. Must never: bypass `store` to write the data directory, or
//! print a hash as stored before `Store::commit` returned it.

mod args;
mod error;
pub mod fetch;
mod generate;
mod import;
mod migrate;
mod mirror;
mod verify;

pub use error::{CliError, Done, EXIT_OK, EXIT_REJECTED, EXIT_SOURCE, EXIT_STORAGE, EXIT_USAGE};

use crate::storage::local::store::Store;
use crate::storage::local::Local;
use crate::storage::s3::S3Store;
use crate::storage::Outcome;
use crate::storage::{self, Storage};
use crate::torrent::hash::Key;
use args::{heading, S3Args, ServeArgs};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "thetorrent",
    version,
    propagate_version = true,
    about = "A self-hosted store for .torrent files",
    after_help = "Exit status: 0 done; 1 some inputs rejected (the rest done), or nothing to do \
                  (unblock of a hash that is not blocked); 2 bad arguments; 3 the data directory \
                  or bucket cannot be used; 4 (mirror) the source cannot be used."
)]
pub struct Cli {
    /// Data directory.
    #[arg(long, global = true, default_value = "./data", help_heading = heading::STORAGE)]
    pub data: PathBuf,
    /// Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes).
    #[arg(long, global = true, value_parser = args::size_usize, default_value_t = storage::DEFAULT_MAX_TORRENT_SIZE, help_heading = heading::STORAGE)]
    pub max_torrent_size: usize,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start: the size of the serve options' variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the store over HTTP.
    Serve(Box<ServeArgs>),
    /// Store .torrent files; prints `<HASH>  <name>` per file, or its error (for folders, use
    /// `import`).
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Store every file under the given folders (recursively) and files, in parallel.
    Import(import::ImportArgs),
    /// Print the number of stored torrents.
    Count,
    /// Check every stored file's bytes (whole-file checksum and info hash) and report each
    /// damaged or missing one; with `--repair-from URL`, replace it from another instance.
    Verify(verify::VerifyArgs),
    /// Take a torrent down: downloads answer 451, uploads are refused.
    Block {
        hash: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift a takedown (exit 1 when the hash is not blocked).
    Unblock { hash: String },
    /// Rebuild the day lists (and so the count and /sync/) by walking the whole tree; with
    /// `--store s3://…`, list the torrents no list segment names.
    Reindex,
    /// Fetch what another instance lists under /sync/ and this store does not have.
    Mirror(mirror::MirrorArgs),
    /// Copy a store into another: a local data directory into an S3 bucket or back
    /// (resumable, verifies every file's hash).
    Migrate(migrate::MigrateArgs),
    /// Fetch torrents from their swarm (DHT, a magnet link's trackers and peers) into the
    /// store; prints `<HASH>  <name>` per stored torrent, the reason per failed one (stderr).
    Fetch(fetch::FetchCmd),
    /// Write the man pages or the shell completions (the packaged copies are in packaging/).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

fn config(cli: &Cli) -> storage::Config {
    storage::Config {
        max_torrent_size: cli.max_torrent_size,
    }
}

fn open(cli: &Cli) -> Result<Store, CliError> {
    Store::open(&cli.data, config(cli)).map_err(CliError::storage)
}

/// `open` for the commands that only read: a missing data directory is refused, not created.
fn open_existing(cli: &Cli) -> Result<Store, CliError> {
    Store::open_existing(&cli.data, config(cli)).map_err(CliError::storage)
}

/// `open` for the commands that write: a data directory this process cannot write (read-only
/// file system, another owner) is refused up front, with the path that cannot be written.
fn open_writable(cli: &Cli) -> Result<Store, CliError> {
    let store = open(cli)?;
    if store.read_only() {
        return Err(CliError::Storage(format!(
            "cannot write data directory {}: read-only file system",
            cli.data.display()
        )));
    }
    store.check_writable().map_err(CliError::storage)?;
    Ok(store)
}

/// The `--store` of the commands that work on either backend.
fn open_storage(cli: &Cli, writable: bool) -> Result<Box<dyn Storage>, CliError> {
    match cli.s3.store.as_deref() {
        Some(url) if storage::is_s3_url(url) => S3Store::open(url, &cli.s3.options(), config(cli))
            .map(|s| Box::new(s) as Box<dyn Storage>)
            .map_err(CliError::Storage),
        Some(other) => Err(CliError::Usage(format!(
            "--store {other}: expected s3://bucket[/prefix] (a local store is --data DIR)"
        ))),
        None => {
            let store = if writable {
                open_writable(cli)?
            } else {
                open_existing(cli)?
            };
            Ok(Box::new(Local::new(store)))
        }
    }
}

/// The storage `fetch` writes into: a local directory gets the writer thread, so that the
/// fetch jobs (may coroutines) never wait for an fsync on a may worker.
fn open_for_fetch(cli: &Cli) -> Result<std::sync::Arc<dyn Storage>, CliError> {
    if cli.s3.store.is_some() {
        return open_storage(cli, true).map(std::sync::Arc::from);
    }
    let local = Local::with_writer(open_writable(cli)?, 0, 0, None)
        .map_err(|e| CliError::Storage(format!("cannot start the writer thread: {e}")))?;
    Ok(std::sync::Arc::new(local))
}

/// The commands that only work on a local data directory refuse `--store s3://…`.
fn local_only(cli: &Cli, what: &str) -> Result<(), CliError> {
    if cli.s3.store.is_some() {
        return Err(CliError::Usage(format!(
            "{what} works on a local data directory only (--data); \
             to move a store into a bucket use `thetorrent migrate`"
        )));
    }
    Ok(())
}

/// Runs the command line; returns the process's exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(done) => done.code(),
        Err(e) => {
            eprintln!("thetorrent: {e}");
            e.code()
        }
    }
}

fn run(cli: &Cli) -> Result<Done, CliError> {
    match &cli.command {
        Command::Serve(args) => serve(cli, args),
        Command::Add { files } => add(&*open_storage(cli, true)?, files),
        Command::Import(args) => {
            local_only(cli, "import")?;
            import::run(&open_writable(cli)?, args)
        }
        Command::Count => {
            println!("{}", open_storage(cli, false)?.count());
            Ok(Done::All)
        }
        Command::Verify(args) => {
            if let Some(url) = cli.s3.store.as_deref().filter(|u| storage::is_s3_url(u)) {
                let s3 = S3Store::open(url, &cli.s3.options(), config(cli))
                    .map_err(CliError::Storage)?;
                return verify::run_s3(&s3, args);
            }
            local_only(cli, "verify")?;
            match args.repair_from {
                Some(_) => verify::run(&open_writable(cli)?, args),
                None => verify::run(&open_existing(cli)?, args),
            }
        }
        Command::Block { hash, reason } => block(&*open_storage(cli, true)?, hash, reason),
        Command::Unblock { hash } => unblock(&*open_storage(cli, true)?, hash),
        Command::Mirror(args) => {
            local_only(cli, "mirror")?;
            mirror::run(&open_writable(cli)?, args)
        }
        Command::Generate(args) => {
            generate::run(args).map_err(CliError::storage)?;
            Ok(Done::All)
        }
        Command::Migrate(args) => migrate::run(cli, args),
        Command::Fetch(cmd) => {
            // Before the storage opens: its writer and the S3 client use may.
            crate::http::listen::configure_runtime(&crate::http::Config::default());
            fetch::run(open_for_fetch(cli)?, cmd)
        }
        Command::Reindex => reindex(cli),
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<Done, CliError> {
    let serve_config = args.config(cli.max_torrent_size).map_err(CliError::Usage)?;
    crate::app::serve(
        cli.data.clone(),
        cli.s3.store.as_deref(),
        &cli.s3.options(),
        config(cli),
        serve_config,
    )
    .map_err(|e| match e {
        crate::app::ServeError::Setting(m) => CliError::Usage(m),
        crate::app::ServeError::Start(m) => CliError::Storage(m),
    })?;
    Ok(Done::All)
}

/// `reindex`: rebuilds the lists and says what changed.
fn reindex(cli: &Cli) -> Result<Done, CliError> {
    if let Some(url) = cli.s3.store.as_deref().filter(|u| storage::is_s3_url(u)) {
        let s3 = S3Store::open(url, &cli.s3.options(), config(cli)).map_err(CliError::Storage)?;
        let n = s3
            .reindex()
            .map_err(|e| CliError::Storage(format!("reindex of {url} failed: {e}")))?;
        println!(
            "reindexed {url}: {} no list segment named, listed now; {} stored",
            storage_count(n, "stored torrent", "stored torrents"),
            s3.count()
        );
        return Ok(Done::All);
    }
    local_only(cli, "reindex")?;
    let store = open_writable(cli)?;
    let before = store.count();
    let r = store.reindex().map_err(|e| {
        CliError::Storage(format!(
            "reindex of {} failed: {e}; the day lists are as they were",
            cli.data.display()
        ))
    })?;
    let n = r.count;
    let c = r.checksums;
    if c.recorded > 0 || c.left > 0 {
        eprintln!(
            "thetorrent: recorded a whole-file checksum for {} files that had none; {} still \
             have none (their info hash does not match their name: see `verify`; or the file \
             system keeps no extended attributes)",
            c.recorded, c.left
        );
    }
    let days = store.days().days().map(|d| d.len()).unwrap_or(0);
    println!(
        "reindexed {}: {} listed in {} (the count was {before}, now {n})",
        cli.data.display(),
        storage_count(n, "torrent", "torrents"),
        storage_count(days as u64, "day list", "day lists"),
    );
    Ok(Done::All)
}

/// `n` with its noun: `1 torrent`, `3 torrents`.
fn storage_count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The progress bar of bulk commands (rate and ETA; its length grows as work is found), on
/// stderr, or hidden with `--quiet` (indicatif also hides it when stderr is not a terminal).
pub(crate) fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

/// Reads a file for storing, refusing before reading when it is over the limit, when it is a
/// folder, or when it is empty.
pub(crate) fn read_limited(
    config: &storage::Config,
    path: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err(format!(
            "is a folder: to store the files under it, run `thetorrent import {}`",
            path.display()
        ));
    }
    if meta.len() == 0 && meta.is_file() {
        return Err("empty file".into());
    }
    config.check_size(meta.len()).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    Ok(bytes)
}

fn add(storage: &dyn Storage, files: &[PathBuf]) -> Result<Done, CliError> {
    let mut rejected = false;
    let mut out = std::io::stdout().lock();
    for path in files {
        let bytes = match read_limited(storage.config(), path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                rejected = true;
                continue;
            }
        };
        let name = crate::torrent::summary(&bytes)
            .map(|s| s.name)
            .unwrap_or_default();
        match storage.put(bytes) {
            Ok((ids, outcome)) => {
                let _ = writeln!(out, "{}  {}", ids.key, name.replace(['\n', '\r'], " "));
                if outcome == Outcome::AlreadyStored {
                    eprintln!("already stored: {}", ids.key);
                }
            }
            Err(e) if e.is_client_error() => {
                eprintln!("{}: {e}", path.display());
                rejected = true;
            }
            Err(e) => {
                let cause = match &e {
                    storage::PutError::Storage(err) => format!(" ({err})"),
                    _ => String::new(),
                };
                return Err(CliError::Storage(format!(
                    "{}: {e}{cause}; files printed above are stored",
                    path.display()
                )));
            }
        }
    }
    Ok(Done::unless(rejected))
}

/// The keys a hash stands for: itself, and for a stored hybrid its other key too (a hybrid is
/// blocked and unblocked under both).
fn keys_of(storage: &dyn Storage, hash: &str) -> Result<Vec<Key>, CliError> {
    let key = Key::parse(hash).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut keys = vec![key];
    if let Ok(Some(bytes)) = storage.get(&key).map(|f| f.and_then(|f| f.to_vec().ok())) {
        if let Ok(p) = crate::torrent::validate(&bytes) {
            for k in [p.v1.map(Key), p.v2.as_ref().map(Key::from_v2)]
                .into_iter()
                .flatten()
            {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    Ok(keys)
}

fn block(storage: &dyn Storage, hash: &str, reason: &str) -> Result<Done, CliError> {
    let keys = keys_of(storage, hash)?;
    let reason = storage::clean_reason(reason);
    // Only what changes is written: blocking twice adds no second line.
    let new: Vec<Key> = keys
        .iter()
        .copied()
        .filter(|k| storage.blocked(k).as_deref() != Some(reason.as_str()))
        .collect();
    if !new.is_empty() {
        storage
            .block(&new, &reason)
            .map_err(|e| CliError::Storage(format!("cannot write the blocklist: {e}")))?;
    }
    for k in keys {
        if new.contains(&k) {
            println!("blocked {k}");
        } else {
            println!("already blocked {k} (same reason)");
        }
    }
    Ok(Done::All)
}

fn unblock(storage: &dyn Storage, hash: &str) -> Result<Done, CliError> {
    let keys = keys_of(storage, hash)?;
    let blocked: Vec<Key> = keys
        .iter()
        .copied()
        .filter(|k| storage.blocked(k).is_some())
        .collect();
    if blocked.is_empty() {
        return Err(CliError::Refused(format!(
            "{} is not blocked: nothing to unblock",
            keys[0]
        )));
    }
    storage
        .unblock(&blocked)
        .map_err(|e| CliError::Storage(format!("cannot write the blocklist: {e}")))?;
    for k in blocked {
        println!("unblocked {k}");
    }
    Ok(Done::All)
}
