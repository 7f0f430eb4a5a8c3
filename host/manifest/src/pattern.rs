//! Host patterns in Spin's `allowed_outbound_hosts` syntax: `scheme://host[:port]`.
//!
//! A pattern names a set of (scheme, host, port) triples. The manifest requests patterns, the
//! operator's grant narrows them (checked with [`HostPattern::covers`]), and the egress layer
//! checks every request against the granted ones (with [`HostPattern::matches`]) before any DNS
//! lookup happens.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Schemes a pattern may name. `*` is stored as `None`.
const SCHEMES: &[&str] = &["http", "https", "ws", "wss"];

/// One parsed host pattern. Build it with [`HostPattern::parse`]; the fields are public so the
/// egress layer can inspect them, and [`fmt::Display`] prints the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// Lowercase scheme (`http`, `https`, `ws`, `wss`); `None` means any scheme (`*`).
    pub scheme: Option<String>,
    pub host: HostMatch,
    pub port: PortMatch,
}

/// Which hosts a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    /// `*`: every host, names and IP literals alike.
    Any,
    /// One DNS name, lowercase, without a trailing dot.
    Exact(String),
    /// `*.example.com`: every subdomain at any depth, but not `example.com` itself.
    Subdomains(String),
    /// One IP literal; matches only requests that name this address literally.
    Ip(IpAddr),
    /// An address range; matches only requests that name an address in it literally.
    Cidr(IpNet),
}

/// Which ports a pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortMatch {
    Any,
    Port(u16),
    /// Inclusive on both ends (`8000..8010` includes 8010).
    Range(u16, u16),
}

/// Why a host pattern was refused. Every message quotes the pattern and says how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("host pattern is empty: write a pattern such as https://api.example.com")]
    Empty,
    #[error("host pattern `{pattern}` has no scheme: write {suggestion}")]
    MissingScheme { pattern: String, suggestion: String },
    #[error(
        "host pattern `{pattern}` has an unsupported scheme `{scheme}`: use http, https, ws, wss or *"
    )]
    UnsupportedScheme { pattern: String, scheme: String },
    #[error("host pattern `{pattern}`: host patterns take no path: use {suggestion}")]
    HasPath { pattern: String, suggestion: String },
    #[error(
        "host pattern `{pattern}` contains a user name or password (`@`): host patterns name only \
         scheme, host and port, e.g. https://api.example.com"
    )]
    HasUserinfo { pattern: String },
    #[error(
        "host pattern `{pattern}` has an empty host: write a host name, *.name, * or an IP address"
    )]
    EmptyHost { pattern: String },
    #[error(
        "host pattern `{pattern}` has a wildcard inside the host: a wildcard may only be the whole \
         host (*) or the first label (*.example.com)"
    )]
    WildcardInMiddle { pattern: String },
    #[error("host pattern `{pattern}`: `{host}` is not a valid host name: {reason}")]
    InvalidHost {
        pattern: String,
        host: String,
        reason: String,
    },
    #[error(
        "host pattern `{pattern}`: write IPv6 addresses in brackets, e.g. https://[2001:db8::1]:443"
    )]
    UnbracketedIpv6 { pattern: String },
    #[error("host pattern `{pattern}`: `{cidr}` is not a valid address range: {reason}")]
    InvalidCidr {
        pattern: String,
        cidr: String,
        reason: String,
    },
    #[error(
        "host pattern `{pattern}` has no port and scheme `*` has no default: say which port, e.g. *://{host}:443 or *://{host}:*"
    )]
    PortRequired { pattern: String, host: String },
    #[error(
        "host pattern `{pattern}` lists several ports (`{port}`): use a range 8080..8081 or one \
         pattern per port"
    )]
    PortList { pattern: String, port: String },
    #[error(
        "host pattern `{pattern}` has port 0, which no server listens on: use a port from 1 to 65535"
    )]
    PortZero { pattern: String },
    #[error(
        "host pattern `{pattern}` has the range {start}..{end}, whose start is above its end: write {end}..{start}"
    )]
    ReversedRange {
        pattern: String,
        start: u16,
        end: u16,
    },
    #[error(
        "host pattern `{pattern}` has an invalid port `{port}`: write a number from 1 to 65535, \
         a range such as 8000..8010, or *"
    )]
    InvalidPort { pattern: String, port: String },
}

