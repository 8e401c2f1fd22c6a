//! The listening sockets: binding `--listen` addresses and systemd socket activation.
//!
//! Owns: binding (IPv4 and IPv6, `IPV6_V6ONLY`, `SO_REUSEADDR` but never `SO_REUSEPORT`, so a
//! second instance on the same port fails loudly), taking sockets from systemd
//! (`LISTEN_FDS`), and raising the descriptor limit. Must never: silently share a port.

use socket2::{Domain, SockRef, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// Listen backlog (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: libc::c_int = 4096;
/// First descriptor passed by systemd socket activation.
const SD_LISTEN_FDS_START: RawFd = 3;

/// The sockets the server accepts on.
pub struct Listeners {
    pub(super) list: Vec<TcpListener>,
    /// Whether they came from systemd (`LISTEN_FDS`).
    pub activated: bool,
}

impl Listeners {
    /// The addresses actually bound (with the real port when 0 was asked).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.list
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

/// Binds one address: `SO_REUSEADDR` (restart while old connections linger in TIME_WAIT),
/// no `SO_REUSEPORT`, `IPV6_V6ONLY` for IPv6 so `[::]` and `0.0.0.0` can be listed apart.
/// (socket2 makes the socket close-on-exec.)
fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Sockets handed over by systemd, when `LISTEN_PID` is this process.
fn systemd_fds() -> Result<Option<Vec<TcpListener>>, String> {
    let (Ok(pid), Ok(n)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let n: RawFd = n
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS is not a number: {n:?}"))?;
    // Not passed on to anything this process might start.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let mut list = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START.saturating_add(n.clamp(0, 1024)) {
        // SAFETY: systemd passed this descriptor to this process (LISTEN_PID is ours), and
        // nothing else in it owns the descriptor.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let socket = SockRef::from(&owned);
        let is_listening_stream = socket.r#type().is_ok_and(|t| t == Type::STREAM)
            && socket.is_listener().unwrap_or(false);
        if !is_listening_stream {
            // Not this process's to close: left open, as it came.
            let _ = owned.into_raw_fd();
            return Err(format!(
                "socket activation: descriptor {fd} is not a listening stream socket"
            ));
        }
        socket
            .set_cloexec(true)
            .map_err(|e| format!("socket activation: descriptor {fd}: {e}"))?;
        list.push(TcpListener::from(owned));
    }
    if list.is_empty() {
        return Err("socket activation: LISTEN_FDS passed no socket".into());
    }
    Ok(Some(list))
}

/// Raises the soft limit on open descriptors to the hard limit (as nginx's
/// `worker_rlimit_nofile` does) and returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill and then to pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

/// Opens the listening sockets: systemd's when socket-activated, else each `--listen`
/// address (IPv4 `1.2.3.4:80`, IPv6 `[::1]:80`, or a host name). Any failure, such as the
/// port being taken by another instance, is an error naming the address.
pub fn bind(addrs: &[String]) -> Result<Listeners, String> {
    if let Some(list) = systemd_fds()? {
        return Ok(Listeners {
            list,
            activated: true,
        });
    }
    let mut list = Vec::new();
    for a in addrs {
        let resolved: Vec<SocketAddr> = a
            .to_socket_addrs()
            .map_err(|e| format!("cannot listen on {a}: {e}"))?
            .collect();
        if resolved.is_empty() {
            return Err(format!("cannot listen on {a}: no address"));
        }
        for sa in resolved {
            list.push(bind_one(sa).map_err(|e| format!("cannot listen on {sa}: {e}"))?);
        }
    }
    if list.is_empty() {
        return Err("no address to listen on".into());
    }
    Ok(Listeners {
        list,
        activated: false,
    })
}
