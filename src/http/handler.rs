//! What the HTTP layer calls for every request: the [`Handler`] trait, implemented by the
//! application (and by closures, for tests).
//!
//! Owns: the contract between the layer and an application. Must never: carry state of its own.

use super::request::Request;
use super::response::Response;

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
