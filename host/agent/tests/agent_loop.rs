//! The agent loop against scripted in-process providers: tool rounds, failover, compaction,
//! lanes and queue modes. (Provider plugins against fake vendor servers are tested in
//! tests/all/providers.rs; this file tests the loop's decisions.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitin_agent::{
    Agent, AgentConfig, AgentError, AgentEvent, AgentRuntime, Failure, ModelConfig, ModelProvider,
    QueueMode, ResolvedModel, RetryPolicy, RunRequest, ToolRegistry,
};
use chitin_sandbox::{
    Completion, CompletionRequest, FinishReason, ProviderError, Role, StreamEvent, ToolCall, Usage,
};
use chitin_store::{MessageRole, Store};
use chitin_workspace::{SkillSet, Workspace};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

type Reply = Box<dyn Fn(&CompletionRequest) -> Result<Completion, Failure> + Send + Sync>;

/// A provider that answers from a script and records every request it got.
#[derive(Default)]
struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<CompletionRequest>>,
    /// The proxy each call was given.
    proxies: Mutex<Vec<Option<String>>>,
    delay: Mutex<Option<Duration>>,
}

impl Scripted {
    fn push(
        &self,
        reply: impl Fn(&CompletionRequest) -> Result<Completion, Failure> + Send + Sync + 'static,
    ) {
        self.replies.lock().unwrap().push_back(Box::new(reply));
    }
    fn text(&self, text: &str) {
        let text = text.to_string();
        self.push(move |_| Ok(answer(&text)));
    }
    fn fail(&self, error: ProviderError) {
        self.push(move |_| Err(Failure::Provider(error.clone())));
    }
    fn tools(&self, calls: &[(&str, &str, &str)]) {
        let calls: Vec<ToolCall> = calls
            .iter()
            .map(|(id, name, args)| ToolCall {
                id: id.to_string(),
                name: name.to_string(),
                arguments: args.to_string(),
            })
            .collect();
        self.push(move |_| {
            Ok(Completion {
                text: String::new(),
                tool_calls: calls.clone(),
                finish_reason: FinishReason::ToolCalls,
                usage: None,
                provider_data: None,
            })
        });
    }
    fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(text: &str) -> Completion {
    Completion {
        text: text.to_string(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        usage: Some(Usage {
            input_tokens: 100,
            output_tokens: 10,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
        }),
        provider_data: None,
    }
}

impl ModelProvider for Scripted {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        proxy: Option<&'a str>,
        events: UnboundedSender<StreamEvent>,
    ) -> BoxFuture<'a, Result<Completion, Failure>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request.clone());
            self.proxies.lock().unwrap().push(proxy.map(str::to_string));
            // The reply is taken when the request is sent, as a real server commits to it.
            let reply = self.replies.lock().unwrap().pop_front();
            let delay = *self.delay.lock().unwrap();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let Some(reply) = reply else {
                return Err(Failure::Provider(ProviderError::BadRequest(
                    "script exhausted".into(),
                )));
            };
            let result = reply(&request);
            if let Ok(completion) = &result {
                // Stream the text in two pieces, as a real provider would.
                let (a, b) = completion.text.split_at(completion.text.len() / 2);
                for piece in [a, b].into_iter().filter(|p| !p.is_empty()) {
                    let _ = events.send(StreamEvent::TextDelta(piece.to_string()));
                }
            }
            result
        })
    }
}

struct Fixture {
    runtime: Arc<AgentRuntime>,
    primary: Arc<Scripted>,
    fallback: Arc<Scripted>,
    dir: tempfile::TempDir,
}

fn model(reference: &str, provider: Arc<Scripted>, window: u32) -> ResolvedModel {
    let (p, m) = reference.split_once('/').unwrap();
    ResolvedModel {
        reference: reference.to_string(),
        provider_id: p.to_string(),
        model_id: m.to_string(),
        config: ModelConfig {
            context_window: window,
            max_tokens: 100,
            cost_input: 1.0,
            cost_output: 2.0,
            temperature: None,
        },
        base_url: format!("http://{p}.invalid/v1"),
        options: "{}".to_string(),
        // The fallback's provider is reached through a proxy (see
        // `each_model_is_called_with_its_providers_proxy`).
        proxy: (p == "beta").then(|| "http://127.0.0.1:3128".to_string()),
        provider,
    }
}

