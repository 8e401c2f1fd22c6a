//! Magnet links (BEP 9, BEP 52): what to fetch and where to look first.
//!
//! Owns: reading a magnet link's parameters — `xt` (`urn:btih:` with 40 hex or 32 base32
//! digits, `urn:btmh:1220` with 64 hex digits, both for a hybrid; `xt.1`, `xt.2`, … as BEP 9
//! allows), `tr` (tracker URLs), `x.pe` (peer addresses) and `dn` (display name) — within
//! fixed caps. Must never: resolve a host name (an `x.pe` must be an IP literal: a lookup would
//! block and would let a link point the server at internal names), accept a hash form that is
//! not exactly one of those above, or keep more than [`MAX_TRACKERS`] trackers or
//! [`MAX_PEERS`] peers of one link.

use super::Target;
use crate::http::request::percent_decode_str;
use crate::torrent::hash::Key;
use std::fmt;
use std::net::SocketAddr;

/// Longest magnet link (or `/magnet` query) looked at; a real link with many trackers stays
/// far below.
pub const MAX_MAGNET_LEN: usize = 16 * 1024;
/// Most `tr=` trackers of one link used (the first ones): each is an announce the job makes,
/// and each ends up in the stored file's `announce-list`.
pub const MAX_TRACKERS: usize = 8;
/// Most `x.pe=` peers of one link used (the first ones): each is a connection the job may
/// open on the link's word alone.
pub const MAX_PEERS: usize = 8;
/// Longest tracker URL kept; longer ones are dropped (real announce URLs are under 200 bytes).
pub const MAX_TRACKER_URL_LEN: usize = 1024;
/// Longest display name kept (`dn=`), in bytes; a longer one is cut at a character boundary.
pub const MAX_NAME_LEN: usize = 1024;

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Magnet {
    pub target: Target,
    /// `tr=` URLs in the link's order, deduplicated, at most [`MAX_TRACKERS`].
    pub trackers: Vec<String>,
    /// `x.pe=` addresses in the link's order, deduplicated, at most [`MAX_PEERS`].
    pub peers: Vec<SocketAddr>,
    /// `dn=`, when given.
    pub name: Option<String>,
}

/// Why a magnet link was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagnetError {
    /// Longer than [`MAX_MAGNET_LEN`].
    TooLong(usize),
    /// Does not start with `magnet:`.
    NotAMagnet,
    /// No `xt` is a `urn:btih:` or `urn:btmh:1220` hash.
    NoHash,
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetError::TooLong(n) => {
                write!(
                    f,
                    "magnet link too long: {n} bytes (limit {MAX_MAGNET_LEN})"
                )
            }
            MagnetError::NotAMagnet => write!(f, "not a magnet link: expected magnet:?xt=…"),
            MagnetError::NoHash => write!(
                f,
                "magnet link without a usable hash: expected xt=urn:btih:<40 hex or 32 base32> \
                 or xt=urn:btmh:1220<64 hex>"
            ),
        }
    }
}

impl std::error::Error for MagnetError {}

