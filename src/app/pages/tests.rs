//! Tests of the pages as a whole: structure, escaping of hostile data, size limits.

use super::*;
use crate::torrent::{FileEntry, Summary};

const BASE: &str = "https://t.example";
const V1: [u8; 20] = [
    0x74, 0x31, 0xA9, 0x69, 0xB3, 0x47, 0xE1, 0x4B, 0xBA, 0x64, 0x1B, 0x35, 0x17, 0xC0, 0x24, 0xF7,
    0xB4, 0x0D, 0xFB, 0x7F,
];
const V1_HEX: &str = "7431A969B347E14BBA641B3517C024F7B40DFB7F";
const V2: [u8; 32] = [
    0x59, 0x7B, 0x18, 0x0C, 0x1A, 0x17, 0x0A, 0x58, 0x5D, 0xFC, 0x5E, 0x85, 0xD8, 0x34, 0xD6, 0x90,
    0x13, 0xCE, 0xDA, 0x17, 0x4B, 0x8F, 0x35, 0x7D, 0x5B, 0xB1, 0xA0, 0xCA, 0x50, 0x9F, 0xAF, 0x0A,
];
const V2_HEX: &str = "597B180C1A170A585DFC5E85D834D69013CEDA174B8F357D5BB1A0CA509FAF0A";

const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;";

/// Elements pages may contain; anything else is injected markup.
const ALLOWED: &[&str] = &[
    "!doctype", "html", "head", "meta", "title", "link", "script", "body", "a", "header", "nav",
    "ul", "ol", "li", "main", "footer", "div", "p", "h1", "h2", "h3", "section", "form", "label",
    "input", "span", "button", "code", "pre", "strong", "dl", "dt", "dd", "table", "thead",
    "tbody", "tr", "th", "td", "time", "wbr",
];
const VOID: &[&str] = &["!doctype", "meta", "link", "input", "wbr"];

/// Checks that every tag is allowed, has no event handler or `javascript:` in it, that the
/// only script is `/app.js`, and that elements nest properly.
fn check_markup(page: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(ALLOWED.contains(&name.as_str()), "tag <{tag}> in page");
        let lower = tag.to_ascii_lowercase();
        assert!(!lower.contains("javascript:"), "<{tag}>");
        // Attribute names (outside quoted values) are never event handlers.
        let outside: String = lower.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        assert!(
            !outside.split_whitespace().any(|w| w.starts_with("on")),
            "event handler in <{tag}>"
        );
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if name == "script" && !closing {
            assert_eq!(tag, "script src=\"/app.js\" defer");
        }
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if closing {
            assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "</{name}>");
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    for landmark in [
        "<main id=\"main\"",
        "<header",
        "<footer",
        "<nav",
        "<html lang=\"en\">",
    ] {
        assert!(page.contains(landmark), "{landmark}");
    }
    assert!(page.contains("<meta name=\"viewport\""));
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("{{"), "unfilled placeholder");
    // Every input has a label.
    for (i, _) in page.match_indices("<input ") {
        let tag = &page[i..i + page[i..].find('>').unwrap()];
        let id = tag
            .split("id=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            page.contains(&format!("<label for=\"{id}\">")),
            "no label for {id}"
        );
    }
}

fn check_size(page: &str) {
    assert!(page.len() < PAGE_LIMIT, "page is {} bytes", page.len());
}

fn summary(files: usize, name_len: usize) -> Summary {
    Summary {
        name: "n".repeat(name_len),
        total_size: 1_610_612_736,
        files: (0..files)
            .map(|i| FileEntry {
                path: format!("folder/{}{i}.mkv", "f".repeat(name_len)),
                size: 1 << 20,
            })
            .collect(),
        trackers: vec![
            "udp://tracker.opentrackr.org:1337/announce".into(),
            "http://bttracker.debian.org:6969/announce".into(),
        ],
        private: false,
        creation_date: Some(1_614_834_367),
        created_by: Some("mktorrent 1.1".into()),
        comment: Some("a comment".into()),
        file_count: files,
        piece_length: Some(1 << 20),
        web_seeds: vec!["https://mirror.example.org/pub/files/".into()],
    }
}

