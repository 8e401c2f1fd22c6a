//! Bencode (BEP 3), parsed zero-copy.
//!
//! Owns: turning bytes into borrowed values that know their byte span, with exactly the rules
//! and limits of libtorrent's `bdecode` (nesting depth, digits of integers and of string
//! lengths, item count). Like `bdecode`, it accepts integers written with leading zeros (`i03e`)
//! and negative zero (`i-0e`): the info hash is the SHA-1 of the raw bytes, so they need no
//! normalising; [`check_canonical`] finds them where canonical form is required.
//! Must never: copy strings, allocate per value, recurse (the parser runs on coroutine stacks
//! that do not grow, so nesting is tracked in two 128-bit masks, not on the call stack), or
//! accept integers longer than `MAX_INT_DIGITS` or string lengths longer than
//! `MAX_LENGTH_DIGITS`.
//!
//! [`parse`] validates the whole first value once; the [`List`] and [`Dict`] views then walk
//! the already validated bytes lazily, so nothing proportional to the input is built.

use nom::character::complete::digit1;
use std::fmt;
use std::ops::Range;

/// libtorrent's default `max_decode_depth`: no token may be read while this many lists and
/// dicts are open, so at most `MAX_DEPTH - 1` of them nest (the innermost one's end is a
/// token too).
pub const MAX_DEPTH: usize = 100;

/// Longest integer (digits, sign excluded, leading zeros included) accepted, as libtorrent's
/// `bdecode`. Values beyond 64 bits are still valid bencode; fields read them as 0.
pub const MAX_INT_DIGITS: usize = 20;

/// Longest string length prefix (digits, leading zeros included) accepted: libtorrent's
/// decoder keeps the prefix's size in a 4-bit field and refuses longer ones.
pub const MAX_LENGTH_DIGITS: usize = 16;

/// Most tokens (values, keys and container ends) in one parsed value: libtorrent's default
/// `max_decode_tokens`. Bounds the work a small hostile file can cause.
pub const MAX_TOKENS: usize = 3_000_000;

// The depth masks below hold one bit per level.
const _: () = assert!(MAX_DEPTH <= 128);

/// Why bytes are not valid bencode. Every variant carries the byte offset of the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside a value.
    UnexpectedEof { at: usize },
    /// A byte that cannot start a value (`i`, `l`, `d` or a digit).
    ExpectedValue { at: usize, found: u8 },
    /// A non-digit inside an integer or a string length.
    ExpectedDigit { at: usize },
    /// A string length not followed by `:`.
    ExpectedColon { at: usize },
    /// `ie`.
    EmptyInteger { at: usize },
    /// An integer longer than `MAX_INT_DIGITS` digits.
    IntegerTooLong { at: usize },
    /// A string length longer than `MAX_LENGTH_DIGITS` digits.
    LengthTooLong { at: usize },
    /// A dict key that is not a string.
    KeyNotString { at: usize },
    /// A dict closed after a key but before its value.
    MissingValue { at: usize },
    /// `MAX_DEPTH` or more nested lists and dicts.
    TooDeep { at: usize },
    /// More than `MAX_TOKENS` tokens.
    TooManyTokens { at: usize },
    /// Found by [`check_canonical`] only: a dict key not greater than the previous one.
    UnsortedKey { at: usize },
    /// Found by [`check_canonical`] only: a dict key equal to the previous one.
    DuplicateKey { at: usize },
    /// Found by [`check_canonical`] only: a string length written with a leading zero.
    LeadingZeroLength { at: usize },
    /// Found by [`check_canonical`] only: `i03e` or `i00e` (libtorrent does not count `i-03e`
    /// or `i-0e` as soft errors, so neither does this).
    LeadingZero { at: usize },
}

