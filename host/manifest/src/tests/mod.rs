//! Unit tests. Each table row is a case that would fail if the rule it names were dropped.

mod budgets;
mod grant;
mod manifest;
mod pattern;
mod wasm;

use crate::Manifest;

/// The fields every manifest needs, for tests to append capabilities to.
pub(crate) const HEADER: &str = r#"
id = "x"
name = "X"
version = "0.1.0"
kind = "tool"
wit_version = "0.1.0"
description = "d"
"#;

/// A manifest from `HEADER` plus `rest`, panicking (in tests only) if it does not parse.
pub(crate) fn manifest(rest: &str) -> Manifest {
    let text = format!("{HEADER}\n{rest}");
    Manifest::from_toml(&text).unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// The `plugin.toml` example in the crate documentation, so the documentation cannot rot.
pub(crate) fn doc_example() -> String {
    let lib = include_str!("../lib.rs");
    let mut out = String::new();
    let mut inside = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if doc.starts_with("```toml") {
            inside = true;
        } else if doc.starts_with("```") && inside {
            break;
        } else if inside {
            out.push_str(doc);
            out.push('\n');
        }
    }
    assert!(!out.is_empty(), "lib.rs lost its plugin.toml example");
    out
}
