//! Bearer-token authentication with a constant-time comparison and a per-address limit on
//! failed attempts, so a token cannot be guessed by timing or by brute force.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    pub fn check(&self, peer: IpAddr, authorization: Option<&str>) -> Verdict {
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
        let presented = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Verdict::Allowed
        } else {
            let entry = failures.entry(peer).or_insert((0, now));
            entry.0 += 1;
            Verdict::Denied
        }
    }
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
