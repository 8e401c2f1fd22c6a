//! The file name a download is saved under: `Content-Disposition: attachment;
//! filename="<HASH>.torrent"; filename*=UTF-8''<the torrent's name>.torrent` (RFC 6266: the
//! hash is the ASCII fallback for clients that do not read `filename*`).
//!
//! Owns: sanitising a torrent's name into a file name, and a small cache of the header values,
//! so that a download walks its torrent to the name (`torrent::name`, a few small reads) only
//! the first time (a stored torrent's bytes never change, so an entry is never stale). Must never: put a path separator, a control character
//! or a quote into a file name, or grow past [`NAME_CACHE_SLOTS`] entries.

use super::pages::percent_encode;
use crate::torrent::hash::Key;
use std::sync::{Arc, Mutex};

/// Entries of the header cache: one slot per value of the key's first two bytes modulo this
/// (keys are hashes, so they spread evenly); a new key takes its slot over. About 300 bytes
/// each at most.
pub const NAME_CACHE_SLOTS: usize = 4096;
/// Characters of a torrent's name kept in a file name (before `.torrent`).
pub const MAX_FILE_NAME_CHARS: usize = 120;

/// Characters that cannot be in a file name on some system a download lands on.
const FORBIDDEN: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// A torrent's name as a file name: forbidden characters become `_`, control characters and
/// runs of white space one space, no dots or spaces at either end, at most
/// [`MAX_FILE_NAME_CHARS`] characters, then `.torrent`. `None` when nothing is left.
pub fn file_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len().min(4 * MAX_FILE_NAME_CHARS) + 8);
    let mut space = false;
    for c in name.chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(if FORBIDDEN.contains(&c) { '_' } else { c });
    }
    let mut out: String = out
        .trim_matches(['.', ' '])
        .chars()
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let stem_len = out.len().saturating_sub(".torrent".len());
    if out.is_char_boundary(stem_len) && out[stem_len..].eq_ignore_ascii_case(".torrent") {
        out.truncate(stem_len);
    }
    let out = out.trim_end_matches(['.', ' ']);
    (!out.is_empty()).then(|| format!("{out}.torrent"))
}

/// The `Content-Disposition` value of a download of `key` whose torrent is named `name`.
pub fn content_disposition(key: &Key, name: Option<&str>) -> String {
    let mut v = format!("attachment; filename=\"{key}.torrent\"");
    if let Some(file) = name.and_then(file_name) {
        v.push_str("; filename*=UTF-8''");
        v.push_str(&percent_encode(&file));
    }
    v
}

/// One slot of the cache: a key and its header value.
type Slot = Mutex<Option<(Key, Arc<str>)>>;

/// The header values of recent downloads, by key.
pub struct Names {
    slots: Box<[Slot]>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            slots: (0..NAME_CACHE_SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl Names {
    /// The `Content-Disposition` of `key`, from the cache, or built from the name `read`
    /// returns (called only on a miss) and cached.
    pub fn disposition(&self, key: &Key, read: impl FnOnce() -> Option<String>) -> Arc<str> {
        let slot =
            &self.slots[usize::from(u16::from_be_bytes([key.0[0], key.0[1]])) % NAME_CACHE_SLOTS];
        if let Some((k, v)) = &*slot.lock().unwrap_or_else(|p| p.into_inner()) {
            if k == key {
                return Arc::clone(v);
            }
        }
        // Built outside the lock: reading a torrent can take a while.
        let value: Arc<str> = content_disposition(key, read().as_deref()).into();
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((*key, Arc::clone(&value)));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_file_names() {
        for (name, want) in [
            (
                "debian-12.5.0-amd64-netinst.iso",
                Some("debian-12.5.0-amd64-netinst.iso.torrent"),
            ),
            ("a/b\\c:d*e?f\"g<h>i|j", Some("a_b_c_d_e_f_g_h_i_j.torrent")),
            ("  two\t\nlines \r\n here ", Some("two lines here.torrent")),
            ("..hidden..", Some("hidden.torrent")),
            ("already.torrent", Some("already.torrent")),
            ("Already.TORRENT", Some("Already.torrent")),
            ("Пример – 例子 🎬", Some("Пример – 例子 🎬.torrent")),
            ("", None),
            (" . ", None),
            ("\u{0}\u{7}", None),
            (".torrent", Some("torrent.torrent")),
        ] {
            assert_eq!(file_name(name).as_deref(), want, "{name:?}");
        }
        let long = file_name(&"é".repeat(1000)).unwrap();
        assert_eq!(long.chars().count(), MAX_FILE_NAME_CHARS + ".torrent".len());
    }

    #[test]
    fn the_header_has_the_hash_as_fallback() {
        let key = Key::parse("7431A969B347E14BBA641B3517C024F7B40DFB7F").unwrap();
        assert_eq!(
            content_disposition(&key, Some("Über \"x\".iso")),
            "attachment; filename=\"7431A969B347E14BBA641B3517C024F7B40DFB7F.torrent\"; \
             filename*=UTF-8''%C3%9Cber%20_x_.iso.torrent"
        );
        assert_eq!(
            content_disposition(&key, None),
            "attachment; filename=\"7431A969B347E14BBA641B3517C024F7B40DFB7F.torrent\""
        );
        let names = Names::default();
        let mut reads = 0;
        for _ in 0..3 {
            let v = names.disposition(&key, || {
                reads += 1;
                Some("a".into())
            });
            assert!(v.ends_with("UTF-8''a.torrent"), "{v}");
        }
        assert_eq!(reads, 1, "the name is read once");
    }
}
