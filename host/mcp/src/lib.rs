//! Chitin's MCP client: the tools of external [Model Context Protocol] servers, offered to
//! agents next to the native and plugin tools.
//!
//! [Model Context Protocol]: https://modelcontextprotocol.io
//!
//! # Design
//!
//! The protocol is the official Rust SDK's ([`rmcp`], client side only): its client lifecycle
//! negotiates the revision with both eras of servers. With `protocol = "auto"` (the default) it
//! probes with `server/discover` (2026-07-28, per-request `_meta`, no handshake) and falls back
//! to the `initialize` handshake at 2025-11-25 for legacy servers (a JSON-RPC error, a 4xx on
//! HTTP, or no answer within 10 s); `legacy` and `modern` skip the probe. Chitin declares no
//! client capabilities (no roots, sampling or elicitation), so servers send it no requests.
//!
//! **Transports.** A *stdio* server (`command`) is a child process in its own process group,
//! with a cleared environment: only PATH, HOME and LANG from the gateway, the config's `env`,
//! and `env_secrets` (variable → secret-store key, values never logged). Its stderr goes to the
//! log (debug, `chitin_mcp::stderr`), redacted, and its last lines explain a crash. Shutdown
//! follows the spec: close stdin, wait, SIGTERM, wait, SIGKILL, each to the whole group (so
//! `npx`'s grandchildren go too); dropping the handles kills the group. A *Streamable HTTP*
//! server (`url`) is reached through chitin-egress, like a plugin's requests: an
//! [`EgressClient`] whose policy allows exactly the URL's origin (and the `allow_private`
//! ranges), with the listed `secrets` substituted for `{{secret:NAME}}` in the configured
//! headers, URL path or query for that origin only. So DNS answers are checked and pinned, every
//! redirect is re-checked (a redirect to another host, e.g. a metadata address, is refused),
//! responses are size-limited and secret values redacted. Tool arguments come from the model:
//! a placeholder in them is escaped and never substituted (see `http.rs`).
//!
//! **Tools.** Every server's tools are listed (all pages) at start, filtered by `tools_allow`
//! / `tools_deny`, and offered as `mcp__<server>__<tool>`, sanitized to `[A-Za-z0-9_-]{1,64}`;
//! collisions after sanitizing are resolved deterministically (see [`names`]) and reported in
//! [`McpServers::warnings`]. Descriptions and input schemas are passed through unchanged (they
//! are untrusted text). `notifications/tools/list_changed` (on the session for legacy servers,
//! on a `subscriptions/listen` stream for 2026 servers) triggers a re-list;
//! [`McpServers::changes`] tells the caller.
//!
//! **Calls.** [`McpServers::call`] renders every content block as text: text as is, images and
//! audio as `[image: image/png, N bytes]`, resource links and embedded resources with their
//! URI and type (and their text when textual), and `structuredContent` as JSON when there is no
//! text. A tool's `isError: true` is a result with [`McpToolResult::is_error`] set (for the
//! model to correct itself); a JSON-RPC error, a timeout or a broken connection is an
//! [`McpError`] naming the server and the tool. Each call has the server's `timeout_secs`;
//! on timeout, or when the caller drops the call future, rmcp sends `notifications/cancelled`
//! (on 2026 HTTP, closes the stream). Output is cut at `max_output_kb` (64 KiB) with a note,
//! and every secret value in the store is redacted from it. A stdio server that exits is
//! restarted at the next call, once: if it stops again before answering a call, it stays down
//! (with the reason in [`McpServers::servers`]) until [`McpServers::restart`].
//!
//! **Start-up.** [`McpServers::start`] starts every enabled server in parallel, each within its
//! `startup_timeout_secs`; one that fails is reported in the returned [`StartError`]s and does
//! not hold up the others. Relative `command` and `cwd` paths are the caller's to resolve
//! ([`McpServerConfig::resolve_paths`], against the directory of chitin.toml).
//!
//! **Known limit.** When an HTTP server has `secrets`, egress redacts their values from every
//! response as it streams, holding back the last bytes of each read until more arrive (a value
//! might straddle two reads). Responses to calls end, so they are complete; but an event on a
//! long-lived stream (a 2026 `subscriptions/listen` stream, the legacy GET stream) is only
//! delivered once the server sends more (its next event or keep-alive), so `list_changed` from
//! such a server can arrive late. Fixing it belongs in chitin-egress (hold back only a suffix
//! that could begin a secret value).
//!
//! ```toml
//! [mcp.files]                              # stdio: a program speaking MCP on stdin/stdout
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv/notes"]
//! env = { LOG_LEVEL = "info" }
//! env_secrets = { GITHUB_TOKEN = "github-token" }   # variable = secret-store key
//! timeout_secs = 60
//!
//! [mcp.search]                             # Streamable HTTP, through the egress policy
//! url = "https://mcp.example.com/mcp"
//! headers = { Authorization = "Bearer {{secret:SEARCH_TOKEN}}" }
//! secrets = ["SEARCH_TOKEN"]
//! tools_allow = ["search*"]
//! ```

