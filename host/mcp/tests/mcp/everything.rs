//! server-everything (TypeScript SDK 1.32, protocol 2025-11-25 only) over stdio.

use std::time::{Duration, Instant};

use chitin_mcp::{McpError, McpServerConfig};

use crate::support::{everything, start};

#[tokio::test]
async fn lists_namespaced_tools_and_calls_them() {
    let s = start(vec![("everything", everything())], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let names = s.tool_names();
    for expected in [
        "mcp__everything__echo",
        "mcp__everything__get-sum",
        "mcp__everything__get-tiny-image",
        "mcp__everything__trigger-long-running-operation",
    ] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    // The legacy server answers the 2026 probe with an error; the client falls back to the
    // initialize handshake at 2025-11-25.
    let status = &s.servers.servers()[0];
    assert!(status.running);
    assert_eq!(status.transport, "stdio");
    assert_eq!(
        status.protocol_version.as_deref(),
        Some("2025-11-25"),
        "{status:?}"
    );
    assert!(
        status
            .server_info
            .as_deref()
            .is_some_and(|i| i.starts_with("mcp-servers/everything")),
        "{status:?}"
    );

    let echo = s
        .servers
        .tools()
        .into_iter()
        .find(|t| t.name == "mcp__everything__echo")
        .expect("echo");
    assert_eq!(
        (echo.server.as_str(), echo.tool.as_str()),
        ("everything", "echo")
    );
    assert!(!echo.description.is_empty());
    assert_eq!(echo.input_schema["type"], "object");
    assert!(
        echo.input_schema["properties"]["message"].is_object(),
        "{}",
        echo.input_schema
    );

    assert_eq!(
        s.text("mcp__everything__echo", r#"{"message":"hi there"}"#)
            .await,
        "Echo: hi there"
    );
    let sum = s
        .text("mcp__everything__get-sum", r#"{"a":2,"b":40}"#)
        .await;
    assert!(sum.contains("42"), "{sum}");
    s.servers.shutdown().await;
    assert!(s.servers.tools().is_empty());
}

#[tokio::test]
async fn every_content_type_is_rendered_as_text() {
    let s = start(vec![("everything", everything())], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);

    let image = s.text("mcp__everything__get-tiny-image", "{}").await;
    assert!(image.contains("[image: image/png, 4033 bytes]"), "{image}");
    assert!(image.contains("MCP logo"), "{image}");

    let links = s
        .text("mcp__everything__get-resource-links", r#"{"count":2}"#)
        .await;
    assert!(
        links.contains("[resource link: demo://resource/dynamic/blob/1, name: Blob Resource 1"),
        "{links}"
    );
    assert!(
        links.contains("[resource link: demo://resource/dynamic/text/2"),
        "{links}"
    );

    let text = s
        .text(
            "mcp__everything__get-resource-reference",
            r#"{"resourceType":"Text","resourceId":3}"#,
        )
        .await;
    assert!(
        text.contains("[resource: demo://resource/dynamic/text/3, text/plain]\n"),
        "{text}"
    );

    let blob = s
        .text(
            "mcp__everything__get-resource-reference",
            r#"{"resourceType":"Blob","resourceId":4}"#,
        )
        .await;
    assert!(
        blob.contains("[resource: demo://resource/dynamic/blob/4"),
        "{blob}"
    );

    let gzip = s
        .text(
            "mcp__everything__gzip-file-as-resource",
            r#"{"name":"hello.txt","data":"data:text/plain;base64,SGVsbG8sIHdvcmxkIQ==","outputType":"resource"}"#,
        )
        .await;
    assert!(
        gzip.contains("[resource: demo://resource/session/hello.txt, application/gzip, "),
        "{gzip}"
    );

    // structuredContent plus the same JSON as text: the text is shown, once.
    let weather = s
        .text(
            "mcp__everything__get-structured-content",
            r#"{"location":"New York"}"#,
        )
        .await;
    assert!(weather.contains("\"temperature\""), "{weather}");
    assert_eq!(weather.matches("temperature").count(), 1, "{weather}");

    let annotated = s
        .text(
            "mcp__everything__get-annotated-message",
            r#"{"messageType":"success","includeImage":true}"#,
        )
        .await;
    assert!(annotated.contains("[image: image/png"), "{annotated}");
    s.servers.shutdown().await;
}

#[tokio::test]
async fn a_tool_error_is_a_result_for_the_model() {
    let s = start(vec![("everything", everything())], &[]).await;
    // Invalid arguments come back as `isError: true` (2025-11-25 asks servers to do so).
    let result = s
        .servers
        .call("mcp__everything__get-sum", r#"{"a":"two","b":1}"#)
        .await
        .expect("a result");
    assert!(result.is_error);
    assert!(result.text.contains("expected number"), "{}", result.text);

    // Our own checks come before the server.
    let err = s
        .servers
        .call("mcp__everything__no-such-tool", "{}")
        .await
        .expect_err("unknown");
    assert_eq!(
        err,
        McpError::UnknownTool("mcp__everything__no-such-tool".into())
    );
    let err = s
        .servers
        .call("mcp__everything__echo", "[1,2]")
        .await
        .expect_err("not an object");
    assert!(matches!(err, McpError::InvalidArguments { .. }), "{err}");
    s.servers.shutdown().await;
}

#[tokio::test]
async fn a_call_past_its_timeout_is_cancelled_and_the_server_keeps_working() {
    let config = McpServerConfig {
        timeout_secs: 2,
        ..everything()
    };
    let s = start(vec![("everything", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let started = Instant::now();
    let err = s
        .servers
        .call(
            "mcp__everything__trigger-long-running-operation",
            r#"{"duration":30,"steps":30}"#,
        )
        .await
        .expect_err("times out");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(
            "MCP server `everything` did not answer the call of \
             `trigger-long-running-operation` within 2 s; the call was cancelled"
        ),
        "{text}"
    );
    // The connection is fine: the next call is answered at once.
    assert_eq!(
        s.text("mcp__everything__echo", r#"{"message":"still here"}"#)
            .await,
        "Echo: still here"
    );
    s.servers.shutdown().await;
}

#[tokio::test]
async fn allow_and_deny_lists_filter_the_tools() {
    let config = McpServerConfig {
        tools_allow: vec!["get-*".into(), "echo".into()],
        tools_deny: vec!["get-env".into()],
        ..everything()
    };
    let s = start(vec![("ev", config)], &[]).await;
    let mut names = s.tool_names();
    names.sort();
    assert!(names.contains(&"mcp__ev__echo".to_string()), "{names:?}");
    assert!(names.contains(&"mcp__ev__get-sum".to_string()), "{names:?}");
    assert!(
        !names.contains(&"mcp__ev__get-env".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("mcp__ev__trigger")),
        "{names:?}"
    );
    s.servers.shutdown().await;
}

#[tokio::test]
async fn a_server_that_fails_to_start_does_not_hold_up_the_others() {
    let started = Instant::now();
    let s = start(
        vec![
            ("everything", everything()),
            (
                "missing",
                McpServerConfig::stdio("/nonexistent/mcp-server", Vec::new()),
            ),
            (
                "silent",
                McpServerConfig {
                    startup_timeout_secs: 2,
                    ..McpServerConfig::stdio("sleep", ["60".to_string()])
                },
            ),
            (
                "exits",
                McpServerConfig::stdio(
                    "sh",
                    [
                        "-c".to_string(),
                        "echo 'cannot open config' >&2; exit 7".to_string(),
                    ],
                ),
            ),
        ],
        &[],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let mut errors = s.errors.clone();
    errors.sort_by(|a, b| a.server.cmp(&b.server));
    let servers: Vec<&str> = errors.iter().map(|e| e.server.as_str()).collect();
    assert_eq!(servers, ["exits", "missing", "silent"], "{errors:?}");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text[0].contains("exited with status 7") && text[0].contains("cannot open config"),
        "{}",
        text[0]
    );
    assert!(
        text[1].starts_with(
            "MCP server `missing` did not start: could not run `/nonexistent/mcp-server`"
        ),
        "{}",
        text[1]
    );
    assert!(
        text[2].contains("no answer within 2 s (startup_timeout_secs)"),
        "{}",
        text[2]
    );
    // The good one runs.
    assert_eq!(
        s.text("mcp__everything__echo", r#"{"message":"ok"}"#).await,
        "Echo: ok"
    );
    let statuses = s.servers.servers();
    let missing = statuses
        .iter()
        .find(|st| st.id == "missing")
        .expect("listed");
    assert!(!missing.running);
    assert!(
        missing
            .error
            .as_deref()
            .is_some_and(|e| e.contains("could not run"))
    );
    s.servers.shutdown().await;
}
