//! The static files of the site (`www/`, built into the binary) and the page-wide constants.
//!
//! Owns: the stylesheet, the upload script and the icon with their content types and
//! versions. Must never: load anything at run time or from another origin.

/// Largest page any function here renders, in bytes (the upload result page excepted).
pub const PAGE_LIMIT: usize = 30 * 1024;

/// `www/style.css`, served at `/style.css`.
pub const STYLE_CSS: &str = include_str!("../../../www/style.css");
/// `www/app.js`, served at `/app.js`: the front page's uploads with `fetch` and drag and drop.
pub const APP_JS: &str = include_str!("../../../www/app.js");
/// `www/favicon.svg`, served at `/favicon.svg`.
pub const FAVICON_SVG: &str = include_str!("../../../www/favicon.svg");

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
