//! The Brave Search API's wire format: the response of `GET /res/v1/web/search`, its error
//! bodies and rate-limit headers. Pure functions, unit-tested natively.
//!
//! Success: `{"type": "search", "query": {"original": …, "altered": …}, "web": {"type":
//! "search", "results": [{"title", "url", "description", …}]}, …}` (`web` is absent when
//! nothing was found). Errors: `{"type": "ErrorResponse", "error": {"id", "status", "code",
//! "detail", "meta"}, "time"}`. Rate limits: `X-RateLimit-Remaining: 0, 1000` and
//! `X-RateLimit-Reset: 1, 1419704` list each window (per second, per month) in seconds.

use serde_json::Value;

/// One search result, with Brave's highlighting removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    pub title: String,
    pub url: String,
    pub description: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 401/403, or a `SUBSCRIPTION_TOKEN_INVALID` error under any status (Brave sends 422).
    Auth {
        status: u16,
        reason: String,
    },
    RateLimited {
        reason: String,
        /// Seconds until a request may succeed, when the response says.
        wait_secs: Option<u64>,
    },
    Server {
        status: u16,
        reason: String,
    },
    Other {
        status: u16,
        reason: String,
    },
    Malformed {
        status: u16,
        problem: String,
    },
}

#[derive(Debug)]
pub enum Outcome {
    Results {
        results: Vec<SearchResult>,
        /// The query Brave searched instead (spelling correction), if any.
        altered: Option<String>,
    },
    Error(ApiError),
}

/// Classifies a response of the web search endpoint.
pub fn interpret(status: u16, headers: &[(String, String)], body: &[u8]) -> Outcome {
    if !(200..300).contains(&status) {
        return Outcome::Error(api_error(status, headers, body));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => {
            return Outcome::Error(ApiError::Malformed {
                status,
                problem: format!("invalid JSON: {err}; it began {}", preview(body)),
            });
        }
    };
    if !value.is_object() {
        return Outcome::Error(ApiError::Malformed {
            status,
            problem: "expected a JSON object".to_string(),
        });
    }
    let altered = value
        .pointer("/query/altered")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let results = match value.pointer("/web/results") {
        // No `web` section: nothing was found.
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(result).collect(),
        Some(_) => {
            return Outcome::Error(ApiError::Malformed {
                status,
                problem: "web.results is not a list".to_string(),
            });
        }
    };
    Outcome::Results { results, altered }
}

fn result(item: &Value) -> Option<SearchResult> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
    let url = text("url").trim();
    if url.is_empty() {
        return None;
    }
    Some(SearchResult {
        title: clean(text("title")),
        url: url.to_string(),
        description: clean(text("description")),
    })
}

