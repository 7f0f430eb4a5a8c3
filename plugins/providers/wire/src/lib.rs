//! The wire protocols of Chitin's model-provider plugins, as plain Rust.
//!
//! Everything a provider plugin does besides calling the host lives here, so that it can be
//! unit-tested natively: building the vendor's HTTP request from a chat request, parsing the
//! streamed body (server-sent events or NDJSON) chunk by chunk into stream events, assembling
//! the final completion, and classifying failures into the shape failover needs.
//!
//! The types mirror the records of `chitin:plugin/provider` (`wit/provider.wit`); the plugins
//! convert between them and the generated bindings.
//!
//! Usage accounting is normalized across vendors: `input_tokens` counts the prompt tokens that
//! were *not* read from the cache, so `input + cache_read + cache_write` is the whole prompt.

pub mod anthropic;
pub mod error;
pub mod gemini;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod sse;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use error::{classify_http_error, classify_stream_error};

/// What a plugin writes where the API key belongs; the host fills it in at the network edge.
pub const API_KEY_PLACEHOLDER: &str = "{{secret:API_KEY}}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, passed through as the model wrote it (it may be invalid).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub provider_data: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.to_string(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            provider_data: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters_schema: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub base_url: String,
    /// A JSON object merged into the vendor's request body ("{}" or "" when none).
    pub options: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cache_read_tokens: u32,
    pub cache_write_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Option<Usage>,
    pub provider_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    RateLimited(Option<u32>),
    Overloaded(Option<u32>),
    Auth(String),
    ContextOverflow(String),
    BadRequest(String),
    Transient(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments_fragment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    TextDelta(String),
    ThinkingDelta(String),
    ToolCallDelta(ToolCallDelta),
}

/// The HTTP request a plugin sends (always a POST).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCall {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as JSON (for tests and logs).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A vendor's streamed body, decoded incrementally.
pub trait StreamDecoder {
    /// Feeds the next chunk of the body; returns the events it completes. An error (the server
    /// reported one inside the stream) ends the completion.
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ProviderError>;
    /// The body ended: flushes what was buffered.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
    /// The assembled completion, or why the stream did not amount to one.
    fn into_completion(self) -> Result<Completion, ProviderError>;
}

/// Runs `handle` over each framed item (an SSE event, an NDJSON line), collecting the stream
/// events they complete; the first error ends the completion. Every decoder's `feed` and `end`.
pub(crate) fn decode_each<T>(
    items: impl IntoIterator<Item = T>,
    mut handle: impl FnMut(&T, &mut Vec<StreamEvent>) -> Result<(), ProviderError>,
) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut out = Vec::new();
    for item in items {
        handle(&item, &mut out)?;
    }
    Ok(out)
}

/// The value of a header (names compare case-insensitively).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `base` and `path` joined with exactly one `/`.
pub(crate) fn join_url(base: &str, path: &str) -> Result<String, ProviderError> {
    let base = base.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ProviderError::BadRequest(format!(
            "base_url must be an http(s) URL, got {base:?}"
        )));
    }
    Ok(format!("{base}/{}", path.trim_start_matches('/')))
}

/// Merges the request's `options` (a JSON object) into a vendor body: objects merge key by key,
/// recursively; any other value replaces; `null` removes the key.
pub(crate) fn merge_options(body: &mut Value, options: &str) -> Result<(), ProviderError> {
    let options = options.trim();
    if options.is_empty() {
        return Ok(());
    }
    let parsed: Value = serde_json::from_str(options).map_err(|err| {
        ProviderError::BadRequest(format!("options must be a JSON object: {err}"))
    })?;
    match parsed {
        Value::Object(extra) => {
            merge_object(body, extra);
            Ok(())
        }
        Value::Null => Ok(()),
        other => Err(ProviderError::BadRequest(format!(
            "options must be a JSON object, got {other}"
        ))),
    }
}

