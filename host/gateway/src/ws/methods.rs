//! The protocol's methods. Each takes the request's `params` and returns the response payload
//! or an error with a code from docs/protocol.md.

use std::sync::Arc;
use std::time::Duration;

use chitin_agent::RunRequest;
use chitin_sandbox::Plugin;
use serde_json::{Value, json};

use super::frames::{RpcError, optional_str, optional_u64, required_str};
use super::hub::Client;
use crate::GatewayState;
use crate::control::PatchError;

pub const METHODS: &[&str] = &[
    "status",
    "health",
    "agent.run",
    "agent.wait",
    "agent.abort",
    "chat.send",
    "chat.history",
    "sessions.list",
    "sessions.history",
    "sessions.reset",
    "config.get",
    "config.patch",
    "plugins.list",
    "plugins.inspect",
    "approvals.list",
    "approvals.resolve",
    "pairing.list",
    "pairing.approve",
    "pairing.reject",
    "channels.status",
];

pub const EVENTS: &[&str] = &[
    "agent", "presence", "tick", "approval", "pairing", "shutdown",
];

const DEFAULT_WAIT_MS: u64 = 30_000;
const MAX_WAIT_MS: u64 = 600_000;
const DEFAULT_HISTORY: u64 = 100;
const MAX_HISTORY: u64 = 1000;

pub async fn dispatch(
    state: &Arc<GatewayState>,
    client: &Client,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    match method {
        "status" => status(state),
        "health" => Ok(health(state)),
        "agent.run" => {
            let agent = required_str(params, "agent")?;
            let session_key = match optional_str(params, "sessionKey")? {
                Some(key) => key.to_string(),
                None => format!("agent:{agent}:main"),
            };
            start_run(state, client, agent, session_key, params)
        }
        "chat.send" => {
            let session_key = required_str(params, "sessionKey")?;
            let agent = agent_of(session_key)?;
            start_run(state, client, agent, session_key.to_string(), params)
        }
        "agent.wait" => agent_wait(state, params).await,
        "agent.abort" => agent_abort(state, params),
        "chat.history" | "sessions.history" => history(state, params),
        "sessions.list" => sessions_list(state, params),
        "sessions.reset" => sessions_reset(state, client, params),
        "config.get" => config_get(state),
        "config.patch" => config_patch(state, client, params),
        "plugins.list" => Ok(json!({
            "plugins": state.plugins.iter().map(|p| plugin_json(p)).collect::<Vec<_>>(),
        })),
        "plugins.inspect" => plugins_inspect(state, params).await,
        "approvals.list" => Ok(json!({"approvals": state.runtime.approvals().list()})),
        "approvals.resolve" => approvals_resolve(state, client, params),
        "pairing.list" => {
            let channel = optional_str(params, "channel")?;
            Ok(json!({"requests": state.runtime.store().pairing_pending(channel)?}))
        }
        "pairing.approve" => pairing_resolve(state, client, params, true),
        "pairing.reject" => pairing_resolve(state, client, params, false),
        // Channel adapters report here once they run under the gateway; with none
        // configured the list is empty.
        "channels.status" => Ok(json!({"channels": state.channel_status()})),
        "connect" => Err(RpcError::invalid(
            "already connected; `connect` is only valid as the first request",
        )),
        other => Err(RpcError::new(
            "UNKNOWN_METHOD",
            format!("no method `{other}` in protocol v1"),
        )
        .with_details(json!({"methods": METHODS}))),
    }
}

fn actor(client: &Client) -> String {
    format!("operator:{}@{}", client.name, client.id)
}

/// The agent a session key belongs to: `agent:<id>:...`.
fn agent_of(session_key: &str) -> Result<&str, RpcError> {
    let mut parts = session_key.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("agent"), Some(agent), Some(rest)) if !agent.is_empty() && !rest.is_empty() => {
            Ok(agent)
        }
        _ => Err(RpcError::invalid(format!(
            "`{session_key}` is not a session key; keys look like `agent:<agent id>:<name>`, \
             e.g. agent:main:main"
        ))),
    }
}

/// Session keys are stored and shown as typed: keep them printable and bounded.
fn check_session_key(key: &str) -> Result<(), RpcError> {
    if key.len() > 256 || key.chars().any(char::is_control) {
        return Err(RpcError::invalid(
            "`sessionKey` must be at most 256 bytes without control characters",
        ));
    }
    Ok(())
}

