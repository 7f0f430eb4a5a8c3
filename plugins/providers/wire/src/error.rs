//! Turning a failed HTTP exchange (status, headers, body) or an error reported inside a stream
//! into a [`ProviderError`], the classification failover acts on.

use serde_json::Value;

use crate::{ProviderError, header};

/// The longest error text kept from a response.
const MAX_MESSAGE_CHARS: usize = 600;

/// Classifies a non-success response. `now_ms` (Unix time in milliseconds) turns absolute
/// reset times (`retry-after` as an HTTP date, `anthropic-ratelimit-*-reset`) into a delay.
pub fn classify_http_error(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: u64,
) -> ProviderError {
    let info = ErrorInfo::parse(body);
    let text = info.text(body, status);
    let detail = format!("HTTP {status}: {text}");
    let retry = retry_after_ms(headers, now_ms).or(info.retry_delay_ms);
    if info.kind_has(&["overloaded"]) {
        return ProviderError::Overloaded(retry);
    }
    match status {
        429 if info.kind_has(&["insufficient_quota", "billing"]) => ProviderError::Auth(format!(
            "{detail} (the account's quota or credit is exhausted)"
        )),
        429 => ProviderError::RateLimited(retry),
        503 | 529 => ProviderError::Overloaded(retry),
        401 | 403 => ProviderError::Auth(detail),
        408 => ProviderError::Transient(detail),
        300..=399 => {
            let location = header(headers, "location").unwrap_or("?");
            ProviderError::BadRequest(format!(
                "{detail}; the endpoint redirects to {location}: configure that as base_url"
            ))
        }
        400..=499 => {
            if is_context_overflow(&text, &info.kind) || status == 413 {
                ProviderError::ContextOverflow(detail)
            } else if is_auth_failure(&text, &info.kind) {
                ProviderError::Auth(detail)
            } else {
                ProviderError::BadRequest(detail)
            }
        }
        200..=299 => classify_kind(&info.kind, &text, detail),
        _ => ProviderError::Transient(detail),
    }
}

/// Classifies an error the server reported after a successful response head, in the stream
/// itself (an Anthropic `error` event, an OpenAI chunk with `error`, an Ollama `{"error":..}`
/// line, a Gemini chunk with `error`). `value` is the parsed event. Errors that say what they
/// are keep their class (overloaded, rate limit, context, auth); everything else is transient.
pub fn classify_stream_error(value: &Value) -> ProviderError {
    let info = ErrorInfo::from_value(value);
    let text = info
        .message
        .clone()
        .unwrap_or_else(|| truncate(&value.to_string()));
    let detail = format!("error in the response stream: {text}");
    classify_kind(&info.kind, &text, detail)
}

fn classify_kind(kind: &str, text: &str, detail: String) -> ProviderError {
    let has = |words: &[&str]| words.iter().any(|w| kind.contains(w));
    if has(&["overloaded"]) {
        ProviderError::Overloaded(None)
    } else if has(&["rate_limit", "resource_exhausted", "too_many_requests"]) {
        ProviderError::RateLimited(None)
    } else if is_context_overflow(text, kind) {
        ProviderError::ContextOverflow(detail)
    } else if has(&[
        "authentication",
        "permission",
        "unauthenticated",
        "invalid_api_key",
    ]) || is_auth_failure(text, kind)
    {
        ProviderError::Auth(detail)
    } else {
        ProviderError::Transient(detail)
    }
}

fn is_context_overflow(text: &str, kind: &str) -> bool {
    let text = text.to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "context_length_exceeded",
        "prompt is too long",
        "maximum context length",
        "context length",
        "context window",
        "too many tokens",
        "input token count",
        "exceeds the maximum number of tokens",
        "request_too_large",
        "prompt too long",
    ];
    MARKERS.iter().any(|m| text.contains(m) || kind.contains(m))
}

fn is_auth_failure(text: &str, kind: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("api key not valid")
        || text.contains("invalid api key")
        || text.contains("incorrect api key")
        || kind.contains("api_key_invalid")
        || kind.contains("invalid_api_key")
}

