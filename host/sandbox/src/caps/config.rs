//! `chitin:plugin/config`: the non-secret values the operator set for this plugin.

use crate::bindings::host::chitin::plugin::config::Host;
use crate::state::PluginState;

impl Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.host_call()?;
        Ok(self.ctx.grant.config.get(&key).cloned())
    }

    async fn list_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        self.host_call()?;
        Ok(self.ctx.grant.config.keys().cloned().collect())
    }
}
