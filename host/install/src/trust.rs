//! Which publisher keys the operator trusts.
//!
//! Two sources, same format: `~/.chitin/trusted-keys.toml`, which `chitin plugin install`
//! writes when the operator trusts a key on first use (or edits by hand), and read-only
//! keyrings an organisation distributes, named with `--keyring FILE` or `$CHITIN_KEYRING`
//! (paths separated like `$PATH`):
//!
//! ```toml
//! [keys."ed25519:5f0c9d1e2a3b4c5d6e7f8091a2b3c4d5"]
//! publisher = "Acme Corp"
//! public_key = "base64 of the raw 32-byte Ed25519 key"
//! added = "2026-05-01T12:34:56Z"                      # optional
//! note = "trusted on first use installing weather 1.0.0"   # optional
//! ```
//!
//! A key is trusted when its id is listed **and** the listed public key is the signer's; every
//! entry's id is checked against its key when the file is read, so a hand-edited entry cannot
//! pair one key's id with another key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::signature::{Signer, check_publisher, key_id};

/// The file in the Chitin home directory.
pub const TRUSTED_KEYS_FILE: &str = "trusted-keys.toml";
/// Extra read-only keyrings, separated like `$PATH`.
pub const KEYRING_ENV: &str = "CHITIN_KEYRING";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringFile {
    #[serde(default)]
    pub keys: BTreeMap<String, TrustedKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    pub publisher: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub added: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What the keyrings say about a signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Listed, with the publisher name recorded when it was trusted and the file that lists it.
    Trusted {
        publisher: String,
        source: PathBuf,
    },
    Unknown,
}

/// The trusted-keys file (writable) and the configured keyrings (read-only).
#[derive(Debug)]
pub struct Keyring {
    trusted_path: PathBuf,
    trusted: KeyringFile,
    configured: Vec<(PathBuf, KeyringFile)>,
}

impl KeyringFile {
    fn load(path: &Path, missing_ok: bool) -> anyhow::Result<KeyringFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if missing_ok && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(KeyringFile::default());
            }
            Err(err) => anyhow::bail!("reading keyring {}: {err}", path.display()),
        };
        let file: KeyringFile =
            toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        for (id, key) in &file.keys {
            let raw = BASE64
                .decode(&key.public_key)
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: keys.\"{id}\".public_key is not a base64 Ed25519 public key (32 bytes)",
                        path.display()
                    )
                })?;
            let actual = key_id(&raw);
            if *id != actual {
                anyhow::bail!(
                    "{}: the entry \"{id}\" holds the public key of {actual}; an entry's name must \
                     be its key's id",
                    path.display()
                );
            }
            check_publisher(&key.publisher).map_err(|err| {
                anyhow::anyhow!("{}: keys.\"{id}\".publisher: {err}", path.display())
            })?;
        }
        Ok(file)
    }
}

impl Keyring {
    /// Reads `trusted_path` (missing = empty) and every configured keyring (missing = error).
    pub fn load(trusted_path: &Path, configured: &[PathBuf]) -> anyhow::Result<Keyring> {
        let trusted = KeyringFile::load(trusted_path, true)?;
        let configured = configured
            .iter()
            .map(|p| Ok((p.clone(), KeyringFile::load(p, false)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Keyring {
            trusted_path: trusted_path.to_path_buf(),
            trusted,
            configured,
        })
    }

    /// Keyrings named by `$CHITIN_KEYRING`.
    pub fn paths_from_env() -> Vec<PathBuf> {
        std::env::var_os(KEYRING_ENV)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn check(&self, signer: &Signer) -> Trust {
        let wanted = signer.public_key_base64();
        std::iter::once((&self.trusted_path, &self.trusted))
            .chain(self.configured.iter().map(|(p, f)| (p, f)))
            .find_map(|(path, file)| {
                let key = file.keys.get(&signer.key_id)?;
                // Both sides are canonical base64 of 32 bytes, so equal keys are equal strings.
                (key.public_key == wanted).then(|| Trust::Trusted {
                    publisher: key.publisher.clone(),
                    source: path.clone(),
                })
            })
            .unwrap_or(Trust::Unknown)
    }

    /// Adds `signer` to the trusted-keys file (in memory; [`Keyring::save`] writes it).
    pub fn trust(&mut self, signer: &Signer, note: &str) {
        self.trusted.keys.insert(
            signer.key_id.clone(),
            TrustedKey {
                publisher: signer.publisher.clone(),
                public_key: signer.public_key_base64(),
                added: crate::fsutil::now_rfc3339(),
                note: note.to_string(),
            },
        );
    }

    pub fn save(&self) -> anyhow::Result<()> {
        let mut text = String::from(
            "# Publisher keys trusted to sign Chitin plugins, by key id. `chitin plugin install`\n\
             # adds a key when you trust it; delete an entry to stop trusting it.\n\n",
        );
        text.push_str(&toml::to_string(&self.trusted)?);
        crate::fsutil::write_atomically(&self.trusted_path, text.as_bytes(), 0o600)
    }

    pub fn trusted_path(&self) -> &Path {
        &self.trusted_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SigningKey;

    fn signer(key: &SigningKey, publisher: &str) -> Signer {
        Signer {
            key_id: key.key_id(),
            public_key: key.public_key().to_vec(),
            publisher: publisher.to_string(),
        }
    }

    #[test]
    fn trust_on_first_use_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TRUSTED_KEYS_FILE);
        let (key, _) = SigningKey::generate().unwrap();
        let mut ring = Keyring::load(&path, &[]).unwrap();
        assert_eq!(ring.check(&signer(&key, "Acme")), Trust::Unknown);
        ring.trust(&signer(&key, "Acme"), "test");
        ring.save().unwrap();
        let ring = Keyring::load(&path, &[]).unwrap();
        assert_eq!(
            ring.check(&signer(&key, "Whatever it claims now")),
            Trust::Trusted {
                publisher: "Acme".into(),
                source: path.clone()
            }
        );
        // Same id, another key: not trusted.
        let (other, _) = SigningKey::generate().unwrap();
        let mut impostor = signer(&other, "Acme");
        impostor.key_id = key.key_id();
        assert_eq!(ring.check(&impostor), Trust::Unknown);
    }

    #[test]
    fn configured_keyrings_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = SigningKey::generate().unwrap();
        let (other, _) = SigningKey::generate().unwrap();
        let org = dir.path().join("org.toml");
        std::fs::write(
            &org,
            format!(
                "[keys.\"{}\"]\npublisher = \"Org\"\npublic_key = \"{}\"\n",
                key.key_id(),
                key.public_key_base64()
            ),
        )
        .unwrap();
        let ring =
            Keyring::load(&dir.path().join("none.toml"), std::slice::from_ref(&org)).unwrap();
        assert!(matches!(
            ring.check(&signer(&key, "x")),
            Trust::Trusted { publisher, .. } if publisher == "Org"
        ));
        // An entry whose id is not its key's is refused when the file is read.
        std::fs::write(
            &org,
            format!(
                "[keys.\"{}\"]\npublisher = \"Org\"\npublic_key = \"{}\"\n",
                key.key_id(),
                other.public_key_base64()
            ),
        )
        .unwrap();
        let err =
            Keyring::load(&dir.path().join("none.toml"), std::slice::from_ref(&org)).unwrap_err();
        assert!(err.to_string().contains("must be its key's id"), "{err}");
        // A configured keyring that does not exist is an error, not an empty keyring.
        assert!(Keyring::load(&dir.path().join("none.toml"), &[dir.path().join("nope")]).is_err());
    }
}
