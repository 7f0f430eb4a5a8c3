//! `chitin gateway`: load the plugins and agents, then serve them over HTTP until SIGINT or
//! SIGTERM, finishing the requests in flight before exiting.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use crate::home::Home;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    action: Option<GatewayAction>,
    /// Address to listen on (default: [gateway] bind, else 127.0.0.1).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Port (default: [gateway] port, else 18789; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
}

#[derive(clap::Subcommand)]
enum GatewayAction {
    /// Call one method of a running gateway and print the answer as JSON
    /// (methods: docs/protocol.md).
    Call {
        /// e.g. `status`, `sessions.list`, `approvals.resolve`.
        method: String,
        /// The params as a JSON object.
        #[arg(default_value = "{}")]
        params: String,
        #[command(flatten)]
        target: crate::client::Target,
    },
}

pub fn run(args: GatewayArgs, home: &Home) -> anyhow::Result<ExitCode> {
    if let Some(GatewayAction::Call {
        method,
        params,
        target,
    }) = args.action
    {
        return call(&method, &params, &target, home);
    }
    let config = Config::load(&home.config_file())?;
    let bind = args.bind.unwrap_or(config.gateway.bind);
    let port = args.port.unwrap_or(config.gateway.port);
    let token = config.gateway.token.clone().filter(|t| !t.is_empty());
    chitin_gateway::check_bind(bind, token.as_deref()).map_err(|err| anyhow::anyhow!(err))?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let (sandbox, store) = super::open_sandbox_and_store(home, &config)?;
        let built = crate::agents::build_runtime(home, &config, &sandbox, store).await?;
        let mcp = built.mcp;
        let state = chitin_gateway::GatewayState::new(Arc::new(built.runtime), token)
            .with_plugins(built.plugins)
            .with_config_store(Arc::new(crate::config_file::ConfigFile::new(
                home.config_file(),
            )))
            .with_limits(config.gateway.ws_limits())
            .with_allowed_origins(config.gateway.allowed_origins.clone())
            .with_drain_timeout(std::time::Duration::from_secs(
                config.gateway.drain_timeout_secs,
            ));
        let state = Arc::new(state);
        // Handlers are installed before the "listening" line, so a supervisor (or a test) that
        // signals as soon as the gateway is up gets a graceful stop, not the default kill.
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(bind, port))
            .await
            .with_context(|| format!("listening on {bind}:{port}"))?;
        let local = listener.local_addr()?;
        // Scripts and tests read this line to find the port.
        println!("chitin gateway listening on http://{local}");
        chitin_gateway::serve(listener, state, shutdown).await?;
        // MCP servers' processes (and what they started) stop with the gateway.
        mcp.shutdown().await;
        eprintln!("chitin gateway stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn call(
    method: &str,
    params: &str,
    target: &crate::client::Target,
    home: &Home,
) -> anyhow::Result<ExitCode> {
    let params: serde_json::Value = serde_json::from_str(params).with_context(|| {
        format!("the params `{params}` are not JSON; pass an object such as '{{\"limit\":5}}'")
    })?;
    if !params.is_object() {
        anyhow::bail!("the params must be a JSON object, e.g. '{{}}'");
    }
    super::runtime()?.block_on(async {
        let mut client =
            crate::client::GatewayClient::connect(target, home, "chitin-gateway-call").await?;
        let result = client.call(method, params, |_, _| {}).await;
        client.close().await;
        match result {
            Ok(payload) => {
                println!("{}", serde_json::to_string_pretty(&payload)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("error: {err}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
