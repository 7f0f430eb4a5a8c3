//! Chitin's gateway: one listener (127.0.0.1:18789 by default) for the WebSocket control
//! protocol (docs/protocol.md), the OpenAI-compatible HTTP API, health checks and the web UI.
//! A non-loopback bind without a token is refused: an agent with tools is not something to
//! expose to a network unauthenticated.

pub mod auth;
pub mod control;
pub mod mcp_server;
pub mod openai;
pub mod runs;
pub mod ui;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::close_code;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chitin_agent::{AgentRuntime, ApprovalEvent};
use chitin_sandbox::Plugin;
use serde_json::{Value, json};

pub use control::{ConfigSnapshot, ConfigStore, PatchError};
pub use ws::WsLimits;

pub const DEFAULT_PORT: u16 = 18789;

/// How long a stopping gateway waits for runs in progress before closing connections.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct GatewayState {
    pub runtime: Arc<AgentRuntime>,
    auth: auth::Authenticator,
    ready: AtomicBool,
    ids: AtomicU64,
    started: Instant,
    /// Installed plugins, for `plugins.list|inspect`.
    plugins: Vec<Arc<Plugin>>,
    config: Option<Arc<dyn ConfigStore>>,
    runs: Arc<runs::Runs>,
    hub: ws::hub::Hub,
    limits: WsLimits,
    allowed_origins: Vec<String>,
    drain_timeout: Duration,
}

impl GatewayState {
    pub fn new(runtime: Arc<AgentRuntime>, token: Option<String>) -> GatewayState {
        GatewayState {
            runtime,
            auth: auth::Authenticator::new(token),
            ready: AtomicBool::new(true),
            ids: AtomicU64::new(1),
            started: Instant::now(),
            plugins: Vec::new(),
            config: None,
            runs: Arc::default(),
            hub: ws::hub::Hub::default(),
            limits: WsLimits::default(),
            allowed_origins: Vec::new(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    pub fn with_plugins(mut self, plugins: Vec<Arc<Plugin>>) -> GatewayState {
        self.plugins = plugins;
        self
    }

    pub fn with_config_store(mut self, config: Arc<dyn ConfigStore>) -> GatewayState {
        self.config = Some(config);
        self
    }

    pub fn with_limits(mut self, limits: WsLimits) -> GatewayState {
        self.limits = limits;
        self
    }

    /// Browser origins other than the gateway's own that may open the WebSocket.
    pub fn with_allowed_origins(mut self, origins: Vec<String>) -> GatewayState {
        self.allowed_origins = origins;
        self
    }

    pub fn with_drain_timeout(mut self, timeout: Duration) -> GatewayState {
        self.drain_timeout = timeout;
        self
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks the gateway as draining: /readyz answers 503 so load balancers stop routing,
    /// and no new runs are accepted.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        !self.ready.load(Ordering::Relaxed)
    }

    /// Channel adapters and their state. Channels are not run by the gateway yet, so there
    /// is none to report.
    fn channel_status(&self) -> Vec<Value> {
        Vec::new()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Refuses a configuration that would expose the gateway without authentication.
pub fn check_bind(bind: IpAddr, token: Option<&str>) -> Result<(), String> {
    if !bind.is_loopback() && token.is_none_or(str::is_empty) {
        return Err(format!(
            "refusing to listen on {bind} without a token: anyone who can reach it could drive \
             your agents. Set [gateway] token = \"${{CHITIN_GATEWAY_TOKEN}}\" in chitin.toml (and \
             export CHITIN_GATEWAY_TOKEN), or bind 127.0.0.1"
        ));
    }
    Ok(())
}

pub fn router(state: Arc<GatewayState>) -> Router {
    let api = Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route_service(
            "/mcp",
            mcp_server::http_service(state.runtime.tools().clone()),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let router = Router::new()
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::app_js))
        .route("/ui/app.css", get(ui::app_css))
        // Authentication happens in the protocol's `connect`, which browsers can send (they
        // cannot set headers on a WebSocket upgrade).
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(api);
    let router = if state.auth.has_token() {
        router
    } else {
        router.layer(middleware::from_fn(require_local_host))
    };
    router.with_state(state)
}

async fn require_local_host(request: Request, next: Next) -> Response {
    match auth::check_host(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => (StatusCode::FORBIDDEN, refusal).into_response(),
    }
}

async fn readyz(State(state): State<Arc<GatewayState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    }
}

async fn require_token(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.check(peer.ip(), header) {
        auth::Verdict::Allowed => next.run(request).await,
        auth::Verdict::Denied => openai::error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "missing or wrong bearer token (Authorization: Bearer <[gateway] token>)",
        ),
        auth::Verdict::Locked(retry) => {
            let mut response = openai::error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "too_many_auth_failures",
                "too many failed authentication attempts from this address; wait and retry",
            );
            if let Ok(value) = retry.as_secs().max(1).to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
    }
}

/// Serves until `shutdown` resolves; then stops taking runs, waits for the ones in progress
/// (up to the drain timeout), tells WebSocket clients and closes them (1012), and lets HTTP
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let forward_approvals = tokio::spawn(forward_approvals(state.clone()));
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.set_ready(false);
            let left = state.runs.drain(state.drain_timeout).await;
            if left > 0 {
                tracing::warn!(runs = left, "stopping with runs still in progress");
            }
            state
                .hub
                .close_all(close_code::RESTART, "the gateway is stopping");
        })
        .await;
    forward_approvals.abort();
    result
}

/// Tells every connected client about approvals as they are requested and decided.
async fn forward_approvals(state: Arc<GatewayState>) {
    let mut events = state.runtime.approvals().subscribe();
    loop {
        match events.recv().await {
            Ok(ApprovalEvent::Requested(approval)) => state.hub.broadcast(
                "approval",
                json!({"kind": "requested", "approval": approval}),
            ),
            Ok(ApprovalEvent::Resolved { id, decision }) => state.hub.broadcast(
                "approval",
                json!({"kind": "resolved", "id": id, "decision": decision.as_str()}),
            ),
            // Fell behind: clients re-list on their next approvals.list; keep going.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
