//! Everything a plugin's capabilities need, built once when the plugin is loaded and shared by
//! all of its instances: the validated grant, its egress client, its kv namespace, which
//! secrets it may name, and the redactor that keeps secret values out of whatever it returns.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chitin_egress::{EgressClient, EgressPolicy, Resolver};
use chitin_manifest::{EffectiveGrant, Manifest};
use chitin_secrets::{Redactor, SecretStore};
use chitin_store::Store;

use crate::caps::log::LogLimiter;

/// Host services shared by every plugin.
#[derive(Clone)]
pub struct HostServices {
    /// Backs plugin kv namespaces. Without it no plugin can be granted kv.
    pub store: Option<Arc<Store>>,
    /// Secret values, for injection at the egress edge and for redaction.
    pub secrets: Arc<SecretStore>,
    pub resolver: Arc<dyn Resolver>,
}

pub struct PluginContext {
    pub manifest: Manifest,
    pub grant: EffectiveGrant,
    /// `None` when the grant allows no outbound hosts: every request is refused.
    pub egress: Option<EgressClient>,
    pub kv: Option<Arc<Store>>,
    /// Secret names the plugin may use that are actually set in the store.
    pub available_secrets: BTreeSet<String>,
    /// Redacts every secret in the store (not only this plugin's) from guest output, errors and
    /// logs: whatever a plugin learned by accident, it cannot hand on.
    pub redactor: Redactor,
    pub log_limiter: Mutex<LogLimiter>,
}

impl PluginContext {
    pub fn new(
        manifest: Manifest,
        grant: EffectiveGrant,
        services: &HostServices,
    ) -> anyhow::Result<PluginContext> {
        let secret_value = |store_key: &str| services.secrets.get(store_key);
        let egress = if grant.outbound.is_empty() {
            None
        } else {
            let policy = EgressPolicy::from_grant(&grant, secret_value)?;
            Some(EgressClient::new(policy, services.resolver.clone())?)
        };
        let kv = match (grant.kv_quota_bytes, &services.store) {
            (None, _) => None,
            (Some(_), Some(store)) => Some(store.clone()),
            (Some(_), None) => anyhow::bail!(
                "plugin `{}` is granted kv but this host has no store configured",
                manifest.id
            ),
        };
        let available_secrets = grant
            .secrets
            .iter()
            .filter(|s| services.secrets.get(&s.store_key).is_some())
            .map(|s| s.name.clone())
            .collect();
        let redactor = Redactor::new(services.secrets.all());
        Ok(PluginContext {
            manifest,
            grant,
            egress,
            kv,
            available_secrets,
            redactor,
            log_limiter: Mutex::new(LogLimiter::new()),
        })
    }
}
