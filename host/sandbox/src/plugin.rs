//! A loaded plugin and the calls into it.
//!
//! Small components (Rust, C) get a fresh `Store` and instance for every call: ~45 µs with the
//! pooling allocator, and no state survives between calls. Large ones (Python, JS) take ~1 ms to
//! instantiate and 2-4 MiB each, so a few warm instances are kept and reused, recycled after
//! [`WARM_MAX_CALLS`] calls. Either way, fuel and the deadline are re-armed before every call
//! (`set_epoch_deadline` is relative to *now*), and an instance that trapped is dropped: wasmtime
//! refuses to re-enter it, and its memory may be inconsistent.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chitin_manifest::{Manifest, PluginKind};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings;
use crate::cache::CacheOutcome;
use crate::compat;
use crate::context::PluginContext;
use crate::error::PluginError;
use crate::state::{HostCallLimitExceeded, PluginState};

pub use bindings::provider::exports::chitin::plugin::provider::{
    Completion, FinishReason, Message, ModelInfo, ProviderError, Request as CompletionRequest,
    Role, ToolCall, ToolDefinition, Usage,
};
pub use bindings::tool::exports::chitin::plugin::tool::{
    CallContext, ToolError, ToolOutput, ToolSpec,
};

use crate::provider::StreamEvent;

/// Warm instances are recycled after this many calls, bounding how long any state a guest
/// accumulates (caches, leaks) can live.
pub const WARM_MAX_CALLS: u32 = 1000;
/// Idle warm instances kept per plugin.
const WARM_POOL_SIZE: usize = 4;
/// Grace on top of a call's time budget before the host drops the call outright. The epoch
/// deadline normally fires first; this catches a call stuck in a host import (a slow network
/// request), where no wasm runs and the epoch cannot interrupt.
const HARD_DEADLINE_GRACE: Duration = Duration::from_millis(50);

/// Whether a plugin gets a new instance per call or reuses warm ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceMode {
    FreshPerCall,
    Warm,
}

/// The pre-linked component of each plugin kind (`InstancePre`: imports resolved once), of
/// whichever WIT version it was built against (`crate::compat`).
pub(crate) enum KindPre {
    Tool(compat::ToolPre),
    Provider(compat::ProviderPre),
    Channel(compat::ChannelPre),
    McpBridge(compat::McpBridgePre),
}

// Channel instances are created and linked here so that loading validates every plugin kind;
// their call path arrives with the channel work.
#[allow(dead_code)]
enum KindInstance {
    Tool(compat::ToolInstance),
    Provider(compat::ProviderInstance),
    Channel(compat::ChannelInstance),
    McpBridge(compat::McpBridgeInstance),
}

/// The future of one export call, borrowing the store it runs in.
type CallFuture<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

struct Live {
    store: Store<PluginState>,
    instance: KindInstance,
    calls: u32,
}

/// A plugin ready to be called.
pub struct Plugin {
    pub(crate) ctx: Arc<PluginContext>,
    pub(crate) engine: Engine,
    pub(crate) pre: KindPre,
    pub(crate) mode: InstanceMode,
    warm: Mutex<Vec<Live>>,
    digest: String,
    cache_outcome: CacheOutcome,
    #[allow(dead_code)]
    component: Component,
}

impl Plugin {
    pub(crate) fn new(
        ctx: Arc<PluginContext>,
        engine: Engine,
        pre: KindPre,
        component: Component,
        digest: String,
        cache_outcome: CacheOutcome,
    ) -> Plugin {
        let mode = if ctx.manifest.language.prefers_warm_instances() {
            InstanceMode::Warm
        } else {
            InstanceMode::FreshPerCall
        };
        Plugin {
            ctx,
            engine,
            pre,
            mode,
            warm: Mutex::new(Vec::new()),
            digest,
            cache_outcome,
            component,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.ctx.manifest
    }

    pub fn id(&self) -> &str {
        &self.ctx.manifest.id
    }

    pub fn grant(&self) -> &chitin_manifest::EffectiveGrant {
        &self.ctx.grant
    }

    /// sha256 of the `.wasm`, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    pub fn instance_mode(&self) -> InstanceMode {
        self.mode
    }

    /// Overrides the instance mode (tests and benchmarks compare the two).
    pub fn set_instance_mode(&mut self, mode: InstanceMode) {
        self.mode = mode;
    }

    /// Idle warm instances (for tests and `plugin list`).
    pub fn warm_instances(&self) -> usize {
        self.warm.lock().map(|w| w.len()).unwrap_or(0)
    }