impl Error {
    /// Byte offset of the problem in the input.
    pub fn offset(&self) -> usize {
        match *self {
            Error::UnexpectedEof { at }
            | Error::ExpectedValue { at, .. }
            | Error::ExpectedDigit { at }
            | Error::ExpectedColon { at }
            | Error::EmptyInteger { at }
            | Error::LeadingZero { at }
            | Error::IntegerTooLong { at }
            | Error::LengthTooLong { at }
            | Error::KeyNotString { at }
            | Error::MissingValue { at }
            | Error::TooDeep { at }
            | Error::TooManyTokens { at }
            | Error::UnsortedKey { at }
            | Error::DuplicateKey { at }
            | Error::LeadingZeroLength { at } => at,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset();
        let what = match *self {
            Error::TooDeep { .. } => {
                let most = MAX_DEPTH - 1;
                return write!(f, "bencode nesting deeper than {most} at byte {at}");
            }
            Error::TooManyTokens { .. } => {
                return write!(
                    f,
                    "invalid bencode: more than {MAX_TOKENS} items at byte {at}"
                );
            }
            Error::ExpectedValue { found, .. } => {
                return if found.is_ascii_graphic() {
                    write!(
                        f,
                        "invalid bencode: expected a value but found '{}' at byte {at}",
                        found as char
                    )
                } else {
                    write!(
                        f,
                        "invalid bencode: expected a value but found byte 0x{found:02x} at byte {at}"
                    )
                };
            }
            Error::UnexpectedEof { .. } => "unexpected end of input",
            Error::ExpectedDigit { .. } => "expected a digit",
            Error::ExpectedColon { .. } => "expected ':' after a string length",
            Error::EmptyInteger { .. } => "empty integer",
            Error::LeadingZero { .. } => "integer with a leading zero",
            Error::IntegerTooLong { .. } => "integer longer than 20 digits",
            Error::LengthTooLong { .. } => "string length longer than 16 digits",
            Error::KeyNotString { .. } => "dictionary key is not a string",
            Error::MissingValue { .. } => "dictionary key without a value",
            Error::UnsortedKey { .. } => "unsorted dictionary key",
            Error::DuplicateKey { .. } => "duplicate dictionary key",
            Error::LeadingZeroLength { .. } => "string length with a leading zero",
        };
        write!(f, "invalid bencode: {what} at byte {at}")
    }
}

impl std::error::Error for Error {}

/// One lexical token, as returned by [`token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Int(i128),
    Bytes(Range<usize>),
    List,
    Dict,
    End,
}

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// Reads a run of decimal digits at `pos` (with nom); `None` when there is none.
fn digits(buf: &[u8], pos: usize) -> Option<&[u8]> {
    let rest = buf.get(pos..)?;
    digit1::<&[u8], NomErr<'_>>(rest).ok().map(|(_, d)| d)
}

/// The value of at most `MAX_INT_DIGITS` digits (or `MAX_LENGTH_DIGITS`); 10^20 fits an i128
/// with room to spare.
fn decimal(d: &[u8]) -> i128 {
    d.iter()
        .fold(0i128, |acc, &c| acc * 10 + i128::from(c - b'0'))
}

/// Reads the token starting at `pos` and returns it with the offset just after it. For
/// single-pass walks over input already accepted by [`parse`], where the lazy views would
/// rescan nested containers once per level.
pub fn token(buf: &[u8], pos: usize) -> Result<(Token, usize), Error> {
    lex(buf, pos)
}

fn lex(buf: &[u8], pos: usize) -> Result<(Token, usize), Error> {
    let Some(&c) = buf.get(pos) else {
        return Err(Error::UnexpectedEof { at: pos });
    };
    match c {
        b'i' => {
            let mut p = pos + 1;
            let neg = buf.get(p) == Some(&b'-');
            if neg {
                p += 1;
            }
            let Some(d) = digits(buf, p) else {
                return Err(match buf.get(p) {
                    None => Error::UnexpectedEof { at: p },
                    Some(b'e') if !neg => Error::EmptyInteger { at: pos },
                    Some(_) => Error::ExpectedDigit { at: p },
                });
            };
            if d.len() > MAX_INT_DIGITS {
                return Err(Error::IntegerTooLong { at: pos });
            }
            let end = p + d.len();
            match buf.get(end) {
                Some(b'e') => {}
                Some(_) => return Err(Error::ExpectedDigit { at: end }),
                None => return Err(Error::UnexpectedEof { at: end }),
            }
            let v = decimal(d);
            Ok((Token::Int(if neg { -v } else { v }), end + 1))
        }
        b'0'..=b'9' => {
            let (start, len) = string_header(buf, pos)?;
            let avail = (buf.len() - start) as u64;
            if len > avail {
                return Err(Error::UnexpectedEof { at: buf.len() });
            }
            // len <= avail, so it fits a usize.
            let end = start + len as usize;
            Ok((Token::Bytes(start..end), end))
        }
        b'l' => Ok((Token::List, pos + 1)),
        b'd' => Ok((Token::Dict, pos + 1)),
        b'e' => Ok((Token::End, pos + 1)),
        found => Err(Error::ExpectedValue { at: pos, found }),
    }
}

