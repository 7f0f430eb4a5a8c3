//! `chitin:plugin/provider-sink`: a provider's streamed output, forwarded to the run's
//! subscribers. Events are size-checked like any other guest output.

use crate::bindings::host::chitin::plugin::provider_sink::{Host, StreamEvent as WitEvent};
use crate::provider::StreamEvent;
use crate::state::PluginState;

impl Host for PluginState {
    async fn emit(&mut self, event: WitEvent) -> wasmtime::Result<()> {
        self.host_call()?;
        let redact = |text: String| self.ctx.redactor.redact(&text).into_owned();
        let event = match event {
            WitEvent::TextDelta(text) => StreamEvent::TextDelta(redact(text)),
            WitEvent::ThinkingDelta(text) => StreamEvent::ThinkingDelta(redact(text)),
            WitEvent::ToolCallDelta(delta) => StreamEvent::ToolCallDelta {
                index: delta.index,
                id: delta.id,
                name: delta.name,
                arguments_fragment: redact(delta.arguments_fragment),
            },
        };
        if let Some(sink) = &self.sink {
            // A closed receiver means nobody is listening any more; the completion result
            // still carries the full text.
            let _ = sink.send(event);
        }
        Ok(())
    }
}
