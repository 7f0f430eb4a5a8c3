//! OpenAI Chat Completions (`POST {base}/chat/completions`, `stream: true`), which OpenRouter,
//! vLLM, llama.cpp, LM Studio and most gateways also speak.
//!
//! Stream traps handled here: tool calls arrive as fragments keyed by `index` (the id and name
//! only in the first); usage comes in a last chunk with empty `choices` (requested with
//! `stream_options.include_usage`); some servers report `finish_reason: "stop"` after streaming
//! tool calls; an error can arrive as a chunk with an `error` object after HTTP 200; the stream
//! ends with `data: [DONE]`.

use serde_json::{Value, json};

use crate::sse::{SseEvent, SseParser};
use crate::{
    API_KEY_PLACEHOLDER, ChatRequest, Completion, FinishReason, HttpCall, ProviderError, Role,
    StreamDecoder, StreamEvent, ToolCallBuilder, Usage, classify_stream_error, join_url,
    merge_options, parse_schema, reconcile_finish, u32_of,
};

/// The request for `req`; `with_key` adds `Authorization: Bearer {{secret:API_KEY}}`.
pub fn build_request(req: &ChatRequest, with_key: bool) -> Result<HttpCall, ProviderError> {
    let url = if req
        .base_url
        .trim_end_matches('/')
        .ends_with("/chat/completions")
    {
        join_url(&req.base_url, "")?
            .trim_end_matches('/')
            .to_string()
    } else {
        join_url(&req.base_url, "chat/completions")?
    };
    let messages: Vec<Value> = req.messages.iter().map(message_json).collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|tool| {
                Ok(json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": parse_schema(tool)?,
                    }
                }))
            })
            .collect::<Result<Vec<Value>, ProviderError>>()?;
        body["tools"] = Value::Array(tools);
    }
    if let Some(max) = req.max_tokens {
        // OpenAI's own API wants `max_completion_tokens` (reasoning models refuse `max_tokens`);
        // compatible servers mostly only know `max_tokens`.
        let key = if url.contains("://api.openai.com/") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[key] = json!(max);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    merge_options(&mut body, &req.options)?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
    ];
    if with_key {
        headers.push((
            "authorization".to_string(),
            format!("Bearer {API_KEY_PLACEHOLDER}"),
        ));
    }
    Ok(HttpCall {
        url,
        headers,
        body: body.to_string().into_bytes(),
    })
}

