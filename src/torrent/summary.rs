//! A torrent's summary for pages: name, files, sizes, piece size, trackers, web seeds.
//!
//! Owns: the capped listing of files. Must never: list more than `MAX_SUMMARY_FILES` files
//! or `MAX_SUMMARY_PATH_BYTES` of paths, or more than `MAX_SUMMARY_WEB_SEEDS` web seeds.

use super::bencode;
use super::bencode::{Dict, Item, Value};
use super::dict::{find_bytes, find_dict, find_int, find_list};
use super::files::{attributes, ATTR_PAD};
use super::v2::{walk_tree, TreeEvent};
use super::TorrentError;
use std::collections::HashSet;

/// One file of a torrent, for pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components joined with '/', lossily decoded.
    pub path: String,
    pub size: u64,
}

/// What pages show about a torrent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// `name.utf-8` when present, else `name`, lossily decoded.
    pub name: String,
    /// Sum of all (non-pad) file sizes.
    pub total_size: u64,
    /// The files in order, pad files skipped; at most `MAX_SUMMARY_FILES` (and
    /// `MAX_SUMMARY_PATH_BYTES` of paths), so a hostile torrent cannot blow up a page.
    pub files: Vec<FileEntry>,
    /// Number of (non-pad) files, including any not listed in `files`.
    pub file_count: usize,
    /// `announce` then every `announce-list` tier, deduplicated, in order.
    pub trackers: Vec<String>,
    /// `piece length` of the info dictionary, in bytes.
    pub piece_length: Option<u64>,
    /// Web seeds (BEP 19 `url-list`, a string or a list), deduplicated, in order; at most
    /// `MAX_SUMMARY_WEB_SEEDS`.
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub creation_date: Option<i64>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn is_pad(attr: Option<&[u8]>, path: &str) -> bool {
    attributes(attr) & ATTR_PAD != 0 || path.contains("_____padding_file_")
}

/// Most files listed in a [`Summary`]; `total_size` and `file_count` still cover all of them.
pub const MAX_SUMMARY_FILES: usize = 10_000;
/// Most bytes of file paths listed in a [`Summary`]: a deep v2 tree repeats its directory
/// names in every path, so paths are bounded separately from the number of files.
pub const MAX_SUMMARY_PATH_BYTES: usize = 4 << 20;

/// Most web seeds listed in a [`Summary`].
pub const MAX_SUMMARY_WEB_SEEDS: usize = 100;

/// Collects files for a summary within the listing limits.
pub(super) struct Listing {
    pub(super) files: Vec<FileEntry>,
    pub(super) path_bytes: usize,
    pub(super) count: usize,
    pub(super) total: u64,
    /// Most files listed (at most [`MAX_SUMMARY_FILES`]).
    pub(super) max_files: usize,
}

impl Default for Listing {
    fn default() -> Self {
        Listing {
            files: Vec::new(),
            path_bytes: 0,
            count: 0,
            total: 0,
            max_files: MAX_SUMMARY_FILES,
        }
    }
}

impl Listing {
    pub(super) fn add(&mut self, path: impl FnOnce() -> String, size: u64) {
        self.count += 1;
        self.total = self.total.saturating_add(size);
        if self.files.len() < self.max_files && self.path_bytes < MAX_SUMMARY_PATH_BYTES {
            let path = path();
            self.path_bytes += path.len();
            self.files.push(FileEntry { path, size });
        }
    }
}

/// Files of a v2 `file tree` in file order, in one pass without recursion.
pub(super) fn tree_files(buf: &[u8], tree: &Item<'_>, out: &mut Listing) {
    let mut dir = String::new();
    let mut lens: Vec<usize> = Vec::new();
    let _ = walk_tree(buf, tree, |ev, _| {
        match ev {
            TreeEvent::Enter(key) => {
                lens.push(dir.len());
                dir.push_str(&String::from_utf8_lossy(key));
                dir.push('/');
            }
            TreeEvent::Leave => dir.truncate(lens.pop().unwrap_or(0)),
            TreeEvent::File(key, file) => {
                let Some(d) = file.as_dict() else {
                    return Ok(());
                };
                if is_pad(find_bytes(d, b"attr"), "") {
                    return Ok(());
                }
                let size = find_int(d, b"length").and_then(|v| u64::try_from(v).ok());
                out.add(
                    || format!("{dir}{}", String::from_utf8_lossy(key)),
                    size.unwrap_or(0),
                );
            }
        }
        Ok(())
    });
}

