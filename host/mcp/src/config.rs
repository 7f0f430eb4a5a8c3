//! `[mcp.<server id>]` in chitin.toml: one MCP server, started as a child process (`command`)
//! or reached over Streamable HTTP (`url`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The whole `[mcp]` table: server id → server.
pub type McpConfig = BTreeMap<String, McpServerConfig>;

/// Longest server id: the id is part of every tool name (`mcp__<id>__<tool>`, at most 64
/// characters), so it must leave room for the tool.
pub const MAX_SERVER_ID_LEN: usize = 32;

/// One MCP server. Exactly one of `command` (stdio) and `url` (Streamable HTTP) is set; the
/// other transport's keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    // --- stdio ---
    /// The program to run (looked up on PATH unless it contains a `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Variables set for the child, on top of PATH, HOME and LANG from the gateway's environment
    /// (everything else is cleared).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variables whose value comes from the secret store: variable name → store key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_secrets: BTreeMap<String, String>,
    /// Working directory of the child (the gateway's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,

    // --- Streamable HTTP ---
    /// The MCP endpoint, `https://host[:port]/path`. The server may reach exactly this URL's
    /// origin, through the same egress policy as plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Sent with every request; values may hold `{{secret:NAME}}` for a secret listed in
    /// `secrets`, substituted by egress for this server's origin only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Secrets the headers and the URL may name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// Special-range addresses (loopback, private, link-local, ...) this server may resolve to,
    /// as CIDRs (`127.0.0.1/32`, `10.0.0.0/8`); like a plugin grant's `allow_private`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_private: Vec<String>,

    // --- both ---
    /// Limit of one tool call, after which it is cancelled.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Limit of starting (or restarting) the server, including the protocol handshake and the
    /// first tool list.
    #[serde(default = "default_startup_timeout_secs")]
    pub startup_timeout_secs: u64,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Tools offered (`*` = all, an exact name, or `prefix*`), by the server's own tool name;
    /// applied before `tools_deny`.
    #[serde(default = "default_allow")]
    pub tools_allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools_deny: Vec<String>,
    /// Largest tool output handed to the model; the rest is cut with a note.
    #[serde(default = "default_max_output_kb")]
    pub max_output_kb: u32,
    /// How the connection starts: `auto` (probe for the 2026 protocol, fall back to the
    /// `initialize` handshake), `legacy` (only `initialize`; skips the probe for servers that
    /// ignore unknown requests) or `modern` (2026-07-28 only).
    #[serde(default)]
    pub protocol: ProtocolMode,
}

/// How a connection to a server is established.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolMode {
    #[default]
    Auto,
    Legacy,
    Modern,
}

/// A secret an HTTP server's headers or URL may name: `"NAME"` (the store key and the
/// placeholder name are the same) or `{ name = "NAME", store_key = "KEY" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Name(String),
    Stored {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store_key: Option<String>,
    },
}

impl SecretRef {
    /// What `{{secret:NAME}}` names.
    pub fn name(&self) -> &str {
        match self {
            SecretRef::Name(name) | SecretRef::Stored { name, .. } => name,
        }
    }

    /// Where the value lives in the secret store.
    pub fn store_key(&self) -> &str {
        match self {
            SecretRef::Name(name) => name,
            SecretRef::Stored { name, store_key } => store_key.as_deref().unwrap_or(name),
        }
    }
}

fn default_timeout_secs() -> u64 {
    60
}

fn default_startup_timeout_secs() -> u64 {
    30
}

fn default_true() -> bool {
    true
}

fn default_allow() -> Vec<String> {
    vec!["*".to_string()]
}

fn default_max_output_kb() -> u32 {
    64
}

/// The transport a validated config describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        env_secrets: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    Http {
        url: url::Url,
        headers: BTreeMap<String, String>,
        secrets: Vec<SecretRef>,
        allow_private: Vec<IpNet>,
    },
    /// An MCP server compiled to WebAssembly, answering one message at a time in the sandbox.
    Bridge(crate::bridge::BridgeRef),
}

impl McpServerConfig {
    /// A stdio server running `command` with `args`, every other key at its default.
    pub fn stdio(command: impl Into<String>, args: impl IntoIterator<Item = String>) -> Self {
        McpServerConfig {
            command: Some(command.into()),
            args: args.into_iter().collect(),
            ..McpServerConfig::empty()
        }
    }

