//! The agent and provider sections of `chitin.toml`.
//!
//! ```toml
//! [providers.openai]
//! plugin = "openai"                     # a provider plugin configured under [plugins]
//! base_url = "https://api.openai.com/v1"
//! proxy = "http://127.0.0.1:3128"       # optional: this provider's requests go through it
//! [providers.openai.models."gpt-4o-mini"]
//! context_window = 128000
//! max_tokens = 4096
//! cost_input = 0.15                     # USD per million input tokens
//! cost_output = 0.60
//!
//! [agents.main]
//! model = "openai/gpt-4o-mini"
//! fallbacks = ["anthropic/claude-haiku-4-5"]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Id of the provider plugin (under `[plugins]`) that speaks this vendor's protocol.
    pub plugin: String,
    pub base_url: String,
    /// Extra request fields passed to the plugin as a JSON object (e.g. `{ top_p = 0.9 }`).
    #[serde(default)]
    pub options: BTreeMap<String, serde_json::Value>,
    /// An HTTP proxy (`http://host:port`) for every request of this provider; the plugin
    /// cannot see or change it.
    #[serde(default)]
    pub proxy: Option<String>,
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Tokens the model accepts in one request (prompt + output).
    pub context_window: u32,
    /// Most output tokens to ask for.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// USD per million input tokens (for the usage ledger).
    #[serde(default)]
    pub cost_input: f64,
    /// USD per million output tokens.
    #[serde(default)]
    pub cost_output: f64,
    #[serde(default)]
    pub temperature: Option<f32>,
}

fn default_max_tokens() -> u32 {
    4096
}

/// What to do with a message that arrives while the session is running a turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueMode {
    /// Run it as its own turn after the current one (the default).
    #[default]
    Followup,
    /// Gather everything that arrived during the run into one follow-up turn.
    Collect,
    /// Abort the current run and start on the new message.
    Interrupt,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Directory with AGENTS.md, SOUL.md, MEMORY.md, memory/, skills/ (relative to the data
    /// directory; default `workspace-<agent id>`).
    #[serde(default)]
    pub workspace: Option<PathBuf>,
    /// Primary model as `provider/model`.
    pub model: String,
    /// Tried in order when the primary fails in a way another model may not.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Tools the agent may use (`*` = all); applied before `tools_deny`.
    #[serde(default = "default_allow")]
    pub tools_allow: Vec<String>,
    #[serde(default)]
    pub tools_deny: Vec<String>,
    /// Provider round trips per turn before the run stops.
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u32,
    /// Wall-clock limit of one turn.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub queue_mode: QueueMode,
    /// Turns of this agent running at once (across its sessions); the global
    /// `[limits] max_concurrent_runs` applies as well.
    #[serde(default = "default_agent_concurrency")]
    pub max_concurrent: usize,
    /// Tools (same patterns as `tools_allow`) that wait for an operator's approval before each
    /// call; an approval nobody gives within `[limits] approval_timeout_secs` is a denial.
    #[serde(default)]
    pub require_approval: Vec<String>,
    /// Writing or sending tools (same patterns) that unattended runs (cron, heartbeat,
    /// webhooks) may still call after reading untrusted input. Empty: none may.
    #[serde(default)]
    pub unattended_allow: Vec<String>,
    /// Other agents whose sessions this agent may message with `sessions_send` (its own are
    /// always allowed).
    #[serde(default)]
    pub send_to_agents: Vec<String>,
}

fn default_agent_concurrency() -> usize {
    4
}

fn default_allow() -> Vec<String> {
    vec!["*".to_string()]
}

fn default_max_iterations() -> u32 {
    20
}

fn default_timeout_secs() -> u64 {
    600
}

impl AgentConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The model chain: primary, then fallbacks.
    pub fn chain(&self) -> Vec<String> {
        std::iter::once(self.model.clone())
            .chain(self.fallbacks.iter().cloned())
            .collect()
    }

    /// Whether the tool policy lets this agent use `tool`.
    pub fn allows_tool(&self, tool: &str) -> bool {
        let matches = |pattern: &String| tool_matches(pattern, tool);
        self.tools_allow.iter().any(matches) && !self.tools_deny.iter().any(matches)
    }

    /// Whether an unattended run may call `tool` after reading untrusted input.
    pub fn allows_unattended(&self, tool: &str) -> bool {
        self.unattended_allow
            .iter()
            .any(|pattern| tool_matches(pattern, tool))
    }

    /// Whether each call of `tool` needs an operator's approval.
    pub fn requires_approval(&self, tool: &str) -> bool {
        self.require_approval
            .iter()
            .any(|pattern| tool_matches(pattern, tool))
    }
}

