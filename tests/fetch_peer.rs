//! The fetch clients against real sockets on loopback: `fetch::fetch_info` against a small
//! fake peer written here (honest and hostile variants) and against libtorrent 2.1.1 seeding
//! corpus torrents, `fetch::announce` against fake HTTP and UDP trackers, and the address
//! policy on all of them. Info hashes come from the corpus manifest (libtorrent's), not from
//! thetorrent's own validator.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use thetorrent::fetch::peer::{
    Stage, MAX_EXTENDED_MESSAGE, MAX_METADATA_SIZE, MAX_OTHER_BYTES, METADATA_PIECE,
};
use thetorrent::fetch::{
    announce, fetch_info, AddrPolicy, PeerError, PeerLimits, Target, TrackerError, TrackerLimits,
};

/// Runs `f` in a may coroutine with the server's stack size (where the clients run).
fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let words = thetorrent::http::config::STACK_SIZE / std::mem::size_of::<usize>();
    // SAFETY: the clients keep no thread-local state across may's I/O and block their worker
    // on nothing but may's own sockets (what may asks of a coroutine).
    let h = unsafe { may::coroutine::Builder::new().stack_size(words).spawn(f) }.unwrap();
    h.join().unwrap()
}

const LAN: AddrPolicy = AddrPolicy {
    allow_private: true,
};

fn lan_limits() -> PeerLimits {
    PeerLimits {
        policy: LAN,
        ..PeerLimits::default()
    }
}

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// A corpus torrent: its file, the raw bytes of its info dictionary, and its hashes as the
/// manifest gives them.
struct Sample {
    path: std::path::PathBuf,
    info: Arc<Vec<u8>>,
    target: Target,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    V1,
    V2,
    Hybrid,
}

/// The largest accepted corpus torrent of a kind (the largest info dictionary spans the most
/// metadata pieces).
fn sample(kind: Kind) -> Sample {
    let row = common::manifest()
        .into_iter()
        .filter(|r| r.accept)
        .filter(|r| match kind {
            Kind::V1 => r.v1.is_some() && r.v2.is_none(),
            Kind::V2 => r.v1.is_none() && r.v2.is_some(),
            Kind::Hybrid => r.v1.is_some() && r.v2.is_some(),
        })
        .max_by_key(|r| std::fs::metadata(&r.path).unwrap().len())
        .unwrap();
    let bytes = std::fs::read(&row.path).unwrap();
    let top = thetorrent::torrent::bencode::parse(&bytes).unwrap();
    let info = top.as_dict().unwrap().get(b"info").unwrap().span;
    Sample {
        path: row.path.clone(),
        info: Arc::new(bytes[info].to_vec()),
        target: Target {
            v1: row.v1.as_deref().map(hex::<20>),
            v2: row.v2.as_deref().map(hex::<32>),
        },
    }
}

// ---------------------------------------------------------------------------------------
// A fake peer: std sockets on a thread, serving one connection.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    /// Serves the info correctly, with a bitfield, a keep-alive and a have among the pieces.
    Honest,
    /// Answers a hybrid's handshake with the truncated v2 hash (BEP 52 allows either).
    HonestV2Form,
    /// Piece 0 has one byte changed.
    WrongPiece,
    /// Announces a `metadata_size` of 1 GiB.
    HugeSize,
    /// Sends its handshake, then nothing.
    StallAfterHandshake,
    /// Both handshakes, then never answers a request.
    StallPieces,
    /// Sends each piece one byte at a time, slowly.
    Trickle,
    /// After the handshakes, an endless stream of `have` messages.
    FloodHaves,
    /// An extension message announcing 1 GiB, then endless bytes.
    FloodExtended,
    /// Does not set the extension bit.
    NoExtensionBit,
    /// Its extension handshake has no ut_metadata.
    NoUtMetadata,
    /// Answers with another torrent's hash.
    OtherTorrent,
    /// Rejects every metadata request.
    Reject,
    /// Sends the last piece one byte short.
    ShortPiece,
}

