//! `config.get` / `config.patch` over `chitin.toml`: the file as written (before `${VAR}`
//! substitution) as JSON, and merge patches applied with toml_edit so the operator's comments
//! and layout survive. A patch is checked against the hash the client read
//! (compare-and-swap), validated exactly as `chitin` validates the file at start-up, and
//! written atomically (temporary file + rename).

use std::path::PathBuf;
use std::sync::Mutex;

use chitin_gateway::{ConfigSnapshot, ConfigStore, PatchError};
use serde_json::{Map, Value};
use toml_edit::{DocumentMut, Item, TableLike};

use crate::config::Config;

/// What `config.get` shows instead of a literal token, and what a patch may not write back.
pub const REDACTED: &str = "__redacted__";

pub struct ConfigFile {
    path: PathBuf,
    /// Serializes patches from concurrent clients of this process.
    write: Mutex<()>,
}

impl ConfigFile {
    pub fn new(path: PathBuf) -> ConfigFile {
        ConfigFile {
            path,
            write: Mutex::new(()),
        }
    }

    fn read(&self) -> Result<String, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(err) => Err(format!("reading {}: {err}", self.path.display())),
        }
    }
}

fn hash(text: &str) -> String {
    chitin_sandbox::sha256_hex(text.as_bytes())
}

impl ConfigStore for ConfigFile {
    fn get(&self) -> Result<ConfigSnapshot, String> {
        let text = self.read()?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|err| format!("{}: {err}", self.path.display()))?;
        let mut config = serde_json::to_value(table).map_err(|err| err.to_string())?;
        if let Some(token) = config.pointer_mut("/gateway/token")
            && token.as_str().is_some_and(|t| !t.contains("${"))
        {
            *token = Value::String(REDACTED.into());
        }
        Ok(ConfigSnapshot {
            path: self.path.display().to_string(),
            hash: hash(&text),
            config,
        })
    }

    fn patch(&self, base_hash: &str, patch: &Value) -> Result<String, PatchError> {
        let _writing = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let text = self.read().map_err(PatchError::Io)?;
        let current = hash(&text);
        if current != base_hash {
            return Err(PatchError::Conflict {
                current_hash: current,
            });
        }
        let Value::Object(patch) = patch else {
            return Err(PatchError::Invalid(
                "the patch must be a JSON object".into(),
            ));
        };
        let mut document: DocumentMut = text
            .parse()
            .map_err(|err| PatchError::Invalid(format!("{}: {err}", self.path.display())))?;
        merge(document.as_table_mut(), patch, "").map_err(PatchError::Invalid)?;
        let updated = document.to_string();
        Config::parse(&updated, &self.path).map_err(|err| {
            PatchError::Invalid(format!("the patched configuration is invalid: {err:#}"))
        })?;
        // The old file's permissions are kept (it may hold a token); a new one is 0600.
        chitin_install::fsutil::write_atomically(&self.path, updated.as_bytes(), 0o600)
            .map_err(|err| PatchError::Io(format!("{err:#}")))?;
        Ok(hash(&updated))
    }
}

/// RFC 7396 merge patch onto a TOML table: objects merge, `null` removes, anything else
/// replaces.
fn merge(table: &mut dyn TableLike, patch: &Map<String, Value>, at: &str) -> Result<(), String> {
    for (key, value) in patch {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match value {
            Value::Null => {
                table.remove(key);
            }
            Value::Object(fields) => {
                let is_table = table.get(key).is_some_and(|item| item.is_table_like());
                if !is_table {
                    table.insert(key, Item::Table(toml_edit::Table::new()));
                }
                let child = table
                    .get_mut(key)
                    .and_then(Item::as_table_like_mut)
                    .ok_or_else(|| format!("`{path}` could not be made a table"))?;
                merge(child, fields, &path)?;
            }
            other => {
                let mut value = to_toml(other, &path)?;
                // Keep the comment and spacing around a value that is replaced.
                if let Some(old) = table.get(key).and_then(Item::as_value) {
                    *value.decor_mut() = old.decor().clone();
                }
                table.insert(key, Item::Value(value));
            }
        }
    }
    Ok(())
}

