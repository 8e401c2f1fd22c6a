//! The address policy of outbound fetch traffic: which peers, DHT nodes and tracker hosts
//! may be contacted, so that a magnet link cannot turn the server into a port scanner of its
//! own network, a reflector or an SSRF tool.
//!
//! Owns: the classification of IPv4 and IPv6 addresses (v4-mapped, NAT64 and 6to4 addresses
//! are judged by the IPv4 address they carry). Must never: do I/O, or let through port 0,
//! unspecified, multicast, broadcast or reserved addresses, whatever the setting.
//!
//! By default only globally routable unicast addresses are allowed. `allow_private` also lets
//! loopback, private (RFC 1918, RFC 6598 shared, IPv6 unique-local and site-local) and
//! link-local addresses through: for tests on loopback and swarms on a LAN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which addresses fetch traffic may go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrPolicy {
    /// Also allow loopback, private and link-local addresses.
    pub allow_private: bool,
}

/// How an address is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Globally routable unicast.
    Global,
    /// Loopback, private or link-local: allowed only with `allow_private`.
    Local,
    /// Never: unspecified, multicast, broadcast, reserved, documentation, benchmarking.
    Never,
}

impl AddrPolicy {
    /// Whether `addr` may be contacted.
    pub fn allows(&self, addr: &SocketAddr) -> bool {
        addr.port() != 0 && self.allows_ip(&addr.ip())
    }

    /// Whether `ip` may be contacted (on any port but 0).
    pub fn allows_ip(&self, ip: &IpAddr) -> bool {
        match classify(ip) {
            Class::Global => true,
            Class::Local => self.allow_private,
            Class::Never => false,
        }
    }
}

fn classify(ip: &IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether `ip` is inside `net/len`.
fn in_v4(ip: &Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(*ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: &Ipv4Addr) -> Class {
    const NEVER: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", incl. unspecified
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, incl. broadcast
    ];
    const LOCAL: &[([u8; 4], u32)] = &[
        ([127, 0, 0, 0], 8),    // loopback
        ([10, 0, 0, 0], 8),     // private
        ([172, 16, 0, 0], 12),  // private
        ([192, 168, 0, 0], 16), // private
        ([100, 64, 0, 0], 10),  // shared address space (carrier-grade NAT)
        ([169, 254, 0, 0], 16), // link-local
    ];
    if NEVER.iter().any(|(n, l)| in_v4(ip, *n, *l)) {
        Class::Never
    } else if LOCAL.iter().any(|(n, l)| in_v4(ip, *n, *l)) {
        Class::Local
    } else {
        Class::Global
    }
}

/// Whether `ip` is inside `net/len`.
fn in_v6(ip: &Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(*ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn classify_v6(ip: &Ipv6Addr) -> Class {
    let seg = ip.segments();
    // Addresses that carry an IPv4 address are judged by it: v4-mapped (::ffff:a.b.c.d),
    // NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::) reach that IPv4 host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(&v4);
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        let [.., a, b, c, d] = ip.octets();
        return classify_v4(&Ipv4Addr::new(a, b, c, d));
    }
    if seg[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return match classify_v4(&Ipv4Addr::new(a, b, c, d)) {
            Class::Global => Class::Global,
            _ => Class::Never,
        };
    }
    if ip.is_loopback() {
        return Class::Local;
    }
    const NEVER: &[([u16; 8], u32)] = &[
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),     // IETF protocol assignments (incl. Teredo)
    ];
    const LOCAL: &[([u16; 8], u32)] = &[
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),  // unique local
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated, still private)
    ];
    if NEVER.iter().any(|(n, l)| in_v6(ip, *n, *l)) {
        Class::Never
    } else if LOCAL.iter().any(|(n, l)| in_v6(ip, *n, *l)) {
        Class::Local
    } else if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        // Global unicast; everything else outside it (multicast ff00::/8, the unspecified
        // address, IPv4-compatible ::a.b.c.d, discard-only 100::/64, …) is reserved.
        Class::Global
    } else {
        Class::Never
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: AddrPolicy, s: &str) -> bool {
        p.allows(&s.parse().unwrap())
    }

    const STRICT: AddrPolicy = AddrPolicy {
        allow_private: false,
    };
    const LAN: AddrPolicy = AddrPolicy {
        allow_private: true,
    };

    #[test]
    fn global_addresses_pass() {
        for a in [
            "1.1.1.1:6881",
            "8.8.8.8:80",
            "93.184.216.34:51413",
            "[2606:4700:4700::1111]:6881",
            "[2a00:1450:4001:82a::200e]:443",
            "[::ffff:8.8.8.8]:6881",
            "[64:ff9b::808:808]:6881",
            "[2002:808:808::1]:6881",
        ] {
            assert!(allowed(STRICT, a), "{a}");
            assert!(allowed(LAN, a), "{a}");
        }
    }

    #[test]
    fn local_addresses_need_allow_private() {
        for a in [
            "127.0.0.1:6881",
            "127.0.1.1:6881",
            "10.0.0.1:6881",
            "10.255.255.255:1",
            "172.16.0.1:6881",
            "172.31.255.254:6881",
            "192.168.1.1:6881",
            "100.64.0.1:6881",
            "169.254.1.1:6881",
            "[::1]:6881",
            "[::ffff:127.0.0.1]:6881",
            "[::ffff:10.1.2.3]:6881",
            "[64:ff9b::7f00:1]:6881",
            "[fd00::1]:6881",
            "[fe80::1]:6881",
            "[fec0::1]:6881",
        ] {
            assert!(!allowed(STRICT, a), "{a} allowed by default");
            assert!(allowed(LAN, a), "{a} refused with allow_private");
        }
    }

    #[test]
    fn never_allowed() {
        for a in [
            "0.0.0.0:6881",
            "0.1.2.3:6881",
            "224.0.0.1:6881",
            "239.255.255.250:1900",
            "255.255.255.255:6881",
            "240.0.0.1:6881",
            "192.0.2.1:6881",
            "198.51.100.7:6881",
            "203.0.113.9:6881",
            "198.18.0.1:6881",
            "192.0.0.8:6881",
            "[::]:6881",
            "[ff02::1]:6881",
            "[ff05::2]:6881",
            "[2001:db8::1]:6881",
            "[::ffff:255.255.255.255]:6881",
            "[::ffff:224.0.0.1]:6881",
            "[::ffff:0.0.0.0]:6881",
            "[::1.2.3.4]:6881",
            "[100::1]:6881",
            "[2002:7f00:1::1]:6881",
            "[2001::1]:6881",
            // Port 0, on an address otherwise fine.
            "8.8.8.8:0",
            "127.0.0.1:0",
            "[2606:4700:4700::1111]:0",
        ] {
            assert!(!allowed(STRICT, a), "{a} allowed by default");
            assert!(!allowed(LAN, a), "{a} allowed with allow_private");
        }
    }

    #[test]
    fn boundaries_of_the_private_ranges() {
        for a in [
            "9.255.255.255:1",
            "11.0.0.0:1",
            "172.15.255.255:1",
            "172.32.0.0:1",
            "100.63.255.255:1",
            "100.128.0.0:1",
            "169.253.255.255:1",
            "223.255.255.255:1",
        ] {
            assert!(allowed(STRICT, a), "{a}");
        }
    }
}
