//! `thetorrent fetch MAGNET|HASH…`, and the fetch options `serve` shares with it.
//!
//! Owns: the fetch options (DHT node, address policy, job limits) and their conversion to the
//! plain settings `fetch` takes; what `fetch` prints (`<HASH>  <name>` per stored torrent on stdout,
//! progress and failures with their reason on stderr) and its exit code. Must never: store
//! anything but through the fetcher (which stores through `Storage::put`), or print a hash as
//! stored before its job said so.

use super::args::secs;
use super::{CliError, Done};
use crate::fetch::dht::DhtConfig;
use crate::fetch::job::{
    FetchConfig, FetchError, Fetcher, Handle, Outcome, Request, DEFAULT_FETCH_JOBS, QUEUE_PER_JOB,
};
use crate::fetch::magnet::Magnet;
use crate::fetch::policy::AddrPolicy;
use crate::fetch::Target;
use crate::storage::Storage;
use std::io::Write;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often `fetch` says how far it is while nothing finishes.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Options of fetching from the swarm (`serve --fetch` and `fetch`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = super::args::heading::FETCHING)]
pub struct FetchArgs {
    /// UDP address of the DHT node, IPv4 (default 0.0.0.0:6881, or a free port when 6881 is
    /// taken).
    #[arg(long, value_name = "ADDR")]
    pub dht_listen: Option<SocketAddrV4>,
    /// A DHT node to bootstrap from, HOST:PORT; may be repeated (default: the public routers
    /// router.bittorrent.com, router.utorrent.com, dht.transmissionbt.com, dht.libtorrent.org).
    #[arg(long, value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// No DHT: search only the trackers (tr=) and peers (x.pe=) a magnet link names.
    #[arg(long)]
    pub no_dht: bool,
    /// Accept loopback, private and link-local addresses as peers, trackers and DHT nodes
    /// (tests, LANs); refused by default.
    #[arg(long)]
    pub fetch_allow_private: bool,
    /// One fetch's whole budget, in seconds.
    #[arg(long, value_parser = secs, default_value = "120", value_name = "SECONDS")]
    pub fetch_timeout: Duration,
    /// Fetches running at once (each slot also queues 4 waiting ones).
    #[arg(long, default_value_t = DEFAULT_FETCH_JOBS, value_name = "N")]
    pub fetch_jobs: usize,
    /// Seconds a failed hash is answered from memory before it is searched again.
    #[arg(long, value_parser = secs, default_value = "600", value_name = "SECONDS")]
    pub fetch_miss_ttl: Duration,
}

impl FetchArgs {
    pub fn policy(&self) -> AddrPolicy {
        AddrPolicy {
            allow_private: self.fetch_allow_private,
        }
    }

    /// The DHT node to start (none with `--no-dht`).
    pub fn dht(&self) -> Option<DhtConfig> {
        (!self.no_dht).then(|| DhtConfig {
            listen: self.dht_listen,
            bootstrap: self.dht_bootstrap.clone(),
            policy: self.policy(),
        })
    }

    /// The jobs' settings; `queue` overrides the queue length (`fetch` queues every input).
    pub fn config(&self, queue: Option<usize>) -> FetchConfig {
        let jobs = self.fetch_jobs.max(1);
        FetchConfig {
            jobs,
            queue: queue.unwrap_or(jobs * QUEUE_PER_JOB),
            timeout: self.fetch_timeout,
            miss_ttl: self.fetch_miss_ttl,
            policy: self.policy(),
        }
    }
}

/// `thetorrent fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchCmd {
    /// Magnet links (magnet:?xt=…, with their tr= and x.pe= used as sources) or info hashes
    /// (40 hex, 32 base32, or a 64-hex v2 hash).
    #[arg(required = true, value_name = "MAGNET|HASH")]
    pub what: Vec<String>,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// What one argument asks for.
pub fn request_of(arg: &str) -> Result<Request, String> {
    let arg = arg.trim();
    if arg.len() >= 7 && arg[..7].eq_ignore_ascii_case("magnet:") {
        return Magnet::parse(arg)
            .map(Request::from)
            .map_err(|e| e.to_string());
    }
    Target::parse(arg)
        .map(Request::from)
        .ok_or_else(|| "not a magnet link or an info hash (40 hex, 32 base32, 64 hex)".into())
}

