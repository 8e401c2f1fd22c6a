//! Whether a stored torrent's bytes are still the bytes that were stored, and whether bytes
//! fetched from elsewhere prove to be them.
//!
//! Owns: the whole-file checksum kept when a file is stored (SHA-256, [`sha256`]: locally an
//! extended attribute of the file, see `storage::local::fsutil`; on S3 the object's ETag, the
//! MD5 of the body the store received), the verdict on a stored file ([`check`]) and the proof
//! a replacement must bring ([`proves`]). Must never: do I/O, or let bytes through
//! [`proves`] that neither the recorded checksum nor, without one, the info hash the file is
//! named by shows to be the stored torrent.

use crate::storage::Ids;
use crate::torrent::hash::Key;
use crate::torrent::{self, Parsed, TorrentError};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt;

/// The SHA-256 of a file's whole bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What a stored file's whole bytes can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The SHA-256 recorded when it was stored (the local data directory).
    Sha256([u8; 32]),
    /// The object's ETag, the MD5 of the body the object store received (S3).
    Md5([u8; 16]),
    /// Nothing: stored before checksums were kept, copied without them, or an object store
    /// whose ETags are not MD5s. Only the info hash can be checked.
    None,
}

impl Recorded {
    /// The recorded checksum of an S3 ETag when it is a plain MD5 (`"<32 hex>"`); multipart
    /// and encrypted objects have other ETags, which prove nothing about the bytes.
    pub fn of_etag(etag: Option<&str>) -> Recorded {
        let Some(hex) = etag.map(|e| e.trim().trim_matches('"')) else {
            return Recorded::None;
        };
        let mut md5 = [0u8; 16];
        if hex.len() != 32 {
            return Recorded::None;
        }
        for (i, out) in md5.iter_mut().enumerate() {
            match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
                Ok(b) => *out = b,
                Err(_) => return Recorded::None,
            }
        }
        Recorded::Md5(md5)
    }

    /// Whether `bytes` match; `None` when nothing is recorded.
    pub fn matches(&self, bytes: &[u8]) -> Option<bool> {
        match self {
            Recorded::Sha256(sum) => Some(sha256(bytes) == *sum),
            Recorded::Md5(sum) => Some(<[u8; 16]>::from(Md5::digest(bytes)) == *sum),
            Recorded::None => None,
        }
    }

    pub fn is_some(&self) -> bool {
        !matches!(self, Recorded::None)
    }

    /// The checksum's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Recorded::Sha256(_) => "whole-file SHA-256",
            Recorded::Md5(_) => "object's ETag (MD5 of the stored body)",
            Recorded::None => "info hash",
        }
    }
}

/// What is wrong with a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// A day list names it, but there is no file.
    Missing,
    /// It could not be read (the error, with its path).
    Unreadable(String),
    /// The whole-file checksum differs while the info dictionary still hashes to the file's
    /// name: bytes outside `info` (trackers, comment, piece layers, ...) changed.
    ChangedOutsideInfo,
    /// The info dictionary no longer hashes to the file's name, or the file no longer parses.
    InfoHash(String),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Missing => write!(f, "missing: a day list names it, but there is no file"),
            Damage::Unreadable(e) => write!(f, "unreadable: {e}"),
            Damage::ChangedOutsideInfo => write!(
                f,
                "bytes changed outside info: the whole file no longer matches the checksum \
                 recorded when it was stored (the info hash still matches)"
            ),
            Damage::InfoHash(what) => write!(f, "info hash mismatch: {what}"),
        }
    }
}

/// The part a name plays for the torrent stored under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The key it is filed (and listed) under.
    Primary,
    /// A hybrid's second key (its truncated v2 hash).
    Link,
    /// The bytes do not tell (they are damaged inside `info`).
    Unknown,
}

/// The verdict on one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub damage: Option<Damage>,
    pub role: Role,
    /// A whole-file checksum was recorded (else only the info hash was checked).
    pub checksum: bool,
}

/// The part `name` plays for the torrent `p`, if any.
fn role_of(name: &Key, p: &Parsed) -> Option<Role> {
    let ids = Ids::of(p);
    if ids.key == *name {
        Some(Role::Primary)
    } else if ids.link() == Some(*name) {
        Some(Role::Link)
    } else {
        None
    }
}

/// Checks the bytes stored under `name` against what was recorded for them and against the
/// info hash the name is.
pub fn check(name: &Key, bytes: &[u8], recorded: &Recorded) -> Verdict {
    let checksum = recorded.is_some();
    let (role, info_damage) = match torrent::validate(bytes) {
        Ok(p) => match role_of(name, &p) {
            Some(role) => (role, None),
            None => (
                Role::Unknown,
                Some(format!("content hashes to {}", p.key())),
            ),
        },
        Err(e) => (
            Role::Unknown,
            Some(format!("not a valid torrent any more: {e}")),
        ),
    };
    let damage = match (info_damage, recorded.matches(bytes)) {
        (Some(what), _) => Some(Damage::InfoHash(what)),
        (None, Some(false)) => Some(Damage::ChangedOutsideInfo),
        (None, _) => None,
    };
    Verdict {
        damage,
        role,
        checksum,
    }
}

