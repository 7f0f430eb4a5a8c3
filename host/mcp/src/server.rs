//! One configured MCP server: connecting (stdio child or HTTP through egress) with version
//! negotiation, its tool list (refreshed on `list_changed`), calls with a deadline and
//! cancellation, and restarting it once after a crash.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chitin_egress::{EgressLimits, EgressPolicy, SecretBinding};
use chitin_manifest::{HostPattern, InjectAt};
use chitin_secrets::Redactor;
use rmcp::ClientHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion, ServerNotification, SubscriptionFilter, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt as _, NotificationContext, Peer, RoleClient,
    RunningService, ServiceError,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::sync::Notify;

use crate::config::{McpServerConfig, ProtocolMode, SecretRef, Transport};
use crate::error::{McpError, error_chain};
use crate::http::EgressHttp;
use crate::render::{McpToolResult, render};
use crate::stdio::{self, INHERITED_ENV, Process};
use crate::{EgressFactory, Inner};

/// Largest input schema passed on (serialized); a bigger one is more likely an attack on the
/// model's context than a real tool.
const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// Largest response body of an HTTP server (one JSON-RPC message or one SSE stream).
const MAX_HTTP_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Lifetime of one long-lived HTTP stream before it is reopened.
const HTTP_STREAM_TIMEOUT: Duration = Duration::from_secs(600);

/// What every server shares: secrets, egress, the redactor.
pub(crate) struct HostCtx {
    pub secrets: Arc<chitin_secrets::SecretStore>,
    pub egress: EgressFactory,
    /// Every secret in the store: tool output, errors and logs never show a value.
    pub redactor: Redactor,
}

pub(crate) struct Server {
    pub id: String,
    pub config: McpServerConfig,
    transport: Transport,
    host: Arc<HostCtx>,
    registry: Weak<Inner>,
    /// The live connection, if any.
    current: Mutex<Option<Arc<Connection>>>,
    /// Held while (re)connecting, so that one caller restarts and the others wait for it.
    restart: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// The server's tools that the config allows, in the server's order.
    tools: Mutex<Vec<Tool>>,
}

#[derive(Default)]
struct State {
    /// Restarted after the connection died, and no call has been answered since.
    restarted: bool,
    shut_down: bool,
    /// Why the server is unavailable, when it is.
    last_error: Option<String>,
    /// Tools dropped from the list, and why (duplicates, oversized schemas).
    notes: Vec<String>,
}

/// A point-in-time view of one server, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    pub id: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    pub running: bool,
    /// The negotiated protocol revision (`2025-11-25`, `2026-07-28`, ...).
    pub protocol_version: Option<String>,
    /// The server's own name and version, as it reported them.
    pub server_info: Option<String>,
    pub tools: usize,
    /// The child's process id (stdio servers).
    pub pid: Option<u32>,
    /// Why the server is not running.
    pub error: Option<String>,
}

