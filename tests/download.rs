//! The download side against the real binary: hash forms, headers, conditional and range
//! requests, errors, and real clients (curl, Python requests, aria2c). The clients are
//! installed by tests/setup.sh; a missing one fails the test.

mod common;

use common::*;
use std::process::Command;

const HEX: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";

/// RFC 4648 base32 of the 20 bytes behind `hex`.
fn base32(hex: &str) -> String {
    let bytes: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut s) = (0u64, 0, String::new());
    for b in bytes {
        acc = acc << 8 | b as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            s.push(alphabet[((acc >> bits) & 31) as usize] as char);
        }
    }
    s
}

fn served() -> (Server, Vec<u8>) {
    let s = start(&[]);
    let body = bytes(20_000, 42);
    s.put_torrent(HEX, &body);
    (s, body)
}

#[test]
fn every_hash_form_resolves_and_bytes_are_identical() {
    let (s, body) = served();
    let v2 = format!("{HEX}0123456789ABCDEF0123456789ABCDEF01234567");
    assert_eq!(v2.len(), 80);
    let v2 = &v2[..64];
    for form in [
        HEX.to_string(),
        HEX.to_lowercase(),
        base32(HEX),
        base32(HEX).to_lowercase(),
        v2.to_string(),
    ] {
        for path in [
            format!("/torrent/{form}.torrent"),
            format!("/{form}.torrent"),
        ] {
            for q in ["", "?title=Some%20Name", "?title=x&y=z"] {
                let r = s.get(&format!("{path}{q}"), "");
                assert_eq!(r.status, 200, "{path}{q}: {}", r.head);
                assert_eq!(r.body, body, "{path}{q}");
            }
        }
    }
}

#[test]
fn download_headers() {
    let (s, _) = served();
    let r = s.get(
        &format!("/torrent/{}.torrent", HEX.to_lowercase()),
        "Accept-Encoding: gzip, br\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/x-bittorrent"));
    assert_eq!(r.header("ETag"), Some(format!("\"{HEX}\"").as_str()));
    assert_eq!(
        r.header("Content-Disposition"),
        Some(format!("attachment; filename=\"{HEX}.torrent\"").as_str())
    );
    assert_eq!(
        r.header("Cache-Control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("Content-Length"), Some("20000"));
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.count("Content-Length"), 1);
    let lm = r.header("Last-Modified").unwrap();
    assert!(lm.ends_with(" GMT"), "{lm}");
}

#[test]
fn conditional_requests_give_304() {
    let (s, _) = served();
    let path = format!("/torrent/{HEX}.torrent");
    let r = s.get(&path, "");
    let etag = r.header("ETag").unwrap().to_string();
    let lm = r.header("Last-Modified").unwrap().to_string();
    for cond in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"other\", W/{etag}\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-Modified-Since: {lm}\r\n"),
        "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n".to_string(),
    ] {
        let r = s.get(&path, &cond);
        assert_eq!(r.status, 304, "{cond}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
    }
    for cond in [
        "If-None-Match: \"other\"\r\n".to_string(),
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_string(),
        "If-Modified-Since: not a date\r\n".to_string(),
        // If-None-Match wins over If-Modified-Since.
        format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n"),
    ] {
        assert_eq!(s.get(&path, &cond).status, 200, "{cond}");
    }
}

