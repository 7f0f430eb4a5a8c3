//! The manifest: what a plugin is and what it asks to be allowed to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::budgets::Budgets;
use crate::pattern::{HostMatch, HostPattern, PortMatch};
use crate::{CURRENT_WIT_VERSION, ManifestError, SUPPORTED_WIT_VERSIONS, WIT_PACKAGE};

/// Largest key-value quota a plugin may request.
pub const MAX_KV_QUOTA_BYTES: u64 = 1024 * 1024 * 1024;

/// A plugin's self-description, embedded as JSON in its `.wasm` and authored as `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`: used as the kv namespace and in config keys.
    pub id: String,
    pub name: String,
    /// Semantic version of the plugin (`x.y.z`, pre-release and build metadata allowed).
    pub version: String,
    pub kind: PluginKind,
    /// The version of the `chitin:plugin` WIT package the plugin was built against.
    pub wit_version: String,
    pub description: String,
    #[serde(default)]
    pub language: Language,
    #[serde(default, skip_serializing_if = "Capabilities::is_empty")]
    pub capabilities: Capabilities,
    #[serde(default, skip_serializing_if = "budgets_are_default")]
    pub budgets: Budgets,
    /// What each tool does, by tool name (`[effects] web_fetch = ["network",
    /// "reads-untrusted"]`). A tool not listed is assumed to do everything: the agent treats
    /// its output as untrusted and gates it as writing and sending.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub effects: BTreeMap<String, Vec<Effect>>,
}

/// A tool's effects, which decide what an unattended run may still do once it has read
/// untrusted input (the origin gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Its output can carry text from outside (web pages, mail, other people's files).
    ReadsUntrusted,
    /// Changes files or other state.
    Writes,
    /// Sends something to people or services outside.
    Sends,
    /// Talks to the network.
    Network,
}

impl Effect {
    pub const ALL: [Effect; 4] = [
        Effect::ReadsUntrusted,
        Effect::Writes,
        Effect::Sends,
        Effect::Network,
    ];
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::ReadsUntrusted => "reads-untrusted",
            Effect::Writes => "writes",
            Effect::Sends => "sends",
            Effect::Network => "network",
        })
    }
}

fn budgets_are_default(b: &Budgets) -> bool {
    *b == Budgets::default()
}

/// Which WIT world the plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Tool,
    Provider,
    Channel,
    McpBridge,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Tool => "tool",
            PluginKind::Provider => "provider",
            PluginKind::Channel => "channel",
            PluginKind::McpBridge => "mcp-bridge",
        })
    }
}

/// The source language, which decides default budgets and instance reuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Rust,
    C,
    Python,
    Js,
    Other,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Python => "python",
            Language::Js => "js",
            Language::Other => "other",
        })
    }
}

/// What the plugin asks for. Everything absent is denied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// HTTP(S) hosts in Spin's pattern syntax, e.g. `https://api.telegram.org`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<String>,
    /// Address ranges (CIDR, or a single address) the plugin may reach even though they are
    /// loopback, private or link-local, which the egress layer otherwise refuses after DNS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_private: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigRequest>,
    /// Host patterns with a `ws` or `wss` scheme.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websocket: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookRequest>,
}

impl Capabilities {
    pub fn is_empty(&self) -> bool {
        *self == Capabilities::default()
    }
}

/// A secret the plugin names as `{{secret:NAME}}`; the host substitutes the value at the network
/// edge, only for requests to `hosts`, only at the `inject` positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    /// `[A-Za-z0-9_.-]{1,128}`.
    pub name: String,
    /// The audience: host patterns the value may be sent to. Non-empty.
    pub hosts: Vec<String>,
    /// Where in a request the value may appear. Non-empty.
    pub inject: Vec<InjectAt>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectAt {
    Header,
    Query,
    Path,
    Body,
}