/// What the vendors' error bodies say, whatever their shape:
/// OpenAI `{"error":{"message","type","code"}}`, Anthropic
/// `{"type":"error","error":{"type","message"}}`, Gemini `{"error":{"code","message","status",
/// "details"}}` (sometimes wrapped in an array), Ollama `{"error":"text"}`.
#[derive(Debug, Default)]
struct ErrorInfo {
    message: Option<String>,
    /// Lower-cased type / code / status / reason words, space separated.
    kind: String,
    retry_delay_ms: Option<u32>,
}

impl ErrorInfo {
    fn parse(body: &[u8]) -> ErrorInfo {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => ErrorInfo::from_value(&value),
            Err(_) => ErrorInfo::default(),
        }
    }

    fn from_value(value: &Value) -> ErrorInfo {
        let value = match value {
            Value::Array(items) => items.first().unwrap_or(&Value::Null),
            other => other,
        };
        let mut info = ErrorInfo::default();
        let mut words = Vec::new();
        let error = value.get("error").unwrap_or(value);
        match error {
            Value::String(text) => info.message = Some(truncate(text)),
            Value::Object(obj) => {
                info.message = obj.get("message").and_then(Value::as_str).map(truncate);
                for key in ["type", "code", "status"] {
                    match obj.get(key) {
                        Some(Value::String(s)) => words.push(s.to_ascii_lowercase()),
                        Some(Value::Number(n)) => words.push(n.to_string()),
                        _ => {}
                    }
                }
                for detail in obj
                    .get("details")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(reason) = detail.get("reason").and_then(Value::as_str) {
                        words.push(reason.to_ascii_lowercase());
                    }
                    if let Some(delay) = detail.get("retryDelay").and_then(Value::as_str) {
                        info.retry_delay_ms = parse_go_duration_ms(delay).map(clamp_ms);
                    }
                }
            }
            _ => {}
        }
        info.kind = words.join(" ");
        info
    }

    fn kind_has(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.kind.contains(w))
    }

    fn text(&self, body: &[u8], status: u16) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        let raw = String::from_utf8_lossy(body);
        let raw = raw.trim();
        if raw.is_empty() {
            format!("the server answered {status} with no details")
        } else {
            truncate(raw)
        }
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

fn clamp_ms(ms: u64) -> u32 {
    ms.min(u64::from(u32::MAX)) as u32
}

/// How long the server asked us to wait, in milliseconds, from (in order of precedence)
/// `retry-after-ms`, `retry-after` (seconds or an HTTP date), Anthropic's
/// `anthropic-ratelimit-*-reset` (RFC 3339 times) and OpenAI's `x-ratelimit-reset-*`
/// (durations such as `6m0s`). For the last two, the limits that are exhausted
/// (`*-remaining: 0`) decide; when none says so, the latest reset does.
pub fn retry_after_ms(headers: &[(String, String)], now_ms: u64) -> Option<u32> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(parse_non_negative) {
        return Some(clamp_ms(ms as u64));
    }
    if let Some(value) = header(headers, "retry-after") {
        if let Some(secs) = parse_non_negative(value) {
            return Some(clamp_ms((secs * 1000.0) as u64));
        }
        if let Some(at) = parse_http_date_ms(value) {
            return Some(clamp_ms(at.saturating_sub(now_ms)));
        }
    }
    const ANTHROPIC: &[&str] = &["requests", "tokens", "input-tokens", "output-tokens"];
    let anthropic = ANTHROPIC.iter().filter_map(|limit| {
        let reset = header(headers, &format!("anthropic-ratelimit-{limit}-reset"))?;
        let at = parse_rfc3339_ms(reset)?;
        let exhausted =
            header(headers, &format!("anthropic-ratelimit-{limit}-remaining")) == Some("0");
        Some((exhausted, at.saturating_sub(now_ms)))
    });
    if let Some(ms) = pick_reset(anthropic) {
        return Some(clamp_ms(ms));
    }
    let openai = ["requests", "tokens"].into_iter().filter_map(|limit| {
        let reset = header(headers, &format!("x-ratelimit-reset-{limit}"))?;
        let ms = parse_go_duration_ms(reset)?;
        let exhausted = header(headers, &format!("x-ratelimit-remaining-{limit}")) == Some("0");
        Some((exhausted, ms))
    });
    pick_reset(openai).map(clamp_ms)
}

