//! `chitin:plugin/websocket`: sending on host-owned websocket connections.
//!
//! The host opens these connections for channel plugins whose manifest declares a socket
//! transport (the channel driver). A plugin can only name a connection the host opened for it
//! and reported through `on-socket-event`; any other id is refused.

use crate::bindings::host::chitin::plugin::websocket::Host;
use crate::state::PluginState;

impl Host for PluginState {
    async fn send_text(
        &mut self,
        connection: u64,
        _text: String,
    ) -> wasmtime::Result<Result<(), String>> {
        self.host_call()?;
        Ok(Err(self.unknown_connection(connection)))
    }

    async fn close(
        &mut self,
        connection: u64,
        _code: u16,
        _reason: String,
    ) -> wasmtime::Result<Result<(), String>> {
        self.host_call()?;
        Ok(Err(self.unknown_connection(connection)))
    }
}

impl PluginState {
    fn unknown_connection(&mut self, connection: u64) -> String {
        let detail = format!(
            "no websocket connection {connection} is open for plugin `{}`",
            self.plugin_id()
        );
        self.deny("websocket", detail.clone());
        detail
    }
}