impl HostPattern {
    /// Parses `scheme://host[:port]`; see the module documentation for the syntax.
    pub fn parse(s: &str) -> Result<HostPattern, PatternError> {
        let pattern = s.trim();
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let owned = || pattern.to_string();
        let Some((scheme_text, rest)) = pattern.split_once("://") else {
            // Suggest https with whatever followed, minus any path, so the fix can be pasted.
            let host = pattern.split(['/', '?', '#']).next().unwrap_or(pattern);
            return Err(PatternError::MissingScheme {
                pattern: owned(),
                suggestion: format!("https://{host}"),
            });
        };
        let scheme_lower = scheme_text.to_ascii_lowercase();
        let scheme = if scheme_lower == "*" {
            None
        } else if SCHEMES.contains(&scheme_lower.as_str()) {
            Some(scheme_lower)
        } else {
            return Err(PatternError::UnsupportedScheme {
                pattern: owned(),
                scheme: scheme_text.to_string(),
            });
        };
        let scheme_shown = scheme.as_deref().unwrap_or("*");
        if rest.contains(['?', '#']) {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            return Err(PatternError::HasPath {
                pattern: owned(),
                suggestion: format!("{scheme_shown}://{authority}"),
            });
        }
        if rest.contains('@') {
            return Err(PatternError::HasUserinfo { pattern: owned() });
        }

        let authority = split_authority(pattern, scheme_shown, rest)?;
        let host_text = authority.host;
        if authority.bracketed && host_text.parse::<Ipv6Addr>().is_err() {
            return Err(PatternError::InvalidHost {
                pattern: owned(),
                host: host_text.to_string(),
                reason: "only an IPv6 address may be written in brackets".to_string(),
            });
        }
        let host = parse_host(pattern, host_text, authority.prefix)?;
        let port = match authority.port {
            Some(text) => parse_port(pattern, text)?,
            None => match scheme.as_deref() {
                Some("http" | "ws") => PortMatch::Port(80),
                Some(_) => PortMatch::Port(443),
                None => {
                    return Err(PatternError::PortRequired {
                        pattern: owned(),
                        host: host_text.to_string(),
                    });
                }
            },
        };
        Ok(HostPattern { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this pattern. `host` is a DNS name
    /// (case and a trailing dot do not matter) or an IP literal, bracketed or not.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if let Some(own) = &self.scheme
            && !own.eq_ignore_ascii_case(scheme)
        {
            return false;
        }
        if !self.port.contains(port) {
            return false;
        }
        match classify_host(host) {
            Some(Target::Ip(ip)) => self.host.matches_ip(ip),
            Some(Target::Name(name)) => self.host.matches_name(&name),
            None => false,
        }
    }

    /// [`HostPattern::matches`] for a parsed URL; a URL without a host or a known port never matches.
    pub fn matches_url(&self, url: &url::Url) -> bool {
        let Some(port) = url.port_or_known_default() else {
            return false;
        };
        match url.host() {
            Some(url::Host::Domain(name)) => self.matches(url.scheme(), name, port),
            Some(url::Host::Ipv4(ip)) => self.matches(url.scheme(), &ip.to_string(), port),
            Some(url::Host::Ipv6(ip)) => self.matches(url.scheme(), &ip.to_string(), port),
            None => false,
        }
    }

    /// Whether every (scheme, host, port) that `other` matches is also matched by `self`. A grant
    /// entry is acceptable only if some requested pattern covers it.
    pub fn covers(&self, other: &HostPattern) -> bool {
        let scheme_ok = match (&self.scheme, &other.scheme) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        scheme_ok && self.port.covers(&other.port) && self.host.covers(&other.host)
    }

    /// Whether the host is an IP address or range: the operator named these addresses on purpose,
    /// so the egress layer may let them through its private-address check.
    pub fn names_ip_literal(&self) -> bool {
        matches!(self.host, HostMatch::Ip(_) | HostMatch::Cidr(_))
    }

    /// The pattern without the port when the port is the scheme's default, for messages shown to
    /// people (`https://api.telegram.org` rather than `https://api.telegram.org:443`).
    pub fn short_form(&self) -> String {
        let scheme = self.scheme.as_deref().unwrap_or("*");
        let default = match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        match (self.port, default) {
            (PortMatch::Port(p), Some(d)) if p == d => format!("{scheme}://{}", self.host),
            _ => self.to_string(),
        }
    }
}

impl HostMatch {
    fn matches_ip(&self, ip: IpAddr) -> bool {
        // `::ffff:10.0.0.1` is 10.0.0.1 on the wire: compare both spellings.
        let canonical = ip.to_canonical();
        match self {
            HostMatch::Any => true,
            HostMatch::Ip(own) => own.to_canonical() == canonical,
            HostMatch::Cidr(net) => net.contains(&ip) || net.contains(&canonical),
            HostMatch::Exact(_) | HostMatch::Subdomains(_) => false,
        }
    }

    fn matches_name(&self, name: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(own) => own == name,
            HostMatch::Subdomains(base) => is_strict_subdomain(name, base),
            HostMatch::Ip(_) | HostMatch::Cidr(_) => false,
        }
    }

    fn covers(&self, other: &HostMatch) -> bool {
        match (self, other) {
            (HostMatch::Any, _) => true,
            (_, HostMatch::Any) => false,
            (HostMatch::Exact(a), HostMatch::Exact(b)) => a == b,
            (HostMatch::Subdomains(base), HostMatch::Exact(name)) => {
                is_strict_subdomain(name, base)
            }
            (HostMatch::Subdomains(base), HostMatch::Subdomains(other_base)) => {
                other_base == base || is_strict_subdomain(other_base, base)
            }
            (HostMatch::Ip(_) | HostMatch::Cidr(_), HostMatch::Ip(ip)) => self.matches_ip(*ip),
            (HostMatch::Ip(_), HostMatch::Cidr(net)) => {
                net.prefix_len() == net.max_prefix_len() && self.matches_ip(net.addr())
            }
            (HostMatch::Cidr(own), HostMatch::Cidr(net)) => own.contains(net),
            // Names and addresses never cover each other: what a name resolves to is checked
            // after DNS, not here.
            _ => false,
        }
    }
}

impl PortMatch {
    fn bounds(self) -> (u16, u16) {
        match self {
            PortMatch::Any => (0, u16::MAX),
            PortMatch::Port(p) => (p, p),
            PortMatch::Range(a, b) => (a, b),
        }
    }

