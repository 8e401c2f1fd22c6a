//! A stored object read in windows, for walks that need a few tokens of a torrent rather than
//! all of its bytes (a download's file name).
//!
//! Owns: reading a file at offsets through one small buffer. Must never: read past the
//! object's length, or read a byte the walk did not ask for beyond one buffer's worth.

use super::Body;
use crate::torrent::Window;
use std::os::unix::fs::FileExt;

/// Bytes read from a file at a time (one page): a single-file torrent's name walk reads two.
pub const WINDOW_BYTES: usize = 4096;

/// A [`Body`] of `len` bytes as a [`Window`].
pub struct BodyWindow<'a> {
    body: &'a Body,
    len: u64,
    /// The bytes read last and the offset they start at (files only).
    buf: Vec<u8>,
    buf_at: u64,
}

impl Body {
    /// The first `len` bytes, read in windows.
    pub fn windows(&self, len: u64) -> BodyWindow<'_> {
        BodyWindow {
            body: self,
            len,
            buf: Vec::new(),
            buf_at: 0,
        }
    }
}

impl Window for BodyWindow<'_> {
    fn window(&mut self, offset: u64, min: usize) -> Option<&[u8]> {
        let file = match self.body {
            Body::Bytes(b) => {
                let end = usize::try_from(self.len).ok()?.min(b.len());
                let start = usize::try_from(offset).ok()?.min(end);
                return Some(&b[start..end]);
            }
            Body::File(f) => f,
        };
        let left = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        let want = min.min(left);
        let have = offset
            .checked_sub(self.buf_at)
            .and_then(|skip| usize::try_from(skip).ok())
            .filter(|&skip| skip <= self.buf.len() && self.buf.len() - skip >= want);
        let skip = match have {
            Some(skip) => skip,
            None => {
                self.buf.clear();
                self.buf.resize(min.max(WINDOW_BYTES).min(left), 0);
                file.read_exact_at(&mut self.buf, offset).ok()?;
                self.buf_at = offset;
                0
            }
        };
        Some(&self.buf[skip..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn torrent(pieces: usize) -> Vec<u8> {
        let mut t = b"d4:infod6:lengthi1e4:name5:a.iso12:piece lengthi16384e6:pieces".to_vec();
        t.extend_from_slice(format!("{pieces}:").as_bytes());
        t.resize(t.len() + pieces, b'x');
        t.extend_from_slice(b"ee");
        t
    }

    fn file_body(bytes: &[u8]) -> Body {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Body::File(Arc::new(f))
    }

    #[test]
    fn a_file_and_the_same_bytes_in_memory_give_the_same_windows() {
        for pieces in [0, 20, WINDOW_BYTES - 60, WINDOW_BYTES, 3 * WINDOW_BYTES + 7] {
            let t = torrent(pieces);
            let len = t.len() as u64;
            let file = file_body(&t);
            let bytes = Body::Bytes(t.clone().into());
            for body in [&file, &bytes] {
                assert_eq!(
                    crate::torrent::name(body.windows(len)).as_deref(),
                    Some("a.iso")
                );
            }
            let (mut fw, mut bw) = (file.windows(len), bytes.windows(len));
            for offset in (0..len + 2).step_by(97) {
                let min = (offset as usize * 7) % (WINDOW_BYTES + 100);
                let f = fw.window(offset, min).unwrap().to_vec();
                let b = bw.window(offset, min).unwrap();
                let want = min.min(t.len().saturating_sub(offset as usize));
                assert_eq!(f[..want], b[..want], "{pieces} at {offset}+{min}");
                assert!(f.len() >= want && b.len() >= want);
            }
        }
    }

    #[test]
    fn a_file_shorter_than_its_length_reads_as_nothing() {
        let t = torrent(100);
        let body = file_body(&t[..50]);
        assert_eq!(crate::torrent::name(body.windows(t.len() as u64)), None);
    }
}