fn hostile_summary(files: usize) -> Summary {
    Summary {
        name: HOSTILE.into(),
        total_size: 3,
        files: (0..files)
            .map(|i| FileEntry {
                path: format!("{HOSTILE}/{i}{HOSTILE}"),
                size: 1,
            })
            .collect(),
        trackers: vec![
            format!("javascript:alert(1)//{HOSTILE}"),
            format!("udp://x/{HOSTILE}"),
        ],
        private: true,
        creation_date: Some(-1),
        created_by: Some(HOSTILE.into()),
        comment: Some(HOSTILE.into()),
        file_count: files,
        piece_length: Some(1 << 20),
        web_seeds: vec![format!("https://x/{HOSTILE}")],
    }
}

fn all_pages(s: &Summary, base: &str, text: &str) -> Vec<(&'static str, String)> {
    let results = vec![
        UploadResult {
            filename: text.into(),
            outcome: Ok(V1_HEX.into()),
            already: false,
        },
        UploadResult {
            filename: text.into(),
            outcome: Err(text.into()),
            already: false,
        },
        UploadResult {
            filename: text.into(),
            outcome: Ok(text.into()),
            already: true,
        },
    ];
    vec![
        ("index", index(1_234_567, base)),
        ("api", api(base)),
        (
            "info v1",
            info(s, Some(&V1), None, Some(1_700_000_000), base),
        ),
        ("info hybrid", info(s, Some(&V1), Some(&V2), None, base)),
        ("info v2", info(s, None, Some(&V2), None, base)),
        ("info none", info(s, None, None, None, base)),
        ("lookup error", lookup_error(text)),
        ("post only", post_only("/api/upload", false, base)),
        ("post only soap", post_only("/api/soap", true, base)),
        (
            "sync",
            sync_index(
                &[SyncDay {
                    day: "20261126".into(),
                    count: 3,
                }],
                2,
                base,
            ),
        ),
        ("upload", upload_result(&results)),
        ("upload none", upload_result(&[])),
        ("404", not_found(text)),
        ("451", blocked(text)),
        ("400", bad_request(text)),
    ]
}

#[test]
fn hostile_text_is_shown_not_run() {
    let s = hostile_summary(3);
    for (name, page) in all_pages(&s, &format!("https://h.example/{HOSTILE}"), HOSTILE) {
        check_markup(&page);
        check_size(&page);
        assert!(!page.contains("<script>"), "{name}");
        assert!(!page.contains("<img"), "{name}");
        assert!(!page.contains("\"'>"), "{name}");
        if name.starts_with("info")
            || name == "upload"
            || ["404", "451", "400", "lookup error"].contains(&name)
        {
            assert!(
                page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img"),
                "{name} does not show the name"
            );
        }
    }
}

#[test]
fn pages_are_well_formed_and_small() {
    for s in [summary(1, 10), summary(100, 10), summary(0, 0)] {
        for (name, page) in all_pages(&s, BASE, "plain text") {
            check_markup(&page);
            check_size(&page);
            assert!(page.contains("<title>"), "{name}");
        }
    }
}

#[test]
fn big_torrents_stay_under_the_limit() {
    // 100 files with long names, 10,000 files, and everything at its worst at once.
    let mut cases = vec![summary(100, 250), summary(10_000, 40), summary(100, 5_000)];
    let worst = |c: &str| Summary {
        name: c.repeat(10_000),
        total_size: u64::MAX,
        files: (0..5_000)
            .map(|_| FileEntry {
                path: c.repeat(1_000),
                size: u64::MAX,
            })
            .collect(),
        trackers: (0..1_000).map(|_| c.repeat(150)).collect(),
        private: true,
        creation_date: Some(i64::MAX),
        created_by: Some(c.repeat(10_000)),
        comment: Some(c.repeat(100_000)),
        file_count: 5_000,
        piece_length: Some(u64::MAX),
        web_seeds: (0..1_000).map(|_| c.repeat(150)).collect(),
    };
    cases.push(worst("\""));
    cases.push(worst("\u{10348}")); // 4 bytes of UTF-8, 12 when percent-encoded
    cases.push(worst("<"));
    for s in &cases {
        for page in [
            info(s, Some(&V1), Some(&V2), None, BASE),
            info(s, Some(&V1), None, None, BASE),
            info(s, None, Some(&V2), None, BASE),
        ] {
            check_size(&page);
            check_markup(&page);
        }
    }
    // 100 files of 250 characters: all but a few listed, and the rest counted.
    let page = info(&cases[0], Some(&V1), None, None, BASE);
    let listed = page.matches("<tr><td>").count();
    assert!(listed >= 50, "{listed}");
    if listed < 100 {
        assert!(page.contains(&format!("and {} more files", 100 - listed)));
    }
    let page = info(&cases[1], Some(&V1), None, None, BASE);
    assert_eq!(page.matches("<tr><td>").count(), MAX_FILES_SHOWN);
    assert!(page.contains("and 9,900 more files"));
    assert!(page.contains("<dt>Files</dt><dd>10,000</dd>"));
    // Error pages with absurd input; the API and front pages with a long public URL.
    let long = "x".repeat(1 << 20);
    for page in [not_found(&long), blocked(&long), bad_request(&long)] {
        check_size(&page);
    }
    let long_base = format!("https://{}.example:65535/some/prefix", "h".repeat(120));
    check_size(&api(&long_base));
    check_size(&index(u64::MAX, &long_base));
    // 100 uploaded files with long names.
    let results: Vec<UploadResult> = (0..100)
        .map(|i| UploadResult {
            filename: format!("{}{i}.torrent", "a".repeat(200)),
            outcome: if i % 2 == 0 {
                Ok(V1_HEX.into())
            } else {
                Err("not a torrent file: no info dictionary".into())
            },
            already: i % 4 == 0,
        })
        .collect();
    check_size(&upload_result(&results));
}

