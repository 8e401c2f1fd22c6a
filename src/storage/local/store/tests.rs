//! Tests: The group commit's pipelining: answers one call later, and batches left renamed but unlisted.

use super::*;

/// A minimal valid single-file v1 torrent, distinct per `n`.
fn torrent(n: u32) -> Vec<u8> {
    let name = format!("file-{n}");
    let mut t = b"d4:infod6:lengthi1e4:name".to_vec();
    t.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
    t.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
    t.extend_from_slice(&[7u8; 20]);
    t.extend_from_slice(b"ee");
    t
}

fn pipelined(s: &Store, batch: Vec<Staged>, prev: Option<Renamed>) -> Step {
    let mut done = None;
    let r = s.commit_pipelined(batch, prev, |d| done = Some(d));
    (done.expect("answered"), r)
}

/// A fresh data directory, removed when dropped.
fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The pipeline: a batch is renamed (visible, uncounted, unanswered) by one call, and
/// counted and answered by the next, whose own batch is renamed meanwhile.
#[test]
fn pipelined_commits_answer_one_call_later() {
    let d = dir();
    let s = Store::open(d.path(), Config::default()).unwrap();
    let a: Vec<Staged> = (0..3).map(|n| s.stage(&torrent(n)).unwrap()).collect();
    let keys_a: Vec<Key> = a.iter().map(|st| st.ids.key).collect();
    let r = pipelined(&s, a, None);
    assert!(r.0.unwrap().is_empty());
    let r = r.1.unwrap().unwrap();
    assert_eq!(r.len(), 3);
    assert!(keys_a.iter().all(|k| s.contains(k)), "renamed");
    assert_eq!(s.count(), 0, "not listed before its rename is durable");
    // The same torrent again, and new ones, while the first batch is in flight.
    let mut b = vec![s.stage(&torrent(0)).unwrap()];
    b.extend((3..5).map(|n| s.stage(&torrent(n)).unwrap()));
    let (done, r2) = pipelined(&s, b, Some(r));
    let done = done.unwrap();
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|(_, o)| *o == Outcome::Stored));
    assert_eq!(s.count(), 3);
    let (done, r3) = pipelined(&s, Vec::new(), r2.unwrap());
    let outcomes: Vec<Outcome> = done.unwrap().into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        outcomes,
        [Outcome::AlreadyStored, Outcome::Stored, Outcome::Stored]
    );
    assert!(r3.unwrap().is_none());
    assert_eq!(s.count(), 5);
    assert_eq!(
        s.days.read(Day::today()).unwrap().len() as u64,
        5 * day::LINE_LEN
    );
}

/// A renamed batch that is dropped (its outcomes never said) is still listed by the next
/// commit, exactly once; so is one whose later `list` comes after that.
#[test]
fn a_dropped_renamed_batch_is_listed_by_the_next_commit() {
    let d = dir();
    let s = Store::open(d.path(), Config::default()).unwrap();
    let (_, r) = pipelined(&s, vec![s.stage(&torrent(1)).unwrap()], None);
    let r = r.unwrap().unwrap();
    // A plain commit comes between: it completes the batch in flight (a replay).
    s.commit(vec![s.stage(&torrent(2)).unwrap()]).unwrap();
    assert_eq!(s.count(), 2);
    // The late call lists nothing twice.
    let (done, _) = pipelined(&s, Vec::new(), Some(r));
    assert_eq!(done.unwrap().len(), 1);
    assert_eq!(s.count(), 2);
    let (_, r) = pipelined(&s, vec![s.stage(&torrent(3)).unwrap()], None);
    drop(r);
    s.commit(vec![s.stage(&torrent(4)).unwrap()]).unwrap();
    assert_eq!(s.count(), 4);
    s.settle().unwrap();
    assert_eq!(s.count(), 4);
}
