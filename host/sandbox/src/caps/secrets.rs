//! `chitin:plugin/secrets`: a plugin may ask whether a secret is available, never for its value.

use crate::bindings::host::chitin::plugin::secrets::Host;
use crate::state::PluginState;

impl Host for PluginState {
    async fn exists(&mut self, name: String) -> wasmtime::Result<bool> {
        self.host_call()?;
        Ok(self.ctx.available_secrets.contains(&name))
    }
}
