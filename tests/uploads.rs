//! Uploads end to end: the real `thetorrent serve` binary on a fresh data directory, driven by
//! the real clients users have — PHP SoapClient, Perl SOAP::Lite `->service`, Python zeep
//! (SOAP); curl `-F` and `--data-binary`, Python requests, PHP curl (HTTP POST) — and the
//! examples of the `/api` page run exactly as the page shows them.
//!
//! Every upload is checked against libtorrent's hash from the corpus manifest, every stored file
//! against the corpus bytes, and every refusal against the count (`GET /api/stats`): a Fault or
//! a `failed` never stores anything.
//!
//! Needs php (soap, curl), perl (SOAP::Lite), python3 (zeep, requests) and curl: each test
//! fails, never skips, when one is missing (`tests/setup.sh` installs them).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---- corpus picks -----------------------------------------------------------------------

/// A corpus file and the hash libtorrent gives it (upper-case 40 hex; a v2-only torrent's is
/// its v2 hash truncated to 40 hex digits).
#[derive(Debug, Clone)]
struct Pick {
    path: PathBuf,
    hash: String,
    /// A hybrid's v2 key (truncated), filed as a link to the same bytes.
    v2_key: Option<String>,
}

fn pick(rel: &str) -> Pick {
    let r = manifest_row(rel);
    assert!(r.accept, "{rel}: libtorrent rejects it");
    let v2 = r.v2.as_ref().map(|h| h[..40].to_string());
    match &r.v1 {
        Some(v1) => Pick {
            path: r.path.clone(),
            hash: v1.clone(),
            v2_key: v2,
        },
        None => Pick {
            path: r.path.clone(),
            hash: v2.expect("v1 or v2 hash"),
            v2_key: None,
        },
    }
}

/// v1 (the one the API page's curl example downloads), hybrid, v2-only.
fn v1() -> Pick {
    pick("crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent")
}
fn v1_private() -> Pick {
    pick("crates-lava_torrent-0.11.1/tests/samples/files-private.torrent")
}
fn hybrid() -> Pick {
    pick("github-libtorrent-069017e/test/test_torrents/v2_hybrid.torrent")
}
fn v2_only() -> Pick {
    pick("debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent")
}

/// A file libtorrent rejects ("missing name in torrent file"), and our message for it.
fn broken() -> (PathBuf, &'static str) {
    let r =
        manifest_row("debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/bad_name.torrent");
    assert!(!r.accept);
    (r.path, "not a torrent file: missing or invalid 'name'")
}

fn all_good() -> Vec<Pick> {
    vec![v1(), hybrid(), v2_only()]
}

// ---- the server's side ------------------------------------------------------------------

/// (count, uploads stored, already stored, failed) from `GET /api/stats`.
fn stats(s: &Server) -> (u64, u64, u64, u64) {
    (
        s.stat("count"),
        s.stat("stored"),
        s.stat("already_stored"),
        s.stat("failed"),
    )
}

/// The stored file of each pick is byte-identical to the corpus file (and a hybrid's v2 key
/// is the same file), and the count is exactly the number of picks.
fn assert_stored_exactly(s: &Server, picks: &[Pick]) {
    for p in picks {
        let want = std::fs::read(&p.path).unwrap();
        let stored = stored_path(s.data.path(), &p.hash);
        let got = std::fs::read(&stored)
            .unwrap_or_else(|e| panic!("{}: {e} ({})", stored.display(), p.path.display()));
        assert!(got == want, "{} differs from the corpus file", p.hash);
        if let Some(v2) = &p.v2_key {
            let link = std::fs::read(stored_path(s.data.path(), v2)).expect("hybrid v2 key");
            assert!(link == want, "v2 key {v2}");
        }
    }
    let mut distinct: Vec<&str> = picks.iter().map(|p| p.hash.as_str()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(s.stat("count"), distinct.len() as u64, "count");
}

// ---- running the clients ----------------------------------------------------------------

/// Fails the test (never skips) when a client is missing.
fn require(what: &str, cmd: &str, args: &[&str]) {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{what} is missing (`{cmd} {}` failed): run tests/setup.sh",
        args.join(" ")
    );
}

