//! `chitin:plugin/kv`: the plugin's own key-value namespace (named after its id) in the host's
//! SQLite store, bounded by the granted quota.

use chitin_store::StoreError;

use crate::bindings::host::chitin::plugin::kv::{Host, KvError};
use crate::state::PluginState;

impl PluginState {
    /// The store and quota, or the denial the guest gets when kv was not granted.
    fn kv_access(&mut self) -> Result<(std::sync::Arc<chitin_store::Store>, u64), KvError> {
        match (&self.ctx.kv, self.ctx.grant.kv_quota_bytes) {
            (Some(store), Some(quota)) => Ok((store.clone(), quota)),
            _ => {
                let detail = format!(
                    "plugin `{}` has no key-value grant; add `kv = {{ quota_bytes = 1048576 }}` to \
                     [plugins.{}.grant] (the plugin must also request kv in its manifest)",
                    self.plugin_id(),
                    self.plugin_id()
                );
                self.deny("kv", detail.clone());
                Err(KvError::Denied(detail))
            }
        }
    }
}

fn convert(err: StoreError) -> KvError {
    match err {
        StoreError::QuotaExceeded { .. } => KvError::QuotaExceeded(err.to_string()),
        StoreError::KeyTooLarge { .. } | StoreError::ValueTooLarge { .. } => {
            KvError::TooLarge(err.to_string())
        }
        other => KvError::Other(other.to_string()),
    }
}

/// Runs a store operation off the async executor: SQLite calls block.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, KvError> {
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result.map_err(convert),
        Err(join) => Err(KvError::Other(format!("kv operation failed: {join}"))),
    }
}

impl Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        self.host_call()?;
        let (store, _) = match self.kv_access() {
            Ok(access) => access,
            Err(denied) => return Ok(Err(denied)),
        };
        let namespace = self.plugin_id().to_string();
        Ok(blocking(move || store.kv_get(&namespace, &key)).await)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        self.host_call()?;
        let (store, quota) = match self.kv_access() {
            Ok(access) => access,
            Err(denied) => return Ok(Err(denied)),
        };
        let namespace = self.plugin_id().to_string();
        Ok(blocking(move || store.kv_set(&namespace, &key, &value, quota)).await)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        self.host_call()?;
        let (store, _) = match self.kv_access() {
            Ok(access) => access,
            Err(denied) => return Ok(Err(denied)),
        };
        let namespace = self.plugin_id().to_string();
        Ok(blocking(move || store.kv_delete(&namespace, &key)).await)
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        self.host_call()?;
        let (store, _) = match self.kv_access() {
            Ok(access) => access,
            Err(denied) => return Ok(Err(denied)),
        };
        let namespace = self.plugin_id().to_string();
        // At most 1000 keys per call, whatever the guest asks for.
        let limit = limit.min(1000) as usize;
        Ok(blocking(move || store.kv_list_keys(&namespace, &prefix, limit)).await)
    }
}