/// What the fake peer saw.
#[derive(Debug, Default)]
struct Seen {
    connected: bool,
    reserved: [u8; 8],
    hash: [u8; 20],
    requests: Vec<u32>,
}

struct FakePeer {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    thread: JoinHandle<Seen>,
}

/// The payload's integer after `key` (a bencoded `<key>i<n>e`).
fn int_after(payload: &[u8], key: &[u8]) -> Option<i64> {
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = payload.get(at..)?.strip_prefix(b"i")?;
    let end = rest.iter().position(|&b| b == b'e')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

fn framed(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = ((1 + payload.len()) as u32).to_be_bytes().to_vec();
    m.push(id);
    m.extend_from_slice(payload);
    m
}

fn extended(ext: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![ext];
    p.extend_from_slice(payload);
    framed(20, &p)
}

/// Reads one message: (id, payload); `None` at the end of the connection.
fn read_message(s: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Some((255, Vec::new()));
    }
    let mut m = vec![0u8; len];
    s.read_exact(&mut m).ok()?;
    Some((m[0], m[1..].to_vec()))
}

fn fake_peer(info: Arc<Vec<u8>>, target: Target, behaviour: Peer) -> FakePeer {
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let l = listener.clone();
    let thread = std::thread::spawn(move || {
        let mut seen = Seen::default();
        let (mut s, _) = match l.accept() {
            Ok(c) => c,
            Err(_) => return seen,
        };
        seen.connected = true;
        // A client that never times out would leave this read blocked: the test then fails
        // on an unexpected error instead of hanging.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        serve(&mut s, &info, &target, behaviour, &mut seen);
        // Read until the client closes, so its end decides when the connection ends.
        let mut sink = [0u8; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        seen
    });
    FakePeer {
        addr,
        listener,
        thread,
    }
}

fn serve(s: &mut TcpStream, info: &[u8], target: &Target, b: Peer, seen: &mut Seen) {
    let mut hs = [0u8; 68];
    if s.read_exact(&mut hs).is_err() {
        return;
    }
    seen.reserved.copy_from_slice(&hs[20..28]);
    seen.hash.copy_from_slice(&hs[28..48]);
    let mut reply = hs;
    reply[20..28].copy_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
    if b == Peer::NoExtensionBit {
        reply[25] = 0;
    }
    if b == Peer::OtherTorrent {
        reply[28..48].copy_from_slice(&[0x5a; 20]);
    }
    if b == Peer::HonestV2Form {
        reply[28..48].copy_from_slice(&target.v2.unwrap()[..20]);
    }
    reply[48..68].copy_from_slice(b"-FK0001-fakefakefake");
    if s.write_all(&reply).is_err() || b == Peer::StallAfterHandshake {
        return;
    }
    // A bitfield, as seeds send one.
    let _ = s.write_all(&framed(5, &[0xff; 64]));
    let size = if b == Peer::HugeSize {
        1u64 << 30
    } else {
        info.len() as u64
    };
    let m = if b == Peer::NoUtMetadata {
        "d6:ut_pexi1ee".to_string()
    } else {
        "d11:ut_metadatai3ee".to_string()
    };
    let ext = format!("d1:m{m}13:metadata_sizei{size}e1:v4:fakee");
    if s.write_all(&extended(0, ext.as_bytes())).is_err() {
        return;
    }
    match b {
        Peer::FloodHaves => {
            let have = framed(4, &[0, 0, 0, 1]);
            let burst: Vec<u8> = have
                .iter()
                .copied()
                .cycle()
                .take(have.len() * 4096)
                .collect();
            while s.write_all(&burst).is_ok() {}
            return;
        }
        Peer::FloodExtended => {
            let mut m = (1u32 << 30).to_be_bytes().to_vec();
            m.extend_from_slice(&[20, 1]);
            let _ = s.write_all(&m);
            let junk = vec![b'x'; 64 * 1024];
            while s.write_all(&junk).is_ok() {}
            return;
        }
        _ => {}
    }
    // The client's extension id for ut_metadata, from its extension handshake.
    let mut client_ut = None;
    while let Some((id, payload)) = read_message(s) {
        if id != 20 || payload.is_empty() {
            continue;
        }
        if payload[0] == 0 {
            client_ut = int_after(&payload[1..], b"11:ut_metadata").map(|i| i as u8);
            continue;
        }
        assert_eq!(payload[0], 3, "requests go to the id we announced");
        let body = &payload[1..];
        assert_eq!(int_after(body, b"8:msg_type"), Some(0));
        let piece = int_after(body, b"5:piece").unwrap() as u32;
        seen.requests.push(piece);
        let to = client_ut.expect("the client's extension handshake came first");
        let at = piece as usize * METADATA_PIECE;
        let mut data = info[at..info.len().min(at + METADATA_PIECE)].to_vec();
        match b {
            Peer::StallPieces => continue,
            Peer::Reject => {
                let r = format!("d8:msg_typei2e5:piecei{piece}ee");
                let _ = s.write_all(&extended(to, r.as_bytes()));
                continue;
            }
            Peer::WrongPiece if piece == 0 => data[100] ^= 1,
            Peer::ShortPiece if at + METADATA_PIECE >= info.len() => {
                data.pop();
            }
            _ => {}
        }
        let mut msg = format!(
            "d8:msg_typei1e5:piecei{piece}e10:total_sizei{}ee",
            info.len()
        )
        .into_bytes();
        msg.extend_from_slice(&data);
        let msg = extended(to, &msg);
        if b == Peer::Trickle {
            for byte in msg {
                if s.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        // Other messages between the pieces: a keep-alive and a have.
        let _ = s.write_all(&[0, 0, 0, 0]);
        let _ = s.write_all(&framed(4, &[0, 0, 0, 7]));
        if s.write_all(&msg).is_err() {
            return;
        }
    }
}

fn fetch(peer: &FakePeer, target: Target, limits: PeerLimits) -> Result<Vec<u8>, PeerError> {
    let addr = peer.addr;
    in_coroutine(move || fetch_info(addr, &target, &limits))
}

fn finish(peer: FakePeer) -> Seen {
    // Unblocks an accept that never came (the policy test) by connecting once.
    let _ = TcpStream::connect(peer.addr);
    let _ = &peer.listener;
    peer.thread.join().unwrap()
}

#[test]
fn honest_peer_v1_v2_and_hybrid() {
    for kind in [Kind::V1, Kind::V2, Kind::Hybrid] {
        let s = sample(kind);
        assert!(
            s.info.len() > METADATA_PIECE || kind == Kind::V2,
            "{kind:?}: a multi-piece info"
        );
        let peer = fake_peer(s.info.clone(), s.target, Peer::Honest);
        let got = fetch(&peer, s.target, lan_limits()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(got, *s.info, "{kind:?}");
        let seen = finish(peer);
        assert_eq!(seen.hash, s.target.swarm_hash().unwrap(), "{kind:?}");
        assert_eq!(seen.reserved[5] & 0x10, 0x10, "{kind:?}: extension bit");
        assert_eq!(
            seen.reserved[7] & 0x10 != 0,
            s.target.v2.is_some(),
            "{kind:?}: v2 bit"
        );
        let pieces = s.info.len().div_ceil(METADATA_PIECE) as u32;
        let mut requests = seen.requests.clone();
        requests.sort_unstable();
        assert_eq!(requests, (0..pieces).collect::<Vec<_>>(), "{kind:?}");
    }
}

#[test]
fn hybrid_handshake_answered_with_the_v2_form() {
    let s = sample(Kind::Hybrid);
    let peer = fake_peer(s.info.clone(), s.target, Peer::HonestV2Form);
    assert_eq!(fetch(&peer, s.target, lan_limits()).unwrap(), *s.info);
    finish(peer);
}

#[test]
fn a_wrong_piece_is_a_wrong_hash_for_each_kind() {
    for kind in [Kind::V1, Kind::V2, Kind::Hybrid] {
        let s = sample(kind);
        let peer = fake_peer(s.info.clone(), s.target, Peer::WrongPiece);
        let r = fetch(&peer, s.target, lan_limits());
        assert!(matches!(r, Err(PeerError::WrongHash)), "{kind:?}: {r:?}");
        finish(peer);
    }
    // A hybrid checks both hashes: right v1 but a wrong v2 is refused too.
    let s = sample(Kind::Hybrid);
    let mut target = s.target;
    target.v2.as_mut().unwrap()[31] ^= 1;
    let peer = fake_peer(s.info.clone(), target, Peer::Honest);
    let r = fetch(&peer, target, lan_limits());
    assert!(matches!(r, Err(PeerError::WrongHash)), "{r:?}");
    finish(peer);
}

#[test]
fn a_huge_metadata_size_is_refused_before_any_request() {
    let s = sample(Kind::V1);
    let peer = fake_peer(s.info.clone(), s.target, Peer::HugeSize);
    match fetch(&peer, s.target, lan_limits()) {
        Err(PeerError::TooLarge { size, cap }) => {
            assert_eq!(size, 1 << 30);
            assert_eq!(cap, MAX_METADATA_SIZE);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(finish(peer).requests.is_empty());
    // The cap is the caller's: one byte under the real size is refused as well.
    let peer = fake_peer(s.info.clone(), s.target, Peer::Honest);
    let limits = PeerLimits {
        max_metadata_size: s.info.len() - 1,
        ..lan_limits()
    };
    let r = fetch(&peer, s.target, limits);
    assert!(matches!(r, Err(PeerError::TooLarge { .. })), "{r:?}");
    finish(peer);
}

fn short_deadlines() -> PeerLimits {
    PeerLimits {
        handshake_timeout: Duration::from_millis(300),
        piece_timeout: Duration::from_millis(300),
        ..lan_limits()
    }
}

#[test]
fn stalling_peers_time_out_at_their_stage() {
    let s = sample(Kind::V1);
    for (b, stage) in [
        (Peer::StallAfterHandshake, Stage::Handshake),
        (Peer::StallPieces, Stage::Metadata),
        (Peer::Trickle, Stage::Metadata),
    ] {
        let peer = fake_peer(s.info.clone(), s.target, b);
        let r = fetch(&peer, s.target, short_deadlines());
        assert!(
            matches!(r, Err(PeerError::Timeout(st)) if st == stage),
            "{b:?}: {r:?}"
        );
        finish(peer);
    }
    // The whole budget bounds a peer whose every step is in time.
    let peer = fake_peer(s.info.clone(), s.target, Peer::StallPieces);
    let limits = PeerLimits {
        total_timeout: Duration::from_millis(300),
        ..lan_limits()
    };
    let r = fetch(&peer, s.target, limits);
    assert!(matches!(r, Err(PeerError::Timeout(_))), "{r:?}");
    finish(peer);
}

#[test]
fn flooding_peers_are_dropped() {
    let s = sample(Kind::V1);
    for (b, limit) in [
        (Peer::FloodHaves, MAX_OTHER_BYTES),
        (Peer::FloodExtended, MAX_EXTENDED_MESSAGE as u64),
    ] {
        let peer = fake_peer(s.info.clone(), s.target, b);
        match fetch(&peer, s.target, lan_limits()) {
            Err(PeerError::TooMuchData { limit: l }) => assert_eq!(l, limit, "{b:?}"),
            other => panic!("{b:?}: expected TooMuchData, got {other:?}"),
        }
        finish(peer);
    }
}

#[test]
fn peers_without_metadata_or_for_another_torrent() {
    let s = sample(Kind::V1);
    type Expect = fn(&PeerError) -> bool;
    let cases: [(Peer, Expect); 5] = [
        (Peer::NoExtensionBit, |e| {
            matches!(e, PeerError::NoExtension)
        }),
        (Peer::NoUtMetadata, |e| {
            matches!(e, PeerError::NoMetadataSupport)
        }),
        (Peer::OtherTorrent, |e| matches!(e, PeerError::Handshake(_))),
        (Peer::Reject, |e| matches!(e, PeerError::Rejected { .. })),
        (Peer::ShortPiece, |e| matches!(e, PeerError::Protocol(_))),
    ];
    for (b, ok) in cases {
        let peer = fake_peer(s.info.clone(), s.target, b);
        match fetch(&peer, s.target, lan_limits()) {
            Err(e) if ok(&e) => {}
            other => panic!("{b:?}: {other:?}"),
        }
        finish(peer);
    }
}

#[test]
fn the_default_policy_makes_no_connection_to_loopback() {
    let s = sample(Kind::V1);
    let peer = fake_peer(s.info.clone(), s.target, Peer::Honest);
    let r = fetch(&peer, s.target, PeerLimits::default());
    assert!(
        matches!(r, Err(PeerError::AddressRefused(a)) if a == peer.addr),
        "{r:?}"
    );
    // The only connection the fake peer saw is the one `finish` makes to release it.
    let seen = finish(peer);
    assert_eq!(seen.hash, [0; 20], "the client never sent a handshake");
    // A closed port: a typed connect error.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = s.target;
    let r = in_coroutine(move || fetch_info(closed, &target, &lan_limits()));
    assert!(matches!(r, Err(PeerError::Connect(_))), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// libtorrent 2.1.1 as the seed: an independent implementation of BEP 3, 10, 9 and 52.

#[test]
fn libtorrent_serves_v1_v2_and_hybrid_info() {
    let samples = [sample(Kind::V1), sample(Kind::V2), sample(Kind::Hybrid)];
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libtorrent_seed.py");
    let mut seed = Command::new("python3")
        .arg(&script)
        .arg("127.0.1.1")
        .args(samples.iter().map(|s| &s.path))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (tests/setup.sh installs libtorrent==2.1.1)");
    let mut line = String::new();
    BufReader::new(seed.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            let _ = seed.kill();
            panic!("the libtorrent seed did not start (is libtorrent==2.1.1 installed?): {line:?}")
        });
    let addr: SocketAddr = format!("127.0.1.1:{port}").parse().unwrap();
    let results: Vec<_> = samples
        .iter()
        .map(|s| {
            let target = s.target;
            in_coroutine(move || fetch_info(addr, &target, &lan_limits()))
        })
        .collect();
    drop(seed.stdin.take());
    let _ = seed.wait();
    for (s, r) in samples.iter().zip(results) {
        let got = r.unwrap_or_else(|e| panic!("{}: {e}", s.path.display()));
        assert_eq!(got, *s.info, "{}", s.path.display());
    }
}

// ---------------------------------------------------------------------------------------
// Trackers.

/// Peers the fake trackers list: loopback and private ones (allowed with `allow_private`),
/// a global one, and ones no policy allows.
const LISTED: [([u8; 4], u16); 5] = [
    ([127, 0, 0, 2], 6881),
    ([10, 1, 2, 3], 51413),
    ([1, 2, 3, 4], 80),
    ([224, 0, 0, 1], 6881),
    ([127, 0, 0, 3], 0),
];

fn compact(peers: &[([u8; 4], u16)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ip, port) in peers {
        out.extend_from_slice(ip);
        out.extend_from_slice(&port.to_be_bytes());
    }
    out
}

fn allowed_lan() -> Vec<SocketAddr> {
    vec![
        "127.0.0.2:6881".parse().unwrap(),
        "10.1.2.3:51413".parse().unwrap(),
        "1.2.3.4:80".parse().unwrap(),
    ]
}

fn tracker_lan() -> TrackerLimits {
    TrackerLimits {
        policy: LAN,
        ..TrackerLimits::default()
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Http {
    Compact,
    CompactChunked,
    Dict,
    Redirect,
    Huge,
    Failure,
    Stall,
    /// A body framed by the end of the connection: half of it, then nothing.
    HalfUntilClose,
}

/// A fake HTTP tracker answering one announce; returns the request target it got.
fn http_tracker(mode: Http) -> (SocketAddr, JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(s);
        let mut request_line = String::new();
        r.read_line(&mut request_line).unwrap();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                break;
            }
        }
        let mut s = r.into_inner();
        let mut body = b"d8:intervali1800e5:peers".to_vec();
        let c = compact(&LISTED);
        body.extend_from_slice(format!("{}:", c.len()).as_bytes());
        body.extend_from_slice(&c);
        body.push(b'e');
        let head = |status: &str, extra: &str, len: usize| {
            format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {len}\r\n\r\n")
        };
        match mode {
            Http::Compact => {
                let _ = s.write_all(head("200 OK", "", body.len()).as_bytes());
                let _ = s.write_all(&body);
            }
            Http::CompactChunked => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let (a, b) = body.split_at(10);
                for part in [a, b] {
                    let _ = write!(s, "{:x}\r\n", part.len());
                    let _ = s.write_all(part);
                    let _ = s.write_all(b"\r\n");
                }
                let _ = s.write_all(b"0\r\n\r\n");
            }
            Http::Dict => {
                let d = b"d5:peersld2:ip9:127.0.0.24:porti6881eed2:ip9:224.0.0.14:porti1eeee";
                let _ = s.write_all(head("200 OK", "", d.len()).as_bytes());
                let _ = s.write_all(d);
            }
            Http::Redirect => {
                let loc = format!("Location: http://{addr}/elsewhere\r\n");
                let _ = s.write_all(head("302 Found", &loc, 0).as_bytes());
            }
            Http::Huge => {
                let _ = s.write_all(head("200 OK", "", 1 << 20).as_bytes());
                let _ = s.write_all(&vec![b'x'; 1 << 20]);
            }
            Http::Failure => {
                let f = b"d14:failure reason19:torrent not allowede";
                let _ = s.write_all(head("200 OK", "", f.len()).as_bytes());
                let _ = s.write_all(f);
            }
            Http::Stall | Http::HalfUntilClose => {
                if mode == Http::HalfUntilClose {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                    let _ = s.write_all(&body[..body.len() / 2]);
                }
                let mut sink = [0u8; 64];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            }
        }
        request_line
    });
    (addr, t)
}

fn announce_in_coroutine(
    url: String,
    target: Target,
    limits: TrackerLimits,
) -> Result<Vec<SocketAddr>, TrackerError> {
    in_coroutine(move || announce(&url, &target, &limits))
}

#[test]
fn http_tracker_compact_and_dict_peers() {
    let s = sample(Kind::V2);
    for mode in [Http::Compact, Http::CompactChunked] {
        let (addr, t) = http_tracker(mode);
        let url = format!("http://{addr}/announce?key=k1");
        let peers = announce_in_coroutine(url, s.target, tracker_lan()).unwrap();
        assert_eq!(peers, allowed_lan(), "{mode:?}");
        let line = t.join().unwrap();
        let target = line.split(' ').nth(1).unwrap();
        let (path, query) = target.split_once('?').unwrap();
        assert_eq!(path, "/announce");
        let params: Vec<(&str, &str)> = query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("key"), Some("k1"), "the URL's own query is kept");
        assert_eq!(
            percent_decode(get("info_hash").unwrap()),
            s.target.swarm_hash().unwrap(),
            "a v2-only torrent is announced under its truncated v2 hash"
        );
        assert_eq!(percent_decode(get("peer_id").unwrap()).len(), 20);
        assert_eq!(get("compact"), Some("1"));
        assert_eq!(get("numwant"), Some("50"));
        assert_eq!(get("port"), Some("6881"));
    }
    let (addr, t) = http_tracker(Http::Dict);
    let peers = announce_in_coroutine(format!("http://{addr}/a"), s.target, tracker_lan()).unwrap();
    assert_eq!(peers, vec!["127.0.0.2:6881".parse::<SocketAddr>().unwrap()]);
    t.join().unwrap();
    // numwant bounds what is returned, whatever the tracker sends.
    let (addr, t) = http_tracker(Http::Compact);
    let limits = TrackerLimits {
        numwant: 1,
        ..tracker_lan()
    };
    let peers = announce_in_coroutine(format!("http://{addr}/a"), s.target, limits).unwrap();
    assert_eq!(peers, allowed_lan()[..1]);
    assert!(t.join().unwrap().contains("numwant=1"));
}

#[test]
fn http_tracker_errors_are_typed() {
    let s = sample(Kind::V1);
    let run = |mode: Http, limits: TrackerLimits| {
        let (addr, t) = http_tracker(mode);
        let r = announce_in_coroutine(format!("http://{addr}/announce"), s.target, limits);
        t.join().unwrap();
        r
    };
    let r = run(Http::Redirect, tracker_lan());
    assert!(matches!(r, Err(TrackerError::Status(302))), "{r:?}");
    let r = run(Http::Huge, tracker_lan());
    assert!(matches!(r, Err(TrackerError::TooLarge { .. })), "{r:?}");
    let r = run(Http::Failure, tracker_lan());
    assert!(
        matches!(&r, Err(TrackerError::Failure(m)) if m == "torrent not allowed"),
        "{r:?}"
    );
    let quick = TrackerLimits {
        timeout: Duration::from_millis(300),
        ..tracker_lan()
    };
    for mode in [Http::Stall, Http::HalfUntilClose] {
        let r = run(mode, quick);
        assert!(matches!(r, Err(TrackerError::Timeout)), "{mode:?}: {r:?}");
    }

    let r = announce_in_coroutine(
        "https://tracker.example/announce".into(),
        s.target,
        tracker_lan(),
    );
    assert!(matches!(r, Err(TrackerError::Https)), "{r:?}");
    let r = announce_in_coroutine("wss://tracker.example/".into(), s.target, tracker_lan());
    assert!(
        matches!(r, Err(TrackerError::UnsupportedScheme(_))),
        "{r:?}"
    );
    let r = announce_in_coroutine("not a url".into(), s.target, tracker_lan());
    assert!(matches!(r, Err(TrackerError::BadUrl(_))), "{r:?}");
}

#[test]
fn tracker_hosts_pass_the_address_policy() {
    let s = sample(Kind::V1);
    let (addr, t) = http_tracker(Http::Compact);
    // By default neither a loopback literal nor a name resolving to loopback is contacted.
    for url in [
        format!("http://{addr}/announce"),
        format!("http://localhost:{}/announce", addr.port()),
        format!("udp://127.0.0.1:{}", addr.port()),
        format!("http://[::1]:{}/announce", addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/announce", addr.port()),
        "http://0.0.0.0:80/announce".to_string(),
        "udp://224.0.0.1:6969".to_string(),
    ] {
        let r = announce_in_coroutine(url.clone(), s.target, TrackerLimits::default());
        assert!(
            matches!(r, Err(TrackerError::AddressRefused { .. })),
            "{url}: {r:?}"
        );
    }
    // The name is resolved (on a thread) and, with allow_private, used.
    let url = format!("http://localhost:{}/announce", addr.port());
    let peers = announce_in_coroutine(url, s.target, tracker_lan()).unwrap();
    assert_eq!(peers, allowed_lan());
    t.join().unwrap();
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Udp {
    Normal,
    /// Ignores the first connect request (the client retries).
    DropFirstConnect,
    /// Answers the announce first with a wrong transaction id, then correctly.
    WrongTransactionFirst,
    /// Answers the announce with an error action.
    Error,
    Silent,
}

/// A fake UDP tracker (BEP 15) for one announce of `hash`; returns how many requests it got.
fn udp_tracker(mode: Udp, hash: [u8; 20]) -> (SocketAddr, JoinHandle<usize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = std::thread::spawn(move || {
        let connection_id = 0x1122_3344_5566_7788u64;
        let mut requests = 0;
        let mut buf = [0u8; 2048];
        let mut dropped = false;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            requests += 1;
            let p = &buf[..n];
            let tid = &p[12..16];
            if mode == Udp::Silent {
                continue;
            }
            if p[8..12] == [0, 0, 0, 0] {
                assert_eq!(n, 16);
                assert_eq!(p[..8], 0x41727101980u64.to_be_bytes());
                if mode == Udp::DropFirstConnect && !dropped {
                    dropped = true;
                    continue;
                }
                let mut r = vec![0, 0, 0, 0];
                r.extend_from_slice(tid);
                r.extend_from_slice(&connection_id.to_be_bytes());
                sock.send_to(&r, from).unwrap();
                continue;
            }
            assert_eq!(n, 98);
            assert_eq!(p[8..12], [0, 0, 0, 1]);
            assert_eq!(p[..8], connection_id.to_be_bytes());
            assert_eq!(p[16..36], hash);
            if mode == Udp::Error {
                let mut r = vec![0, 0, 0, 3];
                r.extend_from_slice(tid);
                r.extend_from_slice(b"unregistered torrent");
                sock.send_to(&r, from).unwrap();
                return requests;
            }
            let numwant = u32::from_be_bytes(p[92..96].try_into().unwrap());
            assert_eq!(numwant, 50);
            let mut r = vec![0, 0, 0, 1];
            if mode == Udp::WrongTransactionFirst {
                let mut wrong = r.clone();
                wrong.extend_from_slice(&[tid[0] ^ 0xff, tid[1], tid[2], tid[3]]);
                wrong.extend_from_slice(&[0; 12]);
                wrong.extend_from_slice(&compact(&[([1, 1, 1, 1], 1)]));
                sock.send_to(&wrong, from).unwrap();
            }
            r.extend_from_slice(tid);
            r.extend_from_slice(&[0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2]);
            r.extend_from_slice(&compact(&LISTED));
            sock.send_to(&r, from).unwrap();
            return requests;
        }
        requests
    });
    (addr, t)
}

#[test]
fn udp_tracker_announce() {
    let s = sample(Kind::Hybrid);
    // A hybrid is announced under its v1 hash.
    let hash = s.target.v1.unwrap();
    for mode in [
        Udp::Normal,
        Udp::WrongTransactionFirst,
        Udp::DropFirstConnect,
    ] {
        let (addr, t) = udp_tracker(mode, hash);
        let peers =
            announce_in_coroutine(format!("udp://{addr}/announce"), s.target, tracker_lan())
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(peers, allowed_lan(), "{mode:?}");
        let requests = t.join().unwrap();
        let expected = if mode == Udp::DropFirstConnect { 3 } else { 2 };
        assert_eq!(requests, expected, "{mode:?}");
    }
    let (addr, t) = udp_tracker(Udp::Error, hash);
    let r = announce_in_coroutine(format!("udp://{addr}"), s.target, tracker_lan());
    assert!(
        matches!(&r, Err(TrackerError::Failure(m)) if m == "unregistered torrent"),
        "{r:?}"
    );
    t.join().unwrap();
    // No answer at all: a timeout within the announce's budget.
    let (addr, t) = udp_tracker(Udp::Silent, hash);
    let limits = TrackerLimits {
        timeout: Duration::from_millis(500),
        ..tracker_lan()
    };
    let r = announce_in_coroutine(format!("udp://{addr}"), s.target, limits);
    assert!(matches!(r, Err(TrackerError::Timeout)), "{r:?}");
    drop(t);
    // Nothing listening: the ICMP "port unreachable" ends the announce at once.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = announce_in_coroutine(format!("udp://{closed}"), s.target, tracker_lan());
    assert!(matches!(r, Err(TrackerError::Connect(_))), "{r:?}");
    let r = announce_in_coroutine("udp://tracker.example".into(), s.target, tracker_lan());
    assert!(matches!(r, Err(TrackerError::BadUrl(_))), "no port: {r:?}");
}