    /// A Streamable HTTP server at `url`, every other key at its default.
    pub fn http(url: impl Into<String>) -> Self {
        McpServerConfig {
            url: Some(url.into()),
            ..McpServerConfig::empty()
        }
    }

    pub(crate) fn empty() -> Self {
        McpServerConfig {
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            env_secrets: BTreeMap::new(),
            cwd: None,
            url: None,
            headers: BTreeMap::new(),
            secrets: Vec::new(),
            allow_private: Vec::new(),
            timeout_secs: default_timeout_secs(),
            startup_timeout_secs: default_startup_timeout_secs(),
            enabled: true,
            tools_allow: default_allow(),
            tools_deny: Vec::new(),
            max_output_kb: default_max_output_kb(),
            protocol: ProtocolMode::Auto,
        }
    }

    /// Makes a relative `cwd`, and a relative `command` path (one containing a `/`), relative to
    /// `base` (the directory of chitin.toml). A bare command name stays a PATH lookup.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(cwd) = &self.cwd
            && cwd.is_relative()
        {
            self.cwd = Some(base.join(cwd));
        }
        if let Some(command) = &self.command
            && command.contains('/')
            && Path::new(command).is_relative()
        {
            self.command = Some(base.join(command).to_string_lossy().into_owned());
        }
    }

    /// Per-call limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Start-up limit.
    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout_secs)
    }

    /// Whether the server's tool `tool` (its own name) is offered.
    pub fn allows_tool(&self, tool: &str) -> bool {
        let matches = |pattern: &String| tool_matches(pattern, tool);
        self.tools_allow.iter().any(matches) && !self.tools_deny.iter().any(matches)
    }

    /// Checks the server `id`'s config; the error says what to change, naming
    /// `[mcp.<id>]`.
    pub fn validate(&self, id: &str) -> Result<(), String> {
        self.transport(id).map(|_| ())
    }

    pub(crate) fn transport(&self, id: &str) -> Result<Transport, String> {
        check_server_id(id)?;
        let at = format!("[mcp.{id}]");
        if self.timeout_secs == 0 || self.startup_timeout_secs == 0 {
            return Err(format!(
                "{at}: timeout_secs and startup_timeout_secs must be at least 1"
            ));
        }
        if self.max_output_kb == 0 {
            return Err(format!("{at}: max_output_kb must be at least 1"));
        }
        for pattern in self.tools_allow.iter().chain(&self.tools_deny) {
            if pattern.is_empty() || pattern.trim_end_matches('*').contains('*') {
                return Err(format!(
                    "{at}: tool pattern `{pattern}` is not supported; write `*`, an exact tool \
                     name, or a prefix ending in `*`"
                ));
            }
        }
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => Err(format!(
                "{at} sets both `command` and `url`; a server is either a program to run (stdio) \
                 or an HTTP endpoint, not both"
            )),
            (None, None) => Err(format!(
                "{at} needs `command = \"...\"` (a program speaking MCP on stdio) or `url = \
                 \"https://...\"` (a Streamable HTTP endpoint)"
            )),
            (Some(command), None) => {
                let http_only = [
                    ("headers", !self.headers.is_empty()),
                    ("secrets", !self.secrets.is_empty()),
                    ("allow_private", !self.allow_private.is_empty()),
                ];
                if let Some((key, _)) = http_only.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "{at}: `{key}` is for HTTP servers (`url`); a stdio server takes its \
                         credentials from `env_secrets`"
                    ));
                }
                if command.trim().is_empty() {
                    return Err(format!("{at}: `command` is empty"));
                }
                for name in self.env.keys().chain(self.env_secrets.keys()) {
                    if !is_env_name(name) {
                        return Err(format!(
                            "{at}: `{name}` is not a valid environment variable name (letters, \
                             digits and `_`, not starting with a digit)"
                        ));
                    }
                }
                if let Some(name) = self.env.keys().find(|k| self.env_secrets.contains_key(*k)) {
                    return Err(format!(
                        "{at}: `{name}` is in both `env` and `env_secrets`; keep one"
                    ));
                }
                if let Some((name, key)) = self
                    .env_secrets
                    .iter()
                    .find(|(_, key)| !chitin_secrets::is_valid_name(key))
                {
                    return Err(format!(
                        "{at}: env_secrets.{name} names store key `{key}`, which is not a valid \
                         secret name"
                    ));
                }
                Ok(Transport::Stdio {
                    command: command.clone(),
                    args: self.args.clone(),
                    env: self.env.clone(),
                    env_secrets: self.env_secrets.clone(),
                    cwd: self.cwd.clone(),
                })
            }
            (None, Some(raw)) => {
                let stdio_only = [
                    ("args", !self.args.is_empty()),
                    ("env", !self.env.is_empty()),
                    ("env_secrets", !self.env_secrets.is_empty()),
                    ("cwd", self.cwd.is_some()),
                ];
                if let Some((key, _)) = stdio_only.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "{at}: `{key}` is for stdio servers (`command`); an HTTP server takes \
                         `headers` and `secrets`"
                    ));
                }
                let url = url::Url::parse(raw)
                    .map_err(|e| format!("{at}: url `{raw}` is not a valid URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(format!(
                        "{at}: url `{raw}` must be http:// or https:// (Streamable HTTP)"
                    ));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(format!("{at}: url `{raw}` has no host"));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(format!(
                        "{at}: url `{raw}` has credentials before `@`; put them in `headers` \
                         with a secret instead"
                    ));
                }
                for secret in &self.secrets {
                    for (what, name) in [("name", secret.name()), ("store key", secret.store_key())]
                    {
                        if !chitin_secrets::is_valid_name(name) {
                            return Err(format!(
                                "{at}: secret {what} `{name}` is not a valid secret name"
                            ));
                        }
                    }
                }
                for (name, value) in &self.headers {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(format!("{at}: `{name}` is not a valid header name"));
                    }
                    if http::HeaderValue::from_str(value).is_err() {
                        return Err(format!(
                            "{at}: header `{name}` has an invalid value (a line break or another \
                             control character)"
                        ));
                    }
                    for (_, placeholder) in chitin_secrets::find_placeholders(value) {
                        if !self.secrets.iter().any(|s| s.name() == placeholder) {
                            return Err(format!(
                                "{at}: header `{name}` uses {{{{secret:{placeholder}}}}}, which \
                                 is not in `secrets`; add secrets = [\"{placeholder}\"]"
                            ));
                        }
                    }
                }
                let allow_private = self
                    .allow_private
                    .iter()
                    .map(|net| parse_net(net).map_err(|e| format!("{at}: allow_private: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Transport::Http {
                    url,
                    headers: self.headers.clone(),
                    secrets: self.secrets.clone(),
                    allow_private,
                })
            }
        }
    }
}

