//! The full agent loop over every provider plugin: for each vendor, a turn where that vendor's
//! fake fails in its own way (rate limit, overload, error after 200) and the loop fails over to
//! another vendor, which calls a sandboxed tool and then answers.

use std::sync::Arc;

use chitin_agent::{
    Agent, AgentConfig, AgentEvent, AgentRuntime, ModelConfig, PluginProvider, ResolvedModel,
    RetryPolicy, RunRequest, ToolRegistry,
};
use chitin_manifest::Grant;
use chitin_sandbox::Plugin;
use chitin_workspace::{SkillSet, Workspace};
use serde_json::json;

use crate::common::{TestHost, grant};
use crate::fakes::anthropic::FakeAnthropic;
use crate::fakes::gemini::FakeGemini;
use crate::fakes::ollama::FakeOllama;
use crate::fakes::openai::FakeOpenAi;
use crate::fakes::{Reply, fixed};

#[derive(Clone, Copy, Debug)]
enum Vendor {
    OpenAi,
    Anthropic,
    Ollama,
    Gemini,
}

impl Vendor {
    fn plugin(self) -> &'static str {
        match self {
            Vendor::OpenAi => "openai",
            Vendor::Anthropic => "anthropic",
            Vendor::Ollama => "ollama",
            Vendor::Gemini => "gemini",
        }
    }

    /// The vendor's own way of saying "not now".
    fn failure(self) -> Reply {
        match self {
            Vendor::OpenAi => FakeOpenAi::rate_limited(120),
            Vendor::Anthropic => FakeAnthropic::error(529, "overloaded_error", "Overloaded"),
            Vendor::Ollama => FakeOllama::error(503, "server busy, please try again"),
            Vendor::Gemini => FakeGemini::rate_limited("90s"),
        }
    }

    fn tool_call(self) -> Reply {
        match self {
            Vendor::OpenAi => FakeOpenAi::tool_calls(
                &[
                    (0, Some(("call_1", "echo")), "{\"text\":"),
                    (0, None, " \"ping\"}"),
                ],
                "tool_calls",
            ),
            Vendor::Anthropic => FakeAnthropic::tool_use(
                "Let me check.",
                "toolu_1",
                "echo",
                &["{\"text\":", " \"ping\"}"],
            ),
            Vendor::Ollama => FakeOllama::tool_calls(&[("echo", json!({"text": "ping"}))]),
            Vendor::Gemini => FakeGemini::function_calls("", &[("echo", json!({"text": "ping"}))]),
        }
    }

    fn answer(self) -> Reply {
        match self {
            Vendor::OpenAi => FakeOpenAi::text(&["pong ", "received"], 20, 2, 0),
            Vendor::Anthropic => FakeAnthropic::text("", &["pong ", "received"]),
            Vendor::Ollama => FakeOllama::text(&["pong ", "received"]),
            Vendor::Gemini => FakeGemini::text(&["pong ", "received"]),
        }
    }

    async fn start(self, replies: Vec<Reply>) -> (String, u16, Box<dyn Fn() -> usize + Send>) {
        let script = replies.into_iter().map(fixed).collect();
        match self {
            Vendor::OpenAi => {
                let f = FakeOpenAi::start(script).await;
                let (url, port) = (f.base_url(), f.server.port());
                (url, port, Box::new(move || f.server.requests().len()))
            }
            Vendor::Anthropic => {
                let f = FakeAnthropic::start(script).await;
                let (url, port) = (f.base_url(), f.server.port());
                (url, port, Box::new(move || f.server.requests().len()))
            }
            Vendor::Ollama => {
                let f = FakeOllama::start(script).await;
                let (url, port) = (f.base_url(), f.server.port());
                (url, port, Box::new(move || f.server.requests().len()))
            }
            Vendor::Gemini => {
                let f = FakeGemini::start(script).await;
                let (url, port) = (f.base_url(), f.server.port());
                (url, port, Box::new(move || f.server.requests().len()))
            }
        }
    }
}

