//! Upload rate limiting, the access log, blocked torrents and the pages' statuses, against the
//! real binary.

mod common;
use common::*;

const DEBIAN: &str =
    "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent";
const DEBIAN_V1: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";

fn post_raw(s: &Server, path: &str, body: &[u8]) -> Resp {
    s.post(path, "application/x-bittorrent", body)
}

/// `GET path` for example.org, by a user agent whose name has quotes (the access log
/// escapes them).
fn get(s: &Server, path: &str) -> Resp {
    let head = format!("GET {path} HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t \"q\"\r\n\r\n");
    s.request(&head, b"")
}

#[test]
fn uploads_are_rate_limited_with_retry_after() {
    let s = start(&[
        "--upload-rate",
        "0.5",
        "--upload-burst",
        "2",
        "--rate-limit-loopback",
    ]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    for _ in 0..2 {
        let r = post_raw(&s, "/api/upload", &bytes);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = post_raw(&s, "/api/upload", &bytes);
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    assert_eq!(r.header("X-Thetorrent-Result"), Some("failed"));
    // Downloads are not limited.
    for _ in 0..5 {
        assert_eq!(
            get(&s, &format!("/torrent/{DEBIAN_V1}.torrent")).status,
            200
        );
    }
}

/// The limit counts files: one multipart request of five files with a burst of two stores
/// two, and answers the other three 429 (each with its own line), with `Retry-After`.
#[test]
fn rate_limit_counts_files_not_requests() {
    let s = start(&[
        "--upload-rate",
        "0.01",
        "--upload-burst",
        "2",
        "--rate-limit-loopback",
    ]);
    let torrents: Vec<Vec<u8>> = (0..5).map(|n| sized_torrent(n, 1)).collect();
    let files: Vec<(String, &[u8])> = torrents
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.torrent"), t.as_slice()))
        .collect();
    let named: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let body = multipart(&named);
    let mut c = s.connect();
    c.send(
        format!(
            "POST /api/upload HTTP/1.1\r\nHost: x\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.response();
    let results: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("X-Thetorrent-Result"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        results,
        ["stored", "stored", "failed", "failed", "failed"],
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").unwrap().parse::<u64>().unwrap() >= 1);
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(
        text.matches("too many uploads from your address").count(),
        3,
        "{text}"
    );
    let stats = String::from_utf8(get(&s, "/api/stats").body).unwrap();
    assert!(stats.contains("\"count\":2"), "{stats}");
}

/// A torrent's page is computed once: later requests are answered from the cache (the
/// counters in /api/stats say so), and the page is the same.
#[test]
fn torrent_pages_are_computed_once() {
    let s = start(&[]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    assert_eq!(post_raw(&s, "/api/upload", &bytes).status, 200);
    let counter = |name: &str| -> u64 {
        let body = String::from_utf8(get(&s, "/api/stats").body).unwrap();
        let at = body
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("{name} in {body}"));
        body[at + name.len() + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    assert_eq!(counter("info_facts_computed"), 0);
    let first = get(&s, &format!("/info/{DEBIAN_V1}"));
    assert_eq!(first.status, 200);
    for _ in 0..5 {
        let again = get(&s, &format!("/info/{}", DEBIAN_V1.to_lowercase()));
        assert_eq!(again.status, 200);
        assert!(again.body == first.body);
    }
    assert_eq!(counter("info_facts_computed"), 1);
    assert_eq!(counter("info_facts_hits"), 5);
    // A missing torrent is not computed, nor cached.
    assert_eq!(get(&s, &format!("/info/{}", "AB".repeat(20))).status, 404);
    assert_eq!(counter("info_facts_computed"), 1);
}

#[test]
fn loopback_is_not_limited_by_default() {
    let s = start(&["--upload-rate", "0.001", "--upload-burst", "1"]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    for _ in 0..5 {
        assert_eq!(post_raw(&s, "/api/upload", &bytes).status, 200);
    }
}

#[test]
fn access_log_has_combined_format_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let s = start(&["--access-log", log.to_str().unwrap()]);
    assert_eq!(get(&s, "/nope").status, 404);
    assert_eq!(get(&s, "/healthz").status, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].ends_with("\"GET /nope HTTP/1.1\" 404 ")
            || lines[0].contains("\"GET /nope HTTP/1.1\" 404 "),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with(" \"-\" \"t \\\"q\\\"\""), "{}", lines[1]);
}

#[test]
fn pages_answer_honest_statuses() {
    let s = start(&[]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    assert_eq!(post_raw(&s, "/api/upload", &bytes).status, 200);
    let front = get(&s, "/");
    assert_eq!(front.status, 200);
    assert!(
        String::from_utf8_lossy(&front.body).contains("There is <strong>1</strong> stored torrent")
    );
    assert_eq!(get(&s, "/no/such/page").status, 404);
    assert_eq!(
        get(&s, "/info/0000000000000000000000000000000000000000").status,
        404
    );
    assert_eq!(get(&s, "/info/xyz").status, 400);
    let info = get(&s, &format!("/info/{}", DEBIAN_V1.to_lowercase()));
    assert_eq!(info.status, 200);
    assert!(String::from_utf8_lossy(&info.body).contains("debian-9.4.0-amd64-netinst.iso"));
    let m = get(&s, &format!("/magnet?xt=urn:btih:{DEBIAN_V1}&dn=x"));
    assert_eq!(m.status, 302);
    assert_eq!(
        m.header("Location"),
        Some(&*format!("/torrent/{DEBIAN_V1}.torrent"))
    );
    assert_eq!(
        get(
            &s,
            "/magnet?xt=urn:btih:0000000000000000000000000000000000000000"
        )
        .status,
        404
    );
    let l = get(
        &s,
        &format!("/lookup?q=magnet%3A%3Fxt%3Durn%3Abtih%3A{DEBIAN_V1}"),
    );
    assert_eq!(l.status, 302);
    assert_eq!(l.header("Location"), Some(&*format!("/info/{DEBIAN_V1}")));
    let w = get(&s, "/api/thetorrent.wsdl");
    assert_eq!(w.status, 200);
    assert!(String::from_utf8_lossy(&w.body).contains("location=\"http://example.org/api/soap\""));
    // Sync feed: the day list holds the hash.
    let idx = get(&s, "/sync/");
    assert_eq!(idx.status, 200);
    let idx = String::from_utf8_lossy(&idx.body).into_owned();
    // The first link to a day list (the page also links the stylesheet and the icon).
    let day = idx
        .split("href=\"")
        .find(|h| h.len() > 12 && &h[8..12] == ".txt")
        .unwrap()[..8]
        .to_string();
    let list = get(&s, &format!("/sync/{day}.txt"));
    assert_eq!(list.status, 200);
    assert_eq!(list.body, format!("{DEBIAN_V1}\n").into_bytes());
    assert_eq!(get(&s, "/sync/19990101.txt").status, 404);
    assert_eq!(get(&s, "/sync/../blocklist.tsv").status, 404);
    let stats = get(&s, "/api/stats");
    let bytes_stored = std::fs::metadata(corpus_file(DEBIAN)).unwrap().len();
    assert!(
        String::from_utf8_lossy(&stats.body)
            .starts_with(&format!("{{\"count\":1,\"bytes\":{bytes_stored},")),
        "{}",
        String::from_utf8_lossy(&stats.body)
    );
    let metrics = String::from_utf8_lossy(&get(&s, "/metrics").body).into_owned();
    assert!(
        metrics.contains("thetorrent_stored_torrents 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("thetorrent_uploads_total{result=\"stored\"} 1\n"),
        "{metrics}"
    );
}

#[test]
fn blocked_torrent_answers_451_everywhere() {
    let s = start(&[]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    assert_eq!(post_raw(&s, "/api/upload", &bytes).status, 200);
    let o = run(
        s.data.path(),
        &["block", DEBIAN_V1, "--reason", "court order 7"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The server picks the blocklist up within its reload interval.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let d = get(&s, &format!("/torrent/{DEBIAN_V1}.torrent"));
    assert_eq!(d.status, 451);
    assert!(String::from_utf8_lossy(&d.body).contains("court order 7"));
    assert_eq!(get(&s, &format!("/info/{DEBIAN_V1}")).status, 451);
    let r = post_raw(&s, "/api/upload", &bytes);
    assert_eq!(r.status, 451);
    assert!(r
        .header("X-Thetorrent-Error")
        .unwrap()
        .contains("blocked: court order 7"));
}

/// Under steady traffic (every download checks whether the blocklist is due for a reload), a
/// takedown by another process is seen within the reload interval (1 s) of its writing, not
/// an interval later: a due check is never skipped.
#[test]
fn a_block_is_seen_within_the_reload_interval_under_traffic() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let s = Arc::new(start(&[]));
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    assert_eq!(post_raw(&s, "/api/upload", &bytes).status, 200);
    let blocked_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (s, blocked_at, stop) = (s.clone(), blocked_at.clone(), stop.clone());
        std::thread::spawn(move || {
            let path = format!("/torrent/{DEBIAN_V1}.torrent");
            let mut c = s.connect();
            while !stop.load(Ordering::SeqCst) {
                c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
                let status = c.response().status;
                if status == 451 {
                    // (Seen before the command returned: at once.)
                    let at = *blocked_at.lock().unwrap();
                    return Some(at.map_or(Duration::ZERO, |t| t.elapsed()));
                }
                assert_eq!(status, 200);
            }
            None
        })
    };
    // Two reload intervals of traffic first, so the server's checks run on their own rhythm.
    std::thread::sleep(Duration::from_millis(2300));
    let o = run(s.data.path(), &["block", DEBIAN_V1, "--reason", "steady"]);
    assert!(o.status.success(), "{}", stderr(&o));
    *blocked_at.lock().unwrap() = Some(Instant::now());
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::SeqCst);
    let took = traffic.join().unwrap().expect("the block was never seen");
    assert!(
        took < Duration::from_millis(1400),
        "the block took {took:?} to be seen (reload interval 1 s)"
    );
}

/// A body over the limit is answered in the upload route's own format: the X-Thetorrent
/// headers (and Torrage's), a SOAP Fault, whether the length was declared or found while
/// reading chunks; nothing is stored.
#[test]
fn refused_upload_bodies_answer_in_the_routes_format() {
    let s = start(&["--max-body-bytes", "100000"]);
    let declared = |path: &str, ct: &str| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n\
             Content-Length: 200000\r\n\r\n"
        );
        s.request(&head, b"")
    };
    let r = declared("/api/upload", "application/x-bittorrent");
    assert_eq!(r.status, 413);
    assert_eq!(r.header("X-Thetorrent-Result"), Some("failed"));
    let e = r.header("X-Thetorrent-Error").unwrap();
    assert!(e.contains("too large (limit 100000 bytes)"), "{e}");
    let r = declared("/autoupload.php", "application/x-bittorrent");
    assert_eq!(r.status, 413);
    assert!(r
        .header("X-Torrage-Error-Msg")
        .unwrap()
        .contains("too large"));
    let r = declared("/api/soap", "text/xml");
    assert_eq!(r.status, 413, "the body error's status, with a Fault");
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains("<faultcode>soap:Client</faultcode>"),
        "{body}"
    );
    assert!(body.contains("too large"), "{body}");
    // Found while reading a chunked body.
    let mut c = s.connect();
    c.send(
        b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-bittorrent\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    );
    let chunk = vec![b'a'; 50_000];
    for _ in 0..3 {
        c.send_lossy(format!("{:x}\r\n", chunk.len()).as_bytes());
        c.send_lossy(&chunk);
        c.send_lossy(b"\r\n");
    }
    let r = c.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("X-Thetorrent-Result"), Some("failed"));
    // Other routes keep the plain page.
    let r = declared("/healthz", "application/octet-stream");
    assert_eq!(r.status, 413);
    assert_eq!(r.header("X-Thetorrent-Result"), None);
    // Counted as failed uploads, nothing stored.
    assert_eq!(s.stat("count"), 0);
    assert_eq!(s.stat("failed"), 4);
}

fn head(s: &Server, method: &str, path: &str) -> Resp {
    let mut c = s.connect();
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: example.org\r\n\r\n").as_bytes());
    c.try_response(method == "HEAD").expect("answer")
}

#[test]
fn pages_say_what_to_do() {
    let s = start(&[]);
    let bytes = std::fs::read(corpus_file(DEBIAN)).unwrap();
    let r = post_raw(&s, "/api/upload", &bytes);
    assert_eq!(r.header("X-Thetorrent-Stored"), Some("new"));
    let r = post_raw(&s, "/api/upload", &bytes);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Thetorrent-Result"), Some("stored"));
    assert_eq!(r.header("X-Thetorrent-Stored"), Some("already"));

    // Downloads are saved under the torrent's name; the hash is the ASCII fallback.
    for method in ["GET", "HEAD"] {
        let r = head(&s, method, &format!("/torrent/{DEBIAN_V1}.torrent"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Content-Disposition"),
            Some(&*format!(
                "attachment; filename=\"{DEBIAN_V1}.torrent\"; \
                 filename*=UTF-8''debian-9.4.0-amd64-netinst.iso.torrent"
            )),
            "{method}"
        );
    }

    // Without `.torrent`: redirected to the file; not a hash: a 404 page.
    let r = get(&s, &format!("/torrent/{}", DEBIAN_V1.to_lowercase()));
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some(&*format!("/torrent/{DEBIAN_V1}.torrent"))
    );
    let r = get(&s, "/torrent/not-a-hash");
    assert_eq!(r.status, 404);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));

    // A browser opening an upload address: a page that says how to upload (405, Allow: POST).
    for path in ["/api/upload", "/upload", "/autoupload.php", "/api/soap"] {
        let r = get(&s, path);
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("Allow"), Some("POST"), "{path}");
        assert!(
            r.header("Content-Type").unwrap().starts_with("text/html"),
            "{path}"
        );
        let page = String::from_utf8_lossy(&r.body);
        assert!(
            page.contains("This address takes uploads"),
            "{path}: {page}"
        );
        if path == "/api/soap" {
            assert!(page.contains("/api/thetorrent.wsdl"), "{page}");
        } else {
            assert!(page.contains("<a class=\"button\" href=\"/\">Upload with the form</a>"));
            assert!(page.contains(&format!(
                "curl -F torrent=@file.torrent http://example.org{path}"
            )));
        }
        let r = head(&s, "HEAD", path);
        assert_eq!(r.status, 405, "HEAD {path}");
    }

    // The lookup box keeps what was typed and says what it takes.
    let r = get(&s, "/lookup?q=debian+12+%3Cnetinst%3E");
    assert_eq!(r.status, 400);
    let page = String::from_utf8_lossy(&r.body);
    assert!(
        page.contains("value=\"debian 12 &lt;netinst&gt;\""),
        "{page}"
    );
    assert!(page.contains("The box takes 40 hex digits"), "{page}");

    // The torrent's page: when it was stored here, its piece size.
    let page = String::from_utf8_lossy(&get(&s, &format!("/info/{DEBIAN_V1}")).body).into_owned();
    assert!(
        page.contains("<dt>Stored here</dt><dd><time datetime=\""),
        "{page}"
    );
    assert!(
        page.contains("<dt>Piece size</dt><dd>256 KiB <span class=\"muted\">(262,144 bytes)"),
        "{page}"
    );

    // /sync/ in the site's layout, its numbers labelled, the takedowns feed linked.
    let page = String::from_utf8_lossy(&get(&s, "/sync/").body).into_owned();
    assert!(page.contains("<header class=\"site\">"), "{page}");
    assert!(page.contains("Torrents stored"), "{page}");
    assert!(page.contains("1 torrent in 1 day list."), "{page}");
    assert!(page.contains("<a href=\"takedowns.txt\">"), "{page}");
    let feed = get(&s, "/sync/takedowns.txt");
    assert_eq!(feed.status, 200);
    assert!(feed.body.is_empty());
}
