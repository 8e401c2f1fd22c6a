//! Reading torrent files the way `add`, `import` and `verify` do, by `std::fs::read` into a
//! buffer against a `memmap2` map of the file: FILES copies of the corpus's accepted torrents
//! (their real mix of sizes, 256 folders as in the store) are read in the page cache, once
//! only touching every byte and once validating them (`torrent::validate`, which hashes the
//! info dict), both ways in each round, the order alternating. Prints the median files per
//! second of each way and their ratio.
//!
//! `cargo bench --bench read_files -- [FILES=10000] [ROUNDS=7] [DIR=the temp folder]`
//!
//! Under `cargo test` (no `--bench` argument) it makes one round over 20 files, so that it
//! keeps working.

use std::fs::{self, File};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;
use thetorrent::torrent;

/// Files read in the page cache before the rounds, so that no round pays for the disk.
const WARM_ROUNDS: usize = 1;

/// The corpus's accepted torrents (MANIFEST.tsv verdict `accept`).
fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let manifest = fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("MANIFEST.tsv").display()));
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let rel = cols.next()?;
            (cols.nth(1)? == "accept").then(|| dir.join(rel))
        })
        .map(|p| fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Writes `n` files cycling through `torrents`, in 256 folders.
fn make_files(root: &Path, torrents: &[Vec<u8>], n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let dir = root.join(format!("{:02x}", i % 256));
            fs::create_dir_all(&dir).expect("create a folder");
            let p = dir.join(format!("{i}.torrent"));
            fs::write(&p, &torrents[i % torrents.len()]).expect("write a file");
            p
        })
        .collect()
}

/// What is done with each file's bytes.
#[derive(Clone, Copy)]
enum Work {
    /// Every byte touched (a sum of 8-byte words): the cost of getting the bytes alone.
    Touch,
    /// `torrent::validate`: what the commands do with them.
    Validate,
}

fn work(bytes: &[u8], w: Work) -> u64 {
    match w {
        Work::Touch => bytes
            .chunks(8)
            .map(|c| c.iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
            .fold(0, u64::wrapping_add),
        Work::Validate => u64::from(torrent::validate(bytes).is_ok()),
    }
}

fn by_read(files: &[PathBuf], w: Work) -> u64 {
    files
        .iter()
        .map(|p| work(&fs::read(p).expect("read"), w))
        .fold(0, u64::wrapping_add)
}

fn by_map(files: &[PathBuf], w: Work) -> u64 {
    files
        .iter()
        .map(|p| {
            let f = File::open(p).expect("open");
            // SAFETY: the files are this program's own and nothing changes them while mapped.
            let map = unsafe { memmap2::Mmap::map(&f) }.expect("map");
            work(&map, w)
        })
        .fold(0, u64::wrapping_add)
}

/// Files per second of one pass.
fn rate(files: &[PathBuf], w: Work, f: fn(&[PathBuf], Work) -> u64) -> f64 {
    let t = Instant::now();
    black_box(f(files, w));
    files.len() as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let args: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
            .unwrap_or(default)
    };
    let (n, rounds) = if bench {
        (number(0, 10_000), number(1, 7).max(1))
    } else {
        (20, 1)
    };
    let tmp = match args.get(2) {
        Some(dir) => tempfile::tempdir_in(dir.as_str()),
        None => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let torrents = corpus();
    let files = make_files(tmp.path(), &torrents, n);
    let bytes: u64 = files
        .iter()
        .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    for _ in 0..WARM_ROUNDS {
        black_box(by_read(&files, Work::Touch));
    }
    println!(
        "{n} files ({} from the corpus), {:.1} MB, {rounds} rounds, in {}",
        torrents.len(),
        bytes as f64 / 1e6,
        tmp.path().display()
    );
    for (name, w) in [("touch", Work::Touch), ("validate", Work::Validate)] {
        let (mut read, mut map) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            if r % 2 == 0 {
                read.push(rate(&files, w, by_read));
                map.push(rate(&files, w, by_map));
            } else {
                map.push(rate(&files, w, by_map));
                read.push(rate(&files, w, by_read));
            }
        }
        let (read, map) = (median(read), median(map));
        println!(
            "{name:>8}: read {read:>9.0} files/s   mmap {map:>9.0} files/s   mmap/read {:.2}",
            map / read
        );
    }
}
