//! Tracker announces, as a peer that downloads nothing, to find a torrent's peers: HTTP
//! (BEP 3, compact peers per BEP 23, `peers6` per BEP 7; [`http`]) and UDP (BEP 15; [`udp`]).
//!
//! Owns: the announce URL's scheme and host, resolving the host (on a plain thread, so a slow
//! resolver never blocks a may worker), the address policy on the tracker's addresses and on
//! the peers returned, decoding peer lists. Must never: speak TLS (`https://` is refused as
//! [`TrackerError::Https`] so callers can count it), follow a redirect, read a response past
//! its cap, ask for more than [`MAX_NUMWANT`] peers or return more than asked, or wait past
//! the announce's deadline.

pub mod http;
pub mod udp;

use super::policy::AddrPolicy;
use super::Target;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest time one announce may take, name lookup included (BEP 15's retry schedule is
/// shortened to fit in it).
pub const TRACKER_TIMEOUT: Duration = Duration::from_secs(15);
/// Peers asked for by default: enough to find a few that answer, most of a tracker's usual
/// answer (opentracker and most public trackers return at most 50 or 200).
pub const NUMWANT: u32 = 50;
/// Most peers ever asked for (and returned): a caller's `numwant` is capped to it.
pub const MAX_NUMWANT: u32 = 200;
/// Largest HTTP tracker response body read. A compact answer for [`MAX_NUMWANT`] IPv6 peers is
/// under 4 KiB; the dictionary form about 60 bytes a peer; the rest is slack for extra keys.
pub const MAX_TRACKER_RESPONSE: usize = 64 * 1024;
/// The port announced (we accept no connections; trackers require one). The BitTorrent
/// default.
pub const ANNOUNCE_PORT: u16 = 6881;
/// The `left` announced: the metadata is unknown so the size is too. Non-zero, so trackers
/// treat us as a leecher and return seeds (some return no seeds to a seed).
pub const ANNOUNCE_LEFT: u64 = 16 * 1024;

/// Limits and policy of one announce.
#[derive(Debug, Clone, Copy)]
pub struct TrackerLimits {
    /// The whole announce, name lookup included.
    pub timeout: Duration,
    /// Peers asked for; capped to [`MAX_NUMWANT`].
    pub numwant: u32,
    /// Largest HTTP response body.
    pub max_response: usize,
    /// The port announced.
    pub port: u16,
    pub policy: AddrPolicy,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        TrackerLimits {
            timeout: TRACKER_TIMEOUT,
            numwant: NUMWANT,
            max_response: MAX_TRACKER_RESPONSE,
            port: ANNOUNCE_PORT,
            policy: AddrPolicy::default(),
        }
    }
}

impl TrackerLimits {
    /// `numwant` within [`MAX_NUMWANT`].
    pub fn numwant(&self) -> u32 {
        self.numwant.min(MAX_NUMWANT)
    }
}

/// Why an announce gave no peers.
#[derive(Debug)]
pub enum TrackerError {
    /// The URL could not be parsed, or lacks a host or (UDP) a port.
    BadUrl(String),
    /// An `https://` tracker: not contacted (no TLS here).
    Https,
    /// A scheme other than `http`, `https` and `udp`.
    UnsupportedScheme(String),
    /// The target has neither a v1 nor a v2 hash.
    NoTarget,
    /// The tracker's host name did not resolve.
    Resolve { host: String, error: String },
    /// Every address of the tracker's host is refused by the address policy.
    AddressRefused { host: String },
    /// No connection (TCP) to any of the tracker's addresses.
    Connect(io::Error),
    /// The announce's deadline passed.
    Timeout,
    /// The connection or socket failed mid-exchange.
    Io(io::Error),
    /// An HTTP status other than 200 (redirects are not followed).
    Status(u16),
    /// The response body was over the cap.
    TooLarge { limit: usize },
    /// The response was not a tracker response.
    Protocol(String),
    /// The tracker answered with an error (`failure reason`, or a UDP error action).
    Failure(String),
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::BadUrl(m) => write!(f, "bad tracker URL: {m}"),
            TrackerError::Https => write!(f, "https trackers are not contacted (no TLS)"),
            TrackerError::UnsupportedScheme(s) => {
                write!(f, "unsupported tracker scheme {s:?}")
            }
            TrackerError::NoTarget => write!(f, "no info hash to announce"),
            TrackerError::Resolve { host, error } => {
                write!(f, "cannot resolve tracker host {host}: {error}")
            }
            TrackerError::AddressRefused { host } => write!(
                f,
                "every address of tracker host {host} is refused by the address policy"
            ),
            TrackerError::Connect(e) => write!(f, "cannot connect to the tracker: {e}"),
            TrackerError::Timeout => write!(f, "the tracker did not answer in time"),
            TrackerError::Io(e) => write!(f, "tracker connection failed: {e}"),
            TrackerError::Status(s) => write!(f, "the tracker answered HTTP {s}"),
            TrackerError::TooLarge { limit } => {
                write!(f, "tracker response over {limit} bytes")
            }
            TrackerError::Protocol(m) => write!(f, "bad tracker response: {m}"),
            TrackerError::Failure(m) => write!(f, "the tracker refused: {m}"),
        }
    }
}

impl std::error::Error for TrackerError {}

