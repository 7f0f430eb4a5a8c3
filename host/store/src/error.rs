use std::path::PathBuf;

/// What can go wrong in the store. Messages say what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "kv quota exceeded for namespace `{namespace}`: it uses {used} bytes, this write needs \
         {requested} bytes (key + value) and would bring it to {would_use} bytes, over its quota \
         of {quota} bytes; delete keys first or raise the plugin's kv quota_bytes grant"
    )]
    QuotaExceeded {
        namespace: String,
        /// Bytes (keys + values) the namespace uses before the write.
        used: u64,
        /// Key bytes + value bytes of the entry being written.
        requested: u64,
        /// What the namespace would use after the write (the old value of a replaced key no
        /// longer counts).
        would_use: u64,
        quota: u64,
    },

    #[error("kv key is {size} bytes; keys are limited to {max} bytes — use a shorter key")]
    KeyTooLarge { size: usize, max: usize },

    #[error(
        "kv value is {size} bytes; values are limited to {max} bytes — split it over several \
         keys or keep large data elsewhere"
    )]
    ValueTooLarge { size: usize, max: usize },

    #[error(
        "the database was created by a newer version of chitin (schema version {found}; this \
         build supports up to {supported}); upgrade chitin, or restore a backup made with this \
         version"
    )]
    NewerSchema { found: u32, supported: u32 },

    #[error(
        "upgrading the database schema to version {version} ({description}) failed: {source}; \
         the database is unchanged at the previous version — check free disk space and file \
         permissions, then start chitin again"
    )]
    Migration {
        version: u32,
        description: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "creating the database directory".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{detail}")]
    Unsupported { detail: String },

    #[error(
        "no session with key `{key}`; create it with session_get_or_create first, or check the \
         key (`chitin sessions list` shows the existing ones)"
    )]
    SessionNotFound { key: String },

    /// A caller passed a value the store cannot accept; `detail` names it and says what to pass.
    #[error("{detail}")]
    InvalidInput { detail: String },

    /// Data read back from the database is not what chitin writes (edited by hand, or damaged).
    #[error(
        "the database holds {detail}, which chitin never writes; the file was edited by hand or \
         is damaged — run `PRAGMA integrity_check` on it, or restore a backup"
    )]
    Corrupt { detail: String },
}

impl StoreError {
    pub(crate) fn invalid(detail: impl Into<String>) -> StoreError {
        StoreError::InvalidInput {
            detail: detail.into(),
        }
    }
}
