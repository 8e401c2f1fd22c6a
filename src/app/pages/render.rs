//! The HTML pages.
//!
//! Owns: the markup of each page and the shared frame around it. Must never: write a value
//! into markup except through `push_escaped` / `html_escape` (or as text known to be ASCII
//! digits and letters), or let a page outgrow `PAGE_LIMIT` (long texts are cut, lists stop).

use std::fmt::Write as _;

use super::text::{
    format_count, html_escape, human_size, percent_encode, plural, push_escaped, truncate_chars,
    truncate_middle, utc_time,
};
use crate::torrent::hash::{hex_upper, Key};
use crate::torrent::{FileEntry, Summary};

/// Files listed on a torrent's page at most ("and N more" after them).
pub const MAX_FILES_SHOWN: usize = 100;
/// Trackers listed on a torrent's page at most.
pub const MAX_TRACKERS_SHOWN: usize = 30;
/// Trackers put into the magnet link at most (the `.torrent` file has them all).
pub const MAX_MAGNET_TRACKERS: usize = 5;
/// A torrent page stops listing files once it has this many bytes.
pub const INFO_BUDGET: usize = 27 * 1024;
/// Bytes the tracker list may take on a torrent page.
const TRACKERS_BUDGET: usize = 5 * 1024;

/// Characters shown of a torrent's name (in the heading; the title gets fewer).
const NAME_CHARS: usize = 200;
const TITLE_CHARS: usize = 70;
/// Characters shown of a file's path (the middle cut out).
pub const PATH_CHARS: usize = 160;
const COMMENT_CHARS: usize = 500;
const CREATED_BY_CHARS: usize = 100;
const TRACKER_CHARS: usize = 200;
/// Longest tracker URL (bytes) put into a magnet link, and longest `dn` (bytes).
const MAGNET_TRACKER_BYTES: usize = 200;
const MAGNET_NAME_BYTES: usize = 200;
/// Characters shown of an uploaded file's name on the result page, and of error messages.
const FILENAME_CHARS: usize = 80;
const MESSAGE_CHARS: usize = 300;
/// Characters of what was typed into the lookup box that an error page puts back into it.
const TYPED_CHARS: usize = 2_000;
/// Web seeds listed on a torrent's page at most, and the bytes they may take.
pub const MAX_WEB_SEEDS_SHOWN: usize = 10;
const WEB_SEEDS_BUDGET: usize = 3 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Nav {
    Home,
    Api,
    None,
}

/// The frame around every page: head, skip link, header with navigation, `main`, footer.
/// `title` is plain text (escaped here), `main` is markup.
fn page(title: &str, nav: Nav, main: &str, script: bool) -> String {
    page_with_head(title, nav, main, script, "")
}

/// [`page`] with `head` (trusted markup) added to the head.
fn page_with_head(title: &str, nav: Nav, main: &str, script: bool, head: &str) -> String {
    let mut out = String::with_capacity(main.len() + 1500);
    out.push_str(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    );
    out.push_str(head);
    out.push_str("<title>");
    push_escaped(&mut out, title);
    out.push_str(
        "</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n",
    );
    if script {
        out.push_str("<script src=\"/app.js\" defer></script>\n");
    }
    out.push_str(
        "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"site\"><div class=\"wrap\">\
         <a class=\"brand\" href=\"/\">thetorrent</a>\n<nav aria-label=\"Site\"><ul>",
    );
    for (href, label, which) in [("/", "Upload", Nav::Home), ("/api", "API", Nav::Api)] {
        let current = if nav == which {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<li><a href=\"{href}\"{current}>{label}</a></li>");
    }
    out.push_str("</ul></nav></div></header>\n<main id=\"main\" class=\"wrap\">\n");
    out.push_str(main);
    out.push_str(
        "</main>\n<footer class=\"site\"><div class=\"wrap\"><p>thetorrent keeps .torrent files \
         exactly as uploaded, at <code>/torrent/&lt;INFO_HASH&gt;.torrent</code>. \
         <a href=\"/api\">API</a> · <a href=\"/sync/\">Mirror lists</a></p></div></footer>\n\
         </body>\n</html>\n",
    );
    out
}

/// "There are 1,234 stored torrents." (singular for one), as markup with the number in
/// `<strong>`; `app.js` writes the same sentence when the count changes.
pub fn count_sentence(count: u64) -> String {
    if count == 1 {
        "There is <strong>1</strong> stored torrent.".into()
    } else {
        format!(
            "There are <strong>{}</strong> stored torrents.",
            format_count(count)
        )
    }
}

/// `base_url` without a trailing slash, HTML-escaped.
fn base(base_url: &str) -> String {
    html_escape(base_url.trim_end_matches('/'))
}

