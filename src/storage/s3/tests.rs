//! Tests: Segment names, object keys, day ends, the read cache's bound and the segment index's counting.

use super::cache::CACHE_SHARDS;
use super::index::DayIndex;
use super::*;

#[test]
fn segment_names_round_trip() {
    let day = Day(20261126);
    let n = segment_name(day, 1_795_000_000_000_000, "ab12", 7, 3, 60_000);
    assert_eq!(
        n,
        "sync/20261126/01795000000000000-ab12-0000000007-3-60000.txt"
    );
    assert_eq!(
        parse_segment(&n),
        Some(Segment {
            day,
            micros: 1_795_000_000_000_000,
            keys: 3,
            bytes: 60_000
        })
    );
    for bad in [
        "sync/20261126/x-ab-1-2-3.txt",
        "sync/2026112/01-ab-1-2-3.txt",
        "sync/20261126/01-a-b-1-2-3.txt",
        "sync/20261126/01-ab-1-2-3",
        "days/20261126",
    ] {
        assert_eq!(parse_segment(bad), None, "{bad}");
    }
}

#[test]
fn object_keys() {
    let k = Key::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
    let o = object_key(&k);
    assert_eq!(
        o,
        "torrents/01/23/0123456789ABCDEF0123456789ABCDEF01234567.torrent"
    );
    assert_eq!(key_of_object(&o), Some(k));
    assert_eq!(
        key_of_object("torrents/00/23/0123456789ABCDEF0123456789ABCDEF01234567.torrent"),
        None
    );
    assert_eq!(key_of_object("sync/x"), None);
}

#[test]
fn day_ends() {
    // 1970-01-01 ends at 86400 s.
    assert_eq!(day_end_micros(Day(19700101)), 86_400_000_000);
    let t = day_end_micros(Day(20261126));
    assert_eq!(
        Day::of(std::time::UNIX_EPOCH + Duration::from_micros(t - 1)),
        Day(20261126)
    );
    assert_eq!(
        Day::of(std::time::UNIX_EPOCH + Duration::from_micros(t)),
        Day(20261127)
    );
    let t = day_end_micros(Day(20241231));
    assert_eq!(
        Day::of(std::time::UNIX_EPOCH + Duration::from_micros(t)),
        Day(20250101)
    );
}

#[test]
fn lru_is_bounded_and_keeps_recent() {
    let c = ReadCache::new(CACHE_SHARDS as u64 * 100);
    let mk = |i: u8| {
        let mut k = [0u8; 20];
        k[0] = i;
        Key(k) // same shard: byte 19 is 0
    };
    c.put(mk(1), vec![0u8; 40].into(), 1);
    c.put(mk(2), vec![0u8; 40].into(), 1);
    assert!(c.get(&mk(1)).is_some()); // 1 is now the most recent
    c.put(mk(3), vec![0u8; 40].into(), 1); // evicts 2
    assert!(c.get(&mk(1)).is_some());
    assert!(c.get(&mk(2)).is_none());
    assert!(c.get(&mk(3)).is_some());
    c.put(mk(4), vec![0u8; 200].into(), 1); // larger than a shard: not cached
    assert!(c.get(&mk(4)).is_none());
}

#[test]
fn day_index_counts_each_segment_once() {
    let mut d = DayIndex::default();
    let day = Day(20261126);
    let a = segment_name(day, 100_000_000, "a", 0, 2, 10);
    let b = segment_name(day, 200_000_000, "b", 0, 3, 20);
    for n in [&a, &b, &a] {
        d.add(n, &parse_segment(n).unwrap());
    }
    assert_eq!((d.keys, d.bytes), (5, 30));
    d.prune();
    d.add(&b, &parse_segment(&b).unwrap());
    assert_eq!((d.keys, d.bytes), (5, 30));
}
