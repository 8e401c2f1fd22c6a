//! Stored bytes checked and repaired: reading a stored file with its recorded whole-file
//! checksum, replacing a damaged one, recording checksums for files stored without one.
//!
//! Owns: the one place a stored file is replaced ([`Store::replace`]) and how (temp file,
//! fsync, rename over the damaged one, directory fsync). Must never: replace a file with bytes
//! the caller has not proven (`storage::integrity::proves`) to be the stored torrent, or
//! record a checksum for bytes whose info hash is not the name they are filed under.

use super::*;
use crate::storage::integrity::Recorded;

/// A stored file as `verify` reads it.
pub struct StoredFile {
    pub bytes: Vec<u8>,
    /// The whole-file checksum recorded when it was stored, if any.
    pub recorded: Recorded,
    /// Names of its inode (2 for a hybrid: its v1 and truncated v2 keys).
    pub nlink: u64,
    /// Device and inode numbers (a hybrid's two names share them).
    pub inode: (u64, u64),
}

/// What recording missing checksums (part of `Store::reindex`) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    /// Files that had no whole-file checksum and got one.
    pub recorded: u64,
    /// Files still without one: their info hash does not match their name, or the file
    /// system keeps no extended attributes.
    pub left: u64,
}

impl Store {
    /// Reads the stored file at `path` and its recorded checksum. Errors name the path.
    pub fn read_stored(path: &Path) -> io::Result<StoredFile> {
        let read = || -> io::Result<StoredFile> {
            let mut f = File::open(path)?;
            let meta = f.metadata()?;
            let recorded = match fsutil::get_checksum(&f)? {
                Some(sum) => Recorded::Sha256(sum),
                None => Recorded::None,
            };
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            io::Read::read_to_end(&mut f, &mut bytes)?;
            Ok(StoredFile {
                bytes,
                recorded,
                nlink: meta.nlink(),
                inode: (meta.dev(), meta.ino()),
            })
        };
        read().map_err(|e| at(path, e))
    }

    /// Replaces the torrent filed under `ids` (its primary name, and a hybrid's second name)
    /// with `bytes`: written to a temp file with its whole-file checksum, fsynced, renamed
    /// over the stored name (a hybrid's second name is renamed over with a hard link of the
    /// same file), and the folders fsynced. The caller must have proven `bytes` to be the
    /// stored torrent (`storage::integrity::proves`). With `overwrite` false (the file is
    /// missing) an existing file is left alone: `Ok(false)`.
    pub fn replace(&self, ids: &Ids, bytes: &[u8], overwrite: bool) -> io::Result<bool> {
        let s = self.writer()?;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = s.tmp_dir.join(format!("repair-{seq}.tmp"));
        let write = || -> io::Result<()> {
            fs::create_dir_all(&s.tmp_dir)?;
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            fsutil::set_checksum(&f, &integrity::sha256(bytes))?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(at(&tmp, e));
        }
        let dst = self.torrent_path(&ids.key);
        let dir = dst.parent().unwrap_or(&self.torrents).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| at(&dir, e))?;
        let placed = if overwrite {
            fs::rename(&tmp, &dst).map(|()| true)
        } else {
            fsutil::rename_noreplace(&tmp, &dst)
        };
        let placed = match placed {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(at(&dst, e));
            }
        };
        if !placed {
            let _ = fs::remove_file(&tmp);
            return Ok(false);
        }
        let mut dirs = vec![dir];
        if let Some(link) = ids.link() {
            let lp = self.torrent_path(&link);
            let ldir = lp.parent().unwrap_or(&self.torrents).to_path_buf();
            let tmp_link = s.tmp_dir.join(format!("repair-{seq}.link"));
            let relink = || -> io::Result<()> {
                fs::create_dir_all(&ldir)?;
                fs::hard_link(&dst, &tmp_link)?;
                fs::rename(&tmp_link, &lp)
            };
            if let Err(e) = relink() {
                let _ = fs::remove_file(&tmp_link);
                return Err(at(&lp, e));
            }
            dirs.push(ldir);
        }
        for d in dirs {
            fsutil::sync_dir(&d).map_err(|e| at(&d, e))?;
        }
        Ok(true)
    }
}

/// Records the checksum of one stored file when it has none, once its info hash is checked
/// against its name: what the file holds now is recorded, so a change outside `info` made
/// before this cannot be found afterwards. `None`: it had one; `Some(false)`: it still has
/// none (its info hash does not match its name, or the file system keeps no user
/// attributes).
pub(super) fn record_one(path: &Path, name: &Key) -> io::Result<Option<bool>> {
    let mut f = File::open(path)?;
    if fsutil::get_checksum(&f)?.is_some() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut f, &mut bytes)?;
    let v = integrity::check(name, &bytes, &Recorded::None);
    if v.damage.is_some() {
        return Ok(Some(false));
    }
    fsutil::set_checksum(&f, &integrity::sha256(&bytes)).map(Some)
}
