//! The access log (`--access-log FILE`, `-` for stdout): one line per request in the combined
//! log format that log analysers read (`host - - [time] "request" status bytes "referer"
//! "user-agent"`).
//!
//! Owns: formatting and writing those lines. Must never: write a client's bytes unescaped
//! (quotes, backslashes and control characters are escaped, so a line cannot be forged), or
//! fsync (a lost last line on power loss is acceptable; a stalled worker is not).

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;

pub struct AccessLog {
    out: Mutex<Box<dyn Write + Send>>,
}

/// One request, as logged.
pub struct Entry<'a> {
    pub peer: Option<std::net::IpAddr>,
    pub method: &'a str,
    pub target: &'a str,
    pub version: u8,
    pub status: u16,
    pub bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

/// Appends `s` with `"` `\` and non-printable bytes escaped as `\"`, `\\`, `\xNN`.
fn escaped(out: &mut String, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// `[26/Nov/2026:10:20:46 +0000]` for a Unix time.
fn clf_time(out: &mut String, secs: u64) {
    let t = crate::http::date::utc(secs);
    let _ = write!(out, "[{} +0000]", t.strftime("%d/%b/%Y:%H:%M:%S"));
}

impl AccessLog {
    /// Opens the log: `-` is standard output, anything else a file appended to.
    pub fn open(path: &str) -> std::io::Result<AccessLog> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        };
        Ok(AccessLog {
            out: Mutex::new(out),
        })
    }

    /// Formats one line (without writing it).
    pub fn line(e: &Entry<'_>, now_secs: u64) -> String {
        let mut l = String::with_capacity(200);
        match e.peer {
            Some(ip) => {
                let _ = write!(l, "{ip}");
            }
            None => l.push('-'),
        }
        l.push_str(" - - ");
        clf_time(&mut l, now_secs);
        l.push_str(" \"");
        escaped(&mut l, e.method.as_bytes());
        l.push(' ');
        escaped(&mut l, e.target.as_bytes());
        let _ = write!(l, " HTTP/1.{}\" {} ", e.version, e.status);
        if e.bytes == 0 {
            l.push('-');
        } else {
            let _ = write!(l, "{}", e.bytes);
        }
        for h in [e.referer, e.user_agent] {
            l.push_str(" \"");
            match h {
                Some(v) => escaped(&mut l, v),
                None => l.push('-'),
            }
            l.push('"');
        }
        l.push('\n');
        l
    }

    pub fn log(&self, e: &Entry<'_>) {
        let line = Self::line(e, crate::clock::secs(std::time::SystemTime::now()));
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_format_and_escaping() {
        let e = Entry {
            peer: Some("192.0.2.1".parse().unwrap()),
            method: "GET",
            target: "/torrent/AB.torrent?title=\"x\"",
            version: 1,
            status: 200,
            bytes: 2326,
            referer: None,
            user_agent: Some(b"curl/7.88 \"evil\"\n127.0.0.1 - - fake"),
        };
        assert_eq!(
            AccessLog::line(&e, 1_795_689_646),
            "192.0.2.1 - - [26/Nov/2026:10:40:46 +0000] \"GET /torrent/AB.torrent?title=\\\"x\\\" HTTP/1.1\" 200 2326 \"-\" \"curl/7.88 \\\"evil\\\"\\x0a127.0.0.1 - - fake\"\n"
        );
    }
}
