//! Sessions and their transcripts.
//!
//! A session is keyed by its routing key (`agent:<agent>:<channel>:<account>:<dm|group|thread>:
//! <peer>`) and belongs to one agent. Its messages are numbered `seq` 1, 2, ... in the order they
//! were appended. Compaction marks a prefix of them `compacted` and stores the summary that
//! replaces them: [`Store::transcript`] returns only the live tail, [`Store::history`] returns
//! everything. A reset deletes the messages and the summary and numbering starts again at 1.

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension as _, Row, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, now_ms, to_i64_limit, to_u64};

/// The longest session key or agent id accepted, in bytes.
pub const MAX_SESSION_KEY_BYTES: usize = 1024;

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub key: String,
    pub agent_id: String,
    pub created_ms: i64,
    /// Last append, compaction, reset or title change.
    pub updated_ms: i64,
    /// Messages stored for the session, compacted ones included (what [`Store::history`] can
    /// return); a reset brings it back to 0.
    pub message_count: u64,
    /// The latest compaction summary; `None` before the first compaction and after a reset.
    pub summary: Option<String>,
    pub title: Option<String>,
}

/// Who wrote a message. Stored as the lowercase name (`"system"`, `"user"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    System,
    User,
    Assistant,
    Tool,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }
}

impl fmt::Display for MessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<MessageRole, StoreError> {
        match s {
            "system" => Ok(MessageRole::System),
            "user" => Ok(MessageRole::User),
            "assistant" => Ok(MessageRole::Assistant),
            "tool" => Ok(MessageRole::Tool),
            other => Err(StoreError::invalid(format!(
                "unknown message role `{other}`; use one of system, user, assistant, tool"
            ))),
        }
    }
}

/// A tool call made by an assistant message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// The provider's call id; the tool result message names it in `tool_call_id`.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (normally a JSON object, kept verbatim).
    pub arguments: String,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub role: MessageRole,
    pub content: String,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<ToolCallRecord>,
    /// For a tool result: the call it answers.
    pub tool_call_id: Option<String>,
    /// For a tool result: the tool that produced it.
    pub tool_name: Option<String>,
    /// For a tool result: the tool failed.
    pub is_error: bool,
    /// For an assistant message: who produced it.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Opaque provider-specific data to replay to the same provider (thinking signatures,
    /// reasoning ids); dropped when switching providers.
    pub provider_data: Option<String>,
}

impl NewMessage {
    /// A message with `role` and `content` and nothing else set.
    pub fn new(role: MessageRole, content: impl Into<String>) -> NewMessage {
        NewMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
            provider: None,
            model: None,
            provider_data: None,
        }
    }

    pub fn system(content: impl Into<String>) -> NewMessage {
        NewMessage::new(MessageRole::System, content)
    }

    pub fn user(content: impl Into<String>) -> NewMessage {
        NewMessage::new(MessageRole::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> NewMessage {
        NewMessage::new(MessageRole::Assistant, content)
    }

    /// The result of the tool call `tool_call_id` to tool `tool_name`.
    pub fn tool_result(
        tool_call_id: impl Into<String>,
        tool_name: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> NewMessage {
        NewMessage {
            tool_call_id: Some(tool_call_id.into()),
            tool_name: Some(tool_name.into()),
            is_error,
            ..NewMessage::new(MessageRole::Tool, content)
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    /// Unique across the database and never reused.
    pub id: i64,
    pub session_key: String,
    /// 1, 2, ... within the session, in append order.
    pub seq: i64,
    pub role: MessageRole,
    pub content: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
    pub is_error: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub provider_data: Option<String>,
    pub created_ms: i64,
    /// Replaced by the session's compaction summary; not in [`Store::transcript`].
    pub compacted: bool,
}

/// One compaction of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionRow {
    /// Messages with `seq <= upto_seq` were compacted.
    pub upto_seq: i64,
    pub summary: String,
    pub created_ms: i64,
}

const SESSION_COLUMNS: &str =
    "key, agent_id, created_ms, updated_ms, message_count, summary, title";

const MESSAGE_COLUMNS: &str = "id, session_key, seq, role, content, tool_calls, tool_call_id, \
     tool_name, is_error, provider, model, provider_data, created_ms, compacted";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        key: row.get(0)?,
        agent_id: row.get(1)?,
        created_ms: row.get(2)?,
        updated_ms: row.get(3)?,
        message_count: to_u64(row.get(4)?),
        summary: row.get(5)?,
        title: row.get(6)?,
    })
}

/// The columns of a message as read, before the role and tool calls are decoded (which can
/// fail with a [`StoreError`], not a rusqlite error).
struct RawMessage {
    row: MessageRow,
    role: String,
    tool_calls: Option<String>,
}

