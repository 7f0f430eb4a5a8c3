//! `FakeBraveSearch`: the Brave Search Web Search API (`GET /res/v1/web/search?q=…&count=…`,
//! the subscription token in `X-Subscription-Token`). Results come as
//! `{"type": "search", "query": {…}, "web": {"type": "search", "results": [{title, url,
//! description, …}]}, "mixed": {…}}` with `<strong>` highlighting in titles and descriptions;
//! errors as `{"type": "ErrorResponse", "error": {id, status, code, detail, meta}, "time"}`;
//! every answer carries the `X-RateLimit-Limit/Policy/Remaining/Reset` headers, one value per
//! window (per second, per month), resets in seconds.

use serde_json::{Value, json};

use super::{Recorded, Reply, Responder};

pub struct FakeBraveSearch {
    pub server: super::FakeServer,
}

/// The endpoint's path.
pub const SEARCH_PATH: &str = "/res/v1/web/search";

/// A result as the tests script it: title, url, description (Brave's highlighting included).
pub type Hit = (&'static str, &'static str, &'static str);

impl FakeBraveSearch {
    pub async fn start(script: Vec<Responder>) -> FakeBraveSearch {
        FakeBraveSearch {
            server: super::FakeServer::start(script).await,
        }
    }

    /// The origin an operator would configure as `base_url`.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// Answers one search as Brave does for a subscription token `key`: 404 for another path,
    /// 401 `SUBSCRIPTION_TOKEN_INVALID` unless `X-Subscription-Token` is exactly `key`, 422
    /// without `q`, otherwise the first `count` of `hits` for the query.
    pub fn search(key: &'static str, hits: &'static [Hit]) -> Responder {
        Box::new(move |req: &Recorded| {
            if req.method != "GET" || path(req) != SEARCH_PATH {
                return Reply::json(404, json!({"message": "Not Found"}));
            }
            if req.header("x-subscription-token") != Some(key) {
                return Self::unauthorized();
            }
            let Some(q) = query_param(req, "q").filter(|q| !q.is_empty()) else {
                return Self::error(
                    422,
                    "VALIDATION",
                    "Unable to validate request parameter(s)",
                    json!({"errors": [{"type": "missing", "loc": ["query", "q"], "msg": "Field required"}]}),
                );
            };
            let count = query_param(req, "count")
                .and_then(|c| c.parse::<usize>().ok())
                .unwrap_or(20);
            Self::results(&q, &hits[..count.min(hits.len())])
        })
    }

    /// A 200 with `hits` as web results for `query`.
    pub fn results(query: &str, hits: &[Hit]) -> Reply {
        let results: Vec<Value> = hits
            .iter()
            .map(|(title, url, description)| {
                let host = url
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or("");
                json!({
                    "title": title,
                    "url": url,
                    "is_source_local": false,
                    "is_source_both": false,
                    "description": description,
                    "page_age": "2026-10-02T08:14:03",
                    "profile": {
                        "name": host,
                        "url": url,
                        "long_name": host,
                        "img": "https://imgs.search.brave.com/fake-favicon"
                    },
                    "language": "en",
                    "family_friendly": true,
                    "type": "search_result",
                    "subtype": "generic",
                    "is_live": false,
                    "meta_url": {
                        "scheme": "https",
                        "netloc": host,
                        "hostname": host,
                        "favicon": "https://imgs.search.brave.com/fake-favicon",
                        "path": "› docs"
                    },
                    "age": "October 2, 2026",
                    "extra_snippets": ["Another passage from the page."]
                })
            })
            .collect();
        let mut body = json!({
            "type": "search",
            "query": {
                "original": query,
                "show_strict_warning": false,
                "is_navigational": false,
                "is_news_breaking": false,
                "spellcheck_off": true,
                "country": "us",
                "bad_results": false,
                "should_fallback": false,
                "postal_code": "",
                "city": "",
                "header_country": "",
                "more_results_available": true,
                "state": ""
            },
            "mixed": {
                "type": "mixed",
                "main": (0..results.len())
                    .map(|i| json!({"type": "web", "index": i, "all": false}))
                    .collect::<Vec<_>>(),
                "top": [],
                "side": []
            }
        });
        // Brave leaves `web` out when nothing was found.
        if !results.is_empty() {
            body["web"] = json!({"type": "search", "results": results, "family_friendly": true});
        }
        Self::with_rate_headers(Reply::json(200, body), "0, 14998", "1, 1419704")
    }

    /// The error body Brave sends, with its rate-limit headers.
    pub fn error(status: u16, code: &str, detail: &str, meta: Value) -> Reply {
        Self::with_rate_headers(
            Reply::json(
                status,
                json!({
                    "type": "ErrorResponse",
                    "error": {
                        "id": "2f7d1c0e-8a8b-4f57-9a41-3b0c6f1e9d52",
                        "status": status,
                        "code": code,
                        "detail": detail,
                        "meta": meta
                    },
                    "time": 1_790_000_000
                }),
            ),
            "1, 14999",
            "1, 1419704",
        )
    }

    /// 401: the subscription token is wrong.
    pub fn unauthorized() -> Reply {
        Self::error(
            401,
            "SUBSCRIPTION_TOKEN_INVALID",
            "The provided subscription token is invalid.",
            json!({"component": "authentication"}),
        )
    }

    /// 429 after the per-second limit: a request may succeed again in a second.
    pub fn rate_limited() -> Reply {
        let mut reply = Self::error(
            429,
            "RATE_LIMITED",
            "Request rate limit exceeded for plan.",
            json!({
                "plan": "Free", "rate_limit": 1, "rate_current": 1, "quota_limit": 2000,
                "quota_current": 48, "component": "rate_limiter"
            }),
        );
        set_header(&mut reply, "x-ratelimit-remaining", "0, 1952");
        reply
    }

    /// 429 with the month's quota used up: it resets in 1419704 seconds (~17 days).
    pub fn quota_exhausted() -> Reply {
        let mut reply = Self::error(
            429,
            "RATE_LIMITED",
            "Request rate limit exceeded for plan.",
            json!({
                "plan": "Free", "rate_limit": 1, "rate_current": 0, "quota_limit": 2000,
                "quota_current": 2000, "component": "rate_limiter"
            }),
        );
        set_header(&mut reply, "x-ratelimit-remaining", "1, 0");
        reply
    }

    fn with_rate_headers(reply: Reply, remaining: &str, reset: &str) -> Reply {
        reply
            .header("x-ratelimit-limit", "1, 2000")
            .header("x-ratelimit-policy", "1;w=1, 2000;w=2592000")
            .header("x-ratelimit-remaining", remaining)
            .header("x-ratelimit-reset", reset)
    }
}

fn set_header(reply: &mut Reply, name: &str, value: &str) {
    reply.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    reply.headers.push((name.to_string(), value.to_string()));
}

fn path(req: &Recorded) -> &str {
    req.target.split('?').next().unwrap_or("")
}

/// A query parameter of a recorded request, percent-decoded (`+` is a space).
pub fn query_param(req: &Recorded, name: &str) -> Option<String> {
    let query = req.target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
