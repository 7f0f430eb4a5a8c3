//! The usage ledger (tokens and cost per model call) and the audit log.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, now_ms, to_i64_limit, to_u64};

/// The tokens and cost of one model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub session_key: String,
    pub agent_id: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    pub created_ms: i64,
}

/// Totals of the usage records of one (provider, model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub provider: String,
    pub model: String,
    /// How many records (model calls) were added up.
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Increases with every entry; never reused.
    pub id: i64,
    pub created_ms: i64,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

fn tokens(field: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::invalid(format!(
            "usage {field} is {value}, more than the ledger can hold ({}); pass the token count \
             the provider reported",
            i64::MAX
        ))
    })
}

impl Store {
    /// Adds one record to the usage ledger.
    pub fn record_usage(&self, u: &UsageRecord) -> Result<(), StoreError> {
        if !u.cost_usd.is_finite() || u.cost_usd < 0.0 {
            return Err(StoreError::invalid(format!(
                "usage cost_usd is {}; pass a finite number >= 0 (0 when the price is unknown)",
                u.cost_usd
            )));
        }
        let input = tokens("input_tokens", u.input_tokens)?;
        let output = tokens("output_tokens", u.output_tokens)?;
        let cache_read = tokens("cache_read_tokens", u.cache_read_tokens)?;
        let cache_write = tokens("cache_write_tokens", u.cache_write_tokens)?;
        self.conn()
            .prepare_cached(
                "INSERT INTO usage (session_key, agent_id, provider, model, input_tokens, \
                 output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                u.session_key,
                u.agent_id,
                u.provider,
                u.model,
                input,
                output,
                cache_read,
                cache_write,
                u.cost_usd,
                u.created_ms,
            ])?;
        Ok(())
    }

    /// Totals per (provider, model) of the records with `created_ms >= since_ms` (all when
    /// `None`), sorted by provider then model.
    pub fn usage_summary(&self, since_ms: Option<i64>) -> Result<Vec<UsageSummary>, StoreError> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(
                "SELECT provider, model, count(*), sum(input_tokens), sum(output_tokens), \
                 sum(cache_read_tokens), sum(cache_write_tokens), total(cost_usd) \
                 FROM usage WHERE created_ms >= ?1 \
                 GROUP BY provider, model ORDER BY provider, model",
            )?
            .query_map(params![since_ms.unwrap_or(i64::MIN)], |row| {
                Ok(UsageSummary {
                    provider: row.get(0)?,
                    model: row.get(1)?,
                    calls: to_u64(row.get(2)?),
                    input_tokens: to_u64(row.get(3)?),
                    output_tokens: to_u64(row.get(4)?),
                    cache_read_tokens: to_u64(row.get(5)?),
                    cache_write_tokens: to_u64(row.get(6)?),
                    cost_usd: row.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Adds an entry to the audit log: `actor` (who: "operator", "plugin:web-fetch",
    /// "agent:main") did `action` ("config.patch", "approval.grant", ...); `detail` is free-form.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let detail = detail.to_string();
        self.conn()
            .prepare_cached(
                "INSERT INTO audit (created_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![now_ms(), actor, action, detail])?;
        Ok(())
    }

    /// The last `limit` audit entries, newest first.
    pub fn audit_recent(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.conn();
        let raws = conn
            .prepare_cached(
                "SELECT id, created_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?1",
            )?
            .query_map(params![to_i64_limit(limit)], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter()
            .map(|(id, created_ms, actor, action, detail)| {
                let detail = serde_json::from_str(&detail).map_err(|err| StoreError::Corrupt {
                    detail: format!("audit entry {id} with unreadable detail ({err})"),
                })?;
                Ok(AuditRow {
                    id,
                    created_ms,
                    actor,
                    action,
                    detail,
                })
            })
            .collect()
    }
}
