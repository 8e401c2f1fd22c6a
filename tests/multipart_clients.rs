//! `multipart::MultipartParser` against the bodies real clients send (curl `-F`, Python
//! requests, PHP curl), streamed from a socket in whatever pieces it delivers, through a tiny
//! HTTP server on 127.0.0.1 that is part of this test. The server answers one line per kept part:
//! its field name, file name and the SHA-1 of its data (or its size when over the limit).
//!
//! Needs `curl`, `python3` with requests and `php` with the curl extension; the test fails when one is missing.
//! (`tests/setup.sh` installs them).

mod common;

use common::{corpus_file, serve_connections};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use sha1::{Digest, Sha1};
use thetorrent::app::multipart::{MultipartParser, PartBody};
use thetorrent::torrent::hash::hex_upper;

/// Small enough that the second corpus file (94,016 bytes) is over it.
const LIMIT: usize = 64 * 1024;

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let (mut content_length, mut content_type, mut expect) = (0usize, String::new(), false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("content-type") {
                content_type = v.to_string();
            } else if k.eq_ignore_ascii_case("expect") {
                expect = v.eq_ignore_ascii_case("100-continue");
            }
        }
    }
    if expect {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut answer = String::new();
    match MultipartParser::new(&content_type, LIMIT) {
        Err(e) => answer.push_str(&format!("error {e}\n")),
        Ok(mut p) => {
            let mut parts = Vec::new();
            let mut left = content_length;
            // An odd buffer size, so that boundaries fall anywhere in a read.
            let mut buf = [0u8; 997];
            let mut result = Ok(());
            while left > 0 && result.is_ok() {
                let n = reader.read(&mut buf[..left.min(997)])?;
                if n == 0 {
                    break;
                }
                left -= n;
                result = p.feed(&buf[..n], &mut parts);
            }
            let result = result.and_then(|()| p.finish());
            for part in &parts {
                let file = part.filename.as_deref().unwrap_or("-");
                match &part.body {
                    PartBody::Data(d) => answer.push_str(&format!(
                        "{} {} {}\n",
                        part.name,
                        file,
                        hex_upper(&Sha1::digest(d))
                    )),
                    PartBody::TooLarge { .. } => answer.push_str(&format!(
                        "{} {} {}\n",
                        part.name,
                        file,
                        part.body.too_large_message().unwrap_or_default()
                    )),
                }
            }
            if let Err(e) = result {
                answer.push_str(&format!("error {e}\n"));
            }
        }
    }
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

fn sha1_of(p: &Path) -> String {
    hex_upper(&Sha1::digest(std::fs::read(p).unwrap()))
}

/// Runs a client and returns what it printed; a client that cannot be run fails the test.
fn run(bin: &str, args: &[&str]) -> String {
    let o = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e} (tests/setup.sh installs it)"));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    eprintln!("--- {bin}:\n{out}{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn real_clients_bodies_stream_through_the_parser() {
    let addr = serve_connections(|s| {
        let _ = handle(s);
    });
    let url = format!("http://{addr}/api/upload");
    let small = corpus_file(
        "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
    );
    let big = corpus_file("crates-lava_torrent-0.11.1/tests/files/tails-amd64-3.6.1.torrent");
    let (s, b) = (small.display().to_string(), big.display().to_string());
    let small_line = format!(
        "torrent debian-9.4.0-amd64-netinst.iso.torrent {}",
        sha1_of(&small)
    );
    let big_line =
        format!("torrent tails-amd64-3.6.1.torrent torrent too large: 94016 bytes (limit {LIMIT})");

    // curl: two files and a text field after them.
    let args = [
        "-s",
        "-F",
        &format!("torrent=@{s}"),
        "-F",
        &format!("torrent=@{b}"),
        "-F",
        "note=hello",
        &url,
    ];
    let out = run("curl", &args);
    assert_eq!(out, format!("{small_line}\n{big_line}\n"));

    // Python requests: a text field first, then two files under the same name.
    let py = format!(
        "import requests\n\
         r = requests.post('{url}', data={{'title': 'x y'}}, \
         files=[('torrent', open('{s}', 'rb')), ('torrent', open('{b}', 'rb'))])\n\
         print(r.text, end='')\n"
    );
    let out = run("python3", &["-c", &py]);
    assert_eq!(out, format!("{small_line}\n{big_line}\n"));

    // PHP curl, as Torrage-era autoupload scripts do it.
    let php = format!(
        "$c = curl_init('{url}'); curl_setopt($c, CURLOPT_POST, true);\n\
         curl_setopt($c, CURLOPT_POSTFIELDS, ['torrent' => new CURLFile('{s}', 'application/x-bittorrent')]);\n\
         curl_setopt($c, CURLOPT_RETURNTRANSFER, true); echo curl_exec($c);"
    );
    let out = run("php", &["-r", &php]);
    assert_eq!(out, format!("{small_line}\n"));
}