fn require_php_soap() {
    require(
        "php with the soap extension",
        "php",
        &["-r", "exit(extension_loaded('soap') ? 0 : 1);"],
    );
}
fn require_php_curl() {
    require(
        "php with the curl extension",
        "php",
        &["-r", "exit(extension_loaded('curl') ? 0 : 1);"],
    );
}
fn require_perl_soap() {
    require(
        "perl with SOAP::Lite",
        "perl",
        &["-MSOAP::Lite", "-MMIME::Base64", "-e", "1"],
    );
}
fn require_python(module: &str) {
    require(
        &format!("python3 with {module}"),
        "python3",
        &["-c", &format!("import {module}")],
    );
}
fn require_curl() {
    require("curl", "curl", &["--version"]);
}

/// Writes `code` to a temporary file named `name` and runs `bin` on it with `args`.
fn script(dir: &Path, bin: &str, name: &str, code: &str, args: &[String]) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, code).unwrap();
    let out = Command::new(bin)
        .arg(&path)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    eprintln!(
        "--- {bin} {name}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

// ---- SOAP -------------------------------------------------------------------------------

/// What each SOAP script gets: `OP:FILE` (OP `storeTorrent` or `cacheTorrent`, FILE a path or
/// `!` for a string that is not base64); it prints `ok HASH` or `fault MESSAGE` per item.
const NOT_BASE64: &str = "AAAA*AAA";
const NOT_BASE64_MSG: &str = "invalid base64 at byte 4";

const PHP_SOAP: &str = r#"<?php
$client = new SoapClient($argv[1] . "/api/thetorrent.wsdl");
foreach (array_slice($argv, 2) as $item) {
    [$op, $f] = explode(":", $item, 2);
    try {
        if ($f === "!") {
            $hash = $client->storeTorrent("AAAA*AAA");
        } elseif ($op === "cacheTorrent") {
            $hash = $client->cacheTorrent(base64_encode(file_get_contents($f)));
        } else {
            $hash = $client->storeTorrent(base64_encode(file_get_contents($f)));
        }
        echo "ok ", $hash, "\n";
    } catch (SoapFault $e) {
        echo "fault ", $e->getMessage(), "\n";
    }
}
"#;

const PERL_SOAP: &str = r#"use strict;
use warnings;
use SOAP::Lite;
use MIME::Base64 qw(encode_base64);
my $base = shift;
my $s = SOAP::Lite->service("$base/api/thetorrent.wsdl");
$s->on_fault(sub { my ($soap, $res) = @_; die ref $res ? $res->faultstring : $soap->transport->status, "\n" });
for my $item (@ARGV) {
    my ($op, $f) = split /:/, $item, 2;
    my $b64;
    if ($f eq "!") {
        $b64 = "AAAA*AAA";
    } else {
        open my $fh, '<:raw', $f or die "$f: $!\n";
        my $t = do { local $/; <$fh> };
        $b64 = encode_base64($t);    # line-broken every 76 characters
        die "not line-broken" if length($t) > 100 && $b64 !~ /\n./;
    }
    my $hash = eval { $op eq "cacheTorrent" ? $s->cacheTorrent($b64) : $s->storeTorrent($b64) };
    if (defined $hash) { print "ok $hash\n" } else { my $e = $@; chomp $e; print "fault $e\n" }
}
"#;

const ZEEP_SOAP: &str = r#"import base64
import sys

import zeep
import zeep.exceptions

client = zeep.Client(sys.argv[1] + "/api/thetorrent.wsdl")
for item in sys.argv[2:]:
    op, f = item.split(":", 1)
    if f == "!":
        b64 = "AAAA*AAA"
    else:
        with open(f, "rb") as fh:
            b64 = base64.b64encode(fh.read()).decode("ascii")
    try:
        print("ok", getattr(client.service, op)(b64))
    except zeep.exceptions.Fault as e:
        print("fault", e.message)
"#;

/// One SOAP client against a fresh server: the three good picks, a duplicate by
/// `cacheTorrent`, a broken file, invalid base64; then the files and counts.
fn soap_client(bin: &str, name: &str, code: &str) {
    let s = start(&[]);
    let base = format!("http://{}", s.addr);
    let good = all_good();
    let (bad, bad_msg) = broken();
    let mut args = vec![base];
    let mut want = Vec::new();
    for p in &good {
        args.push(format!("storeTorrent:{}", p.path.display()));
        want.push(format!("ok {}", p.hash));
    }
    args.push(format!("cacheTorrent:{}", good[0].path.display()));
    want.push(format!("ok {}", good[0].hash));
    args.push(format!("cacheTorrent:{}", v1_private().path.display()));
    want.push(format!("ok {}", v1_private().hash));
    args.push(format!("storeTorrent:{}", bad.display()));
    want.push(format!("fault {bad_msg}"));
    args.push("storeTorrent:!".into());
    want.push(format!("fault {NOT_BASE64_MSG}"));
    assert!(code.contains(NOT_BASE64));
    let dir = temp_dir();
    let out = script(dir.path(), bin, name, code, &args);
    assert!(out.status.success(), "{bin} failed");
    assert_eq!(lines(&out), want, "{bin}");
    let mut stored = good.clone();
    stored.push(v1_private());
    assert_stored_exactly(&s, &stored);
    let (n, st, already, failed) = stats(&s);
    assert_eq!((n, st, already, failed), (4, 4, 1, 2), "{bin}: stats");
}

#[test]
fn soap_php_soapclient() {
    require_php_soap();
    soap_client("php", "client.php", PHP_SOAP);
}

#[test]
fn soap_perl_soap_lite_service() {
    require_perl_soap();
    soap_client("perl", "client.pl", PERL_SOAP);
}

#[test]
fn soap_python_zeep() {
    require_python("zeep");
    soap_client("python3", "client.py", ZEEP_SOAP);
}

// ---- HTTP POST --------------------------------------------------------------------------

/// Runs curl with `args`; returns (status, headers in order, body).
fn curl(args: &[String]) -> (u16, Vec<(String, String)>, String) {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-"])
        .args(args)
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl: {}", stderr(&out));
    parse_dump(&stdout(&out))
}

/// Parses `-D -` output (the last response head, then the body).
fn parse_dump(text: &str) -> (u16, Vec<(String, String)>, String) {
    let mut rest = text;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").expect("response head");
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        return (status, headers, body.to_string());
    }
}

