//! HTTP tracker announce (BEP 3; compact peers, BEP 23; `peers6`, BEP 7) over a may socket.
//!
//! Owns: the announce query, one `GET` with `Connection: close`, and decoding the bencoded
//! answer. The response head and body are read by the project's HTTP/1 response reader
//! (`read_head`, `read_body`: head and header-count limits, chunked decoding, a body cap), the
//! same one the S3 client runs on may sockets. Must never: follow a redirect, read a body past
//! `max_response`, or wait past the deadline (kept by the shared watchdog).

use super::{resolve, Peers, TrackerError, TrackerLimits, ANNOUNCE_LEFT};
use crate::deadline::{connect_may_until, Watch};
use crate::fetch::peer_id;
use crate::http::client::{read_body, read_head, HttpError};
use crate::torrent::bencode;
use std::io::{self, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Percent-encodes every byte but RFC 3986's unreserved characters (info hash, peer id).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The request target (path and query) of an announce to `u`.
pub fn announce_target(
    u: &url::Url,
    hash: &[u8; 20],
    peer_id: &[u8; 20],
    limits: &TrackerLimits,
) -> String {
    let mut t = u.path().to_string();
    match u.query() {
        Some(q) if !q.is_empty() => {
            t.push('?');
            t.push_str(q);
            t.push('&');
        }
        _ => t.push('?'),
    }
    t.push_str(&format!(
        "info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={ANNOUNCE_LEFT}\
         &compact=1&no_peer_id=1&numwant={}",
        percent_encode(hash),
        percent_encode(peer_id),
        limits.port,
        limits.numwant()
    ));
    t
}

/// Announces to an `http://` tracker.
pub fn announce(
    u: &url::Url,
    hash: &[u8; 20],
    limits: &TrackerLimits,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, TrackerError> {
    let port = u
        .port_or_known_default()
        .ok_or_else(|| TrackerError::BadUrl(format!("{u}: no port")))?;
    let addrs = resolve(u, port, &limits.policy, deadline)?;
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match connect_may_until(a, deadline) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(TrackerError::Timeout),
            Err(e) => last = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(TrackerError::Connect(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address")
        })));
    };
    let _ = stream.set_nodelay(true);
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_string(),
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: thetorrent/{}\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        announce_target(u, hash, &peer_id(), limits),
        env!("CARGO_PKG_VERSION")
    );
    let watch = Watch::until(stream.as_raw_fd(), deadline);
    let mut conn = BufReader::with_capacity(8 * 1024, stream);
    let r = exchange(&mut conn, request.as_bytes(), limits.max_response);
    // The watch ends before the socket is closed (dropped with `conn`).
    let fired = watch.finish();
    drop(conn);
    if fired {
        // Even an answer read "whole": a body framed by the end of the connection ends early
        // when the watchdog shuts the socket down.
        return Err(TrackerError::Timeout);
    }
    let body = match r {
        Ok(body) => body,
        Err(Exchange::Http(HttpError::TooLarge { .. })) => {
            return Err(TrackerError::TooLarge {
                limit: limits.max_response,
            })
        }
        Err(Exchange::Http(HttpError::Io(e))) => return Err(TrackerError::Io(e)),
        Err(Exchange::Http(e)) => return Err(TrackerError::Protocol(e.to_string())),
        Err(Exchange::Status(s)) => return Err(TrackerError::Status(s)),
    };
    parse_response(&body, limits)
}

enum Exchange {
    Http(HttpError),
    Status(u16),
}

fn exchange(
    conn: &mut BufReader<may::net::TcpStream>,
    request: &[u8],
    max_response: usize,
) -> Result<Vec<u8>, Exchange> {
    conn.get_mut()
        .write_all(request)
        .map_err(|e| Exchange::Http(HttpError::Io(e)))?;
    let head = read_head(conn, false).map_err(Exchange::Http)?;
    if head.status != 200 {
        return Err(Exchange::Status(head.status));
    }
    read_body(conn, &head.framing, max_response as u64).map_err(Exchange::Http)
}

