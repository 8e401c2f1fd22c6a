//! Torrent validation and info hashes (libtorrent 2.1 is the reference).
//!
//! Owns: deciding whether bytes are a torrent libtorrent would load, the v1/v2 info hashes of the
//! raw `info` span, and a summary for pages. Must never: re-encode the info dict, modify bytes,
//! recurse without a bound, or panic on any input.
//!
//! The checks follow libtorrent's `torrent_info::parse_info_section`, `extract_files`,
//! `extract_files2`, `file_storage::add_file_borrow`, `resolve_duplicate_filenames` and
//! `parse_piece_layers`, in the same order, so the first problem reported is the one libtorrent
//! reports. A file list is only materialised for multi-file and v2 torrents; a single-file v1
//! torrent is validated with a handful of lookups and one SHA-1.

pub mod bencode;
pub mod hash;

use bencode::{Dict, Item, List, Value};
use hash::Key;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;

/// The result of validating a torrent: its hashes and where its `info` dict stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// SHA-1 of the info span, when the torrent has v1 metadata (v1 or hybrid).
    pub v1: Option<[u8; 20]>,
    /// SHA-256 of the info span, when `meta version` is 2 (v2-only or hybrid).
    pub v2: Option<[u8; 32]>,
    /// Byte range of the `info` value in the file.
    pub info: Range<usize>,
}

impl Parsed {
    /// The key the torrent is filed under: the v1 hash, else the v2 hash truncated.
    pub fn key(&self) -> Key {
        match (&self.v1, &self.v2) {
            (Some(v1), _) => Key(*v1),
            (None, Some(v2)) => Key::from_v2(v2),
            (None, None) => unreachable!("a valid torrent has at least one hash"),
        }
    }
}

/// libtorrent's `file_storage::max_piece_size`.
pub const MAX_PIECE_SIZE: i64 = 1 << 29;
/// libtorrent's default `load_torrent_limits::max_pieces`.
pub const MAX_PIECES: i64 = 0x20_0000;
/// libtorrent's `file_storage::max_file_size` and `max_file_offset` (48-bit offsets).
pub const MAX_FILE_SIZE: i64 = (1 << 48) - 1;
/// libtorrent keeps `size / 16 KiB` below `INT_MAX / 2` so merkle indices fit an `int`.
const MAX_FILE_BLOCKS: i64 = (i32::MAX / 2) as i64;
/// BEP 52 block size; also the minimum v2 piece length.
const BLOCK_SIZE: i64 = 16 * 1024;
/// libtorrent refuses file names of 4096 bytes or more.
const MAX_FILENAME: usize = 1 << 12;
/// Rename attempts allowed when resolving duplicate file names before the torrent is
/// considered hostile (libtorrent's `max_duplicate_filenames`; its test torrent with 118 copies
/// of one path, about 6,800 attempts, is rejected).
pub const MAX_DUPLICATE_FILENAMES: usize = 1000;

/// Why bytes are not an acceptable torrent. Messages are stable: they are shown to uploaders
/// and matched by scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentError {
    /// Not bencode (or nested deeper than `bencode::MAX_DEPTH`).
    Bencode(bencode::Error),
    /// The top-level value is not a dictionary.
    NotADict,
    /// No `info` dictionary.
    NoInfo,
    /// A `meta version` 2 info dict that is not canonical bencode (libtorrent's soft errors).
    NotCanonical(bencode::Error),
    /// `meta version` above 2.
    UnknownVersion(i128),
    /// `piece length` missing, not positive, too large, or (v2) not a power of two >= 16 KiB.
    InvalidPieceLength,
    /// `name` (or a file's `path`) missing or empty after sanitising.
    MissingName,
    /// A `path` or `symlink path` element that is not a string.
    InvalidPathElement,
    /// A file `length` missing, negative or too large, or a total size of zero.
    InvalidLength,
    /// A file larger than libtorrent's 48-bit limit.
    FileTooLarge,
    /// A file name of 4096 bytes or more.
    FilenameTooLong,
    /// An empty file list or file tree.
    NoFiles,
    /// A malformed `files` entry or `file tree` node.
    InvalidFileEntry,
    /// `meta version` 2 without a `file tree`.
    MissingFileTree,
    /// A `file tree` without `meta version` 2.
    FileTreeWithoutVersion,
    /// A v2 file with the pad attribute.
    V2PadFile,
    /// A v2 file without a 32-byte (non-zero) `pieces root`.
    MissingPiecesRoot,
    /// A hybrid torrent whose v1 `files` and v2 `file tree` describe different layouts.
    InconsistentFiles,
    /// More pieces than libtorrent loads.
    TooManyPieces,
    /// `pieces` missing or not a string in a v1 torrent.
    MissingPieces,
    /// `pieces` not 20 bytes per piece.
    WrongPieceCount { expected: u64, found: u64 },
    /// Too many files with the same path.
    TooManyDuplicateFilenames,
    /// A `piece layers` entry that matches no file, has the wrong size or the wrong root.
    InvalidPieceLayer,
}

impl fmt::Display for TorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a torrent file: ")?;
        match self {
            TorrentError::Bencode(e) => write!(f, "{e}"),
            TorrentError::NotADict => f.write_str("top level is not a dictionary"),
            TorrentError::NoInfo => f.write_str("no info dictionary"),
            TorrentError::NotCanonical(e) => {
                write!(f, "info dictionary of a v2 torrent is not canonical ({e})")
            }
            TorrentError::UnknownVersion(v) => write!(f, "unknown 'meta version' {v}"),
            TorrentError::InvalidPieceLength => f.write_str("invalid 'piece length'"),
            TorrentError::MissingName => f.write_str("missing or invalid 'name'"),
            TorrentError::InvalidPathElement => {
                f.write_str("invalid 'path' (an element is not a string)")
            }
            TorrentError::InvalidLength => f.write_str("invalid file 'length'"),
            TorrentError::FileTooLarge => f.write_str("file too large"),
            TorrentError::FilenameTooLong => f.write_str("file name too long"),
            TorrentError::NoFiles => f.write_str("no files"),
            TorrentError::InvalidFileEntry => f.write_str("invalid 'files' or 'file tree' entry"),
            TorrentError::MissingFileTree => f.write_str("'meta version' 2 without 'file tree'"),
            TorrentError::FileTreeWithoutVersion => {
                f.write_str("'file tree' without 'meta version' 2")
            }
            TorrentError::V2PadFile => f.write_str("a v2 file has the pad attribute"),
            TorrentError::MissingPiecesRoot => f.write_str("a v2 file has no valid 'pieces root'"),
            TorrentError::InconsistentFiles => {
                f.write_str("v1 'files' and v2 'file tree' do not match")
            }
            TorrentError::TooManyPieces => write!(f, "too many pieces (limit {MAX_PIECES})"),
            TorrentError::MissingPieces => f.write_str("missing or invalid 'pieces'"),
            TorrentError::WrongPieceCount { expected, found } => write!(
                f,
                "invalid 'pieces': {found} bytes, expected {expected} (20 per piece)"
            ),
            TorrentError::TooManyDuplicateFilenames => f.write_str("too many duplicate file names"),
            TorrentError::InvalidPieceLayer => f.write_str("invalid 'piece layers'"),
        }
    }
}

