//! UDP tracker announce (BEP 15): connect, then announce, on one connected may UDP socket.
//!
//! Owns: the packets, transaction ids (random, one per step and kept across its retries, so
//! a late answer to an earlier send still counts; an answer with another id or action is
//! ignored, an error action with ours ends the announce), and the retry schedule: BEP 15
//! waits 15·2ⁿ s per attempt, far past our budget, so the first wait is [`UDP_FIRST_WAIT`],
//! doubling, at most [`UDP_ATTEMPTS`] unanswered sends, all within the announce's deadline.
//! Must never: accept a datagram from another address (the socket is connected), block a may
//! worker, or wait past the deadline.
//!
//! Waiting: not the watchdog of `crate::deadline` — `shutdown(2)` does not end a wait on a
//! UDP socket (epoll reports it, but `recv` then says `EAGAIN`, so may's `recv` waits on) —
//! and not may's timed I/O (left out of the build). The wait polls with a non-blocking `recv`
//! on the socket and coroutine sleeps of [`UDP_POLL`], as the HTTP server's lingering close
//! does.

use super::{resolve, Peers, TrackerError, TrackerLimits, ANNOUNCE_LEFT};
use crate::fetch::{peer_id, random_u32};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// How long the first attempt waits for an answer (BEP 15: 15 s); each retry waits twice as
/// long as the one before. A tracker on the public network answers in well under a second.
pub const UDP_FIRST_WAIT: Duration = Duration::from_secs(2);
/// Most unanswered requests per announce, connect and announce steps together (BEP 15: 8);
/// 2 + 4 + 8 s fits in [`super::TRACKER_TIMEOUT`].
pub const UDP_ATTEMPTS: u32 = 3;
/// How often a wait for an answer looks for one (an answer is seen up to this late).
pub const UDP_POLL: Duration = Duration::from_millis(10);
/// Largest datagram read. An answer for [`super::MAX_NUMWANT`] IPv6 peers is 3620 bytes.
const MAX_DATAGRAM: usize = 8 * 1024;

/// BEP 15's magic constant that opens a connect request.
const PROTOCOL_ID: u64 = 0x0417_2710_1980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_ERROR: u32 = 3;

/// A connect request.
pub fn connect_request(transaction: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
    p[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    p[12..16].copy_from_slice(&transaction.to_be_bytes());
    p
}

/// An announce request: downloaded and uploaded 0, `left` [`ANNOUNCE_LEFT`], event none, the
/// address the tracker sees.
pub fn announce_request(
    connection: u64,
    transaction: u32,
    hash: &[u8; 20],
    peer_id: &[u8; 20],
    key: u32,
    numwant: u32,
    port: u16,
) -> [u8; 98] {
    let mut p = [0u8; 98];
    p[..8].copy_from_slice(&connection.to_be_bytes());
    p[8..12].copy_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    p[12..16].copy_from_slice(&transaction.to_be_bytes());
    p[16..36].copy_from_slice(hash);
    p[36..56].copy_from_slice(peer_id);
    // downloaded (56..64) 0
    p[64..72].copy_from_slice(&ANNOUNCE_LEFT.to_be_bytes());
    // uploaded (72..80) 0, event (80..84) 0 = none, IP (84..88) 0 = the sender's
    p[88..92].copy_from_slice(&key.to_be_bytes());
    p[92..96].copy_from_slice(&numwant.to_be_bytes());
    p[96..98].copy_from_slice(&port.to_be_bytes());
    p
}

/// What a datagram says about the request with `transaction` and `action`.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Not an answer to it (another transaction or action, too short): keep waiting.
    Unrelated,
    /// The answer's body after the 8-byte action and transaction.
    Answer(&'a [u8]),
    /// The tracker's error message for it.
    Error(String),
}

/// Matches a datagram against the request it should answer.
pub fn reply(d: &[u8], action: u32, transaction: u32) -> Reply<'_> {
    if d.len() < 8 || d[4..8] != transaction.to_be_bytes() {
        return Reply::Unrelated;
    }
    let got = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    if got == ACTION_ERROR {
        Reply::Error(String::from_utf8_lossy(&d[8..]).into_owned())
    } else if got == action {
        Reply::Answer(&d[8..])
    } else {
        Reply::Unrelated
    }
}

