//! Chitin as an MCP server: the sandboxed plugin tools, offered to any MCP client over stdio
//! (`chitin mcp serve`) or Streamable HTTP at `/mcp` on the gateway (behind the gateway
//! token). Each call runs in the plugin's sandbox with its grant and its fuel, memory and time
//! budgets, exactly as when an agent calls it; native tools, `exec` and MCP tools Chitin itself
//! consumes are not offered (they act on the operator's host state, or are someone else's).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chitin_agent::ToolRegistry;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

/// The plugin tools of one runtime, as an MCP server. Cheap to clone (one per HTTP session).
#[derive(Clone)]
pub struct SandboxedTools {
    tools: Arc<ToolRegistry>,
    calls: Arc<AtomicU64>,
}

impl SandboxedTools {
    pub fn new(tools: ToolRegistry) -> SandboxedTools {
        SandboxedTools {
            tools: Arc::new(tools),
            calls: Arc::new(AtomicU64::new(1)),
        }
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools
            .plugin_tool_definitions()
            .into_iter()
            .map(|definition| {
                let schema = match serde_json::from_str(&definition.parameters_schema) {
                    Ok(serde_json::Value::Object(schema)) => schema,
                    // A plugin's schema that is not an object: offer an open object instead
                    // of dropping the tool.
                    _ => serde_json::Map::from_iter([(
                        "type".to_string(),
                        serde_json::Value::String("object".into()),
                    )]),
                };
                Tool::new(definition.name, definition.description, Arc::new(schema))
            })
            .collect()
    }
}

impl ServerHandler for SandboxedTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("chitin", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools of Chitin's WebAssembly plugins. Each call runs in the plugin's sandbox \
                 with only the capabilities its operator granted and its fuel, memory and time \
                 limits.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments =
            serde_json::Value::Object(request.arguments.unwrap_or_default()).to_string();
        let call_id = format!("mcp-{}", self.calls.fetch_add(1, Ordering::Relaxed));
        let Some(result) = self
            .tools
            .call_plugin_tool(&request.name, &arguments, &call_id)
            .await
        else {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool `{}`; tools/list shows what is offered",
                    request.name
                ),
                None,
            ));
        };
        // A tool's failure (including a sandbox limit it hit) is a result the caller reads,
        // not a protocol error.
        let content = vec![ContentBlock::text(result.content)];
        Ok(if result.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        }
        .into())
    }
}

/// The Streamable HTTP endpoint (mounted at `/mcp`). Host checks are the gateway's own (token,
/// or loopback names without one), so rmcp's allow-list is off here.
pub fn http_service(
    tools: ToolRegistry,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    SandboxedTools,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    let server = SandboxedTools::new(tools);
    rmcp::transport::streamable_http_server::StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::default(),
        rmcp::transport::streamable_http_server::StreamableHttpServerConfig::default()
            .disable_allowed_hosts(),
    )
}
