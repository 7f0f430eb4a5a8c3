//! The agent loop: inbound message → session lane → context → provider (with failover) →
//! tools → provider … → answer. Everything accepted is in SQLite before the next step runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chitin_manifest::Effect;
use chitin_sandbox::{
    Completion, CompletionRequest, Message, ProviderError, Role, StreamEvent, ToolDefinition,
};
use chitin_store::{MessageRole, NewMessage, SessionRow, Store, ToolCallRecord, UsageRecord};
use chitin_workspace::{SkillSet, Workspace};
use futures_util::future::join_all;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::sync::{Semaphore, watch};

use crate::approvals::{self, Approvals};
use crate::config::{AgentConfig, ModelConfig, QueueMode};
use crate::context;
use crate::dates;
use crate::events::AgentEvent;
use crate::memory;
use crate::provider::{Failure, ModelProvider};
use crate::tools::{ToolContext, ToolRegistry};

/// One entry of an agent's model chain, resolved against the provider configuration.
pub struct ResolvedModel {
    /// `provider/model`.
    pub reference: String,
    pub provider_id: String,
    pub model_id: String,
    pub config: ModelConfig,
    pub base_url: String,
    /// Extra request fields as a JSON object.
    pub options: String,
    /// The operator's HTTP proxy for this provider's requests (`http://host:port`), if any.
    pub proxy: Option<String>,
    pub provider: Arc<dyn ModelProvider>,
}

/// An agent ready to run.
pub struct Agent {
    pub id: String,
    pub config: AgentConfig,
    pub workspace: Workspace,
    pub skills: SkillSet,
    /// Primary first, then fallbacks.
    pub models: Vec<ResolvedModel>,
}

/// How failures are retried before moving on. Tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of one model for transient errors, and for rate limits short enough to wait.
    pub max_retries: u32,
    /// First backoff for transient errors; doubles each retry.
    pub backoff: Duration,
    /// A retry-after up to this long is waited out on the same model; longer ones put the
    /// model in cooldown and move to the next.
    pub max_inline_wait: Duration,
    /// Cooldown after a rate limit or overload without a usable retry-after.
    pub cooldown: Duration,
    /// Cooldown after an authentication failure (the key will not fix itself soon).
    pub auth_cooldown: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(500),
            max_inline_wait: Duration::from_secs(5),
            cooldown: Duration::from_secs(30),
            auth_cooldown: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgentError {
    #[error("no agent `{0}` is configured")]
    UnknownAgent(String),
    #[error("the turn exceeded its time limit of {}s (agents.<id>.timeout_secs)", .0.as_secs())]
    Timeout(Duration),
    #[error(
        "the turn stopped after {0} model calls without an answer (agents.<id>.max_iterations)"
    )]
    MaxIterations(u32),
    #[error("every model failed: {}", describe_failures(.0))]
    AllModelsFailed(Vec<(String, String)>),
    #[error("the conversation does not fit the model's window even after compaction: {0}")]
    ContextOverflow(String),
    #[error("the run was interrupted (aborted, or replaced by a newer message)")]
    Interrupted,
    #[error("storage error: {0}")]
    Store(String),
}

