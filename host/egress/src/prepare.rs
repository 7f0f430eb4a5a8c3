//! Turning the plugin's request into what goes on the wire: validation (step 1), the allowlist
//! (step 2), secret substitution (step 3), the check of IP-literal hosts (step 4 for literals),
//! and the rewriting a redirect needs (step 6).
//!
//! The guest's request is kept in placeholder form ([`GuestRequest`]) for the whole exchange:
//! secrets are substituted into a fresh copy for every hop, after that hop's checks.

use std::net::IpAddr;
use std::ops::Range;

use chitin_manifest::InjectAt;
use chitin_secrets::{MIN_REDACTED_LEN, SecretValue, find_placeholders};
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::policy::{EgressPolicy, SecretBinding};
use crate::resolve::check_addresses;
use crate::{EgressError, Request};

/// Most headers a plugin may send with one request.
pub const MAX_REQUEST_HEADERS: usize = 100;
/// Largest total size (names and values) of the headers a plugin may send with one request.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

/// Headers that describe one connection, not the request; the host's HTTP client manages them.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers dropped when a redirect leaves the origin, whatever their value.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Headers that describe a body, dropped with it when a redirect turns the request into a GET.
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
];

/// Bytes kept as they are when a secret value is placed in a path segment: RFC 3986 `pchar`
/// minus `%`. Everything else (`/`, `?`, `#`, `%`, spaces, ...) is percent-encoded, so a value
/// cannot change the URL's structure.
const PATH_KEEP: &[u8] = b"-._~!$&'()*+,;=:@";
/// The same for a query: `&`, `=`, `+`, `;` and `#` are encoded too.
const QUERY_KEEP: &[u8] = b"-._~!$'()*,:@/?";

/// One header as the plugin wrote it.
#[derive(Debug, Clone)]
pub(crate) struct GuestHeader {
    pub(crate) name: HeaderName,
    pub(crate) value: String,
    /// Whether the plugin's value contained a secret placeholder.
    pub(crate) has_placeholder: bool,
}

/// A validated request, still in placeholder form.
#[derive(Debug, Clone)]
pub(crate) struct GuestRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<GuestHeader>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) follow_redirects: bool,
}

/// A request with secrets substituted, ready to send.
pub(crate) struct WireRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
}

/// Step 1: method, URL, headers and body size.
pub(crate) fn validate(req: Request, policy: &EgressPolicy) -> Result<GuestRequest, EgressError> {
    let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| {
        EgressError::InvalidRequest(format!(
            "`{}` is not a valid HTTP method (a method is a token such as GET or POST)",
            req.method.escape_debug()
        ))
    })?;
    if method == Method::CONNECT {
        return Err(EgressError::InvalidRequest(
            "CONNECT is not allowed: plugins cannot open tunnels".to_string(),
        ));
    }
    let url = parse_url(&req.url)?;
    let body = req.body;
    let body_len = body.as_ref().map_or(0, Vec::len);
    check_request_body_size(body_len, policy)?;

    if req.headers.len() > MAX_REQUEST_HEADERS {
        return Err(EgressError::InvalidRequest(format!(
            "the request has {} headers; at most {MAX_REQUEST_HEADERS} are allowed",
            req.headers.len()
        )));
    }
    let total: usize = req.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > MAX_REQUEST_HEADER_BYTES {
        return Err(EgressError::InvalidRequest(format!(
            "the request's headers take {total} bytes; at most {MAX_REQUEST_HEADER_BYTES} are \
             allowed"
        )));
    }
    let mut headers = Vec::with_capacity(req.headers.len());
    for (name, value) in req.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            EgressError::InvalidRequest(format!(
                "`{}` is not a valid header name",
                name.escape_debug()
            ))
        })?;
        if HeaderValue::from_bytes(value.as_bytes()).is_err() {
            return Err(EgressError::InvalidRequest(format!(
                "header `{name}` has an invalid value (it contains a line break or another \
                 control character)"
            )));
        }
        if HOP_BY_HOP.contains(&name.as_str()) {
            tracing::debug!(header = %name, "dropped a hop-by-hop header set by a plugin");
            continue;
        }
        if name == header::HOST {
            if value.eq_ignore_ascii_case(&authority(&url)) {
                continue;
            }
            return Err(EgressError::InvalidRequest(format!(
                "the Host header `{}` does not match the URL's host `{}`; leave Host out, the \
                 host sets it from the URL",
                value.escape_debug(),
                authority(&url)
            )));
        }
        if name == header::CONTENT_LENGTH {
            if value.trim().parse::<usize>().ok() == Some(body_len) {
                continue;
            }
            return Err(EgressError::InvalidRequest(format!(
                "the Content-Length header `{}` does not match the body's {body_len} bytes; \
                 leave Content-Length out, the host sets it",
                value.escape_debug()
            )));
        }
        let has_placeholder = !find_placeholders(&value).is_empty();
        headers.push(GuestHeader {
            name,
            value,
            has_placeholder,
        });
    }
    Ok(GuestRequest {
        method,
        url,
        headers,
        body,
        follow_redirects: req.follow_redirects,
    })
}

