//! The durable sharded store: `DATA/torrents/AB/CD/<40 HEX>.torrent`.
//! (STUB: interface fixed, implementation being written.)

use crate::hash::Key;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Default size limit of one torrent file.
pub const DEFAULT_MAX_TORRENT_SIZE: usize = 10 * 1024 * 1024;

/// Store settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_torrent_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_torrent_size: DEFAULT_MAX_TORRENT_SIZE,
        }
    }
}

/// Errors of the store.
#[derive(Debug)]
pub enum StoreError {
    Io(io::Error),
}

/// An open data directory.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the data directory.
    pub fn open(dir: &Path, _config: Config) -> Result<Store, StoreError> {
        Ok(Store {
            root: dir.to_path_buf(),
        })
    }

    /// Where the torrent filed under `key` lives.
    pub fn torrent_path(&self, key: &Key) -> PathBuf {
        let h = key.hex();
        let h = std::str::from_utf8(&h).unwrap_or_default();
        self.root
            .join("torrents")
            .join(&h[0..2])
            .join(&h[2..4])
            .join(format!("{h}.torrent"))
    }

    /// Opens the stored file, or `None` when nothing is filed under `key`.
    pub fn open_torrent(&self, key: &Key) -> io::Result<Option<File>> {
        match File::open(self.torrent_path(key)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The takedown reason when `key` is blocked.
    pub fn blocked(&self, _key: &Key) -> Option<String> {
        None
    }

    /// Number of stored torrents.
    pub fn count(&self) -> u64 {
        0
    }
}
