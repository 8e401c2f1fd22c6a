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

/// Microseconds since the epoch at which `day` ends (UTC midnight after it).
pub(super) fn day_end_micros(day: Day) -> u64 {
    // Days since the epoch of the civil date (Howard Hinnant's days_from_civil).
    let (y, m, d) = (
        (day.0 / 10_000) as i64,
        (day.0 / 100 % 100) as i64,
        (day.0 % 100) as i64,
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days + 1).max(0) as u64) * 86_400_000_000
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
