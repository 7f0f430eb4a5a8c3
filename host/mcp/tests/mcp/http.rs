//! Streamable HTTP servers reached through the egress policy: server-everything (2025-11-25,
//! sessions and the GET stream) and the Python server (2026-07-28, per-request metadata).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chitin_mcp::{McpError, McpServerConfig, SecretRef};

use crate::support::{HttpServer, Redirector, eventually, free_port, start};

const TOKEN: &str = "tok-7f3a9c1e55";

/// `url` allowed to reach loopback, with a bearer token from the secret store.
fn through_egress(url: &str) -> McpServerConfig {
    McpServerConfig {
        allow_private: vec!["127.0.0.1/32".into(), "::1/128".into()],
        headers: BTreeMap::from([(
            "Authorization".to_string(),
            "Bearer {{secret:TOKEN}}".to_string(),
        )]),
        secrets: vec![SecretRef::Name("TOKEN".into())],
        ..McpServerConfig::http(url)
    }
}

#[tokio::test]
async fn everything_over_streamable_http() {
    let server = HttpServer::everything().await;
    let config = McpServerConfig {
        timeout_secs: 3,
        ..through_egress(&server.url())
    };
    let s = start(vec![("remote", config)], &[("TOKEN", TOKEN)]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let status = &s.servers.servers()[0];
    assert_eq!(status.transport, "http");
    assert_eq!(
        status.protocol_version.as_deref(),
        Some("2025-11-25"),
        "{status:?}"
    );
    let names = s.tool_names();
    assert!(
        names.contains(&"mcp__remote__echo".to_string()),
        "{names:?}"
    );

    assert_eq!(
        s.text("mcp__remote__echo", r#"{"message":"over http"}"#)
            .await,
        "Echo: over http"
    );
    let image = s.text("mcp__remote__get-tiny-image", "{}").await;
    assert!(image.contains("[image: image/png, 4033 bytes]"), "{image}");

    // A placeholder the model writes in its arguments is sent as written, never filled in.
    assert_eq!(
        s.text("mcp__remote__echo", r#"{"message":"{{secret:TOKEN}}"}"#)
            .await,
        "Echo: {{secret:TOKEN}}"
    );

    // A call past its deadline is abandoned; the session keeps working.
    let started = Instant::now();
    let err = s
        .servers
        .call(
            "mcp__remote__trigger-long-running-operation",
            r#"{"duration":30,"steps":30}"#,
        )
        .await
        .expect_err("times out");
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        s.text("mcp__remote__echo", r#"{"message":"after"}"#).await,
        "Echo: after"
    );
    s.servers.shutdown().await;
}

#[tokio::test]
async fn a_2026_server_over_http_gets_the_secret_only_at_the_edge() {
    let server = HttpServer::python().await;
    let config = McpServerConfig {
        timeout_secs: 2,
        ..through_egress(&server.url())
    };
    let s = start(vec![("py", config)], &[("TOKEN", TOKEN)]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        s.servers.servers()[0].protocol_version.as_deref(),
        Some("2026-07-28")
    );
    // The server received the real token (egress put it in for this origin) and echoed it;
    // on the way back egress redacted it.
    assert_eq!(
        s.text("mcp__py__request_header", r#"{"name":"Authorization"}"#)
            .await,
        "Bearer [REDACTED:TOKEN]"
    );
    // 2026 standard headers.
    assert_eq!(
        s.text("mcp__py__request_header", r#"{"name":"Mcp-Method"}"#)
            .await,
        "tools/call"
    );
    assert_eq!(s.text("mcp__py__add", r#"{"a":1,"b":2}"#).await, "3");

    // A timed-out call: the stream is closed, which cancels the call on a 2026 server.
    let err = s
        .servers
        .call("mcp__py__slow", r#"{"seconds":30,"tag":"http-timeout"}"#)
        .await
        .expect_err("times out");
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    let cancelled = eventually(Duration::from_secs(5), async || {
        let tags = s.text("mcp__py__cancelled", "{}").await;
        tags.contains("http-timeout").then_some(tags)
    })
    .await;
    assert!(cancelled.is_some(), "the server did not see the call end");
    s.servers.shutdown().await;
}

#[tokio::test]
async fn list_changed_over_a_2026_http_subscription() {
    // No secret here: with one, egress's streaming redaction holds back the last bytes of each
    // read, which delays events on a long-lived stream until more bytes arrive (see the crate
    // documentation).
    let server = HttpServer::python().await;
    let config = McpServerConfig {
        allow_private: vec!["127.0.0.1/32".into(), "::1/128".into()],
        ..McpServerConfig::http(server.url())
    };
    let s = start(vec![("py", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    s.text("mcp__py__add_tool", r#"{"name":"http_extra"}"#)
        .await;
    let listed = eventually(Duration::from_secs(10), async || {
        s.tool_names()
            .contains(&"mcp__py__http_extra".to_string())
            .then_some(())
    })
    .await;
    assert!(listed.is_some(), "{:?}", s.tool_names());
    assert_eq!(
        s.text("mcp__py__http_extra", "{}").await,
        "hello from http_extra"
    );
    s.servers.shutdown().await;
}

#[tokio::test]
async fn loopback_is_refused_unless_allow_private_names_it() {
    let server = HttpServer::everything().await;
    let config = McpServerConfig {
        allow_private: Vec::new(),
        ..through_egress(&server.url())
    };
    let s = start(vec![("remote", config)], &[("TOKEN", TOKEN)]).await;
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
    let text = s.errors[0].to_string();
    assert!(
        text.starts_with("MCP server `remote` did not start: "),
        "{text}"
    );
    assert!(
        text.contains("localhost resolved to") && text.contains("(loopback)"),
        "{text}"
    );
    assert!(
        text.contains("to allow_private under [mcp.remote], only if you mean it"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
    assert!(s.tool_names().is_empty());
}

#[tokio::test]
async fn a_redirect_off_the_servers_origin_is_refused() {
    for target in [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://127.0.0.1:{}/mcp", free_port()),
    ] {
        let redirector = Redirector::start(&target).await;
        // The operator wrote the address, so 127.0.0.1 itself needs no allow_private.
        let url = format!("http://127.0.0.1:{}/mcp", redirector.port);
        let config = McpServerConfig {
            allow_private: Vec::new(),
            ..through_egress(&url)
        };
        let s = start(vec![("remote", config)], &[("TOKEN", TOKEN)]).await;
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        let text = s.errors[0].to_string();
        let host = url::Url::parse(&target).expect("url");
        assert!(
            text.contains(&format!(
                "MCP server `remote` may not connect to {} port {}",
                host.host_str().expect("host"),
                host.port_or_known_default().expect("port")
            )),
            "{text}"
        );
        assert!(
            text.contains("may only be reached at the origin of its url"),
            "{text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
        // The server's own origin got the token, substituted at the edge; nothing else did.
        let requests = redirector.requests();
        assert!(!requests.is_empty());
        assert_eq!(
            requests[0].header("authorization").as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert!(
            requests[0].head.starts_with("POST /mcp HTTP/1.1"),
            "{}",
            requests[0].head
        );
    }
}
