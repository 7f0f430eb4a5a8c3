//! rmcp's Streamable HTTP client transport over chitin-egress, so that an HTTP MCP server is
//! reached under the same policy as a plugin's requests: the allowlist (exactly the server's
//! origin), address checks after DNS with the connection pinned, every redirect re-checked,
//! secret placeholders substituted at the edge for that origin only, responses redacted, size
//! and time limits.
//!
//! Tool arguments travel in the JSON-RPC body and, for 2026 servers, in `Mcp-Param-*` headers;
//! they come from the model, so a `{{secret:NAME}}` written there must never be substituted.
//! The body escapes it (`{\u007bsecret:`, the same JSON string), and a header value holding one
//! is sent in the protocol's base64 form (`=?base64?...?=`). Only the operator's `headers` and
//! `url` can place secrets.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chitin_egress::{BodyStream, EgressClient, EgressError, Request, StreamingResponse};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorData, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, SseError, StreamableHttpClient,
    StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Sse, SseStream};

/// Largest JSON response body (rmcp's own limit for its reqwest client).
const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;
/// Largest error body read for its message.
const MAX_ERROR_BYTES: usize = 64 * 1024;

const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";
const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";

type HttpResult<T> = Result<T, StreamableHttpError<EgressError>>;

/// One HTTP MCP server's connection: its egress client (a policy allowing exactly the
/// server's origin) and the operator's headers.
#[derive(Clone)]
pub(crate) struct EgressHttp {
    pub egress: EgressClient,
    /// Sent with every request, placeholders and all (egress substitutes them).
    pub headers: Arc<Vec<(String, String)>>,
    /// Deadline of a POST, including the response stream of a tool call.
    pub post_timeout: Duration,
    /// Deadline of a long-lived stream (the legacy GET stream, `subscriptions/listen`); rmcp
    /// reconnects or the listener re-subscribes when it ends.
    pub stream_timeout: Duration,
    /// The server id, for error messages.
    pub server: Arc<str>,
}

impl EgressHttp {
    fn request(
        &self,
        method: &str,
        uri: &str,
        session_id: Option<&str>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> HttpResult<Request> {
        let mut headers: Vec<(String, String)> = self.headers.as_ref().clone();
        for (name, value) in custom_headers {
            let lower = name.as_str();
            if matches!(lower, "accept" | SESSION_ID | LAST_EVENT_ID) {
                return Err(StreamableHttpError::ReservedHeaderConflict(
                    name.to_string(),
                ));
            }
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(lower));
            headers.push((name.to_string(), neutralize_header(value)));
        }
        if let Some(id) = session_id {
            headers.push((SESSION_ID.to_string(), id.to_string()));
        }
        Ok(Request {
            method: method.to_string(),
            url: uri.to_string(),
            headers,
            body,
            timeout: Some(timeout),
            follow_redirects: true,
            proxy: None,
        })
    }

    async fn send(&self, request: Request) -> HttpResult<StreamingResponse> {
        self.egress
            .fetch_stream(request)
            .await
            .map_err(|e| StreamableHttpError::Client(explain_denial(&self.server, e)))
    }
}

/// Egress words its refusals for plugins and their grants; an MCP server is configured under
/// `[mcp.<id>]` and may reach only its url's origin.
fn explain_denial(server: &str, err: EgressError) -> EgressError {
    let EgressError::Denied { reason, fix } = err else {
        return err;
    };
    let reason = reason
        .replace(
            &format!("plugin mcp:{server}"),
            &format!("MCP server `{server}`"),
        )
        .replace(
            "which plugins may not reach",
            "which is not reachable by default",
        );
    let fix = if let Some(net) = fix
        .split("add \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|_| fix.contains("allow_private"))
    {
        format!("add \"{net}\" to allow_private under [mcp.{server}], only if you mean it")
    } else if fix.contains("outbound") {
        format!(
            "an HTTP MCP server may only be reached at the origin of its url (a redirect to \
             another host or port is refused); change url under [mcp.{server}] if the server \
             has moved"
        )
    } else {
        fix.replace(
            &format!("[plugins.mcp:{server}.grant]"),
            &format!("[mcp.{server}]"),
        )
    };
    EgressError::Denied { reason, fix }
}

/// A header value from rmcp (derived from the message, possibly from tool arguments): one
/// holding a placeholder goes base64-encoded, so egress sees no placeholder in it.
fn neutralize_header(value: String) -> String {
    if chitin_secrets::find_placeholders(&value).is_empty() {
        return value;
    }
    format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    )
}

