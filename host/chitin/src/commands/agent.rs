//! `chitin agent -m "…"`: one turn, streamed to stdout.

use std::io::Write;
use std::process::ExitCode;

use chitin_agent::{AgentEvent, RunRequest};
use clap::Args;

use crate::config::Config;
use crate::home::Home;

#[derive(Args)]
pub struct AgentArgs {
    /// The message to send.
    #[arg(short, long)]
    message: String,
    /// Which agent (default: `main`, or the only one configured).
    #[arg(long)]
    agent: Option<String>,
    /// Session key (default: the agent's CLI session, `agent:<id>:cli:default:dm:local`).
    #[arg(long)]
    session: Option<String>,
    /// Print tool calls and failovers to stderr as they happen.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: AgentArgs, home: &Home) -> anyhow::Result<ExitCode> {
    let config = Config::load(&home.config_file())?;
    let agent_id = match &args.agent {
        Some(id) => id.clone(),
        None if config.agents.contains_key("main") => "main".to_string(),
        None if config.agents.len() == 1 => {
            config.agents.keys().next().cloned().unwrap_or_default()
        }
        None => anyhow::bail!(
            "several agents are configured ({}); choose one with --agent",
            config.agents.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    let session = args
        .session
        .clone()
        .unwrap_or_else(|| format!("agent:{agent_id}:cli:default:dm:local"));
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let (sandbox, store) = super::open_sandbox_and_store(home, &config)?;
        let built = crate::agents::build_runtime(home, &config, &sandbox, store).await?;
        let (agents, mcp) = (built.runtime, built.mcp);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let request = RunRequest {
            agent_id,
            session_key: session,
            message: args.message.clone(),
            origin: chitin_agent::RunOrigin::Interactive,
        };
        let verbose = args.verbose;
        let printer = tokio::spawn(async move {
            let mut stdout = std::io::stdout();
            let mut wrote_text = false;
            while let Some(event) = rx.recv().await {
                match event {
                    AgentEvent::TextDelta { text } => {
                        let _ = stdout.write_all(text.as_bytes());
                        let _ = stdout.flush();
                        wrote_text = true;
                    }
                    AgentEvent::ToolStart {
                        name, arguments, ..
                    } if verbose => {
                        eprintln!("[tool] {name} {arguments}");
                    }
                    AgentEvent::ToolEnd { name, ok, .. } if verbose => {
                        eprintln!("[tool] {name} {}", if ok { "ok" } else { "failed" });
                    }
                    AgentEvent::Failover { from, to, reason } => {
                        eprintln!("[failover] {from} -> {to}: {reason}");
                    }
                    AgentEvent::Compacted {
                        summarized_messages,
                    } if verbose => {
                        eprintln!("[compacted {summarized_messages} messages]");
                    }
                    _ => {}
                }
            }
            wrote_text
        });
        let result = agents.run(request, tx).await;
        let wrote_text = printer.await.unwrap_or(false);
        mcp.shutdown().await;
        match result {
            Ok(outcome) => {
                // A provider that did not stream still gets its answer printed.
                if !wrote_text {
                    print!("{}", outcome.text);
                }
                println!();
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("error: {err}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