fn model(reference: &str, plugin: Arc<Plugin>, base_url: String) -> ResolvedModel {
    let (provider, model) = reference.split_once('/').unwrap();
    ResolvedModel {
        reference: reference.to_string(),
        provider_id: provider.to_string(),
        model_id: model.to_string(),
        config: ModelConfig {
            context_window: 32_000,
            max_tokens: 256,
            cost_input: 0.0,
            cost_output: 0.0,
            temperature: None,
        },
        base_url,
        options: "{}".to_string(),
        proxy: None,
        provider: Arc::new(PluginProvider::new(plugin)),
    }
}

async fn failover_turn(failing: Vendor, answering: Vendor) {
    let host = TestHost::new();
    let (bad_url, bad_port, bad_requests) = failing.start(vec![failing.failure()]).await;
    let (good_url, good_port, good_requests) = answering
        .start(vec![answering.tool_call(), answering.answer()])
        .await;
    let load = |vendor: Vendor, port: u16| {
        Arc::new(host.load(
            vendor.plugin(),
            &grant(&format!("outbound = [\"http://127.0.0.1:{port}\"]")),
        ))
    };
    let bad_plugin = load(failing, bad_port);
    let good_plugin = load(answering, good_port);
    let echo = Arc::new(host.load("echo", &Grant::default()));
    let mut tools = ToolRegistry::with_native_tools();
    tools.add_plugin(echo).await.unwrap();

    let workspace = Workspace::new(host.dir.path().join("workspace"));
    workspace.ensure().unwrap();
    let config: AgentConfig =
        toml::from_str("model = \"bad/m\"\nfallbacks = [\"good/m\"]\ntimeout_secs = 30\n").unwrap();
    let agent = Agent {
        id: "main".into(),
        config,
        workspace,
        skills: SkillSet::load(&[]),
        models: vec![
            model("bad/m", bad_plugin, bad_url),
            model("good/m", good_plugin, good_url),
        ],
    };
    let store = Arc::new(chitin_store::Store::open(&host.dir.path().join("agent.db")).unwrap());
    let runtime = AgentRuntime::new(store.clone(), tools, vec![agent], 2, RetryPolicy::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = runtime
        .run(
            RunRequest {
                agent_id: "main".into(),
                session_key: "agent:main:test:default:dm:me".into(),
                message: "ping through echo".into(),
                origin: chitin_agent::RunOrigin::Interactive,
            },
            tx,
        )
        .await
        .unwrap_or_else(|err| panic!("{failing:?} -> {answering:?}: {err}"));
    assert_eq!(
        outcome.text, "pong received",
        "{failing:?} -> {answering:?}"
    );
    assert_eq!(outcome.model, "good/m");
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AgentEvent::Failover { from, .. } if from == "bad/m")),
        "{failing:?}: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AgentEvent::ToolEnd { name, ok: true, output, .. } if name == "echo" && output == "ping")),
        "{answering:?} did not run the echo tool: {events:?}"
    );
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        streamed.ends_with("pong received"),
        "{answering:?} streamed {streamed:?}"
    );
    assert_eq!(
        bad_requests(),
        1,
        "{failing:?} is cooling down, not retried"
    );
    assert_eq!(good_requests(), 2);
    let rows = store.transcript("agent:main:test:default:dm:me").unwrap();
    assert_eq!(
        rows.len(),
        4,
        "user, assistant tool call, tool result, answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_fails_over_from_openai_to_anthropic() {
    failover_turn(Vendor::OpenAi, Vendor::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_fails_over_from_anthropic_to_ollama() {
    failover_turn(Vendor::Anthropic, Vendor::Ollama).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_fails_over_from_ollama_to_gemini() {
    failover_turn(Vendor::Ollama, Vendor::Gemini).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_fails_over_from_gemini_to_openai() {
    failover_turn(Vendor::Gemini, Vendor::OpenAi).await;
}
