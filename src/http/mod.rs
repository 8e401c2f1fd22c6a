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
pub mod client;
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

    /// The answer to a request whose body could not be taken: `status` is 413 (over
    /// [`Config::max_body_bytes`]: declared, in which case `handle` is never called, or found
    /// while reading), 400 (malformed chunked framing), 408 (too slow) or 431 (trailers too
    /// large). It replaces whatever `handle` answered; the body can no longer be read, and the
    /// connection is closed after the answer whatever it says. The default is the layer's
    /// plain error page for `status`; an application overrides it to answer in its own format
    /// (an upload API's error headers, a SOAP Fault). A panic here gives the plain page.
    fn body_error(&self, req: &Request<'_>, status: u16) -> Response {
        let _ = req;
        Response::error(status)
    }
}

impl<F> Handler for F
where
    F: Fn(&mut Request<'_>) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: &mut Request<'_>) -> Response {
        self(req)
    }
}

/// A [`Handler`] from two closures: requests, and [`Handler::body_error`] answers.
pub struct WithBodyError<H, E>(pub H, pub E);

impl<H, E> Handler for WithBodyError<H, E>
where
    H: Fn(&mut Request<'_>) -> Response + Send + Sync + 'static,
    E: Fn(&Request<'_>, u16) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: &mut Request<'_>) -> Response {
        (self.0)(req)
    }

    fn body_error(&self, req: &Request<'_>, status: u16) -> Response {
        (self.1)(req, status)
    }
}