impl fmt::Display for InjectAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InjectAt::Header => "header",
            InjectAt::Query => "query",
            InjectAt::Path => "path",
            InjectAt::Body => "body",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvRequest {
    /// More than 0 and at most 1 GiB.
    pub quota_bytes: u64,
}

/// A directory the plugin wants to see at `path` inside its sandbox. Which host directory backs
/// it is the operator's choice, made in the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// Absolute, normalized guest path such as `/workspace`.
    pub path: String,
    pub access: Access,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// File access; `Read < ReadWrite`, so a grant is narrower when its access is `<=` the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        })
    }
}

/// A configuration value the operator sets under `[plugins.<id>.grant.config]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRequest {
    /// `[A-Za-z0-9_-]{1,128}`: no dots, so it is a plain TOML key.
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// The plugin receives webhooks; the host verifies each one before the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub verification: WebhookVerification,
    /// Name of the secret the host verifies with; the guest never sees it.
    pub secret: String,
}

fn default_window_secs() -> u64 {
    300
}

fn is_default_window(secs: &u64) -> bool {
    *secs == default_window_secs()
}

/// How the host checks that a webhook really comes from the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum WebhookVerification {
    /// HMAC-SHA256 of the body (or, with `timestamp_header`, of Slack's base string
    /// `v0:{timestamp}:{body}`), compared with `signature_header` after removing
    /// `signature_prefix` (e.g. `v0=`). Requests older than `window_secs` are refused.
    HmacSha256 {
        signature_header: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
        #[serde(
            default = "default_window_secs",
            skip_serializing_if = "is_default_window"
        )]
        window_secs: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        signature_prefix: String,
    },
    /// The secret itself arrives in a header (Telegram's `X-Telegram-Bot-Api-Secret-Token`).
    SecretToken { header: String },
    /// Meta's `X-Hub-Signature-256: sha256=<hex HMAC of the body>` (WhatsApp, Messenger).
    #[serde(rename = "hub-signature-256")]
    HubSignature256,
}

/// Longest replay window a webhook may ask for: a day.
const MAX_WINDOW_SECS: u64 = 86_400;

