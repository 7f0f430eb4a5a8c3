//! Adding, re-granting and removing `[plugins.<id>]` in chitin.toml with toml_edit, so that
//! the rest of the operator's file — comments, order, formatting — is left exactly as it was.

use chitin_manifest::Grant;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

fn parse(text: &str) -> anyhow::Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .map_err(|err| anyhow::anyhow!("chitin.toml is not valid TOML: {err}"))
}

/// Whether `[plugins.<id>]` exists.
pub fn has_plugin(text: &str, id: &str) -> anyhow::Result<bool> {
    let doc = parse(text)?;
    Ok(doc
        .get("plugins")
        .and_then(Item::as_table_like)
        .is_some_and(|t| t.contains_key(id)))
}

/// The grant as a TOML table whose entries are plain values and inline tables
/// (`outbound = [...]`, `secrets = [{ name = "X" }]`, `budgets = { timeout_ms = 30000 }`), the
/// style of the README, in the grant's field order.
pub fn grant_table(grant: &Grant) -> anyhow::Result<Table> {
    let text = toml::to_string(grant)?;
    let doc = parse(&text)?;
    let mut table = Table::new();
    for (key, item) in doc.as_table().iter() {
        let value = match item {
            Item::Value(value) => value.clone(),
            Item::Table(t) => Value::InlineTable(inline(t)),
            Item::ArrayOfTables(tables) => {
                let mut array = Array::new();
                for t in tables.iter() {
                    array.push(Value::InlineTable(inline(t)));
                }
                Value::Array(array)
            }
            Item::None => continue,
        };
        let mut value = value;
        value.decor_mut().clear();
        table.insert(key, Item::Value(value));
    }
    table.fmt();
    Ok(table)
}

fn inline(table: &Table) -> InlineTable {
    let mut out = InlineTable::new();
    for (key, item) in table.iter() {
        let value = match item {
            Item::Value(v) => v.clone(),
            Item::Table(t) => Value::InlineTable(inline(t)),
            Item::ArrayOfTables(tables) => {
                let mut array = Array::new();
                for t in tables.iter() {
                    array.push(Value::InlineTable(inline(t)));
                }
                Value::Array(array)
            }
            Item::None => continue,
        };
        out.insert(key, value);
    }
    out.fmt();
    out
}

/// Adds `[plugins.<id>]` with `path` and `[plugins.<id>.grant]`, after the last plugin section
/// (or at the end). Refuses an id that is already configured.
pub fn add_plugin(
    text: &str,
    id: &str,
    path: &str,
    grant: &Grant,
    comment: &str,
) -> anyhow::Result<String> {
    let mut doc = parse(text)?;
    let root = doc.as_table_mut();
    if !root.contains_key("plugins") {
        let mut plugins = Table::new();
        plugins.set_implicit(true);
        root.insert("plugins", Item::Table(plugins));
    }
    let Some(plugins) = root.get_mut("plugins").and_then(Item::as_table_mut) else {
        anyhow::bail!(
            "chitin.toml defines `plugins` as an inline table; write each plugin as a \
             [plugins.<id>] section so that one can be added"
        );
    };
    if plugins.contains_key(id) {
        anyhow::bail!("chitin.toml already has [plugins.{id}]");
    }
    let mut section = Table::new();
    section.insert("path", toml_edit::value(path));
    section.insert("grant", Item::Table(grant_table(grant)?));
    let prefix = if text.trim().is_empty() {
        format!("# {comment}\n")
    } else {
        format!("\n# {comment}\n")
    };
    section.decor_mut().set_prefix(prefix);
    plugins.insert(id, Item::Table(section));
    Ok(doc.to_string())
}

