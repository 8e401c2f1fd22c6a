//! The command-line options that configure the server and the storage backends, and their
//! conversion to the plain settings `app` and `storage` take.
//!
//! Owns: option names, their help groups, defaults as the help shows them, and parsing option
//! text (seconds, sizes with units, the public URL).
//! Must never: hold behaviour beyond the conversion (the layers below never see `clap`).

use crate::app::{FetchSettings, ServeConfig};
use crate::storage::s3::S3Options;
use std::path::PathBuf;
use std::time::Duration;

/// Parses a number of seconds (fractions allowed).
pub(crate) fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if !(0.0..=1e9).contains(&v) {
        return Err(format!("out of range: {s}"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Multipliers of the size units, all binary (as nginx and systemd read `K`, `M`, `G`): `16M`,
/// `16MB` and `16MiB` are each 16 × 1024 × 1024 bytes.
const SIZE_UNITS: [(&str, u64); 11] = [
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
    ("gib", 1 << 30),
];

/// Parses a size in bytes: a number (fractions allowed) with an optional unit, `B`, `K`/`KB`/
/// `KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB` (any case, binary multiples: see [`SIZE_UNITS`]).
pub(crate) fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let mult = SIZE_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            format!("not a size: {s} (a number of bytes, or with a unit: 16K, 10MiB, 1G)")
        })?;
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(format!(
            "not a size: {s} (a number of bytes, or with a unit: 16K, 10MiB, 1G)"
        ));
    }
    let too_large = || format!("size too large: {s}");
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let mut bytes = whole.checked_mul(mult).ok_or_else(too_large)?;
    // The fraction's digits, exactly: at most 9 count (finer than a byte of a GiB).
    let digits = &frac[..frac.len().min(9)];
    if !digits.is_empty() {
        let scale = 10u64.pow(digits.len() as u32);
        let f: u64 = digits.parse().map_err(|_| too_large())?;
        bytes = bytes.checked_add(f * mult / scale).ok_or_else(too_large)?;
    }
    Ok(bytes)
}

/// [`size`] for options held as `usize`.
pub(crate) fn size_usize(s: &str) -> Result<usize, String> {
    size(s).and_then(|n| usize::try_from(n).map_err(|_| format!("size too large: {s}")))
}

/// Checks `--public-url`: see [`base_url`].
pub(crate) fn public_url(s: &str) -> Result<String, String> {
    base_url("--public-url", s)
}