fn fixture_with(window: u32, configure: impl FnOnce(&mut AgentConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Workspace::new(dir.path().join("workspace"));
    workspace.ensure().unwrap();
    let primary = Arc::new(Scripted::default());
    let fallback = Arc::new(Scripted::default());
    let mut config: AgentConfig = toml::from_str(
        "model = \"alpha/one\"\nfallbacks = [\"beta/two\"]\nmax_iterations = 5\ntimeout_secs = 5\n",
    )
    .unwrap();
    configure(&mut config);
    let agent = Agent {
        id: "main".to_string(),
        config,
        workspace,
        skills: SkillSet::load(&[]),
        models: vec![
            model("alpha/one", primary.clone(), window),
            model("beta/two", fallback.clone(), window),
        ],
    };
    let retry = RetryPolicy {
        max_retries: 2,
        backoff: Duration::from_millis(5),
        max_inline_wait: Duration::from_millis(200),
        cooldown: Duration::from_secs(60),
        auth_cooldown: Duration::from_secs(600),
    };
    let store = Arc::new(Store::open(&dir.path().join("chitin.db")).unwrap());
    let runtime = AgentRuntime::new(
        store,
        ToolRegistry::with_native_tools(),
        vec![agent],
        4,
        retry,
    );
    Fixture {
        runtime: Arc::new(runtime),
        primary,
        fallback,
        dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(100_000, |_| {})
}

fn request(message: &str) -> RunRequest {
    RunRequest {
        agent_id: "main".into(),
        session_key: "agent:main:test:default:dm:me".into(),
        message: message.into(),
        origin: chitin_agent::RunOrigin::Interactive,
    }
}

async fn run(
    f: &Fixture,
    message: &str,
) -> (
    Result<chitin_agent::RunOutcome, AgentError>,
    Vec<AgentEvent>,
) {
    let (tx, mut rx) = unbounded_channel();
    let result = f.runtime.run(request(message), tx).await;
    (result, drain(&mut rx))
}

fn drain(rx: &mut UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

fn roles(f: &Fixture) -> Vec<MessageRole> {
    f.runtime
        .store()
        .transcript("agent:main:test:default:dm:me")
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect()
}

#[tokio::test]
async fn answers_and_streams() {
    let f = fixture();
    f.primary.text("Hello there!");
    let (result, events) = run(&f, "hi").await;
    let outcome = result.unwrap();
    assert_eq!(outcome.text, "Hello there!");
    assert_eq!(outcome.model, "alpha/one");
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "Hello there!");
    assert!(matches!(events.last(), Some(AgentEvent::Done { .. })));
    assert_eq!(roles(&f), [MessageRole::User, MessageRole::Assistant]);
    // The request carried the system prompt (with the workspace files) and the user message.
    let sent = &f.primary.requests()[0];
    assert_eq!(sent.messages[0].role, Role::System);
    assert!(
        sent.messages[0].content.contains("AGENTS.md"),
        "{}",
        sent.messages[0].content
    );
    assert_eq!(sent.messages.last().unwrap().content, "hi");
    assert!(sent.tools.iter().any(|t| t.name == "memory_search"));
    let usage = f.runtime.store().usage_summary(None).unwrap();
    assert_eq!(usage.len(), 1);
    // The turn is searchable memory, indexed as a document of its own.
    let hits = f
        .runtime
        .store()
        .memory_search("main", "Hello there", 5)
        .unwrap();
    assert!(
        hits.iter()
            .any(|h| h.source == "session:agent:main:test:default:dm:me#1"),
        "{hits:?}"
    );
}

#[tokio::test]
async fn memory_files_edited_outside_are_indexed_before_the_turn() {
    let f = fixture();
    std::fs::write(
        f.dir.path().join("workspace/MEMORY.md"),
        "The user's cat is called Pixel.\n",
    )
    .unwrap();
    f.primary.text("ok");
    run(&f, "hi").await.0.unwrap();
    let hits = f.runtime.store().memory_search("main", "Pixel", 5).unwrap();
    assert_eq!(
        hits.first().map(|h| h.source.as_str()),
        Some("MEMORY.md"),
        "{hits:?}"
    );
}

#[tokio::test]
async fn runs_tool_calls_in_parallel_and_feeds_results_back() {
    let f = fixture();
    f.primary.tools(&[
        (
            "c1",
            "memory_write",
            r#"{"text":"The user likes green tea."}"#,
        ),
        ("c2", "memory_get", r#"{"path":"MEMORY.md"}"#),
        ("c3", "memory_write", "{not json"),
        ("c4", "no_such_tool", "{}"),
    ]);
    f.primary.push(|req| {
        // Every result is in the request, in order, next to its call.
        let tool_messages: Vec<_> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .collect();
        assert_eq!(tool_messages.len(), 4);
        assert_eq!(tool_messages[0].tool_call_id.as_deref(), Some("c1"));
        assert!(
            tool_messages[0].content.starts_with("noted in memory/"),
            "{}",
            tool_messages[0].content
        );
        assert!(
            tool_messages[2].content.contains("not valid JSON"),
            "{}",
            tool_messages[2].content
        );
        assert!(
            tool_messages[3].content.contains("unknown tool"),
            "{}",
            tool_messages[3].content
        );
        Ok(answer("Noted."))
    });
    let (result, events) = run(&f, "remember I like green tea").await;
    assert_eq!(result.unwrap().iterations, 2);
    let starts = events
        .iter()
        .filter(|e| matches!(e, AgentEvent::ToolStart { .. }))
        .count();
    let failed = events
        .iter()
        .filter(|e| matches!(e, AgentEvent::ToolEnd { ok: false, .. }))
        .count();
    assert_eq!((starts, failed), (4, 2));
    let notes = std::fs::read_dir(f.dir.path().join("workspace/memory"))
        .unwrap()
        .count();
    assert_eq!(notes, 1);
    // What was written is searchable.
    let hits = f
        .runtime
        .store()
        .memory_search("main", "green tea", 5)
        .unwrap();
    assert!(!hits.is_empty());
}

#[tokio::test]
async fn rate_limit_with_long_retry_after_fails_over_and_cools_down() {
    let f = fixture();
    f.primary.fail(ProviderError::RateLimited(Some(60_000)));
    f.fallback.text("from beta");
    let (result, events) = run(&f, "hi").await;
    assert_eq!(result.unwrap().model, "beta/two");
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Failover { from, to, .. } if from == "alpha/one" && to == "beta/two")));
    // The primary is cooling down: the next turn goes straight to the fallback.
    f.fallback.text("again beta");
    let (result, _) = run(&f, "again").await;
    assert_eq!(result.unwrap().text, "again beta");
    assert_eq!(f.primary.requests().len(), 1);
}

