//! What the lookup box and `/magnet` point at: a hash in any accepted form, or a magnet link.
//!
//! Owns: finding the store key in user text (bare hashes, `urn:btih:` / `urn:btmh:` URNs, whole
//! magnet links, percent-encoded or not); the links themselves are read by `fetch::magnet`.
//! Must never: touch the store, or accept anything that is not exactly one of the hash forms
//! `hash::Key::parse` knows (no guessing, no prefixes).

use crate::fetch::magnet::{xt_hash, Magnet, XtHash, MAX_MAGNET_LEN};
use crate::fetch::Target;
use crate::http::request::percent_decode_str as percent_decode;
use crate::torrent::hash::Key;

/// Longest input looked at; a real magnet link with many trackers stays far below.
pub const MAX_LOOKUP_LEN: usize = MAX_MAGNET_LEN;

/// Parses what someone typed or pasted into the lookup box: a bare hash (40 hex, 32 base32,
/// 64 hex v2), a `urn:btih:…` / `urn:btmh:1220…` URN, or a whole magnet link (several `xt`
/// allowed: a `btih` wins over a `btmh`). Surrounding whitespace is ignored; a magnet link that
/// is still percent-encoded as a whole (`magnet%3A%3Fxt%3D…`) is decoded first.
pub fn lookup_target(q: &str) -> Option<Key> {
    lookup_magnet(q).map(|m| m.key())
}

/// What [`lookup_target`] reads, whole: a magnet link with its trackers and peers, or a bare
/// hash or URN as a link without any (a 64-hex hash keeps all its 32 bytes).
pub fn lookup_magnet(q: &str) -> Option<Magnet> {
    let q = q.trim();
    if q.is_empty() || q.len() > MAX_LOOKUP_LEN {
        return None;
    }
    // Decoded once only: no recursion on nested encodings.
    let decoded;
    let q = if starts_with_ci(q, "magnet%3A") {
        decoded = percent_decode(q, false);
        decoded.as_str()
    } else {
        q
    };
    if starts_with_ci(q, "magnet:") {
        return Magnet::parse(q).ok();
    }
    let target = if starts_with_ci(q, "urn:") {
        match xt_hash(q)? {
            XtHash::V1(h) => Target {
                v1: Some(h),
                v2: None,
            },
            XtHash::V2(h) => Target {
                v1: None,
                v2: Some(h),
            },
        }
    } else {
        Target::parse(q)?
    };
    Some(Magnet {
        target,
        ..Magnet::default()
    })
}

/// The key of `GET /magnet?<query>` (query string without the `?`), or of a magnet link's
/// parameters: its `btih` hash (`xt`, or `xt.1`, `xt.2`, … as BEP 9 allows) with 40 hex / 32
/// base32 digits, else its `btmh:1220` hash with 64 hex digits (see `fetch::magnet`).
pub fn magnet_target(query: &str) -> Option<Key> {
    Magnet::parse_query(query).ok().map(|m| m.key())
}

/// The lookup box's text in a raw query string (`q=…`, form-encoded), as the browser sends
/// `GET /lookup?q=…`.
pub fn lookup_text(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "q")
        .map(|(_, v)| percent_decode(v, true))
}

/// The key of the lookup box in a raw query string.
pub fn lookup_query(query: &str) -> Option<Key> {
    lookup_text(query).and_then(|q| lookup_target(&q))
}

/// What was typed into the lookup box, from the raw query string (`q=…`, form-encoded), for
/// putting it back into the box; empty when there is none.
pub fn lookup_typed(query: &str) -> String {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "q")
        .map(|(_, v)| percent_decode(&v[..floor_boundary(v, MAX_LOOKUP_LEN)], true))
        .unwrap_or_default()
}

