//! Google Gemini (`POST {base}/models/{model}:streamGenerateContent?alt=sse`).
//!
//! Every SSE event is a whole `GenerateContentResponse`: `candidates[0].content.parts` hold text
//! (`thought: true` for thinking), or a whole `functionCall {name, args, id?}`; `finishReason`
//! and `usageMetadata` come with the last event. A prompt blocked outright has no candidates and
//! a `promptFeedback.blockReason`. Errors after HTTP 200 arrive as an event with `error`.
//!
//! Gemini 3 needs the `thoughtSignature` of a function-call part echoed on the next turn: the
//! completion's `provider_data` carries `{"gemini_signatures": {<tool call id>: signature}}`
//! (`""` for a signature on a text part) and the request builder puts them back.

use serde_json::{Map, Value, json};

use crate::sse::{SseEvent, SseParser};
use crate::{
    API_KEY_PLACEHOLDER, ChatRequest, Completion, FinishReason, HttpCall, ProviderError, Role,
    StreamDecoder, StreamEvent, ToolCallBuilder, Usage, arguments_object, classify_stream_error,
    join_url, merge_options, parse_schema, reconcile_finish, tool_names, u32_of,
};

const SIGNATURES_KEY: &str = "gemini_signatures";
/// Prefix of the ids given to calls Gemini sent without one (never sent back as ids).
const SYNTHETIC_ID: &str = "gemini_call_";

/// The request for `req`; `with_key` adds `x-goog-api-key: {{secret:API_KEY}}`.
pub fn build_request(req: &ChatRequest, with_key: bool) -> Result<HttpCall, ProviderError> {
    let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
    if model.is_empty()
        || !model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(ProviderError::BadRequest(format!(
            "{:?} is not a Gemini model name",
            req.model
        )));
    }
    let url = join_url(
        &req.base_url,
        &format!("models/{model}:streamGenerateContent?alt=sse"),
    )?;
    let names = tool_names(&req.messages);
    let mut system = Vec::new();
    let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, parts) = match m.role {
            Role::System => {
                if !m.content.is_empty() {
                    system.push(json!({"text": m.content}));
                }
                continue;
            }
            Role::User => ("user", text_part(&m.content, None)),
            Role::Assistant => {
                let signatures = signatures(m.provider_data.as_deref());
                let mut parts = text_part(&m.content, signatures.get("").and_then(Value::as_str));
                for c in &m.tool_calls {
                    let mut call = json!({"name": c.name, "args": arguments_object(&c.arguments)});
                    if !c.id.starts_with(SYNTHETIC_ID) {
                        call["id"] = json!(c.id);
                    }
                    let mut part = json!({"functionCall": call});
                    if let Some(sig) = signatures.get(&c.id).and_then(Value::as_str) {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = names.get(id).copied().unwrap_or_default();
                // `response` must be an object: JSON objects go as they are, anything else
                // is wrapped.
                let response = match serde_json::from_str::<Value>(&m.content) {
                    Ok(Value::Object(obj)) => Value::Object(obj),
                    _ => json!({"result": m.content}),
                };
                let mut answer = json!({"name": name, "response": response});
                if !id.is_empty() && !id.starts_with(SYNTHETIC_ID) {
                    answer["id"] = json!(id);
                }
                ("user", vec![json!({"functionResponse": answer})])
            }
        };
        if parts.is_empty() {
            continue;
        }
        // Parallel function responses must share one turn.
        match contents.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    let mut body = json!({ "contents": contents });
    if !system.is_empty() {
        body["systemInstruction"] = json!({ "parts": system });
    }
    if !req.tools.is_empty() {
        let declarations = req
            .tools
            .iter()
            .map(|tool| {
                Ok(json!({
                    "name": tool.name,
                    "description": tool.description,
                    // Full JSON Schema; `parameters` only takes an OpenAPI subset.
                    "parametersJsonSchema": parse_schema(tool)?,
                }))
            })
            .collect::<Result<Vec<Value>, ProviderError>>()?;
        body["tools"] = json!([{ "functionDeclarations": declarations }]);
    }
    let mut generation = Map::new();
    if let Some(max) = req.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(t) = req.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if !generation.is_empty() {
        body["generationConfig"] = Value::Object(generation);
    }
    merge_options(&mut body, &req.options)?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
    ];
    if with_key {
        headers.push((
            "x-goog-api-key".to_string(),
            API_KEY_PLACEHOLDER.to_string(),
        ));
    }
    Ok(HttpCall {
        url,
        headers,
        body: body.to_string().into_bytes(),
    })
}