/// Announces to a `udp://host:port` tracker.
pub fn announce(
    u: &url::Url,
    hash: &[u8; 20],
    limits: &TrackerLimits,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, TrackerError> {
    let port = u
        .port()
        .ok_or_else(|| TrackerError::BadUrl(format!("{u}: no port")))?;
    let addrs = resolve(u, port, &limits.policy, deadline)?;
    // One address: the retries go to it (trying the next one would need the schedule again).
    let s = open(addrs[0])?;
    let (connect_t, announce_t, key) = (random_u32(), random_u32(), random_u32());
    let mut connection: Option<u64> = None;
    let mut timeouts = 0;
    let mut wait = UDP_FIRST_WAIT;
    while timeouts < UDP_ATTEMPTS && Instant::now() < deadline {
        let until = (Instant::now() + wait).min(deadline);
        let answered = match connection {
            None => connect_step(&s, connect_t, until)?
                .map(|c| connection = Some(c))
                .is_some(),
            Some(c) => {
                let req = announce_request(
                    c,
                    announce_t,
                    hash,
                    &peer_id(),
                    key,
                    limits.numwant(),
                    limits.port,
                );
                match exchange(&s, &req, ACTION_ANNOUNCE, announce_t, until)? {
                    Some(a) => return announce_answer(&s, &a, limits),
                    None => false,
                }
            }
        };
        if !answered {
            timeouts += 1;
            wait *= 2;
        }
    }
    Err(TrackerError::Timeout)
}

/// A UDP socket connected to the tracker (datagrams from anywhere else are dropped by the
/// kernel).
fn open(addr: SocketAddr) -> Result<may::net::UdpSocket, TrackerError> {
    let any: IpAddr = match addr {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = may::net::UdpSocket::bind(SocketAddr::new(any, 0)).map_err(TrackerError::Io)?;
    s.connect(addr).map_err(TrackerError::Io)?;
    Ok(s)
}

/// Sends `request` and waits until `until` for its answer; `Ok(None)`: none in time.
fn exchange(
    s: &may::net::UdpSocket,
    request: &[u8],
    action: u32,
    transaction: u32,
    until: Instant,
) -> Result<Option<Vec<u8>>, TrackerError> {
    s.send(request).map_err(udp_error)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        // may keeps the socket non-blocking: this returns at once.
        match s.inner().recv(&mut buf) {
            Ok(n) => match reply(&buf[..n], action, transaction) {
                Reply::Unrelated => continue,
                Reply::Answer(a) => return Ok(Some(a.to_vec())),
                Reply::Error(m) => return Err(TrackerError::Failure(m)),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= until {
                    return Ok(None);
                }
                may::coroutine::sleep(UDP_POLL.min(until - now));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(udp_error(e)),
        }
    }
}

/// A connected UDP socket reports an ICMP "port unreachable" as a refused connection.
fn udp_error(e: io::Error) -> TrackerError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TrackerError::Connect(e),
        _ => TrackerError::Io(e),
    }
}

/// The connect step; `Ok(None)` when it timed out.
fn connect_step(
    s: &may::net::UdpSocket,
    transaction: u32,
    until: Instant,
) -> Result<Option<u64>, TrackerError> {
    let Some(a) = exchange(
        s,
        &connect_request(transaction),
        ACTION_CONNECT,
        transaction,
        until,
    )?
    else {
        return Ok(None);
    };
    if a.len() < 8 {
        return Err(TrackerError::Protocol(format!(
            "connect answer of {} bytes",
            a.len() + 8
        )));
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&a[..8]);
    Ok(Some(u64::from_be_bytes(c)))
}

/// The peers of an announce answer: after interval, leechers and seeders, 6 bytes each over
/// IPv4, 18 over IPv6 (the tracker's address family decides).
fn announce_answer(
    s: &may::net::UdpSocket,
    a: &[u8],
    limits: &TrackerLimits,
) -> Result<Vec<SocketAddr>, TrackerError> {
    if a.len() < 12 {
        return Err(TrackerError::Protocol(format!(
            "announce answer of {} bytes",
            a.len() + 8
        )));
    }
    let mut peers = Peers::new(&limits.policy, limits.numwant());
    let list = &a[12..];
    if tracker_is_v6(s) {
        peers.add_compact_v6(list)?;
    } else {
        peers.add_compact_v4(list)?;
    }
    Ok(peers.list)
}

/// Whether the socket's tracker is reached over IPv6.
fn tracker_is_v6(s: &may::net::UdpSocket) -> bool {
    s.inner().peer_addr().is_ok_and(|a| a.is_ipv6())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_layout() {
        let p = connect_request(0xdead_beef);
        assert_eq!(
            p,
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn announce_request_layout() {
        let p = announce_request(
            0x0102_0304_0506_0708,
            7,
            &[0xaa; 20],
            &[0xbb; 20],
            9,
            50,
            6881,
        );
        assert_eq!(&p[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&p[8..12], &[0, 0, 0, 1]);
        assert_eq!(&p[12..16], &[0, 0, 0, 7]);
        assert_eq!(&p[16..36], &[0xaa; 20]);
        assert_eq!(&p[36..56], &[0xbb; 20]);
        assert_eq!(&p[56..64], &[0; 8]);
        assert_eq!(
            u64::from_be_bytes(p[64..72].try_into().unwrap()),
            ANNOUNCE_LEFT
        );
        assert_eq!(&p[72..88], &[0; 16]);
        assert_eq!(&p[88..92], &[0, 0, 0, 9]);
        assert_eq!(&p[92..96], &[0, 0, 0, 50]);
        assert_eq!(&p[96..98], &[0x1a, 0xe1]);
    }

    #[test]
    fn replies_are_matched_by_transaction_and_action() {
        let mut ok = vec![0, 0, 0, 0, 0, 0, 0, 5];
        ok.extend_from_slice(&[1; 8]);
        assert_eq!(reply(&ok, ACTION_CONNECT, 5), Reply::Answer(&[1; 8]));
        assert_eq!(reply(&ok, ACTION_CONNECT, 6), Reply::Unrelated);
        assert_eq!(reply(&ok, ACTION_ANNOUNCE, 5), Reply::Unrelated);
        assert_eq!(reply(&ok[..7], ACTION_CONNECT, 5), Reply::Unrelated);
        let err = [0, 0, 0, 3, 0, 0, 0, 5, b'n', b'o'];
        assert_eq!(reply(&err, ACTION_ANNOUNCE, 5), Reply::Error("no".into()));
        assert_eq!(reply(&err, ACTION_ANNOUNCE, 4), Reply::Unrelated);
    }
}
