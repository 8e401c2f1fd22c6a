//! HTTP dates (RFC 9110 section 5.6.7): formatting IMF-fixdate, parsing the three forms.
//!
//! Owns: conversion between `SystemTime` and HTTP date text, and the per-second cache of the
//! `Date` header. Must never: allocate on the formatting path or panic on any input text.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// IMF-fixdate of `secs` since the epoch, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(secs: u64) -> [u8; 29] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    let two = |o: &mut [u8], v: u32| {
        o[0] = b'0' + (v / 10 % 10) as u8;
        o[1] = b'0' + (v % 10) as u8;
    };
    two(&mut out[5..7], d);
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    two(&mut out[17..19], (rem / 3600) as u32);
    two(&mut out[20..22], (rem / 60 % 60) as u32);
    two(&mut out[23..25], (rem % 60) as u32);
    out
}

/// The current `Date` value, formatted at most once per second per thread.
pub fn now() -> [u8; 29] {
    thread_local! {
        static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    // The coarse clock (a few ms behind at most) is cheaper than `SystemTime::now`.
    let s = crate::clock::realtime_secs();
    CACHE.with(|c| {
        let (cs, v) = c.get();
        if cs == s {
            v
        } else {
            let v = format(s);
            c.set((s, v));
            v
        }
    })
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |a, &d| a * 10 + (d - b'0') as u32))
}

fn month(b: &[u8]) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(b))
        .map(|p| p as u32 + 1)
}

fn hms(b: &[u8]) -> Option<u64> {
    let mut it = b.split(|&c| c == b':');
    let (h, m, s) = (num(it.next()?)?, num(it.next()?)?, num(it.next()?)?);
    if it.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h as u64 * 3600 + m as u64 * 60 + s as u64)
}

/// Parses an HTTP date in any of the three forms (IMF-fixdate, RFC 850, asctime).
pub fn parse(v: &[u8]) -> Option<SystemTime> {
    let words: Vec<&[u8]> = v
        .split(|&c| c == b' ' || c == b',' || c == b'\t')
        .filter(|w| !w.is_empty())
        .take(7)
        .collect();
    let (y, m, d, t) = match words.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, mo, y, t, gmt] if gmt.eq_ignore_ascii_case(b"GMT") && y.len() == 4 => {
            (num(y)?, month(mo)?, num(d)?, hms(t)?)
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, gmt] if gmt.eq_ignore_ascii_case(b"GMT") => {
            let mut p = dmy.split(|&c| c == b'-');
            let (d, mo, y) = (p.next()?, p.next()?, p.next()?);
            let y = num(y)?;
            let y = if y < 70 {
                2000 + y
            } else if y < 100 {
                1900 + y
            } else {
                y
            };
            (y, month(mo)?, num(d)?, hms(t)?)
        }
        // Sun Nov  6 08:49:37 1994
        [_, mo, d, t, y] => (num(y)?, month(mo)?, num(d)?, hms(t)?),
        _ => return None,
    };
    if !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y as i64, m, d);
    let secs = (days as u64).checked_mul(86_400)?.checked_add(t)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known() {
        assert_eq!(&format(784111777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format(1_772_000_000), b"Wed, 25 Feb 2026 06:13:20 GMT");
        for s in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(s).map(crate::clock::secs), Some(784111777), "{s:?}");
        }
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b"Sun, 99 Nov 1994 08:49:37 GMT"), None);
        for t in [0u64, 951_782_400, 4_102_444_800, 1_700_000_000] {
            assert_eq!(parse(&format(t)).map(crate::clock::secs), Some(t));
        }
    }
}