fn api_error(status: u16, headers: &[(String, String)], body: &[u8]) -> ApiError {
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let field = |key: &str| {
        error
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let code = field("code");
    let reason = match (&code, field("detail")) {
        (Some(code), Some(detail)) => format!(", {code}: {detail}"),
        (Some(code), None) => format!(", {code}"),
        (None, Some(detail)) => format!(": {detail}"),
        (None, None) => String::new(),
    };
    let token_invalid = code
        .as_deref()
        .is_some_and(|c| c.starts_with("SUBSCRIPTION_TOKEN"));
    match status {
        429 => ApiError::RateLimited {
            reason,
            wait_secs: retry_wait(headers),
        },
        401 | 403 => ApiError::Auth { status, reason },
        _ if token_invalid => ApiError::Auth { status, reason },
        500..=599 => ApiError::Server { status, reason },
        _ => ApiError::Other { status, reason },
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Seconds to wait after a 429: `retry-after` (seconds) if sent, otherwise the reset of the
/// exhausted window in `x-ratelimit-reset` (the longest among windows with nothing remaining;
/// the first window when `x-ratelimit-remaining` does not say).
pub fn retry_wait(headers: &[(String, String)]) -> Option<u64> {
    if let Some(secs) = header(headers, "retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(secs);
    }
    let list = |name: &str| -> Vec<Option<u64>> {
        header(headers, name)
            .map(|v| v.split(',').map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default()
    };
    let resets = list("x-ratelimit-reset");
    let remaining = list("x-ratelimit-remaining");
    let exhausted = resets
        .iter()
        .zip(&remaining)
        .filter(|(_, left)| **left == Some(0))
        .filter_map(|(reset, _)| *reset)
        .max();
    exhausted.or_else(|| resets.first().copied().flatten())
}

/// `90` -> "90 seconds", `3600` -> "60 minutes", `1419704` -> "17 days".
pub fn human_duration(secs: u64) -> String {
    let (n, unit) = if secs < 120 {
        (secs, "second")
    } else if secs < 2 * 3600 {
        (secs.div_ceil(60), "minute")
    } else if secs < 2 * 86_400 {
        (secs.div_ceil(3600), "hour")
    } else {
        (secs.div_ceil(86_400), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The numbered list the model sees.
pub fn render(
    query: &str,
    altered: Option<String>,
    results: &[SearchResult],
    count: u32,
) -> String {
    if results.is_empty() {
        return format!("No web results for \"{query}\". Try other or fewer words.");
    }
    let mut out = format!("Web results for \"{query}\"");
    if let Some(altered) = altered {
        out.push_str(&format!(" (Brave searched for \"{altered}\" instead)"));
    }
    out.push_str(":\n");
    for (i, r) in results.iter().take(count as usize).enumerate() {
        let title = if r.title.is_empty() {
            "(untitled)"
        } else {
            &r.title
        };
        out.push_str(&format!("\n{}. {title}\n   {}\n", i + 1, r.url));
        if !r.description.is_empty() {
            out.push_str(&format!("   {}\n", r.description));
        }
    }
    out
}

/// Removes HTML tags (Brave marks matches with `<strong>`), decodes entities and collapses
/// whitespace.
pub fn clean(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    decode_entities(&plain)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let code =
                        if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                            u32::from_str_radix(hex, 16).ok()
                        } else {
                            name.strip_prefix('#').and_then(|d| d.parse().ok())
                        };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters stay as they are).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The start of a body, for an error message.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut short: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        short.push('…');
    }
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn results_are_cleaned_and_numbered() {
        let body = json!({
            "type": "search",
            "query": {"original": "rust wasm", "altered": "rust wasm"},
            "web": {"type": "search", "results": [
                {"title": "The <strong>Rust</strong> Book", "url": "https://doc.rust-lang.org/book/",
                 "description": "Learn <strong>Rust</strong> &amp; WebAssembly&#x27;s  basics."},
                {"title": "no url"},
                {"title": "", "url": "https://example.com/", "description": ""}
            ]}
        });
        let Outcome::Results { results, altered } =
            interpret(200, &[], body.to_string().as_bytes())
        else {
            panic!("not results");
        };
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].title, "The Rust Book");
        assert_eq!(results[0].description, "Learn Rust & WebAssembly's basics.");
        let text = render("rust wasm", altered, &results, 10);
        assert!(text.starts_with("Web results for \"rust wasm\""), "{text}");
        assert!(text.contains("\n1. The Rust Book\n   https://doc.rust-lang.org/book/\n   Learn Rust & WebAssembly's basics.\n"), "{text}");
        assert!(
            text.contains("\n2. (untitled)\n   https://example.com/\n"),
            "{text}"
        );
        assert_eq!(
            render("x", None, &results, 1).matches("https://").count(),
            1
        );
    }

    #[test]
    fn no_web_section_means_no_results() {
        let Outcome::Results { results, .. } = interpret(200, &[], br#"{"type":"search"}"#) else {
            panic!()
        };
        assert!(results.is_empty());
        assert!(render("q", None, &results, 5).contains("No web results"));
    }

    #[test]
    fn malformed_bodies_are_reported() {
        for body in [
            &b"<html>oops</html>"[..],
            b"[1,2]",
            br#"{"web":{"results":{}}}"#,
        ] {
            assert!(
                matches!(
                    interpret(200, &[], body),
                    Outcome::Error(ApiError::Malformed { .. })
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn errors_are_classified() {
        let body = |status: u16, code: &str, detail: &str| {
            json!({"type": "ErrorResponse", "error": {"id": "x", "status": status, "code": code, "detail": detail, "meta": {}}, "time": 1})
                .to_string()
        };
        let err = |status, b: String, h: &[(&str, &str)]| match interpret(
            status,
            &headers(h),
            b.as_bytes(),
        ) {
            Outcome::Error(e) => e,
            Outcome::Results { .. } => panic!("not an error"),
        };
        assert_eq!(
            err(
                401,
                body(
                    401,
                    "SUBSCRIPTION_TOKEN_INVALID",
                    "The provided subscription token is invalid."
                ),
                &[]
            ),
            ApiError::Auth {
                status: 401,
                reason: ", SUBSCRIPTION_TOKEN_INVALID: The provided subscription token is invalid."
                    .into()
            }
        );
        assert!(matches!(
            err(422, body(422, "SUBSCRIPTION_TOKEN_INVALID", "x"), &[]),
            ApiError::Auth { status: 422, .. }
        ));
        assert!(matches!(
            err(422, body(422, "VALIDATION", "bad"), &[]),
            ApiError::Other { status: 422, .. }
        ));
        assert!(
            matches!(err(503, "upstream down".into(), &[]), ApiError::Server { status: 503, ref reason } if reason.is_empty())
        );
        assert_eq!(
            err(
                429,
                body(429, "RATE_LIMITED", "Request rate limit exceeded for plan."),
                &[
                    ("X-RateLimit-Remaining", "0, 1000"),
                    ("X-RateLimit-Reset", "1, 1419704"),
                ]
            ),
            ApiError::RateLimited {
                reason: ", RATE_LIMITED: Request rate limit exceeded for plan.".into(),
                wait_secs: Some(1)
            }
        );
    }

    #[test]
    fn retry_wait_reads_the_exhausted_window() {
        assert_eq!(retry_wait(&headers(&[("retry-after", "7")])), Some(7));
        let month = headers(&[
            ("x-ratelimit-remaining", "1, 0"),
            ("x-ratelimit-reset", "1, 1419704"),
        ]);
        assert_eq!(retry_wait(&month), Some(1_419_704));
        let both = headers(&[
            ("x-ratelimit-remaining", "0, 0"),
            ("x-ratelimit-reset", "1, 86400"),
        ]);
        assert_eq!(retry_wait(&both), Some(86_400));
        assert_eq!(
            retry_wait(&headers(&[("x-ratelimit-reset", "3, 50")])),
            Some(3)
        );
        assert_eq!(retry_wait(&[]), None);
    }

    #[test]
    fn durations_and_encoding() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(90), "90 seconds");
        assert_eq!(human_duration(3600), "60 minutes");
        assert_eq!(human_duration(1_419_704), "17 days");
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn entities_and_tags() {
        assert_eq!(
            clean("a &lt;b&gt; &#39;c&#39; &unknown; & d"),
            "a <b> 'c' &unknown; & d"
        );
        assert_eq!(clean("<strong>x</strong>\n y"), "x y");
    }
}
