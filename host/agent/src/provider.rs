//! The loop's view of a model provider: a classified result it can fail over on.
//!
//! The production implementation is a sandboxed provider plugin ([`PluginProvider`]); tests
//! script one in-process.

use std::sync::Arc;

use chitin_sandbox::{Completion, CompletionRequest, Plugin, ProviderError, StreamEvent};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

/// Why a completion failed, as far as failover is concerned.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The provider's own classification.
    Provider(ProviderError),
    /// The sandbox stopped the plugin or refused it something: try another model, and tell
    /// the operator.
    Sandbox(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Provider(ProviderError::RateLimited(ms)) => {
                write!(f, "rate limited")?;
                if let Some(ms) = ms {
                    write!(f, " (retry after {ms} ms)")?;
                }
                Ok(())
            }
            Failure::Provider(ProviderError::Overloaded(_)) => write!(f, "overloaded"),
            Failure::Provider(ProviderError::Auth(m)) => write!(f, "authentication failed: {m}"),
            Failure::Provider(ProviderError::ContextOverflow(m)) => {
                write!(f, "context window exceeded: {m}")
            }
            Failure::Provider(ProviderError::BadRequest(m)) => write!(f, "bad request: {m}"),
            Failure::Provider(ProviderError::Transient(m)) => write!(f, "transient error: {m}"),
            Failure::Sandbox(m) => write!(f, "{m}"),
        }
    }
}

pub trait ModelProvider: Send + Sync {
    /// One completion. `proxy` is the operator's HTTP proxy for this provider
    /// (`[providers.<id>] proxy`): every request the call makes goes through it.
    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        proxy: Option<&'a str>,
        events: UnboundedSender<StreamEvent>,
    ) -> BoxFuture<'a, Result<Completion, Failure>>;
}

/// A provider plugin running in the sandbox.
pub struct PluginProvider {
    plugin: Arc<Plugin>,
}

impl PluginProvider {
    pub fn new(plugin: Arc<Plugin>) -> PluginProvider {
        PluginProvider { plugin }
    }
}

impl ModelProvider for PluginProvider {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        proxy: Option<&'a str>,
        events: UnboundedSender<StreamEvent>,
    ) -> BoxFuture<'a, Result<Completion, Failure>> {
        Box::pin(async move {
            match self.plugin.complete_via(&request, events, proxy).await {
                Ok(Ok(completion)) => Ok(completion),
                Ok(Err(err)) => Err(Failure::Provider(err)),
                Err(err) => Err(Failure::Sandbox(err.to_string())),
            }
        })
    }
}