/// Checks a base URL given to `option`: an absolute `http://` or `https://` URL with a host,
/// and nothing after its path (paths are appended to it); returned without a trailing slash.
pub(crate) fn base_url(option: &str, s: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!(
            "{option} {s}: {why} (expected an absolute URL such as https://torrents.example.org)"
        )
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| bad("not an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("no host"));
    }
    if host.contains('@') {
        return Err(bad("user info is not allowed"));
    }
    if s.bytes()
        .any(|b| b <= b' ' || b >= 0x7f || b == b'"' || b == b'<' || b == b'>')
    {
        return Err(bad(
            "spaces, quotes and non-ASCII characters are not allowed",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("a query or fragment is not allowed"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The help heading of each group of `serve` options.
pub mod heading {
    pub const LISTENING: &str = "Listening";
    pub const LIMITS: &str = "Limits (sizes take units: 16K, 10MiB, 1G)";
    pub const UPLOADS: &str = "Uploads";
    pub const STORAGE: &str = "Storage";
    pub const S3: &str = "S3 bucket (--store s3://...)";
    pub const MIRRORS: &str = "Mirror feeds";
    /// The options of fetching missing torrents from their swarm.
    pub const FETCHING: &str = "Fetching";
}

/// Options of the S3 backend (global command-line options).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = heading::S3)]
pub struct S3Args {
    /// Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket
    /// (default: the local `--data` directory).
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store).
    #[arg(long, global = true)]
    pub s3_endpoint: Option<String>,
    /// Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it.
    #[arg(long, global = true)]
    pub s3_credentials: Option<PathBuf>,
    /// For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is
    /// the content's hash; two front ends may then both list one upload).
    #[arg(long, global = true)]
    pub s3_no_conditional_put: bool,
    /// Create the bucket when it does not exist.
    #[arg(long, global = true)]
    pub s3_create_bucket: bool,
    /// Read cache of downloaded torrents, MiB (0: none).
    #[arg(long, global = true, default_value_t = crate::storage::s3::CACHE_MB)]
    pub s3_cache_mb: u64,
    /// Seconds a miss (404) is remembered.
    #[arg(long, global = true, value_parser = secs, default_value = "2")]
    pub s3_miss_ttl: Duration,
    /// Seconds between re-readings of the shared lists and blocklist.
    #[arg(long, global = true, value_parser = secs, default_value = "2")]
    pub s3_list_ttl: Duration,
    /// This front end's name in list segments (`[a-z0-9]`, at most 32); default: random.
    #[arg(long, global = true)]
    pub node_id: Option<String>,
    /// Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that
    /// takes longer marks the store down: requests then fail at once (503, Retry-After)
    /// until a probe finds it answering again.
    #[arg(long, global = true, value_parser = secs, default_value = "3")]
    pub s3_timeout: Duration,
}

impl S3Args {
    /// The backend settings these options give.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            credentials: self.s3_credentials.clone(),
            conditional_put: !self.s3_no_conditional_put,
            create_bucket: self.s3_create_bucket,
            cache_mb: self.s3_cache_mb,
            miss_ttl: self.s3_miss_ttl,
            list_ttl: self.s3_list_ttl,
            node_id: self.node_id.clone(),
            timeout: self.s3_timeout,
        }
    }
}

/// Options of `thetorrent serve`, in the groups its help shows.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (IPv4 `1.2.3.4:80` or IPv6 `[::1]:80`), may be repeated.
    /// Ignored when systemd passes sockets (`LISTEN_FDS`).
    #[arg(long, default_value = "127.0.0.1:8080", help_heading = heading::LISTENING)]
    pub listen: Vec<String>,
    /// Public base URL (e.g. `https://torrents.example.org`), used in links and the WSDL;
    /// default: built from the request's Host header.
    #[arg(long, value_parser = public_url, help_heading = heading::LISTENING)]
    pub public_url: Option<String>,
    /// Access log in combined log format: a file to append to (its folder must exist), or `-`
    /// for stdout (off if unset).
    #[arg(long, help_heading = heading::LISTENING)]
    pub access_log: Option<String>,
    /// Worker threads of may, the coroutine runtime that runs the connections (0: one per
    /// core).
    #[arg(long, default_value_t = 0, help_heading = heading::LISTENING)]
    pub workers: usize,
    /// Largest request head (431 over it).
    #[arg(long, value_parser = size_usize, default_value_t = crate::http::config::MAX_HEAD_BYTES, help_heading = heading::LIMITS)]
    pub max_head_bytes: usize,
    /// Most header lines in a request (431 over it).
    #[arg(long, default_value_t = crate::http::config::MAX_HEADERS, help_heading = heading::LIMITS)]
    pub max_headers: usize,
    /// Largest request body (413 over it). Default: what a SOAP upload of the largest torrent
    /// (`--max-torrent-size`) takes, base64 and envelope included; at least 16 MiB.
    #[arg(long, value_parser = size, help_heading = heading::LIMITS)]
    pub max_body_bytes: Option<u64>,
    /// Memory for request bodies in flight, all connections together (a size: 256M): a body
    /// that does not fit waits up to 5 s for room, then is answered 503 with Retry-After (a
    /// SOAP body counts 1.75 times: its decoded copy is held beside it). Default: 256 MiB, or
    /// twice the body limit when that is larger.
    #[arg(long, value_parser = size, help_heading = heading::LIMITS)]
    pub body_budget: Option<u64>,
    /// Most open connections.
    #[arg(long, default_value_t = crate::http::config::MAX_CONNECTIONS, help_heading = heading::LIMITS)]
    pub max_connections: usize,
    /// Seconds allowed to send a request head.
    #[arg(long, value_parser = secs, default_value = "10", help_heading = heading::LIMITS)]
    pub head_timeout: Duration,
    /// Seconds an idle kept-alive connection stays open.
    #[arg(long, value_parser = secs, default_value = "60", help_heading = heading::LIMITS)]
    pub idle_timeout: Duration,
    /// Seconds a body sender gets before the rate floor applies.
    #[arg(long, value_parser = secs, default_value = "10", help_heading = heading::LIMITS)]
    pub body_grace: Duration,
    /// Slowest accepted body upload, bytes per second (a size: `1K` is 1024 bytes a second;
    /// 0: no floor), judged over a sliding window (`--body-rate-window`).
    #[arg(long, value_parser = size, default_value_t = crate::http::config::BODY_MIN_RATE, help_heading = heading::LIMITS)]
    pub body_min_rate: u64,
    /// Seconds the body rate is judged over: a sender that stops is cut this long after it
    /// fell under the floor rate, however much it sent before.
    #[arg(long, value_parser = secs, default_value = "10", help_heading = heading::LIMITS)]
    pub body_rate_window: Duration,
    /// Seconds a slow reader gets to take each 64 KiB of an answer.
    #[arg(long, value_parser = secs, default_value = "60", help_heading = heading::LIMITS)]
    pub write_timeout: Duration,
    /// Seconds requests in flight get to finish after SIGTERM.
    #[arg(long, value_parser = secs, default_value = "10", help_heading = heading::LIMITS)]
    pub shutdown_grace: Duration,
    /// Torrent files per second allowed per client address (IPv6: per /64; each file of a
    /// multipart upload counts); 0 turns limiting off.
    #[arg(long, default_value_t = crate::app::ratelimit::DEFAULT_UPLOAD_RATE, help_heading = heading::UPLOADS)]
    pub upload_rate: f64,
    /// Files an idle address may upload at once before the rate applies.
    #[arg(long, default_value_t = crate::app::ratelimit::DEFAULT_UPLOAD_BURST, help_heading = heading::UPLOADS)]
    pub upload_burst: f64,
    /// Rate-limit loopback clients too (off by default: a local reverse proxy or script).
    #[arg(long, help_heading = heading::UPLOADS)]
    pub rate_limit_loopback: bool,
    /// Nice value of the upload committer thread (lower runs first; 0, the default: leave
    /// it as is). Ahead of the request workers it slows downloads under upload load.
    #[arg(long, default_value_t = crate::storage::local::writer::WRITER_NICE, allow_negative_numbers = true, help_heading = heading::UPLOADS)]
    pub writer_nice: i32,
    /// Publish the reasons of takedowns in `/sync/takedowns.txt` (default: hashes only).
    #[arg(long, help_heading = heading::MIRRORS)]
    pub publish_takedown_reasons: bool,
    /// Fetch a torrent that is not stored from its swarm (DHT, a magnet link's trackers and
    /// peers) when it is asked for, and store it. Off by default: no outbound traffic.
    #[arg(long, help_heading = heading::FETCHING)]
    pub fetch: bool,
    /// Seconds a request for a torrent being fetched waits for it; after that the answer is
    /// 503 with Retry-After.
    #[arg(long, value_parser = secs, default_value = "10", value_name = "SECONDS", help_heading = heading::FETCHING)]
    pub fetch_wait: Duration,
    #[command(flatten)]
    pub fetching: super::fetch::FetchArgs,
    /// Open torrent files kept for downloads (0: no cache).
    #[arg(long, default_value_t = crate::storage::local::FILE_CACHE_ENTRIES, help_heading = heading::STORAGE)]
    pub file_cache: usize,
    /// Stored files whose length and modification time are remembered, so that reopening one
    /// that is no longer open needs no `stat` (0: none).
    #[arg(long, default_value_t = crate::storage::local::STAT_CACHE_ENTRIES, help_heading = heading::STORAGE)]
    pub stat_cache: usize,
}

impl ServeArgs {
    /// The server settings these options give, for a store whose largest torrent is
    /// `max_torrent_size` bytes; an error for a combination that cannot work.
    pub fn config(&self, max_torrent_size: usize) -> Result<ServeConfig, String> {
        let max_body_bytes = self
            .max_body_bytes
            .unwrap_or_else(|| crate::app::soap::max_request_bytes(max_torrent_size));
        let body_budget = match self.body_budget {
            Some(b) if b < max_body_bytes => {
                return Err(format!(
                    "--body-budget {b} is smaller than the body limit ({max_body_bytes} bytes): \
                     a body of the largest size could never be read; raise it or lower \
                     --max-body-bytes"
                ));
            }
            Some(b) => b,
            // Room for a SOAP body of the limit with its decoded copy (1.75 times it).
            None => crate::http::config::BODY_BUDGET.max(max_body_bytes.saturating_mul(2)),
        };
        Ok(ServeConfig {
            listen: self.listen.clone(),
            workers: self.workers,
            public_url: self.public_url.clone(),
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            max_body_bytes,
            body_budget,
            max_connections: self.max_connections,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            body_grace: self.body_grace,
            body_min_rate: self.body_min_rate,
            body_rate_window: self.body_rate_window,
            write_timeout: self.write_timeout,
            shutdown_grace: self.shutdown_grace,
            file_cache: self.file_cache,
            stat_cache: self.stat_cache,
            access_log: self.access_log.clone(),
            writer_nice: self.writer_nice,
            upload_rate: self.upload_rate,
            upload_burst: self.upload_burst,
            rate_limit_loopback: self.rate_limit_loopback,
            publish_takedown_reasons: self.publish_takedown_reasons,
            fetch: self.fetch.then(|| FetchSettings {
                dht: self.fetching.dht(),
                jobs: self.fetching.config(None),
                wait: self.fetch_wait,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        for (text, want) in [
            ("0", 0),
            ("1000", 1000),
            ("512B", 512),
            ("16K", 16 << 10),
            ("16kb", 16 << 10),
            ("16KiB", 16 << 10),
            ("10MiB", 10 << 20),
            ("16M", 16 << 20),
            ("16MB", 16 << 20),
            ("16 MiB", 16 << 20),
            ("1G", 1 << 30),
            ("2GiB", 2 << 30),
            ("1.5M", 3 << 19),
            (".5K", 512),
        ] {
            assert_eq!(size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "M",
            "ten",
            "10 TB",
            "1.2.3K",
            "-1",
            "1e6",
            "99999999999999999999",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert!(size("17179869184G").unwrap_err().contains("too large"));
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            public_url("https://torrents.example.org/").as_deref(),
            Ok("https://torrents.example.org")
        );
        assert!(public_url("http://[::1]:8080/t").is_ok());
        for bad in [
            "torrents.example.org",
            "ftp://x",
            "https://",
            "https:///path",
            "http://u@host",
            "http://host/a b",
            "http://host/?q=1",
            "/relative",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }
}