fn values(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

fn f_arg(p: &Path) -> String {
    format!("torrent=@{}", p.display())
}

#[test]
fn post_curl_multipart_raw_and_duplicates() {
    require_curl();
    let s = start(&[]);
    let url = s.url("/api/upload");
    let good = all_good();
    let (bad, bad_msg) = broken();

    // One file per request, `curl -F torrent=@file`.
    for p in &good {
        let (status, h, body) = curl(&["-F".into(), f_arg(&p.path), url.clone()]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(values(&h, "X-Thetorrent-Result"), ["stored"]);
        assert_eq!(values(&h, "X-Thetorrent-Hash"), [p.hash.as_str()]);
        assert!(values(&h, "X-Thetorrent-Error").is_empty());
        assert_eq!(body, format!("{}\n", p.hash));
    }
    assert_stored_exactly(&s, &good);

    // Duplicates: "stored" with the same hash, the count does not grow.
    let (status, h, body) = curl(&["-F".into(), f_arg(&good[1].path), url.clone()]);
    assert_eq!(status, 200);
    assert_eq!(values(&h, "X-Thetorrent-Result"), ["stored"]);
    assert_eq!(values(&h, "X-Thetorrent-Stored"), ["already"]);
    assert_eq!(body, format!("{}\n", good[1].hash));
    assert_eq!(s.stat("count"), 3);

    // Several parts in one request, a broken one in the middle: one header set and one body
    // line per file, in order; the good new file is stored, the broken one is not.
    let private = v1_private();
    let (status, h, body) = curl(&[
        "-F".into(),
        f_arg(&good[0].path),
        "-F".into(),
        f_arg(&bad),
        "-F".into(),
        "comment=ignored".into(),
        "-F".into(),
        f_arg(&private.path),
        url.clone(),
    ]);
    assert_eq!(status, 400, "the status of the first failure");
    assert_eq!(
        values(&h, "X-Thetorrent-Result"),
        ["stored", "failed", "stored"]
    );
    assert_eq!(
        values(&h, "X-Thetorrent-Hash"),
        [good[0].hash.clone(), private.hash.clone()]
    );
    assert_eq!(values(&h, "X-Thetorrent-Error"), [bad_msg]);
    let results: Vec<&str> = h
        .iter()
        .filter(|(k, _)| k.starts_with("X-Thetorrent-"))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        results,
        [
            "X-Thetorrent-Result",
            "X-Thetorrent-Hash",
            "X-Thetorrent-Stored",
            "X-Thetorrent-Result",
            "X-Thetorrent-Error",
            "X-Thetorrent-Result",
            "X-Thetorrent-Hash",
            "X-Thetorrent-Stored"
        ],
        "header sets in upload order"
    );
    assert_eq!(values(&h, "X-Thetorrent-Stored"), ["already", "new"]);
    assert_eq!(
        body,
        format!("{}\n{bad_msg}\n{}\n", good[0].hash, private.hash)
    );

    // A raw application/x-bittorrent body (`curl --data-binary`), new and duplicate.
    let mut all = good.clone();
    all.push(private.clone());
    assert_stored_exactly(&s, &all);
    for p in [&private, &good[2]] {
        let (status, h, body) = curl(&[
            "--data-binary".into(),
            format!("@{}", p.path.display()),
            "-H".into(),
            "Content-Type: application/x-bittorrent".into(),
            url.clone(),
        ]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(values(&h, "X-Thetorrent-Result"), ["stored"]);
        assert_eq!(values(&h, "X-Thetorrent-Hash"), [p.hash.as_str()]);
        assert_eq!(body, format!("{}\n", p.hash));
    }
    // A raw broken body: 400, the message, nothing stored.
    let (status, h, body) = curl(&[
        "--data-binary".into(),
        format!("@{}", bad.display()),
        "-H".into(),
        "Content-Type: application/x-bittorrent".into(),
        url.clone(),
    ]);
    assert_eq!(status, 400);
    assert_eq!(values(&h, "X-Thetorrent-Result"), ["failed"]);
    assert_eq!(values(&h, "X-Thetorrent-Error"), [bad_msg]);
    assert_eq!(body, format!("{bad_msg}\n"));
    assert_stored_exactly(&s, &all);

    // A fresh raw upload (the hybrid as the first file of a new server is covered above; here
    // the v2-only file by raw body on a store that does not have it yet).
    let s2 = start(&[]);
    let p = v2_only();
    let (status, h, _) = curl(&[
        "--data-binary".into(),
        format!("@{}", p.path.display()),
        "-H".into(),
        "Content-Type: application/x-bittorrent".into(),
        s2.url("/api/upload"),
    ]);
    assert_eq!(status, 200);
    assert_eq!(values(&h, "X-Thetorrent-Hash"), [p.hash.as_str()]);
    assert_stored_exactly(&s2, &[p]);
}

#[test]
fn post_autoupload_php_torrage_headers() {
    require_curl();
    let s = start(&[]);
    let url = s.url("/autoupload.php");
    let p = hybrid();
    let (bad, bad_msg) = broken();
    let (status, h, body) = curl(&["-F".into(), f_arg(&p.path), url.clone()]);
    assert_eq!(status, 200);
    assert_eq!(values(&h, "X-Thetorrent-Result"), ["stored"]);
    assert_eq!(values(&h, "X-Thetorrent-Hash"), [p.hash.as_str()]);
    assert_eq!(values(&h, "X-Torrage-Infohash"), [p.hash.as_str()]);
    assert!(values(&h, "X-Torrage-Error-Msg").is_empty());
    assert_eq!(body, format!("{}\n", p.hash));
    let (status, h, body) = curl(&["-F".into(), f_arg(&bad), url.clone()]);
    assert_eq!(status, 400);
    assert_eq!(values(&h, "X-Thetorrent-Result"), ["failed"]);
    assert_eq!(values(&h, "X-Thetorrent-Error"), [bad_msg]);
    assert_eq!(values(&h, "X-Torrage-Error-Msg"), [bad_msg]);
    assert!(values(&h, "X-Torrage-Infohash").is_empty());
    assert_eq!(body, format!("{bad_msg}\n"));
    // Raw body on the Torrage route too.
    let v2 = v2_only();
    let (status, h, _) = curl(&[
        "--data-binary".into(),
        format!("@{}", v2.path.display()),
        "-H".into(),
        "Content-Type: application/x-bittorrent".into(),
        url,
    ]);
    assert_eq!(status, 200);
    assert_eq!(values(&h, "X-Torrage-Infohash"), [v2.hash.as_str()]);
    assert_stored_exactly(&s, &[p, v2]);
}

const REQUESTS_POST: &str = r#"import sys

import requests

url = sys.argv[1]
# One file per request, then all of them in one request.
for f in sys.argv[2:]:
    with open(f, "rb") as fh:
        r = requests.post(url, files={"torrent": fh})
    print(r.status_code, r.headers.get("X-Thetorrent-Result"), r.headers.get("X-Thetorrent-Hash") or r.headers.get("X-Thetorrent-Error"), r.text.strip())
handles = [open(f, "rb") for f in sys.argv[2:]]
r = requests.post(url, files=[("torrent", h) for h in handles])
print(r.status_code, r.headers.get("X-Thetorrent-Result"), "|".join(r.text.splitlines()))
"#;

const PHP_CURL_POST: &str = r#"<?php
$url = $argv[1];
foreach (array_slice($argv, 2) as $f) {
    $headers = [];
    $ch = curl_init($url);
    curl_setopt($ch, CURLOPT_POST, true);
    curl_setopt($ch, CURLOPT_POSTFIELDS, ["torrent" => new CURLFile($f, "application/x-bittorrent")]);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_HEADERFUNCTION, function ($ch, $line) use (&$headers) {
        $p = explode(":", $line, 2);
        if (count($p) == 2) { $headers[strtolower(trim($p[0]))] = trim($p[1]); }
        return strlen($line);
    });
    $body = curl_exec($ch);
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
    $r = $headers["x-thetorrent-result"] ?? "-";
    $v = $headers["x-thetorrent-hash"] ?? ($headers["x-thetorrent-error"] ?? "-");
    echo $status, " ", $r, " ", $v, " ", trim($body), "\n";
}
"#;

/// The lines the per-file HTTP clients print for `files`.
fn per_file_lines(files: &[(PathBuf, Result<String, String>)]) -> Vec<String> {
    files
        .iter()
        .map(|(_, r)| match r {
            Ok(h) => format!("200 stored {h} {h}"),
            Err(m) => format!("400 failed {m} {m}"),
        })
        .collect()
}

fn http_inputs() -> Vec<(PathBuf, Result<String, String>)> {
    let (bad, bad_msg) = broken();
    let mut v: Vec<(PathBuf, Result<String, String>)> = all_good()
        .into_iter()
        .map(|p| (p.path, Ok(p.hash)))
        .collect();
    v.push((bad, Err(bad_msg.to_string())));
    // A duplicate: stored, same hash.
    let first = v[0].clone();
    v.push(first);
    v
}

#[test]
fn post_python_requests() {
    require_python("requests");
    let s = start(&[]);
    let inputs = http_inputs();
    let mut args = vec![s.url("/api/upload")];
    args.extend(inputs.iter().map(|(p, _)| p.display().to_string()));
    let dir = temp_dir();
    let out = script(dir.path(), "python3", "post.py", REQUESTS_POST, &args);
    assert!(out.status.success());
    let mut want = per_file_lines(&inputs);
    let all: Vec<String> = inputs
        .iter()
        .map(|(_, r)| r.clone().unwrap_or_else(|e| e))
        .collect();
    // requests joins repeated headers with ", ".
    let results: Vec<&str> = inputs
        .iter()
        .map(|(_, r)| if r.is_ok() { "stored" } else { "failed" })
        .collect();
    want.push(format!("400 {} {}", results.join(", "), all.join("|")));
    assert_eq!(lines(&out), want);
    assert_stored_exactly(&s, &all_good());
    let (_, stored, already, failed) = stats(&s);
    assert_eq!((stored, already, failed), (3, 5, 2));
}

#[test]
fn post_php_curl() {
    require_php_curl();
    let s = start(&[]);
    let inputs = http_inputs();
    let mut args = vec![s.url("/api/upload")];
    args.extend(inputs.iter().map(|(p, _)| p.display().to_string()));
    let dir = temp_dir();
    let out = script(dir.path(), "php", "post.php", PHP_CURL_POST, &args);
    assert!(out.status.success());
    assert_eq!(lines(&out), per_file_lines(&inputs));
    assert_stored_exactly(&s, &all_good());
}

#[test]
fn too_large_is_413_and_stores_nothing() {
    require_curl();
    // The limit is a global option, before the command.
    let s = start(&["--max-torrent-size", "1000"]);
    assert_eq!(s.stat("count"), 0);
    let big = v1(); // 23,821 bytes
    let small = v2_only(); // 767 bytes
    let size = std::fs::metadata(&big.path).unwrap().len();
    let msg = format!("torrent too large: {size} bytes (limit 1000)");
    for route in ["/api/upload", "/autoupload.php"] {
        let (status, h, body) = curl(&["-F".into(), f_arg(&big.path), s.url(route)]);
        assert_eq!(status, 413, "{route} multipart: {body}");
        assert_eq!(values(&h, "X-Thetorrent-Result"), ["failed"]);
        assert_eq!(values(&h, "X-Thetorrent-Error"), [msg.as_str()]);
        assert_eq!(body, format!("{msg}\n"));
        let (status, h, body) = curl(&[
            "--data-binary".into(),
            format!("@{}", big.path.display()),
            "-H".into(),
            "Content-Type: application/x-bittorrent".into(),
            s.url(route),
        ]);
        assert_eq!(status, 413, "{route} raw: {body}");
        assert_eq!(values(&h, "X-Thetorrent-Error"), [msg.as_str()]);
    }
    // SOAP: a Fault with the same message.
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&big.path).unwrap())
    };
    let envelope = format!(
        "<?xml version=\"1.0\"?><soap:Envelope \
         xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:tns=\"urn:TorrentService\">\
         <soap:Body><tns:storeTorrent><torrent>{b64}</torrent></tns:storeTorrent></soap:Body>\
         </soap:Envelope>"
    );
    let (status, _, body) = curl(&[
        "--data-binary".into(),
        envelope,
        "-H".into(),
        "Content-Type: text/xml; charset=utf-8".into(),
        "-H".into(),
        "SOAPAction: \"urn:TorrentService#storeTorrent\"".into(),
        s.url("/api/soap"),
    ]);
    assert_eq!(status, 500);
    assert!(body.contains("<faultstring>"), "{body}");
    assert!(body.contains(&msg), "{body}");
    assert_eq!(s.stat("count"), 0, "nothing stored");
    // Under the limit still works, beside a big one in the same request.
    let (status, h, _) = curl(&[
        "-F".into(),
        f_arg(&small.path),
        "-F".into(),
        f_arg(&big.path),
        s.url("/api/upload"),
    ]);
    assert_eq!(status, 413);
    assert_eq!(values(&h, "X-Thetorrent-Result"), ["stored", "failed"]);
    assert_eq!(values(&h, "X-Thetorrent-Error"), [msg]);
    assert_stored_exactly(&s, &[small]);
}

