//! Many WebSocket clients at once: the release `chitin gateway` with the sandboxed `openai`
//! provider plugin, and N clients that each connect, then run turns one after another in their
//! own session (`agent.run`, then read the streamed events to `done`). The provider answers
//! instantly from this process, so the gateway's own CPU time is measured exactly (from /proc)
//! and latency is what the gateway adds.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub struct ClientFigures {
    pub clients: usize,
    pub turns_per_client: usize,
    pub throughput: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub gateway_cpu_per_turn: Duration,
    pub gateway_rss: u64,
}

fn config(root: &Path, provider_port: u16, clients: usize) -> String {
    format!(
        r#"[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = ["http://127.0.0.1:{provider_port}"]

[providers.local]
plugin = "openai"
base_url = "http://127.0.0.1:{provider_port}/v1"
[providers.local.models.instant]
context_window = 8000

# Every client's turn may run at once: the benchmark measures the gateway, not the queue.
[limits]
max_concurrent_runs = {clients}

[agents.main]
model = "local/instant"
max_concurrent = {clients}
"#,
        openai = root.join("target/plugins/openai.wasm").display()
    )
}

async fn client(url: String, index: usize, turns: usize) -> anyhow::Result<Vec<Duration>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let connect = json!({"type": "req", "id": "c", "method": "connect",
        "params": {"minProtocol": 1, "maxProtocol": 1, "client": {"name": "bench"}}});
    socket
        .send(Message::Text(connect.to_string().into()))
        .await?;
    let mut latencies = Vec::with_capacity(turns);
    for turn in 0..turns {
        let started = Instant::now();
        let request = json!({"type": "req", "id": turn.to_string(), "method": "agent.run",
            "params": {"agent": "main", "sessionKey": format!("agent:main:bench:{index}"),
                       "message": "Say hello."}});
        socket
            .send(Message::Text(request.to_string().into()))
            .await?;
        loop {
            let message = socket
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("the gateway closed client {index}"))??;
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text)?;
            if frame["ok"] == false {
                anyhow::bail!("client {index}: {}", frame["error"]);
            }
            match frame["payload"]["kind"].as_str() {
                Some("done") => break,
                Some("error") => anyhow::bail!("client {index}: {}", frame["payload"]),
                _ => {}
            }
        }
        latencies.push(started.elapsed());
    }
    let _ = socket.close(None).await;
    Ok(latencies)
}

pub fn run(
    root: &Path,
    work: &Path,
    clients: usize,
    turns_per_client: usize,
) -> anyhow::Result<ClientFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let provider = crate::turns::instant_server().await?;
        let home = work.join("ws-clients-home");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join("chitin.toml"),
            config(root, provider.port(), clients),
        )?;
        let mut child = Command::new(root.join("target/release/chitin"))
            .args(["gateway", "--port", "0"])
            .env("CHITIN_HOME", &home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("chitin gateway listening on http://")
            .ok_or_else(|| anyhow::anyhow!("the gateway did not start: {line}"))?
            .to_string();
        let url = format!("ws://{addr}/ws");
        let pid = child.id().to_string();

        // One turn per client first, so sessions, AOT code and pools are warm.
        let warm: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(url.clone(), i, 1)))
            .collect();
        for task in warm {
            task.await??;
        }
        let cpu_before = crate::cpu_time_of(&pid);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(url.clone(), i, turns_per_client)))
            .collect();
        let mut latencies = Vec::with_capacity(clients * turns_per_client);
        for task in tasks {
            latencies.extend(task.await??);
        }
        let elapsed = started.elapsed();
        let cpu = crate::cpu_time_of(&pid).saturating_sub(cpu_before);
        let gateway_rss = crate::startup::rss_of(child.id());
        let _ = child.kill();
        let _ = child.wait();
        latencies.sort();
        let total = latencies.len();
        Ok(ClientFigures {
            clients,
            turns_per_client,
            throughput: total as f64 / elapsed.as_secs_f64(),
            p50: latencies[total / 2],
            p99: latencies[(total * 99 / 100).min(total - 1)],
            gateway_cpu_per_turn: cpu / total as u32,
            gateway_rss,
        })
    })
}