fn raw_message_from_row(row: &Row<'_>) -> rusqlite::Result<RawMessage> {
    Ok(RawMessage {
        role: row.get(3)?,
        tool_calls: row.get(5)?,
        row: MessageRow {
            id: row.get(0)?,
            session_key: row.get(1)?,
            seq: row.get(2)?,
            role: MessageRole::User,
            content: row.get(4)?,
            tool_calls: Vec::new(),
            tool_call_id: row.get(6)?,
            tool_name: row.get(7)?,
            is_error: row.get(8)?,
            provider: row.get(9)?,
            model: row.get(10)?,
            provider_data: row.get(11)?,
            created_ms: row.get(12)?,
            compacted: row.get(13)?,
        },
    })
}

fn decode_message(raw: RawMessage) -> Result<MessageRow, StoreError> {
    let RawMessage {
        mut row,
        role,
        tool_calls,
    } = raw;
    row.role = role.parse().map_err(|_| StoreError::Corrupt {
        detail: format!(
            "message {} of session `{}` with role `{role}`",
            row.id, row.session_key
        ),
    })?;
    if let Some(json) = tool_calls {
        row.tool_calls = serde_json::from_str(&json).map_err(|err| StoreError::Corrupt {
            detail: format!(
                "message {} of session `{}` with unreadable tool calls ({err})",
                row.id, row.session_key
            ),
        })?;
    }
    Ok(row)
}

fn check_name(what: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::invalid(format!(
            "the {what} is empty; pass a non-empty {what}"
        )));
    }
    if value.len() > MAX_SESSION_KEY_BYTES {
        return Err(StoreError::invalid(format!(
            "the {what} is {} bytes; it is limited to {MAX_SESSION_KEY_BYTES} bytes — use a \
             shorter one",
            value.len()
        )));
    }
    Ok(())
}

/// Marks the session changed now; fails with `SessionNotFound` when there is no such session.
fn touch(tx: &Transaction<'_>, key: &str, now: i64) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE sessions SET updated_ms = max(updated_ms, ?2), \
             touched = (SELECT coalesce(max(touched), 0) + 1 FROM sessions) WHERE key = ?1",
        )?
        .execute(params![key, now])?;
    if changed == 0 {
        return Err(StoreError::SessionNotFound {
            key: key.to_string(),
        });
    }
    Ok(())
}

fn get_session(conn: &rusqlite::Connection, key: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE key = ?1"
        ))?
        .query_row(params![key], session_from_row)
        .optional()?)
}