#[test]
fn single_range_gives_206_and_unsatisfiable_416() {
    let (s, body) = served();
    let path = format!("/torrent/{HEX}.torrent");
    let r = s.get(&path, "Range: bytes=100-199\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &body[100..200]);
    assert_eq!(r.header("Content-Range"), Some("bytes 100-199/20000"));
    let r = s.get(&path, "Range: bytes=-10\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &body[19_990..]);
    let r = s.get(&path, "Range: bytes=19000-\r\n");
    assert_eq!(r.body, &body[19_000..]);
    let r = s.get(&path, "Range: bytes=20000-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */20000"));
    // Several ranges: the whole file (allowed by RFC 9110 section 14.2).
    let r = s.get(&path, "Range: bytes=0-1,5-6\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    // If-Range with another validator: the whole file.
    let r = s.get(&path, "Range: bytes=0-1\r\nIf-Range: \"other\"\r\n");
    assert_eq!(r.status, 200);
    let r = s.get(
        &path,
        &format!("Range: bytes=0-1\r\nIf-Range: \"{HEX}\"\r\n"),
    );
    assert_eq!(r.status, 206);
}

#[test]
fn missing_is_plain_404_and_malformed_is_400() {
    let (s, _) = served();
    let r = s.get(
        "/torrent/0000000000000000000000000000000000000000.torrent",
        "",
    );
    assert_eq!(r.status, 404);
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
    assert!(r.header("Location").is_none());
    for bad in [
        "/torrent/XYZ.torrent",
        "/torrent/G431A969B347E14BBA641B3517C024F7B40DFB7F.torrent",
        "/torrent/..%2F..%2Fetc%2Fpasswd.torrent",
        "/torrent/../../etc/passwd.torrent",
        "/7431A969B347E14BBA641B3517C024F7B40DFB7.torrent",
    ] {
        let r = s.get(bad, "");
        assert!(r.status == 400 || r.status == 404, "{bad}: {}", r.head);
        assert_ne!(r.status, 200);
    }
    assert_eq!(s.get("/torrent/XYZ.torrent", "").status, 400);
    assert_eq!(s.get("/no/such/page", "").status, 404);
    let mut c = s.connect();
    c.send(format!("DELETE /torrent/{HEX}.torrent HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    assert_eq!(c.response().status, 405);
}

#[test]
fn large_file_is_streamed_identically() {
    let s = start(&[]);
    let body = bytes(3 * 1024 * 1024 + 17, 5);
    s.put_torrent(HEX, &body);
    let r = s.get(&format!("/{HEX}.torrent"), "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
}

#[test]
fn healthz() {
    let s = start(&[]);
    let r = s.get("/healthz", "");
    assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
}

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{name} is missing: run tests/setup.sh");
    name.to_string()
}

#[test]
fn curl_downloads_identical_bytes() {
    let (s, body) = served();
    let out = temp_dir();
    let file = out.path().join("t.torrent");
    let o = Command::new(tool("curl"))
        .args(["-sS", "--fail", "--compressed", "-o"])
        .arg(&file)
        .arg(s.url(&format!("/torrent/{}.torrent?title=x", HEX.to_lowercase())))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&file).unwrap(), body);
    // curl -f fails on the 404.
    let o = Command::new("curl")
        .args(["-sS", "--fail", "-o", "/dev/null"])
        .arg(s.url("/torrent/0000000000000000000000000000000000000000.torrent"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(22));
}

#[test]
fn python_requests_downloads_identical_bytes() {
    let (s, body) = served();
    let script = r#"
import sys, requests, hashlib
r = requests.get(sys.argv[1], timeout=10)
r.raise_for_status()
assert r.headers["Content-Type"] == "application/x-bittorrent", r.headers
assert "Content-Encoding" not in r.headers
sys.stdout.write(hashlib.sha1(r.content).hexdigest())
m = requests.get(sys.argv[2], timeout=10)
assert m.status_code == 404, m.status_code
"#;
    let o = Command::new(tool("python3"))
        .args(["-c", script])
        .arg(s.url(&format!("/{}.torrent", base32(HEX))))
        .arg(s.url("/torrent/0000000000000000000000000000000000000000.torrent"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use sha1::Digest;
    let want: String = sha1::Sha1::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
}

#[test]
fn aria2c_downloads_identical_bytes() {
    let (s, body) = served();
    let out = temp_dir();
    let o = Command::new(tool("aria2c"))
        .args([
            "--quiet=true",
            "--follow-torrent=false",
            "--allow-overwrite=true",
            "--split=4",
            "--min-split-size=1M",
            "--connect-timeout=5",
            "--timeout=10",
            "--max-tries=1",
            "-d",
        ])
        .arg(out.path())
        .args(["-o", "got.torrent"])
        .arg(s.url(&format!("/torrent/{HEX}.torrent")))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(out.path().join("got.torrent")).unwrap(), body);
}