/// What the lookup box takes, as its hint says it (markup).
pub const LOOKUP_TAKES: &str = "40 hex digits, 32 base32 characters, a 64-hex v2 hash, or a \
     whole <code>magnet:?xt=urn:btih:…</code> link.";

/// The lookup form (front page and error pages): `typed` goes back into the box (escaped,
/// at most [`TYPED_CHARS`]); with `error`, the box is marked invalid and the message (plain
/// text) stands above the hint.
fn lookup_form(typed: &str, error: Option<&str>) -> String {
    let mut f = String::from(
        "<form class=\"lookup\" method=\"get\" action=\"/lookup\" role=\"search\">\n\
         <label for=\"q\">Info hash or magnet link</label>\n\
         <div class=\"row\"><input type=\"text\" id=\"q\" name=\"q\" required \
         autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\"",
    );
    if !typed.is_empty() {
        f.push_str(" value=\"");
        push_escaped(&mut f, &truncate_chars(typed, TYPED_CHARS));
        f.push('"');
    }
    if error.is_some() {
        f.push_str(" aria-invalid=\"true\" aria-describedby=\"q-error q-hint\">");
    } else {
        f.push_str(" aria-describedby=\"q-hint\">");
    }
    f.push_str("<button type=\"submit\">Look up</button></div>\n");
    if let Some(e) = error {
        f.push_str("<p id=\"q-error\" class=\"error\">");
        push_escaped(&mut f, &truncate_chars(e, MESSAGE_CHARS));
        f.push_str("</p>\n");
    }
    let _ = writeln!(
        f,
        "<p id=\"q-hint\" class=\"hint\">The box takes {LOOKUP_TAKES}</p>\n</form>"
    );
    f
}

/// `GET /`: the live count, the upload form (works without JavaScript; `app.js` adds several
/// files at once with per-file results, drag and drop, and the count going up), the lookup
/// box and a link to the API page.
pub fn index(count: u64, base_url: &str) -> String {
    let b = base(base_url);
    let main = format!(
        "<h1>Store and find .torrent files</h1>\n\
         <p class=\"count\" id=\"count-line\" aria-live=\"polite\">{count}</p>\n\
         <section class=\"card\" aria-labelledby=\"upload-h\">\n\
         <h2 id=\"upload-h\">Upload</h2>\n\
         <form id=\"upload\" class=\"upload\" method=\"post\" action=\"/upload\" \
         enctype=\"multipart/form-data\">\n\
         <label for=\"torrent\">Torrent files</label>\n\
         <input type=\"file\" id=\"torrent\" name=\"torrent\" multiple \
         accept=\".torrent,application/x-bittorrent\" required aria-describedby=\"upload-hint\">\n\
         <p id=\"upload-hint\" class=\"hint\">Choose one or several files. \
         <span class=\"js-only\" hidden>You can also drop them anywhere on this page; \
         each one is uploaded as soon as it is chosen.</span></p>\n\
         <button type=\"submit\" class=\"no-js\">Upload</button>\n\
         </form>\n\
         <ol id=\"results\" class=\"results\" aria-live=\"polite\"></ol>\n\
         </section>\n\
         <section class=\"card\" aria-labelledby=\"lookup-h\">\n\
         <h2 id=\"lookup-h\">Look up a torrent</h2>\n{lookup}</section>\n\
         <section aria-labelledby=\"scripts-h\">\n\
         <h2 id=\"scripts-h\">From scripts</h2>\n\
         <p>Upload with SOAP or a plain HTTP POST, e.g. \
         <code>curl -F torrent=@file.torrent {b}/api/upload</code>, and download any stored \
         file at <code>{b}/torrent/&lt;INFO_HASH&gt;.torrent</code>. \
         <a href=\"/api\">API documentation and examples</a>.</p>\n</section>\n",
        count = count_sentence(count),
        lookup = lookup_form("", None),
    );
    page(
        "thetorrent: store and find .torrent files",
        Nav::Home,
        &main,
        true,
    )
}

/// The outcome of one uploaded file, for [`upload_result`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadResult {
    /// The file name the browser sent (may be empty).
    pub filename: String,
    /// The info hash (40 upper-case hex digits), or the error message.
    pub outcome: Result<String, String>,
    /// The torrent was stored before this upload.
    pub already: bool,
}

/// An info hash link, `<a href="/info/HASH"><code>HASH</code></a>`, when `hash` is a hash;
/// otherwise the escaped text.
fn hash_link(hash: &str) -> String {
    match Key::parse(hash.trim()) {
        Ok(k) => format!("<a href=\"/info/{k}\"><code class=\"hash\">{k}</code></a>"),
        Err(_) => format!("<code class=\"hash\">{}</code>", html_escape(hash)),
    }
}

