//! Writing: staging uploads to temp files and the group commit that makes them durable,
//! renames them into place and lists them.
//!
//! Owns: the commit's order (temp files and intents synced, renames, renames synced, day-list
//! lines) and the pipelined form the server's writer uses. Must never: rename a file before
//! its bytes and intent are durable, give an outcome before its rename is, or replace a
//! stored file.

use super::*;

impl Store {
    /// This process's journal and temp folder, created on its first write.
    pub(super) fn writer(&self) -> io::Result<&WriterFiles> {
        if let Some(s) = self.writer.get() {
            return Ok(s);
        }
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::EROFS));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("{}-{nanos}", std::process::id());
        let journal_path = self.root.join("journal").join(format!("{id}.log"));
        let journal = Journal::create(&journal_path)?;
        let tmp_dir = self.root.join("tmp").join(&id);
        fs::create_dir_all(&tmp_dir).map_err(|e| at(&tmp_dir, e))?;
        let _ = self.writer.set(WriterFiles {
            journal: Mutex::new((journal, Pending::default())),
            journal_path,
            tmp_dir,
            seq: AtomicU64::new(0),
        });
        self.writer
            .get()
            .ok_or_else(|| io::Error::other("writer files not set"))
    }

    /// Checks limits and the blocklist, validates, and writes `bytes` to a temp file (not yet
    /// synced, not yet visible). Rejections change nothing.
    pub fn stage(&self, bytes: &[u8]) -> Result<Staged, PutError> {
        self.check_size(bytes.len() as u64)?;
        let parsed = torrent::validate(bytes).map_err(PutError::Invalid)?;
        self.stage_parsed(bytes, &parsed)
    }

    /// `stage` for bytes already validated into `parsed`.
    pub fn stage_parsed(&self, bytes: &[u8], parsed: &Parsed) -> Result<Staged, PutError> {
        self.stage_in_lane(bytes, parsed, 0)
    }

    /// `stage_parsed` for staging lane `lane`: concurrent stagers each write into their own
    /// temp subfolders, so that their creates do not queue on one folder's lock.
    pub fn stage_in_lane(
        &self,
        bytes: &[u8],
        parsed: &Parsed,
        lane: u64,
    ) -> Result<Staged, PutError> {
        self.check_size(bytes.len() as u64)?;
        let ids = Ids::of(parsed);
        ids.check_blocked(|k| self.blocked(k))?;
        if self.contains(&ids.key) {
            return Ok(Staged {
                ids,
                size: bytes.len() as u64,
                tmp: None,
            });
        }
        let s = self.writer()?;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed);
        // Temp files rotate through a few subfolders, so that creating the next files and
        // renaming the previous batch out do not wait on one folder's lock.
        let dir = s.tmp_dir.join(format!(
            "{}",
            lane * TMP_SLOTS + (seq / TMP_SLOT_FILES) % TMP_SLOTS
        ));
        let tmp = dir.join(format!("{seq}.tmp"));
        let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
        let res = match create() {
            // First use of the subfolder, or the temp folder was removed behind our back (an
            // operator cleaning up): again.
            Err(e) if not_found(&e) => fs::create_dir_all(&dir)
                .map_err(|e| at(&dir, e))
                .and_then(|_| create()),
            r => r,
        }
        .and_then(|mut f| {
            f.write_all(bytes)?;
            // The whole-file checksum goes with the inode: made durable by the same syncfs as
            // the bytes, before the rename, so a visible file never lacks the one it had.
            fsutil::set_checksum(&f, &integrity::sha256(bytes)).map(drop)
        })
        .map_err(|e| at(&tmp, e));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(PutError::from(e));
        }
        Ok(Staged {
            ids,
            size: bytes.len() as u64,
            tmp: Some(tmp),
        })
    }

    /// Checks the size limit (callers with a file size can reject before reading).
    pub fn check_size(&self, size: u64) -> Result<(), PutError> {
        self.config.check_size(size)
    }

    /// Makes a batch of staged uploads durable and visible, sharing the syncs: temps synced,
    /// intents journaled, renames (never replacing an existing file), renames synced, keys
    /// appended to today's list. Each `Ok` outcome is durable when this returns. An error
    /// fails the whole batch (its temp files are removed); files it had already renamed are
    /// completed by the next commit of this process, or by recovery after a restart.
    pub fn commit(&self, batch: Vec<Staged>) -> io::Result<Vec<(Ids, Outcome)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Both halves under one lock: no other commit of this process comes between.
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (_, renamed) = self.commit_step(batch, None, &mut |_| {});
        match renamed? {
            Some(r) => self.commit_step(Vec::new(), Some(r), &mut |_| {}).0,
            None => Ok(Vec::new()),
        }
    }

    /// The pipelined form of [`commit`](Self::commit) (the server's writer): one `syncfs` per
    /// call serves two batches. It makes durable, together, the renames of `prev` (the batch
    /// the previous call renamed), `batch`'s temp files and `batch`'s intents; then it appends
    /// `prev`'s keys to the day list and hands `prev`'s outcomes (or its error) to `answer`,
    /// before it renames `batch`'s temps into place. It returns `batch`, renamed but not yet
    /// durable, for the next call (`None` when `batch` is empty; call with an empty batch to
    /// finish the last one). `answer` is called exactly once (with no outcomes without a
    /// `prev`). Same invariants as `commit`: a file is renamed only after its bytes and
    /// intent are durable, and an outcome is given only after its rename is.
    pub fn commit_pipelined(
        &self,
        batch: Vec<Staged>,
        prev: Option<Renamed>,
        answer: impl FnOnce(io::Result<Vec<(Ids, Outcome)>>),
    ) -> io::Result<Option<Renamed>> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut answer = Some(answer);
        let mut once = |r: io::Result<Vec<(Ids, Outcome)>>| {
            if let Some(a) = answer.take() {
                a(r)
            }
        };
        let (rest, renamed) = self.commit_step(batch, prev, &mut once);
        once(rest);
        renamed
    }

    /// One step of the pipeline; the caller holds `commit_lock`. `prev`'s outcomes go to
    /// `answer` as soon as they are known, before the renames, or else in the result.
    // Long: every exit between the numbered steps hands back `prev`'s outcome and discards the
    // batch in its own way; the steps that can stand alone are the methods below.
    pub(super) fn commit_step(
        &self,
        mut batch: Vec<Staged>,
        mut prev: Option<Renamed>,
        answer: &mut dyn FnMut(io::Result<Vec<(Ids, Outcome)>>),
    ) -> Step {
        if batch.is_empty() && prev.is_none() {
            return (Ok(Vec::new()), Ok(None));
        }
        let mut prev_result: io::Result<Vec<(Ids, Outcome)>> = Ok(Vec::new());
        let (s, root) = match self.writer().and_then(|s| Ok((s, self.open_root()?))) {
            Ok(x) => x,
            Err(e) => {
                discard(&mut batch);
                // `prev`'s renames stay, unlisted: the next commit or recovery lists them.
                let pe = prev.map(|_| Err(copy(&e))).unwrap_or(Ok(Vec::new()));
                return (pe, Err(e));
            }
        };
        let day = Day::today();
        let intents: Vec<Intent> = batch
            .iter()
            .filter(|st| st.tmp.is_some())
            .map(|st| Intent {
                day,
                key: st.ids.key,
                link: st.ids.link(),
            })
            .collect();
        let mut guard = s.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (journal, pending) = &mut *guard;
        // 0. A full journal starts afresh (rarely).
        if journal.len() > JOURNAL_MAX_BYTES {
            if let Err(e) =
                self.restart_journal(&root, journal, pending, &mut prev, &mut prev_result)
            {
                discard(&mut batch);
                return (prev_result, Err(e));
            }
            if batch.is_empty() {
                return (prev_result, Ok(None));
            }
        }
        // 1. Room for the day-list lines, then the intents for what is about to appear.
        let mut batch_error = None;
        if !batch.is_empty() {
            if let Err(e) = self.reserve_and_journal(day, &intents, prev.as_ref(), journal) {
                discard(&mut batch);
                batch_error = Some(e);
            }
        }
        // 2. One syncfs: `prev`'s renames, these temp files' contents and intents, and the
        //    previous day-list lines reach the disk.
        if let Err(e) = self.syncfs(&root) {
            discard(&mut batch);
            let pe = match prev {
                Some(_) => Err(copy(&e)),
                None => prev_result,
            };
            return (pe, Err(batch_error.unwrap_or(e)));
        }
        // 3. `prev` is durable: its keys go to the day list (not synced here: the next syncfs
        //    does it, or recovery from the journal that keeps its intents), and it may be
        //    answered. A commit that failed midway is completed now (its renames are durable).
        let prev_seq = prev.as_ref().map(|p| p.seq);
        if !pending.listed && !pending.is_empty() && prev_seq != Some(pending.seq) {
            if let Err(e) = self.replay(&pending.intents) {
                discard(&mut batch);
                return (prev.map_or(prev_result, |_| Err(copy(&e))), Err(e));
            }
            pending.listed = true;
        }
        if let Some(p) = prev.take() {
            prev_result = self.list(p, pending);
        }
        if let Some(e) = batch_error {
            return (prev_result, Err(e));
        }
        if batch.is_empty() {
            return (prev_result, Ok(None));
        }
        // `prev` is answered now: the renames below need not delay it.
        answer(std::mem::replace(&mut prev_result, Ok(Vec::new())));
        pending.intents = intents;
        pending.listed = false;
        pending.seq += 1;
        // 4. Renames; a failed batch's renamed files are listed by the next commit (`pending`).
        let (renamed, result) = self.rename_batch(batch, day, pending.seq);
        (prev_result, result.map(|()| Some(renamed)))
    }

    /// Step 0 of a commit, when the journal is full: first the batch in flight (`prev`, its
    /// outcome into `prev_result`) is finished and every day-list line the journal covers made
    /// durable (one extra syncfs), or completed when the last commit failed midway; then the
    /// journal is cleared.
    pub(super) fn restart_journal(
        &self,
        root: &File,
        journal: &mut Journal,
        pending: &mut Pending,
        prev: &mut Option<Renamed>,
        prev_result: &mut io::Result<Vec<(Ids, Outcome)>>,
    ) -> io::Result<()> {
        if let Some(p) = prev.take() {
            *prev_result = self.syncfs(root).and_then(|()| self.list(p, pending));
        }
        self.syncfs(root).and_then(|()| {
            if !pending.listed && !pending.is_empty() {
                self.replay(&pending.intents)?;
            }
            journal.clear()
        })?;
        pending.clear();
        Ok(())
    }

    /// Step 1 of a commit: room for the day-list lines (this batch's and the unlisted
    /// `prev`'s), before anything becomes visible — a disk that is full fails the commit
    /// here, not between the renames and the lines — then the intents, journaled.
    pub(super) fn reserve_and_journal(
        &self,
        day: Day,
        intents: &[Intent],
        prev: Option<&Renamed>,
        journal: &mut Journal,
    ) -> io::Result<()> {
        let unlisted = prev.filter(|p| p.day == day).map_or(0, |p| p.keys.len());
        match intents.len() {
            0 => Ok(()),
            n => self.days.reserve(day, n + unlisted),
        }?;
        journal.append(intents)
    }

    /// Step 4 of a commit: the renames, exclusive (a file another writer created first is
    /// never replaced). After the first failure the remaining temp files are removed.
    pub(super) fn rename_batch(
        &self,
        batch: Vec<Staged>,
        day: Day,
        seq: u64,
    ) -> (Renamed, io::Result<()>) {
        let mut renamed = Renamed {
            day,
            seq,
            out: Vec::with_capacity(batch.len()),
            keys: Vec::new(),
            sizes: Vec::new(),
        };
        let mut result = Ok(());
        for st in batch {
            let Some(tmp) = st.tmp else {
                renamed.out.push((st.ids, Outcome::AlreadyStored));
                continue;
            };
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
                continue;
            }
            match self.place(&tmp, &st.ids) {
                Ok(true) => {
                    renamed.keys.push(st.ids.key);
                    renamed.sizes.push(st.size);
                    renamed.out.push((st.ids, Outcome::Stored));
                }
                Ok(false) => {
                    let _ = fs::remove_file(&tmp);
                    renamed.out.push((st.ids, Outcome::AlreadyStored));
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    result = Err(e);
                }
            }
        }
        (renamed, result)
    }

    /// Appends the keys of a renamed batch, now durable, to its day list and gives its
    /// outcomes. Not synced: the next commit's first syncfs does it, and the journal keeps
    /// the intents until then.
    pub(super) fn list(
        &self,
        r: Renamed,
        pending: &mut Pending,
    ) -> io::Result<Vec<(Ids, Outcome)>> {
        if pending.seq != r.seq || pending.listed {
            // Someone else completed it meanwhile (a replay): complete it the idempotent way.
            let intents: Vec<Intent> = r
                .keys
                .iter()
                .map(|&key| {
                    let link = r
                        .out
                        .iter()
                        .find(|(i, _)| i.key == key)
                        .and_then(|(i, _)| i.link());
                    Intent {
                        day: r.day,
                        key,
                        link,
                    }
                })
                .collect();
            self.replay(&intents)?;
            return Ok(r.out);
        }
        self.days.append_lines(r.day, &r.keys, false)?;
        pending.listed = true;
        // Sizes for "bytes stored"; a crash between the two appends is repaired by
        // `day_bytes`, which sizes the listed files it finds missing.
        let _ = self.days.append_sizes(r.day, &r.sizes, false);
        Ok(r.out)
    }

    /// Ends this process's writing cleanly: the last commit's day-list lines are made
    /// durable, then its journal and temp folder are removed (what recovery would otherwise
    /// do at the next start). Runs when the store is dropped; harmless to call twice.
    pub fn settle(&self) -> io::Result<()> {
        let Some(s) = self.writer.get() else {
            return Ok(());
        };
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut guard = s.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (journal, pending) = &mut *guard;
        if !pending.is_empty() {
            if pending.listed {
                // Every day-list line appended since the last syncfs (with the pipelined
                // writer that can be two commits' lines, on two days at midnight).
                self.syncfs(&self.open_root()?)?;
            } else {
                self.replay(&pending.intents)?;
            }
            journal.clear()?;
            pending.clear();
        }
        let _ = fs::remove_dir_all(&s.tmp_dir);
        fs::remove_file(&s.journal_path).map_err(|e| at(&s.journal_path, e))
    }

    /// The data directory, open (for `syncfs`).
    pub(super) fn open_root(&self) -> io::Result<File> {
        File::open(&self.root).map_err(|e| at(&self.root, e))
    }

    /// `syncfs` of the data directory's file system; an error names the directory.
    pub(super) fn syncfs(&self, root: &File) -> io::Result<()> {
        fsutil::syncfs(root).map_err(|e| at(&self.root, e))
    }

    /// Renames `tmp` to the key's path (creating shard folders) and links a hybrid's second
    /// key. `Ok(false)`: already there.
    pub(super) fn place(&self, tmp: &Path, ids: &Ids) -> io::Result<bool> {
        let dst = self.torrent_path(&ids.key);
        let created = match fsutil::rename_noreplace(tmp, &dst) {
            Err(e) if not_found(&e) => {
                let dir = dst.parent().unwrap_or(&self.torrents);
                fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
                fsutil::rename_noreplace(tmp, &dst).map_err(|e| at(&dst, e))?
            }
            r => r.map_err(|e| at(&dst, e))?,
        };
        if let Some(link) = ids.link() {
            self.link(&dst, &link)?;
        }
        Ok(created)
    }

    pub(super) fn link(&self, dst: &Path, link: &Key) -> io::Result<()> {
        let lp = self.torrent_path(link);
        let r = match fs::hard_link(dst, &lp) {
            Err(e) if not_found(&e) => {
                let dir = lp.parent().unwrap_or(&self.torrents);
                fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
                fs::hard_link(dst, &lp)
            }
            r => r,
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            r => r.map_err(|e| at(&lp, e)),
        }
    }

    /// Validates and stores one torrent durably.
    pub fn put(&self, bytes: &[u8]) -> Result<(Ids, Outcome), PutError> {
        let staged = self.stage(bytes)?;
        let mut v = self.commit(vec![staged])?;
        v.pop()
            .ok_or_else(|| PutError::from(io::Error::other("empty commit")))
    }
}

/// Removes the temp files of a batch that will not be committed.
fn discard(batch: &mut Vec<Staged>) {
    for st in batch.drain(..) {
        if let Some(tmp) = st.tmp {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// The same error again (an error goes to two callers: the answered batch and the next).
fn copy(e: &io::Error) -> io::Error {
    crate::storage::duplicate(e)
}