impl std::error::Error for TorrentError {}

impl From<bencode::Error> for TorrentError {
    fn from(e: bencode::Error) -> Self {
        TorrentError::Bencode(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Dictionary lookups with libtorrent's semantics: the first entry with a key wins, and a typed
// lookup (`dict_find_string`, `dict_find_int`…) of a value of another type finds nothing.

fn find_int(d: Dict<'_>, key: &[u8]) -> Option<i128> {
    d.get(key).and_then(|i| i.as_int())
}
fn find_bytes<'a>(d: Dict<'a>, key: &[u8]) -> Option<&'a [u8]> {
    d.get(key).and_then(|i| i.as_bytes())
}
fn find_list<'a>(d: Dict<'a>, key: &[u8]) -> Option<List<'a>> {
    d.get(key).and_then(|i| i.as_list())
}
fn find_dict<'a>(d: Dict<'a>, key: &[u8]) -> Option<Dict<'a>> {
    d.get(key).and_then(|i| i.as_dict())
}

/// Records the first occurrence of each wanted key in one walk of a dict, so a dict is walked
/// once however many keys are looked up.
struct Keys<'a, const N: usize> {
    found: [Option<Item<'a>>; N],
}

impl<'a, const N: usize> Keys<'a, N> {
    fn collect(d: Dict<'a>, names: &[&[u8]; N]) -> Self {
        let mut found: [Option<Item<'a>>; N] = std::array::from_fn(|_| None);
        for (k, v) in d.iter() {
            if let Some(i) = names.iter().position(|n| *n == k) {
                if found[i].is_none() {
                    found[i] = Some(v);
                }
            }
        }
        Keys { found }
    }
    fn item(&self, i: usize) -> Option<&Item<'a>> {
        self.found.get(i).and_then(|o| o.as_ref())
    }
    fn int(&self, i: usize) -> Option<i128> {
        self.item(i).and_then(|v| v.as_int())
    }
    fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        self.item(i).and_then(|v| v.as_bytes())
    }
    fn list(&self, i: usize) -> Option<List<'a>> {
        self.item(i).and_then(|v| v.as_list())
    }
}

