//! A tool plugin built against `chitin:plugin@0.1.0`, from the copy of that version's WIT in
//! `wit/` (never updated), with wit-bindgen directly rather than the SDK. The integration tests
//! (tests/all/wit_compat.rs) load it on the current host and call every host interface through
//! the 0.1.0 bindings.

wit_bindgen::generate!({
    world: "tool-plugin",
    path: "wit",
});

use chitin::plugin::{config, http, kv, log};
use exports::chitin::plugin::tool::{CallContext, Guest, ToolError, ToolOutput, ToolSpec};

struct Fixture;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Args {
    text: String,
    key: String,
    url: String,
}

fn spec(name: &str, description: &str) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters_schema: r#"{"type":"object"}"#.to_string(),
    }
}

fn text(content: String) -> ToolOutput {
    ToolOutput {
        content,
        content_type: "text/plain".to_string(),
    }
}

fn http_error(err: http::HttpError) -> ToolError {
    ToolError::Failed(format!("{err:?}"))
}

fn get(url: &str) -> http::Request {
    http::Request {
        method: "GET".to_string(),
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
        timeout_ms: None,
        follow_redirects: true,
    }
}

impl Guest for Fixture {
    fn describe() -> Vec<ToolSpec> {
        vec![
            spec("echo", "Returns `text`, and the call id it was given."),
            spec("log", "Logs `text` at info level."),
            spec(
                "kv",
                "Stores `text` under `key`, reads it back and lists the keys.",
            ),
            spec("config", "Returns the config value `key`."),
            spec("fetch", "Fetches `url` and returns status and body."),
            spec(
                "fetch_stream",
                "Streams `url` and returns the chunks joined.",
            ),
            spec("refuse", "Fails with invalid-arguments."),
        ]
    }

    fn call(name: String, arguments: String, cx: CallContext) -> Result<ToolOutput, ToolError> {
        let args: Args = serde_json::from_str(&arguments)
            .map_err(|err| ToolError::InvalidArguments(err.to_string()))?;
        match name.as_str() {
            "echo" => Ok(text(format!("{} ({})", args.text, cx.call_id))),
            "log" => {
                log::log(log::Level::Info, &args.text);
                Ok(text("logged".to_string()))
            }
            "kv" => {
                kv::set(&args.key, args.text.as_bytes())
                    .map_err(|err| ToolError::Failed(format!("{err:?}")))?;
                let value = kv::get(&args.key)
                    .map_err(|err| ToolError::Failed(format!("{err:?}")))?
                    .unwrap_or_default();
                let keys =
                    kv::list_keys("", 10).map_err(|err| ToolError::Failed(format!("{err:?}")))?;
                Ok(text(format!(
                    "{} {keys:?}",
                    String::from_utf8_lossy(&value)
                )))
            }
            "config" => Ok(text(
                config::get(&args.key).unwrap_or_else(|| "<unset>".to_string()),
            )),
            "fetch" => {
                let response = http::fetch(&get(&args.url)).map_err(http_error)?;
                Ok(text(format!(
                    "{} {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                )))
            }
            "fetch_stream" => {
                let (head, body) = http::fetch_stream(&get(&args.url)).map_err(http_error)?;
                let mut all = Vec::new();
                while let Some(chunk) = body.next().map_err(http_error)? {
                    all.extend_from_slice(&chunk);
                }
                Ok(text(format!(
                    "{} {}",
                    head.status,
                    String::from_utf8_lossy(&all)
                )))
            }
            "refuse" => Err(ToolError::InvalidArguments(
                "this tool always refuses".to_string(),
            )),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

export!(Fixture);
