//! Host overhead per agent turn: the full path (session lane, SQLite transcript, context
//! assembly, the sandboxed `openai` provider plugin, egress over loopback, SSE parsing, usage
//! ledger) against a provider that answers instantly, so nearly all measured time is Chitin's.
//! The instant server runs in this process, so its (small) CPU time is counted against Chitin:
//! the figures are an upper bound.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chitin_agent::{
    Agent, AgentConfig, AgentRuntime, ModelConfig, PluginProvider, ResolvedModel, RetryPolicy,
    RunRequest, ToolRegistry,
};
use chitin_manifest::Grant;
use chitin_sandbox::Sandbox;
use chitin_workspace::{SkillSet, Workspace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SSE_BODY: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"instant\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"instant\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there.\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"instant\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14}}\n\n",
    "data: [DONE]\n\n",
);

/// An OpenAI-compatible server that answers every request at once, with keep-alive.
pub(crate) async fn instant_server() -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16 << 10];
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let (head_end, length) = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{SSE_BODY}",
                        SSE_BODY.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

pub struct TurnFigures {
    pub turns: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub cpu_per_turn: Duration,
    pub rss_after_100: u64,
    pub rss_after_all: u64,
}

pub fn run(
    root: &Path,
    work: &Path,
    sandbox: &Sandbox,
    turns: usize,
) -> anyhow::Result<TurnFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let addr = instant_server().await?;
        let grant: Grant = toml::from_str(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            addr.port()
        ))?;
        let plugin = Arc::new(sandbox.load_file(&root.join("target/plugins/openai.wasm"), &grant)?);
        let dir = work.join("turns");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let store = Arc::new(chitin_store::Store::open(&dir.join("chitin.db"))?);
        let workspace = Workspace::new(dir.join("workspace"));
        workspace.ensure()?;
        let config: AgentConfig = toml::from_str("model = \"local/instant\"\n")?;
        let agent = Agent {
            id: "main".into(),
            config,
            workspace,
            skills: SkillSet::load(&[]),
            models: vec![ResolvedModel {
                reference: "local/instant".into(),
                provider_id: "local".into(),
                model_id: "instant".into(),
                config: ModelConfig {
                    context_window: 32_000,
                    max_tokens: 512,
                    cost_input: 0.0,
                    cost_output: 0.0,
                    temperature: None,
                },
                base_url: format!("http://127.0.0.1:{}/v1", addr.port()),
                options: "{}".into(),
                proxy: None,
                provider: Arc::new(PluginProvider::new(plugin)),
            }],
        };
        let agents = AgentRuntime::new(
            store,
            ToolRegistry::with_native_tools(),
            vec![agent],
            4,
            RetryPolicy::default(),
        );
        let mut times = Vec::with_capacity(turns);
        let mut rss_after_100 = 0;
        let cpu_start = crate::cpu_time();
        for i in 0..turns {
            // A new conversation every 20 turns keeps the context at a realistic size.
            let session = format!("agent:main:bench:default:dm:user{}", i / 20);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let started = Instant::now();
            let outcome = agents
                .run(
                    RunRequest {
                        agent_id: "main".into(),
                        session_key: session,
                        message: format!("message {i}"),
                        origin: chitin_agent::RunOrigin::Interactive,
                    },
                    tx,
                )
                .await?;
            times.push(started.elapsed());
            anyhow::ensure!(
                outcome.text == "Hello there.",
                "unexpected answer {:?}",
                outcome.text
            );
            while rx.try_recv().is_ok() {}
            if i + 1 == 100 {
                rss_after_100 = crate::rss_bytes();
            }
        }
        let cpu = crate::cpu_time() - cpu_start;
        times.sort();
        Ok(TurnFigures {
            turns,
            p50: times[turns / 2],
            p99: times[(turns * 99 / 100).min(turns - 1)],
            cpu_per_turn: cpu / turns as u32,
            rss_after_100,
            rss_after_all: crate::rss_bytes(),
        })
    })
}