/// The largest index at most `max` that is a character boundary of `s`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
    const V2: &str = "597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A";

    /// RFC 4648 base32 of a key, as magnet links carry it.
    fn base32(k: &Key) -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let (mut acc, mut bits, mut s) = (0u64, 0, String::new());
        for &b in &k.0 {
            acc = acc << 8 | b as u64;
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                s.push(alphabet[((acc >> bits) & 31) as usize] as char);
            }
        }
        s
    }

    fn key() -> Key {
        Key::parse(HEX).unwrap()
    }

    #[test]
    fn bare_hashes() {
        let k = key();
        assert_eq!(lookup_target(HEX), Some(k));
        assert_eq!(lookup_target(&HEX.to_lowercase()), Some(k));
        assert_eq!(lookup_target(&format!("  {HEX}\n")), Some(k));
        let b32 = base32(&k);
        assert_eq!(lookup_target(&b32), Some(k));
        assert_eq!(lookup_target(&b32.to_lowercase()), Some(k));
        let v2 = Key::parse(V2).unwrap();
        assert_eq!(lookup_target(V2), Some(v2));
        assert_eq!(v2.to_string(), &V2[..40]);
        assert_eq!(lookup_target(&format!("urn:btih:{HEX}")), Some(k));
        assert_eq!(lookup_target(&format!("URN:BTMH:1220{V2}")), Some(v2));
    }

    #[test]
    fn magnet_links() {
        let k = key();
        let v2 = Key::parse(V2).unwrap();
        let real = format!(
            "magnet:?xt=urn:btih:{}&dn=debian-12.5.0-amd64-netinst.iso\
             &tr=udp%3A%2F%2Ftracker.opentrackr.org%3A1337%2Fannounce\
             &tr=http%3A%2F%2Fbttracker.debian.org%3A6969%2Fannounce&ws=https%3A%2F%2Fx",
            HEX.to_lowercase()
        );
        assert_eq!(lookup_target(&real), Some(k));
        // base32, as older clients write them
        assert_eq!(
            lookup_target(&format!("magnet:?dn=a+b&xt=urn:btih:{}", base32(&k))),
            Some(k)
        );
        // hybrid: btih first, then btmh; either order gives a key that is stored
        let hybrid = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{V2}&dn=x");
        assert_eq!(lookup_target(&hybrid), Some(k));
        let v2_only = format!(
            "magnet:?xt=urn:btmh:1220{}&dn=x&tr=udp://t:1",
            V2.to_lowercase()
        );
        assert_eq!(lookup_target(&v2_only), Some(v2));
        // the first xt that parses wins; broken ones are skipped
        let broken_first = format!("magnet:?xt=urn:btih:XYZ&xt=urn:sha1:abc&xt.2=urn:btih:{HEX}");
        assert_eq!(lookup_target(&broken_first), Some(k));
        // percent-encoded value, percent-encoded key, and a whole encoded link
        assert_eq!(
            lookup_target(&format!("magnet:?xt=urn%3Abtih%3A{HEX}&dn=%3Cscript%3E")),
            Some(k)
        );
        assert_eq!(
            lookup_target(&format!("magnet:?%78t=urn:btih:{HEX}")),
            Some(k)
        );
        let encoded = format!("magnet%3A%3Fxt%3Durn%3Abtih%3A{HEX}%26dn%3Dx");
        assert_eq!(lookup_target(&encoded), Some(k));
        assert_eq!(
            lookup_target(&format!("MAGNET:?XT=URN:BTIH:{HEX}")),
            Some(k)
        );
        // what /magnet receives
        assert_eq!(magnet_target(&format!("xt=urn:btih:{HEX}")), Some(k));
        assert_eq!(
            magnet_target(&format!("dn=x&xt=urn%3Abtmh%3A1220{V2}")),
            Some(v2)
        );
        assert_eq!(magnet_target(""), None);
        assert_eq!(magnet_target("xt="), None);
    }

    #[test]
    fn the_lookup_form_query() {
        let k = key();
        assert_eq!(lookup_query(&format!("q={HEX}")), Some(k));
        // what a browser sends for a pasted magnet link
        let q =
            format!("q=magnet%3A%3Fxt%3Durn%3Abtih%3A{HEX}%26dn%3Da+b%26tr%3Dudp%253A%252F%252Ft");
        assert_eq!(lookup_query(&q), Some(k));
        assert_eq!(lookup_query(&format!("x=1&q=+{HEX}+")), Some(k));
        assert_eq!(lookup_query("q="), None);
        assert_eq!(lookup_query(""), None);
    }

    #[test]
    fn garbage() {
        for q in [
            "",
            "   ",
            "hello",
            "magnet:",
            "magnet:?",
            "magnet:?dn=only-a-name",
            "magnet:?xt=urn:btih:",
            "magnet:?xt=urn:btih:7431A969B347E14BBA641B3517C024F7B40DFB7", // 39
            "magnet:?xt=urn:btih:7431A969B347E14BBA641B3517C024F7B40DFB7FF", // 41
            // a v2 hash is not a btih, and a btmh needs the 1220 multihash prefix
            "magnet:?xt=urn:btih:597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A",
            "magnet:?xt=urn:btmh:597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A",
            "magnet:?xt=urn:btmh:1220597B",
            "magnet:?xt=urn:sha1:7431A969B347E14BBA641B3517C024F7B40DFB7F",
            "urn:btih:nothex",
            "G431A969B347E14BBA641B3517C024F7B40DFB7F",
            "../../../../etc/passwd/../../../../../..",
            "https://example.org/7431A969B347E14BBA641B3517C024F7B40DFB7F",
            "7431A969B347E14BBA641B3517C024F7B40DFB7F extra",
            "ééééééééééééééééééééé",                    // 42 bytes of UTF-8
            "éééééééééééééééééééé",                     // 40 bytes of UTF-8
            "magnet:?xt=urn:btih:éééééééééééééééééééé", // 40 bytes
            "magnet:?xt=urn:btih:%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF%FF",
            "magnet%3A",
            "magnet%3Amagnet%3A",
            "magnet%253A%253Fxt%253Durn%253Abtih%253A7431A969B347E14BBA641B3517C024F7B40DFB7F",
        ] {
            assert_eq!(lookup_target(q), None, "{q:?}");
        }
        assert_eq!(lookup_target(&"a".repeat(MAX_LOOKUP_LEN + 1)), None);
        let long = format!(
            "magnet:?xt=urn:btih:{HEX}&tr={}",
            "x".repeat(MAX_LOOKUP_LEN)
        );
        assert_eq!(lookup_target(&long), None);
    }
}
