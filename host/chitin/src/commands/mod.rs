//! One module per command group.

pub mod agent;
pub mod approvals;
pub mod gateway;
pub mod mcp;
pub mod message;
pub mod models;
pub mod plugin;
pub mod secrets;
pub mod sessions;
pub mod status;
pub mod tool;

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::home::Home;

/// The sandbox with the host services every plugin may be granted: the SQLite store (kv),
/// the secret store (egress injection and redaction) and the system DNS resolver.
pub fn open_sandbox(home: &Home, config: &Config) -> anyhow::Result<chitin_sandbox::Sandbox> {
    Ok(open_sandbox_and_store(home, config)?.0)
}

/// The database; one connection per process, shared by plugins' kv and the agent core.
pub fn open_store(home: &Home) -> anyhow::Result<Arc<chitin_store::Store>> {
    home.ensure()?;
    let store = chitin_store::Store::open(&home.database())
        .with_context(|| format!("opening {}", home.database().display()))?;
    Ok(Arc::new(store))
}

pub fn open_sandbox_and_store(
    home: &Home,
    config: &Config,
) -> anyhow::Result<(chitin_sandbox::Sandbox, Arc<chitin_store::Store>)> {
    let store = open_store(home)?;
    let secrets = chitin_secrets::SecretStore::open(
        &home.secrets_file(),
        &chitin_secrets::KeySource::discover(home.root()),
    )?;
    let services = chitin_sandbox::HostServices {
        store: Some(store.clone()),
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
    Ok((
        chitin_sandbox::Sandbox::new(sandbox_config, services)?,
        store,
    ))
}

/// The runtime for one CLI command; two workers so a plugin call and its I/O can overlap.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
