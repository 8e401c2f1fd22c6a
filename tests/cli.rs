//! The command line and the store, through the real binary on a temporary data directory.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const DEBIAN: &str =
    "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent";
const DEBIAN_V1: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
const HYBRID: &str = "github-libtorrent-069017e/test/test_torrents/v2_hybrid.torrent";
const HYBRID_V1: &str = "514C76C1F27EC61CA8B37851BCD1CBF0B26CF120";
const HYBRID_V2: &str = "518FBAF39B37020C896E8768A967DA6D76BBD5EF7A02C761021B65A72C6CFA11";
const V2ONLY: &str = "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent";
const V2ONLY_V2: &str = "95E04D0C4BAD94AB206EFA884666FD89777DBE4F7BD9945AF1829037A85C6192";
const BAD: &str = "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/no_name.torrent";

fn sync_lines(data: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for f in files_under(&data.join("sync")) {
        if f.extension().is_none_or(|e| e != "txt") {
            continue; // the per-day sizes files
        }
        v.extend(
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    }
    v
}

fn add(data: &Path, rel: &str) -> std::process::Output {
    let f = corpus_file(rel);
    run(data, &["add", f.to_str().unwrap()])
}

#[test]
fn add_stores_exact_bytes_and_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert_eq!(count(data), 0);
    let o = add(data, DEBIAN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{DEBIAN_V1}  debian-9.4.0-amd64-netinst.iso\n")
    );
    let stored = stored_path(data, DEBIAN_V1);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(corpus_file(DEBIAN)).unwrap()
    );
    assert_eq!(count(data), 1);
    assert_eq!(sync_lines(data), vec![DEBIAN_V1.to_string()]);
    // The day's sizes file records the torrent's size (for "bytes stored").
    let sizes: Vec<_> = files_under(&data.join("sync"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "bytes"))
        .collect();
    assert_eq!(sizes.len(), 1);
    assert_eq!(std::fs::read(&sizes[0]).unwrap(), 23821u64.to_le_bytes());

    // Again: not an error, same hash, nothing added.
    let o = add(data, DEBIAN);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with(DEBIAN_V1));
    assert_says(&stderr(&o), "already stored");
    assert_eq!(count(data), 1);
    assert_eq!(sync_lines(data).len(), 1);
    // No temp files or journals left behind.
    assert!(files_under(&data.join("tmp")).is_empty());
    assert!(files_under(&data.join("journal")).is_empty());
}

#[test]
fn rejected_file_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let o = add(data, BAD);
    assert_eq!(o.status.code(), Some(1));
    assert_says(&stderr(&o), "not a torrent file");
    assert!(stdout(&o).is_empty());
    assert!(files_under(&data.join("torrents")).is_empty());
    assert_eq!(count(data), 0);

    // Over the size limit: refused before parsing, with the sizes in the message.
    let o = run(
        data,
        &[
            "--max-torrent-size",
            "1000",
            "add",
            corpus_file(DEBIAN).to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_says(&stderr(&o), "torrent too large: 23821 bytes (limit 1000)");
    assert!(files_under(&data.join("torrents")).is_empty());

    // A missing file, a folder, garbage: errors, exit 1, still nothing stored.
    let junk = data.join("junk.torrent");
    std::fs::write(&junk, b"d4:infoi1ee").unwrap();
    let o = run(
        data,
        &["add", "/nonexistent/x.torrent", junk.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 2, "{}", stderr(&o));
    assert!(files_under(&data.join("torrents")).is_empty());
    assert_eq!(count(data), 0);
}

#[test]
fn hybrid_is_reachable_by_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let o = add(data, HYBRID);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(HYBRID_V1));
    let a = std::fs::metadata(stored_path(data, HYBRID_V1)).unwrap();
    let b = std::fs::metadata(stored_path(data, &HYBRID_V2[..40])).unwrap();
    assert_eq!(a.ino(), b.ino(), "the v2 name is a hard link");
    assert_eq!(count(data), 1, "a hybrid is one torrent");
    assert_eq!(sync_lines(data), vec![HYBRID_V1.to_string()]);
}

