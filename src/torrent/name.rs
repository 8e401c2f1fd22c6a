//! A torrent's name (`info` → `name.utf-8`, else `name`) read through windows of its bytes,
//! for a download's file name.
//!
//! Owns: walking a stored torrent to its name while reading only the tokens on the way:
//! strings other than the few keys and values it compares are skipped by their length, so a
//! single-file torrent costs two small windows whatever the size of its `pieces`. Must never:
//! do I/O itself (the caller's [`Window`] does), read a string it does not need, or answer
//! differently from [`summary`](super::summary)'s name for a torrent that validates.
//!
//! The walk trusts the structure of what it reads only as far as it goes: on bytes that are
//! not a torrent it answers `None` (or a name found before the damage); it never panics.

use super::bencode::{self, Token, MAX_INT_DIGITS, MAX_LENGTH_DIGITS, MAX_TOKENS};
use super::summary::lossy;

/// Bytes that always hold a whole token header: `i`, a sign, `MAX_INT_DIGITS` digits and `e`
/// (a string's length prefix, `MAX_LENGTH_DIGITS` digits and `:`, is shorter).
const HEADER: usize = MAX_INT_DIGITS + 3;
const _: () = assert!(MAX_LENGTH_DIGITS < HEADER);

/// Input read in windows (a file, read at offsets; or bytes in memory).
pub trait Window {
    /// At least `min` bytes of the input starting at `offset`, fewer only where the input
    /// ends; `None` when they cannot be read.
    fn window(&mut self, offset: u64, min: usize) -> Option<&[u8]>;
}

impl<W: Window + ?Sized> Window for &mut W {
    fn window(&mut self, offset: u64, min: usize) -> Option<&[u8]> {
        (**self).window(offset, min)
    }
}

impl Window for &[u8] {
    fn window(&mut self, offset: u64, _min: usize) -> Option<&[u8]> {
        let offset = usize::try_from(offset).ok()?;
        Some(self.get(offset..).unwrap_or_default())
    }
}

/// The name of the torrent `input` holds (`name.utf-8` when present, else `name`, lossily
/// decoded); `None` when it has none.
pub fn name(mut input: impl Window) -> Option<String> {
    let mut walk = Walk {
        input: &mut input,
        pos: 0,
        tokens: 0,
    };
    if walk.next()? != Tok::Dict {
        return None;
    }
    // The first `info` key decides, as libtorrent's `dict_find` does.
    loop {
        match walk.key()? {
            Key::Info => return walk.info_name(),
            Key::End => return None,
            _ => walk.skip_value()?,
        }
    }
}

/// A token, its string bytes not read: `Str(len)` leaves the walk at the string's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Int,
    Str(u64),
    List,
    Dict,
    End,
}

struct Walk<'w, W: Window> {
    input: &'w mut W,
    /// Offset of the next byte to read.
    pos: u64,
    /// Tokens read, bounded by [`MAX_TOKENS`] as a whole parse is.
    tokens: usize,
}

