//! The socket of one connection, its read buffer and its output buffer.
//!
//! Owns: every read from and write to a client socket, with a deadline on each read and on
//! each wait for the client to take bytes, and the bounds of both buffers. No I/O carries a
//! may timer (may is built without `io_timeout`: its timed I/O corrupted the heap now and
//! then; docs/benchmarks.md): a deadline is published in the connection's `ConnState`, and the accept
//! loop's sweep (4 times a second) shuts the socket down once it passes. Must never:
//! interpret the bytes (heads and bodies are parsed in `head.rs` and `body.rs`), block without
//! a deadline, or grow a buffer past the limit its caller gives.

use super::registry::ConnState;
use may::net::TcpStream;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Read buffer size of an idle connection; it grows for long heads and shrinks back after.
const IDLE_BUFFER: usize = 4096;
/// How often a lingering close looks for more input from the client.
const LINGER_POLL: Duration = Duration::from_millis(10);
/// Output buffer capacity a connection keeps between responses.
const OUT_KEEP: usize = 16 * 1024;
/// A write that waits for the client is cut when the client takes less than this in the
/// write timeout (the deadline is renewed after each such piece).
const WRITE_PROGRESS: usize = 64 * 1024;

pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The connection's registry entry: where read and write deadlines are published for the
    /// sweep.
    state: Arc<ConnState>,
    /// How long a write may wait for the client to take [`WRITE_PROGRESS`] bytes.
    write_timeout: Duration,
    /// Response bytes not yet written (pipelined responses are batched here).
    pub out: Vec<u8>,
    /// The last read left the socket empty (it returned less than it had room for): the next
    /// read first waits for readiness instead of trying a read that would fail with EAGAIN
    /// (one system call less per keep-alive request, as nginx does).
    drained: bool,
}

/// The error of a read whose deadline passed.
pub fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "read timed out")
}

/// Whether an I/O error is a timeout (may reports `TimedOut`; `WouldBlock` is treated alike).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

impl Wire {
    pub fn new(stream: TcpStream, write_timeout: Duration, state: Arc<ConnState>) -> Wire {
        let _ = stream.set_nodelay(true);
        Wire {
            stream,
            buf: vec![0; IDLE_BUFFER],
            start: 0,
            end: 0,
            state,
            write_timeout,
            out: Vec::new(),
            drained: false,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Gives back memory of a connection going idle.
    pub fn shrink_idle(&mut self) {
        if self.start == self.end && self.buf.len() > IDLE_BUFFER {
            self.buf = vec![0; IDLE_BUFFER];
            self.start = 0;
            self.end = 0;
        }
        if self.out.is_empty() && self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
    }

    /// Reads once more from the socket into the buffer, waiting at most `timeout` (enforced by
    /// the accept loop's sweep, so up to 250 ms late; `None`: no deadline, something else ends
    /// the wait, as the idle sweep of `listen.rs` does). `max_buffered` bounds what the buffer may hold in all; the buffer
    /// grows up to it. Returns the number of new bytes; 0 means the peer closed its side.
    pub fn fill(&mut self, timeout: Option<Duration>, max_buffered: usize) -> io::Result<usize> {
        if self.start > 0 && (self.end == self.buf.len() || self.start == self.end) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let want = (self.buf.len() * 2).min(max_buffered.max(IDLE_BUFFER));
            if want <= self.buf.len() {
                return Err(io::Error::other("read buffer full"));
            }
            self.buf.resize(want, 0);
        }
        let st = &*self.state;
        let deadline = timeout.map_or(0, super::registry::deadline_in);
        st.read_deadline.store(deadline, Ordering::SeqCst);
        let r = loop {
            if st.read_timed_out.load(Ordering::SeqCst) {
                break Err(timed_out());
            }
            if self.drained {
                // Returns at once when data (or EOF, e.g. from the sweep's shutdown) arrived
                // since the last read: epoll reports every arrival after it (edge-triggered).
                self.drained = false;
                may::io::WaitIo::wait_io(&self.stream);
                continue;
            }
            let room = self.buf.len() - self.end;
            match self.stream.read(&mut self.buf[self.end..]) {
                // The sweep shut the read side down (EOF) for a passed deadline.
                Ok(0) if st.read_timed_out.load(Ordering::SeqCst) => break Err(timed_out()),
                Ok(n) => {
                    self.end += n;
                    self.drained = n > 0 && n < room;
                    break Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if st.read_timed_out.load(Ordering::SeqCst) => break Err(timed_out()),
                Err(e) => break Err(e),
            }
        };
        st.read_deadline.store(0, Ordering::SeqCst);
        r
    }

    /// Like [`fill`](Self::fill), with an absolute deadline.
    pub fn fill_until(&mut self, deadline: Instant, max_buffered: usize) -> io::Result<usize> {
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out());
        }
        self.fill(Some(deadline - now), max_buffered)
    }

