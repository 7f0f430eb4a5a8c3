//! `chitin:plugin/budget` (since 0.2.0): what is left of the call's budgets, so a plugin can stop
//! in time with what it has. Only the host knows the real numbers: the operator's grant can
//! override the manifest's defaults.

use std::time::Instant;

use crate::bindings::host::chitin::plugin::budget::Host;
use crate::state::PluginState;

impl Host for PluginState {
    async fn remaining_ms(&mut self) -> wasmtime::Result<u64> {
        self.host_call()?;
        let left = self.call.deadline.saturating_duration_since(Instant::now());
        Ok(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
    }

    async fn remaining_http_requests(&mut self) -> wasmtime::Result<u32> {
        self.host_call()?;
        Ok(self
            .ctx
            .grant
            .budgets
            .max_http_requests
            .saturating_sub(self.call.http_requests))
    }
}
