//! The listening sockets: binding `--listen` addresses and systemd socket activation.
//!
//! Owns: binding (IPv4 and IPv6, `IPV6_V6ONLY`, `SO_REUSEADDR` but never `SO_REUSEPORT`, so a
//! second instance on the same port fails loudly), taking sockets from systemd
//! (`LISTEN_FDS`), and raising the descriptor limit. Must never: silently share a port.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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

pub(super) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int_opt(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open socket; the option value is a c_int that outlives the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn get_int_opt(fd: RawFd, level: libc::c_int, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for writes of their sizes.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            level,
            opt,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(v)
}

/// Binds one address: `SO_REUSEADDR` (restart while old connections linger in TIME_WAIT),
/// no `SO_REUSEPORT`, `IPV6_V6ONLY` for IPv6 so `[::]` and `0.0.0.0` can be listed apart.
fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2) call; the result is checked and owned at once.
    let fd = cvt(unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just created and is owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let r = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sa is a valid sockaddr_in of the given length.
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sa is a valid sockaddr_in6 of the given length.
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    cvt(r)?;
    // SAFETY: fd is a bound stream socket.
    cvt(unsafe { libc::listen(fd, BACKLOG) })?;
    Ok(TcpListener::from(owned))
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
        let is_listening_stream = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_TYPE)
            .is_ok_and(|t| t == libc::SOCK_STREAM)
            && get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).is_ok_and(|a| a == 1);
        if !is_listening_stream {
            return Err(format!(
                "socket activation: descriptor {fd} is not a listening stream socket"
            ));
        }
        // SAFETY: fd was passed to this process by systemd and is owned by nothing else.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: as above.
        list.push(unsafe { TcpListener::from_raw_fd(fd) });
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
