//! The peer wire client that downloads one torrent's info dictionary from one peer: the
//! BitTorrent handshake (BEP 3), the extension protocol (BEP 10) and ut_metadata (BEP 9).
//!
//! Owns: the connection to one peer, the messages it sends and reads, the metadata buffer and
//! the whole-info hash check. Must never: allocate by the peer's `metadata_size` before it is
//! checked against [`PeerLimits::max_metadata_size`], buffer a message longer than
//! [`MAX_EXTENDED_MESSAGE`], read more than [`MAX_OTHER_BYTES`] of anything but requested
//! metadata, wait past a deadline, take pieces from more than one peer, or return bytes that do
//! not hash to the target.
//!
//! Deadlines are kept by the shared watchdog (`crate::deadline`): the connect, then the
//! handshakes (BitTorrent and extension), then each metadata piece has its own, all within the
//! peer's whole budget. A peer that misses one is dropped with [`PeerError::Timeout`].
//!
//! Runs in a may coroutine only (may sockets, TCP_NODELAY).

use super::{peer_id, policy::AddrPolicy, Target};
use crate::deadline::{connect_may_until, Watch};
use crate::torrent::bencode;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Longest wait for a peer's TCP connect. Reachable peers answer within a round trip; many
/// addresses the DHT and trackers hand out are behind NATs and never answer, so waiting long
/// only delays trying the next one (libtorrent waits 15 s, but keeps many attempts in flight).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait from connected to the peer's extension handshake (both handshakes); the same
/// as libtorrent's `handshake_timeout`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for each metadata piece (from the extension handshake to the first piece,
/// then between pieces).
pub const PIECE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time spent on one peer in all. A 10 MiB info dictionary is 640 pieces: at this
/// budget a peer must send at least ~170 KiB/s for the largest; real ones are far below.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest info dictionary accepted. libtorrent accepts up to 30 MiB (`max_metadata_size`),
/// but a fetched info dictionary becomes a stored file, and the store's default limit on a
/// torrent file is 10 MiB (`store::DEFAULT_MAX_TORRENT_SIZE`): anything larger could not be
/// stored. The largest real info dictionaries (hundreds of thousands of files) stay below it.
pub const MAX_METADATA_SIZE: usize = 10 * 1024 * 1024;
/// Size of a metadata piece (BEP 9); every piece but the last has exactly this size.
pub const METADATA_PIECE: usize = 16 * 1024;
/// Longest extension message buffered: one metadata piece plus 1 KiB for its bencoded header
/// (libtorrent's limit is the same order: 16 KiB and a header).
pub const MAX_EXTENDED_MESSAGE: usize = METADATA_PIECE + 1024;
/// Most bytes of anything other than requested metadata pieces read from one peer (bitfields,
/// haves, keep-alives, other extension messages; all read and discarded). The bitfield of the
/// largest torrent libtorrent loads (2^21 pieces) is 256 KiB.
pub const MAX_OTHER_BYTES: u64 = 1024 * 1024;
/// Metadata pieces requested ahead of the ones received (two: one arriving while the next
/// is asked for). libtorrent answers a request at once only while little waits in its send
/// buffer and defers the others by up to a second: a 16-piece info from libtorrent 2.1.1 on
/// loopback took ~0.9 ms with 2 or 3 requests ahead, 44 ms with 4, 1 s with 16 (medians of 20
/// fetches in `libtorrent_serves_v1_v2_and_hybrid_info`, tests/fetch_peer.rs).
pub const REQUEST_WINDOW: u32 = 2;

/// Our extension message id for ut_metadata (what the peer must use in messages to us).
const OUR_UT_METADATA: u8 = 1;
/// BitTorrent message id of an extension message (BEP 10).
const MSG_EXTENDED: u8 = 20;
const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// `reserved[5]`: the extension protocol (BEP 10).
const RESERVED_EXTENSIONS: (usize, u8) = (5, 0x10);
/// `reserved[7]`: BitTorrent v2 (BEP 52).
const RESERVED_V2: (usize, u8) = (7, 0x10);

/// Limits and policy of one fetch from one peer.
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub piece_timeout: Duration,
    /// The whole exchange with this peer (callers pass what is left of a job's budget).
    pub total_timeout: Duration,
    /// Largest `metadata_size` accepted.
    pub max_metadata_size: usize,
    pub policy: AddrPolicy,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            connect_timeout: CONNECT_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            piece_timeout: PIECE_TIMEOUT,
            total_timeout: PEER_TIMEOUT,
            max_metadata_size: MAX_METADATA_SIZE,
            policy: AddrPolicy::default(),
        }
    }
}