/// Replaces the grant of `[plugins.<id>]`, keeping its other keys and where the section is.
pub fn set_grant(text: &str, id: &str, grant: &Grant) -> anyhow::Result<String> {
    let mut doc = parse(text)?;
    let Some(section) = doc
        .get_mut("plugins")
        .and_then(|p| p.get_mut(id))
        .and_then(Item::as_table_mut)
    else {
        anyhow::bail!("chitin.toml has no [plugins.{id}] section");
    };
    let mut table = grant_table(grant)?;
    if let Some(Item::Table(old)) = section.get("grant") {
        *table.decor_mut() = old.decor().clone();
        if let Some(position) = old.position() {
            table.set_position(position);
        }
    }
    section.insert("grant", Item::Table(table));
    Ok(doc.to_string())
}

/// Removes `[plugins.<id>]` and everything under it; `None` when there is no such section.
pub fn remove_plugin(text: &str, id: &str) -> anyhow::Result<Option<String>> {
    let mut doc = parse(text)?;
    let Some(plugins) = doc.get_mut("plugins").and_then(Item::as_table_like_mut) else {
        return Ok(None);
    };
    if plugins.remove(id).is_none() {
        return Ok(None);
    }
    Ok(Some(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# my config\n[gateway]\nport = 18789 # the default\n\n\
                        [plugins.echo]\npath = \"plugins/echo.wasm\"\n\n\
                        [agents.main]\nmodel = \"local/x\"\n";

    fn grant() -> Grant {
        toml::from_str(
            "outbound = [\"https://api.example.com\"]\nsecrets = [{ name = \"KEY\", store_key = \"K2\" }]\n\
             kv = { quota_bytes = 1024 }\n[budgets]\ntimeout_ms = 1000\n",
        )
        .unwrap()
    }

    #[test]
    fn add_keeps_everything_else() {
        let out = add_plugin(
            TEXT,
            "weather",
            "plugins/weather.wasm",
            &grant(),
            "installed",
        )
        .unwrap();
        assert!(
            out.starts_with("# my config\n[gateway]\nport = 18789 # the default\n"),
            "{out}"
        );
        // After the last plugin, before the agents.
        let weather = out.find("[plugins.weather]").unwrap();
        assert!(out.find("[plugins.echo]").unwrap() < weather, "{out}");
        assert!(weather < out.find("[agents.main]").unwrap(), "{out}");
        assert!(
            out.contains("\n# installed\n[plugins.weather]\npath = \"plugins/weather.wasm\"\n"),
            "{out}"
        );
        assert!(
            out.contains("[plugins.weather.grant]\noutbound = [\"https://api.example.com\"]\n"),
            "{out}"
        );
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        let back: Grant = parsed["plugins"]["weather"]["grant"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(back, grant());
        assert!(has_plugin(&out, "weather").unwrap());
        assert!(add_plugin(&out, "weather", "x", &grant(), "again").is_err());
        // Removing restores the original text.
        assert_eq!(remove_plugin(&out, "weather").unwrap().unwrap(), TEXT);
        assert_eq!(remove_plugin(TEXT, "nope").unwrap(), None);
    }

    #[test]
    fn add_to_an_empty_file_and_an_empty_grant() {
        let out = add_plugin(
            "",
            "echo",
            "plugins/echo.wasm",
            &Grant::default(),
            "installed",
        )
        .unwrap();
        assert_eq!(
            out,
            "# installed\n[plugins.echo]\npath = \"plugins/echo.wasm\"\n\n[plugins.echo.grant]\n"
        );
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        assert!(
            parsed["plugins"]["echo"]["grant"]
                .as_table()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn set_grant_replaces_only_the_grant() {
        let text = "[plugins.w]\npath = \"w.wasm\" # mine\n[plugins.w.grant]\noutbound = [\"https://a\"]\n\n[agents.main]\nmodel = \"x/y\"\n";
        let out = set_grant(text, "w", &grant()).unwrap();
        assert!(out.contains("path = \"w.wasm\" # mine"), "{out}");
        assert!(!out.contains("https://a\""), "{out}");
        assert!(
            out.find("[plugins.w.grant]").unwrap() < out.find("[agents.main]").unwrap(),
            "{out}"
        );
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        let back: Grant = parsed["plugins"]["w"]["grant"].clone().try_into().unwrap();
        assert_eq!(back, grant());
        assert!(set_grant(text, "nope", &grant()).is_err());
    }
}
