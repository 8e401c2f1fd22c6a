//! What a handler sees of a request: method, target (path and query), version, headers, and
//! the body as a bounded reader.
//!
//! Owns: read access to a parsed head. Must never: decide framing or connection handling
//! (that is `head.rs` and `conn.rs`), or percent-decode behind the handler's back (paths are
//! given as sent; handlers decode what they need).

use super::body::Body;
use super::head::Head;
use std::net::SocketAddr;

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Other,
}

impl Method {
    fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// Decodes percent-escapes: `%XX` is the byte `XX`; with `plus`, `+` is a space (form data,
/// `application/x-www-form-urlencoded`). A `%` not followed by two hex digits stays as it is.
pub fn percent_decode(s: &[u8], plus: bool) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// [`percent_decode`] as text; invalid UTF-8 is replaced.
pub fn percent_decode_str(s: &str, plus: bool) -> String {
    match String::from_utf8(percent_decode(s.as_bytes(), plus)) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// One request, as handed to a [`super::Handler`].
pub struct Request<'a> {
    head: &'a Head,
    path_end: usize,
    path_start: usize,
    method: Method,
    peer: Option<SocketAddr>,
    /// The body; read it with `std::io::Read` or [`Body::read_all`].
    pub body: Body<'a>,
}

fn as_str(b: &[u8]) -> &str {
    // httparse only lets visible ASCII through in the method and target.
    std::str::from_utf8(b).unwrap_or("")
}

impl<'a> Request<'a> {
    pub(crate) fn new(head: &'a Head, body: Body<'a>, peer: Option<SocketAddr>) -> Request<'a> {
        let target = &head.bytes[head.target.clone()];
        // absolute-form (RFC 9112 section 3.2.2): the path starts after the authority.
        let mut path_start = 0;
        for scheme in [&b"http://"[..], &b"https://"[..]] {
            if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let rest = &target[scheme.len()..];
                path_start = scheme.len()
                    + rest
                        .iter()
                        .position(|&b| b == b'/' || b == b'?')
                        .unwrap_or(rest.len());
            }
        }
        let path_end =
            memchr::memchr(b'?', &target[path_start..]).map_or(target.len(), |p| p + path_start);
        Request {
            method: Method::from_bytes(&head.bytes[head.method.clone()]),
            head,
            path_start,
            path_end,
            peer,
            body,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (for methods outside [`Method`]).
    pub fn method_str(&self) -> &str {
        as_str(&self.head.bytes[self.head.method.clone()])
    }

    /// The request target as sent.
    pub fn target(&self) -> &str {
        as_str(&self.head.bytes[self.head.target.clone()])
    }

    fn target_bytes(&self) -> &'a [u8] {
        &self.head.bytes[self.head.target.clone()]
    }

    /// The path (no query), as sent; `/` for an absolute-form target without one. Borrowed
    /// from the head, not from the request, so a handler may hold it while it reads the body.
    pub fn path(&self) -> &'a str {
        let p = as_str(&self.target_bytes()[self.path_start..self.path_end]);
        if p.is_empty() {
            "/"
        } else {
            p
        }
    }

    /// The query string without `?`, as sent.
    pub fn query(&self) -> Option<&str> {
        let t = self.target_bytes();
        if self.path_end < t.len() {
            Some(as_str(&t[self.path_end + 1..]))
        } else {
            None
        }
    }

    /// The decoded value of the first query parameter `name` (`+` and `%XX` decoded; invalid
    /// escapes are kept as they are, invalid UTF-8 is replaced).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query()?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode_str(k, true) == name).then(|| percent_decode_str(v, true))
        })
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn version(&self) -> u8 {
        self.head.version
    }

    /// The peer's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// All header fields in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.headers.iter().map(|(n, v)| {
            (
                as_str(&self.head.bytes[n.clone()]),
                &self.head.bytes[v.clone()],
            )
        })
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` when it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode_str;

    #[test]
    fn decode() {
        let form = |s| percent_decode_str(s, true);
        assert_eq!(form("a+b%20c"), "a b c");
        assert_eq!(form("urn%3Abtih%3AABC"), "urn:btih:ABC");
        assert_eq!(form("100%"), "100%");
        assert_eq!(form("%4"), "%4");
        assert_eq!(form("%zz%41"), "%zzA");
        assert_eq!(form("%ff"), "\u{fffd}");
        assert_eq!(form(""), "");
        assert_eq!(form("a%20b%26c%3dd%2F%C3%A9"), "a b&c=d/é");
        assert_eq!(percent_decode_str("a+b%2B", false), "a+b+");
    }
}
