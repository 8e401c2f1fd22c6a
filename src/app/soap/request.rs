//! Reading a SOAP request: the walk over the XML tokens that finds `Envelope` / `Body` / the
//! operation / the torrent part, by local names.
//!
//! Owns: where in the envelope each token stands, the depth and element bounds, and which
//! child of the operation is the torrent part. Must never: look at a namespace prefix, keep
//! any text but the torrent part's, or recurse (open elements are an explicit stack).

use super::collector::Base64Collector;
use super::xml::{decode_text, display_name, is_ws, local_name, next_token, Token};
use super::{Operation, SoapCall, SoapError, DEFAULT_MAX_TORRENT_BYTES, MAX_DEPTH, MAX_ELEMENTS};

/// Where the walk is in the SOAP structure.
struct Locate {
    /// Inside the (first) Body element.
    in_body: bool,
    body_seen: bool,
    operation: Option<Operation>,
    /// Inside the operation element (the first element of the Body).
    op_open: bool,
    /// A part is being / has been collected; `named` if its local name is `torrent`.
    part: Option<PartState>,
}

#[derive(Clone, Copy)]
struct PartState {
    named: bool,
    open: bool,
}

/// Parses a SOAP 1.1 request to the service with the default torrent size limit.
pub fn parse_request(body: &[u8]) -> Result<SoapCall, SoapError> {
    parse_request_with_limit(body, DEFAULT_MAX_TORRENT_BYTES)
}

/// Parses a SOAP 1.1 request: `Envelope` / `Body` / `storeTorrent` or `cacheTorrent` / the part
/// named `torrent` (else the operation's first child), all matched by local name. The part's
/// text, whitespace removed, is decoded from base64. `max_torrent_bytes` bounds the decoded size.
pub fn parse_request_with_limit(
    body: &[u8],
    max_torrent_bytes: usize,
) -> Result<SoapCall, SoapError> {
    let start = if body.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut walk = Walk {
        stack: Vec::with_capacity(8),
        elements: 0,
        root_done: false,
        loc: Locate {
            in_body: false,
            body_seen: false,
            operation: None,
            op_open: false,
            part: None,
        },
        b64: Base64Collector::new(max_torrent_bytes),
        max_torrent_bytes,
    };
    let mut input = &body[start..];
    while !input.is_empty() {
        let at = body.len() - input.len();
        let (rest, token) = next_token(input, at)?;
        input = rest;
        walk.token(token, at)?;
    }
    walk.finish(body.len())
}

/// The walk's state: the open elements and what was found so far.
struct Walk<'a> {
    stack: Vec<&'a [u8]>,
    elements: usize,
    root_done: bool,
    loc: Locate,
    b64: Base64Collector<'a>,
    max_torrent_bytes: usize,
}

impl<'a> Walk<'a> {
    /// Takes one token at byte offset `at`.
    fn token(&mut self, token: Token<'a>, at: usize) -> Result<(), SoapError> {
        let depth = self.stack.len();
        // Is the current element the collected part?
        let in_part = depth == 4 && self.loc.in_body && self.loc.part.is_some_and(|p| p.open);
        match token {
            Token::Skip => Ok(()),
            Token::Text(raw) => self.text(raw, at, depth, in_part),
            Token::CData(data) => {
                if depth == 0 {
                    return Err(SoapError::Xml {
                        at,
                        reason: "CDATA outside the root element",
                    });
                }
                if in_part {
                    self.b64.push_borrowed(data);
                }
                Ok(())
            }
            Token::Start { name, empty } => self.start(name, empty, at, depth, in_part),
            Token::End { name } => self.end(name, at),
        }
    }

    /// Character data: whitespace only outside the root, kept in the part, checked elsewhere.
    fn text(
        &mut self,
        raw: &'a [u8],
        at: usize,
        depth: usize,
        in_part: bool,
    ) -> Result<(), SoapError> {
        if depth == 0 {
            if !raw.iter().all(|&c| is_ws(c)) {
                return Err(SoapError::Xml {
                    at,
                    reason: "text outside the root element",
                });
            }
        } else if in_part {
            if memchr::memchr(b'&', raw).is_none() {
                self.b64.push_borrowed(raw);
            } else {
                let b64 = &mut self.b64;
                decode_text(raw, at, &mut |piece| b64.push(piece))?;
            }
        } else {
            decode_text(raw, at, &mut |_| {})?;
        }
        Ok(())
    }

