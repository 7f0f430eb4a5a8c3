//! `FakeOllama`: Ollama's native `POST /api/chat`, streamed as `application/x-ndjson` (one JSON
//! object per line, tool calls as whole objects, a last line with `done: true`), errors as
//! `{"error": "text"}`, including a line like that after the 200.

use serde_json::{Value, json};

use super::{FakeServer, Reply, Responder};

pub struct FakeOllama {
    pub server: FakeServer,
}

impl FakeOllama {
    pub async fn start(script: Vec<Responder>) -> FakeOllama {
        FakeOllama {
            server: FakeServer::start(script).await,
        }
    }

    /// The server root, as configured (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    fn line(message: Value, done: bool) -> String {
        format!(
            "{}\n",
            json!({"model": "llama-fake", "created_at": "2026-11-21T10:00:00.000Z",
                   "message": message, "done": done})
        )
    }

    fn done_line(reason: &str) -> String {
        format!(
            "{}\n",
            json!({"model": "llama-fake", "created_at": "2026-11-21T10:00:01.000Z",
                   "message": {"role": "assistant", "content": ""},
                   "done": true, "done_reason": reason,
                   "total_duration": 5_000_000, "load_duration": 1_000_000,
                   "prompt_eval_count": 26, "prompt_eval_duration": 100_000,
                   "eval_count": 9, "eval_duration": 200_000})
        )
    }

    fn reply(lines: &[String]) -> Reply {
        Reply::stream("application/x-ndjson", lines, 9)
    }

    /// Text in `pieces`, then the done line.
    pub fn text(pieces: &[&str]) -> Reply {
        let mut lines: Vec<String> = pieces
            .iter()
            .map(|p| Self::line(json!({"role": "assistant", "content": p}), false))
            .collect();
        lines.push(Self::done_line("stop"));
        Self::reply(&lines)
    }

    /// Whole tool calls in one message (how Ollama sends them), then `done_reason: "stop"`.
    pub fn tool_calls(calls: &[(&str, Value)]) -> Reply {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| json!({"function": {"index": i, "name": name, "arguments": args}}))
            .collect();
        Self::reply(&[
            Self::line(
                json!({"role": "assistant", "content": "", "tool_calls": calls}),
                false,
            ),
            Self::done_line("stop"),
        ])
    }

    /// Text, then an `{"error": ...}` line after the 200.
    pub fn error_mid_stream(text: &str, message: &str) -> Reply {
        Self::reply(&[
            Self::line(json!({"role": "assistant", "content": text}), false),
            format!("{}\n", json!({"error": message})),
        ])
    }

    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, json!({"error": message}))
    }
}
