//! The frames of protocol v1 (docs/protocol.md) and the error codes a client can act on.

use serde::Deserialize;
use serde_json::{Value, json};

pub const PROTOCOL_VERSION: u64 = 1;

/// A request as the client sent it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

/// Longest request id a client may choose.
const MAX_ID_CHARS: usize = 64;

/// Parses one text frame into a request, or the error to answer (with the id when one could
/// be read, so the client can match it).
pub fn parse_request(text: &str) -> Result<Request, Box<(Value, RpcError)>> {
    let bad = |id: Value, error: RpcError| Box::new((id, error));
    let value: Value = serde_json::from_str(text).map_err(|err| {
        bad(
            Value::Null,
            RpcError::invalid(format!("the frame is not JSON: {err}")),
        )
    })?;
    let id = match &value["id"] {
        Value::String(id) if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS => {
            Value::String(id.clone())
        }
        _ => {
            return Err(bad(
                Value::Null,
                RpcError::invalid(format!(
                    "`id` must be a string of 1 to {MAX_ID_CHARS} characters"
                )),
            ));
        }
    };
    let request: Request = serde_json::from_value(value).map_err(|err| {
        bad(
            id.clone(),
            RpcError::invalid(format!(
                "not a request frame ({err}); send {{\"type\":\"req\",\"id\",\"method\",\"params\"}}"
            )),
        )
    })?;
    if request.kind != "req" {
        return Err(bad(
            id,
            RpcError::invalid(format!(
                "`type` is \"{}\"; clients send \"req\" frames only",
                request.kind
            )),
        ));
    }
    if !(request.params.is_object() || request.params.is_null()) {
        return Err(bad(id, RpcError::invalid("`params` must be an object")));
    }
    Ok(request)
}

/// An error answer. `code` is one of the codes in docs/protocol.md.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
    pub details: Option<Value>,
}

impl RpcError {
    pub fn new(code: &'static str, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            retryable: matches!(code, "RATE_LIMITED" | "BUSY" | "UNAVAILABLE" | "INTERNAL"),
            retry_after_ms: None,
            details: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> RpcError {
        RpcError::new("INVALID_REQUEST", message)
    }

    pub fn not_found(message: impl Into<String>) -> RpcError {
        RpcError::new("NOT_FOUND", message)
    }

    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new("INTERNAL", message)
    }

    pub fn with_details(mut self, details: Value) -> RpcError {
        self.details = Some(details);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        });
        if let Some(ms) = self.retry_after_ms {
            error["retryAfterMs"] = json!(ms);
        }
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        error
    }
}

impl From<chitin_store::StoreError> for RpcError {
    fn from(err: chitin_store::StoreError) -> Self {
        RpcError::internal(format!("storage error: {err}"))
    }
}

pub fn response_ok(id: &Value, payload: Value) -> String {
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

pub fn response_err(id: &Value, error: &RpcError) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": error.to_json()}).to_string()
}

pub fn event(event: &str, payload: &Value, seq: u64) -> String {
    json!({"type": "event", "event": event, "payload": payload, "seq": seq}).to_string()
}

/// Reads a required string parameter.
pub fn required_str<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    match &params[name] {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::Null => Err(RpcError::invalid(format!(
            "`params.{name}` is required (a non-empty string)"
        ))),
        _ => Err(RpcError::invalid(format!(
            "`params.{name}` must be a non-empty string"
        ))),
    }
}

/// Reads an optional string parameter.
pub fn optional_str<'a>(params: &'a Value, name: &str) -> Result<Option<&'a str>, RpcError> {
    match &params[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(RpcError::invalid(format!(
            "`params.{name}` must be a string"
        ))),
    }
}

/// Reads an optional non-negative integer parameter, bounded.
pub fn optional_u64(params: &Value, name: &str, max: u64) -> Result<Option<u64>, RpcError> {
    match &params[name] {
        Value::Null => Ok(None),
        value => match value.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(RpcError::invalid(format!(
                "`params.{name}` must be an integer from 0 to {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing_names_the_problem() {
        let ok = parse_request(r#"{"type":"req","id":"1","method":"status"}"#).unwrap();
        assert_eq!(ok.method, "status");
        assert!(ok.params.is_null());

        let (id, err) = *parse_request("{nope").unwrap_err();
        assert!(id.is_null() && err.code == "INVALID_REQUEST");
        assert!(err.message.contains("not JSON"));

        let (id, err) = *parse_request(r#"{"type":"req","method":"status"}"#).unwrap_err();
        assert!(id.is_null() && err.message.contains("`id`"));

        let (id, err) = *parse_request(r#"{"type":"res","id":"7","method":"x"}"#).unwrap_err();
        assert_eq!(id, json!("7"));
        assert!(err.message.contains("\"req\""));

        let (_, err) =
            *parse_request(r#"{"type":"req","id":"7","method":"x","params":[1]}"#).unwrap_err();
        assert!(err.message.contains("params"));

        let long = "x".repeat(65);
        let (_, err) =
            *parse_request(&format!(r#"{{"type":"req","id":"{long}","method":"x"}}"#)).unwrap_err();
        assert!(err.message.contains("1 to 64"));
    }

    #[test]
    fn error_json_carries_retry_hints() {
        let mut err = RpcError::new("RATE_LIMITED", "slow down");
        err.retry_after_ms = Some(1500);
        let json = err.to_json();
        assert_eq!(json["retryable"], true);
        assert_eq!(json["retryAfterMs"], 1500);
        assert_eq!(RpcError::invalid("x").to_json()["retryable"], false);
    }
}