fn pick_reset(resets: impl Iterator<Item = (bool, u64)>) -> Option<u64> {
    let all: Vec<(bool, u64)> = resets.collect();
    let exhausted = all.iter().filter(|(e, _)| *e).map(|(_, ms)| *ms).max();
    exhausted.or_else(|| all.iter().map(|(_, ms)| *ms).max())
}

fn parse_non_negative(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Durations as Go prints them and OpenAI / Google send them: `1s`, `6m0s`, `20ms`, `1.5s`,
/// `1h2m3s`.
pub fn parse_go_duration_ms(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (factor, unit_len) = if rest.starts_with("ms") {
            (1.0, 2)
        } else if rest.starts_with('s') {
            (1000.0, 1)
        } else if rest.starts_with('m') {
            (60_000.0, 1)
        } else if rest.starts_with('h') {
            (3_600_000.0, 1)
        } else {
            return None;
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(total.round() as u64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn to_unix_ms(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<u64> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(h) * 3600
        + i64::from(m) * 60
        + i64::from(s);
    u64::try_from(secs).ok().map(|s| s * 1000)
}

fn parse_hms(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let s = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((h, m, s))
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix milliseconds.
pub fn parse_http_date_ms(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let (h, m, s) = parse_hms(parts.next()?)?;
    to_unix_ms(year, month, day, h, m, s)
}

/// An RFC 3339 time (`2026-11-21T10:00:30Z`, `…30.25+01:00`) as Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0i64)
    } else {
        let pos = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(pos);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':')?;
        let oh: i64 = oh.parse().ok()?;
        let om: i64 = om.parse().ok()?;
        (clock, sign * (oh * 3600 + om * 60))
    };
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let (h, m, s) = parse_hms(whole)?;
    let mut ms = to_unix_ms(year, month, day, h, m, s)? as i64;
    if !fraction.is_empty() {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = &fraction[..fraction.len().min(3)];
        let scale = 10i64.pow(3 - digits.len() as u32);
        ms += digits.parse::<i64>().ok()? * scale;
    }
    u64::try_from(ms - offset_secs * 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NOW: u64 = 1_795_000_000_000;

    #[test]
    fn dates_and_durations() {
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_rfc3339_ms("1994-11-06T08:49:37Z"),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_rfc3339_ms("1994-11-06T09:49:37.5+01:00"),
            Some(784_111_777_500)
        );
        assert_eq!(parse_go_duration_ms("6m0s"), Some(360_000));
        assert_eq!(parse_go_duration_ms("20ms"), Some(20));
        assert_eq!(parse_go_duration_ms("1.5s"), Some(1500));
        assert_eq!(parse_go_duration_ms("1h2m3s"), Some(3_723_000));
        assert_eq!(parse_go_duration_ms("soon"), None);
        assert_eq!(parse_http_date_ms("tomorrow"), None);
        assert_eq!(parse_rfc3339_ms("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn retry_after_sources() {
        assert_eq!(retry_after_ms(&h(&[("Retry-After", "7")]), NOW), Some(7000));
        assert_eq!(
            retry_after_ms(&h(&[("retry-after-ms", "1234"), ("retry-after", "9")]), NOW),
            Some(1234)
        );
        let in_90s = "Tue, 18 Nov 2026 20:28:10 GMT";
        let at = parse_http_date_ms(in_90s).unwrap();
        assert_eq!(
            retry_after_ms(&h(&[("retry-after", in_90s)]), at - 90_000),
            Some(90_000)
        );
        // An HTTP date in the past: retry now.
        assert_eq!(
            retry_after_ms(&h(&[("retry-after", in_90s)]), at + 5),
            Some(0)
        );
        let reset_at = parse_rfc3339_ms("2026-11-18T20:28:10Z").unwrap();
        let anthropic = h(&[
            ("anthropic-ratelimit-requests-remaining", "10"),
            ("anthropic-ratelimit-requests-reset", "2026-11-18T20:29:10Z"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2026-11-18T20:28:10Z"),
        ]);
        assert_eq!(retry_after_ms(&anthropic, reset_at - 30_000), Some(30_000));
        let openai = h(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "2s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(retry_after_ms(&openai, NOW), Some(2000));
        assert_eq!(retry_after_ms(&h(&[("retry-after", "-3")]), NOW), None);
        assert_eq!(retry_after_ms(&[], NOW), None);
    }

    #[test]
    fn http_statuses() {
        let openai_429 = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            classify_http_error(429, &h(&[("retry-after", "3")]), openai_429, NOW),
            ProviderError::RateLimited(Some(3000))
        );
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert!(matches!(
            classify_http_error(429, &[], quota, NOW),
            ProviderError::Auth(_)
        ));
        let overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            classify_http_error(529, &[], overloaded, NOW),
            ProviderError::Overloaded(None)
        );
        assert_eq!(
            classify_http_error(503, &h(&[("retry-after", "2")]), b"", NOW),
            ProviderError::Overloaded(Some(2000))
        );
        assert!(matches!(
            classify_http_error(401, &[], br#"{"error":{"message":"Incorrect API key provided"}}"#, NOW),
            ProviderError::Auth(m) if m.contains("Incorrect API key")
        ));
        assert!(matches!(
            classify_http_error(403, &[], b"forbidden", NOW),
            ProviderError::Auth(_)
        ));
        for body in [
            &br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#[..],
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
            br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
        ] {
            assert!(
                matches!(classify_http_error(400, &[], body, NOW), ProviderError::ContextOverflow(_)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let gemini_key = br#"[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}]"#;
        assert!(matches!(
            classify_http_error(400, &[], gemini_key, NOW),
            ProviderError::Auth(_)
        ));
        let gemini_429 = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}"#;
        assert_eq!(
            classify_http_error(429, &[], gemini_429, NOW),
            ProviderError::RateLimited(Some(26_000))
        );
        assert!(matches!(
            classify_http_error(404, &[], br#"{"error":"model 'nope' not found"}"#, NOW),
            ProviderError::BadRequest(m) if m.contains("model 'nope' not found")
        ));
        assert!(matches!(
            classify_http_error(500, &[], b"<html>oops</html>", NOW),
            ProviderError::Transient(m) if m.contains("oops")
        ));
        assert!(matches!(
            classify_http_error(502, &[], b"", NOW),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            classify_http_error(302, &h(&[("location", "https://x/")]), b"", NOW),
            ProviderError::BadRequest(m) if m.contains("https://x/")
        ));
    }

    #[test]
    fn stream_errors() {
        assert_eq!(
            classify_stream_error(
                &json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})
            ),
            ProviderError::Overloaded(None)
        );
        assert!(matches!(
            classify_stream_error(&json!({"type":"error","error":{"type":"api_error","message":"Internal server error"}})),
            ProviderError::Transient(m) if m.contains("Internal server error")
        ));
        assert!(matches!(
            classify_stream_error(
                &json!({"error":"an error was encountered while running the model"})
            ),
            ProviderError::Transient(_)
        ));
        assert_eq!(
            classify_stream_error(
                &json!({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota"}})
            ),
            ProviderError::RateLimited(None)
        );
        assert!(matches!(
            classify_stream_error(&json!(42)),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn malformed_dates_are_rejected_without_panicking() {
        for text in [
            "2026-11-21T10:00:30.ééé+01:00",
            "99999999999999-01-01T00:00:00Z",
            "2026-11-21T10:00:30+xx:00",
            "2026-11-21T10:00:30",
            "T",
            "",
        ] {
            assert_eq!(parse_rfc3339_ms(text), None, "{text}");
        }
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 99999999999999 08:49:37 GMT"),
            None
        );
        assert_eq!(parse_go_duration_ms("..s"), None);
        assert_eq!(parse_go_duration_ms("5"), None);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(10_000);
        let ProviderError::Transient(m) = classify_http_error(500, &[], body.as_bytes(), NOW)
        else {
            panic!("not transient");
        };
        assert!(m.len() < 1000);
    }
}