#[tokio::test]
async fn short_retry_after_and_transient_errors_retry_the_same_model() {
    let f = fixture();
    f.primary.fail(ProviderError::RateLimited(Some(20)));
    f.primary
        .fail(ProviderError::Transient("connection reset".into()));
    f.primary.text("third time lucky");
    let (result, _) = run(&f, "hi").await;
    let outcome = result.unwrap();
    assert_eq!(
        (outcome.text.as_str(), outcome.model.as_str()),
        ("third time lucky", "alpha/one")
    );
    assert_eq!(f.primary.requests().len(), 3);
    assert!(f.fallback.requests().is_empty());
}

#[tokio::test]
async fn auth_and_overload_move_on_and_all_failures_are_reported() {
    let f = fixture();
    f.primary
        .fail(ProviderError::Auth("invalid x-api-key".into()));
    f.fallback.fail(ProviderError::Overloaded(None));
    let (result, events) = run(&f, "hi").await;
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("alpha/one: authentication failed: invalid x-api-key"),
        "{text}"
    );
    assert!(text.contains("beta/two: overloaded"), "{text}");
    assert!(matches!(events.last(), Some(AgentEvent::Error { .. })));
    // The user's message is kept even though the turn failed.
    assert_eq!(roles(&f), [MessageRole::User]);
}

