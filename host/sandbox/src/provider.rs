//! Types a provider plugin's stream is turned into on the host side.

/// One streamed event of a provider's `complete`, already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    TextDelta(String),
    ThinkingDelta(String),
    ToolCallDelta {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments_fragment: String,
    },
}