/// The page the upload form posts to without JavaScript (`POST /upload`): each file's name and
/// its hash with a link, or its error. Grows by at most about 1 KB per file.
pub fn upload_result(results: &[UploadResult]) -> String {
    let stored = results.iter().filter(|r| r.outcome.is_ok()).count() as u64;
    let failed = results.len() as u64 - stored;
    let mut main = String::from("<h1>Upload result</h1>\n");
    if results.is_empty() {
        main.push_str("<p>No file was received. Choose one or several .torrent files.</p>\n");
    } else {
        let _ = writeln!(
            main,
            "<p class=\"summary\">{} stored, {} failed.</p>\n<ol class=\"results\">",
            format_count(stored),
            format_count(failed)
        );
        for r in results {
            let class = if r.outcome.is_ok() { "ok" } else { "err" };
            let _ = write!(main, "<li class=\"{class}\"><span class=\"fname\">");
            if r.filename.is_empty() {
                main.push_str("(no name)");
            } else {
                push_escaped(&mut main, &truncate_middle(&r.filename, FILENAME_CHARS));
            }
            main.push_str("</span> ");
            match &r.outcome {
                Ok(hash) => {
                    let word = if r.already {
                        "already stored"
                    } else {
                        "stored"
                    };
                    let _ = write!(
                        main,
                        "<span class=\"status\">{word}</span> {}",
                        hash_link(hash)
                    );
                }
                Err(msg) => {
                    main.push_str("<span class=\"status\">failed:</span> <span class=\"msg\">");
                    push_escaped(&mut main, &truncate_chars(msg, MESSAGE_CHARS));
                    main.push_str("</span>");
                }
            }
            main.push_str("</li>\n");
        }
        main.push_str("</ol>\n");
    }
    main.push_str("<p><a href=\"/\">Upload more files</a></p>\n");
    page("Upload result · thetorrent", Nav::None, &main, false)
}

const EX_PHP: &str = include_str!("../../../www/examples/store.php");
const EX_PERL: &str = include_str!("../../../www/examples/store.pl");
const EX_ZEEP: &str = include_str!("../../../www/examples/store_zeep.py");
const EX_REQUESTS: &str = include_str!("../../../www/examples/store_requests.py");
const EX_CURL: &str = include_str!("../../../www/examples/curl.sh");
/// What the examples say where the public base URL goes.
const BASE_PLACEHOLDER: &str = "{{BASE}}";

/// The examples of the API page as plain text with the base URL filled in: (title, file name
/// a user would save it as, code). Exposed for tests that run them against a server.
pub fn api_examples(base_url: &str) -> [(&'static str, Option<&'static str>, String); 5] {
    let b = base_url.trim_end_matches('/');
    let fill = |s: &str| s.replace(BASE_PLACEHOLDER, b);
    [
        ("PHP (SoapClient)", Some("store.php"), fill(EX_PHP)),
        ("Perl (SOAP::Lite)", Some("store.pl"), fill(EX_PERL)),
        ("Python (zeep)", Some("store_zeep.py"), fill(EX_ZEEP)),
        (
            "Python (requests)",
            Some("store_requests.py"),
            fill(EX_REQUESTS),
        ),
        ("curl", None, fill(EX_CURL)),
    ]
}