impl Manifest {
    /// Parses the authoring format (`plugin.toml`) and validates it.
    pub fn from_toml(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(ManifestError::Toml)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses the JSON payload of the `chitin-manifest` section and validates it.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Compact JSON with fields in declaration order, so packing the same manifest twice gives
    /// the same bytes (and the same plugin digest).
    pub fn to_json(&self) -> String {
        // Every map in the manifest has string keys and every value is plain data, so
        // serialization cannot fail; a failure would be a bug in this crate, not bad input.
        serde_json::to_string(self).expect("a Manifest always serializes to JSON")
    }

    /// Checks every field rule. The WIT version is only checked for syntax here: whether this
    /// Chitin can run it is [`Manifest::check_wit_version`], kept apart so `inspect` can still
    /// show a plugin built for another version.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_plugin_id(&self.id) {
            return Err(invalid(
                "id",
                &self.id,
                "use 1 to 63 lowercase letters, digits and `-`, starting with a letter or digit \
                 (e.g. `web-fetch`); the id names the plugin's storage and config",
            ));
        }
        check_text("name", &self.name, false, true)?;
        check_text("description", &self.description, true, false)?;
        semver::Version::parse(&self.version).map_err(|err| {
            invalid(
                "version",
                &self.version,
                &format!("{err}; write a semantic version such as 1.2.3 or 0.1.0-beta.1"),
            )
        })?;
        semver::Version::parse(&self.wit_version).map_err(|err| {
            invalid(
                "wit_version",
                &self.wit_version,
                &format!(
                    "{err}; write the {WIT_PACKAGE} version the plugin was built against, \
                     e.g. {CURRENT_WIT_VERSION}"
                ),
            )
        })?;
        self.capabilities.validate()?;
        self.budgets.resolve(self.language)?;
        for tool in self.effects.keys() {
            if tool.is_empty()
                || tool.len() > 64
                || !tool
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    "effects",
                    tool,
                    "keys are tool names: 1 to 64 letters, digits, `_` and `-`",
                ));
            }
        }
        Ok(())
    }

    /// Whether this Chitin can run a plugin built against the manifest's WIT version.
    pub fn check_wit_version(&self) -> Result<(), ManifestError> {
        if SUPPORTED_WIT_VERSIONS.contains(&self.wit_version.as_str()) {
            return Ok(());
        }
        let newer = match (
            semver::Version::parse(&self.wit_version),
            semver::Version::parse(CURRENT_WIT_VERSION),
        ) {
            (Ok(found), Ok(current)) => found > current,
            _ => false,
        };
        let fix = if newer {
            "upgrade Chitin to run this plugin, or use a release of the plugin built for a supported version"
        } else {
            "rebuild the plugin with a current chitin SDK, or use a newer release of it"
        };
        Err(ManifestError::UnsupportedWitVersion {
            plugin: self.id.clone(),
            package: WIT_PACKAGE,
            found: self.wit_version.clone(),
            supported: SUPPORTED_WIT_VERSIONS
                .iter()
                .map(|v| v.to_string())
                .collect(),
            fix: fix.to_string(),
        })
    }

    /// Plain-English lines for the consent prompt and `chitin plugin inspect`.
    pub fn describe_capabilities(&self) -> Vec<String> {
        let caps = &self.capabilities;
        let mut lines = Vec::new();
        for text in &caps.outbound {
            lines.push(format!("connect to {}", describe_pattern_text(text)));
        }
        for net in &caps.allow_private {
            lines.push(format!(
                "reach loopback, private or link-local addresses in {net} (normally blocked)"
            ));
        }
        for secret in &caps.secrets {
            let hosts: Vec<String> = secret
                .hosts
                .iter()
                .map(|h| HostPattern::parse(h).map_or_else(|_| h.clone(), |p| p.short_form()))
                .collect();
            let places: Vec<&str> = secret
                .inject
                .iter()
                .map(|at| match at {
                    InjectAt::Header => "a header",
                    InjectAt::Query => "the query string",
                    InjectAt::Path => "the path",
                    InjectAt::Body => "the body",
                })
                .collect();
            lines.push(format!(
                "send secret {} only to {}, in {}{}",
                secret.name,
                join_or(&hosts),
                join_or(&places),
                describe_suffix(&secret.description)
            ));
        }
        if let Some(kv) = &caps.kv {
            lines.push(format!(
                "store up to {} in its key-value namespace",
                human_bytes(kv.quota_bytes)
            ));
        }
        for file in &caps.files {
            let verb = match file.access {
                Access::Read => "read files",
                Access::ReadWrite => "read and write files",
            };
            lines.push(format!(
                "{verb} under {}{}",
                file.path,
                describe_suffix(&file.description)
            ));
        }
        for config in &caps.config {
            lines.push(format!(
                "read config `{}`{}{}",
                config.key,
                if config.required { " (required)" } else { "" },
                describe_suffix(&config.description)
            ));
        }
        for text in &caps.websocket {
            lines.push(format!(
                "open websocket connections to {}",
                describe_pattern_text(text)
            ));
        }
        if let Some(webhook) = &caps.webhook {
            let how = match &webhook.verification {
                WebhookVerification::HmacSha256 {
                    signature_header,
                    timestamp_header: Some(ts),
                    window_secs,
                    ..
                } => format!(
                    "an HMAC-SHA256 signature in {signature_header} over timestamp ({ts}, at most \
                     {window_secs}s old) and body"
                ),
                WebhookVerification::HmacSha256 {
                    signature_header, ..
                } => format!("an HMAC-SHA256 signature of the body in {signature_header}"),
                WebhookVerification::SecretToken { header } => {
                    format!("a shared token in {header}")
                }
                WebhookVerification::HubSignature256 => {
                    "an X-Hub-Signature-256 HMAC of the body".to_string()
                }
            };
            lines.push(format!(
                "receive webhooks, which the host verifies by {how} using secret {} (the plugin \
                 never sees it)",
                webhook.secret
            ));
        }
        if lines.is_empty() {
            lines.push("no capabilities requested".to_string());
        }
        lines
    }
}

