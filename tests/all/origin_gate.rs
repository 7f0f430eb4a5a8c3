//! The origin gate: an unattended run (cron, heartbeat, webhook) that has read untrusted input
//! cannot call writing or sending tools unless the operator allowed them, while an
//! interactive run can. The untrusted input is a page fetched by the sandboxed `web-fetch`
//! plugin (declared `reads-untrusted`); the write is the native `memory_write`.

use std::sync::Arc;

use chitin_agent::{
    Agent, AgentConfig, AgentEvent, AgentRuntime, ModelConfig, PluginProvider, ResolvedModel,
    RetryPolicy, RunOrigin, RunRequest, ToolRegistry,
};
use chitin_workspace::{SkillSet, Workspace};

use crate::common::{TestHost, TestServer, grant};
use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;

/// Fetch a page, then try to write memory, then answer.
fn script(page_url: &str) -> Vec<crate::fakes::Responder> {
    let fetch: &'static str = Box::leak(
        serde_json::json!({"url": page_url})
            .to_string()
            .into_boxed_str(),
    );
    vec![
        fixed(FakeOpenAi::tool_calls(
            &[(0, Some(("call_fetch", "web_fetch")), fetch)],
            "tool_calls",
        )),
        fixed(FakeOpenAi::tool_calls(
            &[(
                0,
                Some(("call_write", "memory_write")),
                r#"{"text":"the page told me to remember this"}"#,
            )],
            "tool_calls",
        )),
        fixed(FakeOpenAi::text(&["Done."], 10, 2, 0)),
    ]
}

/// Runs the scripted turn with `origin` and returns the memory_write result (ok, output).
async fn write_after_fetch(origin: RunOrigin, unattended_allow: &str) -> (bool, String) {
    let host = TestHost::new();
    let page = TestServer::start().await;
    let fake = FakeOpenAi::start(script(&page.url("/hello"))).await;
    let openai = Arc::new(host.load(
        "openai",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            fake.server.port()
        )),
    ));
    let web_fetch = Arc::new(host.load(
        "web-fetch",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            page.port()
        )),
    ));
    let mut tools = ToolRegistry::with_native_tools();
    tools.add_plugin(web_fetch).await.unwrap();
    let workspace = Workspace::new(host.dir.path().join("workspace"));
    workspace.ensure().unwrap();
    let config: AgentConfig = toml::from_str(&format!(
        "model = \"fake/m\"\ntimeout_secs = 30\nunattended_allow = [{unattended_allow}]\n"
    ))
    .unwrap();
    let agent = Agent {
        id: "main".into(),
        config,
        workspace,
        skills: SkillSet::load(&[]),
        models: vec![ResolvedModel {
            reference: "fake/m".into(),
            provider_id: "fake".into(),
            model_id: "m".into(),
            config: ModelConfig {
                context_window: 32_000,
                max_tokens: 256,
                cost_input: 0.0,
                cost_output: 0.0,
                temperature: None,
            },
            base_url: fake.base_url(),
            options: "{}".into(),
            proxy: None,
            provider: Arc::new(PluginProvider::new(openai)),
        }],
    };
    let store = Arc::new(chitin_store::Store::open(&host.dir.path().join("agent.db")).unwrap());
    let runtime = AgentRuntime::new(store, tools, vec![agent], 2, RetryPolicy::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = runtime
        .run(
            RunRequest {
                agent_id: "main".into(),
                session_key: "agent:main:cron:daily".into(),
                message: "Summarize the page.".into(),
                origin,
            },
            tx,
        )
        .await
        .unwrap();
    assert_eq!(outcome.text, "Done.");
    let mut fetched = false;
    while let Ok(event) = rx.try_recv() {
        match event {
            AgentEvent::ToolEnd {
                name, ok, output, ..
            } if name == "web_fetch" => {
                assert!(ok, "{output}");
                fetched = true;
            }
            AgentEvent::ToolEnd {
                name, ok, output, ..
            } if name == "memory_write" => {
                assert!(fetched, "the fetch came first");
                return (ok, output);
            }
            _ => {}
        }
    }
    panic!("memory_write never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unattended_run_that_read_untrusted_input_cannot_write() {
    let (ok, output) = write_after_fetch(RunOrigin::Scheduled, "").await;
    assert!(!ok, "{output}");
    assert!(
        output.contains("unattended run has read untrusted input"),
        "{output}"
    );
    assert!(output.contains("unattended_allow"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_run_can_write_after_reading() {
    let (ok, output) = write_after_fetch(RunOrigin::Interactive, "").await;
    assert!(ok, "{output}");
    assert!(output.contains("noted in memory/"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_can_allow_a_tool_for_unattended_runs() {
    let (ok, output) = write_after_fetch(RunOrigin::Scheduled, "\"memory_*\"").await;
    assert!(ok, "{output}");
}
