//! Chitin's SQLite store.
//!
//! One database file (`chitin.db`) in WAL mode. It holds the plugin key-value namespaces
//! ([`kv`](Store::kv_get)), sessions and their transcripts ([`sessions`](Store::append_messages)),
//! the usage ledger and audit log ([`usage`](Store::record_usage)), and the memory full-text
//! index ([`memory`](Store::memory_search)). Each table set is a migration in [`migrations`];
//! the schema version lives in `PRAGMA user_version`.

mod error;
mod kv;
mod memory;
mod migrations;
mod pairing;
mod sessions;
mod usage;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

pub use error::StoreError;
pub use kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
pub use memory::{
    CHUNK_MAX_CHARS, CHUNK_MAX_LINES, MAX_QUERY_TERMS, MemoryDocument, MemoryHit, SNIPPET_ELLIPSIS,
    SNIPPET_MARK_END, SNIPPET_MARK_START,
};
pub use migrations::SCHEMA_VERSION;
pub use pairing::{MAX_PENDING_PER_CHANNEL, PairingRequest};
/// Re-exported so crates adding tables use the same rusqlite as the store.
pub use rusqlite;
pub use sessions::{
    CompactionRow, MAX_SESSION_KEY_BYTES, MessageRole, MessageRow, NewMessage, SessionRow,
    ToolCallRecord,
};
pub use usage::{AuditRow, UsageRecord, UsageSummary};

/// How long a statement waits for another connection's lock before failing with "database is
/// locked". Writers hold the lock for one short transaction, so 5 s only runs out when
/// something is badly stuck.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Milliseconds since the Unix epoch (0 if the clock is set before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sizes and counters are never negative; clamp rather than wrap if one ever were.
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A count or limit as SQLite's integer (saturating: a limit past `i64::MAX` means no limit).
pub(crate) fn to_i64_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The SQLite store. `Send + Sync`: share it in an `Arc`; calls are serialised on one
/// connection and block, so call them from a blocking context (e.g. `spawn_blocking`).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed, parent directory included) the database at `path`, and
    /// brings its schema up to date. A database written by a newer chitin is refused.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                action: "creating the database directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn, true)
    }

    /// A private in-memory database (tests, benchmarks, ephemeral runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, false)
    }

    fn init(mut conn: Connection, on_disk: bool) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if on_disk {
            // WAL: readers never block the writer and a commit is one sequential append.
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Unsupported {
                    detail: format!(
                        "the database could not be switched to WAL mode (it is in {mode} mode); \
                         put it on a local filesystem that supports shared memory (not NFS)"
                    ),
                });
            }
        }
        // synchronous=FULL rather than NORMAL. In WAL mode NORMAL already survives the process
        // being killed (kill -9, OOM killer): a commit is in the OS page cache before it
        // returns. What it does not survive is power loss or a kernel crash, which can roll back
        // the last commits. The outbox promises that a crash neither loses nor repeats a reply
        // and inbound dedup must not forget what it has seen, and VPS hosts do get hard-reset,
        // so every commit is fsynced. The cost is one fsync per write transaction, which the
        // gateway's write rate (messages, not analytics) easily affords.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic while it was held cannot leave it half-changed (an open
    /// transaction rolls back when dropped), so a poisoned lock is safe to take over.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the connection, for the crates that add their own tables.
    pub fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut self.conn())
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrations::user_version(&self.conn())
    }
}
