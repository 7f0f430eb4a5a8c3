//! `chitin`: the command-line entry point.

mod agents;
mod client;
mod commands;
mod config;
mod config_file;
mod home;
mod mcp;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chitin",
    version,
    about = "A self-hosted AI agent gateway whose every plugin runs in a WebAssembly sandbox"
)]
struct Cli {
    /// Data directory (default: $CHITIN_HOME, else ~/.chitin).
    #[arg(long, global = true, env = "CHITIN_HOME")]
    home: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and package plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Call a tool plugin from the command line, with the same sandbox and grants as the agent.
    #[command(subcommand)]
    Tool(commands::tool::ToolCommand),
    /// Manage the encrypted secret store.
    #[command(subcommand)]
    Secrets(commands::secrets::SecretsCommand),
    /// Serve the agents on 127.0.0.1:18789: web UI, WebSocket protocol, OpenAI-compatible
    /// API. `chitin gateway call <method>` calls a running one.
    Gateway(commands::gateway::GatewayArgs),
    /// What a running gateway is doing.
    Status(commands::status::StatusArgs),
    /// Chitin as an MCP server: `chitin mcp serve` offers the sandboxed plugin tools over stdio.
    #[command(subcommand)]
    Mcp(commands::mcp::McpCommand),
    /// Tool calls waiting for an operator's approval, on a running gateway.
    #[command(subcommand)]
    Approvals(commands::approvals::ApprovalsCommand),
    /// Send a message through a running gateway.
    #[command(subcommand)]
    Message(commands::message::MessageCommand),
    /// Run one agent turn and stream the answer to stdout.
    Agent(commands::agent::AgentArgs),
    /// Inspect and reset conversation sessions.
    #[command(subcommand)]
    Sessions(commands::sessions::SessionsCommand),
    /// The configured models.
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let home = home::Home::resolve(cli.home);
    let result = match cli.command {
        Command::Plugin(cmd) => commands::plugin::run(cmd, &home),
        Command::Tool(cmd) => commands::tool::run(cmd, &home),
        Command::Secrets(cmd) => commands::secrets::run(cmd, &home),
        Command::Agent(args) => commands::agent::run(args, &home),
        Command::Gateway(args) => commands::gateway::run(args, &home),
        Command::Status(args) => commands::status::run(args, &home),
        Command::Approvals(cmd) => commands::approvals::run(cmd, &home),
        Command::Mcp(cmd) => commands::mcp::run(cmd, &home),
        Command::Message(cmd) => commands::message::run(cmd, &home),
        Command::Sessions(cmd) => commands::sessions::run(cmd, &home),
        Command::Models(cmd) => commands::models::run(cmd, &home),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // Warnings by default (capability denials are warnings); CHITIN_LOG=debug for more.
    let filter = EnvFilter::try_from_env("CHITIN_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
