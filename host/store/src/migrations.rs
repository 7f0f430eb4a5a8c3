//! Schema migrations, keyed by `PRAGMA user_version`.
//!
//! Migration N (1-based) takes the schema from version N-1 to N. Each runs in its own
//! `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a crash or error
//! mid-way leaves the previous version intact, and two processes opening the same database at
//! once serialise on the write lock (the second re-reads the version and skips what is done).
//! Migrations are append-only: never edit one that has shipped; add a new one.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

struct Migration {
    /// What it does, named in the error when it fails.
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        description: "plugin key-value namespaces with per-namespace usage for quotas",
        sql: r#"
        CREATE TABLE kv (
            namespace TEXT NOT NULL,
            key       TEXT NOT NULL,
            value     BLOB NOT NULL,
            PRIMARY KEY (namespace, key)
        ) WITHOUT ROWID;

        -- Bytes (key + value) used by each namespace, kept by triggers so the quota check is
        -- one lookup instead of a scan, and stays right whatever code writes to kv.
        CREATE TABLE kv_usage (
            namespace TEXT PRIMARY KEY,
            bytes     INTEGER NOT NULL
        ) WITHOUT ROWID;

        -- length() counts characters for TEXT; the cast makes it count bytes. The usage row is
        -- created with INSERT ... WHERE NOT EXISTS, not INSERT OR IGNORE: inside a trigger the
        -- outer statement's conflict policy overrides OR IGNORE, so the latter would abort.
        CREATE TRIGGER kv_usage_insert AFTER INSERT ON kv BEGIN
            INSERT INTO kv_usage (namespace, bytes)
                SELECT NEW.namespace, 0
                 WHERE NOT EXISTS (SELECT 1 FROM kv_usage WHERE namespace = NEW.namespace);
            UPDATE kv_usage
               SET bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
             WHERE namespace = NEW.namespace;
        END;

        CREATE TRIGGER kv_usage_delete AFTER DELETE ON kv BEGIN
            UPDATE kv_usage
               SET bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
             WHERE namespace = OLD.namespace;
            DELETE FROM kv_usage WHERE namespace = OLD.namespace AND bytes <= 0;
        END;

