//! The process's DHT node (BEP 5, the `mainline` crate): finds the peers of an info hash.
//!
//! Owns: starting the one node a process runs (listen address, bootstrap nodes), and bridging
//! its blocking lookups to callers that run on may coroutines: each lookup iterates on a plain
//! thread of its own and hands batches of peers to the caller's closure. Must never: call a
//! blocking `mainline` method on a may worker, pass on a peer or use a bootstrap node the
//! address policy refuses (`mainline` filters neither), or run more than [`MAX_DHT_LOOKUPS`]
//! lookup threads at once.
//!
//! `mainline` speaks IPv4 only. The nodes it learns from other nodes are its own business: the
//! policy applies to what this process is told to contact (bootstrap nodes) and to the peers
//! it passes on, which are what a job connects to.

use super::policy::AddrPolicy;
use crate::torrent::hash::Key;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The DHT's customary port, used by `--dht-listen`'s default (`0.0.0.0:6881`).
pub const DEFAULT_DHT_PORT: u16 = 6881;
/// The well-known public routers a node bootstraps from unless `--dht-bootstrap` is given.
pub const DEFAULT_BOOTSTRAP: [&str; 4] = [
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
];
/// Most lookups running at once. A lookup's thread lives until `mainline` ends the query
/// (seconds on the public network), also after the job that asked is over, so jobs that
/// come and go quickly could otherwise pile threads up.
pub const MAX_DHT_LOOKUPS: usize = 64;
/// Most peers one lookup passes on; a job tries far fewer (see `job::MAX_PEERS_PER_JOB`).
pub const MAX_DHT_PEERS: usize = 200;

/// How to start the node.
#[derive(Debug, Clone)]
pub struct DhtConfig {
    /// Where to listen (UDP). `None`: `0.0.0.0:6881`, or any free port when that one is taken.
    pub listen: Option<SocketAddrV4>,
    /// `HOST:PORT` of the nodes to bootstrap from; empty: [`DEFAULT_BOOTSTRAP`].
    pub bootstrap: Vec<String>,
    pub policy: AddrPolicy,
}

/// Why the node did not start or a lookup was not made.
#[derive(Debug)]
pub enum DhtError {
    /// The UDP socket could not be bound.
    Listen { addr: String, source: io::Error },
    /// [`MAX_DHT_LOOKUPS`] lookups are running.
    Busy,
    /// The lookup thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for DhtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhtError::Listen { addr, source } => {
                write!(f, "dht: cannot listen on {addr}: {source}")
            }
            DhtError::Busy => write!(
                f,
                "dht: {MAX_DHT_LOOKUPS} lookups are running (limit reached)"
            ),
            DhtError::Thread(e) => write!(f, "dht: cannot start a lookup thread: {e}"),
        }
    }
}

impl std::error::Error for DhtError {}

/// A running DHT node. Cheap to share (`Arc`); dropping the last handle stops the node.
pub struct Dht {
    node: mainline::Dht,
    policy: AddrPolicy,
    local: SocketAddrV4,
    bootstrap: Vec<SocketAddrV4>,
    lookups: Arc<AtomicUsize>,
}

