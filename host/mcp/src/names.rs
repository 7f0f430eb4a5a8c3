//! Tool names as the model sees them: `mcp__<server>__<tool>`, within `[A-Za-z0-9_-]{1,64}`
//! (OpenAI's rule; Anthropic allows 128), unique across every server.
//!
//! The name is the prefix, the server id and the tool's own name with every other character
//! replaced by `_`. A name longer than 64 characters is cut to 55 and given `_` plus 8 hex
//! digits of a hash of the server id and the tool's real name. When two tools end up with the
//! same name, the tool whose real name needed no change keeps it (or, if none, the first by
//! server id and real name); the others get the hash suffix. The result depends only on the set
//! of tools, not on the order servers answered in, and a tool keeps its name when others come
//! and go (unless it is part of a collision).

use std::collections::{BTreeMap, HashSet};

/// Longest tool name handed out.
pub const MAX_TOOL_NAME_LEN: usize = 64;
const PREFIX: &str = "mcp__";
const HASH_LEN: usize = 8;

/// One tool to name: its server and its name on that server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ToolKey {
    pub server: String,
    pub tool: String,
}

/// A tool's assigned name, and why it differs from the plain form (for the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assigned {
    pub name: String,
    pub note: Option<String>,
}

/// `mcp__<server>__<tool>` with everything outside `[A-Za-z0-9_-]` replaced by `_`.
pub(crate) fn plain_name(server: &str, tool: &str) -> String {
    let raw = format!("{PREFIX}{server}__{tool}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The plain name cut to fit with the hash of `key` appended.
fn hashed_name(key: &ToolKey) -> String {
    let plain = plain_name(&key.server, &key.tool);
    let keep = MAX_TOOL_NAME_LEN - HASH_LEN - 1;
    // ASCII only, so any index is a character boundary.
    let cut = &plain[..plain.len().min(keep)];
    format!("{cut}_{:08x}", fnv1a(&key.server, &key.tool))
}

/// 32-bit FNV-1a over `server`, a zero byte and `tool`: stable across runs and versions.
fn fnv1a(server: &str, tool: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in server.bytes().chain([0]).chain(tool.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Names for `keys` (any order; duplicates are the caller's to remove).
pub(crate) fn assign(keys: &[ToolKey]) -> BTreeMap<ToolKey, Assigned> {
    // Candidate name per tool: the plain name, or the hashed one when too long.
    let mut groups: BTreeMap<String, Vec<&ToolKey>> = BTreeMap::new();
    for key in keys {
        let plain = plain_name(&key.server, &key.tool);
        let candidate = if plain.len() <= MAX_TOOL_NAME_LEN {
            plain
        } else {
            hashed_name(key)
        };
        groups.entry(candidate).or_default().push(key);
    }
    let mut out = BTreeMap::new();
    let mut taken: HashSet<String> = groups.keys().cloned().collect();
    for (candidate, mut members) in groups {
        members.sort();
        let winner = members
            .iter()
            .position(|k| format!("{PREFIX}{}__{}", k.server, k.tool) == candidate)
            .unwrap_or(0);
        for (i, key) in members.iter().enumerate() {
            if i == winner {
                let note = (candidate.len() == MAX_TOOL_NAME_LEN
                    && plain_name(&key.server, &key.tool).len() > MAX_TOOL_NAME_LEN)
                    .then(|| {
                        format!(
                            "tool `{}` of MCP server `{}` is offered as `{candidate}` (the full \
                             name is longer than {MAX_TOOL_NAME_LEN} characters)",
                            key.tool, key.server
                        )
                    });
                out.insert(
                    (*key).clone(),
                    Assigned {
                        name: candidate.clone(),
                        note,
                    },
                );
                continue;
            }
            let mut name = hashed_name(key);
            // A hash collision as well: count up until free (practically never happens).
            let mut n = 2u32;
            while taken.contains(&name) {
                let suffix = format!("_{n}");
                let base = hashed_name(key);
                name = format!("{}{suffix}", &base[..MAX_TOOL_NAME_LEN - suffix.len()]);
                n += 1;
            }
            taken.insert(name.clone());
            let other = members[winner];
            let note = format!(
                "tool `{}` of MCP server `{}` is offered as `{name}`: its name collides with \
                 tool `{}` of server `{}` as `{candidate}` once made safe for model APIs",
                key.tool, key.server, other.tool, other.server
            );
            out.insert(
                (*key).clone(),
                Assigned {
                    name,
                    note: Some(note),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, tool: &str) -> ToolKey {
        ToolKey {
            server: server.into(),
            tool: tool.into(),
        }
    }

    fn valid(name: &str) -> bool {
        (1..=MAX_TOOL_NAME_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn names_are_namespaced_and_sanitized() {
        let keys = [
            key("fs", "read_file"),
            key("fs", "dir.list"),
            key("web", "fetch-url"),
        ];
        let names = assign(&keys);
        assert_eq!(names[&keys[0]].name, "mcp__fs__read_file");
        assert_eq!(names[&keys[1]].name, "mcp__fs__dir_list");
        assert_eq!(names[&keys[2]].name, "mcp__web__fetch-url");
        assert!(names.values().all(|a| a.note.is_none()));
    }

    #[test]
    fn collisions_are_resolved_deterministically() {
        let exact = key("fs", "a_b");
        let dotted = key("fs", "a.b");
        let spaced = key("fs", "a b");
        let one = assign(&[spaced.clone(), dotted.clone(), exact.clone()]);
        let two = assign(&[exact.clone(), dotted.clone(), spaced.clone()]);
        assert_eq!(one, two, "order does not matter");
        // The tool whose real name is already safe keeps the plain name.
        assert_eq!(one[&exact].name, "mcp__fs__a_b");
        assert!(one[&exact].note.is_none());
        for other in [&dotted, &spaced] {
            let assigned = &one[other];
            assert!(assigned.name.starts_with("mcp__fs__a_b_"), "{assigned:?}");
            assert!(valid(&assigned.name));
            let note = assigned.note.as_deref().expect("reported");
            assert!(note.contains("collides with tool `a_b`"), "{note}");
        }
        assert_ne!(one[&dotted].name, one[&spaced].name);
        // Without an exact match, the first by (server, tool) wins.
        let only = assign(&[spaced.clone(), dotted.clone()]);
        assert_eq!(only[&spaced].name, "mcp__fs__a_b");
        assert_ne!(only[&dotted].name, "mcp__fs__a_b");
    }

    #[test]
    fn names_across_servers_can_collide_too() {
        // Server `a_` with tool `b` and server `a` with tool `_b` are both `mcp__a___b`.
        let left = key("a_", "b");
        let right = key("a", "_b");
        let names = assign(&[left.clone(), right.clone()]);
        // Both real names are already safe: the first by server id keeps the plain name.
        assert_eq!(names[&right].name, "mcp__a___b");
        assert_ne!(names[&left].name, names[&right].name);
        assert!(names[&left].note.is_some());
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash() {
        let long = key("server", &"x".repeat(100));
        let names = assign(std::slice::from_ref(&long));
        let name = &names[&long].name;
        assert_eq!(name.len(), MAX_TOOL_NAME_LEN);
        assert!(valid(name));
        assert!(names[&long].note.is_some());
        assert_eq!(assign(std::slice::from_ref(&long))[&long].name, *name);
        // Two long names with the same first 55 characters still differ.
        let other = key("server", &format!("{}y", "x".repeat(99)));
        let both = assign(&[long.clone(), other.clone()]);
        assert_ne!(both[&long].name, both[&other].name);
        assert!(valid(&both[&other].name));
    }

    #[test]
    fn unicode_is_replaced() {
        let names = assign(&[key("s", "größe")]);
        let name = &names.values().next().expect("one").name;
        assert_eq!(name, "mcp__s__gr__e");
    }
}
