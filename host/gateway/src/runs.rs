//! Runs started over the WebSocket protocol: each gets an id, streams its events to whoever
//! started it, and leaves a result that `agent.wait` can collect for a while after it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitin_agent::{AgentError, AgentEvent, AgentRuntime, RunRequest};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Finished runs remembered for `agent.wait`; older ones are forgotten first.
const KEEP_FINISHED: usize = 1000;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// `ok`, `error` or `aborted`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For errors: `timeout`, `all_models_failed`, `max_iterations`, `context_overflow`,
    /// `interrupted`, `unknown_agent`, `store`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

pub struct Run {
    pub id: String,
    pub agent_id: String,
    pub session_key: String,
    result: watch::Sender<Option<RunResult>>,
}

impl Run {
    pub fn result(&self) -> Option<RunResult> {
        self.result.borrow().clone()
    }

    /// The result, or `None` if the run is still going after `timeout`.
    pub async fn wait(&self, timeout: Duration) -> Option<RunResult> {
        let mut rx = self.result.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(result)) => result.clone(),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Registry {
    runs: HashMap<String, Arc<Run>>,
    finished: VecDeque<String>,
}

pub struct Runs {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    active: watch::Sender<usize>,
}

impl Default for Runs {
    fn default() -> Self {
        Runs {
            registry: Mutex::default(),
            next_id: AtomicU64::new(1),
            active: watch::channel(0).0,
        }
    }
}

pub fn error_code(err: &AgentError) -> &'static str {
    match err {
        AgentError::UnknownAgent(_) => "unknown_agent",
        AgentError::Timeout(_) => "timeout",
        AgentError::MaxIterations(_) => "max_iterations",
        AgentError::AllModelsFailed(_) => "all_models_failed",
        AgentError::ContextOverflow(_) => "context_overflow",
        AgentError::Interrupted => "interrupted",
        AgentError::Store(_) => "store",
    }
}

/// A run's event as protocol payload (without the run's ids); `None` for the final events,
/// which are reported once the outcome is known.
fn event_payload(event: AgentEvent) -> Option<Value> {
    Some(match event {
        AgentEvent::TextDelta { text } => json!({"kind": "delta", "text": text}),
        AgentEvent::ModelCall {
            provider,
            model,
            iteration,
        } => json!({"kind": "model", "provider": provider, "model": model, "iteration": iteration}),
        AgentEvent::Failover { from, to, reason } => {
            json!({"kind": "failover", "from": from, "to": to, "reason": reason})
        }
        AgentEvent::ToolStart {
            id,
            name,
            arguments,
        } => json!({"kind": "tool.start", "callId": id, "name": name, "arguments": arguments}),
        AgentEvent::ApprovalRequested {
            call_id,
            approval_id,
            tool,
        } => {
            json!({"kind": "approval", "callId": call_id, "approvalId": approval_id, "tool": tool})
        }
        AgentEvent::ToolEnd {
            id,
            name,
            ok,
            output,
        } => json!({"kind": "tool.end", "callId": id, "name": name, "ok": ok, "output": output}),
        AgentEvent::Usage {
            provider,
            model,
            input_tokens,
            output_tokens,
        } => json!({
            "kind": "usage", "provider": provider, "model": model,
            "inputTokens": input_tokens, "outputTokens": output_tokens,
        }),
        AgentEvent::Compacted {
            summarized_messages,
        } => json!({"kind": "compacted", "summarizedMessages": summarized_messages}),
        AgentEvent::Done { .. } | AgentEvent::Error { .. } => return None,
    })
}

impl Runs {
    pub fn active(&self) -> usize {
        *self.active.borrow()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Run>> {
        self.lock().runs.get(id).cloned()
    }

    /// Whether a run started here is still going in this session.
    pub fn running_in(&self, session_key: &str) -> bool {
        self.lock()
            .runs
            .values()
            .any(|run| run.session_key == session_key && run.result().is_none())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a run in the background. `emit` receives each event payload (with `runId`,
    /// `sessionKey` and `agentId` added), ending with exactly one `done` or `error`.
    pub fn start(
        self: &Arc<Self>,
        runtime: Arc<AgentRuntime>,
        request: RunRequest,
        emit: impl Fn(Value) + Send + Sync + 'static,
    ) -> Arc<Run> {
        let id = format!("r{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let run = Arc::new(Run {
            id: id.clone(),
            agent_id: request.agent_id.clone(),
            session_key: request.session_key.clone(),
            result: watch::channel(None).0,
        });
        self.lock().runs.insert(id.clone(), run.clone());
        self.active.send_modify(|n| *n += 1);
        let emit = Arc::new(emit);
        let tag = {
            let run = run.clone();
            move |mut payload: Value| {
                payload["runId"] = json!(run.id);
                payload["sessionKey"] = json!(run.session_key);
                payload["agentId"] = json!(run.agent_id);
                payload
            }
        };
        let runs = self.clone();
        let task_run = run.clone();
        tokio::spawn(async move {
            let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
            let forward = {
                let emit = emit.clone();
                let tag = tag.clone();
                tokio::spawn(async move {
                    while let Some(event) = received.recv().await {
                        if let Some(payload) = event_payload(event) {
                            emit(tag(payload));
                        }
                    }
                })
            };
            let outcome = runtime.run(request, events).await;
            // The runtime dropped its sender when `run` returned: this ends once every event
            // before the final one is out.
            let _ = forward.await;
            let result = match outcome {
                Ok(outcome) => RunResult {
                    status: "ok",
                    text: Some(outcome.text),
                    error: None,
                    code: None,
                    model: Some(outcome.model).filter(|m| !m.is_empty()),
                    input_tokens: outcome.input_tokens,
                    output_tokens: outcome.output_tokens,
                },
                Err(err) => RunResult {
                    status: if err == AgentError::Interrupted {
                        "aborted"
                    } else {
                        "error"
                    },
                    text: None,
                    error: Some(err.to_string()),
                    code: Some(error_code(&err)),
                    model: None,
                    input_tokens: 0,
                    output_tokens: 0,
                },
            };
            let final_event = match &result.text {
                Some(text) => json!({
                    "kind": "done", "text": text, "model": result.model,
                    "inputTokens": result.input_tokens, "outputTokens": result.output_tokens,
                }),
                None => json!({"kind": "error", "message": result.error, "code": result.code}),
            };
            // Recorded before it is announced: a client that reacts to `done` with
            // `agent.wait` or `status` sees the run finished.
            task_run.result.send_replace(Some(result));
            runs.finish(&task_run.id);
            emit(tag(final_event));
        });
        run
    }

    fn finish(&self, id: &str) {
        {
            let mut registry = self.lock();
            registry.finished.push_back(id.to_string());
            while registry.finished.len() > KEEP_FINISHED {
                if let Some(old) = registry.finished.pop_front() {
                    registry.runs.remove(&old);
                }
            }
        }
        self.active.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Waits until no run is in progress, or `timeout`; returns the runs still going.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let mut rx = self.active.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await;
        self.active()
    }
}
