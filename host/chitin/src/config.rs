//! `chitin.toml`: the operator's configuration.
//!
//! Unknown keys are refused (a typo must not silently drop a restriction), and every error
//! names the file, the line and the key. `${VAR}` is replaced by the environment variable's
//! value before parsing; an unset variable is an error, never an empty string.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chitin_manifest::Grant;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sandbox: SandboxSection,
    /// Installed plugins by id: where the `.wasm` is and what the operator grants it.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginEntry>,
    /// Model providers: which provider plugin, which base URL, which models.
    #[serde(default)]
    pub providers: BTreeMap<String, chitin_agent::ProviderConfig>,
    #[serde(default)]
    pub agents: BTreeMap<String, chitin_agent::AgentConfig>,
    #[serde(default)]
    pub limits: chitin_agent::LimitsConfig,
    #[serde(default)]
    pub gateway: GatewaySection,
    #[serde(default)]
    pub tools: ToolsSection,
    /// MCP servers whose tools the agents may use: `[mcp.<id>]` with `command` (stdio) or
    /// `url` (Streamable HTTP).
    #[serde(default)]
    pub mcp: chitin_mcp::McpConfig,
}

/// Host tools that are not plugins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsSection {
    /// `exec`: off unless a policy is set.
    #[serde(default)]
    pub exec: chitin_agent::ExecConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Address to listen on; anything but loopback requires `token`.
    #[serde(default = "default_bind")]
    pub bind: std::net::IpAddr,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Bearer token clients must present (use `${CHITIN_GATEWAY_TOKEN}` rather than a literal).
    #[serde(default)]
    pub token: Option<String>,
    /// Browser origins besides the gateway's own that may open its WebSocket
    /// (e.g. "https://console.example.com").
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket frame accepted.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Tick events and pings; three intervals without a frame from a client close it.
    #[serde(default = "default_tick_interval_ms")]
    pub tick_interval_ms: u64,
    /// Time a new WebSocket has to send `connect`.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// On stop, how long runs in progress may take to finish before connections close.
    #[serde(default = "default_drain_timeout_secs")]
    pub drain_timeout_secs: u64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            bind: default_bind(),
            port: default_port(),
            token: None,
            allowed_origins: Vec::new(),
            max_frame_bytes: default_max_frame_bytes(),
            tick_interval_ms: default_tick_interval_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            drain_timeout_secs: default_drain_timeout_secs(),
        }
    }
}

impl GatewaySection {
    pub fn ws_limits(&self) -> chitin_gateway::WsLimits {
        chitin_gateway::WsLimits {
            max_frame_bytes: self.max_frame_bytes,
            tick_interval: std::time::Duration::from_millis(self.tick_interval_ms),
            connect_timeout: std::time::Duration::from_millis(self.connect_timeout_ms),
            ..chitin_gateway::WsLimits::default()
        }
    }

    /// Where a local client reaches this gateway: the bind address, or loopback for a
    /// wildcard bind.
    pub fn local_url(&self) -> String {
        let host = if self.bind.is_unspecified() {
            match self.bind {
                std::net::IpAddr::V4(_) => "127.0.0.1".to_string(),
                std::net::IpAddr::V6(_) => "[::1]".to_string(),
            }
        } else {
            match self.bind {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            }
        };
        format!("ws://{host}:{}/ws", self.port)
    }
}

fn default_max_frame_bytes() -> usize {
    chitin_gateway::WsLimits::default().max_frame_bytes
}

fn default_tick_interval_ms() -> u64 {
    chitin_gateway::WsLimits::default()
        .tick_interval
        .as_millis() as u64
}

fn default_connect_timeout_ms() -> u64 {
    chitin_gateway::WsLimits::default()
        .connect_timeout
        .as_millis() as u64
}

fn default_drain_timeout_secs() -> u64 {
    chitin_gateway::DEFAULT_DRAIN_TIMEOUT.as_secs()
}

fn default_bind() -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}

fn default_port() -> u16 {
    chitin_gateway::DEFAULT_PORT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// Plugin instances alive at once (pooling allocator slots).
    #[serde(default = "default_max_instances")]
    pub max_instances: u32,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection {
            max_instances: default_max_instances(),
        }
    }
}

fn default_max_instances() -> u32 {
    chitin_sandbox::PoolSizing::default().max_instances
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// Path of the `.wasm`, relative to the config file's directory if not absolute. Omitted
    /// for a tool that a skill carries: the section then only holds its grant.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub grant: Grant,
}

impl Config {
    /// Reads the config file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
        let text = substitute_env(text, |name| std::env::var(name).ok())
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        let gateway = &config.gateway;
        if gateway.max_frame_bytes < 1024
            || gateway.tick_interval_ms < 100
            || gateway.connect_timeout_ms < 100
        {
            anyhow::bail!(
                "{}: [gateway] max_frame_bytes must be at least 1024, tick_interval_ms and \
                 connect_timeout_ms at least 100",
                path.display()
            );
        }
        if config.sandbox.max_instances == 0 {
            anyhow::bail!(
                "{}: [sandbox] max_instances must be at least 1",
                path.display()
            );
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for entry in config.plugins.values_mut() {
            if let Some(plugin_path) = &mut entry.path
                && plugin_path.is_relative()
            {
                *plugin_path = base.join(&*plugin_path);
            }
        }
        for (id, server) in &mut config.mcp {
            server.resolve_paths(base);
            server
                .validate(id)
                .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            if config.plugins.contains_key(id) {
                anyhow::bail!(
                    "{}: [mcp.{id}] and [plugins.{id}] share an id; an mcp-bridge plugin is an MCP \
                     server named after the plugin, so rename one of them",
                    path.display()
                );
            }
        }
        chitin_agent::Exec::new(&config.tools.exec)
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        let plugin_ids: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
        chitin_agent::config::validate(&config.agents, &config.providers, &plugin_ids)
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        Ok(config)
    }
}

/// Replaces `${NAME}` with the variable's value. `$${` escapes a literal `${`.
fn substitute_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            let line = text[..text.len() - rest.len() + start]
                .lines()
                .count()
                .max(1);
            return Err(format!(
                "line {line}: unterminated `${{` (write `${{NAME}}`)"
            ));
        };
        let name = &after[..end];
        let line = text[..text.len() - rest.len() + start]
            .lines()
            .count()
            .max(1);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "line {line}: `${{{name}}}` is not a valid environment variable reference"
            ));
        }
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(format!(
                    "line {line}: environment variable {name} is not set (referenced as ${{{name}}})"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "abc".to_string())
    }

    #[test]
    fn env_substitution() {
        assert_eq!(substitute_env("a=${TOKEN}", env).unwrap(), "a=abc");
        assert_eq!(substitute_env("a=$${TOKEN}", env).unwrap(), "a=${TOKEN}");
        let err = substitute_env("x\ny=${MISSING}", env).unwrap_err();
        assert!(err.contains("line 2") && err.contains("MISSING"), "{err}");
        assert!(
            substitute_env("y=${oops", env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            substitute_env("y=${a-b}", env)
                .unwrap_err()
                .contains("not a valid")
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_line() {
        let err = Config::parse(
            "[plugins.echo]\npath = \"echo.wasm\"\ngrnat = {}\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("grnat") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn relative_plugin_paths_resolve_against_the_config_dir() {
        let config = Config::parse(
            "[plugins.echo]\npath = \"p/echo.wasm\"\n",
            Path::new("/etc/chitin/chitin.toml"),
        )
        .unwrap();
        assert_eq!(
            config.plugins["echo"].path.as_deref(),
            Some(Path::new("/etc/chitin/p/echo.wasm"))
        );
    }
}
