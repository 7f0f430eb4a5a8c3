//! `chitin message send`: one message into a session of a running gateway, with the answer
//! streamed to stdout as it is written.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::{GatewayClient, Target};
use crate::home::Home;

#[derive(Subcommand)]
pub enum MessageCommand {
    /// Send a message to an agent and print its answer.
    Send(SendArgs),
}

#[derive(Args)]
pub struct SendArgs {
    /// The message.
    text: String,
    /// The agent.
    #[arg(long, default_value = "main")]
    agent: String,
    /// The session (default: the agent's main session, agent:<agent>:main).
    #[arg(long)]
    session: Option<String>,
    /// Also print tool calls and model switches to stderr.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    target: Target,
}

pub fn run(command: MessageCommand, home: &Home) -> anyhow::Result<ExitCode> {
    let MessageCommand::Send(args) = command;
    super::runtime()?.block_on(async {
        let mut client = GatewayClient::connect(&args.target, home, "chitin-message").await?;
        let session = args
            .session
            .clone()
            .unwrap_or_else(|| format!("agent:{}:main", args.agent));
        let started = client
            .call(
                "agent.run",
                json!({"agent": args.agent, "sessionKey": session, "message": args.text}),
                |_, _| {},
            )
            .await?;
        let run_id = started["runId"].as_str().unwrap_or_default().to_string();
        let mut stdout = std::io::stdout();
        loop {
            let (event, payload) = client.next_event().await?;
            if event != "agent" || payload["runId"] != run_id.as_str() {
                continue;
            }
            match payload["kind"].as_str().unwrap_or("") {
                "delta" => {
                    print!("{}", payload["text"].as_str().unwrap_or(""));
                    stdout.flush()?;
                }
                "tool.start" if args.verbose => eprintln!(
                    "[tool {} {}]",
                    payload["name"].as_str().unwrap_or("?"),
                    payload["arguments"].as_str().unwrap_or("")
                ),
                "approval" => eprintln!(
                    "[tool {} waits for approval {}: approve it in the web UI or with \
                     `chitin gateway call approvals.resolve '{{\"id\":\"{}\",\"decision\":\"approve\"}}'`]",
                    payload["tool"].as_str().unwrap_or("?"),
                    payload["approvalId"].as_str().unwrap_or("?"),
                    payload["approvalId"].as_str().unwrap_or("?"),
                ),
                "failover" if args.verbose => eprintln!(
                    "[switching from {} to {}: {}]",
                    payload["from"], payload["to"], payload["reason"]
                ),
                "done" => {
                    println!();
                    client.close().await;
                    return Ok(ExitCode::SUCCESS);
                }
                "error" => {
                    println!();
                    client.close().await;
                    eprintln!(
                        "error: {}",
                        payload["message"].as_str().unwrap_or("the run failed")
                    );
                    return Ok(ExitCode::FAILURE);
                }
                _ => {}
            }
        }
    })
}
