//! The command line (clap): `serve`, `add`, `import`, `count`, `verify`, `block`, `unblock`,
//! `reindex`, `mirror`, `migrate`, and the hidden `generate` (man pages and completions for the
//! package). `serve`, `add`, `count`, `block`, `unblock` and `reindex` work on either backend
//! (`--store s3://…`); the others walk or write a local data directory.
//!
//! Owns: argument parsing, what each command prints, and the exit codes scripts rely on.
//! Must never: bypass `store` to write the data directory, or print a hash as stored before
//! `Store::commit` returned it.

mod args;
mod generate;
mod import;
mod migrate;
mod mirror;
mod verify;

use crate::storage::local::store::Store;
use crate::storage::local::Local;
use crate::storage::s3::S3Store;
use crate::storage::Outcome;
use crate::storage::{self, Storage};
use crate::torrent::hash::Key;
use args::{S3Args, ServeArgs};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// Everything asked was done (stored or already stored; verify found nothing wrong).
pub const EXIT_OK: i32 = 0;
/// Some inputs were rejected, or `verify` found problems; the rest was done.
pub const EXIT_REJECTED: i32 = 1;
/// Bad arguments (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// The data directory could not be used (I/O error, permissions, disk full).
pub const EXIT_FAILURE: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "thetorrent",
    version,
    propagate_version = true,
    about = "A self-hosted store for .torrent files"
)]
pub struct Cli {
    /// Data directory.
    #[arg(long, global = true, default_value = "./data")]
    pub data: PathBuf,
    /// Largest torrent file accepted, in bytes.
    #[arg(long, global = true, default_value_t = storage::DEFAULT_MAX_TORRENT_SIZE)]
    pub max_torrent_size: usize,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the store over HTTP.
    Serve(ServeArgs),
    /// Store .torrent files; prints `<HASH>  <name>` per file, or its error.
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Store every file under the given folders (recursively) and files, in parallel.
    Import(import::ImportArgs),
    /// Print the number of stored torrents.
    Count,
    /// Re-hash every stored file and report files that are invalid or misnamed.
    Verify,
    /// Take a torrent down: downloads answer 451, uploads are refused.
    Block {
        hash: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift a takedown.
    Unblock { hash: String },
    /// Rebuild the day lists (and so the count and /sync/) by walking the whole tree; with
    /// `--store s3://…`, list the torrents no list segment names (prints how many).
    Reindex,
    /// Fetch what another instance lists under /sync/ and this store does not have.
    Mirror(mirror::MirrorArgs),
    /// Copy a store into another: a local data directory into an S3 bucket or back
    /// (resumable, verifies every file's hash).
    Migrate(migrate::MigrateArgs),
    /// Write the man pages or the shell completions (the packaged copies are in packaging/).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

fn config(cli: &Cli) -> storage::Config {
    storage::Config {
        max_torrent_size: cli.max_torrent_size,
    }
}

fn open(cli: &Cli) -> Result<Store, i32> {
    Store::open(&cli.data, config(cli)).map_err(|e| {
        eprintln!("thetorrent: {e}");
        EXIT_FAILURE
    })
}

/// `open` for the commands that write: a read-only data directory is refused up front.
fn open_writable(cli: &Cli) -> Result<Store, i32> {
    let store = open(cli)?;
    if store.read_only() {
        eprintln!(
            "thetorrent: cannot write data directory {}: read-only file system",
            cli.data.display()
        );
        return Err(EXIT_FAILURE);
    }
    Ok(store)
}

/// The `--store` of the commands that work on either backend.
fn open_storage(cli: &Cli, writable: bool) -> Result<Box<dyn Storage>, i32> {
    match cli.s3.store.as_deref() {
        Some(url) if storage::is_s3_url(url) => S3Store::open(url, &cli.s3.options(), config(cli))
            .map(|s| Box::new(s) as Box<dyn Storage>)
            .map_err(|e| {
                eprintln!("thetorrent: {e}");
                EXIT_FAILURE
            }),
        Some(other) => {
            eprintln!("thetorrent: --store {other}: expected s3://bucket[/prefix] (a local store is --data DIR)");
            Err(EXIT_USAGE)
        }
        None => {
            let store = if writable {
                open_writable(cli)?
            } else {
                open(cli)?
            };
            Ok(Box::new(Local::new(store)))
        }
    }
}

/// The commands that only work on a local data directory refuse `--store s3://…`.
fn local_only(cli: &Cli, what: &str) -> Result<(), i32> {
    if cli.s3.store.is_some() {
        eprintln!(
            "thetorrent: {what} works on a local data directory only (--data); \
             to move a store into a bucket use `thetorrent migrate`"
        );
        return Err(EXIT_USAGE);
    }
    Ok(())
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) | Err(code) => code,
    }
}

