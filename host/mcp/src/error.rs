use std::time::Duration;

/// A server that could not be started (or connected to). The others start regardless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MCP server `{server}` did not start: {message}")]
pub struct StartError {
    pub server: String,
    pub message: String,
}

/// Why a tool call produced no result. A tool's own failure (`isError: true`) is not an
/// error here: it is an [`McpToolResult`](crate::McpToolResult) with `is_error` set, for the
/// model to read. Every message names the server and the tool and never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// No MCP tool has this name (any more).
    #[error("there is no MCP tool named `{0}`")]
    UnknownTool(String),
    /// The arguments are not a JSON object.
    #[error("the arguments for `{tool}` must be a JSON object: {detail}")]
    InvalidArguments { tool: String, detail: String },
    /// The server is not running and could not be (re)started.
    #[error("MCP server `{server}` is unavailable, so `{tool}` could not be called: {reason}")]
    Unavailable {
        server: String,
        tool: String,
        reason: String,
    },
    /// The call took longer than the server's `timeout_secs`; it was cancelled.
    #[error(
        "MCP server `{server}` did not answer the call of `{tool}` within {} s; the call was \
         cancelled",
        timeout.as_secs()
    )]
    Timeout {
        server: String,
        tool: String,
        timeout: Duration,
    },
    /// The server answered with a JSON-RPC error (unknown tool, invalid parameters, ...).
    #[error(
        "MCP server `{server}` refused the call of `{tool}`: {message} (JSON-RPC error {code})"
    )]
    Protocol {
        server: String,
        tool: String,
        code: i32,
        message: String,
    },
    /// The connection broke or the server exited during the call.
    #[error("MCP server `{server}` failed during the call of `{tool}`: {detail}")]
    Transport {
        server: String,
        tool: String,
        detail: String,
    },
}

/// `err` and its sources joined with `: `, skipping parts already contained in earlier ones.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