#[test]
fn v2_only_is_filed_under_truncated_v2_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let o = add(data, V2ONLY);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(&V2ONLY_V2[..40]), "{}", stdout(&o));
    assert!(stored_path(data, &V2ONLY_V2[..40]).is_file());
    assert_eq!(count(data), 1);
}

#[test]
fn import_corpus_agrees_with_manifest_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let report = tmp.path().join("rejected.tsv");
    let rows = manifest();
    let keys: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.accept)
        .map(|r| {
            r.v1.clone()
                .unwrap_or_else(|| r.v2.clone().unwrap()[..40].to_string())
        })
        .collect();
    let accepted = rows.iter().filter(|r| r.accept).count();
    // Every file of the corpus folder: MANIFEST.tsv and PROVENANCE.md are not torrents at all
    // (counted apart), the rest are torrents libtorrent accepts or rejects.
    let files = files_under(&corpus());
    let not_torrents = files
        .iter()
        .filter(|f| f.extension().is_none_or(|e| e != "torrent"))
        .count();
    assert_eq!(not_torrents, 2, "MANIFEST.tsv and PROVENANCE.md");
    let rejected = files.len() - accepted - not_torrents;

    let o = run(
        &data,
        &[
            "import",
            "--quiet",
            "--report",
            report.to_str().unwrap(),
            corpus().to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "some files are rejected: {}",
        stderr(&o)
    );
    let out = stdout(&o);
    let expect = format!(
        "{} stored, {} already stored, {} rejected, 2 not torrents (skipped; listed in the report)",
        keys.len(),
        accepted - keys.len(),
        rejected
    );
    assert!(out.contains(&expect), "want {expect:?} in:\n{out}");
    assert!(out.contains("not a torrent file"), "{out}");
    let report = std::fs::read_to_string(&report).unwrap();
    assert_eq!(report.lines().count(), rejected + not_torrents, "{report}");
    assert!(
        report.contains("MANIFEST.tsv\tnot a torrent, skipped: "),
        "{report}"
    );
    for row in rows.iter().filter(|r| !r.accept) {
        assert!(
            report.contains(row.path.to_str().unwrap()),
            "{:?} not reported",
            row.path
        );
    }
    // Every accepted key is stored, with the exact bytes of one of its files.
    for row in rows.iter().filter(|r| r.accept) {
        let key = row
            .v1
            .clone()
            .unwrap_or_else(|| row.v2.clone().unwrap()[..40].to_string());
        assert!(stored_path(&data, &key).is_file(), "{key}");
    }
    assert_eq!(count(&data), keys.len() as u64);
    let listed: BTreeSet<String> = sync_lines(&data).into_iter().collect();
    assert_eq!(listed, keys);

    let o = run(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // Import again: everything is already there.
    let o = run(&data, &["import", "--quiet", corpus().to_str().unwrap()]);
    assert_says(&stdout(&o), &format!("0 stored, {accepted} already stored"));
    assert_eq!(count(&data), keys.len() as u64);
}

#[test]
fn verify_finds_tampered_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, DEBIAN).status.success());
    assert_eq!(run(data, &["verify"]).status.code(), Some(0));
    // Someone copies another torrent over the stored one.
    std::fs::remove_file(stored_path(data, DEBIAN_V1)).unwrap();
    std::fs::copy(corpus_file(V2ONLY), stored_path(data, DEBIAN_V1)).unwrap();
    let o = run(data, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert_says(&stdout(&o), "content hashes to");
}

/// Flips one bit of a stored file in place (its inode, and so its recorded checksum, stay):
/// the byte `offset` bytes after the first `needle`.
fn flip(path: &Path, needle: &[u8], offset: usize) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} holds no {needle:?}", path.display()))
        + offset;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&[bytes[at] ^ 0x20], at as u64).unwrap();
}