/// Announces `target` to the tracker at `url` and returns the peers it lists that the address
/// policy allows (no duplicates, at most `numwant`). A hybrid is announced under its v1 hash,
/// a v2-only torrent under its truncated v2 hash. In a may coroutine only.
pub fn announce(
    url: &str,
    target: &Target,
    limits: &TrackerLimits,
) -> Result<Vec<SocketAddr>, TrackerError> {
    let hash = target.swarm_hash().ok_or(TrackerError::NoTarget)?;
    let deadline = Instant::now() + limits.timeout;
    let u = url::Url::parse(url).map_err(|e| TrackerError::BadUrl(format!("{url}: {e}")))?;
    match u.scheme() {
        "http" => http::announce(&u, &hash, limits, deadline),
        "udp" => udp::announce(&u, &hash, limits, deadline),
        "https" => Err(TrackerError::Https),
        s => Err(TrackerError::UnsupportedScheme(s.to_string())),
    }
}

/// The tracker's addresses the policy allows: an IP literal as is, a name resolved on a plain
/// thread (the may worker waits on a channel, not on the resolver) within `deadline`.
fn resolve(
    u: &url::Url,
    port: u16,
    policy: &AddrPolicy,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, TrackerError> {
    let host = u.host_str().unwrap_or_default().to_string();
    let all: Vec<SocketAddr> = match u.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(name)) => lookup(name, port, deadline)?,
        None => return Err(TrackerError::BadUrl(format!("{u}: no host"))),
    };
    let allowed: Vec<SocketAddr> = all.into_iter().filter(|a| policy.allows(a)).collect();
    if allowed.is_empty() {
        return Err(TrackerError::AddressRefused { host });
    }
    Ok(allowed)
}

/// Resolves `name` on a plain thread; the calling coroutine waits on a may channel.
fn lookup(name: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, TrackerError> {
    let (tx, rx) = may::sync::mpsc::channel();
    let query = (name.to_string(), port);
    let spawned = std::thread::Builder::new()
        .name("thetorrent-resolve".into())
        .spawn(move || {
            let r = query
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err(TrackerError::Resolve {
            host: name.to_string(),
            error: format!("cannot start a resolver thread: {e}"),
        });
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(error)) => Err(TrackerError::Resolve {
            host: name.to_string(),
            error,
        }),
        Err(_) => Err(TrackerError::Timeout),
    }
}

/// Collects peers: allowed by the policy, no duplicates, at most `max`.
struct Peers<'p> {
    list: Vec<SocketAddr>,
    policy: &'p AddrPolicy,
    max: usize,
}

impl<'p> Peers<'p> {
    fn new(policy: &'p AddrPolicy, max: u32) -> Self {
        Peers {
            list: Vec::new(),
            policy,
            max: max as usize,
        }
    }

    fn add(&mut self, a: SocketAddr) {
        if self.list.len() < self.max && self.policy.allows(&a) && !self.list.contains(&a) {
            self.list.push(a);
        }
    }

    /// Adds compact IPv4 peers (BEP 23: 4 address bytes, 2 port bytes, each).
    fn add_compact_v4(&mut self, b: &[u8]) -> Result<(), TrackerError> {
        if b.len() % 6 != 0 {
            return Err(TrackerError::Protocol(format!(
                "compact peers of {} bytes, not a multiple of 6",
                b.len()
            )));
        }
        for c in b.chunks_exact(6) {
            let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            self.add(SocketAddr::new(ip.into(), u16::from_be_bytes([c[4], c[5]])));
        }
        Ok(())
    }

    /// Adds compact IPv6 peers (BEP 7: 16 address bytes, 2 port bytes, each).
    fn add_compact_v6(&mut self, b: &[u8]) -> Result<(), TrackerError> {
        if b.len() % 18 != 0 {
            return Err(TrackerError::Protocol(format!(
                "compact IPv6 peers of {} bytes, not a multiple of 18",
                b.len()
            )));
        }
        for c in b.chunks_exact(18) {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&c[..16]);
            self.add(SocketAddr::new(
                Ipv6Addr::from(ip).into(),
                u16::from_be_bytes([c[16], c[17]]),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_peers_are_decoded_filtered_and_capped() {
        let policy = AddrPolicy {
            allow_private: false,
        };
        let mut p = Peers::new(&policy, 3);
        p.add_compact_v4(&[
            1, 2, 3, 4, 0x1a, 0xe1, // 1.2.3.4:6881
            127, 0, 0, 1, 0x1a, 0xe1, // loopback: refused
            1, 2, 3, 4, 0x1a, 0xe1, // duplicate
            5, 6, 7, 8, 0, 0, // port 0: refused
            5, 6, 7, 8, 0, 80, // 5.6.7.8:80
        ])
        .unwrap();
        let mut v6 = vec![
            0x26, 0x06, 0x47, 0, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11,
        ];
        v6.extend_from_slice(&[0x1a, 0xe1]);
        v6.extend_from_slice(&v6.clone());
        p.add_compact_v6(&v6).unwrap();
        p.add_compact_v4(&[9, 9, 9, 9, 0, 1]).unwrap();
        assert_eq!(
            p.list,
            vec![
                "1.2.3.4:6881".parse().unwrap(),
                "5.6.7.8:80".parse().unwrap(),
                "[2606:4700:4700::1111]:6881".parse().unwrap(),
            ]
        );
        assert!(matches!(
            p.add_compact_v4(&[1, 2, 3, 4, 5]),
            Err(TrackerError::Protocol(_))
        ));
        assert!(matches!(
            p.add_compact_v6(&[0; 17]),
            Err(TrackerError::Protocol(_))
        ));
    }

    #[test]
    fn numwant_is_capped() {
        let l = TrackerLimits {
            numwant: 100_000,
            ..TrackerLimits::default()
        };
        assert_eq!(l.numwant(), MAX_NUMWANT);
    }
}
