//! Write Chitin plugins in Rust.
//!
//! Enable the feature of the world your plugin implements (`tool`, `provider`, `channel` or
//! `mcp-bridge`), implement its trait, export it with the matching macro, and declare the
//! manifest in a `plugin.toml` next to `Cargo.toml`; `chitin plugin pack` embeds it into the
//! built `.wasm`. A complete tool:
//!
//! ```ignore
//! use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};
//!
//! struct Shout;
//!
//! impl Tool for Shout {
//!     fn describe() -> Vec<ToolSpec> {
//!         vec![ToolSpec::new("shout", "Upper-cases text.", serde_json::json!({
//!             "type": "object",
//!             "properties": { "text": { "type": "string" } },
//!             "required": ["text"]
//!         }))]
//!     }
//!
//!     fn call(_name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
//!         #[derive(serde::Deserialize)]
//!         struct Args { text: String }
//!         let args: Args = chitin_sdk::parse_arguments(&arguments)?;
//!         Ok(ToolOutput::text(args.text.to_uppercase()))
//!     }
//! }
//!
//! chitin_sdk::export_tool!(Shout);
//! ```
//!
//! Host capabilities are under [`host`]: `host::log`, `host::config`, `host::kv`,
//! `host::http` (outbound requests, checked against the operator's grant), `host::secrets`
//! (whether a secret is set; its value is only ever inserted by the host, where you write
//! `{{secret:NAME}}` in a request) and `host::budget` (what is left of the call's time and
//! request budgets, so a long task can stop in time with what it has).
//!
//! This SDK builds against `chitin:plugin@0.2.0` ([`WIT_VERSION`]): write
//! `wit_version = "0.2.0"` in `plugin.toml`. A plugin built with chitin-sdk 0.1 (WIT 0.1.0) keeps
//! running unchanged; moving it here is a rebuild (see `wit/README.md`).

#[cfg(any(
    all(feature = "tool", feature = "provider"),
    all(feature = "tool", feature = "channel"),
    all(feature = "tool", feature = "mcp-bridge"),
    all(feature = "provider", feature = "channel"),
    all(feature = "provider", feature = "mcp-bridge"),
    all(feature = "channel", feature = "mcp-bridge"),
))]
compile_error!(
    "enable exactly one of the chitin-sdk features tool, provider, channel, mcp-bridge: a plugin \
     implements one world"
);

// The generated bindings name this crate by its public path, also from inside it.
extern crate self as chitin_sdk;

#[doc(hidden)]
pub use wit_bindgen;

/// The `chitin:plugin` version this SDK builds against: the `wit_version` of the plugin's
/// manifest.
pub const WIT_VERSION: &str = "0.2.0";

/// Placeholder text for a secret: the host replaces it with the secret's value at the network
/// edge, only for the hosts the operator allowed that secret to reach.
pub fn secret_placeholder(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

#[cfg(feature = "tool")]
pub mod tool {
    #[doc(hidden)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "tool-plugin",
            path: "../../wit",
            pub_export_macro: true,
            export_macro_name: "__export_tool_world",
            default_bindings_module: "chitin_sdk::tool::bindings",
            runtime_path: "chitin_sdk::wit_bindgen::rt",
        });
    }

    pub use bindings::exports::chitin::plugin::tool::{
        CallContext, Guest as Tool, ToolError, ToolOutput, ToolSpec,
    };

    impl ToolSpec {
        /// A tool named `name`, whose arguments follow the JSON Schema `parameters`.
        pub fn new(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
            ToolSpec {
                name: name.to_string(),
                description: description.to_string(),
                parameters_schema: parameters.to_string(),
            }
        }
    }

    impl ToolOutput {
        pub fn text(content: impl Into<String>) -> ToolOutput {
            ToolOutput {
                content: content.into(),
                content_type: "text/plain".to_string(),
            }
        }

        pub fn markdown(content: impl Into<String>) -> ToolOutput {
            ToolOutput {
                content: content.into(),
                content_type: "text/markdown".to_string(),
            }
        }

        pub fn json(value: &serde_json::Value) -> ToolOutput {
            ToolOutput {
                content: value.to_string(),
                content_type: "application/json".to_string(),
            }
        }
    }

    /// Parses a tool's JSON arguments, turning a mismatch into an `invalid-arguments` error
    /// the model can act on.
    pub fn parse_arguments<T: serde::de::DeserializeOwned>(
        arguments: &str,
    ) -> Result<T, ToolError> {
        serde_json::from_str(arguments).map_err(|err| ToolError::InvalidArguments(err.to_string()))
    }

    /// Exports a type implementing [`Tool`] as the plugin's `chitin:plugin/tool` interface.
    #[macro_export]
    macro_rules! export_tool {
        ($ty:ident) => {
            $crate::tool::bindings::__export_tool_world!($ty);
        };
    }
}