/// Where a hybrid's v1 `pieces` string starts (after `6:pieces<len>:`).
const PIECES: &[u8] = b"6:pieces";

/// A bit flipped outside `info` (the tracker URL), one inside it (a hybrid's v1 pieces: both
/// its names are the one damaged file), and a listed file deleted: `verify` names each path
/// and what is wrong, and never gives the count advice for them; `--repair-from` an instance
/// holding other bytes under the same info hash refuses them; from one holding the stored
/// bytes it puts each file back, atomically, hybrid link included.
#[test]
fn verify_names_each_damaged_file_and_repairs_it_from_another_instance() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    for t in [DEBIAN, HYBRID, V2ONLY] {
        assert!(add(data, t).status.success());
    }
    let o = run(data, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_says(&stdout(&o), "4 files checked, 3 torrents, 0 problems");
    assert!(
        !stdout(&o).contains("no whole-file checksum"),
        "{}",
        stdout(&o)
    );

    let debian = stored_path(data, DEBIAN_V1);
    let hybrid = stored_path(data, HYBRID_V1);
    let hybrid_link = stored_path(data, &HYBRID_V2[..40]);
    let v2only = stored_path(data, &V2ONLY_V2[..40]);
    flip(&debian, b"bttracker.debian.org", 0);
    flip(&hybrid, PIECES, 20);
    std::fs::remove_file(&v2only).unwrap();
    let o = run(data, &["verify"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("{}: bytes changed outside info", debian.display())),
        "{out}"
    );
    for p in [&hybrid, &hybrid_link] {
        assert!(
            out.contains(&format!(
                "{}: info hash mismatch: content hashes to",
                p.display()
            )),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("{}: missing", v2only.display())),
        "{out}"
    );
    assert!(
        !out.contains("reindex"),
        "damage is not a count to rebuild: {out}"
    );
    assert!(
        out.contains("3 files checked, 2 torrents, 4 problems"),
        "{out}"
    );

    // Another instance holding the Debian torrent with another tracker (the same info hash,
    // other bytes) and nothing else: nothing it sends is taken.
    let other = temp_dir();
    let variant = other.path().join("variant.torrent");
    let mut bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    let at = bytes.windows(9).position(|w| w == b"bttracker").unwrap();
    bytes[at] = b'B';
    std::fs::write(&variant, &bytes).unwrap();
    assert!(run(other.path(), &["add", variant.to_str().unwrap()])
        .status
        .success());
    let wrong = try_start(other, &[]).unwrap_or_else(|(_, log)| panic!("{log}"));
    let damaged = std::fs::read(&debian).unwrap();
    let o = run(data, &["verify", "--repair-from", &wrong.url("")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{}: not repaired: the bytes http://{} sent are refused: the bytes differ from the \
             whole-file SHA-256 recorded here",
            debian.display(),
            wrong.addr
        )),
        "{out}"
    );
    assert!(out.contains("answered HTTP 404"), "{out}");
    assert!(out.contains(", 0 repaired"), "{out}");
    assert_eq!(std::fs::read(&debian).unwrap(), damaged, "left as it was");

    // An instance with the stored bytes.
    let good = temp_dir();
    for t in [DEBIAN, HYBRID, V2ONLY] {
        assert!(run(good.path(), &["add", corpus_file(t).to_str().unwrap()])
            .status
            .success());
    }
    let source = try_start(good, &[]).unwrap_or_else(|(_, log)| panic!("{log}"));
    let o = run(data, &["verify", "--repair-from", &source.url("")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    for p in [&debian, &hybrid, &hybrid_link, &v2only] {
        assert!(
            out.contains(&format!("{}: repaired", p.display())),
            "{p:?}: {out}"
        );
    }
    assert!(out.contains("4 problems, 4 repaired"), "{out}");
    for (p, t) in [
        (&debian, DEBIAN),
        (&hybrid, HYBRID),
        (&hybrid_link, HYBRID),
        (&v2only, V2ONLY),
    ] {
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(corpus_file(t)).unwrap()
        );
    }
    let (a, b) = (
        std::fs::metadata(&hybrid).unwrap(),
        std::fs::metadata(&hybrid_link).unwrap(),
    );
    assert_eq!(
        (a.ino(), a.nlink()),
        (b.ino(), 2),
        "one file under both names"
    );
    assert!(files_under(&data.join("tmp")).is_empty());
    let o = run(data, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_says(&stdout(&o), "4 files checked, 3 torrents, 0 problems");
    assert_eq!(count(data), 3);
}

/// A store written before whole-file checksums were kept: `verify` checks the info hash only
/// and says so; `reindex` records a checksum for each file whose info hash matches its name,
/// after which a change outside `info` is found.
#[test]
fn files_without_a_checksum_are_checked_by_info_hash_until_reindex_records_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    for t in [DEBIAN, HYBRID] {
        assert!(add(data, t).status.success());
    }
    let debian = stored_path(data, DEBIAN_V1);
    let hybrid = stored_path(data, HYBRID_V1);
    for p in [&debian, &hybrid] {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: two valid NUL-terminated strings that outlive the call.
        let r = unsafe { libc::removexattr(c.as_ptr(), c"user.thetorrent.sha256".as_ptr()) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    }
    // Without a checksum a change outside `info` cannot be seen.
    flip(&hybrid, b"libtorrent", 0);
    let o = run(data, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_says(&stdout(&o), "2 files have no whole-file checksum");
    // Damage inside `info` is found without a checksum, and no checksum is recorded for it.
    flip(&debian, b"6:pieces", 20);
    let o = run(data, &["reindex"]);
    assert!(
        stdout(&o).contains(": 2 torrents listed in 1 day list"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_says(
        &stderr(&o),
        "recorded a whole-file checksum for 1 files that had none; 1 still",
    );
    flip(&hybrid, b"ibtorrent", 3);
    let o = run(data, &["verify"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for p in [&hybrid, &stored_path(data, &HYBRID_V2[..40])] {
        assert!(
            out.contains(&format!("{}: bytes changed outside info", p.display())),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("{}: info hash mismatch", debian.display())),
        "{out}"
    );
    assert!(out.contains("1 files have no whole-file checksum"), "{out}");
}

#[test]
fn block_refuses_uploads_until_unblocked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, HYBRID).status.success());
    // Blocking by the v2 form blocks the hybrid under both keys.
    let o = run(data, &["block", HYBRID_V2, "--reason", "DMCA notice 42"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_says(&stdout(&o), HYBRID_V1);
    let bl = std::fs::read_to_string(data.join("blocklist.tsv")).unwrap();
    assert!(bl.contains(&format!("{HYBRID_V1}\tDMCA notice 42")), "{bl}");
    // The file is kept (a takedown hides, never deletes).
    assert!(stored_path(data, HYBRID_V1).is_file());

    assert!(add(data, DEBIAN).status.success());
    let o = run(data, &["block", &DEBIAN_V1.to_lowercase(), "--reason", "x"]);
    assert!(o.status.success());
    std::fs::remove_file(stored_path(data, DEBIAN_V1)).unwrap();
    let o = add(data, DEBIAN);
    assert_eq!(o.status.code(), Some(1));
    assert_says(&stderr(&o), "is blocked: x");
    assert!(!stored_path(data, DEBIAN_V1).exists());

    let o = run(data, &["unblock", DEBIAN_V1]);
    assert!(o.status.success());
    let o = add(data, DEBIAN);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stored_path(data, DEBIAN_V1).is_file());

    let o = run(data, &["block", "not-a-hash", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert_says(&stderr(&o), "invalid info hash");
}

#[test]
fn recovery_completes_a_dead_writers_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, DEBIAN).status.success());
    // A writer died after renaming the hybrid into place and before its day-list line: its
    // journal still holds the intent, its temp folder a half-written file.
    let dst = stored_path(data, HYBRID_V1);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(corpus_file(HYBRID), &dst).unwrap();
    let day = std::fs::read_dir(data.join("sync"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()[..8]
        .to_string();
    std::fs::write(
        data.join("journal/1-1.log"),
        format!(
            "{day} {HYBRID_V1} {}\n{day} {DEBIAN_V1} -\n{day} 0000",
            &HYBRID_V2[..40]
        ),
    )
    .unwrap();
    std::fs::create_dir_all(data.join("tmp/1-1")).unwrap();
    std::fs::write(data.join("tmp/1-1/0.tmp"), b"d8:announce").unwrap();
    // And a torn line at the end of the day list.
    let list = data.join("sync").join(format!("{day}.txt"));
    let mut text = std::fs::read(&list).unwrap();
    text.extend_from_slice(b"ABCDEF");
    std::fs::write(&list, text).unwrap();

    assert_eq!(count(data), 2);
    assert_eq!(
        sync_lines(data),
        vec![DEBIAN_V1.to_string(), HYBRID_V1.to_string()]
    );
    assert!(
        stored_path(data, &HYBRID_V2[..40]).is_file(),
        "link restored"
    );
    assert!(files_under(&data.join("journal")).is_empty());
    assert!(files_under(&data.join("tmp")).is_empty());
    assert_eq!(run(data, &["verify"]).status.code(), Some(0));
}

#[test]
fn reindex_rebuilds_lists_from_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    for t in [DEBIAN, HYBRID, V2ONLY] {
        assert!(add(data, t).status.success());
    }
    std::fs::remove_dir_all(data.join("sync")).unwrap();
    assert_eq!(count(data), 0);
    assert_eq!(run(data, &["verify"]).status.code(), Some(1));
    let o = run(data, &["reindex"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "reindexed {}: 3 torrents listed in 1 day list (the count was 0, now 3)\n",
            data.display()
        )
    );
    assert_eq!(count(data), 3);
    assert_eq!(run(data, &["verify"]).status.code(), Some(0));
}

#[test]
fn unusable_data_directory_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let o = run(&file, &["count"]);
    assert_eq!(o.status.code(), Some(3));
    assert_says(&stderr(&o), "cannot open data directory");
}

#[test]
fn version_is_printed_by_the_program_and_each_command() {
    let v = env!("CARGO_PKG_VERSION");
    for (args, want) in [
        (&["--version"][..], format!("thetorrent {v}\n")),
        (&["-V"], format!("thetorrent {v}\n")),
        (&["serve", "--version"], format!("thetorrent-serve {v}\n")),
        (&["import", "-V"], format!("thetorrent-import {v}\n")),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
            .args(args)
            .output()
            .expect("run thetorrent");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), want, "{args:?}");
    }
}

/// Runs `thetorrent generate <what> <dir>` and returns its output.
fn generate(what: &str, dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .args(["generate", what])
        .arg(dir)
        .output()
        .expect("run thetorrent")
}

/// The files directly in `dir`, by name.
fn files_in(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// The man pages and completions the Debian package installs are committed under packaging/
/// (nothing generates them at build time): they must be what the binary writes today.
#[test]
fn packaged_man_pages_and_completions_are_what_the_binary_writes() {
    let packaging = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    for what in ["man", "completions"] {
        let tmp = tempfile::tempdir().unwrap();
        let o = generate(what, tmp.path());
        assert_eq!(o.status.code(), Some(0), "generate {what}: {}", stderr(&o));
        let fresh = files_in(tmp.path());
        let committed = files_in(&packaging.join(what));
        let mut stale = Vec::new();
        for (name, bytes) in &fresh {
            match committed.get(name) {
                None => stale.push(format!("{name} is missing")),
                Some(old) if old != bytes => stale.push(format!("{name} differs")),
                Some(_) => {}
            }
        }
        for name in committed.keys().filter(|n| !fresh.contains_key(*n)) {
            stale.push(format!("{name} is no longer written"));
        }
        assert!(
            stale.is_empty(),
            "packaging/{what}/ is stale ({}): run `thetorrent generate {what} packaging/{what}` \
             (`cargo run -- generate {what} packaging/{what}`) to update packaging/",
            stale.join(", ")
        );
    }
}

#[test]
fn generated_files_leave_out_what_the_command_line_hides() {
    let tmp = tempfile::tempdir().unwrap();
    for what in ["man", "completions"] {
        let o = generate(what, tmp.path());
        assert_eq!(o.status.code(), Some(0), "generate {what}: {}", stderr(&o));
    }
    let files = files_in(tmp.path());
    assert!(files.contains_key("thetorrent.1") && files.contains_key("thetorrent-serve.1"));
    for (name, bytes) in files {
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("generate"), "{name} mentions generate");
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(!stdout(&help).contains("generate"), "{}", stdout(&help));
}

#[test]
fn main_man_page_lists_the_exit_statuses_and_the_command_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let o = generate("man", tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(tmp.path().join("thetorrent.1")).unwrap();
    let sections: Vec<&str> = page.lines().filter(|l| l.starts_with(".SH ")).collect();
    let at = |s: &str| sections.iter().position(|l| *l == s);
    let (exit, files, see_also) = (
        at(".SH \"EXIT STATUS\""),
        at(".SH FILES"),
        at(".SH \"SEE ALSO\""),
    );
    assert!(
        exit.is_some() && exit < files && files < see_also,
        "{sections:?}"
    );
    assert_eq!(
        at(".SH \"SEE ALSO\""),
        Some(sections.len() - 1),
        "{sections:?}"
    );
    let exit_section = page.split(".SH \"EXIT STATUS\"").nth(1).unwrap();
    let exit_section = exit_section.split("\n.SH ").next().unwrap();
    for code in 0..=3 {
        assert!(
            exit_section.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit status {code} is not described:\n{exit_section}"
        );
    }
    for command in ["serve", "add", "import", "migrate"] {
        assert!(
            page.contains(&format!("\\fBthetorrent\\-{command}\\fR(1)")),
            "SEE ALSO does not name thetorrent-{command}(1)"
        );
    }
}

#[test]
fn generate_man_removes_only_pages_of_commands_that_are_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("thetorrent-gone.1"),
        "a command that no longer exists",
    )
    .unwrap();
    std::fs::write(dir.join("other.1"), "not ours").unwrap();
    std::fs::write(dir.join("thetorrent-notes.txt"), "not a page").unwrap();
    let o = generate("man", &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!dir.join("thetorrent-gone.1").exists());
    assert!(dir.join("other.1").is_file() && dir.join("thetorrent-notes.txt").is_file());
    assert!(dir.join("thetorrent-add.1").is_file());
}

