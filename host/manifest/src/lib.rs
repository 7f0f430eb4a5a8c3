//! The plugin manifest embedded in every Chitin `.wasm`, and the operator grant that narrows it.
//!
//! A plugin is one WebAssembly component that describes itself: its manifest is stored as JSON in
//! a top-level custom section named [`MANIFEST_SECTION`]. Authors write it as `plugin.toml` and
//! `chitin plugin pack` embeds it ([`embed_manifest`]); the host reads it back without running
//! any code ([`extract_manifest`]). The operator's [`Grant`] can only narrow what the manifest
//! requests; [`Grant::resolve`] checks that and yields the [`EffectiveGrant`] the sandbox
//! enforces.
//!
//! A `plugin.toml` using every field (the tests parse this very example):
//!
//! ```toml
//! id = "telegram"                  # ^[a-z0-9][a-z0-9-]{0,62}$: kv namespace and config keys
//! name = "Telegram"
//! version = "1.2.0"                # semver
//! kind = "channel"                 # tool | provider | channel | mcp-bridge
//! wit_version = "0.2.0"            # the chitin:plugin version it was built against
//! description = "Talks to Telegram bots."
//! language = "rust"                # rust | c | python | js | other (default rust)
//!
//! [capabilities]
//! # Spin-style host patterns: scheme://host[:port], `*.name` for subdomains, ports `*` or a..b.
//! outbound = ["https://api.telegram.org", "https://*.telegram-cdn.org:443", "http://10.0.0.0/8:8000..8010"]
//! # Addresses the egress check would otherwise refuse after DNS (loopback, private, link-local).
//! allow_private = ["10.0.0.0/8"]
//! websocket = ["wss://stream.telegram.org"]
//!
//! [[capabilities.secrets]]
//! name = "TELEGRAM_TOKEN"          # the guest writes {{secret:TELEGRAM_TOKEN}}
//! hosts = ["https://api.telegram.org"]   # the only hosts the value is sent to
//! inject = ["path"]                # header | query | path | body
//! description = "Bot token from @BotFather"
//!
//! [capabilities.kv]
//! quota_bytes = 1_048_576
//!
//! [[capabilities.files]]
//! path = "/workspace"              # guest path; the operator picks the host directory
//! access = "read-write"            # read | read-write
//! description = "Where received files are saved"
//!
//! [[capabilities.config]]
//! key = "api_base"
//! description = "Bot API base URL"
//! required = true
//!
//! [capabilities.webhook]
//! secret = "TELEGRAM_WEBHOOK_SECRET"     # the host verifies with it; the guest never sees it
//! # or: type = "hmac-sha256", signature_header = "X-Slack-Signature",
//! #     timestamp_header = "X-Slack-Request-Timestamp", window_secs = 300, signature_prefix = "v0="
//! # or: type = "hub-signature-256"
//! verification = { type = "secret-token", header = "X-Telegram-Bot-Api-Secret-Token" }
//!
//! [budgets]                        # per call; unset = the language default
//! fuel = 200_000_000
//! memory_mb = 64
//! timeout_ms = 15_000
//! max_output_kb = 1024
//! max_host_calls = 10_000
//! max_http_requests = 16
//! max_response_kb = 4096
//! ```

mod budgets;
mod error;
mod grant;
mod manifest;
pub mod pattern;
mod wasm;

#[cfg(test)]
mod tests;

pub use budgets::{
    Budgets, HARD_MAX_FUEL, HARD_MAX_HOST_CALLS, HARD_MAX_HTTP_REQUESTS, HARD_MAX_MEMORY_MB,
    HARD_MAX_OUTPUT_KB, HARD_MAX_RESPONSE_KB, HARD_MAX_TIMEOUT_MS, ResolvedBudgets,
};
pub use error::ManifestError;
pub use grant::{
    EffectiveGrant, EffectiveSecret, FileGrant, Grant, GrantError, KvGrant, SecretGrant,
};
pub use manifest::{
    Access, Capabilities, ConfigRequest, Effect, FileRequest, InjectAt, KvRequest, Language,
    MAX_KV_QUOTA_BYTES, Manifest, PluginKind, SecretRequest, WebhookRequest, WebhookVerification,
};
pub use pattern::{HostMatch, HostPattern, PatternError, PortMatch};
pub use wasm::{embed_manifest, extract_manifest, read_custom_sections};

/// Name of the custom section that carries the manifest JSON.
pub const MANIFEST_SECTION: &str = "chitin-manifest";
/// The WIT package plugins are built against.
pub const WIT_PACKAGE: &str = "chitin:plugin";
/// The WIT version new plugins should target (`wit/`).
pub const CURRENT_WIT_VERSION: &str = "0.2.0";
/// Every WIT version this Chitin can load, oldest first: the current one, and the older ones the
/// sandbox still links (their WIT is kept in `wit/v<version>/`). See `wit/README.md`.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
