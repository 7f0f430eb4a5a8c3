use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chitin_secrets::Redactor;
use http::header;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::EgressError;
use crate::policy::EgressPolicy;
use crate::prepare::{self, GuestRequest};
use crate::resolve::{PinnedResolver, ProxyResolver, ResolveError, Resolver, check_addresses};
use crate::stream::{BodyStream, Needles, StreamingResponse};

/// Most headers accepted in one response.
pub const MAX_RESPONSE_HEADERS: usize = 100;
/// Largest total size (names and values) of a response's headers.
pub const MAX_RESPONSE_HEADER_BYTES: u64 = 64 * 1024;

/// One outbound request from a plugin. Secrets appear as `{{secret:NAME}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Overall deadline, from the call to the last body byte (waiting for a slot, redirects and
    /// reading the body included); the policy's `default_timeout` when `None`.
    pub timeout: Option<Duration>,
    pub follow_redirects: bool,
    /// An HTTP proxy (`http://host:port`) chosen by the operator, not the plugin. Every rule
    /// applies to the target URL exactly as without a proxy; see the crate documentation.
    pub proxy: Option<String>,
}

impl Request {
    /// A GET of `url` with no headers, the default timeout, and redirects followed.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: "GET".to_string(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            follow_redirects: true,
            proxy: None,
        }
    }
}

/// What the plugin gets back. Every secret value in it has been redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL of the last hop, in placeholder form.
    pub final_url: String,
}

/// Outbound HTTP for one plugin: its policy, its own connection pool, and its quota of
/// concurrent requests. Cheap to clone (clones share the pool and the quota).
#[derive(Clone)]
pub struct EgressClient {
    inner: Arc<Inner>,
}

