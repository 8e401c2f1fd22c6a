//! The XML reader of SOAP requests: a tokenizer (nom, one token at a time, no recursion),
//! text with its references decoded, and names.
//!
//! Owns: what XML is accepted (no DTD, the five predefined entities and character references
//! only, bounded names and attribute counts). Must never: recurse, expand an entity, or panic
//! on any input.

use super::{SoapError, MAX_ATTRIBUTES, MAX_NAME_LEN};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_until, take_while, take_while1};
use nom::sequence::delimited;
use nom::{IResult, Parser};

/// One lexical item of the document. Slices borrow the body.
pub(crate) enum Token<'a> {
    /// Character data, references not yet decoded.
    Text(&'a [u8]),
    /// The content of a CDATA section (taken literally).
    CData(&'a [u8]),
    /// A start tag; `empty` for `<x/>`.
    Start { name: &'a [u8], empty: bool },
    /// An end tag.
    End { name: &'a [u8] },
    /// A comment, processing instruction or XML declaration: ignored.
    Skip,
}

pub(crate) type Res<'a, T> = IResult<&'a [u8], T>;

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that may appear in a name. Everything at or above 0x80 is accepted so that non-ASCII
/// names (allowed by XML) are read; nothing we look for uses them.
pub(crate) fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.') || c >= 0x80
}

pub(crate) fn name(i: &[u8]) -> Res<'_, &[u8]> {
    take_while1(is_name_char)(i)
}

pub(crate) fn quoted_value(i: &[u8]) -> Res<'_, &[u8]> {
    alt((
        delimited(tag("\""), take_till(|c| c == b'"' || c == b'<'), tag("\"")),
        delimited(tag("'"), take_till(|c| c == b'\'' || c == b'<'), tag("'")),
    ))
    .parse(i)
}

/// `name S? = S? "value"` (leading whitespace already consumed).
pub(crate) fn attribute(i: &[u8]) -> Res<'_, (&[u8], &[u8])> {
    let (i, n) = name(i)?;
    let (i, _) = take_while(is_ws)(i)?;
    let (i, _) = tag("=")(i)?;
    let (i, _) = take_while(is_ws)(i)?;
    let (i, v) = quoted_value(i)?;
    Ok((i, (n, v)))
}

/// Local part of a qualified name: what follows the first `:` (or the whole name).
pub(crate) fn local_name(qname: &[u8]) -> &[u8] {
    match memchr::memchr(b':', qname) {
        Some(p) => &qname[p + 1..],
        None => qname,
    }
}

/// A name is well-formed if it does not start with a digit, `-` or `.`, and has at most one `:`
/// with something on both sides.
pub(crate) fn name_is_valid(n: &[u8]) -> bool {
    let first_ok = n
        .first()
        .is_some_and(|&c| !(c.is_ascii_digit() || c == b'-' || c == b'.' || c == b':'));
    let colons = n.iter().filter(|&&c| c == b':').count();
    first_ok && colons <= 1 && n.last() != Some(&b':')
}

/// Shortens a name for an error message (names are at most MAX_NAME_LEN, but keep it readable).
pub(crate) fn display_name(n: &[u8]) -> String {
    let n = &n[..n.len().min(64)];
    String::from_utf8_lossy(n).into_owned()
}

