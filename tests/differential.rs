//! Differential test against libtorrent 2.1.1: thetorrent's verdict and v1/v2 info hashes on
//! thousands of generated variants of the corpus must be libtorrent's.
//!
//! `tests/differential/gen.py` derives the variants and asks libtorrent's Python binding for
//! each verdict; this test validates every variant in-process with `torrent::validate`. Each
//! disagreement is shrunk (entries, elements and bytes dropped while the disagreement holds,
//! libtorrent asked again through `gen.py oracle`) and written as a minimal file with both
//! verdicts. docs/differential.md describes the modes:
//! - CI: `DIFF_SEED` (default `ci`) and `DIFF_VARIANTS` (default [`CI_VARIANTS`]).
//! - a hunt: e.g. `DIFF_VARIANTS=200000 DIFF_SEED=hunt1 cargo test --release --test differential`.
//!
//! A missing Python or libtorrent binding fails the test (tests/setup.sh installs them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use thetorrent::torrent::{self, TorrentError};

/// Variants checked by a plain `cargo test` (a few seconds of libtorrent and of validation).
const CI_VARIANTS: usize = 10_000;
/// Seed of the CI run; any string works.
const CI_SEED: &str = "ci";
/// Distinct kinds of disagreement shrunk per run; the rest are counted and listed unshrunk.
const MAX_SHRUNK: usize = 40;
/// Oracle questions one shrink may ask before it settles for what it has.
const SHRINK_BUDGET: usize = 4000;
/// Inputs up to this size are printed (escaped) next to their verdicts.
const PRINT_BYTES: usize = 600;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gen_py() -> PathBuf {
    root().join("tests/differential/gen.py")
}

fn python() -> Command {
    let mut c = Command::new("python3");
    c.arg(gen_py());
    c
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A verdict in the manifest's terms: accept with hashes, or reject with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept { v1: String, v2: String },
    Reject(String),
}

impl Verdict {
    fn accepts(&self) -> bool {
        matches!(self, Verdict::Accept { .. })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept { v1, v2 } => write!(f, "accept v1={v1} v2={v2}"),
            Verdict::Reject(e) => write!(f, "reject: {e}"),
        }
    }
}

fn ours(bytes: &[u8]) -> Verdict {
    match torrent::validate(bytes) {
        Ok(p) => Verdict::Accept {
            v1: p.v1.map_or("-".into(), |h| hex(&h)),
            v2: p.v2.map_or("-".into(), |h| hex(&h)),
        },
        Err(e) => Verdict::Reject(e.to_string()),
    }
}

/// libtorrent's verdict from the tab-separated `verdict, v1, v2, error` columns.
fn theirs(cols: &[&str]) -> Verdict {
    match cols {
        ["accept", v1, v2, ..] => Verdict::Accept {
            v1: v1.to_string(),
            v2: v2.to_string(),
        },
        ["reject", _, _, e, ..] => Verdict::Reject(e.to_string()),
        _ => panic!("gen.py answered an unreadable verdict: {cols:?}"),
    }
}

/// Whether two verdicts agree: both reject (messages differ by design), or both accept with
/// the same hashes.
fn agree(a: &Verdict, b: &Verdict) -> bool {
    match (a, b) {
        (Verdict::Reject(_), Verdict::Reject(_)) => true,
        _ => a == b,
    }
}

/// Where thetorrent knowingly differs from libtorrent (docs/differential.md says why, and
/// tests/data/differential/known-differences/ holds a file for each): such variants are
/// counted apart and do not fail the test.
fn known_difference(bytes: &[u8], lt: &Verdict) -> Option<&'static str> {
    // libtorrent's torrent_info takes a file with no info dict but a `magnet-uri` (a form of
    // its own resume data) and reports the magnet's hash; that file holds no metadata to store.
    let no_info = matches!(torrent::validate(bytes), Err(TorrentError::NoInfo));
    let magnet = bytes.windows(13).any(|w| w == b"10:magnet-uri");
    (lt.accepts() && no_info && magnet).then_some("magnet-uri without info")
}

/// The kind of a disagreement, kept while shrinking and used to group the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Kind {
    libtorrent_accepts: bool,
    we_accept: bool,
    /// libtorrent's message when it rejects, else thetorrent's.
    message: String,
}

