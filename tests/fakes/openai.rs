//! `FakeOpenAi`: OpenAI Chat Completions (`POST /v1/chat/completions`), streamed as SSE
//! (`data: {chunk}\n\n` … `data: [DONE]\n\n`), errors as `{"error": {message, type, param, code}}`
//! with `retry-after` / `x-ratelimit-*` headers on 429.

use serde_json::{Value, json};

use super::{FakeServer, Recorded, Reply, Responder, sse_data};

pub struct FakeOpenAi {
    pub server: FakeServer,
}

/// Tool-call fragments in the order the fake streams them: (index, id and name for the first
/// fragment of a call, arguments fragment).
pub type ToolFragment = (u32, Option<(&'static str, &'static str)>, &'static str);

impl FakeOpenAi {
    pub async fn start(script: Vec<Responder>) -> FakeOpenAi {
        FakeOpenAi {
            server: FakeServer::start(script).await,
        }
    }

    /// The base URL an operator would configure (`…/v1`).
    pub fn base_url(&self) -> String {
        self.server.url("/v1")
    }

    fn chunk(delta: Value, finish: Option<&str>) -> String {
        sse_data(
            &json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_790_000_000,
                "model": "gpt-fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
            .to_string(),
            "\n",
        )
    }

    fn usage_chunk(prompt: u32, completion: u32, cached: u32) -> String {
        sse_data(
            &json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_790_000_000,
                "model": "gpt-fake",
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            })
            .to_string(),
            "\n",
        )
    }

    fn done() -> String {
        sse_data("[DONE]", "\n")
    }

    /// Text streamed in `pieces`, `finish_reason: "stop"`, the usage-only final chunk and
    /// `[DONE]`, with a keep-alive comment in between, cut into 7-byte HTTP chunks.
    pub fn text(pieces: &[&str], prompt: u32, completion: u32, cached: u32) -> Reply {
        let mut frames = vec![
            ": keep-alive\n\n".to_string(),
            Self::chunk(json!({"role": "assistant", "content": ""}), None),
        ];
        frames.extend(
            pieces
                .iter()
                .map(|p| Self::chunk(json!({"content": p}), None)),
        );
        frames.push(Self::chunk(json!({}), Some("stop")));
        frames.push(Self::usage_chunk(prompt, completion, cached));
        frames.push(Self::done());
        Reply::stream("text/event-stream; charset=utf-8", &frames, 7)
    }

    /// Text chunks only: no finish reason, no usage, no `[DONE]` (a stream that broke off;
    /// combine with [`Reply::cut_off`] for a reset connection).
    pub fn partial(pieces: &[&str]) -> Reply {
        let frames: Vec<String> = pieces
            .iter()
            .map(|p| Self::chunk(json!({"content": p}), None))
            .collect();
        Reply::stream("text/event-stream", &frames, 16)
    }

    /// Tool calls streamed as fragments (id and name only in the first of each call), ending
    /// with `finish_reason` `finish` (real servers say "tool_calls"; some lie with "stop").
    pub fn tool_calls(fragments: &[ToolFragment], finish: &str) -> Reply {
        let mut frames = vec![Self::chunk(
            json!({"role": "assistant", "content": null}),
            None,
        )];
        for (index, head, args) in fragments {
            let mut call = json!({"index": index, "function": {"arguments": args}});
            if let Some((id, name)) = head {
                call["id"] = json!(id);
                call["type"] = json!("function");
                call["function"]["name"] = json!(name);
            }
            frames.push(Self::chunk(json!({"tool_calls": [call]}), None));
        }
        frames.push(Self::chunk(json!({}), Some(finish)));
        frames.push(Self::usage_chunk(12, 30, 0));
        frames.push(Self::done());
        Reply::stream("text/event-stream", &frames, 11)
    }

    /// Some text, then an error chunk after the 200 (how OpenAI and OpenRouter report a failure
    /// mid-stream), and the connection ends.
    pub fn error_mid_stream(text: &str, message: &str) -> Reply {
        let frames = vec![
            Self::chunk(json!({"role": "assistant", "content": text}), None),
            sse_data(
                &json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
                    .to_string(),
                "\n",
            ),
        ];
        Reply::stream("text/event-stream", &frames, 64)
    }

    /// An error response in OpenAI's shape.
    pub fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
        .header("x-request-id", "req_fake")
    }

    /// 429 with `retry-after` (seconds) and the `x-ratelimit-*` headers.
    pub fn rate_limited(retry_after_secs: u32) -> Reply {
        Self::error(
            429,
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for gpt-fake on requests per min (RPM): Limit 3, Used 3, Requested 1.",
        )
        .header("retry-after", &retry_after_secs.to_string())
        .header("x-ratelimit-limit-requests", "3")
        .header("x-ratelimit-remaining-requests", "0")
        .header("x-ratelimit-reset-requests", "20s")
        .header("x-ratelimit-limit-tokens", "40000")
        .header("x-ratelimit-remaining-tokens", "39000")
        .header("x-ratelimit-reset-tokens", "1.5s")
    }

    /// 429 with only the `x-ratelimit-*` headers (no `retry-after`).
    pub fn rate_limited_reset_headers() -> Reply {
        Self::error(
            429,
            "tokens",
            Some("rate_limit_exceeded"),
            "Rate limit reached",
        )
        .header("x-ratelimit-remaining-requests", "10")
        .header("x-ratelimit-reset-requests", "1s")
        .header("x-ratelimit-remaining-tokens", "0")
        .header("x-ratelimit-reset-tokens", "6m0s")
    }

    /// Streams back the value of a request header as text (to show what the server received).
    pub fn echo_header(name: &'static str) -> Responder {
        Box::new(move |req: &Recorded| {
            let value = req.header(name).unwrap_or("<none>").to_string();
            Self::text(&["received: ", &value], 1, 1, 0)
        })
    }
}
