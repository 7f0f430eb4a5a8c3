//! Skills: directories holding a `SKILL.md` (frontmatter + Markdown instructions) and,
//! optionally, the skill's sandboxed tools as `*.wasm` components.
//!
//! Only each skill's name and description enter the system prompt (the `<available_skills>`
//! block); the model reads the full instructions on demand with `read_skill`. Keeping bodies out
//! of the prompt is also what keeps skills from colliding: instructions of unrelated skills never
//! sit side by side in the context, and the prompt tells the model that its operating rules and
//! the user's requests win over a skill.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::WorkspaceError;
use crate::frontmatter;

/// `read_skill` returns at most this many bytes of a SKILL.md.
pub const MAX_SKILL_READ_BYTES: usize = 64 * 1024;

/// A SKILL.md larger than this is not loaded.
pub const MAX_SKILL_FILE_BYTES: u64 = 256 * 1024;

/// Longest allowed skill name (`[a-z0-9][a-z0-9-]{0,63}`).
pub const MAX_SKILL_NAME_CHARS: usize = 64;

/// Longest allowed description, in characters.
pub const MAX_SKILL_DESCRIPTION_CHARS: usize = 1024;

/// Keys under `metadata` whose object holds requirements (`chitin` first, then OpenClaw's).
const METADATA_KEYS: &[&str] = &["chitin", "openclaw", "clawdbot", "clawdis"];

/// Where a skill was loaded from, in increasing precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkillSource {
    /// Shipped with chitin (`skills/` of the distribution).
    Bundled,
    /// Installed for all agents (`~/.chitin/skills`).
    Managed,
    /// The agent's own (`<workspace>/skills`).
    Workspace,
}

impl SkillSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SkillSource::Bundled => "bundled",
            SkillSource::Managed => "managed",
            SkillSource::Workspace => "workspace",
        }
    }
}

impl std::fmt::Display for SkillSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One loaded skill.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// Path of the SKILL.md.
    pub location: PathBuf,
    pub source: SkillSource,
    /// The frontmatter's `metadata` object (`{}` when absent).
    pub metadata: Value,
    /// `*.wasm` files directly in the skill directory (the skill's sandboxed tools), sorted.
    pub tools_wasm: Vec<PathBuf>,
    /// Frontmatter `user-invocable` (default true): the user may run it as `/name`.
    pub user_invocable: bool,
    /// False when the frontmatter says `disable-model-invocation: true`: the skill is then left
    /// out of the prompt block and only runs when the user invokes it.
    pub model_invocable: bool,
}

impl Skill {
    /// The skill's directory.
    pub fn dir(&self) -> &Path {
        self.location.parent().unwrap_or(Path::new(""))
    }

