//! A deliberately hostile tool plugin: each tool is one attack on the sandbox. The integration
//! tests (tests/all) call them and assert the exact error the host reports, while a well-behaved
//! plugin keeps answering.

use std::hint::black_box;

use chitin_sdk::host::{config, http, kv, log, secrets};
use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

struct Hostile;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Args {
    url: String,
    path: String,
    text: String,
    bytes: u64,
    count: u64,
    headers: Vec<(String, String)>,
    body: Option<String>,
    follow: Option<bool>,
}

fn spec(name: &str, description: &str) -> ToolSpec {
    ToolSpec::new(name, description, serde_json::json!({ "type": "object" }))
}

fn failed(msg: impl Into<String>) -> ToolError {
    ToolError::Failed(msg.into())
}

/// Recursion whose frames live on the wasm (native) stack: only scalars, no addressable locals.
#[inline(never)]
#[allow(unconditional_recursion)] // the point: it never returns
fn recurse(depth: u64) -> u64 {
    recurse(black_box(depth + 1)).wrapping_add(black_box(depth))
}

/// Recursion whose frames hold an array, which Rust keeps on the shadow stack in linear memory:
/// it runs off the bottom of that stack (a memory fault) before the wasm stack fills up.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_shadow(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    recurse_shadow(black_box(depth + 1)).wrapping_add(frame[(depth % 64) as usize])
}

fn http_error(err: &http::HttpError) -> String {
    chitin_sdk::util::describe_http_error(err)
}

impl Tool for Hostile {
    fn describe() -> Vec<ToolSpec> {
        [
            ("spin", "Loops forever."),
            ("allocate", "Allocates 1 MiB chunks forever and keeps them."),
            ("recurse", "Recurses without end."),
            ("recurse_shadow", "Recurses without end with large frames."),
            (
                "fetch",
                "Fetches `url` (with `headers`, `body`) and returns status and body.",
            ),
            ("read_file", "Reads `path`."),
            ("write_file", "Writes `text` to `path`."),
            ("list_dir", "Lists `path`."),
            (
                "environment",
                "Returns the environment variables and arguments it can see.",
            ),
            (
                "hunt_secrets",
                "Looks for secrets in every place it can think of.",
            ),
            (
                "secret_exists",
                "Asks the host whether secret `text` exists.",
            ),
            (
                "error_with_placeholder",
                "Fails with a message containing a secret placeholder.",
            ),
            ("giant_output", "Returns `bytes` bytes of output."),
            ("flood_host", "Calls the host `count` times (0 = forever)."),
            ("flood_log", "Logs `count` lines."),
            ("panic", "Panics."),
            ("kv_put", "Stores `text` under key `path`."),
            ("kv_get", "Reads key `path`."),
            ("config_get", "Reads config key `text`."),
        ]
        .iter()
        .map(|(name, description)| spec(name, description))
        .collect()
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        let args: Args = chitin_sdk::parse_arguments(&arguments)?;
        match name.as_str() {
            "spin" => {
                let mut counter = 0u64;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            "allocate" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    // Touch every page so the memory is really used, and keep it alive.
                    for i in (0..chunk.len()).step_by(4096) {
                        chunk[i] = 1;
                    }
                    hoard.push(black_box(chunk));
                    black_box(&hoard);
                }
            }
            "recurse" => Ok(ToolOutput::text(recurse(0).to_string())),
            "recurse_shadow" => Ok(ToolOutput::text(recurse_shadow(0).to_string())),
            "fetch" => {
                let request = http::Request {
                    method: if args.body.is_some() { "POST" } else { "GET" }.to_string(),
                    url: args.url,
                    headers: args.headers,
                    body: args.body.map(String::into_bytes),
                    timeout_ms: None,
                    follow_redirects: args.follow.unwrap_or(true),
                };
                match http::fetch(&request) {
                    Ok(response) => Ok(ToolOutput::text(format!(
                        "{} {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ))),
                    Err(err) => Err(failed(http_error(&err))),
                }
            }
            "read_file" => std::fs::read_to_string(&args.path)
                .map(ToolOutput::text)
                .map_err(|err| failed(format!("read {}: {err}", args.path))),
            "write_file" => std::fs::write(&args.path, args.text.as_bytes())
                .map(|()| ToolOutput::text("written"))
                .map_err(|err| failed(format!("write {}: {err}", args.path))),
            "list_dir" => match std::fs::read_dir(&args.path) {
                Ok(entries) => Ok(ToolOutput::text(
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )),
                Err(err) => Err(failed(format!("list {}: {err}", args.path))),
            },
            "environment" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let argv: Vec<String> = std::env::args().collect();
                Ok(ToolOutput::text(format!("vars={vars:?} args={argv:?}")))
            }
            "hunt_secrets" => {
                let mut found = Vec::new();
                for (k, v) in std::env::vars() {
                    found.push(format!("env {k}={v}"));
                }
                for path in [
                    "/proc/self/environ",
                    "/etc/passwd",
                    "/root/.chitin/secrets.key",
                    "/root/.chitin/secrets.enc",
                    "../secrets.key",
                    "/",
                    ".",
                ] {
                    if let Ok(text) = std::fs::read_to_string(path) {
                        found.push(format!("file {path}: {text}"));
                    }
                    if let Ok(entries) = std::fs::read_dir(path) {
                        found.push(format!("dir {path}: {} entries", entries.count()));
                    }
                }
                for name in ["API_TOKEN", "OPENAI_API_KEY", "TELEGRAM_TOKEN"] {
                    if secrets::exists(name) {
                        found.push(format!("secret {name} exists"));
                    }
                }
                Ok(ToolOutput::text(found.join("\n")))
            }
            "secret_exists" => Ok(ToolOutput::text(secrets::exists(&args.text).to_string())),
            "error_with_placeholder" => Err(failed(format!(
                "could not log in with {}",
                chitin_sdk::secret_placeholder(&args.text)
            ))),
            "giant_output" => Ok(ToolOutput::text("x".repeat(args.bytes as usize))),
            "flood_host" => {
                let mut i = 0u64;
                while args.count == 0 || i < args.count {
                    black_box(config::get("anything"));
                    i += 1;
                }
                Ok(ToolOutput::text(format!("made {i} host calls")))
            }
            "flood_log" => {
                for i in 0..args.count {
                    log::log(log::Level::Info, &format!("flood line {i}"));
                }
                Ok(ToolOutput::text(format!("logged {} lines", args.count)))
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "kv_put" => kv::set(&args.path, args.text.as_bytes())
                .map(|()| ToolOutput::text("stored"))
                .map_err(|err| failed(format!("{err:?}"))),
            "kv_get" => match kv::get(&args.path) {
                Ok(Some(value)) => Ok(ToolOutput::text(String::from_utf8_lossy(&value))),
                Ok(None) => Ok(ToolOutput::text("<none>")),
                Err(err) => Err(failed(format!("{err:?}"))),
            },
            "config_get" => Ok(ToolOutput::text(
                config::get(&args.text).unwrap_or_else(|| "<unset>".to_string()),
            )),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

chitin_sdk::export_tool!(Hostile);
