//! Builds the agent runtime from the configuration: loads the provider and tool plugins into
//! the sandbox, resolves each agent's model chain, and opens its workspace and skills.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use chitin_agent::{
    Agent, AgentConfig, AgentRuntime, PluginProvider, ResolvedModel, RetryPolicy, ToolRegistry,
};
use chitin_manifest::PluginKind;
use chitin_sandbox::Sandbox;
use chitin_workspace::{SkillSet, SkillSource, Workspace};

use crate::config::Config;
use crate::home::Home;

/// The bundled skills shipped next to the binary's source (`skills/` in the repository), or
/// `$CHITIN_BUNDLED_SKILLS` for packaged installs.
fn bundled_skills_dir() -> std::path::PathBuf {
    std::env::var_os("CHITIN_BUNDLED_SKILLS")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills"))
}

/// Everything a command needs to run agents.
pub struct Built {
    pub runtime: AgentRuntime,
    /// Every loaded plugin (providers, tools, mcp bridges).
    pub plugins: Vec<Arc<chitin_sandbox::Plugin>>,
    /// The MCP servers; shut them down before exiting so their processes stop.
    pub mcp: chitin_mcp::McpServers,
}

pub async fn build_runtime(
    home: &Home,
    config: &Config,
    sandbox: &Sandbox,
    store: Arc<chitin_store::Store>,
) -> anyhow::Result<Built> {
    build(home, config, sandbox, store, true).await
}

/// The plugins, tools and MCP servers without requiring an agent (`chitin mcp serve`).
pub async fn build_tools(
    home: &Home,
    config: &Config,
    sandbox: &Sandbox,
    store: Arc<chitin_store::Store>,
) -> anyhow::Result<Built> {
    build(home, config, sandbox, store, false).await
}

async fn build(
    home: &Home,
    config: &Config,
    sandbox: &Sandbox,
    store: Arc<chitin_store::Store>,
    require_agents: bool,
) -> anyhow::Result<Built> {
    if require_agents && config.agents.is_empty() {
        anyhow::bail!(
            "no agents are configured in {}; add an [agents.main] section with a model (see the \
             README, \"Configuring agents\")",
            home.config_file().display()
        );
    }
    // Plugins installed with `chitin plugin install` must still be the file that was
    // verified then: a changed digest means someone replaced it.
    let lock_path = home.root().join("plugins.lock");
    let lock = chitin_install::lock::Lockfile::load(&lock_path)?;
    // Every configured plugin is loaded once; providers and tools share the instances.
    let mut plugins = std::collections::BTreeMap::new();
    for (id, entry) in &config.plugins {
        let Some(path) = &entry.path else { continue };
        let installed = lock
            .plugins
            .get(id)
            .filter(|lock_entry| home.root().join(&lock_entry.file) == *path);
        let plugin = match installed {
            // Checked before anything of it is compiled, on the bytes that are then loaded.
            Some(lock_entry) => {
                let wasm = std::fs::read(path)
                    .with_context(|| format!("reading plugin `{id}` from {}", path.display()))?;
                let digest = chitin_install::sha256_hex(&wasm);
                if !lock_entry.sha256.eq_ignore_ascii_case(&digest) {
                    anyhow::bail!(
                        "plugin `{id}` at {} changed since it was installed (sha256 {digest} \
                         now, {} when installed): it may have been tampered with. Reinstall \
                         it with `chitin plugin update {id} <file>` (which verifies it again); \
                         `chitin plugin list --verify` checks every installed plugin",
                        path.display(),
                        lock_entry.sha256
                    );
                }
                sandbox.load_bytes(&wasm, &entry.grant)
            }
            None => sandbox.load_file(path, &entry.grant),
        }
        .with_context(|| format!("loading plugin `{id}` from {}", path.display()))?;
        if plugin.id() != id {
            anyhow::bail!(
                "[plugins.{id}] points at {}, whose manifest id is `{}`; the section name must \
                 match the plugin's id",
                path.display(),
                plugin.id()
            );
        }
        plugins.insert(id.clone(), Arc::new(plugin));
    }
    let mut agents = Vec::new();
    for (id, agent_config) in &config.agents {
        agents.push(build_agent(home, config, &plugins, id, agent_config)?);
    }
    // Tools that skills carry as .wasm files run under the same sandbox: with the grant in
    // `[plugins.<id>]` if the operator wrote one, otherwise with nothing granted.
    for agent in &agents {
        for skill in agent.skills.skills() {
            for wasm in &skill.tools_wasm {
                let manifest = std::fs::read(wasm)
                    .map_err(anyhow::Error::from)
                    .and_then(|bytes| Ok(chitin_manifest::extract_manifest(&bytes)?))
                    .with_context(|| {
                        format!(
                            "reading the tool {} of skill `{}`",
                            wasm.display(),
                            skill.name
                        )
                    })?;
                if plugins.contains_key(&manifest.id) {
                    continue;
                }
                let grant = config
                    .plugins
                    .get(&manifest.id)
                    .map(|entry| entry.grant.clone())
                    .unwrap_or_default();
                let plugin = sandbox.load_file(wasm, &grant).with_context(|| {
                    format!(
                        "loading the tool {} of skill `{}`",
                        wasm.display(),
                        skill.name
                    )
                })?;
                plugins.insert(manifest.id.clone(), Arc::new(plugin));
            }
        }
    }
    let exec = chitin_agent::Exec::new(&config.tools.exec).map_err(|err| anyhow::anyhow!(err))?;
    let mut tools = ToolRegistry::with_native_tools().with_exec(exec);
    for plugin in plugins.values() {
        if plugin.manifest().kind == PluginKind::Tool {
            tools
                .add_plugin(plugin.clone())
                .await
                .map_err(|err| anyhow::anyhow!(err))?;
        }
    }
    let plugins: Vec<Arc<chitin_sandbox::Plugin>> = plugins.into_values().collect();
    let mcp = crate::mcp::start(config, sandbox, &plugins).await;
    tools.add_external(Arc::new(crate::mcp::McpTools(mcp.clone())));
    let runtime = AgentRuntime::new(
        store,
        tools,
        agents,
        config.limits.max_concurrent_runs,
        RetryPolicy::default(),
    )
    .with_approval_timeout(std::time::Duration::from_secs(
        config.limits.approval_timeout_secs,
    ));
    Ok(Built {
        runtime,
        plugins,
        mcp,
    })
}

