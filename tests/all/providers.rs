//! The provider plugins (openai, anthropic, ollama, gemini) against fake vendor servers on
//! 127.0.0.1: streamed events, the assembled completion, error classification, and that the API
//! key is injected by the host into the right header without the plugin ever seeing it.

use chitin_manifest::Grant;
use chitin_sandbox::{
    Completion, CompletionRequest, FinishReason, Message, Plugin, ProviderError, Role, StreamEvent,
    ToolCall, ToolDefinition, Usage,
};
use serde_json::json;

use crate::common::{API_TOKEN, TestHost, grant};
use crate::fakes::anthropic::FakeAnthropic;
use crate::fakes::gemini::FakeGemini;
use crate::fakes::ollama::FakeOllama;
use crate::fakes::openai::FakeOpenAi;
use crate::fakes::{FakeServer, Reply, fixed};

/// `assert_eq!` for the WIT records, which implement `Debug` but not `PartialEq`.
macro_rules! assert_same {
    ($left:expr, $right:expr $(,)?) => {
        assert_eq!(format!("{:?}", $left), format!("{:?}", $right))
    };
}

/// Outbound to the fake only; with `key`, the `API_KEY` secret (store key `API_TOKEN`) for
/// any port on 127.0.0.1.
fn provider_grant(server: &FakeServer, key: bool) -> Grant {
    let mut text = format!("outbound = [\"http://127.0.0.1:{}\"]\n", server.port());
    if key {
        text.push_str(
            "[[secrets]]\nname = \"API_KEY\"\nstore_key = \"API_TOKEN\"\nhosts = [\"http://127.0.0.1:*\"]\n",
        );
    }
    grant(&text)
}

fn message(role: Role, content: &str) -> Message {
    Message {
        role,
        content: content.to_string(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        provider_data: None,
    }
}

fn request(base_url: String, model: &str) -> CompletionRequest {
    CompletionRequest {
        model: model.to_string(),
        messages: vec![
            message(Role::System, "You are terse."),
            message(Role::User, "What's the weather in Paris?"),
        ],
        tools: vec![ToolDefinition {
            name: "get_weather".to_string(),
            description: "Current weather for a city".to_string(),
            parameters_schema: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            })
            .to_string(),
        }],
        max_tokens: Some(256),
        temperature: Some(0.2),
        base_url,
        options: "{}".to_string(),
    }
}

/// Runs one completion; returns what was streamed and the provider's result.
async fn complete(
    plugin: &Plugin,
    req: &CompletionRequest,
) -> (Vec<StreamEvent>, Result<Completion, ProviderError>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = plugin
        .complete(req, tx)
        .await
        .unwrap_or_else(|err| panic!("the sandbox failed the call: {err}"));
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (events, result)
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn tool_deltas(events: &[StreamEvent]) -> Vec<(u32, Option<String>, Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments_fragment,
            } => Some((*index, id.clone(), name.clone(), arguments_fragment.clone())),
            _ => None,
        })
        .collect()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments: arguments.to_string(),
    }
}

// ---------------------------------------------------------------- OpenAI

#[tokio::test]
async fn providers_openai_streams_text_usage_and_sends_the_key_as_bearer() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(
        &["The weather", " in Paris", " is 18°C."],
        50,
        9,
        20,
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, true));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    let completion = result.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta("The weather".into()),
            StreamEvent::TextDelta(" in Paris".into()),
            StreamEvent::TextDelta(" is 18°C.".into()),
        ]
    );
    assert_eq!(completion.text, "The weather in Paris is 18°C.");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert!(completion.tool_calls.is_empty());
    assert_same!(
        completion.usage,
        Some(Usage {
            input_tokens: 30,
            output_tokens: 9,
            cache_read_tokens: 20,
            cache_write_tokens: 0
        })
    );
    let sent = fake.server.request();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.target, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {API_TOKEN}").as_str())
    );
    let body = sent.json();
    assert_eq!(body["model"], "gpt-fake");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
}