        CREATE TRIGGER kv_usage_update AFTER UPDATE ON kv BEGIN
            UPDATE kv_usage
               SET bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value)
             WHERE namespace = OLD.namespace;
            INSERT INTO kv_usage (namespace, bytes)
                SELECT NEW.namespace, 0
                 WHERE NOT EXISTS (SELECT 1 FROM kv_usage WHERE namespace = NEW.namespace);
            UPDATE kv_usage
               SET bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
             WHERE namespace = NEW.namespace;
            DELETE FROM kv_usage WHERE namespace = OLD.namespace AND bytes <= 0;
        END;
    "#,
    },
    Migration {
        description: "sessions, their messages and compaction summaries",
        sql: r#"
        -- `touched` orders sessions by their last change: it is one more than the largest
        -- value in the table at each change, so the order holds even when the clock steps back
        -- or two changes land in the same millisecond.
        CREATE TABLE sessions (
            key           TEXT PRIMARY KEY,
            agent_id      TEXT NOT NULL,
            created_ms    INTEGER NOT NULL,
            updated_ms    INTEGER NOT NULL,
            touched       INTEGER NOT NULL,
            message_count INTEGER NOT NULL DEFAULT 0,
            summary       TEXT,
            title         TEXT
        );
        CREATE INDEX sessions_by_touched ON sessions (touched);
        CREATE INDEX sessions_by_agent_touched ON sessions (agent_id, touched);

        -- AUTOINCREMENT: a message id is never reused, even after a reset deleted the newest
        -- messages, so ids handed out (outbox, events, logs) always name one message.
        CREATE TABLE messages (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            session_key   TEXT NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
            seq           INTEGER NOT NULL,
            role          TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content       TEXT NOT NULL,
            tool_calls    TEXT,
            tool_call_id  TEXT,
            tool_name     TEXT,
            is_error      INTEGER NOT NULL DEFAULT 0,
            provider      TEXT,
            model         TEXT,
            provider_data TEXT,
            created_ms    INTEGER NOT NULL,
            compacted     INTEGER NOT NULL DEFAULT 0,
            UNIQUE (session_key, seq)
        );

        -- Every compaction, oldest first; sessions.summary holds the latest one.
        CREATE TABLE compactions (
            id          INTEGER PRIMARY KEY,
            session_key TEXT NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
            upto_seq    INTEGER NOT NULL,
            summary     TEXT NOT NULL,
            created_ms  INTEGER NOT NULL
        );
        CREATE INDEX compactions_by_session ON compactions (session_key, id);
    "#,
    },
    Migration {
        description: "usage ledger and audit log",
        sql: r#"
        -- No foreign key to sessions: spend stays on the books after a session is deleted.
        CREATE TABLE usage (
            id                 INTEGER PRIMARY KEY,
            session_key        TEXT NOT NULL,
            agent_id           TEXT NOT NULL,
            provider           TEXT NOT NULL,
            model              TEXT NOT NULL,
            input_tokens       INTEGER NOT NULL,
            output_tokens      INTEGER NOT NULL,
            cache_read_tokens  INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            cost_usd           REAL NOT NULL,
            created_ms         INTEGER NOT NULL
        );
        CREATE INDEX usage_by_created ON usage (created_ms);

        CREATE TABLE audit (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            created_ms INTEGER NOT NULL,
            actor      TEXT NOT NULL,
            action     TEXT NOT NULL,
            detail     TEXT NOT NULL
        );
    "#,
    },
    Migration {
        description: "memory full-text index (FTS5)",
        sql: r#"
        CREATE TABLE memory_documents (
            agent_id    TEXT NOT NULL,
            source      TEXT NOT NULL,
            mtime_ms    INTEGER NOT NULL,
            indexed_ms  INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            PRIMARY KEY (agent_id, source)
        ) WITHOUT ROWID;

        CREATE TABLE memory_chunks (
            id         INTEGER PRIMARY KEY,
            agent_id   TEXT NOT NULL,
            source     TEXT NOT NULL,
            start_line INTEGER NOT NULL,
            end_line   INTEGER NOT NULL,
            text       TEXT NOT NULL
        );
        CREATE INDEX memory_chunks_by_document ON memory_chunks (agent_id, source);

        -- External content: the text lives once, in memory_chunks; the triggers keep the index
        -- in step with it whatever code writes there.
        CREATE VIRTUAL TABLE memory_fts USING fts5 (
            text,
            content = 'memory_chunks',
            content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER memory_chunks_insert AFTER INSERT ON memory_chunks BEGIN
            INSERT INTO memory_fts (rowid, text) VALUES (NEW.id, NEW.text);
        END;
        CREATE TRIGGER memory_chunks_delete AFTER DELETE ON memory_chunks BEGIN
            INSERT INTO memory_fts (memory_fts, rowid, text) VALUES ('delete', OLD.id, OLD.text);
        END;
        CREATE TRIGGER memory_chunks_update AFTER UPDATE ON memory_chunks BEGIN
            INSERT INTO memory_fts (memory_fts, rowid, text) VALUES ('delete', OLD.id, OLD.text);
            INSERT INTO memory_fts (rowid, text) VALUES (NEW.id, NEW.text);
        END;
    "#,
    },
    Migration {
        description: "pairing requests and approved senders",
        sql: r#"
        -- A DM from an unknown sender on a channel creates a request with a short code; the
        -- operator approves or rejects it by code. Approved senders are remembered per channel.
        CREATE TABLE pairing_requests (
            code         TEXT PRIMARY KEY,
            channel      TEXT NOT NULL,
            sender       TEXT NOT NULL,
            display_name TEXT,
            created_ms   INTEGER NOT NULL,
            expires_ms   INTEGER NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
            resolved_ms  INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX pairing_requests_by_sender ON pairing_requests (channel, sender, status);

        CREATE TABLE paired_senders (
            channel     TEXT NOT NULL,
            sender      TEXT NOT NULL,
            approved_ms INTEGER NOT NULL,
            PRIMARY KEY (channel, sender)
        ) WITHOUT ROWID;
    "#,
    },
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    // user_version is a signed 32-bit field; a negative one was not written by chitin.
    u32::try_from(version).map_err(|_| StoreError::Unsupported {
        detail: format!(
            "the database has schema version {version}, which chitin never writes; it is not \
             a chitin database — check the path, or move the file aside to start a new one"
        ),
    })
}

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        // Up to date: no need to take the write lock.
        return Ok(());
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = index as u32 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = user_version(&tx)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current >= version {
            continue;
        }
        let applied = tx
            .execute_batch(migration.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit());
        applied.map_err(|source| StoreError::Migration {
            version,
            description: migration.description,
            source,
        })?;
    }
    Ok(())
}
