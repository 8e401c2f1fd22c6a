//! The v1 file entries: a single-file torrent's `length`, or each entry of `files`.
//!
//! Owns: libtorrent's `extract_single_file` checks, in its order. Must never: materialise a
//! file list for a single-file torrent.

use super::bencode::{Dict, List};
use super::dict::{int64, Keys};
use super::files::{
    attributes, check_file_size, check_symlink_path, component, has_pad_marker, Dirs, FileList,
    FileRec, V1Place, ATTR_PAD, ATTR_SYMLINK, NO_DIR,
};
use super::path::Element;
use super::TorrentError;

/// One v1 file (`extract_single_file`).
pub(super) fn v1_file(
    d: Dict<'_>,
    place: V1Place,
    st: &mut FileList,
    dirs: &mut Dirs,
    piece_length: i64,
) -> Result<(), TorrentError> {
    const NAMES: [&[u8]; 7] = [
        b"attr",
        b"length",
        b"name.utf-8",
        b"name",
        b"path.utf-8",
        b"path",
        b"symlink path",
    ];
    let k = Keys::collect(d, &NAMES);
    let mut flags = attributes(k.bytes(0));
    let size = if flags & ATTR_SYMLINK != 0 {
        0
    } else {
        int64(k.int(1), -1)
    };
    check_file_size(size)?;

    let mut marker = false;
    let (dir, leaf) = match place {
        V1Place::TopLevel => {
            let name = k.bytes(2).or(k.bytes(3)).unwrap_or_default();
            if name.is_empty() {
                return Err(TorrentError::MissingName);
            }
            let leaf = component(name, Element::Optional);
            if leaf.is_empty() {
                return Err(TorrentError::MissingName);
            }
            marker = has_pad_marker(&leaf);
            (NO_DIR, leaf)
        }
        V1Place::Under(root, root_marker) => match k.list(4).or(k.list(5)) {
            Some(list) if !list.is_empty() => {
                let (dir, leaf, m) = path_under(list, root, dirs)?;
                marker = root_marker | m;
                (dir, leaf)
            }
            _ if flags & ATTR_PAD != 0 => {
                (dirs.intern(NO_DIR, b".pad"), size.to_string().into_bytes())
            }
            _ => return Err(TorrentError::MissingName),
        },
    };
    // BitComet pad files are recognised by name.
    if marker {
        flags |= ATTR_PAD;
    }
    check_symlink_path(flags, k.list(6))?;
    st.add(
        dirs,
        FileRec {
            dir,
            leaf,
            size,
            offset: 0,
            pad: flags & ATTR_PAD != 0,
            root: None,
        },
        piece_length,
    )
}

/// The directory and leaf name of a `path` list under the torrent's root directory `root`,
/// and whether a component carries a pad marker.
fn path_under(
    list: List<'_>,
    root: u32,
    dirs: &mut Dirs,
) -> Result<(u32, Vec<u8>, bool), TorrentError> {
    // every element must be a string before any is used (libtorrent's path_length)
    if list.iter().any(|e| e.as_bytes().is_none()) {
        return Err(TorrentError::InvalidPathElement);
    }
    let mut marker = false;
    let mut dir = root;
    let mut pending: Option<Vec<u8>> = None;
    for e in list.iter() {
        let c = component(e.as_bytes().unwrap_or_default(), Element::Forced);
        marker |= has_pad_marker(&c);
        if let Some(p) = pending.replace(c) {
            dir = dirs.intern(dir, &p);
        }
    }
    // the list is not empty, so there is a last component
    Ok((dir, pending.unwrap_or_else(|| b"_".to_vec()), marker))
}