fn message_json(m: &crate::Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant => {
            let mut out = json!({"role": "assistant", "content": m.content});
            if !m.tool_calls.is_empty() {
                if m.content.is_empty() {
                    out["content"] = Value::Null;
                }
                out["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })
                    })
                    .collect();
            }
            out
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

/// Decodes a Chat Completions event stream.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseParser,
    text: String,
    calls: ToolCallBuilder,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
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
        if self.done {
            return Ok(());
        }
        if event.is_done() {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&event.data).map_err(|err| {
            ProviderError::Transient(format!("unreadable chunk in the response stream: {err}"))
        })?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(classify_stream_error(&chunk));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let prompt = u32_of(usage.get("prompt_tokens"));
            let cached = u32_of(usage.pointer("/prompt_tokens_details/cached_tokens"));
            self.usage = Some(Usage {
                input_tokens: prompt.saturating_sub(cached),
                output_tokens: u32_of(usage.get("completion_tokens")),
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            });
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            // One completion is asked for; extra choices (n > 1 via options) are ignored.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            for key in ["reasoning_content", "reasoning"] {
                if let Some(thinking) = delta.get(key).and_then(Value::as_str)
                    && !thinking.is_empty()
                {
                    out.push(StreamEvent::ThinkingDelta(thinking.to_string()));
                }
            }
            if let Some(text) = delta.get("content").and_then(Value::as_str)
                && !text.is_empty()
            {
                self.text.push_str(text);
                out.push(StreamEvent::TextDelta(text.to_string()));
            }
            let calls = delta.get("tool_calls").and_then(Value::as_array);
            for (position, call) in calls.into_iter().flatten().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .map_or(position as u32, |i| i.min(u64::from(u32::MAX)) as u32);
                let function = call.get("function").unwrap_or(&Value::Null);
                let fragment = match function.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    // A server that sends the arguments as an object rather than text.
                    Some(other) => other.to_string(),
                };
                out.push(self.calls.delta(
                    index,
                    call.get("id").and_then(Value::as_str),
                    function.get("name").and_then(Value::as_str),
                    &fragment,
                ));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(match reason {
                    "stop" => FinishReason::Stop,
                    "length" => FinishReason::Length,
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    "content_filter" => FinishReason::ContentFilter,
                    _ => FinishReason::Other,
                });
            }
        }
        Ok(())
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
        // `[DONE]` or a finish reason means the answer is complete (some servers skip one).
        let Some(reported) = self.finish.or(self.done.then_some(FinishReason::Stop)) else {
            return Err(ProviderError::Transient(
                "the response stream ended before the answer was complete".to_string(),
            ));
        };
        let finish_reason = reconcile_finish(reported, !self.calls.is_empty());
        Ok(Completion {
            text: self.text,
            tool_calls: self.calls.finish(),
            finish_reason,
            usage: self.usage,
            provider_data: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolCall, ToolDefinition};

    fn request() -> ChatRequest {
        let mut assistant = Message::new(Role::Assistant, "");
        assistant.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        });
        let mut tool = Message::new(Role::Tool, "18C");
        tool.tool_call_id = Some("call_1".into());
        ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![
                Message::new(Role::System, "be brief"),
                Message::new(Role::User, "weather?"),
                assistant,
                tool,
            ],
            tools: vec![ToolDefinition {
                name: "get_weather".into(),
                description: "Weather".into(),
                parameters_schema: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#
                    .into(),
            }],
            max_tokens: Some(100),
            temperature: Some(0.5),
            base_url: "https://api.openai.com/v1/".into(),
            options: r#"{"parallel_tool_calls": false}"#.into(),
        }
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
        let call = build_request(&request(), true).unwrap();
        assert_eq!(call.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            call.header("authorization"),
            Some("Bearer {{secret:API_KEY}}")
        );
        let body = call.json();
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 100);
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
        assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");

        let mut other = request();
        other.base_url = "http://127.0.0.1:8080/v1".into();
        other.options = "{}".into();
        let call = build_request(&other, false).unwrap();
        assert_eq!(call.header("authorization"), None);
        assert_eq!(call.json()["max_tokens"], 100);

        let mut bad = request();
        bad.tools[0].parameters_schema = "{".into();
        assert!(matches!(
            build_request(&bad, false),
            Err(ProviderError::BadRequest(_))
        ));
    }

    const TOOL_STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\":\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"\\\"CET\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":20,\"total_tokens\":70,\"prompt_tokens_details\":{\"cached_tokens\":30}}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn fragmented_tool_calls_a_lying_finish_reason_and_usage() {
        for piece in [1, 7, 64, 4096] {
            let (events, completion) = decode(TOOL_STREAM, piece);
            let completion = completion.unwrap();
            assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
            assert_eq!(completion.tool_calls.len(), 2);
            assert_eq!(completion.tool_calls[0].id, "call_a");
            assert_eq!(completion.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
            // Invalid JSON (the stream stopped mid-value) is passed through as it came.
            assert_eq!(completion.tool_calls[1].name, "get_time");
            assert_eq!(completion.tool_calls[1].arguments, r#"{"tz":"CET"#);
            assert_eq!(
                completion.usage,
                Some(Usage {
                    input_tokens: 20,
                    output_tokens: 20,
                    cache_read_tokens: 30,
                    cache_write_tokens: 0
                })
            );
            assert_eq!(events.len(), 5);
            assert!(matches!(&events[0], StreamEvent::ToolCallDelta(d)
                if d.index == 0 && d.id.as_deref() == Some("call_a") && d.name.as_deref() == Some("get_weather")));
        }
    }

    #[test]
    fn text_and_reasoning() {
        let input = "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n\
                     data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                     data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"length\"}]}\n\n\
                     data: [DONE]\n\n";
        let (events, completion) = decode(input, 5);
        assert_eq!(
            events,
            vec![
                StreamEvent::ThinkingDelta("hmm".into()),
                StreamEvent::TextDelta("Hel".into()),
                StreamEvent::TextDelta("lo".into()),
            ]
        );
        let completion = completion.unwrap();
        assert_eq!(completion.text, "Hello");
        assert_eq!(completion.finish_reason, FinishReason::Length);
        assert_eq!(completion.usage, None);
    }

    #[test]
    fn errors_in_and_ends_of_the_stream() {
        let err = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                   data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
        let (events, result) = decode(err, 3);
        assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
        assert!(
            matches!(result, Err(ProviderError::Transient(m)) if m.contains("server had an error"))
        );

        let cut = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        assert!(matches!(
            decode(cut, 10).1,
            Err(ProviderError::Transient(_))
        ));

        let garbage = "data: {not json\n\n";
        assert!(matches!(
            decode(garbage, 10).1,
            Err(ProviderError::Transient(_))
        ));

        // Done without a finish reason still counts (and nothing after [DONE] is read).
        let done = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\ndata: {garbage\n\n";
        assert_eq!(decode(done, 4).1.unwrap().finish_reason, FinishReason::Stop);
    }
}