/// libtorrent reads integers as int64; wider values do not count as integers of the field.
fn int64(v: Option<i128>, default: i64) -> i64 {
    v.and_then(|v| i64::try_from(v).ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Path sanitising, as libtorrent's `sanitize_append_path_element`: the result decides which
// names count as empty and which paths are equal, so it is reproduced closely.

/// Decodes one UTF-8 code point: (code point or -1 when invalid, bytes consumed).
fn utf8_codepoint(s: &[u8]) -> (i32, usize) {
    let Some(&b0) = s.first() else {
        return (-1, 1);
    };
    let (len, init) = match b0 {
        0x00..=0x7f => return (i32::from(b0), 1),
        0xc0..=0xdf => (2, i32::from(b0 & 0x1f)),
        0xe0..=0xef => (3, i32::from(b0 & 0x0f)),
        0xf0..=0xf7 => (4, i32::from(b0 & 0x07)),
        _ => return (-1, 1),
    };
    if s.len() < len {
        return (-1, s.len());
    }
    let mut cp = init;
    for &b in s.iter().take(len).skip(1) {
        if b & 0xc0 != 0x80 {
            return (-1, 1);
        }
        cp = (cp << 6) | i32::from(b & 0x3f);
    }
    let overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if overlong || cp > 0x10ffff || (0xd800..=0xdfff).contains(&cp) {
        return (-1, 1);
    }
    (cp, len)
}

/// Characters libtorrent drops from path elements: separators and bidi controls.
fn filtered_char(cp: i32) -> bool {
    matches!(cp, 0x202a..=0x202e | 0x200e | 0x200f)
        || cp == i32::from(b'/')
        || cp == i32::from(b'\\')
}

/// Appends `element` to `path` (with a `/` when `path` is not empty) the way libtorrent does:
/// drops separators, bidi controls and control characters, replaces invalid UTF-8 by `_`,
/// drops `.` and `..`, writes an empty element as `_`, and shortens elements past 240 bytes
/// (keeping a short extension).
fn sanitize_append(path: &mut Vec<u8>, element: &[u8]) {
    if element == b"." {
        return;
    }
    let orig_len = path.len();
    if !path.is_empty() {
        path.push(b'/');
    }
    if element.is_empty() {
        path.push(b'_');
        return;
    }
    let mut added = 0usize;
    let mut num_dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < element.len() {
        let rest = element.get(i..).unwrap_or_default();
        let (cp, seq_len) = utf8_codepoint(rest);
        let seq_len = seq_len.max(1);
        if cp >= 0 && filtered_char(cp) {
            i += seq_len;
            continue;
        }
        if (0..32).contains(&cp) {
            // control characters are dropped (libtorrent 2.1 rejects a name of only NULs as
            // missing, so they cannot be turned into '_')
            i += seq_len;
            continue;
        }
        if cp < 0 {
            // invalid UTF-8
            path.push(b'_');
            added += 1;
            i += seq_len;
            continue;
        }
        path.extend_from_slice(rest.get(..seq_len).unwrap_or_default());
        if cp == i32::from(b'.') {
            num_dots += 1;
        }
        added += seq_len;
        if added >= 240 && !found_extension {
            let lo = element.len().saturating_sub(10).max(i);
            let dot = (lo + 1..element.len())
                .rev()
                .find(|&j| element.get(j) == Some(&b'.'));
            match dot {
                None => break,
                Some(d) => {
                    found_extension = true;
                    i = d;
                    continue;
                }
            }
        }
        i += seq_len;
    }
    if added == num_dots && added <= 2 {
        // nothing but dots (or nothing at all) survived: drop the element and its separator
        path.truncate(orig_len);
        return;
    }
    if path.is_empty() {
        path.push(b'_');
    }
}

// ---------------------------------------------------------------------------------------------
// File lists, built only where libtorrent's result depends on them.
//
// Paths are stored as (directory id, leaf name) with directories interned once as
// (parent id, component): a v2 file tree can put many files under a deep directory, and full
// path strings per file would turn a few MB of input into gigabytes. Components are sanitised
// (so at most about 250 bytes each) and never empty.

/// "No directory": a file at the top (single-file torrents, v1 pad files without a path).
const NO_DIR: u32 = u32::MAX;

/// Interned directories shared by the v1 and v2 file lists of a torrent, so equal paths have
/// equal ids.
#[derive(Debug, Default)]
struct Dirs {
    entries: Vec<(u32, Vec<u8>)>,
    ids: HashMap<(u32, Vec<u8>), u32>,
}

impl Dirs {
    /// The id of `comp` inside `parent` (`comp` must be non-empty and sanitised).
    fn intern(&mut self, parent: u32, comp: &[u8]) -> u32 {
        let key = (parent, comp.to_vec());
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        // ids stay below NO_DIR: a torrent holds far fewer than 4 billion directories
        let id = u32::try_from(self.entries.len()).unwrap_or(NO_DIR - 1);
        self.entries.push(key.clone());
        self.ids.insert(key, id);
        id
    }
    fn get(&self, id: u32) -> Option<&(u32, Vec<u8>)> {
        self.entries.get(id as usize)
    }
}

#[derive(Debug, Clone)]
struct FileRec {
    /// Directory holding the file, or `NO_DIR`.
    dir: u32,
    /// Sanitised last path component (empty only for an unusable single-file name).
    leaf: Vec<u8>,
    size: i64,
    offset: i64,
    pad: bool,
    /// Sanitised symlink target, when the file is a symlink.
    symlink: Option<Vec<u8>>,
    /// v2 merkle root.
    root: Option<[u8; 32]>,
}

#[derive(Debug, Default)]
struct Storage {
    files: Vec<FileRec>,
    total: i64,
    /// Whether the torrent's name as libtorrent's file_storage derives it (the first path
    /// component of the first file) is empty; such a torrent has no usable name.
    name_empty: bool,
}

const ATTR_PAD: u8 = 1;
const ATTR_SYMLINK: u8 = 2;

fn attributes(attr: Option<&[u8]>) -> u8 {
    let mut f = 0;
    for &c in attr.unwrap_or_default() {
        match c {
            b'p' => f |= ATTR_PAD,
            b'l' => f |= ATTR_SYMLINK,
            _ => {}
        }
    }
    f
}

/// libtorrent's size checks on one file's `length`.
fn check_file_size(size: i64) -> Result<(), TorrentError> {
    if size < 0 || size / BLOCK_SIZE >= MAX_FILE_BLOCKS || size > MAX_FILE_SIZE {
        return Err(TorrentError::InvalidLength);
    }
    Ok(())
}

/// One sanitised path component; empty when libtorrent would drop it.
fn component(element: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    sanitize_append(&mut c, element);
    c
}

fn has_pad_marker(comp: &[u8]) -> bool {
    memchr::memmem::find(comp, b"_____padding_file_").is_some()
}

impl Storage {
    /// As `file_storage::add_file_borrow`: size limits, the name, and for v2 files (those with
    /// a root) the pad file that aligns each file to a piece boundary.
    fn add(
        &mut self,
        dirs: &mut Dirs,
        mut rec: FileRec,
        piece_length: i64,
    ) -> Result<(), TorrentError> {
        if rec.size > MAX_FILE_SIZE {
            return Err(TorrentError::FileTooLarge);
        }
        if MAX_FILE_SIZE - self.total < rec.size {
            return Err(TorrentError::InvalidLength);
        }
        if rec.leaf.len() >= MAX_FILENAME {
            return Err(TorrentError::FilenameTooLong);
        }
        if self.files.is_empty() {
            // interned components are never empty, so only a top-level leaf can be
            self.name_empty = rec.dir == NO_DIR && rec.leaf.is_empty();
        }
        if rec.root.is_some() && self.total % piece_length != 0 {
            let pad = piece_length - self.total % piece_length;
            if self.total > MAX_FILE_SIZE - pad - rec.size {
                return Err(TorrentError::InvalidLength);
            }
            self.files.push(FileRec {
                dir: dirs.intern(NO_DIR, b".pad"),
                leaf: pad.to_string().into_bytes(),
                size: pad,
                offset: self.total,
                pad: true,
                symlink: None,
                root: None,
            });
            self.total += pad;
        }
        rec.offset = self.total;
        self.total += rec.size;
        self.files.push(rec);
        Ok(())
    }
}

/// Sanitised `symlink path`, or `Ok(None)` when absent; non-string elements are an error.
fn symlink_target(d: Option<List<'_>>) -> Result<Option<Vec<u8>>, TorrentError> {
    let Some(list) = d else { return Ok(None) };
    let mut out = Vec::new();
    for e in list.iter() {
        let s = e.as_bytes().ok_or(TorrentError::InvalidPathElement)?;
        sanitize_append(&mut out, s);
    }
    Ok(Some(out))
}

/// Where a v1 file goes: the info dict of a single-file torrent, or an entry of `files` under
/// the torrent's root directory.
#[derive(Clone, Copy)]
enum V1Place {
    TopLevel,
    /// Root directory id, and whether the root name itself carries BitComet's pad marker.
    Under(u32, bool),
}

/// One v1 file (`extract_single_file`).
fn v1_file(
    d: Dict<'_>,
    place: V1Place,
    st: &mut Storage,
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
            let leaf = component(name);
            if leaf.is_empty() {
                return Err(TorrentError::MissingName);
            }
            marker = has_pad_marker(&leaf);
            (NO_DIR, leaf)
        }
        V1Place::Under(root, root_marker) => match k.list(4).or(k.list(5)) {
            Some(list) if !list.is_empty() => {
                // every element must be a string before any is used (libtorrent's path_length)
                if list.iter().any(|e| e.as_bytes().is_none()) {
                    return Err(TorrentError::InvalidPathElement);
                }
                marker = root_marker;
                let mut dir = root;
                let mut pending: Option<Vec<u8>> = None;
                for e in list.iter() {
                    let c = component(e.as_bytes().unwrap_or_default());
                    if c.is_empty() {
                        continue;
                    }
                    marker |= has_pad_marker(&c);
                    if let Some(p) = pending.replace(c) {
                        dir = dirs.intern(dir, &p);
                    }
                }
                // all elements sanitised away: libtorrent names the file "_"
                (dir, pending.unwrap_or_else(|| b"_".to_vec()))
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
    let mut symlink = None;
    if flags & ATTR_SYMLINK != 0 {
        symlink = symlink_target(k.list(6))?;
    }
    let symlink = symlink.filter(|s| !s.is_empty());
    st.add(
        dirs,
        FileRec {
            dir,
            leaf,
            size,
            offset: 0,
            pad: flags & ATTR_PAD != 0,
            symlink,
            root: None,
        },
        piece_length,
    )
}

/// One v2 file (`extract_single_file2`): the dict under a leaf's empty key.
fn v2_file(
    d: Option<Dict<'_>>,
    dir: u32,
    leaf: Vec<u8>,
    st: &mut Storage,
    dirs: &mut Dirs,
    piece_length: i64,
) -> Result<(), TorrentError> {
    let d = d.ok_or(TorrentError::InvalidFileEntry)?;
    const NAMES: [&[u8]; 4] = [b"attr", b"length", b"symlink path", b"pieces root"];
    let k = Keys::collect(d, &NAMES);
    let flags = attributes(k.bytes(0));
    if flags & ATTR_PAD != 0 {
        return Err(TorrentError::V2PadFile);
    }
    let size = if flags & ATTR_SYMLINK != 0 {
        0
    } else {
        int64(k.int(1), -1)
    };
    check_file_size(size)?;
    let mut symlink = None;
    if flags & ATTR_SYMLINK != 0 {
        symlink = symlink_target(k.list(2))?;
    }
    let symlink = symlink.filter(|s| !s.is_empty());
    let mut root = None;
    // libtorrent 2.1 accepts empty files without a root (empty-files-*.torrent).
    if symlink.is_none() && (size > 0 || k.item(3).is_some()) {
        let r = k
            .bytes(3)
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(TorrentError::MissingPiecesRoot)?;
        if size > 0 && r == [0u8; 32] {
            return Err(TorrentError::MissingPiecesRoot);
        }
        root = Some(r);
    }
    st.add(
        dirs,
        FileRec {
            dir,
            leaf,
            size,
            offset: 0,
            pad: false,
            symlink,
            root,
        },
        piece_length,
    )
}

/// Deepest directory nesting in a v2 file tree (libtorrent's `extract_files2` limit).
const MAX_TREE_DEPTH: usize = 100;

/// What [`walk_tree`] meets, in file order.
enum TreeEvent<'a> {
    /// Entering the directory with this (raw) key.
    Enter(&'a [u8]),
    /// Leaving the directory last entered.
    Leave,
    /// A file: its raw key and the value under the empty key (normally its dict).
    File(&'a [u8], Item<'a>),
}

/// Walks a v2 `file tree` in one linear pass with no recursion, reporting directories and
/// files to `visit` together with the nesting level (1 = directly in the tree). A node that
/// is not a dict, an empty key, or a directory with an empty-named entry is an error, as in
/// libtorrent's `extract_files2`.
fn walk_tree<'a>(
    buf: &'a [u8],
    tree: &Item<'a>,
    mut visit: impl FnMut(TreeEvent<'a>, usize) -> Result<(), TorrentError>,
) -> Result<(), TorrentError> {
    use bencode::Token;
    let bad = |_| TorrentError::InvalidFileEntry;
    let mut pos = tree.span.start + 1;
    let mut depth = 1usize;
    loop {
        let (tok, next) = bencode::token(buf, pos).map_err(bad)?;
        match tok {
            Token::End => {
                depth -= 1;
                pos = next;
                if depth == 0 {
                    return Ok(());
                }
                visit(TreeEvent::Leave, depth)?;
            }
            Token::Bytes(k) => {
                let key = buf.get(k).unwrap_or_default();
                let (vt, vstart) = bencode::token(buf, next).map_err(bad)?;
                if vt != Token::Dict || key.is_empty() {
                    return Err(TorrentError::InvalidFileEntry);
                }
                let (first, after_first) = bencode::token(buf, vstart).map_err(bad)?;
                if first == Token::Bytes(after_first..after_first) {
                    // `{"": …}` alone is a file; next to other entries it is an empty name
                    let (file, after_file) = bencode::parse_at(buf, after_first).map_err(bad)?;
                    let (close, after_close) = bencode::token(buf, after_file).map_err(bad)?;
                    if close != Token::End {
                        return Err(TorrentError::InvalidFileEntry);
                    }
                    visit(TreeEvent::File(key, file), depth)?;
                    pos = after_close;
                    continue;
                }
                if depth > MAX_TREE_DEPTH {
                    return Err(TorrentError::InvalidFileEntry);
                }
                visit(TreeEvent::Enter(key), depth)?;
                depth += 1;
                pos = vstart;
            }
            _ => return Err(TorrentError::InvalidFileEntry),
        }
    }
}

/// libtorrent strips leading separators from file-tree keys before sanitising them.
fn strip_slashes(mut key: &[u8]) -> &[u8] {
    while let Some(rest) = key.strip_prefix(b"/") {
        key = rest;
    }
    key
}

/// The v2 file list (`extract_files2`) under the root directory `root`.
#[allow(clippy::too_many_arguments)]
fn v2_files(
    buf: &[u8],
    tree: &Item<'_>,
    root: u32,
    single_file_allowed: bool,
    st: &mut Storage,
    dirs: &mut Dirs,
    piece_length: i64,
) -> Result<(), TorrentError> {
    // directory ids of the open directories; a key sanitised away keeps its parent's id
    let mut stack: Vec<u32> = vec![root];
    walk_tree(buf, tree, |ev, depth| {
        let cur = stack.last().copied().unwrap_or(root);
        match ev {
            TreeEvent::Enter(key) => {
                let c = component(strip_slashes(key));
                let id = if c.is_empty() {
                    cur
                } else {
                    dirs.intern(cur, &c)
                };
                stack.push(id);
            }
            TreeEvent::Leave => {
                stack.pop();
            }
            TreeEvent::File(key, file) => {
                // a lone file at the top is a single-file torrent: no root directory
                let base = if single_file_allowed && depth == 1 {
                    NO_DIR
                } else {
                    cur
                };
                let c = component(strip_slashes(key));
                let (dir, leaf) = if !c.is_empty() {
                    (base, c)
                } else {
                    // the name was sanitised away: the file takes its directory's path
                    match dirs.get(base) {
                        Some((parent, name)) => (*parent, name.clone()),
                        None => (NO_DIR, Vec::new()),
                    }
                };
                v2_file(file.as_dict(), dir, leaf, st, dirs, piece_length)?;
            }
        }
        Ok(())
    })
}

/// `aux::files_compatible`: a hybrid's two file lists must agree on every file that holds
/// data (or is a symlink): index, path, size, offset. libtorrent adds a tail pad to the v2 list
/// and drops it again when the v1 list has none, so both forms of the v1 list are accepted.
fn files_compatible(v2: &Storage, v1: &Storage, piece_length: i64) -> bool {
    let tail = if v2.total % piece_length != 0 {
        piece_length - v2.total % piece_length
    } else {
        0
    };
    let (n2, total2) = if tail > 0 && v1.files.len() == v2.files.len() + 1 {
        (v2.files.len() + 1, v2.total + tail)
    } else {
        (v2.files.len(), v2.total)
    };
    if n2 != v1.files.len() || total2 != v1.total {
        return false;
    }
    // the virtual tail pad, if any, is never relevant
    v2.files.iter().zip(v1.files.iter()).all(|(a, b)| {
        let ra = !a.pad && (a.size > 0 || a.symlink.is_some());
        let rb = !b.pad && (b.size > 0 || b.symlink.is_some());
        ra == rb
            && (!ra
                || (a.size == b.size
                    && a.dir == b.dir
                    && a.leaf == b.leaf
                    && a.offset == b.offset
                    && (a.symlink.is_none() || a.symlink == b.symlink)))
    })
}

/// libtorrent's `extension`: from the last `.` of the leaf, dot included.
fn split_extension(leaf: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'.', leaf) {
        Some(d) => (
            leaf.get(..d).unwrap_or_default(),
            leaf.get(d..).unwrap_or_default(),
        ),
        None => (leaf, b""),
    }
}

/// `resolve_duplicate_filenames`: files colliding (ASCII case-insensitively) with a directory
/// or an earlier file are renamed `base.N.ext`; each taken candidate counts as a collision, and
/// too many collisions reject the torrent. Pad files of equal size may collide freely.
fn check_duplicates(st: &Storage, dirs: &Dirs) -> Result<(), TorrentError> {
    if st.files.len() < 2 {
        return Ok(());
    }
    #[derive(Clone, Copy)]
    enum Entry {
        Dir,
        File(usize),
    }
    // Case-folded directory ids (parents come before children, so one pass suffices) and
    // which directories hold this list's files.
    let mut folded: Vec<u32> = Vec::with_capacity(dirs.entries.len());
    let mut folded_ids: HashMap<(u32, Vec<u8>), u32> = HashMap::new();
    for (parent, comp) in &dirs.entries {
        let p = folded.get(*parent as usize).copied().unwrap_or(NO_DIR);
        let key = (p, comp.to_ascii_lowercase());
        let next = u32::try_from(folded_ids.len()).unwrap_or(NO_DIR - 1);
        folded.push(*folded_ids.entry(key).or_insert(next));
    }
    let fold = |d: u32| folded.get(d as usize).copied().unwrap_or(NO_DIR);
    let mut used = vec![false; dirs.entries.len()];
    let mut seen: HashMap<(u32, Vec<u8>), Entry> = HashMap::with_capacity(st.files.len() * 2);
    for f in &st.files {
        let mut d = f.dir;
        // every directory below the root (name/a, name/a/b, …) blocks a file of that name
        while let Some((parent, comp)) = dirs.get(d) {
            if used.get(d as usize).copied().unwrap_or(true) {
                break;
            }
            if let Some(u) = used.get_mut(d as usize) {
                *u = true;
            }
            if *parent != NO_DIR {
                seen.entry((fold(*parent), comp.to_ascii_lowercase()))
                    .or_insert(Entry::Dir);
            }
            d = *parent;
        }
    }
    let mut collisions = 0usize;
    for (i, f) in st.files.iter().enumerate() {
        let dir = fold(f.dir);
        let key = (dir, f.leaf.to_ascii_lowercase());
        let other = match seen.get(&key) {
            None => {
                seen.insert(key, Entry::File(i));
                continue;
            }
            Some(&o) => o,
        };
        if let Entry::File(j) = other {
            if let Some(g) = st.files.get(j) {
                if f.pad && g.pad && f.size == g.size {
                    continue;
                }
            }
        }
        let (base, ext) = split_extension(&f.leaf);
        let mut cnt = 0u64;
        loop {
            cnt += 1;
            let mut name = base.to_ascii_lowercase();
            name.push(b'.');
            name.extend_from_slice(cnt.to_string().as_bytes());
            name.extend_from_slice(&ext.to_ascii_lowercase());
            if let std::collections::hash_map::Entry::Vacant(v) = seen.entry((dir, name)) {
                v.insert(Entry::File(i));
                break;
            }
            collisions += 1;
            if collisions > MAX_DUPLICATE_FILENAMES {
                return Err(TorrentError::TooManyDuplicateFilenames);
            }
        }
    }
    Ok(())
}

fn sha256_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The merkle root of a file from its piece layer, padded as BEP 52 says: the layer is
/// extended to a power of two with the hash of a piece of zero blocks.
fn merkle_root(layer: &[u8], blocks_per_piece: i64) -> [u8; 32] {
    let mut pad = [0u8; 32];
    let mut n = 1;
    while n < blocks_per_piece {
        pad = sha256_pair(&pad, &pad);
        n *= 2;
    }
    let mut level: Vec<[u8; 32]> = layer
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .collect();
    let width = level.len().next_power_of_two().max(1);
    level.resize(width, pad);
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| sha256_pair(&p[0], &p[1]))
            .collect();
    }
    level.first().copied().unwrap_or(pad)
}