    fn new_store(&self) -> Result<Store<PluginState>, PluginError> {
        let state = PluginState::new(self.ctx.clone()).map_err(|err| PluginError::Instantiate {
            plugin: self.id().to_string(),
            detail: format!("{err:#}"),
        })?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Called when the epoch deadline passes: give other tasks a turn every tick, and stop
        // the guest once its wall-clock budget is spent.
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().call.deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }

    /// Re-arms fuel, deadline and per-call accounting before guest code runs.
    fn arm(&self, store: &mut Store<PluginState>) -> Result<(), PluginError> {
        let budgets = &self.ctx.grant.budgets;
        store
            .set_fuel(budgets.fuel)
            .map_err(|err| self.trap(err.to_string()))?;
        store.set_epoch_deadline(1);
        let state = store.data_mut();
        state.call.deadline = Instant::now() + budgets.timeout;
        state.call.host_calls = 0;
        state.call.http_requests = 0;
        state.call.denials.clear();
        state.call.proxy = None;
        state.limiter.refused_growth = None;
        Ok(())
    }

    fn trap(&self, detail: String) -> PluginError {
        PluginError::Trap {
            plugin: self.id().to_string(),
            detail,
        }
    }

    fn hard_deadline(&self) -> Duration {
        self.ctx.grant.budgets.timeout + HARD_DEADLINE_GRACE
    }

