//! `~/.chitin/plugins.lock`: what was installed, from where, signed by whom, granted what.
//!
//! ```toml
//! version = 1
//!
//! [plugins.weather]
//! version = "1.2.0"
//! sha256 = "…"                        # of the installed file, signature section included
//! signer = "ed25519:5f0c…"            # or "unsigned"
//! publisher = "Acme Corp"             # as trusted (empty when unsigned)
//! source = "https://example.com/weather.wasm"   # or the absolute path it was installed from
//! file = "plugins/weather.wasm"       # relative to the Chitin home
//! installed_at = "2026-05-01T12:34:56Z"
//!
//! [plugins.weather.grant]             # the grant as installed (same shape as in chitin.toml)
//! outbound = ["https://api.weather.example"]
//! ```
//!
//! Written atomically (temporary file + rename) by install, update and remove; `chitin plugin
//! list --verify` checks the files against it.

use std::collections::BTreeMap;
use std::path::Path;

use chitin_manifest::Grant;
use serde::{Deserialize, Serialize};

pub const LOCKFILE: &str = "plugins.lock";
/// The `signer` of a plugin installed without a signature.
pub const UNSIGNED: &str = "unsigned";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default)]
    pub plugins: BTreeMap<String, LockEntry>,
}

impl Default for Lockfile {
    fn default() -> Self {
        Lockfile {
            version: FORMAT_VERSION,
            plugins: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub version: String,
    pub sha256: String,
    /// A key id, or [`UNSIGNED`].
    pub signer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publisher: String,
    pub source: String,
    /// The installed `.wasm`, relative to the Chitin home.
    pub file: String,
    pub installed_at: String,
    #[serde(default)]
    pub grant: Grant,
}

impl Lockfile {
    /// Reads the lockfile; a missing file is an empty one.
    pub fn load(path: &Path) -> anyhow::Result<Lockfile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lockfile::default());
            }
            Err(err) => anyhow::bail!("reading {}: {err}", path.display()),
        };
        let lock: Lockfile =
            toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        if lock.version != FORMAT_VERSION {
            anyhow::bail!(
                "{}: lockfile version {} is not supported (this Chitin writes version \
                 {FORMAT_VERSION}); upgrade Chitin",
                path.display(),
                lock.version
            );
        }
        Ok(lock)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = String::from(
            "# Written by `chitin plugin install|update|remove`; `chitin plugin list --verify`\n\
             # checks the installed files against it. Do not edit.\n\n",
        );
        text.push_str(&toml::to_string(self)?);
        crate::fsutil::write_atomically(path, text.as_bytes(), 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCKFILE);
        assert_eq!(Lockfile::load(&path).unwrap(), Lockfile::default());
        let mut lock = Lockfile::default();
        let grant: Grant = toml::from_str(
            "outbound = [\"https://api.example.com\"]\nsecrets = [{ name = \"KEY\" }]\n\
             kv = { quota_bytes = 1024 }\n[budgets]\ntimeout_ms = 1000\n",
        )
        .unwrap();
        lock.plugins.insert(
            "weather".into(),
            LockEntry {
                version: "1.0.0".into(),
                sha256: "ab".repeat(32),
                signer: UNSIGNED.into(),
                publisher: String::new(),
                source: "/tmp/weather.wasm".into(),
                file: "plugins/weather.wasm".into(),
                installed_at: "2026-05-01T12:34:56Z".into(),
                grant,
            },
        );
        lock.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[plugins.weather]"), "{text}");
        assert!(text.contains("signer = \"unsigned\""), "{text}");
        assert_eq!(Lockfile::load(&path).unwrap(), lock);
    }
}