fn text_part(text: &str, signature: Option<&str>) -> Vec<Value> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut part = json!({"text": text});
    if let Some(sig) = signature {
        part["thoughtSignature"] = json!(sig);
    }
    vec![part]
}

fn signatures(provider_data: Option<&str>) -> Map<String, Value> {
    provider_data
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|mut v| v.get_mut(SIGNATURES_KEY).map(Value::take))
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default()
}

/// Decodes a `streamGenerateContent?alt=sse` stream.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseParser,
    text: String,
    calls: ToolCallBuilder,
    /// (tool call index or none for text, signature).
    signatures: Vec<(Option<u32>, String)>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
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
        let value: Value = serde_json::from_str(&event.data).map_err(|err| {
            ProviderError::Transient(format!("unreadable event in the response stream: {err}"))
        })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(classify_stream_error(&value));
        }
        if let Some(usage) = value.get("usageMetadata") {
            let prompt = u32_of(usage.get("promptTokenCount"));
            let cached = u32_of(usage.get("cachedContentTokenCount"));
            self.usage = Some(Usage {
                input_tokens: prompt.saturating_sub(cached),
                output_tokens: u32_of(usage.get("candidatesTokenCount"))
                    .saturating_add(u32_of(usage.get("thoughtsTokenCount"))),
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            });
        }
        if value.pointer("/promptFeedback/blockReason").is_some() {
            self.finish = Some(FinishReason::ContentFilter);
        }
        let Some(candidate) = value.pointer("/candidates/0") else {
            return Ok(());
        };
        let parts = candidate
            .pointer("/content/parts")
            .and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            let signature = part.get("thoughtSignature").and_then(Value::as_str);
            if let Some(call) = part.get("functionCall") {
                let index = self.calls.len() as u32;
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map_or_else(|| format!("{SYNTHETIC_ID}{index}"), str::to_string);
                let args = match call.get("args") {
                    Some(Value::Null) | None => "{}".to_string(),
                    Some(args) => args.to_string(),
                };
                out.push(self.calls.delta(
                    index,
                    Some(&id),
                    call.get("name").and_then(Value::as_str),
                    &args,
                ));
                if let Some(sig) = signature {
                    self.signatures.push((Some(index), sig.to_string()));
                }
            } else if let Some(text) = part.get("text").and_then(Value::as_str) {
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    if !text.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(text.to_string()));
                    }
                } else if !text.is_empty() {
                    self.text.push_str(text);
                    out.push(StreamEvent::TextDelta(text.to_string()));
                }
                if let Some(sig) = signature {
                    self.signatures.push((None, sig.to_string()));
                }
            }
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            self.finish = Some(match reason {
                "STOP" => FinishReason::Stop,
                "MAX_TOKENS" => FinishReason::Length,
                "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
                | "IMAGE_SAFETY" => FinishReason::ContentFilter,
                _ => FinishReason::Other,
            });
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
        let Some(reported) = self.finish else {
            return Err(ProviderError::Transient(
                "the response stream ended without a finishReason".to_string(),
            ));
        };
        let tool_calls = self.calls.finish();
        let mut signatures = Map::new();
        for (index, sig) in self.signatures {
            let key = match index {
                Some(i) => tool_calls
                    .get(i as usize)
                    .map(|c| c.id.clone())
                    .unwrap_or_default(),
                None => String::new(),
            };
            signatures.insert(key, Value::String(sig));
        }
        let provider_data =
            (!signatures.is_empty()).then(|| json!({ SIGNATURES_KEY: signatures }).to_string());
        Ok(Completion {
            text: self.text,
            finish_reason: reconcile_finish(reported, !tool_calls.is_empty()),
            tool_calls,
            usage: self.usage,
            provider_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolDefinition};

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

    const STREAM: &str = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"planning\",\"thought\":true}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Let me \"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"look.\"},{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],",
        "\"usageMetadata\":{\"promptTokenCount\":40,\"candidatesTokenCount\":10,\"thoughtsTokenCount\":5,\"cachedContentTokenCount\":30,\"totalTokenCount\":55},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n",
    );

    #[test]
    fn text_thoughts_function_call_and_usage() {
        for piece in [1, 11, 4096] {
            let (events, completion) = decode(STREAM, piece);
            let c = completion.unwrap();
            assert_eq!(c.text, "Let me look.");
            assert_eq!(c.finish_reason, FinishReason::ToolCalls);
            assert_eq!(c.tool_calls[0].id, "gemini_call_0");
            assert_eq!(c.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
            assert_eq!(
                c.usage,
                Some(Usage {
                    input_tokens: 10,
                    output_tokens: 15,
                    cache_read_tokens: 30,
                    cache_write_tokens: 0
                })
            );
            assert_eq!(events[0], StreamEvent::ThinkingDelta("planning".into()));
            assert_eq!(events.len(), 4);
            // The signature round-trips into the next request.
            let mut assistant = Message::new(Role::Assistant, &c.text);
            assistant.tool_calls = c.tool_calls.clone();
            assistant.provider_data = c.provider_data.clone();
            let mut tool = Message::new(Role::Tool, "sunny");
            tool.tool_call_id = Some(c.tool_calls[0].id.clone());
            let req = ChatRequest {
                model: "models/gemini-2.5-flash".into(),
                messages: vec![
                    Message::new(Role::System, "sys"),
                    Message::new(Role::User, "hi"),
                    assistant,
                    tool,
                ],
                tools: vec![ToolDefinition {
                    name: "get_weather".into(),
                    description: "W".into(),
                    parameters_schema: r#"{"type":"object"}"#.into(),
                }],
                max_tokens: Some(10),
                temperature: None,
                base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
                options: r#"{"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}"#.into(),
            };
            let call = build_request(&req, true).unwrap();
            assert_eq!(
                call.url,
                "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
            );
            assert_eq!(call.header("x-goog-api-key"), Some("{{secret:API_KEY}}"));
            let body = call.json();
            assert_eq!(body["systemInstruction"]["parts"][0]["text"], "sys");
            let model = &body["contents"][1];
            assert_eq!(model["role"], "model");
            assert_eq!(model["parts"][1]["thoughtSignature"], "c2ln");
            assert_eq!(model["parts"][1]["functionCall"].get("id"), None);
            let answer = &body["contents"][2]["parts"][0]["functionResponse"];
            assert_eq!(answer["name"], "get_weather");
            assert_eq!(answer["response"], json!({"result": "sunny"}));
            assert_eq!(body["generationConfig"]["maxOutputTokens"], 10);
            assert_eq!(
                body["generationConfig"]["thinkingConfig"]["thinkingBudget"],
                0
            );
            assert_eq!(
                body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"],
                "object"
            );
        }
    }

    #[test]
    fn bad_model_names_errors_and_blocks() {
        let mut req = ChatRequest {
            model: "../x?y".into(),
            messages: Vec::new(),
            tools: Vec::new(),
            max_tokens: None,
            temperature: None,
            base_url: "https://g/v1beta".into(),
            options: String::new(),
        };
        assert!(matches!(
            build_request(&req, false),
            Err(ProviderError::BadRequest(_))
        ));
        req.model = "gemini-2.5-pro".into();
        assert_eq!(
            build_request(&req, false).unwrap().header("x-goog-api-key"),
            None
        );

        let err = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\ndata: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n";
        let (events, result) = decode(err, 6);
        assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
        assert!(matches!(result, Err(ProviderError::Transient(m)) if m.contains("overloaded")));

        let blocked = "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}\n\n";
        assert_eq!(
            decode(blocked, 100).1.unwrap().finish_reason,
            FinishReason::ContentFilter
        );

        let cut = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n";
        assert!(matches!(
            decode(cut, 100).1,
            Err(ProviderError::Transient(_))
        ));
    }
}
