use std::net::IpAddr;

use crate::pattern::{HostMatch, HostPattern, PatternError, PortMatch};

fn p(s: &str) -> HostPattern {
    HostPattern::parse(s).unwrap_or_else(|err| panic!("{s}: {err}"))
}

#[test]
fn parses_to_canonical_form() {
    let cases = [
        ("https://api.example.com", "https://api.example.com:443"),
        ("http://api.example.com", "http://api.example.com:80"),
        ("ws://x.com", "ws://x.com:80"),
        ("wss://x.com", "wss://x.com:443"),
        ("HTTPS://API.Example.COM.", "https://api.example.com:443"),
        ("  https://a.com  ", "https://a.com:443"),
        ("https://*.example.com", "https://*.example.com:443"),
        ("https://*", "https://*:443"),
        ("https://*:*", "https://*:*"),
        ("*://*:443", "*://*:443"),
        ("*://api.example.com:*", "*://api.example.com:*"),
        ("http://localhost:8000..8010", "http://localhost:8000..8010"),
        ("http://localhost:8080..8080", "http://localhost:8080"),
        (
            "http://my_host.internal:8080",
            "http://my_host.internal:8080",
        ),
        ("https://10.0.0.1", "https://10.0.0.1:443"),
        ("http://127.0.0.1:*", "http://127.0.0.1:*"),
        ("http://10.0.0.0/8:80", "http://10.0.0.0/8:80"),
        ("http://10.0.0.0/8", "http://10.0.0.0/8:80"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://[::1]", "https://[::1]:443"),
        ("https://[fd00::]/8", "https://[fd00::]/8:443"),
        ("https://fd00::/8", "https://[fd00::]/8:443"),
        ("https://fd00::/8:8443", "https://[fd00::]/8:8443"),
        ("https://xn--bcher-kva.de", "https://xn--bcher-kva.de:443"),
    ];
    for (input, canonical) in cases {
        let parsed = p(input);
        assert_eq!(parsed.to_string(), canonical, "{input}");
        // The canonical form reads back to the same pattern.
        assert_eq!(p(canonical), parsed, "{input}");
        let parsed_via_from_str: HostPattern = input.parse().unwrap();
        assert_eq!(parsed_via_from_str, parsed);
    }
}

#[test]
fn parse_fills_structure() {
    let pattern = p("http://localhost:8000..8010");
    assert_eq!(pattern.scheme.as_deref(), Some("http"));
    assert_eq!(pattern.host, HostMatch::Exact("localhost".into()));
    assert_eq!(pattern.port, PortMatch::Range(8000, 8010));
    let any = p("*://*:*");
    assert_eq!(any.scheme, None);
    assert_eq!(any.host, HostMatch::Any);
    assert_eq!(any.port, PortMatch::Any);
    assert_eq!(
        p("https://*.Example.com").host,
        HostMatch::Subdomains("example.com".into())
    );
    assert_eq!(
        p("https://10.0.0.1").host,
        HostMatch::Ip("10.0.0.1".parse().unwrap())
    );
    assert_eq!(
        p("https://10.0.0.0/8").host,
        HostMatch::Cidr("10.0.0.0/8".parse().unwrap())
    );
}

#[test]
fn refusals_say_what_to_write() {
    // (input, check on the error, text the message must contain)
    type Check = fn(&PatternError) -> bool;
    let cases: &[(&str, Check, &str)] = &[
        ("", |e| matches!(e, PatternError::Empty), "https://"),
        ("   ", |e| matches!(e, PatternError::Empty), "https://"),
        (
            "api.example.com",
            |e| matches!(e, PatternError::MissingScheme { .. }),
            "write https://api.example.com",
        ),
        (
            "api.example.com/v1",
            |e| matches!(e, PatternError::MissingScheme { .. }),
            "write https://api.example.com",
        ),
        (
            "ftp://x.com",
            |e| matches!(e, PatternError::UnsupportedScheme { .. }),
            "use http, https, ws, wss or *",
        ),
        (
            "https://api.example.com/v1",
            |e| matches!(e, PatternError::HasPath { .. }),
            "host patterns take no path: use https://api.example.com",
        ),
        (
            "https://api.example.com/",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://api.example.com",
        ),
        (
            "https://api.example.com:8443/v1",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://api.example.com:8443",
        ),
        (
            "https://api.example.com?q=1",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://api.example.com",
        ),
        (
            "https://api.example.com#top",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://api.example.com",
        ),
        (
            "https://10.0.0.1/admin",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://10.0.0.1",
        ),
        (
            "https://[::1]/admin",
            |e| matches!(e, PatternError::HasPath { .. }),
            "use https://[::1]",
        ),
        (
            "https://user:pw@api.example.com",
            |e| matches!(e, PatternError::HasUserinfo { .. }),
            "user name or password",
        ),
        (
            "https://",
            |e| matches!(e, PatternError::EmptyHost { .. }),
            "empty host",
        ),
        (
            "https://:443",
            |e| matches!(e, PatternError::EmptyHost { .. }),
            "empty host",
        ),
        (
            "https://api.*.com",
            |e| matches!(e, PatternError::WildcardInMiddle { .. }),
            "first label (*.example.com)",
        ),
        (
            "https://api*.example.com",
            |e| matches!(e, PatternError::WildcardInMiddle { .. }),
            "wildcard",
        ),
        (
            "https://*.*.example.com",
            |e| matches!(e, PatternError::WildcardInMiddle { .. }),
            "wildcard",
        ),
        (
            "https://2001:db8::1",
            |e| matches!(e, PatternError::UnbracketedIpv6 { .. }),
            "https://[2001:db8::1]:443",
        ),
        (
            "https://[api.example.com]",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "only an IPv6 address",
        ),
        (
            "https://[10.0.0.1]",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "only an IPv6 address",
        ),
        (
            "https://[::1",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "never closed",
        ),
        (
            "https://[::1]x",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "unexpected `x`",
        ),
        (
            "https://10.0.0.1/8",
            |e| matches!(e, PatternError::InvalidCidr { .. }),
            "write 10.0.0.0/8",
        ),
        (
            "https://10.0.0.0/33",
            |e| matches!(e, PatternError::InvalidCidr { .. }),
            "at most 32",
        ),
        (
            "https://10.0.0.0/999",
            |e| matches!(e, PatternError::InvalidCidr { .. }),
            "at most 32",
        ),
        (
            "https://fd00::/200",
            |e| matches!(e, PatternError::InvalidCidr { .. }),
            "at most 128",
        ),
        (
            "*://api.example.com",
            |e| matches!(e, PatternError::PortRequired { .. }),
            "say which port, e.g. *://api.example.com:443 or *://api.example.com:*",
        ),
        (
            "https://x.com:8080,8081",
            |e| matches!(e, PatternError::PortList { .. }),
            "use a range 8080..8081 or one pattern per port",
        ),
        (
            "https://x.com:0",
            |e| matches!(e, PatternError::PortZero { .. }),
            "port 0",
        ),
        (
            "https://x.com:0..10",
            |e| matches!(e, PatternError::PortZero { .. }),
            "port 0",
        ),
        (
            "https://x.com:8010..8000",
            |e| matches!(e, PatternError::ReversedRange { .. }),
            "write 8000..8010",
        ),
        (
            "https://x.com:99999",
            |e| matches!(e, PatternError::InvalidPort { .. }),
            "1 to 65535",
        ),
        (
            "https://x.com:abc",
            |e| matches!(e, PatternError::InvalidPort { .. }),
            "`abc`",
        ),
        (
            "https://x.com:",
            |e| matches!(e, PatternError::InvalidPort { .. }),
            "port",
        ),
        (
            "https://x.com:+80",
            |e| matches!(e, PatternError::InvalidPort { .. }),
            "port",
        ),
        (
            "https://x.com:80..",
            |e| matches!(e, PatternError::InvalidPort { .. }),
            "port",
        ),
        (
            "https://127.1",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "looks like an IP address",
        ),
        (
            "https://10.0.0.256",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "looks like an IP address",
        ),
        (
            "https://bücher.de",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "punycode",
        ),
        (
            "https://a..b",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "empty label",
        ),
        (
            "https://-a.com",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "`-`",
        ),
        (
            "https://a b.com",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "not allowed",
        ),
        (
            "https://*.",
            |e| matches!(e, PatternError::InvalidHost { .. }),
            "empty",
        ),
    ];
    for (input, check, text) in cases {
        let err = HostPattern::parse(input).expect_err(input);
        assert!(check(&err), "{input}: wrong error {err:?}");
        let message = err.to_string();
        assert!(
            message.contains(text),
            "{input}: {message:?} lacks {text:?}"
        );
    }
}

#[test]
fn matches_table() {
    let cases: &[(&str, &str, &str, u16, bool)] = &[
        ("https://*.example.com", "https", "a.example.com", 443, true),
        (
            "https://*.example.com",
            "https",
            "a.b.example.com",
            443,
            true,
        ),
        (
            "https://*.example.com",
            "https",
            "A.EXAMPLE.COM.",
            443,
            true,
        ),
        ("https://*.example.com", "HTTPS", "a.example.com", 443, true),
        ("https://*.example.com", "https", "example.com", 443, false),
        (
            "https://*.example.com",
            "https",
            "badexample.com",
            443,
            false,
        ),
        (
            "https://*.example.com",
            "https",
            "example.com.evil.net",
            443,
            false,
        ),
        ("https://*.example.com", "http", "a.example.com", 443, false),
        (
            "https://*.example.com",
            "https",
            "a.example.com",
            8443,
            false,
        ),
        (
            "https://api.example.com",
            "https",
            "api.example.com",
            443,
            true,
        ),
        (
            "https://api.example.com",
            "https",
            "API.example.com.",
            443,
            true,
        ),
        (
            "https://api.example.com",
            "https",
            "x.api.example.com",
            443,
            false,
        ),
        ("https://api.example.com", "https", "", 443, false),
        (
            "https://api.example.com",
            "wss",
            "api.example.com",
            443,
            false,
        ),
        (
            "*://api.example.com:443",
            "wss",
            "api.example.com",
            443,
            true,
        ),
        ("*://*:*", "http", "10.0.0.1", 1, true),
        ("*://*:*", "http", "[::1]", 65535, true),
        ("https://*:443", "https", "1.2.3.4", 443, true),
        ("https://*:443", "https", "anything.example", 443, true),
        ("http://10.0.0.0/8:*", "http", "10.2.3.4", 1234, true),
        ("http://10.0.0.0/8:*", "http", "11.0.0.1", 1234, false),
        ("http://10.0.0.0/8:*", "http", "ten.example", 80, false),
        ("http://10.0.0.0/8:*", "http", "::ffff:10.0.0.1", 80, true),
        ("http://10.0.0.1", "http", "[::ffff:10.0.0.1]", 80, true),
        ("https://[::1]:*", "https", "[::1]", 443, true),
        ("https://[::1]:*", "https", "::1", 443, true),
        ("https://[::1]:*", "https", "localhost", 443, false),
        ("https://[::1]:*", "https", "[not-an-ip]", 443, false),
        ("https://127.0.0.1", "https", "localhost", 443, false),
        ("https://localhost", "https", "127.0.0.1", 443, false),
        ("https://[fd00::]/8", "https", "[fd12::1]", 443, true),
        ("https://[fd00::]/8", "https", "[fe80::1]", 443, false),
        (
            "http://localhost:8000..8010",
            "http",
            "localhost",
            8000,
            true,
        ),
        (
            "http://localhost:8000..8010",
            "http",
            "localhost",
            8010,
            true,
        ),
        (
            "http://localhost:8000..8010",
            "http",
            "localhost",
            7999,
            false,
        ),
        (
            "http://localhost:8000..8010",
            "http",
            "localhost",
            8011,
            false,
        ),
    ];
    for (pattern, scheme, host, port, expected) in cases {
        assert_eq!(
            p(pattern).matches(scheme, host, *port),
            *expected,
            "{pattern} vs {scheme}://{host}:{port}"
        );
    }
}

#[test]
fn matches_urls() {
    let cases = [
        (
            "https://api.example.com",
            "https://api.example.com/path?q=1",
            true,
        ),
        (
            "https://api.example.com",
            "https://api.example.com:443/",
            true,
        ),
        (
            "https://api.example.com",
            "https://api.example.com:8443/",
            false,
        ),
        ("https://api.example.com", "http://api.example.com/", false),
        ("http://[::1]:8080", "http://[::1]:8080/x", true),
        ("wss://x.com", "wss://x.com/socket", true),
        ("ws://x.com", "ws://x.com/socket", true),
        ("https://10.0.0.0/8", "https://10.1.2.3/", true),
        ("https://10.0.0.0/8", "https://10.1.2.3.nip.io/", false),
        // The URL parser turns the decimal form into 127.0.0.1; the IP pattern then sees it.
        ("http://127.0.0.1", "http://2130706433/", true),
        ("http://localhost", "http://2130706433/", false),
        ("*://*:*", "file:///etc/passwd", false),
    ];
    for (pattern, url, expected) in cases {
        let url = url::Url::parse(url).unwrap();
        assert_eq!(p(pattern).matches_url(&url), expected, "{pattern} vs {url}");
    }
}

#[test]
fn covers_table() {
    let cases = [
        ("https://*.example.com", "https://api.example.com", true),
        ("https://*.example.com", "https://a.b.example.com", true),
        ("https://*.example.com", "https://example.com", false),
        ("https://*.example.com", "https://*.api.example.com", true),
        ("https://*.example.com", "https://*.example.com", true),
        ("https://*.api.example.com", "https://*.example.com", false),
        ("https://*.example.com", "https://*:443", false),
        ("https://*.example.com", "https://10.0.0.1", false),
        ("https://*.example.com", "https://badexample.com", false),
        ("*://*:*", "https://10.0.0.1", true),
        ("*://*:*", "*://*:*", true),
        ("https://*:*", "*://x.com:443", false),
        ("https://*:*", "https://*:*", true),
        ("https://*:443", "https://[::1]", true),
        ("https://*:443", "https://x.com:*", false),
        ("https://x.com:*", "https://x.com:8000..8010", true),
        ("https://x.com:8000..8010", "https://x.com:8005", true),
        ("https://x.com:8000..8010", "https://x.com:8000..8010", true),
        ("https://x.com:8000..8010", "https://x.com:8011", false),
        (
            "https://x.com:8000..8010",
            "https://x.com:7999..8005",
            false,
        ),
        ("https://x.com:8000..8010", "https://x.com:*", false),
        ("https://x.com", "https://x.com:443", true),
        ("https://x.com", "https://x.com:444", false),
        ("https://x.com", "https://y.com", false),
        ("https://api.example.com", "https://10.0.0.1", false),
        ("http://10.0.0.0/8:*", "http://10.1.0.0/16:80", true),
        ("http://10.0.0.0/8:*", "http://10.0.0.1:80", true),
        ("http://10.0.0.0/8:*", "http://11.0.0.0/8:80", false),
        ("http://10.0.0.0/8:*", "http://0.0.0.0/0:80", false),
        ("http://10.0.0.0/8", "http://ten.example", false),
        ("http://10.0.0.1", "http://10.0.0.1/32", true),
        ("http://10.0.0.1", "http://10.0.0.0/31", false),
        ("http://10.0.0.1", "http://10.0.0.2", false),
        ("https://[fd00::]/8", "https://[fd00::1]", true),
        ("https://[fd00::]/8", "https://10.0.0.1", false),
    ];
    for (wide, narrow, expected) in cases {
        assert_eq!(
            p(wide).covers(&p(narrow)),
            expected,
            "{wide} covers {narrow}"
        );
    }
}

#[test]
fn covers_agrees_with_matches_on_samples() {
    // If `a` covers `b`, every sample `b` matches must be matched by `a`.
    let patterns = [
        "https://*.example.com",
        "https://api.example.com",
        "*://*:*",
        "https://*:443",
        "http://10.0.0.0/8:*",
        "http://10.0.0.1:80",
        "https://x.com:8000..8010",
        "http://localhost:*",
        "*://api.example.com:443",
    ];
    let samples = [
        ("https", "api.example.com", 443),
        ("https", "a.b.example.com", 443),
        ("https", "example.com", 443),
        ("http", "10.0.0.1", 80),
        ("http", "10.9.9.9", 8080),
        ("https", "x.com", 8005),
        ("http", "localhost", 3000),
        ("wss", "api.example.com", 443),
    ];
    for a in patterns {
        for b in patterns {
            let (a, b) = (p(a), p(b));
            if a.covers(&b) {
                for (scheme, host, port) in samples {
                    if b.matches(scheme, host, port) {
                        assert!(
                            a.matches(scheme, host, port),
                            "{a} covers {b} but misses {scheme}://{host}:{port}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn ip_literals_are_flagged() {
    assert!(p("http://10.0.0.1").names_ip_literal());
    assert!(p("http://10.0.0.0/8").names_ip_literal());
    assert!(p("http://[::1]").names_ip_literal());
    assert!(!p("http://localhost").names_ip_literal());
    assert!(!p("http://*.example.com").names_ip_literal());
    assert!(!p("http://*:*").names_ip_literal());
}

#[test]
fn short_form_drops_only_default_ports() {
    assert_eq!(p("https://a.com").short_form(), "https://a.com");
    assert_eq!(p("http://a.com").short_form(), "http://a.com");
    assert_eq!(p("https://a.com:8443").short_form(), "https://a.com:8443");
    assert_eq!(p("http://a.com:443").short_form(), "http://a.com:443");
    assert_eq!(p("*://a.com:443").short_form(), "*://a.com:443");
}

#[test]
fn serde_uses_the_string_form() {
    let pattern = p("https://*.example.com");
    let json = serde_json::to_string(&pattern).unwrap();
    assert_eq!(json, "\"https://*.example.com:443\"");
    let back: HostPattern = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pattern);
    let err = serde_json::from_str::<HostPattern>("\"api.example.com\"").unwrap_err();
    assert!(
        err.to_string().contains("write https://api.example.com"),
        "{err}"
    );
}

#[test]
fn host_match_ip_canonical_display() {
    let ip: IpAddr = "::1".parse().unwrap();
    assert_eq!(HostMatch::Ip(ip).to_string(), "[::1]");
    assert_eq!(PortMatch::Range(1, 2).to_string(), "1..2");
}
