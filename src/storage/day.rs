//! UTC days and the per-day lists of stored hashes (`DATA/sync/YYYYMMDD.txt`).
//!
//! Owns: the day-list file format — one canonical hash per line, every line exactly
//! `LINE_LEN` bytes — which makes the count of a list its size divided by `LINE_LEN`, and a torn
//! last line (a crash mid-append) detectable by the size alone. Must never: rewrite a list in
//! place (lists only grow, by `O_APPEND` writes of whole lines) except to cut a torn tail.
//! Every I/O error names the file or folder it happened on.

use crate::storage::at;
use crate::torrent::hash::Key;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Bytes per line of a day list: 40 hex digits and a newline.
pub const LINE_LEN: u64 = 41;

/// A UTC calendar day, as the number `YYYYMMDD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(pub u32);

impl Day {
    /// Today, in UTC.
    pub fn today() -> Day {
        Day::of(SystemTime::now())
    }

    /// The UTC day of a point in time (times before 1970 map to 1970-01-01).
    pub fn of(t: SystemTime) -> Day {
        let ts = jiff::Timestamp::try_from(t)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .max(jiff::Timestamp::UNIX_EPOCH);
        Day::from_date(jiff::tz::Offset::UTC.to_datetime(ts).date())
    }

    fn from_date(d: jiff::civil::Date) -> Day {
        // Years from 1970 to 9999 only (the range of `Day::of` and of jiff).
        Day(d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32)
    }

    /// The calendar date of this day (`None` for a number that is not one, such as `Day(0)`).
    pub fn date(self) -> Option<jiff::civil::Date> {
        let n = self.0;
        let year = i16::try_from(n / 10_000).ok()?;
        jiff::civil::Date::new(year, (n / 100 % 100) as i8, (n % 100) as i8).ok()
    }

