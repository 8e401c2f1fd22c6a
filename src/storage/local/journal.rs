//! The intent journal: `DATA/journal/<writer>.log`, one per writing process (a writer).
//!
//! Owns: recording, before any file is renamed into `torrents/`, what a commit is about to
//! create (`YYYYMMDD HASH LINKHASH|-` lines, fdatasync'd), so that a crash between the rename
//! and the day-list append is repaired at the next start from this tail alone — never by
//! walking the tree. Each writing process holds an exclusive `flock` on its journal for its
//! lifetime: a journal that can be locked belongs to a dead process and is recovered.
//! Must never: be read while its owner is alive, or hold more than the commit in flight.

use crate::storage::at;
use crate::storage::day::Day;
use crate::torrent::hash::Key;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One intent: a torrent about to be filed under `key` (and linked under `link`) on `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    pub day: Day,
    pub key: Key,
    pub link: Option<Key>,
}

/// The open, locked journal of this process.
pub struct Journal {
    file: File,
    /// Its length (whole records only).
    len: u64,
    /// Where it is (named in errors).
    path: PathBuf,
}

impl Journal {
    /// Creates and locks a fresh journal.
    pub fn create(path: &Path) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| at(path, e))?;
        if !super::fsutil::try_lock(&file).map_err(|e| at(path, e))? {
            return Err(at(
                path,
                io::Error::other("journal is locked by another process"),
            ));
        }
        Ok(Journal {
            file,
            len: 0,
            path: path.to_path_buf(),
        })
    }

    /// Appends intents (not synced: the commit's `syncfs` that follows makes them durable
    /// before anything is renamed). A failed write is cut back off, so a torn record never
    /// merges with the next one and earlier intents stay.
    pub fn append(&mut self, intents: &[Intent]) -> io::Result<()> {
        if intents.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(intents.len() * 92);
        for i in intents {
            let link = i.link.map(|k| k.to_string());
            buf.push_str(&format!(
                "{} {} {}\n",
                i.day,
                i.key,
                link.as_deref().unwrap_or("-")
            ));
        }
        if let Err(e) = self.file.write_all(buf.as_bytes()) {
            let _ = self.file.set_len(self.len);
            return Err(at(&self.path, e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Bytes of intents it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets intents whose commit completed. Not synced: a stale tail is re-checked
    /// harmlessly by recovery (it is idempotent).
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0).map_err(|e| at(&self.path, e))?;
        self.len = 0;
        Ok(())
    }
}

/// Parses a journal's text; lines that are not whole intents (a torn tail) are skipped.
pub fn parse(text: &[u8]) -> Vec<Intent> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for line in text.split_terminator('\n') {
        let mut it = line.split(' ');
        let (Some(d), Some(k), Some(l), None) = (it.next(), it.next(), it.next(), it.next()) else {
            continue;
        };
        let (Some(day), Ok(key)) = (Day::parse(d), Key::parse(k)) else {
            continue;
        };
        let link = if l == "-" { None } else { Key::parse(l).ok() };
        out.push(Intent { day, key, link });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_skipped() {
        let text = b"20261126 7431A969B347E14BBA641B3517C024F7B40DFB7F -\n20261126 7431A9";
        let v = parse(text);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].day, Day(20261126));
        assert_eq!(v[0].link, None);
    }
}
