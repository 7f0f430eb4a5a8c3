use std::path::PathBuf;

/// Everything that can go wrong with the secret store. Each message says what is wrong and how
/// to fix it; none ever contains a secret value or key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading the secret store".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the secrets key is to come from the environment variable {var}, but it is not set; \
         set it to the base64 of 32 random bytes (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    KeyEnvMissing { var: String },

    #[error(
        "the secrets key file {} does not exist; restore it, or point chitin at the key another \
         way (CHITIN_SECRETS_KEY or a systemd credential named chitin-secrets-key)",
        path.display()
    )]
    KeyFileMissing { path: PathBuf },

    #[error(
        "the secret store {} exists but its key file {} is missing; a new key could not decrypt \
         it. Restore the key file (or provide the key through CHITIN_SECRETS_KEY), or move the \
         store aside to start a new, empty one",
        store.display(),
        key.display()
    )]
    KeyMissingForExistingStore { store: PathBuf, key: PathBuf },

    #[error(
        "the secrets key file {} is accessible by group or others (mode {mode:04o}); restrict it \
         with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },

    #[error(
        "the secrets key from {source_desc} is not valid base64 ({detail}); it must be the \
         base64 of 32 random bytes (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    KeyEncoding { source_desc: String, detail: String },

    #[error(
        "the secrets key from {source_desc} is {len} bytes long; it must be exactly 32 bytes \
         (base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    KeyLength { source_desc: String, len: usize },

    #[error(
        "the secret store {} cannot be decrypted with the key from {key_source}: the key must be \
         the one that created the store (if it is, the file has been modified or damaged; \
         restore it from a backup)",
        store.display()
    )]
    WrongKey { store: PathBuf, key_source: String },

    #[error(
        "the secret store {} is damaged or truncated ({detail}); restore it from a backup, or \
         move it aside to start a new, empty store",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "the secret store {} uses format version {found}, but this build of chitin reads only \
         version {supported}; it was written by a newer chitin — upgrade chitin",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    #[error(
        "invalid secret name {name:?}: use 1 to 128 characters from A-Z, a-z, 0-9, `_`, `.` \
         and `-` (e.g. TELEGRAM_BOT_TOKEN)"
    )]
    InvalidName { name: String },

    #[error("the value for secret {name} is empty; provide a non-empty value")]
    EmptyValue { name: String },

    #[error("could not get random bytes from the operating system: {detail}")]
    Random { detail: String },

    #[error("could not encrypt the secret store: {detail}")]
    Encrypt { detail: String },
}
