//! End-to-end checks of the egress policy against servers on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chitin_egress::{EgressError, Request, StaticResolver, SystemResolver};
use chitin_manifest::InjectAt;
use support::*;

fn no_names() -> Arc<StaticResolver> {
    resolver(&[])
}

fn expect_denied(result: Result<chitin_egress::Response, EgressError>, needles: &[&str]) -> String {
    match result {
        Err(e @ EgressError::Denied { .. }) => {
            let text = e.to_string();
            for needle in needles {
                assert!(text.contains(needle), "`{needle}` not in: {text}");
            }
            assert!(e.is_denied());
            text
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn literal_address_named_in_the_allowlist_is_reached() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        no_names(),
    );
    let resp = c
        .fetch(Request::get(server.url("/body")))
        .await
        .expect("fetch");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello");
    assert_eq!(resp.final_url, server.url("/body"));
    assert_eq!(server.requests().len(), 1);
    // An absurd timeout is not a crash.
    let mut req = Request::get(server.url("/body"));
    req.timeout = Some(Duration::MAX);
    assert_eq!(c.fetch(req).await.expect("fetch").body, b"hello");
}

#[tokio::test]
async fn unlisted_host_is_denied_before_any_dns_lookup() {
    let server = Server::start().await;
    let dns = resolver(&[("evil.test", &["127.0.0.1"])]);
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        dns.clone(),
    );
    let url = format!("http://evil.test:{}/body", server.port());
    let text = expect_denied(
        c.fetch(Request::get(url)).await,
        &["evil.test", "outbound", "tester"],
    );
    assert!(
        text.contains(&format!("\"http://evil.test:{}\"", server.port())),
        "{text}"
    );
    assert!(dns.lookups().is_empty(), "looked up {:?}", dns.lookups());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn wildcard_pattern_matches_subdomains_only() {
    let server = Server::start().await;
    let dns = resolver(&[
        ("api.example.test", &["127.0.0.1"]),
        ("deep.api.example.test", &["127.0.0.1"]),
        ("example.test", &["127.0.0.1"]),
    ]);
    let p = allow_private(
        policy(&[&format!("http://*.example.test:{}", server.port())]),
        &["127.0.0.1/32"],
    );
    let c = client(p, dns.clone());
    for host in ["api.example.test", "deep.api.example.test"] {
        let resp = c
            .fetch(Request::get(format!(
                "http://{host}:{}/body",
                server.port()
            )))
            .await
            .expect(host);
        assert_eq!(resp.body, b"hello");
    }
    expect_denied(
        c.fetch(Request::get(format!(
            "http://example.test:{}/body",
            server.port()
        )))
        .await,
        &["example.test"],
    );
    assert_eq!(
        dns.lookups(),
        ["api.example.test", "deep.api.example.test"],
        "the bare domain must not be looked up"
    );
}

#[tokio::test]
async fn name_resolving_to_loopback_is_denied() {
    let server = Server::start().await;
    let dns = resolver(&[("sneaky.test", &["127.0.0.1"])]);
    let c = client(
        policy(&[&format!("http://sneaky.test:{}", server.port())]),
        dns.clone(),
    );
    expect_denied(
        c.fetch(Request::get(format!(
            "http://sneaky.test:{}/body",
            server.port()
        )))
        .await,
        &["sneaky.test", "127.0.0.1", "loopback", "allow_private"],
    );
    assert_eq!(dns.lookups(), ["sneaky.test"]);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn real_localhost_is_denied() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://localhost:{}", server.port())]),
        Arc::new(SystemResolver),
    );
    expect_denied(
        c.fetch(Request::get(format!(
            "http://localhost:{}/body",
            server.port()
        )))
        .await,
        &["localhost", "loopback"],
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn metadata_address_is_denied() {
    let dns = resolver(&[("metadata.test", &["169.254.169.254"])]);
    let c = client(policy(&["http://metadata.test"]), dns.clone());
    let text = expect_denied(
        c.fetch(Request::get("http://metadata.test/latest/meta-data/"))
            .await,
        &[
            "169.254.169.254",
            "metadata",
            "169.254.169.254/32",
            "allow_private",
        ],
    );
    assert!(text.contains("only if you mean it"), "{text}");
    // (That allow_private admits the address is checked without connecting, in the unit tests
    // of the resolver: these tests reach nothing but loopback.)
}

#[tokio::test]
async fn allow_private_lets_a_name_reach_loopback() {
    let server = Server::start().await;
    let dns = resolver(&[("internal.test", &["127.0.0.1"])]);
    let p = allow_private(
        policy(&[&format!("http://internal.test:{}", server.port())]),
        &["127.0.0.0/8"],
    );
    let c = client(p, dns);
    let resp = c
        .fetch(Request::get(format!(
            "http://internal.test:{}/echo",
            server.port()
        )))
        .await
        .expect("fetch");
    assert_eq!(resp.status, 200);
    let seen = server.requests();
    assert_eq!(
        seen[0].header("host"),
        Some(format!("internal.test:{}", server.port()).as_str())
    );
}

#[tokio::test]
async fn disallowed_addresses_are_dropped_and_the_connection_pinned_to_the_rest() {
    let server = Server::start().await;
    // The metadata address comes first; only 127.0.0.1 is allowed, so that is where the
    // connection must go.
    let dns = resolver(&[("mixed.test", &["169.254.169.254", "127.0.0.1"])]);
    let p = allow_private(
        policy(&[&format!("http://mixed.test:{}", server.port())]),
        &["127.0.0.1/32"],
    );
    let c = client(p, dns);
    let mut req = Request::get(format!("http://mixed.test:{}/body", server.port()));
    req.timeout = Some(Duration::from_secs(3));
    let resp = c.fetch(req).await.expect("fetch");
    assert_eq!(resp.body, b"hello");
}

#[tokio::test]
async fn decimal_ip_is_normalised_before_the_allowlist() {
    let server = Server::start().await;
    // 2130706433 is 127.0.0.1; only the name `localhost` is listed.
    let c = client(
        policy(&[&format!("http://localhost:{}", server.port())]),
        no_names(),
    );
    expect_denied(
        c.fetch(Request::get(format!(
            "http://2130706433:{}/body",
            server.port()
        )))
        .await,
        &["127.0.0.1"],
    );
    // With every host allowed, the address check still refuses it.
    let c = client(
        policy(&[&format!("http://*:{}", server.port())]),
        no_names(),
    );
    expect_denied(
        c.fetch(Request::get(format!(
            "http://2130706433:{}/body",
            server.port()
        )))
        .await,
        &["127.0.0.1", "loopback"],
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ipv4_mapped_ipv6_loopback_is_denied() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://*:{}", server.port())]),
        no_names(),
    );
    expect_denied(
        c.fetch(Request::get(format!(
            "http://[::ffff:127.0.0.1]:{}/body",
            server.port()
        )))
        .await,
        &["loopback", "127.0.0.1"],
    );
    expect_denied(
        c.fetch(Request::get(format!("http://[::1]:{}/body", server.port())))
            .await,
        &["loopback"],
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn userinfo_trick_is_refused() {
    let server = Server::start().await;
    let c = client(
        policy(&[
            &format!("http://127.0.0.1:{}", server.port()),
            &format!("http://good.test:{}", server.port()),
        ]),
        no_names(),
    );
    match c
        .fetch(Request::get(format!(
            "http://good.test@127.0.0.1:{}/body",
            server.port()
        )))
        .await
    {
        Err(EgressError::InvalidRequest(msg)) => {
            assert!(msg.contains('@'), "{msg}");
            assert!(msg.contains("127.0.0.1"), "{msg}");
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let server = Server::start().await;
    let mut p = policy(&[&format!("http://127.0.0.1:{}", server.port())]);
    p.limits.max_request_bytes = 16;
    let c = client(p, no_names());
    let base = Request::get(server.url("/echo"));
    let cases: Vec<(Request, &str)> = vec![
        (
            Request {
                method: "GE T".into(),
                ..base.clone()
            },
            "method",
        ),
        (Request::get("ftp://127.0.0.1/x"), "scheme"),
        (Request::get("not a url"), "not a valid URL"),
        (
            Request {
                headers: vec![("x-a".into(), "one\r\nx-b: two".into())],
                ..base.clone()
            },
            "invalid value",
        ),
        (
            Request {
                headers: vec![("bad name".into(), "v".into())],
                ..base.clone()
            },
            "header name",
        ),
        (
            Request {
                headers: vec![("host".into(), "other.test".into())],
                ..base.clone()
            },
            "Host",
        ),
        (
            Request {
                method: "POST".into(),
                body: Some(vec![b'a'; 17]),
                ..base.clone()
            },
            "at most 16 bytes",
        ),
        (
            Request {
                headers: (0..101).map(|i| (format!("x-{i}"), "v".into())).collect(),
                ..base.clone()
            },
            "headers",
        ),
    ];
    for (req, needle) in cases {
        match c.fetch(req.clone()).await {
            Err(EgressError::InvalidRequest(msg)) => {
                assert!(msg.contains(needle), "`{needle}` not in `{msg}`")
            }
            other => panic!("{req:?}: expected InvalidRequest, got {other:?}"),
        }
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn redirect_to_an_unlisted_host_is_denied() {
    let server = Server::start().await;
    let dns = resolver(&[("evil.test", &["127.0.0.1"])]);
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        dns.clone(),
    );
    let to = percent_encode(&format!("http://evil.test:{}/body", server.port()));
    expect_denied(
        c.fetch(Request::get(server.url(&format!("/redirect?to={to}"))))
            .await,
        &["evil.test"],
    );
    assert!(dns.lookups().is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn redirect_to_the_metadata_address_is_denied() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port()), "http://*"]),
        no_names(),
    );
    let to = percent_encode("http://169.254.169.254/latest/meta-data/");
    expect_denied(
        c.fetch(Request::get(server.url(&format!("/redirect?to={to}"))))
            .await,
        &["169.254.169.254", "metadata"],
    );
}

#[tokio::test]
async fn redirects_to_allowed_hosts_are_followed() {
    let a = Server::start().await;
    let b = Server::start().await;
    let c = client(
        policy(&[
            &format!("http://127.0.0.1:{}", a.port()),
            &format!("http://127.0.0.1:{}", b.port()),
        ]),
        no_names(),
    );
    let to = percent_encode(&b.url("/body"));
    let resp = c
        .fetch(Request::get(
            a.url(&format!("/redirect?to={to}&status=301")),
        ))
        .await
        .expect("fetch");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello");
    assert_eq!(resp.final_url, b.url("/body"));

    // Relative Location, resolved against the current URL.
    let resp = c
        .fetch(Request::get(a.url("/redirect?to=/body")))
        .await
        .expect("fetch");
    assert_eq!(resp.body, b"hello");
    assert_eq!(resp.final_url, a.url("/body"));

    // Not followed when the plugin says so.
    let mut req = Request::get(a.url("/redirect?to=/body"));
    req.follow_redirects = false;
    let resp = c.fetch(req).await.expect("fetch");
    assert_eq!(resp.status, 302);
    assert!(
        resp.headers
            .iter()
            .any(|(n, v)| n == "location" && v == "/body")
    );
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_without_body() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        no_names(),
    );
    let req = Request {
        method: "POST".into(),
        url: server.url("/redirect?to=/echo&status=303"),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: Some(b"payload".to_vec()),
        timeout: None,
        follow_redirects: true,
        proxy: None,
    };
    let resp = c.fetch(req).await.expect("fetch");
    assert_eq!(resp.status, 200);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body, b"payload");
    assert_eq!(seen[1].method, "GET");
    assert!(seen[1].body.is_empty());
    assert_eq!(seen[1].header("content-type"), None);

    // 307 keeps method and body.
    let req = Request {
        method: "POST".into(),
        url: server.url("/redirect?to=/echo&status=307"),
        headers: Vec::new(),
        body: Some(b"again".to_vec()),
        timeout: None,
        follow_redirects: true,
        proxy: None,
    };
    c.fetch(req).await.expect("fetch");
    let seen = server.requests();
    assert_eq!(seen[3].method, "POST");
    assert_eq!(seen[3].body, b"again");
}

#[tokio::test]
async fn too_many_redirects_are_refused() {
    let server = Server::start().await;
    let mut p = policy(&[&format!("http://127.0.0.1:{}", server.port())]);
    p.limits.max_redirects = 3;
    let c = client(p, no_names());
    match c.fetch(Request::get(server.url("/loop"))).await {
        Err(EgressError::QuotaExceeded(msg)) => assert!(msg.contains("at most 3"), "{msg}"),
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 4);
}

fn api_policy(port: u16, inject: &[InjectAt]) -> chitin_egress::EgressPolicy {
    let p = allow_private(
        policy(&[
            &format!("http://api.example.test:{port}"),
            &format!("http://127.0.0.1:{port}"),
        ]),
        &["127.0.0.1/32"],
    );
    with_secret(
        p,
        "TOKEN",
        &[&format!("http://api.example.test:{port}")],
        inject,
    )
}

fn api_dns() -> Arc<StaticResolver> {
    resolver(&[("api.example.test", &["127.0.0.1"])])
}

#[tokio::test]
async fn secrets_are_substituted_for_their_audience_and_redacted_on_the_way_back() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(
        api_policy(
            port,
            &[
                InjectAt::Header,
                InjectAt::Query,
                InjectAt::Body,
                InjectAt::Path,
            ],
        ),
        api_dns(),
    );
    let guest = Request {
        method: "POST".into(),
        url: format!(
            "http://api.example.test:{port}/bot{{{{secret:TOKEN}}}}/echo?key={{{{secret:TOKEN}}}}&x=1"
        ),
        headers: vec![
            ("authorization".into(), "Bearer {{secret:TOKEN}}".into()),
            ("x-plain".into(), "visible".into()),
        ],
        body: Some(b"{\"token\":\"{{secret:TOKEN}}\"}".to_vec()),
        timeout: None,
        follow_redirects: true,
        proxy: None,
    };
    let resp = c.fetch(guest.clone()).await.expect("fetch");
    assert_eq!(resp.status, 200);

    // What the server received: the value, everywhere.
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(
        got.target,
        format!("/bot{TOKEN_VALUE}/echo?key={TOKEN_VALUE}&x=1")
    );
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {TOKEN_VALUE}").as_str())
    );
    assert_eq!(got.header("x-plain"), Some("visible"));
    assert_eq!(
        got.body,
        format!("{{\"token\":\"{TOKEN_VALUE}\"}}").as_bytes()
    );

    // What the plugin got back: the echo, with the value redacted from body and headers.
    let body = String::from_utf8(resp.body.clone()).expect("utf8");
    assert!(!body.contains(TOKEN_VALUE), "{body}");
    assert!(body.contains("[REDACTED:TOKEN]"), "{body}");
    let echoed = resp
        .headers
        .iter()
        .find(|(n, _)| n == "x-echo-authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(echoed, Some("Bearer [REDACTED:TOKEN]"));
    assert!(resp.headers.iter().all(|(_, v)| !v.contains(TOKEN_VALUE)));
    let length = resp
        .headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.clone());
    assert_eq!(length, Some(resp.body.len().to_string()));
    assert!(!resp.final_url.contains(TOKEN_VALUE));
    assert!(
        resp.final_url.contains("secret:TOKEN"),
        "{}",
        resp.final_url
    );
    // The plugin's request is untouched.
    assert!(guest.url.contains("{{secret:TOKEN}}"));
}