fn merge_object(target: &mut Value, extra: Map<String, Value>) {
    let Value::Object(target) = target else {
        *target = Value::Object(extra);
        return;
    };
    for (key, value) in extra {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) if target.get(&key).is_some_and(Value::is_object) => {
                if let Some(slot) = target.get_mut(&key) {
                    merge_object(slot, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// A tool definition's JSON Schema, parsed.
pub(crate) fn parse_schema(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    if tool.parameters_schema.trim().is_empty() {
        return Ok(serde_json::json!({"type": "object", "properties": {}}));
    }
    serde_json::from_str(&tool.parameters_schema).map_err(|err| {
        ProviderError::BadRequest(format!(
            "the parameters schema of tool {:?} is not valid JSON: {err}",
            tool.name
        ))
    })
}

/// Tool-call arguments as a JSON object, for vendors that take an object rather than text.
/// Arguments that are not a JSON object (the model wrote invalid JSON) are kept, as text, under
/// `invalid_json`, so the conversation can still be replayed.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => serde_json::json!({ "invalid_json": arguments }),
    }
}

/// Maps a tool-call id to its tool name, from the assistant turns of a conversation (vendors
/// that answer tool results by name need it).
pub(crate) fn tool_names(messages: &[Message]) -> BTreeMap<&str, &str> {
    messages
        .iter()
        .flat_map(|m| m.tool_calls.iter())
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect()
}

/// The finish reason to report: a vendor that says "stop" although it streamed tool calls
/// (several OpenAI-compatible servers do) is corrected, since the agent loop must run them.
pub(crate) fn reconcile_finish(reported: FinishReason, has_tool_calls: bool) -> FinishReason {
    match reported {
        FinishReason::Stop | FinishReason::Other if has_tool_calls => FinishReason::ToolCalls,
        other => other,
    }
}

pub(crate) fn u32_of(value: Option<&Value>) -> u32 {
    value
        .and_then(Value::as_u64)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}

/// Tool calls streamed in pieces, keyed by their position in the response.
#[derive(Debug, Default)]
pub struct ToolCallBuilder {
    calls: BTreeMap<u32, PartialCall>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl ToolCallBuilder {
    /// Records one piece of call `index` and returns the event announcing it.
    pub fn delta(
        &mut self,
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        fragment: &str,
    ) -> StreamEvent {
        let call = self.calls.entry(index).or_default();
        let id = id.filter(|s| !s.is_empty());
        let name = name.filter(|s| !s.is_empty());
        if let Some(id) = id
            && call.id.is_empty()
        {
            call.id = id.to_string();
        }
        if let Some(name) = name
            && call.name != name
        {
            // Some servers repeat the whole name in every delta, a few stream it in pieces.
            call.name.push_str(name);
        }
        call.arguments.push_str(fragment);
        StreamEvent::ToolCallDelta(ToolCallDelta {
            index,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            arguments_fragment: fragment.to_string(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// The calls in order. A call without an id gets `call_<index>`; empty arguments become
    /// `{}`; anything else is passed through as streamed, valid JSON or not.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .map(|(index, call)| ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                },
                name: call.name,
                arguments: if call.arguments.trim().is_empty() {
                    "{}".to_string()
                } else {
                    call.arguments
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_merge_deeply_and_null_removes() {
        let mut body = json!({"a": 1, "cfg": {"x": 1, "y": 2}, "drop": true});
        merge_options(
            &mut body,
            r#"{"cfg": {"y": 3, "z": 4}, "drop": null, "b": [1]}"#,
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"a": 1, "cfg": {"x": 1, "y": 3, "z": 4}, "b": [1]})
        );
        merge_options(&mut body, "").unwrap();
        merge_options(&mut body, "{}").unwrap();
        assert!(matches!(
            merge_options(&mut body, "[1]"),
            Err(ProviderError::BadRequest(_))
        ));
        assert!(matches!(
            merge_options(&mut body, "{nope"),
            Err(ProviderError::BadRequest(_))
        ));
    }

    #[test]
    fn urls_join_and_reject_non_http() {
        assert_eq!(
            join_url("https://api.openai.com/v1/", "/chat/completions").unwrap(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert!(join_url("ftp://x", "y").is_err());
        assert!(join_url("", "y").is_err());
    }

    #[test]
    fn invalid_arguments_are_kept_as_text() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(
            arguments_object(r#"{"a":"#),
            json!({"invalid_json": "{\"a\":"})
        );
        assert_eq!(arguments_object("[1]"), json!({"invalid_json": "[1]"}));
    }

    /// Arbitrary bytes, fed in arbitrary pieces, never make a decoder panic.
    #[test]
    fn decoders_survive_garbage() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const ALPHABET: &[u8] = b"data: {}[]\"\\:,\r\n0123456789abcdeftruefalsenull\xff\xc3\xa9";
        let samples: Vec<Vec<u8>> = (0..300)
            .map(|_| {
                let len = (next() % 400) as usize;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            })
            .chain([
                br#"data: {"choices":[{"delta":{"tool_calls":[{"index":4294967296}]}}]}"#.to_vec(),
                br#"data: {"type":"content_block_delta","index":-1,"delta":{"type":"input_json_delta"}}"#.to_vec(),
                br#"{"message":{"tool_calls":[{"function":null}]},"done":"yes"}"#.to_vec(),
                br#"data: {"candidates":[{"content":{"parts":[{"functionCall":7}]}}]}"#.to_vec(),
            ])
            .collect();
        fn run<D: StreamDecoder>(mut d: D, input: &[u8], piece: usize) {
            for chunk in input.chunks(piece.max(1)) {
                if d.feed(chunk).is_err() {
                    return;
                }
            }
            if d.end().is_ok() {
                let _ = d.into_completion();
            }
        }
        for input in &samples {
            let piece = (next() % 32) as usize + 1;
            run(openai::Decoder::new(), input, piece);
            run(anthropic::Decoder::new(), input, piece);
            run(ollama::Decoder::new(), input, piece);
            run(gemini::Decoder::new(), input, piece);
            let _ = classify_http_error(429, &[], input, 0);
            let _ = error::retry_after_ms(
                &[(
                    "retry-after".into(),
                    String::from_utf8_lossy(input).into_owned(),
                )],
                0,
            );
        }
    }

    #[test]
    fn tool_call_builder_assembles_fragments() {
        let mut b = ToolCallBuilder::default();
        b.delta(1, Some("b"), Some("second"), "");
        b.delta(0, Some("a"), Some("first"), "{\"x\"");
        b.delta(0, None, None, ":1}");
        b.delta(1, None, Some("second"), "");
        b.delta(2, None, Some("third"), "{bad");
        let calls = b.finish();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].arguments, "{\"x\":1}");
        assert_eq!(calls[1].name, "second");
        assert_eq!(calls[1].arguments, "{}");
        assert_eq!(calls[2].id, "call_2");
        assert_eq!(calls[2].arguments, "{bad");
    }
}
