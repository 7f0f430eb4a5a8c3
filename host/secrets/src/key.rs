use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::SecretsError;
use crate::value::wipe;

/// The environment variable that carries the key (base64 of 32 bytes).
pub const KEY_ENV_VAR: &str = "CHITIN_SECRETS_KEY";
/// The credential name to use with systemd's `LoadCredential=`.
pub const SYSTEMD_CREDENTIAL_NAME: &str = "chitin-secrets-key";
/// The key file's name inside the chitin home when neither of the above is present.
pub const KEY_FILE_NAME: &str = "secrets.key";

pub(crate) const KEY_LEN: usize = 32;

/// Where the key that encrypts the secret store comes from. The key is never stored in the
/// store file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable holding the base64 of 32 bytes.
    Env { var: String },
    /// A key file (base64 of 32 bytes, or the raw 32 bytes), created with mode 0600 when absent.
    File { path: PathBuf },
    /// A systemd credential (`LoadCredential=chitin-secrets-key:/path`): raw 32 bytes or base64.
    SystemdCredential { path: PathBuf },
}

impl KeySource {
    /// Picks the key source, first match wins:
    /// 1. `$CHITIN_SECRETS_KEY` when set (even if empty, so a misconfiguration is reported
    ///    instead of silently falling back to another key);
    /// 2. `$CREDENTIALS_DIRECTORY/chitin-secrets-key` when that file exists (systemd
    ///    `LoadCredential=`);
    /// 3. `<home>/secrets.key`, created with mode 0600 on first use.
    pub fn discover(home: &Path) -> KeySource {
        discover_with(home, |var| std::env::var_os(var))
    }

    /// Where the key comes from, for messages: "the environment variable CHITIN_SECRETS_KEY",
    /// "key file /x/secrets.key", "systemd credential /run/credentials/chitin.service/...".
    pub fn describe(&self) -> String {
        match self {
            KeySource::Env { var } => format!("the environment variable {var}"),
            KeySource::File { path } => format!("key file {}", path.display()),
            KeySource::SystemdCredential { path } => {
                format!("systemd credential {}", path.display())
            }
        }
    }
}

pub(crate) fn discover_with(home: &Path, env: impl Fn(&str) -> Option<OsString>) -> KeySource {
    if env(KEY_ENV_VAR).is_some() {
        return KeySource::Env {
            var: KEY_ENV_VAR.to_string(),
        };
    }
    if let Some(dir) = env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let path = Path::new(&dir).join(SYSTEMD_CREDENTIAL_NAME);
        // The directory may hold credentials for other purposes only; then fall through.
        if path.is_file() {
            return KeySource::SystemdCredential { path };
        }
    }
    KeySource::File {
        path: home.join(KEY_FILE_NAME),
    }
}

/// A 32-byte key, wiped from memory on drop.
pub(crate) struct Key(pub(crate) [u8; KEY_LEN]);

