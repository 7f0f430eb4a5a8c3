//! The tools an agent can call: sandboxed tool plugins, and a few native tools that act on
//! host state (memory and skills), which no plugin could be trusted with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chitin_manifest::Effect;
use chitin_sandbox::{CallContext, Plugin, PluginError, ToolDefinition};
use chitin_store::Store;
use chitin_workspace::{SkillSet, Workspace};
use serde_json::{Value, json};

use crate::dates;
use crate::exec::{Exec, ExecPolicy, Verdict};

/// Tool output fed back to the model is cut here: a tool's answer is not a bulk channel.
pub const MAX_TOOL_RESULT_CHARS: usize = 32_000;

#[derive(Clone)]
enum Kind {
    Sandboxed(Arc<Plugin>),
    ReadSkill,
    MemorySearch,
    MemoryGet,
    MemoryWrite,
    Exec,
    SessionsList,
    /// Runs a turn in another session; the runtime performs it (it needs the runtime).
    SessionsSend,
}

#[derive(Clone)]
struct Entry {
    definition: ToolDefinition,
    kind: Kind,
    effects: BTreeSet<Effect>,
}

/// What one agent's tools need from the host.
pub struct ToolContext<'a> {
    pub agent_id: &'a str,
    pub session_key: &'a str,
    pub call_id: &'a str,
    pub workspace: &'a Workspace,
    pub skills: &'a SkillSet,
    pub store: &'a Store,
    /// An operator approved this call (tools that ask run only then).
    pub approved: bool,
}

/// The result of one tool call as the model will see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub content: String,
    pub is_error: bool,
}

impl ToolResult {
    pub fn ok(content: impl Into<String>) -> ToolResult {
        ToolResult {
            content: truncate(content.into()),
            is_error: false,
        }
    }

    pub fn error(content: impl Into<String>) -> ToolResult {
        ToolResult {
            content: truncate(content.into()),
            is_error: true,
        }
    }
}

fn truncate(mut text: String) -> String {
    if text.chars().count() > MAX_TOOL_RESULT_CHARS {
        let cut: String = text.chars().take(MAX_TOOL_RESULT_CHARS).collect();
        let more = text.chars().count() - MAX_TOOL_RESULT_CHARS;
        text = format!("{cut}\n[truncated: {more} more characters]");
    }
    text
}

/// Tools that live outside the registry and may change while it runs: the tools of MCP
/// servers (external ones, and MCP servers compiled to wasm). What they do is unknown, so they
/// count as doing everything (untrusted output, writes, sends) for the origin gate.
pub trait ExternalTools: Send + Sync {
    /// The tools on offer now.
    fn definitions(&self) -> Vec<ToolDefinition>;
    fn has(&self, name: &str) -> bool;
    /// Runs one call; every failure is an error result for the model.
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ToolResult> + Send + 'a>>;
}

#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Entry>,
    exec: Option<Arc<Exec>>,
    external: Vec<Arc<dyn ExternalTools>>,
}

