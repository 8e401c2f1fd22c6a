//! Path sanitising, as libtorrent's `sanitize_append_path_element`.
//!
//! Owns: which bytes of a file name survive and how. Must never: produce `.`/`..` components or
//! a name over the filename limit.
//!
//! Path sanitising, as libtorrent's `sanitize_append_path_element`: the result decides which
//! names count as empty and which paths are equal, so it is reproduced closely.

/// Decodes one UTF-8 code point: (code point or -1 when invalid, bytes consumed).
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
            return (-1, 1);
        }
        cp = (cp << 6) | i32::from(b & 0x3f);
    }
    let overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if overlong || cp > 0x10ffff || (0xd800..=0xdfff).contains(&cp) {
        return (-1, 1);
    }
    (cp, len)
}

/// Characters libtorrent drops from path elements: separators and bidi controls.
pub(super) fn filtered_char(cp: i32) -> bool {
    matches!(cp, 0x202a..=0x202e | 0x200e | 0x200f)
        || cp == i32::from(b'/')
        || cp == i32::from(b'\\')
}

/// Appends `element` to `path` (with a `/` when `path` is not empty) the way libtorrent does:
/// drops separators, bidi controls and control characters, replaces invalid UTF-8 by `_`,
/// drops `.` and `..`, writes an empty element as `_`, and shortens elements past 240 bytes
/// (keeping a short extension).
pub(super) fn sanitize_append(path: &mut Vec<u8>, element: &[u8]) {
    if element == b"." {
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
        if (0..32).contains(&cp) {
            // control characters are dropped (libtorrent 2.1 rejects a name of only NULs as
            // missing, so they cannot be turned into '_')
            i += seq_len;
            continue;
        }
        if cp < 0 {
            // invalid UTF-8
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
        // nothing but dots (or nothing at all) survived: drop the element and its separator
        path.truncate(orig_len);
        return;
    }
    if path.is_empty() {
        path.push(b'_');
    }
}
