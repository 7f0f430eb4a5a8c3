//! Project templates for `chitin plugin new`, embedded at build time from `sdk/<lang>/template/`
//! (see `build.rs`).
//!
//! Rendering copies every file, replacing these placeholders in file contents and paths:
//!
//! | placeholder        | value                                                            |
//! |--------------------|------------------------------------------------------------------|
//! | `{{id}}`           | the plugin id, e.g. `my-tool`                                    |
//! | `{{name}}`         | the display name, e.g. `My tool`                                 |
//! | `{{id_snake}}`     | the id with `_` for `-` (Rust crate and tool names), `my_tool`    |
//! | `{{wit_version}}`  | the `chitin:plugin` version this Chitin builds against           |
//! | `{{sdk_source}}`   | Rust only: `path = "…/sdk/rust"` inside a Chitin checkout, else the git dependency |
//!
//! A file name ending in `.tmpl` loses that suffix (so `Cargo.toml.tmpl`, which is not a valid
//! manifest before rendering, is not mistaken for a crate inside the repository). Executable
//! files stay executable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) struct EmbeddedTemplate {
    lang: &'static str,
    files: Option<&'static [EmbeddedFile]>,
}

pub(crate) struct EmbeddedFile {
    path: &'static str,
    executable: bool,
    contents: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The languages `--lang` accepts.
pub const LANGUAGES: &[&str] = &["rust", "python", "js", "c"];
/// The kinds a template exists for.
pub const KINDS: &[&str] = &["tool"];
/// Where the Rust SDK comes from outside a Chitin checkout.
pub const SDK_GIT: &str = "https://github.com/chitin-dev/chitin";

/// Whether this binary carries a template for `lang`.
pub fn available(lang: &str) -> bool {
    TEMPLATES
        .iter()
        .any(|t| t.lang == lang && t.files.is_some())
}

fn files(lang: &str) -> anyhow::Result<&'static [EmbeddedFile]> {
    let Some(template) = TEMPLATES.iter().find(|t| t.lang == lang) else {
        anyhow::bail!(
            "unknown language `{lang}`; choose one of {}",
            LANGUAGES.join(", ")
        );
    };
    template.files.ok_or_else(|| {
        anyhow::anyhow!(
            "this chitin was built without a {lang} template (sdk/{lang}/template/ did not exist \
             when it was compiled); rebuild chitin from a checkout that has it, or use \
             --lang {}",
            LANGUAGES
                .iter()
                .filter(|l| available(l))
                .copied()
                .collect::<Vec<_>>()
                .join(" or --lang ")
        )
    })
}

/// A plugin id from what the user typed: lowercase, words joined by `-`
/// ("My Weather" → `my-weather`).
pub fn id_from_name(name: &str) -> anyhow::Result<String> {
    let mut id = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if matches!(c, ' ' | '-' | '_' | '.') {
            if !id.is_empty() && !id.ends_with('-') {
                id.push('-');
            }
        } else {
            anyhow::bail!(
                "`{name}` cannot name a plugin: use letters, digits, spaces, `-`, `_` and `.` \
                 (the id is derived from it, e.g. \"My Weather\" → my-weather)"
            );
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.is_empty() || id.len() > 63 || !id.as_bytes()[0].is_ascii_alphanumeric() {
        anyhow::bail!("`{name}` does not make a plugin id of 1 to 63 letters, digits and `-`");
    }
    Ok(id)
}

/// The display name: what the user typed if it has capitals or spaces, else the id's words
/// capitalized (`my-tool` → `My tool`).
pub fn display_name(name: &str, id: &str) -> String {
    let name = name.trim();
    if name.chars().any(|c| c.is_ascii_uppercase() || c == ' ') {
        return name.to_string();
    }
    let words = id.replace('-', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => words,
    }
}

/// A Chitin checkout (a directory with `sdk/rust/Cargo.toml` of `chitin-sdk`) containing
/// `start`, if any.
pub fn find_checkout(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = dir.join("sdk/rust/Cargo.toml");
        let text = std::fs::read_to_string(manifest).ok()?;
        if !text.lines().any(|l| l.trim() == "name = \"chitin-sdk\"") {
            return None;
        }
        Some(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()))
    })
}