struct Inner {
    policy: EgressPolicy,
    /// Direct connections, pinned to checked addresses.
    http: reqwest::Client,
    /// The plugin's resolver, for checking a target's addresses before a proxy is asked to
    /// connect to it.
    resolver: Arc<dyn Resolver>,
    /// One client per proxy URL (the proxy is operator configuration, so there are few).
    proxied: Mutex<HashMap<String, reqwest::Client>>,
    redactor: Redactor,
    /// What `redactor` looks for, so that a body stream knows how much to hold back.
    needles: Needles,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for EgressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressClient")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl EgressClient {
    /// A client enforcing `policy`, looking names up through `resolver`.
    pub fn new(
        policy: EgressPolicy,
        resolver: Arc<dyn Resolver>,
    ) -> Result<EgressClient, EgressError> {
        let limits = policy.limits;
        if limits.max_concurrent == 0 || limits.max_concurrent > Semaphore::MAX_PERMITS {
            return Err(EgressError::Config(format!(
                "plugin {}: max_concurrent must be at least 1, not {}",
                policy.plugin_id, limits.max_concurrent
            )));
        }
        // reqwest's rustls needs a process-wide crypto provider. If one is installed already
        // (by us or by anyone else), that one is used and this is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let pinned = PinnedResolver {
            plugin_id: Arc::from(policy.plugin_id.as_str()),
            inner: resolver.clone(),
            allow_private: Arc::from(policy.allow_private.as_slice()),
        };
        let http = build_http(&policy, Arc::new(pinned), None)?;
        let forms = prepare::redaction_forms(&policy);
        let needles = Needles::new(&forms);
        let redactor = Redactor::new(forms);
        Ok(EgressClient {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(limits.max_concurrent)),
                policy,
                http,
                resolver,
                proxied: Mutex::new(HashMap::new()),
                redactor,
                needles,
            }),
        })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &EgressPolicy {
        &self.inner.policy
    }

    /// Redacts this plugin's secret values (as sent raw or percent-encoded).
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// Makes the request if the policy allows it; see the crate documentation for the checks.
    ///
    /// The body is read through the same [`BodyStream`] that [`EgressClient::fetch_stream`]
    /// returns, so both apply exactly the same rules.
    pub async fn fetch(&self, req: Request) -> Result<Response, EgressError> {
        let StreamingResponse {
            status,
            mut headers,
            final_url,
            body: mut stream,
        } = self.open(req).await?;
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next_chunk().await? {
            body.extend_from_slice(&chunk);
        }
        // Redaction changes the body's length; keep Content-Length truthful.
        if stream.received() != body.len() as u64 {
            for (name, value) in &mut headers {
                if name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_str()) {
                    *value = body.len().to_string();
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            final_url,
        })
    }

    /// Like [`EgressClient::fetch`], but returns once the response head has arrived; the body
    /// is read with [`BodyStream::next_chunk`]. Every rule of `fetch` applies (it is the same
    /// code path): the concurrency slot is held and the deadline keeps running until the body
    /// is finished or dropped, the body is limited to `max_response_bytes`, and secret values
    /// are redacted even when split across reads.
    pub async fn fetch_stream(&self, req: Request) -> Result<StreamingResponse, EgressError> {
        let mut response = self.open(req).await?;
        if !self.inner.redactor.is_empty() {
            // The length after redaction is not known before the body has been read.
            response
                .headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_str()));
        }
        Ok(response)
    }

    /// Everything up to the response head, shared by [`EgressClient::fetch`] and
    /// [`EgressClient::fetch_stream`]: validation, the allowlist, a slot, then
    /// [`EgressClient::exchange`] within the deadline. Headers keep the server's
    /// `Content-Length`.
    async fn open(&self, mut req: Request) -> Result<StreamingResponse, EgressError> {
        let timeout = req
            .timeout
            .unwrap_or(self.inner.policy.limits.default_timeout);
        let deadline = after(timeout);
        let proxy = req.proxy.take();
        let result = async {
            let mut guest = prepare::validate(req, &self.inner.policy)?;
            // Refuse an unlisted host at once rather than after queueing (checked again per
            // hop).
            prepare::check_allowlist(&self.inner.policy, &guest.url)?;
            let route = self.route(proxy.as_deref())?;
            if route.proxied {
                // Credentials for a proxy are the operator's business; a plugin's would be read
                // by the operator's proxy.
                guest
                    .headers
                    .retain(|h| h.name != header::PROXY_AUTHORIZATION);
            }
            let slot = self.acquire_slot(deadline).await?;
            let (response, guest) =
                match tokio::time::timeout_at(deadline, self.exchange(guest, &route)).await {
                    Ok(result) => result?,
                    Err(_) => return Err(EgressError::Timeout(timeout)),
                };
            self.read_head(response, &guest, slot, deadline, timeout)
        }
        .await;
        result.map_err(|e| self.failed(e))
    }

    /// `err` with secret values redacted, logged.
    pub(crate) fn failed(&self, err: EgressError) -> EgressError {
        let err = err.redacted(&self.inner.redactor);
        tracing::debug!(plugin = %self.inner.policy.plugin_id, error = %err, "outbound request failed");
        err
    }

    pub(crate) fn needles(&self) -> &Needles {
        &self.inner.needles
    }

    /// One of the plugin's `max_concurrent` slots, waiting at most `queue_timeout` (and never
    /// past `deadline`).
    async fn acquire_slot(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, EgressError> {
        let limits = &self.inner.policy.limits;
        let acquire = self.inner.slots.clone().acquire_owned();
        let started = Instant::now();
        let until = deadline.min(after(limits.queue_timeout));
        match tokio::time::timeout_at(until, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(EgressError::Config(
                "the plugin's request slots are closed".to_string(),
            )),
            Err(_) => Err(EgressError::QuotaExceeded(format!(
                "plugin {} already has {} requests in flight and none finished within {} ms; \
                 make fewer requests at once (limit: {} concurrent)",
                self.inner.policy.plugin_id,
                limits.max_concurrent,
                started.elapsed().as_millis(),
                limits.max_concurrent
            ))),
        }
    }

    /// The client a request goes out through: the direct one, or the one for `proxy` (built
    /// the first time that proxy is used).
    fn route(&self, proxy: Option<&str>) -> Result<Route, EgressError> {
        let Some(raw) = proxy else {
            return Ok(Route {
                http: self.inner.http.clone(),
                proxied: false,
            });
        };
        let url = prepare::parse_proxy(raw).map_err(|why| {
            EgressError::Config(format!(
                "proxy `{}` {why}; use an absolute URL such as \"http://127.0.0.1:3128\"",
                raw.escape_debug()
            ))
        })?;
        let mut cache = self
            .inner
            .proxied
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(http) = cache.get(url.as_str()) {
            return Ok(Route {
                http: http.clone(),
                proxied: true,
            });
        }
        let proxy = reqwest::Proxy::all(url.as_str()).map_err(|e| {
            EgressError::Config(format!(
                "proxy {} cannot be used: {}",
                prepare::origin_pattern(&url),
                error_chain(&e)
            ))
        })?;
        // reqwest looks the proxy's own name up through the client's resolver; that one knows
        // only the proxy (an address the operator chose, so not range-checked).
        let resolver = ProxyResolver {
            proxy_host: Arc::from(url.host_str().unwrap_or_default()),
            inner: self.inner.resolver.clone(),
        };
        let http = build_http(&self.inner.policy, Arc::new(resolver), Some(proxy))?;
        cache.insert(url.as_str().to_string(), http.clone());
        Ok(Route {
            http,
            proxied: true,
        })
    }

    /// Step 4 for a request sent through a proxy, which resolves the target itself: the target
    /// name is looked up here and refused if it resolves only to special-range addresses. The
    /// proxy's own lookup may differ, so this is best-effort pinning.
    async fn check_proxied_target(&self, url: &url::Url) -> Result<(), EgressError> {
        let Some(url::Host::Domain(host)) = url.host() else {
            // IP literals were checked by `check_literal_host`.
            return Ok(());
        };
        let policy = &self.inner.policy;
        let port = url.port_or_known_default().unwrap_or(0);
        let addrs = self
            .inner
            .resolver
            .lookup(host, port)
            .await
            .map_err(|e| EgressError::Connection(format!("could not resolve {host}: {e}")))?;
        check_addresses(
            &policy.plugin_id,
            host,
            &addrs,
            &policy.allow_private,
            false,
            None,
        )
        .map(|_| ())
    }

    /// Steps 2 to 6 for the request and each redirect; the final response (its head) and the
    /// request of the last hop.
    async fn exchange(
        &self,
        mut guest: GuestRequest,
        route: &Route,
    ) -> Result<(reqwest::Response, GuestRequest), EgressError> {
        let policy = &self.inner.policy;
        let mut redirects: u8 = 0;
        loop {
            prepare::check_allowlist(policy, &guest.url)?;
            let wire = prepare::substitute(policy, &guest)?;
            prepare::check_literal_host(policy, &guest.url)?;
            if route.proxied {
                self.check_proxied_target(&guest.url).await?;
            }
            tracing::debug!(
                plugin = %policy.plugin_id,
                method = %guest.method,
                url = %guest.url,
                proxied = route.proxied,
                "outbound request"
            );

            let mut builder = route
                .http
                .request(wire.method, wire.url)
                .headers(wire.headers);
            if let Some(body) = wire.body {
                builder = builder.body(body);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| send_error(&prepare::origin_pattern(&guest.url), e))?;

            let status = response.status().as_u16();
            if guest.follow_redirects
                && matches!(status, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.headers().get(header::LOCATION)
            {
                if redirects >= policy.limits.max_redirects {
                    return Err(EgressError::QuotaExceeded(format!(
                        "{} redirected more than {} times; plugin {} follows at most {} \
                         redirects",
                        prepare::origin_pattern(&guest.url),
                        policy.limits.max_redirects,
                        policy.plugin_id,
                        policy.limits.max_redirects
                    )));
                }
                let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                guest = prepare::follow_redirect(policy, &guest, status, &location)?;
                redirects += 1;
                continue;
            }
            return Ok((response, guest));
        }
    }

    /// Checks the response head against the limits and wraps the body in a [`BodyStream`]
    /// holding `slot`.
    fn read_head(
        &self,
        response: reqwest::Response,
        guest: &GuestRequest,
        slot: OwnedSemaphorePermit,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<StreamingResponse, EgressError> {
        let redactor = &self.inner.redactor;
        let header_bytes: u64 = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len()) as u64)
            .sum();
        if response.headers().len() > MAX_RESPONSE_HEADERS
            || header_bytes > MAX_RESPONSE_HEADER_BYTES
        {
            return Err(EgressError::TooLarge {
                limit: MAX_RESPONSE_HEADER_BYTES,
            });
        }
        let limit = self.inner.policy.limits.max_response_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(EgressError::TooLarge { limit });
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes());
                (
                    redactor.redact(name.as_str()).into_owned(),
                    redactor.redact(&value).into_owned(),
                )
            })
            .collect();
        Ok(StreamingResponse {
            status: response.status().as_u16(),
            headers,
            final_url: redactor.redact(guest.url.as_str()).into_owned(),
            body: BodyStream::new(
                self.clone(),
                response,
                slot,
                deadline,
                timeout,
                prepare::origin_pattern(&guest.url),
            ),
        })
    }
}

