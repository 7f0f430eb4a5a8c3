//! Pairing: a direct message from a sender the operator has not approved yet gets a short code
//! instead of an answer; the operator approves or rejects the code (web UI, `pairing.*`
//! methods), and approved senders are remembered per channel.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Store, StoreError, now_ms, to_i64_limit};

/// Codes use an alphabet without look-alikes (no 0/O, 1/I/L), so one read aloud or retyped
/// from a phone survives.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;
/// Pending requests per channel; beyond this, new senders are told to wait rather than
/// filling the operator's list (a spam wave must not bury a real request).
pub const MAX_PENDING_PER_CHANNEL: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingRequest {
    pub code: String,
    pub channel: String,
    pub sender: String,
    pub display_name: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
}

fn new_code() -> Result<String, StoreError> {
    let mut bytes = [0u8; CODE_LENGTH];
    getrandom::fill(&mut bytes).map_err(|err| StoreError::Unsupported {
        detail: format!("the system random source failed: {err}"),
    })?;
    // 256 is not a multiple of the alphabet's length; the slight bias is irrelevant for a code
    // that also needs the operator's approval and expires.
    Ok(bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect())
}

fn row_to_request(row: &rusqlite::Row<'_>) -> rusqlite::Result<PairingRequest> {
    Ok(PairingRequest {
        code: row.get(0)?,
        channel: row.get(1)?,
        sender: row.get(2)?,
        display_name: row.get(3)?,
        created_at_ms: row.get(4)?,
        expires_at_ms: row.get(5)?,
        status: row.get(6)?,
    })
}

const COLUMNS: &str = "code, channel, sender, display_name, created_ms, expires_ms, status";

impl Store {
    /// The pending request for this sender, or a new one. `None` when the channel already has
    /// [`MAX_PENDING_PER_CHANNEL`] requests waiting.
    pub fn pairing_request(
        &self,
        channel: &str,
        sender: &str,
        display_name: Option<&str>,
        ttl: std::time::Duration,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let now = now_ms();
        let conn = self.conn();
        let existing = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pairing_requests \
                 WHERE channel = ?1 AND sender = ?2 AND status = 'pending' AND expires_ms > ?3"
            ))?
            .query_row(params![channel, sender, now], row_to_request)
            .optional()?;
        if let Some(request) = existing {
            return Ok(Some(request));
        }
        let pending: i64 = conn.query_row(
            "SELECT count(*) FROM pairing_requests \
             WHERE channel = ?1 AND status = 'pending' AND expires_ms > ?2",
            params![channel, now],
            |row| row.get(0),
        )?;
        if pending >= to_i64_limit(MAX_PENDING_PER_CHANNEL) {
            return Ok(None);
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let request = PairingRequest {
            code: new_code()?,
            channel: channel.to_string(),
            sender: sender.to_string(),
            display_name: display_name.map(str::to_string),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl_ms),
            status: "pending".into(),
        };
        conn.prepare_cached(
            "INSERT INTO pairing_requests \
             (code, channel, sender, display_name, created_ms, expires_ms, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
        )?
        .execute(params![
            request.code,
            request.channel,
            request.sender,
            request.display_name,
            request.created_at_ms,
            request.expires_at_ms
        ])?;
        Ok(Some(request))
    }

    /// Pending, unexpired requests (optionally of one channel), oldest first.
    pub fn pairing_pending(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pairing_requests \
                 WHERE status = 'pending' AND expires_ms > ?1 AND (?2 IS NULL OR channel = ?2) \
                 ORDER BY created_ms, code"
            ))?
            .query_map(params![now_ms(), channel], row_to_request)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Approves or rejects a pending request by code (case-insensitive). Approval remembers
    /// the sender. `None`: no pending, unexpired request has this code.
    pub fn pairing_resolve(
        &self,
        code: &str,
        approve: bool,
    ) -> Result<Option<PairingRequest>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(mut request) = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pairing_requests \
                 WHERE code = ?1 AND status = 'pending' AND expires_ms > ?2"
            ))?
            .query_row(params![code, now], row_to_request)
            .optional()?
        else {
            return Ok(None);
        };
        request.status = if approve { "approved" } else { "rejected" }.into();
        tx.prepare_cached(
            "UPDATE pairing_requests SET status = ?2, resolved_ms = ?3 WHERE code = ?1",
        )?
        .execute(params![code, request.status, now])?;
        if approve {
            tx.prepare_cached(
                "INSERT INTO paired_senders (channel, sender, approved_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (channel, sender) DO NOTHING",
            )?
            .execute(params![request.channel, request.sender, now])?;
        }
        tx.commit()?;
        Ok(Some(request))
    }

    /// Whether the operator approved this sender on this channel.
    pub fn pairing_is_approved(&self, channel: &str, sender: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM paired_senders WHERE channel = ?1 AND sender = ?2")?
            .query_row(params![channel, sender], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn request_approve_and_remember() {
        let store = Store::open_in_memory().unwrap();
        let first = store
            .pairing_request("telegram", "42", Some("Ann"), HOUR)
            .unwrap()
            .unwrap();
        assert_eq!(first.code.len(), CODE_LENGTH);
        assert!(first.code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        // The same sender asking again gets the same code, not a second request.
        let again = store
            .pairing_request("telegram", "42", None, HOUR)
            .unwrap()
            .unwrap();
        assert_eq!(again.code, first.code);
        assert_eq!(store.pairing_pending(None).unwrap(), vec![first.clone()]);
        assert!(store.pairing_pending(Some("slack")).unwrap().is_empty());
        assert!(!store.pairing_is_approved("telegram", "42").unwrap());

        let approved = store
            .pairing_resolve(&first.code.to_lowercase(), true)
            .unwrap()
            .unwrap();
        assert_eq!(approved.status, "approved");
        assert!(store.pairing_is_approved("telegram", "42").unwrap());
        assert!(!store.pairing_is_approved("slack", "42").unwrap());
        assert!(store.pairing_pending(None).unwrap().is_empty());
        // A resolved code cannot be resolved again.
        assert_eq!(store.pairing_resolve(&first.code, false).unwrap(), None);
    }

    #[test]
    fn rejected_and_expired_requests() {
        let store = Store::open_in_memory().unwrap();
        let request = store
            .pairing_request("irc", "bob", None, HOUR)
            .unwrap()
            .unwrap();
        let rejected = store
            .pairing_resolve(&request.code, false)
            .unwrap()
            .unwrap();
        assert_eq!(rejected.status, "rejected");
        assert!(!store.pairing_is_approved("irc", "bob").unwrap());

        let expired = store
            .pairing_request("irc", "eve", None, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert!(store.pairing_pending(None).unwrap().is_empty());
        assert_eq!(store.pairing_resolve(&expired.code, true).unwrap(), None);
        assert_eq!(store.pairing_resolve("NOSUCHCODE", true).unwrap(), None);
    }

    #[test]
    fn pending_requests_per_channel_are_capped() {
        let store = Store::open_in_memory().unwrap();
        for n in 0..MAX_PENDING_PER_CHANNEL {
            assert!(
                store
                    .pairing_request("slack", &n.to_string(), None, HOUR)
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(
            store
                .pairing_request("slack", "one-more", None, HOUR)
                .unwrap(),
            None
        );
        // Another channel is unaffected.
        assert!(
            store
                .pairing_request("irc", "one-more", None, HOUR)
                .unwrap()
                .is_some()
        );
    }
}
