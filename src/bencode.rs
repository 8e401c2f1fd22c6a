//! Bencode (BEP 3), parsed zero-copy.
//!
//! Owns: turning bytes into borrowed values that know their byte span. Must never: copy
//! strings, recurse without the depth bound, or accept integers longer than `MAX_INT_DIGITS`.
//! (STUB: being written.)
