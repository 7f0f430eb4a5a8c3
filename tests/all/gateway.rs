//! `chitin gateway`: the OpenAI-compatible API driven by the unmodified `openai` Python client,
//! token auth, the bind rule, and graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::{plugin_path, python, repo_root};
use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;

pub const TOKEN: &str = "gw-test-token-0123456789";

pub struct Gateway {
    pub child: Child,
    pub url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(home: &Path, provider_port: u16) {
    std::fs::write(
        home.join("chitin.toml"),
        format!(
            r#"
[gateway]
token = "${{CHITIN_GATEWAY_TOKEN}}"

[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:{provider_port}"]

[providers.fake]
plugin = "openai"
base_url = "http://127.0.0.1:{provider_port}/v1"
[providers.fake.models.gpt-fake]
context_window = 16000

[agents.main]
model = "fake/gpt-fake"
"#,
            openai = plugin_path("openai").display()
        ),
    )
    .unwrap();
}

/// Starts `chitin gateway --port 0` on `home` (token TOKEN) and waits for its listening line.
pub fn start(home: &Path) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["gateway", "--port", "0"])
        .env("CHITIN_HOME", home)
        .env("CHITIN_GATEWAY_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(url) = line.trim().strip_prefix("chitin gateway listening on ") else {
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("the gateway did not start: {line}{stderr}");
    };
    Gateway {
        url: url.to_string(),
        child,
    }
}

/// One raw HTTP/1.1 request; returns the whole response text.
fn raw(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmodified_openai_client_works_streamed_and_not() {
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::text(&["Hello, ", "Alice."], 20, 3, 0)),
        fixed(FakeOpenAi::text(&["Hello ", "once ", "more."], 30, 3, 0)),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), fake.server.port());
    let gateway = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || start(&home)
    })
    .await
    .unwrap();
    let url = gateway.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(repo_root().join("tests/support/openai_client.py"))
            .args([format!("{url}/v1"), TOKEN.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["models"], serde_json::json!(["main"]));
    assert_eq!(seen["plain"], "Hello, Alice.");
    assert_eq!(seen["plain_finish"], "stop");
    assert_eq!(
        seen["plain_usage"],
        serde_json::json!([20, 3]),
        "usage as the provider reported it"
    );
    assert_eq!(
        seen["stream_pieces"],
        serde_json::json!(["Hello ", "once ", "more."])
    );
    assert_eq!(seen["unknown_model"], 404);
    assert_eq!(seen["wrong_key"], 401);
    // Both requests went to one session (the `user`), so the second turn saw the first.
    let second = fake.server.requests()[1].json();
    let contents: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(contents.contains(&"Say hello."), "{contents:?}");
    assert!(contents.contains(&"Hello, Alice."), "{contents:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_the_token_and_health_does_not() {
    let fake = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), fake.server.port());
    let url = {
        let home = home.path().to_path_buf();
        tokio::task::spawn_blocking(move || start(&home))
            .await
            .unwrap()
    };
    let base = url.url.clone();
    let (health, ready, unauthenticated, wrong, authorized, bad_json) = tokio::task::spawn_blocking(move || {
        let get = |path: &str, auth: Option<&str>| {
            let auth = auth.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
            raw(&base, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"))
        };
        let bad_json = raw(
            &base,
            &format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{{\"model\":"
            ),
        );
        (
            get("/healthz", None),
            get("/readyz", None),
            get("/v1/models", None),
            get("/v1/models", Some("nope")),
            get("/v1/models", Some(TOKEN)),
            bad_json,
        )
    })
    .await
    .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        unauthenticated.starts_with("HTTP/1.1 401"),
        "{unauthenticated}"
    );
    assert!(
        unauthenticated.contains("invalid_api_key"),
        "{unauthenticated}"
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(authorized.starts_with("HTTP/1.1 200"), "{authorized}");
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    assert!(bad_json.contains("invalid_request_error"), "{bad_json}");
    drop(url);
}

#[test]
fn a_public_bind_without_a_token_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["gateway", "--bind", "0.0.0.0", "--port", "0"])
        .env("CHITIN_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0 without a token"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_gateway_cleanly() {
    let fake = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), fake.server.port());
    let mut gateway = {
        let home = home.path().to_path_buf();
        tokio::task::spawn_blocking(move || start(&home))
            .await
            .unwrap()
    };
    let pid = gateway.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = gateway.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    gateway
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("chitin gateway stopped"), "{stderr}");
}

/// A gateway (token TOKEN) whose agent `main` talks to a fake OpenAI server on
/// `provider_port` and may call the `echo` tool only with an operator's approval. `extra` is
/// added to `[gateway]`.
pub fn write_approval_config(home: &Path, provider_port: u16, extra: &str) {
    std::fs::write(
        home.join("chitin.toml"),
        format!(
            r#"# the test's gateway
[gateway]
token = "${{CHITIN_GATEWAY_TOKEN}}"
{extra}

[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:{provider_port}"]

[plugins.echo]
path = "{echo}"

[providers.fake]
plugin = "openai"
base_url = "http://127.0.0.1:{provider_port}/v1"
[providers.fake.models.gpt-fake]
context_window = 16000

[agents.main]
model = "fake/gpt-fake"
require_approval = ["echo"]
"#,
            openai = plugin_path("openai").display(),
            echo = plugin_path("echo").display(),
        ),
    )
    .unwrap();
}

/// The fake model asking for `echo` with `text`.
pub fn echo_call(text: &str) -> crate::fakes::Reply {
    let args: &'static str = Box::leak(format!(r#"{{"text":"{text}"}}"#).into_boxed_str());
    FakeOpenAi::tool_calls(&[(0, Some(("call_1", "echo")), args)], "tool_calls")
}