fn to_toml(value: &Value, path: &str) -> Result<toml_edit::Value, String> {
    Ok(match value {
        Value::String(s) if s == REDACTED => {
            return Err(format!(
                "`{path}` is \"{REDACTED}\", the placeholder config.get shows for a secret; \
                 leave the key out of the patch to keep the current value"
            ));
        }
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            _ => return Err(format!("`{path}`: {n} does not fit a TOML number")),
        },
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for (i, item) in items.iter().enumerate() {
                array.push(to_toml(item, &format!("{path}[{i}]"))?);
            }
            toml_edit::Value::Array(array)
        }
        Value::Object(fields) => {
            let mut inline = toml_edit::InlineTable::new();
            for (key, item) in fields {
                if item.is_null() {
                    continue;
                }
                inline.insert(key, to_toml(item, &format!("{path}.{key}"))?);
            }
            toml_edit::Value::InlineTable(inline)
        }
        Value::Null => return Err(format!("`{path}`: null inside a value")),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str = "# my gateway\n[gateway]\nport = 18789 # default\ntoken = \"literal-secret\"\n\n[limits]\nmax_concurrent_runs = 4\n";

    fn file() -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chitin.toml");
        std::fs::write(&path, TEXT).unwrap();
        (dir, ConfigFile::new(path))
    }

    #[test]
    fn get_redacts_literal_tokens() {
        let (_dir, file) = file();
        let snapshot = file.get().unwrap();
        assert_eq!(snapshot.config["gateway"]["token"], REDACTED);
        assert_eq!(snapshot.config["gateway"]["port"], 18789);
        assert_eq!(snapshot.hash, hash(TEXT));
    }

    #[test]
    fn patch_keeps_comments_and_checks_the_hash() {
        let (_dir, file) = file();
        let base = file.get().unwrap().hash;
        let new_hash = file
            .patch(
                &base,
                &json!({"gateway": {"port": 18790}, "limits": {"approval_timeout_secs": 60}}),
            )
            .unwrap();
        let text = std::fs::read_to_string(&file.path).unwrap();
        assert!(
            text.contains("# my gateway") && text.contains("# default"),
            "{text}"
        );
        assert!(text.contains("port = 18790") && text.contains("approval_timeout_secs = 60"));
        assert!(text.contains("token = \"literal-secret\""));
        assert_eq!(new_hash, hash(&text));
        // The old hash is stale now.
        assert!(matches!(
            file.patch(&base, &json!({"gateway": {"port": 1}})),
            Err(PatchError::Conflict { current_hash }) if current_hash == new_hash
        ));
        // null removes a key.
        file.patch(
            &new_hash,
            &json!({"limits": {"approval_timeout_secs": null}}),
        )
        .unwrap();
        assert!(
            !std::fs::read_to_string(&file.path)
                .unwrap()
                .contains("approval_timeout")
        );
    }

    #[test]
    fn invalid_patches_are_refused_and_leave_the_file_alone() {
        let (_dir, file) = file();
        let base = file.get().unwrap().hash;
        for (patch, expect) in [
            (json!({"gateway": {"prot": 1}}), "prot"),
            (json!({"gateway": {"port": "many"}}), "port"),
            (json!({"gateway": {"token": REDACTED}}), "placeholder"),
            (
                json!({"agents": {"main": {"model": "nowhere/x"}}}),
                "nowhere",
            ),
        ] {
            match file.patch(&base, &patch) {
                Err(PatchError::Invalid(why)) => assert!(why.contains(expect), "{why}"),
                other => panic!("{patch} was not refused: {other:?}"),
            }
        }
        assert_eq!(std::fs::read_to_string(&file.path).unwrap(), TEXT);
    }
}