    /// Whether `port` is one this pattern allows.
    pub fn contains(self, port: u16) -> bool {
        let (lo, hi) = self.bounds();
        (lo..=hi).contains(&port)
    }

    fn covers(self, other: &PortMatch) -> bool {
        let (lo, hi) = self.bounds();
        let (olo, ohi) = other.bounds();
        lo <= olo && ohi <= hi
    }
}

fn is_strict_subdomain(name: &str, base: &str) -> bool {
    name.len() > base.len() + 1
        && name.ends_with(base)
        && name.as_bytes()[name.len() - base.len() - 1] == b'.'
}

enum Target {
    Ip(IpAddr),
    Name(String),
}

/// Sorts a request's host into an IP literal or a normalized DNS name.
fn classify_host(host: &str) -> Option<Target> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| Target::Ip(ip.into()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Target::Ip(ip));
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name.is_empty() {
        return None;
    }
    Some(Target::Name(name))
}

struct Authority<'a> {
    host: &'a str,
    /// The host was written in brackets, so it must be an IPv6 address.
    bracketed: bool,
    prefix: Option<&'a str>,
    port: Option<&'a str>,
}

/// Splits what follows `scheme://` into host, optional CIDR prefix length and optional port.
fn split_authority<'a>(
    pattern: &str,
    scheme: &str,
    rest: &'a str,
) -> Result<Authority<'a>, PatternError> {
    let path_error = |authority: &str| PatternError::HasPath {
        pattern: pattern.to_string(),
        suggestion: format!("{scheme}://{authority}"),
    };
    let (host, after) = if let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(PatternError::InvalidHost {
                pattern: pattern.to_string(),
                host: rest.to_string(),
                reason: "the `[` of an IPv6 address is never closed with `]`".to_string(),
            });
        };
        (&inner[..close], &inner[close + 1..])
    } else {
        let before_slash = rest.split('/').next().unwrap_or(rest);
        if before_slash.matches(':').count() >= 2 {
            // Unbracketed IPv6: only a CIDR (`fd00::/8`) is unambiguous, because the last group
            // of a bare address could be read as a port.
            if before_slash.len() == rest.len() {
                return Err(PatternError::UnbracketedIpv6 {
                    pattern: pattern.to_string(),
                });
            }
            (before_slash, &rest[before_slash.len()..])
        } else {
            let end = rest.find([':', '/']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
    };

    let (prefix, after_prefix) = match after.strip_prefix('/') {
        Some(tail) => {
            let digits = tail.find(':').map_or(tail, |i| &tail[..i]);
            let is_prefix = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if !is_prefix || host.parse::<IpAddr>().is_err() {
                let authority = if rest.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_string()
                };
                return Err(path_error(&authority));
            }
            (Some(digits), &tail[digits.len()..])
        }
        None => (None, after),
    };

    let port = match after_prefix.strip_prefix(':') {
        Some(port) => {
            if let Some(slash) = port.find('/') {
                let authority = &rest[..rest.len() - port.len() + slash];
                return Err(path_error(authority));
            }
            Some(port)
        }
        None if after_prefix.is_empty() => None,
        None => {
            return Err(PatternError::InvalidHost {
                pattern: pattern.to_string(),
                host: rest.to_string(),
                reason: format!("unexpected `{after_prefix}` after the host"),
            });
        }
    };
    Ok(Authority {
        host,
        bracketed: rest.starts_with('['),
        prefix,
        port,
    })
}

