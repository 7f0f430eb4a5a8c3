//! `/v1/chat/completions` and `/v1/models`: the OpenAI wire format, so unmodified OpenAI
//! clients can talk to Chitin's agents. `model` names the agent. Chitin keeps the conversation
//! itself, so only the latest user message of the request is taken; the session is the
//! request's `user` (or the `x-chitin-session` header), one per caller.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use chitin_agent::{AgentError, AgentEvent, RunRequest};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::GatewayState;

#[derive(Deserialize)]
pub struct ChatRequest {
    model: String,
    messages: Vec<Value>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    user: Option<String>,
}

/// An error in OpenAI's shape: `{"error": {message, type, param, code}}`.
pub fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub async fn models(State(state): State<Arc<GatewayState>>) -> Response {
    let data: Vec<Value> = state
        .runtime
        .agent_ids()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "chitin"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// The text of the latest user message (string content, or the text parts of an array).
fn latest_user_text(messages: &[Value]) -> Option<String> {
    let message = messages.iter().rev().find(|m| m["role"] == "user")?;
    match &message["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// A session key segment from caller-supplied text: no separators, bounded length.
fn sanitize(peer: &str) -> String {
    let cleaned: String = peer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if cleaned.is_empty() {
        "default".into()
    } else {
        cleaned
    }
}

pub async fn chat_completions(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_body",
                &format!("the request body is not a valid chat completion request: {rejection}"),
            );
        }
    };
    if state.is_draining() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "shutting_down",
            "the gateway is shutting down and takes no new requests; retry after it restarts",
        );
    }
    if state.runtime.agent(&request.model).is_err() {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            &format!(
                "no agent `{}`; `model` names an agent (available: {})",
                request.model,
                state.runtime.agent_ids().join(", ")
            ),
        );
    }
    let Some(message) = latest_user_text(&request.messages).filter(|m| !m.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "no_user_message",
            "`messages` must contain a user message with text",
        );
    };
    let peer = headers
        .get("x-chitin-session")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(request.user.clone())
        .unwrap_or_else(|| "default".into());
    let run = RunRequest {
        agent_id: request.model.clone(),
        session_key: format!(
            "agent:{}:openai:default:dm:{}",
            request.model,
            sanitize(&peer)
        ),
        message,
        origin: chitin_agent::RunOrigin::Interactive,
    };
    let id = format!("chatcmpl-{}", state.next_id());
    let created = now_secs();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let runtime = state.runtime.clone();
    let task = tokio::spawn(async move { runtime.run(run, tx).await });
    if request.stream {
        return Sse::new(stream_chunks(id, created, request.model, rx)).into_response();
    }
    match task.await {
        Ok(Ok(outcome)) => Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": outcome.text},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": outcome.input_tokens,
                "completion_tokens": outcome.output_tokens,
                "total_tokens": outcome.input_tokens + outcome.output_tokens,
            },
        }))
        .into_response(),
        Ok(Err(err)) => agent_error(&err),
        Err(join) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            &format!("the run failed: {join}"),
        ),
    }
}

fn agent_error(err: &AgentError) -> Response {
    let (status, code) = match err {
        AgentError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        AgentError::AllModelsFailed(_) => (StatusCode::BAD_GATEWAY, "upstream_failed"),
        AgentError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "model_not_found"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "agent_error"),
    };
    error(status, "server_error", code, &err.to_string())
}

/// The run's events as OpenAI chunks: the role first, then text deltas, then a final chunk
/// with `finish_reason` and `[DONE]`; a failure mid-stream is reported as an error object, as
/// OpenAI does.
fn stream_chunks(
    id: String,
    created: u64,
    model: String,
    rx: tokio::sync::mpsc::UnboundedReceiver<AgentEvent>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string()
    };
    let first = chunk(json!({"role": "assistant", "content": ""}), None);
    let events = tokio_stream(rx).filter_map(move |event| {
        let out = match event {
            AgentEvent::TextDelta { text } => Some(chunk(json!({"content": text}), None)),
            AgentEvent::Done { .. } => Some(chunk(json!({}), Some("stop"))),
            AgentEvent::Error { message } => Some(
                json!({"error": {"message": message, "type": "server_error", "param": null, "code": "agent_error"}})
                    .to_string(),
            ),
            _ => None,
        };
        async move { out.map(|data| Ok(Event::default().data(data))) }
    });
    stream::once(async move { Ok(Event::default().data(first)) })
        .chain(events)
        .chain(stream::once(async { Ok(Event::default().data("[DONE]")) }))
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> {
    stream::poll_fn(move |cx| rx.poll_recv(cx))
}