/// Named sets of tools, usable wherever a tool pattern is (`tools_allow = ["group:web"]`).
pub const TOOL_GROUPS: &[(&str, &[&str])] = &[
    (
        "group:memory",
        &["memory_search", "memory_get", "memory_write"],
    ),
    ("group:sessions", &["sessions_list", "sessions_send"]),
    ("group:skills", &["read_skill"]),
    (
        "group:fs",
        &["files_list", "files_read", "files_write", "files_edit"],
    ),
    ("group:web", &["web_fetch", "web_search"]),
    ("group:runtime", &["exec"]),
    ("group:mcp", &["mcp__*"]),
];

/// `*` (everything), an exact name, a prefix ending in `*`, or a `group:<name>` of
/// [`TOOL_GROUPS`].
fn tool_matches(pattern: &str, tool: &str) -> bool {
    if let Some((_, members)) = TOOL_GROUPS.iter().find(|(group, _)| *group == pattern) {
        return members.iter().any(|member| tool_matches(member, tool));
    }
    pattern == "*"
        || pattern == tool
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| tool.starts_with(prefix))
}

/// A pattern that names an unknown group is a typo that would silently match nothing.
fn check_patterns(agent: &str, key: &str, patterns: &[String]) -> Result<(), String> {
    for pattern in patterns {
        if pattern.starts_with("group:") && !TOOL_GROUPS.iter().any(|(g, _)| g == pattern) {
            return Err(format!(
                "[agents.{agent}] {key}: no tool group `{pattern}`; groups are {}",
                TOOL_GROUPS
                    .iter()
                    .map(|(g, _)| *g)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// `provider/model` split at the first slash (model ids may contain slashes themselves, as
/// OpenRouter's `anthropic/claude-...` do).
pub fn split_model_ref(reference: &str) -> Option<(&str, &str)> {
    let (provider, model) = reference.split_once('/')?;
    (!provider.is_empty() && !model.is_empty()).then_some((provider, model))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Agent runs in progress at once across all sessions; more wait their turn.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// How long a tool call that needs approval waits for a decision before it is denied.
    #[serde(default = "default_approval_timeout_secs")]
    pub approval_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_concurrent_runs: default_max_concurrent_runs(),
            approval_timeout_secs: default_approval_timeout_secs(),
        }
    }
}

fn default_approval_timeout_secs() -> u64 {
    600
}

fn default_max_concurrent_runs() -> usize {
    4
}

/// Checks the references between sections: every agent's models exist, every provider's
/// plugin is configured. Errors name the key and the fix.
pub fn validate(
    agents: &BTreeMap<String, AgentConfig>,
    providers: &BTreeMap<String, ProviderConfig>,
    plugin_ids: &[&str],
) -> Result<(), String> {
    for (id, provider) in providers {
        if !plugin_ids.contains(&provider.plugin.as_str()) {
            return Err(format!(
                "[providers.{id}] plugin = \"{}\" names no plugin under [plugins]; add \
                 [plugins.{}] with the provider plugin's path",
                provider.plugin, provider.plugin
            ));
        }
        if let Some(proxy) = &provider.proxy
            && let Err(why) = chitin_egress::parse_proxy(proxy)
        {
            return Err(format!(
                "[providers.{id}] proxy = \"{}\" {why}; it must be an absolute http:// URL \
                 with host and port, e.g. proxy = \"http://127.0.0.1:3128\"",
                proxy.escape_debug()
            ));
        }
        if provider.models.is_empty() {
            return Err(format!(
                "[providers.{id}] lists no models; add [providers.{id}.models.\"<model id>\"] \
                 with context_window"
            ));
        }
    }
    for (id, agent) in agents {
        for (key, patterns) in [
            ("tools_allow", &agent.tools_allow),
            ("tools_deny", &agent.tools_deny),
            ("require_approval", &agent.require_approval),
            ("unattended_allow", &agent.unattended_allow),
        ] {
            check_patterns(id, key, patterns)?;
        }
        if agent.max_iterations == 0 {
            return Err(format!("[agents.{id}] max_iterations must be at least 1"));
        }
        if agent.max_concurrent == 0 {
            return Err(format!("[agents.{id}] max_concurrent must be at least 1"));
        }
        if agent.timeout_secs == 0 {
            return Err(format!("[agents.{id}] timeout_secs must be at least 1"));
        }
        for (key, reference) in std::iter::once(("model", &agent.model))
            .chain(agent.fallbacks.iter().map(|f| ("fallbacks", f)))
        {
            let Some((provider, model)) = split_model_ref(reference) else {
                return Err(format!(
                    "[agents.{id}] {key} = \"{reference}\" must be \"provider/model\", e.g. \
                     \"openai/gpt-4o-mini\""
                ));
            };
            let Some(p) = providers.get(provider) else {
                let known: Vec<&str> = providers.keys().map(String::as_str).collect();
                return Err(format!(
                    "[agents.{id}] {key} = \"{reference}\": no provider `{provider}` (configured: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            if !p.models.contains_key(model) {
                let known: Vec<&str> = p.models.keys().map(String::as_str).collect();
                return Err(format!(
                    "[agents.{id}] {key} = \"{reference}\": provider `{provider}` has no model \
                     `{model}` (configured: {}); add [providers.{provider}.models.\"{model}\"]",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(proxy: &str) -> BTreeMap<String, ProviderConfig> {
        let text = format!(
            "plugin = \"anthropic\"\nbase_url = \"https://api.minimax.io/anthropic/v1\"\n\
             {proxy}\n[models.m]\ncontext_window = 1000\n"
        );
        let provider: ProviderConfig = toml::from_str(&text).expect("provider config");
        BTreeMap::from([("minimax".to_string(), provider)])
    }

    #[test]
    fn a_provider_proxy_must_be_an_absolute_http_url() {
        let check = |line: &str| validate(&BTreeMap::new(), &providers(line), &["anthropic"]);
        assert!(check("").is_ok());
        assert!(check("proxy = \"http://127.0.0.1:3128\"").is_ok());
        assert!(check("proxy = \"http://proxy.corp.example:8080/\"").is_ok());
        assert_eq!(
            providers("proxy = \"http://127.0.0.1:3128\"")["minimax"]
                .proxy
                .as_deref(),
            Some("http://127.0.0.1:3128")
        );
        for bad in [
            "127.0.0.1:3128",
            "https://127.0.0.1:3128",
            "socks5://127.0.0.1:1080",
            "http://user:pass@127.0.0.1:3128",
            "http://127.0.0.1:3128/path",
            "http://",
            "",
        ] {
            let err = check(&format!("proxy = \"{bad}\"")).expect_err(bad);
            assert!(err.contains("[providers.minimax] proxy"), "{bad}: {err}");
            assert!(err.contains("http://127.0.0.1:3128"), "{bad}: {err}");
        }
    }

    #[test]
    fn tool_groups_expand_and_unknown_groups_are_refused() {
        let config: AgentConfig = toml::from_str(
            "model = \"p/m\"\ntools_allow = [\"group:web\", \"group:mcp\", \"echo\"]\n\
             tools_deny = [\"group:runtime\"]\n",
        )
        .unwrap();
        assert!(config.allows_tool("web_fetch") && config.allows_tool("web_search"));
        assert!(config.allows_tool("mcp__calc__add") && config.allows_tool("echo"));
        assert!(!config.allows_tool("exec") && !config.allows_tool("files_write"));
        let agents = BTreeMap::from([(
            "main".to_string(),
            toml::from_str::<AgentConfig>("model = \"p/m\"\ntools_deny = [\"group:wbe\"]\n")
                .unwrap(),
        )]);
        let err = validate(&agents, &BTreeMap::new(), &[]).unwrap_err();
        assert!(
            err.contains("group:wbe") && err.contains("group:web"),
            "{err}"
        );
    }
}
