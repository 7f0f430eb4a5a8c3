//! What a run tells its subscribers while it happens.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// Streamed answer text.
    TextDelta {
        text: String,
    },
    /// A model is about to be called (after failover, the one that is tried).
    ModelCall {
        provider: String,
        model: String,
        iteration: u32,
    },
    /// The loop moved to another model; `reason` is the error that caused it.
    Failover {
        from: String,
        to: String,
        reason: String,
    },
    ToolStart {
        id: String,
        name: String,
        arguments: String,
    },
    /// The call waits for an operator's decision (`approvals.resolve`).
    ApprovalRequested {
        call_id: String,
        approval_id: String,
        tool: String,
    },
    ToolEnd {
        id: String,
        name: String,
        ok: bool,
        output: String,
    },
    Usage {
        provider: String,
        model: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// Older turns were summarized to fit the model's window.
    Compacted {
        summarized_messages: usize,
    },
    Done {
        text: String,
    },
    Error {
        message: String,
    },
}
