//! `web_fetch`: GET a URL the operator allowed and return its readable text, bounded in size.
//!
//! The request goes through the host's egress policy: the plugin asks for any http(s) host in
//! its manifest, and the operator's grant names the hosts it may really reach.

mod html;

use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

struct WebFetch;

/// Default and largest amount of text returned to the model.
const DEFAULT_MAX_CHARS: usize = 20_000;
const LIMIT_MAX_CHARS: usize = 200_000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
    #[serde(default)]
    max_chars: Option<usize>,
}

impl Tool for WebFetch {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "web_fetch",
            "Fetch a web page (http/https) and return its readable text. HTML is reduced to \
             headings, paragraphs, lists and links; plain text and JSON are returned as they are.",
            serde_json::json!({
                "type": "object",
                "properties": {
                    "url": { "type": "string", "description": "Absolute http(s) URL" },
                    "max_chars": {
                        "type": "integer",
                        "description": "Most characters to return (default 20000, at most 200000)",
                        "minimum": 100
                    }
                },
                "required": ["url"],
                "additionalProperties": false
            }),
        )]
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        if name != "web_fetch" {
            return Err(ToolError::UnknownTool(name));
        }
        let args: Args = chitin_sdk::parse_arguments(&arguments)?;
        if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
            return Err(ToolError::InvalidArguments(format!(
                "url must start with http:// or https://, got {:?}",
                args.url
            )));
        }
        let max_chars = args
            .max_chars
            .unwrap_or(DEFAULT_MAX_CHARS)
            .clamp(100, LIMIT_MAX_CHARS);
        let response = chitin_sdk::util::get(&args.url).map_err(|err| {
            ToolError::Failed(format!(
                "fetching {}: {}",
                args.url,
                chitin_sdk::util::describe_http_error(&err)
            ))
        })?;
        if !(200..300).contains(&response.status) {
            return Err(ToolError::Failed(format!(
                "{} answered HTTP {}",
                response.final_url, response.status
            )));
        }
        let content_type = response
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&response.body);
        let (title, text) = if content_type.contains("html")
            || (content_type.is_empty() && body.trim_start().starts_with('<'))
        {
            let page = html::extract(&body);
            (page.title, page.text)
        } else if content_type.starts_with("text/")
            || content_type.contains("json")
            || content_type.contains("xml")
            || content_type.is_empty()
        {
            (None, body.into_owned())
        } else {
            return Err(ToolError::Failed(format!(
                "{} returned {content_type}, which is not text",
                response.final_url
            )));
        };
        let mut out = String::new();
        if let Some(title) = title {
            out.push_str(&format!("Title: {title}\n"));
        }
        out.push_str(&format!("URL: {}\n\n", response.final_url));
        let total = text.chars().count();
        if total > max_chars {
            out.extend(text.chars().take(max_chars));
            out.push_str(&format!(
                "\n\n[truncated: {} more characters]",
                total - max_chars
            ));
        } else {
            out.push_str(&text);
        }
        Ok(ToolOutput::markdown(out))
    }
}

chitin_sdk::export_tool!(WebFetch);