#[test]
fn front_page() {
    let p = index(1_234_567, "https://t.example/");
    check_markup(&p);
    assert!(p.contains("There are <strong>1,234,567</strong> stored torrents."));
    assert!(index(1, BASE).contains("There is <strong>1</strong> stored torrent."));
    assert!(index(0, BASE).contains("There are <strong>0</strong> stored torrents."));
    assert!(p.contains(
        "<form id=\"upload\" class=\"upload\" method=\"post\" action=\"/upload\" \
         enctype=\"multipart/form-data\">"
    ));
    assert!(p.contains(
        "<input type=\"file\" id=\"torrent\" name=\"torrent\" multiple \
         accept=\".torrent,application/x-bittorrent\""
    ));
    assert!(p.contains("<form class=\"lookup\" method=\"get\" action=\"/lookup\""));
    assert!(p.contains("name=\"q\""));
    assert!(p.contains("href=\"/api\""));
    assert!(p.contains("<script src=\"/app.js\" defer></script>"));
    assert!(p.contains("https://t.example/api/upload"));
    assert!(!p.contains("https://t.example//"));
    assert!(p.contains("id=\"results\""));
    assert!(p.contains("id=\"count-line\""));
}

#[test]
fn upload_result_page() {
    let p = upload_result(&[
        UploadResult {
            filename: "a.torrent".into(),
            outcome: Ok(V1_HEX.to_lowercase()),
            already: false,
        },
        UploadResult {
            filename: "b.torrent".into(),
            outcome: Ok(V1_HEX.into()),
            already: true,
        },
        UploadResult {
            filename: "c.txt".into(),
            outcome: Err("not a torrent file: no info dictionary".into()),
            already: false,
        },
        UploadResult {
            filename: String::new(),
            outcome: Err("torrent too large: 12582912 bytes (limit 10485760)".into()),
            already: false,
        },
    ]);
    check_markup(&p);
    assert!(p.contains("2 stored, 2 failed."));
    let link = format!("<a href=\"/info/{V1_HEX}\"><code class=\"hash\">{V1_HEX}</code></a>");
    assert_eq!(p.matches(&link).count(), 2);
    assert!(p.contains("<span class=\"status\">stored</span>"));
    assert!(p.contains("<span class=\"status\">already stored</span>"));
    assert!(p.contains("not a torrent file: no info dictionary"));
    assert!(p.contains("(no name)"));
    assert!(p.contains("href=\"/\""));
    assert!(upload_result(&[]).contains("No file was received."));
}