/// The client one request goes out through.
struct Route {
    http: reqwest::Client,
    /// Whether `http` sends everything through an operator's proxy.
    proxied: bool,
}

/// An HTTP client with the egress settings: no automatic redirects, retries, referer or
/// cookies, HTTP/1.1 with bounded headers, names looked up only through `resolver`; no proxy
/// unless `proxy` is given (never one from the environment).
fn build_http(
    policy: &EgressPolicy,
    resolver: Arc<dyn reqwest::dns::Resolve>,
    proxy: Option<reqwest::Proxy>,
) -> Result<reqwest::Client, EgressError> {
    let builder = reqwest::Client::builder();
    let builder = match proxy {
        // An explicit proxy also turns off the system's.
        Some(proxy) => builder.proxy(proxy),
        None => builder.no_proxy(),
    };
    builder
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .referer(false)
        .dns_resolver(resolver)
        .http1_only()
        .http1_max_headers(MAX_RESPONSE_HEADERS)
        .pool_max_idle_per_host(policy.limits.max_concurrent)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("chitin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            EgressError::Config(format!(
                "could not build the HTTP client for plugin {}: {}",
                policy.plugin_id,
                error_chain(&e)
            ))
        })
}

/// Now plus `d`, capped at a day so that a huge duration cannot overflow the clock.
fn after(d: Duration) -> Instant {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    Instant::now() + d.min(DAY)
}

/// A reqwest error as an [`EgressError`]: a denial raised by our resolver comes back as itself;
/// anything else is a connection error naming the origin (never the full URL, which holds the
/// substituted secrets). `origin` is the request's `scheme://host[:port]`.
pub(crate) fn send_error(origin: &str, err: reqwest::Error) -> EgressError {
    let err = err.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = source {
        if let Some(ResolveError(inner)) = e.downcast_ref::<ResolveError>() {
            return inner.clone();
        }
        source = e.source();
    }
    EgressError::Connection(format!("request to {origin} failed: {}", error_chain(&err)))
}

/// `err` and its sources, joined with `: `, skipping repeats.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