/// Fetches every argument into `storage`; prints as each one ends.
pub fn run(storage: Arc<dyn Storage>, cmd: &FetchCmd) -> Result<Done, CliError> {
    let dht = cmd.fetch.dht();
    let config = cmd.fetch.config(Some(cmd.what.len()));
    let fetcher = Fetcher::launch(storage, dht.as_ref(), config).map_err(CliError::storage)?;
    let mut tally = Tally::default();
    let mut pending: Vec<(&str, Handle)> = Vec::new();
    for arg in &cmd.what {
        match request_of(arg)
            .map_err(FetchErrorText::Input)
            .and_then(|r| fetcher.start(r).map_err(FetchErrorText::Fetch))
        {
            Ok(h) => pending.push((arg, h)),
            Err(e) => tally.failed(arg, e),
        }
    }
    let total = pending.len();
    eprintln!(
        "thetorrent: fetching {total} torrent{} ({} at once, {} s each at most)",
        if total == 1 { "" } else { "s" },
        fetcher.config().jobs,
        fetcher.config().timeout.as_secs()
    );
    let started = Instant::now();
    let mut said = Instant::now();
    while !pending.is_empty() {
        let mut i = 0;
        while i < pending.len() {
            match pending[i].1.wait(Duration::ZERO) {
                Some(outcome) => {
                    let (arg, _) = pending.swap_remove(i);
                    tally.outcome(arg, outcome);
                }
                None => i += 1,
            }
        }
        if let Some((_, h)) = pending.first() {
            h.wait(Duration::from_millis(100));
        }
        if !pending.is_empty() && said.elapsed() >= PROGRESS_EVERY {
            let s = fetcher.stats();
            eprintln!(
                "thetorrent: {} of {total} done after {} s; {} searching, {} peers tried",
                total - pending.len(),
                started.elapsed().as_secs(),
                s.running,
                s.peers_tried
            );
            said = Instant::now();
        }
    }
    tally.done()
}

/// Why an argument was not fetched.
enum FetchErrorText {
    Input(String),
    Fetch(FetchError),
}

impl std::fmt::Display for FetchErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchErrorText::Input(e) => f.write_str(e),
            FetchErrorText::Fetch(e) => write!(f, "{e}"),
        }
    }
}

/// How the arguments went so far.
#[derive(Default)]
struct Tally {
    rejected: bool,
    /// The first failure of our own storage: it ends the command as a storage error.
    storage: Option<String>,
}

impl Tally {
    /// Prints one outcome: `<HASH>  <name>` on stdout, or the argument and why on stderr.
    fn outcome(&mut self, arg: &str, outcome: Outcome) {
        match outcome {
            Ok(f) => {
                let name = crate::torrent::summary(&f.bytes)
                    .map(|s| s.name)
                    .unwrap_or_default();
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}  {}",
                    f.ids.key,
                    name.replace(['\n', '\r'], " ")
                );
                if !f.new {
                    eprintln!("already stored: {}", f.ids.key);
                }
            }
            Err(e) => self.failed(arg, FetchErrorText::Fetch(e)),
        }
    }

    fn failed(&mut self, arg: &str, e: FetchErrorText) {
        eprintln!("{arg}: {e}");
        match e {
            FetchErrorText::Fetch(FetchError::Storage(m)) => {
                self.storage.get_or_insert(m);
            }
            _ => self.rejected = true,
        }
    }

    fn done(self) -> Result<Done, CliError> {
        match self.storage {
            Some(m) => Err(CliError::Storage(m)),
            None => Ok(Done::unless(self.rejected)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let hex = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
        let r = request_of(hex).unwrap();
        assert_eq!(r.target.key().unwrap().to_string(), hex);
        let r = request_of(&format!(
            "MAGNET:?xt=urn:btih:{hex}&tr=udp://t:1/a&x.pe=192.0.2.1:6881"
        ))
        .unwrap();
        assert_eq!(r.trackers, ["udp://t:1/a"]);
        assert_eq!(r.peers.len(), 1);
        assert!(request_of("magnet:?dn=x")
            .unwrap_err()
            .contains("without a usable hash"));
        assert!(request_of("hello")
            .unwrap_err()
            .contains("not a magnet link"));
    }
}