/// One connection to a server (one child process, or one HTTP session).
pub(crate) struct Connection {
    pub peer: Peer<RoleClient>,
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, Handler>>>,
    pub process: Option<Process>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Connection {
    fn alive(&self) -> bool {
        !self.peer.is_transport_closed()
            && self
                .process
                .as_ref()
                .is_none_or(|p| p.exit_status().is_none())
    }

    /// Why the connection is gone.
    fn death_note(&self) -> String {
        match &self.process {
            Some(process) => process.death_note(),
            None => "the connection closed".to_string(),
        }
    }

    /// Waits a moment for a dying child's exit to be noticed, so that the message can say how
    /// it ended.
    async fn settle(&self) {
        if let Some(process) = &self.process {
            for _ in 0..20 {
                if process.exit_status().is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    fn abort_tasks(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    /// Ends the session (closing a child's stdin), then stops the child: wait, SIGTERM,
    /// SIGKILL.
    async fn close(&self) {
        self.abort_tasks();
        let service = self.service.lock().await.take();
        if let Some(mut service) = service {
            let _ = service.close_with_timeout(Duration::from_secs(5)).await;
        }
        if let Some(process) = &self.process {
            process.shutdown().await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}

/// The client side of the protocol: what we declare (no roots, sampling or elicitation) and
/// the notifications we act on.
#[derive(Clone)]
pub(crate) struct Handler {
    server: Arc<str>,
    changed: Arc<Notify>,
    protocol: ProtocolMode,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(server = %self.server, "MCP server says its tools changed");
        self.changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        let version = match self.protocol {
            ProtocolMode::Modern => ProtocolVersion::LATEST,
            ProtocolMode::Auto | ProtocolMode::Legacy => ProtocolVersion::LATEST_WITH_INITIALIZE,
        };
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("chitin", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(version)
    }
}

fn lifecycle(mode: ProtocolMode) -> ClientLifecycleMode {
    match mode {
        ProtocolMode::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::LATEST],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        },
        ProtocolMode::Legacy => ClientLifecycleMode::Initialize,
        ProtocolMode::Modern => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::LATEST],
        },
    }
}

impl Server {
    pub fn new(
        id: String,
        config: McpServerConfig,
        transport: Transport,
        host: Arc<HostCtx>,
        registry: Weak<Inner>,
    ) -> Server {
        Server {
            id,
            config,
            transport,
            host,
            registry,
            current: Mutex::new(None),
            restart: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            tools: Mutex::new(Vec::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<Arc<Connection>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_current(&self, conn: Option<Arc<Connection>>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }

    /// The tools on offer, in the server's order.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn notes(&self) -> Vec<String> {
        self.state().notes.clone()
    }

    pub fn status(&self) -> ServerStatus {
        let conn = self.current();
        let live = conn.as_ref().filter(|c| c.alive());
        let info = live.and_then(|c| c.peer.peer_info());
        let error = if live.is_some() {
            None
        } else {
            Some(
                self.state()
                    .last_error
                    .clone()
                    .or_else(|| conn.as_ref().map(|c| c.death_note()))
                    .unwrap_or_else(|| "not running".to_string()),
            )
        };
        ServerStatus {
            id: self.id.clone(),
            transport: match self.transport {
                Transport::Stdio { .. } => "stdio",
                Transport::Http { .. } => "http",
                Transport::Bridge(_) => "wasm",
            },
            running: live.is_some(),
            protocol_version: info.as_ref().map(|i| i.protocol_version.to_string()),
            server_info: info
                .as_ref()
                .and_then(|i| i.server_info.as_ref())
                .map(|s| format!("{} {}", s.name, s.version)),
            tools: self
                .tools
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            pid: live.and_then(|c| c.process.as_ref()).map(Process::pid),
            error,
        }
    }

    /// Connects within the start-up timeout; on failure the reason is kept for status.
    pub async fn start(self: &Arc<Self>) -> Result<(), String> {
        let _guard = self.restart.lock().await;
        let result = match tokio::time::timeout(self.config.startup_timeout(), self.connect()).await
        {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {} s (startup_timeout_secs)",
                self.config.startup_timeout_secs
            )),
        };
        let mut state = self.state();
        match result {
            Ok(conn) => {
                state.last_error = None;
                state.restarted = false;
                drop(state);
                self.set_current(Some(conn));
                Ok(())
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Stops the server; later calls fail instead of restarting it.
    pub async fn shutdown(&self) {
        let _guard = self.restart.lock().await;
        self.state().shut_down = true;
        let conn = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(conn) = conn {
            conn.close().await;
        }
        self.tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if let Some(registry) = self.registry.upgrade() {
            registry.rebuild();
        }
    }

    /// Stops the current connection (if any) and starts a new one, clearing a "crashed twice"
    /// state.
    pub async fn restart(self: &Arc<Self>) -> Result<(), String> {
        let old = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(old) = old {
            old.close().await;
        }
        {
            let mut state = self.state();
            state.restarted = false;
            state.shut_down = false;
        }
        self.start().await
    }

    /// Calls the server's tool `tool`.
    pub async fn call(
        self: &Arc<Self>,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> Result<McpToolResult, McpError> {
        let conn = self.live_connection(tool).await?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = arguments;
        let timeout = self.config.timeout();
        // Dropping the call future (on this timeout, or when our caller drops us) makes rmcp
        // send `notifications/cancelled` (on HTTP 2026, closing the stream does it).
        let outcome = tokio::time::timeout(timeout, conn.peer.call_tool_once(params)).await;
        let max = self.config.max_output_kb as usize * 1024;
        let redact = |text: String| self.host.redactor.redact(&text).into_owned();
        match outcome {
            Err(_) => {
                tracing::info!(server = %self.id, tool, "MCP tool call timed out; cancelled");
                Err(McpError::Timeout {
                    server: self.id.clone(),
                    tool: tool.to_string(),
                    timeout,
                })
            }
            Ok(Ok(response)) => {
                self.answered();
                let unsupported = |what: &str| McpToolResult {
                    text: format!(
                        "The tool `{tool}` {what}, which Chitin's MCP client does not support; \
                         the call did not complete."
                    ),
                    is_error: true,
                };
                Ok(match response {
                    CallToolResponse::Complete(result) => render(&result, &self.host.redactor, max),
                    CallToolResponse::InputRequired(_) => {
                        unsupported("asked for input from the user (MCP input_required)")
                    }
                    CallToolResponse::Task(_) => {
                        unsupported("started an asynchronous task (MCP tasks extension)")
                    }
                    _ => unsupported("answered with a kind of result"),
                })
            }
            Ok(Err(ServiceError::McpError(data))) => {
                self.answered();
                Err(McpError::Protocol {
                    server: self.id.clone(),
                    tool: tool.to_string(),
                    code: data.code.0,
                    message: redact(data.message.into_owned()),
                })
            }
            Ok(Err(err @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                conn.settle().await;
                let detail = if conn.alive() {
                    redact(error_chain(&err))
                } else {
                    format!(
                        "{}; it will be restarted at the next call",
                        conn.death_note()
                    )
                };
                Err(McpError::Transport {
                    server: self.id.clone(),
                    tool: tool.to_string(),
                    detail,
                })
            }
            Ok(Err(err)) => Err(McpError::Transport {
                server: self.id.clone(),
                tool: tool.to_string(),
                detail: redact(error_chain(&err)),
            }),
        }
    }

    /// The server answered a call: a later crash may be restarted again.
    fn answered(&self) {
        self.state().restarted = false;
    }

    /// The live connection; a dead one is restarted once (not again until a call has been
    /// answered in between).
    async fn live_connection(self: &Arc<Self>, tool: &str) -> Result<Arc<Connection>, McpError> {
        if let Some(conn) = self.current().filter(|c| c.alive()) {
            return Ok(conn);
        }
        let _guard = self.restart.lock().await;
        if let Some(conn) = self.current().filter(|c| c.alive()) {
            return Ok(conn);
        }
        let unavailable = |reason: String| McpError::Unavailable {
            server: self.id.clone(),
            tool: tool.to_string(),
            reason,
        };
        let dead = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let why = match &dead {
            Some(conn) => {
                conn.settle().await;
                let note = conn.death_note();
                conn.close().await;
                note
            }
            None => self
                .state()
                .last_error
                .clone()
                .unwrap_or_else(|| "it is not running".to_string()),
        };
        {
            let mut state = self.state();
            if state.shut_down {
                return Err(unavailable("the MCP servers were shut down".to_string()));
            }
            if state.restarted {
                let reason = format!(
                    "it stopped again right after being restarted ({why}), so it is not \
                     restarted a second time in a row; fix the server and restart it"
                );
                state.last_error = Some(reason.clone());
                return Err(unavailable(reason));
            }
            state.restarted = true;
        }
        tracing::warn!(server = %self.id, "MCP server stopped ({why}); restarting it");
        let result = match tokio::time::timeout(self.config.startup_timeout(), self.connect()).await
        {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {} s (startup_timeout_secs)",
                self.config.startup_timeout_secs
            )),
        };
        match result {
            Ok(conn) => {
                self.state().last_error = None;
                self.set_current(Some(conn.clone()));
                Ok(conn)
            }
            Err(e) => {
                let reason = format!("it stopped ({why}) and could not be restarted: {e}");
                self.state().last_error = Some(reason.clone());
                Err(unavailable(reason))
            }
        }
    }

    /// Starts the transport, negotiates the protocol, lists the tools and starts watching for
    /// list changes.
    async fn connect(self: &Arc<Self>) -> Result<Arc<Connection>, String> {
        let changed = Arc::new(Notify::new());
        let handler = Handler {
            server: Arc::from(self.id.as_str()),
            changed: changed.clone(),
            protocol: self.config.protocol,
        };
        let mode = lifecycle(self.config.protocol);
        let redact = |text: String| self.host.redactor.redact(&text).into_owned();
        let (service, process) = match &self.transport {
            Transport::Stdio {
                command,
                args,
                env,
                env_secrets,
                cwd,
            } => {
                let env = self.child_env(env, env_secrets)?;
                let spawned = stdio::spawn(
                    &self.id,
                    command,
                    args,
                    env,
                    cwd.as_deref(),
                    self.host.redactor.clone(),
                )?;
                let process = spawned.process;
                match handler
                    .serve_with_lifecycle((spawned.stdout, spawned.stdin), mode)
                    .await
                {
                    Ok(service) => (service, Some(process)),
                    Err(e) => {
                        for _ in 0..20 {
                            if process.exit_status().is_some() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(25)).await;
                        }
                        let detail = redact(error_chain(&e));
                        return Err(if process.exit_status().is_some() {
                            format!("{detail} ({})", process.death_note())
                        } else {
                            let tail = process.stderr_tail();
                            match tail.last() {
                                Some(line) => format!("{detail} (its last stderr line: {line})"),
                                None => detail,
                            }
                        });
                    }
                }
            }
            Transport::Bridge(bridge) => {
                let (read, write) = tokio::io::split(crate::bridge::pump(bridge.0.clone()));
                let service = handler
                    .serve_with_lifecycle((read, write), mode)
                    .await
                    .map_err(|e| redact(error_chain(&e)))?;
                (service, None)
            }
            Transport::Http {
                url,
                headers,
                secrets,
                allow_private,
            } => {
                let client = self.http_client(url, headers, secrets, allow_private)?;
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                config.max_sse_event_size = MAX_HTTP_RESPONSE_BYTES as usize;
                let transport = StreamableHttpClientTransport::with_client(client, config);
                let service = handler
                    .serve_with_lifecycle(transport, mode)
                    .await
                    .map_err(|e| redact(error_chain(&e)))?;
                (service, None)
            }
        };
        let peer = service.peer().clone();
        let conn = Arc::new(Connection {
            peer: peer.clone(),
            service: tokio::sync::Mutex::new(Some(service)),
            process,
            tasks: Mutex::new(Vec::new()),
        });
        let info = peer.peer_info();
        let modern = info
            .as_ref()
            .is_some_and(|i| !i.protocol_version.has_initialize());
        let announces_changes = info
            .as_ref()
            .and_then(|i| i.capabilities.tools.as_ref())
            .and_then(|t| t.list_changed)
            .unwrap_or(false);
        let tools = self
            .list_tools(&peer)
            .await
            .map_err(|e| format!("listing its tools failed: {e}"))?;
        self.set_tools(tools);
        tracing::info!(
            server = %self.id,
            protocol = %info.as_ref().map(|i| i.protocol_version.to_string()).unwrap_or_default(),
            tools = self.tools.lock().unwrap_or_else(PoisonError::into_inner).len(),
            "MCP server connected"
        );
        let mut tasks = vec![
            tokio::spawn(refresh_on_change(
                Arc::downgrade(self),
                peer.clone(),
                changed.clone(),
            ))
            .abort_handle(),
        ];
        if modern && announces_changes {
            // 2026: list changes arrive only on a `subscriptions/listen` stream.
            tasks.push(
                tokio::spawn(listen_for_changes(self.id.clone(), peer, changed)).abort_handle(),
            );
        }
        *conn.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Ok(conn)
    }

    /// The child's environment: PATH, HOME and LANG from ours, then `env`, then the secrets.
    fn child_env(
        &self,
        env: &BTreeMap<String, String>,
        env_secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for name in INHERITED_ENV {
            if let Some(value) = std::env::var_os(name).and_then(|v| v.into_string().ok()) {
                out.insert(name.to_string(), value);
            }
        }
        out.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (var, key) in env_secrets {
            let value = self.host.secrets.get(key).ok_or_else(|| {
                format!(
                    "secret `{key}` (for the variable {var} in env_secrets) is not set; run \
                     `chitin secrets set {key}`"
                )
            })?;
            out.insert(var.clone(), value.expose().to_string());
        }
        Ok(out.into_iter().collect())
    }

    /// An egress client allowed exactly `url`'s origin, with the listed secrets usable in
    /// headers, the query and the path of requests to that origin only.
    fn http_client(
        &self,
        url: &url::Url,
        headers: &BTreeMap<String, String>,
        secrets: &[SecretRef],
        allow_private: &[ipnet::IpNet],
    ) -> Result<EgressHttp, String> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(0);
        let origin = format!("{}://{host}:{port}", url.scheme());
        let pattern = HostPattern::parse(&origin)
            .map_err(|e| format!("url {url} cannot be used as an egress grant: {e}"))?;
        let mut bindings = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let value = self.host.secrets.get(secret.store_key()).ok_or_else(|| {
                format!(
                    "secret `{}` is listed in secrets but not set; run `chitin secrets set {}`",
                    secret.store_key(),
                    secret.store_key()
                )
            })?;
            bindings.push(SecretBinding {
                name: secret.name().to_string(),
                value,
                audience: vec![pattern.clone()],
                inject: vec![InjectAt::Header, InjectAt::Query, InjectAt::Path],
            });
        }
        let post_timeout = self.config.timeout() + Duration::from_secs(30);
        let policy = EgressPolicy {
            plugin_id: format!("mcp:{}", self.id),
            allow: vec![pattern],
            allow_private: allow_private.to_vec(),
            secrets: bindings,
            limits: EgressLimits {
                max_response_bytes: MAX_HTTP_RESPONSE_BYTES,
                max_request_bytes: 8 * 1024 * 1024,
                max_concurrent: 32,
                max_redirects: 5,
                default_timeout: post_timeout,
                queue_timeout: Duration::from_secs(30),
            },
        };
        let egress = (self.host.egress)(policy).map_err(|e| e.to_string())?;
        Ok(EgressHttp {
            egress,
            headers: Arc::new(
                headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            post_timeout,
            stream_timeout: HTTP_STREAM_TIMEOUT,
            server: Arc::from(self.id.as_str()),
        })
    }

    /// Every page of the server's tools, filtered by the config; duplicates and oversized
    /// schemas dropped with a note.
    async fn list_tools(
        &self,
        peer: &Peer<RoleClient>,
    ) -> Result<(Vec<Tool>, Vec<String>), String> {
        let all = peer
            .list_all_tools()
            .await
            .map_err(|e| self.host.redactor.redact(&error_chain(&e)).into_owned())?;
        let mut seen = HashSet::new();
        let mut tools = Vec::with_capacity(all.len());
        let mut notes = Vec::new();
        for tool in all {
            if tool.name.is_empty() || !self.config.allows_tool(&tool.name) {
                continue;
            }
            if !seen.insert(tool.name.to_string()) {
                notes.push(format!(
                    "MCP server `{}` lists tool `{}` twice; only the first is offered",
                    self.id, tool.name
                ));
                continue;
            }
            let schema_len = serde_json::to_vec(tool.input_schema.as_ref()).map_or(0, |v| v.len());
            if schema_len > MAX_SCHEMA_BYTES {
                notes.push(format!(
                    "tool `{}` of MCP server `{}` is not offered: its input schema is {schema_len} \
                     bytes (more than {MAX_SCHEMA_BYTES})",
                    tool.name, self.id
                ));
                continue;
            }
            tools.push(tool);
        }
        Ok((tools, notes))
    }

    fn set_tools(&self, (tools, notes): (Vec<Tool>, Vec<String>)) {
        for note in &notes {
            tracing::warn!(server = %self.id, "{note}");
        }
        self.state().notes = notes;
        *self.tools.lock().unwrap_or_else(PoisonError::into_inner) = tools;
        if let Some(registry) = self.registry.upgrade() {
            registry.rebuild();
        }
    }
}

/// Re-lists the tools whenever the server says they changed.
async fn refresh_on_change(server: Weak<Server>, peer: Peer<RoleClient>, changed: Arc<Notify>) {
    loop {
        changed.notified().await;
        // Several notifications in a burst make one refresh.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(server) = server.upgrade() else {
            return;
        };
        if peer.is_transport_closed() {
            return;
        }
        let limit = server.config.startup_timeout();
        match tokio::time::timeout(limit, server.list_tools(&peer)).await {
            Ok(Ok(tools)) => {
                tracing::info!(server = %server.id, "MCP server's tools changed; re-listed them");
                server.set_tools(tools);
            }
            Ok(Err(e)) => tracing::warn!(server = %server.id, "re-listing tools failed: {e}"),
            Err(_) => tracing::warn!(
                server = %server.id,
                "re-listing tools got no answer within {} s",
                limit.as_secs()
            ),
        }
    }
}

fn tool_changes() -> SubscriptionFilter {
    SubscriptionFilter::builder().tools_list_changed().build()
}

/// On a 2026 connection, keeps a `subscriptions/listen` stream for tool-list changes open,
/// reopening it when it ends. Each time a subscription is acknowledged the tools are listed
/// again: a change between the last listing and the subscription would otherwise be missed.
async fn listen_for_changes(server: String, peer: Peer<RoleClient>, changed: Arc<Notify>) {
    let mut backoff = Duration::from_secs(1);
    while !peer.is_transport_closed() {
        match peer.listen(tool_changes()).await {
            Ok(mut subscription) => {
                backoff = Duration::from_secs(1);
                changed.notify_one();
                loop {
                    match subscription.next().await {
                        Ok(Some(ServerNotification::ToolListChangedNotification(_))) => {
                            tracing::debug!(server = %server, "MCP server says its tools changed");
                            changed.notify_one();
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(server = %server, "tool-change subscription ended: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(server = %server, "could not subscribe to tool changes: {e}");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}
