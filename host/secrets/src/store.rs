use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::error::SecretsError;
use crate::key::{Key, KeySource, load_key};
use crate::value::{SecretValue, wipe};

const FORMAT: &str = "chitin-secrets";
const VERSION: u64 = 1;
/// Binds the ciphertext to this format and version: a blob encrypted for any other purpose
/// with the same key does not authenticate here.
const AAD: &[u8] = b"chitin-secrets-v1";
const NONCE_LEN: usize = 24;

/// What a secret looks like from the outside: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    /// When it was last set, in seconds since the Unix epoch.
    pub updated_unix: u64,
    /// Length of the value in bytes.
    pub length: usize,
}

struct Entry {
    value: SecretValue,
    updated_unix: u64,
}

/// The encrypted secret store: one file, rewritten whole on every change.
///
/// The file is JSON, `{"format":"chitin-secrets","version":1,"nonce":"<b64>","ciphertext":"<b64>"}`,
/// where the ciphertext is XChaCha20-Poly1305 (fresh random 24-byte nonce on every write,
/// AAD `chitin-secrets-v1`) over the JSON of the entries. Writes go to a temporary file in the
/// same directory that is fsynced and renamed over the store, then the directory is fsynced,
/// so a crash leaves either the old or the new store, never a mix. The file is mode 0600.
///
/// Two processes changing the store at the same moment is not coordinated: the last write
/// wins. The CLI and the gateway only change it on an operator's command.
pub struct SecretStore {
    path: PathBuf,
    key: Key,
    key_source: String,
    entries: BTreeMap<String, Entry>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("path", &self.path)
            .field("key_source", &self.key_source)
            .field("secrets", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: Option<String>,
    version: Option<u64>,
    nonce: Option<String>,
    ciphertext: Option<String>,
}

#[derive(Serialize)]
struct PlainOut<'a> {
    entries: BTreeMap<&'a str, EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    value: &'a str,
    updated_unix: u64,
}

#[derive(Deserialize)]
struct PlainIn {
    entries: BTreeMap<String, EntryIn>,
}

#[derive(Deserialize)]
struct EntryIn {
    value: String,
    updated_unix: u64,
}

impl SecretStore {
    /// Opens the encrypted store at `path` (e.g. `~/.chitin/secrets.enc`), or creates an empty
    /// one when the file is absent. With [`KeySource::File`] the key file is created (mode
    /// 0600, 32 random bytes in base64) when missing — unless the store already exists, since a
    /// new key could never decrypt it. A key file accessible by group or others is refused.
    pub fn open(path: &Path, key: &KeySource) -> Result<SecretStore, SecretsError> {
        Self::open_with_env(path, key, |var| std::env::var_os(var))
    }