/// Which step of the exchange a deadline ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Handshake,
    Metadata,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Handshake => "handshake",
            Stage::Metadata => "metadata piece",
        })
    }
}

/// Why a peer gave no info dictionary. Every variant drops the peer for this fetch.
#[derive(Debug)]
pub enum PeerError {
    /// The address policy refuses this address; no connection was made.
    AddressRefused(SocketAddr),
    /// The target has neither a v1 nor a v2 hash.
    NoTarget,
    /// The TCP connect failed.
    Connect(io::Error),
    /// The peer's BitTorrent handshake was not one (wrong protocol string, other torrent).
    Handshake(String),
    /// The peer does not speak the extension protocol (BEP 10).
    NoExtension,
    /// The peer's extension handshake offers no ut_metadata or no `metadata_size` (BEP 9).
    NoMetadataSupport,
    /// The announced `metadata_size` is over the cap; nothing was allocated for it.
    TooLarge { size: u64, cap: usize },
    /// The peer sent more than the fetch accepts (an oversized message, or more than
    /// [`MAX_OTHER_BYTES`] besides the metadata).
    TooMuchData { limit: u64 },
    /// The peer rejected a metadata request (BEP 9 `reject`).
    Rejected { piece: u32 },
    /// The assembled info dictionary does not hash to the target (a wrong piece).
    WrongHash,
    /// A deadline passed at this stage.
    Timeout(Stage),
    /// The connection failed or was closed mid-exchange.
    Io(io::Error),
    /// A message broke the protocol.
    Protocol(String),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::AddressRefused(a) => {
                write!(f, "peer address {a} refused by the address policy")
            }
            PeerError::NoTarget => write!(f, "no info hash to fetch"),
            PeerError::Connect(e) => write!(f, "cannot connect to the peer: {e}"),
            PeerError::Handshake(m) => write!(f, "bad handshake: {m}"),
            PeerError::NoExtension => {
                write!(f, "the peer does not support the extension protocol")
            }
            PeerError::NoMetadataSupport => {
                write!(f, "the peer offers no metadata (ut_metadata)")
            }
            PeerError::TooLarge { size, cap } => write!(
                f,
                "info dictionary of {size} bytes is over the limit of {cap} bytes"
            ),
            PeerError::TooMuchData { limit } => {
                write!(f, "the peer sent too much data (limit {limit} bytes)")
            }
            PeerError::Rejected { piece } => {
                write!(
                    f,
                    "the peer rejected the request for metadata piece {piece}"
                )
            }
            PeerError::WrongHash => write!(f, "the info dictionary does not match the hash"),
            PeerError::Timeout(stage) => write!(f, "timed out at the {stage}"),
            PeerError::Io(e) => write!(f, "connection failed: {e}"),
            PeerError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for PeerError {}

impl From<io::Error> for PeerError {
    fn from(e: io::Error) -> Self {
        PeerError::Io(e)
    }
}

fn protocol(msg: impl Into<String>) -> PeerError {
    PeerError::Protocol(msg.into())
}

/// Downloads the info dictionary of `target` from the peer at `addr`: its raw bytes, checked
/// against the target's hash(es) (SHA-1 for v1, SHA-256 for v2, both for a hybrid). In a may
/// coroutine only.
pub fn fetch_info(
    addr: SocketAddr,
    target: &Target,
    limits: &PeerLimits,
) -> Result<Vec<u8>, PeerError> {
    if !limits.policy.allows(&addr) {
        return Err(PeerError::AddressRefused(addr));
    }
    let hash = target.swarm_hash().ok_or(PeerError::NoTarget)?;
    let start = Instant::now();
    let end = start + limits.total_timeout;
    let stream =
        connect_may_until(&addr, (start + limits.connect_timeout).min(end)).map_err(|e| match e
            .kind()
        {
            io::ErrorKind::TimedOut => PeerError::Timeout(Stage::Connect),
            _ => PeerError::Connect(e),
        })?;
    let _ = stream.set_nodelay(true);
    let watch = Watch::until(
        stream.as_raw_fd(),
        (Instant::now() + limits.handshake_timeout).min(end),
    );
    let mut peer = Peer {
        conn: BufReader::with_capacity(8 * 1024, stream),
        msg: Vec::new(),
        other_bytes: 0,
        watch: &watch,
        end,
        stage: Stage::Handshake,
    };
    let r = peer.exchange(target, &hash, limits);
    let Peer { conn, stage, .. } = peer;
    // The watch ends before the socket is closed (dropped with `conn`).
    let fired = watch.finish();
    drop(conn);
    match r {
        Err(PeerError::Io(_)) if fired => Err(PeerError::Timeout(stage)),
        r => r,
    }
}

/// The BitTorrent handshake we send: protocol, reserved bits (extensions; v2 when the v2 hash
/// is known, so a hybrid peer may answer with either form), info hash, peer id.
pub fn handshake(hash: &[u8; 20], v2: bool, peer_id: &[u8; 20]) -> [u8; 68] {
    let mut h = [0u8; 68];
    h[0] = 19;
    h[1..20].copy_from_slice(PROTOCOL);
    h[20 + RESERVED_EXTENSIONS.0] |= RESERVED_EXTENSIONS.1;
    if v2 {
        h[20 + RESERVED_V2.0] |= RESERVED_V2.1;
    }
    h[28..48].copy_from_slice(hash);
    h[48..68].copy_from_slice(peer_id);
    h
}

/// A peer's handshake: its reserved bytes and info hash.
pub fn parse_handshake(h: &[u8; 68]) -> Result<([u8; 8], [u8; 20]), PeerError> {
    if h[0] != 19 || &h[1..20] != PROTOCOL {
        return Err(PeerError::Handshake(format!(
            "not the BitTorrent protocol (starts with {:?})",
            String::from_utf8_lossy(&h[..20.min(1 + h[0] as usize)])
        )));
    }
    let mut reserved = [0u8; 8];
    reserved.copy_from_slice(&h[20..28]);
    let mut hash = [0u8; 20];
    hash.copy_from_slice(&h[28..48]);
    Ok((reserved, hash))
}

/// Frames an extension message: length, id 20, extension id, payload.
fn extended(ext_id: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(6 + payload.len());
    m.extend_from_slice(&(2 + payload.len() as u32).to_be_bytes());
    m.push(MSG_EXTENDED);
    m.push(ext_id);
    m.extend_from_slice(payload);
    m
}

/// Our extension handshake: ut_metadata under [`OUR_UT_METADATA`], and our client name.
pub fn extension_handshake() -> Vec<u8> {
    let v = concat!("thetorrent ", env!("CARGO_PKG_VERSION"));
    let payload = format!("d1:md11:ut_metadatai{OUR_UT_METADATA}ee1:v{}:{v}e", v.len());
    extended(0, payload.as_bytes())
}

/// A ut_metadata `request` (msg_type 0) for `piece`, to the peer's ut_metadata id.
pub fn metadata_request(peer_ext_id: u8, piece: u32) -> Vec<u8> {
    extended(
        peer_ext_id,
        format!("d8:msg_typei0e5:piecei{piece}ee").as_bytes(),
    )
}

/// A ut_metadata `reject` (msg_type 2) for `piece` (we have no metadata to give).
pub fn metadata_reject(peer_ext_id: u8, piece: i128) -> Vec<u8> {
    extended(
        peer_ext_id,
        format!("d8:msg_typei2e5:piecei{piece}ee").as_bytes(),
    )
}

/// What a peer's extension handshake says about ut_metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataOffer {
    /// The peer's id for ut_metadata messages sent to it.
    pub ext_id: u8,
    /// The info dictionary's size as the peer announces it (not yet checked against a cap).
    pub size: u64,
}

