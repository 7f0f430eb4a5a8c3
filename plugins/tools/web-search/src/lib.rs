//! `web_search`: a web search through the Brave Search API, returned as a compact numbered list.
//!
//! The plugin never sees the API key: it writes `{{secret:BRAVE_API_KEY}}` in the
//! `X-Subscription-Token` header and the host substitutes the value at the network edge, only
//! for the hosts the operator's grant allows that secret to reach. The API's origin comes from
//! the config key `base_url` (default `https://api.search.brave.com`).

mod brave;

use chitin_sdk::host::{config, http, secrets};
use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

use brave::{ApiError, Outcome};

const DEFAULT_BASE_URL: &str = "https://api.search.brave.com";
const SEARCH_PATH: &str = "/res/v1/web/search";
const SECRET: &str = "BRAVE_API_KEY";
const DEFAULT_COUNT: u32 = 10;
/// Brave's limits: `count` at most 20, `q` at most 400 characters and 50 words.
const MAX_COUNT: u32 = 20;
const MAX_QUERY_CHARS: usize = 400;
const MAX_QUERY_WORDS: usize = 50;

struct WebSearch;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    query: String,
    #[serde(default)]
    count: Option<u32>,
}

impl Tool for WebSearch {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "web_search",
            "Search the web (Brave Search). Returns a numbered list of results, each with its \
             title, URL and a short description. Fetch a result's URL with web_fetch to read \
             the page.",
            serde_json::json!({
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "What to search for (at most 400 characters and 50 words)"
                    },
                    "count": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_COUNT,
                        "description": "How many results to return (default 10, at most 20)"
                    }
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        )]
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        if name != "web_search" {
            return Err(ToolError::UnknownTool(name));
        }
        let args: Args = chitin_sdk::parse_arguments(&arguments)?;
        let query = args.query.trim();
        if query.is_empty() {
            return Err(ToolError::InvalidArguments(
                "query is empty; say what to search for".to_string(),
            ));
        }
        let chars = query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(ToolError::InvalidArguments(format!(
                "query is {chars} characters long; Brave Search accepts at most \
                 {MAX_QUERY_CHARS}: shorten it to the key words"
            )));
        }
        let words = query.split_whitespace().count();
        if words > MAX_QUERY_WORDS {
            return Err(ToolError::InvalidArguments(format!(
                "query has {words} words; Brave Search accepts at most {MAX_QUERY_WORDS}: \
                 shorten it to the key words"
            )));
        }
        let count = args.count.unwrap_or(DEFAULT_COUNT).clamp(1, MAX_COUNT);

        let base_url = config::get("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = base_url.trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ToolError::Failed(format!(
                "the web-search plugin is misconfigured: base_url {base_url:?} is not an http(s) \
                 URL. Tell the user to fix base_url under [plugins.web-search.grant.config] in \
                 chitin.toml (or remove it to use {DEFAULT_BASE_URL})"
            )));
        }
        if !secrets::exists(SECRET) {
            return Err(ToolError::Failed(format!(
                "web search is not set up: no Brave Search API key is available to this plugin. \
                 Tell the user: store one with `chitin secrets set {SECRET}` and grant it in \
                 chitin.toml under [plugins.web-search.grant]: outbound = \
                 [\"{DEFAULT_BASE_URL}\"] and secrets = [{{ name = \"{SECRET}\", hosts = \
                 [\"{DEFAULT_BASE_URL}\"] }}]"
            )));
        }

        let url = format!(
            "{base_url}{SEARCH_PATH}?q={}&count={count}",
            brave::percent_encode(query)
        );
        let response = http::fetch(&http::Request {
            method: "GET".to_string(),
            url,
            headers: vec![
                ("Accept".to_string(), "application/json".to_string()),
                (
                    "X-Subscription-Token".to_string(),
                    chitin_sdk::secret_placeholder(SECRET),
                ),
            ],
            body: None,
            timeout_ms: None,
            // The API does not redirect; a redirect would mean base_url is wrong.
            follow_redirects: false,
        })
        .map_err(|err| {
            ToolError::Failed(format!(
                "the Brave Search request to {base_url} failed: {}",
                chitin_sdk::util::describe_http_error(&err)
            ))
        })?;

        match brave::interpret(response.status, &response.headers, &response.body) {
            Outcome::Results { results, altered } => Ok(ToolOutput::text(brave::render(
                query, altered, &results, count,
            ))),
            Outcome::Error(err) => Err(ToolError::Failed(describe(&err, base_url))),
        }
    }
}

chitin_sdk::export_tool!(WebSearch);

/// The error text the model sees: what happened and what to do about it.
fn describe(err: &ApiError, base_url: &str) -> String {
    match err {
        ApiError::Auth { status, reason } => {
            let what = if *status == 403 {
                "refused the API key access to web search (the key may be disabled, or its plan \
                 may not include the Web Search API)"
            } else {
                "rejected the API key as invalid"
            };
            format!(
                "Brave Search {what} (HTTP {status}{reason}). Retrying will not help. Tell the \
                 user to check the {SECRET} secret: store a valid subscription token from \
                 https://api-dashboard.search.brave.com with `chitin secrets set {SECRET}`"
            )
        }
        ApiError::RateLimited { reason, wait_secs } => {
            let mut text = format!("Brave Search rate limit reached (HTTP 429{reason}). ");
            match wait_secs {
                Some(secs) if *secs > 2 * 3600 => text.push_str(&format!(
                    "The plan's quota is used up until it resets in {}; do not retry before \
                     then, and tell the user (a larger plan raises the quota)",
                    brave::human_duration(*secs)
                )),
                Some(secs) => text.push_str(&format!(
                    "Retry in {}, and search less often",
                    brave::human_duration((*secs).max(1))
                )),
                None => text.push_str("Wait a few seconds before retrying"),
            }
            text
        }
        ApiError::Server { status, reason } => format!(
            "Brave Search had a server error (HTTP {status}{reason}); the problem is on Brave's \
             side: try again in a minute"
        ),
        ApiError::Other { status, reason } => format!(
            "Brave Search refused the request (HTTP {status}{reason}); check the query and try \
             again"
        ),
        ApiError::Malformed { status, problem } => format!(
            "Brave Search answered HTTP {status} with a response that is not a web search result \
             ({problem}); it may be having trouble, or base_url ({base_url}) may not point at the \
             Brave Search API. Try again later"
        ),
    }
}
