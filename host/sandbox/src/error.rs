//! Errors a plugin call can end with, worded for the operator who has to act on them.

use std::time::Duration;

/// Why a plugin call did not produce a result. Every variant names the plugin and, where the
/// operator can change something, what to change.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(
        "plugin `{plugin}` ran out of fuel (budget {budget} instructions): it computed for too long; \
         raise budgets.fuel in [plugins.{plugin}.grant] if this is legitimate work"
    )]
    OutOfFuel { plugin: String, budget: u64 },

    #[error(
        "plugin `{plugin}` exceeded its time limit of {}ms; raise budgets.timeout_ms in \
         [plugins.{plugin}.grant] if it needs longer", limit.as_millis()
    )]
    DeadlineExceeded { plugin: String, limit: Duration },

    #[error(
        "plugin `{plugin}` exceeded its memory limit of {} MiB (it tried to grow to {} MiB); \
         raise budgets.memory_mb in [plugins.{plugin}.grant] if it needs more",
        limit / (1 << 20), attempted.div_ceil(1 << 20)
    )]
    MemoryLimit {
        plugin: String,
        limit: u64,
        attempted: u64,
    },

    #[error("plugin `{plugin}` overflowed its stack (runaway recursion)")]
    StackOverflow { plugin: String },

    #[error(
        "plugin `{plugin}` made more than {limit} host calls in one call; it was stopped to protect \
         the host (raise budgets.max_host_calls if this is legitimate)"
    )]
    HostCallLimit { plugin: String, limit: u32 },

    #[error(
        "plugin `{plugin}` returned {size} bytes, over its output limit of {limit} bytes \
         (budgets.max_output_kb)"
    )]
    OutputTooLarge {
        plugin: String,
        size: u64,
        limit: u64,
    },

    #[error("plugin `{plugin}` was denied {capability}: {detail}")]
    CapabilityDenied {
        plugin: String,
        capability: &'static str,
        /// What was refused and the grant that would allow it.
        detail: String,
    },

    #[error("plugin `{plugin}` crashed: {detail}")]
    GuestPanic { plugin: String, detail: String },

    /// The plugin ran and reported a failure of its own (a `tool-error`, a `provider-error`...).
    #[error("plugin `{plugin}` failed: {message}")]
    Guest { plugin: String, message: String },

    #[error("plugin `{plugin}` trapped: {detail}")]
    Trap { plugin: String, detail: String },

    #[error("plugin `{plugin}` could not be started: {detail}")]
    Instantiate { plugin: String, detail: String },

    #[error("plugin `{plugin}` is a {actual} plugin, not a {expected} plugin")]
    WrongKind {
        plugin: String,
        expected: &'static str,
        actual: String,
    },
}

impl PluginError {
    /// A short machine-readable code for APIs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::OutOfFuel { .. } => "out_of_fuel",
            PluginError::DeadlineExceeded { .. } => "deadline_exceeded",
            PluginError::MemoryLimit { .. } => "memory_limit",
            PluginError::StackOverflow { .. } => "stack_overflow",
            PluginError::HostCallLimit { .. } => "host_call_limit",
            PluginError::OutputTooLarge { .. } => "output_too_large",
            PluginError::CapabilityDenied { .. } => "capability_denied",
            PluginError::GuestPanic { .. } => "guest_panic",
            PluginError::Guest { .. } => "guest_error",
            PluginError::Trap { .. } => "trap",
            PluginError::Instantiate { .. } => "instantiate",
            PluginError::WrongKind { .. } => "wrong_kind",
        }
    }
}
