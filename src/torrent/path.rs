//! Path sanitising, as libtorrent's `sanitize_append_path_element`.
//!
//! Owns: which bytes of a file name survive and how. Must never: produce `.`/`..` components or
//! a name over the filename limit.
//!
//! Path sanitising, as libtorrent's `sanitize_append_path_element`: the result decides which
//! names count as empty and which paths are equal, so it is reproduced closely.

/// Decodes one UTF-8 code point: (code point or -1 when invalid, bytes consumed). As in
/// libtorrent, an invalid sequence consumes the length its first byte announces (or the rest
/// of the input when that is shorter), so it becomes one `_`.
pub(super) fn utf8_codepoint(s: &[u8]) -> (i32, usize) {
    let Some(&b0) = s.first() else {
        return (-1, 1);
    };
    let (len, init) = match b0 {
        0x00..=0x7f => return (i32::from(b0), 1),
        0xc0..=0xdf => (2, i32::from(b0 & 0x1f)),
        0xe0..=0xef => (3, i32::from(b0 & 0x0f)),
        0xf0..=0xf7 => (4, i32::from(b0 & 0x07)),
        _ => return (-1, 1),
    };
    if s.len() < len {
        return (-1, s.len());
    }
    let mut cp = init;
    for &b in s.iter().take(len).skip(1) {
        if b & 0xc0 != 0x80 {
            return (-1, len);
        }
        cp = (cp << 6) | i32::from(b & 0x3f);
    }
    let overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if overlong || cp > 0x10ffff || (0xd800..=0xdfff).contains(&cp) {
        return (-1, len);
    }
    (cp, len)
}

/// Characters libtorrent 2.1.1 drops from path elements: NUL, separators, zero-width and bidi
/// controls and the byte order mark (the set was measured with its Python binding).
pub(super) fn filtered_char(cp: i32) -> bool {
    matches!(
        cp,
        0 | 0x2f | 0x5c | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x2069
            | 0xfeff
    )
}

/// Characters libtorrent writes as `_`: C0 and C1 controls and DEL (NUL is dropped instead).
fn replaced_char(cp: i32) -> bool {
    (1..32).contains(&cp) || (0x7f..=0x9f).contains(&cp)
}

/// Whether a sanitised path element always adds a component: libtorrent forces one for the
/// elements of a v1 `path` and the keys of a v2 `file tree` (an element that sanitises to
/// nothing, `.` or `..` becomes `_`), but not for `name` or a symlink target (where such an
/// element is dropped).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Element {
    Forced,
    Optional,
}

/// Appends `element` to `path` (with a `/` when `path` is not empty) the way libtorrent does:
/// drops separators, zero-width and bidi characters, replaces controls and invalid UTF-8 by
/// `_`, handles `.`, `..` and empty elements as `kind` says, and shortens elements past 240
/// bytes (keeping a short extension).
pub(super) fn sanitize_append(path: &mut Vec<u8>, element: &[u8], kind: Element) {
    if element == b"." && kind == Element::Optional {
        return;
    }
    let orig_len = path.len();
    if !path.is_empty() {
        path.push(b'/');
    }
    if element.is_empty() {
        path.push(b'_');
        return;
    }
    let mut added = 0usize;
    let mut num_dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < element.len() {
        let rest = element.get(i..).unwrap_or_default();
        let (cp, seq_len) = utf8_codepoint(rest);
        let seq_len = seq_len.max(1);
        if cp >= 0 && filtered_char(cp) {
            i += seq_len;
            continue;
        }
        if cp < 0 || replaced_char(cp) {
            path.push(b'_');
            added += 1;
            i += seq_len;
            continue;
        }
        path.extend_from_slice(rest.get(..seq_len).unwrap_or_default());
        if cp == i32::from(b'.') {
            num_dots += 1;
        }
        added += seq_len;
        if added >= 240 && !found_extension {
            let lo = element.len().saturating_sub(10).max(i);
            let dot = (lo + 1..element.len())
                .rev()
                .find(|&j| element.get(j) == Some(&b'.'));
            match dot {
                None => break,
                Some(d) => {
                    found_extension = true;
                    i = d;
                    continue;
                }
            }
        }
        i += seq_len;
    }
    if added == num_dots && added <= 2 {
        // nothing but dots (or nothing at all) survived
        match kind {
            Element::Forced => {
                path.truncate(path.len() - added);
                path.push(b'_');
            }
            Element::Optional => path.truncate(orig_len),
        }
        return;
    }
    if path.is_empty() {
        path.push(b'_');
    }
}