#[cfg(feature = "tool")]
pub use tool::parse_arguments;

#[cfg(feature = "provider")]
pub mod provider {
    //! Model providers: implement [`Provider`] and export it with
    //! [`export_provider!`](crate::export_provider). Stream output with [`emit`] while
    //! `complete` runs; classify failures with [`ProviderError`] so the host can fail over.

    #[doc(hidden)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "provider-plugin",
            path: "../../wit",
            pub_export_macro: true,
            export_macro_name: "__export_provider_world",
            default_bindings_module: "chitin_sdk::provider::bindings",
            runtime_path: "chitin_sdk::wit_bindgen::rt",
        });
    }

    pub use bindings::chitin::plugin::provider_sink::{StreamEvent, ToolCallDelta, emit};
    pub use bindings::exports::chitin::plugin::provider::{
        Completion, FinishReason, Guest as Provider, Message, ModelInfo, ProviderError, Request,
        Role, ToolCall, ToolDefinition, Usage,
    };

    /// Exports a type implementing [`Provider`] as the plugin's `chitin:plugin/provider`.
    #[macro_export]
    macro_rules! export_provider {
        ($ty:ident) => {
            $crate::provider::bindings::__export_provider_world!($ty);
        };
    }
}

#[cfg(feature = "mcp-bridge")]
pub mod mcp {
    //! MCP servers compiled to WebAssembly: the host sends one JSON-RPC message per call to
    //! `handle` and gets the response (or none, for a notification). Implement [`McpServer`]
    //! by hand, or describe tools and let [`ToolServer`] speak the protocol: `initialize`,
    //! `ping`, `tools/list` and `tools/call`, with JSON-RPC errors for everything else.
    //!
    //! Each message may arrive in a fresh instance (Rust plugins run fresh per call), so a
    //! server keeps no state between messages; use `host::kv` for anything that must last.