#[test]
fn torrent_page() {
    let mut s = summary(3, 5);
    s.name = "Debian & friends <12>".into();
    s.private = true;
    s.comment = Some("line one\nline two".into());
    let p = info(&s, Some(&V1), Some(&V2), None, BASE);
    check_markup(&p);
    assert!(p.contains("<h1 class=\"tname\">Debian &amp; friends &lt;12&gt;</h1>"));
    assert!(p.contains("<title>Debian &amp; friends &lt;12&gt; · thetorrent</title>"));
    assert!(p.contains("1.5 GiB <span class=\"muted\">(1,610,612,736 bytes)</span>"));
    assert!(p.contains("<dt>Files</dt><dd>3</dd>"));
    assert!(p.contains(&format!(
        "<dt>Info hash v1</dt><dd><code class=\"hash\">{V1_HEX}</code>"
    )));
    assert!(p.contains(&format!(
        "<dt>Info hash v2</dt><dd><code class=\"hash\">{V2_HEX}</code>"
    )));
    assert!(p.contains("<dt>Private</dt><dd>yes"));
    assert!(p.contains("<time datetime=\"2021-03-04T05:06:07Z\">2021-03-04 05:06:07 UTC</time>"));
    assert!(p.contains("<dt>Created by</dt><dd>mktorrent 1.1</dd>"));
    assert!(p.contains("line one\nline two"));
    assert!(p.contains(
        "<li><code class=\"url\">udp://<wbr>tracker.<wbr>opentrackr.<wbr>org:1337/<wbr>announce\
         </code></li>"
    ));
    assert!(p.contains("<tr><td>folder/fffff0.mkv</td><td class=\"num\">1.0 MiB</td></tr>"));
    assert!(p.contains(&format!("href=\"/torrent/{V1_HEX}.torrent\" download>")));
    assert!(p.contains(&format!(
        "https://<wbr>t.<wbr>example/<wbr>torrent/<wbr>{V1_HEX}.<wbr>torrent"
    )));
    // The magnet link, escaped in the attribute and in the text.
    let magnet = magnet_link(&s, Some(&V1), Some(&V2));
    assert_eq!(
        magnet,
        format!(
            "magnet:?xt=urn:btih:{V1_HEX}&xt=urn:btmh:1220{V2_HEX}\
             &dn=Debian%20%26%20friends%20%3C12%3E\
             &tr=udp%3A%2F%2Ftracker.opentrackr.org%3A1337%2Fannounce\
             &tr=http%3A%2F%2Fbttracker.debian.org%3A6969%2Fannounce"
        )
    );
    let escaped = magnet.replace('&', "&amp;");
    assert!(p.contains(&format!("href=\"{escaped}\"")));
    let shown = p
        .split("<code class=\"magnet url\">")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .expect("magnet code");
    assert_eq!(shown.replace("<wbr>", ""), escaped);
    assert!(shown.contains("&amp;<wbr>xt=<wbr>urn"), "{shown}");
    assert!(!p.contains("&dn"));
    assert_eq!(lookup_target(&magnet), Some(crate::torrent::hash::Key(V1)));

    // v1 only: one hash, no btmh; no optional fields.
    let mut s = summary(1, 5);
    s.creation_date = None;
    s.created_by = None;
    s.comment = None;
    s.trackers.clear();
    s.private = false;
    let p = info(&s, Some(&V1), None, None, BASE);
    check_markup(&p);
    assert!(p.contains(&format!(
        "<dt>Info hash</dt><dd><code class=\"hash\">{V1_HEX}</code>"
    )));
    assert!(!p.contains("btmh"));
    assert!(!p.contains("<dt>Created"));
    assert!(!p.contains("<dt>Comment"));
    assert!(p.contains("<dt>Private</dt><dd>no</dd>"));
    assert!(p.contains("None: peers are found through the DHT."));
    assert!(!p.contains("(listed in the .torrent file)"));

    // v2 only: the key is the truncated v2 hash, the magnet has only btmh.
    let p = info(&s, None, Some(&V2), None, BASE);
    check_markup(&p);
    assert!(p.contains(&format!("/torrent/{}.torrent", &V2_HEX[..40])));
    let magnet = magnet_link(&s, None, Some(&V2));
    assert_eq!(magnet, format!("magnet:?xt=urn:btmh:1220{V2_HEX}&dn=nnnnn"));
    assert_eq!(
        lookup_target(&magnet),
        Some(crate::torrent::hash::Key::from_v2(&V2))
    );

    // A single-file torrent whose summary lists no files shows the name as its file.
    let mut s = summary(0, 5);
    s.total_size = 1000;
    let p = info(&s, Some(&V1), None, None, BASE);
    assert!(p.contains("<dt>Files</dt><dd>1</dd>"));
    assert!(p.contains("<tr><td>nnnnn</td><td class=\"num\">1000 B</td></tr>"));
}

