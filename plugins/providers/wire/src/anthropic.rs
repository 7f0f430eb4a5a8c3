//! Anthropic Messages (`POST {base}/messages`, `stream: true`).
//!
//! The stream is typed events: `message_start` (input usage), `content_block_start` /
//! `content_block_delta` / `content_block_stop` per block (text, `tool_use` whose input arrives
//! as `input_json_delta` fragments, `thinking` with a closing `signature_delta`,
//! `redacted_thinking`), `message_delta` (stop reason, cumulative output usage), `message_stop`,
//! `ping`, and `error`, which can come after HTTP 200 (e.g. `overloaded_error`).
//!
//! Thinking blocks must be echoed back, signed, on the next turn: they travel in the
//! completion's `provider_data` as `{"anthropic_thinking": [blocks]}` and are put back in front
//! of the assistant message that carries them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::sse::{SseEvent, SseParser};
use crate::{
    API_KEY_PLACEHOLDER, ChatRequest, Completion, FinishReason, HttpCall, ProviderError, Role,
    StreamDecoder, StreamEvent, ToolCallBuilder, Usage, arguments_object, classify_stream_error,
    join_url, merge_options, parse_schema, reconcile_finish, u32_of,
};

pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; used when the request leaves it open.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;
const THINKING_KEY: &str = "anthropic_thinking";

/// The request for `req`; `with_key` adds `x-api-key: {{secret:API_KEY}}`.
pub fn build_request(req: &ChatRequest, with_key: bool) -> Result<HttpCall, ProviderError> {
    let url = join_url(&req.base_url, "messages")?;
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.is_empty())
        .map(|m| m.content.as_str())
        .collect();
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", text_block(&m.content)),
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                })],
            ),
            Role::Assistant => {
                let mut blocks = thinking_blocks(m.provider_data.as_deref());
                blocks.extend(text_block(&m.content));
                blocks.extend(m.tool_calls.iter().map(|c| {
                    json!({
                        "type": "tool_use",
                        "id": c.id,
                        "name": c.name,
                        "input": arguments_object(&c.arguments),
                    })
                }));
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        // The API wants alternating turns, and all results of one tool round in one user turn.
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|tool| {
                Ok(json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": parse_schema(tool)?,
                }))
            })
            .collect::<Result<Vec<Value>, ProviderError>>()?;
        body["tools"] = Value::Array(tools);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    merge_options(&mut body, &req.options)?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
        ("anthropic-version".to_string(), API_VERSION.to_string()),
    ];
    if with_key {
        headers.push(("x-api-key".to_string(), API_KEY_PLACEHOLDER.to_string()));
    }
    Ok(HttpCall {
        url,
        headers,
        body: body.to_string().into_bytes(),
    })
}

/// The API refuses empty text blocks.
fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

fn thinking_blocks(provider_data: Option<&str>) -> Vec<Value> {
    provider_data
        .and_then(|data| serde_json::from_str::<Value>(data).ok())
        .and_then(|mut v| v.get_mut(THINKING_KEY).map(Value::take))
        .and_then(|v| match v {
            Value::Array(blocks) => Some(blocks),
            _ => None,
        })
        .unwrap_or_default()
}

#[derive(Debug)]
enum Block {
    Text,
    Tool(u32),
    Thinking { thinking: String, signature: String },
    Redacted(String),
    Other,
}

