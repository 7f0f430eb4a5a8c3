//! The operator's grant: what a plugin is actually allowed, which can only narrow its request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::budgets::{Budgets, ResolvedBudgets};
use crate::manifest::{Access, InjectAt, Manifest, is_secret_name, parse_net};
use crate::pattern::{HostPattern, PatternError};
use crate::{KvRequest, ManifestError};

/// What the operator allows one plugin, as written under `[plugins.<id>.grant]` in chitin.toml.
/// Every field defaults to "nothing", so an empty grant allows nothing but running the plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    /// Each must be covered by some requested outbound pattern.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<String>,
    /// Each range must lie inside a requested `allow_private` range.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_private: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretGrant>,
    /// At most the requested quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvGrant>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileGrant>,
    /// Values for declared config keys; every `required` key must be present.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub websocket: Vec<String>,
    /// Allowed only if the plugin requests a webhook.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub webhook: bool,
    /// Operator overrides of the manifest's budgets, bounded by the hard maxima (not by the
    /// manifest: the operator may raise a budget for legitimate heavy work).
    #[serde(skip_serializing_if = "budgets_are_default")]
    pub budgets: Budgets,
}

fn budgets_are_default(b: &Budgets) -> bool {
    *b == Budgets::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretGrant {
    /// The name the plugin requested (what it writes in `{{secret:NAME}}`).
    pub name: String,
    /// The key in the secret store; defaults to `name`. Lets two installs of one plugin use two
    /// accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_key: Option<String>,
    /// A narrower audience than requested; defaults to the requested audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    pub quota_bytes: u64,
}

/// A requested guest directory, backed by a host directory the operator picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// The guest path exactly as the plugin requested it.
    pub path: String,
    /// Absolute host directory mounted at `path`.
    pub host_dir: PathBuf,
    /// At most the requested access.
    pub access: Access,
}

/// What the sandbox enforces: the grant, checked against the request, with patterns parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveGrant {
    pub plugin_id: String,
    pub outbound: Vec<HostPattern>,
    pub allow_private: Vec<IpNet>,
    pub secrets: Vec<EffectiveSecret>,
    /// `None`: no kv access at all.
    pub kv_quota_bytes: Option<u64>,
    pub files: Vec<FileGrant>,
    pub config: BTreeMap<String, String>,
    pub websocket: Vec<HostPattern>,
    pub webhook: bool,
    /// Manifest budgets, overridden by grant budgets, language defaults for the rest.
    pub budgets: ResolvedBudgets,
}

/// A secret the plugin may use, and where its value may go.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveSecret {
    /// What the plugin writes in `{{secret:NAME}}`.
    pub name: String,
    /// Where the value lives in the secret store.
    pub store_key: String,
    /// The only hosts the value may be sent to.
    pub audience: Vec<HostPattern>,
    /// The only places in a request the value may appear.
    pub inject: Vec<InjectAt>,
}

