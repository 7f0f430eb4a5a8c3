//! SKILL.md frontmatter: the block between the `---` lines at the top of the file.
//!
//! OpenClaw skills use a small part of YAML: `key: value` scalars (plain, `'single'` or
//! `"double"` quoted, or `|` / `>` block scalars), nested block mappings and `- item` sequences,
//! and `metadata` written as one JSON (JSON5-ish) object. This module parses exactly that subset
//! into `serde_json` values, by hand, in safe code with bounded depth. Anything outside it
//! (anchors, aliases, tags, multi-document streams, complex keys) is an error, so a skill that
//! needs it is reported instead of half-understood. There is no alias expansion, so no
//! "billion laughs" input can blow up memory.

use serde_json::{Map, Number, Value};

/// Nesting limit for block and flow collections.
const MAX_DEPTH: usize = 32;

/// Splits `text` into (frontmatter source, body). The frontmatter must start on the first line
/// (after an optional byte-order mark) with `---` and end with a line that is `---` or `...`.
pub(crate) fn split(text: &str) -> Result<(&str, &str), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (first, mut rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    if first.trim_end() != "---" {
        return Err("SKILL.md must start with a `---` line opening the frontmatter".into());
    }
    let fm_start = text.len() - rest.len();
    loop {
        if rest.is_empty() {
            return Err("the frontmatter is not closed by a `---` line".into());
        }
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let t = line.trim_end();
        if t == "---" || t == "..." {
            let fm_end = text.len() - rest.len();
            return Ok((&text[fm_start..fm_end], next));
        }
        rest = next;
    }
}

/// Parses frontmatter source into its top-level mapping.
pub(crate) fn parse(src: &str) -> Result<Map<String, Value>, String> {
    let src = src.strip_suffix('\n').unwrap_or(src);
    let lines: Vec<String> = src.split('\n').map(|l| l.trim_end().to_string()).collect();
    for (i, l) in lines.iter().enumerate() {
        let lead: &str = &l[..l.len() - l.trim_start_matches([' ', '\t']).len()];
        if lead.contains('\t') {
            return Err(format!(
                "line {}: tabs are not allowed in indentation",
                i + 2
            ));
        }
    }
    let mut p = Parser { lines, pos: 0 };
    p.skip_blank();
    if p.pos >= p.lines.len() {
        return Ok(Map::new());
    }
    let first_indent = indent_of(&p.lines[p.pos]);
    if first_indent != 0 {
        return Err(p.err("the first key must not be indented"));
    }
    let map = p.mapping(0, 0)?;
    p.skip_blank();
    if p.pos < p.lines.len() {
        return Err(p.err("unexpected content"));
    }
    Ok(map)
}

/// Reads a value that may be written as a JSON/flow string (e.g. `metadata: '{"a": 1}'`).
pub(crate) fn parse_flow_str(src: &str) -> Result<Value, String> {
    let mut f = Flow {
        s: src.as_bytes(),
        src,
        i: 0,
    };
    let v = f.value(0)?;
    f.ws();
    if f.i < f.s.len() {
        return Err(format!("unexpected `{}` after the value", f.rest_preview()));
    }
    Ok(v)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// `-` alone or `- ` followed by content.
fn seq_item(t: &str) -> Option<&str> {
    if t == "-" {
        Some("")
    } else {
        t.strip_prefix("- ").map(str::trim_start)
    }
}

/// Splits `key: rest` (the key may be quoted). None when the line is no mapping entry.
fn split_key(t: &str) -> Option<(String, &str)> {
    let (key, after) = if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = t[1..].find(q)? + 1;
        (t[1..end].to_string(), &t[end + 1..])
    } else {
        let bytes = t.as_bytes();
        let mut idx = None;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
                idx = Some(i);
                break;
            }
            if *b == b'#' && i > 0 && bytes[i - 1] == b' ' {
                return None;
            }
        }
        let i = idx?;
        (t[..i].trim_end().to_string(), &t[i..])
    };
    let rest = after.strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    if key.is_empty() {
        return None;
    }
    Some((key, rest.trim()))
}