fn check_request_body_size(len: usize, policy: &EgressPolicy) -> Result<(), EgressError> {
    let limit = policy.limits.max_request_bytes;
    if u64::try_from(len).unwrap_or(u64::MAX) > limit {
        return Err(EgressError::InvalidRequest(format!(
            "the request body is {len} bytes; plugin {} may send at most {limit} bytes \
             (max_request_bytes)",
            policy.plugin_id
        )));
    }
    Ok(())
}

/// Parses a URL the plugin gave (or a redirect produced) and refuses what the host does not
/// send: other schemes, credentials before `@`, placeholders in the host. The fragment is
/// dropped (it is never sent).
pub(crate) fn parse_url(raw: &str) -> Result<Url, EgressError> {
    if raw_host_has_placeholder(raw) {
        return Err(placeholder_in_host(raw));
    }
    let url = Url::parse(raw).map_err(|e| {
        EgressError::InvalidRequest(format!("`{}` is not a valid URL: {e}", raw.escape_debug()))
    })?;
    check_url(url)
}

/// The checks of [`parse_url`] on an already parsed URL.
pub(crate) fn check_url(mut url: Url) -> Result<Url, EgressError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EgressError::InvalidRequest(format!(
            "`{}` uses the scheme `{}`; plugins may only make http and https requests",
            url,
            url.scheme()
        )));
    }
    let Some(host) = url.host_str() else {
        return Err(EgressError::InvalidRequest(format!("`{url}` has no host")));
    };
    if host.contains(['{', '}']) {
        return Err(placeholder_in_host(url.as_str()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::InvalidRequest(format!(
            "`{url}` has a user name or password before `@`: such a URL goes to {host}, not to \
             the name before the `@`, so it is refused; send credentials in a header instead"
        )));
    }
    if url.port_or_known_default().is_none() {
        return Err(EgressError::InvalidRequest(format!("`{url}` has no port")));
    }
    url.set_fragment(None);
    Ok(url)
}

/// Checks a proxy URL: an absolute `http://host:port` URL (the port defaults to 80) with
/// nothing else, no credentials, path, query or fragment. The error says what is wrong with it
/// ("has no host", ...), for the caller to put in a message naming where it was configured.
pub fn parse_proxy(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("is not a valid URL ({e})"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "uses the scheme `{}`; only http:// proxies are supported",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has a user name or password, which is not supported".to_string());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("has a path, query or fragment; write only http://host:port".to_string());
    }
    Ok(url)
}

/// Whether the host part of a raw URL (between `://` and the path, after any `@`) contains a
/// placeholder, literally or percent-encoded.
fn raw_host_has_placeholder(raw: &str) -> bool {
    let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or(rest);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let lower = host.to_ascii_lowercase();
    lower.contains('{') || lower.contains('}') || lower.contains("%7b") || lower.contains("%7d")
}

fn placeholder_in_host(url: &str) -> EgressError {
    EgressError::denied(
        format!(
            "`{}` has a secret placeholder (or a brace) in its host, which is never allowed",
            url.escape_debug()
        ),
        "write the host literally; a secret may only be placed in the path, query, headers or \
         body of a request to one of its hosts",
    )
}

/// `host[:port]` as the Host header carries it.
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `scheme://host[:port]` with the port left out when it is the scheme's default, as a grant
/// entry would be written.
pub(crate) fn origin_pattern(url: &Url) -> String {
    format!("{}://{}", url.scheme(), authority(url))
}

