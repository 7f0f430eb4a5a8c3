//! `chitin mcp serve`: Chitin's sandboxed plugin tools for any MCP client, over stdio. (A
//! running gateway offers the same at `/mcp`, over Streamable HTTP, behind its token.)

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use rmcp::ServiceExt;

use crate::config::Config;
use crate::home::Home;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Serve the plugin tools over MCP on stdin/stdout (for an MCP client that starts
    /// `chitin mcp serve` as a stdio server). Logs go to stderr.
    Serve,
}

pub fn run(command: McpCommand, home: &Home) -> anyhow::Result<ExitCode> {
    let McpCommand::Serve = command;
    let config = Config::load(&home.config_file())?;
    super::runtime()?.block_on(async {
        let (sandbox, store) = super::open_sandbox_and_store(home, &config)?;
        let built = crate::agents::build_tools(home, &config, &sandbox, store).await?;
        let server = chitin_gateway::mcp_server::SandboxedTools::new(built.runtime.tools().clone());
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .context("starting the MCP server on stdio")?;
        // Until the client closes stdin (or sends a shutdown).
        let _ = running.waiting().await;
        built.mcp.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