/// The values of the placeholders.
pub fn variables(id: &str, name: &str, checkout: Option<&Path>) -> BTreeMap<&'static str, String> {
    let sdk_source = match checkout {
        Some(root) => format!(
            "path = {}",
            toml_edit::Value::from(root.join("sdk/rust").to_string_lossy().into_owned())
        ),
        None => format!("git = \"{SDK_GIT}\""),
    };
    BTreeMap::from([
        ("id", id.to_string()),
        ("name", name.to_string()),
        ("id_snake", id.replace('-', "_")),
        (
            "wit_version",
            chitin_manifest::CURRENT_WIT_VERSION.to_string(),
        ),
        ("sdk_source", sdk_source),
    ])
}

fn substitute(text: &str, vars: &BTreeMap<&'static str, String>) -> String {
    let mut out = text.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Writes the `lang` template into `dest` (which must not exist, or be empty) and returns the
/// files written, relative to `dest`.
pub fn render(
    lang: &str,
    dest: &Path,
    vars: &BTreeMap<&'static str, String>,
) -> anyhow::Result<Vec<PathBuf>> {
    let files = files(lang)?;
    if dest.exists() {
        let empty = dest.is_dir()
            && std::fs::read_dir(dest)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !empty {
            anyhow::bail!(
                "{} already exists and is not an empty directory; choose another --dir",
                dest.display()
            );
        }
    }
    let mut written = Vec::new();
    for file in files {
        let mut relative = substitute(file.path, vars);
        if let Some(stripped) = relative.strip_suffix(".tmpl") {
            relative = stripped.to_string();
        }
        let relative = PathBuf::from(relative);
        let path = dest.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| anyhow::anyhow!("creating {}: {err}", parent.display()))?;
        }
        let contents = match std::str::from_utf8(file.contents) {
            Ok(text) => substitute(text, vars).into_bytes(),
            Err(_) => file.contents.to_vec(),
        };
        std::fs::write(&path, contents)
            .map_err(|err| anyhow::anyhow!("writing {}: {err}", path.display()))?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(relative);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert_eq!(id_from_name("weather").unwrap(), "weather");
        assert_eq!(id_from_name("My Weather").unwrap(), "my-weather");
        assert_eq!(id_from_name("my_tool.v2").unwrap(), "my-tool-v2");
        assert!(id_from_name("bad\"name").is_err());
        assert!(id_from_name("---").is_err());
        assert_eq!(display_name("my-tool", "my-tool"), "My tool");
        assert_eq!(display_name("My Weather", "my-weather"), "My Weather");
    }

    #[test]
    fn the_rust_template_renders() {
        assert!(available("rust"), "sdk/rust/template is missing");
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("my-tool");
        let vars = variables("my-tool", "My tool", None);
        let written = render("rust", &dest, &vars).unwrap();
        assert!(
            written.contains(&PathBuf::from("Cargo.toml")),
            "{written:?}"
        );
        assert!(
            written.contains(&PathBuf::from("plugin.toml")),
            "{written:?}"
        );
        let cargo = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"my-tool\""), "{cargo}");
        assert!(cargo.contains(SDK_GIT), "{cargo}");
        let manifest = chitin_manifest::Manifest::from_toml(
            &std::fs::read_to_string(dest.join("plugin.toml")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest.id, "my-tool");
        assert_eq!(manifest.name, "My tool");
        for path in &written {
            let text = std::fs::read_to_string(dest.join(path)).unwrap();
            assert!(
                !text.contains("{{"),
                "{} keeps a placeholder:\n{text}",
                path.display()
            );
        }
        // Not into a directory that has something in it.
        assert!(render("rust", &dest, &vars).is_err());
        assert!(files("cobol").is_err());
    }
}
