//! The segment committer: writes the list segments naming the keys this front end created.
//!
//! Owns: batching created keys into segments and retrying refused ones. Must never: answer
//! "stored" before the segment naming the key is acknowledged.

use super::*;

impl Shared {
    /// The segment committer: one segment per batch of created keys; lines the object store
    /// refused are kept and written with the next batch (their uploads were answered
    /// `failed`, and stay stored: a retry answers "already stored").
    pub(super) fn commit_lines(&self, rx: mpsc::Receiver<LineJob>) {
        let mut pending: Vec<(Key, u64)> = Vec::new();
        let mut marked: HashSet<Day> = HashSet::new();
        loop {
            let first = if pending.is_empty() {
                match rx.recv() {
                    Ok(j) => Some(j),
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(SEGMENT_RETRY) {
                    Ok(j) => Some(j),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut jobs: Vec<LineJob> = first.into_iter().collect();
            while jobs.len() + pending.len() < MAX_SEGMENT_KEYS {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let mut keys = std::mem::take(&mut pending);
            keys.extend(jobs.iter().map(|j| (j.key, j.size)));
            let day = Day::today();
            let res = self.write_segment(day, &keys, &mut marked);
            let reply = res.as_ref().map(|_| ()).map_err(|e| e.to_string());
            if let Err(e) = &res {
                eprintln!(
                    "thetorrent: cannot write a list segment ({} keys, kept for retry): {e}",
                    keys.len()
                );
                pending = keys;
            }
            for j in jobs {
                let _ = j.reply.send(reply.clone());
            }
        }
    }

    pub(super) fn write_segment(
        &self,
        day: Day,
        keys: &[(Key, u64)],
        marked: &mut HashSet<Day>,
    ) -> Result<(), S3Error> {
        if !marked.contains(&day) {
            self.client.put(&format!("days/{day}"), b"", "text/plain")?;
            marked.insert(day);
        }
        let micros = crate::clock::unix_micros();
        let bytes: u64 = keys.iter().map(|k| k.1).sum();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = segment_name(day, micros, &self.node, seq, keys.len() as u64, bytes);
        let body = lines_of(keys.iter().map(|k| &k.0));
        self.client
            .put(&name, &body, "text/plain; charset=us-ascii")?;
        let seg = Segment {
            day,
            micros,
            keys: keys.len() as u64,
            bytes,
        };
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        idx.days.entry(day).or_default().add(&name, &seg);
        Ok(())
    }
}