/// `parse_piece_layers`: every entry must be the full, correct piece layer of a distinct file
/// larger than one piece. Missing layers are allowed (as for magnet links).
fn check_piece_layers(
    layers: Dict<'_>,
    st: &Storage,
    piece_length: i64,
) -> Result<(), TorrentError> {
    let mut roots: HashMap<[u8; 32], usize> = HashMap::new();
    for (i, f) in st.files.iter().enumerate() {
        if f.size <= piece_length {
            continue;
        }
        if let Some(r) = f.root {
            roots.entry(r).or_insert(i);
        }
    }
    for (key, value) in layers.iter() {
        let bytes = value.as_bytes().ok_or(TorrentError::InvalidPieceLayer)?;
        let root = <[u8; 32]>::try_from(key).map_err(|_| TorrentError::InvalidPieceLayer)?;
        if bytes.len() % 32 != 0 {
            return Err(TorrentError::InvalidPieceLayer);
        }
        let idx = roots.remove(&root).ok_or(TorrentError::InvalidPieceLayer)?;
        let f = st.files.get(idx).ok_or(TorrentError::InvalidPieceLayer)?;
        let pieces = (f.size + piece_length - 1) / piece_length;
        if bytes.len() as i64 != pieces * 32 {
            return Err(TorrentError::InvalidPieceLayer);
        }
        if merkle_root(bytes, piece_length / BLOCK_SIZE) != root {
            return Err(TorrentError::InvalidPieceLayer);
        }
    }
    Ok(())
}

