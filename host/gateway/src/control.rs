//! What the gateway needs from the process that embeds it, beyond the agent runtime: the
//! configuration file (read and patched by `config.get` / `config.patch`). The `chitin` binary
//! implements it over `chitin.toml`; the gateway never parses the config format itself.

use serde_json::Value;

pub struct ConfigSnapshot {
    /// Where the configuration lives, for the operator's information.
    pub path: String,
    /// Hash of the file's bytes; `config.patch` must name it (compare-and-swap).
    pub hash: String,
    /// The configuration as JSON, as written (before `${VAR}` substitution), secrets redacted.
    pub config: Value,
}

#[derive(Debug)]
pub enum PatchError {
    /// The file changed since the caller read it.
    Conflict { current_hash: String },
    /// The patched configuration does not validate; the message says why.
    Invalid(String),
    /// Reading or writing the file failed.
    Io(String),
}

pub trait ConfigStore: Send + Sync {
    fn get(&self) -> Result<ConfigSnapshot, String>;
    /// Applies an RFC 7396 merge patch; returns the new hash.
    fn patch(&self, base_hash: &str, patch: &Value) -> Result<String, PatchError>;
}
