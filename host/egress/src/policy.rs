use std::fmt;
use std::time::Duration;

use chitin_manifest::{EffectiveGrant, HostPattern, InjectAt};
use chitin_secrets::SecretValue;
use ipnet::IpNet;

use crate::EgressError;

/// Everything one plugin may do on the network. Built from its [`EffectiveGrant`] with
/// [`EgressPolicy::from_grant`].
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    pub plugin_id: String,
    /// Hosts the plugin may connect to (the grant's `outbound`).
    pub allow: Vec<HostPattern>,
    /// Special-range addresses (loopback, private, link-local, ...) the operator explicitly
    /// allowed.
    pub allow_private: Vec<IpNet>,
    pub secrets: Vec<SecretBinding>,
    pub limits: EgressLimits,
}

/// One secret the plugin may use, with its value, where it may be sent and where in a request
/// it may be placed.
#[derive(Clone)]
pub struct SecretBinding {
    /// What the plugin writes in `{{secret:NAME}}`.
    pub name: String,
    pub value: SecretValue,
    /// The only hosts the value may be sent to.
    pub audience: Vec<HostPattern>,
    /// The only parts of a request the value may be placed in.
    pub inject: Vec<InjectAt>,
}

impl fmt::Debug for SecretBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBinding")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("audience", &self.audience)
            .field("inject", &self.inject)
            .finish()
    }
}

/// Per-plugin limits on outbound HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressLimits {
    /// Largest response body handed to the plugin.
    pub max_response_bytes: u64,
    /// Largest request body the plugin may send (after secret substitution).
    pub max_request_bytes: u64,
    /// Requests of this plugin in flight at once.
    pub max_concurrent: usize,
    /// Redirects followed for one request.
    pub max_redirects: u8,
    /// Timeout of a request that names none.
    pub default_timeout: Duration,
    /// How long a request may wait for one of the `max_concurrent` slots.
    pub queue_timeout: Duration,
}

impl Default for EgressLimits {
    fn default() -> Self {
        EgressLimits {
            max_response_bytes: 4 * 1024 * 1024,
            max_request_bytes: 8 * 1024 * 1024,
            max_concurrent: 4,
            max_redirects: 5,
            default_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(5),
        }
    }
}

impl EgressPolicy {
    /// The policy a grant describes. `secret_values` looks a value up by its store key; a granted
    /// secret that is not in the store is an error telling the operator how to set it.
    pub fn from_grant(
        grant: &EffectiveGrant,
        secret_values: impl Fn(&str) -> Option<SecretValue>,
    ) -> Result<EgressPolicy, EgressError> {
        let mut secrets = Vec::with_capacity(grant.secrets.len());
        for secret in &grant.secrets {
            let Some(value) = secret_values(&secret.store_key) else {
                let stored_as = if secret.store_key == secret.name {
                    String::new()
                } else {
                    format!(" (stored as `{}`)", secret.store_key)
                };
                return Err(EgressError::Config(format!(
                    "secret {name}{stored_as} is granted to plugin {plugin} but not set; run \
                     `chitin secrets set {key}`",
                    name = secret.name,
                    plugin = grant.plugin_id,
                    key = secret.store_key,
                )));
            };
            secrets.push(SecretBinding {
                name: secret.name.clone(),
                value,
                audience: secret.audience.clone(),
                inject: secret.inject.clone(),
            });
        }
        let limits = EgressLimits {
            max_response_bytes: grant.budgets.max_response_bytes,
            default_timeout: grant.budgets.timeout,
            ..EgressLimits::default()
        };
        Ok(EgressPolicy {
            plugin_id: grant.plugin_id.clone(),
            allow: grant.outbound.clone(),
            allow_private: grant.allow_private.clone(),
            secrets,
            limits,
        })
    }

    pub(crate) fn secret(&self, name: &str) -> Option<&SecretBinding> {
        self.secrets.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chitin_manifest::{EffectiveSecret, Language};

    use super::*;

    fn grant() -> EffectiveGrant {
        let mut budgets = Language::Rust.default_budgets();
        budgets.timeout = Duration::from_millis(7_500);
        budgets.max_response_bytes = 123_456;
        EffectiveGrant {
            plugin_id: "telegram".to_string(),
            outbound: vec![HostPattern::parse("https://api.telegram.org").expect("pattern")],
            allow_private: vec!["10.0.0.0/8".parse().expect("net")],
            secrets: vec![EffectiveSecret {
                name: "TELEGRAM_TOKEN".to_string(),
                store_key: "tg-token".to_string(),
                audience: vec![HostPattern::parse("https://api.telegram.org").expect("pattern")],
                inject: vec![InjectAt::Path],
            }],
            kv_quota_bytes: None,
            files: Vec::new(),
            config: BTreeMap::new(),
            websocket: Vec::new(),
            webhook: false,
            budgets,
        }
    }

    #[test]
    fn policy_follows_the_grant() {
        let policy = EgressPolicy::from_grant(&grant(), |key| {
            (key == "tg-token").then(|| SecretValue::new("123:abc-secret"))
        })
        .expect("policy");
        assert_eq!(policy.plugin_id, "telegram");
        assert_eq!(policy.allow.len(), 1);
        assert_eq!(policy.allow_private.len(), 1);
        assert_eq!(policy.secrets.len(), 1);
        let secret = &policy.secrets[0];
        assert_eq!(secret.name, "TELEGRAM_TOKEN");
        assert_eq!(secret.value.expose(), "123:abc-secret");
        assert_eq!(secret.inject, [InjectAt::Path]);
        assert_eq!(policy.limits.max_response_bytes, 123_456);
        assert_eq!(policy.limits.default_timeout, Duration::from_millis(7_500));
        assert_eq!(policy.limits.max_request_bytes, 8 * 1024 * 1024);
        assert_eq!(policy.limits.max_concurrent, 4);
        assert_eq!(policy.limits.max_redirects, 5);
        assert_eq!(policy.limits.queue_timeout, Duration::from_secs(5));
        // Debug output never shows the value.
        assert!(!format!("{policy:?}").contains("abc-secret"));
    }

    #[test]
    fn a_granted_secret_missing_from_the_store_is_a_clear_error() {
        let err = EgressPolicy::from_grant(&grant(), |_| None).expect_err("missing");
        let text = err.to_string();
        assert!(matches!(err, EgressError::Config(_)));
        assert!(
            text.contains("secret TELEGRAM_TOKEN (stored as `tg-token`) is granted to plugin telegram but not set"),
            "{text}"
        );
        assert!(text.contains("run `chitin secrets set tg-token`"), "{text}");
    }
}
