//! Tests: Validation, hashes and summaries on corpus files and hand-built torrents, including hostile ones.

use super::path::{sanitize_append, Element};
use super::v2::{merkle_root, sha256_pair};
use super::*;
use sha1::{Digest, Sha1};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");

fn corpus(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A single-file v1 torrent around `info` (raw bytes of the info dict).
fn wrap(info: &[u8]) -> Vec<u8> {
    let mut v = b"d8:announce14:http://t/annce4:info".to_vec();
    v.extend_from_slice(info);
    v.push(b'e');
    v
}

const INFO: &[u8] =
    b"d6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";

#[test]
fn v1_hash_is_sha1_of_the_raw_span() {
    let t = wrap(INFO);
    let p = validate(&t).unwrap();
    assert_eq!(&t[p.info.clone()], INFO);
    let want: [u8; 20] = Sha1::digest(INFO).into();
    assert_eq!(p.v1, Some(want));
    assert_eq!(p.v2, None);
    assert_eq!(p.key(), Key(want));
}

#[test]
fn unsorted_info_dict_hashes_its_raw_bytes() {
    // keys out of order and a duplicate: a re-encoder would sort and dedupe them
    let info: &[u8] = b"d4:name5:a.txt6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa4:name5:b.txte";
    let t = wrap(info);
    let p = validate(&t).unwrap();
    let want: [u8; 20] = Sha1::digest(info).into();
    assert_eq!(p.v1, Some(want));
    assert_eq!(
        summary(&t).unwrap().name,
        "a.txt",
        "the first duplicate wins"
    );
}

#[test]
fn trailing_bytes_tolerated() {
    let mut t = wrap(INFO);
    let clean = validate(&t).unwrap();
    t.extend_from_slice(b"\r\n<html>junk</html>");
    assert_eq!(validate(&t).unwrap(), clean);
}

#[test]
fn messages() {
    let msg = |b: &[u8]| validate(b).unwrap_err().to_string();
    assert_eq!(
        msg(b"d3:foo3:bare"),
        "not a torrent file: no info dictionary"
    );
    assert_eq!(
        msg(b"d4:infoi1ee"),
        "not a torrent file: no info dictionary"
    );
    assert_eq!(
        msg(b"le"),
        "not a torrent file: top level is not a dictionary"
    );
    assert_eq!(
        msg(&wrap(
            b"d6:lengthi5e4:name1:a12:piece lengthi0e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
        )),
        "not a torrent file: invalid 'piece length'"
    );
    assert_eq!(
        msg(&wrap(
            b"d6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
        )),
        "not a torrent file: missing or invalid 'name'"
    );
    assert_eq!(
        msg(&wrap(
            b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces19:aaaaaaaaaaaaaaaaaaae"
        )),
        "not a torrent file: invalid 'pieces': 19 bytes, expected 20 (20 per piece)"
    );
    assert_eq!(
        msg(b"d4:infod1:xi123456789012345678901eee"),
        "not a torrent file: invalid bencode: integer longer than 20 digits at byte 11"
    );
    for m in [msg(b""), msg(b"d4:info"), msg(b"i-e")] {
        assert!(
            m.starts_with("not a torrent file: invalid bencode: "),
            "{m}"
        );
    }
}

fn deep_torrent(depth: usize) -> Vec<u8> {
    // top dict (1) + info dict (2) + "x" holding depth-2 nested lists
    let mut info = b"d1:x".to_vec();
    info.extend(std::iter::repeat_n(b'l', depth - 2));
    info.extend(std::iter::repeat_n(b'e', depth - 2));
    info.extend_from_slice(&INFO[1..]);
    wrap(&info)
}

#[test]
fn depth_99_ok_100_rejected() {
    assert!(validate(&deep_torrent(99)).is_ok());
    let e = validate(&deep_torrent(100)).unwrap_err();
    assert!(matches!(
        e,
        TorrentError::Bencode(bencode::Error::TooDeep { .. })
    ));
    // the end of the 100th container: 34 bytes of prefix + "d1:x" + 98 lists
    assert_eq!(
        e.to_string(),
        "not a torrent file: bencode nesting deeper than 99 at byte 136"
    );
}

#[test]
fn megabyte_of_lists_on_a_small_stack() {
    let h = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut v = b"d4:infod1:x".to_vec();
            v.extend(std::iter::repeat_n(b'l', 1 << 20));
            (validate(&v).is_err(), summary(&v).is_err())
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), (true, true));
}

