//! HTTP dates (RFC 9110 section 5.6.7): formatting IMF-fixdate, parsing the three forms.
//!
//! Owns: conversion between `SystemTime` and HTTP date text, and the per-second cache of the
//! `Date` header. Must never: allocate on the formatting path or panic on any input text.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The UTC calendar time of `secs` since the epoch (the last representable second, in 9999,
/// past it).
pub fn utc(secs: u64) -> jiff::civil::DateTime {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    jiff::tz::Offset::UTC.to_datetime(t)
}

/// IMF-fixdate of `secs` since the epoch, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(secs: u64) -> [u8; 29] {
    let t = utc(secs);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[t.weekday().to_sunday_zero_offset() as usize]);
    let two = |o: &mut [u8], v: i16| {
        let v = v.unsigned_abs();
        o[0] = b'0' + (v / 10 % 10) as u8;
        o[1] = b'0' + (v % 10) as u8;
    };
    two(&mut out[5..7], t.day().into());
    out[8..11].copy_from_slice(MONTHS[t.month() as usize - 1]);
    two(&mut out[12..14], t.year() / 100);
    two(&mut out[14..16], t.year() % 100);
    two(&mut out[17..19], t.hour().into());
    two(&mut out[20..22], t.minute().into());
    two(&mut out[23..25], t.second().into());
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
    if y < 1970 {
        return None;
    }
    // A date that does not exist (31 April, 29 February 2023) is no date.
    let (y, m, d) = (i16::try_from(y).ok()?, m as i8, i8::try_from(d).ok()?);
    let date = jiff::civil::Date::new(y, m, d).ok()?;
    let midnight = jiff::tz::Offset::UTC.to_timestamp(date.into()).ok()?;
    let secs = u64::try_from(midnight.as_second()).ok()?.checked_add(t)?;
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
        assert_eq!(parse(b"Tue, 31 Apr 2026 08:49:37 GMT"), None);
        assert_eq!(
            parse(b"Wed, 29 Feb 2024 00:00:00 GMT").map(crate::clock::secs),
            Some(1_709_164_800)
        );
        assert_eq!(&format(u64::MAX), b"Thu, 30 Dec 9999 22:00:00 GMT");
        for t in [0u64, 951_782_400, 4_102_444_800, 1_700_000_000] {
            assert_eq!(parse(&format(t)).map(crate::clock::secs), Some(t));
        }
    }
}