/// The JSON of `message` with `{{secret:` written as `{\u007bsecret:` (the same string once
/// parsed), so egress finds no placeholder in the body. `{{` only occurs inside JSON strings.
fn json_body(message: &ClientJsonRpcMessage) -> HttpResult<Vec<u8>> {
    let json = serde_json::to_vec(message)?;
    let needle = chitin_secrets::PLACEHOLDER_PREFIX.as_bytes();
    if !json.windows(needle.len()).any(|w| w == needle) {
        return Ok(json);
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut rest: &[u8] = &json;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"{\\u007b");
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn content_type_is(headers: &[(String, String)], mime: &str) -> bool {
    header(headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .get(..mime.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(mime))
    })
}

/// 401/403 with a challenge, as rmcp's own client reports them.
fn auth_error(response: &StreamingResponse) -> Option<StreamableHttpError<EgressError>> {
    let challenge = header(&response.headers, "www-authenticate")?.to_string();
    match response.status {
        401 => Some(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            challenge,
        ))),
        403 => {
            let scope = scope_of(&challenge);
            Some(StreamableHttpError::InsufficientScope(
                InsufficientScopeError::new(challenge, scope),
            ))
        }
        _ => None,
    }
}

/// The `scope=` parameter of a `WWW-Authenticate` challenge.
fn scope_of(challenge: &str) -> Option<String> {
    let at = challenge.to_ascii_lowercase().find("scope=")? + "scope=".len();
    let value = &challenge[at..];
    match value.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().map(str::to_string),
        None => value
            .split([',', ' '])
            .next()
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    }
}

/// 429 and 5xx, with `Retry-After`.
fn status_error(response: &StreamingResponse) -> Option<HttpStatusError> {
    (response.status == 429 || response.status >= 500).then(|| {
        HttpStatusError::new(
            response.status,
            header(&response.headers, "retry-after").map(str::to_string),
        )
    })
}

/// The whole body, refused past `max` bytes.
async fn read_body(mut body: BodyStream, max: usize) -> HttpResult<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body
        .next_chunk()
        .await
        .map_err(StreamableHttpError::Client)?
    {
        if chunk.len() > max - out.len() {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The body as a stream of byte chunks, failing once an SSE event grows past
/// `max_event_size`.
fn byte_stream(
    body: BodyStream,
    max_event_size: usize,
) -> impl Stream<Item = Result<Bytes, EgressError>> + Send + 'static {
    futures_util::stream::unfold(
        (Some(body), EventLimiter::new(max_event_size)),
        |(state, mut limiter)| async move {
            let mut body = state?;
            match body.next_chunk().await {
                Ok(Some(chunk)) => {
                    if !limiter.feed(&chunk) {
                        let err = EgressError::TooLarge {
                            limit: limiter.max as u64,
                        };
                        return Some((Err(err), (None, limiter)));
                    }
                    Some((Ok(Bytes::from(chunk)), (Some(body), limiter)))
                }
                Ok(None) => None,
                Err(e) => Some((Err(e), (None, limiter))),
            }
        },
    )
}

fn sse_stream(
    body: BodyStream,
    max_event_size: usize,
) -> BoxStream<'static, Result<Sse, SseError>> {
    SseStream::from_bytes_stream(byte_stream(body, max_event_size)).boxed()
}

/// Counts the bytes of the SSE event being received (everything since the last blank line).
struct EventLimiter {
    max: usize,
    size: usize,
    at_line_start: bool,
    after_cr: bool,
}