/// `GET /api`: how to upload and download from scripts, with examples for PHP SoapClient,
/// Perl SOAP::Lite, Python zeep and requests, and curl, the host filled in from `base_url`.
pub fn api(base_url: &str) -> String {
    let b = base(base_url);
    let mut main = format!(
        "<h1>API</h1>\n\
         <p>Upload a .torrent file and get back its info hash (40 upper-case hex digits), by \
         SOAP or by HTTP POST. Files are stored byte for byte as uploaded; uploading a file \
         that is already stored answers with its hash again.</p>\n\
         <nav aria-label=\"On this page\" class=\"toc\"><ul>\
         <li><a href=\"#soap\">SOAP</a></li><li><a href=\"#post\">HTTP POST</a></li>\
         <li><a href=\"#download\">Downloads</a></li><li><a href=\"#examples\">Examples</a></li>\
         <li><a href=\"#feeds\">Mirrors and stats</a></li></ul></nav>\n\
         <section aria-labelledby=\"soap\">\n<h2 id=\"soap\">SOAP</h2>\n\
         <dl class=\"facts\">\n\
         <dt>WSDL</dt><dd><a href=\"{b}/api/thetorrent.wsdl\"><code>{b}/api/thetorrent.wsdl</code></a></dd>\n\
         <dt>Endpoint</dt><dd><code>{b}/api/soap</code> (SOAP 1.1, rpc/literal)</dd>\n\
         <dt>Operation</dt><dd><code>storeTorrent(torrent: base64 string) → infoHash</code></dd>\n\
         <dt>Alias</dt><dd><code>cacheTorrent</code>, the same operation, for scripts written \
         for Torrage-style caches</dd>\n\
         <dt>Errors</dt><dd>a SOAP Fault whose <code>faultstring</code> says what was wrong, \
         e.g. <code>not a torrent file: no info dictionary</code></dd>\n\
         </dl>\n</section>\n\
         <section aria-labelledby=\"post\">\n<h2 id=\"post\">HTTP POST</h2>\n\
         <p><code>POST {b}/api/upload</code> with <code>multipart/form-data</code>, the file \
         in the field <code>torrent</code>; or the raw file as the body with \
         <code>Content-Type: application/x-bittorrent</code>. The answer is in the headers; the \
         body is the hash or the error message, on one line.</p>\n\
         <div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Header</th>\
         <th scope=\"col\">Value</th></tr></thead>\n<tbody>\n\
         <tr><td><code>X-Thetorrent-Result</code></td><td><code>stored</code> or \
         <code>failed</code></td></tr>\n\
         <tr><td><code>X-Thetorrent-Hash</code></td><td>the info hash, when stored</td></tr>\n\
         <tr><td><code>X-Thetorrent-Error</code></td><td>the error message, when failed</td></tr>\n\
         </tbody>\n</table></div>\n\
         <p><code>POST {b}/autoupload.php</code> answers the same for existing Torrage-style \
         scripts, and also sends <code>X-Torrage-Infohash</code> or \
         <code>X-Torrage-Error-Msg</code>.</p>\n</section>\n\
         <section aria-labelledby=\"download\">\n<h2 id=\"download\">Downloads</h2>\n\
         <p><code>GET {b}/torrent/&lt;HASH&gt;.torrent</code> (also \
         <code>{b}/&lt;HASH&gt;.torrent</code>) answers the stored file, or 404. \
         <code>&lt;HASH&gt;</code> is the info hash as 40 hex digits (either case), 32 base32 \
         characters as in magnet links, or a v2 torrent's 64-hex hash. A query string such as \
         <code>?title=…</code> is ignored.</p>\n\
         <p><code>{b}/info/&lt;HASH&gt;</code> is a page about the torrent; \
         <code>{b}/magnet?xt=urn:btih:&lt;HASH&gt;</code> redirects to the file.</p>\n\
         </section>\n\
         <section aria-labelledby=\"examples\">\n<h2 id=\"examples\">Examples</h2>\n\
         <p>Each script uploads the file named on its command line and prints the info hash, \
         or the error with a non-zero exit status.</p>\n"
    );
    for (i, (title, file, code)) in api_examples(base_url).iter().enumerate() {
        let _ = writeln!(main, "<h3 id=\"ex{i}\">{}</h3>", html_escape(title));
        if let Some(file) = file {
            let _ = writeln!(
                main,
                "<p class=\"hint\">Save as <code>{file}</code>, then run it with the file.</p>"
            );
        }
        let _ = write!(main, "<pre aria-labelledby=\"ex{i}\" tabindex=\"0\"><code>");
        push_escaped(&mut main, code);
        main.push_str("</code></pre>\n");
    }
    let _ = write!(
        main,
        "</section>\n<section aria-labelledby=\"feeds\">\n<h2 id=\"feeds\">Mirrors and stats</h2>\n\
         <p><code>{b}/sync/</code> lists the days, and <code>{b}/sync/YYYYMMDD.txt</code> the \
         hashes stored on that day (UTC), one per line. <code>{b}/api/stats</code> answers JSON \
         counts, <code>{b}/metrics</code> Prometheus metrics.</p>\n</section>\n"
    );
    page("API · thetorrent", Nav::Api, &main, false)
}

