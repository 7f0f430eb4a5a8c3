//! Which addresses a plugin may reach: everything globally routable, and nothing in a special
//! range (loopback, private, link-local and the cloud metadata address, CGNAT, multicast, ...)
//! unless the operator named it.
//!
//! IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged
//! by the IPv4 address inside them: `::ffff:127.0.0.1` is loopback on the wire.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is special. `embedded` is set when an IPv6 address was judged by the IPv4
/// address it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// Short human name of the range, e.g. `loopback` or `link-local/metadata`.
    pub kind: &'static str,
    /// The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
    pub embedded: Option<Ipv4Addr>,
}

impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some(v4) => write!(f, "{}, via the embedded IPv4 address {v4}", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

/// The special range `ip` is in, or `None` for an ordinary, globally routable address.
pub fn classify_ip(ip: IpAddr) -> Option<SpecialRange> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(|kind| SpecialRange {
            kind,
            embedded: None,
        }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let kind = match o {
        [0, 0, 0, 0] => "unspecified",
        [0, ..] => "\"this network\" 0.0.0.0/8",
        [10, ..] => "private",
        [100, b, ..] if (64..128).contains(&b) => "carrier-grade NAT",
        [127, ..] => "loopback",
        [169, 254, 169, 254] => "link-local/metadata",
        [169, 254, ..] => "link-local",
        [172, b, ..] if (16..32).contains(&b) => "private",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 88, 99, _] => "6to4 relay anycast",
        [192, 168, ..] => "private",
        [198, 18 | 19, ..] => "benchmarking",
        [255, 255, 255, 255] => "broadcast",
        [a, ..] if (224..240).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved",
        _ => return None,
    };
    Some(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<SpecialRange> {
    let seg = ip.segments();
    let plain = |kind: &'static str| {
        Some(SpecialRange {
            kind,
            embedded: None,
        })
    };
    let embedded = |v4: Ipv4Addr| {
        classify_v4(v4).map(|kind| SpecialRange {
            kind,
            embedded: Some(v4),
        })
    };
    let low_v4 = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if ip.is_unspecified() {
        return plain("unspecified");
    }
    if ip.is_loopback() {
        return plain("loopback");
    }
    // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated).
    if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
        return embedded(low_v4);
    }
    // ::ffff:0:a.b.c.d (SIIT, IPv4-translated).
    if seg[..4] == [0; 4] && seg[4] == 0xffff && seg[5] == 0 {
        return embedded(low_v4);
    }
    // 64:ff9b::/96, the well-known NAT64 prefix.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded(low_v4);
    }
    // 64:ff9b:1::/48, local-use NAT64: whatever it translates to is the operator's network.
    if seg[..3] == [0x64, 0xff9b, 1] {
        return plain("local-use NAT64");
    }
    // 2002::/16, 6to4: the next 32 bits are an IPv4 address.
    if seg[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return embedded(v4);
    }
    if seg[0] == 0xfd00 && seg[1] == 0x0ec2 && seg[2..7] == [0; 5] && seg[7] == 0x254 {
        return plain("unique-local/metadata");
    }
    let kind = match seg[0] {
        s if s & 0xfe00 == 0xfc00 => "unique-local (private)",
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local (private)",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x0100 if seg[1..4] == [0; 3] => "discard-only",
        // 2001::/32 Teredo tunnels, whose far end is hidden in the address.
        0x2001 if seg[1] == 0 => "Teredo tunnel",
        0x2001 if seg[1] == 0x0002 && seg[2] == 0 => "benchmarking",
        0x2001 if seg[1] == 0x0db8 => "documentation",
        0x2001 if seg[1] & 0xfff0 == 0x0010 || seg[1] & 0xfff0 == 0x0020 => "ORCHID",
        0x2001 if seg[1] < 0x0200 => "IETF protocol assignment",
        0x3fff if seg[1] < 0x1000 => "documentation",
        // Everything outside 2000::/3 (global unicast) is reserved or unassigned.
        s if s & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    };
    plain(kind)
}

/// Whether the operator allowed `ip` through `allow_private`. An address that was judged by an
/// embedded IPv4 address is also allowed when that IPv4 address is.
pub(crate) fn in_allow_private(ip: IpAddr, special: &SpecialRange, allow: &[IpNet]) -> bool {
    allow.iter().any(|net| {
        net.contains(&ip)
            || special
                .embedded
                .is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
    })
}

/// The narrowest `allow_private` entry that admits `ip`, for the fix in a denial.
pub(crate) fn host_net(ip: IpAddr, special: &SpecialRange) -> String {
    match (ip, special.embedded) {
        (_, Some(v4)) => format!("{v4}/32"),
        (IpAddr::V4(v4), None) => format!("{v4}/32"),
        (IpAddr::V6(v6), None) => format!("{v6}/128"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        classify_ip(s.parse().expect("test address")).map(|r| r.kind)
    }

    #[test]
    fn ipv4_special_ranges() {
        for (addr, expected) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "\"this network\" 0.0.0.0/8"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local/metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.1", "benchmarking"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.1.1.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.8", "IETF protocol assignment"),
        ] {
            assert_eq!(kind(addr), Some(expected), "{addr}");
        }
    }

    #[test]
    fn ipv4_public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.1.1",
            "198.20.0.1",
            "192.169.0.1",
            "93.184.216.34",
        ] {
            assert_eq!(kind(addr), None, "{addr}");
        }
    }

    #[test]
    fn ipv6_special_ranges() {
        for (addr, expected) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique-local (private)"),
            ("fd12:3456::1", "unique-local (private)"),
            ("fd00:ec2::254", "unique-local/metadata"),
            ("fec0::1", "site-local (private)"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "Teredo tunnel"),
            ("2001:2::1", "benchmarking"),
            ("100::1", "discard-only"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("4000::1", "reserved"),
        ] {
            assert_eq!(kind(addr), Some(expected), "{addr}");
        }
        assert_eq!(kind("2606:4700:4700::1111"), None);
        assert_eq!(kind("2a00:1450:4001:80b::200e"), None);
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4_inside() {
        for (addr, expected, v4) in [
            ("::ffff:127.0.0.1", "loopback", "127.0.0.1"),
            (
                "::ffff:169.254.169.254",
                "link-local/metadata",
                "169.254.169.254",
            ),
            ("::10.0.0.1", "private", "10.0.0.1"),
            ("::ffff:0:192.168.0.1", "private", "192.168.0.1"),
            ("64:ff9b::7f00:1", "loopback", "127.0.0.1"),
            (
                "2002:a9fe:a9fe::1",
                "link-local/metadata",
                "169.254.169.254",
            ),
            ("2002:7f00:1::", "loopback", "127.0.0.1"),
        ] {
            let range = classify_ip(addr.parse().expect("test address")).expect(addr);
            assert_eq!(range.kind, expected, "{addr}");
            assert_eq!(range.embedded, Some(v4.parse().expect("v4")), "{addr}");
        }
        // Public IPv4 inside is public.
        assert_eq!(kind("::ffff:8.8.8.8"), None);
        assert_eq!(kind("64:ff9b::808:808"), None);
        assert_eq!(kind("2002:808:808::1"), None);
    }

    #[test]
    fn allow_private_admits_embedded_ipv4() {
        let ip: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let range = classify_ip(ip).expect("special");
        let allow: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("net")];
        assert!(in_allow_private(ip, &range, &allow));
        let other: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        assert!(!in_allow_private(ip, &range, &other));
        assert_eq!(host_net(ip, &range), "127.0.0.1/32");
    }
}