    /// What the skill needs on the host, from `metadata.{chitin|openclaw|clawdbot|clawdis}`.
    pub fn requirements(&self) -> Requirements {
        let Some(meta) = METADATA_KEYS.iter().find_map(|k| self.metadata.get(k)) else {
            return Requirements::default();
        };
        let requires = meta.get("requires");
        let list = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                Some(Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        Requirements {
            bins: list(requires.and_then(|r| r.get("bins"))),
            any_bins: list(requires.and_then(|r| r.get("anyBins"))),
            env: list(requires.and_then(|r| r.get("env"))),
            config: list(requires.and_then(|r| r.get("config"))),
            os: list(meta.get("os")),
            always: meta.get("always").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

/// Host requirements declared in a skill's metadata (OpenClaw's gating fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Every one of these executables must be on PATH.
    pub bins: Vec<String>,
    /// At least one of these executables must be on PATH.
    pub any_bins: Vec<String>,
    /// These environment variables must be set.
    pub env: Vec<String>,
    /// These configuration paths (dotted) must be truthy.
    pub config: Vec<String>,
    /// The skill only works on these operating systems (`darwin`, `linux`, `win32`; empty = any).
    pub os: Vec<String>,
    /// Load regardless of the other requirements.
    pub always: bool,
}

impl Requirements {
    /// What is missing on `host`, one line each; empty when the skill is eligible.
    pub fn unmet(&self, host: &dyn HostProbe) -> Vec<String> {
        if self.always {
            return Vec::new();
        }
        let mut missing = Vec::new();
        if !self.os.is_empty() {
            let here = normalize_os(&host.os());
            if !self.os.iter().any(|o| normalize_os(o) == here) {
                missing.push(format!(
                    "operating system {} (this host is {here})",
                    self.os.join(" or ")
                ));
            }
        }
        for b in &self.bins {
            if !host.has_bin(b) {
                missing.push(format!("executable `{b}` on PATH"));
            }
        }
        if !self.any_bins.is_empty() && !self.any_bins.iter().any(|b| host.has_bin(b)) {
            missing.push(format!(
                "one of the executables {} on PATH",
                self.any_bins.join(", ")
            ));
        }
        for e in &self.env {
            if !host.has_env(e) {
                missing.push(format!("environment variable `{e}`"));
            }
        }
        for c in &self.config {
            if !host.config_truthy(c) {
                missing.push(format!("configuration `{c}` set"));
            }
        }
        missing
    }
}

fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" | "darwin" | "osx" => "darwin".into(),
        "windows" | "win32" => "win32".into(),
        other => other.to_string(),
    }
}

/// What skill gating asks about the host.
pub trait HostProbe {
    fn has_bin(&self, name: &str) -> bool;
    fn has_env(&self, name: &str) -> bool;
    fn config_truthy(&self, dotted_path: &str) -> bool;
    /// `darwin`, `linux`, `win32`, ...
    fn os(&self) -> String;
}

/// The real host: PATH, the process environment, and a configuration value for `config`
/// requirements (`Null` = no configuration path is set).
#[derive(Debug, Clone, Default)]
pub struct SystemProbe {
    pub config: Value,
}

impl HostProbe for SystemProbe {
    fn has_bin(&self, name: &str) -> bool {
        if name.is_empty() || name.contains(['/', '\\']) {
            return false;
        }
        let Some(path) = std::env::var_os("PATH") else {
            return false;
        };
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(name);
            p.is_file() || (cfg!(windows) && p.with_extension("exe").is_file())
        })
    }

    fn has_env(&self, name: &str) -> bool {
        !name.is_empty() && std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }

    fn config_truthy(&self, dotted_path: &str) -> bool {
        let mut v = &self.config;
        for part in dotted_path.split('.') {
            match v.get(part) {
                Some(next) => v = next,
                None => return false,
            }
        }
        match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    fn os(&self) -> String {
        normalize_os(std::env::consts::OS)
    }
}

/// The skills of an agent, after precedence.
#[derive(Debug, Clone, Default)]
pub struct SkillSet {
    skills: Vec<Skill>,
    problems: Vec<String>,
}

impl SkillSet {
    /// The usual directories in increasing precedence: bundled, `<chitin home>/skills`,
    /// `<workspace>/skills`.
    pub fn standard_dirs(
        bundled: &Path,
        chitin_home: &Path,
        workspace: &Path,
    ) -> Vec<(SkillSource, PathBuf)> {
        vec![
            (SkillSource::Bundled, bundled.to_path_buf()),
            (SkillSource::Managed, chitin_home.join("skills")),
            (SkillSource::Workspace, workspace.join("skills")),
        ]
    }

    /// Loads skills from `dirs`, given in increasing precedence (bundled, managed,
    /// workspace/skills): a later skill with the same name replaces an earlier one. Each
    /// directory holds one sub-directory per skill. A directory that does not exist is skipped
    /// quietly; a malformed skill is skipped and described in [`problems`](Self::problems).
    pub fn load(dirs: &[(SkillSource, PathBuf)]) -> SkillSet {
        let mut set = SkillSet::default();
        for (source, dir) in dirs {
            set.load_dir(*source, dir);
        }
        set.skills.sort_by(|a, b| a.name.cmp(&b.name));
        for p in &set.problems {
            tracing::warn!("{p}");
        }
        set
    }