pub mod bridge;
mod config;
mod error;
mod http;
pub mod names;
mod render;
mod server;
mod stdio;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

pub use chitin_egress::{EgressClient, EgressError, EgressPolicy, Resolver};
use chitin_secrets::{Redactor, SecretStore};
use futures_util::future::join_all;
use tokio::sync::watch;

pub use config::{MAX_SERVER_ID_LEN, McpConfig, McpServerConfig, ProtocolMode, SecretRef};
pub use error::{McpError, StartError};
pub use render::McpToolResult;
pub use server::ServerStatus;

use names::ToolKey;
use server::{HostCtx, Server};

/// Builds the egress client of an HTTP server from its policy (the gateway's resolver, a test's
/// static resolver, ...).
pub type EgressFactory =
    Arc<dyn Fn(EgressPolicy) -> Result<EgressClient, EgressError> + Send + Sync>;

/// Egress clients that look names up with `resolver` (production: the system resolver).
pub fn egress_factory(resolver: Arc<dyn Resolver>) -> EgressFactory {
    Arc::new(move |policy| EgressClient::new(policy, resolver.clone()))
}

/// A tool of an MCP server, as offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `mcp__<server>__<tool>`, `[A-Za-z0-9_-]{1,64}`, unique.
    pub name: String,
    /// The server id (`[mcp.<id>]`).
    pub server: String,
    /// The tool's own name on its server.
    pub tool: String,
    /// The server's description (or title), unchanged: untrusted text.
    pub description: String,
    /// The JSON Schema of the arguments (an object schema), unchanged.
    pub input_schema: serde_json::Value,
    /// The server's hints (`readOnlyHint`, `destructiveHint`, ...), untrusted.
    pub annotations: Option<serde_json::Value>,
}

/// The running MCP servers and their tools. Cheap to clone.
#[derive(Clone)]
pub struct McpServers {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    servers: BTreeMap<String, Arc<Server>>,
    table: Mutex<Table>,
    changes: watch::Sender<u64>,
}

