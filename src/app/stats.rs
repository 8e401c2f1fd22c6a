//! Counters for `/api/stats` and `/metrics` (Prometheus text format).
//!
//! Owns: request counts by route and status, a latency histogram of handler time, uploads by
//! result, downloads. Lock-free (fixed arrays of atomics) so counting costs the hot download
//! path a few relaxed increments. Must never: allocate or lock per request.

use crate::fetch::job::FetchStats;
use crate::storage::Outcome;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Upper bounds of the latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000, 10_000_000,
];

/// Statuses counted by their own label; any other counts as "other".
const STATUSES: [u16; 19] = [
    200, 206, 301, 302, 304, 400, 404, 405, 411, 413, 415, 416, 429, 431, 451, 500, 503, 507, 0,
];

/// What a request was for, as the `route` label.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Route {
    Download,
    Upload,
    Soap,
    Page,
    Info,
    Sync,
    Api,
    Asset,
    Health,
    Metrics,
    Other,
}

const ROUTES: [Route; 11] = [
    Route::Download,
    Route::Upload,
    Route::Soap,
    Route::Page,
    Route::Info,
    Route::Sync,
    Route::Api,
    Route::Asset,
    Route::Health,
    Route::Metrics,
    Route::Other,
];

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Download => "download",
            Route::Upload => "upload",
            Route::Soap => "soap",
            Route::Page => "page",
            Route::Info => "info",
            Route::Sync => "sync",
            Route::Api => "api",
            Route::Asset => "asset",
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Other => "other",
        }
    }
}

pub struct Stats {
    started: Instant,
    requests: Vec<AtomicU64>,
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    stored: AtomicU64,
    already: AtomicU64,
    failed: AtomicU64,
    downloads: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            requests: (0..ROUTES.len() * STATUSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            buckets: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            already: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
        }
    }
}

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len() - 1)
}

impl Stats {
    /// Counts one handled request.
    pub fn request(&self, route: Route, status: u16, took: Duration) {
        let r = ROUTES.iter().position(|&x| x == route).unwrap_or(0);
        self.requests[r * STATUSES.len() + status_index(status)].fetch_add(1, Relaxed);
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let b = LATENCY_BUCKETS_US
            .iter()
            .position(|&ub| us <= ub)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[b].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
        if route == Route::Download && (status == 200 || status == 206) {
            self.downloads.fetch_add(1, Relaxed);
        }
    }

    /// Counts one uploaded file by its result.
    pub fn upload(&self, r: Result<Outcome, ()>) {
        match r {
            Ok(Outcome::Stored) => &self.stored,
            Ok(Outcome::AlreadyStored) => &self.already,
            Err(()) => &self.failed,
        }
        .fetch_add(1, Relaxed);
    }