fn lower_hex(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]])
        .collect()
}

/// Validates `bytes` as a torrent and computes its info hashes.
pub fn validate(bytes: &[u8]) -> Result<Parsed, TorrentError> {
    let top = bencode::parse(bytes)?;
    let top = top.as_dict().ok_or(TorrentError::NotADict)?;
    let info_item = top.get(b"info").ok_or(TorrentError::NoInfo)?;
    let info = info_item.as_dict().ok_or(TorrentError::NoInfo)?;
    let span = info_item.span.clone();
    let section = bytes.get(span.clone()).unwrap_or_default();

    const NAMES: [&[u8]; 8] = [
        b"meta version",
        b"piece length",
        b"name.utf-8",
        b"name",
        b"files",
        b"file tree",
        b"length",
        b"pieces",
    ];
    let k = Keys::collect(info, &NAMES);

    let version = int64(k.int(0), -1);
    if version > 0 {
        bencode::check_canonical(bytes, span.clone()).map_err(TorrentError::NotCanonical)?;
        if version > 2 {
            return Err(TorrentError::UnknownVersion(k.int(0).unwrap_or_default()));
        }
    }
    let v2 = version >= 2;

    let piece_length = int64(k.int(1), -1);
    if piece_length <= 0 || piece_length > MAX_PIECE_SIZE {
        return Err(TorrentError::InvalidPieceLength);
    }
    if v2 && (piece_length < BLOCK_SIZE || piece_length & (piece_length - 1) != 0) {
        return Err(TorrentError::InvalidPieceLength);
    }

    let name_bytes = k.bytes(2).or(k.bytes(3)).ok_or(TorrentError::MissingName)?;

    let v1_hash: [u8; 20] = Sha1::digest(section).into();

    let files_node = k.list(4);
    // `file tree` must be a dict (libtorrent's dict_find_dict); the item keeps its span
    let tree_node = k.item(5).filter(|i| i.as_dict().is_some());

    // The multi-file root directory; an unusable name is replaced by the hex info hash.
    // A single-file v1 torrent needs none, so it costs no allocation there.
    let mut dirs = Dirs::default();
    let (root, root_marker) = if files_node.is_some() || (v2 && tree_node.is_some()) {
        let mut root_name = component(name_bytes);
        if root_name.is_empty() {
            root_name = lower_hex(&v1_hash);
        }
        (dirs.intern(NO_DIR, &root_name), has_pad_marker(&root_name))
    } else {
        (NO_DIR, false)
    };

    let mut primary = Storage::default();
    let mut v1_list = Storage::default();
    let mut has_v1 = true;

    match (v2, tree_node) {
        (true, Some(tree)) => {
            // a lone file directly in the tree is a single-file torrent, unless `files` exists
            let single_file_allowed =
                files_node.is_none() && tree.as_dict().is_some_and(|d| d.len() == 1);
            v2_files(
                bytes,
                tree,
                root,
                single_file_allowed,
                &mut primary,
                &mut dirs,
                piece_length,
            )?;
        }
        (true, None) => return Err(TorrentError::MissingFileTree),
        (false, Some(_)) => return Err(TorrentError::FileTreeWithoutVersion),
        (false, None) => {}
    }
    {
        let target = if v2 { &mut v1_list } else { &mut primary };
        match files_node {
            None => {
                if !v2 || k.item(6).is_some() {
                    v1_file(info, V1Place::TopLevel, target, &mut dirs, piece_length)?;
                } else {
                    has_v1 = false;
                }
            }
            Some(list) => {
                let place = V1Place::Under(root, root_marker);
                for entry in list.iter() {
                    let d = entry.as_dict().ok_or(TorrentError::InvalidFileEntry)?;
                    v1_file(d, place, target, &mut dirs, piece_length)?;
                }
            }
        }
    }
    if primary.files.is_empty() {
        return Err(TorrentError::NoFiles);
    }
    if primary.name_empty {
        return Err(TorrentError::MissingName);
    }
    if v2 && !v1_list.files.is_empty() && !files_compatible(&primary, &v1_list, piece_length) {
        return Err(TorrentError::InconsistentFiles);
    }

    let total = primary.total;
    let num_pieces = (total + piece_length - 1) / piece_length;
    if total / piece_length > MAX_PIECES
        || num_pieces >= i64::from(i32::MAX / 20)
        || num_pieces > MAX_PIECES
    {
        return Err(TorrentError::TooManyPieces);
    }
    match k.bytes(7) {
        None if !v2 => return Err(TorrentError::MissingPieces),
        None => {}
        Some(p) => {
            let expected = num_pieces as u64 * 20;
            if p.len() as u64 != expected {
                return Err(TorrentError::WrongPieceCount {
                    expected,
                    found: p.len() as u64,
                });
            }
        }
    }
    if total == 0 {
        return Err(TorrentError::InvalidLength);
    }

    check_duplicates(&primary, &dirs)?;

    let v2_hash = if v2 {
        if let Some(layers) = find_dict(top, b"piece layers") {
            check_piece_layers(layers, &primary, piece_length)?;
        }
        Some(Sha256::digest(section).into())
    } else {
        None
    };

    Ok(Parsed {
        v1: has_v1.then_some(v1_hash),
        v2: v2_hash,
        info: span,
    })
}