    fn load_dir(&mut self, source: SkillSource, dir: &Path) {
        let root = match fs::canonicalize(dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.problems.push(format!(
                    "{source} skills directory {}: {e}; skipped",
                    dir.display()
                ));
                return;
            }
        };
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) => {
                self.problems.push(format!(
                    "{source} skills directory {}: {e}; skipped",
                    dir.display()
                ));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        paths.sort();
        for skill_dir in paths {
            match load_skill(source, &root, &skill_dir) {
                Ok(skill) => match self.skills.iter().position(|s| s.name == skill.name) {
                    Some(i) => {
                        tracing::debug!(skill = %skill.name, from = %self.skills[i].source, to = %source, "skill overridden");
                        self.skills[i] = skill;
                    }
                    None => self.skills.push(skill),
                },
                Err(reason) => self.problems.push(format!(
                    "{source} skill {}: {reason}; skipped",
                    skill_dir.display()
                )),
            }
        }
    }

    /// All skills, sorted by name.
    pub fn skills(&self) -> &[Skill] {
        &self.skills
    }

    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills
            .binary_search_by(|s| s.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.skills[i])
    }

    /// Skills that were skipped, and why (one line each).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Keeps only the skills `keep` accepts (e.g. a per-agent allowlist).
    pub fn retain(&mut self, keep: impl FnMut(&Skill) -> bool) {
        self.skills.retain(keep);
    }

    /// Drops the skills whose [`Requirements`] `host` does not meet, and returns one line per
    /// dropped skill saying what it lacks.
    pub fn retain_eligible(&mut self, host: &dyn HostProbe) -> Vec<String> {
        let mut dropped = Vec::new();
        self.skills.retain(|s| {
            let unmet = s.requirements().unmet(host);
            if unmet.is_empty() {
                true
            } else {
                dropped.push(format!("skill `{}` needs {}", s.name, unmet.join(", ")));
                false
            }
        });
        dropped
    }

    /// The system-prompt block listing the model-invocable skills (empty when there are none).
    pub fn prompt_block(&self) -> String {
        self.prompt_block_limited(usize::MAX)
    }

    /// [`prompt_block`](Self::prompt_block) kept under `max_chars` characters: skills are listed
    /// in name order until the next would not fit, and a last line says how many were left out.
    pub fn prompt_block_limited(&self, max_chars: usize) -> String {
        let listed: Vec<&Skill> = self.skills.iter().filter(|s| s.model_invocable).collect();
        if listed.is_empty() {
            return String::new();
        }
        let head = "Skills hold step-by-step instructions for particular tasks. When a task matches \
                    a skill's description, call read_skill with the skill's name before doing the \
                    task, then follow it; use only the skills the task needs. Your operating rules \
                    and the user's requests take precedence over a skill's instructions.\n\
                    <available_skills>\n";
        let tail = "</available_skills>\n";
        let mut out = String::from(head);
        let mut used = head.chars().count() + tail.chars().count();
        let mut omitted = 0usize;
        for s in &listed {
            let entry = format!(
                "<skill>\n<name>{}</name>\n<description>{}</description>\n<location>{}</location>\n</skill>\n",
                xml_escape(&s.name),
                xml_escape(&collapse_whitespace(&s.description)),
                xml_escape(&s.location.to_string_lossy()),
            );
            let n = entry.chars().count();
            if omitted == 0 && used.saturating_add(n) <= max_chars {
                used += n;
                out.push_str(&entry);
            } else {
                omitted += 1;
            }
        }
        out.push_str(tail);
        if omitted > 0 {
            out.push_str(&format!(
                "({omitted} more skills are installed but not listed here.)\n"
            ));
        }
        out
    }

    /// The full SKILL.md of `name` (for the read_skill tool), with `{baseDir}` replaced by the
    /// skill's directory, cut to [`MAX_SKILL_READ_BYTES`].
    pub fn read(&self, name: &str) -> Result<String, WorkspaceError> {
        let skill = self
            .get(name)
            .ok_or_else(|| WorkspaceError::UnknownSkill(name.to_string()))?;
        let file = fs::File::open(&skill.location)
            .map_err(WorkspaceError::io("opening", &skill.location))?;
        let mut bytes = Vec::new();
        file.take(MAX_SKILL_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(WorkspaceError::io("reading", &skill.location))?;
        let text =
            String::from_utf8_lossy(&bytes).replace("{baseDir}", &skill.dir().to_string_lossy());
        if text.len() <= MAX_SKILL_READ_BYTES {
            return Ok(text);
        }
        let mut cut = MAX_SKILL_READ_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let rest = text[cut..].chars().count();
        Ok(format!(
            "{}\n{}",
            &text[..cut],
            crate::workspace::truncation_marker(rest)
        ))
    }
}

