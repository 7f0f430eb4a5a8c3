//! Plain words for the consent prompt: what a plugin requests, what it would be granted, its
//! budgets and its tools' effects.

use chitin_manifest::{
    Capabilities, ConfigRequest, Effect, FileRequest, Grant, KvRequest, Manifest, ResolvedBudgets,
    SecretRequest,
};

/// What the manifest requests, one line per capability (`Manifest::describe_capabilities`).
pub fn requests(m: &Manifest) -> Vec<String> {
    m.describe_capabilities()
}

/// What `grant` gives the plugin, in the same words as its request. Call it with a grant that
/// resolves against `m`.
pub fn granted(m: &Manifest, grant: &Grant) -> Vec<String> {
    let caps = &m.capabilities;
    let secrets = grant
        .secrets
        .iter()
        .filter_map(|g| {
            let request = caps.secrets.iter().find(|s| s.name == g.name)?;
            let mut description = request.description.clone();
            if let Some(key) = g.store_key.as_ref().filter(|k| **k != g.name) {
                description = format!("value from the secret store's {key}");
            }
            Some(SecretRequest {
                name: g.name.clone(),
                hosts: g.hosts.clone().unwrap_or_else(|| request.hosts.clone()),
                inject: request.inject.clone(),
                description,
            })
        })
        .collect();
    let files = grant
        .files
        .iter()
        .map(|f| FileRequest {
            path: f.path.clone(),
            access: f.access,
            description: format!("the host directory {}", f.host_dir.display()),
        })
        .collect();
    let config = grant
        .config
        .iter()
        .map(|(key, value)| ConfigRequest {
            key: key.clone(),
            description: format!("set to {value:?}"),
            required: false,
        })
        .collect();
    let granted = Manifest {
        capabilities: Capabilities {
            outbound: grant.outbound.clone(),
            allow_private: grant.allow_private.clone(),
            secrets,
            kv: grant.kv.as_ref().map(|kv| KvRequest {
                quota_bytes: kv.quota_bytes,
            }),
            files,
            config,
            websocket: grant.websocket.clone(),
            webhook: if grant.webhook {
                caps.webhook.clone()
            } else {
                None
            },
        },
        ..m.clone()
    };
    if granted.capabilities.is_empty() {
        return vec!["nothing: it runs with no access outside its sandbox".to_string()];
    }
    granted.describe_capabilities()
}

/// The per-call budgets in plain words.
pub fn budgets(b: &ResolvedBudgets) -> Vec<String> {
    vec![
        format!("CPU: up to {} instructions", thousands(b.fuel)),
        format!("memory: up to {}", bytes(b.memory_bytes)),
        format!("time: up to {}", millis(b.timeout.as_millis())),
        format!("output: up to {}", bytes(b.max_output_bytes)),
        format!(
            "host calls: up to {}",
            thousands(u64::from(b.max_host_calls))
        ),
        format!(
            "HTTP: up to {} requests, {} per response",
            thousands(u64::from(b.max_http_requests)),
            bytes(b.max_response_bytes)
        ),
    ]
}

/// What each tool declares it does (which decides what unattended runs may call).
pub fn effects(m: &Manifest) -> Vec<String> {
    if m.effects.is_empty() {
        return vec![
            "no tool declares its effects: each is treated as reading untrusted input, writing \
             and sending"
                .to_string(),
        ];
    }
    m.effects
        .iter()
        .map(|(tool, effects)| {
            if effects.is_empty() {
                format!("{tool}: no side effects")
            } else {
                let words: Vec<&str> = effects.iter().map(|e| effect_words(*e)).collect();
                format!("{tool}: {}", words.join(", "))
            }
        })
        .collect()
}

pub(crate) fn effect_words(e: Effect) -> &'static str {
    match e {
        Effect::ReadsUntrusted => "reads untrusted input",
        Effect::Writes => "writes",
        Effect::Sends => "sends",
        Effect::Network => "uses the network",
    }
}

/// 10000000 → "10,000,000".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "16 MiB", "1.5 MiB", "512 KiB", "100 bytes".
pub fn bytes(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

/// "500 ms", "2 s", "2.5 s".
pub fn millis(ms: u128) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::from_toml(
            r#"
id = "weather"
name = "Weather"
version = "1.0.0"
kind = "tool"
wit_version = "0.1.0"
description = "Weather."
[capabilities]
outbound = ["https://api.weather.example", "https://*.cdn.example"]
[[capabilities.secrets]]
name = "KEY"
hosts = ["https://api.weather.example"]
inject = ["header"]
[capabilities.kv]
quota_bytes = 1048576
[[capabilities.files]]
path = "/data"
access = "read-write"
[effects]
weather = ["network", "reads-untrusted"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn grants_are_described_in_the_request_s_words() {
        let m = manifest();
        let grant: Grant = toml::from_str(
            "outbound = [\"https://api.weather.example\"]\nsecrets = [{ name = \"KEY\", store_key = \"WEATHER_KEY\" }]\n\
             files = [{ path = \"/data\", host_dir = \"/srv/w\", access = \"read\" }]\n",
        )
        .unwrap();
        grant.resolve(&m).unwrap();
        let lines = granted(&m, &grant).join("\n");
        assert!(
            lines.contains("connect to https://api.weather.example (port 443)"),
            "{lines}"
        );
        assert!(!lines.contains("cdn"), "{lines}");
        assert!(lines.contains("send secret KEY only to"), "{lines}");
        assert!(lines.contains("WEATHER_KEY"), "{lines}");
        assert!(
            lines.contains("read files under /data: the host directory /srv/w"),
            "{lines}"
        );
        assert!(!lines.contains("key-value"), "{lines}");
        assert_eq!(
            granted(&m, &Grant::default()),
            vec!["nothing: it runs with no access outside its sandbox".to_string()]
        );
        let effects = effects(&m).join("\n");
        assert!(
            effects.contains("weather: uses the network, reads untrusted input"),
            "{effects}"
        );
    }

    #[test]
    fn numbers_in_words() {
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(bytes(16 << 20), "16 MiB");
        assert_eq!(bytes(1536 << 10), "1.5 MiB");
        assert_eq!(bytes(100), "100 bytes");
        assert_eq!(millis(2000), "2 s");
        assert_eq!(millis(250), "250 ms");
        let b = manifest()
            .budgets
            .resolve(chitin_manifest::Language::Rust)
            .unwrap();
        assert!(budgets(&b)[0].starts_with("CPU: up to "));
    }
}