/// `10.0.0.0/8`, or a single address (`127.0.0.1` = `/32`).
fn parse_net(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{raw}` is not an address range such as \"127.0.0.1/32\""))
}

/// Server ids become part of tool names: 1 to 32 of `A-Z a-z 0-9 _ -`, without `__` (the
/// separator in `mcp__<server>__<tool>`).
pub(crate) fn check_server_id(id: &str) -> Result<(), String> {
    let valid_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if id.is_empty() || id.len() > MAX_SERVER_ID_LEN || !valid_chars || id.contains("__") {
        return Err(format!(
            "[mcp.{id}]: a server id is 1 to {MAX_SERVER_ID_LEN} letters, digits, `_` or `-`, \
             without `__` (it becomes part of the tool names mcp__<id>__<tool>)"
        ));
    }
    Ok(())
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `*` (everything), an exact name, or a prefix ending in `*` (as in `[agents]` tool lists).
fn tool_matches(pattern: &str, tool: &str) -> bool {
    pattern == "*"
        || pattern == tool
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| tool.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<McpConfig, String> {
        #[derive(Deserialize)]
        struct File {
            mcp: McpConfig,
        }
        toml::from_str::<File>(toml_text)
            .map(|f| f.mcp)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn stdio_and_http_servers_parse_with_defaults() {
        let config = parse(
            r#"
            [mcp.files]
            command = "npx"
            args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv/notes"]
            env = { LOG_LEVEL = "debug" }
            env_secrets = { GITHUB_TOKEN = "github-token" }

            [mcp.remote]
            url = "https://mcp.example.com/mcp"
            headers = { Authorization = "Bearer {{secret:REMOTE_TOKEN}}" }
            secrets = ["REMOTE_TOKEN", { name = "OTHER", store_key = "other-key" }]
            timeout_secs = 10
            tools_allow = ["search*"]
            tools_deny = ["search_admin"]
            "#,
        )
        .expect("parses");
        let files = &config["files"];
        assert_eq!(files.timeout_secs, 60);
        assert!(files.enabled);
        assert_eq!(files.tools_allow, ["*"]);
        assert_eq!(files.protocol, ProtocolMode::Auto);
        assert!(matches!(
            files.transport("files"),
            Ok(Transport::Stdio { ref command, .. }) if command == "npx"
        ));
        let remote = &config["remote"];
        assert_eq!(remote.secrets[1].store_key(), "other-key");
        assert_eq!(remote.secrets[0].store_key(), "REMOTE_TOKEN");
        assert!(remote.validate("remote").is_ok());
        assert!(remote.allows_tool("search_docs"));
        assert!(!remote.allows_tool("search_admin"));
        assert!(!remote.allows_tool("fetch"));
    }

    #[test]
    fn unknown_keys_and_mixed_transports_are_refused() {
        let err = parse("[mcp.x]\ncommand = \"a\"\nbogus = 1\n").expect_err("unknown key");
        assert!(err.contains("bogus"), "{err}");

        let both = McpServerConfig {
            url: Some("https://a.example".into()),
            ..McpServerConfig::stdio("a", [])
        };
        let err = both.validate("x").expect_err("both");
        assert!(err.contains("both `command` and `url`"), "{err}");

        let err = McpServerConfig {
            headers: BTreeMap::from([("X".into(), "y".into())]),
            ..McpServerConfig::stdio("a", [])
        }
        .validate("x")
        .expect_err("headers on stdio");
        assert!(err.contains("`headers` is for HTTP servers"), "{err}");

        let err = McpServerConfig {
            env: BTreeMap::from([("A".into(), "b".into())]),
            ..McpServerConfig::http("https://a.example/mcp")
        }
        .validate("x")
        .expect_err("env on http");
        assert!(err.contains("`env` is for stdio servers"), "{err}");
    }

    #[test]
    fn header_placeholders_must_name_a_listed_secret() {
        let config = McpServerConfig {
            headers: BTreeMap::from([("Authorization".into(), "Bearer {{secret:TOKEN}}".into())]),
            ..McpServerConfig::http("https://a.example/mcp")
        };
        let err = config.validate("x").expect_err("unlisted secret");
        assert!(err.contains("add secrets = [\"TOKEN\"]"), "{err}");
        let config = McpServerConfig {
            secrets: vec![SecretRef::Name("TOKEN".into())],
            ..config
        };
        assert!(config.validate("x").is_ok());
    }

    #[test]
    fn server_ids_and_patterns_are_checked() {
        let ok = McpServerConfig::stdio("a", []);
        for bad in ["", "a__b", "has space", "dots.are.out", &"x".repeat(33)] {
            let err = ok.validate(bad).expect_err(bad);
            assert!(err.contains("a server id is"), "{err}");
        }
        assert!(ok.validate("my-server_2").is_ok());
        let err = McpServerConfig {
            tools_allow: vec!["*read*".into()],
            ..ok
        }
        .validate("x")
        .expect_err("infix glob");
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn allow_private_takes_ranges_and_addresses() {
        let config = McpServerConfig {
            allow_private: vec!["127.0.0.1".into(), "10.0.0.0/8".into()],
            ..McpServerConfig::http("http://127.0.0.1:3001/mcp")
        };
        let Ok(Transport::Http { allow_private, .. }) = config.transport("x") else {
            panic!("http transport");
        };
        assert_eq!(allow_private[0].to_string(), "127.0.0.1/32");
        let err = McpServerConfig {
            allow_private: vec!["nope".into()],
            ..config
        }
        .validate("x")
        .expect_err("bad net");
        assert!(err.contains("allow_private"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let mut config = McpServerConfig {
            cwd: Some("data".into()),
            ..McpServerConfig::stdio("./bin/server", [])
        };
        config.resolve_paths(Path::new("/etc/chitin"));
        assert_eq!(config.cwd.as_deref(), Some(Path::new("/etc/chitin/data")));
        assert_eq!(config.command.as_deref(), Some("/etc/chitin/./bin/server"));
        let mut bare = McpServerConfig::stdio("npx", []);
        bare.resolve_paths(Path::new("/etc/chitin"));
        assert_eq!(bare.command.as_deref(), Some("npx"));
    }
}
