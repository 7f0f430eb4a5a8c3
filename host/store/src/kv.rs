//! Plugin key-value namespaces. Each plugin gets the namespace named after its id; a namespace
//! is bounded by a quota on its key bytes + value bytes.

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use crate::{Store, StoreError, to_u64};

/// The longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest value accepted, in bytes (16 MiB).
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyTooLarge {
            size: key.len(),
            max: MAX_KEY_BYTES,
        });
    }
    Ok(())
}

impl Store {
    pub fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        let conn = self.conn();
        let value = conn
            .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")?
            .query_row(params![namespace, key], |row| row.get(0))
            .optional()?;
        Ok(value)
    }

    /// Sets `key` to `value`. The quota counts key bytes + value bytes of the whole namespace
    /// after the write (a replaced value no longer counts); a write that would exceed it is
    /// refused and changes nothing.
    pub fn kv_set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::ValueTooLarge {
                size: value.len(),
                max: MAX_VALUE_BYTES,
            });
        }
        let requested = (key.len() + value.len()) as u64;
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the usage, so another process cannot
        // slip a write in between the check and the write.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let used = tx
            .prepare_cached("SELECT bytes FROM kv_usage WHERE namespace = ?1")?
            .query_row(params![namespace], |row| row.get::<_, i64>(0))
            .optional()?
            .map_or(0, to_u64);
        let replaced = tx
            .prepare_cached(
                "SELECT length(CAST(key AS BLOB)) + length(value) FROM kv \
                 WHERE namespace = ?1 AND key = ?2",
            )?
            .query_row(params![namespace, key], |row| row.get::<_, i64>(0))
            .optional()?
            .map_or(0, to_u64);
        let would_use = used.saturating_sub(replaced).saturating_add(requested);
        if would_use > quota_bytes {
            // Dropping the transaction rolls it back; nothing was written.
            return Err(StoreError::QuotaExceeded {
                namespace: namespace.to_string(),
                used,
                requested,
                would_use,
                quota: quota_bytes,
            });
        }
        tx.prepare_cached(
            "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![namespace, key, value])?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes `key`; `Ok(false)` when it was not there.
    pub fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let conn = self.conn();
        let deleted = conn
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
            .execute(params![namespace, key])?;
        Ok(deleted > 0)
    }

    /// Up to `limit` keys of the namespace that start with `prefix`, sorted (byte order).
    /// The prefix is matched literally: `%` and `_` are ordinary characters.
    pub fn kv_list_keys(
        &self,
        namespace: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        // No LIKE: it treats % and _ as wildcards and ignores ASCII case. Keys sort by bytes
        // (BINARY collation), so every key with the prefix comes in one run starting at the
        // first key >= prefix; the index walk stops at the first key past the run.
        let mut stmt = conn
            .prepare_cached("SELECT key FROM kv WHERE namespace = ?1 AND key >= ?2 ORDER BY key")?;
        let mut rows = stmt.query(params![namespace, prefix])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key);
            if keys.len() >= limit {
                break;
            }
        }
        Ok(keys)
    }

    /// Bytes (keys + values) the namespace uses.
    pub fn kv_usage(&self, namespace: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let used = conn
            .prepare_cached("SELECT bytes FROM kv_usage WHERE namespace = ?1")?
            .query_row(params![namespace], |row| row.get::<_, i64>(0))
            .optional()?
            .map_or(0, to_u64);
        Ok(used)
    }
}