// ---------------------------------------------------------------------------------------------
// Summary for pages.

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
    pub private: bool,
    pub creation_date: Option<i64>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_pad(attr: Option<&[u8]>, path: &str) -> bool {
    attributes(attr) & ATTR_PAD != 0 || path.contains("_____padding_file_")
}

/// Most files listed in a [`Summary`]; `total_size` and `file_count` still cover all of them.
pub const MAX_SUMMARY_FILES: usize = 10_000;
/// Most bytes of file paths listed in a [`Summary`]: a deep v2 tree repeats its directory
/// names in every path, so paths are bounded separately from the number of files.
pub const MAX_SUMMARY_PATH_BYTES: usize = 4 << 20;

/// Collects files for a summary within the listing limits.
#[derive(Default)]
struct Listing {
    files: Vec<FileEntry>,
    path_bytes: usize,
    count: usize,
    total: u64,
}

impl Listing {
    fn add(&mut self, path: impl FnOnce() -> String, size: u64) {
        self.count += 1;
        self.total = self.total.saturating_add(size);
        if self.files.len() < MAX_SUMMARY_FILES && self.path_bytes < MAX_SUMMARY_PATH_BYTES {
            let path = path();
            self.path_bytes += path.len();
            self.files.push(FileEntry { path, size });
        }
    }
}