    /// `/api/stats`; `fetch` when fetching is on (`fetched` is 0 and `fetch` absent when off);
    /// `extra`: more counters (the storage backend's, the page cache's), as top-level fields.
    pub fn json(
        &self,
        count: u64,
        bytes: u64,
        fetch: Option<FetchStats>,
        extra: &[(&'static str, u64)],
    ) -> String {
        let mut more = String::new();
        for (name, v) in extra {
            let _ = write!(more, ",\"{name}\":{v}");
        }
        let fetch_part = match fetch {
            None => "\"fetched\":0,".to_string(),
            Some(f) => format!(
                "\"fetched\":{},\"fetch\":{{\"jobs\":{},\"joined\":{},\"failed\":{},\"busy\":{},\
                 \"misses\":{},\"running\":{},\"queued\":{},\"peers_tried\":{},\"peers_refused\":{},\
                 \"announces\":{},\"trackers_skipped\":{}}},",
                f.fetched,
                f.started,
                f.joined,
                f.failed,
                f.busy,
                f.misses,
                f.running,
                f.queued,
                f.peers_tried,
                f.peers_refused,
                f.announces,
                f.trackers_skipped
            ),
        };
        format!(
            "{{\"count\":{count},\"bytes\":{bytes},\"uploads\":{{\"stored\":{},\"already_stored\":{},\"failed\":{}}},\
             \"downloads\":{},{fetch_part}\"uptime_seconds\":{}{more}}}\n",
            self.stored.load(Relaxed),
            self.already.load(Relaxed),
            self.failed.load(Relaxed),
            self.downloads.load(Relaxed),
            self.started.elapsed().as_secs()
        )
    }

    /// `/metrics`, Prometheus text exposition format 0.0.4.
    /// `extra`: more counters, each as `thetorrent_<name>` (a gauge when the name ends in
    /// `_down`, else a counter).
    pub fn prometheus(
        &self,
        count: u64,
        bytes: u64,
        fetch: Option<FetchStats>,
        extra: &[(&'static str, u64)],
    ) -> String {
        let mut o = String::with_capacity(4096);
        let _ = writeln!(
            o,
            "# HELP thetorrent_stored_torrents Torrents in the store."
        );
        let _ = writeln!(o, "# TYPE thetorrent_stored_torrents gauge");
        let _ = writeln!(o, "thetorrent_stored_torrents {count}");
        let _ = writeln!(
            o,
            "# HELP thetorrent_stored_bytes Bytes of the stored torrent files."
        );
        let _ = writeln!(o, "# TYPE thetorrent_stored_bytes gauge");
        let _ = writeln!(o, "thetorrent_stored_bytes {bytes}");
        self.request_metrics(&mut o);
        let _ = writeln!(
            o,
            "# HELP thetorrent_uploads_total Uploaded files by result."
        );
        let _ = writeln!(o, "# TYPE thetorrent_uploads_total counter");
        for (label, v) in [
            ("stored", &self.stored),
            ("already_stored", &self.already),
            ("failed", &self.failed),
        ] {
            let _ = writeln!(
                o,
                "thetorrent_uploads_total{{result=\"{label}\"}} {}",
                v.load(Relaxed)
            );
        }
        for (name, v) in extra {
            let kind = if name.ends_with("_down") {
                "gauge"
            } else {
                "counter"
            };
            let _ = writeln!(o, "# TYPE thetorrent_{name} {kind}");
            let _ = writeln!(o, "thetorrent_{name} {v}");
        }
        if let Some(f) = fetch {
            fetch_metrics(&mut o, &f);
        }
        o
    }

    /// Requests by route and status, and the handler-time histogram, in `/metrics`.
    fn request_metrics(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP thetorrent_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(o, "# TYPE thetorrent_requests_total counter");
        for (ri, route) in ROUTES.iter().enumerate() {
            for (si, status) in STATUSES.iter().enumerate() {
                let n = self.requests[ri * STATUSES.len() + si].load(Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        o,
                        "thetorrent_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.name()
                    );
                }
            }
        }
        let _ = writeln!(
            o,
            "# HELP thetorrent_request_duration_seconds Time spent in the handler."
        );
        let _ = writeln!(o, "# TYPE thetorrent_request_duration_seconds histogram");
        let mut cum = 0;
        for (i, ub) in LATENCY_BUCKETS_US.iter().enumerate() {
            cum += self.buckets[i].load(Relaxed);
            let _ = writeln!(
                o,
                "thetorrent_request_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *ub as f64 / 1e6
            );
        }
        cum += self.buckets[LATENCY_BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(
            o,
            "thetorrent_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            o,
            "thetorrent_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "thetorrent_request_duration_seconds_count {cum}");
    }
}

/// The fetch counters in `/metrics`.
fn fetch_metrics(o: &mut String, f: &FetchStats) {
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetched_total Torrents fetched from their swarm and stored.\n\
         # TYPE thetorrent_fetched_total counter\nthetorrent_fetched_total {}",
        f.fetched
    );
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetch_requests_total Fetch requests by what became of them.\n\
         # TYPE thetorrent_fetch_requests_total counter"
    );
    for (label, v) in [
        ("started", f.started),
        ("joined", f.joined),
        ("remembered_miss", f.misses),
        ("busy", f.busy),
    ] {
        let _ = writeln!(
            o,
            "thetorrent_fetch_requests_total{{result=\"{label}\"}} {v}"
        );
    }
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetch_failed_total Fetch jobs that failed.\n\
         # TYPE thetorrent_fetch_failed_total counter\nthetorrent_fetch_failed_total {}",
        f.failed
    );
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetch_jobs Fetch jobs running or queued now.\n\
         # TYPE thetorrent_fetch_jobs gauge\n\
         thetorrent_fetch_jobs{{state=\"running\"}} {}\nthetorrent_fetch_jobs{{state=\"queued\"}} {}",
        f.running, f.queued
    );
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetch_peers_total Peer addresses tried, or refused by the address policy.\n\
         # TYPE thetorrent_fetch_peers_total counter\n\
         thetorrent_fetch_peers_total{{result=\"tried\"}} {}\n\
         thetorrent_fetch_peers_total{{result=\"refused\"}} {}",
        f.peers_tried, f.peers_refused
    );
    let _ = writeln!(
        o,
        "# HELP thetorrent_fetch_trackers_total Tracker announces made, or trackers skipped \
         (https and other schemes).\n# TYPE thetorrent_fetch_trackers_total counter\n\
         thetorrent_fetch_trackers_total{{result=\"announced\"}} {}\n\
         thetorrent_fetch_trackers_total{{result=\"skipped\"}} {}",
        f.announces, f.trackers_skipped
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_format() {
        let s = Stats::default();
        s.request(Route::Download, 200, Duration::from_micros(70));
        s.request(Route::Download, 404, Duration::from_micros(20));
        s.request(Route::Upload, 999, Duration::from_secs(100));
        s.upload(Ok(Outcome::Stored));
        s.upload(Err(()));
        let m = s.prometheus(
            7,
            1234,
            Some(FetchStats {
                fetched: 3,
                running: 2,
                ..FetchStats::default()
            }),
            &[("s3_retries", 2), ("s3_down", 1)],
        );
        assert!(m.contains("# TYPE thetorrent_s3_retries counter\nthetorrent_s3_retries 2\n"));
        assert!(m.contains("# TYPE thetorrent_s3_down gauge\nthetorrent_s3_down 1\n"));
        assert!(m.contains("thetorrent_stored_bytes 1234\n"));
        assert!(m.contains("thetorrent_stored_torrents 7\n"));
        assert!(m.contains("thetorrent_requests_total{route=\"download\",status=\"200\"} 1\n"));
        assert!(m.contains("thetorrent_requests_total{route=\"upload\",status=\"other\"} 1\n"));
        assert!(m.contains("thetorrent_request_duration_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(m.contains("thetorrent_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"));
        assert!(m.contains("thetorrent_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(m.contains("thetorrent_uploads_total{result=\"failed\"} 1\n"));
        for line in m.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("thetorrent_"), "{line}");
        }
        assert!(m.contains("thetorrent_fetched_total 3\n"));
        assert!(m.contains("thetorrent_fetch_jobs{state=\"running\"} 2\n"));
        let j = s.json(7, 1234, None, &[("s3_retries", 2)]);
        assert!(j.ends_with(",\"s3_retries\":2}\n"), "{j}");
        assert!(j.starts_with("{\"count\":7,\"bytes\":1234,\"uploads\":{\"stored\":1,\"already_stored\":0,\"failed\":1},\"downloads\":1,\"fetched\":0,"), "{j}");
        let j = s.json(
            7,
            1234,
            Some(FetchStats {
                fetched: 3,
                started: 4,
                ..FetchStats::default()
            }),
            &[],
        );
        assert!(j.contains("\"fetched\":3,\"fetch\":{\"jobs\":4,"), "{j}");
    }
}
