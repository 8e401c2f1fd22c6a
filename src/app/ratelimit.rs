//! Per-address rate limiting of uploads (token buckets), answering 429 with `Retry-After`.
//!
//! Owns: how many files one client address may upload per second (a request of several files
//! takes one token per file). IPv6 addresses are limited
//! per /64 (one host usually owns a whole /64). Loopback is exempt unless asked for (a reverse
//! proxy on the same host would otherwise make every client one address). Must never: grow
//! without bound (at most `MAX_TRACKED` addresses; full buckets are forgotten first) or lock for
//! longer than a map lookup.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default sustained upload rate per address (files per second: each file of a multipart
/// request counts).
pub const DEFAULT_UPLOAD_RATE: f64 = 5.0;
/// Default burst: uploads an idle address may make at once.
pub const DEFAULT_UPLOAD_BURST: f64 = 50.0;
/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 100_000;

pub struct RateLimiter {
    rate: f64,
    burst: f64,
    limit_loopback: bool,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
        v4 => v4,
    }
}

impl RateLimiter {
    /// `rate` per second (0: no limit), `burst` at once.
    pub fn new(rate: f64, burst: f64, limit_loopback: bool) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            limit_loopback,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; `Err(wait)` when it has none left.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(ip) = ip else { return Ok(()) };
        let key = bucket_key(ip);
        if self.rate <= 0.0 || (key.is_loopback() && !self.limit_loopback) {
            return Ok(());
        }
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let (tokens, at) = map.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let rl = RateLimiter::new(2.0, 3.0, false);
        let ip: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let t = Instant::now();
        for _ in 0..3 {
            assert!(rl.check_at(ip, t).is_ok());
        }
        let wait = rl.check_at(ip, t).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert!(rl.check_at(ip, t + Duration::from_millis(600)).is_ok());
        // Another address has its own bucket; loopback is exempt.
        assert!(rl.check_at(Some("192.0.2.8".parse().unwrap()), t).is_ok());
        for _ in 0..10 {
            assert!(rl.check_at(Some("127.0.0.1".parse().unwrap()), t).is_ok());
        }
    }

    #[test]
    fn ipv6_by_prefix() {
        let rl = RateLimiter::new(1.0, 1.0, true);
        let t = Instant::now();
        assert!(rl.check_at(Some("2001:db8::1".parse().unwrap()), t).is_ok());
        assert!(rl
            .check_at(Some("2001:db8::2".parse().unwrap()), t)
            .is_err());
        assert!(rl
            .check_at(Some("2001:db8:0:1::1".parse().unwrap()), t)
            .is_ok());
        assert!(rl.check_at(Some("::1".parse().unwrap()), t).is_ok());
        assert!(rl.check_at(Some("::1".parse().unwrap()), t).is_err());
    }

    #[test]
    fn off_means_off() {
        let rl = RateLimiter::new(0.0, 1.0, true);
        for _ in 0..100 {
            assert!(rl.check(Some("192.0.2.1".parse().unwrap())).is_ok());
        }
    }
}
