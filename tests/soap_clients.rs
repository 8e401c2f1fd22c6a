//! The WSDL, `soap::parse_request` and `soap::render_response` / `render_fault` against the real
//! SOAP clients (PHP SoapClient, Perl SOAP::Lite `->service`, Python zeep), through a tiny HTTP
//! server on 127.0.0.1 that is part of this test. It checks the SOAP layer alone: the "hash" it
//! answers is the SHA-1 of the whole decoded file (no torrent parsing here), and any file not
//! starting with `d` is refused with a Fault. The end-to-end interop tests against the real
//! server live with the server.
//!
//! Needs `php` with the soap extension, `perl` with SOAP::Lite, `python3` with zeep; the test fails when one is missing
//! (`tests/setup.sh` installs them).

mod common;

use common::{corpus_file, serve_connections, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;

use sha1::{Digest, Sha1};
use thetorrent::app::soap::{self, FaultCode};
use thetorrent::torrent::hash::hex_upper;

/// The message the test server puts in its "not a torrent" Fault: it has every character XML
/// must escape, so the clients show whether the escaping round-trips.
const NOT_A_TORRENT: &str = "not a torrent file: <bad> & \"worse\" 'quoted'";

fn handle(mut stream: TcpStream, base: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length.min(soap::MAX_REQUEST_BYTES)];
    reader.read_exact(&mut body)?;
    let (status, payload) = if request_line.starts_with("GET /api/thetorrent.wsdl") {
        ("200 OK", soap::wsdl(base).into_bytes())
    } else if request_line.starts_with("POST /api/soap") {
        match soap::parse_request(&body) {
            Ok(call) if call.torrent.first() == Some(&b'd') => {
                let hash = hex_upper(&Sha1::digest(&call.torrent));
                ("200 OK", soap::render_response(call.operation, &hash))
            }
            Ok(_) => (
                "500 Internal Server Error",
                soap::render_fault(FaultCode::Client, NOT_A_TORRENT),
            ),
            Err(e) => (
                "500 Internal Server Error",
                soap::render_fault(e.fault_code(), &e.to_string()),
            ),
        }
    } else {
        ("404 Not Found", b"not found\n".to_vec())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        soap::CONTENT_TYPE,
        payload.len()
    )?;
    stream.write_all(&payload)?;
    stream.flush()
}

const PHP: &str = r#"<?php
$c = new SoapClient($argv[1], ['cache_wsdl' => WSDL_CACHE_NONE]);
$op = $argv[2];
foreach (array_slice($argv, 3) as $f) {
    $arg = $f === '-' ? 'YWJj!' : base64_encode(file_get_contents($f));
    try { $r = $c->$op($arg); echo "OK $r\n"; }
    catch (SoapFault $e) { echo "FAULT ", $e->faultcode, " ", $e->getMessage(), "\n"; }
}
"#;

const PERL: &str = r#"use strict; use SOAP::Lite; use MIME::Base64;
my ($wsdl, $op, @files) = @ARGV;
# on_fault goes on the object service() returns: it is a new object of a generated class.
my $s = SOAP::Lite->service($wsdl);
$s->on_fault(sub {
    my ($soap, $res) = @_;
    print "FAULT ", (ref $res ? $res->faultcode . " " . $res->faultstring
                              : $soap->transport->status), "\n";
    return undef;
});
for my $f (@files) {
    my $arg;
    if ($f eq '-') { $arg = 'YWJj!' }
    else { open my $fh, '<:raw', $f or die; local $/; $arg = encode_base64(<$fh>); }
    my $r = $s->$op($arg);
    print "OK $r\n" if defined $r;
}
"#;

const ZEEP: &str = r#"import sys, base64, zeep
c = zeep.Client(sys.argv[1])
op = getattr(c.service, sys.argv[2])
for f in sys.argv[3:]:
    arg = 'YWJj!' if f == '-' else base64.b64encode(open(f, 'rb').read()).decode()
    try:
        print("OK", op(arg))
    except zeep.exceptions.Fault as e:
        print("FAULT", e.code, e.message)
"#;

#[test]
fn real_clients_read_our_wsdl_responses_and_faults() {
    // The WSDL names the address the client reached, this server's own.
    let addr = serve_connections(|s| {
        if let Ok(at) = s.local_addr() {
            let _ = handle(s, &format!("http://{at}"));
        }
    });
    let base = format!("http://{addr}");
    let wsdl_url = format!("{base}/api/thetorrent.wsdl");
    let tmp = temp_dir();
    let dir = tmp.path();

    let good = [
        corpus_file(
            "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
        ),
        corpus_file("crates-lava_torrent-0.11.1/tests/files/tails-amd64-3.6.1.torrent"),
    ];
    let bad = dir.join("bad.torrent");
    std::fs::write(&bad, b"bad").unwrap();

    let mut files: Vec<String> = good.iter().map(|p| p.display().to_string()).collect();
    files.push(bad.display().to_string());
    files.push("-".into()); // invalid base64, sent as is
    let mut expected: Vec<String> = good
        .iter()
        .map(|p| format!("OK {}", hex_upper(&Sha1::digest(std::fs::read(p).unwrap()))))
        .collect();
    expected.push(format!("FAULT {{c}} {NOT_A_TORRENT}"));
    expected.push("FAULT {c} invalid base64 at byte 4".into());

    let clients: [(&str, &str, &str, &str); 3] = [
        ("php", PHP, "client.php", "soap:Client"),
        ("perl", PERL, "client.pl", "soap:Client"),
        ("python3", ZEEP, "client.py", "soap:Client"),
    ];
    for (bin, script, name, client_code) in clients {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        for op in ["storeTorrent", "cacheTorrent"] {
            let out = Command::new(bin)
                .arg(&path)
                .arg(&wsdl_url)
                .arg(op)
                .args(&files)
                .output()
                .unwrap_or_else(|e| panic!("{bin}: {e} (tests/setup.sh installs it)"));
            let stdout = String::from_utf8_lossy(&out.stdout);
            eprintln!(
                "--- {bin} {op}:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Vec<&str> = stdout.lines().collect();
            let want: Vec<String> = expected
                .iter()
                .map(|l| l.replace("{c}", client_code))
                .collect();
            assert_eq!(got, want, "{bin} {op}");
        }
    }
}