impl Drop for Key {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Loads the key from `source`. `store_exists` guards the one dangerous case: creating a fresh
/// key file next to an existing store, which would make the store unreadable for good.
pub(crate) fn load_key(
    source: &KeySource,
    store: &Path,
    store_exists: bool,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Key, SecretsError> {
    match source {
        KeySource::Env { var } => {
            let value = env(var).ok_or_else(|| SecretsError::KeyEnvMissing { var: var.clone() })?;
            let mut bytes = value.into_encoded_bytes();
            let key = decode_text_key(&bytes, source);
            wipe(&mut bytes);
            key
        }
        KeySource::SystemdCredential { path } => {
            // No permission check: systemd places credentials in a private, read-only
            // directory only the service can read, and it sets their modes itself.
            let mut bytes = read_key_file(path)?;
            let key = decode_raw_or_text_key(&bytes, source);
            wipe(&mut bytes);
            key
        }
        KeySource::File { path } => {
            if !path.exists() {
                if store_exists {
                    return Err(SecretsError::KeyMissingForExistingStore {
                        store: store.to_path_buf(),
                        key: path.clone(),
                    });
                }
                if let Some(key) = create_key_file(path)? {
                    return Ok(key);
                }
                // Another process created it first: use theirs.
            }
            check_key_file_mode(path)?;
            let mut bytes = read_key_file(path)?;
            let key = decode_raw_or_text_key(&bytes, source);
            wipe(&mut bytes);
            key
        }
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, SecretsError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SecretsError::KeyFileMissing {
                path: path.to_path_buf(),
            }
        } else {
            SecretsError::Io {
                action: "reading the secrets key",
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn check_key_file_mode(path: &Path) -> Result<(), SecretsError> {
    let meta = std::fs::metadata(path).map_err(|source| SecretsError::Io {
        action: "inspecting the secrets key file",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    // Any group or other bit is refused, not only read: a key others can replace is as bad as
    // one they can read (they could swap in their own key and capture the next write).
    if mode & 0o077 != 0 {
        return Err(SecretsError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates a key file holding the base64 of 32 fresh random bytes, mode 0600. Returns `None`
/// when the file appeared in the meantime (another process won the race).
fn create_key_file(path: &Path) -> Result<Option<Key>, SecretsError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SecretsError::Io {
            action: "creating the directory for the secrets key",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let key = random_key()?;
    let mut text = base64::engine::general_purpose::STANDARD.encode(key.0);
    text.push('\n');
    let io_err = |source| SecretsError::Io {
        action: "creating the secrets key file",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            wipe_string(text);
            return Ok(None);
        }
        Err(e) => {
            wipe_string(text);
            return Err(io_err(e));
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    wipe_string(text);
    if let Err(e) = written {
        // A half-written key file would be picked up next time and fail to decode; remove it.
        let _ = std::fs::remove_file(path);
        return Err(io_err(e));
    }
    crate::store::sync_parent_dir(path)?;
    Ok(Some(key))
}

fn wipe_string(s: String) {
    let mut bytes = s.into_bytes();
    wipe(&mut bytes);
}

pub(crate) fn random_key() -> Result<Key, SecretsError> {
    let mut key = Key([0u8; KEY_LEN]);
    getrandom::fill(&mut key.0).map_err(|e| SecretsError::Random {
        detail: e.to_string(),
    })?;
    Ok(key)
}

/// Raw 32 bytes are taken as they are (systemd credentials are often binary); anything else
/// is decoded as base64 text. A 32-byte file cannot be the base64 of a 32-byte key (that is 43
/// or 44 characters), so the two forms never collide.
fn decode_raw_or_text_key(bytes: &[u8], source: &KeySource) -> Result<Key, SecretsError> {
    if bytes.len() == KEY_LEN {
        let mut key = Key([0u8; KEY_LEN]);
        key.0.copy_from_slice(bytes);
        return Ok(key);
    }
    decode_text_key(bytes, source)
}

fn decode_text_key(bytes: &[u8], source: &KeySource) -> Result<Key, SecretsError> {
    let text = bytes.trim_ascii();
    if text.is_empty() {
        return Err(SecretsError::KeyEncoding {
            source_desc: source.describe(),
            detail: "it is empty".to_string(),
        });
    }
    // Padding is optional and both alphabets are accepted: keys get pasted from many tools.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let mut decoded = match standard.decode(text).or_else(|_| url_safe.decode(text)) {
        Ok(decoded) => decoded,
        Err(e) => {
            return Err(SecretsError::KeyEncoding {
                source_desc: source.describe(),
                detail: describe_base64_error(&e),
            });
        }
    };
    if decoded.len() != KEY_LEN {
        let len = decoded.len();
        wipe(&mut decoded);
        return Err(SecretsError::KeyLength {
            source_desc: source.describe(),
            len,
        });
    }
    let mut key = Key([0u8; KEY_LEN]);
    key.0.copy_from_slice(&decoded);
    wipe(&mut decoded);
    Ok(key)
}

/// The decoder's own messages quote the offending byte, which is key material; say where
/// instead.
fn describe_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("a character outside the base64 alphabet at position {offset}")
        }
        base64::DecodeError::InvalidLength(len) => {
            format!("{len} characters is not a valid base64 length")
        }
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("an invalid last character at position {offset}")
        }
        base64::DecodeError::InvalidPadding => "invalid padding".to_string(),
    }
}