#[tokio::test]
async fn providers_openai_key_reaches_the_server_but_never_the_plugin() {
    let fake = FakeOpenAi::start(vec![FakeOpenAi::echo_header("authorization")]).await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, true));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    let completion = result.unwrap();
    // The server got the real key…
    assert_eq!(
        fake.server.request().header("authorization"),
        Some(format!("Bearer {API_TOKEN}").as_str())
    );
    // …and echoed it, but the host scrubbed it from the body before the plugin read it.
    assert!(
        completion.text.starts_with("received: Bearer "),
        "{}",
        completion.text
    );
    assert!(!completion.text.contains(API_TOKEN), "{}", completion.text);
    assert!(!text_of(&events).contains(API_TOKEN));
}

#[tokio::test]
async fn providers_openai_without_a_key_sends_no_auth_header() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(&["ok"], 1, 1, 0))]).await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let (_, result) = complete(&plugin, &request(fake.base_url(), "local-model")).await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(fake.server.request().header("authorization"), None);
}

#[tokio::test]
async fn providers_openai_fragmented_tool_calls_with_a_lying_finish_reason() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::tool_calls(
        &[
            (0, Some(("call_a", "get_weather")), ""),
            (0, None, "{\"ci"),
            (1, Some(("call_b", "get_weather")), "{\"city\":"),
            (0, None, "ty\": \"Paris\"}"),
            (1, None, "\"Lyon\"}"),
        ],
        "stop",
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    let completion = result.unwrap();
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_same!(
        completion.tool_calls,
        vec![
            call("call_a", "get_weather", r#"{"city": "Paris"}"#),
            call("call_b", "get_weather", r#"{"city":"Lyon"}"#),
        ]
    );
    let deltas = tool_deltas(&events);
    assert_eq!(deltas.len(), 5);
    assert_eq!(
        deltas[0],
        (
            0,
            Some("call_a".into()),
            Some("get_weather".into()),
            String::new()
        )
    );
    assert_eq!(deltas[1], (0, None, None, "{\"ci".into()));
    assert_eq!(deltas[2].0, 1);
    let usage = completion.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 30));
}

#[tokio::test]
async fn providers_openai_invalid_tool_json_is_passed_through() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::tool_calls(
        &[
            (0, Some(("call_x", "get_weather")), "{\"city\": \"Par"),
            (0, None, "is\", }}"),
        ],
        "tool_calls",
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let (_, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    let completion = result.unwrap();
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_same!(
        completion.tool_calls,
        vec![call("call_x", "get_weather", "{\"city\": \"Paris\", }}")]
    );
}

#[tokio::test]
async fn providers_openai_rate_limits_use_retry_after_or_reset_headers() {
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::rate_limited(7)),
        fixed(FakeOpenAi::rate_limited_reset_headers()),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, true));
    let req = request(fake.base_url(), "gpt-fake");
    let (events, result) = complete(&plugin, &req).await;
    assert!(events.is_empty());
    assert_same!(result.unwrap_err(), ProviderError::RateLimited(Some(7000)));
    // Only x-ratelimit-*: the exhausted limit (tokens) decides.
    let (_, result) = complete(&plugin, &req).await;
    assert_same!(
        result.unwrap_err(),
        ProviderError::RateLimited(Some(360_000))
    );
}

#[tokio::test]
async fn providers_openai_classifies_http_errors() {
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided: sk-fake***.",
        )),
        fixed(FakeOpenAi::error(
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        )),
        fixed(FakeOpenAi::error(503, "server_error", None, "The engine is currently overloaded, please try again later").header("retry-after", "2")),
        fixed(FakeOpenAi::error(404, "invalid_request_error", Some("model_not_found"), "The model `gpt-nope` does not exist")),
        fixed(FakeOpenAi::error(500, "server_error", None, "The server had an error while processing your request.")),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, true));
    let req = request(fake.base_url(), "gpt-fake");
    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(complete(&plugin, &req).await.1.unwrap_err());
    }
    assert!(
        matches!(&results[0], ProviderError::Auth(m) if m.contains("Incorrect API key")),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], ProviderError::ContextOverflow(m) if m.contains("maximum context length")),
        "{:?}",
        results[1]
    );
    assert_same!(results[2], ProviderError::Overloaded(Some(2000)));
    assert!(
        matches!(&results[3], ProviderError::BadRequest(m) if m.contains("gpt-nope")),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], ProviderError::Transient(_)),
        "{:?}",
        results[4]
    );
}

