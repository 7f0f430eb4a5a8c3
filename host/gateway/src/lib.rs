//! Chitin's gateway: one HTTP listener (127.0.0.1:18789 by default) for health checks and the
//! OpenAI-compatible API, protected by a bearer token. A non-loopback bind without a token is
//! refused: an agent with tools is not something to expose to a network unauthenticated.

pub mod auth;
pub mod openai;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chitin_agent::AgentRuntime;

pub const DEFAULT_PORT: u16 = 18789;

pub struct GatewayState {
    pub runtime: Arc<AgentRuntime>,
    auth: auth::Authenticator,
    ready: AtomicBool,
    ids: AtomicU64,
}

impl GatewayState {
    pub fn new(runtime: Arc<AgentRuntime>, token: Option<String>) -> GatewayState {
        GatewayState {
            runtime,
            auth: auth::Authenticator::new(token),
            ready: AtomicBool::new(true),
            ids: AtomicU64::new(1),
        }
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Marks the gateway as draining: /readyz answers 503 so load balancers stop routing.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
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
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .with_state(state)
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

/// Serves until `shutdown` resolves, then stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.set_ready(false);
        })
        .await
}