impl Capabilities {
    fn validate(&self) -> Result<(), ManifestError> {
        let outbound = parse_patterns(
            "capabilities.outbound",
            &self.outbound,
            &["http", "https"],
            "outbound is for HTTP; websocket hosts go in capabilities.websocket",
        )?;
        let websocket = parse_patterns(
            "capabilities.websocket",
            &self.websocket,
            &["ws", "wss"],
            "websocket hosts need a ws:// or wss:// scheme",
        )?;

        let mut nets = BTreeSet::new();
        for (i, text) in self.allow_private.iter().enumerate() {
            let field = format!("capabilities.allow_private[{i}]");
            let net = parse_net(text).map_err(|problem| invalid(&field, text, &problem))?;
            if !nets.insert(net) {
                return Err(duplicate(&field, text));
            }
        }

        let mut secret_names = BTreeSet::new();
        for (i, secret) in self.secrets.iter().enumerate() {
            let field = format!("capabilities.secrets[{i}]");
            check_secret_name(&format!("{field}.name"), &secret.name)?;
            if !secret_names.insert(secret.name.as_str()) {
                return Err(duplicate(&format!("{field}.name"), &secret.name));
            }
            if secret.hosts.is_empty() {
                return Err(invalid(
                    &format!("{field}.hosts"),
                    "[]",
                    &format!(
                        "say which hosts may receive secret {}, e.g. hosts = [\"https://api.example.com\"]",
                        secret.name
                    ),
                ));
            }
            let audience = parse_patterns(
                &format!("{field}.hosts"),
                &secret.hosts,
                &["http", "https", "ws", "wss"],
                "",
            )?;
            for (j, pattern) in audience.iter().enumerate() {
                let reachable = outbound.iter().chain(&websocket).any(|p| p.covers(pattern));
                if !reachable {
                    return Err(invalid(
                        &format!("{field}.hosts[{j}]"),
                        &secret.hosts[j],
                        "the plugin does not request access to this host, so the secret could \
                         never be sent there; add it to capabilities.outbound (or \
                         capabilities.websocket), or remove it from the audience",
                    ));
                }
            }
            if secret.inject.is_empty() {
                return Err(invalid(
                    &format!("{field}.inject"),
                    "[]",
                    "say where the secret may appear: any of \"header\", \"query\", \"path\", \"body\"",
                ));
            }
            let mut places = BTreeSet::new();
            for at in &secret.inject {
                if !places.insert(at) {
                    return Err(duplicate(&format!("{field}.inject"), &at.to_string()));
                }
            }
            check_text(
                &format!("{field}.description"),
                &secret.description,
                true,
                false,
            )?;
        }

        if let Some(kv) = &self.kv
            && (kv.quota_bytes == 0 || kv.quota_bytes > MAX_KV_QUOTA_BYTES)
        {
            return Err(invalid(
                "capabilities.kv.quota_bytes",
                &kv.quota_bytes.to_string(),
                &format!(
                    "request between 1 and {MAX_KV_QUOTA_BYTES} bytes (1 GiB), or remove [capabilities.kv]"
                ),
            ));
        }

        let mut paths = BTreeSet::new();
        for (i, file) in self.files.iter().enumerate() {
            let field = format!("capabilities.files[{i}]");
            check_guest_path(&format!("{field}.path"), &file.path)?;
            if !paths.insert(file.path.as_str()) {
                return Err(duplicate(&format!("{field}.path"), &file.path));
            }
            check_text(
                &format!("{field}.description"),
                &file.description,
                true,
                false,
            )?;
        }

        let mut keys = BTreeSet::new();
        for (i, config) in self.config.iter().enumerate() {
            let field = format!("capabilities.config[{i}]");
            if !is_config_key(&config.key) {
                return Err(invalid(
                    &format!("{field}.key"),
                    &config.key,
                    "use 1 to 128 letters, digits, `_` and `-` (no dots, so it is a plain TOML key)",
                ));
            }
            if !keys.insert(config.key.as_str()) {
                return Err(duplicate(&format!("{field}.key"), &config.key));
            }
            check_text(
                &format!("{field}.description"),
                &config.description,
                true,
                false,
            )?;
        }

        if let Some(webhook) = &self.webhook {
            check_secret_name("capabilities.webhook.secret", &webhook.secret)?;
            let field = "capabilities.webhook.verification";
            match &webhook.verification {
                WebhookVerification::HmacSha256 {
                    signature_header,
                    timestamp_header,
                    window_secs,
                    signature_prefix,
                } => {
                    check_header_name(&format!("{field}.signature_header"), signature_header)?;
                    if let Some(ts) = timestamp_header {
                        check_header_name(&format!("{field}.timestamp_header"), ts)?;
                    }
                    if *window_secs == 0 || *window_secs > MAX_WINDOW_SECS {
                        return Err(invalid(
                            &format!("{field}.window_secs"),
                            &window_secs.to_string(),
                            &format!(
                                "use 1 to {MAX_WINDOW_SECS} seconds; the default is {}",
                                default_window_secs()
                            ),
                        ));
                    }
                    check_text(
                        &format!("{field}.signature_prefix"),
                        signature_prefix,
                        false,
                        false,
                    )?;
                }
                WebhookVerification::SecretToken { header } => {
                    check_header_name(&format!("{field}.header"), header)?;
                }
                WebhookVerification::HubSignature256 => {}
            }
        }
        Ok(())
    }
}

