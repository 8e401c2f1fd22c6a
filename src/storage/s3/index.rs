//! The per-day index of list segments that gives the count, `/sync/` and the bytes stored,
//! and the refresher that keeps it and the blocklist view current.
//!
//! Owns: which listings run when (incremental, full every `FULL_RELIST`, a final one per
//! day). Must never: count a segment twice, or list a final day again.

use super::*;

/// What is known of one day's segments.
#[derive(Default)]
pub(super) struct DayIndex {
    pub(super) keys: u64,
    pub(super) bytes: u64,
    /// Counted segments at or after `floor` (older ones are counted and forgotten).
    pub(super) seen: BTreeSet<String>,
    /// Microseconds: incremental listings start here.
    pub(super) floor: u64,
    pub(super) last_full: Option<Instant>,
    /// Listed in full after it became final: never listed again.
    pub(super) done: bool,
}

impl DayIndex {
    /// Counts `name` unless it was counted.
    pub(super) fn add(&mut self, name: &str, seg: &Segment) {
        if seg.micros >= self.floor && self.seen.insert(name.to_string()) {
            self.keys += seg.keys;
            self.bytes += seg.bytes;
        }
    }

    /// Forgets names older than the margin behind the newest.
    pub(super) fn prune(&mut self) {
        let newest = self
            .seen
            .iter()
            .filter_map(|n| parse_segment(n))
            .map(|s| s.micros)
            .max()
            .unwrap_or(0);
        let floor = newest.saturating_sub(LIST_MARGIN.as_micros() as u64);
        if floor > self.floor {
            self.floor = floor;
            self.seen
                .retain(|n| parse_segment(n).is_some_and(|s| s.micros >= floor));
        }
    }
}

#[derive(Default)]
pub(super) struct Index {
    pub(super) days: BTreeMap<Day, DayIndex>,
    /// When `days/` was last listed in full (in between, only from two days before the
    /// newest day known: a marker is written before its day's first segment).
    pub(super) days_listed: Option<Instant>,
}

/// A day's `/sync/` list as assembled so far.
#[derive(Default, Clone)]
pub(super) struct Assembled {
    pub(super) have: HashSet<String>,
    pub(super) body: Vec<u8>,
}

impl Shared {
    /// Re-reads the day markers, the segments of days not yet final, and the blocklist.
    pub(super) fn refresh(&self) -> Result<(), S3Error> {
        let now = crate::clock::unix_micros();
        for day in self.list_days()? {
            let (known, floor, full_due, done) = {
                let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
                match idx.days.get(&day) {
                    Some(d) => (
                        true,
                        d.floor,
                        d.last_full.is_none_or(|t| t.elapsed() >= FULL_RELIST),
                        d.done,
                    ),
                    None => (false, 0, true, false),
                }
            };
            if done {
                continue;
            }
            let final_now = now > day_end_micros(day) + FINAL_AFTER.as_micros() as u64;
            if !known || full_due || final_now {
                self.relist_day(day, final_now)?;
            } else {
                self.list_day_since(day, floor)?;
            }
        }
        self.refresh_blocklist()
    }

    /// The days known and those with a marker in `days/` (all of them every [`FULL_RELIST`],
    /// else from two days before the newest known).
    pub(super) fn list_days(&self) -> Result<BTreeSet<Day>, S3Error> {
        let (mut days, start) = {
            let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
            let known: BTreeSet<Day> = idx.days.keys().copied().collect();
            let full = idx.days_listed.is_none_or(|t| t.elapsed() >= FULL_RELIST);
            // Two days before the newest known, as a `start_after` key.
            let start = match (full, known.iter().nth_back(2)) {
                (false, Some(d)) => Some(format!("days/{d}")),
                _ => None,
            };
            (known, start)
        };
        let full = start.is_none();
        for e in self.client.list("days/", start.as_deref(), usize::MAX)? {
            if let Some(d) = e.key.strip_prefix("days/").and_then(Day::parse) {
                days.insert(d);
            }
        }
        if full {
            self.index
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .days_listed = Some(Instant::now());
        }
        Ok(days)
    }

    /// Lists all of `day`'s segments and counts them afresh; a day listed once it is final
    /// (`final_now`) is never listed again.
    pub(super) fn relist_day(&self, day: Day, final_now: bool) -> Result<(), S3Error> {
        let listed = self
            .client
            .list(&format!("sync/{day}/"), None, usize::MAX)?;
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        let old = idx.days.remove(&day).unwrap_or_default();
        let mut fresh = DayIndex::default();
        let mut names = HashSet::new();
        for e in &listed {
            if let Some(seg) = parse_segment(&e.key).filter(|s| s.day == day) {
                fresh.add(&e.key, &seg);
                names.insert(e.key.clone());
            }
        }
        // Segments are never deleted: one seen before but not in this listing was
        // written while the listing ran.
        for n in &old.seen {
            if !names.contains(n) {
                if let Some(seg) = parse_segment(n) {
                    fresh.add(n, &seg);
                }
            }
        }
        fresh.prune();
        fresh.last_full = Some(Instant::now());
        fresh.done = final_now;
        if fresh.done {
            fresh.seen.clear();
        }
        idx.days.insert(day, fresh);
        Ok(())
    }

    /// Counts `day`'s segments named at or after `floor` (microseconds) not counted yet.
    pub(super) fn list_day_since(&self, day: Day, floor: u64) -> Result<(), S3Error> {
        let prefix = format!("sync/{day}/");
        let start = format!("{prefix}{floor:017}");
        let listed = self.client.list(&prefix, Some(&start), usize::MAX)?;
        let mut idx = self.index.write().unwrap_or_else(|p| p.into_inner());
        let d = idx.days.entry(day).or_default();
        for e in &listed {
            if let Some(seg) = parse_segment(&e.key).filter(|s| s.day == day) {
                d.add(&e.key, &seg);
            }
        }
        d.prune();
        Ok(())
    }

    pub(super) fn refresh_blocklist(&self) -> Result<(), S3Error> {
        let listed = self.client.list("blocklist/", None, usize::MAX)?;
        let keys: HashSet<Key> = listed
            .iter()
            .filter_map(|e| e.key.strip_prefix("blocklist/"))
            .filter_map(|h| Key::parse(h).ok())
            .collect();
        let known: HashSet<Key> = self
            .blocklist
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        let mut new = Vec::new();
        for k in keys.difference(&known) {
            let reason = match self
                .client
                .get(&format!("blocklist/{k}"), MAX_CONTROL_OBJECT)?
            {
                Some(o) => String::from_utf8_lossy(&o.body).trim().to_string(),
                None => continue,
            };
            new.push((*k, reason));
        }
        let mut bl = self.blocklist.write().unwrap_or_else(|p| p.into_inner());
        bl.retain(|k, _| keys.contains(k));
        bl.extend(new);
        Ok(())
    }
}