/// Step 2: some allowlist pattern must match the URL. Runs before any DNS lookup.
pub(crate) fn check_allowlist(policy: &EgressPolicy, url: &Url) -> Result<(), EgressError> {
    if policy.allow.iter().any(|p| p.matches_url(url)) {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let allowed = if policy.allow.is_empty() {
        "its outbound grant is empty".to_string()
    } else {
        format!(
            "it may reach {}",
            policy
                .allow
                .iter()
                .map(|p| p.short_form())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(EgressError::denied(
        format!(
            "plugin {} may not connect to {host} port {port} over {} ({allowed})",
            policy.plugin_id,
            url.scheme()
        ),
        format!(
            "add \"{}\" to [plugins.{}.grant] outbound (the plugin's manifest must request it too)",
            origin_pattern(url),
            policy.plugin_id
        ),
    ))
}

/// Step 4 for IP-literal hosts, which reqwest connects to without asking the resolver. An
/// address in a special range passes only if `allow_private` admits it or the allowlist names
/// it as an address (the operator wrote it down).
pub(crate) fn check_literal_host(policy: &EgressPolicy, url: &Url) -> Result<(), EgressError> {
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(v4)) => v4.into(),
        Some(url::Host::Ipv6(v6)) => v6.into(),
        _ => return Ok(()),
    };
    let named = policy
        .allow
        .iter()
        .any(|p| p.names_ip_literal() && p.matches_url(url));
    check_addresses(
        &policy.plugin_id,
        url.host_str().unwrap_or_default(),
        &[ip],
        &policy.allow_private,
        named,
        Some(url),
    )
    .map(|_| ())
}

fn location_name(at: InjectAt) -> &'static str {
    match at {
        InjectAt::Header => "a header",
        InjectAt::Query => "the query",
        InjectAt::Path => "the path",
        InjectAt::Body => "the body",
    }
}

/// The binding for `name`, if the plugin may place it at `at` in a request to `url`.
fn authorize<'p>(
    policy: &'p EgressPolicy,
    url: &Url,
    name: &str,
    at: InjectAt,
) -> Result<&'p SecretBinding, EgressError> {
    let plugin = &policy.plugin_id;
    let Some(binding) = policy.secret(name) else {
        return Err(EgressError::denied(
            format!("secret {name} is not granted to plugin {plugin}"),
            format!(
                "grant it under [[plugins.{plugin}.grant.secrets]] (the plugin's manifest must \
                 request it), or remove the {{{{secret:{name}}}}} placeholder"
            ),
        ));
    };
    if !binding.audience.iter().any(|p| p.matches_url(url)) {
        let audience = binding
            .audience
            .iter()
            .map(|p| p.short_form())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(EgressError::denied(
            format!(
                "secret {name} may only be sent to [{audience}], not {}",
                url.host_str().unwrap_or_default()
            ),
            format!(
                "send it to one of those hosts, or add \"{}\" to the secret's hosts under \
                 [[plugins.{plugin}.grant.secrets]] (the plugin's manifest must request it too)",
                origin_pattern(url)
            ),
        ));
    }
    if !binding.inject.contains(&at) {
        let allowed = if binding.inject.is_empty() {
            "nowhere".to_string()
        } else {
            binding
                .inject
                .iter()
                .map(|i| location_name(*i))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(EgressError::denied(
            format!("secret {name} may not be placed in {}", location_name(at)),
            format!(
                "place it in {allowed} instead; the plugin's manifest decides where a secret may \
                 go (inject = [...])"
            ),
        ));
    }
    Ok(binding)
}

/// Step 3: every placeholder checked and substituted, on a copy.
pub(crate) fn substitute(
    policy: &EgressPolicy,
    guest: &GuestRequest,
) -> Result<WireRequest, EgressError> {
    let target = &guest.url;
    let mut url = target.clone();

    let path = target.path();
    let found = find_in_url_part(path);
    if !found.is_empty() {
        let new_path = splice(path.as_bytes(), &found, |name| {
            let b = authorize(policy, target, name, InjectAt::Path)?;
            Ok(percent_encode(b.value.expose(), PATH_KEEP).into_bytes())
        })?;
        url.set_path(&into_string(new_path)?);
    }
    if let Some(query) = target.query() {
        let found = find_in_url_part(query);
        if !found.is_empty() {
            let new_query = splice(query.as_bytes(), &found, |name| {
                let b = authorize(policy, target, name, InjectAt::Query)?;
                Ok(percent_encode(b.value.expose(), QUERY_KEEP).into_bytes())
            })?;
            url.set_query(Some(&into_string(new_query)?));
        }
    }
    if url.scheme() != target.scheme()
        || url.host() != target.host()
        || url.port_or_known_default() != target.port_or_known_default()
    {
        return Err(EgressError::InvalidRequest(
            "substituting secrets changed the request's origin".to_string(),
        ));
    }

    let mut headers = HeaderMap::with_capacity(guest.headers.len());
    for h in &guest.headers {
        let value = if h.has_placeholder {
            let found = find_placeholders(&h.value);
            splice(h.value.as_bytes(), &found, |name| {
                let b = authorize(policy, target, name, InjectAt::Header)?;
                Ok(b.value.expose().as_bytes().to_vec())
            })?
        } else {
            h.value.as_bytes().to_vec()
        };
        let value = HeaderValue::from_bytes(&value).map_err(|_| {
            EgressError::InvalidRequest(format!(
                "header `{}` is invalid once its secrets are substituted (a secret value \
                 contains a line break or another control character)",
                h.name
            ))
        })?;
        headers.append(h.name.clone(), value);
    }

    let body = match &guest.body {
        Some(body) => {
            let found = find_in_bytes(body);
            if found.is_empty() {
                Some(body.clone())
            } else {
                let new_body = splice(body, &found, |name| {
                    let b = authorize(policy, target, name, InjectAt::Body)?;
                    Ok(b.value.expose().as_bytes().to_vec())
                })?;
                check_request_body_size(new_body.len(), policy)?;
                Some(new_body)
            }
        }
        None => None,
    };

    Ok(WireRequest {
        method: guest.method.clone(),
        url,
        headers,
        body,
    })
}

