//! Fetching a torrent the store does not have from its swarm: a magnet link or a bare hash
//! in, a stored `.torrent` file out. The network clients that find peers (the DHT node,
//! trackers) and download the info from one peer (the peer wire with ut_metadata), the
//! address policy every outbound connection passes, and the jobs that tie them together.
//!
//! Owns: [`Target`] (what is fetched), this process's peer id, magnet links ([`magnet`]), the
//! clients below, the DHT node ([`dht`]) and the jobs ([`job`], each running a [`search`]).
//! Must never: connect to an address the [`policy::AddrPolicy`] refuses, allocate by a size a
//! peer or tracker announces before checking it against a named cap, wait without a deadline,
//! block a may worker (everything here runs in may coroutines; name lookups and the DHT's
//! blocking calls go to plain threads), store anything that did not pass `torrent::validate`
//! and the hash check, or fetch a blocked hash.
//!
//! The clients (each runs in a may coroutine: the server's workers, or `may::go!` in the CLI):
//! - [`peer::fetch_info`]`(addr: SocketAddr, target: &Target, limits: &PeerLimits) ->
//!   Result<Vec<u8>, PeerError>`: connects to one peer, handshakes (BEP 3, with the BEP 10
//!   extension bit and the BEP 52 v2 bit), downloads the info dictionary with ut_metadata
//!   (BEP 9) and returns its raw bytes once they hash to the target's info hash(es).
//! - [`tracker::announce`]`(url: &str, target: &Target, limits: &TrackerLimits) ->
//!   Result<Vec<SocketAddr>, TrackerError>`: one announce to an `http://` (BEP 3, BEP 23
//!   compact peers, BEP 7 `peers6`) or `udp://` (BEP 15) tracker; returns the peers the
//!   address policy allows, at most `numwant`. `https://` is refused as
//!   [`TrackerError::Https`], so callers can count it.
//! - [`policy::AddrPolicy`]`{ allow_private: bool }` with `allows(&self, &SocketAddr) -> bool`:
//!   both clients apply it themselves (the peer's address, the tracker host's resolved
//!   addresses, the peers a tracker returns); callers apply it to DHT results.

pub mod dht;
pub mod job;
pub mod magnet;
pub mod peer;
pub mod policy;
pub mod search;
pub mod tracker;

pub use peer::{fetch_info, PeerError, PeerLimits};
pub use policy::AddrPolicy;
pub use tracker::{announce, TrackerError, TrackerLimits};

use crate::torrent::hash::Key;
use std::sync::OnceLock;

/// What is being fetched: the v1 info hash (SHA-1), the v2 one (SHA-256), or both (a hybrid
/// torrent). At least one must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Target {
    pub v1: Option<[u8; 20]>,
    pub v2: Option<[u8; 32]>,
}

impl Target {
    /// The 20-byte hash peers and trackers know the torrent by: the v1 hash, or for a v2-only
    /// torrent the first 20 bytes of the v2 hash (BEP 52). `None` when neither hash is set.
    pub fn swarm_hash(&self) -> Option<[u8; 20]> {
        match (self.v1, self.v2) {
            (Some(v1), _) => Some(v1),
            (None, Some(v2)) => {
                let mut h = [0u8; 20];
                h.copy_from_slice(&v2[..20]);
                Some(h)
            }
            (None, None) => None,
        }
    }

    /// The key a fetched copy is stored under (the swarm hash).
    pub fn key(&self) -> Option<Key> {
        self.swarm_hash().map(Key)
    }

    /// The keys a stored copy may be filed under (a hybrid's truncated v2 hash is a link).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.v1
            .map(Key)
            .into_iter()
            .chain(self.v2.as_ref().map(Key::from_v2))
    }

    /// The target of a hash as written in a URL: 40 hex or 32 base32 digits are a v1 hash,
    /// 64 hex digits a v2 hash. A v2-only torrent is fetched by its whole v2 hash: its
    /// 40-digit truncated form cannot be checked against the info dict.
    pub fn parse(s: &str) -> Option<Target> {
        match s.len() {
            40 | 32 => Key::parse(s).ok().map(|k| Target {
                v1: Some(k.0),
                v2: None,
            }),
            64 => magnet::decode_hex32(s).map(|v2| Target {
                v1: None,
                v2: Some(v2),
            }),
            _ => None,
        }
    }

    /// Whether `h` names this torrent in a handshake: the v1 hash, or the truncated v2 hash
    /// (a peer may answer a hybrid's v1 handshake with the v2 form, BEP 52).
    pub fn matches_swarm_hash(&self, h: &[u8; 20]) -> bool {
        self.v1.as_ref() == Some(h) || self.v2.is_some_and(|v2| v2[..20] == h[..])
    }
}

/// Azureus-style client prefix of our peer id: `TT` for thetorrent, then the version.
fn peer_id_prefix() -> [u8; 8] {
    let digit = |s: &str| {
        s.parse::<u8>()
            .ok()
            .filter(|d| *d < 10)
            .map_or(b'0', |d| b'0' + d)
    };
    let major = digit(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = digit(env!("CARGO_PKG_VERSION_MINOR"));
    let patch = digit(env!("CARGO_PKG_VERSION_PATCH"));
    [b'-', b'T', b'T', major, minor, patch, b'0', b'-']
}

/// This process's peer id (BEP 20 style: a client prefix and 12 random bytes), the same for
/// every connection and announce.
pub fn peer_id() -> [u8; 20] {
    static ID: OnceLock<[u8; 20]> = OnceLock::new();
    *ID.get_or_init(|| {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(&peer_id_prefix());
        // Printable random characters: some trackers log the id as text.
        const ALPHABET: &[u8; 64] =
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
        let mut r = random_u64() as u128 | (random_u64() as u128) << 64;
        for o in &mut id[8..] {
            *o = ALPHABET[(r & 63) as usize];
            r >>= 6;
        }
        id
    })
}

/// A random `u64` (transaction ids, keys, the peer id: they must be unpredictable to an
/// off-path attacker, not secret): SipHash of a counter under std's per-process random keys,
/// which come from the kernel's random source.
pub(crate) fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A random `u32` (BEP 15 transaction ids and keys).
pub(crate) fn random_u32() -> u32 {
    random_u64() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_hash_is_v1_or_truncated_v2() {
        let v1 = [1u8; 20];
        let mut v2 = [0u8; 32];
        for (i, b) in v2.iter_mut().enumerate() {
            *b = i as u8;
        }
        let hybrid = Target {
            v1: Some(v1),
            v2: Some(v2),
        };
        assert_eq!(hybrid.swarm_hash(), Some(v1));
        let v2only = Target {
            v1: None,
            v2: Some(v2),
        };
        let mut t = [0u8; 20];
        t.copy_from_slice(&v2[..20]);
        assert_eq!(v2only.swarm_hash(), Some(t));
        assert!(hybrid.matches_swarm_hash(&t));
        assert!(hybrid.matches_swarm_hash(&v1));
        assert!(!hybrid.matches_swarm_hash(&[9u8; 20]));
        assert_eq!(Target { v1: None, v2: None }.swarm_hash(), None);
    }

    #[test]
    fn peer_id_has_the_client_prefix_and_stays_the_same() {
        let id = peer_id();
        assert_eq!(&id[..3], b"-TT");
        assert_eq!(id[7], b'-');
        assert!(id.iter().all(|b| b.is_ascii_graphic()));
        assert_eq!(id, peer_id());
    }
}
