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
//! - [`request`]: what a handler sees of a request;
//! - [`response`]: what a handler returns, and how it goes onto the wire;
//! - [`date`]: HTTP dates (`Date`, `Last-Modified`, `If-Modified-Since`);
//! - [`conn`]: the connection loop (keep-alive, close, HTTP/1.0, pipelining, timeouts);
//! - [`listen`]: listeners (IPv4/IPv6, systemd `LISTEN_FDS`), the accept loop, the connection
//!   cap, EMFILE back-off, SIGTERM and graceful shutdown.

pub mod body;
pub mod config;
pub mod conn;
pub mod date;
pub mod head;
pub mod listen;
pub mod request;
pub mod response;
pub mod wire;

pub use body::{Body, BodyError};
pub use config::Config;
pub use listen::{bind, run, Listeners};
pub use request::{Method, Request};
pub use response::{Response, ResponseBody};

/// What the layer calls for every request. Handlers run on the connection's coroutine: they
/// may read the body (bounded by [`Config::max_body`]) and must not block the worker thread
/// for long (no fsync; a small read from the page cache is fine).
///
/// A panic in a handler is caught: it costs that one connection (a plain 500 is sent when
/// possible, then the connection is closed), never the process.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &mut Request<'_>) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&mut Request<'_>) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: &mut Request<'_>) -> Response {
        self(req)
    }
}
