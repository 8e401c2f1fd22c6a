//! bencode + `torrent::validate` + `torrent::summary`.
//!
//! Properties: every span the bencode parser reports lies inside the input; a torrent the
//! validator accepts has its `info` span inside the input, starting with `d` and ending where
//! the bencode parser says that value ends; its v1 hash is the SHA-1 and its v2 hash (present
//! exactly when `meta version` is 2) the SHA-256 of exactly those bytes; the key is the v1
//! hash, or the truncated v2 hash of a v2-only torrent; `summary` succeeds on it, and
//! `torrent::name`, read in windows that end at every token boundary, is its name. On valid
//! bencode, `torrent::name` finds what a whole parse finds; on any input it does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use thetorrent::torrent::{self, bencode};

/// Hands out exactly the bytes asked for: every token boundary falls on a window's end.
struct Stingy<'a>(&'a [u8]);

impl torrent::Window for Stingy<'_> {
    fn window(&mut self, offset: u64, min: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?.min(self.0.len());
        Some(&self.0[start..start.saturating_add(min).min(self.0.len())])
    }
}

fuzz_target!(|data: &[u8]| {
    let windowed = torrent::name(Stingy(data));
    assert_eq!(torrent::name(data), windowed, "name differs with windows");
    if let Ok(item) = bencode::parse(data) {
        assert!(item.span.start <= item.span.end && item.span.end <= data.len());
        // On valid bencode the walk finds what a whole parse finds.
        let info = item.as_dict().and_then(|d| d.get(b"info")?.as_dict());
        let find = |k: &[u8]| info?.get(k)?.as_bytes();
        let parsed = find(b"name.utf-8")
            .or_else(|| find(b"name"))
            .map(|b| String::from_utf8_lossy(b).into_owned());
        assert_eq!(windowed, parsed, "name differs from a whole parse");
        if let Some(d) = item.as_dict() {
            for (k, v) in d.iter() {
                let _ = k;
                assert!(v.span.end <= data.len() && v.span.start < v.span.end);
            }
        }
    }

    let Ok(p) = torrent::validate(data) else {
        // A rejected torrent must not make the page code panic either.
        let _ = torrent::summary(data);
        return;
    };
    let info = p.info.clone();
    assert!(
        info.start < info.end && info.end <= data.len(),
        "info span {info:?} outside input"
    );
    assert_eq!(data[info.start], b'd', "info span does not start with 'd'");
    let (item, end) = bencode::parse_at(data, info.start).expect("info span re-parses");
    assert_eq!(
        end, info.end,
        "info span end differs from the bencode value's end"
    );
    assert_eq!(item.span, info);
    let raw = &data[info.clone()];

    assert!(
        p.v1.is_some() || p.v2.is_some(),
        "accepted torrent without any hash"
    );
    if let Some(v1) = p.v1 {
        let want: [u8; 20] = Sha1::digest(raw).into();
        assert_eq!(v1, want, "v1 hash is not SHA-1 of the info span");
        assert_eq!(p.key().0, v1);
    } else {
        let v2 = p.v2.unwrap();
        assert_eq!(&p.key().0[..], &v2[..20]);
    }
    let meta_v2 = item
        .as_dict()
        .and_then(|d| d.get(b"meta version"))
        .and_then(|v| v.as_int())
        == Some(2);
    assert_eq!(
        p.v2.is_some(),
        meta_v2,
        "v2 hash present iff meta version 2"
    );
    if let Some(v2) = p.v2 {
        let want: [u8; 32] = Sha256::digest(raw).into();
        assert_eq!(v2, want, "v2 hash is not SHA-256 of the info span");
    }

    let s = torrent::summary(data).expect("summary of an accepted torrent");
    assert_eq!(
        windowed.unwrap_or_default(),
        s.name,
        "name differs from the summary's"
    );
    assert!(s.files.len() <= torrent::MAX_SUMMARY_FILES);
    assert!(s.files.len() <= s.file_count);
});
