//! Dictionary lookups with libtorrent's semantics.
//!
//! Owns: finding a key the way libtorrent's `dict_find_*` do. Must never: allocate per lookup.
//!
//! Dictionary lookups with libtorrent's semantics: the first entry with a key wins, and a typed
//! lookup (`dict_find_string`, `dict_find_int`…) of a value of another type finds nothing.

use super::bencode::Dict;
use super::bencode::Item;
use super::bencode::List;

pub(super) fn find_int(d: Dict<'_>, key: &[u8]) -> Option<i128> {
    d.get(key).and_then(|i| i.as_int())
}
pub(super) fn find_bytes<'a>(d: Dict<'a>, key: &[u8]) -> Option<&'a [u8]> {
    d.get(key).and_then(|i| i.as_bytes())
}
pub(super) fn find_list<'a>(d: Dict<'a>, key: &[u8]) -> Option<List<'a>> {
    d.get(key).and_then(|i| i.as_list())
}
pub(super) fn find_dict<'a>(d: Dict<'a>, key: &[u8]) -> Option<Dict<'a>> {
    d.get(key).and_then(|i| i.as_dict())
}

/// Records the first occurrence of each wanted key in one walk of a dict, so a dict is walked
/// once however many keys are looked up.
pub(super) struct Keys<'a, const N: usize> {
    pub(super) found: [Option<Item<'a>>; N],
}

impl<'a, const N: usize> Keys<'a, N> {
    pub(super) fn collect(d: Dict<'a>, names: &[&[u8]; N]) -> Self {
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
    pub(super) fn item(&self, i: usize) -> Option<&Item<'a>> {
        self.found.get(i).and_then(|o| o.as_ref())
    }
    pub(super) fn int(&self, i: usize) -> Option<i128> {
        self.item(i).and_then(|v| v.as_int())
    }
    pub(super) fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        self.item(i).and_then(|v| v.as_bytes())
    }
    pub(super) fn list(&self, i: usize) -> Option<List<'a>> {
        self.item(i).and_then(|v| v.as_list())
    }
}

/// An integer field as libtorrent's `dict_find_int_value` reads it: `default` when missing or
/// not an integer, and 0 when its magnitude does not fit an int64 (its `int_value` gives 0 on
/// overflow; the sign is applied after the digits, so -2^63 overflows too).
pub(super) fn int64(v: Option<i128>, default: i64) -> i64 {
    match v {
        None => default,
        Some(v) if v.unsigned_abs() > i64::MAX as u128 => 0,
        Some(v) => v as i64,
    }
}