impl<W: Window> Walk<'_, W> {
    /// Reads the token at `pos`.
    fn next(&mut self) -> Option<Tok> {
        self.tokens += 1;
        if self.tokens > MAX_TOKENS {
            return None;
        }
        let w = self.input.window(self.pos, HEADER)?;
        let (tok, used) = match *w.first()? {
            b'0'..=b'9' => {
                let (start, len) = bencode::string_header(w, 0).ok()?;
                (Tok::Str(len), start)
            }
            _ => match bencode::token(w, 0).ok()? {
                (Token::Int(_), used) => (Tok::Int, used),
                (Token::List, used) => (Tok::List, used),
                (Token::Dict, used) => (Tok::Dict, used),
                (Token::End, used) => (Tok::End, used),
                (Token::Bytes(_), _) => return None,
            },
        };
        self.pos += used as u64;
        Some(tok)
    }

    /// The `len` bytes of the string at `pos`, read; the walk moves past them.
    fn bytes(&mut self, len: u64) -> Option<&[u8]> {
        let n = usize::try_from(len).ok()?;
        let at = self.pos;
        self.pos = at.checked_add(len)?;
        self.input.window(at, n)?.get(..n)
    }

    /// Reads the key at `pos` (or the end of its dict); only keys as long as one it tells
    /// apart are read, the others skipped.
    fn key(&mut self) -> Option<Key> {
        match self.next()? {
            Tok::End => Some(Key::End),
            Tok::Str(len @ (4 | 10)) => Some(match self.bytes(len)? {
                b"info" => Key::Info,
                b"name" => Key::Name,
                b"name.utf-8" => Key::NameUtf8,
                _ => Key::Other,
            }),
            Tok::Str(len) => {
                self.pos = self.pos.checked_add(len)?;
                Some(Key::Other)
            }
            _ => None,
        }
    }

    /// Moves past the value at `pos`, whatever it holds.
    fn skip_value(&mut self) -> Option<()> {
        let first = self.next()?;
        self.skip_from(first)
    }

    /// Moves past the value whose first token, `first`, was just read.
    fn skip_from(&mut self, first: Tok) -> Option<()> {
        let mut tok = first;
        let mut depth = 0usize;
        loop {
            match tok {
                Tok::Str(len) => self.pos = self.pos.checked_add(len)?,
                Tok::Int => {}
                Tok::List | Tok::Dict => depth += 1,
                Tok::End => depth = depth.checked_sub(1)?,
            }
            if depth == 0 {
                return Some(());
            }
            tok = self.next()?;
        }
    }

    /// The name in the `info` value at `pos`: the first `name.utf-8` if it is a string, else
    /// the first `name` if it is a string.
    fn info_name(&mut self) -> Option<String> {
        if self.next()? != Tok::Dict {
            return None;
        }
        // Some(None): the first `name` was not a string.
        let mut name: Option<Option<String>> = None;
        let mut utf8_seen = false;
        loop {
            let key = self.key()?;
            let wanted = match key {
                Key::End => return name.flatten(),
                Key::NameUtf8 => !std::mem::replace(&mut utf8_seen, true),
                Key::Name => name.is_none(),
                Key::Info | Key::Other => false,
            };
            let value = self.next()?;
            if !wanted {
                self.skip_from(value)?;
                continue;
            }
            let value = match value {
                Tok::Str(len) => Some(lossy(self.bytes(len)?)),
                Tok::End => return None,
                other => {
                    self.skip_from(other)?;
                    None
                }
            };
            match (key, value) {
                // The first `name.utf-8`, a string: nothing later changes the answer.
                (Key::NameUtf8, Some(v)) => return Some(v),
                (Key::NameUtf8, None) => {}
                (_, v) => name = Some(v),
            }
        }
    }
}

/// The keys the walk tells apart, and the end of a dict.
#[derive(Clone, Copy)]
enum Key {
    Info,
    Name,
    NameUtf8,
    Other,
    End,
}

#[cfg(test)]
mod tests {
    use super::super::bencode;
    use super::*;
    use std::path::Path;

    /// The name as a whole parse finds it (`Dict::get`: the first entry of a key).
    fn whole_parse(bytes: &[u8]) -> Option<String> {
        let top = bencode::parse(bytes).ok()?;
        let info = top.as_dict()?.get(b"info")?.as_dict()?;
        let find = |k: &[u8]| info.get(k).and_then(|i| i.as_bytes());
        find(b"name.utf-8").or_else(|| find(b"name")).map(lossy)
    }