#[tokio::test]
async fn secret_values_are_encoded_inside_path_and_query() {
    let server = Server::start().await;
    let port = server.port();
    let mut p = api_policy(port, &[InjectAt::Query, InjectAt::Path]);
    p.secrets[0].value = chitin_secrets::SecretValue::new("a/b?c&d=e#f g");
    let c = client(p, api_dns());
    c.fetch(Request::get(format!(
        "http://api.example.test:{port}/x/{{{{secret:TOKEN}}}}/echo?k={{{{secret:TOKEN}}}}"
    )))
    .await
    .expect("fetch");
    let seen = server.requests();
    assert_eq!(
        seen[0].target,
        "/x/a%2Fb%3Fc&d=e%23f%20g/echo?k=a/b?c%26d%3De%23f%20g"
    );
}

#[tokio::test]
async fn secret_to_a_host_outside_its_audience_is_denied() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(api_policy(port, &[InjectAt::Header]), api_dns());
    let mut req = Request::get(server.url("/echo"));
    req.headers = vec![("authorization".into(), "Bearer {{secret:TOKEN}}".into())];
    expect_denied(
        c.fetch(req).await,
        &[
            "secret TOKEN may only be sent to",
            "api.example.test",
            "not 127.0.0.1",
        ],
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn secret_in_a_disallowed_location_is_denied() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(api_policy(port, &[InjectAt::Header]), api_dns());
    for (url, body, place) in [
        (
            format!("http://api.example.test:{port}/echo?key={{{{secret:TOKEN}}}}"),
            None,
            "the query",
        ),
        (
            format!("http://api.example.test:{port}/{{{{secret:TOKEN}}}}/echo"),
            None,
            "the path",
        ),
        (
            format!("http://api.example.test:{port}/echo"),
            Some(b"t={{secret:TOKEN}}".to_vec()),
            "the body",
        ),
    ] {
        let req = Request {
            method: "POST".into(),
            url,
            headers: Vec::new(),
            body,
            timeout: None,
            follow_redirects: true,
            proxy: None,
        };
        expect_denied(
            c.fetch(req).await,
            &[
                &format!("secret TOKEN may not be placed in {place}"),
                "a header",
            ],
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ungranted_secret_and_placeholder_in_host_are_denied() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(api_policy(port, &[InjectAt::Header]), api_dns());
    let mut req = Request::get(format!("http://api.example.test:{port}/echo"));
    req.headers = vec![("x-key".into(), "{{secret:OTHER}}".into())];
    expect_denied(
        c.fetch(req).await,
        &["secret OTHER is not granted to plugin tester"],
    );
    for url in [
        format!("http://{{{{secret:TOKEN}}}}.example.test:{port}/"),
        format!("http://%7B%7Bsecret:TOKEN%7D%7D.example.test:{port}/"),
        format!("http://{{{{secret:TOKEN}}}}:{port}/"),
    ] {
        expect_denied(c.fetch(Request::get(url)).await, &["host"]);
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn secret_headers_are_dropped_on_a_cross_origin_redirect() {
    let a = Server::start().await;
    let b = Server::start().await;
    let port = a.port();
    let mut p = api_policy(port, &[InjectAt::Header]);
    p.allow
        .push(pattern(&format!("http://127.0.0.1:{}", b.port())));
    let c = client(p, api_dns());
    let to = percent_encode(&b.url("/echo"));
    let req = Request {
        method: "GET".into(),
        url: format!("http://api.example.test:{port}/redirect?to={to}"),
        headers: vec![
            ("authorization".into(), "Bearer {{secret:TOKEN}}".into()),
            ("x-api-key".into(), "k-{{secret:TOKEN}}".into()),
            ("x-plain".into(), "kept".into()),
        ],
        body: None,
        timeout: None,
        follow_redirects: true,
        proxy: None,
    };
    let resp = c.fetch(req).await.expect("fetch");
    assert_eq!(resp.status, 200);
    // The first hop got the secret ...
    let first = &a.requests()[0];
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {TOKEN_VALUE}").as_str())
    );
    // ... the other origin did not.
    let second = &b.requests()[0];
    assert_eq!(second.header("authorization"), None);
    assert_eq!(second.header("x-api-key"), None);
    assert_eq!(second.header("x-plain"), Some("kept"));
    assert!(second.headers.iter().all(|(_, v)| !v.contains(TOKEN_VALUE)));
}

#[tokio::test]
async fn secret_headers_are_kept_on_a_same_origin_redirect() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(api_policy(port, &[InjectAt::Header]), api_dns());
    let mut req = Request::get(format!("http://api.example.test:{port}/redirect?to=/echo"));
    req.headers = vec![("authorization".into(), "Bearer {{secret:TOKEN}}".into())];
    c.fetch(req).await.expect("fetch");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].header("authorization"),
        Some(format!("Bearer {TOKEN_VALUE}").as_str())
    );
}

