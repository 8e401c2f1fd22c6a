//! Text helpers for pages: HTML escaping, number and size formatting, percent-encoding, dates.
//!
//! Owns: every transformation from a value to the text a page shows. Must never: return text
//! that still needs escaping without saying so in its name, or allocate without a bound on
//! its input.

/// Escapes `& < > " '` so `s` is safe in element content and in quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    push_escaped(&mut out, s);
    out
}

/// Appends `s` to `out`, HTML-escaped (see [`html_escape`]).
pub fn push_escaped(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// At most `max` characters of `s`, with "…" in place of what was cut.
pub fn truncate_chars(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some(_) => {
            let end = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(0, |(i, _)| i);
            format!("{}…", &s[..end]).into()
        }
    }
}

/// At most `max` characters of `s`, keeping its start and its end (where a file's extension
/// is), with "…" in place of the middle.
pub fn truncate_middle(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let n = s.chars().count();
    if n <= max {
        return s.into();
    }
    let tail = max / 2;
    let head = max.saturating_sub(tail + 1);
    let head_end = s.char_indices().nth(head).map_or(s.len(), |(i, _)| i);
    let tail_start = s.char_indices().nth(n - tail).map_or(s.len(), |(i, _)| i);
    format!("{}…{}", &s[..head_end], &s[tail_start..]).into()
}

/// `n` with thousands separators: `1,234,567`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// A size in binary units: `512 B`, `1.5 GiB`, `15.4 GiB`, `700 MiB` (one decimal below 100,
/// none above; rounded to nearest, moving to the next unit rather than showing `1024`).
pub fn human_size(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let n = n as u128;
    for (i, unit) in UNITS.iter().enumerate() {
        let d = 1024u128.pow(i as u32 + 1);
        let tenths = (n * 10 + d / 2) / d;
        if tenths < 1000 {
            return format!("{}.{} {unit}", tenths / 10, tenths % 10);
        }
        let whole = (n + d / 2) / d;
        if whole < 1024 || i == UNITS.len() - 1 {
            return format!("{whole} {unit}");
        }
    }
    unreachable!("u64 sizes end within EiB")
}

/// `1 file`, `2 files`: `n` formatted, with the word in singular or plural.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", format_count(n), if n == 1 { one } else { many })
}

/// True for the characters RFC 3986 calls unreserved, which percent-encoding leaves alone.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte of `s` but the unreserved ones (`A-Z a-z 0-9 - . _ ~`): safe as a
/// query-string value or path segment. The result is ASCII and needs no HTML escaping but `&`.
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// A Unix time in UTC as ISO 8601 (`2021-03-04T05:06:07Z`) and as pages show it
/// (`2021-03-04 05:06:07 UTC`); `None` outside the years 0 to 9999 (a `<time>` element's).
pub fn utc_time(t: i64) -> Option<(String, String)> {
    let t = jiff::Timestamp::from_second(t)
        .ok()
        .filter(|&t| jiff::tz::Offset::UTC.to_datetime(t).year() >= 0)?;
    Some((
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five() {
        assert_eq!(
            html_escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(html_escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(html_escape(""), "");
        let e = html_escape("\"><script>alert(1)</script>");
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
    }

    #[test]
    fn counts() {
        for (n, s) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (12_345, "12,345"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(format_count(n), s);
        }
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(1000, "file", "files"), "1,000 files");
    }

    #[test]
    fn sizes() {
        for (n, s) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024 * 1024, "10.0 MiB"),
            (1_610_612_736, "1.5 GiB"),
            (700 * 1024 * 1024, "700 MiB"),
            (99_950 * 1024 / 1000, "99.9 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (1023 * 1024 * 1024, "1023 MiB"),
            (1024 * 1024 * 1024 - 1, "1.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(human_size(n), s, "{n}");
        }
    }

    #[test]
    fn percent() {
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(percent_encode("<\"'>"), "%3C%22%27%3E");
        for s in ["", "x", "ü & % + ?", "magnet:?xt=urn:btih:AB&dn=a b"] {
            let back = crate::http::request::percent_decode_str(&percent_encode(s), true);
            assert_eq!(back, s);
        }
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("ééééé", 4), "ééé…");
        assert_eq!(truncate_middle("abcdef", 6), "abcdef");
        let t = truncate_middle("directory/very-long-name.mkv", 12);
        assert_eq!(t.chars().count(), 12);
        assert_eq!(t, "direc…me.mkv");
        assert_eq!(truncate_middle("ééééééé", 5).chars().count(), 5);
    }

    #[test]
    fn dates() {
        let iso = |t| utc_time(t).map(|(iso, _)| iso);
        assert_eq!(iso(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(iso(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(iso(4_107_542_400).as_deref(), Some("2100-03-01T00:00:00Z"));
        assert_eq!(iso(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            utc_time(1_614_834_367),
            Some((
                "2021-03-04T05:06:07Z".to_string(),
                "2021-03-04 05:06:07 UTC".to_string()
            ))
        );
        for absurd in [i64::MAX, i64::MIN, -62_167_219_201, 253_402_300_800] {
            assert_eq!(utc_time(absurd), None, "{absurd}");
        }
    }
}