    pub(crate) fn open_with_env(
        path: &Path,
        source: &KeySource,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<SecretStore, SecretsError> {
        let store_exists = match std::fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(SecretsError::Io {
                    action: "inspecting the secret store",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let key = load_key(source, path, store_exists, env)?;
        let mut store = SecretStore {
            path: path.to_path_buf(),
            key,
            key_source: source.describe(),
            entries: BTreeMap::new(),
        };
        if store_exists {
            store.entries = store.read()?;
        } else {
            // Written now, not at the first `set`, so the store is bound to this key from the
            // start and a later key mix-up is caught on open rather than on the first write.
            store.persist()?;
        }
        Ok(store)
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, name: &str) -> Option<SecretValue> {
        self.entries.get(name).map(|e| e.value.clone())
    }

    /// Whether a secret with this name is set, without copying its value.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Sets (or replaces) a secret and persists the store. The name must be 1 to 128
    /// characters from `A-Z a-z 0-9 _ . -`; the value must not be empty. When persisting
    /// fails, the store is left as it was.
    pub fn set(&mut self, name: &str, value: SecretValue) -> Result<(), SecretsError> {
        validate_name(name)?;
        if value.is_empty() {
            return Err(SecretsError::EmptyValue {
                name: name.to_string(),
            });
        }
        let entry = Entry {
            value,
            updated_unix: now_unix(),
        };
        let previous = self.entries.insert(name.to_string(), entry);
        if let Err(e) = self.persist() {
            match previous {
                Some(previous) => self.entries.insert(name.to_string(), previous),
                None => self.entries.remove(name),
            };
            return Err(e);
        }
        Ok(())
    }

    /// Removes a secret; `Ok(false)` when there was none by that name.
    pub fn remove(&mut self, name: &str) -> Result<bool, SecretsError> {
        validate_name(name)?;
        let Some(previous) = self.entries.remove(name) else {
            return Ok(false);
        };
        if let Err(e) = self.persist() {
            self.entries.insert(name.to_string(), previous);
            return Err(e);
        }
        Ok(true)
    }

    /// Names, update times and lengths, sorted by name. Never the values.
    pub fn list(&self) -> Vec<SecretInfo> {
        self.entries
            .iter()
            .map(|(name, e)| SecretInfo {
                name: name.clone(),
                updated_unix: e.updated_unix,
                length: e.value.len(),
            })
            .collect()
    }

    /// Every secret with its value, sorted by name; for building a [`crate::Redactor`].
    pub fn all(&self) -> Vec<(String, SecretValue)> {
        self.entries
            .iter()
            .map(|(name, e)| (name.clone(), e.value.clone()))
            .collect()
    }

    fn read(&self) -> Result<BTreeMap<String, Entry>, SecretsError> {
        let path = &self.path;
        let corrupt = |detail: String| SecretsError::Corrupt {
            path: path.clone(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|source| SecretsError::Io {
            action: "reading the secret store",
            path: path.clone(),
            source,
        })?;
        if bytes.trim_ascii().is_empty() {
            return Err(corrupt("the file is empty".to_string()));
        }
        let envelope: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("not a valid store file: {e}")))?;
        match envelope.format.as_deref() {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(corrupt(format!(
                    "the file's format is {other:?}, not {FORMAT:?}: it is not a chitin secret store"
                )));
            }
            None => {
                return Err(corrupt(
                    "the file has no \"format\" field: it is not a chitin secret store".to_string(),
                ));
            }
        }
        match envelope.version {
            Some(VERSION) => {}
            Some(found) if found > VERSION => {
                return Err(SecretsError::UnsupportedVersion {
                    path: path.clone(),
                    found,
                    supported: VERSION,
                });
            }
            Some(found) => return Err(corrupt(format!("unknown format version {found}"))),
            None => return Err(corrupt("the file has no \"version\" field".to_string())),
        }
        let nonce = decode_field(envelope.nonce.as_deref(), "nonce").map_err(corrupt)?;
        if nonce.len() != NONCE_LEN {
            return Err(corrupt(format!(
                "the nonce is {} bytes, expected {NONCE_LEN}",
                nonce.len()
            )));
        }
        let ciphertext =
            decode_field(envelope.ciphertext.as_deref(), "ciphertext").map_err(corrupt)?;
        let cipher = XChaCha20Poly1305::new((&self.key.0).into());
        let payload = Payload {
            msg: &ciphertext,
            aad: AAD,
        };
        // Poly1305 cannot tell a wrong key from a modified ciphertext; the message covers both.
        let mut plain = cipher
            .decrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| SecretsError::WrongKey {
                store: path.clone(),
                key_source: self.key_source.clone(),
            })?;
        let parsed: Result<PlainIn, _> = serde_json::from_slice(&plain);
        wipe(&mut plain);
        // serde's own message can quote the offending text, which would be a secret value here;
        // only the position is reported.
        let parsed = parsed.map_err(|e| {
            corrupt(format!(
                "the decrypted contents are not a list of secrets ({:?} error at line {} column \
                 {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Ok(parsed
            .entries
            .into_iter()
            .map(|(name, e)| {
                let entry = Entry {
                    value: SecretValue::new(e.value),
                    updated_unix: e.updated_unix,
                };
                (name, entry)
            })
            .collect())
    }

    fn persist(&self) -> Result<(), SecretsError> {
        let plain_out = PlainOut {
            entries: self
                .entries
                .iter()
                .map(|(name, e)| {
                    let out = EntryOut {
                        value: e.value.expose(),
                        updated_unix: e.updated_unix,
                    };
                    (name.as_str(), out)
                })
                .collect(),
        };
        let mut plain = serde_json::to_vec(&plain_out).map_err(|e| SecretsError::Encrypt {
            detail: format!("serializing the entries: {e}"),
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        let random = getrandom::fill(&mut nonce).map_err(|e| SecretsError::Random {
            detail: e.to_string(),
        });
        let encrypted = random.and_then(|()| {
            let cipher = XChaCha20Poly1305::new((&self.key.0).into());
            let payload = Payload {
                msg: &plain,
                aad: AAD,
            };
            cipher
                .encrypt(XNonce::from_slice(&nonce), payload)
                .map_err(|_| SecretsError::Encrypt {
                    detail: "the cipher refused the input (is the store larger than 256 GiB?)"
                        .to_string(),
                })
        });
        wipe(&mut plain);
        let ciphertext = encrypted?;
        let envelope = Envelope {
            format: Some(FORMAT.to_string()),
            version: Some(VERSION),
            nonce: Some(BASE64.encode(nonce)),
            ciphertext: Some(BASE64.encode(ciphertext)),
        };
        let mut bytes = serde_json::to_vec(&envelope).map_err(|e| SecretsError::Encrypt {
            detail: format!("serializing the store file: {e}"),
        })?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
    }
}

fn decode_field(field: Option<&str>, name: &str) -> Result<Vec<u8>, String> {
    let text = field.ok_or_else(|| format!("the file has no {name:?} field"))?;
    BASE64
        .decode(text)
        .map_err(|e| format!("the {name} is not valid base64: {e}"))
}

fn validate_name(name: &str) -> Result<(), SecretsError> {
    if crate::is_valid_name(name) {
        Ok(())
    } else {
        // Bounded so a value pasted as a name by mistake is not echoed whole.
        let shown: String = name.chars().take(crate::MAX_NAME_LEN + 8).collect();
        Err(SecretsError::InvalidName { name: shown })
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the old or the new
/// contents: temporary file in the same directory (so the rename cannot cross filesystems),
/// fsync, rename, fsync of the directory (so the rename itself is durable).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| SecretsError::Io {
        action: "creating the directory for the secret store",
        path: dir.clone(),
        source,
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secrets".to_string());
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| SecretsError::Random {
        detail: e.to_string(),
    })?;
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(SecretsError::Io {
            action: "writing the secret store",
            path: path.to_path_buf(),
            source,
        });
    }
    sync_parent_dir(path)
}

pub(crate) fn sync_parent_dir(path: &Path) -> Result<(), SecretsError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| SecretsError::Io {
            action: "syncing the directory",
            path: dir.to_path_buf(),
            source,
        })
}