/// Decodes an HTTP tracker's bencoded answer: `failure reason`, or `peers` (compact string or
/// list of dictionaries) and `peers6`.
pub fn parse_response(
    body: &[u8],
    limits: &TrackerLimits,
) -> Result<Vec<SocketAddr>, TrackerError> {
    let item =
        bencode::parse(body).map_err(|e| TrackerError::Protocol(format!("not bencode: {e}")))?;
    let d = item
        .as_dict()
        .ok_or_else(|| TrackerError::Protocol("not a dictionary".into()))?;
    if let Some(reason) = d.get(b"failure reason") {
        let reason = reason.as_bytes().unwrap_or_default();
        return Err(TrackerError::Failure(
            String::from_utf8_lossy(reason).into_owned(),
        ));
    }
    let mut peers = Peers::new(&limits.policy, limits.numwant());
    let mut any = false;
    if let Some(p) = d.get(b"peers") {
        any = true;
        if let Some(b) = p.as_bytes() {
            peers.add_compact_v4(b)?;
        } else if let Some(list) = p.as_list() {
            for entry in list.iter() {
                let Some(e) = entry.as_dict() else { continue };
                let ip = e
                    .get(b"ip")
                    .and_then(|i| i.as_bytes())
                    .and_then(|i| std::str::from_utf8(i).ok())
                    .and_then(|i| i.parse::<std::net::IpAddr>().ok());
                let port = e
                    .get(b"port")
                    .and_then(|p| p.as_int())
                    .and_then(|p| u16::try_from(p).ok());
                // Host names in `ip` are not resolved: a tracker must not make us look up
                // (and connect to) names of its choosing.
                if let (Some(ip), Some(port)) = (ip, port) {
                    peers.add(SocketAddr::new(ip, port));
                }
            }
        } else {
            return Err(TrackerError::Protocol(
                "peers is neither a string nor a list".into(),
            ));
        }
    }
    if let Some(p) = d.get(b"peers6") {
        any = true;
        let b = p
            .as_bytes()
            .ok_or_else(|| TrackerError::Protocol("peers6 is not a string".into()))?;
        peers.add_compact_v6(b)?;
    }
    if !any {
        return Err(TrackerError::Protocol(
            "neither peers nor failure reason".into(),
        ));
    }
    Ok(peers.list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::AddrPolicy;

    fn lan() -> TrackerLimits {
        TrackerLimits {
            policy: AddrPolicy {
                allow_private: true,
            },
            ..TrackerLimits::default()
        }
    }

    #[test]
    fn the_announce_query_carries_the_hash_and_keeps_the_url_query() {
        let u = url::Url::parse("http://t.example:8080/announce?passkey=ab%20c").unwrap();
        let t = announce_target(&u, &[0xff; 20], b"-TT0100-abcdefghijkl", &lan());
        assert_eq!(
            t,
            format!(
                "/announce?passkey=ab%20c&info_hash={}&peer_id=-TT0100-abcdefghijkl&port=6881\
                 &uploaded=0&downloaded=0&left=16384&compact=1&no_peer_id=1&numwant=50",
                "%FF".repeat(20)
            )
        );
        let u = url::Url::parse("http://t.example/ann").unwrap();
        assert!(
            announce_target(&u, b"aaaaaaaaaaaaaaaaaaaa", &[0; 20], &lan())
                .starts_with("/ann?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=%00%00")
        );
    }

    #[test]
    fn responses_compact_dict_and_failure() {
        let compact =
            b"d8:intervali1800e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x01\x02\x03\x04\x00\x50e";
        assert_eq!(
            parse_response(compact, &lan()).unwrap(),
            vec![
                "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "1.2.3.4:80".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_response(compact, &TrackerLimits::default()).unwrap(),
            vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]
        );
        let dict = b"d5:peersld2:ip9:127.0.0.27:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti51413eed2:ip11:example.com4:porti1eed2:ip3:::14:porti2eeee";
        assert_eq!(
            parse_response(dict, &lan()).unwrap(),
            vec![
                "127.0.0.2:51413".parse::<SocketAddr>().unwrap(),
                "[::1]:2".parse().unwrap()
            ]
        );
        let mut six = b"d6:peers618:".to_vec();
        six.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1]);
        six.extend_from_slice(b"e");
        assert_eq!(
            parse_response(&six, &lan()).unwrap(),
            vec!["[::1]:6881".parse::<SocketAddr>().unwrap()]
        );
        assert!(matches!(
            parse_response(b"d14:failure reason12:unregisterede", &lan()),
            Err(TrackerError::Failure(m)) if m == "unregistered"
        ));
        for bad in [
            &b"d8:intervali1800ee"[..],
            b"d5:peers5:abcdee",
            b"d5:peersi1ee",
            b"<html>",
            b"le",
        ] {
            assert!(
                matches!(parse_response(bad, &lan()), Err(TrackerError::Protocol(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