fn kind(lt: &Verdict, us: &Verdict) -> Kind {
    let message = match (lt, us) {
        (Verdict::Reject(e), _) => e.clone(),
        (_, Verdict::Reject(e)) => strip_offsets(e),
        _ => "different hashes".into(),
    };
    Kind {
        libtorrent_accepts: lt.accepts(),
        we_accept: us.accepts(),
        message,
    }
}

/// thetorrent's messages name byte offsets; a kind should not depend on them.
fn strip_offsets(msg: &str) -> String {
    match msg.find(" at byte ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// `gen.py oracle`: libtorrent's verdict on any bytes, one question at a time.
struct Oracle {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    asked: usize,
}

impl Oracle {
    fn start() -> Oracle {
        let mut child = python()
            .arg("oracle")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", gen_py().display()));
        let input = child.stdin.take().expect("oracle stdin");
        let output = BufReader::new(child.stdout.take().expect("oracle stdout"));
        Oracle {
            child,
            input,
            output,
            asked: 0,
        }
    }

    fn ask(&mut self, bytes: &[u8]) -> Verdict {
        self.asked += 1;
        let sent = writeln!(self.input, "{}", bytes.len())
            .and_then(|_| self.input.write_all(bytes))
            .and_then(|_| self.input.flush());
        let mut line = String::new();
        let read = self.output.read_line(&mut line);
        if sent.is_err() || read.is_err() || line.is_empty() {
            panic!("gen.py oracle stopped answering (is libtorrent 2.1.1 installed?)");
        }
        let cols: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        theirs(&cols)
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Shrinking. A lenient reading of the bencode (any digits in integers and lengths, as
// libtorrent's decoder allows) finds the spans that can be dropped or emptied; inputs it cannot
// read are shrunk byte-wise.

#[derive(Debug)]
struct Span {
    start: usize,
    end: usize,
    /// Where a container's content starts and ends (after `l`/`d`, before `e`); for a string,
    /// where its bytes start.
    inner: (usize, usize),
    kind: u8,
}

/// Spans of every value (and of every dict entry, key through value) in the first value of
/// `buf`, or `None` when it cannot be read.
fn spans(buf: &[u8]) -> Option<(Vec<Span>, usize)> {
    let mut out = Vec::new();
    // (start of the container, its kind, offset of the pending dict key if any)
    let mut stack: Vec<(usize, u8, Option<usize>, bool)> = Vec::new();
    let mut p = 0usize;
    loop {
        let c = *buf.get(p)?;
        let start = p;
        let (end, kind, inner) = match c {
            b'i' => {
                let e = p + 1 + buf.get(p + 1..)?.iter().position(|&b| b == b'e')?;
                (e + 1, b'i', (p + 1, e))
            }
            b'0'..=b'9' => {
                let colon = p + buf.get(p..)?.iter().position(|&b| b == b':')?;
                let digits = std::str::from_utf8(buf.get(p..colon)?).ok()?;
                let n: usize = digits.parse().ok()?;
                let end = colon.checked_add(1)?.checked_add(n)?;
                if end > buf.len() {
                    return None;
                }
                (end, b's', (colon + 1, end))
            }
            b'l' | b'd' => {
                let want_key = c == b'd';
                stack.push((p, c, None, want_key));
                p += 1;
                continue;
            }
            b'e' => {
                let (s, k, _, _) = stack.pop()?;
                out.push(Span {
                    start: s,
                    end: p + 1,
                    inner: (s + 1, p),
                    kind: k,
                });
                (p + 1, 0, (0, 0))
            }
            _ => return None,
        };
        if kind != 0 {
            out.push(Span {
                start,
                end,
                inner,
                kind,
            });
        }
        p = end;
        // a value (or key) ends here
        let Some(top) = stack.last_mut() else {
            return Some((out, p));
        };
        if top.1 == b'd' {
            if top.3 {
                top.2 = Some(start);
                top.3 = false;
            } else {
                let key = top.2.take()?;
                out.push(Span {
                    start: key,
                    end: p,
                    inner: (key, p),
                    kind: b'p',
                });
                top.3 = true;
            }
        }
    }
}

/// Smaller inputs to try instead of `buf`, largest reductions first.
fn candidates(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let splice = |a: usize, b: usize, with: &[u8]| {
        let mut v = Vec::with_capacity(buf.len());
        v.extend_from_slice(&buf[..a]);
        v.extend_from_slice(with);
        v.extend_from_slice(&buf[b..]);
        v
    };
    match spans(buf) {
        Some((spans, end)) => {
            if end < buf.len() {
                out.push(buf[..end].to_vec());
                out.push(splice(end + 1, buf.len(), b""));
            }
            let mut by_size: Vec<&Span> = spans.iter().collect();
            by_size.sort_by_key(|s| std::cmp::Reverse(s.end - s.start));
            for s in by_size {
                match s.kind {
                    // a dict entry or a list element
                    b'p' => out.push(splice(s.start, s.end, b"")),
                    b'l' | b'd' if s.inner.1 > s.inner.0 => {
                        out.push(splice(s.inner.0, s.inner.1, b""));
                    }
                    b's' => {
                        let n = s.inner.1 - s.inner.0;
                        for keep in [0, n / 2, n.saturating_sub(1)] {
                            if keep < n {
                                let mut w = format!("{keep}:").into_bytes();
                                w.extend_from_slice(&buf[s.inner.0..s.inner.0 + keep]);
                                out.push(splice(s.start, s.end, &w));
                            }
                        }
                    }
                    _ => {}
                }
            }
            // list elements: a value directly inside a list is removable on its own
            for s in &spans {
                if s.kind != b'p' {
                    out.push(splice(s.start, s.end, b""));
                }
            }
        }
        None => {
            let n = buf.len();
            let mut chunk = n / 2;
            while chunk >= 1 {
                let mut at = 0;
                while at + chunk <= n {
                    out.push(splice(at, at + chunk, b""));
                    at += chunk;
                }
                chunk /= 2;
            }
        }
    }
    out
}

/// Shrinks `buf` while thetorrent and libtorrent keep disagreeing in the same way.
fn shrink(oracle: &mut Oracle, buf: &[u8], want: &Kind) -> Vec<u8> {
    let mut best = buf.to_vec();
    let start = oracle.asked;
    'outer: loop {
        for c in candidates(&best) {
            if oracle.asked - start >= SHRINK_BUDGET {
                break 'outer;
            }
            let us = ours(&c);
            // cheap filter first: only a candidate with our verdict of the same kind is asked
            if us.accepts() != want.we_accept {
                continue;
            }
            let lt = oracle.ask(&c);
            if !agree(&lt, &us) && kind(&lt, &us) == *want {
                best = c;
                continue 'outer;
            }
        }
        break;
    }
    best
}

fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

struct Found {
    index: usize,
    description: String,
    bytes: Vec<u8>,
    lt: Verdict,
    us: Verdict,
    count: usize,
}

/// Reads `gen.py stream` records: (index, bytes, libtorrent's verdict, description).
fn stream(
    seed: &str,
    first: usize,
    count: usize,
    mut each: impl FnMut(usize, Vec<u8>, Verdict, String),
) {
    let mut child = python()
        .args([
            "stream",
            "--seed",
            seed,
            "--first",
            &first.to_string(),
            "--count",
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", gen_py().display()));
    let mut out = BufReader::new(child.stdout.take().expect("gen.py stdout"));
    let mut read = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        if out.read_until(b'\n', &mut line).expect("reading gen.py") == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let cols: Vec<&str> = text.trim_end_matches('\n').splitn(7, '\t').collect();
        assert_eq!(cols.len(), 7, "gen.py record head: {text:?}");
        let index: usize = cols[0].parse().expect("record index");
        let len: usize = cols[1].parse().expect("record length");
        let mut bytes = vec![0u8; len];
        out.read_exact(&mut bytes).expect("record bytes");
        each(index, bytes, theirs(&cols[2..6]), cols[6].to_string());
        read += 1;
    }
    let status = child.wait().expect("gen.py status");
    assert!(
        status.success(),
        "gen.py stream failed ({status}); is libtorrent 2.1.1 installed (tests/setup.sh)?"
    );
    assert_eq!(
        read, count,
        "gen.py stream wrote {read} of {count} variants"
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

#[test]
fn variants_agree_with_libtorrent() {
    let seed: String = env_or("DIFF_SEED", CI_SEED.to_string());
    let count: usize = env_or("DIFF_VARIANTS", CI_VARIANTS);
    let out_dir: PathBuf = env_or("DIFF_OUT", root().join("target/differential").join(&seed));
    // two generators on a 2-core machine keep both cores busy (libtorrent is the slow side)
    let shards = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let per = count.div_ceil(shards);
    let found: std::sync::Mutex<BTreeMap<Kind, Found>> = Default::default();
    let known: std::sync::Mutex<BTreeMap<&'static str, usize>> = Default::default();
    let tried = std::sync::atomic::AtomicUsize::new(0);
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for shard in 0..shards {
            let first = shard * per;
            let n = per.min(count.saturating_sub(first));
            if n == 0 {
                continue;
            }
            let (seed, found, known, tried, accepted) = (&seed, &found, &known, &tried, &accepted);
            s.spawn(move || {
                stream(seed, first, n, |index, bytes, lt, description| {
                    tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if lt.accepts() {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let us = ours(&bytes);
                    if agree(&lt, &us) {
                        return;
                    }
                    if let Some(why) = known_difference(&bytes, &lt) {
                        let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
                        *known.entry(why).or_default() += 1;
                        return;
                    }
                    let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                    found
                        .entry(kind(&lt, &us))
                        .and_modify(|f| f.count += 1)
                        .or_insert(Found {
                            index,
                            description,
                            bytes,
                            lt,
                            us,
                            count: 1,
                        });
                });
            });
        }
    });
    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let known = known.into_inner().unwrap_or_else(|e| e.into_inner());
    let tried = tried.into_inner();
    let accepted = accepted.into_inner();
    let total: usize = found.values().map(|f| f.count).sum();
    eprintln!(
        "differential: seed {seed:?}: {tried} variants ({accepted} accepted by libtorrent), \
         {total} disagreements in {} kinds, known differences: {known:?}",
        found.len()
    );
    if found.is_empty() {
        return;
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let mut oracle = Oracle::start();
    let mut report = String::new();
    for (n, (k, f)) in found.iter().enumerate() {
        let small = if n < MAX_SHRUNK {
            shrink(&mut oracle, &f.bytes, k)
        } else {
            f.bytes.clone()
        };
        let lt = oracle.ask(&small);
        let us = ours(&small);
        let file = out_dir.join(format!("{n:03}.torrent"));
        write(&file, &small);
        let _ = writeln!(
            report,
            "{} ({} variants like it; first: variant {} of seed {seed:?}: {})\n    libtorrent: {lt}\n    ours:       {us}",
            file.display(),
            f.count,
            f.index,
            f.description
        );
        if small.len() <= PRINT_BYTES {
            let _ = writeln!(report, "    bytes:      {}", escaped(&small));
        }
        debug_assert!(!agree(&f.lt, &f.us));
    }
    write(&out_dir.join("REPORT.txt"), report.as_bytes());
    panic!(
        "{total} of {tried} variants disagree with libtorrent 2.1.1 ({} kinds); minimal files in {}:\n{report}",
        found.len(),
        out_dir.display()
    );
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The oracle must be the call the manifests were made with: run over the corpus and the
/// differential fixtures, it writes their MANIFEST.tsv byte for byte.
#[test]
fn oracle_reproduces_the_manifests() {
    for dir in ["tests/data/corpus", "tests/data/differential"] {
        let dir = root().join(dir);
        let out = python()
            .arg("manifest")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", gen_py().display()));
        assert!(
            out.status.success(),
            "gen.py manifest {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(dir.join("MANIFEST.tsv"))
            .unwrap_or_else(|e| panic!("{}/MANIFEST.tsv: {e}", dir.display()));
        assert!(
            out.stdout == want,
            "libtorrent's verdicts through gen.py differ from {}/MANIFEST.tsv:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn shrink_candidates_drop_entries_and_trailing_bytes() {
    // A dict entry spans its key through its value; input that cannot be read has no spans;
    // the candidates drop trailing bytes and whole entries.
    let spans_of = spans(b"d1:ai1e1:bli2eee").expect("readable").0;
    assert!(spans_of
        .iter()
        .any(|s| s.kind == b'p' && s.start == 1 && s.end == 7));
    assert!(spans(b"d1:ai1e").is_none());
    let c = candidates(b"d1:ai1e1:bli2eeeXYZ");
    assert!(c.contains(&b"d1:ai1e1:bli2eee".to_vec()));
    assert!(c.contains(&b"d1:bli2eeeXYZ".to_vec()));
}