/// Reads the length prefix of the string starting at `pos` (a digit): the offset of its first
/// byte and its length. The bytes themselves need not be in `buf`: a reader of a window of a
/// larger input skips a long string without reading it.
pub fn string_header(buf: &[u8], pos: usize) -> Result<(usize, u64), Error> {
    let d = digits(buf, pos).unwrap_or_default();
    if d.len() > MAX_LENGTH_DIGITS {
        return Err(Error::LengthTooLong { at: pos });
    }
    let colon = pos + d.len();
    match buf.get(colon) {
        Some(b':') => {}
        Some(_) => return Err(Error::ExpectedColon { at: colon }),
        None => return Err(Error::UnexpectedEof { at: colon }),
    }
    // At most MAX_LENGTH_DIGITS (16) digits: below 10^16, so it fits a u64.
    Ok((colon + 1, decimal(d) as u64))
}

/// Validates the value starting at `pos` and returns the offset just after it.
///
/// Iterative: the state of each open container is one bit in `dicts` (is it a dict?) and one
/// in `keys` (does it expect a key next?), so a 1 MiB `llll…` costs no stack at all.
pub fn value_end(buf: &[u8], pos: usize) -> Result<usize, Error> {
    let mut depth = 0usize;
    let mut dicts: u128 = 0;
    let mut keys: u128 = 0;
    let mut p = pos;
    let mut tokens = 0usize;
    loop {
        let at = p;
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(Error::TooManyTokens { at });
        }
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep { at });
        }
        let top = depth.wrapping_sub(1);
        let in_dict = depth > 0 && (dicts >> top) & 1 == 1;
        let want_key = in_dict && (keys >> top) & 1 == 1;
        let (tok, next) = lex(buf, p)?;
        p = next;
        match tok {
            Token::List | Token::Dict => {
                if want_key {
                    return Err(Error::KeyNotString { at });
                }
                let bit = 1u128 << depth;
                if matches!(tok, Token::Dict) {
                    dicts |= bit;
                    keys |= bit;
                } else {
                    dicts &= !bit;
                    keys &= !bit;
                }
                depth += 1;
                continue;
            }
            Token::End => {
                if depth == 0 {
                    return Err(Error::ExpectedValue { at, found: b'e' });
                }
                if in_dict && !want_key {
                    return Err(Error::MissingValue { at });
                }
                depth -= 1;
            }
            Token::Int(_) => {
                if want_key {
                    return Err(Error::KeyNotString { at });
                }
            }
            Token::Bytes(_) => {}
        }
        // A complete value (or key) ends here.
        if depth == 0 {
            return Ok(p);
        }
        let top = depth - 1;
        if (dicts >> top) & 1 == 1 {
            keys ^= 1u128 << top;
        }
    }
}