fn query_messages(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let raws = stmt
        .query_map(params, raw_message_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(decode_message).collect()
}

impl Store {
    /// The session `key`, created for `agent_id` (with no messages) when it does not exist.
    /// A key that already belongs to another agent is refused.
    pub fn session_get_or_create(
        &self,
        key: &str,
        agent_id: &str,
    ) -> Result<SessionRow, StoreError> {
        check_name("session key", key)?;
        check_name("agent id", agent_id)?;
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO sessions (key, agent_id, created_ms, updated_ms, touched) \
             VALUES (?1, ?2, ?3, ?3, (SELECT coalesce(max(touched), 0) + 1 FROM sessions)) \
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, agent_id, now])?;
        let session = get_session(&tx, key)?.ok_or_else(|| StoreError::SessionNotFound {
            key: key.to_string(),
        })?;
        if session.agent_id != agent_id {
            return Err(StoreError::invalid(format!(
                "session `{key}` belongs to agent `{}`, not `{agent_id}`; use a session key \
                 of agent `{agent_id}`",
                session.agent_id
            )));
        }
        tx.commit()?;
        Ok(session)
    }

    /// The session `key`, if it exists.
    pub fn session_get(&self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        get_session(&self.conn(), key)
    }

    /// Up to `limit` sessions (of `agent_id`, or of every agent), most recently updated first.
    pub fn sessions_list(
        &self,
        agent_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let limit = to_i64_limit(limit);
        let conn = self.conn();
        let rows = match agent_id {
            Some(agent) => conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE agent_id = ?1 \
                     ORDER BY touched DESC LIMIT ?2"
                ))?
                .query_map(params![agent, limit], session_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY touched DESC LIMIT ?1"
                ))?
                .query_map(params![limit], session_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    /// Sets (or with `None` clears) the session's title.
    pub fn session_set_title(&self, key: &str, title: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        touch(&tx, key, now)?;
        tx.prepare_cached("UPDATE sessions SET title = ?2 WHERE key = ?1")?
            .execute(params![key, title])?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes the session with its messages and compactions; `Ok(false)` when it was not there.
    /// The usage ledger keeps its records.
    pub fn session_delete(&self, key: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let deleted = conn
            .prepare_cached("DELETE FROM sessions WHERE key = ?1")?
            .execute(params![key])?;
        Ok(deleted > 0)
    }

    /// Appends messages atomically (one transaction, fsynced before returning: once this
    /// returns, a kill -9 loses nothing). Returns the new message ids, in order. The session
    /// must exist ([`Store::session_get_or_create`]).
    pub fn append_messages(
        &self,
        session_key: &str,
        messages: &[NewMessage],
    ) -> Result<Vec<i64>, StoreError> {
        // Encode before taking the lock; serialising strings cannot fail, but if it ever did
        // the error names the message.
        let mut tool_calls = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            tool_calls.push(if message.tool_calls.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&message.tool_calls).map_err(|err| {
                    StoreError::invalid(format!(
                        "the tool calls of message {index} cannot be encoded: {err}"
                    ))
                })?)
            });
        }
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        touch(&tx, session_key, now)?;
        if messages.is_empty() {
            // Nothing to append; leave the session untouched.
            return Ok(Vec::new());
        }
        let last_seq: i64 = tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM messages WHERE session_key = ?1")?
            .query_row(params![session_key], |row| row.get(0))?;
        let mut ids = Vec::with_capacity(messages.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (session_key, seq, role, content, tool_calls, \
                 tool_call_id, tool_name, is_error, provider, model, provider_data, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
            )?;
            for ((offset, message), calls) in (1i64..).zip(messages).zip(&tool_calls) {
                let id: i64 = insert.query_row(
                    params![
                        session_key,
                        last_seq + offset,
                        message.role.as_str(),
                        message.content,
                        calls,
                        message.tool_call_id,
                        message.tool_name,
                        message.is_error,
                        message.provider,
                        message.model,
                        message.provider_data,
                        now,
                    ],
                    |row| row.get(0),
                )?;
                ids.push(id);
            }
        }
        tx.prepare_cached("UPDATE sessions SET message_count = message_count + ?2 WHERE key = ?1")?
            .execute(params![session_key, to_i64_limit(messages.len())])?;
        tx.commit()?;
        Ok(ids)
    }

    /// The live transcript: messages not marked compacted, in seq order. Empty for a session
    /// that does not exist.
    pub fn transcript(&self, session_key: &str) -> Result<Vec<MessageRow>, StoreError> {
        query_messages(
            &self.conn(),
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages \
                 WHERE session_key = ?1 AND compacted = 0 ORDER BY seq"
            ),
            params![session_key],
        )
    }

    /// All messages including compacted ones (for `chitin sessions show --all`): the last
    /// `limit` messages with `seq < before_seq` (or the last `limit` when `None`), in seq
    /// order. To page back, pass the `seq` of the first message returned as `before_seq`.
    pub fn history(
        &self,
        session_key: &str,
        limit: usize,
        before_seq: Option<i64>,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let mut rows = query_messages(
            &self.conn(),
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages \
                 WHERE session_key = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
            ),
            params![
                session_key,
                before_seq.unwrap_or(i64::MAX),
                to_i64_limit(limit)
            ],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Compaction: marks messages with seq <= upto_seq compacted and stores the summary (it
    /// becomes the session's `summary`, and is kept in [`Store::session_compactions`]),
    /// atomically. `upto_seq` must name a stored message.
    pub fn compact(
        &self,
        session_key: &str,
        upto_seq: i64,
        summary: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        touch(&tx, session_key, now)?;
        let last_seq: i64 = tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM messages WHERE session_key = ?1")?
            .query_row(params![session_key], |row| row.get(0))?;
        if upto_seq < 1 || upto_seq > last_seq {
            let range = if last_seq == 0 {
                "it has no messages, so there is nothing to compact".to_string()
            } else {
                format!("pass a seq between 1 and {last_seq}")
            };
            return Err(StoreError::invalid(format!(
                "cannot compact session `{session_key}` up to seq {upto_seq}: {range}"
            )));
        }
        tx.prepare_cached(
            "UPDATE messages SET compacted = 1 \
             WHERE session_key = ?1 AND seq <= ?2 AND compacted = 0",
        )?
        .execute(params![session_key, upto_seq])?;
        tx.prepare_cached("UPDATE sessions SET summary = ?2 WHERE key = ?1")?
            .execute(params![session_key, summary])?;
        tx.prepare_cached(
            "INSERT INTO compactions (session_key, upto_seq, summary, created_ms) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![session_key, upto_seq, summary, now])?;
        tx.commit()?;
        Ok(())
    }

    /// The session's compactions, oldest first (empty after a reset).
    pub fn session_compactions(&self, session_key: &str) -> Result<Vec<CompactionRow>, StoreError> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(
                "SELECT upto_seq, summary, created_ms FROM compactions \
                 WHERE session_key = ?1 ORDER BY id",
            )?
            .query_map(params![session_key], |row| {
                Ok(CompactionRow {
                    upto_seq: row.get(0)?,
                    summary: row.get(1)?,
                    created_ms: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Reset: deletes the session's messages, summary and compactions (keeps the session row
    /// and its title, bumps updated_ms); returns how many messages were removed. The next
    /// message appended gets seq 1.
    pub fn session_reset(&self, session_key: &str) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        touch(&tx, session_key, now)?;
        let removed = tx
            .prepare_cached("DELETE FROM messages WHERE session_key = ?1")?
            .execute(params![session_key])?;
        tx.prepare_cached("DELETE FROM compactions WHERE session_key = ?1")?
            .execute(params![session_key])?;
        tx.prepare_cached("UPDATE sessions SET summary = NULL, message_count = 0 WHERE key = ?1")?
            .execute(params![session_key])?;
        tx.commit()?;
        Ok(removed as u64)
    }
}