#[test]
fn truncations_and_corruptions_never_panic() {
    // (file, stride of single-byte corruptions): every offset is truncated; corruptions
    // are spread out on the big file to keep the debug-build test fast.
    for (rel, stride) in [
        (
            "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
            97,
        ),
        (
            "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/empty-files-1.torrent",
            1,
        ),
        (
            "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent",
            1,
        ),
    ] {
        let t = corpus(rel);
        assert!(validate(&t).is_ok(), "{rel}");
        for n in 0..t.len() {
            // only a cut inside the top-level dict can fail; none may panic
            assert!(validate(&t[..n]).is_err(), "{rel} cut at {n}");
            let _ = summary(&t[..n]);
        }
        let mut m = t.clone();
        for i in (0..m.len()).step_by(stride) {
            let old = m[i];
            for new in [old.wrapping_add(1), b'e', b'0', b'l'] {
                m[i] = new;
                let _ = validate(&m);
                let _ = summary(&m);
            }
            m[i] = old;
        }
    }
}

#[test]
fn v2_only_key_is_truncated_v2_hash() {
    let t = corpus("debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent");
    let p = validate(&t).unwrap();
    assert!(p.v1.is_none());
    let v2 = p.v2.unwrap();
    assert_eq!(p.key(), Key::from_v2(&v2));
}

#[test]
fn summary_of_multi_file_v1() {
    let t = b"d8:announce5:http1\
            13:announce-listll5:http1el5:http25:http1ee\
            7:comment2:hi10:created by3:me\xff13:creation datei1700000000e\
            4:infod5:filesl\
            d6:lengthi3e4:pathl3:dir5:a.txteed\
            4:attr1:p6:lengthi16381e4:pathl4:.pad5:16381eed\
            6:lengthi7e4:pathl5:b.txteee\
            4:name3:top10:name.utf-84:top!12:piece lengthi16384e\
            6:pieces40:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa7:privatei1eee";
    validate(t).unwrap();
    let s = summary(t).unwrap();
    assert_eq!(s.name, "top!");
    assert_eq!(s.trackers, ["http1", "http2"]);
    assert_eq!(
        s.files,
        [
            FileEntry {
                path: "dir/a.txt".into(),
                size: 3
            },
            FileEntry {
                path: "b.txt".into(),
                size: 7
            },
        ]
    );
    assert_eq!(s.total_size, 10);
    assert!(s.private);
    assert_eq!(s.creation_date, Some(1_700_000_000));
    assert_eq!(s.created_by.as_deref(), Some("me\u{fffd}"));
    assert_eq!(s.comment.as_deref(), Some("hi"));
}

#[test]
fn summary_of_v2_only_file_tree() {
    let t = corpus(
        "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_multiple_files.torrent",
    );
    let s = summary(&t).unwrap();
    assert!(s.files.len() > 1, "{s:?}");
    assert_eq!(s.total_size, s.files.iter().map(|f| f.size).sum::<u64>());
    assert!(s
        .files
        .iter()
        .all(|f| !f.path.is_empty() && !f.path.ends_with('/')));
}

/// A v2 tree: `depth` nested directories holding `n` empty files.
fn deep_tree(depth: usize, n: usize) -> Vec<u8> {
    let mut t = b"d4:infod9:file treed".to_vec();
    for _ in 0..depth {
        t.extend_from_slice(b"3:dird");
    }
    for i in 0..n {
        let k = format!("{i:08}");
        t.extend_from_slice(format!("8:{k}d0:d6:lengthi0eee").as_bytes());
    }
    t.extend(std::iter::repeat_n(b'e', depth + 1));
    t.extend_from_slice(b"12:meta versioni2e4:name1:x12:piece lengthi16384eee");
    t
}