impl Magnet {
    /// Parses a whole link, `magnet:?xt=…&…` (the scheme in any case).
    pub fn parse(link: &str) -> Result<Magnet, MagnetError> {
        if link.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong(link.len()));
        }
        if !starts_with_ci(link, "magnet:") {
            return Err(MagnetError::NotAMagnet);
        }
        Magnet::parse_query(link["magnet:".len()..].trim_start_matches('?'))
    }

    /// Parses a link's parameters (the query string of `GET /magnet?…`, without the `?`).
    pub fn parse_query(query: &str) -> Result<Magnet, MagnetError> {
        if query.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong(query.len()));
        }
        let mut m = Magnet::default();
        for param in query.split('&') {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            // A `+` in a value stays a plus (magnet links are not form data); some forms
            // encode a key's spaces that way.
            let k = percent_decode_str(k, true);
            let v = percent_decode_str(v, false);
            let v = v.trim();
            if k.eq_ignore_ascii_case("xt") || starts_with_ci(&k, "xt.") {
                m.add_xt(v);
            } else if k.eq_ignore_ascii_case("tr") {
                m.add_tracker(v);
            } else if k.eq_ignore_ascii_case("x.pe") {
                m.add_peer(v);
            } else if k.eq_ignore_ascii_case("dn") && m.name.is_none() && !v.is_empty() {
                m.name = Some(truncate(v, MAX_NAME_LEN).to_owned());
            }
        }
        if m.target.v1.is_none() && m.target.v2.is_none() {
            return Err(MagnetError::NoHash);
        }
        Ok(m)
    }

    /// The key the torrent is stored under.
    pub fn key(&self) -> Key {
        // parse_query never returns a magnet without a hash.
        self.target.key().unwrap_or(Key([0; 20]))
    }

    /// The first `btih` and the first `btmh` win; others are ignored.
    fn add_xt(&mut self, v: &str) {
        match xt_hash(v) {
            Some(XtHash::V1(h)) if self.target.v1.is_none() => self.target.v1 = Some(h),
            Some(XtHash::V2(h)) if self.target.v2.is_none() => self.target.v2 = Some(h),
            _ => {}
        }
    }

    fn add_tracker(&mut self, v: &str) {
        let usable = !v.is_empty()
            && v.len() <= MAX_TRACKER_URL_LEN
            && !v.bytes().any(|b| b.is_ascii_control());
        if usable && self.trackers.len() < MAX_TRACKERS && !self.trackers.iter().any(|t| t == v) {
            self.trackers.push(v.to_owned());
        }
    }

    fn add_peer(&mut self, v: &str) {
        if let Ok(addr) = v.parse::<SocketAddr>() {
            if self.peers.len() < MAX_PEERS && !self.peers.contains(&addr) {
                self.peers.push(addr);
            }
        }
    }
}

/// A hash found in an `xt` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XtHash {
    V1([u8; 20]),
    V2([u8; 32]),
}

/// The hash of one `xt` value: `urn:btih:<40 hex | 32 base32>` or `urn:btmh:1220<64 hex>`
/// (URN prefixes in any case).
pub fn xt_hash(v: &str) -> Option<XtHash> {
    if starts_with_ci(v, "urn:btih:") {
        let h = &v["urn:btih:".len()..];
        return match h.len() {
            40 | 32 => Key::parse(h).ok().map(|k| XtHash::V1(k.0)),
            _ => None,
        };
    }
    if starts_with_ci(v, "urn:btmh:1220") {
        return decode_hex32(&v["urn:btmh:1220".len()..]).map(XtHash::V2);
    }
    None
}