#[test]
fn generate_into_a_folder_that_cannot_be_made_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let o = generate("completions", &file.join("sub"));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&format!(
            "cannot create folder {}",
            file.join("sub").display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn add_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let o = run(&data, &["add", folder.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "is a folder: to store the files under it, run `thetorrent import {}`",
            folder.display()
        )),
        "{}",
        stderr(&o)
    );
    let empty = tmp.path().join("empty.torrent");
    std::fs::write(&empty, b"").unwrap();
    let o = run(&data, &["add", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), format!("{}: empty file\n", empty.display()));
    // Sizes take units: 23821 bytes is over 16K and under 24K.
    let o = run(
        &data,
        &[
            "--max-torrent-size",
            "16K",
            "add",
            corpus_file(DEBIAN).to_str().unwrap(),
        ],
    );
    assert_says(&stderr(&o), "torrent too large: 23821 bytes (limit 16384)");
    let o = run(
        &data,
        &[
            "--max-torrent-size",
            "24KiB",
            "add",
            corpus_file(DEBIAN).to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&data, &["--max-torrent-size", "10 parsecs", "count"]);
    assert_eq!(o.status.code(), Some(2));
    assert_says(&stderr(&o), "not a size: 10 parsecs");
}

#[test]
fn block_twice_and_unblock_what_is_not_blocked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, DEBIAN).status.success());
    for _ in 0..2 {
        let o = run(data, &["block", DEBIAN_V1, "--reason", "notice 7"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = run(data, &["block", DEBIAN_V1, "--reason", "notice 7"]);
    assert_eq!(
        stdout(&o),
        format!("already blocked {DEBIAN_V1} (same reason)\n")
    );
    let bl = std::fs::read_to_string(data.join("blocklist.tsv")).unwrap();
    assert_eq!(
        bl,
        format!("{DEBIAN_V1}\tnotice 7\n"),
        "one line for one takedown"
    );
    let o = run(data, &["unblock", DEBIAN_V1]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), format!("unblocked {DEBIAN_V1}\n"));
    let o = run(data, &["unblock", DEBIAN_V1]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("thetorrent: {DEBIAN_V1} is not blocked: nothing to unblock\n")
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn import_names_bad_paths_counts_other_files_apart_and_keeps_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let folder = tmp.path().join("release");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(corpus_file(DEBIAN), folder.join("debian.torrent")).unwrap();
    std::fs::write(folder.join("README"), b"# How to use these torrents\n").unwrap();
    std::fs::write(folder.join("MANIFEST.tsv"), b"path\thash\n").unwrap();
    // Only files that are not torrents beside the torrent: exit 0.
    let o = run(&data, &["import", "--quiet", folder.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_says(
        &stdout(&o),
        "1 stored, 0 already stored, 0 rejected, 2 not torrents (skipped)",
    );
    // A path that is not there is named on stderr (no --report needed), and is a rejection.
    let missing = tmp.path().join("no-such-folder");
    let o = run(
        &data,
        &[
            "import",
            "--quiet",
            missing.to_str().unwrap(),
            folder.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("thetorrent: cannot read {}: ", missing.display())),
        "{}",
        stderr(&o)
    );
    // Reasons keep their real numbers.
    let other = tempfile::tempdir().unwrap();
    let o = run(
        other.path(),
        &[
            "--max-torrent-size",
            "1000",
            "import",
            "--quiet",
            folder.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_says(
        &stdout(&o),
        "         1  torrent too large: 23821 bytes (limit 1000)",
    );
}

#[test]
fn serve_checks_its_options_before_listening() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let missing = tmp.path().join("no-such-folder/access.log");
    for (args, want) in [
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--access-log",
                missing.to_str().unwrap(),
            ],
            "its folder must exist",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--public-url",
                "torrents.example.org",
            ],
            "not an http:// or https:// URL",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--public-url",
                "https://",
            ],
            "no host",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--max-body-bytes",
                "lots",
            ],
            "not a size: lots",
        ),
    ] {
        let o = run(&data, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("listening"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn serve_help_groups_its_options() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = stdout(&o);
    let mut at = 0;
    for heading in [
        "Listening:",
        "Limits (sizes take units: 16K, 10MiB, 1G):",
        "Uploads:",
        "Mirror feeds:",
        "Storage:",
        "S3 bucket (--store s3://...):",
    ] {
        let i = help[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading:?} after byte {at} in:\n{help}"));
        at += i;
    }
    assert!(
        help.contains("Worker threads of may, the coroutine runtime"),
        "{help}"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .arg("--help")
        .output()
        .unwrap();
    assert_says(&stdout(&o), "Exit status: 0 done");
}