fn build_agent(
    home: &Home,
    config: &Config,
    plugins: &std::collections::BTreeMap<String, Arc<chitin_sandbox::Plugin>>,
    id: &str,
    agent_config: &AgentConfig,
) -> anyhow::Result<Agent> {
    let workspace_dir = match &agent_config.workspace {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => home.root().join(dir),
        None => home.root().join(format!("workspace-{id}")),
    };
    let workspace = Workspace::new(&workspace_dir);
    workspace
        .ensure()
        .with_context(|| format!("preparing the workspace of agent `{id}`"))?;
    let skills = SkillSet::load(&[
        (SkillSource::Bundled, bundled_skills_dir()),
        (SkillSource::Managed, home.root().join("skills")),
        (SkillSource::Workspace, workspace_dir.join("skills")),
    ]);
    for problem in skills.problems() {
        tracing::warn!(agent = id, "skill skipped: {problem}");
    }
    let mut models = Vec::new();
    for reference in agent_config.chain() {
        // validate() already checked that these exist.
        let (provider_id, model_id) = chitin_agent::config::split_model_ref(&reference)
            .context("model references are provider/model")?;
        let provider = &config.providers[provider_id];
        let plugin = plugins
            .get(&provider.plugin)
            .with_context(|| format!("provider plugin `{}` is not loaded", provider.plugin))?;
        if plugin.manifest().kind != PluginKind::Provider {
            anyhow::bail!(
                "[providers.{provider_id}] plugin = \"{}\" is a {} plugin, not a provider",
                provider.plugin,
                plugin.manifest().kind
            );
        }
        models.push(ResolvedModel {
            reference: reference.clone(),
            provider_id: provider_id.to_string(),
            model_id: model_id.to_string(),
            config: provider.models[model_id].clone(),
            base_url: provider.base_url.clone(),
            options: serde_json::to_string(&provider.options)?,
            proxy: provider.proxy.clone(),
            provider: Arc::new(PluginProvider::new(plugin.clone())),
        });
    }
    Ok(Agent {
        id: id.to_string(),
        config: agent_config.clone(),
        workspace,
        skills,
        models,
    })
}
