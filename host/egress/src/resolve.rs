//! Name resolution, and the resolver handed to reqwest that checks every address it returns, so
//! the connection goes only to addresses that passed the check (there is no second lookup an
//! attacker's DNS server could answer differently).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use ipnet::IpNet;

use crate::EgressError;
use crate::addr::{SpecialRange, classify_ip, host_net, in_allow_private};

/// Looks host names up. The egress client never resolves a name any other way.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host`. `port` is the port about to be connected to, or 0 when the
    /// caller does not know it (reqwest's resolver interface does not pass it on).
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver, through `tokio::net::lookup_host`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        async move {
            let mut out: Vec<IpAddr> = Vec::new();
            for addr in tokio::net::lookup_host((host.as_str(), port)).await? {
                if !out.contains(&addr.ip()) {
                    out.push(addr.ip());
                }
            }
            Ok(out)
        }
        .boxed()
    }
}

/// A fixed table of names, for tests and for pinning names by configuration. Unknown names fail
/// with [`io::ErrorKind::NotFound`]. Every lookup is recorded ([`StaticResolver::lookups`]).
#[derive(Debug, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
    lookups: Mutex<Vec<String>>,
}

impl StaticResolver {
    pub fn new(map: impl IntoIterator<Item = (String, Vec<IpAddr>)>) -> Self {
        StaticResolver {
            names: map
                .into_iter()
                .map(|(name, addrs)| (normalize_name(&name), addrs))
                .collect(),
            lookups: Mutex::new(Vec::new()),
        }
    }

    /// Every name looked up so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Resolver for StaticResolver {
    fn lookup(&self, host: &str, _port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let name = normalize_name(host);
        self.lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        let result = match self.names.get(&name) {
            Some(addrs) => Ok(addrs.clone()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} is not in the static resolver's table"),
            )),
        };
        futures_util::future::ready(result).boxed()
    }
}

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The addresses of `host` the plugin may reach: ordinary addresses, plus special ones that
/// `allow_private` admits or, when `operator_named` (the host is an IP literal the allowlist
/// names as such), all of them. Denied when nothing is left.
pub(crate) fn check_addresses(
    plugin_id: &str,
    host: &str,
    addrs: &[IpAddr],
    allow_private: &[IpNet],
    operator_named: bool,
    literal: Option<&url::Url>,
) -> Result<Vec<IpAddr>, EgressError> {
    let mut allowed = Vec::new();
    let mut refused: Vec<(IpAddr, SpecialRange)> = Vec::new();
    for &ip in addrs {
        match classify_ip(ip) {
            None => allowed.push(ip),
            Some(range) if operator_named || in_allow_private(ip, &range, allow_private) => {
                allowed.push(ip)
            }
            Some(range) => refused.push((ip, range)),
        }
    }
    if !refused.is_empty() {
        tracing::debug!(
            plugin = plugin_id,
            host,
            refused = ?refused.iter().map(|(ip, _)| *ip).collect::<Vec<_>>(),
            "dropped special-range addresses"
        );
    }
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    let Some((first_ip, first_range)) = refused.first() else {
        return Err(EgressError::Connection(format!(
            "{host} resolved to no addresses"
        )));
    };
    let listed = refused
        .iter()
        .map(|(ip, range)| format!("{ip} ({range})"))
        .collect::<Vec<_>>()
        .join(", ");
    let net = host_net(*first_ip, first_range);
    match literal {
        None => Err(EgressError::denied(
            format!("{host} resolved to {listed}, which plugins may not reach"),
            format!(
                "add \"{net}\" to allow_private in [plugins.{plugin_id}.grant] only if you mean it"
            ),
        )),
        Some(url) => Err(EgressError::denied(
            format!("{host} is {listed}, which plugins may not reach"),
            format!(
                "write the address itself in outbound (\"{}\") or add \"{net}\" to \
                 allow_private in [plugins.{plugin_id}.grant], only if you mean it",
                crate::prepare::origin_pattern(url)
            ),
        )),
    }
}

/// An [`EgressError`] raised inside reqwest's resolver; the client finds it again in reqwest's
/// error source chain.
#[derive(Debug)]
pub(crate) struct ResolveError(pub(crate) EgressError);

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ResolveError {}

/// The resolver given to reqwest: looks the name up once through the plugin's [`Resolver`] and
/// returns only the addresses that pass [`check_addresses`].
pub(crate) struct PinnedResolver {
    pub(crate) plugin_id: Arc<str>,
    pub(crate) inner: Arc<dyn Resolver>,
    pub(crate) allow_private: Arc<[IpNet]>,
}