/// Removes a trailing ` # comment` from a plain scalar.
fn strip_comment(t: &str) -> &str {
    match t.find(" #") {
        Some(i) => t[..i].trim_end(),
        None => t,
    }
}

fn plain_scalar(t: &str) -> Value {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = t.parse::<i64>() {
                return Value::Number(i.into());
            }
            let numeric = t.bytes().any(|b| b.is_ascii_digit())
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if numeric && let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
            Value::String(t.to_string())
        }
    }
}

/// Open brackets minus closed ones, outside quoted strings.
fn flow_depth(text: &str) -> i64 {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            },
        }
    }
    depth
}

struct Parser {
    lines: Vec<String>,
    pos: usize,
}

impl Parser {
    fn err(&self, msg: &str) -> String {
        // +2: the frontmatter starts on the second line of the file.
        format!("frontmatter line {}: {msg}", self.pos + 2)
    }

    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && is_blank_or_comment(&self.lines[self.pos]) {
            self.pos += 1;
        }
    }

    /// The indentation of the next non-blank line, if any.
    fn peek_indent(&mut self) -> Option<usize> {
        self.skip_blank();
        self.lines.get(self.pos).map(|l| indent_of(l))
    }

    fn mapping(&mut self, indent: usize, depth: usize) -> Result<Map<String, Value>, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting is too deep"));
        }
        let mut map = Map::new();
        while let Some(ind) = self.peek_indent() {
            if ind < indent {
                break;
            }
            if ind > indent {
                return Err(self.err("unexpected indentation"));
            }
            let line = self.lines[self.pos].clone();
            let t = line.trim();
            if seq_item(t).is_some() {
                return Err(self.err("a `- ` list item where a `key: value` entry was expected"));
            }
            let Some((key, rest)) = split_key(t) else {
                return Err(self.err("expected `key: value`"));
            };
            if key.starts_with(['?', '&', '*', '!', '[', '{']) {
                return Err(self.err("complex keys, anchors, aliases and tags are not supported"));
            }
            self.pos += 1;
            let value = self.value_after_key(indent, rest, depth)?;
            if map.insert(key.clone(), value).is_some() {
                self.pos -= 1;
                return Err(format!("duplicate key `{key}`"));
            }
        }
        Ok(map)
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> Result<Vec<Value>, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting is too deep"));
        }
        let mut items = Vec::new();
        while let Some(ind) = self.peek_indent() {
            if ind != indent {
                if ind > indent {
                    return Err(self.err("unexpected indentation"));
                }
                break;
            }
            let line = self.lines[self.pos].clone();
            let Some(content) = seq_item(line.trim()) else {
                break;
            };
            if content.is_empty() {
                self.pos += 1;
                items.push(self.nested_block(indent, false, depth + 1)?);
                continue;
            }
            let content_indent = line.len() - content.len();
            if split_key(content).is_some() && !content.starts_with(['{', '[']) {
                // `- key: value` starts a mapping whose keys line up with `key`.
                self.lines[self.pos] = format!("{}{}", " ".repeat(content_indent), content);
                items.push(Value::Object(self.mapping(content_indent, depth + 1)?));
            } else if seq_item(content).is_some() {
                self.lines[self.pos] = format!("{}{}", " ".repeat(content_indent), content);
                items.push(Value::Array(self.sequence(content_indent, depth + 1)?));
            } else {
                self.pos += 1;
                items.push(self.inline_value(indent, content, depth + 1)?);
            }
        }
        Ok(items)
    }

    /// A block collection on the following lines, more indented than `parent` (or, for a
    /// mapping value, a sequence at the same indentation).
    fn nested_block(
        &mut self,
        parent: usize,
        same_level_seq: bool,
        depth: usize,
    ) -> Result<Value, String> {
        let Some(ind) = self.peek_indent() else {
            return Ok(Value::Null);
        };
        let line = self.lines[self.pos].clone();
        let t = line.trim();
        let is_seq = seq_item(t).is_some();
        if ind > parent && t.starts_with(['{', '[']) {
            // A flow collection starting on the line after its key.
            self.pos += 1;
            return self.inline_value(parent, t, depth);
        }
        if ind > parent {
            if is_seq {
                Ok(Value::Array(self.sequence(ind, depth)?))
            } else {
                Ok(Value::Object(self.mapping(ind, depth)?))
            }
        } else if ind == parent && is_seq && same_level_seq {
            Ok(Value::Array(self.sequence(ind, depth)?))
        } else {
            Ok(Value::Null)
        }
    }

    fn value_after_key(
        &mut self,
        indent: usize,
        rest: &str,
        depth: usize,
    ) -> Result<Value, String> {
        if rest.is_empty() || rest.starts_with('#') {
            return self.nested_block(indent, true, depth + 1);
        }
        self.inline_value(indent, rest, depth + 1)
    }

    /// A value that starts on the current line (already consumed) after `key:` or `- `.
    /// Continuation lines must be more indented than `indent`.
    fn inline_value(&mut self, indent: usize, rest: &str, depth: usize) -> Result<Value, String> {
        let first = rest.chars().next().unwrap_or(' ');
        match first {
            '&' | '*' | '!' => {
                self.pos -= 1;
                Err(self.err("anchors, aliases and tags are not supported"))
            }
            '|' | '>' => self.block_scalar(indent, rest),
            '{' | '[' => {
                let text = self.flow_text(rest);
                let mut f = Flow {
                    s: text.as_bytes(),
                    src: &text,
                    i: 0,
                };
                let v = f
                    .value(depth)
                    .map_err(|e| format!("in a `{first}` value: {e}"))?;
                f.ws_and_comments();
                if f.i < f.s.len() {
                    return Err(format!(
                        "unexpected `{}` after a `{first}` value",
                        f.rest_preview()
                    ));
                }
                Ok(v)
            }
            '"' | '\'' => {
                let text = self.with_continuation(indent, rest, " ");
                let mut f = Flow {
                    s: text.as_bytes(),
                    src: &text,
                    i: 0,
                };
                let v = f.quoted().map_err(|e| format!("in a quoted value: {e}"))?;
                let tail = text.get(f.i..).unwrap_or("").trim();
                if !(tail.is_empty() || tail.starts_with('#')) {
                    return Err(format!("unexpected `{tail}` after a quoted value"));
                }
                Ok(Value::String(v))
            }
            _ => {
                let text = self.with_continuation(indent, strip_comment(rest), " ");
                Ok(plain_scalar(text.trim()))
            }
        }
    }

    /// A flow collection: `first` plus following lines until its brackets balance.
    fn flow_text(&mut self, first: &str) -> String {
        let mut out = first.to_string();
        while flow_depth(&out) > 0 {
            let Some(line) = self.lines.get(self.pos) else {
                break;
            };
            out.push('\n');
            out.push_str(line.trim());
            self.pos += 1;
        }
        out
    }

    /// `first` plus the following lines that are more indented than `indent` (blank lines
    /// included), joined with `sep`.
    fn with_continuation(&mut self, indent: usize, first: &str, sep: &str) -> String {
        let mut out = first.to_string();
        while let Some(line) = self.lines.get(self.pos) {
            if !line.trim().is_empty() && indent_of(line) <= indent {
                break;
            }
            let t = line.trim();
            if !t.is_empty() {
                out.push_str(sep);
                out.push_str(t);
            }
            self.pos += 1;
        }
        out
    }

    fn block_scalar(&mut self, indent: usize, header: &str) -> Result<Value, String> {
        let header = strip_comment(header).trim();
        let folded = header.starts_with('>');
        let mut chomp = 'c';
        let mut explicit_indent = None;
        for c in header[1..].chars() {
            match c {
                '-' | '+' => chomp = c,
                '1'..='9' => explicit_indent = c.to_digit(10).map(|d| indent + d as usize),
                _ => {
                    self.pos -= 1;
                    return Err(self.err("bad block scalar header"));
                }
            }
        }
        let mut raw: Vec<String> = Vec::new();
        let mut block_indent = explicit_indent;
        while let Some(line) = self.lines.get(self.pos) {
            if line.trim().is_empty() {
                raw.push(String::new());
                self.pos += 1;
                continue;
            }
            let ind = indent_of(line);
            if ind <= indent {
                break;
            }
            let bi = *block_indent.get_or_insert(ind);
            if ind < bi {
                break;
            }
            raw.push(line[bi..].to_string());
            self.pos += 1;
        }
        // Trailing blank lines belong to chomping, not content.
        let trailing_blank = raw.iter().rev().take_while(|l| l.is_empty()).count();
        raw.truncate(raw.len() - trailing_blank);
        let mut text = if folded {
            let mut s = String::new();
            let mut prev_blank = true;
            for l in &raw {
                if l.is_empty() {
                    s.push('\n');
                    prev_blank = true;
                } else if l.starts_with(' ') {
                    if !prev_blank {
                        s.push('\n');
                    }
                    s.push_str(l);
                    s.push('\n');
                    prev_blank = true;
                } else {
                    if !prev_blank {
                        s.push(' ');
                    }
                    s.push_str(l);
                    prev_blank = false;
                }
            }
            s.trim_end_matches('\n').to_string()
        } else {
            raw.join("\n")
        };
        if !raw.is_empty() {
            match chomp {
                '-' => {}
                '+' => {
                    text.push('\n');
                    text.push_str(&"\n".repeat(trailing_blank));
                }
                _ => text.push('\n'),
            }
        }
        Ok(Value::String(text))
    }
}

