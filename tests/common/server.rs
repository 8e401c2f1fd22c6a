//! Test harness: starts the real `thetorrent serve` binary on a fresh data directory and a
//! free loopback port, and speaks raw HTTP/1.1 bytes to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server gets to say it listens.
const START_LIMIT: Duration = Duration::from_secs(30);

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: TempDir,
    pub log: Arc<Mutex<String>>,
}

/// Starts `thetorrent serve` with `extra` arguments; `--listen 127.0.0.1:0` unless `extra`
/// has a `--listen`. Waits until it prints the address it listens on.
pub fn start(extra: &[&str]) -> Server {
    try_start(super::temp_dir(), extra)
        .unwrap_or_else(|(status, log)| panic!("server did not start ({status:?}):\n{log}"))
}

/// Fails the test unless the binary has the routes the HTTP layer's tests send bodies,
/// panics and slow requests to (`/__test/echo`, `/__test/panic`, `/__test/sleep`), which only
/// a build with the `test-routes` feature has.
pub fn require_test_routes() {
    if !cfg!(feature = "test-routes") {
        panic!("this test needs the test routes: cargo test --features test-routes (tests/run.sh)");
    }
}

/// Sets the resource limit `resource` (`libc::RLIMIT_*`) of the process `cmd` starts to
/// `value`, as a machine with little of it would have it.
pub fn set_rlimit(cmd: &mut Command, resource: libc::__rlimit_resource_t, value: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `thetorrent serve --data data` with `extra` arguments (`--listen 127.0.0.1:0` unless they
/// have a `--listen`), stderr piped.
pub fn spawn(data: &Path, extra: &[&str]) -> Child {
    spawn_with(data, extra, |_| {})
}

/// [`spawn`], with `setup` applied to the command first (resource limits, another user).
pub fn spawn_with(data: &Path, extra: &[&str], setup: impl FnOnce(&mut Command)) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thetorrent"));
    setup(&mut cmd);
    cmd.arg("serve").arg("--data").arg(data);
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start thetorrent")
}

/// A server process that said where it listens, with its log (stderr) so far and the thread
/// copying the rest of it.
pub struct Launched {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
    /// Ends when the server's stderr does.
    pub reader: JoinHandle<()>,
}

/// Spawns `thetorrent serve` on `data` (see [`spawn`]) and waits for it (see [`watch`]).
pub fn launch(data: &Path, extra: &[&str]) -> Result<Launched, (Option<ExitStatus>, String)> {
    watch(spawn(data, extra))
}

/// Waits (at most [`START_LIMIT`]) until `child`, a server whose stderr is piped, says where it
/// listens; on failure, its exit status (if it ended) and its log.
pub fn watch(mut child: Child) -> Result<Launched, (Option<ExitStatus>, String)> {
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("thetorrent: listening on ") {
                    let a = a.split_whitespace().next().unwrap_or("");
                    let _ = tx.send(a.parse::<SocketAddr>().ok());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        })
    };
    if let Ok(Some(addr)) = rx.recv_timeout(START_LIMIT) {
        return Ok(Launched {
            child,
            addr,
            log,
            reader,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = None;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let l = log.lock().unwrap().clone();
    Err((status, l))
}

/// [`launch`] on `data`, which the server then owns.
pub fn try_start(data: TempDir, extra: &[&str]) -> Result<Server, (Option<ExitStatus>, String)> {
    try_start_with(data, extra, |_| {})
}

/// [`try_start`], with `setup` applied to the command first (see [`spawn_with`]).
pub fn try_start_with(
    data: TempDir,
    extra: &[&str],
    setup: impl FnOnce(&mut Command),
) -> Result<Server, (Option<ExitStatus>, String)> {
    let l = watch(spawn_with(data.path(), extra, setup))?;
    Ok(Server {
        child: l.child,
        addr: l.addr,
        data,
        log: l.log,
    })
}

impl Server {
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Files `bytes` under `hex` (40 hex digits) in the store's layout.
    pub fn put_torrent(&self, hex: &str, bytes: &[u8]) -> PathBuf {
        let p = super::stored_path(self.data.path(), hex);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Sends `head` and `body` on a fresh connection and reads the answer.
    pub fn request(&self, head: &str, body: &[u8]) -> Resp {
        let mut c = self.connect();
        c.send(head.as_bytes());
        c.send(body);
        c.response()
    }

    /// `GET path` on a fresh connection, with `extra` header lines (each ending in CRLF).
    pub fn get(&self, path: &str, extra: &str) -> Resp {
        self.request(
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"),
            b"",
        )
    }

    /// `POST path` of `body` as `content_type` on a fresh connection.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        post_on(&mut self.connect(), path, content_type, body)
    }

    /// A number of `GET /api/stats` (`"name":N`).
    pub fn stat(&self, name: &str) -> u64 {
        let r = self.get("/api/stats", "");
        assert_eq!(r.status, 200, "{}", r.head);
        let body = String::from_utf8(r.body).unwrap();
        json_number(&body, name).unwrap_or_else(|| panic!("no {name} in {body}"))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.wait(limit)
    }

    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether the server still answers on a fresh connection.
    pub fn alive(&self) -> bool {
        let mut c = self.connect();
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        matches!(c.try_response(false), Ok(r) if r.status == 200 && r.body == b"ok")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test shows what the server said, and how it ended.
        if std::thread::panicking() {
            let status = self.child.try_wait().ok().flatten();
            eprintln!(
                "--- server {} (exit: {status:?}) log:\n{}",
                self.addr,
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// The number after `"name":` in a JSON text.
pub fn json_number(json: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `POST path` of `body` as `content_type` on the connection `c`.
pub fn post_on(c: &mut Client, path: &str, content_type: &str, body: &[u8]) -> Resp {
    c.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(body);
    c.response()
}

/// A raw client connection with its own read buffer.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).expect("connect")
    }

    /// [`Client::connect`], with the failure as an error (a server that may be gone).
    pub fn try_connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// A client on a connection opened elsewhere.
    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends, ignoring errors (the server may have closed already).
    pub fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads one response; `head_request`: no body expected whatever the headers say.
    pub fn try_response(&mut self, head_request: bool) -> Result<Resp, String> {
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match self.fill() {
                Ok(0) => {
                    return Err(format!(
                        "closed; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut resp = Resp {
            status,
            head,
            headers,
            body: Vec::new(),
        };
        let bodiless = head_request || status < 200 || status == 204 || status == 304;
        if !bodiless {
            let len: usize = resp
                .header("Content-Length")
                .ok_or("no Content-Length")?
                .parse()
                .map_err(|_| "bad Content-Length")?;
            while self.buf.len() < len {
                match self.fill() {
                    Ok(0) => return Err("closed mid-body".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read body: {e}")),
                }
            }
            resp.body = self.buf.drain(..len).collect();
        }
        Ok(resp)
    }

    pub fn response(&mut self) -> Resp {
        self.try_response(false).expect("response")
    }

    pub fn head_response(&mut self) -> Resp {
        self.try_response(true).expect("response")
    }

    /// Whether the server closes the connection (EOF) within `within`, with no further
    /// bytes. Unread leftovers count as bytes.
    pub fn closed_within(&mut self, within: Duration) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "unexpected bytes: {:?}",
                String::from_utf8_lossy(&self.buf)
            ));
        }
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 4096];
        match self.stream.read(&mut tmp) {
            Ok(0) => Ok(()),
            Ok(n) => Err(format!(
                "unexpected bytes: {:?}",
                String::from_utf8_lossy(&tmp[..n])
            )),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
            Err(e) => Err(format!("not closed: {e}")),
        }
    }

    /// Nothing arrives within `within` (the connection stays open and quiet).
    pub fn quiet_for(&mut self, within: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 64];
        let r = matches!(self.stream.read(&mut tmp), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut);
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        r
    }
}

/// `n` pseudo-random bytes from `seed` (xorshift).
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
