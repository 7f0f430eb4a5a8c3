//! One module per command group.

pub mod plugin;
pub mod secrets;
pub mod tool;

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::home::Home;

/// The sandbox with the host services every plugin may be granted: the SQLite store (kv),
/// the secret store (egress injection and redaction) and the system DNS resolver.
pub fn open_sandbox(home: &Home, config: &Config) -> anyhow::Result<chitin_sandbox::Sandbox> {
    home.ensure()?;
    let store = chitin_store::Store::open(&home.database())
        .with_context(|| format!("opening {}", home.database().display()))?;
    let secrets = chitin_secrets::SecretStore::open(
        &home.secrets_file(),
        &chitin_secrets::KeySource::discover(home.root()),
    )?;
    let services = chitin_sandbox::HostServices {
        store: Some(Arc::new(store)),
        secrets: Arc::new(secrets),
        resolver: Arc::new(chitin_egress::SystemResolver),
    };
    let sandbox_config = chitin_sandbox::SandboxConfig {
        cache_dir: home.aot_cache(),
        pool: chitin_sandbox::PoolSizing {
            max_instances: config.sandbox.max_instances,
            ..Default::default()
        },
    };
    chitin_sandbox::Sandbox::new(sandbox_config, services)
}

/// The runtime for one CLI command; two workers so a plugin call and its I/O can overlap.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
