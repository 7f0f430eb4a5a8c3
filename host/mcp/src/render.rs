//! A `tools/call` result as text for the model: every content block rendered, structured
//! content when there is no text, secret values redacted, the size capped.

use base64::Engine as _;
use chitin_secrets::Redactor;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// What a tool call produced, for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpToolResult {
    /// Every content block rendered as text (see the crate documentation), at most the
    /// server's `max_output_kb`.
    pub text: String,
    /// The tool reported a failure (`isError: true`): the model should see the text as an
    /// error it can correct, not as a result.
    pub is_error: bool,
}

/// Renders `result`, redacts it and cuts it to `max_bytes`.
pub(crate) fn render(
    result: &CallToolResult,
    redactor: &Redactor,
    max_bytes: usize,
) -> McpToolResult {
    let mut parts: Vec<String> = Vec::with_capacity(result.content.len() + 1);
    let mut has_text = false;
    for block in &result.content {
        match block {
            ContentBlock::Text(text) => {
                has_text = true;
                parts.push(text.text.clone());
            }
            ContentBlock::Image(image) => parts.push(format!(
                "[image: {}, {} bytes]",
                image.mime_type,
                base64_len(&image.data)
            )),
            ContentBlock::Audio(audio) => parts.push(format!(
                "[audio: {}, {} bytes]",
                audio.mime_type,
                base64_len(&audio.data)
            )),
            ContentBlock::ResourceLink(link) => {
                let mut line = format!("[resource link: {}", link.uri);
                if !link.name.is_empty() {
                    line.push_str(&format!(", name: {}", link.name));
                }
                if let Some(mime) = &link.mime_type {
                    line.push_str(&format!(", {mime}"));
                }
                if let Some(size) = link.size {
                    line.push_str(&format!(", {size} bytes"));
                }
                line.push(']');
                if let Some(description) = link.description.as_deref().filter(|d| !d.is_empty()) {
                    line.push(' ');
                    line.push_str(description);
                }
                parts.push(line);
            }
            ContentBlock::Resource(embedded) => match &embedded.resource {
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    ..
                } => {
                    has_text = true;
                    parts.push(format!(
                        "[resource: {uri}{}]\n{text}",
                        mime_suffix(mime_type)
                    ));
                }
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => {
                    let decoded = mime_type
                        .as_deref()
                        .filter(|m| is_textual(m))
                        .and_then(|_| base64::engine::general_purpose::STANDARD.decode(blob).ok())
                        .and_then(|bytes| String::from_utf8(bytes).ok());
                    match decoded {
                        Some(text) => {
                            has_text = true;
                            parts.push(format!(
                                "[resource: {uri}{}]\n{text}",
                                mime_suffix(mime_type)
                            ));
                        }
                        None => parts.push(format!(
                            "[resource: {uri}{}, {} bytes]",
                            mime_suffix(mime_type),
                            base64_len(blob)
                        )),
                    }
                }
                other => parts.push(serde_json::to_string(other).unwrap_or_default()),
            },
            // A block kind added to the protocol later: show its JSON rather than drop it.
            other => parts.push(serde_json::to_string(other).unwrap_or_default()),
        }
    }
    if !has_text
        && let Some(structured) = &result.structured_content
        && !mirrors_content(structured, &result.content)
    {
        parts.push(serde_json::to_string(structured).unwrap_or_default());
    }
    let text = if parts.is_empty() {
        "(the tool returned no content)".to_string()
    } else {
        parts.join("\n")
    };
    let text = redactor.redact(&text).into_owned();
    McpToolResult {
        text: truncate(text, max_bytes),
        is_error: result.is_error == Some(true),
    }
}

/// Whether `structured` is only `{"content": [...]}` repeating the content blocks (some servers
/// do that), which would put e.g. an image's base64 in front of the model.
fn mirrors_content(structured: &serde_json::Value, content: &[ContentBlock]) -> bool {
    let Some(object) = structured.as_object() else {
        return false;
    };
    object.len() == 1
        && object
            .get("content")
            .is_some_and(|c| serde_json::to_value(content).is_ok_and(|blocks| *c == blocks))
}

fn mime_suffix(mime: &Option<String>) -> String {
    mime.as_deref()
        .map(|m| format!(", {m}"))
        .unwrap_or_default()
}

/// Whether a blob of this type is worth showing as text.
fn is_textual(mime: &str) -> bool {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or(mime)
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
                | "application/toml"
                | "application/sql"
        )
}