/// Step 6: the request to make after a redirect, in placeholder form, or `None` when `status`
/// is not a redirect. Literal secret values in `location` are put back in placeholder form so
/// the next hop's checks see them.
pub(crate) fn follow_redirect(
    policy: &EgressPolicy,
    current: &GuestRequest,
    status: u16,
    location: &str,
) -> Result<GuestRequest, EgressError> {
    let location = reinsert_placeholders(policy, location);
    if raw_host_has_placeholder(&location) && location.contains("://") {
        return Err(placeholder_in_host(&location));
    }
    let next = current.url.join(&location).map_err(|e| {
        EgressError::Connection(format!(
            "{} redirected to `{}`, which is not a valid URL: {e}",
            origin_pattern(&current.url),
            location.escape_debug()
        ))
    })?;
    let next = check_url(next)?;
    let cross_origin = next.scheme() != current.url.scheme()
        || next.host() != current.url.host()
        || next.port_or_known_default() != current.url.port_or_known_default();

    let mut headers = current.headers.clone();
    if cross_origin {
        headers.retain(|h| !h.has_placeholder && !CREDENTIAL_HEADERS.contains(&h.name.as_str()));
    }
    let to_get = status == 303 && current.method != Method::HEAD
        || matches!(status, 301 | 302) && current.method == Method::POST;
    let (method, body) = if to_get {
        headers.retain(|h| !BODY_HEADERS.contains(&h.name.as_str()));
        (Method::GET, None)
    } else {
        (current.method.clone(), current.body.clone())
    };
    Ok(GuestRequest {
        method,
        url: next,
        headers,
        body,
        follow_redirects: current.follow_redirects,
    })
}

/// `text` with every secret value (raw, or percent-encoded as it would be placed in a path or
/// query) replaced by its `{{secret:NAME}}` placeholder.
pub(crate) fn reinsert_placeholders(policy: &EgressPolicy, text: &str) -> String {
    let mut forms: Vec<(String, &str)> = Vec::new();
    for b in &policy.secrets {
        let value = b.value.expose();
        // Like the redactor: shorter values would shred ordinary text.
        if value.len() < MIN_REDACTED_LEN {
            continue;
        }
        forms.push((value.to_string(), &b.name));
        forms.push((percent_encode(value, PATH_KEEP), &b.name));
        forms.push((percent_encode(value, QUERY_KEEP), &b.name));
    }
    // Longest first, so a value that contains another is replaced whole.
    forms.sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
    let mut out = text.to_string();
    for (form, name) in forms {
        if out.contains(&form) {
            out = out.replace(&form, &format!("{{{{secret:{name}}}}}"));
        }
    }
    out
}

/// Every form a secret value takes on the wire (raw, and percent-encoded for a path or a
/// query), named, for the redactor.
pub(crate) fn redaction_forms(policy: &EgressPolicy) -> Vec<(String, SecretValue)> {
    let mut out = Vec::new();
    for b in &policy.secrets {
        let value = b.value.expose();
        out.push((b.name.clone(), b.value.clone()));
        for encoded in [
            percent_encode(value, PATH_KEEP),
            percent_encode(value, QUERY_KEEP),
        ] {
            if encoded != value {
                out.push((b.name.clone(), SecretValue::new(encoded)));
            }
        }
    }
    out
}