/// Files of a v2 `file tree` in file order, in one pass without recursion.
fn tree_files(buf: &[u8], tree: &Item<'_>, out: &mut Listing) {
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
        creation_date: find_int(top, b"creation date").and_then(|v| i64::try_from(v).ok()),
        created_by: find_bytes(top, b"created by.utf-8")
            .or_else(|| find_bytes(top, b"created by"))
            .map(lossy),
        comment: find_bytes(top, b"comment.utf-8")
            .or_else(|| find_bytes(top, b"comment"))
            .map(lossy),
        ..Summary::default()
    };

    let mut listing = Listing::default();
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
        listing.add(|| s.name.clone(), size);
    } else if let Some(tree) = info.get(b"file tree").filter(|i| i.as_dict().is_some()) {
        tree_files(bytes, &tree, &mut listing);
    }
    s.files = listing.files;
    s.file_count = listing.count;
    s.total_size = listing.total;

    let mut seen = HashSet::new();
    let mut push = |url: &[u8], out: &mut Vec<String>| {
        let u = lossy(url).trim().to_string();
        if !u.is_empty() && seen.insert(u.clone()) {
            out.push(u);
        }
    };
    if let Some(a) = find_bytes(top, b"announce") {
        push(a, &mut s.trackers);
    }
    if let Some(tiers) = find_list(top, b"announce-list") {
        for tier in tiers.iter() {
            match tier.value {
                Value::List(l) => {
                    for u in l.iter() {
                        if let Some(b) = u.as_bytes() {
                            push(b, &mut s.trackers);
                        }
                    }
                }
                Value::Bytes(b) => push(b, &mut s.trackers),
                _ => {}
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");

    fn corpus(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{CORPUS}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// A single-file v1 torrent around `info` (raw bytes of the info dict).
    fn wrap(info: &[u8]) -> Vec<u8> {
        let mut v = b"d8:announce14:http://t/annce4:info".to_vec();
        v.extend_from_slice(info);
        v.push(b'e');
        v
    }

    const INFO: &[u8] =
        b"d6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";

    #[test]
    fn v1_hash_is_sha1_of_the_raw_span() {
        let t = wrap(INFO);
        let p = validate(&t).unwrap();
        assert_eq!(&t[p.info.clone()], INFO);
        let want: [u8; 20] = Sha1::digest(INFO).into();
        assert_eq!(p.v1, Some(want));
        assert_eq!(p.v2, None);
        assert_eq!(p.key(), Key(want));
    }

    #[test]
    fn unsorted_info_dict_hashes_its_raw_bytes() {
        // keys out of order and a duplicate: a re-encoder would sort and dedupe them
        let info: &[u8] = b"d4:name5:a.txt6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa4:name5:b.txte";
        let t = wrap(info);
        let p = validate(&t).unwrap();
        let want: [u8; 20] = Sha1::digest(info).into();
        assert_eq!(p.v1, Some(want));
        assert_eq!(
            summary(&t).unwrap().name,
            "a.txt",
            "the first duplicate wins"
        );
    }

    #[test]
    fn trailing_bytes_tolerated() {
        let mut t = wrap(INFO);
        let clean = validate(&t).unwrap();
        t.extend_from_slice(b"\r\n<html>junk</html>");
        assert_eq!(validate(&t).unwrap(), clean);
    }

    #[test]
    fn messages() {
        let msg = |b: &[u8]| validate(b).unwrap_err().to_string();
        assert_eq!(
            msg(b"d3:foo3:bare"),
            "not a torrent file: no info dictionary"
        );
        assert_eq!(
            msg(b"d4:infoi1ee"),
            "not a torrent file: no info dictionary"
        );
        assert_eq!(
            msg(b"le"),
            "not a torrent file: top level is not a dictionary"
        );
        assert_eq!(
            msg(&wrap(
                b"d6:lengthi5e4:name1:a12:piece lengthi0e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
            )),
            "not a torrent file: invalid 'piece length'"
        );
        assert_eq!(
            msg(&wrap(
                b"d6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
            )),
            "not a torrent file: missing or invalid 'name'"
        );
        assert_eq!(
            msg(&wrap(
                b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces19:aaaaaaaaaaaaaaaaaaae"
            )),
            "not a torrent file: invalid 'pieces': 19 bytes, expected 20 (20 per piece)"
        );
        assert_eq!(
            msg(b"d4:infod1:xi123456789012345678901eee"),
            "not a torrent file: invalid bencode: integer longer than 20 digits at byte 11"
        );
        for m in [msg(b""), msg(b"d4:info"), msg(b"i-0e")] {
            assert!(
                m.starts_with("not a torrent file: invalid bencode: "),
                "{m}"
            );
        }
    }

    fn deep_torrent(depth: usize) -> Vec<u8> {
        // top dict (1) + info dict (2) + "x" holding depth-2 nested lists
        let mut info = b"d1:x".to_vec();
        info.extend(std::iter::repeat_n(b'l', depth - 2));
        info.extend(std::iter::repeat_n(b'e', depth - 2));
        info.extend_from_slice(&INFO[1..]);
        wrap(&info)
    }

    #[test]
    fn depth_100_ok_101_rejected() {
        assert!(validate(&deep_torrent(100)).is_ok());
        let e = validate(&deep_torrent(101)).unwrap_err();
        assert!(matches!(
            e,
            TorrentError::Bencode(bencode::Error::TooDeep { .. })
        ));
        // '{' of the 101st container: 34 bytes of prefix + "d1:x" + 98 lists
        assert_eq!(
            e.to_string(),
            "not a torrent file: bencode nesting deeper than 100 at byte 136"
        );
    }

    #[test]
    fn megabyte_of_lists_on_a_small_stack() {
        let h = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| {
                let mut v = b"d4:infod1:x".to_vec();
                v.extend(std::iter::repeat_n(b'l', 1 << 20));
                (validate(&v).is_err(), summary(&v).is_err())
            })
            .unwrap();
        assert_eq!(h.join().unwrap(), (true, true));
    }

    #[test]
    fn truncations_and_corruptions_never_panic() {
        // (file, stride of single-byte corruptions): every offset is truncated; corruptions
        // are spread out on the big file to keep the debug-build test fast.
        for (rel, stride) in [
            (
                "crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent",
                97,
            ),
            (
                "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/empty-files-1.torrent",
                1,
            ),
            (
                "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent",
                1,
            ),
        ] {
            let t = corpus(rel);
            assert!(validate(&t).is_ok(), "{rel}");
            for n in 0..t.len() {
                // only a cut inside the top-level dict can fail; none may panic
                assert!(validate(&t[..n]).is_err(), "{rel} cut at {n}");
                let _ = summary(&t[..n]);
            }
            let mut m = t.clone();
            for i in (0..m.len()).step_by(stride) {
                let old = m[i];
                for new in [old.wrapping_add(1), b'e', b'0', b'l'] {
                    m[i] = new;
                    let _ = validate(&m);
                    let _ = summary(&m);
                }
                m[i] = old;
            }
        }
    }

    #[test]
    fn v2_only_key_is_truncated_v2_hash() {
        let t = corpus("debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_only.torrent");
        let p = validate(&t).unwrap();
        assert!(p.v1.is_none());
        let v2 = p.v2.unwrap();
        assert_eq!(p.key(), Key::from_v2(&v2));
    }

    #[test]
    fn summary_of_multi_file_v1() {
        let t = b"d8:announce5:http1\
            13:announce-listll5:http1el5:http25:http1ee\
            7:comment2:hi10:created by3:me\xff13:creation datei1700000000e\
            4:infod5:filesl\
            d6:lengthi3e4:pathl3:dir5:a.txteed\
            4:attr1:p6:lengthi16381e4:pathl4:.pad5:16381eed\
            6:lengthi7e4:pathl5:b.txteee\
            4:name3:top10:name.utf-84:top!12:piece lengthi16384e\
            6:pieces40:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa7:privatei1eee";
        validate(t).unwrap();
        let s = summary(t).unwrap();
        assert_eq!(s.name, "top!");
        assert_eq!(s.trackers, ["http1", "http2"]);
        assert_eq!(
            s.files,
            [
                FileEntry {
                    path: "dir/a.txt".into(),
                    size: 3
                },
                FileEntry {
                    path: "b.txt".into(),
                    size: 7
                },
            ]
        );
        assert_eq!(s.total_size, 10);
        assert!(s.private);
        assert_eq!(s.creation_date, Some(1_700_000_000));
        assert_eq!(s.created_by.as_deref(), Some("me\u{fffd}"));
        assert_eq!(s.comment.as_deref(), Some("hi"));
    }

    #[test]
    fn summary_of_v2_only_file_tree() {
        let t = corpus(
            "debian-src-libtorrent-rasterbar-2.0.8/test/test_torrents/v2_multiple_files.torrent",
        );
        let s = summary(&t).unwrap();
        assert!(s.files.len() > 1, "{s:?}");
        assert_eq!(s.total_size, s.files.iter().map(|f| f.size).sum::<u64>());
        assert!(s
            .files
            .iter()
            .all(|f| !f.path.is_empty() && !f.path.ends_with('/')));
    }

    /// A v2 tree: `depth` nested directories holding `n` empty files.
    fn deep_tree(depth: usize, n: usize) -> Vec<u8> {
        let mut t = b"d4:infod9:file treed".to_vec();
        for _ in 0..depth {
            t.extend_from_slice(b"3:dird");
        }
        for i in 0..n {
            let k = format!("{i:08}");
            t.extend_from_slice(format!("8:{k}d0:d6:lengthi0eee").as_bytes());
        }
        t.extend(std::iter::repeat_n(b'e', depth + 1));
        t.extend_from_slice(b"12:meta versioni2e4:name1:x12:piece lengthi16384eee");
        t
    }

    #[test]
    fn deep_shared_tree_stays_linear_and_listing_is_capped() {
        let t = deep_tree(90, MAX_SUMMARY_FILES + 5);
        // all files are empty: a structurally fine tree with a total size of zero
        assert_eq!(validate(&t), Err(TorrentError::InvalidLength));
        let s = summary(&t).unwrap();
        assert_eq!(s.file_count, MAX_SUMMARY_FILES + 5);
        assert_eq!(s.files.len(), MAX_SUMMARY_FILES);
        let first = &s.files[0].path;
        assert!(
            first.starts_with("dir/dir/") && first.ends_with("/00000000"),
            "{first}"
        );
    }

    #[test]
    fn file_tree_structure_errors() {
        let bad = |tree: &str| {
            let t = format!(
                "d4:infod9:file tree{tree}12:meta versioni2e4:name1:x12:piece lengthi16384eee"
            );
            validate(t.as_bytes()).unwrap_err()
        };
        // an empty key next to other entries, a file entry that is not a dict, a non-dict node
        assert_eq!(
            bad("d1:ad0:d6:lengthi1ee1:bdeee"),
            TorrentError::InvalidFileEntry
        );
        assert_eq!(bad("d1:ad0:i1eee"), TorrentError::InvalidFileEntry);
        assert_eq!(bad("d1:ai1ee"), TorrentError::InvalidFileEntry);
        assert_eq!(
            bad("d1:ad0:d6:lengthi1eeee"),
            TorrentError::MissingPiecesRoot
        );
        assert_eq!(bad("de"), TorrentError::NoFiles);
    }

    #[test]
    fn sanitizing() {
        let s = |parts: &[&[u8]]| {
            let mut p = Vec::new();
            for e in parts {
                sanitize_append(&mut p, e);
            }
            String::from_utf8_lossy(&p).into_owned()
        };
        assert_eq!(s(&[b"a", b"..", b"b"]), "a/b");
        assert_eq!(s(&[b"a", b".", b"b/c"]), "a/bc");
        assert_eq!(s(&[b"a", b""]), "a/_");
        assert_eq!(s(&[b"\xff"]), "_");
        assert_eq!(s(&[b"\0\0"]), "");
        assert_eq!(s(&[b"x\xe2\x80\xaey"]), "xy");
    }

    #[test]
    fn merkle_root_of_single_piece_pair() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let mut layer = a.to_vec();
        layer.extend_from_slice(&b);
        assert_eq!(merkle_root(&layer, 1), sha256_pair(&a, &b));
        // three pieces pad to four with the zero-piece hash
        let mut three = layer.clone();
        three.extend_from_slice(&a);
        let pad = sha256_pair(&[0; 32], &[0; 32]);
        assert_eq!(
            merkle_root(&three, 2),
            sha256_pair(&sha256_pair(&a, &b), &sha256_pair(&a, &pad))
        );
    }
}