#[tokio::test]
async fn secret_value_echoed_into_a_redirect_is_not_carried_to_another_host() {
    let a = Server::start().await;
    let b = Server::start().await;
    let port = a.port();
    let mut p = api_policy(port, &[InjectAt::Query]);
    p.allow
        .push(pattern(&format!("http://127.0.0.1:{}", b.port())));
    let c = client(p, api_dns());
    // The server puts the substituted value into the Location of a redirect to B.
    let to = percent_encode(&format!("{}?leak=", b.url("/echo")));
    let url = format!("http://api.example.test:{port}/redirect?to={to}{{{{secret:TOKEN}}}}");
    expect_denied(
        c.fetch(Request::get(url)).await,
        &["secret TOKEN may only be sent to", "not 127.0.0.1"],
    );
    assert_eq!(a.requests().len(), 1);
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let server = Server::start().await;
    let mut p = policy(&[&format!("http://127.0.0.1:{}", server.port())]);
    p.limits.max_response_bytes = 64 * 1024;
    let c = client(p, no_names());
    for path in ["/huge?bytes=1000000", "/stream?bytes=1000000"] {
        match c.fetch(Request::get(server.url(path))).await {
            Err(EgressError::TooLarge { limit }) => assert_eq!(limit, 64 * 1024),
            other => panic!("{path}: expected TooLarge, got {other:?}"),
        }
    }
    // Exactly at the limit is fine.
    let resp = c
        .fetch(Request::get(server.url("/stream?bytes=65536")))
        .await
        .expect("fetch");
    assert_eq!(resp.body.len(), 65536);
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        no_names(),
    );
    let mut req = Request::get(server.url("/sleep?ms=3000"));
    req.timeout = Some(Duration::from_millis(200));
    let started = std::time::Instant::now();
    match c.fetch(req).await {
        Err(EgressError::Timeout(d)) => assert_eq!(d, Duration::from_millis(200)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn concurrency_quota_is_enforced() {
    let server = Server::start().await;
    let mut p = policy(&[&format!("http://127.0.0.1:{}", server.port())]);
    p.limits.max_concurrent = 1;
    p.limits.queue_timeout = Duration::from_millis(100);
    let c = client(p, no_names());
    let slow = {
        let c = c.clone();
        let url = server.url("/sleep?ms=1000");
        tokio::spawn(async move { c.fetch(Request::get(url)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    match c.fetch(Request::get(server.url("/body"))).await {
        Err(EgressError::QuotaExceeded(msg)) => {
            assert!(msg.contains("tester"), "{msg}");
            assert!(msg.contains("1 requests in flight"), "{msg}");
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    let first = slow.await.expect("join").expect("slow fetch");
    assert_eq!(first.body, b"slept");
    // The slot is free again.
    c.fetch(Request::get(server.url("/body")))
        .await
        .expect("after the slow one");
}

#[tokio::test]
async fn denial_messages_never_carry_secret_values() {
    let server = Server::start().await;
    let port = server.port();
    let c = client(api_policy(port, &[InjectAt::Header]), api_dns());
    // An error whose text quotes the URL, which holds the value literally.
    let url = format!("http://api.example.test:99999/{TOKEN_VALUE}");
    match c.fetch(Request::get(url)).await {
        Err(EgressError::InvalidRequest(msg)) => {
            assert!(!msg.contains(TOKEN_VALUE), "{msg}");
            assert!(msg.contains("[REDACTED:TOKEN]"), "{msg}");
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    assert_eq!(c.redactor().redact(TOKEN_VALUE), "[REDACTED:TOKEN]");
}