/// Why bytes offered as a replacement do not prove to be the stored torrent.
#[derive(Debug)]
pub enum Refusal {
    /// Not a torrent libtorrent would load.
    Invalid(TorrentError),
    /// A valid torrent, but not the one the name is the info hash of.
    Another(Key),
    /// The right info hash, but other bytes than those recorded (the checksum's name).
    Differs(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Invalid(e) => write!(f, "not a valid torrent: {e}"),
            Refusal::Another(k) => write!(f, "another torrent (its info hash is {k})"),
            Refusal::Differs(what) => write!(f, "the bytes differ from the {what} recorded here"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `bytes` (fetched from elsewhere) are the torrent stored under `name`: they must
/// match the recorded checksum when there is one, and in any case be a valid torrent whose
/// info hash is `name` (or, for a hybrid's second name, whose v2 hash is). Returns the
/// torrent's identity, or why the bytes are refused.
pub fn proves(name: &Key, bytes: &[u8], recorded: &Recorded) -> Result<Ids, Refusal> {
    let p = torrent::validate(bytes).map_err(Refusal::Invalid)?;
    if role_of(name, &p).is_none() {
        return Err(Refusal::Another(p.key()));
    }
    if recorded.matches(bytes) == Some(false) {
        return Err(Refusal::Differs(recorded.name()));
    }
    Ok(Ids::of(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torrent(comment: &str) -> Vec<u8> {
        let mut t = format!("d7:comment{}:{comment}4:info", comment.len()).into_bytes();
        t.extend_from_slice(b"d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:");
        t.extend_from_slice(&[7u8; 20]);
        t.extend_from_slice(b"ee");
        t
    }

    fn key_of(bytes: &[u8]) -> Key {
        torrent::validate(bytes).unwrap().key()
    }

    #[test]
    fn a_change_outside_info_is_found_only_with_a_checksum() {
        let stored = torrent("one");
        let name = key_of(&stored);
        let sum = Recorded::Sha256(sha256(&stored));
        let ok = check(&name, &stored, &sum);
        assert_eq!(
            (ok.damage, ok.role, ok.checksum),
            (None, Role::Primary, true)
        );
        let changed = torrent("two");
        assert_eq!(key_of(&changed), name, "same info dictionary");
        assert_eq!(
            check(&name, &changed, &sum).damage,
            Some(Damage::ChangedOutsideInfo)
        );
        let without = check(&name, &changed, &Recorded::None);
        assert_eq!((without.damage, without.checksum), (None, false));
    }

    #[test]
    fn a_change_inside_info_is_an_info_hash_mismatch() {
        let stored = torrent("one");
        let name = key_of(&stored);
        let mut flipped = stored.clone();
        let at = flipped.windows(6).position(|w| w == b"pieces").unwrap() + 10;
        flipped[at] ^= 1;
        for recorded in [Recorded::Sha256(sha256(&stored)), Recorded::None] {
            let v = check(&name, &flipped, &recorded);
            assert!(
                matches!(&v.damage, Some(Damage::InfoHash(w)) if w.starts_with("content hashes to")),
                "{v:?}"
            );
            assert_eq!(v.role, Role::Unknown);
        }
        let mut broken = stored.clone();
        let at = broken.windows(7).position(|w| w == b"lengthi").unwrap() + 6;
        broken[at] = b'x';
        let v = check(&name, &broken, &Recorded::None);
        assert!(
            matches!(&v.damage, Some(Damage::InfoHash(w)) if w.starts_with("not a valid torrent")),
            "{v:?}"
        );
    }

    #[test]
    fn etags_and_proofs() {
        let stored = torrent("one");
        let name = key_of(&stored);
        let md5: String = Md5::digest(&stored)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let etag = Recorded::of_etag(Some(&format!("\"{md5}\"")));
        assert!(matches!(etag, Recorded::Md5(_)));
        assert_eq!(etag.matches(&stored), Some(true));
        assert_eq!(Recorded::of_etag(Some("\"abc-2\"")), Recorded::None);
        assert_eq!(Recorded::of_etag(None), Recorded::None);
        assert!(proves(&name, &stored, &etag).is_ok());
        let changed = torrent("two");
        assert!(proves(&name, &changed, &etag)
            .unwrap_err()
            .to_string()
            .contains("differ from the object's ETag"));
        // Without a checksum the info hash is the proof: the same info with other trackers
        // or comments passes, another torrent does not.
        assert!(proves(&name, &changed, &Recorded::None).is_ok());
        let other =
            b"d4:infod6:lengthi2e4:name1:b12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAee";
        assert!(proves(&name, other, &Recorded::None)
            .unwrap_err()
            .to_string()
            .contains("another torrent"));
    }
}
