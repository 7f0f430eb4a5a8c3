//! Outbound HTTP for plugins, with every check on the host side.
//!
//! A plugin asks for a request through [`EgressClient::fetch`]; the client enforces the
//! plugin's [`EgressPolicy`] (built from its grant with [`EgressPolicy::from_grant`]). For the
//! request and again for every redirect hop:
//!
//! 1. **Validation.** The URL is parsed the WHATWG way (so `http://2130706433/` is 127.0.0.1);
//!    only http and https; no user name or password before `@`; a valid method and headers;
//!    the body within `max_request_bytes`. Hop-by-hop headers are dropped; `Host` and
//!    `Content-Length` are set by the host.
//! 2. **Allowlist**, before any DNS lookup: some `allow` pattern must match scheme, host and
//!    port.
//! 3. **Secrets.** Each `{{secret:NAME}}` in the path, query, header values and body must name a
//!    granted secret whose audience matches the URL and whose `inject` list contains that
//!    location. Values are substituted into a copy (percent-encoded in the path and query); the
//!    plugin's request keeps its placeholders. A placeholder in the host is always refused.
//! 4. **Addresses.** An IP-literal host, and every address a name resolves to, is classified
//!    ([`classify_ip`]); addresses in special ranges (loopback, private, link-local including
//!    the metadata address, CGNAT, multicast, ..., and IPv6 forms carrying such an IPv4
//!    address) are dropped unless `allow_private` contains them or the allowlist names the
//!    literal address. Nothing left: denied.
//! 5. **Pinning.** reqwest resolves names only through the plugin's checking resolver, so the
//!    connection goes to a checked address and nothing else; proxies (unless the operator set
//!    one, below), automatic redirects and cookies are off.
//! 6. **Redirects** (when asked for) are followed by the client itself, each hop re-checked.
//!    Leaving the origin drops every header whose value held a placeholder (and credentials);
//!    a placeholder left in the URL or body must suit the new host's audience or the redirect is
//!    refused.
//! 7. **Limits:** `max_concurrent` requests in flight per plugin, an overall timeout, the
//!    response body streamed up to `max_response_bytes`, response headers bounded.
//! 8. **Redaction:** response headers and body, the final URL and every error message pass
//!    through the plugin's [`Redactor`](chitin_secrets::Redactor).
//!
//! **Proxies.** A [`Request`] may name an HTTP proxy (`proxy: Some("http://host:port")`,
//! checked by [`parse_proxy`]). Only the operator sets one (per provider, in the host's
//! configuration); the plugin's WIT request has no such field and the plugin is not told. The
//! request then goes through that proxy (CONNECT for https targets, absolute-form for http),
//! and every rule above still applies to the *target* URL: validation, the allowlist (checked
//! before the proxy is contacted), secret audiences and locations, redirect re-checks and the
//! limits. For step 4 the client resolves the target itself and refuses it, before sending
//! anything, exactly as it would a direct request; the proxy then does its own resolution, so
//! pinning through a proxy is best-effort (a proxy that resolves differently is the operator's
//! to trust). The proxy's own address is operator-trusted and not range-checked (it may be on
//! loopback): the proxied client's resolver answers only for the proxy's name and refuses every
//! other, so nothing bypasses the proxy. Secrets are substituted only for the target's
//! audience and nothing is sent to the proxy in a header of its own: the proxy URL may carry
//! no credentials, and a `Proxy-Authorization` header set by the plugin is dropped. (An https
//! target's request travels inside the tunnel; a plain-http one is readable by the proxy, as
//! by any other hop on the way.) Each proxy URL gets its own client (same settings and
//! limits), built on first use and kept.
//!
//! [`EgressClient::fetch_stream`] returns once the response head has arrived and hands the body
//! out piece by piece through [`BodyStream::next_chunk`] (for server-sent events and NDJSON).
//! It is the same code path as `fetch` (which reads the whole [`BodyStream`] itself), so every
//! rule above applies unchanged, and while the body streams: the slot stays taken until the
//! stream ends or is dropped, the overall deadline keeps running, the size limit counts every
//! byte received, and a secret value split across network reads is still redacted (the last
//! bytes of each read that might begin a value are held back until the rest arrives).

mod addr;
mod client;
mod error;
mod policy;
mod prepare;
mod resolve;
mod stream;

pub use addr::{SpecialRange, classify_ip};
pub use client::{
    EgressClient, MAX_RESPONSE_HEADER_BYTES, MAX_RESPONSE_HEADERS, Request, Response,
};
pub use error::EgressError;
pub use policy::{EgressLimits, EgressPolicy, SecretBinding};
pub use prepare::{MAX_REQUEST_HEADER_BYTES, MAX_REQUEST_HEADERS, parse_proxy};
pub use resolve::{Resolver, StaticResolver, SystemResolver};
pub use stream::{BodyStream, MAX_CHUNK_BYTES, StreamingResponse};
