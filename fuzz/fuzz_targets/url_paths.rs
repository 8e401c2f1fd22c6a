//! Hash and path parsing in URLs: `torrent::hash::Key::parse`, the lookup box and magnet links
//! (`app::pages::lookup_query`, `magnet_target`), `/sync/` day names (`storage::day::Day::parse`)
//! and `storage::local::store::Store::torrent_path`.
//!
//! The input is a request path or query (lossily UTF-8). It goes through the same steps as in
//! the route table: `/torrent/<HASH>.torrent`, `/<HASH>.torrent`, `/info/<HASH>`, `/sync/<DAY>.txt`,
//! `/magnet?…`, `/lookup?…`, and the raw text as a lookup-box entry. Properties: every accepted
//! hash maps to `DATA/torrents/XX/YY/<40 upper hex>.torrent` exactly (three normal components,
//! XX and YY the first four digits of the name, nothing else), the file name maps back to the
//! same key, the hash text had one of the accepted lengths; an accepted day name is 8 ASCII
//! digits, prints back identically and names one file directly inside `DATA/sync`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Component;
use std::sync::OnceLock;
use thetorrent::app::pages as lookup;
use thetorrent::storage::day::Day;
use thetorrent::storage::local::store::{self, Store};
use thetorrent::torrent::hash::Key;

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), thetorrent::storage::Config::default()).expect("store");
        Env { _dir: dir, store }
    })
}

fn check_key(k: &Key, from: &str) {
    let env = env();
    let root = env.store.root();
    let path = env.store.torrent_path(k);
    let rel = path
        .strip_prefix(root.join("torrents"))
        .unwrap_or_else(|_| panic!("{from:?} maps outside DATA/torrents: {path:?}"));
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().expect("UTF-8 component"),
            other => panic!("{from:?} maps to a path with {other:?}: {path:?}"),
        })
        .collect();
    assert_eq!(parts.len(), 3, "{from:?} → {path:?}");
    let name = parts[2].strip_suffix(".torrent").expect(".torrent suffix");
    assert_eq!(name.len(), 40);
    assert!(name
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)));
    assert_eq!(parts[0], &name[0..2]);
    assert_eq!(parts[1], &name[2..4]);
    assert_eq!(store::key_of_path(&path), Some(*k));
    assert_eq!(Key::parse(name), Ok(*k));
    assert_eq!(name.as_bytes(), &k.hex()[..]);
}

fn hash_route(hash: &str, from: &str) {
    if let Ok(k) = Key::parse(hash) {
        assert!(matches!(hash.len(), 32 | 40 | 64), "{hash:?} accepted");
        assert!(hash.is_ascii());
        check_key(&k, from);
    }
}

fn day_route(name: &str) {
    if let Some(d) = name.strip_suffix(".txt").and_then(Day::parse) {
        let digits = &name[..name.len() - 4];
        assert_eq!(digits.len(), 8);
        assert!(
            digits.bytes().all(|c| c.is_ascii_digit()),
            "day {name:?} accepted"
        );
        assert_eq!(d.to_string(), digits);
        assert_eq!(d.file_name(), name);
        let sync = env().store.root().join("sync");
        let p = env().store.days().path(d);
        assert_eq!(p.parent(), Some(sync.as_path()));
        assert_eq!(p.file_name().and_then(|f| f.to_str()), Some(name));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;

    // The raw text as a hash, a lookup-box entry, a magnet query, a lookup query, a day.
    hash_route(s, s);
    for k in [
        lookup::lookup_target(s),
        lookup::magnet_target(s),
        lookup::lookup_query(s),
    ]
    .into_iter()
    .flatten()
    {
        check_key(&k, s);
    }
    if let Some(d) = Day::parse(s) {
        assert!(s.len() == 8 && s.bytes().all(|c| c.is_ascii_digit()));
        day_route(&d.file_name());
    }

    // The route table's view of the text as a path (query string cut off first).
    let path = s.split_once('?').map_or(s, |(p, _)| p);
    let query = s.split_once('?').map(|(_, q)| q);
    if let Some(hash) = path
        .strip_prefix("/torrent/")
        .or_else(|| path.strip_prefix('/'))
        .and_then(|p| p.strip_suffix(".torrent"))
        .filter(|h| !h.contains('/'))
    {
        hash_route(hash, s);
    }
    if let Some(hash) = path.strip_prefix("/info/") {
        hash_route(hash, s);
    }
    if let Some(name) = path.strip_prefix("/sync/") {
        day_route(name);
    }
    if let Some(q) = query {
        if let Some(k) = lookup::magnet_target(q) {
            check_key(&k, s);
        }
        if let Some(k) = lookup::lookup_query(q) {
            check_key(&k, s);
        }
    }
});