#[tokio::test]
async fn providers_openai_error_after_200_is_transient() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::error_mid_stream(
        "Partial",
        "The server had an error while processing your request.",
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    assert_eq!(events, vec![StreamEvent::TextDelta("Partial".into())]);
    assert!(
        matches!(&result, Err(ProviderError::Transient(m)) if m.contains("server had an error")),
        "{result:?}"
    );
}

#[tokio::test]
async fn providers_openai_stream_broken_off_is_transient() {
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::partial(&["Partial ", "answer"]).cut_off()),
        fixed(FakeOpenAi::partial(&["Partial ", "answer"])),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let req = request(fake.base_url(), "gpt-fake");
    // The connection is reset mid-body.
    let (events, result) = complete(&plugin, &req).await;
    assert!(
        matches!(&result, Err(ProviderError::Transient(_))),
        "{result:?}"
    );
    // Whatever arrived before the break was streamed.
    assert!("Partial answer".starts_with(&text_of(&events)));
    // The body ends cleanly, but without a finish reason or [DONE].
    let (events, result) = complete(&plugin, &req).await;
    assert_eq!(text_of(&events), "Partial answer");
    assert!(
        matches!(&result, Err(ProviderError::Transient(m)) if m.contains("ended before")),
        "{result:?}"
    );
}

#[tokio::test]
async fn providers_openai_merges_options_and_replays_tool_turns() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(&["done"], 1, 1, 0))]).await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let mut req = request(fake.base_url(), "gpt-fake");
    req.messages.push(Message {
        tool_calls: vec![call("call_1", "get_weather", r#"{"city":"Paris"}"#)],
        ..message(Role::Assistant, "")
    });
    req.messages.push(Message {
        tool_call_id: Some("call_1".into()),
        ..message(Role::Tool, "18°C, sunny")
    });
    req.options = r#"{"top_p": 0.9, "stream_options": null, "temperature": 1}"#.to_string();
    let (_, result) = complete(&plugin, &req).await;
    assert_eq!(result.unwrap().text, "done");
    let body = fake.server.request().json();
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["temperature"], 1);
    assert!(body.get("stream_options").is_none());
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Paris"}"#
    );
    assert_eq!(body["messages"][3]["role"], "tool");
    assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
}

#[tokio::test]
async fn providers_models_list_is_left_to_the_operator() {
    let host = TestHost::new();
    for id in ["openai", "anthropic", "ollama", "gemini"] {
        let plugin = host.load(id, &Grant::default());
        assert!(plugin.models().await.unwrap().is_empty(), "{id}");
    }
}

#[tokio::test]
async fn providers_refused_base_url_is_a_capability_error() {
    // The grant allows only the fake; a base_url elsewhere is refused by the host before any
    // connection (and reported as the operator's problem, not a provider outage).
    let fake = FakeOpenAi::start(Vec::new()).await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let other = FakeServer::start(Vec::new()).await;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = plugin
        .complete(&request(other.url("/v1"), "gpt-fake"), tx)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "capability_denied", "{err}");
    assert!(other.requests().is_empty());
}

// ---------------------------------------------------------------- Anthropic

#[tokio::test]
async fn providers_anthropic_streams_thinking_and_text_with_x_api_key() {
    let fake = FakeAnthropic::start(vec![fixed(FakeAnthropic::text(
        "The user wants weather.",
        &["It is ", "sunny."],
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("anthropic", &provider_grant(&fake.server, true));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "claude-fake")).await;
    let completion = result.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::ThinkingDelta("The user wants weather.".into()),
            StreamEvent::TextDelta("It is ".into()),
            StreamEvent::TextDelta("sunny.".into()),
        ]
    );
    assert_eq!(completion.text, "It is sunny.");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_same!(
        completion.usage,
        Some(Usage {
            input_tokens: 472,
            output_tokens: 15,
            cache_read_tokens: 1024,
            cache_write_tokens: 0
        })
    );
    // The signed thinking block comes back for the next turn.
    let data: serde_json::Value =
        serde_json::from_str(completion.provider_data.as_deref().unwrap()).unwrap();
    assert_eq!(data["anthropic_thinking"][0]["signature"], "EqQBCgIYAhIM");
    let sent = fake.server.request();
    assert_eq!(sent.target, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(API_TOKEN));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["tools"][0]["input_schema"]["required"][0], "city");
}