impl EventLimiter {
    fn new(max: usize) -> Self {
        EventLimiter {
            max,
            size: 0,
            at_line_start: true,
            after_cr: false,
        }
    }

    /// False once the current event is larger than the limit.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    if self.at_line_start {
                        self.size = 0;
                    }
                    self.at_line_start = true;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.at_line_start = false;
                    self.after_cr = false;
                    self.size += 1;
                    if self.size > self.max {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// A 4xx answer to `server/discover` on a connection without a session, turned into the
/// JSON-RPC error rmcp's lifecycle classifies (a legacy server answers the probe this way);
/// mirrors what rmcp's reqwest client does.
fn legacy_discover_response(
    message: &ClientJsonRpcMessage,
    session_was_attached: bool,
    status: u16,
    body: &str,
) -> Option<StreamableHttpPostResponse> {
    if session_was_attached || !(400..500).contains(&status) || matches!(status, 401 | 403) {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = match serde_json::from_str::<ServerJsonRpcMessage>(body) {
        Ok(ServerJsonRpcMessage::Error(error)) => error.error,
        _ => ErrorData::invalid_request(
            format!("server/discover rejected with HTTP {status}: {body}"),
            None,
        ),
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

fn expects_no_reply(message: &ClientJsonRpcMessage) -> bool {
    matches!(
        message,
        ClientJsonRpcMessage::Notification(_)
            | ClientJsonRpcMessage::Response(_)
            | ClientJsonRpcMessage::Error(_)
    )
}

fn is_listen(message: &ClientJsonRpcMessage) -> bool {
    matches!(
        message,
        ClientJsonRpcMessage::Request(request)
            if matches!(request.request, ClientRequest::SubscriptionsListenRequest(_))
    )
}

impl StreamableHttpClient for EgressHttp {
    type Error = EgressError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            MAX_JSON_BYTES,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let timeout = if is_listen(&message) {
            self.stream_timeout
        } else {
            self.post_timeout
        };
        let mut request = self.request(
            "POST",
            &uri,
            session_id.as_deref(),
            custom_headers,
            Some(json_body(&message)?),
            timeout,
        )?;
        request
            .headers
            .push(("accept".into(), format!("{EVENT_STREAM}, {JSON}")));
        request
            .headers
            .push(("content-type".into(), JSON.to_string()));
        let response = self.send(request).await?;
        if let Some(err) = auth_error(&response) {
            return Err(err);
        }
        let status = response.status;
        if matches!(status, 202 | 204) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        let session_was_attached = session_id.is_some();
        if status == 404 && session_was_attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let is_json = content_type_is(&response.headers, JSON);
        let is_sse = content_type_is(&response.headers, EVENT_STREAM);
        let status_failure = status_error(&response);
        if let Some(err) = &status_failure
            && (!is_json || status == 429)
        {
            return Err(HttpStatusError::new(err.status, err.retry_after.clone()).into());
        }
        let new_session = header(&response.headers, SESSION_ID).map(str::to_string);
        let content_length =
            header(&response.headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if (200..300).contains(&status) && content_length == Some(0) && expects_no_reply(&message) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if !(200..300).contains(&status) {
            let body = match read_body(response.body, MAX_ERROR_BYTES).await {
                Ok(body) => String::from_utf8_lossy(&body).into_owned(),
                Err(StreamableHttpError::ResponseBodyTooLarge { max_size }) => {
                    return Err(status_failure
                        .map(StreamableHttpError::from)
                        .unwrap_or(StreamableHttpError::ResponseBodyTooLarge { max_size }));
                }
                Err(_) => "<failed to read response body>".to_string(),
            };
            if let Some(response) =
                legacy_discover_response(&message, session_was_attached, status, &body)
            {
                return Ok(response);
            }
            if is_json
                && !matches!(status, 401 | 403)
                && let Ok(error @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_str::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(error, new_session));
            }
            if let Some(err) = status_failure {
                return Err(err.into());
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!(
                    "HTTP {status}: {}",
                    body.chars().take(512).collect::<String>()
                ),
            )));
        }
        if is_sse {
            return Ok(StreamableHttpPostResponse::Sse(
                sse_stream(response.body, max_sse_event_size),
                new_session,
            ));
        }
        if is_json {
            let body = read_body(response.body, MAX_JSON_BYTES).await?;
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(parsed) => Ok(StreamableHttpPostResponse::Json(parsed, new_session)),
                Err(_) if expects_no_reply(&message) => Ok(StreamableHttpPostResponse::Accepted),
                Err(e) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                    format!(
                        "could not parse the JSON response as JSON-RPC: {e}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(256)])
                    ),
                ))),
            };
        }
        Err(StreamableHttpError::UnexpectedContentType(
            header(&response.headers, "content-type").map(str::to_string),
        ))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        let request = self.request(
            "DELETE",
            &uri,
            Some(&session_id),
            custom_headers,
            None,
            self.post_timeout,
        )?;
        let response = self.send(request).await?;
        match response.status {
            405 => Ok(()),
            status if (200..300).contains(&status) => Ok(()),
            status => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status} when ending the session"),
            ))),
        }
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            MAX_JSON_BYTES,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        let mut request = self.request(
            "GET",
            &uri,
            session_id.as_deref(),
            custom_headers,
            None,
            self.stream_timeout,
        )?;
        request
            .headers
            .push(("accept".into(), format!("{EVENT_STREAM}, {JSON}")));
        if let Some(id) = last_event_id {
            request.headers.push((LAST_EVENT_ID.into(), id));
        }
        let response = self.send(request).await?;
        if response.status == 405 {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(err) = auth_error(&response) {
            return Err(err);
        }
        if let Some(err) = status_error(&response) {
            return Err(err.into());
        }
        if !(200..300).contains(&response.status) {
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {} for the event stream", response.status),
            )));
        }
        if !content_type_is(&response.headers, EVENT_STREAM)
            && !content_type_is(&response.headers, JSON)
        {
            return Err(StreamableHttpError::UnexpectedContentType(
                header(&response.headers, "content-type").map(str::to_string),
            ));
        }
        Ok(sse_stream(response.body, max_sse_event_size))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequest, CallToolRequestParams, RequestId};
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_in_the_body_are_escaped_but_mean_the_same() {
        let mut params = CallToolRequestParams::new("echo");
        params.arguments = json!({"text": "a {{secret:TOKEN}} b {{x"})
            .as_object()
            .cloned();
        let message = ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            RequestId::Number(1),
        );
        let body = json_body(&message).expect("json");
        let text = String::from_utf8(body.clone()).expect("utf8");
        assert!(
            chitin_secrets::find_placeholders(&text).is_empty(),
            "{text}"
        );
        let parsed: serde_json::Value = serde_json::from_slice(&body).expect("still JSON");
        assert_eq!(
            parsed["params"]["arguments"]["text"],
            "a {{secret:TOKEN}} b {{x"
        );
    }

    #[test]
    fn placeholders_in_derived_headers_are_base64_encoded() {
        assert_eq!(neutralize_header("plain".into()), "plain");
        let encoded = neutralize_header("{{secret:TOKEN}}".into());
        assert_eq!(encoded, "=?base64?e3tzZWNyZXQ6VE9LRU59fQ==?=");
    }

    #[test]
    fn sse_events_are_limited_in_size() {
        let mut limiter = EventLimiter::new(8);
        assert!(limiter.feed(b"data: a\r"));
        assert!(limiter.feed(b"\n\r\n"));
        assert!(limiter.feed(b"data: b\n\ndata: c\n\n"));
        assert!(!limiter.feed(b"data: 0123456789"));
    }

    #[test]
    fn scope_is_read_from_the_challenge() {
        assert_eq!(
            scope_of(r#"Bearer error="insufficient_scope", scope="files:read files:write""#)
                .as_deref(),
            Some("files:read files:write")
        );
        assert_eq!(
            scope_of("Bearer scope=read:data").as_deref(),
            Some("read:data")
        );
        assert_eq!(scope_of("Bearer"), None);
    }
}
