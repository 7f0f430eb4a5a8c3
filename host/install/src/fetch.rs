//! Downloading a plugin: HTTPS only (plain HTTP to loopback with an explicit flag, for tests),
//! every redirect held to the same rule, a size limit enforced while reading.

use std::time::Duration;

use url::{Host, Url};

/// Largest plugin accepted, from a URL or a file: Python and JS components are 30-40 MiB.
pub const MAX_PLUGIN_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Allow `http://` to 127.0.0.1, `[::1]` or `localhost` (never anywhere else).
    pub allow_http_loopback: bool,
    pub max_bytes: u64,
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            allow_http_loopback: false,
            max_bytes: MAX_PLUGIN_BYTES,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Whether `source` names a URL rather than a file.
pub fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why `url` may not be fetched, if it may not.
pub fn check_url(url: &Url, options: &FetchOptions) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if options.allow_http_loopback && is_loopback(url) => Ok(()),
        "http" if options.allow_http_loopback => Err(format!(
            "{url}: --allow-http only allows plain HTTP to 127.0.0.1, [::1] or localhost; use \
             https:// for anything else"
        )),
        "http" => Err(format!(
            "{url}: plugins are downloaded over HTTPS only (plain HTTP can be altered in transit); \
             use an https:// URL"
        )),
        other => Err(format!("{url}: unsupported scheme `{other}`; use https://")),
    }
}

/// Downloads `url` into memory.
pub async fn download(url: &str, options: &FetchOptions) -> anyhow::Result<Vec<u8>> {
    let parsed =
        Url::parse(url).map_err(|err| anyhow::anyhow!("{url}: not a valid URL ({err})"))?;
    check_url(&parsed, options).map_err(|e| anyhow::anyhow!(e))?;
    // reqwest's rustls needs a process-wide crypto provider; a no-op if one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redirect_options = options.clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            match check_url(attempt.url(), &redirect_options) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(format!("redirected to {why}")),
            }
        }))
        .no_proxy()
        .timeout(options.timeout)
        .user_agent(concat!("chitin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| anyhow::anyhow!("could not set up the HTTP client: {err}"))?;
    let mut response = client
        .get(parsed.clone())
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("downloading {url}: {}", chain(&err)))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("downloading {url}: the server answered {status}");
    }
    if let Some(length) = response.content_length()
        && length > options.max_bytes
    {
        anyhow::bail!(
            "downloading {url}: the plugin is {length} bytes, over the limit of {} bytes",
            options.max_bytes
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| anyhow::anyhow!("downloading {url}: {}", chain(&err)))?
    {
        if body.len() as u64 + chunk.len() as u64 > options.max_bytes {
            anyhow::bail!(
                "downloading {url}: the plugin is larger than the limit of {} bytes",
                options.max_bytes
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_explicit_loopback_http() {
        let strict = FetchOptions::default();
        let loose = FetchOptions {
            allow_http_loopback: true,
            ..FetchOptions::default()
        };
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&url("https://example.com/x.wasm"), &strict).is_ok());
        assert!(check_url(&url("http://example.com/x.wasm"), &strict).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/x.wasm"), &strict).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/x.wasm"), &loose).is_ok());
        assert!(check_url(&url("http://[::1]/x.wasm"), &loose).is_ok());
        assert!(check_url(&url("http://localhost/x.wasm"), &loose).is_ok());
        assert!(check_url(&url("http://10.0.0.1/x.wasm"), &loose).is_err());
        assert!(check_url(&url("ftp://example.com/x.wasm"), &loose).is_err());
        assert!(is_url("HTTPS://x") && !is_url("./x.wasm"));
    }
}