    #[doc(hidden)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "mcp-bridge-plugin",
            path: "../../wit",
            pub_export_macro: true,
            export_macro_name: "__export_mcp_bridge_world",
            default_bindings_module: "chitin_sdk::mcp::bindings",
            runtime_path: "chitin_sdk::wit_bindgen::rt",
        });
    }

    pub use bindings::exports::chitin::plugin::mcp_server::Guest as McpServer;
    use serde_json::{Value, json};

    /// The protocol revisions [`ToolServer`] answers with: the client's when it is one of
    /// these, else the newest.
    pub const PROTOCOL_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18"];

    /// A tool of a [`ToolServer`].
    pub struct McpTool {
        pub name: &'static str,
        pub description: &'static str,
        /// JSON Schema of the arguments.
        pub input_schema: Value,
    }

    /// A tool's result: text content, or a tool error (`isError: true`) the model sees.
    pub type ToolResult = Result<String, String>;

    /// Speaks MCP for a fixed set of tools.
    pub struct ToolServer<'a> {
        pub name: &'static str,
        pub version: &'static str,
        pub tools: &'a [McpTool],
        pub call: &'a dyn Fn(&str, &Value) -> ToolResult,
    }

    impl ToolServer<'_> {
        /// Handles one JSON-RPC message (what `McpServer::handle` gets).
        pub fn handle(&self, message: &str) -> Result<Option<String>, String> {
            let request: Value = match serde_json::from_str(message) {
                Ok(value) => value,
                Err(err) => {
                    return Ok(Some(error(
                        Value::Null,
                        -32700,
                        &format!("parse error: {err}"),
                    )));
                }
            };
            let id = request.get("id").cloned();
            let method = request["method"].as_str().unwrap_or("");
            // Notifications (no id) get no answer.
            let Some(id) = id else {
                return Ok(None);
            };
            let result = match method {
                "initialize" => {
                    let asked = request["params"]["protocolVersion"].as_str().unwrap_or("");
                    let version = PROTOCOL_VERSIONS
                        .iter()
                        .find(|v| **v == asked)
                        .unwrap_or(&PROTOCOL_VERSIONS[0]);
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}},
                        "serverInfo": {"name": self.name, "version": self.version},
                    })
                }
                "ping" => json!({}),
                "tools/list" => json!({
                    "tools": self.tools.iter().map(|t| json!({
                        "name": t.name,
                        "description": t.description,
                        "inputSchema": t.input_schema,
                    })).collect::<Vec<_>>(),
                }),
                "tools/call" => {
                    let name = request["params"]["name"].as_str().unwrap_or("");
                    if !self.tools.iter().any(|t| t.name == name) {
                        return Ok(Some(error(id, -32602, &format!("unknown tool: {name}"))));
                    }
                    let arguments = request["params"]
                        .get("arguments")
                        .cloned()
                        .unwrap_or_else(|| json!({}));
                    match (self.call)(name, &arguments) {
                        Ok(text) => json!({"content": [{"type": "text", "text": text}]}),
                        Err(text) => {
                            json!({"content": [{"type": "text", "text": text}], "isError": true})
                        }
                    }
                }
                other => {
                    return Ok(Some(error(
                        id,
                        -32601,
                        &format!("method not found: {other}"),
                    )));
                }
            };
            Ok(Some(
                json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
            ))
        }
    }

    fn error(id: Value, code: i64, message: &str) -> String {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
    }

    /// Exports a type implementing [`McpServer`] as the plugin's `chitin:plugin/mcp-server`.
    #[macro_export]
    macro_rules! export_mcp_server {
        ($ty:ident) => {
            $crate::mcp::bindings::__export_mcp_bridge_world!($ty);
        };
    }
}

#[cfg(feature = "mcp-bridge")]
pub use mcp::bindings::chitin::plugin as host;
#[cfg(feature = "provider")]
pub use provider::bindings::chitin::plugin as host;
/// The host interfaces of `chitin:plugin` (log, config, kv, http, secrets, budget).
#[cfg(feature = "tool")]
pub use tool::bindings::chitin::plugin as host;

/// Convenience wrappers over [`host`].
#[cfg(any(feature = "tool", feature = "provider", feature = "mcp-bridge"))]
pub mod util {
    use crate::host::http::{self, HttpError, Request, Response};
    use crate::host::log;

    pub fn info(message: &str) {
        log::log(log::Level::Info, message);
    }

    pub fn warn(message: &str) {
        log::log(log::Level::Warn, message);
    }

    /// A GET request through the host's egress policy, following redirects.
    pub fn get(url: &str) -> Result<Response, HttpError> {
        http::fetch(&Request {
            method: "GET".to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            follow_redirects: true,
        })
    }

    /// Milliseconds until the host stops this call (since WIT 0.2.0). Ask before each slow
    /// step of a long task and return what you have while there is time.
    pub fn remaining_ms() -> u64 {
        crate::host::budget::remaining_ms()
    }

    /// Human-readable text of an HTTP error, for tool errors.
    pub fn describe_http_error(err: &HttpError) -> String {
        match err {
            HttpError::Denied(msg) => format!("request denied: {msg}"),
            HttpError::Timeout => "request timed out".to_string(),
            HttpError::TooLarge(limit) => format!("response larger than {limit} bytes"),
            HttpError::QuotaExceeded(msg) => format!("request quota exceeded: {msg}"),
            HttpError::InvalidRequest(msg) => format!("invalid request: {msg}"),
            HttpError::Connection(msg) => format!("connection failed: {msg}"),
        }
    }
}