/// The magnet link of a torrent: `magnet:?xt=urn:btih:<HEX>` (v1 and hybrid),
/// `xt=urn:btmh:1220<HEX>` (v2 and hybrid), `dn` (the name) and at most
/// [`MAX_MAGNET_TRACKERS`] `tr`, all percent-encoded. Not HTML-escaped (it contains `&`).
pub fn magnet_link(summary: &Summary, v1: Option<&[u8; 20]>, v2: Option<&[u8; 32]>) -> String {
    let mut m = String::from("magnet:?");
    let mut sep = "";
    if let Some(v1) = v1 {
        let _ = write!(m, "xt=urn:btih:{}", hex_upper(v1));
        sep = "&";
    }
    if let Some(v2) = v2 {
        let _ = write!(m, "{sep}xt=urn:btmh:1220{}", hex_upper(v2));
        sep = "&";
    }
    if !summary.name.is_empty() {
        let _ = write!(
            m,
            "{sep}dn={}",
            percent_encode(cut_bytes(&summary.name, MAGNET_NAME_BYTES))
        );
        sep = "&";
    }
    for tr in summary
        .trackers
        .iter()
        .filter(|t| !t.is_empty() && t.len() <= MAGNET_TRACKER_BYTES)
        .take(MAX_MAGNET_TRACKERS)
    {
        let _ = write!(m, "{sep}tr={}", percent_encode(tr));
        sep = "&";
    }
    m
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A Unix time as `<time datetime="…">2021-03-04 05:06:07 UTC</time>` (the number itself
/// when it is no date a page can show).
fn time_element(t: i64) -> String {
    match utc_time(t) {
        Some((iso, shown)) => format!("<time datetime=\"{iso}\">{shown}</time>"),
        None => format!("{t} (not a calendar date)"),
    }
}

/// `GET /info/<HASH>`: name, total size, files (the first [`MAX_FILES_SHOWN`], fewer when the
/// page would pass [`INFO_BUDGET`]), piece size, trackers, web seeds, private flag, creation
/// date, when it was stored here (`stored`, Unix time), creator, comment, the hashes (both for
/// a hybrid), the magnet link and the download link. Long URLs may wrap after `/`, `?`, `&`,
/// `=` and `.`.
pub fn info(
    summary: &Summary,
    v1: Option<&[u8; 20]>,
    v2: Option<&[u8; 32]>,
    stored: Option<i64>,
    base_url: &str,
) -> String {
    let key = match (v1, v2) {
        (Some(v1), _) => Some(Key(*v1)),
        (None, Some(v2)) => Some(Key::from_v2(v2)),
        (None, None) => None,
    };
    let name = if summary.name.is_empty() {
        "(no name)"
    } else {
        summary.name.as_str()
    };
    let single;
    let files: &[FileEntry] = if summary.files.is_empty() {
        single = [FileEntry {
            path: name.to_string(),
            size: summary.total_size,
        }];
        &single
    } else {
        &summary.files
    };

    let magnet_raw = magnet_link(summary, v1, v2);
    let magnet = html_escape(&magnet_raw);
    let mut m = String::with_capacity(8 * 1024);
    m.push_str("<h1 class=\"tname\">");
    push_escaped(&mut m, &truncate_chars(name, NAME_CHARS));
    m.push_str("</h1>\n");
    if let Some(k) = key {
        let _ = writeln!(
            m,
            "<p class=\"actions\"><a class=\"button\" href=\"/torrent/{k}.torrent\" download>\
             Download .torrent</a> <a class=\"button secondary\" href=\"{magnet}\">\
             Open magnet link</a></p>"
        );
    }
    push_facts(&mut m, summary, files.len(), v1, v2, stored);
    if let Some(k) = key {
        let _ = write!(
            m,
            "<section aria-labelledby=\"links-h\">\n<h2 id=\"links-h\">Links</h2>\n\
             <dl class=\"facts links\">\n\
             <dt>File</dt><dd><a href=\"/torrent/{k}.torrent\"><code class=\"url\">"
        );
        push_url(
            &mut m,
            &format!("{}/torrent/{k}.torrent", base_url.trim_end_matches('/')),
        );
        m.push_str("</code></a></dd>\n<dt>Magnet</dt><dd><code class=\"magnet url\">");
        push_url(&mut m, &magnet_raw);
        m.push_str("</code></dd>\n</dl>\n</section>\n");
    }
    push_trackers(&mut m, &summary.trackers);
    push_web_seeds(&mut m, &summary.web_seeds);
    push_files(&mut m, files, summary.file_count);
    let title = format!("{} · thetorrent", truncate_chars(name, TITLE_CHARS));
    page(&title, Nav::None, &m, false)
}

/// The facts list of the torrent page: size, file count, piece size, hashes, private flag,
/// creation date, when it was stored here, creator, comment.
fn push_facts(
    m: &mut String,
    summary: &Summary,
    files: usize,
    v1: Option<&[u8; 20]>,
    v2: Option<&[u8; 32]>,
    stored: Option<i64>,
) {
    m.push_str("<dl class=\"facts\">\n");
    let _ = write!(
        m,
        "<dt>Total size</dt><dd>{} <span class=\"muted\">({})</span></dd>\n\
         <dt>Files</dt><dd>{}</dd>\n",
        human_size(summary.total_size),
        plural(summary.total_size, "byte", "bytes"),
        format_count(summary.file_count.max(files) as u64),
    );
    if let Some(p) = summary.piece_length {
        let _ = writeln!(
            m,
            "<dt>Piece size</dt><dd>{} <span class=\"muted\">({})</span></dd>",
            human_size(p),
            plural(p, "byte", "bytes")
        );
    }
    match (v1, v2) {
        (Some(v1), Some(v2)) => {
            let _ = write!(
                m,
                "<dt>Info hash v1</dt><dd><code class=\"hash\">{}</code></dd>\n\
                 <dt>Info hash v2</dt><dd><code class=\"hash\">{}</code></dd>\n",
                hex_upper(v1),
                hex_upper(v2)
            );
        }
        (Some(v1), None) => {
            let _ = writeln!(
                m,
                "<dt>Info hash</dt><dd><code class=\"hash\">{}</code></dd>",
                hex_upper(v1)
            );
        }
        (None, Some(v2)) => {
            let _ = writeln!(
                m,
                "<dt>Info hash v2</dt><dd><code class=\"hash\">{}</code></dd>",
                hex_upper(v2)
            );
        }
        (None, None) => {}
    }
    let _ = writeln!(
        m,
        "<dt>Private</dt><dd>{}</dd>",
        if summary.private {
            "yes: peers come only from its trackers (no DHT, no peer exchange)"
        } else {
            "no"
        }
    );
    if let Some(t) = summary.creation_date {
        let _ = writeln!(m, "<dt>Created</dt><dd>{}</dd>", time_element(t));
    }
    if let Some(t) = stored {
        let _ = writeln!(m, "<dt>Stored here</dt><dd>{}</dd>", time_element(t));
    }
    if let Some(by) = summary.created_by.as_deref().filter(|s| !s.is_empty()) {
        m.push_str("<dt>Created by</dt><dd>");
        push_escaped(m, &truncate_chars(by, CREATED_BY_CHARS));
        m.push_str("</dd>\n");
    }
    if let Some(c) = summary.comment.as_deref().filter(|s| !s.is_empty()) {
        m.push_str("<dt>Comment</dt><dd class=\"comment\">");
        push_escaped(m, &truncate_chars(c, COMMENT_CHARS));
        m.push_str("</dd>\n");
    }
    m.push_str("</dl>\n");
}

/// The trackers section: as many as fit in [`TRACKERS_BUDGET`], at most [`MAX_TRACKERS_SHOWN`].
fn push_trackers(m: &mut String, trackers: &[String]) {
    m.push_str("<section aria-labelledby=\"trackers-h\">\n<h2 id=\"trackers-h\">Trackers</h2>\n");
    if trackers.is_empty() {
        m.push_str("<p>None: peers are found through the DHT.</p>\n");
    } else {
        push_url_list(m, trackers, TRACKERS_BUDGET, MAX_TRACKERS_SHOWN);
    }
    m.push_str("</section>\n");
}

/// The web seeds section (BEP 19), when there are any: as many as fit in
/// [`WEB_SEEDS_BUDGET`], at most [`MAX_WEB_SEEDS_SHOWN`].
fn push_web_seeds(m: &mut String, seeds: &[String]) {
    if seeds.is_empty() {
        return;
    }
    m.push_str("<section aria-labelledby=\"seeds-h\">\n<h2 id=\"seeds-h\">Web seeds</h2>\n");
    push_url_list(m, seeds, WEB_SEEDS_BUDGET, MAX_WEB_SEEDS_SHOWN);
    m.push_str("</section>\n");
}

/// A list of URLs (trackers, web seeds): as many as fit in `budget` bytes of markup, at most
/// `max`, then how many more the file lists.
fn push_url_list(m: &mut String, urls: &[String], budget: usize, max: usize) {
    m.push_str("<ul class=\"trackers\">\n");
    let stop = m.len() + budget;
    let mut shown = 0;
    for u in urls.iter().take(max) {
        let mut item = String::from("<li><code class=\"url\">");
        push_url(&mut item, &truncate_middle(u, TRACKER_CHARS));
        item.push_str("</code></li>\n");
        if m.len() + item.len() > stop {
            break;
        }
        m.push_str(&item);
        shown += 1;
    }
    m.push_str("</ul>\n");
    let more = urls.len() - shown;
    if more > 0 {
        let _ = writeln!(
            m,
            "<p class=\"more\">and {} more (listed in the .torrent file).</p>",
            format_count(more as u64)
        );
    }
}

/// Appends a URL, HTML-escaped, with a `<wbr>` (a place a long line may break) after each
/// `/`, `?`, `&`, `=` and `.`, so that it wraps between its parts rather than mid-word.
fn push_url(out: &mut String, url: &str) {
    let mut last = 0;
    for (i, c) in url.char_indices() {
        if matches!(c, '/' | '?' | '&' | '=' | '.') {
            push_escaped(out, &url[last..=i]);
            // No break inside `//`.
            if !(c == '/' && url[i + 1..].starts_with('/')) {
                out.push_str("<wbr>");
            }
            last = i + 1;
        }
    }
    push_escaped(out, &url[last..]);
}

/// The files table: as many rows as keep the page within [`INFO_BUDGET`], at most
/// [`MAX_FILES_SHOWN`]; `file_count` is the torrent's whole count.
fn push_files(m: &mut String, files: &[FileEntry], file_count: usize) {
    m.push_str(
        "<section aria-labelledby=\"files-h\">\n<h2 id=\"files-h\">Files</h2>\n\
         <div class=\"scroll\"><table class=\"files\">\n<thead><tr><th scope=\"col\">Path</th>\
         <th scope=\"col\" class=\"num\">Size</th></tr></thead>\n<tbody>\n",
    );
    let mut shown = 0;
    for f in files.iter().take(MAX_FILES_SHOWN) {
        let row = format!(
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>\n",
            html_escape(&truncate_middle(&f.path, PATH_CHARS)),
            human_size(f.size)
        );
        if m.len() + row.len() > INFO_BUDGET {
            break;
        }
        m.push_str(&row);
        shown += 1;
    }
    m.push_str("</tbody>\n</table></div>\n");
    let more = file_count.max(files.len()) - shown;
    if more > 0 {
        let _ = writeln!(
            m,
            "<p class=\"more\">and {} more {} (listed in the .torrent file).</p>",
            format_count(more as u64),
            if more == 1 { "file" } else { "files" }
        );
    }
    m.push_str("</section>\n");
}

/// A page for an error: heading, escaped message, the lookup box and a link home.
fn error_page(title: &str, heading: &str, message: &str) -> String {
    let mut m = String::new();
    m.push_str("<h1>");
    push_escaped(&mut m, heading);
    m.push_str("</h1>\n<p class=\"message\">");
    push_escaped(&mut m, &truncate_chars(message, MESSAGE_CHARS));
    m.push_str("</p>\n");
    m.push_str(&lookup_form("", None));
    m.push_str("<p><a href=\"/\">Go to the front page</a></p>\n");
    page(title, Nav::None, &m, false)
}

/// The 404 page. `what` says what was not found (plain text, escaped here), e.g.
/// `No torrent with info hash 7431… is stored here.`
pub fn not_found(what: &str) -> String {
    error_page("Not found · thetorrent", "Not found", what)
}

/// The page shown while a torrent is searched for in its swarm: it reloads itself every
/// `refresh_secs` seconds (a meta refresh: no JavaScript), which asks again and so shows the
/// torrent once it is stored, or why it was not found. `name` is the magnet link's `dn`.
pub fn searching(key: &crate::torrent::hash::Key, name: Option<&str>, refresh_secs: u64) -> String {
    let mut m = String::from("<h1>Searching the swarm</h1>\n<p class=\"message\">Looking for ");
    match name {
        Some(n) if !n.trim().is_empty() => {
            m.push('“');
            push_escaped(&mut m, &truncate_chars(n.trim(), MESSAGE_CHARS));
            m.push_str("” (info hash <code>");
            let _ = write!(m, "{key}");
            m.push_str("</code>)");
        }
        _ => {
            let _ = write!(m, "the torrent with info hash <code>{key}</code>");
        }
    }
    let _ = write!(
        m,
        " among its peers: the DHT, and the trackers and peers its magnet link names. This \
         page reloads every {refresh_secs} seconds until the torrent is found or the search \
         gives up (it can take a minute or two).</p>\n\
         <p><a href=\"\">Check now</a> · <a href=\"/\">Go to the front page</a></p>\n"
    );
    let head = format!("<meta http-equiv=\"refresh\" content=\"{refresh_secs}\">\n");
    page_with_head("Searching · thetorrent", Nav::None, &m, false, &head)
}

/// The 451 page for a torrent taken down; `reason` is the operator's reason (plain text).
pub fn blocked(reason: &str) -> String {
    let msg = if reason.trim().is_empty() {
        "This torrent has been taken down.".to_string()
    } else {
        format!("This torrent has been taken down: {}", reason.trim())
    };
    error_page(
        "Unavailable for legal reasons · thetorrent",
        "Unavailable for legal reasons",
        &msg,
    )
}

/// The 400 page; `msg` is plain text, e.g. `not a valid info hash or magnet link`.
pub fn bad_request(msg: &str) -> String {
    error_page("Bad request · thetorrent", "Bad request", msg)
}

/// The 400 page of the lookup box for text that is neither a hash nor a magnet link: what was
/// typed stays in the box, and the page says what the box takes.
pub fn lookup_error(typed: &str) -> String {
    let mut m = String::from("<h1>Not a hash or magnet link</h1>\n");
    let error = if typed.trim().is_empty() {
        "The box was empty.".to_string()
    } else {
        format!(
            "“{}” is not an info hash or a magnet link.",
            truncate_middle(typed.trim(), 80)
        )
    };
    m.push_str(&lookup_form(typed, Some(&error)));
    m.push_str("<p><a href=\"/\">Go to the front page</a></p>\n");
    page(
        "Not a hash or magnet link · thetorrent",
        Nav::None,
        &m,
        false,
    )
}

/// What a browser opening an upload address (`GET`) is shown: the address takes `POST`
/// uploads; the form on the front page is the way from a browser, and scripts are shown how.
/// `path` is the address (one of the fixed upload paths), `soap` whether it is the SOAP one.
pub fn post_only(path: &str, soap: bool, base_url: &str) -> String {
    let b = base(base_url);
    let p = html_escape(path);
    let mut m = String::from("<h1>This address takes uploads</h1>\n");
    if soap {
        let _ = write!(
            m,
            "<p class=\"message\"><code>{b}{p}</code> is the SOAP endpoint: SOAP clients send \
             their <code>storeTorrent</code> calls here with <code>POST</code>. A browser that \
             opens it sends <code>GET</code>, which it does not answer.</p>\n\
             <p>Point your SOAP client at the WSDL, \
             <a href=\"/api/thetorrent.wsdl\"><code>{b}/api/thetorrent.wsdl</code></a>; the \
             <a href=\"/api\">API page</a> has examples in PHP, Perl and Python.</p>\n"
        );
    } else {
        let _ = write!(
            m,
            "<p class=\"message\"><code>{b}{p}</code> stores .torrent files sent to it with \
             <code>POST</code>. A browser that opens it sends <code>GET</code>, which it does \
             not answer.</p>\n\
             <p><a class=\"button\" href=\"/\">Upload with the form</a></p>\n\
             <p>From a script: <code>curl -F torrent=@file.torrent {b}{p}</code>. The \
             <a href=\"/api\">API page</a> has more.</p>\n"
        );
    }
    page("Uploads only · thetorrent", Nav::None, &m, false)
}

/// One day of the mirror lists: its name (`YYYYMMDD`) and how many hashes its list holds.
pub struct SyncDay {
    pub day: String,
    pub count: u64,
}

/// `GET /sync/`: the days that have a list, as given (newest first), each linking its
/// `YYYYMMDD.txt` (the links stay plain for mirror scripts), with its number of torrents; and
/// the takedowns feed with `takedowns` entries. Grows by about 200 bytes per day (like the
/// upload result page, it is not held to [`PAGE_LIMIT`](super::PAGE_LIMIT)).
pub fn sync_index(days: &[SyncDay], takedowns: usize, base_url: &str) -> String {
    let b = base(base_url);
    let total: u64 = days.iter().map(|d| d.count).sum();
    let mut m = String::with_capacity(1500 + days.len() * 200);
    let _ = write!(
        m,
        "<h1>Mirror lists</h1>\n\
         <p>Each day's list holds the info hashes first stored here that day (UTC), one per \
         line. To copy this store: <code>thetorrent mirror --from {b}</code>.</p>\n\
         <p class=\"summary\">{} in {}.</p>\n",
        plural(total, "torrent", "torrents"),
        plural(days.len() as u64, "day list", "day lists"),
    );
    if !days.is_empty() {
        m.push_str(
            "<div class=\"scroll\"><table class=\"days\">\n<thead><tr>\
             <th scope=\"col\">Day (UTC)</th><th scope=\"col\" class=\"num\">Torrents stored</th>\
             <th scope=\"col\">List</th></tr></thead>\n<tbody>\n",
        );
        for d in days {
            let name = html_escape(&d.day);
            let iso = match (d.day.get(..4), d.day.get(4..6), d.day.get(6..8)) {
                (Some(y), Some(mo), Some(da)) if d.day.len() == 8 => {
                    format!("<time datetime=\"{y}-{mo}-{da}\">{y}-{mo}-{da}</time>")
                }
                _ => name.clone(),
            };
            let _ = writeln!(
                m,
                "<tr><td>{iso}</td><td class=\"num\">{}</td>\
                 <td><a href=\"{name}.txt\">{name}.txt</a></td></tr>",
                format_count(d.count)
            );
        }
        m.push_str("</tbody>\n</table></div>\n");
    }
    let _ = write!(
        m,
        "<h2>Takedowns</h2>\n<p><a href=\"takedowns.txt\">takedowns.txt</a> lists the {} \
         taken down here (answered 451), one per line; \
         <code>thetorrent mirror --follow-takedowns</code> applies them to a mirror.</p>\n",
        plural(takedowns as u64, "hash", "hashes")
    );
    page("Mirror lists · thetorrent", Nav::None, &m, false)
}