    /// Writes all of `out`, then empties it.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let r = self.send_all(&out, 0);
        self.out = out;
        if self.out.capacity() > OUT_KEEP {
            // A big response's buffer is not kept by a connection that may now sit idle.
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        r
    }

    /// Writes all of `bytes` with send(2) (`flags` added to `MSG_NOSIGNAL`); when the socket
    /// is full, the rest goes by [`write_waiting`](Self::write_waiting). Plain sends leave
    /// may's readiness flag alone; its write clears the flag, which may hold a read event, so
    /// after one the next read tries the socket first.
    fn send_all(&mut self, bytes: &[u8], flags: libc::c_int) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.stream.as_raw_fd();
        let mut sent = 0;
        while sent < bytes.len() {
            // SAFETY: sending from a live buffer on our own socket.
            let r = unsafe {
                libc::send(
                    fd,
                    bytes[sent..].as_ptr() as *const libc::c_void,
                    bytes.len() - sent,
                    flags | libc::MSG_NOSIGNAL,
                )
            };
            if r >= 0 {
                sent += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return self.write_waiting(&bytes[sent..]),
                _ => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends `out` and then `len` bytes of `file` from `offset` with sendfile(2) (no copy
    /// through user space, like nginx's `sendfile on`). When the socket is full, the rest goes
    /// by `pread` + [`write_waiting`](Self::write_waiting).
    pub fn send_file(&mut self, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.stream.as_raw_fd();
        let out = std::mem::take(&mut self.out);
        let r = self.send_all(&out, libc::MSG_MORE);
        self.out = out;
        r?;
        self.out.clear();
        let end = offset + len;
        let mut off = offset as libc::off_t;
        while (off as u64) < end {
            let want = (end - off as u64).min(1 << 30) as usize;
            // SAFETY: both descriptors are open; off is a valid in/out offset.
            let r = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, want) };
            if r > 0 {
                continue;
            }
            if r == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => break,
                _ => return Err(e),
            }
        }
        let mut at = off as u64;
        if at < end {
            let mut piece = vec![0u8; (end - at).min(64 * 1024) as usize];
            while at < end {
                let n = (end - at).min(piece.len() as u64) as usize;
                super::response::read_exact_at(file, &mut piece[..n], at)?;
                self.write_waiting(&piece[..n])?;
                at += n as u64;
            }
        }
        Ok(())
    }

    /// Writes all of `bytes` with the coroutine-aware write, which waits for the client to take
    /// them: each [`WRITE_PROGRESS`] bytes must go within the write timeout, a deadline the
    /// sweep enforces by shutting the socket down (the wait then ends with an error).
    fn write_waiting(&mut self, bytes: &[u8]) -> io::Result<()> {
        // may's write clears its readiness flag, which may hold a read event: the next read
        // tries the socket first.
        self.drained = false;
        let st = &*self.state;
        for piece in bytes.chunks(WRITE_PROGRESS) {
            st.write_deadline.store(
                super::registry::deadline_in(self.write_timeout),
                Ordering::SeqCst,
            );
            let r = self.stream.write_all(piece);
            st.write_deadline.store(0, Ordering::SeqCst);
            if st.write_timed_out.load(Ordering::SeqCst) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client took nothing within the write timeout",
                ));
            }
            r?;
        }
        Ok(())
    }

    /// Writes `bytes` straight to the socket (after anything buffered in `out`).
    pub fn write_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush()?;
        self.send_all(bytes, 0)
    }

    /// Closes the connection so that the client reads what was sent before: stops sending,
    /// then reads and discards its input until it closes, `timeout` passes or `max` bytes
    /// were thrown away (closing with unread input would reset the connection and could
    /// destroy the response in flight).
    pub fn linger_close(&mut self, timeout: Duration, max: u64) {
        if let Err(e) = self.flush() {
            // A client that hung up is normal; anything else would lose an answer silently.
            if !matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ) {
                eprintln!("thetorrent: http: the last response could not be sent: {e}");
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        // Discard what the client still sends with non-blocking reads and plain coroutine
        // sleeps (which use may's timer thread, not the I/O timers may is built without).
        use std::os::fd::AsRawFd;
        let fd = self.stream.as_raw_fd();
        let deadline = Instant::now() + timeout;
        let mut thrown = 0u64;
        self.start = 0;
        self.end = 0;
        while thrown < max {
            // SAFETY: reading into our own buffer from our own socket.
            let r = unsafe {
                libc::recv(
                    fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                thrown += r as u64;
                continue;
            }
            if r == 0 {
                break; // the client closed: the answer was read
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if Instant::now() < deadline => {
                    may::coroutine::sleep(LINGER_POLL);
                }
                _ => break,
            }
        }
    }
}
