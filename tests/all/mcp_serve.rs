//! Chitin as an MCP server, driven by the unmodified MCP client from PyPI: `chitin mcp serve`
//! over stdio, and the gateway's `/mcp` over Streamable HTTP behind its token. Tools run in
//! their sandbox: a hostile plugin's endless loop comes back as a tool error, not a hang.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{plugin_path, python, repo_root};
use crate::gateway::{TOKEN, start};

fn write_config(home: &Path) {
    std::fs::write(
        home.join("chitin.toml"),
        format!(
            r#"
[gateway]
token = "${{CHITIN_GATEWAY_TOKEN}}"

[plugins.echo]
path = "{echo}"

[plugins.hostile]
path = "{hostile}"
[plugins.hostile.grant.budgets]
timeout_ms = 500

[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:9"]

# An agent is configured because the gateway needs one; no model is called here.
[providers.none]
plugin = "openai"
base_url = "http://127.0.0.1:9/v1"
[providers.none.models.m]
context_window = 1000

[agents.main]
model = "none/m"
"#,
            echo = plugin_path("echo").display(),
            hostile = plugin_path("hostile").display(),
            openai = plugin_path("openai").display(),
        ),
    )
    .unwrap();
}

fn client(args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/support/mcp_client.py"))
        .args(args)
        .env("CHITIN_GATEWAY_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(seen: &Value) {
    assert_eq!(seen["server"], "chitin");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"echo") && tools.contains(&"spin"),
        "{tools:?}"
    );
    // Only sandboxed plugin tools: no native, exec or memory tools.
    for native in ["memory_write", "exec", "sessions_send", "read_skill"] {
        assert!(!tools.contains(&native), "{native} offered: {tools:?}");
    }
    assert_eq!(seen["schemas"]["echo"]["required"][0], "text");
    assert_eq!(seen["echo"]["is_error"], false);
    assert_eq!(seen["echo"]["text"][0], "through MCP");
    assert_eq!(seen["bad_args"]["is_error"], true);
    assert!(
        seen["bad_args"]["text"][0]
            .as_str()
            .unwrap()
            .contains("invalid arguments"),
        "{seen}"
    );
    // The sandbox stops the loop at its time budget; the caller gets a tool error.
    assert_eq!(seen["spin"]["is_error"], true, "{seen}");
    let spin = seen["spin"]["text"][0].as_str().unwrap();
    assert!(
        spin.contains("time limit") || spin.contains("fuel"),
        "{spin}"
    );
    assert!(
        seen["unknown"].as_str().unwrap().contains("no_such_tool"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_clients_use_the_sandboxed_tools_over_stdio() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path());
    let home_dir = home.path().display().to_string();
    let seen = tokio::task::spawn_blocking(move || {
        client(&["stdio", env!("CARGO_BIN_EXE_chitin"), &home_dir])
    })
    .await
    .unwrap();
    check(&seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_clients_use_the_sandboxed_tools_over_http_with_the_token() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path());
    let path = home.path().to_path_buf();
    let gateway = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();
    let url = format!("{}/mcp", gateway.url);
    let seen = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || client(&["http", &url, TOKEN]))
            .await
            .unwrap()
    };
    check(&seen);
    // Without the token: 401 before any MCP is spoken.
    let addr = gateway.url.trim_start_matches("http://").to_string();
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        write!(
            stream,
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
}