/// The bootstrap nodes of `names` the policy allows, and the names or addresses it refused
/// or could not resolve (for the log).
pub fn resolve_bootstrap(
    names: &[String],
    policy: &AddrPolicy,
) -> (Vec<SocketAddrV4>, Vec<String>) {
    let names: Vec<&str> = if names.is_empty() {
        DEFAULT_BOOTSTRAP.to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for name in names {
        match name.to_socket_addrs() {
            Ok(addrs) => {
                for a in addrs {
                    match a {
                        SocketAddr::V4(v4) if policy.allows(&a) => {
                            if !ok.contains(&v4) {
                                ok.push(v4);
                            }
                        }
                        _ => refused.push(format!("{name} ({a}: refused by the address policy)")),
                    }
                }
            }
            Err(e) => refused.push(format!("{name} ({e})")),
        }
    }
    (ok, refused)
}

impl Dht {
    /// Starts the node: resolves the bootstrap names (a blocking DNS lookup: call this at
    /// start-up, not on a may worker), binds the socket and lets `mainline` bootstrap in the
    /// background. Bootstrap names that do not resolve or are refused are logged and skipped:
    /// the node still serves lookups once other nodes talk to it.
    #[allow(deprecated)] // mainline's blocking API is the one meant for non-async callers
    pub fn start(cfg: &DhtConfig) -> Result<Dht, DhtError> {
        let (bootstrap, refused) = resolve_bootstrap(&cfg.bootstrap, &cfg.policy);
        for r in &refused {
            eprintln!("thetorrent: dht: bootstrap node {r} not used");
        }
        let mut b = mainline::Dht::builder();
        b.bootstrap(&bootstrap);
        let node = match cfg.listen {
            Some(addr) => b
                .bind_address(*addr.ip())
                .port(addr.port())
                .build()
                .map_err(|source| DhtError::Listen {
                    addr: addr.to_string(),
                    source,
                })?,
            None => b
                .bind_address(Ipv4Addr::UNSPECIFIED)
                .port(DEFAULT_DHT_PORT)
                .build()
                .or_else(|_| b.port(0).build())
                .map_err(|source| DhtError::Listen {
                    addr: format!("0.0.0.0:{DEFAULT_DHT_PORT}"),
                    source,
                })?,
        };
        let local = node.info().local_addr();
        Ok(Dht {
            node,
            policy: cfg.policy,
            local,
            bootstrap,
            lookups: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The UDP address the node listens on.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// The bootstrap nodes in use (after resolution and the policy).
    pub fn bootstrap(&self) -> &[SocketAddrV4] {
        &self.bootstrap
    }

    /// Lookups running now.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Looks up the peers of `key` on a thread of its own. `deliver` gets each new batch of
    /// peers the policy allows (`Some`, never empty; at most [`MAX_DHT_PEERS`] in all), then
    /// `None` once the lookup is over; when it returns `false` the lookup stops delivering.
    /// `deliver` runs on that thread: it must not block for long (a may channel send is fine).
    #[allow(deprecated)] // see `start`
    pub fn get_peers<F>(&self, key: &Key, mut deliver: F) -> Result<(), DhtError>
    where
        F: FnMut(Option<Vec<SocketAddr>>) -> bool + Send + 'static,
    {
        if self.lookups.fetch_add(1, Ordering::AcqRel) >= MAX_DHT_LOOKUPS {
            self.lookups.fetch_sub(1, Ordering::AcqRel);
            return Err(DhtError::Busy);
        }
        let id = mainline::Id::from_bytes(key.0).expect("an info hash is 20 bytes");
        let node = self.node.clone();
        let policy = self.policy;
        let lookups = Arc::clone(&self.lookups);
        let spawned = std::thread::Builder::new()
            .name("dht-lookup".into())
            .spawn(move || {
                let running = Running(lookups);
                let mut seen: Vec<SocketAddr> = Vec::new();
                for batch in node.get_peers(id) {
                    let fresh: Vec<SocketAddr> = batch
                        .into_iter()
                        .map(SocketAddr::V4)
                        .filter(|a| policy.allows(a) && !seen.contains(a))
                        .take(MAX_DHT_PEERS - seen.len())
                        .collect();
                    if fresh.is_empty() {
                        continue;
                    }
                    seen.extend_from_slice(&fresh);
                    if !deliver(Some(fresh)) || seen.len() >= MAX_DHT_PEERS {
                        return;
                    }
                }
                // The query is over: it no longer counts, whatever `deliver` does.
                drop(running);
                deliver(None);
            });
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => {
                self.lookups.fetch_sub(1, Ordering::AcqRel);
                Err(DhtError::Thread(e))
            }
        }
    }
}

/// Counts a lookup thread as running until it ends, however it ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A small DHT of `mainline` nodes on `ip`, one of them announcing `key` with `port`.
    #[allow(deprecated)]
    fn testnet(ip: Ipv4Addr, key: &Key, port: u16) -> mainline::Testnet {
        let net = mainline::Testnet::builder(4)
            .bind_address(ip)
            .build()
            .unwrap();
        let id = mainline::Id::from_bytes(key.0).unwrap();
        net.nodes[0].announce_peer(id, Some(port)).unwrap();
        net
    }

    fn lookup(dht: &Dht, key: &Key) -> Vec<SocketAddr> {
        let (tx, rx) = mpsc::channel();
        dht.get_peers(key, move |b| tx.send(b).is_ok()).unwrap();
        let mut found = Vec::new();
        while let Ok(Some(batch)) = rx.recv_timeout(Duration::from_secs(30)) {
            found.extend(batch);
        }
        found
    }

    fn start(ip: Ipv4Addr, net: &mainline::Testnet, allow_private: bool) -> Dht {
        Dht::start(&DhtConfig {
            listen: Some(SocketAddrV4::new(ip, 0)),
            bootstrap: net.bootstrap.clone(),
            policy: AddrPolicy { allow_private },
        })
        .unwrap()
    }

    #[test]
    fn finds_an_announced_peer() {
        let ip = Ipv4Addr::new(127, 0, 2, 200);
        let key = Key([0x5a; 20]);
        let net = testnet(ip, &key, 51413);
        let dht = start(ip, &net, true);
        assert_eq!(dht.local_addr().ip(), &ip);
        assert_eq!(dht.bootstrap().len(), 4);
        let found = lookup(&dht, &key);
        assert_eq!(found, [SocketAddr::from((ip, 51413))]);
        assert_eq!(lookup(&dht, &Key([0x5b; 20])), []);
    }

    #[test]
    fn the_policy_filters_peers_and_bootstrap_nodes() {
        let ip = Ipv4Addr::new(127, 0, 2, 201);
        let key = Key([0x6a; 20]);
        let net = testnet(ip, &key, 51413);
        // loopback bootstrap nodes are refused: the node knows nobody and finds nothing
        let (ok, refused) = resolve_bootstrap(&net.bootstrap, &AddrPolicy::default());
        assert!(ok.is_empty());
        assert_eq!(refused.len(), 4);
        let dht = start(ip, &net, false);
        assert!(dht.bootstrap().is_empty());
        assert_eq!(lookup(&dht, &key), []);
        // the same DHT with private addresses allowed finds the peer
        let dht = start(ip, &net, true);
        assert_eq!(lookup(&dht, &key).len(), 1);
        assert_eq!(dht.lookups(), 0);
    }

    #[test]
    fn lookups_beyond_the_limit_are_refused_until_one_ends() {
        let ip = Ipv4Addr::new(127, 0, 2, 203);
        let key = Key([0x7a; 20]);
        let net = testnet(ip, &key, 51413);
        let dht = start(ip, &net, true);
        // each lookup holds its thread in `deliver` until released
        let release = Arc::new(std::sync::Barrier::new(MAX_DHT_LOOKUPS + 1));
        for _ in 0..MAX_DHT_LOOKUPS {
            let r = Arc::clone(&release);
            dht.get_peers(&key, move |_| {
                r.wait();
                false
            })
            .unwrap();
        }
        assert!(matches!(
            dht.get_peers(&key, |_| false),
            Err(DhtError::Busy)
        ));
        release.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while dht.lookups() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(dht.lookups(), 0);
        assert_eq!(lookup(&dht, &key).len(), 1);
    }

    #[test]
    fn a_taken_port_is_an_error_naming_it() {
        let ip = Ipv4Addr::new(127, 0, 2, 202);
        let taken = std::net::UdpSocket::bind((ip, 0)).unwrap();
        let addr = match taken.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let err = Dht::start(&DhtConfig {
            listen: Some(addr),
            bootstrap: vec![],
            policy: AddrPolicy::default(),
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
