//! The part of every provider plugin that talks to the host: converts the WIT request into the
//! wire crate's types, sends it with `http.fetch-stream`, feeds the body to the vendor's decoder
//! chunk by chunk, emits each stream event as it is decoded, and returns the completion or the
//! classified error. Included by each provider crate with `#[path]`.

use std::time::{SystemTime, UNIX_EPOCH};

use chitin_provider_wire as wire;
use chitin_provider_wire::StreamDecoder;
use chitin_sdk::host::{http, secrets};
use chitin_sdk::provider::{
    Completion, FinishReason, ProviderError, Request, Role, StreamEvent, ToolCall, ToolCallDelta,
    Usage, emit,
};

/// Most of an error response body read for classification.
const MAX_ERROR_BODY: usize = 256 << 10;

type Build = fn(&wire::ChatRequest, bool) -> Result<wire::HttpCall, wire::ProviderError>;

pub fn complete<D: StreamDecoder>(
    req: Request,
    build: Build,
    mut decoder: D,
) -> Result<Completion, ProviderError> {
    // No key granted (a local server): no auth header at all.
    let with_key = secrets::exists("API_KEY");
    let call = build(&to_wire(req), with_key).map_err(from_wire_error)?;
    let (head, body) = http::fetch_stream(&http::Request {
        method: "POST".to_string(),
        url: call.url,
        headers: call.headers,
        body: Some(call.body),
        timeout_ms: None,
        follow_redirects: false,
    })
    .map_err(|err| http_error("sending the request", err))?;

    let content_type = wire::header(&head.headers, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let success = (200..300).contains(&head.status);
    // A JSON body on success means the server did not stream (an error in a 200, or a server
    // that ignores `stream: true`): classify it whole.
    if !success || content_type.starts_with("application/json") {
        let bytes = read_bounded(&body, MAX_ERROR_BODY);
        return Err(from_wire_error(wire::classify_http_error(
            head.status,
            &head.headers,
            &bytes,
            now_ms(),
        )));
    }
    loop {
        let chunk = match body.next() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(err) => return Err(http_error("reading the response stream", err)),
        };
        for event in decoder.feed(&chunk).map_err(from_wire_error)? {
            emit(&to_event(event));
        }
    }
    for event in decoder.end().map_err(from_wire_error)? {
        emit(&to_event(event));
    }
    decoder
        .into_completion()
        .map(from_wire_completion)
        .map_err(from_wire_error)
}

fn read_bounded(body: &http::BodyStream, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match body.next() {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out.truncate(limit);
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn http_error(doing: &str, err: http::HttpError) -> ProviderError {
    use http::HttpError as E;
    match err {
        // The host reports a refused request to the operator itself (capability denied).
        E::Denied(msg) => ProviderError::BadRequest(format!("{doing}: refused: {msg}")),
        E::InvalidRequest(msg) => ProviderError::BadRequest(format!("{doing}: {msg}")),
        E::TooLarge(limit) => ProviderError::BadRequest(format!(
            "{doing}: the response exceeded the plugin's budget of {limit} bytes \
             (budgets.max_response_kb)"
        )),
        E::Timeout => ProviderError::Transient(format!("{doing}: timed out")),
        E::QuotaExceeded(msg) => ProviderError::Transient(format!("{doing}: {msg}")),
        E::Connection(msg) => ProviderError::Transient(format!("{doing}: {msg}")),
    }
}

fn to_wire(req: Request) -> wire::ChatRequest {
    wire::ChatRequest {
        model: req.model,
        messages: req
            .messages
            .into_iter()
            .map(|m| wire::Message {
                role: match m.role {
                    Role::System => wire::Role::System,
                    Role::User => wire::Role::User,
                    Role::Assistant => wire::Role::Assistant,
                    Role::Tool => wire::Role::Tool,
                },
                content: m.content,
                tool_calls: m
                    .tool_calls
                    .into_iter()
                    .map(|c| wire::ToolCall {
                        id: c.id,
                        name: c.name,
                        arguments: c.arguments,
                    })
                    .collect(),
                tool_call_id: m.tool_call_id,
                provider_data: m.provider_data,
            })
            .collect(),
        tools: req
            .tools
            .into_iter()
            .map(|t| wire::ToolDefinition {
                name: t.name,
                description: t.description,
                parameters_schema: t.parameters_schema,
            })
            .collect(),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        base_url: req.base_url,
        options: req.options,
    }
}

fn to_event(event: wire::StreamEvent) -> StreamEvent {
    match event {
        wire::StreamEvent::TextDelta(text) => StreamEvent::TextDelta(text),
        wire::StreamEvent::ThinkingDelta(text) => StreamEvent::ThinkingDelta(text),
        wire::StreamEvent::ToolCallDelta(d) => StreamEvent::ToolCallDelta(ToolCallDelta {
            index: d.index,
            id: d.id,
            name: d.name,
            arguments_fragment: d.arguments_fragment,
        }),
    }
}

fn from_wire_completion(c: wire::Completion) -> Completion {
    Completion {
        text: c.text,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|t| ToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
            })
            .collect(),
        finish_reason: match c.finish_reason {
            wire::FinishReason::Stop => FinishReason::Stop,
            wire::FinishReason::Length => FinishReason::Length,
            wire::FinishReason::ToolCalls => FinishReason::ToolCalls,
            wire::FinishReason::ContentFilter => FinishReason::ContentFilter,
            wire::FinishReason::Other => FinishReason::Other,
        },
        usage: c.usage.map(|u| Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
        }),
        provider_data: c.provider_data,
    }
}

fn from_wire_error(e: wire::ProviderError) -> ProviderError {
    match e {
        wire::ProviderError::RateLimited(ms) => ProviderError::RateLimited(ms),
        wire::ProviderError::Overloaded(ms) => ProviderError::Overloaded(ms),
        wire::ProviderError::Auth(m) => ProviderError::Auth(m),
        wire::ProviderError::ContextOverflow(m) => ProviderError::ContextOverflow(m),
        wire::ProviderError::BadRequest(m) => ProviderError::BadRequest(m),
        wire::ProviderError::Transient(m) => ProviderError::Transient(m),
    }
}