fn invalid(field: &str, value: &str, problem: &str) -> ManifestError {
    ManifestError::Invalid {
        field: field.to_string(),
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

fn duplicate(field: &str, value: &str) -> ManifestError {
    invalid(
        field,
        value,
        "it is listed twice; remove the duplicate entry",
    )
}

/// Parses a list of patterns, refusing schemes outside `schemes` (a `*` scheme is allowed in
/// `outbound` only, where it still means HTTP) and duplicates.
fn parse_patterns(
    field: &str,
    texts: &[String],
    schemes: &[&str],
    scheme_hint: &str,
) -> Result<Vec<HostPattern>, ManifestError> {
    let mut parsed: Vec<HostPattern> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let pattern = HostPattern::parse(text).map_err(|source| ManifestError::Pattern {
            field: field.clone(),
            source,
        })?;
        let scheme_ok = match &pattern.scheme {
            Some(s) => schemes.contains(&s.as_str()),
            None => true,
        };
        if !scheme_ok {
            let hint = if scheme_hint.is_empty() {
                String::new()
            } else {
                format!("; {scheme_hint}")
            };
            return Err(invalid(
                &field,
                text,
                &format!("the scheme must be one of {}{hint}", schemes.join(", ")),
            ));
        }
        if parsed.contains(&pattern) {
            return Err(duplicate(&field, text));
        }
        parsed.push(pattern);
    }
    Ok(parsed)
}

/// Parses an `allow_private` entry: a CIDR, or one address meaning just that address.
pub(crate) fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = text.parse().map_err(|_| {
        "write an address range in CIDR form such as 127.0.0.1/32, 10.0.0.0/8 or fd00::/8"
            .to_string()
    })?;
    crate::pattern::check_network(net)
}

fn is_plugin_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

pub(crate) fn is_secret_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn check_secret_name(field: &str, name: &str) -> Result<(), ManifestError> {
    if is_secret_name(name) {
        Ok(())
    } else {
        Err(invalid(
            field,
            name,
            "a secret name is 1 to 128 letters, digits, `_`, `.` and `-`, e.g. TELEGRAM_TOKEN",
        ))
    }
}

