//! The life of one connection: request after request until close.
//!
//! Owns: keep-alive versus close (`Connection`, HTTP/1.0, errors, shutdown), the order of
//! pipelined responses and the bound on output buffered for them, calling the handler under
//! `catch_unwind`, replacing its answer when the body failed, and closing gracefully. Must
//! never: reuse a connection whose body was not read to its end, write a response out of
//! order, or let a handler panic reach the process.

use super::body::{Body, BodyLimits};
use super::config::Config;
use super::handler::Handler;
use super::head::{self, Framing, Head};
use super::registry::{Shared, Tracked};
use super::request::{Method, Request};
use super::response::{self, Response, Rest};
use super::wire::Wire;
use may::net::TcpStream;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

/// A connection: `tracked` is declared first so it is dropped (unregistered) before the
/// socket is closed, so the shutdown code never touches a reused descriptor.
struct Conn {
    tracked: Tracked,
    wire: Wire,
}

/// Serves one accepted connection until it closes.
pub fn serve(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    shared: &Shared,
    handler: &dyn Handler,
    tracked: Tracked,
) {
    let cfg = &shared.cfg;
    let state = tracked.state.clone();
    let mut conn = Conn {
        tracked,
        wire: Wire::new(stream, cfg.write_timeout, state),
    };
    let mut head = Head::default();
    let limits = BodyLimits {
        max_bytes: cfg.max_body_bytes,
        max_trailer_bytes: cfg.max_head_bytes,
        grace: cfg.body_grace,
        min_rate: cfg.body_min_rate,
        rate_window: cfg.body_rate_window,
        budget_wait: cfg.body_budget_wait,
        read_chunk: super::config::READ_CHUNK.max(cfg.max_head_bytes + 1),
    };
    loop {
        if conn.wire.buffered().is_empty() && conn.wire.flush().is_err() {
            return;
        }
        conn.tracked.state.set_idle();
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let state = &conn.tracked.state;
        let r = head::read_head(&mut conn.wire, cfg, &mut head, || {
            state.idle.store(false, Ordering::SeqCst)
        });
        state.idle.store(false, Ordering::SeqCst);
        if let Err(e) = r {
            refuse(&mut conn, e, &head, limits, peer, handler, cfg);
            return;
        }
        let framing = head.framing.unwrap_or(Framing::Empty);
        let body = Body::new(
            &mut conn.wire,
            framing,
            limits,
            head.expect_continue,
            Some(&shared.budget),
        );
        let mut req = Request::new(&head, body, peer);
        let is_head = req.method() == Method::Head;
        let Some((resp, in_step)) = call(handler, &mut req, head.keep_alive, cfg) else {
            return;
        };
        // The body's room in the budget goes back now: the handler has returned.
        drop(req);
        let keep_alive = in_step && !shared.shutting_down.load(Ordering::SeqCst);
        if !send(&mut conn, resp, is_head, keep_alive, head.version, cfg) {
            return;
        }
        if !keep_alive {
            conn.wire
                .linger_close(cfg.linger_timeout, cfg.max_drain_bytes);
            return;
        }
        if conn.wire.out.len() >= cfg.max_buffered_output && conn.wire.flush().is_err() {
            return;
        }
    }
}

/// Answers a head that could not be taken (when its error has a status), then closes.
fn refuse(
    conn: &mut Conn,
    e: head::HeadError,
    head: &Head,
    limits: BodyLimits,
    peer: Option<SocketAddr>,
    handler: &dyn Handler,
    cfg: &Config,
) {
    let Some(status) = e.status() else {
        return;
    };
    let (resp, version) = if e == head::HeadError::BodyTooLarge {
        // The head itself is fine: the application may answer in its own format.
        let body = Body::new(&mut conn.wire, Framing::Empty, limits, false, None);
        let req = Request::new(head, body, peer);
        (body_error(handler, &req, status), head.version)
    } else {
        (Response::error(status), 1)
    };
    let _ = response::write(&mut conn.wire.out, resp, false, false, version);
    conn.wire
        .linger_close(cfg.linger_timeout, cfg.max_body_bytes);
}

/// The handler's answer, and whether the connection may carry the next request (the body
/// was read or drained to its end); `None` when the client is gone mid-body. A panic in the
/// handler is answered 500 and closes the connection.
fn call(
    handler: &dyn Handler,
    req: &mut Request<'_>,
    keep_alive: bool,
    cfg: &Config,
) -> Option<(Response, bool)> {
    let handled = catch_unwind(AssertUnwindSafe(|| handler.handle(req)));
    Some(match handled {
        Ok(resp) => match req.body.error() {
            Some(e) => (body_error(handler, req, e.status()?), false),
            None => {
                let in_step = keep_alive && !resp.close && req.body.drain(cfg.max_drain_bytes);
                (resp, in_step)
            }
        },
        Err(_) => {
            eprintln!(
                "thetorrent: http: handler panicked on {} {}; connection closed",
                req.method_str(),
                req.path()
            );
            (Response::error(500), false)
        }
    })
}

/// Writes `resp` (a file body with `sendfile`); false when the connection is done for.
fn send(
    conn: &mut Conn,
    resp: Response,
    is_head: bool,
    keep_alive: bool,
    version: u8,
    cfg: &Config,
) -> bool {
    match response::write(&mut conn.wire.out, resp, is_head, keep_alive, version) {
        Ok(Rest::Nothing) => true,
        Ok(Rest::File { file, offset, len }) => match conn.wire.send_file(&file, offset, len) {
            Ok(_) => true,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    eprintln!("thetorrent: http: file shrank mid-response");
                }
                false
            }
        },
        Err(e) => {
            eprintln!("thetorrent: http: file body could not be read: {e}");
            conn.wire
                .linger_close(cfg.linger_timeout, cfg.max_drain_bytes);
            false
        }
    }
}

/// The application's answer to a failed body ([`super::Handler::body_error`]), or the plain
/// error page if it panics.
fn body_error(handler: &dyn Handler, req: &Request<'_>, status: u16) -> Response {
    match catch_unwind(AssertUnwindSafe(|| handler.body_error(req, status))) {
        Ok(r) => r,
        Err(_) => {
            eprintln!(
                "thetorrent: http: body-error handler panicked on {} {}",
                req.method_str(),
                req.path()
            );
            Response::error(status)
        }
    }
}
