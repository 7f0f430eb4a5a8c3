//! Ollama's native chat API (`POST {base}/api/chat`, NDJSON stream).
//!
//! Each line is a JSON object: `message.content` / `message.thinking` deltas, `message.tool_calls`
//! as whole objects (arguments already a JSON object, no fragments), and a last line with
//! `done: true`, `done_reason` and the token counts. An `{"error": "..."}` line can arrive
//! mid-stream after HTTP 200. Local servers need no key; one behind a proxy may take a bearer
//! token, sent when the `API_KEY` secret is granted.

use serde_json::{Value, json};

use crate::ndjson::LineSplitter;
use crate::{
    API_KEY_PLACEHOLDER, ChatRequest, Completion, FinishReason, HttpCall, ProviderError, Role,
    StreamDecoder, StreamEvent, ToolCallBuilder, Usage, arguments_object, classify_stream_error,
    join_url, merge_options, parse_schema, reconcile_finish, tool_names, u32_of,
};

/// The request for `req`; `with_key` adds `Authorization: Bearer {{secret:API_KEY}}`.
/// `base_url` is the server root (`http://localhost:11434`); a trailing `/api` is accepted.
pub fn build_request(req: &ChatRequest, with_key: bool) -> Result<HttpCall, ProviderError> {
    let base = req.base_url.trim().trim_end_matches('/');
    let url = if base.ends_with("/api") {
        join_url(base, "chat")?
    } else {
        join_url(base, "api/chat")?
    };
    let names = tool_names(&req.messages);
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| match m.role {
            Role::System => json!({"role": "system", "content": m.content}),
            Role::User => json!({"role": "user", "content": m.content}),
            Role::Assistant => {
                let mut out = json!({"role": "assistant", "content": m.content});
                if !m.tool_calls.is_empty() {
                    out["tool_calls"] = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({"function": {
                                "name": c.name,
                                "arguments": arguments_object(&c.arguments),
                            }})
                        })
                        .collect();
                }
                out
            }
            Role::Tool => {
                let mut out = json!({"role": "tool", "content": m.content});
                if let Some(name) = m.tool_call_id.as_deref().and_then(|id| names.get(id)) {
                    out["tool_name"] = json!(name);
                }
                out
            }
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
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
    let mut options = serde_json::Map::new();
    if let Some(max) = req.max_tokens {
        options.insert("num_predict".into(), json!(max));
    }
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    merge_options(&mut body, &req.options)?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "application/x-ndjson".to_string()),
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

/// Decodes an `/api/chat` NDJSON stream.
#[derive(Debug, Default)]
pub struct Decoder {
    lines: LineSplitter,
    text: String,
    calls: ToolCallBuilder,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.finish.is_some() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(line).map_err(|err| {
            ProviderError::Transient(format!("unreadable line in the response stream: {err}"))
        })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(classify_stream_error(&value));
        }
        let message = value.get("message").unwrap_or(&Value::Null);
        if let Some(thinking) = message.get("thinking").and_then(Value::as_str)
            && !thinking.is_empty()
        {
            out.push(StreamEvent::ThinkingDelta(thinking.to_string()));
        }
        if let Some(text) = message.get("content").and_then(Value::as_str)
            && !text.is_empty()
        {
            self.text.push_str(text);
            out.push(StreamEvent::TextDelta(text.to_string()));
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function").unwrap_or(&Value::Null);
            let arguments = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "{}".to_string(),
                Some(other) => other.to_string(),
            };
            let index = self.calls.len() as u32;
            out.push(self.calls.delta(
                index,
                call.get("id").and_then(Value::as_str),
                function.get("name").and_then(Value::as_str),
                &arguments,
            ));
        }
        if value.get("done").and_then(Value::as_bool) == Some(true) {
            self.finish = Some(match value.get("done_reason").and_then(Value::as_str) {
                Some("stop") | None => FinishReason::Stop,
                Some("length") => FinishReason::Length,
                Some(_) => FinishReason::Other,
            });
            self.usage = Some(Usage {
                input_tokens: u32_of(value.get("prompt_eval_count")),
                output_tokens: u32_of(value.get("eval_count")),
                cache_read_tokens: 0,
                cache_write_tokens: 0,
            });
        }
        Ok(())
    }
}

impl StreamDecoder for Decoder {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let items = self.lines.push(chunk);
        crate::decode_each(items, |item, out| self.on_line(item, out))
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let items = self.lines.finish();
        crate::decode_each(items, |item, out| self.on_line(item, out))
    }

    fn into_completion(self) -> Result<Completion, ProviderError> {
        let Some(reported) = self.finish else {
            return Err(ProviderError::Transient(
                "the response stream ended before the line with \"done\": true".to_string(),
            ));
        };
        Ok(Completion {
            text: self.text,
            finish_reason: reconcile_finish(reported, !self.calls.is_empty()),
            tool_calls: self.calls.finish(),
            usage: self.usage,
            provider_data: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolCall};

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
        let mut assistant = Message::new(Role::Assistant, "");
        assistant.tool_calls.push(ToolCall {
            id: "call_0".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        });
        let mut tool = Message::new(Role::Tool, "18C");
        tool.tool_call_id = Some("call_0".into());
        let req = ChatRequest {
            model: "llama3.2".into(),
            messages: vec![Message::new(Role::User, "hi"), assistant, tool],
            tools: Vec::new(),
            max_tokens: Some(64),
            temperature: Some(0.0),
            base_url: "http://localhost:11434/".into(),
            options: r#"{"options":{"num_ctx":8192},"keep_alive":"5m"}"#.into(),
        };
        let call = build_request(&req, false).unwrap();
        assert_eq!(call.url, "http://localhost:11434/api/chat");
        assert_eq!(call.header("authorization"), None);
        let body = call.json();
        assert_eq!(
            body["options"],
            json!({"num_predict": 64, "temperature": 0.0, "num_ctx": 8192})
        );
        assert_eq!(body["keep_alive"], "5m");
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"]["city"],
            "Paris"
        );
        assert_eq!(body["messages"][2]["tool_name"], "get_weather");
        let mut with_api = req.clone();
        with_api.base_url = "https://ollama.example/api".into();
        let call = build_request(&with_api, true).unwrap();
        assert_eq!(call.url, "https://ollama.example/api/chat");
        assert_eq!(
            call.header("authorization"),
            Some("Bearer {{secret:API_KEY}}")
        );
    }

    #[test]
    fn text_tool_calls_and_done() {
        let input = concat!(
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hm\"},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi \"},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}},{\"function\":{\"index\":1,\"name\":\"now\",\"arguments\":{}}}]},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":12}\n",
        );
        for piece in [1, 17, 4096] {
            let (events, completion) = decode(input, piece);
            let c = completion.unwrap();
            assert_eq!(c.text, "Hi ");
            assert_eq!(c.finish_reason, FinishReason::ToolCalls);
            assert_eq!(c.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
            assert_eq!(c.tool_calls[0].id, "call_0");
            assert_eq!(c.tool_calls[1].name, "now");
            assert_eq!(c.usage.unwrap().input_tokens, 26);
            assert_eq!(events.len(), 4);
        }
    }

    #[test]
    fn error_line_and_truncation() {
        let input = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"error\":\"an error was encountered while running the model\"}\n";
        let (events, result) = decode(input, 8);
        assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
        assert!(
            matches!(result, Err(ProviderError::Transient(m)) if m.contains("running the model"))
        );
        let cut = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}";
        assert!(matches!(decode(cut, 8).1, Err(ProviderError::Transient(_))));
    }
}