/// A decoded value borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// At most 20 digits, so it always fits; callers narrow it as their field requires.
    Int(i128),
    Bytes(&'a [u8]),
    List(List<'a>),
    Dict(Dict<'a>),
}

/// A value and the byte range it occupies in the input (its raw encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub value: Value<'a>,
    pub span: Range<usize>,
}

impl<'a> Item<'a> {
    pub fn as_int(&self) -> Option<i128> {
        match self.value {
            Value::Int(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<List<'a>> {
        match self.value {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<Dict<'a>> {
        match self.value {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// Decodes (and validates) the value at `pos`; returns it with the offset just after it.
pub fn parse_at(buf: &[u8], pos: usize) -> Result<(Item<'_>, usize), Error> {
    item_at(buf, pos)
}

fn item_at(buf: &[u8], pos: usize) -> Result<(Item<'_>, usize), Error> {
    let (tok, next) = lex(buf, pos)?;
    let (value, end) = match tok {
        Token::Int(v) => (Value::Int(v), next),
        Token::Bytes(r) => (Value::Bytes(buf.get(r).unwrap_or_default()), next),
        Token::List => {
            let end = value_end(buf, pos)?;
            (Value::List(List { buf, start: next }), end)
        }
        Token::Dict => {
            let end = value_end(buf, pos)?;
            (Value::Dict(Dict { buf, start: next }), end)
        }
        Token::End => {
            return Err(Error::ExpectedValue {
                at: pos,
                found: b'e',
            })
        }
    };
    Ok((
        Item {
            value,
            span: pos..end,
        },
        end,
    ))
}

/// Parses the first value of `buf`. Bytes after it are ignored (the caller decides whether
/// trailing data matters); its span says where it ends.
pub fn parse(buf: &[u8]) -> Result<Item<'_>, Error> {
    item_at(buf, 0).map(|(item, _)| item)
}

/// A list inside validated input; iterating it never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List<'a> {
    buf: &'a [u8],
    /// Offset of the first element (just after `l`).
    start: usize,
}

impl<'a> List<'a> {
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            buf: self.buf,
            pos: self.start,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.get(self.start) == Some(&b'e')
    }
}

impl<'a> IntoIterator for List<'a> {
    type Item = Item<'a>;
    type IntoIter = ListIter<'a>;
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

/// Elements of a [`List`], in order.
pub struct ListIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Item<'a>;
    fn next(&mut self) -> Option<Item<'a>> {
        if self.buf.get(self.pos).is_none_or(|&c| c == b'e') {
            return None;
        }
        match item_at(self.buf, self.pos) {
            Ok((item, end)) => {
                self.pos = end;
                Some(item)
            }
            Err(_) => {
                // Only reachable on unvalidated input: stop rather than loop.
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// A dict inside validated input; keys come in file order, duplicates included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dict<'a> {
    buf: &'a [u8],
    /// Offset of the first key (just after `d`).
    start: usize,
}

impl<'a> Dict<'a> {
    pub fn iter(&self) -> DictIter<'a> {
        DictIter {
            buf: self.buf,
            pos: self.start,
        }
    }

    /// The value of the first entry with this key, as libtorrent's `dict_find` does.
    pub fn get(&self, key: &[u8]) -> Option<Item<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Number of entries (walks the dict).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.get(self.start) == Some(&b'e')
    }
}

impl<'a> IntoIterator for Dict<'a> {
    type Item = (&'a [u8], Item<'a>);
    type IntoIter = DictIter<'a>;
    fn into_iter(self) -> DictIter<'a> {
        self.iter()
    }
}

/// Entries of a [`Dict`]: the key bytes and the value.
pub struct DictIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a [u8], Item<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.get(self.pos).is_none_or(|&c| c == b'e') {
            return None;
        }
        let entry = match lex(self.buf, self.pos) {
            Ok((Token::Bytes(k), next)) => item_at(self.buf, next)
                .ok()
                .map(|(v, end)| (self.buf.get(k).unwrap_or_default(), v, end)),
            _ => None,
        };
        match entry {
            Some((k, v, end)) => {
                self.pos = end;
                Some((k, v))
            }
            None => {
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// Checks what libtorrent calls "soft errors" in the value at `span`: dict keys out of order
/// or repeated, string lengths with leading zeros, and integers whose first digit is a zero
/// followed by more (`i03e`, `i00e`; a sign before it hides it from libtorrent's check).
/// Torrents with `meta version` above 0 must be canonical in their info dict; others are not
/// held to it.
///
/// `span` must be a value already accepted by [`parse`]. Iterative; the only allocation is
/// one previous-key slot per nesting level (at most `MAX_DEPTH`).
pub fn check_canonical(buf: &[u8], span: Range<usize>) -> Result<(), Error> {
    // Per open container: is it a dict, and the previous key seen in it.
    let mut stack: Vec<(bool, Option<Range<usize>>)> = Vec::new();
    let mut want_key = false;
    let mut p = span.start;
    loop {
        let at = p;
        if stack.len() >= MAX_DEPTH {
            return Err(Error::TooDeep { at });
        }
        let (tok, next) = lex(buf, p)?;
        p = next;
        match tok {
            Token::List | Token::Dict => {
                let is_dict = matches!(tok, Token::Dict);
                stack.push((is_dict, None));
                want_key = is_dict;
                continue;
            }
            Token::End => {
                if stack.pop().is_none() {
                    return Err(Error::ExpectedValue { at, found: b'e' });
                }
            }
            Token::Bytes(r) => {
                if buf.get(at) == Some(&b'0') && buf.get(at + 1) != Some(&b':') {
                    return Err(Error::LeadingZeroLength { at });
                }
                if want_key {
                    if let Some((_, prev)) = stack.last_mut() {
                        if let Some(pr) = prev.take() {
                            let a = buf.get(pr).unwrap_or_default();
                            let b = buf.get(r.clone()).unwrap_or_default();
                            match a.cmp(b) {
                                std::cmp::Ordering::Greater => {
                                    return Err(Error::UnsortedKey { at })
                                }
                                std::cmp::Ordering::Equal => {
                                    return Err(Error::DuplicateKey { at })
                                }
                                std::cmp::Ordering::Less => {}
                            }
                        }
                        *prev = Some(r);
                    }
                    want_key = false;
                    continue;
                }
            }
            Token::Int(_) => {
                if buf.get(at + 1) == Some(&b'0') && buf.get(at + 2) != Some(&b'e') {
                    return Err(Error::LeadingZero { at });
                }
            }
        }
        // A complete value ends here.
        match stack.last() {
            None => return Ok(()),
            Some(&(is_dict, _)) => want_key = is_dict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> Vec<u8> {
        let mut v = vec![b'l'; n];
        v.extend(std::iter::repeat_n(b'e', n));
        v
    }

    #[test]
    fn scalars() {
        assert_eq!(parse(b"i42e").unwrap().value, Value::Int(42));
        assert_eq!(parse(b"i-7e").unwrap().value, Value::Int(-7));
        assert_eq!(parse(b"i0e").unwrap().value, Value::Int(0));
        assert_eq!(parse(b"4:spam").unwrap().value, Value::Bytes(b"spam"));
        assert_eq!(parse(b"0:").unwrap().value, Value::Bytes(b""));
        assert_eq!(
            parse(b"i99999999999999999999e").unwrap().value,
            Value::Int(99_999_999_999_999_999_999)
        );
    }

    #[test]
    fn non_canonical_integers_are_bencode() {
        // libtorrent's decoder takes them; only canonical checks refuse some of them
        assert_eq!(parse(b"i03e").unwrap().value, Value::Int(3));
        assert_eq!(parse(b"i-03e").unwrap().value, Value::Int(-3));
        assert_eq!(parse(b"i-0e").unwrap().value, Value::Int(0));
        assert_eq!(parse(b"i00e").unwrap().value, Value::Int(0));
        let twenty = b"i00000000000000000001e";
        assert_eq!(parse(twenty).unwrap().value, Value::Int(1));
        assert_eq!(
            parse(b"i000000000000000000001e"),
            Err(Error::IntegerTooLong { at: 0 })
        );
        for (raw, canonical) in [
            (&b"i03e"[..], false),
            (b"i00e", false),
            (b"i-03e", true),
            (b"i-0e", true),
            (b"i0e", true),
            (b"i30e", true),
        ] {
            assert_eq!(
                check_canonical(raw, 0..raw.len()).is_ok(),
                canonical,
                "{}",
                raw.escape_ascii()
            );
        }
    }

    #[test]
    fn string_length_digits() {
        // 16 digits of prefix are accepted, 17 are not, whatever their value
        let ok = b"0000000000000001:a";
        assert_eq!(parse(ok).unwrap().value, Value::Bytes(b"a"));
        assert_eq!(
            parse(b"00000000000000001:a"),
            Err(Error::LengthTooLong { at: 0 })
        );
        assert_eq!(
            check_canonical(ok, 0..ok.len()),
            Err(Error::LeadingZeroLength { at: 0 })
        );
    }

    #[test]
    fn bad_integers() {
        assert_eq!(parse(b"ie"), Err(Error::EmptyInteger { at: 0 }));
        assert_eq!(parse(b"i-e"), Err(Error::ExpectedDigit { at: 2 }));
        assert_eq!(parse(b"i+3e"), Err(Error::ExpectedDigit { at: 1 }));
        assert_eq!(parse(b"i1x"), Err(Error::ExpectedDigit { at: 2 }));
        assert_eq!(parse(b"i12"), Err(Error::UnexpectedEof { at: 3 }));
        assert_eq!(
            parse(b"i123456789012345678901e"),
            Err(Error::IntegerTooLong { at: 0 })
        );
        assert_eq!(
            parse(b"i-123456789012345678901e"),
            Err(Error::IntegerTooLong { at: 0 })
        );
        assert_eq!(
            parse(b"d1:ai123456789012345678901ee"),
            Err(Error::IntegerTooLong { at: 4 })
        );
    }

    #[test]
    fn bad_structure() {
        assert_eq!(parse(b"5:abc"), Err(Error::UnexpectedEof { at: 5 }));
        assert_eq!(parse(b"3abc"), Err(Error::ExpectedColon { at: 1 }));
        assert_eq!(parse(b"di1ei2ee"), Err(Error::KeyNotString { at: 1 }));
        assert_eq!(parse(b"d1:ae"), Err(Error::MissingValue { at: 4 }));
        assert_eq!(parse(b"l"), Err(Error::UnexpectedEof { at: 1 }));
        assert_eq!(parse(b""), Err(Error::UnexpectedEof { at: 0 }));
        assert_eq!(
            parse(b"x"),
            Err(Error::ExpectedValue { at: 0, found: b'x' })
        );
        assert_eq!(
            parse(b"e"),
            Err(Error::ExpectedValue { at: 0, found: b'e' })
        );
        assert!(parse(b"99999999999999999999999:").is_err());
        assert!(parse(b"18446744073709551616:").is_err());
    }

    #[test]
    fn depth_limit() {
        assert!(parse(&nested(MAX_DEPTH - 1)).is_ok());
        // the innermost list's end is read with MAX_DEPTH lists open
        assert_eq!(
            parse(&nested(MAX_DEPTH)),
            Err(Error::TooDeep { at: MAX_DEPTH })
        );
        assert_eq!(
            parse(&nested(MAX_DEPTH + 1)),
            Err(Error::TooDeep { at: MAX_DEPTH })
        );
        assert_eq!(
            Error::TooDeep { at: 1234 }.to_string(),
            "bencode nesting deeper than 99 at byte 1234"
        );
    }

    #[test]
    fn deep_input_on_a_small_stack() {
        // 1 MiB of 'l' must fail fast without using the call stack.
        let h = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| {
                let v = vec![b'l'; 1 << 20];
                let e = parse(&v).unwrap_err();
                let c = check_canonical(&v, 0..v.len()).unwrap_err();
                (e, c)
            })
            .unwrap();
        let (e, c) = h.join().unwrap();
        assert_eq!(e, Error::TooDeep { at: MAX_DEPTH });
        assert_eq!(c, Error::TooDeep { at: MAX_DEPTH });
    }

    #[test]
    fn token_limit() {
        let mut v = vec![b'l'];
        v.extend(std::iter::repeat_n(&b"i0e"[..], MAX_TOKENS - 2).flatten());
        v.push(b'e');
        assert!(parse(&v).is_ok());
        v.pop();
        v.extend_from_slice(b"i0ee");
        assert!(matches!(parse(&v), Err(Error::TooManyTokens { .. })));
    }

    #[test]
    fn spans_and_views() {
        let b = b"d3:bar4:spam3:fooli1ei2eee";
        let top = parse(b).unwrap();
        assert_eq!(top.span, 0..b.len());
        let d = top.as_dict().unwrap();
        assert_eq!(d.len(), 2);
        let foo = d.get(b"foo").unwrap();
        assert_eq!(&b[foo.span.clone()], b"li1ei2ee");
        let xs: Vec<i128> = foo
            .as_list()
            .unwrap()
            .iter()
            .filter_map(|i| i.as_int())
            .collect();
        assert_eq!(xs, [1, 2]);
        assert_eq!(d.get(b"bar").unwrap().as_bytes(), Some(&b"spam"[..]));
        assert!(d.get(b"baz").is_none());
    }

    #[test]
    fn trailing_bytes_tolerated() {
        let b = b"d1:ai1ee\ngarbage";
        let top = parse(b).unwrap();
        assert_eq!(top.span, 0..8);
    }

    #[test]
    fn first_duplicate_wins() {
        let b = b"d1:ai1e1:ai2ee";
        let d = parse(b).unwrap().as_dict().unwrap();
        assert_eq!(d.get(b"a").unwrap().as_int(), Some(1));
        assert_eq!(
            check_canonical(b, 0..b.len()),
            Err(Error::DuplicateKey { at: 7 })
        );
    }

    #[test]
    fn canonical_checks() {
        let ok = b"d1:ad1:xi1e1:yi2ee1:bli1eee";
        assert_eq!(check_canonical(ok, 0..ok.len()), Ok(()));
        let unsorted = b"d1:bi1e1:ai2ee";
        assert_eq!(
            check_canonical(unsorted, 0..unsorted.len()),
            Err(Error::UnsortedKey { at: 7 })
        );
        let prefix = b"d2:abi1e1:ai2ee";
        assert_eq!(
            check_canonical(prefix, 0..prefix.len()),
            Err(Error::UnsortedKey { at: 8 })
        );
        let lz = b"l02:abe";
        assert_eq!(
            check_canonical(lz, 0..lz.len()),
            Err(Error::LeadingZeroLength { at: 1 })
        );
    }
}