fn is_config_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn check_header_name(field: &str, name: &str) -> Result<(), ManifestError> {
    // RFC 9110 token characters.
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            name,
            "write an HTTP header name such as X-Signature (letters, digits and `-`)",
        ))
    }
}

/// Refuses empty (when `required`) text and control characters: names and descriptions are
/// printed in the consent prompt, where an escape sequence could rewrite what the operator sees.
fn check_text(
    field: &str,
    text: &str,
    allow_newlines: bool,
    required: bool,
) -> Result<(), ManifestError> {
    if required && text.trim().is_empty() {
        return Err(invalid(field, text, "it must not be empty"));
    }
    let bad = text
        .chars()
        .find(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t')));
    if let Some(c) = bad {
        return Err(invalid(
            field,
            &text.escape_debug().to_string(),
            &format!(
                "it contains the control character {:?}; remove it (it could disguise what the \
                 consent prompt shows)",
                c
            ),
        ));
    }
    Ok(())
}

/// A guest path must be absolute and already normalized, so that what the operator reads in the
/// consent prompt is exactly what the sandbox mounts.
fn check_guest_path(field: &str, path: &str) -> Result<(), ManifestError> {
    if !path.starts_with('/') {
        return Err(invalid(
            field,
            path,
            &format!(
                "guest paths are absolute: write /{}",
                path.trim_start_matches("./")
            ),
        ));
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err(invalid(
            field,
            &path.escape_debug().to_string(),
            "use `/` as the separator and no control characters",
        ));
    }
    if path == "/" {
        return Ok(());
    }
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    if parts.contains(&"..") {
        return Err(invalid(
            field,
            path,
            "`..` is not allowed: name the directory directly, e.g. /workspace",
        ));
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        let normalized: Vec<&str> = parts
            .into_iter()
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        return Err(invalid(
            field,
            path,
            &format!(
                "write the path normalized, without `.`, `//` or a trailing `/`: /{}",
                normalized.join("/")
            ),
        ));
    }
    Ok(())
}

fn describe_pattern_text(text: &str) -> String {
    match HostPattern::parse(text) {
        Ok(p) => describe_pattern(&p),
        // Only reachable for a manifest that was never validated.
        Err(_) => text.to_string(),
    }
}

/// "https://api.telegram.org (port 443)", "any subdomain of slack.com over https (port 443)".
pub(crate) fn describe_pattern(p: &HostPattern) -> String {
    let ports = match p.port {
        PortMatch::Any => "any port".to_string(),
        PortMatch::Port(n) => format!("port {n}"),
        PortMatch::Range(a, b) => format!("ports {a}-{b}"),
    };
    let proto = match &p.scheme {
        Some(s) => s.clone(),
        None => "any protocol".to_string(),
    };
    match (&p.scheme, &p.host) {
        (Some(s), HostMatch::Exact(_) | HostMatch::Ip(_)) => format!("{s}://{} ({ports})", p.host),
        (None, HostMatch::Exact(_) | HostMatch::Ip(_)) => {
            format!("{} over {proto} ({ports})", p.host)
        }
        (_, HostMatch::Any) => format!("any host over {proto} ({ports})"),
        (_, HostMatch::Subdomains(base)) => {
            format!("any subdomain of {base} over {proto} ({ports})")
        }
        (_, HostMatch::Cidr(_)) => format!("any address in {} over {proto} ({ports})", p.host),
    }
}

fn describe_suffix(description: &str) -> String {
    let d = description.trim();
    if d.is_empty() {
        String::new()
    } else {
        format!(": {d}")
    }
}

fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// "1.0 MiB", "512 bytes".
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [
        ("GiB", 1024 * 1024 * 1024),
        ("MiB", 1024 * 1024),
        ("KiB", 1024),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes as f64 / size as f64);
        }
    }
    if bytes == 1 {
        "1 byte".to_string()
    } else {
        format!("{bytes} bytes")
    }
}