fn status(state: &Arc<GatewayState>) -> Result<Value, RpcError> {
    let agents: Vec<Value> = state
        .runtime
        .agent_ids()
        .iter()
        .filter_map(|id| state.runtime.agent(id).ok())
        .map(|agent| {
            json!({
                "id": agent.id,
                "model": agent.config.model,
                "fallbacks": agent.config.fallbacks,
            })
        })
        .collect();
    let sessions: i64 = state.runtime.store().with_connection(|conn| {
        Ok(conn.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))?)
    })?;
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": state.uptime_ms(),
        "draining": state.is_draining(),
        "agents": agents,
        "sessions": sessions,
        "activeRuns": state.runs.active(),
        "connections": state.hub.count(),
        "pendingApprovals": state.runtime.approvals().list().len(),
        "pendingPairing": state.runtime.store().pairing_pending(None)?.len(),
    }))
}

fn health(state: &Arc<GatewayState>) -> Value {
    let store = state
        .runtime
        .store()
        .with_connection(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?));
    let store = match store {
        Ok(_) => "ok".to_string(),
        Err(err) => err.to_string(),
    };
    json!({"ok": store == "ok", "uptimeMs": state.uptime_ms(), "store": store})
}

fn start_run(
    state: &Arc<GatewayState>,
    client: &Client,
    agent: &str,
    session_key: String,
    params: &Value,
) -> Result<Value, RpcError> {
    let message = required_str(params, "message")?;
    if state.is_draining() {
        return Err(RpcError::new(
            "UNAVAILABLE",
            "the gateway is shutting down and takes no new runs; retry after it restarts",
        ));
    }
    if state.runtime.agent(agent).is_err() {
        return Err(RpcError::not_found(format!(
            "no agent `{agent}` (configured: {})",
            state.runtime.agent_ids().join(", ")
        )));
    }
    check_session_key(&session_key)?;
    if agent_of(&session_key)? != agent {
        return Err(RpcError::invalid(format!(
            "session `{session_key}` belongs to another agent; use a key starting with \
             `agent:{agent}:`"
        )));
    }
    let target = client.clone();
    let run = state.runs.start(
        state.runtime.clone(),
        RunRequest {
            agent_id: agent.to_string(),
            session_key: session_key.clone(),
            message: message.to_string(),
            origin: chitin_agent::RunOrigin::Interactive,
        },
        move |payload| {
            target.event("agent", payload);
        },
    );
    Ok(json!({"runId": run.id, "sessionKey": session_key}))
}

async fn agent_wait(state: &Arc<GatewayState>, params: &Value) -> Result<Value, RpcError> {
    let run_id = required_str(params, "runId")?;
    let timeout = optional_u64(params, "timeoutMs", MAX_WAIT_MS)?.unwrap_or(DEFAULT_WAIT_MS);
    let run = state.runs.get(run_id).ok_or_else(|| {
        RpcError::not_found(format!("no run `{run_id}` (unknown, or finished long ago)"))
    })?;
    let payload = match run.wait(Duration::from_millis(timeout)).await {
        Some(result) => {
            let mut value = serde_json::to_value(result).unwrap_or_default();
            value["runId"] = json!(run.id);
            value
        }
        None => json!({"runId": run.id, "status": "running"}),
    };
    Ok(payload)
}

fn agent_abort(state: &Arc<GatewayState>, params: &Value) -> Result<Value, RpcError> {
    if let Some(run_id) = optional_str(params, "runId")? {
        let run = state
            .runs
            .get(run_id)
            .ok_or_else(|| RpcError::not_found(format!("no run `{run_id}`")))?;
        let running = run.result().is_none();
        if running {
            state.runtime.abort(&run.session_key);
        }
        return Ok(json!({"aborted": running}));
    }
    let Some(session_key) = optional_str(params, "sessionKey")? else {
        return Err(RpcError::invalid(
            "give `params.runId` or `params.sessionKey`",
        ));
    };
    let running = state.runs.running_in(session_key);
    state.runtime.abort(session_key);
    Ok(json!({"aborted": running}))
}

