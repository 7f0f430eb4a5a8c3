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
//! `host::http` (outbound requests, checked against the operator's grant) and `host::secrets`
//! (whether a secret is set; its value is only ever inserted by the host, where you write
//! `{{secret:NAME}}` in a request).

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

#[cfg(feature = "provider")]
pub use provider::bindings::chitin::plugin as host;
/// The host interfaces of `chitin:plugin` (log, config, kv, http, secrets).
#[cfg(feature = "tool")]
pub use tool::bindings::chitin::plugin as host;

/// Convenience wrappers over [`host`].
#[cfg(any(feature = "tool", feature = "provider"))]
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