fn parse_host(pattern: &str, host: &str, prefix: Option<&str>) -> Result<HostMatch, PatternError> {
    let invalid = |reason: &str| PatternError::InvalidHost {
        pattern: pattern.to_string(),
        host: host.to_string(),
        reason: reason.to_string(),
    };
    if let Some(prefix) = prefix {
        let cidr = format!("{host}/{prefix}");
        let cidr_error = |reason: String| PatternError::InvalidCidr {
            pattern: pattern.to_string(),
            cidr: cidr.clone(),
            reason,
        };
        let addr: IpAddr = host
            .parse()
            .map_err(|_| cidr_error("the part before `/` is not an IP address".to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let too_long = || cidr_error(format!("the prefix length must be at most {max}"));
        let len: u8 = prefix.parse().map_err(|_| too_long())?;
        let net = IpNet::new(addr, len).map_err(|_| too_long())?;
        return check_network(net).map(HostMatch::Cidr).map_err(cidr_error);
    }
    if host.is_empty() {
        return Err(PatternError::EmptyHost {
            pattern: pattern.to_string(),
        });
    }
    if host == "*" {
        return Ok(HostMatch::Any);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostMatch::Ip(ip));
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, host),
    };
    if name.contains('*') {
        return Err(PatternError::WildcardInMiddle {
            pattern: pattern.to_string(),
        });
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    validate_dns_name(&name).map_err(|reason| invalid(&reason))?;
    Ok(if wildcard {
        HostMatch::Subdomains(name)
    } else {
        HostMatch::Exact(name)
    })
}

/// Refuses ranges with host bits set, because `10.0.0.1/8` reads like one address but means
/// sixteen million: make the operator write what they mean.
pub(crate) fn check_network(net: IpNet) -> Result<IpNet, String> {
    if net.trunc() != net {
        return Err(format!(
            "the address has bits set beyond the prefix length: write {}",
            net.trunc()
        ));
    }
    Ok(net)
}

fn validate_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_string());
    }
    if !name.is_ascii() {
        return Err("non-ASCII names must be written in punycode (xn--...)".to_string());
    }
    if name.len() > 253 {
        return Err("a DNS name is at most 253 characters".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)".to_string());
        }
        if label.len() > 63 {
            return Err(format!("the label `{label}` is longer than 63 characters"));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{bad}` is not allowed in a host name (letters, digits, `-` and `_` only)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label `{label}` starts or ends with `-`"));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        // `127.1` or `10.0.0.256` would otherwise be taken as a name that some resolvers turn
        // into an address; refuse it so addresses are always written in full.
        return Err("it looks like an IP address but is not a valid one (write all four parts of an IPv4 address, each 0-255)".to_string());
    }
    Ok(())
}

fn parse_port(pattern: &str, text: &str) -> Result<PortMatch, PatternError> {
    let invalid = || PatternError::InvalidPort {
        pattern: pattern.to_string(),
        port: text.to_string(),
    };
    if text == "*" {
        return Ok(PortMatch::Any);
    }
    if text.contains(',') {
        return Err(PatternError::PortList {
            pattern: pattern.to_string(),
            port: text.to_string(),
        });
    }
    let number = |s: &str| -> Result<u16, PatternError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let port: u16 = s.parse().map_err(|_| invalid())?;
        if port == 0 {
            return Err(PatternError::PortZero {
                pattern: pattern.to_string(),
            });
        }
        Ok(port)
    };
    if let Some((start, end)) = text.split_once("..") {
        let (start, end) = (number(start)?, number(end)?);
        if start > end {
            return Err(PatternError::ReversedRange {
                pattern: pattern.to_string(),
                start,
                end,
            });
        }
        return Ok(if start == end {
            PortMatch::Port(start)
        } else {
            PortMatch::Range(start, end)
        });
    }
    number(text).map(PortMatch::Port)
}

impl fmt::Display for HostMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostMatch::Any => f.write_str("*"),
            HostMatch::Exact(name) => f.write_str(name),
            HostMatch::Subdomains(base) => write!(f, "*.{base}"),
            HostMatch::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostMatch::Cidr(IpNet::V4(net)) => write!(f, "{net}"),
            HostMatch::Cidr(IpNet::V6(net)) => write!(f, "[{}]/{}", net.addr(), net.prefix_len()),
        }
    }
}

impl fmt::Display for PortMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortMatch::Any => f.write_str("*"),
            PortMatch::Port(p) => write!(f, "{p}"),
            PortMatch::Range(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

impl fmt::Display for HostPattern {
    /// The canonical form, which [`HostPattern::parse`] reads back to an equal pattern.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_deref().unwrap_or("*");
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl FromStr for HostPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPattern::parse(s)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HostPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}