/// Reads one token at `i` (which is not empty). `base` is the offset of `i` in the body, for
/// error messages. Attribute values are checked (references) but not kept: nothing we need is in
/// an attribute.
// One match over what can start at `<` or text: one arm per XML construct, with its error.
pub(crate) fn next_token(i: &[u8], base: usize) -> Result<(&[u8], Token<'_>), SoapError> {
    let err = |at: usize, reason: &'static str| SoapError::Xml { at, reason };
    if i.first() != Some(&b'<') {
        // Text runs to the next `<` (memchr: the base64 text is nearly the whole envelope).
        let end = memchr::memchr(b'<', i).unwrap_or(i.len());
        return Ok((&i[end..], Token::Text(&i[..end])));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<!--")(i) {
        let (rest, _) = take_until::<_, _, nom::error::Error<&[u8]>>("-->")(rest)
            .map_err(|_| err(base, "unterminated comment"))?;
        return Ok((&rest[3..], Token::Skip));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<![CDATA[")(i) {
        let (rest, data) = take_until::<_, _, nom::error::Error<&[u8]>>("]]>")(rest)
            .map_err(|_| err(base, "unterminated CDATA section"))?;
        return Ok((&rest[3..], Token::CData(data)));
    }
    if i.len() >= 9 && i[..9].eq_ignore_ascii_case(b"<!DOCTYPE") {
        return Err(SoapError::Doctype { at: base });
    }
    if i.starts_with(b"<!") {
        return Err(err(base, "markup declarations are not allowed"));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("<?")(i) {
        let (rest, _) = take_until::<_, _, nom::error::Error<&[u8]>>("?>")(rest)
            .map_err(|_| err(base, "unterminated processing instruction"))?;
        return Ok((&rest[2..], Token::Skip));
    }
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>("</")(i) {
        let (rest, n) = name(rest).map_err(|_| err(base, "bad end tag"))?;
        if n.len() > MAX_NAME_LEN {
            return Err(SoapError::NameTooLong { at: base });
        }
        let (rest, _) = take_while::<_, _, nom::error::Error<&[u8]>>(is_ws)(rest)
            .map_err(|_| err(base, "bad end tag"))?;
        let (rest, _) = tag::<_, _, nom::error::Error<&[u8]>>(">")(rest)
            .map_err(|_| err(base, "bad end tag"))?;
        return Ok((rest, Token::End { name: n }));
    }
    // A start tag.
    let (mut rest, n) = name(&i[1..]).map_err(|_| err(base, "bad start tag"))?;
    if n.len() > MAX_NAME_LEN {
        return Err(SoapError::NameTooLong { at: base });
    }
    if !name_is_valid(n) {
        return Err(err(base, "bad element name"));
    }
    let mut attrs = 0usize;
    loop {
        let (r, ws) = take_while::<_, _, nom::error::Error<&[u8]>>(is_ws)(rest)
            .map_err(|_| err(base, "bad start tag"))?;
        if let Some(r) = r.strip_prefix(b"/>") {
            return Ok((
                r,
                Token::Start {
                    name: n,
                    empty: true,
                },
            ));
        }
        if let Some(r) = r.strip_prefix(b">") {
            return Ok((
                r,
                Token::Start {
                    name: n,
                    empty: false,
                },
            ));
        }
        if ws.is_empty() {
            return Err(err(base, "bad start tag"));
        }
        let (r, (an, value)) = attribute(r).map_err(|_| err(base, "bad attribute"))?;
        if an.len() > MAX_NAME_LEN {
            return Err(SoapError::NameTooLong { at: base });
        }
        attrs += 1;
        if attrs > MAX_ATTRIBUTES {
            return Err(SoapError::TooManyAttributes { at: base });
        }
        // Offset of the value inside the body, for reference errors.
        let value_at = base + (i.len() - r.len()) - value.len() - 1;
        decode_text(value, value_at, &mut |_| {})?;
        rest = r;
    }
}

/// Decodes character data: the five predefined entities and numeric character references;
/// anything else after `&` is an error. Decoded pieces are handed to `sink`. `base` is the
/// offset of `raw` in the body.
pub(crate) fn decode_text(
    raw: &[u8],
    base: usize,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), SoapError> {
    let mut pos = 0;
    while pos < raw.len() {
        let amp = match memchr::memchr(b'&', &raw[pos..]) {
            Some(a) => pos + a,
            None => {
                sink(&raw[pos..]);
                return Ok(());
            }
        };
        sink(&raw[pos..amp]);
        let at = base + amp;
        let (rest, decoded) = reference(&raw[amp..], at)?;
        let mut utf8 = [0u8; 4];
        sink(decoded.encode_utf8(&mut utf8).as_bytes());
        pos = raw.len() - rest.len();
    }
    Ok(())
}

/// One `&…;` reference at the start of `i` (which starts with `&`).
pub(crate) fn reference(i: &[u8], at: usize) -> Result<(&[u8], char), SoapError> {
    let semi = match memchr::memchr(b';', &i[..i.len().min(16)]) {
        Some(s) => s,
        None => return Err(SoapError::UndefinedEntity { at }),
    };
    let body = &i[1..semi];
    let rest = &i[semi + 1..];
    let c = match body {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        [b'#', b'x', hex @ ..] => char_ref(hex, 16).ok_or(SoapError::InvalidCharRef { at })?,
        [b'#', dec @ ..] => char_ref(dec, 10).ok_or(SoapError::InvalidCharRef { at })?,
        _ => return Err(SoapError::UndefinedEntity { at }),
    };
    Ok((rest, c))
}

/// The character of a numeric reference, if its digits are valid and it is an XML `Char`
/// (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]).
pub(crate) fn char_ref(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None; // from_str_radix would accept a leading '+'
    }
    let v = u32::from_str_radix(s, radix).ok()?;
    let ok = matches!(v, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    if ok {
        char::from_u32(v)
    } else {
        None
    }
}
