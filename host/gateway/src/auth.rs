//! Bearer-token authentication with a constant-time comparison and a per-address limit on
//! failed attempts, so a token cannot be guessed by timing or by brute force.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

/// Failed attempts allowed per address within [`FAILURE_WINDOW`] before it is refused outright.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

pub enum Verdict {
    Allowed,
    /// Wrong or missing token.
    Denied,
    /// Too many failures from this address; retry after this long.
    Locked(Duration),
}

pub struct Authenticator {
    token: Option<String>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Authenticator {
    /// `None`: no token configured (only allowed on loopback binds).
    pub fn new(token: Option<String>) -> Authenticator {
        Authenticator {
            token,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header (`Bearer <token>`).
    pub fn check(&self, peer: IpAddr, authorization: Option<&str>) -> Verdict {
        self.check_token(peer, authorization.and_then(|h| h.strip_prefix("Bearer ")))
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Checks a presented token (`None`: none presented).
    pub fn check_token(&self, peer: IpAddr, presented: Option<&str>) -> Verdict {
        let Some(expected) = &self.token else {
            return Verdict::Allowed;
        };
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        failures.retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
        if let Some((count, since)) = failures.get(&peer)
            && *count >= MAX_FAILURES
        {
            return Verdict::Locked(FAILURE_WINDOW - now.duration_since(*since));
        }
        let presented = presented.unwrap_or("");
        if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Verdict::Allowed
        } else {
            let entry = failures.entry(peer).or_insert((0, now));
            entry.0 += 1;
            Verdict::Denied
        }
    }
}

/// Refuses a browser's request made from another site's page (`Origin` not this gateway's own
/// origin, nor listed in `[gateway] allowed_origins`). Without this, any web page the operator
/// visits could open a WebSocket to 127.0.0.1 and drive their agents. Clients that are not
/// browsers send no `Origin` and are unaffected.
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same_origin = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    if same_origin || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    Err(format!(
        "origin {origin} may not use this gateway; open the web UI from the gateway itself, \
         or add the origin to [gateway] allowed_origins"
    ))
}

/// Without a token, only requests addressed to a loopback name or an IP address are served:
/// a page on evil.example whose name is re-pointed at 127.0.0.1 (DNS rebinding) would pass the
/// origin check, but its requests carry `Host: evil.example`.
pub fn check_host(headers: &HeaderMap) -> Result<(), String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    if name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok() || host.is_empty() {
        return Ok(());
    }
    Err(format!(
        "host {host} is not served: without [gateway] token only localhost and IP addresses \
         are accepted (set a token to serve other names)"
    ))
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-longer"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn cross_site_origins_are_refused() {
        let host = ("host", "127.0.0.1:18789");
        assert!(check_origin(&headers(&[host]), &[]).is_ok());
        assert!(check_origin(&headers(&[host, ("origin", "http://127.0.0.1:18789")]), &[]).is_ok());
        assert!(check_origin(&headers(&[host, ("origin", "https://evil.example")]), &[]).is_err());
        assert!(check_origin(&headers(&[host, ("origin", "http://127.0.0.1:9999")]), &[]).is_err());
        assert!(check_origin(&headers(&[host, ("origin", "null")]), &[]).is_err());
        let allowed = vec!["https://console.example".to_string()];
        assert!(
            check_origin(
                &headers(&[host, ("origin", "https://console.example")]),
                &allowed
            )
            .is_ok()
        );
    }

    #[test]
    fn rebinding_hosts_are_refused() {
        for ok in [
            "127.0.0.1:18789",
            "localhost:18789",
            "[::1]:18789",
            "10.0.0.2",
            "localhost",
        ] {
            assert!(check_host(&headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:18789",
            "evil.example",
            "localhost.evil.example",
        ] {
            assert!(check_host(&headers(&[("host", bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_failures_lock_the_address() {
        let auth = Authenticator::new(Some("tok".into()));
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(matches!(
                auth.check(peer, Some("Bearer nope")),
                Verdict::Denied
            ));
        }
        // Even the right token is refused while locked.
        assert!(matches!(
            auth.check(peer, Some("Bearer tok")),
            Verdict::Locked(_)
        ));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(matches!(
            auth.check(other, Some("Bearer tok")),
            Verdict::Allowed
        ));
    }
}