#[derive(Default)]
struct Table {
    tools: Vec<McpTool>,
    /// Offered name → (server id, tool name on the server).
    by_name: HashMap<String, (String, String)>,
    notes: Vec<String>,
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServers")
            .field("servers", &self.inner.servers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl McpServers {
    /// No servers, no tools.
    pub fn empty() -> McpServers {
        McpServers {
            inner: Arc::new(Inner {
                servers: BTreeMap::new(),
                table: Mutex::new(Table::default()),
                changes: watch::channel(0).0,
            }),
        }
    }

    /// Starts (or connects to) every enabled server in `configs` in parallel and lists their
    /// tools. A server with an invalid config, or that fails to start within its
    /// `startup_timeout_secs`, is in the returned errors (and in [`McpServers::servers`]); the
    /// others run regardless.
    pub async fn start(
        configs: McpConfig,
        secrets: Arc<SecretStore>,
        egress: EgressFactory,
    ) -> (McpServers, Vec<StartError>) {
        McpServers::start_with_bridges(configs, Vec::new(), secrets, egress).await
    }

    /// As [`McpServers::start`], plus MCP servers compiled to WebAssembly (mcp-bridge
    /// plugins), each under its plugin id with the default limits.
    pub async fn start_with_bridges(
        configs: McpConfig,
        bridges: Vec<(String, Arc<dyn bridge::BridgeHandler>)>,
        secrets: Arc<SecretStore>,
        egress: EgressFactory,
    ) -> (McpServers, Vec<StartError>) {
        let host = Arc::new(HostCtx {
            redactor: Redactor::new(secrets.all()),
            secrets,
            egress,
        });
        let mut errors = Vec::new();
        let inner = Arc::new_cyclic(|weak| {
            let mut servers = BTreeMap::new();
            for (id, handler) in bridges {
                // A bridge speaks the `initialize` handshake one message at a time: no probe.
                let config = McpServerConfig {
                    protocol: ProtocolMode::Legacy,
                    ..McpServerConfig::empty()
                };
                if let Err(message) = config::check_server_id(&id) {
                    errors.push(StartError {
                        server: id,
                        message,
                    });
                    continue;
                }
                let server = Server::new(
                    id.clone(),
                    config,
                    config::Transport::Bridge(bridge::BridgeRef(handler)),
                    host.clone(),
                    weak.clone(),
                );
                servers.insert(id, Arc::new(server));
            }
            for (id, config) in configs {
                if !config.enabled {
                    continue;
                }
                match config.transport(&id) {
                    Ok(transport) => {
                        let server =
                            Server::new(id.clone(), config, transport, host.clone(), weak.clone());
                        servers.insert(id, Arc::new(server));
                    }
                    Err(message) => errors.push(StartError {
                        server: id,
                        message,
                    }),
                }
            }
            Inner {
                servers,
                table: Mutex::new(Table::default()),
                changes: watch::channel(0).0,
            }
        });
        let starts = inner.servers.values().map(|server| async move {
            server.start().await.map_err(|message| StartError {
                server: server.id.clone(),
                message,
            })
        });
        for result in join_all(starts).await {
            if let Err(err) = result {
                tracing::warn!("{err}");
                errors.push(err);
            }
        }
        inner.rebuild();
        (McpServers { inner }, errors)
    }

    /// Every tool on offer, by server id and then in each server's order (stable, so that a
    /// model's prompt cache keeps working).
    pub fn tools(&self) -> Vec<McpTool> {
        self.inner.table().tools.clone()
    }

    /// Whether `name` is one of the tools on offer.
    pub fn has_tool(&self, name: &str) -> bool {
        self.inner.table().by_name.contains_key(name)
    }

    /// Bumped whenever [`McpServers::tools`] changes (a server re-listed its tools, stopped or
    /// was restarted with other tools).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Things the operator should know that are not errors: renamed tools (collisions, long
    /// names) and tools not offered (duplicates, oversized schemas).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.inner.table().notes.clone();
        for server in self.inner.servers.values() {
            out.extend(server.notes());
        }
        out
    }

    /// Every configured and enabled server, running or not.
    pub fn servers(&self) -> Vec<ServerStatus> {
        self.inner.servers.values().map(|s| s.status()).collect()
    }

    /// Calls the tool `name` (as in [`McpServers::tools`]) with `arguments`, the JSON object
    /// the model wrote (empty or `null` means no arguments).
    ///
    /// `Ok` with `is_error` set is the tool's own failure, for the model; `Err` is a failure to
    /// get a result at all. Dropping the returned future cancels the call on the server.
    pub async fn call(&self, name: &str, arguments: &str) -> Result<McpToolResult, McpError> {
        let Some((server_id, tool)) = self.inner.table().by_name.get(name).cloned() else {
            return Err(McpError::UnknownTool(name.to_string()));
        };
        let Some(server) = self.inner.servers.get(&server_id).cloned() else {
            return Err(McpError::UnknownTool(name.to_string()));
        };
        let arguments =
            parse_arguments(arguments).map_err(|detail| McpError::InvalidArguments {
                tool: name.to_string(),
                detail,
            })?;
        server.call(&tool, arguments).await
    }

    /// Restarts the server `id` (also one that failed to start or stopped twice in a row).
    pub async fn restart(&self, id: &str) -> Result<(), StartError> {
        let Some(server) = self.inner.servers.get(id) else {
            return Err(StartError {
                server: id.to_string(),
                message: "no such MCP server is configured".to_string(),
            });
        };
        server.restart().await.map_err(|message| StartError {
            server: id.to_string(),
            message,
        })
    }

    /// Stops every server (stdio children: close stdin, SIGTERM, SIGKILL; HTTP: end the
    /// session). Calls afterwards fail; [`McpServers::tools`] is empty.
    pub async fn shutdown(&self) {
        join_all(self.inner.servers.values().map(|s| s.shutdown())).await;
    }
}

fn parse_arguments(raw: &str) -> Result<Option<rmcp::model::JsonObject>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(other) => Err(format!("got {}", json_kind(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Inner {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Recomputes the offered names from every server's current tools.
    pub(crate) fn rebuild(&self) {
        let per_server: Vec<(&String, Vec<rmcp::model::Tool>)> = self
            .servers
            .iter()
            .map(|(id, server)| (id, server.tools()))
            .collect();
        let keys: Vec<ToolKey> = per_server
            .iter()
            .flat_map(|(id, tools)| {
                tools.iter().map(|t| ToolKey {
                    server: (*id).clone(),
                    tool: t.name.to_string(),
                })
            })
            .collect();
        let assigned = names::assign(&keys);
        let mut table = Table::default();
        for (id, tools) in &per_server {
            for tool in tools {
                let key = ToolKey {
                    server: (*id).clone(),
                    tool: tool.name.to_string(),
                };
                let Some(name) = assigned.get(&key) else {
                    continue;
                };
                if let Some(note) = &name.note {
                    table.notes.push(note.clone());
                }
                table
                    .by_name
                    .insert(name.name.clone(), (key.server.clone(), key.tool.clone()));
                table.tools.push(McpTool {
                    name: name.name.clone(),
                    server: key.server,
                    tool: key.tool,
                    description: tool
                        .description
                        .as_deref()
                        .map(str::to_string)
                        .or_else(|| tool.title.clone())
                        .unwrap_or_default(),
                    input_schema: serde_json::Value::Object(tool.input_schema.as_ref().clone()),
                    annotations: tool
                        .annotations
                        .as_ref()
                        .and_then(|a| serde_json::to_value(a).ok()),
                });
            }
        }
        let mut current = self.table();
        if current.tools != table.tools {
            for note in &table.notes {
                if !current.notes.contains(note) {
                    tracing::warn!("{note}");
                }
            }
            *current = table;
            drop(current);
            self.changes.send_modify(|generation| *generation += 1);
        } else {
            current.notes = table.notes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_arguments(""), Ok(None));
        assert_eq!(parse_arguments(" null "), Ok(None));
        assert!(parse_arguments(r#"{"a":1}"#).expect("object").is_some());
        assert_eq!(parse_arguments("[1]"), Err("got an array".to_string()));
        assert!(
            parse_arguments("{")
                .expect_err("broken")
                .starts_with("invalid JSON")
        );
    }

    #[tokio::test]
    async fn an_empty_set_has_no_tools() {
        let servers = McpServers::empty();
        assert!(servers.tools().is_empty());
        let err = servers.call("mcp__x__y", "{}").await.expect_err("unknown");
        assert_eq!(err, McpError::UnknownTool("mcp__x__y".into()));
        servers.shutdown().await;
    }
}