fn load_skill(source: SkillSource, root: &Path, dir: &Path) -> Result<Skill, String> {
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let canonical_dir =
        fs::canonicalize(dir).map_err(|e| format!("cannot resolve the directory: {e}"))?;
    if !canonical_dir.starts_with(root) {
        return Err("the directory is a link to a place outside the skills directory".into());
    }
    let location = canonical_dir.join("SKILL.md");
    let meta = match fs::metadata(&location) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("no SKILL.md in it".into());
        }
        Err(e) => return Err(format!("cannot read SKILL.md: {e}")),
    };
    if !meta.is_file() {
        return Err("SKILL.md is not a file".into());
    }
    if fs::canonicalize(&location).map_or(true, |p| !p.starts_with(&canonical_dir)) {
        return Err("SKILL.md is a link to a place outside the skill directory".into());
    }
    if meta.len() > MAX_SKILL_FILE_BYTES {
        return Err(format!(
            "SKILL.md is {} bytes, over the {MAX_SKILL_FILE_BYTES}-byte limit",
            meta.len()
        ));
    }
    let bytes = fs::read(&location).map_err(|e| format!("cannot read SKILL.md: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "SKILL.md is not valid UTF-8".to_string())?;
    let (fm, _body) = frontmatter::split(&text)?;
    let fields = frontmatter::parse(fm)?;

    let name = text_field(&fields, "name")?.ok_or("the frontmatter has no `name`")?;
    validate_name(&name)?;
    if name != dir_name {
        return Err(format!(
            "the frontmatter name `{name}` differs from the directory name `{dir_name}`; they must match"
        ));
    }
    let description = text_field(&fields, "description")?
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .ok_or("the frontmatter has no (or an empty) `description`")?;
    let len = description.chars().count();
    if len > MAX_SKILL_DESCRIPTION_CHARS {
        return Err(format!(
            "the description is {len} characters; at most {MAX_SKILL_DESCRIPTION_CHARS} are allowed"
        ));
    }
    let metadata = match fields.get("metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(Value::String(s)) => match frontmatter::parse_flow_str(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err("`metadata` must be an object".into()),
            Err(e) => return Err(format!("`metadata` is not a valid object: {e}")),
        },
        Some(_) => return Err("`metadata` must be an object".into()),
    };
    let user_invocable = bool_field(&fields, "user-invocable")?.unwrap_or(true);
    let model_invocable = !bool_field(&fields, "disable-model-invocation")?.unwrap_or(false);
    let tools_wasm = wasm_files(&canonical_dir)?;
    Ok(Skill {
        name,
        description,
        location,
        source,
        metadata,
        tools_wasm,
        user_invocable,
        model_invocable,
    })
}

fn text_field(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(format!("`{key}` must be text")),
    }
}

fn bool_field(fields: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

/// `[a-z0-9][a-z0-9-]{0,63}`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SKILL_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name `{name}` is invalid: use 1 to {MAX_SKILL_NAME_CHARS} lowercase letters, digits and `-`, not starting with `-`"
        ))
    }
}

fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list the skill directory: {e}"))?;
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let is_wasm = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wasm"));
        if !is_wasm || !path.is_file() {
            continue;
        }
        match fs::canonicalize(&path) {
            Ok(p) if p.starts_with(dir) => out.push(p),
            _ => {
                return Err(format!(
                    "{} is a link to a place outside the skill directory",
                    path.display()
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes text for XML element content and attributes.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}