    /// Parses `YYYYMMDD` (as in `/sync/YYYYMMDD.txt`): a real calendar date from 1970 on.
    pub fn parse(s: &str) -> Option<Day> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let day = Day(s.parse().ok()?);
        (day.0 / 10_000 >= 1970 && day.date().is_some()).then_some(day)
    }

    /// File name of this day's list.
    pub fn file_name(self) -> String {
        format!("{:08}.txt", self.0)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

/// The folder of day lists.
pub struct DayLists {
    dir: PathBuf,
}

impl DayLists {
    pub fn new(dir: PathBuf) -> DayLists {
        DayLists { dir }
    }

    pub fn path(&self, day: Day) -> PathBuf {
        self.dir.join(day.file_name())
    }

    /// Every day that has a list, oldest first.
    pub fn days(&self) -> io::Result<Vec<Day>> {
        let mut days = Vec::new();
        let dir_err = |e| at(&self.dir, e);
        for e in fs::read_dir(&self.dir).map_err(dir_err)? {
            let name = e.map_err(dir_err)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(day) = name.strip_suffix(".txt").and_then(Day::parse) {
                days.push(day);
            }
        }
        days.sort();
        Ok(days)
    }

    /// Number of whole lines in a day's list (0 when it has none).
    pub fn len(&self, day: Day) -> io::Result<u64> {
        let path = self.path(day);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len() / LINE_LEN),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(at(&path, e)),
        }
    }

    /// Appends whole lines for `keys` in one write and makes them durable.
    pub fn append(&self, day: Day, keys: &[Key]) -> io::Result<()> {
        self.append_lines(day, keys, true)
    }

    /// Appends whole lines for `keys` in one write; `durable` adds an fdatasync. (A commit
    /// leaves it to the next `syncfs`: its journal keeps the intents until then.)
    pub fn append_lines(&self, day: Day, keys: &[Key], durable: bool) -> io::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(keys.len() * LINE_LEN as usize);
        for k in keys {
            buf.extend_from_slice(&k.hex());
            buf.push(b'\n');
        }
        append_to(&self.path(day), &buf, durable)
    }

    /// The sizes file beside a day's list: one little-endian u64 (the torrent's size in
    /// bytes) per listed key, appended right after the keys, so "bytes stored" costs no walk.
    pub fn sizes_path(&self, day: Day) -> PathBuf {
        self.dir.join(format!("{:08}.bytes", day.0))
    }

    /// Appends sizes to a day's sizes file (same durability rule as `append_lines`).
    pub fn append_sizes(&self, day: Day, sizes: &[u64], durable: bool) -> io::Result<()> {
        if sizes.is_empty() {
            return Ok(());
        }
        let buf: Vec<u8> = sizes.iter().flat_map(|n| n.to_le_bytes()).collect();
        append_to(&self.sizes_path(day), &buf, durable)
    }

    /// Sum of the sizes recorded for a day from byte `from` of its sizes file on (whole
    /// entries only), and the offset after the last whole entry.
    pub fn sizes_sum(&self, day: Day, from: u64) -> io::Result<(u64, u64)> {
        use std::io::{Seek, SeekFrom};
        let path = self.sizes_path(day);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, from)),
            Err(e) => return Err(at(&path, e)),
        };
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(from))
            .and_then(|_| f.read_to_end(&mut buf))
            .map_err(|e| at(&path, e))?;
        let whole = buf.len() - buf.len() % 8;
        let sum = buf[..whole]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .fold(0u64, u64::saturating_add);
        Ok((sum, from + whole as u64))
    }

    /// Makes a day's list durable.
    pub fn sync(&self, day: Day) -> io::Result<()> {
        for path in [self.path(day), self.sizes_path(day)] {
            match File::open(&path).and_then(|f| f.sync_data()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(at(&path, e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reserves room on disk for `lines` more lines of a day's list (`fallocate` past the
    /// end, size unchanged), so that the append after a commit's renames cannot fail for
    /// want of space: a full disk then fails the commit before anything became visible.
    /// File systems without `fallocate` get no reservation.
    pub fn reserve(&self, day: Day, lines: usize) -> io::Result<()> {
        if lines == 0 {
            return Ok(());
        }
        let path = self.path(day);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| at(&path, e))?;
        let len = f.metadata().map_err(|e| at(&path, e))?.len();
        // SAFETY: a valid open descriptor; offsets are in range.
        let r = unsafe {
            libc::fallocate(
                std::os::fd::AsRawFd::as_raw_fd(&f),
                libc::FALLOC_FL_KEEP_SIZE,
                len as libc::off_t,
                (lines as u64 * LINE_LEN) as libc::off_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(()),
            _ => Err(at(&path, e)),
        }
    }

    /// Reads a day's list (whole lines only).
    pub fn read(&self, day: Day) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let path = self.path(day);
        match File::open(&path).and_then(|mut f| f.read_to_end(&mut buf)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&path, e)),
        }
        let whole = buf.len() - buf.len() % LINE_LEN as usize;
        buf.truncate(whole);
        Ok(buf)
    }

    /// Cuts a torn last line left by a crash mid-append. Returns the bytes cut.
    pub fn repair(&self, day: Day) -> io::Result<u64> {
        let path = self.path(day);
        let cut = || -> io::Result<u64> {
            let len = fs::metadata(&path)?.len();
            let torn = len % LINE_LEN;
            if torn != 0 {
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(len - torn)?;
                f.sync_all()?;
            }
            Ok(torn)
        };
        cut().map_err(|e| at(&path, e))
    }
}

/// Appends `buf` to the file at `path` in one `O_APPEND` write (creating it); `durable` adds
/// an fdatasync.
fn append_to(path: &Path, buf: &[u8], durable: bool) -> io::Result<()> {
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(buf)?;
        if durable {
            f.sync_data()?;
        }
        Ok(())
    };
    write().map_err(|e| at(path, e))
}

/// Writes `lists` (day → keys) as a fresh set of day lists in `dir` (used by reindex).
pub fn write_all(
    dir: &Path,
    lists: &std::collections::BTreeMap<Day, Vec<(Key, u64)>>,
) -> io::Result<()> {
    fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
    let dl = DayLists::new(dir.to_path_buf());
    for (day, entries) in lists {
        let keys: Vec<Key> = entries.iter().map(|e| e.0).collect();
        let sizes: Vec<u64> = entries.iter().map(|e| e.1).collect();
        dl.append(*day, &keys)?;
        dl.append_sizes(*day, &sizes, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn civil_dates() {
        let day = |days: u64| Day::of(UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400));
        assert_eq!(day(0), Day(19700101));
        assert_eq!(day(11_016), Day(20000229));
        assert_eq!(day(20_538), Day(20260326));
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_651_200); // 2026-11-26
        assert_eq!(Day::of(t), Day(20261126));
        assert_eq!(
            Day::of(UNIX_EPOCH - std::time::Duration::from_secs(1)),
            Day(19700101)
        );
    }

    #[test]
    fn parse_days() {
        assert_eq!(Day::parse("20261126"), Some(Day(20261126)));
        assert_eq!(Day::parse("20240229"), Some(Day(20240229)));
        for bad in [
            "2026112",
            "2026-11-26",
            "20261326",
            "20261100",
            "20260231",
            "20250229",
            "20261131",
            "19691231",
            "../../x",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }
}
