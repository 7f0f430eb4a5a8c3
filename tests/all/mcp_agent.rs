//! An agent using MCP tools end to end through `chitin agent`: a real MCP server from npm
//! (`@modelcontextprotocol/server-everything`, over stdio) and an MCP server compiled to wasm
//! (the `calc` mcp-bridge plugin, in the sandbox), both offered as `mcp__<server>__<tool>`.

use std::process::Command;

use crate::common::{plugin_path, repo_root};
use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;

fn everything_server() -> String {
    let out = Command::new(repo_root().join("tests/support/mcp-servers.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("everything "))
        .expect("mcp-servers.sh names server-everything")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_uses_an_npm_mcp_server_and_a_wasm_one() {
    let everything = tokio::task::spawn_blocking(everything_server)
        .await
        .unwrap();
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::tool_calls(
            &[
                (0, Some(("c1", "mcp__calc__add")), r#"{"a": 2, "b": 40}"#),
                (
                    1,
                    Some(("c2", "mcp__everything__echo")),
                    r#"{"message": "hi"}"#,
                ),
                (2, Some(("c3", "mcp__calc__divide")), r#"{"a": 1, "b": 0}"#),
            ],
            "tool_calls",
        )),
        fixed(FakeOpenAi::text(&["All ", "done."], 10, 2, 0)),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("chitin.toml"),
        format!(
            r#"
[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:{port}"]

[plugins.calc]
path = "{calc}"

[mcp.everything]
command = "{everything}"
timeout_secs = 30

[providers.fake]
plugin = "openai"
base_url = "http://127.0.0.1:{port}/v1"
[providers.fake.models.m]
context_window = 16000

[agents.main]
model = "fake/m"
"#,
            openai = plugin_path("openai").display(),
            calc = plugin_path("calc").display(),
            port = fake.server.port(),
        ),
    )
    .unwrap();
    let home_dir = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(["agent", "-m", "use the tools"])
            .env("CHITIN_HOME", &home_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "All done.");

    // The tools were offered to the model under their namespaced names...
    let first = fake.server.requests()[0].json();
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for name in [
        "mcp__calc__add",
        "mcp__calc__multiply",
        "mcp__everything__echo",
    ] {
        assert!(offered.contains(&name), "{name} not in {offered:?}");
    }
    // ...and their results came back: the wasm server's, the npm server's, and a tool error.
    let second = fake.server.requests()[1].json();
    let result = |id: &str| {
        second["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "tool" && m["tool_call_id"] == id)
            .map(|m| m["content"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no result for {id}: {second}"))
    };
    assert_eq!(result("c1"), "42");
    assert!(result("c2").contains("Echo: hi"), "{}", result("c2"));
    assert!(
        result("c3").contains("division by zero"),
        "{}",
        result("c3")
    );
}