#[test]
fn magnet_of_hostile_name_and_trackers() {
    let s = hostile_summary(1);
    let m = magnet_link(&s, Some(&V1), None);
    assert!(m.is_ascii());
    for c in ['<', '>', '"', '\'', ' '] {
        assert!(!m.contains(c), "{c} in {m}");
    }
    // dn and each tr are one parameter each: the only `&` are separators.
    assert_eq!(m.matches('&').count(), 3);
    assert_eq!(lookup_target(&m), Some(crate::torrent::hash::Key(V1)));
    let p = info(&s, Some(&V1), None, None, BASE);
    assert!(p.contains(&format!("href=\"{}\"", m.replace('&', "&amp;"))));
    // A tracker is text, never a link.
    assert!(!p.contains("href=\"javascript"));
    assert!(!p.contains("href=\"udp"));
}

#[test]
fn api_page() {
    let p = api("https://t.example/");
    check_markup(&p);
    check_size(&p);
    for needle in [
        "<code>https://t.example/api/thetorrent.wsdl</code>",
        "storeTorrent(torrent: base64 string) → infoHash",
        "<code>cacheTorrent</code>",
        "<code>POST https://t.example/api/upload</code>",
        "X-Thetorrent-Result",
        "X-Thetorrent-Hash",
        "X-Thetorrent-Error",
        "X-Torrage-Infohash",
        "X-Torrage-Error-Msg",
        "https://t.example/autoupload.php",
        "Content-Type: application/x-bittorrent",
        "https://t.example/torrent/&lt;HASH&gt;.torrent",
        // the examples, escaped, with the host filled in
        "&lt;?php",
        "new SoapClient(&quot;https://t.example/api/thetorrent.wsdl&quot;)",
        "$client-&gt;storeTorrent(base64_encode(file_get_contents($argv[1])))",
        "catch (SoapFault $e)",
        "my $s = SOAP::Lite-&gt;service($wsdl);\n",
        "\n$s-&gt;on_fault(sub { my ($soap, $res) = @_; \
         die ref $res ? $res-&gt;faultstring : $soap-&gt;transport-&gt;status",
        "encode_base64",
        "zeep.Client(&quot;https://t.example/api/thetorrent.wsdl&quot;)",
        "client.service.storeTorrent(torrent)",
        "except zeep.exceptions.Fault as e:",
        "requests.post(&quot;https://t.example/api/upload&quot;, files={&quot;torrent&quot;: f})",
        "r.headers[&quot;X-Thetorrent-Hash&quot;]",
        "curl -F torrent=@file.torrent https://t.example/api/upload -D -",
    ] {
        assert!(p.contains(needle), "missing {needle}");
    }
    assert!(!p.contains("t.example//"));
    // on_fault is set on what service() returns, after it, never on the class.
    assert!(!p.contains("SOAP::Lite-&gt;on_fault"));
    assert!(p.find("SOAP::Lite-&gt;service").unwrap() < p.find("$s-&gt;on_fault").unwrap());
    // The raw examples carry the placeholder and nothing host-specific.
    for (_, _, code) in api_examples("{{BASE}}") {
        assert!(code.contains("{{BASE}}"));
        assert!(!code.contains("example"));
    }
}

#[test]
fn assets() {
    let css = asset("/style.css").unwrap();
    assert_eq!(css.content_type, "text/css; charset=utf-8");
    assert_eq!(css.body, STYLE_CSS.as_bytes());
    let js = asset("/app.js").unwrap();
    assert!(js.content_type.starts_with("text/javascript"));
    assert!(asset("/favicon.svg")
        .unwrap()
        .content_type
        .starts_with("image/svg+xml"));
    assert_eq!(asset("/favicon.ico"), asset("/favicon.svg"));
    assert_eq!(asset("/style.css?x"), None);
    assert_eq!(asset("/www/style.css"), None);
    assert_ne!(css.version, js.version);
    // Nothing is loaded from elsewhere.
    for text in [STYLE_CSS, APP_JS] {
        assert!(!text.contains("http:") && !text.contains("https:") && !text.contains("//cdn"));
        assert!(!text.contains("@import") && !text.contains("url("));
    }
    // The script never writes markup from data.
    assert!(!APP_JS.contains("innerHTML") && !APP_JS.contains("insertAdjacentHTML"));
    assert!(APP_JS.contains("\"/api/upload\"") && APP_JS.contains("\"/api/stats\""));
    assert!(APP_JS.contains("X-Thetorrent-Result") && APP_JS.contains("X-Thetorrent-Hash"));
    assert!(STYLE_CSS.len() < PAGE_LIMIT && APP_JS.len() < PAGE_LIMIT);
}