/// The summary of an already validated torrent.
pub fn summary(bytes: &[u8]) -> Result<Summary, TorrentError> {
    summary_listing(bytes, MAX_SUMMARY_FILES)
}

/// [`summary`] listing at most `max_files` files (a page that shows 100 builds no more
/// paths than that); the count and total size still cover every file.
pub fn summary_listing(bytes: &[u8], max_files: usize) -> Result<Summary, TorrentError> {
    let top = bencode::parse(bytes)?;
    let top = top.as_dict().ok_or(TorrentError::NotADict)?;
    let info = find_dict(top, b"info").ok_or(TorrentError::NoInfo)?;

    let mut s = Summary {
        name: lossy(
            find_bytes(info, b"name.utf-8")
                .or_else(|| find_bytes(info, b"name"))
                .unwrap_or_default(),
        ),
        private: find_int(info, b"private").is_some_and(|v| v != 0),
        piece_length: find_int(info, b"piece length").and_then(|v| u64::try_from(v).ok()),
        creation_date: find_int(top, b"creation date").and_then(|v| i64::try_from(v).ok()),
        created_by: find_bytes(top, b"created by.utf-8")
            .or_else(|| find_bytes(top, b"created by"))
            .map(lossy),
        comment: find_bytes(top, b"comment.utf-8")
            .or_else(|| find_bytes(top, b"comment"))
            .map(lossy),
        ..Summary::default()
    };

    let mut listing = Listing {
        max_files: max_files.min(MAX_SUMMARY_FILES),
        ..Listing::default()
    };
    list_files(bytes, info, &s.name, &mut listing);
    s.files = listing.files;
    s.file_count = listing.count;
    s.total_size = listing.total;
    s.trackers = trackers(top);
    s.web_seeds = web_seeds(top);
    Ok(s)
}

/// Adds the files of `info` to `listing`: the v1 `files` list (pad files left out), the one
/// file of a single-file torrent (named `name`), or the v2 `file tree`.
fn list_files(bytes: &[u8], info: Dict<'_>, name: &str, listing: &mut Listing) {
    if let Some(list) = find_list(info, b"files") {
        for entry in list.iter() {
            let Some(d) = entry.as_dict() else { continue };
            let comps = find_list(d, b"path.utf-8").or_else(|| find_list(d, b"path"));
            let path = comps
                .map(|l| {
                    l.iter()
                        .filter_map(|c| c.as_bytes().map(lossy))
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            if is_pad(find_bytes(d, b"attr"), &path) {
                continue;
            }
            let size = find_int(d, b"length").and_then(|v| u64::try_from(v).ok());
            listing.add(|| path, size.unwrap_or(0));
        }
    } else if let Some(size) = find_int(info, b"length").and_then(|v| u64::try_from(v).ok()) {
        listing.add(|| name.to_owned(), size);
    } else if let Some(tree) = info.get(b"file tree").filter(|i| i.as_dict().is_some()) {
        tree_files(bytes, &tree, listing);
    }
}

/// The trackers of `announce` and every tier of `announce-list`, trimmed, once each, in order.
fn trackers(top: Dict<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |url: &[u8]| {
        let u = lossy(url).trim().to_string();
        if !u.is_empty() && seen.insert(u.clone()) {
            out.push(u);
        }
    };
    if let Some(a) = find_bytes(top, b"announce") {
        push(a);
    }
    if let Some(tiers) = find_list(top, b"announce-list") {
        for tier in tiers.iter() {
            match tier.value {
                Value::List(l) => l.iter().filter_map(|u| u.as_bytes()).for_each(&mut push),
                Value::Bytes(b) => push(b),
                _ => {}
            }
        }
    }
    out
}

/// The web seeds of `url-list` (a string or a list), trimmed, once each, at most
/// [`MAX_SUMMARY_WEB_SEEDS`].
fn web_seeds(top: Dict<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut seed = |url: &[u8]| {
        let u = lossy(url).trim().to_string();
        if !u.is_empty() && out.len() < MAX_SUMMARY_WEB_SEEDS && seen.insert(u.clone()) {
            out.push(u);
        }
    };
    match top.get(b"url-list").map(|i| i.value) {
        Some(Value::Bytes(b)) => seed(b),
        Some(Value::List(l)) => l.iter().filter_map(|u| u.as_bytes()).for_each(seed),
        _ => {}
    }
    out
}
