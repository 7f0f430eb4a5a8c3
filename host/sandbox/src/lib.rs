//! Chitin's sandbox: runs plugin components under fuel, memory and wall-clock budgets with only
//! the capabilities their operator granted.
//!
//! The data path: [`Sandbox::load_file`] reads a `.wasm`, takes the manifest embedded in it,
//! checks the operator's grant against the manifest's request, compiles the component ahead of
//! time (or maps the cached artifact) and links it against the host interfaces of its world.
//! The resulting [`Plugin`] is then called as often as needed, each call in a fresh or recycled
//! store with its budgets re-armed.
//!
//! This crate is kept apart from the application so that editing the app does not recompile the
//! wasmtime bindings.

pub mod bindings;
pub mod cache;
mod caps;
mod compat;
pub mod context;
pub mod engine;
pub mod error;
pub mod plugin;
pub mod provider;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chitin_manifest::{Grant, Manifest, PluginKind};
use wasmtime::component::{HasSelf, Linker};

pub use cache::{AotCache, CacheOutcome, sha256_hex};
pub use context::HostServices;
pub use engine::{EPOCH_TICK, PoolSizing};
pub use error::PluginError;
pub use plugin::{
    CallContext, Completion, CompletionRequest, FinishReason, InstanceMode, Message, ModelInfo,
    Plugin, ProviderError, Role, ToolCall, ToolDefinition, ToolError, ToolOutput, ToolSpec, Usage,
};
pub use provider::StreamEvent;

use crate::compat::WitVersion;
use crate::context::PluginContext;
use crate::engine::SandboxEngine;
use crate::plugin::KindPre;
use crate::state::PluginState;

/// Settings of the sandbox itself (not of any plugin).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled artifacts are cached, e.g. `~/.chitin/cache/aot`.
    pub cache_dir: PathBuf,
    pub pool: PoolSizing,
}

/// One linker per plugin world of one `chitin:plugin` version, each with WASI (nothing granted
/// by default) and the host interfaces that world imports.
struct Linkers {
    tool: Linker<PluginState>,
    provider: Linker<PluginState>,
    channel: Linker<PluginState>,
    mcp_bridge: Linker<PluginState>,
}

/// The engine, the AOT cache, the host services, and the linkers: everything needed to load
/// plugins. One per process.
pub struct Sandbox {
    engine: SandboxEngine,
    cache: AotCache,
    services: HostServices,
    /// The current `chitin:plugin` version (`wit/`).
    linkers: Linkers,
    /// `chitin:plugin@0.1.0` (`wit/v0.1.0/`), for plugins built before 0.2.0.
    linkers_v0_1: Linkers,
}

/// Why a plugin could not be loaded; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Manifest(#[from] chitin_manifest::ManifestError),
    #[error("{0}")]
    Grant(#[from] chitin_manifest::GrantError),
    #[error("plugin `{plugin}`: {detail}")]
    Link { plugin: String, detail: String },
    #[error("plugin `{plugin}`: {detail:#}")]
    Other {
        plugin: String,
        detail: anyhow::Error,
    },
}

fn new_linker(
    engine: &wasmtime::Engine,
    add: impl FnOnce(&mut Linker<PluginState>) -> wasmtime::Result<()>,
) -> anyhow::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    add(&mut linker)?;
    Ok(linker)
}

impl Sandbox {
    pub fn new(config: SandboxConfig, services: HostServices) -> anyhow::Result<Sandbox> {
        let engine = SandboxEngine::new(&config.pool).context("creating the wasmtime engine")?;
        let e = engine.engine();
        let linkers = Linkers {
            tool: new_linker(e, |l| {
                bindings::tool::ToolPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
            })?,
            provider: new_linker(e, |l| {
                bindings::provider::ProviderPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
            })?,
            channel: new_linker(e, |l| {
                bindings::channel::ChannelPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
            })?,
            mcp_bridge: new_linker(e, |l| {
                bindings::mcp_bridge::McpBridgePlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
            })?,
        };
        let linkers_v0_1 = {
            use bindings::v0_1;
            Linkers {
                tool: new_linker(e, |l| {
                    v0_1::tool::ToolPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
                })?,
                provider: new_linker(e, |l| {
                    v0_1::provider::ProviderPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
                })?,
                channel: new_linker(e, |l| {
                    v0_1::channel::ChannelPlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
                })?,
                mcp_bridge: new_linker(e, |l| {
                    v0_1::mcp_bridge::McpBridgePlugin::add_to_linker::<_, HasSelf<_>>(l, |s| s)
                })?,
            }
        };
        Ok(Sandbox {
            cache: AotCache::new(config.cache_dir),
            engine,
            services,
            linkers,
            linkers_v0_1,
        })
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        self.engine.engine()
    }

    pub fn cache(&self) -> &AotCache {
        &self.cache
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }

    /// Loads a plugin file with the operator's grant.
    pub fn load_file(&self, path: &Path, grant: &Grant) -> Result<Plugin, LoadError> {
        let wasm = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_bytes(&wasm, grant)
    }

    /// Loads a plugin from its bytes with the operator's grant.
    pub fn load_bytes(&self, wasm: &[u8], grant: &Grant) -> Result<Plugin, LoadError> {
        let manifest = chitin_manifest::extract_manifest(wasm)?;
        manifest.check_wit_version()?;
        let effective = grant.resolve(&manifest)?;
        let plugin_id = manifest.id.clone();
        let other = |detail: anyhow::Error| LoadError::Other {
            plugin: plugin_id.clone(),
            detail,
        };
        let digest = sha256_hex(wasm);
        let (component, outcome) = self
            .cache
            .load(self.engine(), wasm, &digest)
            .map_err(other)?;
        let pre = self.link(&manifest, &component)?;
        let ctx = PluginContext::new(manifest, effective, &self.services).map_err(other)?;
        Ok(Plugin::new(
            Arc::new(ctx),
            self.engine().clone(),
            pre,
            component,
            digest,
            outcome,
        ))
    }

