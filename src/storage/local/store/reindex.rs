//! Whole-tree operations: walking the stored files and rebuilding the day lists from them
//! (recording on the way the whole-file checksums files stored without one lack).
//!
//! Owns: `walk`, `reindex` and the file name of a stored torrent. Must never: run on start-up
//! (only the `reindex` and `verify` commands walk the tree).

use super::repair::{record_one, Backfill};
use super::*;

/// What `Store::reindex` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reindexed {
    /// Torrents listed.
    pub count: u64,
    /// Whole-file checksums recorded for files that had none.
    pub checksums: Backfill,
}

impl Store {
    /// Every file under `torrents/` (iteratively; order is the directory order).
    pub fn walk(&self, mut f: impl FnMut(&Path, &fs::Metadata)) -> io::Result<()> {
        let mut stack = vec![self.torrents.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).map_err(|e| at(&dir, e))? {
                let e = e.map_err(|e| at(&dir, e))?;
                let ft = e.file_type().map_err(|err| at(&e.path(), err))?;
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_file() {
                    let m = e.metadata().map_err(|err| at(&e.path(), err))?;
                    f(&e.path(), &m);
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the day lists from the tree (each primary file on its modification day), and
    /// records a whole-file checksum for each file that has none and whose info hash matches
    /// its name. Walks everything: only for an explicit `thetorrent reindex`.
    pub fn reindex(&self) -> io::Result<Reindexed> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut lists: BTreeMap<Day, Vec<(i64, Key, u64)>> = BTreeMap::new();
        let mut err = None;
        let mut checksums = Backfill::default();
        // A hybrid's two names are one file: its checksum is recorded (or not) once.
        let mut linked = HashSet::new();
        self.walk(|path, meta| {
            let Some(key) = key_of_path(path) else { return };
            let first = meta.nlink() <= 1 || linked.insert((meta.dev(), meta.ino()));
            match record_one(path, &key) {
                Ok(Some(true)) if first => checksums.recorded += 1,
                Ok(Some(false)) if first => checksums.left += 1,
                Ok(_) => {}
                Err(e) => {
                    err.get_or_insert(at(path, e));
                    return;
                }
            }
            if meta.nlink() > 1 {
                // A hybrid: only the name of its primary key (the v1 hash) counts.
                match fs::read(path).map(|b| torrent::validate(&b).map(|p| p.key())) {
                    Ok(Ok(k)) if k != key => return,
                    Ok(_) => {}
                    Err(e) => {
                        err.get_or_insert(at(path, e));
                        return;
                    }
                }
            }
            let mtime = meta.mtime();
            let day = Day::of(meta.modified().unwrap_or(std::time::UNIX_EPOCH));
            lists.entry(day).or_default().push((mtime, key, meta.len()));
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        let mut count = 0;
        let lists: BTreeMap<Day, Vec<(Key, u64)>> = lists
            .into_iter()
            .map(|(d, mut v)| {
                v.sort();
                count += v.len() as u64;
                (d, v.into_iter().map(|(_, k, n)| (k, n)).collect())
            })
            .collect();
        let new = self.root.join("sync.new");
        let old = self.root.join("sync.old");
        let sync = self.root.join("sync");
        let _ = fs::remove_dir_all(&new);
        day::write_all(&new, &lists)?;
        fsutil::sync_dir(&new).map_err(|e| at(&new, e))?;
        let _ = fs::remove_dir_all(&old);
        fs::rename(&sync, &old).map_err(|e| at(&sync, e))?;
        fs::rename(&new, &sync).map_err(|e| at(&new, e))?;
        fsutil::sync_dir(&self.root).map_err(|e| at(&self.root, e))?;
        fs::remove_dir_all(&old).map_err(|e| at(&old, e))?;
        *self.count_cache.lock().unwrap_or_else(|p| p.into_inner()) = (Day(0), 0);
        *self.bytes_cache.lock().unwrap_or_else(|p| p.into_inner()) = BytesCache::default();
        Ok(Reindexed { count, checksums })
    }
}

/// The key in a stored file's name (`<40 HEX>.torrent`), if it is one.
pub fn key_of_path(path: &Path) -> Option<Key> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_suffix(".torrent")?;
    if hex.len() != 40 {
        return None;
    }
    Key::parse(hex).ok()
}