fn describe_failures(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(model, why)| format!("{model}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<chitin_store::StoreError> for AgentError {
    fn from(err: chitin_store::StoreError) -> Self {
        AgentError::Store(err.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub agent_id: String,
    pub session_key: String,
    pub message: String,
    pub origin: RunOrigin,
}

/// Who started a run, which decides what it may do after reading untrusted input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunOrigin {
    /// Someone is in the conversation (chat, the API, the CLI) and sees what happens.
    #[default]
    Interactive,
    /// Started by a schedule (cron, heartbeat) with the operator's own prompt; nobody watches.
    Scheduled,
    /// Started by something from outside (a webhook, an inbound mail): the message itself is
    /// untrusted, and nobody watches.
    External,
}

impl RunOrigin {
    fn unattended(self) -> bool {
        self != RunOrigin::Interactive
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub text: String,
    /// Model calls this turn made.
    pub iterations: u32,
    /// The model that produced the answer (`provider/model`).
    pub model: String,
    /// In `collect` mode: the message was folded into another run's turn (which answers it).
    pub collected: bool,
    /// Tokens over all model calls of the turn, as the providers reported them.
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Per-session serialization: one turn at a time, plus what the queue modes need.
struct Lane {
    running: tokio::sync::Mutex<()>,
    /// Messages gathered for the next turn in `collect` mode.
    pending: Mutex<Vec<String>>,
    /// Bumped to interrupt the running turn.
    generation: watch::Sender<u64>,
}

pub struct AgentRuntime {
    store: Arc<Store>,
    tools: ToolRegistry,
    agents: BTreeMap<String, Arc<Agent>>,
    /// Per-agent concurrency (`agents.<id>.max_concurrent`).
    agent_slots: BTreeMap<String, Arc<Semaphore>>,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    global: Semaphore,
    cooldowns: Mutex<HashMap<String, Instant>>,
    retry: RetryPolicy,
    approvals: Arc<Approvals>,
}

/// Approvals nobody answers are denied after this long unless configured otherwise.
const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);

tokio::task_local! {
    /// The sessions waiting on a `sessions_send` further up this call chain.
    static SEND_CHAIN: Vec<String>;
}

/// How deep `sessions_send` may nest (A asks B, which asks C, ...).
const MAX_SEND_DEPTH: usize = 3;

/// What the origin gate needs to know about the run so far.
#[derive(Clone, Copy)]
struct Gate {
    origin: RunOrigin,
    tainted: bool,
}

/// Outcome of one provider round, with failover done.
enum Step {
    Answer(Completion, usize),
    Overflow(String),
}

const KEEP_TAIL_MESSAGES: usize = 4;
/// Compact when the prompt would use more than this share of the window.
const COMPACT_AT: f64 = 0.85;

impl AgentRuntime {
    pub fn new(
        store: Arc<Store>,
        tools: ToolRegistry,
        agents: Vec<Agent>,
        max_concurrent_runs: usize,
        retry: RetryPolicy,
    ) -> AgentRuntime {
        let agent_slots = agents
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    Arc::new(Semaphore::new(a.config.max_concurrent.max(1))),
                )
            })
            .collect();
        let store_for_approvals = store.clone();
        AgentRuntime {
            store,
            tools,
            agent_slots,
            agents: agents
                .into_iter()
                .map(|a| (a.id.clone(), Arc::new(a)))
                .collect(),
            lanes: Mutex::new(HashMap::new()),
            global: Semaphore::new(max_concurrent_runs.max(1)),
            cooldowns: Mutex::new(HashMap::new()),
            retry,
            approvals: Arc::new(Approvals::new(
                store_for_approvals,
                DEFAULT_APPROVAL_TIMEOUT,
            )),
        }
    }

    /// How long tool calls wait for an operator's approval (`[limits] approval_timeout_secs`).
    pub fn with_approval_timeout(mut self, timeout: Duration) -> AgentRuntime {
        self.approvals = Arc::new(Approvals::new(self.store.clone(), timeout));
        self
    }

    /// Pending tool approvals, shared with the gateway.
    pub fn approvals(&self) -> &Arc<Approvals> {
        &self.approvals
    }

    /// Every tool the agents may be offered.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn agent(&self, id: &str) -> Result<Arc<Agent>, AgentError> {
        self.agents
            .get(id)
            .cloned()
            .ok_or_else(|| AgentError::UnknownAgent(id.to_string()))
    }

    pub fn agent_ids(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    fn lane(&self, session_key: &str) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes
            .entry(session_key.to_string())
            .or_insert_with(|| {
                Arc::new(Lane {
                    running: tokio::sync::Mutex::new(()),
                    pending: Mutex::new(Vec::new()),
                    generation: watch::channel(0).0,
                })
            })
            .clone()
    }

    /// Interrupts the turn running in a session, if any.
    pub fn abort(&self, session_key: &str) {
        self.lane(session_key).generation.send_modify(|g| *g += 1);
    }

    /// Runs one turn for a message, streaming events to `events`.
    pub async fn run(
        &self,
        request: RunRequest,
        events: UnboundedSender<AgentEvent>,
    ) -> Result<RunOutcome, AgentError> {
        let agent = self.agent(&request.agent_id)?;
        // Before the lane: the turn that waits for this approval holds the lane.
        if let Some(reply) = self.approval_command(&agent, &request) {
            let _ = events.send(AgentEvent::TextDelta {
                text: reply.clone(),
            });
            let _ = events.send(AgentEvent::Done {
                text: reply.clone(),
            });
            return Ok(RunOutcome {
                text: reply,
                iterations: 0,
                model: String::new(),
                collected: false,
                input_tokens: 0,
                output_tokens: 0,
            });
        }
        let lane = self.lane(&request.session_key);
        let mut message = request.message;
        let _turn = match agent.config.queue_mode {
            QueueMode::Followup => lane.running.lock().await,
            QueueMode::Interrupt => {
                lane.generation.send_modify(|g| *g += 1);
                lane.running.lock().await
            }
            QueueMode::Collect => match lane.running.try_lock() {
                Ok(guard) => guard,
                Err(_) => {
                    let first = {
                        let mut pending = lane.pending.lock().unwrap_or_else(|p| p.into_inner());
                        pending.push(message);
                        pending.len() == 1
                    };
                    if !first {
                        return Ok(RunOutcome {
                            text: String::new(),
                            iterations: 0,
                            model: String::new(),
                            collected: true,
                            input_tokens: 0,
                            output_tokens: 0,
                        });
                    }
                    let guard = lane.running.lock().await;
                    message = lane
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .drain(..)
                        .collect::<Vec<_>>()
                        .join("\n\n");
                    guard
                }
            },
        };
        let agent_slots = self.agent_slots.get(&agent.id).cloned();
        let _agent_permit = match &agent_slots {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .map_err(|_| AgentError::Store("the runtime is shutting down".into()))?,
            ),
            None => None,
        };
        let _permit = self
            .global
            .acquire()
            .await
            .map_err(|_| AgentError::Store("the runtime is shutting down".into()))?;
        let generation = lane.generation.subscribe();
        let timeout = agent.config.timeout();
        let turn = self.turn(
            &agent,
            &request.session_key,
            message,
            request.origin,
            &events,
            generation,
        );
        let result = match tokio::time::timeout(timeout, turn).await {
            Ok(result) => result,
            Err(_) => Err(AgentError::Timeout(timeout)),
        };
        match &result {
            Ok(outcome) => {
                let _ = events.send(AgentEvent::Done {
                    text: outcome.text.clone(),
                });
            }
            Err(err) => {
                let _ = events.send(AgentEvent::Error {
                    message: err.to_string(),
                });
            }
        }
        result
    }

    async fn turn(
        &self,
        agent: &Agent,
        session_key: &str,
        message: String,
        origin: RunOrigin,
        events: &UnboundedSender<AgentEvent>,
        mut generation: watch::Receiver<u64>,
    ) -> Result<RunOutcome, AgentError> {
        generation.borrow_and_update();
        self.store.session_get_or_create(session_key, &agent.id)?;
        self.store
            .append_messages(session_key, &[user_message(message)])?;
        let turn_start = self
            .store
            .history(session_key, 1, None)?
            .first()
            .map_or(1, |row| row.seq);
        memory::sync_workspace(&self.store, &agent.workspace, &agent.id);
        let tools = self
            .tools
            .definitions(|name| agent.config.allows_tool(name));
        let mut compacted = false;
        let (mut input_tokens, mut output_tokens) = (0, 0);
        // Whether the model has seen text from outside in this turn: an external trigger's
        // message, or the output of a tool that reads untrusted input.
        let mut tainted = origin == RunOrigin::External;
        for iteration in 1..=agent.config.max_iterations {
            let step = tokio::select! {
                step = self.model_step(agent, session_key, &tools, events, iteration, !compacted) => step?,
                _ = generation.changed() => return Err(AgentError::Interrupted),
            };
            let (completion, model_index) = match step {
                Step::Answer(completion, index) => (completion, index),
                Step::Overflow(reason) if !compacted => {
                    tracing::info!(session = session_key, %reason, "context overflow; compacting");
                    self.compact(agent, session_key, events).await?;
                    compacted = true;
                    continue;
                }
                Step::Overflow(reason) => return Err(AgentError::ContextOverflow(reason)),
            };
            let model = &agent.models[model_index];
            self.record_usage(agent, session_key, model, &completion, events);
            if let Some(usage) = &completion.usage {
                input_tokens += u64::from(usage.input_tokens);
                output_tokens += u64::from(usage.output_tokens);
            }
            self.store.append_messages(
                session_key,
                &[NewMessage {
                    role: MessageRole::Assistant,
                    content: completion.text.clone(),
                    tool_calls: completion
                        .tool_calls
                        .iter()
                        .map(|c| ToolCallRecord {
                            id: c.id.clone(),
                            name: c.name.clone(),
                            arguments: c.arguments.clone(),
                        })
                        .collect(),
                    tool_call_id: None,
                    tool_name: None,
                    is_error: false,
                    provider: Some(model.provider_id.clone()),
                    model: Some(model.model_id.clone()),
                    provider_data: completion.provider_data.clone(),
                }],
            )?;
            if completion.tool_calls.is_empty() {
                memory::index_turn(&self.store, &agent.id, session_key, turn_start);
                return Ok(RunOutcome {
                    text: completion.text,
                    iterations: iteration,
                    model: model.reference.clone(),
                    collected: false,
                    input_tokens,
                    output_tokens,
                });
            }
            let gate = Gate { origin, tainted };
            let (results, read_untrusted) = tokio::select! {
                results = self.run_tools(agent, session_key, &completion, events, gate) => results,
                _ = generation.changed() => return Err(AgentError::Interrupted),
            };
            tainted |= read_untrusted;
            self.store.append_messages(session_key, &results)?;
        }
        Err(AgentError::MaxIterations(agent.config.max_iterations))
    }

    /// Runs the completion's tool calls concurrently (they are independent by construction:
    /// the model issued them together) and returns their results as tool messages in order,
    /// and whether any of them read untrusted input.
    async fn run_tools(
        &self,
        agent: &Agent,
        session_key: &str,
        completion: &Completion,
        events: &UnboundedSender<AgentEvent>,
        gate: Gate,
    ) -> (Vec<NewMessage>, bool) {
        let calls = completion.tool_calls.iter().map(|call| async move {
            let _ = events.send(AgentEvent::ToolStart {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            });
            let needs_approval = agent.config.requires_approval(&call.name)
                || self.tools.needs_approval(&call.name, &call.arguments);
            let verdict = if !agent.config.allows_tool(&call.name) {
                Err(format!(
                    "tool `{}` is not allowed for this agent",
                    call.name
                ))
            } else if let Some(refusal) = self.gate_refusal(agent, &call.name, gate) {
                Err(refusal)
            } else if needs_approval {
                self.await_approval(agent, session_key, call, events).await
            } else {
                Ok(())
            };
            // What a call that ran returned may carry outside text; a refused one read nothing.
            let read_untrusted = verdict.is_ok()
                && self
                    .tools
                    .effects(&call.name)
                    .contains(&Effect::ReadsUntrusted);
            let result = if let Err(refusal) = verdict {
                crate::tools::ToolResult {
                    content: refusal,
                    is_error: true,
                }
            } else if self.tools.is_sessions_send(&call.name) {
                self.sessions_send(agent, session_key, &call.arguments, gate.origin)
                    .await
            } else {
                let cx = ToolContext {
                    agent_id: &agent.id,
                    session_key,
                    call_id: &call.id,
                    workspace: &agent.workspace,
                    skills: &agent.skills,
                    store: &self.store,
                    approved: needs_approval,
                };
                self.tools.call(&call.name, &call.arguments, &cx).await
            };
            let _ = events.send(AgentEvent::ToolEnd {
                id: call.id.clone(),
                name: call.name.clone(),
                ok: !result.is_error,
                output: result.content.chars().take(2000).collect(),
            });
            let message = NewMessage {
                role: MessageRole::Tool,
                content: result.content,
                tool_calls: Vec::new(),
                tool_call_id: Some(call.id.clone()),
                tool_name: Some(call.name.clone()),
                is_error: result.is_error,
                provider: None,
                model: None,
                provider_data: None,
            };
            (message, read_untrusted)
        });
        let outcomes = join_all(calls).await;
        let read_untrusted = outcomes.iter().any(|(_, read)| *read);
        (
            outcomes.into_iter().map(|(m, _)| m).collect(),
            read_untrusted,
        )
    }

    /// `run` behind a box with a declared type, so that `run` can reach itself through
    /// `sessions_send` (a recursive future needs a boxed, nameable step in the cycle).
    fn run_boxed(
        &self,
        request: RunRequest,
        events: UnboundedSender<AgentEvent>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<RunOutcome, AgentError>> + Send + '_>,
    > {
        Box::pin(self.run(request, events))
    }

    /// `sessions_send`: runs a turn in another session and returns its reply. The target must
    /// belong to this agent or to one in `[agents.<id>] send_to_agents`, and must not be a
    /// session already waiting in this chain of sends (it would wait for itself).
    async fn sessions_send(
        &self,
        agent: &Agent,
        from_session: &str,
        arguments: &str,
        origin: RunOrigin,
    ) -> crate::tools::ToolResult {
        let error = |content: String| crate::tools::ToolResult {
            content,
            is_error: true,
        };
        let args: serde_json::Value = serde_json::from_str(arguments).unwrap_or_default();
        let (Some(target), Some(message)) = (args["sessionKey"].as_str(), args["message"].as_str())
        else {
            return error(
                "sessions_send needs {\"sessionKey\": \"agent:<id>:...\", \"message\": \"...\"}"
                    .into(),
            );
        };
        let Some(target_agent) = target
            .strip_prefix("agent:")
            .and_then(|rest| rest.split(':').next())
            .filter(|a| !a.is_empty())
        else {
            return error(format!(
                "`{target}` is not a session key (agent:<agent id>:<name>); sessions_list shows them"
            ));
        };
        if target_agent != agent.id
            && !agent
                .config
                .send_to_agents
                .iter()
                .any(|a| a == target_agent)
        {
            return error(format!(
                "this agent may not message agent `{target_agent}` ([agents.{}] send_to_agents)",
                agent.id
            ));
        }
        let chain = SEND_CHAIN.try_with(Clone::clone).unwrap_or_default();
        if target == from_session || chain.iter().any(|s| s == target) {
            return error(format!(
                "`{target}` is waiting for this conversation already; messaging it would wait \
                 forever"
            ));
        }
        if chain.len() >= MAX_SEND_DEPTH {
            return error(format!(
                "sessions_send is nested {MAX_SEND_DEPTH} deep already; answer instead"
            ));
        }
        let mut inner_chain = chain;
        inner_chain.push(from_session.to_string());
        let (events, _ignored) = unbounded_channel();
        let request = RunRequest {
            agent_id: target_agent.to_string(),
            session_key: target.to_string(),
            message: format!("[message from session {from_session}]\n{message}"),
            origin,
        };
        match SEND_CHAIN
            .scope(inner_chain, self.run_boxed(request, events))
            .await
        {
            Ok(outcome) if outcome.collected => crate::tools::ToolResult {
                content: "queued: the session will answer it together with its next turn".into(),
                is_error: false,
            },
            Ok(outcome) => crate::tools::ToolResult {
                content: outcome.text,
                is_error: false,
            },
            Err(err) => error(format!("the session `{target}` could not answer: {err}")),
        }
    }

    /// The origin gate: an unattended run that has read untrusted input may not write or send,
    /// unless the operator allowed the tool for unattended runs. Text planted in a web page or
    /// an email must not be able to make a cron job mail the user's files away.
    fn gate_refusal(&self, agent: &Agent, tool: &str, gate: Gate) -> Option<String> {
        if !(gate.origin.unattended() && gate.tainted) {
            return None;
        }
        let effects = self.tools.effects(tool);
        if !(effects.contains(&Effect::Writes) || effects.contains(&Effect::Sends)) {
            return None;
        }
        if agent.config.allows_unattended(tool) {
            return None;
        }
        Some(format!(
            "`{tool}` writes or sends, and this unattended run has read untrusted input, so it \
             is blocked (the operator can allow it with [agents.{}] unattended_allow)",
            agent.id
        ))
    }

    /// `/approve <id> [reason]` and `/deny <id> [reason]` typed in a chat resolve a pending
    /// approval of the same agent without a model turn; the reply says what happened.
    fn approval_command(&self, agent: &Agent, request: &RunRequest) -> Option<String> {
        let text = request.message.trim();
        let (approve, rest) = if let Some(rest) = text.strip_prefix("/approve") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("/deny") {
            (false, rest)
        } else {
            return None;
        };
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            return None;
        }
        let mut words = rest.trim().splitn(2, char::is_whitespace);
        let pending = self.approvals.list();
        let Some(id) = words.next().filter(|id| !id.is_empty()) else {
            let mine: Vec<String> = pending
                .iter()
                .filter(|p| p.agent_id == agent.id)
                .map(|p| format!("{} ({} {})", p.id, p.tool, p.arguments))
                .collect();
            return Some(if mine.is_empty() {
                "Nothing is waiting for approval.".into()
            } else {
                format!(
                    "Waiting for approval: {}. Reply /approve <id> or /deny <id>.",
                    mine.join("; ")
                )
            });
        };
        let reason = words.next().map(|r| r.trim().to_string());
        if !pending.iter().any(|p| p.id == id && p.agent_id == agent.id) {
            return Some(format!(
                "No approval `{id}` is waiting for agent {} (already decided or expired?).",
                agent.id
            ));
        }
        let actor = format!("chat:{}", request.session_key);
        Some(match self.approvals.resolve(id, approve, &actor, reason) {
            Ok(approval) => format!(
                "{} {id}: {} {}",
                if approve { "Approved" } else { "Denied" },
                approval.tool,
                approval.arguments
            ),
            Err(why) => why,
        })
    }

    /// Waits for the operator to approve a call. `Err` carries what the model is told when the
    /// call does not run.
    async fn await_approval(
        &self,
        agent: &Agent,
        session_key: &str,
        call: &chitin_sandbox::ToolCall,
        events: &UnboundedSender<AgentEvent>,
    ) -> Result<(), String> {
        let (decision, reason) = self
            .approvals
            .request(
                &agent.id,
                session_key,
                &call.name,
                &call.arguments,
                |pending| {
                    let _ = events.send(AgentEvent::ApprovalRequested {
                        call_id: call.id.clone(),
                        approval_id: pending.id.clone(),
                        tool: call.name.clone(),
                    });
                },
            )
            .await;
        let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
        match decision {
            approvals::Decision::Approve => Ok(()),
            approvals::Decision::Deny => Err(format!(
                "the operator denied running `{}`{reason}; do not retry it unless asked",
                call.name
            )),
            approvals::Decision::Expired | approvals::Decision::Cancelled => Err(format!(
                "nobody approved running `{}` in time, so it did not run",
                call.name
            )),
        }
    }

    /// One provider round trip with failover across the agent's model chain.
    async fn model_step(
        &self,
        agent: &Agent,
        session_key: &str,
        tools: &[ToolDefinition],
        events: &UnboundedSender<AgentEvent>,
        iteration: u32,
        may_compact: bool,
    ) -> Result<Step, AgentError> {
        let session = self
            .store
            .session_get(session_key)?
            .ok_or_else(|| AgentError::Store(format!("session {session_key} vanished")))?;
        let rows = self.store.transcript(session_key)?;
        let system = context::system_prompt(
            &agent.id,
            &agent.workspace,
            &agent.skills,
            dates::now_utc(),
            !tools.is_empty(),
        );
        // Compact ahead of time when the transcript nears the primary model's window.
        if may_compact && let Some(primary) = agent.models.first() {
            let messages = context::transcript_messages(&session, &rows, &primary.provider_id);
            let schema_chars: usize = tools
                .iter()
                .map(|t| t.parameters_schema.len() + t.description.len())
                .sum();
            let estimate = context::estimate_tokens(&system, &messages, schema_chars);
            let budget = f64::from(primary.config.context_window) * COMPACT_AT
                - f64::from(primary.config.max_tokens);
            if f64::from(estimate) > budget && compaction_cut(&rows) > 0 {
                return Ok(Step::Overflow(format!(
                    "about {estimate} tokens of context for a window of {}",
                    primary.config.context_window
                )));
            }
        }
        let build = |model: &ResolvedModel| CompletionRequest {
            model: model.model_id.clone(),
            messages: with_system(
                &system,
                context::transcript_messages(&session, &rows, &model.provider_id),
            ),
            tools: tools.to_vec(),
            max_tokens: Some(model.config.max_tokens),
            temperature: model.config.temperature,
            base_url: model.base_url.clone(),
            options: model.options.clone(),
        };
        self.complete_with_failover(agent, build, Some(events), iteration)
            .await
    }

    async fn complete_with_failover(
        &self,
        agent: &Agent,
        build: impl Fn(&ResolvedModel) -> CompletionRequest,
        events: Option<&UnboundedSender<AgentEvent>>,
        iteration: u32,
    ) -> Result<Step, AgentError> {
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut previous: Option<&str> = None;
        for (index, model) in agent.models.iter().enumerate() {
            if let Some(until) = self.cooling_until(&model.reference) {
                failures.push((
                    model.reference.clone(),
                    format!(
                        "cooling down for {}s after earlier failures",
                        until.as_secs().max(1)
                    ),
                ));
                continue;
            }
            if let (Some(events), Some(from)) = (events, previous) {
                let _ = events.send(AgentEvent::Failover {
                    from: from.to_string(),
                    to: model.reference.clone(),
                    reason: failures.last().map(|f| f.1.clone()).unwrap_or_default(),
                });
            }
            previous = Some(&model.reference);
            let mut attempt = 0;
            loop {
                if let Some(events) = events {
                    let _ = events.send(AgentEvent::ModelCall {
                        provider: model.provider_id.clone(),
                        model: model.model_id.clone(),
                        iteration,
                    });
                }
                match self.call_model(model, build(model), events).await {
                    Ok(completion) => return Ok(Step::Answer(completion, index)),
                    Err(Failure::Provider(ProviderError::ContextOverflow(reason))) => {
                        return Ok(Step::Overflow(reason));
                    }
                    Err(failure) => {
                        let decision = self.decide(&failure, attempt);
                        tracing::warn!(
                            model = %model.reference, attempt, %failure, ?decision,
                            "model call failed"
                        );
                        match decision {
                            Decision::RetryAfter(wait) => {
                                attempt += 1;
                                tokio::time::sleep(wait).await;
                                continue;
                            }
                            Decision::NextModel { cooldown } => {
                                if let Some(cooldown) = cooldown {
                                    self.cool_down(&model.reference, cooldown);
                                }
                                failures.push((model.reference.clone(), failure.to_string()));
                                break;
                            }
                        }
                    }
                }
            }
        }
        Err(AgentError::AllModelsFailed(failures))
    }

    fn decide(&self, failure: &Failure, attempt: u32) -> Decision {
        let retry = &self.retry;
        let can_retry = attempt < retry.max_retries;
        match failure {
            Failure::Provider(ProviderError::RateLimited(after))
            | Failure::Provider(ProviderError::Overloaded(after)) => {
                let after = after.map(|ms| Duration::from_millis(ms.into()));
                match after {
                    Some(wait) if can_retry && wait <= retry.max_inline_wait => {
                        Decision::RetryAfter(wait)
                    }
                    Some(wait) => Decision::NextModel {
                        cooldown: Some(wait.max(Duration::from_millis(1))),
                    },
                    None => Decision::NextModel {
                        cooldown: Some(retry.cooldown),
                    },
                }
            }
            Failure::Provider(ProviderError::Transient(_)) if can_retry => {
                Decision::RetryAfter(retry.backoff * 2u32.pow(attempt))
            }
            Failure::Provider(ProviderError::Transient(_)) => {
                Decision::NextModel { cooldown: None }
            }
            Failure::Provider(ProviderError::Auth(_)) => Decision::NextModel {
                cooldown: Some(retry.auth_cooldown),
            },
            // Another provider may accept what this one refused (a schema it cannot take).
            Failure::Provider(ProviderError::BadRequest(_)) => {
                Decision::NextModel { cooldown: None }
            }
            Failure::Provider(ProviderError::ContextOverflow(_)) => {
                Decision::NextModel { cooldown: None }
            }
            Failure::Sandbox(_) => Decision::NextModel { cooldown: None },
        }
    }

    fn cooling_until(&self, model: &str) -> Option<Duration> {
        let mut cooldowns = self.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
        match cooldowns.get(model) {
            Some(until) if *until > Instant::now() => Some(*until - Instant::now()),
            Some(_) => {
                cooldowns.remove(model);
                None
            }
            None => None,
        }
    }

    fn cool_down(&self, model: &str, duration: Duration) {
        self.cooldowns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(model.to_string(), Instant::now() + duration);
    }

    /// Calls one model, forwarding its streamed text to the run's subscribers.
    async fn call_model(
        &self,
        model: &ResolvedModel,
        request: CompletionRequest,
        events: Option<&UnboundedSender<AgentEvent>>,
    ) -> Result<Completion, Failure> {
        let (sender, mut receiver) = unbounded_channel::<StreamEvent>();
        let forward = async {
            while let Some(event) = receiver.recv().await {
                if let (Some(events), StreamEvent::TextDelta(text)) = (events, event) {
                    let _ = events.send(AgentEvent::TextDelta { text });
                }
            }
        };
        let call = model
            .provider
            .complete(request, model.proxy.as_deref(), sender);
        let (result, ()) = tokio::join!(call, forward);
        result
    }

    fn record_usage(
        &self,
        agent: &Agent,
        session_key: &str,
        model: &ResolvedModel,
        completion: &Completion,
        events: &UnboundedSender<AgentEvent>,
    ) {
        let Some(usage) = &completion.usage else {
            return;
        };
        let input = u64::from(usage.input_tokens);
        let output = u64::from(usage.output_tokens);
        let cost = (input as f64 * model.config.cost_input
            + output as f64 * model.config.cost_output)
            / 1_000_000.0;
        let record = UsageRecord {
            session_key: session_key.to_string(),
            agent_id: agent.id.clone(),
            provider: model.provider_id.clone(),
            model: model.model_id.clone(),
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: u64::from(usage.cache_read_tokens),
            cache_write_tokens: u64::from(usage.cache_write_tokens),
            cost_usd: cost,
            created_ms: dates::now_ms(),
        };
        if let Err(err) = self.store.record_usage(&record) {
            tracing::warn!(error = %err, "cannot record usage");
        }
        let _ = events.send(AgentEvent::Usage {
            provider: model.provider_id.clone(),
            model: model.model_id.clone(),
            input_tokens: input,
            output_tokens: output,
        });
    }

    /// Makes room in the context: a silent memory-flush turn (the model may save what matters
    /// with memory_write), then the older turns are summarized and only the tail kept.
    async fn compact(
        &self,
        agent: &Agent,
        session_key: &str,
        events: &UnboundedSender<AgentEvent>,
    ) -> Result<(), AgentError> {
        let session = self
            .store
            .session_get(session_key)?
            .ok_or_else(|| AgentError::Store(format!("session {session_key} vanished")))?;
        let rows = self.store.transcript(session_key)?;
        let cut = compaction_cut(&rows);
        if cut == 0 {
            return Err(AgentError::ContextOverflow(
                "nothing older than the last turns to summarize".into(),
            ));
        }
        self.memory_flush(agent, session_key, &session, &rows).await;

        let window_chars = agent
            .models
            .first()
            .map(|m| m.config.context_window as usize * 2)
            .unwrap_or(16_000);
        let mut transcript = String::new();
        if let Some(summary) = &session.summary {
            transcript.push_str(&format!("Earlier summary:\n{summary}\n\n"));
        }
        for row in &rows[..cut] {
            transcript.push_str(&format!("{}: {}\n", role_name(row.role), row.content));
            for call in &row.tool_calls {
                transcript.push_str(&format!(
                    "  (called {} with {})\n",
                    call.name, call.arguments
                ));
            }
        }
        if transcript.len() > window_chars {
            let start = transcript.len() - window_chars;
            let start = (start..transcript.len())
                .find(|i| transcript.is_char_boundary(*i))
                .unwrap_or(transcript.len());
            transcript = transcript[start..].to_string();
        }
        let build = |model: &ResolvedModel| CompletionRequest {
            model: model.model_id.clone(),
            messages: vec![
                system_message(
                    "You compress conversations for your future self. Summarize the conversation \
                     below: who the user is, what was asked and decided, facts learned, tasks still \
                     open. Be concise and concrete; no preamble.",
                ),
                Message {
                    role: Role::User,
                    content: transcript.clone(),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    provider_data: None,
                },
            ],
            tools: Vec::new(),
            max_tokens: Some(model.config.max_tokens.min(1024)),
            temperature: None,
            base_url: model.base_url.clone(),
            options: model.options.clone(),
        };
        let summary = match self.complete_with_failover(agent, build, None, 0).await? {
            Step::Answer(completion, _) => completion.text,
            Step::Overflow(reason) => return Err(AgentError::ContextOverflow(reason)),
        };
        let upto = rows[cut - 1].seq;
        self.store.compact(session_key, upto, summary.trim())?;
        let _ = events.send(AgentEvent::Compacted {
            summarized_messages: cut,
        });
        Ok(())
    }

    /// Before older turns are summarized away, lets the model save durable facts to memory.
    /// Best effort: a failure here must not block compaction.
    async fn memory_flush(
        &self,
        agent: &Agent,
        session_key: &str,
        session: &SessionRow,
        rows: &[chitin_store::MessageRow],
    ) {
        let tools: Vec<ToolDefinition> = self
            .tools
            .definitions(|name| name == "memory_write" && agent.config.allows_tool(name));
        if tools.is_empty() {
            return;
        }
        let build = |model: &ResolvedModel| {
            let mut messages = vec![system_message(
                "Pre-compaction memory flush: older parts of this conversation are about to be \
                 summarized. Save anything worth remembering long-term (facts about the user, \
                 preferences, decisions) with memory_write now. If there is nothing, reply \
                 NO_REPLY.",
            )];
            messages.extend(context::transcript_messages(
                session,
                rows,
                &model.provider_id,
            ));
            CompletionRequest {
                model: model.model_id.clone(),
                messages,
                tools: tools.clone(),
                max_tokens: Some(model.config.max_tokens.min(1024)),
                temperature: None,
                base_url: model.base_url.clone(),
                options: model.options.clone(),
            }
        };
        match self.complete_with_failover(agent, build, None, 0).await {
            Ok(Step::Answer(completion, _)) => {
                for call in completion
                    .tool_calls
                    .iter()
                    .filter(|c| c.name == "memory_write")
                {
                    let cx = ToolContext {
                        agent_id: &agent.id,
                        session_key,
                        call_id: &call.id,
                        workspace: &agent.workspace,
                        skills: &agent.skills,
                        store: &self.store,
                        approved: false,
                    };
                    let result = self.tools.call(&call.name, &call.arguments, &cx).await;
                    if result.is_error {
                        tracing::warn!(error = %result.content, "memory flush write failed");
                    }
                }
            }
            Ok(Step::Overflow(reason)) => {
                tracing::warn!(%reason, "memory flush skipped: the context is already too large")
            }
            Err(err) => tracing::warn!(error = %err, "memory flush failed"),
        }
    }
}

