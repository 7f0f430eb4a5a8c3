//! The one wasmtime [`Engine`] of the process, configured for untrusted plugins.
//!
//! Every tuning knob is set here, with the reason next to it. The engine is shared by all
//! plugins; isolation comes from giving every call (or every warm instance) its own `Store`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines are measured in these ticks, and a guest that runs
/// without calling the host yields to the async executor once per tick, so a spinning plugin
/// can hold a worker thread for at most this long before others get a turn.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sizing of the pooling allocator.
#[derive(Debug, Clone)]
pub struct PoolSizing {
    /// Component instances alive at once across all plugins (fresh per-call instances plus warm
    /// ones). Calls beyond this fail fast with a clear error instead of exhausting memory.
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted (the per-plugin budget is enforced by
    /// the store's limiter; this is the pool's slot size, which only reserves address space).
    pub max_memory_bytes: usize,
    /// Bytes of a freed memory slot kept resident (zeroed in place instead of returned to the
    /// kernel). Higher makes the next instance in that slot cheaper; every slot that was ever
    /// used then costs up to this much RSS, which adds up with many plugins.
    pub keep_resident_bytes: usize,
}

impl Default for PoolSizing {
    fn default() -> Self {
        PoolSizing {
            // 256 concurrent instances: far beyond a personal gateway's concurrency (a global
            // cap of a few agent runs, each with a handful of parallel tool calls), while the
            // reservation stays modest (see below).
            max_instances: 256,
            // 1 GiB: the hard maximum of a plugin memory budget (chitin_manifest::HARD_MAX).
            max_memory_bytes: 1 << 30,
            // 64 KiB: a small plugin's call dirties a few pages of stack and heap; zeroing
            // those in place beats an madvise syscall, while 100 plugins' idle slots cost
            // at most ~6 MiB (1 MiB would cost 100 MiB: measured with `./dev bench`).
            keep_resident_bytes: 64 << 10,
        }
    }
}

/// The shared engine plus the thread that drives its epoch.
pub struct SandboxEngine {
    engine: Engine,
    ticker_stop: Arc<AtomicBool>,
}

impl SandboxEngine {
    pub fn new(sizing: &PoolSizing) -> anyhow::Result<SandboxEngine> {
        // The pool reserves (but does not touch) address space for every slot up front. Where
        // that reservation is refused (a low `ulimit -v`, some 39-bit-VA kernels), run with
        // wasmtime's on-demand allocator instead: slower instantiation, same isolation.
        let engine = match Engine::new(&engine_config(sizing, true)) {
            Ok(engine) => engine,
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "pooling allocator unavailable; falling back to on-demand instance allocation"
                );
                Engine::new(&engine_config(sizing, false))?
            }
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.weak();
        let stop = ticker_stop.clone();
        // A plain thread rather than a tokio task: it must keep ticking when every executor
        // thread is busy running guests, which is exactly when deadlines matter.
        std::thread::Builder::new()
            .name("chitin-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(SandboxEngine {
            engine,
            ticker_stop,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for SandboxEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(sizing: &PoolSizing, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Fuel bounds the instructions a call may execute: deterministic, and the budget in the
    // manifest means the same thing on every machine.
    config.consume_fuel(true);
    // Epochs bound wall-clock time at a cost of one load and compare per loop back-edge.
    config.epoch_interruption(true);
    // 512 KiB of wasm stack per call: ample for real plugins (Python's interpreter included),
    // small enough that runaway recursion traps quickly. It must stay below the async fiber
    // stack below, or deep recursion would overflow the host's stack instead of trapping.
    config.max_wasm_stack(512 << 10);
    config.async_stack_size(2 << 20);
    config.cranelift_opt_level(OptLevel::Speed);
    // Plugins are compiled ahead of time (at install or first load) and cached by digest,
    // so parallel compilation only affects that one-off cost.
    config.parallel_compilation(true);
    if !pooling {
        return config;
    }

    let mut pool = PoolingAllocationConfig::default();
    let n = sizing.max_instances;
    pool.total_component_instances(n);
    // A Rust component has 1-3 core instances (the module, the WASI adapter, shims); Python
    // and JS components up to ~15. 16 per component leaves room for either.
    pool.total_core_instances(n * 16);
    pool.max_core_instances_per_component(32);
    pool.total_memories(n * 4);
    pool.max_memories_per_component(8);
    pool.total_tables(n * 4);
    pool.max_tables_per_component(8);
    // Fiber stacks for async calls: one per concurrently running instance.
    pool.total_stacks(n);
    // Instance metadata (VMContext) sizes: 1 MiB covers the largest toolchains' components.
    pool.max_component_instance_size(1 << 20);
    pool.max_core_instance_size(1 << 20);
    // componentize-py's CPython needs ~20k table elements; 100k is generous.
    pool.table_elements(100_000);
    pool.max_memory_size(sizing.max_memory_bytes);
    pool.linear_memory_keep_resident(sizing.keep_resident_bytes);
    pool.table_keep_resident(sizing.keep_resident_bytes);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}