/// Writes every page to `$THETORRENT_PAGES_DIR` (default: skipped) for a look in a browser.
#[test]
fn write_pages_for_screenshots() {
    let Some(dir) = std::env::var_os("THETORRENT_PAGES_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = summary(120, 12);
    s.name = "debian-12.5.0-amd64-netinst.iso <b>bold?</b>".into();
    s.comment = Some("Debian CD from cdimage.debian.org\nsecond line".into());
    s.files[3].path = format!("folder/{}", "a-very-long-file-name-".repeat(12));
    let results = vec![
        UploadResult {
            filename: "debian-12.5.0-amd64-netinst.iso.torrent".into(),
            outcome: Ok(V1_HEX.into()),
            already: false,
        },
        UploadResult {
            filename: "ubuntu.torrent".into(),
            outcome: Ok(V1_HEX.into()),
            already: true,
        },
        UploadResult {
            filename: "notes.txt".into(),
            outcome: Err("not a torrent file: no info dictionary".into()),
            already: false,
        },
    ];
    let pages = [
        ("index.html", index(1_234_567, BASE)),
        ("api.html", api(BASE)),
        ("info.html", info(&s, Some(&V1), Some(&V2), None, BASE)),
        ("upload.html", upload_result(&results)),
        (
            "404.html",
            not_found("No torrent with info hash 7431A969… is stored here."),
        ),
        ("451.html", blocked("DMCA notice 2026-11-01")),
    ];
    for (name, page) in pages {
        eprintln!("{name}: {} bytes", page.len());
        // Root-relative asset paths, rewritten to files beside the pages.
        let local = page
            .replace("href=\"/style.css\"", "href=\"style.css\"")
            .replace("src=\"/app.js\"", "src=\"app.js\"");
        std::fs::write(dir.join(name), local).unwrap();
    }
    std::fs::write(dir.join("style.css"), STYLE_CSS).unwrap();
    std::fs::write(dir.join("app.js"), APP_JS).unwrap();
}

#[test]
fn torrent_page_shows_when_stored_piece_size_and_web_seeds() {
    let s = summary(2, 10);
    let p = info(&s, Some(&V1), None, Some(1_614_834_367), BASE);
    assert!(
        p.contains("<dt>Stored here</dt><dd><time datetime=\"2021-03-04T05:06:07Z\">"),
        "{p}"
    );
    assert!(p.contains("<dt>Piece size</dt><dd>1.0 MiB"), "{p}");
    assert!(p.contains("<h2 id=\"seeds-h\">Web seeds</h2>"), "{p}");
    // URLs wrap between their parts.
    assert!(
        p.contains("https://<wbr>mirror.<wbr>example.<wbr>org/<wbr>pub/<wbr>files/<wbr>"),
        "{p}"
    );
    assert!(p.contains("udp://<wbr>tracker.<wbr>opentrackr.<wbr>org:1337/<wbr>announce"));
    // No stored time, piece size or seeds: none of their rows.
    let mut bare = summary(1, 10);
    bare.piece_length = None;
    bare.web_seeds.clear();
    let p = info(&bare, Some(&V1), None, None, BASE);
    assert!(!p.contains("Stored here") && !p.contains("Piece size") && !p.contains("Web seeds"));
}

#[test]
fn lookup_error_keeps_what_was_typed() {
    let p = lookup_error("not a \"hash\"");
    check_markup(&p);
    assert!(p.contains("value=\"not a &quot;hash&quot;\""), "{p}");
    assert!(p.contains("aria-invalid=\"true\""));
    assert!(p.contains("is not an info hash or a magnet link"));
    assert!(p.contains("The box takes 40 hex digits"));
    let p = lookup_error("");
    assert!(p.contains("The box was empty."));
    assert!(!p.contains("value="));
}

#[test]
fn sync_index_labels_its_numbers() {
    let days = [
        SyncDay {
            day: "20261126".into(),
            count: 1234,
        },
        SyncDay {
            day: "20261125".into(),
            count: 1,
        },
    ];
    let p = sync_index(&days, 0, BASE);
    check_markup(&p);
    assert!(p.contains("Torrents stored"), "{p}");
    assert!(p.contains("1,235 torrents in 2 day lists"), "{p}");
    assert!(p.contains("<a href=\"20261126.txt\">20261126.txt</a>"));
    assert!(p.contains("<time datetime=\"2026-11-26\">"));
    assert!(p.contains("href=\"takedowns.txt\""));
    assert!(p.contains("thetorrent mirror --from https://t.example"));
}