    /// Hands out exactly what is asked for, so every token boundary falls on a window's end;
    /// records the bytes handed out.
    struct Stingy<'a> {
        bytes: &'a [u8],
        handed: usize,
    }

    impl Window for Stingy<'_> {
        fn window(&mut self, offset: u64, min: usize) -> Option<&[u8]> {
            let start = usize::try_from(offset).ok()?.min(self.bytes.len());
            let end = start.saturating_add(min).min(self.bytes.len());
            self.handed += end - start;
            Some(&self.bytes[start..end])
        }
    }

    fn stingy(bytes: &[u8]) -> Option<String> {
        name(Stingy { bytes, handed: 0 })
    }

    fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    #[test]
    fn agrees_with_a_whole_parse_on_every_corpus_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut files = Vec::new();
        files_under(&root.join("corpus"), &mut files);
        files_under(&root.join("differential/found"), &mut files);
        let mut named = 0;
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let walked = (name(&bytes[..]), stingy(&bytes));
            if bencode::parse(&bytes).is_ok() {
                let want = whole_parse(&bytes);
                assert_eq!(walked, (want.clone(), want), "{}", f.display());
                named += usize::from(walked.0.is_some());
            }
        }
        assert!(
            named > 100,
            "only {named} named torrents among {}",
            files.len()
        );
    }

    fn torrent(info: &str) -> Vec<u8> {
        format!("d8:announce9:http://t/7:comment3:abc4:info{info}e").into_bytes()
    }

    #[test]
    fn the_first_entry_of_each_key_decides() {
        for (info, want) in [
            (
                "d6:lengthi1e4:name1:a12:piece lengthi1e6:pieces0:e",
                Some("a"),
            ),
            ("d4:name1:a10:name.utf-81:be", Some("b")),
            // unsorted: `name.utf-8` after `pieces` still wins
            ("d4:name1:a6:pieces0:10:name.utf-81:be", Some("b")),
            // a `name.utf-8` that is not a string falls back to `name`
            ("d10:name.utf-8li1ee4:name1:ae", Some("a")),
            ("d10:name.utf-8i1e10:name.utf-81:b4:name1:ae", Some("a")),
            // the first `name` is not a string: no name, whatever follows
            ("d4:named1:xi1ee4:name1:ae", None),
            ("d4:namei1e4:name1:ae", None),
            ("d4:name1:a4:name1:be", Some("a")),
            ("d6:lengthi1ee", None),
            ("le", None),
            ("4:name", None),
            ("d4:name2:\u{00e9}e", Some("\u{00e9}")),
        ] {
            let t = torrent(info);
            assert_eq!(whole_parse(&t).as_deref(), want, "oracle: {info}");
            assert_eq!(name(&t[..]).as_deref(), want, "{info}");
            assert_eq!(stingy(&t).as_deref(), want, "{info}");
        }
        // Not UTF-8: decoded lossily.
        let t = b"d4:infod4:name2:\xff\xfeee";
        assert_eq!(stingy(t).as_deref(), Some("\u{fffd}\u{fffd}"));
        assert_eq!(whole_parse(t), stingy(t));
        // Top-level keys of the lengths the walk reads are skipped like any other.
        let t = b"d4:spami1e10:name.utf-8i2e4:infod4:name1:aee";
        assert_eq!(whole_parse(t).as_deref(), Some("a"));
        assert_eq!(stingy(t), whole_parse(t));
        assert_eq!(name(&t[..]), whole_parse(t));
        // Only the first `info` counts.
        let t = b"d4:infoi1e4:infod4:name1:aee";
        assert_eq!((whole_parse(t), stingy(t)), (None, None));
    }

    #[test]
    fn large_strings_are_skipped_unread() {
        let pieces = "x".repeat(20 * 50_000);
        let t = torrent(&format!(
            "d6:lengthi1e4:name5:a.iso12:piece lengthi16384e6:pieces{}:{pieces}e",
            pieces.len()
        ));
        let mut w = Stingy {
            bytes: &t,
            handed: 0,
        };
        assert_eq!(name(&mut w).as_deref(), Some("a.iso"));
        assert!(w.handed < 1000, "{} bytes read of {}", w.handed, t.len());
    }

    #[test]
    fn damaged_bytes_give_no_name_and_no_panic() {
        let t = torrent("d6:lengthi1e4:name1:a12:piece lengthi1e6:pieces0:e");
        for cut in 0..t.len() {
            // Cut before the name is complete: nothing to find.
            let got = stingy(&t[..cut]);
            assert!(
                got.is_none() || got.as_deref() == Some("a"),
                "{cut}: {got:?}"
            );
        }
        for t in [
            &b"d4:infod4:name99999999999999999:"[..],
            b"d4:infod4:name18446744073709551615:a",
            b"d4:infod999999999999999999:",
            b"d4:infodi1e1:ae",
            b"d4:infod1:aeee4:name",
            b"dddddddddddddddddddd",
            b"\xff\x00",
            b"",
        ] {
            assert_eq!(stingy(t), None, "{t:?}");
            assert_eq!(name(t), None, "{t:?}");
        }
    }
}