#[derive(Debug)]
enum Decision {
    RetryAfter(Duration),
    NextModel { cooldown: Option<Duration> },
}

/// Index of the first message kept (0: nothing can be summarized). The kept tail starts at a
/// user message, so a tool call is never separated from its result; it holds at least
/// [`KEEP_TAIL_MESSAGES`] messages when the history allows, and at least the current turn.
fn compaction_cut(rows: &[chitin_store::MessageRow]) -> usize {
    let turn_starts: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(i, row)| *i > 0 && row.role == MessageRole::User)
        .map(|(i, _)| i)
        .collect();
    let roomy = rows.len().saturating_sub(KEEP_TAIL_MESSAGES);
    turn_starts
        .iter()
        .rev()
        .find(|&&i| i <= roomy)
        .or(turn_starts.last())
        .copied()
        .unwrap_or(0)
}

fn role_name(role: MessageRole) -> &'static str {
    match role {
        MessageRole::System => "system",
        MessageRole::User => "user",
        MessageRole::Assistant => "assistant",
        MessageRole::Tool => "tool result",
    }
}

fn user_message(text: String) -> NewMessage {
    NewMessage {
        role: MessageRole::User,
        content: text,
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_name: None,
        is_error: false,
        provider: None,
        model: None,
        provider_data: None,
    }
}

fn system_message(text: &str) -> Message {
    Message {
        role: Role::System,
        content: text.to_string(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        provider_data: None,
    }
}

fn with_system(system: &str, mut messages: Vec<Message>) -> Vec<Message> {
    messages.insert(0, system_message(system));
    messages
}
