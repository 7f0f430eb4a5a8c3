//! What a plugin's `Store` holds: its WASI context (nothing granted but granted directories),
//! its budgets for the call under way, and a handle on the plugin's capabilities.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use crate::context::PluginContext;

/// How much of a guest's stderr is kept (a panic message, say) to explain a crash.
const STDERR_CAPTURE_BYTES: usize = 16 << 10;

/// Store data of one plugin instance.
pub struct PluginState {
    pub(crate) ctx: Arc<PluginContext>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: BudgetLimiter,
    pub(crate) call: CallState,
    pub(crate) stderr: MemoryOutputPipe,
    /// Where a provider's streamed events go during `complete` (set per call).
    pub(crate) sink: Option<tokio::sync::mpsc::UnboundedSender<crate::provider::StreamEvent>>,
}

/// Accounting for the call under way; reset by [`PluginState::arm`] before every call.
pub(crate) struct CallState {
    pub host_calls: u32,
    pub http_requests: u32,
    pub deadline: Instant,
    /// Capability refusals during this call: (capability, what was refused and the fix).
    pub denials: Vec<(&'static str, String)>,
    /// The operator's HTTP proxy for every request of this call (set by
    /// [`Plugin::complete_via`](crate::Plugin::complete_via)); the plugin cannot see it.
    pub proxy: Option<String>,
}

/// Raised from a host import when a guest has made more host calls than its budget allows.
#[derive(Debug, thiserror::Error)]
#[error("host call limit of {0} exceeded")]
pub(crate) struct HostCallLimitExceeded(pub u32);

impl PluginState {
    pub(crate) fn new(ctx: Arc<PluginContext>) -> anyhow::Result<PluginState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
        // Deny by default: no environment, arguments, inherited stdio, sockets or name lookups.
        // Outbound HTTP goes through chitin:plugin/http and its egress policy instead.
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stderr(stderr.clone());
        for grant in &ctx.grant.files {
            let perms = match grant.access {
                chitin_manifest::Access::Read => wasmtime_wasi::FsPerms::ReadOnly,
                chitin_manifest::Access::ReadWrite => wasmtime_wasi::FsPerms::ReadWrite,
            };
            // The preopen is a capability handle (cap-std): paths are resolved beneath it and
            // `..` or a symlink cannot leave it.
            wasi.preopened_dir(&grant.host_dir, &grant.path, perms)
                .map_err(|err| {
                    anyhow::anyhow!(
                        "cannot open {} granted to plugin `{}` as {}: {err}",
                        grant.host_dir.display(),
                        ctx.manifest.id,
                        grant.path
                    )
                })?;
        }
        let limiter = BudgetLimiter::new(ctx.grant.budgets.memory_bytes);
        Ok(PluginState {
            ctx,
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter,
            call: CallState {
                host_calls: 0,
                http_requests: 0,
                deadline: Instant::now(),
                denials: Vec::new(),
                proxy: None,
            },
            stderr,
            sink: None,
        })
    }

    /// Counts a host call against the budget; past it the guest is stopped.
    pub(crate) fn host_call(&mut self) -> wasmtime::Result<()> {
        self.call.host_calls += 1;
        let limit = self.ctx.grant.budgets.max_host_calls;
        if self.call.host_calls > limit {
            return Err(wasmtime::Error::new(HostCallLimitExceeded(limit)));
        }
        Ok(())
    }

    pub(crate) fn deny(&mut self, capability: &'static str, detail: String) {
        tracing::warn!(plugin = %self.ctx.manifest.id, capability, %detail, "capability denied");
        self.call.denials.push((capability, detail));
    }

    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(crate) fn plugin_id(&self) -> &str {
        &self.ctx.manifest.id
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The store's resource limiter: wasmtime's [`StoreLimits`] with `trap_on_grow_failure`, plus
/// a record of the refused growth so the error can say "memory limit" instead of a bare trap.
pub(crate) struct BudgetLimiter {
    inner: StoreLimits,
    pub limit: u64,
    pub refused_growth: Option<u64>,
}

impl BudgetLimiter {
    fn new(memory_bytes: u64) -> BudgetLimiter {
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
            // Generous structural limits: the pooling allocator's per-component limits are the
            // real bound; these only stop a guest from creating instances in a loop.
            .instances(64)
            .tables(64)
            .memories(16)
            .table_elements(200_000)
            // A failed memory.grow traps instead of returning -1, so a runaway allocation ends
            // the call with a clear memory-limit error rather than whatever the guest's
            // allocator does on failure (Rust aborts, C may limp on).
            .trap_on_grow_failure(true)
            .build();
        BudgetLimiter {
            inner,
            limit: memory_bytes,
            refused_growth: None,
        }
    }
}

impl ResourceLimiter for BudgetLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.refused_growth = Some(desired as u64);
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
