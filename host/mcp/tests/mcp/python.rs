//! A server written with the PyPI `mcp` package (2.x): protocol 2026-07-28 (also the legacy
//! handshake), tools listed two per page.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chitin_mcp::{McpError, McpServerConfig, ProtocolMode};

use crate::support::{eventually, process_exists, py_server, start};

#[tokio::test]
async fn a_2026_server_is_spoken_to_in_2026_and_every_page_is_listed() {
    let s = start(vec![("py", py_server())], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let status = &s.servers.servers()[0];
    assert_eq!(
        status.protocol_version.as_deref(),
        Some("2026-07-28"),
        "{status:?}"
    );
    assert_eq!(status.server_info.as_deref(), Some("chitin-py-test 1.0.0"));
    let names = s.tool_names();
    // 16 tools, two per page: all of them were fetched, in the server's order.
    assert_eq!(names.len(), 16, "{names:?}");
    assert_eq!(names[0], "mcp__py__echo");
    assert_eq!(names[1], "mcp__py__add");
    assert!(names.contains(&"mcp__py__crash".to_string()), "{names:?}");

    // `dotted.name` and `dotted_name` are the same once sanitized: the one whose real name
    // is already safe keeps it, the other gets a stable suffix; both are reported.
    assert!(
        names.contains(&"mcp__py__dotted_name".to_string()),
        "{names:?}"
    );
    let renamed = s
        .servers
        .tools()
        .into_iter()
        .find(|t| t.tool == "dotted.name")
        .expect("dotted.name offered");
    assert!(
        renamed.name.starts_with("mcp__py__dotted_name_"),
        "{}",
        renamed.name
    );
    assert!(renamed.name.len() <= 64);
    let warnings = s.servers.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("tool `dotted.name` of MCP server `py`")
                && w.contains("collides with tool `dotted_name`")),
        "{warnings:?}"
    );
    assert_eq!(s.text(&renamed.name, "").await, "dotted");
    assert_eq!(s.text("mcp__py__dotted_name", "").await, "underscored");

    assert_eq!(
        s.text("mcp__py__echo", r#"{"text":"héllo"}"#).await,
        "héllo"
    );
    assert_eq!(s.text("mcp__py__add", r#"{"a":40,"b":2}"#).await, "42");
    s.servers.shutdown().await;
}

#[tokio::test]
async fn results_errors_and_protocol_errors() {
    let config = McpServerConfig {
        max_output_kb: 4,
        ..py_server()
    };
    let s = start(vec![("py", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);

    // Structured content without any text block: shown as JSON.
    assert_eq!(
        s.text("mcp__py__structured_only", "{}").await,
        r#"{"temperature":21.5,"unit":"C"}"#
    );
    assert_eq!(
        s.text("mcp__py__beep", "{}").await,
        "[audio: audio/wav, 44 bytes]"
    );

    // The tool failed: a result the model sees as an error.
    let failed = s
        .servers
        .call("mcp__py__fail", r#"{"message":"the disk is full"}"#)
        .await
        .expect("a result");
    assert!(failed.is_error);
    assert!(failed.text.contains("the disk is full"), "{}", failed.text);

    // The server refused the request: a JSON-RPC error, not a result.
    let err = s
        .servers
        .call("mcp__py__protocol_error", "{}")
        .await
        .expect_err("protocol error");
    assert_eq!(
        err,
        McpError::Protocol {
            server: "py".into(),
            tool: "protocol_error".into(),
            code: -32602,
            message: "protocol_error always refuses".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "MCP server `py` refused the call of `protocol_error`: protocol_error always refuses \
         (JSON-RPC error -32602)"
    );

    // Output past max_output_kb is cut with a note.
    let big = s.text("mcp__py__big", r#"{"size":100000}"#).await;
    assert!(big.len() <= 4096, "{}", big.len());
    assert!(
        big.ends_with("of 100000 bytes shown]"),
        "{}",
        &big[big.len() - 60..]
    );
    s.servers.shutdown().await;
}

async fn cancelled_tags(s: &crate::support::Started) -> String {
    s.text("mcp__py__cancelled", "{}").await
}

#[tokio::test]
async fn timeouts_and_dropped_calls_send_cancellation() {
    let config = McpServerConfig {
        timeout_secs: 2,
        ..py_server()
    };
    let s = start(vec![("py", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);

    // Calls to one server run side by side.
    let started = Instant::now();
    let calls = (0..4).map(|i| {
        let servers = s.servers.clone();
        async move {
            servers
                .call("mcp__py__slow", &format!(r#"{{"seconds":1,"tag":"p{i}"}}"#))
                .await
        }
    });
    for result in futures_util::future::join_all(calls).await {
        assert_eq!(result.expect("answered").text, "slept 1.0 s");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let err = s
        .servers
        .call("mcp__py__slow", r#"{"seconds":30,"tag":"timed-out"}"#)
        .await
        .expect_err("times out");
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The server was told (notifications/cancelled) and stopped the work.
    let seen = eventually(Duration::from_secs(5), async || {
        let tags = cancelled_tags(&s).await;
        tags.contains("timed-out").then_some(tags)
    })
    .await;
    assert!(seen.is_some(), "the server never saw the cancellation");

    // A call whose future is dropped by the caller is cancelled too.
    let servers = s.servers.clone();
    let call = tokio::spawn(async move {
        servers
            .call("mcp__py__slow", r#"{"seconds":30,"tag":"dropped"}"#)
            .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    call.abort();
    let seen = eventually(Duration::from_secs(5), async || {
        let tags = cancelled_tags(&s).await;
        tags.contains("dropped").then_some(tags)
    })
    .await;
    assert!(
        seen.is_some(),
        "the server never saw the dropped call's cancellation"
    );
    s.servers.shutdown().await;
}

#[tokio::test]
async fn the_child_sees_only_its_listed_environment() {
    // SAFETY: nextest runs each test in its own process, and nothing else in this process
    // reads or writes the environment concurrently at this point.
    unsafe {
        std::env::set_var("CHITIN_MCP_TEST_LEAK", "this must not reach the server");
    }
    let config = McpServerConfig {
        env: BTreeMap::from([("PLAIN".to_string(), "abc".to_string())]),
        env_secrets: BTreeMap::from([("API_TOKEN".to_string(), "api-token".to_string())]),
        ..py_server()
    };
    let s = start(vec![("py", config)], &[("api-token", "s3cret-value-123")]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let info = |name: &'static str| {
        let s = &s;
        async move {
            s.text("mcp__py__env_info", &format!(r#"{{"name":"{name}"}}"#))
                .await
        }
    };
    let leak = info("CHITIN_MCP_TEST_LEAK").await;
    assert!(
        leak.contains(r#""set": false"#) || leak.contains(r#""set":false"#),
        "{leak}"
    );
    let secret = info("API_TOKEN").await;
    assert!(secret.contains("true") && secret.contains("16"), "{secret}");
    assert!(!secret.contains("s3cret"), "{secret}");
    let plain = info("PLAIN").await;
    assert!(
        plain.contains("true") && plain.contains(": 3") || plain.contains(":3"),
        "{plain}"
    );
    assert!(info("PATH").await.contains("true"));
    for absent in ["CARGO", "RUST_LOG", "USER", "CARGO_MANIFEST_DIR"] {
        let text = info(absent).await;
        assert!(text.contains("false"), "{absent}: {text}");
    }
    // A tool echoing a secret value hands the model the redaction marker instead.
    let echoed = s
        .text("mcp__py__echo", r#"{"text":"token=s3cret-value-123"}"#)
        .await;
    assert_eq!(echoed, "token=[REDACTED:api-token]");
    s.servers.shutdown().await;
}

#[tokio::test]
async fn a_missing_env_secret_is_a_clear_start_error() {
    let config = McpServerConfig {
        env_secrets: BTreeMap::from([("API_TOKEN".to_string(), "not-set".to_string())]),
        ..py_server()
    };
    let s = start(vec![("py", config)], &[]).await;
    assert_eq!(s.errors.len(), 1);
    assert_eq!(
        s.errors[0].to_string(),
        "MCP server `py` did not start: secret `not-set` (for the variable API_TOKEN in \
         env_secrets) is not set; run `chitin secrets set not-set`"
    );
}

async fn pid_of(s: &crate::support::Started) -> u32 {
    s.text("mcp__py__pid", "{}")
        .await
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn a_crashed_server_is_restarted_once() {
    let s = start(vec![("py", py_server())], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let first = pid_of(&s).await;
    assert_eq!(s.servers.servers()[0].pid, Some(first));

    // The call that crashes it fails, naming the exit status and the last stderr line.
    let err = s
        .servers
        .call("mcp__py__crash", r#"{"code":3}"#)
        .await
        .expect_err("crashed");
    let text = err.to_string();
    assert!(matches!(err, McpError::Transport { .. }), "{text}");
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(text.contains("crashing on purpose"), "{text}");
    assert!(!s.servers.servers()[0].running);

    // The next call starts it again.
    let second = pid_of(&s).await;
    assert_ne!(first, second);
    assert!(!process_exists(first));

    // Killed from outside: restarted at the next call as well (a call was answered since
    // the last restart).
    unsafe {
        libc_kill(second);
    }
    let third = eventually(Duration::from_secs(5), async || {
        s.servers.call("mcp__py__pid", "{}").await.ok()
    })
    .await
    .expect("restarted after kill -9");
    assert_ne!(third.text.trim(), second.to_string());

    // Crashing again right after a restart (no answered call in between) is not restarted a
    // second time.
    let _ = s.servers.call("mcp__py__crash", r#"{"code":4}"#).await;
    let err = s
        .servers
        .call("mcp__py__crash", r#"{"code":5}"#)
        .await
        .expect_err("restarted, then crashed again");
    assert!(err.to_string().contains("exited with status 5"), "{err}");
    let err = s
        .servers
        .call("mcp__py__echo", r#"{"text":"x"}"#)
        .await
        .expect_err("not restarted twice in a row");
    let text = err.to_string();
    assert!(matches!(err, McpError::Unavailable { .. }), "{text}");
    assert!(
        text.contains("stopped again right after being restarted")
            && text.contains("exited with status 5"),
        "{text}"
    );
    let status = &s.servers.servers()[0];
    assert!(!status.running);
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("fix the server")),
        "{status:?}"
    );

    // The operator restarts it.
    s.servers.restart("py").await.expect("restart");
    assert_eq!(s.text("mcp__py__echo", r#"{"text":"back"}"#).await, "back");
    s.servers.shutdown().await;
}

/// SIGKILL to one process.
unsafe fn libc_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_process() {
    let s = start(vec![("py", py_server())], &[]).await;
    let pid = pid_of(&s).await;
    assert!(process_exists(pid));
    s.servers.shutdown().await;
    assert!(!process_exists(pid), "still running after shutdown");
    let err = s
        .servers
        .call("mcp__py__pid", "{}")
        .await
        .expect_err("shut down");
    assert!(matches!(err, McpError::UnknownTool(_)), "{err}");

    let s = start(vec![("py", py_server())], &[]).await;
    let pid = pid_of(&s).await;
    drop(s);
    let gone = eventually(Duration::from_secs(5), async || {
        (!process_exists(pid)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "still running after the handle was dropped");
}

async fn added_tool_appears(mode: ProtocolMode, era: &str, tool: &str) {
    let config = McpServerConfig {
        protocol: mode,
        ..py_server()
    };
    let s = start(vec![("py", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        s.servers.servers()[0].protocol_version.as_deref(),
        Some(era)
    );
    let mut changes = s.servers.changes();
    let name = format!("mcp__py__{tool}");
    assert!(!s.tool_names().contains(&name));
    s.text("mcp__py__add_tool", &format!(r#"{{"name":"{tool}"}}"#))
        .await;
    let listed = eventually(Duration::from_secs(10), async || {
        s.tool_names().contains(&name).then_some(())
    })
    .await;
    assert!(
        listed.is_some(),
        "{name} never appeared: {:?}",
        s.tool_names()
    );
    assert!(
        changes.has_changed().expect("open"),
        "changes() was not bumped"
    );
    changes.mark_unchanged();
    assert_eq!(s.text(&name, "{}").await, format!("hello from {tool}"));
    s.servers.shutdown().await;
}

#[tokio::test]
async fn list_changed_is_followed_over_a_2026_subscription() {
    added_tool_appears(ProtocolMode::Auto, "2026-07-28", "late_tool").await;
}

#[tokio::test]
async fn list_changed_is_followed_on_a_legacy_session() {
    added_tool_appears(ProtocolMode::Legacy, "2025-11-25", "legacy_tool").await;
}
