//! Routes for the HTTP layer's own tests (`tests/http.rs`): `/__test/echo` answers with the
//! request's body as the layer decoded it, `/__test/panic` panics in the handler, and
//! `/__test/sleep?MS` answers after MS milliseconds (at most [`MAX_SLEEP`]).
//!
//! Owns: nothing the product does. Compiled only with the `test-routes` cargo feature, which
//! the test command turns on (`tests/run.sh`); must never be in a build that is shipped.

use crate::http::{Request, Response};
use std::time::Duration;

/// Longest `/__test/sleep`.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The answer of a test route, or `None` for any other path.
pub fn route(req: &mut Request<'_>) -> Option<Response> {
    match req.path() {
        "/__test/echo" => Some(match req.body.read_all(u64::MAX) {
            Ok(b) => Response::new(200).bytes(b),
            // The layer replaces this answer with the one the body error calls for.
            Err(_) => Response::error(500),
        }),
        "/__test/panic" => panic!("test panic: secret internal detail"),
        "/__test/sleep" => {
            let ms = req.query().and_then(|q| q.parse().ok()).unwrap_or(1000);
            may::coroutine::sleep(Duration::from_millis(ms).min(MAX_SLEEP));
            Some(Response::text(200, "slept\n"))
        }
        _ => None,
    }
}
