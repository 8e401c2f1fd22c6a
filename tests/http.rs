//! The HTTP layer against the real binary, over raw sockets: one test per rule of the strict
//! HTTP/1.1 layer (docs/http-api.md, "HTTP/1.1 as the server speaks it").

mod common;

use common::*;
use std::time::{Duration, Instant};

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

/// A server with the routes these tests send bodies, panics and slow requests to
/// (`/__test/echo`, `/__test/panic`, `/__test/sleep`), which only a build with the
/// `test-routes` feature has.
fn start_with_test_routes(extra: &[&str]) -> Server {
    require_test_routes();
    start(extra)
}

fn expect_error_and_close(c: &mut Client, status: u16) {
    let r = c.response();
    assert_eq!(r.status, status, "{}", r.head);
    assert_eq!(r.header("Connection"), Some("close"), "{}", r.head);
    c.closed_within(Duration::from_secs(5)).unwrap();
}

// ---- Head -----------------------------------------------------------------------------

#[test]
fn head_over_16k_is_431() {
    let s = start(&[]);
    let mut c = s.connect();
    let big = "a".repeat(17 * 1024);
    c.send_lossy(format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
    expect_error_and_close(&mut c, 431);
    // Just under the limit is fine.
    let mut c = s.connect();
    let ok = "a".repeat(15 * 1024);
    c.send(format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {ok}\r\n\r\n").as_bytes());
    assert_eq!(c.response().status, 200);
}

#[test]
fn head_never_ending_is_431_not_buffered_forever() {
    let s = start(&[]);
    let mut c = s.connect();
    c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Endless: ");
    for _ in 0..40 {
        c.send_lossy(&[b'x'; 1024]);
    }
    expect_error_and_close(&mut c, 431);
}

#[test]
fn more_than_64_headers_is_431() {
    let s = start(&[]);
    let mut c = s.connect();
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..64 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    c.send(req.as_bytes());
    expect_error_and_close(&mut c, 431);
    // 64 in all is fine.
    let mut c = s.connect();
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..63 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    c.send(req.as_bytes());
    assert_eq!(c.response().status, 200);
}

#[test]
fn repeated_headers_are_fine() {
    let s = start(&[]);
    let mut c = s.connect();
    c.send(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nAccept: a/b\r\nAccept: c/d\r\nAccept: */*\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
}

#[test]
fn malformed_heads_are_400_and_closed() {
    let s = start_with_test_routes(&[]);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n folded: header\r\n\r\n",
        b"GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n", // no Host in HTTP/1.1
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\rHost: t\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let mut c = s.connect();
        c.send(bad);
        expect_error_and_close(&mut c, 400);
    }
    assert!(s.alive());
}

// ---- Body framing ---------------------------------------------------------------------

#[test]
fn bad_content_length_is_400_never_a_panic() {
    let s = start_with_test_routes(&[]);
    for cl in [
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 99999999999999999999999999",
        "Content-Length: 18446744073709551616",
        "Content-Length: 1.5",
        "Content-Length: ",
        "Content-Length: 5, 6",
        "Content-Length: 5\r\nContent-Length: 6",
    ] {
        let mut c = s.connect();
        c.send(format!("POST /__test/echo HTTP/1.1\r\nHost: t\r\n{cl}\r\n\r\nhello").as_bytes());
        expect_error_and_close(&mut c, 400);
    }
    assert!(s.alive());
    assert!(!s.log().contains("panicked"), "{}", s.log());
    // Identical duplicates are allowed (RFC 9110 section 8.6).
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.response().body, b"hello");
}

#[test]
fn content_length_body_is_read_exactly() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    let body = bytes(100_000, 7);
    c.send(
        format!(
            "POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    c.send(HEALTH);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(c.response().body, b"ok");
}

#[test]
fn chunked_body_is_decoded_with_trailers() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(b"5\r\nhello\r\n");
    c.send(b"7;ext=1\r\n, world\r\n");
    c.send(b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n");
    c.send(HEALTH);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"hello, world");
    // The connection is still in step.
    assert_eq!(c.response().body, b"ok");
    // A long one, in chunks of every size, comes back byte for byte (the reader grows its
    // buffer from 8 KiB as the body goes on).
    let want: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut at = 0;
    let mut size = 1;
    while at < want.len() {
        let n = size.min(want.len() - at);
        c.send(format!("{n:x}\r\n").as_bytes());
        c.send(&want[at..at + n]);
        c.send(b"\r\n");
        at += n;
        size = size * 3 % 20_011 + 1;
    }
    c.send(b"0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.body == want, "{} bytes back", r.body.len());
}

#[test]
fn malformed_chunked_is_400() {
    let s = start_with_test_routes(&[]);
    for bad in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"fffffffffffffffffff\r\n",
    ] {
        let mut c = s.connect();
        c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.send_lossy(bad);
        let r = c.response();
        assert!(r.status == 400 || r.status == 413, "{}", r.head);
        assert_eq!(r.header("Connection"), Some("close"));
    }
    assert!(s.alive());
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_error_and_close(&mut c, 400);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_error_and_close(&mut c, 400);
    // Unknown codings: 501; chunked not last: 400.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    expect_error_and_close(&mut c, 501);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    expect_error_and_close(&mut c, 400);
}

#[test]
fn body_over_limit_is_413() {
    let s = start_with_test_routes(&["--max-body-bytes", "1000"]);
    // Declared: refused before any body byte is read.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
    expect_error_and_close(&mut c, 413);
    // Chunked: cut when it passes the limit.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        c.send_lossy(b"190\r\n");
        c.send_lossy(&[b'x'; 400]);
        c.send_lossy(b"\r\n");
    }
    c.send_lossy(b"0\r\n\r\n");
    expect_error_and_close(&mut c, 413);
    // At the limit exactly: fine.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    c.send(&[b'y'; 1000]);
    assert_eq!(c.response().body.len(), 1000);
    // Chunked, at the limit exactly and one byte over.
    for (n, status) in [(1000, 200), (1001, 413)] {
        let mut c = s.connect();
        c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.send_lossy(format!("{:x}\r\n", n - 1).as_bytes());
        c.send_lossy(&vec![b'z'; n - 1]);
        c.send_lossy(b"\r\n1\r\nz\r\n0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, status, "{n} bytes: {}", r.head);
        if status == 200 {
            assert_eq!(r.body, vec![b'z'; n]);
        }
    }
}

#[test]
fn default_body_limit_is_16_mib() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    c.send(
        format!(
            "POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            16 * 1024 * 1024 + 1
        )
        .as_bytes(),
    );
    expect_error_and_close(&mut c, 413);
}

#[test]
fn expect_100_continue() {
    let s = start_with_test_routes(&["--max-body-bytes", "1000"]);
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.response();
    assert_eq!(interim.status, 100, "{}", interim.head);
    c.send(b"hello");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    // Over the limit: 413 at once, no 100.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    expect_error_and_close(&mut c, 413);
    // Unknown expectation: 417.
    let mut c = s.connect();
    c.send(
        b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: something\r\n\r\n",
    );
    expect_error_and_close(&mut c, 417);
}

#[test]
fn expect_100_not_sent_when_body_not_read() {
    let s = start(&[]);
    let mut c = s.connect();
    // /healthz does not read bodies: no 100, final answer, connection closed.
    c.send(
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn unread_body_is_never_parsed_as_a_request() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    let smuggled = b"GET /__test/panic HTTP/1.1\r\nHost: t\r\n\r\n";
    c.send(
        format!(
            "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            smuggled.len()
        )
        .as_bytes(),
    );
    c.send(smuggled);
    c.send(HEALTH);
    let r = c.response();
    assert_eq!(r.status, 405, "{}", r.head);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"ok");
    // Nothing else: the body was thrown away, not answered.
    assert!(c.quiet_for(Duration::from_millis(300)));
    assert!(!s.log().contains("panicked"));
    // A chunked one too.
    let mut c = s.connect();
    c.send(b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(format!("{:x}\r\n", smuggled.len()).as_bytes());
    c.send(smuggled);
    c.send(b"\r\n0\r\n\r\n");
    c.send(HEALTH);
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().body, b"ok");
    assert!(c.quiet_for(Duration::from_millis(300)));
}

#[test]
fn large_unread_body_closes_the_connection() {
    let s = start(&[]);
    let mut c = s.connect();
    let len = 4 * 1024 * 1024;
    c.send(
        format!("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
    );
    let r = c.response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Connection"), Some("close"));
}

// ---- Connections ----------------------------------------------------------------------

#[test]
fn keep_alive_serves_many_requests() {
    let s = start(&[]);
    let mut c = s.connect();
    for _ in 0..20 {
        c.send(HEALTH);
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), None);
    }
}

/// After a read that emptied the socket, the next read waits for readiness instead of trying
/// the socket first (`http::wire`). A request that arrives while the previous answer is being
/// made, or a head that arrives in pieces, must still be read at once: were the readiness
/// event lost (e.g. cleared by the answer's write), the connection would sit until the idle
/// timeout (60 s) and the client's 10 s read timeout fails the test.
#[test]
fn requests_arriving_mid_answer_or_in_pieces_are_read_at_once() {
    let s = start_with_test_routes(&[]);
    let mut c = s.connect();
    for _ in 0..3 {
        c.send(b"GET /__test/sleep?300 HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
        c.send(HEALTH); // arrives while the first request is being answered
        assert_eq!(c.response().status, 200);
        let r = c.response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
    for _ in 0..3 {
        c.send(b"GET /healthz HTTP/1.1\r\n");
        std::thread::sleep(Duration::from_millis(50));
        c.send(b"Host: t\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
}

#[test]
fn connection_close_is_honoured() {
    let s = start(&[]);
    let mut c = s.connect();
    c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
    c.closed_within(Duration::from_secs(5)).unwrap();
}

#[test]
fn http_1_0_semantics() {
    let s = start_with_test_routes(&[]);
    // Closes by default.
    let mut c = s.connect();
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    c.closed_within(Duration::from_secs(5)).unwrap();
    // Keep-alive when asked.
    let mut c = s.connect();
    for _ in 0..3 {
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
    // Transfer-Encoding in HTTP/1.0 is refused.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect_error_and_close(&mut c, 400);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = start_with_test_routes(&[]);
    let body = bytes(3000, 1);
    s.put_torrent("ABCDEF0123456789ABCDEF0123456789ABCDEF01", &body);
    let mut c = s.connect();
    let mut all = Vec::new();
    for i in 0..50 {
        match i % 4 {
            0 => all.extend_from_slice(HEALTH),
            1 => all.extend_from_slice(b"GET /torrent/ABCDEF0123456789ABCDEF0123456789ABCDEF01.torrent HTTP/1.1\r\nHost: t\r\n\r\n"),
            2 => all.extend_from_slice(b"GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n"),
            _ => all.extend_from_slice(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"),
        }
    }
    c.send(&all);
    for i in 0..50 {
        let r = c.response();
        match i % 4 {
            0 => assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..])),
            1 => assert_eq!((r.status, &r.body[..]), (200, &body[..])),
            2 => assert_eq!(r.status, 404),
            _ => assert_eq!((r.status, &r.body[..]), (200, &b"abc"[..])),
        }
    }
}

#[test]
fn pipelining_output_is_bounded() {
    // A client that sends many requests and reads nothing must not make the server buffer
    // without bound: the server stops reading once its socket buffer is full.
    let s = start(&["--write-timeout", "2"]);
    let body = bytes(200_000, 3);
    s.put_torrent("1111111111111111111111111111111111111111", &body);
    let mut c = s.connect();
    c.stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let req = b"GET /1111111111111111111111111111111111111111.torrent HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut sent = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && sent < 20_000 {
        use std::io::Write;
        if c.stream.write_all(req).is_err() {
            break;
        }
        sent += 1;
    }
    // The server is still fine for others, and did not buffer the answers it could not send.
    assert!(s.alive());
    let rss_mb = std::fs::read_to_string(format!("/proc/{}/status", s.child.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap()
        / 1024;
    assert!(sent > 100, "only {sent} requests went out");
    assert!(
        rss_mb < 64,
        "{rss_mb} MB resident after {sent} unread pipelined requests"
    );
}

#[test]
fn head_and_304_and_204_have_no_body() {
    let s = start(&[]);
    let body = bytes(5000, 2);
    s.put_torrent("2222222222222222222222222222222222222222", &body);
    let mut c = s.connect();
    c.send(b"HEAD /torrent/2222222222222222222222222222222222222222.torrent HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("5000"));
    let etag = r.header("ETag").unwrap().to_string();
    // If a body had been sent, this would read its bytes as the next response.
    c.send(format!("GET /torrent/2222222222222222222222222222222222222222.torrent HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes());
    let r = c.response();
    assert_eq!(r.status, 304);
    assert_eq!(r.header("Content-Length"), None);
    c.send(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("2"));
    c.send(HEALTH);
    assert_eq!(c.response().body, b"ok");
    assert!(c.quiet_for(Duration::from_millis(200)));
}

#[test]
fn responses_have_one_content_length_and_a_valid_date() {
    let s = start(&[]);
    let mut c = s.connect();
    c.send(HEALTH);
    let r = c.response();
    assert_eq!(r.count("Content-Length"), 1);
    assert_eq!(r.count("Date"), 1);
    let date = r.header("Date").unwrap();
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    let out = std::process::Command::new("date")
        .args(["-u", "-d", date, "+%s"])
        .output()
        .unwrap();
    let t: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t.abs_diff(now) <= 2, "{date} vs {now}");
}

#[test]
fn handler_panic_costs_one_connection_and_leaks_nothing() {
    let s = start_with_test_routes(&[]);
    // may starts its threads and poller on the first connection: count after one.
    assert!(s.alive());
    std::thread::sleep(Duration::from_millis(200));
    let fds_before = std::fs::read_dir(format!("/proc/{}/fd", s.child.id()))
        .unwrap()
        .count();
    for _ in 0..20 {
        let mut c = s.connect();
        c.send(b"GET /__test/panic HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 500);
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("secret"), "internal text leaked: {text}");
        assert_eq!(r.header("Connection"), Some("close"));
        c.closed_within(Duration::from_secs(5)).unwrap();
    }
    assert!(s.alive());
    std::thread::sleep(Duration::from_millis(200));
    let fds_after = std::fs::read_dir(format!("/proc/{}/fd", s.child.id()))
        .unwrap()
        .count();
    assert!(fds_after <= fds_before + 1, "{fds_before} -> {fds_after}");
    assert!(s.log().contains("panicked"), "the panic is logged");
}

// ---- Timeouts -------------------------------------------------------------------------

#[test]
fn slow_head_times_out() {
    let s = start(&["--head-timeout", "0.5"]);
    let mut c = s.connect();
    let t = Instant::now();
    c.send(b"GET /healthz HTTP/1.1\r\nHo");
    let r = c.response();
    assert_eq!(r.status, 408);
    c.closed_within(Duration::from_secs(5)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Dribbling bytes does not extend it.
    let mut c = s.connect();
    let t = Instant::now();
    c.send(b"GET /healthz HTTP/1.1\r\n");
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        c.send_lossy(b"X: y\r\n");
    }
    assert!(t.elapsed() < Duration::from_secs(4));
    let r = c.try_response(false);
    assert!(matches!(r, Ok(ref r) if r.status == 408), "{r:?}");
}

#[test]
fn idle_connection_times_out() {
    let s = start(&["--idle-timeout", "0.5"]);
    let mut c = s.connect();
    c.send(HEALTH);
    assert_eq!(c.response().status, 200);
    let t = Instant::now();
    c.closed_within(Duration::from_secs(5)).unwrap();
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(400) && e < Duration::from_secs(3),
        "{e:?}"
    );
}

#[test]
fn slow_body_sender_is_cut() {
    let s = start_with_test_routes(&["--body-grace", "0.5", "--body-min-rate", "100"]);
    let mut c = s.connect();
    let t = Instant::now();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789");
    let r = c.response();
    assert_eq!(r.status, 408);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // A sender above the floor is fine.
    let mut c = s.connect();
    c.send(b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 400\r\n\r\n");
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(200));
        c.send(&[b'z'; 100]);
    }
    assert_eq!(c.response().body.len(), 400);
}

// ---- Listening and process life -------------------------------------------------------

#[test]
fn second_instance_on_the_same_port_fails_loudly() {
    let s = start(&[]);
    let addr = s.addr.to_string();
    let data = temp_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_thetorrent"))
        .args(["serve", "--data"])
        .arg(data.path())
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("in use"), "{err}");
    assert!(s.alive());
}

#[test]
fn ipv6_listen() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("this machine has no IPv6 loopback; the test needs one");
    }
    let s = start(&["--listen", "[::1]:0"]);
    assert!(s.addr.is_ipv6());
    assert!(s.alive());
}

#[test]
fn sigterm_exits_0_after_requests_in_flight() {
    let mut s = start_with_test_routes(&[]);
    let mut idle = s.connect();
    idle.send(HEALTH);
    assert_eq!(idle.response().status, 200);
    let mut busy = s.connect();
    busy.send(b"GET /__test/sleep?700 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let pid = s.child.id();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    // The request in flight is finished, with Connection: close.
    let r = busy.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"slept\n");
    assert_eq!(r.header("Connection"), Some("close"));
    // The idle connection is closed.
    idle.closed_within(Duration::from_secs(5)).unwrap();
    let status = s.wait(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(t.elapsed() < Duration::from_secs(5));
    // No longer listening.
    assert!(std::net::TcpStream::connect(s.addr).is_err());
}

#[test]
fn connection_cap_pauses_accepting() {
    let s = start_with_test_routes(&["--max-connections", "2"]);
    let mut a = s.connect();
    let mut b = s.connect();
    a.send(b"GET /__test/sleep?1000 HTTP/1.1\r\nHost: t\r\n\r\n");
    b.send(b"GET /__test/sleep?1500 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Both busy: the third waits in the kernel's backlog...
    std::thread::sleep(Duration::from_millis(100));
    let mut c = s.connect();
    c.send(HEALTH);
    assert!(c.quiet_for(Duration::from_millis(500)));
    // ...until a slot frees: a finished request leaves `a` idle, and an idle connection is
    // closed to make room for a waiting client.
    assert_eq!(a.response().status, 200);
    let r = c.response();
    assert_eq!(r.status, 200);
    a.closed_within(Duration::from_secs(5)).unwrap();
    assert_eq!(b.response().status, 200);
    assert!(s.log().contains("cap"));
}

#[test]
fn absolute_form_and_query_targets() {
    let s = start(&[]);
    let mut c = s.connect();
    c.send(b"GET http://example.org/healthz HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(c.response().body, b"ok");
    c.send(b"GET /healthz?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().body, b"ok");
    c.send(b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().body, b"ok");
}

#[test]
fn systemd_socket_activation() {
    let tool = std::process::Command::new("sh")
        .args(["-c", "command -v systemd-socket-activate"])
        .output()
        .unwrap();
    assert!(
        tool.status.success(),
        "systemd-socket-activate is missing: run tests/setup.sh"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = temp_dir();
    let mut child = std::process::Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}")])
        .arg(env!("CARGO_BIN_EXE_thetorrent"))
        .args(["serve", "--data"])
        .arg(data.path())
        // Would conflict if it were used: socket activation must take precedence.
        .args(["--listen", "127.0.0.1:1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ok = false;
    while Instant::now() < deadline && !ok {
        if std::net::TcpStream::connect(addr).is_ok() {
            let mut c = Client::connect(addr);
            c.send(HEALTH);
            ok = matches!(c.try_response(false), Ok(r) if r.status == 200);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(ok, "{err}");
    assert!(err.contains("socket activation"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn random_input_never_crashes_or_desynchronises() {
    let s = start_with_test_routes(&["--head-timeout", "1", "--body-grace", "1"]);
    let prefixes: [&[u8]; 6] = [
        b"",
        b"GET / HTTP/1.1\r\nHost: t\r\n",
        b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /__test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n",
        b"GET /torrent/",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nRange: bytes=",
    ];
    for i in 0..300u64 {
        let mut c = s.connect();
        let mut input = prefixes[(i % 6) as usize].to_vec();
        let mut noise = bytes((i as usize * 37) % 3000 + 1, i + 1);
        if i % 3 == 0 {
            // Mostly printable, with line breaks, to get past the first checks.
            for b in noise.iter_mut() {
                *b = match *b % 16 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b':',
                    _ => b' ' + (*b % 90),
                };
            }
        }
        input.extend_from_slice(&noise);
        input.extend_from_slice(b"\r\n\r\n");
        c.send_lossy(&input);
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        // Whatever comes back must be well-formed HTTP responses, then the end.
        c.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while let Ok(r) = c.try_response(false) {
            assert!((100..600).contains(&r.status), "{}", r.head);
        }
    }
    assert!(s.alive());
    assert!(!s.log().contains("panicked"), "{}", s.log());
}
