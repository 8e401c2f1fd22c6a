//! The bucket layout: object names of torrents and list segments, and this front end's
//! node name.
//!
//! Owns: parsing and forming every object name. Must never: accept a name that would not
//! round-trip to the same key or segment.

use super::*;

/// `torrents/AB/CD/<HEX>.torrent`.
pub fn object_key(key: &Key) -> String {
    let h = key.to_string();
    format!("torrents/{}/{}/{h}.torrent", &h[0..2], &h[2..4])
}

/// The key of an object name under `torrents/`, when it is one.
pub fn key_of_object(name: &str) -> Option<Key> {
    let rest = name.strip_prefix("torrents/")?;
    let (dirs, file) = rest.rsplit_once('/')?;
    let hex = file.strip_suffix(".torrent")?;
    let key = Key::parse(hex).ok()?;
    let h = key.to_string();
    (hex.len() == 40 && dirs == format!("{}/{}", &h[0..2], &h[2..4])).then_some(key)
}

/// A list segment's name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) day: Day,
    pub(super) micros: u64,
    pub(super) keys: u64,
    pub(super) bytes: u64,
}

pub(super) fn segment_name(
    day: Day,
    micros: u64,
    node: &str,
    seq: u64,
    keys: u64,
    bytes: u64,
) -> String {
    format!("sync/{day}/{micros:017}-{node}-{seq:010}-{keys}-{bytes}.txt")
}

pub(super) fn parse_segment(name: &str) -> Option<Segment> {
    let rest = name.strip_prefix("sync/")?;
    let (day, file) = rest.split_once('/')?;
    let day = Day::parse(day)?;
    let mut parts = file.strip_suffix(".txt")?.split('-');
    let num = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let micros = num(parts.next())?;
    let node = parts.next()?;
    if node.is_empty() || !node.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let _seq = num(parts.next())?;
    let keys = num(parts.next())?;
    let bytes = num(parts.next())?;
    if parts.next().is_some() {
        return None;
    }
    Some(Segment {
        day,
        micros,
        keys,
        bytes,
    })
}

/// Microseconds since the epoch at which `day` ends (UTC midnight after it); 0 for a number
/// that is not a date.
pub(super) fn day_end_micros(day: Day) -> u64 {
    day.date()
        .and_then(|d| d.tomorrow().ok())
        .and_then(|d| jiff::tz::Offset::UTC.to_timestamp(d.into()).ok())
        .map_or(0, |t| t.as_microsecond().max(0) as u64)
}

/// A name for this front end in segment names: `[a-z0-9]{1,32}`.
pub fn check_node_id(s: &str) -> Result<String, String> {
    let s = s.to_ascii_lowercase();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "node id {s:?}: use 1 to 32 letters and digits (it names this front end's list segments)"
        ));
    }
    Ok(s)
}

pub(super) fn random_node_id() -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(crate::clock::unix_micros().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    if let Ok(name) = std::fs::read("/proc/sys/kernel/hostname") {
        h.update(name);
    }
    let d = h.finalize();
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn lines_of<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<u8> {
    let mut body = Vec::new();
    for k in keys {
        body.extend_from_slice(&k.hex());
        body.push(b'\n');
    }
    body
}
