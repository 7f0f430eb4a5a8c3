//! `chitin approvals list|approve|deny`: decide tool calls waiting for an operator, on a
//! running gateway (the same decisions as the web UI's Approvals tab and `/approve` in chat).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::client::{GatewayClient, Target};
use crate::home::Home;

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Tool calls waiting for a decision.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Let a waiting call run.
    Approve {
        /// The approval id (from `list`, e.g. ap3).
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Refuse a waiting call; the model is told it was denied.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(command: ApprovalsCommand, home: &Home) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        match command {
            ApprovalsCommand::List { target } => {
                let mut client = GatewayClient::connect(&target, home, "chitin-approvals").await?;
                let listed = client.call("approvals.list", json!({}), |_, _| {}).await?;
                client.close().await;
                let approvals = listed["approvals"].as_array().cloned().unwrap_or_default();
                if approvals.is_empty() {
                    println!("nothing is waiting for approval");
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                for a in approvals {
                    let left = (a["expiresAtMs"].as_i64().unwrap_or(now) - now).max(0) / 1000;
                    println!(
                        "{}  {} {}  (agent {}, session {}, expires in {left}s)",
                        a["id"].as_str().unwrap_or("?"),
                        a["tool"].as_str().unwrap_or("?"),
                        a["arguments"].as_str().unwrap_or(""),
                        a["agentId"].as_str().unwrap_or("?"),
                        a["sessionKey"].as_str().unwrap_or("?"),
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            ApprovalsCommand::Approve { id, reason, target } => {
                decide(home, &target, &id, "approve", reason).await
            }
            ApprovalsCommand::Deny { id, reason, target } => {
                decide(home, &target, &id, "deny", reason).await
            }
        }
    })
}

async fn decide(
    home: &Home,
    target: &Target,
    id: &str,
    decision: &str,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut client = GatewayClient::connect(target, home, "chitin-approvals").await?;
    let result = client
        .call(
            "approvals.resolve",
            json!({"id": id, "decision": decision, "reason": reason}),
            |_, _| {},
        )
        .await;
    client.close().await;
    match result {
        Ok(_) => {
            println!(
                "{id}: {}",
                if decision == "approve" {
                    "approved"
                } else {
                    "denied"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}
