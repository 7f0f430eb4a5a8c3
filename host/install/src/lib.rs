//! Safe plugin installation for Chitin.
//!
//! The pieces `chitin plugin install|update|list|remove|sign|keygen|new` are made of, kept apart
//! from the binary so that each can be tested on its own:
//!
//! - [`signature`]: Ed25519 signatures in a `chitin-signature` custom section (format in the
//!   module documentation), keys in PKCS#8;
//! - [`trust`]: which publisher keys are trusted (`~/.chitin/trusted-keys.toml`, trusted on
//!   first use, plus configured keyrings);
//! - [`lock`]: `~/.chitin/plugins.lock`, what was installed from where, signed by whom, granted
//!   what;
//! - [`describe`] and [`diff`]: consent texts in plain words, and what changes between two
//!   versions of a manifest (with the grant carried over);
//! - [`config_edit`]: `[plugins.<id>]` in chitin.toml, edited with toml_edit;
//! - [`fetch`]: HTTPS downloads with a size limit;
//! - [`check`]: re-checking installed plugins against the lockfile;
//! - [`template`]: the project templates of `chitin plugin new`, embedded at build time.
//!
//! Nothing here compiles or runs a plugin: the manifest is read from its custom section.

pub mod check;
pub mod config_edit;
pub mod describe;
pub mod diff;
pub mod fetch;
pub mod fsutil;
pub mod lock;
pub mod signature;
pub mod template;
pub mod trust;
pub mod wasm;

pub use check::{Configured, Problem, check_installed};
pub use diff::{CapabilityDiff, Change, ChangeKind, carry_grant, extend_grant};
pub use lock::{LOCKFILE, LockEntry, Lockfile, UNSIGNED};
pub use signature::{
    SIGNATURE_SECTION, SignatureError, SignatureStatus, Signer, SigningKey, sign, verify,
};
pub use trust::{Keyring, TRUSTED_KEYS_FILE, Trust};

use sha2::{Digest as _, Sha256};

/// Lowercase hex SHA-256, as `chitin plugin inspect` and the AOT cache print it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The installed plugins' directory under the Chitin home.
pub const PLUGINS_DIR: &str = "plugins";

/// Whether `offered` is an older version than `installed` (semantic versions; pre-releases
/// order before their release). An installed version that does not parse is never newer.
pub fn is_downgrade(installed: &str, offered: &str) -> anyhow::Result<bool> {
    let offered = semver::Version::parse(offered)
        .map_err(|err| anyhow::anyhow!("version {offered}: {err}"))?;
    Ok(semver::Version::parse(installed).is_ok_and(|installed| offered < installed))
}
