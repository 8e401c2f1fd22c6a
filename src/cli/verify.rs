//! `thetorrent verify`: re-hash every stored file (walks the whole tree, in parallel).
//!
//! Reports files that are not valid torrents, files whose content does not hash to the name
//! they are filed under, and a count that disagrees with the files. Changes nothing.

use super::{CliError, Done};
use crate::storage::local::store::{key_of_path, Store};
use crate::torrent;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

pub fn run(store: &Store) -> Result<Done, CliError> {
    let (tx, rx) = mpsc::sync_channel::<(PathBuf, u64)>(1024);
    let rx = Arc::new(Mutex::new(rx));
    let problems = AtomicU64::new(0);
    let primaries = AtomicU64::new(0);
    let checked = AtomicU64::new(0);
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let walk = std::thread::scope(|s| {
        for _ in 0..jobs {
            let rx = Arc::clone(&rx);
            let (problems, primaries, checked) = (&problems, &primaries, &checked);
            s.spawn(move || loop {
                let Ok(Ok((path, nlink))) = rx.lock().map(|r| r.recv()) else {
                    return;
                };
                checked.fetch_add(1, Ordering::Relaxed);
                let problem = match (key_of_path(&path), std::fs::read(&path)) {
                    (None, _) => Some("not a stored torrent's name".to_string()),
                    (_, Err(e)) => Some(format!("cannot read: {e}")),
                    (Some(name), Ok(bytes)) => match torrent::validate(&bytes) {
                        Err(e) => Some(e.to_string()),
                        Ok(p) => {
                            let key = p.key();
                            let link = p.v2.as_ref().filter(|_| p.v1.is_some());
                            if key == name {
                                primaries.fetch_add(1, Ordering::Relaxed);
                                None
                            } else if link.map(crate::torrent::hash::Key::from_v2) == Some(name)
                                && nlink > 1
                            {
                                None
                            } else {
                                Some(format!("content hashes to {key}"))
                            }
                        }
                    },
                };
                if let Some(p) = problem {
                    problems.fetch_add(1, Ordering::Relaxed);
                    println!("{}: {p}", path.display());
                }
            });
        }
        let r = store.walk(|path, meta| {
            use std::os::unix::fs::MetadataExt;
            let _ = tx.send((path.to_path_buf(), meta.nlink()));
        });
        drop(tx);
        r
    });
    if let Err(e) = walk {
        return Err(CliError::Storage(format!(
            "cannot walk {}: {e}",
            store.root().display()
        )));
    }
    let count = store.count();
    let files = primaries.load(Ordering::Relaxed);
    let mut bad = problems.load(Ordering::Relaxed);
    if count != files {
        println!("count is {count} but {files} torrents are stored (run `thetorrent reindex`)");
        bad += 1;
    }
    println!(
        "{} files checked, {files} torrents, {bad} problems",
        checked.load(Ordering::Relaxed)
    );
    Ok(Done::unless(bad > 0))
}