#[test]
fn deep_shared_tree_stays_linear_and_listing_is_capped() {
    let t = deep_tree(90, MAX_SUMMARY_FILES + 5);
    // all files are empty: a structurally fine tree with a total size of zero
    assert_eq!(validate(&t), Err(TorrentError::InvalidLength));
    let s = summary(&t).unwrap();
    assert_eq!(s.file_count, MAX_SUMMARY_FILES + 5);
    assert_eq!(s.files.len(), MAX_SUMMARY_FILES);
    let first = &s.files[0].path;
    assert!(
        first.starts_with("dir/dir/") && first.ends_with("/00000000"),
        "{first}"
    );
}

#[test]
fn file_tree_structure_errors() {
    let bad = |tree: &str| {
        let t =
            format!("d4:infod9:file tree{tree}12:meta versioni2e4:name1:x12:piece lengthi16384eee");
        validate(t.as_bytes()).unwrap_err()
    };
    // an empty key next to other entries, a file entry that is not a dict, a non-dict node
    assert_eq!(
        bad("d1:ad0:d6:lengthi1ee1:bdeee"),
        TorrentError::InvalidFileEntry
    );
    assert_eq!(bad("d1:ad0:i1eee"), TorrentError::InvalidFileEntry);
    assert_eq!(bad("d1:ai1ee"), TorrentError::InvalidFileEntry);
    assert_eq!(
        bad("d1:ad0:d6:lengthi1eeee"),
        TorrentError::MissingPiecesRoot
    );
    assert_eq!(bad("de"), TorrentError::NoFiles);
}

#[test]
fn sanitizing() {
    let s = |parts: &[&[u8]]| {
        let mut p = Vec::new();
        for e in parts {
            sanitize_append(&mut p, e, Element::Optional);
        }
        String::from_utf8_lossy(&p).into_owned()
    };
    assert_eq!(s(&[b"a", b"..", b"b"]), "a/b");
    assert_eq!(s(&[b"a", b".", b"b/c"]), "a/bc");
    assert_eq!(s(&[b"a", b""]), "a/_");
    assert_eq!(s(&[b"\xff"]), "_");
    assert_eq!(s(&[b"\0\0"]), "");
    assert_eq!(s(&[b"x\xe2\x80\xaey"]), "xy");
    // controls become '_', NUL and zero-width characters go
    assert_eq!(s(&[b"a\x01\x7f\xc2\x85b"]), "a___b");
    assert_eq!(s(&[b"a\0\xe2\x80\x8b\xef\xbb\xbfb"]), "ab");
    // an invalid sequence is one '_' however many bytes it announced
    assert_eq!(s(&[b"\xe2\x80x.\xc0\xaf"]), "_._");
    let forced = |parts: &[&[u8]]| {
        let mut p = b"root".to_vec();
        for e in parts {
            sanitize_append(&mut p, e, Element::Forced);
        }
        String::from_utf8_lossy(&p).into_owned()
    };
    assert_eq!(forced(&[b".", b"..", b"/", b"", b"x"]), "root/_/_/_/_/x");
}

#[test]
fn merkle_root_of_single_piece_pair() {
    let a = [1u8; 32];
    let b = [2u8; 32];
    let mut layer = a.to_vec();
    layer.extend_from_slice(&b);
    assert_eq!(merkle_root(&layer, 1), sha256_pair(&a, &b));
    // three pieces pad to four with the zero-piece hash
    let mut three = layer.clone();
    three.extend_from_slice(&a);
    let pad = sha256_pair(&[0; 32], &[0; 32]);
    assert_eq!(
        merkle_root(&three, 2),
        sha256_pair(&sha256_pair(&a, &b), &sha256_pair(&a, &pad))
    );
}