#[tokio::test]
async fn providers_anthropic_tool_use_input_json_deltas() {
    let fake = FakeAnthropic::start(vec![fixed(FakeAnthropic::tool_use(
        "Let me check.",
        "toolu_01A",
        "get_weather",
        &["{\"city\"", ": \"Par", "is\"}"],
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("anthropic", &provider_grant(&fake.server, false));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "claude-fake")).await;
    let completion = result.unwrap();
    assert_eq!(completion.text, "Let me check.");
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_same!(
        completion.tool_calls,
        vec![call("toolu_01A", "get_weather", r#"{"city": "Paris"}"#)]
    );
    let deltas = tool_deltas(&events);
    assert_eq!(
        deltas,
        vec![
            (
                0,
                Some("toolu_01A".into()),
                Some("get_weather".into()),
                String::new()
            ),
            (0, None, None, "{\"city\"".into()),
            (0, None, None, ": \"Par".into()),
            (0, None, None, "is\"}".into()),
        ]
    );
    assert_eq!(fake.server.request().header("x-api-key"), None);
}

#[tokio::test]
async fn providers_anthropic_overloaded_rate_limited_auth_and_context() {
    let fake = FakeAnthropic::start(vec![
        fixed(FakeAnthropic::error(529, "overloaded_error", "Overloaded")),
        fixed(FakeAnthropic::rate_limited(600, Some(12))),
        fixed(FakeAnthropic::rate_limited(30, None)),
        fixed(FakeAnthropic::error(
            401,
            "authentication_error",
            "invalid x-api-key",
        )),
        fixed(FakeAnthropic::error(
            400,
            "invalid_request_error",
            "prompt is too long: 215000 tokens > 200000 maximum",
        )),
        fixed(FakeAnthropic::error(
            400,
            "invalid_request_error",
            "messages: roles must alternate",
        )),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("anthropic", &provider_grant(&fake.server, true));
    let req = request(fake.base_url(), "claude-fake");
    let mut results = Vec::new();
    for _ in 0..6 {
        results.push(complete(&plugin, &req).await.1.unwrap_err());
    }
    assert_same!(results[0], ProviderError::Overloaded(None));
    // retry-after wins over the reset headers.
    assert_same!(results[1], ProviderError::RateLimited(Some(12_000)));
    // Without it, the exhausted limit's anthropic-ratelimit-*-reset time decides.
    match results[2] {
        ProviderError::RateLimited(Some(ms)) => {
            assert!((27_000..=31_000).contains(&ms), "{ms}")
        }
        ref other => panic!("{other:?}"),
    }
    assert!(matches!(&results[3], ProviderError::Auth(m) if m.contains("invalid x-api-key")));
    assert!(
        matches!(&results[4], ProviderError::ContextOverflow(m) if m.contains("prompt is too long"))
    );
    assert!(matches!(&results[5], ProviderError::BadRequest(m) if m.contains("alternate")));
}

#[tokio::test]
async fn providers_anthropic_errors_after_200() {
    let fake = FakeAnthropic::start(vec![
        fixed(FakeAnthropic::error_mid_stream(
            "Hel",
            "overloaded_error",
            "Overloaded",
        )),
        fixed(FakeAnthropic::error_mid_stream(
            "Hel",
            "api_error",
            "Internal server error",
        )),
        fixed(FakeAnthropic::truncated("Hel")),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("anthropic", &provider_grant(&fake.server, false));
    let req = request(fake.base_url(), "claude-fake");
    let (events, result) = complete(&plugin, &req).await;
    assert_eq!(events, vec![StreamEvent::TextDelta("Hel".into())]);
    assert_same!(result.unwrap_err(), ProviderError::Overloaded(None));
    let (_, result) = complete(&plugin, &req).await;
    assert!(
        matches!(result, Err(ProviderError::Transient(m)) if m.contains("Internal server error"))
    );
    let (events, result) = complete(&plugin, &req).await;
    assert_eq!(text_of(&events), "Hel");
    assert!(matches!(result, Err(ProviderError::Transient(m)) if m.contains("message_stop")));
}

#[tokio::test]
async fn providers_anthropic_replays_thinking_and_tool_results() {
    let fake = FakeAnthropic::start(vec![fixed(FakeAnthropic::text("ok", &["Done."]))]).await;
    let host = TestHost::new();
    let plugin = host.load("anthropic", &provider_grant(&fake.server, false));
    let mut req = request(fake.base_url(), "claude-fake");
    req.max_tokens = None;
    req.messages.push(Message {
        tool_calls: vec![
            call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
            call("toolu_2", "get_weather", "{not json"),
        ],
        provider_data: Some(
            json!({"anthropic_thinking": [{"type": "thinking", "thinking": "hm", "signature": "sig"}]})
                .to_string(),
        ),
        ..message(Role::Assistant, "Checking both.")
    });
    for (id, out) in [("toolu_1", "18°C"), ("toolu_2", "error: invalid arguments")] {
        req.messages.push(Message {
            tool_call_id: Some(id.into()),
            ..message(Role::Tool, out)
        });
    }
    let (_, result) = complete(&plugin, &req).await;
    assert_eq!(result.unwrap().text, "Done.");
    let body = fake.server.request().json();
    assert_eq!(body["max_tokens"], 8192);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let assistant = &messages[1]["content"];
    assert_eq!(assistant[0]["type"], "thinking");
    assert_eq!(assistant[0]["signature"], "sig");
    assert_eq!(assistant[2]["input"], json!({"city": "Paris"}));
    assert_eq!(assistant[3]["input"], json!({"invalid_json": "{not json"}));
    // Both results in one user turn.
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(messages[2]["content"][1]["tool_use_id"], "toolu_2");
}

// ---------------------------------------------------------------- Ollama

#[tokio::test]
async fn providers_ollama_streams_ndjson_text_without_auth() {
    let fake = FakeOllama::start(vec![fixed(FakeOllama::text(&["Bonjour", " Paris"]))]).await;
    let host = TestHost::new();
    let plugin = host.load("ollama", &provider_grant(&fake.server, false));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "llama-fake")).await;
    let completion = result.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta("Bonjour".into()),
            StreamEvent::TextDelta(" Paris".into()),
        ]
    );
    assert_eq!(completion.text, "Bonjour Paris");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_same!(
        completion.usage,
        Some(Usage {
            input_tokens: 26,
            output_tokens: 9,
            cache_read_tokens: 0,
            cache_write_tokens: 0
        })
    );
    let sent = fake.server.request();
    assert_eq!(sent.target, "/api/chat");
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["options"]["num_predict"], 256);
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
}

#[tokio::test]
async fn providers_ollama_whole_tool_calls_and_optional_bearer() {
    let fake = FakeOllama::start(vec![fixed(FakeOllama::tool_calls(&[
        ("get_weather", json!({"city": "Paris"})),
        ("get_weather", json!({"city": "Nice"})),
    ]))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("ollama", &provider_grant(&fake.server, true));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "llama-fake")).await;
    let completion = result.unwrap();
    // Ollama says "stop"; tool calls were made, so the agent loop is told to run them.
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_same!(
        completion.tool_calls,
        vec![
            call("call_0", "get_weather", r#"{"city":"Paris"}"#),
            call("call_1", "get_weather", r#"{"city":"Nice"}"#),
        ]
    );
    let deltas = tool_deltas(&events);
    assert_eq!(
        deltas[1],
        (
            1,
            None,
            Some("get_weather".into()),
            r#"{"city":"Nice"}"#.into()
        )
    );
    assert_eq!(
        fake.server.request().header("authorization"),
        Some(format!("Bearer {API_TOKEN}").as_str())
    );
}

#[tokio::test]
async fn providers_ollama_error_line_and_missing_model() {
    let fake = FakeOllama::start(vec![
        fixed(FakeOllama::error_mid_stream(
            "Par",
            "an error was encountered while running the model: unexpected EOF",
        )),
        fixed(FakeOllama::error(
            404,
            "model \"nope\" not found, try pulling it first",
        )),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("ollama", &provider_grant(&fake.server, false));
    let req = request(fake.base_url(), "llama-fake");
    let (events, result) = complete(&plugin, &req).await;
    assert_eq!(events, vec![StreamEvent::TextDelta("Par".into())]);
    assert!(matches!(result, Err(ProviderError::Transient(m)) if m.contains("unexpected EOF")));
    let (_, result) = complete(&plugin, &req).await;
    assert!(matches!(result, Err(ProviderError::BadRequest(m)) if m.contains("try pulling it")));
}

// ---------------------------------------------------------------- Gemini

#[tokio::test]
async fn providers_gemini_streams_text_with_x_goog_api_key() {
    let fake = FakeGemini::start(vec![fixed(FakeGemini::text(&["Sunny", " and 18°C."]))]).await;
    let host = TestHost::new();
    let plugin = host.load("gemini", &provider_grant(&fake.server, true));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gemini-2.5-flash")).await;
    let completion = result.unwrap();
    assert_eq!(text_of(&events), "Sunny and 18°C.");
    assert_eq!(events.len(), 2);
    assert_eq!(completion.text, "Sunny and 18°C.");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_same!(
        completion.usage,
        Some(Usage {
            input_tokens: 31,
            output_tokens: 15,
            cache_read_tokens: 0,
            cache_write_tokens: 0
        })
    );
    let sent = fake.server.request();
    assert_eq!(
        sent.target,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(sent.header("x-goog-api-key"), Some(API_TOKEN));
    assert!(!sent.target.contains(API_TOKEN));
    let body = sent.json();
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        "You are terse."
    );
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 256);
}

#[tokio::test]
async fn providers_gemini_function_calls_and_signatures() {
    let fake = FakeGemini::start(vec![fixed(FakeGemini::function_calls(
        "Checking.",
        &[
            ("get_weather", json!({"city": "Paris"})),
            ("get_weather", json!({"city": "Lyon"})),
        ],
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("gemini", &provider_grant(&fake.server, false));
    let (events, result) = complete(&plugin, &request(fake.base_url(), "gemini-fake")).await;
    let completion = result.unwrap();
    assert_eq!(completion.text, "Checking.");
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(completion.tool_calls.len(), 2);
    assert_eq!(completion.tool_calls[1].arguments, r#"{"city":"Lyon"}"#);
    assert_eq!(tool_deltas(&events).len(), 2);
    let data: serde_json::Value =
        serde_json::from_str(completion.provider_data.as_deref().unwrap()).unwrap();
    assert_eq!(
        data["gemini_signatures"][completion.tool_calls[0].id.as_str()],
        "Q2lJQkFYWkV"
    );
    assert_eq!(fake.server.request().header("x-goog-api-key"), None);
}

#[tokio::test]
async fn providers_gemini_classifies_errors() {
    let fake = FakeGemini::start(vec![
        fixed(FakeGemini::rate_limited("26s")),
        fixed(FakeGemini::error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            json!([]),
        )),
        fixed(FakeGemini::error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com"}]),
        )),
        fixed(FakeGemini::error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", json!([]))),
        fixed(FakeGemini::error_mid_stream("Hi", 500, "INTERNAL", "An internal error has occurred.")),
    ])
    .await;
    let host = TestHost::new();
    let plugin = host.load("gemini", &provider_grant(&fake.server, true));
    let req = request(fake.base_url(), "gemini-fake");
    assert_same!(
        complete(&plugin, &req).await.1.unwrap_err(),
        ProviderError::RateLimited(Some(26_000))
    );
    assert!(matches!(
        complete(&plugin, &req).await.1,
        Err(ProviderError::ContextOverflow(m)) if m.contains("input token count")
    ));
    assert!(matches!(
        complete(&plugin, &req).await.1,
        Err(ProviderError::Auth(m)) if m.contains("API key not valid")
    ));
    assert_same!(
        complete(&plugin, &req).await.1.unwrap_err(),
        ProviderError::Overloaded(None)
    );
    let (events, result) = complete(&plugin, &req).await;
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    assert!(matches!(result, Err(ProviderError::Transient(m)) if m.contains("internal error")));
}

/// A reply that is not a stream at all (a proxy answering 200 with a JSON error) is classified
/// from its body instead of being mistaken for an empty answer.
#[tokio::test]
async fn providers_json_error_with_200_is_classified() {
    let fake = FakeOpenAi::start(vec![fixed(Reply::json(
        200,
        json!({"error": {"message": "upstream overloaded", "type": "overloaded_error"}}),
    ))])
    .await;
    let host = TestHost::new();
    let plugin = host.load("openai", &provider_grant(&fake.server, false));
    let (_, result) = complete(&plugin, &request(fake.base_url(), "gpt-fake")).await;
    assert_same!(result.unwrap_err(), ProviderError::Overloaded(None));
}