#[tokio::test]
async fn provider_data_is_not_sent_to_another_provider() {
    let f = fixture();
    f.primary.push(|_| {
        let mut c = answer("with a signature");
        c.provider_data = Some("sig-alpha".into());
        Ok(c)
    });
    run(&f, "first").await.0.unwrap();
    f.primary.fail(ProviderError::Auth("revoked".into()));
    f.fallback.text("ok");
    run(&f, "second").await.0.unwrap();
    let to_beta = &f.fallback.requests()[0];
    assert!(to_beta.messages.iter().all(|m| m.provider_data.is_none()));
}

#[tokio::test]
async fn context_overflow_compacts_with_a_memory_flush_and_retries_once() {
    let f = fixture();
    for i in 0..4 {
        f.primary.text(&format!("answer {i}"));
        run(&f, &format!("question {i}")).await.0.unwrap();
    }
    f.primary
        .fail(ProviderError::ContextOverflow("prompt is too long".into()));
    // The flush turn: the model saves a memory.
    f.primary.push(|req| {
        assert!(
            req.messages[0].content.contains("memory flush"),
            "{}",
            req.messages[0].content
        );
        assert_eq!(req.tools.len(), 1);
        Ok(Completion {
            text: "NO_REPLY".into(),
            tool_calls: vec![ToolCall {
                id: "f1".into(),
                name: "memory_write".into(),
                arguments: r#"{"text":"User asks numbered questions."}"#.into(),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: None,
            provider_data: None,
        })
    });
    f.primary.push(|req| {
        assert!(
            req.messages[0].content.contains("Summarize"),
            "{}",
            req.messages[0].content
        );
        assert!(req.messages[1].content.contains("question 0"));
        Ok(answer("The user asked questions 0 to 3 and got answers."))
    });
    f.primary.push(|req| {
        assert!(
            req.messages[1]
                .content
                .contains("Summary of the earlier conversation"),
            "{:?}",
            req.messages[1]
        );
        assert!(!req.messages.iter().any(|m| m.content == "question 0"));
        Ok(answer("answer 4"))
    });
    let (result, events) = run(&f, "question 4").await;
    assert_eq!(result.unwrap().text, "answer 4");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AgentEvent::Compacted { .. }))
    );
    let session = f
        .runtime
        .store()
        .session_get("agent:main:test:default:dm:me")
        .unwrap()
        .unwrap();
    assert!(session.summary.unwrap().contains("questions 0 to 3"));
    let note = std::fs::read_dir(f.dir.path().join("workspace/memory"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(
        std::fs::read_to_string(note.path())
            .unwrap()
            .contains("numbered questions")
    );
}

#[tokio::test]
async fn a_small_window_triggers_compaction_before_the_call() {
    // ~120 tokens of window: a few turns fill it.
    let f = fixture_with(1_000, |c| c.tools_deny = vec!["*".into()]);
    let long = "word ".repeat(200);
    for _ in 0..8 {
        let long = long.clone();
        f.primary.push(move |req| {
            if req.messages[0].content.contains("Summarize") {
                Ok(answer("summary of earlier turns"))
            } else {
                Ok(answer(&long))
            }
        });
    }
    let mut compactions = 0;
    for i in 0..3 {
        let (result, events) = run(&f, &format!("{long} q{i}")).await;
        result.unwrap();
        compactions += events
            .iter()
            .filter(|e| matches!(e, AgentEvent::Compacted { .. }))
            .count();
    }
    assert!(
        compactions >= 1,
        "no compaction happened with a tiny window"
    );
    let session = f
        .runtime
        .store()
        .session_get("agent:main:test:default:dm:me")
        .unwrap()
        .unwrap();
    assert_eq!(session.summary.as_deref(), Some("summary of earlier turns"));
    // The live transcript was cut down to the tail; the full history is still stored.
    let live = f
        .runtime
        .store()
        .transcript("agent:main:test:default:dm:me")
        .unwrap()
        .len();
    let all = f
        .runtime
        .store()
        .history("agent:main:test:default:dm:me", 100, None)
        .unwrap()
        .len();
    assert!(live < all, "live {live}, all {all}");
    // No request after compaction exceeded the window estimate by much: each kept the tail only.
    let last = f.primary.requests().last().unwrap().clone();
    assert!(
        last.messages
            .iter()
            .any(|m| m.content.contains("Summary of the earlier conversation"))
    );
}

#[tokio::test]
async fn stops_at_max_iterations() {
    let f = fixture_with(100_000, |c| c.max_iterations = 3);
    for i in 0..3 {
        f.primary
            .tools(&[(&format!("c{i}"), "memory_search", r#"{"query":"x"}"#)]);
    }
    let (result, _) = run(&f, "loop").await;
    assert_eq!(result.unwrap_err(), AgentError::MaxIterations(3));
}

#[tokio::test]
async fn stops_at_the_turn_timeout() {
    let f = fixture_with(100_000, |c| c.timeout_secs = 1);
    *f.primary.delay.lock().unwrap() = Some(Duration::from_secs(3));
    f.primary.text("too late");
    let (result, _) = run(&f, "hi").await;
    assert_eq!(
        result.unwrap_err(),
        AgentError::Timeout(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn one_turn_at_a_time_per_session() {
    let f = fixture();
    *f.primary.delay.lock().unwrap() = Some(Duration::from_millis(100));
    f.primary.text("first answer");
    f.primary.text("second answer");
    let (a, b) = tokio::join!(run(&f, "first"), run(&f, "second"));
    assert_eq!(a.0.unwrap().text, "first answer");
    assert_eq!(b.0.unwrap().text, "second answer");
    let rows = f
        .runtime
        .store()
        .transcript("agent:main:test:default:dm:me")
        .unwrap();
    let contents: Vec<&str> = rows.iter().map(|r| r.content.as_str()).collect();
    assert_eq!(
        contents,
        ["first", "first answer", "second", "second answer"]
    );
}

#[tokio::test]
async fn interrupt_mode_stops_the_running_turn() {
    let f = Arc::new(fixture_with(100_000, |c| {
        c.queue_mode = QueueMode::Interrupt
    }));
    *f.primary.delay.lock().unwrap() = Some(Duration::from_millis(300));
    f.primary.text("slow answer");
    f.primary.text("new answer");
    let first = {
        let f = f.clone();
        tokio::spawn(async move { run(&f, "slow question").await.0 })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = run(&f, "never mind").await.0;
    assert_eq!(first.await.unwrap().unwrap_err(), AgentError::Interrupted);
    assert_eq!(second.unwrap().text, "new answer");
}

#[tokio::test]
async fn collect_mode_folds_queued_messages_into_one_turn() {
    let f = Arc::new(fixture_with(100_000, |c| c.queue_mode = QueueMode::Collect));
    *f.primary.delay.lock().unwrap() = Some(Duration::from_millis(200));
    f.primary.text("answer one");
    f.primary.text("answer two and three");
    let first = {
        let f = f.clone();
        tokio::spawn(async move { run(&f, "one").await.0 })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let f = f.clone();
        tokio::spawn(async move { run(&f, "two").await.0 })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = run(&f, "three").await.0.unwrap();
    assert!(third.collected);
    assert_eq!(first.await.unwrap().unwrap().text, "answer one");
    assert_eq!(second.await.unwrap().unwrap().text, "answer two and three");
    let last_request = f.primary.requests().last().unwrap().clone();
    assert_eq!(
        last_request.messages.last().unwrap().content,
        "two\n\nthree"
    );
}

#[tokio::test]
async fn agent_concurrency_is_capped_across_sessions() {
    let f = Arc::new(fixture_with(100_000, |c| c.max_concurrent = 1));
    *f.primary.delay.lock().unwrap() = Some(Duration::from_millis(150));
    f.primary.text("a");
    f.primary.text("b");
    let started = std::time::Instant::now();
    let run_in = |session: &'static str| {
        let f = f.clone();
        async move {
            let (tx, _rx) = unbounded_channel();
            f.runtime
                .run(
                    RunRequest {
                        agent_id: "main".into(),
                        session_key: session.into(),
                        message: "hi".into(),
                        origin: chitin_agent::RunOrigin::Interactive,
                    },
                    tx,
                )
                .await
        }
    };
    let (a, b) = tokio::join!(
        run_in("agent:main:test:default:dm:a"),
        run_in("agent:main:test:default:dm:b")
    );
    a.unwrap();
    b.unwrap();
    // Two different sessions, but one slot: the turns ran one after the other.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn each_model_is_called_with_its_providers_proxy() {
    let f = fixture();
    f.primary.fail(ProviderError::Overloaded(None));
    f.fallback.text("through the proxy");
    let (result, _) = run(&f, "hi").await;
    assert_eq!(result.unwrap().text, "through the proxy");
    assert_eq!(*f.primary.proxies.lock().unwrap(), [None]);
    assert_eq!(
        *f.fallback.proxies.lock().unwrap(),
        [Some("http://127.0.0.1:3128".to_string())]
    );
}

fn tool_result(req: &CompletionRequest, call_id: &str) -> String {
    req.messages
        .iter()
        .find(|m| m.role == Role::Tool && m.tool_call_id.as_deref() == Some(call_id))
        .map(|m| m.content.clone())
        .unwrap_or_else(|| panic!("no result for {call_id}"))
}

#[tokio::test]
async fn sessions_send_runs_a_turn_in_another_session_and_returns_its_reply() {
    let f = fixture();
    // Outer turn: ask the other session.
    f.primary.tools(&[(
        "s1",
        "sessions_send",
        r#"{"sessionKey":"agent:main:research","message":"What did you find?"}"#,
    )]);
    // The other session's turn sees the message with where it came from.
    f.primary.push(|req| {
        let last = req.messages.last().unwrap();
        assert!(
            last.content
                .contains("[message from session agent:main:test:default:dm:me]"),
            "{}",
            last.content
        );
        Ok(answer("Three papers."))
    });
    // Outer turn continues with the reply, then lists sessions.
    f.primary.push(|req| {
        assert_eq!(tool_result(req, "s1"), "Three papers.");
        Ok(Completion {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: "l1".into(),
                name: "sessions_list".into(),
                arguments: "{}".into(),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: None,
            provider_data: None,
        })
    });
    f.primary.push(|req| {
        let listed = tool_result(req, "l1");
        assert!(
            listed.contains("agent:main:research (2 messages"),
            "{listed}"
        );
        assert!(listed.contains("agent:main:test:default:dm:me"), "{listed}");
        Ok(answer("They found three papers."))
    });
    let (result, _) = run(&f, "ask research").await;
    assert_eq!(result.unwrap().text, "They found three papers.");
    let other = f.runtime.store().transcript("agent:main:research").unwrap();
    assert_eq!(other.len(), 2);
}

#[tokio::test]
async fn sessions_send_refuses_loops_and_other_agents() {
    let f = fixture();
    f.primary.tools(&[
        (
            "a",
            "sessions_send",
            r#"{"sessionKey":"agent:main:test:default:dm:me","message":"hi me"}"#,
        ),
        (
            "b",
            "sessions_send",
            r#"{"sessionKey":"agent:other:main","message":"hi"}"#,
        ),
        (
            "c",
            "sessions_send",
            r#"{"sessionKey":"nope","message":"hi"}"#,
        ),
    ]);
    f.primary.push(|req| {
        assert!(tool_result(req, "a").contains("waiting for this conversation"));
        assert!(tool_result(req, "b").contains("send_to_agents"));
        assert!(tool_result(req, "c").contains("not a session key"));
        Ok(answer("ok"))
    });
    let (result, _) = run(&f, "loop").await;
    assert_eq!(result.unwrap().text, "ok");
}

#[tokio::test]
async fn a_session_asked_by_another_cannot_ask_it_back() {
    let f = fixture();
    f.primary.tools(&[(
        "s1",
        "sessions_send",
        r#"{"sessionKey":"agent:main:b","message":"question"}"#,
    )]);
    // Session b tries to message the session that is waiting for it.
    f.primary.tools(&[(
        "s2",
        "sessions_send",
        r#"{"sessionKey":"agent:main:test:default:dm:me","message":"back at you"}"#,
    )]);
    f.primary.push(|req| {
        assert!(
            tool_result(req, "s2").contains("waiting for this conversation"),
            "{}",
            tool_result(req, "s2")
        );
        Ok(answer("b's answer"))
    });
    f.primary.push(|req| {
        assert_eq!(tool_result(req, "s1"), "b's answer");
        Ok(answer("done"))
    });
    let (result, _) = run(&f, "go").await;
    assert_eq!(result.unwrap().text, "done");
}
