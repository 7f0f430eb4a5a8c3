//! `FakeGemini`: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`, streamed as SSE
//! whose events are whole `GenerateContentResponse`s (`\r\n\r\n`-terminated, as Google sends
//! them), errors as `{"error": {code, message, status, details}}` (google.rpc.Status).

use serde_json::{Value, json};

use super::{FakeServer, Reply, Responder, sse_data};

pub struct FakeGemini {
    pub server: FakeServer,
}

impl FakeGemini {
    pub async fn start(script: Vec<Responder>) -> FakeGemini {
        FakeGemini {
            server: FakeServer::start(script).await,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.url("/v1beta")
    }

    fn event(parts: Value, finish: Option<&str>, usage: bool) -> String {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(reason) = finish {
            candidate["finishReason"] = json!(reason);
        }
        let mut response = json!({"candidates": [candidate], "modelVersion": "gemini-fake",
                                  "responseId": "fake-1"});
        if usage {
            response["usageMetadata"] = json!({"promptTokenCount": 31, "candidatesTokenCount": 11,
                                               "thoughtsTokenCount": 4, "totalTokenCount": 46});
        }
        sse_data(&response.to_string(), "\r\n")
    }

    /// Text in `pieces`; the last event carries `finishReason: STOP` and `usageMetadata`.
    pub fn text(pieces: &[&str]) -> Reply {
        let n = pieces.len();
        let frames: Vec<String> = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let last = i + 1 == n;
                Self::event(json!([{"text": p}]), last.then_some("STOP"), last)
            })
            .collect();
        Reply::stream("text/event-stream", &frames, 10)
    }

    /// Some text, then whole `functionCall` parts (with a thought signature on the first),
    /// `finishReason: STOP` (Gemini says STOP for function calls too).
    pub fn function_calls(text: &str, calls: &[(&str, Value)]) -> Reply {
        let mut parts: Vec<Value> = calls
            .iter()
            .map(|(name, args)| json!({"functionCall": {"name": name, "args": args}}))
            .collect();
        if let Some(first) = parts.first_mut() {
            first["thoughtSignature"] = json!("Q2lJQkFYWkV");
        }
        let frames = vec![
            Self::event(json!([{"text": text}]), None, false),
            Self::event(Value::Array(parts), Some("STOP"), true),
        ];
        Reply::stream("text/event-stream", &frames, 23)
    }

    /// Text, then an event carrying `error` after the 200.
    pub fn error_mid_stream(text: &str, code: u16, status: &str, message: &str) -> Reply {
        let frames = vec![
            Self::event(json!([{"text": text}]), None, false),
            sse_data(
                &json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
                "\r\n",
            ),
        ];
        Reply::stream("text/event-stream", &frames, 64)
    }

    pub fn error(code: u16, status: &str, message: &str, details: Value) -> Reply {
        Reply::json(
            code,
            json!({"error": {"code": code, "message": message, "status": status, "details": details}}),
        )
    }

    /// 429 RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` detail.
    pub fn rate_limited(retry_delay: &str) -> Reply {
        Self::error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            json!([
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            ]),
        )
    }
}
