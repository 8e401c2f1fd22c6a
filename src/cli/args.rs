//! The command-line options that configure the server and the storage backends, and their
//! conversion to the plain settings `app` and `storage` take.
//!
//! Owns: option names, defaults as the help shows them, and parsing option text (seconds).
//! Must never: hold behaviour beyond the conversion (the layers below never see `clap`).

use crate::app::ServeConfig;
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

/// Options of the S3 backend (global command-line options).
#[derive(Debug, Clone, clap::Args)]
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
        }
    }
}

/// Options of `thetorrent serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (IPv4 `1.2.3.4:80` or IPv6 `[::1]:80`), may be repeated.
    /// Ignored when systemd passes sockets (`LISTEN_FDS`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: Vec<String>,
    /// may worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Public base URL (e.g. `https://torrents.example.org`), used in links and the WSDL;
    /// default: built from the request's Host header.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Largest request head in bytes (431 over it).
    #[arg(long, default_value_t = crate::http::config::MAX_HEAD_BYTES)]
    pub max_head_bytes: usize,
    /// Most header lines in a request (431 over it).
    #[arg(long, default_value_t = crate::http::config::MAX_HEADERS)]
    pub max_headers: usize,
    /// Largest request body in bytes (413 over it).
    #[arg(long, default_value_t = crate::http::config::MAX_BODY_BYTES)]
    pub max_body_bytes: u64,
    /// Most open connections.
    #[arg(long, default_value_t = crate::http::config::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds allowed to send a request head.
    #[arg(long, value_parser = secs, default_value = "10")]
    pub head_timeout: Duration,
    /// Seconds an idle kept-alive connection stays open.
    #[arg(long, value_parser = secs, default_value = "60")]
    pub idle_timeout: Duration,
    /// Seconds a body sender gets before the rate floor applies.
    #[arg(long, value_parser = secs, default_value = "10")]
    pub body_grace: Duration,
    /// Slowest accepted body upload, bytes per second (0: no floor).
    #[arg(long, default_value_t = crate::http::config::BODY_MIN_RATE)]
    pub body_min_rate: u64,
    /// Seconds a slow reader gets to take each 64 KiB of an answer.
    #[arg(long, value_parser = secs, default_value = "60")]
    pub write_timeout: Duration,
    /// Seconds requests in flight get to finish after SIGTERM.
    #[arg(long, value_parser = secs, default_value = "10")]
    pub shutdown_grace: Duration,
    /// Open torrent files kept for downloads (0: no cache).
    #[arg(long, default_value_t = crate::storage::local::FILE_CACHE_ENTRIES)]
    pub file_cache: usize,
    /// Stored files whose length and modification time are remembered, so that reopening one
    /// that is no longer open needs no `stat` (0: none).
    #[arg(long, default_value_t = crate::storage::local::STAT_CACHE_ENTRIES)]
    pub stat_cache: usize,
    /// Access log in combined log format: a file to append to, or `-` for stdout (off if unset).
    #[arg(long)]
    pub access_log: Option<String>,
    /// Nice value of the upload committer thread (lower runs first; 0, the default: leave
    /// it as is). Ahead of the request workers it slows downloads under upload load.
    #[arg(long, default_value_t = crate::storage::local::writer::WRITER_NICE, allow_negative_numbers = true)]
    pub writer_nice: i32,
    /// Uploads per second allowed per client address (IPv6: per /64); 0 turns limiting off.
    #[arg(long, default_value_t = crate::app::ratelimit::DEFAULT_UPLOAD_RATE)]
    pub upload_rate: f64,
    /// Uploads an idle address may make at once before the rate applies.
    #[arg(long, default_value_t = crate::app::ratelimit::DEFAULT_UPLOAD_BURST)]
    pub upload_burst: f64,
    /// Rate-limit loopback clients too (off by default: a local reverse proxy or script).
    #[arg(long)]
    pub rate_limit_loopback: bool,
    /// Adds routes used by the test suite only (`/__test/echo`, `/__test/panic`,
    /// `/__test/sleep`). Never use in production.
    #[arg(long, hide = true)]
    pub test_routes: bool,
}

impl ServeArgs {
    /// The server settings these options give.
    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            listen: self.listen.clone(),
            workers: self.workers,
            public_url: self.public_url.clone(),
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            max_body_bytes: self.max_body_bytes,
            max_connections: self.max_connections,
            head_timeout: self.head_timeout,
            idle_timeout: self.idle_timeout,
            body_grace: self.body_grace,
            body_min_rate: self.body_min_rate,
            write_timeout: self.write_timeout,
            shutdown_grace: self.shutdown_grace,
            file_cache: self.file_cache,
            stat_cache: self.stat_cache,
            access_log: self.access_log.clone(),
            writer_nice: self.writer_nice,
            upload_rate: self.upload_rate,
            upload_burst: self.upload_burst,
            rate_limit_loopback: self.rate_limit_loopback,
            test_routes: self.test_routes,
        }
    }
}
