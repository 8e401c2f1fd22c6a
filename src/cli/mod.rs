//! The command line (clap): `serve`, `add`, `import`, `count`, `verify`, `block`, `unblock`,
//! `reindex`, `mirror`.
//!
//! Owns: argument parsing, what each command prints, and the exit codes scripts rely on.
//! Must never: bypass `store` to write the data directory, or print a hash as stored before
//! `Store::commit` returned it.

pub(crate) mod http_client;
mod import;
mod mirror;
mod verify;

use crate::hash::Key;
use crate::store::{self, Outcome, PutError, Store};
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
    about = "A self-hosted store for .torrent files"
)]
pub struct Cli {
    /// Data directory.
    #[arg(long, global = true, default_value = "./data")]
    pub data: PathBuf,
    /// Largest torrent file accepted, in bytes.
    #[arg(long, global = true, default_value_t = store::DEFAULT_MAX_TORRENT_SIZE)]
    pub max_torrent_size: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the store over HTTP.
    Serve(crate::server::ServeArgs),
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
    /// Rebuild the day lists (and so the count and /sync/) by walking the whole tree.
    Reindex,
    /// Fetch what another instance lists under /sync/ and this store does not have.
    Mirror(mirror::MirrorArgs),
}

fn config(cli: &Cli) -> store::Config {
    store::Config {
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

pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) | Err(code) => code,
    }
}

fn run(cli: Cli) -> Result<i32, i32> {
    match &cli.command {
        Command::Serve(args) => {
            crate::server::serve(cli.data.clone(), config(&cli), args.clone()).map_err(|e| {
                eprintln!("thetorrent: {e}");
                EXIT_FAILURE
            })?;
            Ok(EXIT_OK)
        }
        Command::Add { files } => add(&open_writable(&cli)?, files),
        Command::Import(args) => import::run(&open_writable(&cli)?, args),
        Command::Count => {
            println!("{}", open(&cli)?.count());
            Ok(EXIT_OK)
        }
        Command::Verify => verify::run(&open(&cli)?),
        Command::Block { hash, reason } => block(&open_writable(&cli)?, hash, Some(reason)),
        Command::Unblock { hash } => block(&open_writable(&cli)?, hash, None),
        Command::Mirror(args) => mirror::run(&open_writable(&cli)?, args),
        Command::Reindex => {
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
pub(crate) fn read_limited(store: &Store, path: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    store.check_size(meta.len()).map_err(|e| e.to_string())?;
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

fn add(store: &Store, files: &[PathBuf]) -> Result<i32, i32> {
    let mut code = EXIT_OK;
    let mut staged = Vec::new();
    let mut names = Vec::new();
    for path in files {
        let res = read_limited(store, path).and_then(|bytes| {
            let st = store.stage(&bytes).map_err(|e| e.to_string())?;
            let name = crate::torrent::summary(&bytes)
                .map(|s| s.name)
                .unwrap_or_default();
            Ok((st, name))
        });
        match res {
            Ok((st, name)) => {
                staged.push(st);
                names.push(name);
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                code = EXIT_REJECTED;
            }
        }
    }
    let done = store.commit(staged).map_err(|e| {
        eprintln!("thetorrent: {}", PutError::Io(e));
        EXIT_FAILURE
    })?;
    let mut out = std::io::stdout().lock();
    for ((ids, outcome), name) in done.iter().zip(names) {
        let _ = writeln!(out, "{}  {}", ids.key, name.replace(['\n', '\r'], " "));
        if *outcome == Outcome::AlreadyStored {
            eprintln!("already stored: {}", ids.key);
        }
    }
    Ok(code)
}

fn block(store: &Store, hash: &str, reason: Option<&String>) -> Result<i32, i32> {
    let key = Key::parse(hash).map_err(|e| {
        eprintln!("thetorrent: {e}");
        EXIT_USAGE
    })?;
    // A hybrid is blocked (and unblocked) under both of its keys.
    let mut keys = vec![key];
    if let Ok(Some(bytes)) = store
        .open_torrent(&key)
        .map(|f| f.and_then(|_| std::fs::read(store.torrent_path(&key)).ok()))
    {
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
    let bl = store.blocklist();
    let res = match reason {
        Some(r) => bl.block(&keys, r),
        None => bl.unblock(&keys),
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