fn run(cli: Cli) -> Result<i32, i32> {
    match &cli.command {
        Command::Serve(args) => {
            crate::app::serve(
                cli.data.clone(),
                cli.s3.store.as_deref(),
                &cli.s3.options(),
                config(&cli),
                args.config(),
            )
            .map_err(|e| {
                eprintln!("thetorrent: {e}");
                EXIT_FAILURE
            })?;
            Ok(EXIT_OK)
        }
        Command::Add { files } => add(&*open_storage(&cli, true)?, files),
        Command::Import(args) => {
            local_only(&cli, "import")?;
            import::run(&open_writable(&cli)?, args)
        }
        Command::Count => {
            println!("{}", open_storage(&cli, false)?.count());
            Ok(EXIT_OK)
        }
        Command::Verify => {
            local_only(&cli, "verify")?;
            verify::run(&open(&cli)?)
        }
        Command::Block { hash, reason } => block(&*open_storage(&cli, true)?, hash, Some(reason)),
        Command::Unblock { hash } => block(&*open_storage(&cli, true)?, hash, None),
        Command::Mirror(args) => {
            local_only(&cli, "mirror")?;
            mirror::run(&open_writable(&cli)?, args)
        }
        Command::Migrate(args) => migrate::run(&cli, args),
        Command::Generate(args) => {
            generate::run(args).map_err(|e| {
                eprintln!("thetorrent: {e}");
                EXIT_FAILURE
            })?;
            Ok(EXIT_OK)
        }
        Command::Reindex => {
            if let Some(url) = cli.s3.store.as_deref().filter(|u| storage::is_s3_url(u)) {
                let s3 = S3Store::open(url, &cli.s3.options(), config(&cli)).map_err(|e| {
                    eprintln!("thetorrent: {e}");
                    EXIT_FAILURE
                })?;
                let n = s3.reindex().map_err(|e| {
                    eprintln!("thetorrent: reindex failed: {e}");
                    EXIT_FAILURE
                })?;
                println!("{n}");
                return Ok(EXIT_OK);
            }
            local_only(&cli, "reindex")?;
            let n = open_writable(&cli)?.reindex().map_err(|e| {
                eprintln!("thetorrent: reindex failed: {e}");
                EXIT_FAILURE
            })?;
            println!("{n}");
            Ok(EXIT_OK)
        }
    }
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

/// Reads a file for storing, refusing before reading when it is over the limit.
pub(crate) fn read_limited(
    config: &storage::Config,
    path: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    config.check_size(meta.len()).map_err(|e| e.to_string())?;
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

fn add(storage: &dyn Storage, files: &[PathBuf]) -> Result<i32, i32> {
    let mut code = EXIT_OK;
    let mut out = std::io::stdout().lock();
    for path in files {
        let bytes = match read_limited(storage.config(), path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                code = EXIT_REJECTED;
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
                code = EXIT_REJECTED;
            }
            Err(e) => {
                if let storage::PutError::Storage(err) = &e {
                    eprintln!("thetorrent: {err}");
                }
                eprintln!("{}: {e}", path.display());
                return Err(EXIT_FAILURE);
            }
        }
    }
    Ok(code)
}

fn block(storage: &dyn Storage, hash: &str, reason: Option<&String>) -> Result<i32, i32> {
    let key = Key::parse(hash).map_err(|e| {
        eprintln!("thetorrent: {e}");
        EXIT_USAGE
    })?;
    // A hybrid is blocked (and unblocked) under both of its keys.
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
    let res = match reason {
        Some(r) => storage.block(&keys, r),
        None => storage.unblock(&keys),
    };
    res.map_err(|e| {
        eprintln!("thetorrent: cannot write the blocklist: {e}");
        EXIT_FAILURE
    })?;
    let verb = if reason.is_some() {
        "blocked"
    } else {
        "unblocked"
    };
    for k in keys {
        println!("{verb} {k}");
    }
    Ok(EXIT_OK)
}