/// 64 hex digits (either case) as 32 bytes.
pub fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = (hi << 4 | lo) as u8;
    }
    Some(out)
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
    const V2: &str = "597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A";

    fn v1() -> [u8; 20] {
        Key::parse(HEX).unwrap().0
    }

    fn v2() -> [u8; 32] {
        decode_hex32(V2).unwrap()
    }

    #[test]
    fn hashes_of_each_kind() {
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
        assert_eq!(
            m.target,
            Target {
                v1: Some(v1()),
                v2: None
            }
        );
        assert_eq!(m.key(), Key(v1()));
        let m = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}", V2.to_lowercase())).unwrap();
        assert_eq!(
            m.target,
            Target {
                v1: None,
                v2: Some(v2())
            }
        );
        assert_eq!(m.key(), Key::from_v2(&v2()));
        // a hybrid, in either order; xt.1 / xt.2 as BEP 9 numbers them
        for q in [
            format!("xt=urn:btih:{HEX}&xt=urn:btmh:1220{V2}"),
            format!("xt.1=urn:btmh:1220{V2}&xt.2=urn:btih:{HEX}"),
        ] {
            let m = Magnet::parse_query(&q).unwrap();
            assert_eq!(m.target.v1, Some(v1()), "{q}");
            assert_eq!(m.target.v2, Some(v2()), "{q}");
            assert_eq!(m.key(), Key(v1()));
        }
        // base32, lower case
        let b32 = "OQY2S2NTI7QUXOTEDM2RPQBE662A3N37";
        let m = Magnet::parse(&format!("MAGNET:?XT=URN:BTIH:{}", b32.to_lowercase())).unwrap();
        assert_eq!(m.target.v1, Key::parse(b32).ok().map(|k| k.0));
    }

    #[test]
    fn trackers_peers_and_name() {
        let q = format!(
            "xt=urn:btih:{HEX}&dn=debian+12%20netinst&tr=udp%3A%2F%2Ft.example%3A1337%2Fannounce\
             &tr=http://t2.example/announce&tr=udp%3A%2F%2Ft.example%3A1337%2Fannounce\
             &x.pe=192.0.2.7:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A51413&x.pe=peer.example:6881\
             &x.pe=192.0.2.7:6881&ws=http://x"
        );
        let m = Magnet::parse_query(&q).unwrap();
        assert_eq!(
            m.trackers,
            [
                "udp://t.example:1337/announce",
                "http://t2.example/announce"
            ]
        );
        assert_eq!(
            m.peers,
            [
                "192.0.2.7:6881".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:51413".parse().unwrap()
            ]
        );
        // `+` stays a plus in values, as magnet links are not form data
        assert_eq!(m.name.as_deref(), Some("debian+12 netinst"));
    }

    #[test]
    fn caps() {
        let mut q = format!("xt=urn:btih:{HEX}");
        for i in 0..20 {
            q.push_str(&format!("&tr=udp://t{i}.example:1/a&x.pe=192.0.2.{i}:1"));
        }
        q.push_str(&format!("&tr=udp://{}", "x".repeat(MAX_TRACKER_URL_LEN)));
        q.push_str("&tr=udp://a%0Ab:1&tr=");
        let m = Magnet::parse_query(&q).unwrap();
        assert_eq!(m.trackers.len(), MAX_TRACKERS);
        assert_eq!(m.trackers[7], "udp://t7.example:1/a");
        assert_eq!(m.peers.len(), MAX_PEERS);
        let long = format!("magnet:?xt=urn:btih:{HEX}&dn={}", "é".repeat(MAX_NAME_LEN));
        let name = Magnet::parse(&long).unwrap().name.unwrap();
        assert!(name.len() <= MAX_NAME_LEN && name.len() >= MAX_NAME_LEN - 1);
        let too_long = format!(
            "magnet:?xt=urn:btih:{HEX}&tr={}",
            "x".repeat(MAX_MAGNET_LEN)
        );
        assert_eq!(
            Magnet::parse(&too_long),
            Err(MagnetError::TooLong(too_long.len()))
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotAMagnet));
        for q in [
            "",
            "dn=only-a-name",
            "xt=urn:btih:",
            "xt=urn:btih:7431A969B347E14BBA641B3517C024F7B40DFB7",
            "xt=urn:btih:597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A",
            "xt=urn:btmh:597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A",
            "xt=urn:btmh:1220597B",
            "xt=urn:btmh:1220G97B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A",
            "xt=urn:sha1:7431A969B347E14BBA641B3517C024F7B40DFB7F",
        ] {
            assert_eq!(Magnet::parse_query(q), Err(MagnetError::NoHash), "{q}");
        }
    }

    #[test]
    fn targets_of_url_hashes() {
        assert_eq!(Target::parse(HEX).unwrap().v1, Some(v1()));
        assert_eq!(Target::parse(&V2.to_lowercase()).unwrap().v2, Some(v2()));
        assert_eq!(Target::parse("abc"), None);
        assert_eq!(Target::parse(&"g".repeat(64)), None);
    }
}
