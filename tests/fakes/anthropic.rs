//! `FakeAnthropic`: the Messages API (`POST /v1/messages`), streamed as named SSE events
//! (`message_start`, `content_block_*`, `ping`, `message_delta`, `message_stop`, `error`),
//! errors as `{"type":"error","error":{"type","message"}}` with `request-id`, `retry-after` and
//! `anthropic-ratelimit-*` headers.

use serde_json::{Value, json};

use super::{FakeServer, Reply, Responder, sse_named};

pub struct FakeAnthropic {
    pub server: FakeServer,
}

impl FakeAnthropic {
    pub async fn start(script: Vec<Responder>) -> FakeAnthropic {
        FakeAnthropic {
            server: FakeServer::start(script).await,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.url("/v1")
    }

    fn message_start() -> String {
        sse_named(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                "model": "claude-fake", "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 1024, "output_tokens": 2}
            }}),
        )
    }

    fn block_start(index: u32, block: Value) -> String {
        sse_named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    }

    fn block_delta(index: u32, delta: Value) -> String {
        sse_named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn block_stop(index: u32) -> String {
        sse_named(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
    }

    fn end(stop_reason: &str, output_tokens: u32) -> Vec<String> {
        vec![
            sse_named(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                        "usage": {"output_tokens": output_tokens}}),
            ),
            sse_named("message_stop", &json!({"type": "message_stop"})),
        ]
    }

    fn text_frames(pieces: &[&str]) -> Vec<String> {
        let mut frames = vec![
            Self::message_start(),
            Self::block_start(0, json!({"type": "text", "text": ""})),
            sse_named("ping", &json!({"type": "ping"})),
        ];
        frames.extend(
            pieces
                .iter()
                .map(|p| Self::block_delta(0, json!({"type": "text_delta", "text": p}))),
        );
        frames
    }

    /// A thinking block (with its signature), then text in `pieces`, `end_turn`.
    pub fn text(thinking: &str, pieces: &[&str]) -> Reply {
        let mut frames = vec![
            Self::message_start(),
            Self::block_start(0, json!({"type": "thinking", "thinking": ""})),
            Self::block_delta(0, json!({"type": "thinking_delta", "thinking": thinking})),
            Self::block_delta(
                0,
                json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
            ),
            Self::block_stop(0),
            Self::block_start(1, json!({"type": "text", "text": ""})),
        ];
        frames.extend(
            pieces
                .iter()
                .map(|p| Self::block_delta(1, json!({"type": "text_delta", "text": p}))),
        );
        frames.push(Self::block_stop(1));
        frames.extend(Self::end("end_turn", 15));
        Reply::stream("text/event-stream; charset=utf-8", &frames, 13)
            .header("request-id", "req_fake")
    }

    /// Text, then a `tool_use` block whose input streams as `input_json_delta` fragments;
    /// `stop_reason: tool_use`.
    pub fn tool_use(text: &str, id: &str, name: &str, fragments: &[&str]) -> Reply {
        let mut frames = Self::text_frames(&[text]);
        frames.push(Self::block_stop(0));
        frames.push(Self::block_start(
            1,
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        ));
        frames.push(Self::block_delta(
            1,
            json!({"type": "input_json_delta", "partial_json": ""}),
        ));
        frames.extend(
            fragments.iter().map(|f| {
                Self::block_delta(1, json!({"type": "input_json_delta", "partial_json": f}))
            }),
        );
        frames.push(Self::block_stop(1));
        frames.extend(Self::end("tool_use", 40));
        Reply::stream("text/event-stream", &frames, 17)
    }

    /// Text, then an `error` event after the 200 (e.g. `overloaded_error`, `api_error`).
    pub fn error_mid_stream(text: &str, kind: &str, message: &str) -> Reply {
        let mut frames = Self::text_frames(&[text]);
        frames.push(sse_named(
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        ));
        Reply::stream("text/event-stream", &frames, 29)
    }

    /// A stream cut off before `message_stop` (the connection simply ends).
    pub fn truncated(text: &str) -> Reply {
        Reply::stream("text/event-stream", &Self::text_frames(&[text]), 40)
    }

    pub fn error(status: u16, kind: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"type": "error", "error": {"type": kind, "message": message},
                   "request_id": "req_fake"}),
        )
        .header("request-id", "req_fake")
    }

    /// 429 `rate_limit_error` with the `anthropic-ratelimit-*` headers, the output-token limit
    /// exhausted and resetting in `reset_in_secs`; with `retry_after` when given.
    pub fn rate_limited(reset_in_secs: u64, retry_after: Option<u32>) -> Reply {
        let mut reply = Self::error(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 8,000 output tokens per minute.",
        )
        .header("anthropic-ratelimit-requests-limit", "50")
        .header("anthropic-ratelimit-requests-remaining", "49")
        .header("anthropic-ratelimit-requests-reset", &super::rfc3339_in(1))
        .header("anthropic-ratelimit-output-tokens-limit", "8000")
        .header("anthropic-ratelimit-output-tokens-remaining", "0")
        .header(
            "anthropic-ratelimit-output-tokens-reset",
            &super::rfc3339_in(reset_in_secs),
        );
        if let Some(secs) = retry_after {
            reply = reply.header("retry-after", &secs.to_string());
        }
        reply
    }
}