/// Reads a peer's extension handshake (the payload after the extension id 0).
pub fn parse_extension_handshake(payload: &[u8]) -> Result<MetadataOffer, PeerError> {
    let item = bencode::parse(payload)
        .map_err(|e| protocol(format!("extension handshake is not bencode: {e}")))?;
    let d = item
        .as_dict()
        .ok_or_else(|| protocol("extension handshake is not a dictionary"))?;
    let ext_id = d
        .get(b"m")
        .and_then(|m| m.as_dict())
        .and_then(|m| m.get(b"ut_metadata"))
        .and_then(|i| i.as_int());
    // 0 disables the extension (BEP 10); ids are one byte.
    let ext_id = match ext_id {
        Some(i) if (1..=255).contains(&i) => i as u8,
        _ => return Err(PeerError::NoMetadataSupport),
    };
    let size = match d.get(b"metadata_size").and_then(|s| s.as_int()) {
        Some(s) if s > 0 => u64::try_from(s).unwrap_or(u64::MAX),
        Some(s) => return Err(protocol(format!("metadata_size {s}"))),
        None => return Err(PeerError::NoMetadataSupport),
    };
    Ok(MetadataOffer { ext_id, size })
}

/// A ut_metadata message (BEP 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMsg {
    /// msg_type 0: the peer asks us for a piece.
    Request { piece: i128 },
    /// msg_type 1: a piece; its bytes start at `data` in the payload.
    Data {
        piece: i128,
        total_size: Option<i128>,
        data: usize,
    },
    /// msg_type 2: the peer will not send a piece.
    Reject { piece: i128 },
    /// Another msg_type (ignored, BEP 9).
    Other,
}

