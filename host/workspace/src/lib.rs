//! Chitin's agent workspace and skills.
//!
//! * [`Workspace`]: the agent's directory with the bootstrap files injected into every session
//!   ([`BOOTSTRAP_FILES`], capped by [`ContextCaps`]), the daily notes `memory/YYYY-MM-DD.md`, and
//!   the memory documents the memory index is built from. Reads by relative path never leave it.
//! * [`SkillSet`]: `SKILL.md` skills from the bundled, managed (`~/.chitin/skills`) and workspace
//!   (`<workspace>/skills`) directories, later ones overriding earlier ones by name; the
//!   `<available_skills>` prompt block; the full text for the `read_skill` tool.
//!
//! All of it is blocking file I/O: call it from a blocking context (e.g. `spawn_blocking`).

mod error;
mod frontmatter;
mod skills;
mod workspace;

pub use error::WorkspaceError;
pub use skills::{
    HostProbe, MAX_SKILL_DESCRIPTION_CHARS, MAX_SKILL_FILE_BYTES, MAX_SKILL_NAME_CHARS,
    MAX_SKILL_READ_BYTES, Requirements, Skill, SkillSet, SkillSource, SystemProbe, validate_name,
    xml_escape,
};
pub use workspace::{
    BOOTSTRAP_FILES, ContextCaps, ContextFile, MAX_FILE_BYTES, MAX_NOTE_BYTES, MEMORY_DIR,
    MEMORY_FILE, Workspace, truncation_marker,
};
