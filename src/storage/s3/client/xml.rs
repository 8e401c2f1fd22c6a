//! S3 error bodies: `<Error><Code>…</Code><Message>…</Message>…</Error>`.
//!
//! Owns: pulling `Code` and `Message` out of a bounded body (the caller's limit) by plain
//! search. Must never: expand anything but the five predefined entities and numeric
//! references, fail (an unreadable body gives empty strings), or return more than
//! [`MAX_FIELD`] characters per field.

/// Longest code or message kept.
pub const MAX_FIELD: usize = 1024;

/// (code, message) of an S3 error body; empty strings for what is missing.
pub fn parse_error(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    (field(&text, "Code"), field(&text, "Message"))
}

fn field(text: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let Some(start) = text.find(&open).map(|i| i + open.len()) else {
        return String::new();
    };
    let Some(len) = text[start..].find(&close) else {
        return String::new();
    };
    let mut v = unescape(text[start..start + len].trim());
    if v.len() > MAX_FIELD {
        let mut cut = MAX_FIELD;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
    }
    v
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &rest[1..e] {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n => n
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_error() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message><Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        assert_eq!(
            parse_error(body),
            (
                "NoSuchKey".to_string(),
                "The resource you requested does not exist".to_string()
            )
        );
    }

    #[test]
    fn entities_and_garbage() {
        let body = b"<Error><Code>PreconditionFailed</Code><Message>a &lt;b&gt; &amp; &quot;c&quot; &#65;&#x42; &bogus; &</Message></Error>";
        assert_eq!(
            parse_error(body),
            (
                "PreconditionFailed".to_string(),
                "a <b> & \"c\" AB &bogus; &".to_string()
            )
        );
        assert_eq!(parse_error(b""), (String::new(), String::new()));
        assert_eq!(
            parse_error(b"<html>502 Bad Gateway</html>"),
            (String::new(), String::new())
        );
        assert_eq!(
            parse_error(b"<Error><Code>Unclosed"),
            (String::new(), String::new())
        );
        let long = format!("<Error><Message>{}</Message></Error>", "x".repeat(5000));
        assert_eq!(parse_error(long.as_bytes()).1.len(), MAX_FIELD);
        let ctl = b"<Error><Code>A\r\nB</Code></Error>";
        assert_eq!(parse_error(ctl).0, "AB");
    }
}
