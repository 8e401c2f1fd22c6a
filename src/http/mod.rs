//! The project's own strict HTTP/1.1 server layer, on `may` coroutines and `httparse`.
//!
//! Owns: the wire protocol between a client and a [`Handler`]: listening, accepting, reading
//! request heads and bodies, writing responses, keep-alive, limits and timeouts, graceful
//! shutdown. Must never: know about torrents or the store, let a client's input panic the
//! process or grow a buffer without bound, send internal error text to a client, or parse
//! bytes of a request body as a request.
//!
//! One file per decision, shaped like hyper's `proto/h1`:
//! - [`config`]: every limit, as a named, documented, configurable value;
//! - [`wire`]: the socket plus its read buffer and deadline-bounded reads;
//! - [`head`]: parsing a request head with limits, and deciding the body framing;
//! - [`body`]: one small state machine per framing (Content-Length, chunked with trailers);
//! - [`budget`]: the memory budget of all request bodies in flight;
//! - [`request`]: what a handler sees of a request;
//! - [`response`]: what a handler returns, and how it goes onto the wire;
//! - [`date`]: HTTP dates (`Date`, `Last-Modified`, `If-Modified-Since`);
//! - [`handler`]: what the layer calls for every request;
//! - [`conn`]: the connection loop (keep-alive, close, HTTP/1.0, pipelining, timeouts);
//! - [`registry`]: the open connections, their deadlines, and the sweep that enforces them;
//! - [`socket`]: listening sockets (IPv4/IPv6, systemd `LISTEN_FDS`);
//! - [`listen`]: the accept loop, the connection cap, EMFILE back-off, SIGTERM and graceful
//!   shutdown;
//! - [`client`]: the HTTP/1.1 client, sharing the response framing and the chunked decoder.
//!
//! Inside, imports point one way: `listen` → `conn` → `wire` → `registry`; nothing below
//! `listen` knows the accept loop.

pub mod body;
pub mod budget;
pub mod client;
pub mod config;
pub mod conn;
pub mod date;
pub mod handler;
pub mod head;
pub mod listen;
pub mod registry;
pub mod request;
pub mod response;
pub mod socket;
pub mod wire;

pub use body::{Body, BodyError};
pub use config::Config;
pub use handler::{Handler, WithBodyError};
pub use listen::run;
pub use request::{Method, Request};
pub use response::{HeaderValue, Response, ResponseBody};
pub use socket::{bind, Listeners};