/// Reads a ut_metadata message (the payload after the extension id).
pub fn parse_metadata_msg(payload: &[u8]) -> Result<MetadataMsg, PeerError> {
    let (item, end) = bencode::parse_at(payload, 0)
        .map_err(|e| protocol(format!("ut_metadata message is not bencode: {e}")))?;
    let d = item
        .as_dict()
        .ok_or_else(|| protocol("ut_metadata message is not a dictionary"))?;
    let int = |k: &[u8]| d.get(k).and_then(|v| v.as_int());
    let (Some(kind), Some(piece)) = (int(b"msg_type"), int(b"piece")) else {
        return Err(protocol("ut_metadata message without msg_type or piece"));
    };
    Ok(match kind {
        0 => MetadataMsg::Request { piece },
        1 => MetadataMsg::Data {
            piece,
            total_size: int(b"total_size"),
            data: end,
        },
        2 => MetadataMsg::Reject { piece },
        _ => MetadataMsg::Other,
    })
}

/// One message from the peer, as far as the fetch cares.
enum Msg {
    /// An extension message; its id, and its payload in `Peer::msg`.
    Extended(u8),
    /// Anything else (read and discarded), or a keep-alive.
    Other,
}

/// The connection to one peer during a fetch.
struct Peer<'w> {
    conn: BufReader<may::net::TcpStream>,
    /// The payload of the last extension message (reused).
    msg: Vec<u8>,
    /// Bytes read that were not requested metadata, against [`MAX_OTHER_BYTES`].
    other_bytes: u64,
    watch: &'w Watch,
    /// The peer's whole budget ends here.
    end: Instant,
    stage: Stage,
}