    /// A start tag: counted and bounded, then placed in the SOAP structure by its local name.
    fn start(
        &mut self,
        name: &'a [u8],
        empty: bool,
        at: usize,
        depth: usize,
        in_part: bool,
    ) -> Result<(), SoapError> {
        if depth == 0 && self.root_done {
            return Err(SoapError::Xml {
                at,
                reason: "content after the root element",
            });
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(SoapError::TooManyElements);
        }
        if depth + 1 > MAX_DEPTH {
            return Err(SoapError::TooDeep);
        }
        let local = local_name(name);
        self.place(local, empty, depth, in_part)?;
        if !empty {
            self.stack.push(name);
        } else if depth == 1 && local == b"Body" {
            self.loc.in_body = false;
        } else if depth == 0 {
            self.root_done = true;
        }
        Ok(())
    }

    /// What an element at `depth` named `local` is: the Envelope, the Body, the operation, or
    /// the torrent part (the one named `torrent`, else the operation's first child).
    fn place(
        &mut self,
        local: &[u8],
        empty: bool,
        depth: usize,
        in_part: bool,
    ) -> Result<(), SoapError> {
        let loc = &mut self.loc;
        match depth {
            0 if local != b"Envelope" => {
                return Err(SoapError::NotEnvelope(display_name(local)));
            }
            1 if local == b"Body" && !loc.body_seen => {
                loc.body_seen = true;
                loc.in_body = true;
            }
            2 if loc.in_body && loc.operation.is_none() => {
                match Operation::from_local_name(local) {
                    Some(op) => {
                        loc.operation = Some(op);
                        loc.op_open = !empty;
                    }
                    None => return Err(SoapError::UnknownOperation(display_name(local))),
                }
            }
            3 if loc.in_body && loc.op_open => {
                let named = local == b"torrent";
                let take = match loc.part {
                    None => true,
                    Some(p) => named && !p.named,
                };
                if take {
                    self.b64 = Base64Collector::new(self.max_torrent_bytes);
                    loc.part = Some(PartState {
                        named,
                        open: !empty,
                    });
                }
            }
            _ if in_part => return Err(SoapError::PartNotText),
            _ => {}
        }
        Ok(())
    }

    /// An end tag: it must close the element open last.
    fn end(&mut self, name: &[u8], at: usize) -> Result<(), SoapError> {
        match self.stack.pop() {
            Some(open) if open == name => {}
            Some(_) => {
                return Err(SoapError::Xml {
                    at,
                    reason: "end tag does not match start tag",
                })
            }
            None => {
                return Err(SoapError::Xml {
                    at,
                    reason: "end tag without start tag",
                })
            }
        }
        match self.stack.len() {
            0 => self.root_done = true,
            1 => self.loc.in_body = false,
            2 => self.loc.op_open = false,
            3 => {
                if let Some(p) = self.loc.part.as_mut() {
                    p.open = false;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// At the end of the body (`len` bytes): a complete document with an operation and a part,
    /// whose text is decoded.
    fn finish(self, len: usize) -> Result<SoapCall, SoapError> {
        if !self.stack.is_empty() {
            return Err(SoapError::Xml {
                at: len,
                reason: "unexpected end of document",
            });
        }
        if !self.root_done {
            return Err(SoapError::Xml {
                at: len,
                reason: "no root element",
            });
        }
        if !self.loc.body_seen {
            return Err(SoapError::NoBody);
        }
        let operation = self.loc.operation.ok_or(SoapError::NoOperation)?;
        if self.loc.part.is_none() {
            return Err(SoapError::NoTorrentPart);
        }
        let torrent = self.b64.finish()?;
        Ok(SoapCall { operation, torrent })
    }
}