/// Placeholders in a serialized path or query, where the braces may be percent-encoded
/// (`%7B%7Bsecret:NAME%7D%7D`, which is how a URL parser writes them in a path). Ranges are
/// into `s`.
fn find_in_url_part(s: &str) -> Vec<(Range<usize>, String)> {
    let mut decoded = String::with_capacity(s.len());
    // map[i]: where byte i of `decoded` starts in `s`; one extra entry for the end.
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut rest = s.char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        let brace = if c == '%' {
            match s.get(i + 1..i + 3) {
                Some(h) if h.eq_ignore_ascii_case("7b") => Some('{'),
                Some(h) if h.eq_ignore_ascii_case("7d") => Some('}'),
                _ => None,
            }
        } else {
            None
        };
        match brace {
            Some(b) => {
                decoded.push(b);
                map.push(i);
                rest.next();
                rest.next();
            }
            None => {
                decoded.push(c);
                map.extend((0..c.len_utf8()).map(|k| i + k));
            }
        }
    }
    map.push(s.len());
    find_placeholders(&decoded)
        .into_iter()
        .filter_map(|(r, name)| Some((*map.get(r.start)?..*map.get(r.end)?, name)))
        .collect()
}

/// Placeholders in a body that may not be UTF-8 (placeholders are ASCII, so they always lie
/// inside a valid stretch).
fn find_in_bytes(body: &[u8]) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for chunk in body.utf8_chunks() {
        let valid = chunk.valid();
        for (r, name) in find_placeholders(valid) {
            out.push((r.start + offset..r.end + offset, name));
        }
        offset += valid.len() + chunk.invalid().len();
    }
    out
}

/// `src` with each found range replaced by what `value` returns for its name.
fn splice(
    src: &[u8],
    found: &[(Range<usize>, String)],
    mut value: impl FnMut(&str) -> Result<Vec<u8>, EgressError>,
) -> Result<Vec<u8>, EgressError> {
    let mut out = Vec::with_capacity(src.len());
    let mut pos = 0;
    for (range, name) in found {
        let (Some(before), true) = (src.get(pos..range.start), range.end <= src.len()) else {
            return Err(EgressError::InvalidRequest(
                "overlapping secret placeholders".to_string(),
            ));
        };
        out.extend_from_slice(before);
        out.extend_from_slice(&value(name)?);
        pos = range.end;
    }
    out.extend_from_slice(src.get(pos..).unwrap_or_default());
    Ok(out)
}

fn into_string(bytes: Vec<u8>) -> Result<String, EgressError> {
    String::from_utf8(bytes).map_err(|_| {
        EgressError::InvalidRequest("a URL is not valid UTF-8 after substitution".to_string())
    })
}

fn percent_encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_with_encoded_braces() {
        let found = find_in_url_part("/bot%7B%7Bsecret:TOKEN%7d%7D/x");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "TOKEN");
        assert_eq!(found[0].0, 4..28);
        let found = find_in_url_part("a={{secret:K}}&b=%7B%7Bsecret:L%7D%7D");
        let names: Vec<_> = found.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["K", "L"]);
    }

    #[test]
    fn finds_placeholders_in_non_utf8_bodies() {
        let mut body = vec![0xff, 0xfe];
        body.extend_from_slice(b"x{{secret:A}}");
        body.push(0xc3);
        body.extend_from_slice(b"{{secret:B}}");
        let found = find_in_bytes(&body);
        let names: Vec<_> = found.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(&body[found[0].0.clone()], b"{{secret:A}}");
        assert_eq!(&body[found[1].0.clone()], b"{{secret:B}}");
    }

    #[test]
    fn percent_encoding_keeps_values_inside_their_component() {
        assert_eq!(
            percent_encode("a/b?c#d e%", PATH_KEEP),
            "a%2Fb%3Fc%23d%20e%25"
        );
        assert_eq!(percent_encode("123:AB-c_d", PATH_KEEP), "123:AB-c_d");
        assert_eq!(percent_encode("a&b=c+d", QUERY_KEEP), "a%26b%3Dc%2Bd");
    }

    #[test]
    fn host_placeholders_are_spotted_in_raw_urls() {
        assert!(raw_host_has_placeholder(
            "https://{{secret:X}}.example.com/"
        ));
        assert!(raw_host_has_placeholder(
            "https://%7B%7Bsecret:X%7D%7D.example.com/"
        ));
        assert!(raw_host_has_placeholder("https://user@{{secret:X}}/"));
        assert!(!raw_host_has_placeholder(
            "https://example.com/{{secret:X}}"
        ));
        assert!(!raw_host_has_placeholder(
            "https://example.com?q={{secret:X}}"
        ));
    }
}