fn history(state: &Arc<GatewayState>, params: &Value) -> Result<Value, RpcError> {
    let session_key = required_str(params, "sessionKey")?;
    let limit = optional_u64(params, "limit", MAX_HISTORY)?.unwrap_or(DEFAULT_HISTORY);
    let before = optional_u64(params, "beforeSeq", i64::MAX as u64)?;
    let rows =
        state
            .runtime
            .store()
            .history(session_key, limit as usize, before.map(|n| n as i64))?;
    let messages: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "seq": row.seq,
                "role": row.role.as_str(),
                "content": row.content,
                "toolCalls": row.tool_calls.iter().map(|c| json!({
                    "id": c.id, "name": c.name, "arguments": c.arguments,
                })).collect::<Vec<_>>(),
                "toolCallId": row.tool_call_id,
                "toolName": row.tool_name,
                "isError": row.is_error,
                "createdAtMs": row.created_ms,
            })
        })
        .collect();
    Ok(json!({"sessionKey": session_key, "messages": messages}))
}

fn sessions_list(state: &Arc<GatewayState>, params: &Value) -> Result<Value, RpcError> {
    let agent = optional_str(params, "agent")?;
    let limit = optional_u64(params, "limit", MAX_HISTORY)?.unwrap_or(50);
    let sessions: Vec<Value> = state
        .runtime
        .store()
        .sessions_list(agent, limit as usize)?
        .into_iter()
        .map(|s| {
            json!({
                "key": s.key,
                "agentId": s.agent_id,
                "title": s.title,
                "messageCount": s.message_count,
                "createdAtMs": s.created_ms,
                "updatedAtMs": s.updated_ms,
            })
        })
        .collect();
    Ok(json!({"sessions": sessions}))
}

fn sessions_reset(
    state: &Arc<GatewayState>,
    client: &Client,
    params: &Value,
) -> Result<Value, RpcError> {
    let session_key = required_str(params, "sessionKey")?;
    let store = state.runtime.store();
    if store.session_get(session_key)?.is_none() {
        return Err(RpcError::not_found(format!("no session `{session_key}`")));
    }
    let removed = store.session_reset(session_key)?;
    store.audit(
        &actor(client),
        "sessions.reset",
        &json!({"sessionKey": session_key, "removedMessages": removed}),
    )?;
    Ok(json!({"sessionKey": session_key, "removedMessages": removed}))
}

fn config_store(state: &GatewayState) -> Result<&dyn crate::control::ConfigStore, RpcError> {
    state.config.as_deref().ok_or_else(|| {
        RpcError::new(
            "NOT_FOUND",
            "this gateway runs without a configuration file to read or patch",
        )
    })
}

fn config_get(state: &Arc<GatewayState>) -> Result<Value, RpcError> {
    let snapshot = config_store(state)?
        .get()
        .map_err(|err| RpcError::internal(format!("reading the configuration: {err}")))?;
    Ok(json!({"path": snapshot.path, "hash": snapshot.hash, "config": snapshot.config}))
}

fn config_patch(
    state: &Arc<GatewayState>,
    client: &Client,
    params: &Value,
) -> Result<Value, RpcError> {
    let base_hash = required_str(params, "baseHash")?;
    let patch = &params["patch"];
    if !patch.is_object() {
        return Err(RpcError::invalid(
            "`params.patch` must be a JSON merge patch object, e.g. {\"gateway\":{\"port\":18790}}",
        ));
    }
    let hash = config_store(state)?
        .patch(base_hash, patch)
        .map_err(|err| match err {
            PatchError::Conflict { current_hash } => RpcError::new(
                "CONFLICT",
                "the configuration changed since you read it; config.get again and re-apply",
            )
            .with_details(json!({"currentHash": current_hash})),
            PatchError::Invalid(why) => RpcError::new("INVALID_CONFIG", why),
            PatchError::Io(why) => RpcError::internal(why),
        })?;
    state.runtime.store().audit(
        &actor(client),
        "config.patch",
        &json!({"baseHash": base_hash, "hash": hash, "patch": redact_patch(patch)}),
    )?;
    Ok(json!({"hash": hash, "restartRequired": true}))
}

/// The audit log keeps what changed, but not token values.
fn redact_patch(patch: &Value) -> Value {
    let mut patch = patch.clone();
    if let Some(token) = patch.pointer_mut("/gateway/token")
        && token.is_string()
    {
        *token = json!("__redacted__");
    }
    patch
}

