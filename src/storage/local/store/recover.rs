//! Crash recovery: completing the commits that dead writers left in their journals, removing
//! their temp folders, and repairing torn day-list tails.
//!
//! Owns: what recovery does at start-up and how an intent is completed (idempotently). Must
//! never: touch the journal or temp folder of a live writer, or walk the torrents tree.

use super::*;

impl Store {
    /// Recovery on a read-only file system: nothing can be repaired, so only say whether
    /// something would have been (the count and `/sync/` then miss what a crash left).
    pub(super) fn check_recovery(&self) -> io::Result<()> {
        let jdir = self.root.join("journal");
        let entries = match fs::read_dir(&jdir) {
            Ok(e) => e,
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(at(&jdir, e)),
        };
        let mut pending = 0;
        for e in entries {
            let path = e.map_err(|e| at(&jdir, e))?.path();
            for i in journal::parse(&fs::read(&path).map_err(|e| at(&path, e))?) {
                let listed = self
                    .days
                    .read(i.day)?
                    .chunks_exact(day::LINE_LEN as usize)
                    .any(|l| l[..40] == i.key.hex());
                if !listed && self.torrent_path(&i.key).exists() {
                    pending += 1;
                }
            }
        }
        if pending > 0 {
            eprintln!(
                "thetorrent: {}: read-only, and {pending} torrents stored before a crash are \
                 not yet in the day lists (the count is short until it is opened writable)",
                self.root.display()
            );
        }
        Ok(())
    }

    /// Finishes what dead writers left: intents whose file exists but is missing from its day
    /// list are appended (hybrid links restored); temp folders and journals are removed; torn
    /// day-list tails are cut. Reads only `journal/`, `tmp/` and the day lists named there.
    pub(super) fn recover(&self) -> io::Result<()> {
        let jdir = self.root.join("journal");
        let mut live = HashSet::new();
        let mut touched = Vec::new();
        for e in fs::read_dir(&jdir).map_err(|e| at(&jdir, e))? {
            let path = e.map_err(|e| at(&jdir, e))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .map(str::to_string)
            else {
                continue;
            };
            let f = match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(f) => f,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(at(&path, e)),
            };
            if !fsutil::try_lock(&f).map_err(|e| at(&path, e))? {
                live.insert(id);
                continue;
            }
            let intents = journal::parse(&fs::read(&path).map_err(|e| at(&path, e))?);
            touched.extend(self.replay(&intents)?);
            let _ = fs::remove_dir_all(self.root.join("tmp").join(&id));
            fs::remove_file(&path).map_err(|e| at(&path, e))?;
        }
        // Temp folders of writers without a live journal. A process that started writing
        // after the journals were listed has a live journal by now (it is created before the
        // temp folder): look again before removing anything.
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).map_err(|e| at(&tmp, e))? {
            let e = e.map_err(|e| at(&tmp, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) && !self.journal_alive(&name)? {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        // Torn tails of any day list (cheap: one stat per day).
        for d in self.days.days()? {
            let list = self.days.path(d);
            if !touched.contains(&d)
                && fs::metadata(&list).map_err(|e| at(&list, e))?.len() % day::LINE_LEN != 0
            {
                self.days.repair(d)?;
            }
        }
        Ok(())
    }

    /// Whether writer `id` has a journal that its (live) process holds locked.
    pub(super) fn journal_alive(&self, id: &str) -> io::Result<bool> {
        let path = self.root.join("journal").join(format!("{id}.log"));
        match File::open(&path) {
            Ok(f) => Ok(!fsutil::try_lock(&f).map_err(|e| at(&path, e))?),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(at(&path, e)),
        }
    }

    /// Completes the intents of an interrupted commit: each whose file exists gets its hybrid
    /// link and, unless its day list already holds it, its line. Idempotent. Returns the days
    /// whose lists were appended to.
    pub(super) fn replay(&self, intents: &[Intent]) -> io::Result<Vec<Day>> {
        let mut add: BTreeMap<Day, Vec<Key>> = BTreeMap::new();
        let mut listed: HashMap<Day, HashSet<[u8; 40]>> = HashMap::new();
        for i in intents {
            let dst = self.torrent_path(&i.key);
            if !dst.exists() {
                continue; // never renamed: the upload was not answered "stored"
            }
            if let Some(link) = i.link {
                self.link(&dst, &link)?;
            }
            let set = match listed.entry(i.day) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    let text = self.days.read(i.day)?;
                    v.insert(
                        text.chunks_exact(day::LINE_LEN as usize)
                            .filter_map(|l| l[..40].try_into().ok())
                            .collect(),
                    )
                }
            };
            if set.insert(i.key.hex()) {
                add.entry(i.day).or_default().push(i.key);
            }
        }
        let n: usize = add.values().map(Vec::len).sum();
        if n > 0 {
            eprintln!(
                "thetorrent: {}: recovered {n} torrents of an interrupted commit into the day lists",
                self.root.display()
            );
        }
        let mut touched = Vec::new();
        for (day, keys) in add {
            // A torn tail first, so the appended lines stay aligned.
            if self.days.path(day).exists() {
                self.days.repair(day)?;
            }
            self.days.append(day, &keys)?;
            let sizes: Vec<u64> = keys
                .iter()
                .map(|k| fs::metadata(self.torrent_path(k)).map_or(0, |m| m.len()))
                .collect();
            self.days.append_sizes(day, &sizes, true)?;
            touched.push(day);
        }
        Ok(touched)
    }
}