impl Peer<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PeerError> {
        self.conn.get_mut().write_all(bytes)?;
        Ok(())
    }

    /// Counts `n` bytes against [`MAX_OTHER_BYTES`].
    fn spend_other(&mut self, n: u64) -> Result<(), PeerError> {
        self.other_bytes += n;
        if self.other_bytes > MAX_OTHER_BYTES {
            return Err(PeerError::TooMuchData {
                limit: MAX_OTHER_BYTES,
            });
        }
        Ok(())
    }

    /// Sets the deadline to `timeout` from now, within the peer's whole budget.
    fn deadline_in(&self, timeout: Duration) {
        self.watch
            .set_deadline((Instant::now() + timeout).min(self.end));
    }

    /// Reads the next message. Extension messages are buffered (at most
    /// [`MAX_EXTENDED_MESSAGE`]); others are discarded, counted as other bytes.
    fn read_msg(&mut self) -> Result<Msg, PeerError> {
        let mut len = [0u8; 4];
        self.conn.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as u64;
        if len == 0 {
            self.spend_other(4)?;
            return Ok(Msg::Other);
        }
        let mut id = [0u8; 1];
        self.conn.read_exact(&mut id)?;
        if id[0] == MSG_EXTENDED {
            if len < 2 {
                return Err(protocol("empty extension message"));
            }
            let n = len - 2;
            if n > MAX_EXTENDED_MESSAGE as u64 {
                return Err(PeerError::TooMuchData {
                    limit: MAX_EXTENDED_MESSAGE as u64,
                });
            }
            let mut ext = [0u8; 1];
            self.conn.read_exact(&mut ext)?;
            self.msg.clear();
            self.msg.resize(n as usize, 0);
            self.conn.read_exact(&mut self.msg)?;
            return Ok(Msg::Extended(ext[0]));
        }
        self.spend_other(4 + len)?;
        let skipped = io::copy(&mut (&mut self.conn).take(len - 1), &mut io::sink())?;
        if skipped < len - 1 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        Ok(Msg::Other)
    }

    fn exchange(
        &mut self,
        target: &Target,
        hash: &[u8; 20],
        limits: &PeerLimits,
    ) -> Result<Vec<u8>, PeerError> {
        let offer = self.handshakes(target, hash, limits)?;
        self.stage = Stage::Metadata;
        let info = self.download(offer, limits)?;
        if let Some(v1) = target.v1 {
            if Sha1::digest(&info)[..] != v1[..] {
                return Err(PeerError::WrongHash);
            }
        }
        if let Some(v2) = target.v2 {
            if Sha256::digest(&info)[..] != v2[..] {
                return Err(PeerError::WrongHash);
            }
        }
        Ok(info)
    }

    /// Both handshakes; what the peer offers, its size checked against the cap.
    fn handshakes(
        &mut self,
        target: &Target,
        hash: &[u8; 20],
        limits: &PeerLimits,
    ) -> Result<MetadataOffer, PeerError> {
        self.send(&handshake(hash, target.v2.is_some(), &peer_id()))?;
        let mut theirs = [0u8; 68];
        self.conn.read_exact(&mut theirs)?;
        let (reserved, their_hash) = parse_handshake(&theirs)?;
        if !target.matches_swarm_hash(&their_hash) {
            return Err(PeerError::Handshake(format!(
                "the peer answered for another torrent ({})",
                crate::torrent::hash::hex_upper(&their_hash)
            )));
        }
        if reserved[RESERVED_EXTENSIONS.0] & RESERVED_EXTENSIONS.1 == 0 {
            return Err(PeerError::NoExtension);
        }
        self.send(&extension_handshake())?;
        loop {
            match self.read_msg()? {
                Msg::Extended(0) => break,
                Msg::Extended(_) => self.spend_other(self.msg.len() as u64)?,
                Msg::Other => {}
            }
        }
        let offer = parse_extension_handshake(&self.msg)?;
        if offer.size > limits.max_metadata_size as u64 {
            return Err(PeerError::TooLarge {
                size: offer.size,
                cap: limits.max_metadata_size,
            });
        }
        Ok(offer)
    }

    /// Requests every piece (at most [`REQUEST_WINDOW`] ahead) and assembles the info bytes.
    fn download(
        &mut self,
        offer: MetadataOffer,
        limits: &PeerLimits,
    ) -> Result<Vec<u8>, PeerError> {
        let size = offer.size as usize;
        let pieces = size.div_ceil(METADATA_PIECE) as u32;
        // `size` is at most the cap here.
        let mut info = vec![0u8; size];
        let mut have = vec![false; pieces as usize];
        let (mut requested, mut received) = (0u32, 0u32);
        self.deadline_in(limits.piece_timeout);
        while received < pieces {
            while requested < pieces && requested - received < REQUEST_WINDOW {
                self.send(&metadata_request(offer.ext_id, requested))?;
                requested += 1;
            }
            let ext = match self.read_msg()? {
                Msg::Extended(ext) => ext,
                Msg::Other => continue,
            };
            if ext != OUR_UT_METADATA {
                self.spend_other(self.msg.len() as u64)?;
                continue;
            }
            match parse_metadata_msg(&self.msg)? {
                MetadataMsg::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    if total_size.is_some_and(|t| t != size as i128) {
                        return Err(protocol(format!(
                            "total_size {} differs from metadata_size {size}",
                            total_size.unwrap_or_default()
                        )));
                    }
                    let i = u32::try_from(piece)
                        .ok()
                        .filter(|i| *i < requested && !have[*i as usize])
                        .ok_or_else(|| protocol(format!("unrequested metadata piece {piece}")))?;
                    let at = i as usize * METADATA_PIECE;
                    let want = METADATA_PIECE.min(size - at);
                    let got = &self.msg[data..];
                    if got.len() != want {
                        return Err(protocol(format!(
                            "metadata piece {i} has {} bytes, expected {want}",
                            got.len()
                        )));
                    }
                    info[at..at + want].copy_from_slice(got);
                    have[i as usize] = true;
                    received += 1;
                    self.deadline_in(limits.piece_timeout);
                }
                MetadataMsg::Reject { piece } => {
                    return Err(PeerError::Rejected {
                        piece: u32::try_from(piece).unwrap_or(u32::MAX),
                    })
                }
                MetadataMsg::Request { piece } => {
                    self.spend_other(self.msg.len() as u64)?;
                    self.send(&metadata_reject(offer.ext_id, piece))?;
                }
                MetadataMsg::Other => self.spend_other(self.msg.len() as u64)?,
            }
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_sets_the_extension_bit_and_the_v2_bit_when_asked() {
        let h = handshake(&[7; 20], false, &[9; 20]);
        assert_eq!(h[0], 19);
        assert_eq!(&h[1..20], b"BitTorrent protocol");
        assert_eq!(h[25], 0x10);
        assert_eq!(h[27], 0);
        assert_eq!(&h[28..48], &[7; 20]);
        assert_eq!(&h[48..68], &[9; 20]);
        let h = handshake(&[7; 20], true, &[9; 20]);
        assert_eq!(h[27], 0x10);
        assert_eq!(
            parse_handshake(&h).unwrap(),
            ([0, 0, 0, 0, 0, 0x10, 0, 0x10], [7; 20])
        );
    }

    #[test]
    fn a_handshake_of_another_protocol_is_refused() {
        let mut h = handshake(&[7; 20], false, &[9; 20]);
        h[1] = b'b';
        assert!(matches!(parse_handshake(&h), Err(PeerError::Handshake(_))));
        let mut h = handshake(&[7; 20], false, &[9; 20]);
        h[0] = 255;
        assert!(matches!(parse_handshake(&h), Err(PeerError::Handshake(_))));
    }

    #[test]
    fn extension_messages_are_framed() {
        let m = metadata_request(3, 17);
        let payload = b"d8:msg_typei0e5:piecei17ee";
        assert_eq!(&m[..4], &(2 + payload.len() as u32).to_be_bytes());
        assert_eq!(m[4], 20);
        assert_eq!(m[5], 3);
        assert_eq!(&m[6..], payload);
        let h = extension_handshake();
        assert_eq!(h[5], 0);
        let d = bencode::parse(&h[6..]).unwrap();
        let d = d.as_dict().unwrap();
        let m = d.get(b"m").unwrap().as_dict().unwrap();
        assert_eq!(m.get(b"ut_metadata").unwrap().as_int(), Some(1));
        assert_eq!(
            parse_metadata_msg(&metadata_reject(3, 5)[6..]).unwrap(),
            MetadataMsg::Reject { piece: 5 }
        );
    }

    #[test]
    fn extension_handshake_offers() {
        let ok = b"d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:v4:test";
        assert!(parse_extension_handshake(ok).is_err(), "truncated");
        let ok = b"d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235ee";
        assert_eq!(
            parse_extension_handshake(ok).unwrap(),
            MetadataOffer {
                ext_id: 3,
                size: 31235
            }
        );
        for none in [
            &b"d1:md6:ut_pexi1ee13:metadata_sizei31235ee"[..],
            b"d1:md11:ut_metadatai0ee13:metadata_sizei31235ee",
            b"d1:md11:ut_metadatai256ee13:metadata_sizei31235ee",
            b"d1:md11:ut_metadatai3eee",
            b"de",
        ] {
            assert!(
                matches!(
                    parse_extension_handshake(none),
                    Err(PeerError::NoMetadataSupport)
                ),
                "{}",
                String::from_utf8_lossy(none)
            );
        }
        for bad in [
            &b"d1:md11:ut_metadatai3ee13:metadata_sizei-1ee"[..],
            b"li1ee",
            b"garbage",
        ] {
            assert!(matches!(
                parse_extension_handshake(bad),
                Err(PeerError::Protocol(_))
            ));
        }
        let huge = b"d1:md11:ut_metadatai3ee13:metadata_sizei99999999999999999999ee";
        // Over u64: kept as the largest size, so the cap refuses it.
        assert_eq!(parse_extension_handshake(huge).unwrap().size, u64::MAX);
    }

    #[test]
    fn metadata_messages() {
        let mut data = b"d8:msg_typei1e5:piecei2e10:total_sizei34000ee".to_vec();
        let header = data.len();
        data.extend_from_slice(b"xyz");
        assert_eq!(
            parse_metadata_msg(&data).unwrap(),
            MetadataMsg::Data {
                piece: 2,
                total_size: Some(34000),
                data: header
            }
        );
        assert_eq!(
            parse_metadata_msg(b"d8:msg_typei0e5:piecei0ee").unwrap(),
            MetadataMsg::Request { piece: 0 }
        );
        assert_eq!(
            parse_metadata_msg(b"d8:msg_typei9e5:piecei0ee").unwrap(),
            MetadataMsg::Other
        );
        assert!(parse_metadata_msg(b"d5:piecei0ee").is_err());
        assert!(parse_metadata_msg(b"i1e").is_err());
        assert!(parse_metadata_msg(b"d8:msg_type").is_err());
    }
}