#[test]
fn malformed_multipart_is_400_and_stores_nothing() {
    require_curl();
    let s = start(&[]);
    let good = std::fs::read(v1().path).unwrap();
    let dir = temp_dir();
    let part = |b: &mut Vec<u8>, boundary: &str| {
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"torrent\"; \
                 filename=\"a.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(&good);
        b.extend_from_slice(b"\r\n");
    };
    // A complete good part, then the body ends without the closing delimiter.
    let mut truncated = Vec::new();
    part(&mut truncated, "XyZ");
    // A good part, then a part whose headers never end.
    let mut bad_headers = Vec::new();
    part(&mut bad_headers, "XyZ");
    bad_headers.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"torrent\"");
    bad_headers.extend_from_slice(b"\r\n--XyZ--\r\n");
    // No delimiter at all.
    let garbage = b"this is not multipart at all\r\n".to_vec();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("truncated", truncated, "multipart/form-data; boundary=XyZ"),
        (
            "bad-headers",
            bad_headers,
            "multipart/form-data; boundary=XyZ",
        ),
        ("garbage", garbage, "multipart/form-data; boundary=XyZ"),
        ("no-boundary", good.clone(), "multipart/form-data"),
    ];
    for (name, body, ctype) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, &body).unwrap();
        let (status, h, text) = curl(&[
            "--data-binary".into(),
            format!("@{}", f.display()),
            "-H".into(),
            format!("Content-Type: {ctype}"),
            s.url("/api/upload"),
        ]);
        assert_eq!(status, 400, "{name}: {text}");
        assert_eq!(values(&h, "X-Thetorrent-Result"), ["failed"], "{name}");
        assert!(!text.trim().is_empty(), "{name}: a message");
        assert_eq!(text.lines().count(), 1, "{name}: one line");
        assert_eq!(s.stat("count"), 0, "{name}: nothing stored");
        assert!(!stored_path(s.data.path(), &v1().hash).exists(), "{name}");
    }
    // The same connection-level client still gets its file stored afterwards.
    let (status, _, _) = curl(&["-F".into(), f_arg(&v1().path), s.url("/api/upload")]);
    assert_eq!(status, 200);
    assert_stored_exactly(&s, &[v1()]);
}