impl reqwest::dns::Resolve for PinnedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let lookup = self.inner.lookup(&host, 0);
        let plugin_id = self.plugin_id.clone();
        let allow_private = self.allow_private.clone();
        Box::pin(async move {
            let addrs = lookup.await.map_err(|e| {
                Box::new(ResolveError(EgressError::Connection(format!(
                    "could not resolve {host}: {e}"
                )))) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let allowed = check_addresses(&plugin_id, &host, &addrs, &allow_private, false, None)
                .map_err(|e| {
                Box::new(ResolveError(e)) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The resolver of a client that sends everything through an operator's proxy: reqwest asks
/// it only for the proxy's own name (targets are the proxy's to resolve; their addresses are
/// checked beforehand). The proxy is the operator's choice, so its addresses are not
/// range-checked (it may well be on loopback). Any other name is refused, so nothing can
/// bypass the proxy by connecting directly.
pub(crate) struct ProxyResolver {
    pub(crate) proxy_host: Arc<str>,
    pub(crate) inner: Arc<dyn Resolver>,
}

impl reqwest::dns::Resolve for ProxyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        if normalize_name(&host) != normalize_name(&self.proxy_host) {
            let err = ResolveError(EgressError::Connection(format!(
                "{host} is not the configured proxy {}; a proxied request resolves nothing else",
                self.proxy_host
            )));
            return Box::pin(futures_util::future::ready(Err(
                Box::new(err) as Box<dyn std::error::Error + Send + Sync>
            )));
        }
        let lookup = self.inner.lookup(&host, 0);
        Box::pin(async move {
            let addrs = lookup.await.map_err(|e| {
                Box::new(ResolveError(EgressError::Connection(format!(
                    "could not resolve the proxy {host}: {e}"
                )))) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    #[test]
    fn public_addresses_pass_and_special_ones_are_dropped() {
        let got = check_addresses(
            "p",
            "h.test",
            &ips(&["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1"]),
            &[],
            false,
            None,
        )
        .expect("some left");
        assert_eq!(got, ips(&["93.184.216.34", "2606:4700::1"]));
    }

    #[test]
    fn metadata_address_needs_allow_private() {
        let addrs = ips(&["169.254.169.254"]);
        let err =
            check_addresses("p", "metadata.test", &addrs, &[], false, None).expect_err("denied");
        let text = err.to_string();
        assert!(err.is_denied());
        assert!(text.contains("metadata.test resolved to 169.254.169.254 (link-local/metadata)"));
        assert!(text.contains("add \"169.254.169.254/32\" to allow_private in [plugins.p.grant]"));

        let allowed = nets(&["169.254.169.254/32"]);
        let got =
            check_addresses("p", "metadata.test", &addrs, &allowed, false, None).expect("allowed");
        assert_eq!(got, addrs);
        // A neighbouring range does not admit it.
        let other = nets(&["169.254.0.0/24"]);
        assert!(check_addresses("p", "metadata.test", &addrs, &other, false, None).is_err());
    }

    #[test]
    fn an_operator_named_literal_passes() {
        let url = url::Url::parse("http://127.0.0.1:8080/").expect("url");
        let addrs = ips(&["127.0.0.1"]);
        assert!(check_addresses("p", "127.0.0.1", &addrs, &[], true, Some(&url)).is_ok());
        let err =
            check_addresses("p", "127.0.0.1", &addrs, &[], false, Some(&url)).expect_err("denied");
        let text = err.to_string();
        assert!(text.contains("127.0.0.1 is 127.0.0.1 (loopback)"), "{text}");
        assert!(text.contains("\"http://127.0.0.1:8080\""), "{text}");
    }

    #[test]
    fn no_addresses_is_a_connection_error() {
        let err = check_addresses("p", "empty.test", &[], &[], false, None).expect_err("error");
        assert!(matches!(err, EgressError::Connection(_)));
    }

    #[tokio::test]
    async fn static_resolver_records_lookups_and_refuses_unknown_names() {
        let r = StaticResolver::new([("Known.Test.".to_string(), ips(&["192.0.2.1"]))]);
        assert_eq!(
            r.lookup("known.test", 443).await.expect("known"),
            ips(&["192.0.2.1"])
        );
        let err = r.lookup("unknown.test", 443).await.expect_err("unknown");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(r.lookups(), ["known.test", "unknown.test"]);
    }

    #[tokio::test]
    async fn the_proxy_resolver_answers_only_for_the_proxy_and_without_range_checks() {
        use reqwest::dns::Resolve;
        let names = Arc::new(StaticResolver::new([
            ("proxy.test".to_string(), ips(&["127.0.0.1"])),
            ("other.test".to_string(), ips(&["192.0.2.1"])),
        ]));
        let resolver = ProxyResolver {
            proxy_host: Arc::from("proxy.test"),
            inner: names.clone(),
        };
        let name = |n: &str| n.parse::<reqwest::dns::Name>().expect("name");
        let addrs: Vec<SocketAddr> = resolver
            .resolve(name("Proxy.Test."))
            .await
            .expect("the proxy's name")
            .collect();
        assert_eq!(addrs, [SocketAddr::new(ips(&["127.0.0.1"])[0], 0)]);
        let Err(err) = resolver.resolve(name("other.test")).await else {
            panic!("another name was resolved");
        };
        assert!(
            err.to_string().contains("not the configured proxy"),
            "{err}"
        );
        assert_eq!(names.lookups(), ["proxy.test"]);
    }
}