/// Why a grant was refused. Each message names the plugin, the capability, the offending entry,
/// what the plugin requested, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("plugin `{plugin}` has an invalid manifest, so its grant cannot be checked: {source}")]
    InvalidManifest {
        plugin: String,
        #[source]
        source: Box<ManifestError>,
    },
    #[error(
        "grant for plugin `{plugin}` has an invalid {capability} entry: {source}; fix it under \
         [plugins.{plugin}.grant]"
    )]
    InvalidPattern {
        plugin: String,
        capability: String,
        #[source]
        source: Box<PatternError>,
    },
    #[error("grant for plugin `{plugin}` has an invalid {capability} entry `{item}`: {problem}")]
    InvalidEntry {
        plugin: String,
        capability: String,
        item: String,
        problem: String,
    },
    #[error("{}", not_covered(.plugin, .capability, .item, .requested))]
    NotCovered {
        plugin: String,
        capability: String,
        item: String,
        requested: Vec<String>,
    },
    #[error(
        "grant for plugin `{plugin}` gives {capability}, which the plugin did not request; \
         remove `{key}` from [plugins.{plugin}.grant]"
    )]
    NotRequested {
        plugin: String,
        capability: String,
        key: String,
    },
    #[error(
        "grant for plugin `{plugin}` names secret `{name}`, which the plugin does not request \
         (requested: {}); remove it from [[plugins.{plugin}.grant.secrets]] or fix the name",
        list_or_none(.requested)
    )]
    UnknownSecret {
        plugin: String,
        name: String,
        requested: Vec<String>,
    },
    #[error(
        "grant for plugin `{plugin}` gives secret `{name}` an empty hosts list, so it could never \
         be sent; list some of its requested hosts ({}), or remove the secret from the grant",
        list_or_none(.requested)
    )]
    EmptySecretAudience {
        plugin: String,
        name: String,
        requested: Vec<String>,
    },
    #[error(
        "grant for plugin `{plugin}` gives a kv quota of {granted} bytes but the plugin only \
         requested {requested}; set quota_bytes to {requested} or less"
    )]
    KvQuotaTooLarge {
        plugin: String,
        granted: u64,
        requested: u64,
    },
    #[error(
        "grant for plugin `{plugin}` gives a kv quota of 0 bytes, which allows nothing; remove \
         [plugins.{plugin}.grant.kv] instead"
    )]
    KvQuotaZero { plugin: String },
    #[error(
        "grant for plugin `{plugin}` mounts guest path `{path}`, which the plugin does not \
         request (requested: {}); use a requested path exactly as written",
        list_or_none(.requested)
    )]
    UnknownFile {
        plugin: String,
        path: String,
        requested: Vec<String>,
    },
    #[error(
        "grant for plugin `{plugin}` gives {granted} on {path} but the plugin only requested \
         {requested}; set access = \"{requested}\""
    )]
    FileAccessWider {
        plugin: String,
        path: String,
        granted: Access,
        requested: Access,
    },
    #[error(
        "grant for plugin `{plugin}` mounts {path} from `{}`, a relative path whose meaning \
         depends on the working directory; write host_dir as an absolute path",
        .host_dir.display()
    )]
    RelativeHostDir {
        plugin: String,
        path: String,
        host_dir: PathBuf,
    },
    #[error(
        "grant for plugin `{plugin}` sets config `{key}`, which the plugin does not declare \
         (declared: {}); remove it from [plugins.{plugin}.grant.config]",
        list_or_none(.declared)
    )]
    UnknownConfig {
        plugin: String,
        key: String,
        declared: Vec<String>,
    },
    #[error(
        "plugin `{plugin}` requires config `{key}`; add it under [plugins.{plugin}.grant.config]"
    )]
    MissingConfig { plugin: String, key: String },
    #[error("grant for plugin `{plugin}` lists {capability} `{item}` twice; remove the duplicate")]
    Duplicate {
        plugin: String,
        capability: String,
        item: String,
    },
    #[error(
        "budgets for plugin `{plugin}` (its manifest's, overridden by \
         [plugins.{plugin}.grant.budgets]): {source}"
    )]
    Budget {
        plugin: String,
        #[source]
        source: Box<ManifestError>,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn not_covered(plugin: &str, capability: &str, item: &str, requested: &[String]) -> String {
    if requested.is_empty() {
        format!(
            "grant for plugin `{plugin}` is wider than what it requested: {capability} `{item}` \
             was not requested at all (the plugin requests no {capability}). Remove it."
        )
    } else {
        format!(
            "grant for plugin `{plugin}` is wider than what it requested: {capability} `{item}` \
             is not covered by its request [{}]. Remove it, or narrow it to a requested {}.",
            requested.join(", "),
            if capability == "allow_private" {
                "range"
            } else {
                "host"
            }
        )
    }
}

impl Grant {
    /// Everything the manifest asks for. Files are left empty because only the operator can say
    /// which host directory backs each guest path, and config gets no values; add those before
    /// resolving (a `required` config key makes the result fail to resolve until set).
    pub fn all_requested(m: &Manifest) -> Grant {
        let caps = &m.capabilities;
        Grant {
            outbound: caps.outbound.clone(),
            allow_private: caps.allow_private.clone(),
            secrets: caps
                .secrets
                .iter()
                .map(|s| SecretGrant {
                    name: s.name.clone(),
                    store_key: None,
                    hosts: None,
                })
                .collect(),
            kv: caps.kv.as_ref().map(|KvRequest { quota_bytes }| KvGrant {
                quota_bytes: *quota_bytes,
            }),
            files: Vec::new(),
            config: BTreeMap::new(),
            websocket: caps.websocket.clone(),
            webhook: caps.webhook.is_some(),
            budgets: Budgets::default(),
        }
    }

    /// Checks that this grant only narrows what `m` requests and produces what the sandbox
    /// enforces.
    pub fn resolve(&self, m: &Manifest) -> Result<EffectiveGrant, GrantError> {
        let plugin = m.id.as_str();
        m.validate().map_err(|source| GrantError::InvalidManifest {
            plugin: plugin.to_string(),
            source: Box::new(source),
        })?;
        let caps = &m.capabilities;
        // The manifest validated, so its patterns parse; parse_requested still reports rather
        // than panics should that ever change.
        let invalid_manifest = |source| GrantError::InvalidManifest {
            plugin: plugin.to_string(),
            source: Box::new(source),
        };

        let requested_outbound = parse_requested(&caps.outbound).map_err(invalid_manifest)?;
        let outbound = narrow_patterns(
            plugin,
            "outbound",
            &self.outbound,
            &requested_outbound,
            &caps.outbound,
        )?;
        let requested_ws = parse_requested(&caps.websocket).map_err(invalid_manifest)?;
        let websocket = narrow_patterns(
            plugin,
            "websocket",
            &self.websocket,
            &requested_ws,
            &caps.websocket,
        )?;

        let requested_nets: Vec<IpNet> = caps
            .allow_private
            .iter()
            .filter_map(|t| parse_net(t).ok())
            .collect();
        let mut allow_private = Vec::new();
        for text in &self.allow_private {
            let net = parse_net(text).map_err(|problem| GrantError::InvalidEntry {
                plugin: plugin.to_string(),
                capability: "allow_private".to_string(),
                item: text.clone(),
                problem,
            })?;
            if !requested_nets.iter().any(|r| r.contains(&net)) {
                return Err(GrantError::NotCovered {
                    plugin: plugin.to_string(),
                    capability: "allow_private".to_string(),
                    item: text.clone(),
                    requested: caps.allow_private.clone(),
                });
            }
            if allow_private.contains(&net) {
                return Err(duplicate(plugin, "allow_private", text));
            }
            allow_private.push(net);
        }

        let mut secrets = Vec::new();
        let mut seen_secrets = BTreeSet::new();
        for grant in &self.secrets {
            let Some(request) = caps.secrets.iter().find(|s| s.name == grant.name) else {
                return Err(GrantError::UnknownSecret {
                    plugin: plugin.to_string(),
                    name: grant.name.clone(),
                    requested: caps.secrets.iter().map(|s| s.name.clone()).collect(),
                });
            };
            if !seen_secrets.insert(grant.name.as_str()) {
                return Err(duplicate(plugin, "secret", &grant.name));
            }
            let store_key = grant
                .store_key
                .clone()
                .unwrap_or_else(|| grant.name.clone());
            if !is_secret_name(&store_key) {
                return Err(GrantError::InvalidEntry {
                    plugin: plugin.to_string(),
                    capability: format!("store_key of secret `{}`", grant.name),
                    item: store_key,
                    problem: "a store key is 1 to 128 letters, digits, `_`, `.` and `-`"
                        .to_string(),
                });
            }
            let requested_audience = parse_requested(&request.hosts).map_err(invalid_manifest)?;
            let audience = match &grant.hosts {
                None => requested_audience,
                Some(hosts) if hosts.is_empty() => {
                    return Err(GrantError::EmptySecretAudience {
                        plugin: plugin.to_string(),
                        name: grant.name.clone(),
                        requested: request.hosts.clone(),
                    });
                }
                Some(hosts) => narrow_patterns(
                    plugin,
                    &format!("hosts of secret `{}`", grant.name),
                    hosts,
                    &requested_audience,
                    &request.hosts,
                )?,
            };
            secrets.push(EffectiveSecret {
                name: grant.name.clone(),
                store_key,
                audience,
                inject: request.inject.clone(),
            });
        }

        let kv_quota_bytes = match (&self.kv, &caps.kv) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(not_requested(plugin, "kv", "kv"));
            }
            (Some(granted), Some(requested)) => {
                if granted.quota_bytes == 0 {
                    return Err(GrantError::KvQuotaZero {
                        plugin: plugin.to_string(),
                    });
                }
                if granted.quota_bytes > requested.quota_bytes {
                    return Err(GrantError::KvQuotaTooLarge {
                        plugin: plugin.to_string(),
                        granted: granted.quota_bytes,
                        requested: requested.quota_bytes,
                    });
                }
                Some(granted.quota_bytes)
            }
        };

        let mut seen_paths = BTreeSet::new();
        for file in &self.files {
            let Some(request) = caps.files.iter().find(|f| f.path == file.path) else {
                return Err(GrantError::UnknownFile {
                    plugin: plugin.to_string(),
                    path: file.path.clone(),
                    requested: caps.files.iter().map(|f| f.path.clone()).collect(),
                });
            };
            if !seen_paths.insert(file.path.as_str()) {
                return Err(duplicate(plugin, "files path", &file.path));
            }
            if file.access > request.access {
                return Err(GrantError::FileAccessWider {
                    plugin: plugin.to_string(),
                    path: file.path.clone(),
                    granted: file.access,
                    requested: request.access,
                });
            }
            if !file.host_dir.is_absolute() {
                return Err(GrantError::RelativeHostDir {
                    plugin: plugin.to_string(),
                    path: file.path.clone(),
                    host_dir: file.host_dir.clone(),
                });
            }
        }

        for key in self.config.keys() {
            if !caps.config.iter().any(|c| &c.key == key) {
                return Err(GrantError::UnknownConfig {
                    plugin: plugin.to_string(),
                    key: key.clone(),
                    declared: caps.config.iter().map(|c| c.key.clone()).collect(),
                });
            }
        }
        if let Some(missing) = caps
            .config
            .iter()
            .find(|c| c.required && !self.config.contains_key(&c.key))
        {
            return Err(GrantError::MissingConfig {
                plugin: plugin.to_string(),
                key: missing.key.clone(),
            });
        }

        if self.webhook && caps.webhook.is_none() {
            return Err(not_requested(plugin, "a webhook", "webhook"));
        }

        let budgets = m
            .budgets
            .overridden_by(&self.budgets)
            .resolve(m.language)
            .map_err(|source| GrantError::Budget {
                plugin: plugin.to_string(),
                source: Box::new(source),
            })?;

        Ok(EffectiveGrant {
            plugin_id: m.id.clone(),
            outbound,
            allow_private,
            secrets,
            kv_quota_bytes,
            files: self.files.clone(),
            config: self.config.clone(),
            websocket,
            webhook: self.webhook,
            budgets,
        })
    }
}