/// Decoded size of base64 text, without decoding it.
fn base64_len(data: &str) -> usize {
    let chars = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count().min(2);
    (chars / 4 * 3 + (chars % 4).saturating_sub(1)).saturating_sub(padding)
}

/// `text` cut to at most `max` bytes (at a character boundary), with a note saying so.
pub(crate) fn truncate(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let note_room = 80;
    let mut end = max.saturating_sub(note_room);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[output truncated: {end} of {total} bytes shown]",
        &text[..end]
    )
}

#[cfg(test)]
mod tests {
    use chitin_secrets::SecretValue;
    use rmcp::model::{EmbeddedResource, Resource};
    use serde_json::json;

    use super::*;

    fn result(content: Vec<ContentBlock>) -> CallToolResult {
        CallToolResult::success(content)
    }

    fn plain(result: &CallToolResult) -> McpToolResult {
        render(result, &Redactor::new([]), 64 * 1024)
    }

    #[test]
    fn every_content_kind_is_rendered() {
        let png = base64::engine::general_purpose::STANDARD.encode([0u8; 70]);
        let json_blob = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
        let out = plain(&result(vec![
            ContentBlock::text("hello"),
            ContentBlock::image(png.clone(), "image/png"),
            ContentBlock::audio(png, "audio/wav"),
            ContentBlock::resource_link(
                Resource::new("file:///a.txt", "a.txt")
                    .with_mime_type("text/plain")
                    .with_description("the file"),
            ),
            ContentBlock::embedded_text("demo://doc", "inside"),
            ContentBlock::Resource(EmbeddedResource::new(
                ResourceContents::BlobResourceContents {
                    uri: "demo://blob".into(),
                    mime_type: Some("application/gzip".into()),
                    blob: "AAAA".into(),
                    meta: None,
                },
            )),
            ContentBlock::Resource(EmbeddedResource::new(
                ResourceContents::BlobResourceContents {
                    uri: "demo://json".into(),
                    mime_type: Some("application/json".into()),
                    blob: json_blob,
                    meta: None,
                },
            )),
        ]));
        assert!(!out.is_error);
        assert_eq!(
            out.text,
            "hello\n[image: image/png, 70 bytes]\n[audio: audio/wav, 70 bytes]\n\
             [resource link: file:///a.txt, name: a.txt, text/plain] the file\n\
             [resource: demo://doc, text/plain]\ninside\n\
             [resource: demo://blob, application/gzip, 3 bytes]\n\
             [resource: demo://json, application/json]\n{\"a\":1}"
        );
    }

    #[test]
    fn structured_content_is_shown_only_without_text() {
        let mut only = result(vec![]);
        only.structured_content = Some(json!({"temperature": 21}));
        assert_eq!(plain(&only).text, r#"{"temperature":21}"#);
        let mut both = result(vec![ContentBlock::text("21 degrees")]);
        both.structured_content = Some(json!({"temperature": 21}));
        assert_eq!(plain(&both).text, "21 degrees");
        assert_eq!(
            plain(&result(vec![])).text,
            "(the tool returned no content)"
        );
        // A server repeating its content blocks as structured content: shown once.
        let image = ContentBlock::image("AAAA", "image/png");
        let mut mirrored = result(vec![image.clone()]);
        mirrored.structured_content = Some(json!({ "content": [image] }));
        assert_eq!(plain(&mirrored).text, "[image: image/png, 3 bytes]");
    }

    #[test]
    fn errors_secrets_and_size() {
        let failed = CallToolResult::error(vec![ContentBlock::text("bad path")]);
        assert!(plain(&failed).is_error);

        let redactor = Redactor::new([("TOKEN".to_string(), SecretValue::new("hunter2-secret"))]);
        let leaked = result(vec![ContentBlock::text("token is hunter2-secret")]);
        let out = render(&leaked, &redactor, 1024);
        assert!(!out.text.contains("hunter2"), "{}", out.text);
        assert!(out.text.contains("[REDACTED:TOKEN]"), "{}", out.text);

        let big = result(vec![ContentBlock::text("é".repeat(10_000))]);
        let out = render(&big, &Redactor::new([]), 1000);
        assert!(out.text.len() <= 1000, "{}", out.text.len());
        assert!(
            out.text.ends_with("of 20000 bytes shown]"),
            "{}",
            &out.text[900..]
        );
    }

    #[test]
    fn base64_sizes() {
        for n in 0..10 {
            let data = base64::engine::general_purpose::STANDARD.encode(vec![1u8; n]);
            assert_eq!(base64_len(&data), n, "{data}");
        }
    }
}
