//! MCP servers for the agents: the `[mcp.<id>]` servers of chitin.toml (external programs and
//! HTTP endpoints) plus every mcp-bridge plugin (an MCP server compiled to wasm, run in the
//! sandbox), offered to the agents as `mcp__<server>__<tool>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chitin_agent::{ExternalTools, ToolResult};
use chitin_manifest::PluginKind;
use chitin_mcp::McpServers;
use chitin_mcp::bridge::BridgeHandler;
use chitin_sandbox::{Plugin, Sandbox, ToolDefinition};

use crate::config::Config;

/// An mcp-bridge plugin as an MCP server: each JSON-RPC message is one sandboxed call.
struct PluginBridge(Arc<Plugin>);

impl BridgeHandler for PluginBridge {
    fn handle(
        &self,
        message: String,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + '_>> {
        Box::pin(async move {
            self.0
                .mcp_handle(&message)
                .await
                .map_err(|err| err.to_string())
        })
    }
}

/// The running servers' tools, for the agents' tool registry.
pub struct McpTools(pub McpServers);

impl ExternalTools for McpTools {
    fn definitions(&self) -> Vec<ToolDefinition> {
        self.0
            .tools()
            .into_iter()
            .map(|tool| ToolDefinition {
                name: tool.name,
                description: tool.description,
                parameters_schema: tool.input_schema.to_string(),
            })
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.0.has_tool(name)
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: &'a str,
    ) -> Pin<Box<dyn Future<Output = ToolResult> + Send + 'a>> {
        Box::pin(async move {
            match self.0.call(name, arguments).await {
                Ok(result) if result.is_error => ToolResult::error(result.text),
                Ok(result) => ToolResult::ok(result.text),
                Err(err) => ToolResult::error(err.to_string()),
            }
        })
    }
}

/// Starts every configured MCP server and every mcp-bridge plugin. A server that fails to
/// start is logged and left out; the others run.
pub async fn start(config: &Config, sandbox: &Sandbox, plugins: &[Arc<Plugin>]) -> McpServers {
    let bridges: Vec<(String, Arc<dyn BridgeHandler>)> = plugins
        .iter()
        .filter(|p| p.manifest().kind == PluginKind::McpBridge)
        .map(|p| {
            (
                p.id().to_string(),
                Arc::new(PluginBridge(p.clone())) as Arc<dyn BridgeHandler>,
            )
        })
        .collect();
    if config.mcp.is_empty() && bridges.is_empty() {
        return McpServers::empty();
    }
    let services = sandbox.services();
    let (servers, errors) = McpServers::start_with_bridges(
        config.mcp.clone(),
        bridges,
        services.secrets.clone(),
        chitin_mcp::egress_factory(services.resolver.clone()),
    )
    .await;
    for err in errors {
        eprintln!(
            "warning: MCP server `{}` is not available: {}",
            err.server, err.message
        );
    }
    for note in servers.warnings() {
        eprintln!("note: {note}");
    }
    servers
}