/// Decodes a Messages event stream.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseParser,
    text: String,
    blocks: BTreeMap<u64, Block>,
    calls: ToolCallBuilder,
    thinking: Vec<Value>,
    usage: Option<Usage>,
    stop_reason: Option<FinishReason>,
    stopped: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        if self.stopped {
            return Ok(());
        }
        let value: Value = serde_json::from_str(&event.data).map_err(|err| {
            ProviderError::Transient(format!("unreadable event in the response stream: {err}"))
        })?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                if let Some(usage) = value.pointer("/message/usage") {
                    self.update_usage(usage);
                }
            }
            "content_block_start" => {
                let block = value.get("content_block").unwrap_or(&Value::Null);
                let state = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(text) = block.get("text").and_then(Value::as_str) {
                            self.push_text(text, out);
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        let tool_index = self.calls.len() as u32;
                        out.push(self.calls.delta(
                            tool_index,
                            block.get("id").and_then(Value::as_str),
                            block.get("name").and_then(Value::as_str),
                            "",
                        ));
                        Block::Tool(tool_index)
                    }
                    Some("thinking") => Block::Thinking {
                        thinking: String::new(),
                        signature: String::new(),
                    },
                    Some("redacted_thinking") => Block::Redacted(
                        block
                            .get("data")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ),
                    _ => Block::Other,
                };
                self.blocks.insert(index, state);
            }
            "content_block_delta" => {
                let delta = value.get("delta").unwrap_or(&Value::Null);
                let str_of = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or("");
                match delta.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => self.push_text(str_of("text"), out),
                    "input_json_delta" => {
                        let fragment = str_of("partial_json");
                        if let Some(Block::Tool(tool_index)) = self.blocks.get(&index)
                            && !fragment.is_empty()
                        {
                            let tool_index = *tool_index;
                            out.push(self.calls.delta(tool_index, None, None, fragment));
                        }
                    }
                    "thinking_delta" => {
                        let text = str_of("thinking");
                        if let Some(Block::Thinking { thinking, .. }) = self.blocks.get_mut(&index)
                        {
                            thinking.push_str(text);
                        }
                        if !text.is_empty() {
                            out.push(StreamEvent::ThinkingDelta(text.to_string()));
                        }
                    }
                    "signature_delta" => {
                        if let Some(Block::Thinking { signature, .. }) = self.blocks.get_mut(&index)
                        {
                            signature.push_str(str_of("signature"));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => match self.blocks.remove(&index) {
                Some(Block::Thinking {
                    thinking,
                    signature,
                }) => self.thinking.push(json!({
                    "type": "thinking",
                    "thinking": thinking,
                    "signature": signature,
                })),
                Some(Block::Redacted(data)) => self
                    .thinking
                    .push(json!({"type": "redacted_thinking", "data": data})),
                _ => {}
            },
            "message_delta" => {
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(match reason {
                        "end_turn" | "stop_sequence" => FinishReason::Stop,
                        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
                        "tool_use" => FinishReason::ToolCalls,
                        "refusal" => FinishReason::ContentFilter,
                        _ => FinishReason::Other,
                    });
                }
                if let Some(usage) = value.get("usage") {
                    self.update_usage(usage);
                }
            }
            "message_stop" => self.stopped = true,
            "error" => return Err(classify_stream_error(&value)),
            // `ping` and event types added later.
            _ => {}
        }
        Ok(())
    }

    fn push_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.text.push_str(text);
            out.push(StreamEvent::TextDelta(text.to_string()));
        }
    }

    /// Usage fields arrive in `message_start` and again (cumulatively) in `message_delta`;
    /// a field present later replaces the earlier value.
    fn update_usage(&mut self, usage: &Value) {
        let current = self.usage.get_or_insert_with(Usage::default);
        let set = |slot: &mut u32, key: &str| {
            if usage.get(key).is_some_and(|v| !v.is_null()) {
                *slot = u32_of(usage.get(key));
            }
        };
        set(&mut current.input_tokens, "input_tokens");
        set(&mut current.output_tokens, "output_tokens");
        set(&mut current.cache_read_tokens, "cache_read_input_tokens");
        set(
            &mut current.cache_write_tokens,
            "cache_creation_input_tokens",
        );
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let items = self.sse.push(chunk);
        crate::decode_each(items, |item, out| self.on_event(item, out))
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let items = self.sse.finish();
        crate::decode_each(items, |item, out| self.on_event(item, out))
    }

    fn into_completion(self) -> Result<Completion, ProviderError> {
        if !self.stopped {
            return Err(ProviderError::Transient(
                "the response stream ended before message_stop".to_string(),
            ));
        }
        let reported = self.stop_reason.unwrap_or(FinishReason::Stop);
        let finish_reason = reconcile_finish(reported, !self.calls.is_empty());
        let provider_data =
            (!self.thinking.is_empty()).then(|| json!({ THINKING_KEY: self.thinking }).to_string());
        Ok(Completion {
            text: self.text,
            tool_calls: self.calls.finish(),
            finish_reason,
            usage: self.usage,
            provider_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolCall, ToolDefinition};

    fn sse(events: &[(&str, Value)]) -> String {
        events
            .iter()
            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
            .collect()
    }

    fn decode(input: &str, piece: usize) -> (Vec<StreamEvent>, Result<Completion, ProviderError>) {
        let mut d = Decoder::new();
        let mut events = Vec::new();
        for chunk in input.as_bytes().chunks(piece) {
            match d.feed(chunk) {
                Ok(e) => events.extend(e),
                Err(err) => return (events, Err(err)),
            }
        }
        match d.end() {
            Ok(e) => events.extend(e),
            Err(err) => return (events, Err(err)),
        }
        (events, d.into_completion())
    }

    #[test]
    fn builds_the_request() {
        let mut assistant = Message::new(Role::Assistant, "Let me check.");
        assistant.provider_data = Some(
            json!({"anthropic_thinking": [{"type":"thinking","thinking":"t","signature":"s"}]})
                .to_string(),
        );
        assistant.tool_calls = vec![
            ToolCall {
                id: "toolu_1".into(),
                name: "a".into(),
                arguments: r#"{"x":1}"#.into(),
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "b".into(),
                arguments: "{broken".into(),
            },
        ];
        let mut r1 = Message::new(Role::Tool, "one");
        r1.tool_call_id = Some("toolu_1".into());
        let mut r2 = Message::new(Role::Tool, "two");
        r2.tool_call_id = Some("toolu_2".into());
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::new(Role::System, "sys"),
                Message::new(Role::User, "hi"),
                assistant,
                r1,
                r2,
                Message::new(Role::User, "and?"),
            ],
            tools: vec![ToolDefinition {
                name: "a".into(),
                description: "A".into(),
                parameters_schema: r#"{"type":"object"}"#.into(),
            }],
            max_tokens: None,
            temperature: None,
            base_url: "https://api.anthropic.com/v1".into(),
            options: r#"{"thinking":{"type":"enabled","budget_tokens":2048}}"#.into(),
        };
        let call = build_request(&req, true).unwrap();
        assert_eq!(call.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(call.header("x-api-key"), Some("{{secret:API_KEY}}"));
        assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
        let body = call.json();
        assert_eq!(body["system"], "sys");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["thinking"]["budget_tokens"], 2048);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        let assistant = &messages[1]["content"];
        assert_eq!(assistant[0]["type"], "thinking");
        assert_eq!(assistant[1]["text"], "Let me check.");
        assert_eq!(assistant[2]["input"], json!({"x": 1}));
        assert_eq!(assistant[3]["input"], json!({"invalid_json": "{broken"}));
        let user = &messages[2]["content"];
        assert_eq!(user[0]["type"], "tool_result");
        assert_eq!(user[1]["tool_use_id"], "toolu_2");
        assert_eq!(user[2]["text"], "and?");
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(
            build_request(&req, false).unwrap().header("x-api-key"),
            None
        );
    }

    fn full_stream() -> String {
        sse(&[
            (
                "message_start",
                json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":100,"cache_creation_input_tokens":7,"output_tokens":1}}}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig=="}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":0}),
            ),
            ("ping", json!({"type":"ping"})),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking"}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":1}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":2}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_02","name":"now","input":{}}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":3}),
            ),
            (
                "message_delta",
                json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}),
            ),
            ("message_stop", json!({"type":"message_stop"})),
        ])
    }

    #[test]
    fn text_thinking_and_tool_use() {
        for piece in [1, 13, 4096] {
            let (events, completion) = decode(&full_stream(), piece);
            let c = completion.unwrap();
            assert_eq!(c.text, "Checking");
            assert_eq!(c.finish_reason, FinishReason::ToolCalls);
            assert_eq!(c.tool_calls.len(), 2);
            assert_eq!(c.tool_calls[0].id, "toolu_01");
            assert_eq!(c.tool_calls[0].arguments, r#"{"city": "Paris"}"#);
            assert_eq!(c.tool_calls[1].arguments, "{}");
            assert_eq!(
                c.usage,
                Some(Usage {
                    input_tokens: 25,
                    output_tokens: 89,
                    cache_read_tokens: 100,
                    cache_write_tokens: 7
                })
            );
            let data: Value = serde_json::from_str(c.provider_data.as_deref().unwrap()).unwrap();
            assert_eq!(data[THINKING_KEY][0]["signature"], "sig==");
            assert_eq!(events[0], StreamEvent::ThinkingDelta("Let me think".into()));
            assert_eq!(events[1], StreamEvent::TextDelta("Checking".into()));
            assert!(matches!(&events[2], StreamEvent::ToolCallDelta(d)
                if d.index == 0 && d.id.as_deref() == Some("toolu_01")));
            assert!(matches!(&events[5], StreamEvent::ToolCallDelta(d)
                if d.index == 1 && d.name.as_deref() == Some("now")));
        }
    }

    #[test]
    fn error_event_after_200_and_truncation() {
        let overloaded = sse(&[
            (
                "message_start",
                json!({"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}),
            ),
            (
                "error",
                json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
            ),
        ]);
        let (events, result) = decode(&overloaded, 9);
        assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
        assert_eq!(result, Err(ProviderError::Overloaded(None)));

        let truncated: String = full_stream()
            .lines()
            .take(30)
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(matches!(
            decode(&truncated, 50).1,
            Err(ProviderError::Transient(_))
        ));
    }
}