    /// Compiles (or maps from cache) without linking: `chitin plugin install` does this ahead
    /// of time so that loading never compiles.
    pub fn precompile(&self, wasm: &[u8]) -> anyhow::Result<CacheOutcome> {
        let digest = sha256_hex(wasm);
        Ok(self.cache.load(self.engine(), wasm, &digest)?.1)
    }

    fn link(
        &self,
        manifest: &Manifest,
        component: &wasmtime::component::Component,
    ) -> Result<KindPre, LoadError> {
        let link_error = |err: wasmtime::Error| LoadError::Link {
            plugin: manifest.id.clone(),
            detail: explain_link_error(manifest, &format!("{err:#}")),
        };
        let version = self.check_component_version(manifest, component)?;
        let linkers = match version {
            WitVersion::V0_2 => &self.linkers,
            WitVersion::V0_1 => &self.linkers_v0_1,
        };
        Ok(match manifest.kind {
            PluginKind::Tool => KindPre::Tool(
                compat::ToolPre::new(
                    version,
                    linkers
                        .tool
                        .instantiate_pre(component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
            PluginKind::Provider => KindPre::Provider(
                compat::ProviderPre::new(
                    version,
                    linkers
                        .provider
                        .instantiate_pre(component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
            PluginKind::Channel => KindPre::Channel(
                compat::ChannelPre::new(
                    version,
                    linkers
                        .channel
                        .instantiate_pre(component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
            PluginKind::McpBridge => KindPre::McpBridge(
                compat::McpBridgePre::new(
                    version,
                    linkers
                        .mcp_bridge
                        .instantiate_pre(component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
        })
    }

    /// The bindings the component is linked with: those of the manifest's `wit_version`, once
    /// the component's own imports and exports agree with it. A component packed with the wrong
    /// `wit_version` is refused here, naming what it really speaks, rather than failing to link
    /// on some interface name.
    fn check_component_version(
        &self,
        manifest: &Manifest,
        component: &wasmtime::component::Component,
    ) -> Result<WitVersion, LoadError> {
        let package = chitin_manifest::WIT_PACKAGE;
        let claimed = &manifest.wit_version;
        let refuse = |detail: String| LoadError::Link {
            plugin: manifest.id.clone(),
            detail,
        };
        let Some(version) = WitVersion::parse(claimed) else {
            return Err(refuse(format!(
                "this Chitin does not link {package}@{claimed}; it supports {}",
                supported_versions()
            )));
        };
        let spoken = compat::component_wit_versions(self.engine(), component);
        if let Some((found, name)) = spoken.iter().find(|(found, _)| found != claimed) {
            let mixed = spoken.iter().find(|(v, _)| v == claimed);
            let (also, fix) = if let Some((_, other)) = mixed {
                (
                    format!(" as well as `{other}`"),
                    "a component is built against one version: rebuild it from one WIT".to_string(),
                )
            } else if found.is_empty() {
                (
                    String::new(),
                    format!(
                        "that names no version of {package}: rebuild the plugin against one of \
                         {}",
                        supported_versions()
                    ),
                )
            } else if chitin_manifest::SUPPORTED_WIT_VERSIONS.contains(&found.as_str()) {
                (
                    String::new(),
                    format!(
                        "it was built against {package}@{found}: set wit_version = \"{found}\" in \
                         its plugin.toml and re-pack it with `chitin plugin pack`"
                    ),
                )
            } else {
                (
                    String::new(),
                    format!(
                        "{package}@{found} is not a version this Chitin supports ({}): rebuild \
                         the plugin against one of them and set wit_version to match",
                        supported_versions()
                    ),
                )
            };
            return Err(refuse(format!(
                "its manifest says it was built against {package}@{claimed}, but the component \
                 uses `{name}`{also}; {fix}"
            )));
        }
        Ok(version)
    }
}

fn supported_versions() -> String {
    chitin_manifest::SUPPORTED_WIT_VERSIONS
        .iter()
        .map(|v| format!("{}@{v}", chitin_manifest::WIT_PACKAGE))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds what to do to wasmtime's linking errors, which name the missing piece but not why.
fn explain_link_error(manifest: &Manifest, raw: &str) -> String {
    if raw.contains("wasi:http") {
        format!(
            "{raw}. The plugin imports wasi:http, which Chitin does not provide to plugins: \
             outbound requests go through chitin:plugin/http, where the operator's grant is enforced"
        )
    } else if raw.contains("wasi:sockets") {
        format!("{raw}. Plugins get no raw sockets; use chitin:plugin/http")
    } else if raw.contains("no exported instance") || raw.contains("export") {
        format!(
            "{raw}. The manifest says this is a {} plugin, but the component does not export \
             that world's interface; rebuild it against the `{}` world of chitin:plugin@{}",
            manifest.kind,
            world_name(manifest.kind),
            manifest.wit_version
        )
    } else {
        raw.to_string()
    }
}

fn world_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Tool => "tool-plugin",
        PluginKind::Provider => "provider-plugin",
        PluginKind::Channel => "channel-plugin",
        PluginKind::McpBridge => "mcp-bridge-plugin",
    }
}