    async fn acquire(&self) -> Result<Live, PluginError> {
        if self.mode == InstanceMode::Warm
            && let Some(live) = self.warm.lock().ok().and_then(|mut pool| pool.pop())
        {
            return Ok(live);
        }
        let mut store = self.new_store()?;
        // Instantiation runs guest code (initializers), under the same budgets as a call.
        self.arm(&mut store)?;
        let instantiate = async {
            match &self.pre {
                KindPre::Tool(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(KindInstance::Tool),
                KindPre::Provider(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(KindInstance::Provider),
                KindPre::Channel(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(KindInstance::Channel),
                KindPre::McpBridge(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(KindInstance::McpBridge),
            }
        };
        let instance = match tokio::time::timeout(self.hard_deadline(), instantiate).await {
            Ok(Ok(instance)) => instance,
            Ok(Err(err)) => return Err(self.classify(err, store.data())),
            Err(_) => return Err(self.deadline_error()),
        };
        Ok(Live {
            store,
            instance,
            calls: 0,
        })
    }

    fn release(&self, mut live: Live) {
        if self.mode != InstanceMode::Warm {
            return;
        }
        live.calls += 1;
        if live.calls >= WARM_MAX_CALLS {
            return;
        }
        if let Ok(mut pool) = self.warm.lock()
            && pool.len() < WARM_POOL_SIZE
        {
            pool.push(live);
        }
    }

    fn deadline_error(&self) -> PluginError {
        PluginError::DeadlineExceeded {
            plugin: self.id().to_string(),
            limit: self.ctx.grant.budgets.timeout,
        }
    }

    /// Turns a wasmtime error from a call into the typed error the operator reads.
    fn classify(&self, err: wasmtime::Error, state: &PluginState) -> PluginError {
        let plugin = self.id().to_string();
        if let Some(attempted) = state.limiter.refused_growth {
            return PluginError::MemoryLimit {
                plugin,
                limit: state.limiter.limit,
                attempted,
            };
        }
        if let Some(limit) = err.downcast_ref::<HostCallLimitExceeded>() {
            return PluginError::HostCallLimit {
                plugin,
                limit: limit.0,
            };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                budget: self.ctx.grant.budgets.fuel,
            },
            Some(Trap::Interrupt) => self.deadline_error(),
            Some(Trap::StackOverflow) => PluginError::StackOverflow { plugin },
            Some(Trap::UnreachableCodeReached) => {
                // Rust guests abort (panic=abort) through `unreachable`; their stderr has the
                // panic message.
                let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
                let stderr = self.ctx.redactor.redact(stderr.trim()).into_owned();
                let detail = if stderr.is_empty() {
                    "it panicked or aborted (wasm `unreachable` executed)".to_string()
                } else {
                    format!("it panicked: {stderr}")
                };
                PluginError::GuestPanic { plugin, detail }
            }
            Some(Trap::MemoryOutOfBounds) => PluginError::Trap {
                plugin,
                detail: "out-of-bounds memory access inside its sandbox (a bug in the plugin, or \
                         its own stack in linear memory overflowed)"
                    .to_string(),
            },
            Some(trap) => PluginError::Trap {
                plugin,
                detail: trap.to_string(),
            },
            None => PluginError::Trap {
                plugin,
                detail: self.ctx.redactor.redact(&format!("{err:#}")).into_owned(),
            },
        }
    }

    /// The error for a guest-reported failure: a capability refusal during the call explains
    /// it better than the guest's own words, so it wins.
    fn guest_failure(&self, state: &PluginState, message: String) -> PluginError {
        let plugin = self.id().to_string();
        if let Some((capability, detail)) = state.call.denials.first() {
            return PluginError::CapabilityDenied {
                plugin,
                capability,
                detail: detail.clone(),
            };
        }
        PluginError::Guest {
            plugin,
            message: self.ctx.redactor.redact(&message).into_owned(),
        }
    }

    fn check_output_size(&self, size: usize) -> Result<(), PluginError> {
        let limit = self.ctx.grant.budgets.max_output_bytes;
        if size as u64 > limit {
            return Err(PluginError::OutputTooLarge {
                plugin: self.id().to_string(),
                size: size as u64,
                limit,
            });
        }
        Ok(())
    }

    fn wrong_kind(&self, expected: PluginKind) -> PluginError {
        PluginError::WrongKind {
            plugin: self.id().to_string(),
            expected: match expected {
                PluginKind::Tool => "tool",
                PluginKind::Provider => "provider",
                PluginKind::Channel => "channel",
                PluginKind::McpBridge => "mcp-bridge",
            },
            actual: self.ctx.manifest.kind.to_string(),
        }
    }

    /// Takes an instance of the plugin (which must be of `kind`) with its budgets armed.
    async fn start(&self, kind: PluginKind) -> Result<Live, PluginError> {
        if self.ctx.manifest.kind != kind {
            return Err(self.wrong_kind(kind));
        }
        let mut live = self.acquire().await?;
        self.arm(&mut live.store)?;
        Ok(live)
    }

    /// Runs one export call under the hard deadline and turns a trap into its typed error.
    /// `call` picks the export from the instance (`None`: the instance is of another kind).
    async fn invoke<T>(
        &self,
        live: &mut Live,
        call: impl for<'a> FnOnce(
            &'a mut Store<PluginState>,
            &'a KindInstance,
        ) -> Option<CallFuture<'a, T>>,
    ) -> Result<T, PluginError> {
        let Live {
            store, instance, ..
        } = live;
        let Some(future) = call(&mut *store, &*instance) else {
            return Err(self.wrong_kind(self.ctx.manifest.kind));
        };
        let outcome = tokio::time::timeout(self.hard_deadline(), future).await;
        match outcome {
            Err(_) => Err(self.deadline_error()),
            Ok(Err(err)) => Err(self.classify(err, store.data())),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// The tools a tool plugin offers.
    pub async fn describe_tools(&self) -> Result<Vec<ToolSpec>, PluginError> {
        let mut live = self.start(PluginKind::Tool).await?;
        let specs = self
            .invoke(&mut live, |store, instance| match instance {
                KindInstance::Tool(tool) => {
                    Some(Box::pin(tool.chitin_plugin_tool().call_describe(store)))
                }
                _ => None,
            })
            .await?;
        let size: usize = specs
            .iter()
            .map(|s| s.name.len() + s.description.len() + s.parameters_schema.len())
            .sum();
        self.check_output_size(size)?;
        self.release(live);
        Ok(specs)
    }

    /// Runs one tool call in the sandbox.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: &str,
        context: &CallContext,
    ) -> Result<ToolOutput, PluginError> {
        let mut live = self.start(PluginKind::Tool).await?;
        // The call future may only borrow the store and instance (see `invoke`), so it owns
        // copies of the arguments.
        let (name, arguments, context) = (name.to_string(), arguments.to_string(), context.clone());
        let result = self
            .invoke(&mut live, move |store, instance| match instance {
                KindInstance::Tool(tool) => Some(Box::pin(async move {
                    tool.chitin_plugin_tool()
                        .call_call(store, &name, &arguments, &context)
                        .await
                })),
                _ => None,
            })
            .await?;
        match result {
            Ok(mut output) => {
                self.check_output_size(output.content.len())?;
                output.content = self.ctx.redactor.redact(&output.content).into_owned();
                self.release(live);
                Ok(output)
            }
            Err(tool_error) => {
                let message = match tool_error {
                    ToolError::InvalidArguments(msg) => format!("invalid arguments: {msg}"),
                    ToolError::UnknownTool(msg) => format!("unknown tool: {msg}"),
                    ToolError::Failed(msg) => msg,
                };
                self.check_output_size(message.len())?;
                let err = self.guest_failure(live.store.data(), message);
                self.release(live);
                Err(err)
            }
        }
    }
}

impl Plugin {
    /// Hands one JSON-RPC message to an MCP-bridge plugin; returns its response (`None` for a
    /// notification). A server's own JSON-RPC errors are in the response; `Err` is a sandbox
    /// failure or the server refusing the message outright.
    pub async fn mcp_handle(&self, message: &str) -> Result<Option<String>, PluginError> {
        let mut live = self.start(PluginKind::McpBridge).await?;
        let message = message.to_string();
        let result = self
            .invoke(&mut live, move |store, instance| match instance {
                KindInstance::McpBridge(bridge) => Some(Box::pin(async move {
                    bridge
                        .chitin_plugin_mcp_server()
                        .call_handle(store, &message)
                        .await
                })),
                _ => None,
            })
            .await?;
        match result {
            Ok(response) => {
                self.check_output_size(response.as_ref().map_or(0, String::len))?;
                let response = response.map(|r| self.ctx.redactor.redact(&r).into_owned());
                self.release(live);
                Ok(response)
            }
            Err(message) => {
                self.check_output_size(message.len())?;
                let err = self.guest_failure(live.store.data(), message);
                self.release(live);
                Err(err)
            }
        }
    }

    /// The models a provider plugin offers.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, PluginError> {
        let mut live = self.start(PluginKind::Provider).await?;
        let models = self
            .invoke(&mut live, |store, instance| match instance {
                KindInstance::Provider(provider) => Some(Box::pin(
                    provider.chitin_plugin_provider().call_models(store),
                )),
                _ => None,
            })
            .await?;
        self.release(live);
        Ok(models)
    }

    /// Runs one completion. Streamed events go to `sink` as the provider emits them. The
    /// outer error is the sandbox's (budget, trap, denial); the inner one is the provider's
    /// own classified failure, which drives failover.
    pub async fn complete(
        &self,
        request: &CompletionRequest,
        sink: tokio::sync::mpsc::UnboundedSender<StreamEvent>,
    ) -> Result<Result<Completion, ProviderError>, PluginError> {
        self.complete_via(request, sink, None).await
    }

    /// [`Plugin::complete`], with every HTTP request the provider makes during this call sent
    /// through `proxy` (an `http://host:port` URL set by the operator; the plugin cannot see
    /// it). Egress applies its rules to the target as without a proxy.
    pub async fn complete_via(
        &self,
        request: &CompletionRequest,
        sink: tokio::sync::mpsc::UnboundedSender<StreamEvent>,
        proxy: Option<&str>,
    ) -> Result<Result<Completion, ProviderError>, PluginError> {
        let mut live = self.start(PluginKind::Provider).await?;
        let state = live.store.data_mut();
        state.sink = Some(sink);
        state.call.proxy = proxy.map(str::to_string);
        let request = request.clone();
        let result = self
            .invoke(&mut live, move |store, instance| match instance {
                KindInstance::Provider(provider) => Some(Box::pin(async move {
                    provider
                        .chitin_plugin_provider()
                        .call_complete(store, &request)
                        .await
                })),
                _ => None,
            })
            .await?;
        // The sink and the proxy belong to this call only.
        let state = live.store.data_mut();
        state.sink = None;
        state.call.proxy = None;
        let denial = live.store.data().call.denials.first().cloned();
        let redact = |text: &str| self.ctx.redactor.redact(text).into_owned();
        let result = match result {
            Ok(mut completion) => {
                let size = completion.text.len()
                    + completion
                        .tool_calls
                        .iter()
                        .map(|c| c.arguments.len() + c.name.len())
                        .sum::<usize>();
                self.check_output_size(size)?;
                completion.text = redact(&completion.text);
                for call in &mut completion.tool_calls {
                    call.arguments = redact(&call.arguments);
                }
                Ok(completion)
            }
            Err(err) => {
                // A provider that failed because the grant refused its request is a
                // configuration problem the operator must see, not a provider outage.
                if let Some((capability, detail)) = denial {
                    return Err(PluginError::CapabilityDenied {
                        plugin: self.id().to_string(),
                        capability,
                        detail,
                    });
                }
                Err(match err {
                    ProviderError::Auth(m) => ProviderError::Auth(redact(&m)),
                    ProviderError::ContextOverflow(m) => ProviderError::ContextOverflow(redact(&m)),
                    ProviderError::BadRequest(m) => ProviderError::BadRequest(redact(&m)),
                    ProviderError::Transient(m) => ProviderError::Transient(redact(&m)),
                    other => other,
                })
            }
        };
        self.release(live);
        Ok(result)
    }
}
