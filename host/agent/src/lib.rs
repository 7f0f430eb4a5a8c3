//! Chitin's agent core: one lane per session, a global concurrency cap, context assembly from
//! the workspace and skills, provider calls with classified failover, sandboxed and native
//! tools run in parallel, and compaction preceded by a memory flush.

pub mod approvals;
pub mod config;
pub mod context;
pub mod dates;
pub mod events;
pub mod exec;
pub mod memory;
pub mod provider;
pub mod runtime;
pub mod tools;

pub use approvals::{ApprovalEvent, Approvals, Decision, PendingApproval};
pub use config::{AgentConfig, LimitsConfig, ModelConfig, ProviderConfig, QueueMode};
pub use events::AgentEvent;
pub use exec::{Exec, ExecConfig, ExecPolicy};
pub use provider::{Failure, ModelProvider, PluginProvider};
pub use runtime::{
    Agent, AgentError, AgentRuntime, ResolvedModel, RetryPolicy, RunOrigin, RunOutcome, RunRequest,
};
pub use tools::{ExternalTools, ToolRegistry, ToolResult};
