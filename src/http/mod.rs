//! (STUB: being written.)