impl ToolRegistry {
    /// The native tools every agent has (subject to its allow/deny policy).
    pub fn with_native_tools() -> ToolRegistry {
        let mut registry = ToolRegistry::default();
        let native = [
            (
                "read_skill",
                "Read the full instructions of a skill listed in <available_skills>.",
                json!({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}),
                Kind::ReadSkill,
            ),
            (
                "memory_search",
                "Search long-term memory (MEMORY.md, daily notes in memory/, past conversations). \
                 Returns matching passages with their source and line numbers.",
                json!({"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":20}},"required":["query"]}),
                Kind::MemorySearch,
            ),
            (
                "memory_get",
                "Read a memory file (MEMORY.md or memory/YYYY-MM-DD.md), optionally a line range.",
                json!({"type":"object","properties":{"path":{"type":"string"},"from_line":{"type":"integer","minimum":1},"lines":{"type":"integer","minimum":1}},"required":["path"]}),
                Kind::MemoryGet,
            ),
            (
                "memory_write",
                "Append a note to today's memory file (memory/YYYY-MM-DD.md). Use it for facts, \
                 decisions and preferences worth remembering.",
                json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
                Kind::MemoryWrite,
            ),
            (
                "sessions_list",
                "List this agent's conversations (session keys, titles, last activity), most \
                 recent first.",
                json!({"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":100}}}),
                Kind::SessionsList,
            ),
            (
                "sessions_send",
                "Send a message into another session (of this agent, or of an agent it may \
                 message) and get that session's reply. The other session sees the message as \
                 coming from you.",
                json!({"type":"object","properties":{"sessionKey":{"type":"string"},"message":{"type":"string"}},"required":["sessionKey","message"]}),
                Kind::SessionsSend,
            ),
        ];
        for (name, description, schema, kind) in native {
            // Skills and memory are the operator's and the agent's own text; writing memory
            // changes what later turns see.
            let effects = match kind {
                Kind::MemoryWrite => BTreeSet::from([Effect::Writes]),
                // Another session's reply may carry whatever that session read.
                Kind::SessionsSend => BTreeSet::from([Effect::Sends, Effect::ReadsUntrusted]),
                _ => BTreeSet::new(),
            };
            registry.tools.insert(
                name.to_string(),
                Entry {
                    definition: ToolDefinition {
                        name: name.to_string(),
                        description: description.to_string(),
                        parameters_schema: schema.to_string(),
                    },
                    kind,
                    effects,
                },
            );
        }
        registry
    }

    /// Offers `exec` under `policy` (nothing is added for [`ExecPolicy::Deny`]).
    pub fn with_exec(mut self, exec: Exec) -> ToolRegistry {
        if exec.policy == ExecPolicy::Deny {
            return self;
        }
        self.tools.insert(
            "exec".into(),
            Entry {
                definition: ToolDefinition {
                    name: "exec".into(),
                    description: "Run one installed program with arguments in the workspace \
                                  directory, without a shell (no pipes, redirections or globs). \
                                  Returns the exit code and output. Some programs need the \
                                  operator's approval first."
                        .into(),
                    parameters_schema: json!({"type":"object","properties":{"command":{"type":"string","description":"program and arguments, e.g. \"git log -n 5\""}},"required":["command"]}).to_string(),
                },
                kind: Kind::Exec,
                // Any program can do anything.
                effects: Effect::ALL.into(),
            },
        );
        self.exec = Some(Arc::new(exec));
        self
    }

    /// Whether `name` is the native `sessions_send`, which the runtime carries out itself.
    pub fn is_sessions_send(&self, name: &str) -> bool {
        matches!(
            self.tools.get(name).map(|e| &e.kind),
            Some(Kind::SessionsSend)
        )
    }

    /// Whether this call must wait for an operator (beyond the agent's `require_approval`).
    pub fn needs_approval(&self, name: &str, arguments: &str) -> bool {
        match (self.tools.get(name).map(|e| &e.kind), &self.exec) {
            (Some(Kind::Exec), Some(exec)) => {
                let args = serde_json::from_str(arguments).unwrap_or(Value::Null);
                matches!(exec.decide(&args), Verdict::Ask { .. })
            }
            _ => false,
        }
    }

    /// Adds every tool a tool plugin describes. A name already taken is refused, naming both
    /// owners, rather than silently shadowing a tool.
    pub async fn add_plugin(&mut self, plugin: Arc<Plugin>) -> Result<(), String> {
        let specs = plugin
            .describe_tools()
            .await
            .map_err(|err: PluginError| err.to_string())?;
        for spec in specs {
            if let Some(existing) = self.tools.get(&spec.name) {
                let owner = match &existing.kind {
                    Kind::Sandboxed(p) => format!("plugin `{}`", p.id()),
                    _ => "a built-in tool".to_string(),
                };
                return Err(format!(
                    "plugin `{}` offers a tool named `{}`, which {owner} already provides",
                    plugin.id(),
                    spec.name
                ));
            }
            let effects = plugin
                .manifest()
                .effects
                .get(&spec.name)
                .map(|e| e.iter().copied().collect())
                // Undeclared: assume the worst (untrusted output, writes, sends).
                .unwrap_or_else(|| Effect::ALL.into());
            self.tools.insert(
                spec.name.clone(),
                Entry {
                    definition: ToolDefinition {
                        name: spec.name,
                        description: spec.description,
                        parameters_schema: spec.parameters_schema,
                    },
                    kind: Kind::Sandboxed(plugin.clone()),
                    effects,
                },
            );
        }
        Ok(())
    }

    /// The sandboxed plugin tools (not native, exec or MCP ones): what `chitin mcp serve`
    /// offers to outside MCP clients.
    pub fn plugin_tool_definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .values()
            .filter(|e| matches!(e.kind, Kind::Sandboxed(_)))
            .map(|e| e.definition.clone())
            .collect()
    }

    /// Calls a sandboxed plugin tool outside any agent or session (for `chitin mcp serve`),
    /// under the plugin's budgets and grant. `None`: no plugin offers `name`.
    pub async fn call_plugin_tool(
        &self,
        name: &str,
        arguments: &str,
        call_id: &str,
    ) -> Option<ToolResult> {
        let Some(Entry {
            kind: Kind::Sandboxed(plugin),
            ..
        }) = self.tools.get(name)
        else {
            return None;
        };
        let context = CallContext {
            call_id: call_id.to_string(),
            agent_id: None,
            session_key: None,
        };
        Some(match plugin.call_tool(name, arguments, &context).await {
            Ok(output) => ToolResult::ok(output.content),
            Err(err) => ToolResult::error(err.to_string()),
        })
    }

    /// Adds a source of tools that can change at run time (MCP servers). Names it offers that
    /// the registry already has are shadowed by the registry's.
    pub fn add_external(&mut self, source: Arc<dyn ExternalTools>) {
        self.external.push(source);
    }

    /// Tool definitions an agent may see, filtered by `allowed`.
    pub fn definitions(&self, allowed: impl Fn(&str) -> bool) -> Vec<ToolDefinition> {
        let mut definitions: Vec<ToolDefinition> = self
            .tools
            .values()
            .filter(|e| allowed(&e.definition.name))
            .map(|e| e.definition.clone())
            .collect();
        for source in &self.external {
            definitions.extend(
                source
                    .definitions()
                    .into_iter()
                    .filter(|d| !self.tools.contains_key(&d.name) && allowed(&d.name)),
            );
        }
        definitions
    }

    /// What a tool does (all effects for an unknown name).
    pub fn effects(&self, name: &str) -> BTreeSet<Effect> {
        self.tools
            .get(name)
            .map_or_else(|| Effect::ALL.into(), |e| e.effects.clone())
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tools.keys().cloned().collect();
        for source in &self.external {
            names.extend(source.definitions().into_iter().map(|d| d.name));
        }
        names
    }

    /// Runs one call. Every failure becomes an error result the model can read and react to;
    /// nothing here aborts the turn.
    pub async fn call(&self, name: &str, arguments: &str, cx: &ToolContext<'_>) -> ToolResult {
        let Some(entry) = self.tools.get(name) else {
            if let Some(source) = self.external.iter().find(|s| s.has(name)) {
                return source.call(name, arguments).await;
            }
            return ToolResult::error(format!(
                "unknown tool `{name}`; available: {}",
                self.names().join(", ")
            ));
        };
        let args: Value = match serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        }) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => return ToolResult::error("arguments must be a JSON object"),
            Err(err) => {
                return ToolResult::error(format!(
                    "the arguments are not valid JSON ({err}); call {name} again with a JSON object"
                ));
            }
        };
        match &entry.kind {
            Kind::Sandboxed(plugin) => {
                let context = CallContext {
                    call_id: cx.call_id.to_string(),
                    agent_id: Some(cx.agent_id.to_string()),
                    session_key: Some(cx.session_key.to_string()),
                };
                match plugin.call_tool(name, &args.to_string(), &context).await {
                    Ok(output) => ToolResult::ok(output.content),
                    Err(err) => {
                        tracing::warn!(tool = name, error = %err, "tool call failed");
                        ToolResult::error(err.to_string())
                    }
                }
            }
            Kind::ReadSkill => match args["name"].as_str() {
                Some(skill) => match cx.skills.read(skill) {
                    Ok(text) => ToolResult::ok(text),
                    Err(err) => ToolResult::error(err.to_string()),
                },
                None => ToolResult::error("read_skill needs {\"name\": \"<skill name>\"}"),
            },
            Kind::MemorySearch => {
                let Some(query) = args["query"].as_str() else {
                    return ToolResult::error("memory_search needs {\"query\": \"...\"}");
                };
                let limit = args["limit"].as_u64().unwrap_or(6).clamp(1, 20) as usize;
                match cx.store.memory_search(cx.agent_id, query, limit) {
                    Ok(hits) if hits.is_empty() => ToolResult::ok("no matches"),
                    Ok(hits) => ToolResult::ok(
                        hits.iter()
                            .map(|h| {
                                format!(
                                    "{}:{}-{}\n{}",
                                    h.source, h.start_line, h.end_line, h.snippet
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n"),
                    ),
                    Err(err) => ToolResult::error(err.to_string()),
                }
            }
            Kind::MemoryGet => {
                let Some(path) = args["path"].as_str() else {
                    return ToolResult::error("memory_get needs {\"path\": \"MEMORY.md\"}");
                };
                if !(path == "MEMORY.md" || (path.starts_with("memory/") && path.ends_with(".md")))
                {
                    return ToolResult::error("memory_get reads MEMORY.md or memory/*.md only");
                }
                let from = args["from_line"].as_u64().map(|n| n as usize);
                let lines = args["lines"].as_u64().map(|n| n as usize);
                match cx.workspace.read_relative(path, from, lines) {
                    Ok(text) => ToolResult::ok(text),
                    Err(err) => ToolResult::error(err.to_string()),
                }
            }
            Kind::Exec => {
                let Some(exec) = &self.exec else {
                    return ToolResult::error("exec is turned off");
                };
                let (program, argv) = match exec.decide(&args) {
                    Verdict::Run { program, argv } => (program, argv),
                    Verdict::Ask { program, argv } if cx.approved => (program, argv),
                    Verdict::Ask { argv, .. } => {
                        return ToolResult::error(format!(
                            "`{}` needs an operator's approval, which this call did not get",
                            argv[0]
                        ));
                    }
                    Verdict::Refuse(why) => return ToolResult::error(why),
                };
                let outcome = exec.run(&program, &argv, cx.workspace.root()).await;
                let audit = match &outcome {
                    Ok(out) => json!({"argv": argv, "program": program, "exitCode": out.exit_code,
                                      "timedOut": out.timed_out, "approved": cx.approved}),
                    Err(why) => json!({"argv": argv, "program": program, "error": why}),
                };
                if let Err(err) = cx
                    .store
                    .audit(&format!("agent:{}", cx.agent_id), "exec", &audit)
                {
                    tracing::warn!(%err, "could not audit an exec call");
                }
                match outcome {
                    Ok(out) if out.exit_code == Some(0) => {
                        ToolResult::ok(out.render(exec.timeout()))
                    }
                    Ok(out) => ToolResult::error(out.render(exec.timeout())),
                    Err(why) => ToolResult::error(why),
                }
            }
            Kind::SessionsList => {
                let limit = args["limit"].as_u64().unwrap_or(20).clamp(1, 100) as usize;
                match cx.store.sessions_list(Some(cx.agent_id), limit) {
                    Ok(sessions) if sessions.is_empty() => ToolResult::ok("no sessions"),
                    Ok(sessions) => ToolResult::ok(
                        sessions
                            .iter()
                            .map(|s| {
                                format!(
                                    "{}{} ({} messages, updated {})",
                                    s.key,
                                    s.title
                                        .as_deref()
                                        .map(|t| format!(" \"{t}\""))
                                        .unwrap_or_default(),
                                    s.message_count,
                                    dates::from_unix(s.updated_ms.div_euclid(1000)),
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    Err(err) => ToolResult::error(err.to_string()),
                }
            }
            Kind::SessionsSend => {
                ToolResult::error("sessions_send is carried out by the agent runtime")
            }
            Kind::MemoryWrite => {
                let Some(text) = args["text"].as_str().filter(|t| !t.trim().is_empty()) else {
                    return ToolResult::error("memory_write needs {\"text\": \"...\"}");
                };
                let now = dates::now_utc();
                match cx
                    .workspace
                    .append_daily_note(now.date(), &now.hhmm(), text)
                {
                    Ok(path) => {
                        crate::memory::index_file(cx.store, cx.workspace, cx.agent_id, &path);
                        ToolResult::ok(format!("noted in {path}"))
                    }
                    Err(err) => ToolResult::error(err.to_string()),
                }
            }
        }
    }
}
