//! The pages a browser sees, as pure functions from values to bytes, and the static files they
//! use (`www/`, built into the binary).
//!
//! Owns: the HTML of every page (front page, upload result, API documentation, torrent page,
//! 404 / 451 / 400 pages), the stylesheet, the upload script and the icon; the parsing of the
//! lookup box and of `/magnet` queries; the text helpers pages need (escaping, number and size
//! formats, percent-encoding, UTC dates). Must never: do I/O, know about routing, status codes
//! or the store, put a byte of user or torrent data into a page without HTML escaping, load
//! anything from another origin, or render a page over [`PAGE_LIMIT`] bytes (the upload result
//! page is the one exception: it grows by a bounded amount per uploaded file).

mod lookup;
mod pages;
mod text;

pub use lookup::{lookup_query, lookup_target, magnet_target, MAX_LOOKUP_LEN};
pub use pages::{
    api, api_examples, bad_request, blocked, count_sentence, index, info, magnet_link, not_found,
    upload_result, UploadResult, INFO_BUDGET, MAX_FILES_SHOWN, MAX_MAGNET_TRACKERS,
    MAX_TRACKERS_SHOWN,
};
pub use text::{
    civil_from_unix, format_count, html_escape, human_size, iso_utc, percent_decode,
    percent_encode, plural, push_escaped, truncate_chars, truncate_middle,
};

/// Largest page any function here renders, in bytes (the upload result page excepted).
pub const PAGE_LIMIT: usize = 30 * 1024;

/// `www/style.css`, served at `/style.css`.
pub const STYLE_CSS: &str = include_str!("../../www/style.css");
/// `www/app.js`, served at `/app.js`: the front page's uploads with `fetch` and drag and drop.
pub const APP_JS: &str = include_str!("../../www/app.js");
/// `www/favicon.svg`, served at `/favicon.svg`.
pub const FAVICON_SVG: &str = include_str!("../../www/favicon.svg");

/// A static file of the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// A hash of `body` (FNV-1a), for an `ETag`: it changes whenever the file does.
    pub version: u64,
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const ASSETS: [(&str, Asset); 3] = [
    (
        "/style.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: STYLE_CSS.as_bytes(),
            version: fnv1a(STYLE_CSS.as_bytes()),
        },
    ),
    (
        "/app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: APP_JS.as_bytes(),
            version: fnv1a(APP_JS.as_bytes()),
        },
    ),
    (
        "/favicon.svg",
        Asset {
            content_type: "image/svg+xml",
            body: FAVICON_SVG.as_bytes(),
            version: fnv1a(FAVICON_SVG.as_bytes()),
        },
    ),
];

/// The static file served at `path` (`/style.css`, `/app.js`, `/favicon.svg`), if any.
/// `/favicon.ico` answers the SVG icon too: browsers ask for it on every page without an icon
/// link (the `/sync/` lists, the WSDL), and a 404 there is only noise in logs and consoles.
pub fn asset(path: &str) -> Option<Asset> {
    let path = if path == "/favicon.ico" {
        "/favicon.svg"
    } else {
        path
    };
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

/// Content type of every page rendered here.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

#[cfg(test)]
mod tests;