fn parse_requested(texts: &[String]) -> Result<Vec<HostPattern>, ManifestError> {
    texts
        .iter()
        .map(|t| {
            HostPattern::parse(t).map_err(|source| ManifestError::Pattern {
                field: "capabilities".to_string(),
                source,
            })
        })
        .collect()
}

/// Parses granted patterns, requiring each to be covered by a requested one.
fn narrow_patterns(
    plugin: &str,
    capability: &str,
    granted: &[String],
    requested: &[HostPattern],
    requested_text: &[String],
) -> Result<Vec<HostPattern>, GrantError> {
    let mut out: Vec<HostPattern> = Vec::with_capacity(granted.len());
    for text in granted {
        let pattern = HostPattern::parse(text).map_err(|source| GrantError::InvalidPattern {
            plugin: plugin.to_string(),
            capability: capability.to_string(),
            source: Box::new(source),
        })?;
        if !requested.iter().any(|r| r.covers(&pattern)) {
            return Err(GrantError::NotCovered {
                plugin: plugin.to_string(),
                capability: capability.to_string(),
                item: text.clone(),
                requested: requested_text.to_vec(),
            });
        }
        if out.contains(&pattern) {
            return Err(duplicate(plugin, capability, text));
        }
        out.push(pattern);
    }
    Ok(out)
}

fn duplicate(plugin: &str, capability: &str, item: &str) -> GrantError {
    GrantError::Duplicate {
        plugin: plugin.to_string(),
        capability: capability.to_string(),
        item: item.to_string(),
    }
}

fn not_requested(plugin: &str, capability: &str, key: &str) -> GrantError {
    GrantError::NotRequested {
        plugin: plugin.to_string(),
        capability: capability.to_string(),
        key: key.to_string(),
    }
}