pub fn plugin_json(plugin: &Plugin) -> Value {
    let manifest = plugin.manifest();
    let grant = plugin.grant();
    let budgets = &grant.budgets;
    json!({
        "id": plugin.id(),
        "name": manifest.name,
        "version": manifest.version,
        "kind": manifest.kind.to_string(),
        "language": manifest.language.to_string(),
        "description": manifest.description,
        "digest": plugin.digest(),
        "effects": manifest.effects,
        "grant": {
            "outbound": grant.outbound.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "allowPrivate": grant.allow_private.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "secrets": grant.secrets.iter().map(|s| json!({
                "name": s.name,
                "audience": s.audience.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "inject": s.inject.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "kv": grant.kv_quota_bytes.map(|q| json!({"quotaBytes": q})),
            "files": grant.files.iter().map(|f| json!({
                "guest": f.path,
                "host": f.host_dir.display().to_string(),
                "access": f.access.to_string(),
            })).collect::<Vec<_>>(),
            "websocket": grant.websocket.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "webhook": grant.webhook,
            "config": grant.config.keys().collect::<Vec<_>>(),
        },
        "budgets": {
            "fuel": budgets.fuel,
            "memoryBytes": budgets.memory_bytes,
            "wallMs": u64::try_from(budgets.timeout.as_millis()).unwrap_or(u64::MAX),
            "maxOutputBytes": budgets.max_output_bytes,
            "hostCallsPerInvocation": budgets.max_host_calls,
            "httpRequestsPerInvocation": budgets.max_http_requests,
            "maxResponseBytes": budgets.max_response_bytes,
        },
    })
}

async fn plugins_inspect(state: &Arc<GatewayState>, params: &Value) -> Result<Value, RpcError> {
    let id = required_str(params, "id")?;
    let plugin = state.plugins.iter().find(|p| p.id() == id).ok_or_else(|| {
        RpcError::not_found(format!(
            "no plugin `{id}` (installed: {})",
            state
                .plugins
                .iter()
                .map(|p| p.id())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut value = plugin_json(plugin);
    value["requested"] = serde_json::from_str(&plugin.manifest().to_json())
        .map(|m: Value| m["capabilities"].clone())
        .unwrap_or(Value::Null);
    if plugin.manifest().kind == chitin_manifest::PluginKind::Tool {
        let tools = plugin
            .describe_tools()
            .await
            .map_err(|err| RpcError::internal(format!("asking `{id}` for its tools: {err}")))?;
        value["tools"] = tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description}))
            .collect();
    } else {
        value["tools"] = json!([]);
    }
    Ok(value)
}

fn approvals_resolve(
    state: &Arc<GatewayState>,
    client: &Client,
    params: &Value,
) -> Result<Value, RpcError> {
    let id = required_str(params, "id")?;
    let approve = match required_str(params, "decision")? {
        "approve" => true,
        "deny" => false,
        other => {
            return Err(RpcError::invalid(format!(
                "`decision` is \"{other}\"; use \"approve\" or \"deny\""
            )));
        }
    };
    let reason = optional_str(params, "reason")?.map(str::to_string);
    state
        .runtime
        .approvals()
        .resolve(id, approve, &actor(client), reason)
        .map_err(RpcError::not_found)?;
    Ok(json!({"id": id, "decision": if approve { "approve" } else { "deny" }}))
}

fn pairing_resolve(
    state: &Arc<GatewayState>,
    client: &Client,
    params: &Value,
    approve: bool,
) -> Result<Value, RpcError> {
    let code = required_str(params, "code")?;
    let store = state.runtime.store();
    let request = store.pairing_resolve(code, approve)?.ok_or_else(|| {
        RpcError::not_found(format!(
            "no pending pairing request with code `{code}` (already decided, expired, or mistyped)"
        ))
    })?;
    let decision = if approve { "approve" } else { "reject" };
    store.audit(
        &actor(client),
        if approve {
            "pairing.approve"
        } else {
            "pairing.reject"
        },
        &json!({"code": request.code, "channel": request.channel, "sender": request.sender}),
    )?;
    state.hub.broadcast(
        "pairing",
        json!({"kind": "resolved", "code": request.code, "decision": decision}),
    );
    Ok(json!({"request": request}))
}
