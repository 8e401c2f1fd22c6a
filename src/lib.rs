//! thetorrent: a self-hosted store for .torrent files.
//!
//! The modules are layers; each imports only from the layers listed above it:
//!
//! - [`clock`], [`deadline`], [`signals`]: the process's clocks, the watchdog that ends socket
//!   waits at their deadlines, and the shutdown-signal mask;
//! - [`torrent`]: the domain (bencode, validation, info hashes, summaries), no I/O;
//! - [`storage`]: where torrents live (the `Storage` trait, the local data directory, S3);
//! - [`http`]: the HTTP/1.1 server and client, which know nothing of torrents;
//! - [`fetch`]: the network clients that fetch a missing torrent's info from its swarm (peer
//!   wire, trackers) and the address policy they keep;
//! - [`app`]: the application (routes, downloads, uploads, pages, stats);
//! - [`cli`]: the command line, the only place `clap` appears.
//!
//! Each module opens with what it owns and what it must never do. See ARCHITECTURE.md for how
//! a request and an upload flow through them.

pub mod app;
pub mod cli;
pub mod clock;
pub mod deadline;
pub mod fetch;
pub mod http;
pub mod signals;
pub mod storage;
pub mod torrent;