/// JSON, JSON5-ish and YAML flow collections: quoted or bare keys, single or double quoted
/// strings, bare words, trailing commas and `//` comments.
struct Flow<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Flow<'_> {
    fn rest_preview(&self) -> String {
        self.src
            .get(self.i..)
            .unwrap_or("")
            .chars()
            .take(20)
            .collect()
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn ws_and_comments(&mut self) {
        loop {
            self.ws();
            let rest = self.s.get(self.i..).unwrap_or(&[]);
            if rest.starts_with(b"//") || rest.starts_with(b"#") {
                while self.i < self.s.len() && self.s[self.i] != b'\n' {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nesting is too deep".into());
        }
        self.ws_and_comments();
        match self.s.get(self.i) {
            None => Err("the value ends too early".into()),
            Some(b'{') => {
                self.i += 1;
                let mut map = Map::new();
                loop {
                    self.ws_and_comments();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Object(map));
                    }
                    let key = match self.s.get(self.i) {
                        Some(b'"' | b'\'') => self.quoted()?,
                        _ => self.bare(true)?,
                    };
                    self.ws_and_comments();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(format!("expected `:` after key `{key}`"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    if map.insert(key.clone(), v).is_some() {
                        return Err(format!("duplicate key `{key}`"));
                    }
                    self.ws_and_comments();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => {
                            return Err(format!(
                                "expected `,` or `}}` near `{}`",
                                self.rest_preview()
                            ));
                        }
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws_and_comments();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws_and_comments();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => {
                            return Err(format!(
                                "expected `,` or `]` near `{}`",
                                self.rest_preview()
                            ));
                        }
                    }
                }
            }
            Some(b'"' | b'\'') => Ok(Value::String(self.quoted()?)),
            Some(_) => {
                let word = self.bare(false)?;
                Ok(plain_scalar(&word))
            }
        }
    }

    /// A bare word up to a flow delimiter (and, for keys, up to `:`).
    fn bare(&mut self, key: bool) -> Result<String, String> {
        let start = self.i;
        while let Some(&b) = self.s.get(self.i) {
            if matches!(b, b',' | b'}' | b']' | b'{' | b'[' | b'\n') || (key && b == b':') {
                break;
            }
            if !key
                && b == b':'
                && self
                    .s
                    .get(self.i + 1)
                    .is_some_and(|n| n.is_ascii_whitespace())
            {
                break;
            }
            self.i += 1;
        }
        let word = self.src[start..self.i].trim();
        if word.is_empty() {
            return Err(format!("unexpected `{}`", self.rest_preview()));
        }
        if word.starts_with(['&', '*', '!']) {
            return Err("anchors, aliases and tags are not supported".into());
        }
        Ok(word.to_string())
    }

    /// A `"double"` (JSON escapes) or `'single'` (`''` escape) quoted string.
    fn quoted(&mut self) -> Result<String, String> {
        let q = self.s[self.i];
        let start = self.i;
        self.i += 1;
        if q == b'\'' {
            let mut out = String::new();
            let mut seg = self.i;
            loop {
                match self.s.get(self.i) {
                    None => return Err("unterminated quoted string".into()),
                    Some(b'\'') if self.s.get(self.i + 1) == Some(&b'\'') => {
                        out.push_str(&self.src[seg..=self.i]);
                        self.i += 2;
                        seg = self.i;
                    }
                    Some(b'\'') => {
                        out.push_str(&self.src[seg..self.i]);
                        self.i += 1;
                        return Ok(out);
                    }
                    Some(_) => self.i += 1,
                }
            }
        }
        loop {
            match self.s.get(self.i) {
                None => return Err("unterminated quoted string".into()),
                Some(b'\\') => self.i += 2,
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(_) => self.i += 1,
            }
        }
        let lit = self
            .src
            .get(start..self.i)
            .ok_or("unterminated quoted string")?;
        // Raw newlines and tabs are legal in YAML double quotes but not in JSON strings.
        let lit = lit.replace('\n', "\\n").replace('\t', "\\t");
        serde_json::from_str::<String>(&lit)
            .map_err(|e| format!("bad escape in a quoted string: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(src: &str) -> Value {
        Value::Object(parse(src).unwrap_or_else(|e| panic!("{e}\n---\n{src}")))
    }

    #[test]
    fn splits_frontmatter_and_body() {
        let (fm, body) = split("---\nname: a\n---\n# Body\n").unwrap();
        assert_eq!(fm, "name: a\n");
        assert_eq!(body, "# Body\n");
        let (fm, body) = split("\u{feff}---\r\nname: a\r\n---\r\nx").unwrap();
        assert_eq!(fm, "name: a\r\n");
        assert_eq!(body, "x");
        assert!(split("# no frontmatter\n").is_err());
        assert!(split("---\nname: a\n").is_err());
        assert!(split("").is_err());
    }

    #[test]
    fn scalars() {
        let v = p(
            "name: my-skill\ndescription: Does: things # comment\nversion: 1.2\ncount: 3\nok: true\nnone:\n",
        );
        assert_eq!(
            v,
            json!({"name": "my-skill", "description": "Does: things", "version": 1.2, "count": 3, "ok": true, "none": null})
        );
        let v = p("a: 'it''s here'\nb: \"tab\\tand \\u00e9\"\nc: \"multi\n  line\"\n");
        assert_eq!(
            v,
            json!({"a": "it's here", "b": "tab\tand é", "c": "multi line"})
        );
        let v = p("description: a long\n  plain value\nnext: x\n");
        assert_eq!(v, json!({"description": "a long plain value", "next": "x"}));
    }

    #[test]
    fn block_scalars() {
        let v = p(
            "a: |\n  line one\n  line two\n\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  keep\n\n",
        );
        assert_eq!(
            v,
            json!({"a": "line one\nline two\n", "b": "folded text\npara", "c": "keep\n\n"})
        );
    }

    #[test]
    fn nested_blocks_and_sequences() {
        let src = "metadata:\n  openclaw:\n    emoji: \"🔎\"\n    requires:\n      bins:\n        - gh\n        - jq\n      env: [GITHUB_TOKEN]\n    install:\n      - id: brew\n        kind: brew\n      - id: npm\n        kind: node\nlist:\n- a\n- b\n";
        assert_eq!(
            p(src),
            json!({
                "metadata": {"openclaw": {
                    "emoji": "🔎",
                    "requires": {"bins": ["gh", "jq"], "env": ["GITHUB_TOKEN"]},
                    "install": [{"id": "brew", "kind": "brew"}, {"id": "npm", "kind": "node"}]
                }},
                "list": ["a", "b"]
            })
        );
    }

    #[test]
    fn flow_json_and_json5() {
        let v = p(
            "metadata: {\"openclaw\": {\"requires\": {\"bins\": [\"curl\"]}, \"always\": true}}\n",
        );
        assert_eq!(
            v,
            json!({"metadata": {"openclaw": {"requires": {"bins": ["curl"]}, "always": true}}})
        );
        let v = p(
            "metadata:\n  {\n    openclaw: { emoji: '📝', requires: { env: ['A', 'B',], }, },\n    // comment\n  }\n",
        );
        assert_eq!(
            v,
            json!({"metadata": {"openclaw": {"emoji": "📝", "requires": {"env": ["A", "B"]}}}})
        );
        assert_eq!(
            parse_flow_str("{\"a\": [1, 2]}").unwrap(),
            json!({"a": [1, 2]})
        );
        let v = p("metadata: {\n  \"a\": \"}\",\n  \"b\": [1]\n}\nname: x\n");
        assert_eq!(v, json!({"metadata": {"a": "}", "b": [1]}, "name": "x"}));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            "a: &anchor x\n",
            "a: *alias\n",
            "a: !!str x\n",
            "a: 1\na: 2\n",
            "  a: 1\n",
            "a:\n  b: 1\n c: 2\n",
            "just words\n",
            "- a\n",
            "a: {b: 1\n",
            "a: \"unterminated\n",
            "a: [1, 2] trailing\n",
            "a: [1,\n  2\n",
            "a:\n\tb: 1\n",
            "a: \"bad \\q escape\"\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse(&deep).is_err());
        let mut nested = String::new();
        for i in 0..60 {
            nested.push_str(&format!("{}k{i}:\n", " ".repeat(i * 2)));
        }
        assert!(parse(&nested).is_err());
    }

    #[test]
    fn never_panics_on_random_input() {
        const ALPHABET: &[&str] = &[
            " ", "  ", "\n", "\t", "-", "- ", ":", ": ", "#", " #", "|", ">", "+", "'", "\"", "\\",
            "{", "}", "[", "]", ",", "&", "*", "!", "?", "a", "key", "é", "🔎", "1", "true", "//",
            "---", "\r",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut s = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
            }
            let _ = parse(&s);
            let _ = parse_flow_str(&s);
            let _ = split(&s);
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for odd in [
            "",
            ":",
            "- ",
            "-",
            "a: |",
            "a: >9\n",
            "a: |x\n",
            "'a",
            "\"a\": 1",
            "a: '",
            "a: \"\\",
            "a: [",
            "a: {",
            "a: {b}",
            "a: {\"b\" 1}",
            "a:\n-\n-",
            "a:\n  - - x\n",
            "a: é: b",
            "é",
            "a: \"\\u12\"",
            "? x\n",
        ] {
            let _ = parse(odd);
            let _ = parse_flow_str(odd);
            let _ = split(odd);
        }
    }
}