// ---- the /api page's examples -----------------------------------------------------------

/// The `<pre><code>` blocks of a page, HTML entities decoded.
fn code_blocks(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find("<pre") {
        rest = &rest[i..];
        let a = rest.find("<code>").unwrap() + "<code>".len();
        let b = rest.find("</code></pre>").unwrap();
        let code = rest[a..b]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        out.push(code);
        rest = &rest[b..];
    }
    out
}

/// Every example of `GET /api`, copied from the rendered page and run as the page says
/// (scripts saved under the name it gives and run with the file; curl commands run as they
/// stand in a folder holding `file.torrent`), against the real server: they print libtorrent's
/// hash, a rejected file gives the error and a non-zero exit, and the curl download gets the
/// stored bytes.
#[test]
fn api_page_examples_work() {
    require_php_soap();
    require_perl_soap();
    require_python("zeep");
    require_python("requests");
    require_curl();
    let s = start(&[]);
    let base = format!("http://{}", s.addr);
    let mut c = s.connect();
    c.send(
        format!(
            "GET /api HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    let page = String::from_utf8(r.body).unwrap();
    let blocks = code_blocks(&page);
    let examples = thetorrent::app::pages::api_examples(&base);
    assert_eq!(blocks.len(), examples.len(), "code blocks on /api");
    let good = v1(); // the curl example downloads this hash
    let (bad, bad_msg) = broken();
    let dir = temp_dir();
    std::fs::copy(&good.path, dir.path().join("file.torrent")).unwrap();
    std::fs::copy(&bad, dir.path().join("bad.torrent")).unwrap();
    let mut stored = 0u64;
    for ((title, file, code), shown) in examples.iter().zip(&blocks) {
        assert_eq!(code, shown, "{title}: the page shows the example");
        assert!(shown.contains(&base), "{title}: base URL filled in");
        let Some(file) = file else {
            let out = Command::new("sh")
                .arg("-ec")
                .arg(shown)
                .current_dir(dir.path())
                .output()
                .expect("sh");
            let out_s = stdout(&out);
            eprintln!("--- {title}: {}\n{out_s}{}", out.status, stderr(&out));
            assert!(out.status.success(), "{title}");
            assert!(
                out_s.contains(&format!("X-Thetorrent-Hash: {}", good.hash)),
                "{title}"
            );
            assert_eq!(out_s.matches(&good.hash).count(), 3, "{title}");
            let got = std::fs::read(dir.path().join(format!("{}.torrent", good.hash))).unwrap();
            assert!(
                got == std::fs::read(&good.path).unwrap(),
                "{title}: download"
            );
            continue;
        };
        let bin = match file.rsplit('.').next() {
            Some("php") => "php",
            Some("pl") => "perl",
            _ => "python3",
        };
        std::fs::write(dir.path().join(file), shown).unwrap();
        for (input, ok) in [("file.torrent", true), ("bad.torrent", false)] {
            let out = Command::new(bin)
                .arg(file)
                .arg(input)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| panic!("{bin}: {e}"));
            let (o, e) = (stdout(&out), stderr(&out));
            eprintln!("--- {title} {input}: {}\n{o}{e}", out.status);
            if ok {
                assert!(out.status.success(), "{title}");
                assert_eq!(o, format!("{}\n", good.hash), "{title}");
            } else {
                assert!(!out.status.success(), "{title}");
                assert!(o.is_empty(), "{title}");
                assert!(e.contains(bad_msg), "{title}: {e}");
            }
        }
        stored += 1;
    }
    assert_eq!(stored, 4);
    assert_stored_exactly(&s, &[good]);
}
