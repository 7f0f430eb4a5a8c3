//! `chitin status`: what a running gateway is doing.

use std::process::ExitCode;

use clap::Args;

use crate::client::{GatewayClient, Target};
use crate::home::Home;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, home: &Home) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let mut client = GatewayClient::connect(&args.target, home, "chitin-status").await?;
        let status = client.call("status", serde_json::json!({}), |_, _| {}).await?;
        client.close().await;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
            return Ok(ExitCode::SUCCESS);
        }
        let uptime = status["uptimeMs"].as_u64().unwrap_or(0) / 1000;
        println!(
            "chitin {} up {}h{:02}m{:02}s{}",
            status["version"].as_str().unwrap_or("?"),
            uptime / 3600,
            uptime / 60 % 60,
            uptime % 60,
            if status["draining"] == true { " (stopping)" } else { "" }
        );
        for agent in status["agents"].as_array().into_iter().flatten() {
            println!(
                "  agent {:<12} {}",
                agent["id"].as_str().unwrap_or("?"),
                agent["model"].as_str().unwrap_or("?")
            );
        }
        println!(
            "  sessions {}, runs in progress {}, clients {}, pending approvals {}, pending pairing {}",
            status["sessions"], status["activeRuns"], status["connections"],
            status["pendingApprovals"], status["pendingPairing"]
        );
        Ok(ExitCode::SUCCESS)
    })
}
