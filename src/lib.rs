//! thetorrent: a self-hosted store for .torrent files.
//!
//! One module per concern; each opens with what it owns and what it must never do.
//! See ARCHITECTURE.md for how a request and an upload flow through them.

pub mod bencode;
pub mod cli;
pub mod hash;
pub mod http;
pub mod multipart;
pub mod s3;
pub mod server;
pub mod soap;
pub mod storage;
pub mod store;
pub mod torrent;
pub mod web;
